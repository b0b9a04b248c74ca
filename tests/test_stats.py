"""Monthly statistics: the compiled figures equal counts made independently in
Python, a re-run changes nothing, each directorate sees only itself, and an
approved month is locked.

Every test works on its own month years back, so the records other tests
create (dated today) stay out of its figures; the expected counts are taken
from every record the database holds, so nothing else can leak in unseen.
"""
import csv
import datetime
import io
import itertools
import random
import re
from collections import Counter

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from app import stats
from app.extensions import db
from app.models import (
    CRAFT, DRAFT, EXPIRED, ISSUED, REGISTRATION, REJECTED, REVOKED, SKILL, SUBMITTED, AuditLog, Certificate,
    Citizen, Establishment, Permit, SkillTest, years_between,
)
from app.national_id import make_national_id
from app.scope import unscoped
from tests import factories as f

OCCUPATIONS = ("7411", "7126", "5120", "9313", "8322", "2512", "3115", "4110")
NATIONALITIES = ("SY", "SD", "IN", "CN", "PH")
WAS_ISSUED = (ISSUED, REVOKED, EXPIRED)
WAS_VALID = (ISSUED, EXPIRED)
SERVICE = {REGISTRATION: "registration", SKILL: "skill_cert", CRAFT: "craft_card"}


# Citizens, establishments and permits numbered by a counter of their own:
# the factories' shared counter decides where other tests' records fall in
# national-ID prefix searches, and these tests must not move them.
_serials = itertools.count(700001)


def _unused(make, column):
    """The next number whose value is not in the database yet (a test run on
    a PostgreSQL database kept from an earlier run meets its own records)."""
    while True:
        value = make(next(_serials))
        if db.session.scalar(select(column).where(column == value)
                             .execution_options(sijill_unscoped=True, sijill_include_deleted=True)) is None:
            return value


def national_id(birth, code, gender="M"):
    return _unused(lambda n: make_national_id(birth, code, n, gender), Citizen.national_id)


def citizen(code, birth, gender="M"):
    obj = Citizen(national_id=national_id(birth, code, gender), full_name="سعاد محمود عبد الله فرج",
                  directorate=f.directorate(code))
    db.session.add(obj)
    db.session.commit()
    return obj


def establishment(code, workers=10000):
    register = _unused(lambda n: f"S{n}", Establishment.commercial_register)
    obj = Establishment(name=f"شركة الإحصاء {register}", commercial_register=register, tax_number=register[1:],
                        egyptian_workers=workers, directorate=f.directorate(code))
    db.session.add(obj)
    db.session.commit()
    return obj


def permit(est, occ="7411", **kw):
    start = datetime.date.today()
    values = dict(worker_name="Omar Haddad", passport_number=f"S{next(_serials):07d}", nationality="SY",
                  birth_date=datetime.date(1985, 1, 1), establishment=est, directorate_id=est.directorate_id,
                  occupation=f.occupation(occ), start_date=start, end_date=start + datetime.timedelta(days=300),
                  security_cleared=True, **{name: True for name in Permit.DOCUMENT_FIELDS})
    values.update(kw)
    obj = Permit(**values)
    db.session.add(obj)
    db.session.commit()
    return obj


# --- generated data ------------------------------------------------------------------
def generate(month, seed, codes=("01", "21", "02"), citizens=40):
    """Records of every kind and status around `month` (the weeks before and
    after, and the months before for the snapshots), through the model rules."""
    rng = random.Random(seed)
    first = month - datetime.timedelta(days=20)
    span = (stats.next_month(month) + datetime.timedelta(days=20) - first).days

    def day():
        return first + datetime.timedelta(days=rng.randrange(span))

    def moment():
        return datetime.datetime.combine(day(), datetime.time(rng.randrange(24), rng.randrange(60)))

    occupations = [f.occupation(code) for code in OCCUPATIONS]
    people, skills = [], []
    for _ in range(citizens):
        code = rng.choice(codes)
        birth = datetime.date(rng.randint(month.year - 72, month.year - 17), rng.randint(1, 12), rng.randint(1, 28))
        person = citizen(code, birth, rng.choice("MF"))
        people.append(person)
        occupation = rng.choice(occupations)
        status = rng.choice([DRAFT, SUBMITTED, ISSUED, ISSUED, REJECTED, REVOKED, EXPIRED])
        db.session.add(Certificate(
            kind=REGISTRATION, citizen=person, occupation=occupation, directorate_id=person.directorate_id,
            status=status, submitted_at=moment() if status != DRAFT else None,
            issue_date=day() if status in WAS_ISSUED else None,
            deleted_at=datetime.datetime(2020, 1, 1) if rng.random() < 0.08 else None))
        scores = (rng.randint(30, 100), rng.randint(30, 100)) if rng.random() < 0.85 else (None, None)
        db.session.add(SkillTest(
            citizen=person, occupation=occupation, skill_level=f.level(rng.randint(1, 5)),
            directorate_id=person.directorate_id, test_date=day(), theory_score=scores[0],
            practical_score=scores[1],
            status=DRAFT if scores[0] is None else rng.choice([DRAFT, SUBMITTED, ISSUED, ISSUED, REJECTED])))
        if rng.random() < 0.7:
            status = rng.choice([ISSUED, ISSUED, ISSUED, REVOKED, EXPIRED, SUBMITTED])
            issued = month - datetime.timedelta(days=rng.randint(-25, 200)) if status != SUBMITTED else None
            expiry = None
            if issued and status != ISSUED or (issued and rng.random() < 0.4):
                expiry = issued + datetime.timedelta(days=rng.randint(10, 300))
            skill = Certificate(kind=SKILL, citizen=person, occupation=occupation, skill_level=f.level(rng.randint(1, 5)),
                                directorate_id=person.directorate_id, status=status, issue_date=issued,
                                expiry_date=expiry, submitted_at=moment())
            db.session.add(skill)
            if status == ISSUED and expiry is None:
                skills.append((person, occupation, issued))
    db.session.commit()
    for person, occupation, issued in skills:  # a craft card needs the valid skill certificate first
        if rng.random() < 0.8:
            start = issued + datetime.timedelta(days=rng.randint(0, 60))
            db.session.add(Certificate(
                kind=CRAFT, citizen=person, occupation=occupation, directorate_id=person.directorate_id, fee=100,
                status=rng.choice([ISSUED, ISSUED, EXPIRED, REVOKED]), issue_date=start,
                expiry_date=start + datetime.timedelta(days=rng.randint(5, 120)), submitted_at=moment()))
    db.session.commit()
    establishments = {code: establishment(code) for code in codes}
    issued_permits = []
    for n in range(citizens):
        code = rng.choice(codes)
        status = rng.choice([DRAFT, SUBMITTED, ISSUED, ISSUED, REJECTED, REVOKED, EXPIRED])
        start = day() - datetime.timedelta(days=rng.randint(0, 300))
        renews = [p for p in issued_permits if p.directorate_id == establishments[code].directorate_id]
        kind = "renewal" if renews and rng.random() < 0.3 else "new"
        made = permit(
            establishments[code], occ=rng.choice(OCCUPATIONS), nationality=rng.choice(NATIONALITIES),
            gender=rng.choice("MF"), birth_date=datetime.date(rng.randint(month.year - 70, month.year - 20), 3, 9),
            kind=kind, renews=renews[0] if kind == "renewal" else None, status=status,
            start_date=start, end_date=start + datetime.timedelta(days=rng.randint(30, 365)),
            submitted_at=moment() if status != DRAFT else None,
            issue_date=day() if status in WAS_ISSUED else None,
            decided_at=moment() if status in WAS_ISSUED + (REJECTED,) else None)
        if status in WAS_ISSUED:
            issued_permits.append(made)
    return people


_births = iter(datetime.date(1960, 1, 1) + datetime.timedelta(days=37 * i) for i in range(10000))


def person(code):
    """A citizen with a birth date of its own (the factory's default one is
    shared by the other tests, whose national-ID prefix searches it would crowd)."""
    return citizen(code, next(_births))


def fresh_month(month):
    """`month`, or the first month after it that no earlier run on this
    database compiled or leased (PostgreSQL test databases may be kept)."""
    from app.jobs import JobLease
    while db.session.scalar(select(func.count(stats.StatMonth.id)).where(stats.StatMonth.month == month)
                            .execution_options(sijill_unscoped=True)) or db.session.scalar(
            select(func.count(JobLease.id)).where(JobLease.job == "monthly_stats",
                                                  JobLease.period == stats.month_key(month))):
        month = stats.next_month(month)
    return month


# --- the same figures, counted in Python ------------------------------------------------
def band(age):
    for limit, name in ((15, "<15"), (25, "15-24"), (35, "25-34"), (45, "35-44"), (55, "45-54"), (65, "55-64")):
        if age < limit:
            return name
    return "65+"


def expected_cells(month):
    """{(directorate_id, service, measure, outcome, level, group, gender, band, nationality): n}
    from every record in the database."""
    start, end, last = month, stats.next_month(month), stats.last_day(month)

    def within(value):
        if value is None:
            return False
        value = value.date() if isinstance(value, datetime.datetime) else value
        return start <= value < end

    cells = Counter()

    def add(obj, service, measure, outcome, level, holder, on, nationality=""):
        occupation, gender, birth = holder()  # read only for counted records
        on = on.date() if isinstance(on, datetime.datetime) else on
        cells[(obj.directorate_id, service, measure, outcome, level, occupation.code[0], gender,
               band(years_between(birth, on)), nationality)] += 1

    with unscoped():
        certificates = db.session.scalars(select(Certificate)).all()
        tests = db.session.scalars(select(SkillTest)).all()
        permits = db.session.scalars(select(Permit)).all()
    for c in certificates:
        service, level = SERVICE[c.kind], c.skill_level.rank if c.skill_level else 0
        person = (c, service)
        holder = (lambda c=c: (c.occupation, c.citizen.gender, c.citizen.birth_date),)
        if within(c.submitted_at):
            add(*person, "applied", c.status, level, *holder, c.submitted_at)
        if c.status in WAS_ISSUED and within(c.issue_date):
            add(*person, "issued", c.status, level, *holder, c.issue_date)
        if c.kind != REGISTRATION and c.status in WAS_VALID:
            if c.issue_date <= last and (c.expiry_date is None or c.expiry_date >= last):
                add(*person, "active", "", level, *holder, last)
            if within(c.expiry_date):
                add(*person, "expiring", "", level, *holder, c.expiry_date)
    for t in tests:
        if within(t.test_date) and t.result and t.status in (SUBMITTED, ISSUED):
            add(t, "skill_test", "held", t.result, t.skill_level.rank,
                lambda t=t: (t.occupation, t.citizen.gender, t.citizen.birth_date), t.test_date)
    for p in permits:
        holder = (0, lambda p=p: (p.occupation, p.gender, p.birth_date))
        if within(p.submitted_at):
            add(p, "permit", "requested", p.status, *holder, p.submitted_at, p.nationality)
        if p.status in WAS_ISSUED and within(p.issue_date):
            add(p, "permit", "issued" if p.kind == "new" else "renewed", p.status, *holder, p.issue_date,
                p.nationality)
        if p.status == REJECTED and within(p.decided_at):
            add(p, "permit", "rejected", p.status, *holder, p.decided_at, p.nationality)
        if p.status in WAS_VALID:
            if within(p.end_date):
                add(p, "permit", "expired", p.status, *holder, p.end_date, p.nationality)
            if p.start_date <= last <= p.end_date:
                add(p, "permit", "active", "", *holder, last, p.nationality)
    return cells


def compiled_cells(month):
    with unscoped():
        rows = db.session.scalars(select(stats.MonthlyStat).where(stats.MonthlyStat.month == month)).all()
    return Counter({(r.directorate_id, r.service, r.measure, r.outcome, r.skill_level, r.occupation_group, r.gender,
                     r.age_band, r.nationality): r.count for r in rows})


def kpis_of(cells, directorate_id=None):
    summary = Counter()
    for key, n in cells.items():
        if directorate_id is None or key[0] == directorate_id:
            summary[key[1:4]] += n
    return stats.kpi_values(summary)


def compile_and_commit(month, **kw):
    result = stats.compile_month(db.session, month, **kw)
    db.session.commit()
    return result


def kpi_on_page(html, key):
    found = re.search(r'data-kpi="%s">\s*<div class="sijill-kpi-value">([\d,]+)</div>' % key, html)
    assert found, f"key figure {key} not on the page"
    return int(found.group(1).replace(",", ""))


# --- tests -----------------------------------------------------------------------------
def test_compiled_figures_equal_independent_counts(app, ctx):
    month = datetime.date(2011, 3, 1)
    generate(month, seed=11)
    compile_and_commit(month)
    expected = expected_cells(month)
    families = {(key[1], key[2]) for key in expected}
    # the generated data reaches every family, so the comparison is not vacuous
    assert families >= {("registration", "applied"), ("registration", "issued"), ("skill_test", "held"),
                        ("skill_cert", "issued"), ("skill_cert", "active"), ("craft_card", "issued"),
                        ("craft_card", "active"), ("craft_card", "expiring"), ("permit", "requested"),
                        ("permit", "issued"), ("permit", "rejected"), ("permit", "expired"), ("permit", "active")}
    assert compiled_cells(month) == expected
    # the months around it are not counted in it
    assert stats.month_kpis(db.session, month)["tests_held"] == sum(
        n for key, n in expected.items() if key[1] == "skill_test")


def test_soft_deleted_records_are_not_counted(app, ctx):
    month = datetime.date(2011, 9, 1)
    cert = f.certificate(person("01"), status=ISSUED, issue_date=datetime.date(2011, 9, 10))
    compile_and_commit(month)
    before = stats.month_kpis(db.session, month)["registration_issued"]
    cert.deleted_at = datetime.datetime(2012, 1, 1)
    db.session.commit()
    compile_and_commit(month)
    assert stats.month_kpis(db.session, month)["registration_issued"] == before - 1


def test_rerunning_a_month_changes_nothing(app, ctx):
    month = datetime.date(2013, 5, 1)
    generate(month, seed=13, citizens=20)
    first = compile_and_commit(month)
    cells = compiled_cells(month)
    rows = db.session.scalar(select(func.count(stats.MonthlyStat.id)).where(stats.MonthlyStat.month == month))
    second = compile_and_commit(month)
    assert compiled_cells(month) == cells and first.rows == second.rows == rows
    assert db.session.scalar(select(func.count(stats.MonthlyStat.id))
                             .where(stats.MonthlyStat.month == month)) == rows
    # the CLI backfill of a range replaces the same way
    result = app.test_cli_runner().invoke(args=["sijill", "stats", "--from", "2013-04", "--to", "2013-06"])
    assert result.exit_code == 0, result.output
    assert "2013-05: %d rows" % rows in result.output
    assert compiled_cells(month) == cells


def test_backfill_refuses_a_bad_month(app, ctx):
    result = app.test_cli_runner().invoke(args=["sijill", "stats", "--from", "2025-13"])
    assert result.exit_code != 0 and "not a month" in result.output
    result = app.test_cli_runner().invoke(args=["sijill", "stats", "--from", "2025-05", "--to", "2025-01"])
    assert result.exit_code != 0 and "before" in result.output


def test_manager_sees_and_exports_only_its_directorate(app, ctx, as_user):
    month = datetime.date(2014, 2, 1)
    generate(month, seed=14, citizens=30)
    compile_and_commit(month)
    expected = expected_cells(month)
    cairo, giza = f.directorate("01"), f.directorate("21")
    cairo_kpis, all_kpis = kpis_of(expected, cairo.id), kpis_of(expected)
    assert cairo_kpis["documents_issued"] < all_kpis["documents_issued"]

    manager = as_user("cairo_manager")
    # asking for Giza by URL changes nothing: the page is Cairo's
    html = manager.get("/statistics/?month=2014-02&directorate=21").get_data(as_text=True)
    assert cairo.name_ar in html and "مقارنة جميع المديريات" not in html  # "All directorates side by side"
    for key in ("registration_issued", "tests_held", "tests_passed", "craft_issued", "permits_issued",
                "permits_active", "documents_issued"):
        assert kpi_on_page(html, key) == cairo_kpis[key], key

    body = manager.get("/statistics/export/csv?month=2014-02&directorate=21").get_data()
    assert body.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))[1:]
    assert rows and {row[1] for row in rows} == {"01"}
    assert sum(int(row[-1]) for row in rows) == sum(n for key, n in expected.items() if key[0] == cairo.id)

    book = load_workbook(io.BytesIO(manager.get("/statistics/export/xlsx?month=2014-02").get_data()))
    codes = {row[1] for row in book.active.iter_rows(min_row=2, values_only=True)}
    assert codes == {"01"}

    admin = as_user("admin")
    html = admin.get("/statistics/?month=2014-02").get_data(as_text=True)
    assert "مقارنة جميع المديريات" in html and giza.name_ar in html
    assert kpi_on_page(html, "documents_issued") == all_kpis["documents_issued"]
    html = admin.get("/statistics/?month=2014-02&directorate=21").get_data(as_text=True)
    assert kpi_on_page(html, "documents_issued") == kpis_of(expected, giza.id)["documents_issued"]
    rows = list(csv.reader(io.StringIO(admin.get("/statistics/export/csv?month=2014-02")
                                       .get_data().decode("utf-8-sig"))))[1:]
    assert {"01", "21"} <= {row[1] for row in rows}


def test_ranking_orders_directorates_with_ties_sharing_a_rank():
    values = {1: {"x": 5}, 2: {"x": 9}, 3: {"x": 5}, 4: {"x": 1}}
    assert stats.ranking(values, "x") == [(1, 2, 9), (2, 1, 5), (2, 3, 5), (4, 4, 1)]


def test_clerk_has_no_statistics(app, ctx, as_user):
    assert as_user("cairo_clerk").get("/statistics/").status_code == 403
    assert as_user("cairo_clerk").get("/statistics/export/csv").status_code == 403


def test_approval_locks_the_month(app, ctx, as_user):
    month = fresh_month(datetime.date(2015, 6, 1))
    key = stats.month_key(month)
    cairo, giza = f.directorate("01"), f.directorate("21")
    for code in ("01", "21"):
        f.certificate(person(code), status=ISSUED, issue_date=month.replace(day=3))
    compile_and_commit(month)

    # Giza's manager cannot approve Cairo's month, by any form value
    response = as_user("giza_manager").post("/statistics/approve", data={"month": key, "directorate": "01"})
    assert response.status_code == 404
    state = db.session.scalar(select(stats.StatMonth).where(stats.StatMonth.directorate_id == cairo.id,
                                                            stats.StatMonth.month == month))
    assert state.approved_at is None
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "denied", AuditLog.detail.contains(
        "/statistics/approve")).order_by(AuditLog.id.desc())) is not None

    # Cairo's manager approves Cairo: locked, in the audit trail
    response = as_user("cairo_manager").post("/statistics/approve", data={"month": key})
    assert response.status_code == 302
    db.session.expire_all()
    state = db.session.get(stats.StatMonth, state.id)
    assert state.locked and state.approved_by.username == "cairo_manager"
    assert db.session.scalar(select(AuditLog).where(AuditLog.entity == "StatMonth", AuditLog.record_id == state.id,
                                                    AuditLog.action == "approve")) is not None
    html = as_user("cairo_manager").get(f"/statistics/?month={key}").get_data(as_text=True)
    assert "مغلقة" in html and "اعتماد هذه الأرقام" not in html  # "locked", "Approve these figures"

    # later records: the job and the backfill leave Cairo's approved figures alone
    cairo_before = stats.month_kpis(db.session, month, cairo.id)["registration_issued"]
    giza_before = stats.month_kpis(db.session, month, giza.id)["registration_issued"]
    for code in ("01", "21"):
        f.certificate(person(code), status=ISSUED, issue_date=month.replace(day=20))
    result = compile_and_commit(month)
    assert result.skipped_locked == [cairo.id]
    assert stats.month_kpis(db.session, month, cairo.id)["registration_issued"] == cairo_before
    assert stats.month_kpis(db.session, month, giza.id)["registration_issued"] == giza_before + 1

    # compiling it again is the ministry admin's: the manager may not, the admin must ask for it
    assert as_user("cairo_manager").post("/statistics/compile", data={"month": key}).status_code == 403
    assert as_user("admin").post("/statistics/compile", data={"month": key}).status_code == 302
    assert stats.month_kpis(db.session, month, cairo.id)["registration_issued"] == cairo_before
    response = as_user("admin").post("/statistics/compile", data={"month": key, "include_locked": "1"})
    assert response.status_code == 302
    db.session.expire_all()
    assert stats.month_kpis(db.session, month, cairo.id)["registration_issued"] == cairo_before + 1
    assert db.session.get(stats.StatMonth, state.id).locked  # still the approved month


def test_approval_needs_a_finished_compiled_month(app, ctx, as_user):
    manager = as_user("cairo_manager")
    this_month = stats.month_key(datetime.date.today())
    html = manager.post("/statistics/approve", data={"month": this_month}, follow_redirects=True).get_data(as_text=True)
    assert "إلا بعد انتهائه" in html  # "approved once it has ended"
    html = manager.post("/statistics/approve", data={"month": "1999-01"}, follow_redirects=True).get_data(as_text=True)
    assert "لم يتم تجميع أرقام هذا الشهر" in html  # "not been compiled"
    html = manager.post("/statistics/approve", data={"month": "not-a-month"},
                        follow_redirects=True).get_data(as_text=True)
    assert "اختر الشهر" in html  # "Choose the month"
    assert db.session.scalar(select(func.count(stats.StatMonth.id)).where(
        stats.StatMonth.month == datetime.date(1999, 1, 1))) == 0


def test_dashboard_survives_a_bad_month(app, ctx, as_user):
    response = as_user("admin").get("/statistics/?month=2025-99")
    assert response.status_code == 200 and "ليس شهرًا صحيحًا" in response.get_data(as_text=True)
