"""Domain rules in the model layer: refused writes name the field and save nothing."""
import datetime

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import CRAFT, SKILL, Certificate, Citizen, Permit, RuleViolation, SkillTest
from tests import factories as f


def refused(fn, field):
    with pytest.raises(RuleViolation) as exc:
        fn()
    db.session.rollback()
    assert field in exc.value.errors, exc.value.errors
    return exc.value.errors[field]


def count(model):
    return db.session.scalar(select(func.count(model.id)).execution_options(sijill_include_deleted=True))


def test_citizen_facts_come_from_the_national_id(ctx):
    nid = f.national_id(birth=datetime.date(1988, 3, 9), gov="21", gender="F")
    c = f.citizen("21", national_id=nid)
    assert (c.birth_date, c.gender, c.birth_governorate) == (datetime.date(1988, 3, 9), "F", "21")


def test_bad_national_id_refused_and_nothing_saved(ctx):
    before = count(Citizen)
    with pytest.raises(ValueError, match="تاريخ الميلاد"):
        f.citizen(national_id="29002300101234")
    db.session.rollback()
    assert count(Citizen) == before


def test_duplicate_national_id_refused(ctx):
    c = f.citizen()
    message = refused(lambda: f.citizen(national_id=c.national_id), "national_id")
    assert "registered" in message or "مسجل" in message


def test_full_name_needs_three_words(ctx):
    refused(lambda: f.citizen(full_name="محمد أحمد"), "full_name")


def test_mobile_format(ctx):
    refused(lambda: f.citizen(mobile="0123"), "mobile")
    c = f.citizen(mobile="٠١٠١٢٣٤٥٦٧٨")
    assert c.mobile == "01012345678"


def test_minimum_working_age(ctx, app):
    young = f.citizen(national_id=f.national_id(birth=datetime.date.today().replace(year=datetime.date.today().year - 12)))
    refused(lambda: f.certificate(young), "citizen")


def test_occupation_must_be_a_unit_group_or_national(ctx):
    c = f.citizen()
    refused(lambda: f.certificate(c, occ="74"), "occupation")


def test_expiry_after_issue(ctx):
    c = f.citizen()
    refused(lambda: f.certificate(c, issue_date=datetime.date(2026, 5, 1), expiry_date=datetime.date(2026, 4, 1)),
            "expiry_date")


def test_craft_card_needs_valid_skill_certificate_in_same_occupation(ctx):
    c = f.citizen()
    refused(lambda: f.craft_card(c), "occupation")
    test = f.skill_test(c, occ="7126")  # passed, but plumbing
    f.issue(test)
    refused(lambda: f.craft_card(c, occ="7411"), "occupation")
    card = f.craft_card(c, occ="7126")
    assert card.id


def test_craft_card_fee_ceiling(ctx):
    c = f.citizen()
    f.issue(f.skill_test(c))
    refused(lambda: f.craft_card(c, fee=501), "fee")


def test_passed_test_issues_skill_certificate_failed_does_not(ctx):
    c = f.citizen()
    passed = f.issue(f.skill_test(c, theory=70, practical=60))
    assert passed.result == "pass"
    cert = db.session.scalar(select(Certificate).where(Certificate.skill_test_id == passed.id))
    assert cert.kind == SKILL and cert.status == "issued" and cert.serial
    failed = f.issue(f.skill_test(c, theory=40, practical=90))
    assert failed.result == "fail"
    assert db.session.scalar(select(Certificate).where(Certificate.skill_test_id == failed.id)) is None


def test_scores_range_and_exemption_reason(ctx):
    c = f.citizen()
    refused(lambda: f.skill_test(c, theory=101), "theory_score")
    refused(lambda: f.skill_test(c, fee_exempt=True), "exemption_reason")


def test_permit_at_most_one_year(ctx):
    est = f.establishment()
    start = datetime.date.today()
    refused(lambda: f.permit(est, start_date=start, end_date=start + datetime.timedelta(days=400)), "end_date")


def test_permit_barred_occupation(ctx):
    est = f.establishment()
    refused(lambda: f.permit(est, occ="5113"), "occupation")


def test_permit_needs_documents_and_clearance_to_submit_and_issue(ctx):
    est = f.establishment()
    p = f.permit(est, docs_medical=False, security_cleared=False)
    from app import workflow
    with pytest.raises(RuleViolation) as exc:
        workflow.apply(db.session, p, "submit", user=f.user("cairo_clerk"))
    db.session.rollback()
    assert "docs_medical" in exc.value.errors


def test_foreign_share_ten_percent_unless_exception(ctx):
    est = f.establishment(workers=20)  # 10 % → 2 foreigners
    for _ in range(2):
        f.issue(f.permit(est))
    third = f.permit(est)
    from app import workflow
    with pytest.raises(RuleViolation) as exc:
        workflow.apply(db.session, third, "submit", user=f.user("cairo_clerk"))
    db.session.rollback()
    assert "quota_exception" in exc.value.errors
    third = db.session.get(Permit, third.id)
    third.quota_exception, third.exception_reason = True, "خبرة نادرة غير متوفرة محليا"
    db.session.commit()
    f.issue(third)
    assert third.status == "issued"


def test_egyptian_nationality_needs_no_permit(ctx):
    refused(lambda: f.permit(f.establishment(), nationality="EG"), "nationality")


def test_renewal_names_the_permit_it_renews(ctx):
    refused(lambda: f.permit(f.establishment(), kind="renewal"), "renews")
