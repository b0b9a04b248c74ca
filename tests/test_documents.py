"""Official documents as a person holds them: one page (a card: one card-size
page per side), the Arabic font embedded, the holder's name, serial and ID in
the text, a QR code that verifies; a draft only as a watermarked preview; a
print goes through the directorate scope and is written to the history."""
import datetime
import urllib.parse

import pytest
from sqlalchemy import select

from app import documents, verify, workflow
from app.extensions import db
from app.models import SKILL, AuditLog, Certificate
from tests import factories as f
from tests import pdftools

A4_MM = (210.0, 297.0)
CARD_MM = (85.6, 54.0)
BASE_URL = "https://sijill.test"


@pytest.fixture(autouse=True)
def _public_address(app, monkeypatch):
    monkeypatch.setitem(app.config, "VERIFY_BASE_URL", BASE_URL)
    verify.limiter.reset()


def issued(kind):
    """An issued document of each kind, with what its holder is known by."""
    c = f.citizen(full_name="سامية عبد الرحمن محمود الشريف")
    if kind == "registration":
        doc = f.issue(f.certificate(c, experience_years=7))
    elif kind == "skill":
        test = f.issue(f.skill_test(c))
        doc = test.certificate
    elif kind == "craft":
        f.issue(f.skill_test(c))
        doc = f.issue(f.craft_card(c, skill_level=f.level(3), fee=150))
    else:
        doc = f.issue(f.permit(f.establishment(), worker_name="Maria Gonzalez Lopez", nationality="ES"))
        return doc, doc.worker_name, doc.passport_number
    return doc, c.full_name, c.national_id


@pytest.mark.parametrize("kind", ["registration", "skill", "craft", "permit"])
def test_issued_document_prints_on_one_page_with_font_text_and_qr(app, ctx, kind):
    doc, name, id_number = issued(kind)
    pdf = documents.render(doc)

    sizes = pdftools.page_sizes_mm(pdf)
    if kind == "craft":
        assert sizes == [CARD_MM, CARD_MM], "a card is one ID-1 page per side: front and back"
    else:
        assert sizes == [A4_MM], "a certificate stays on one A4 page"

    embedded = {name_ for name_, emb in pdftools.fonts(pdf) if emb == "yes"}
    assert any("Amiri" in font for font in embedded), "the Arabic font must be embedded, not blank Helvetica"

    text = pdftools.text(pdf)
    for word in name.split():
        assert word in text, f"holder's name part {word!r} missing"
    assert doc.serial in text and id_number in text
    assert "غير صالحة" not in text, "a valid document never carries the draft wording"
    if kind == "skill":
        assert doc.skill_level.name_ar in text
    assert doc.occupation.title_ar.split()[0] in text

    codes = pdftools.qr_codes(pdf)
    assert len(codes) == 1
    url = urllib.parse.urlsplit(codes[0])
    assert f"{url.scheme}://{url.netloc}" == BASE_URL
    page = app.test_client().get(f"{url.path}?{url.query}")
    assert page.status_code == 200
    assert "سارية" in page.get_data(as_text=True)


def test_draft_prints_only_as_watermarked_preview_without_qr(ctx):
    draft = f.certificate(f.citizen())
    pdf = documents.render(draft)
    assert pdftools.page_sizes_mm(pdf) == [A4_MM]
    text = pdftools.text(pdf)
    assert "مسودة — غير صالحة" in text and "معاينة" in text
    assert pdftools.qr_codes(pdf) == [], "a preview has no verification code"
    assert all(n >= 1 for n in pdftools.images_on_pages(pdf)), "every page carries the watermark image"
    # the issued document has no watermark image (its QR is the only image)
    valid = documents.render(f.issue(f.certificate(f.citizen())))
    assert pdftools.images_on_pages(valid) == [1]


def test_card_preview_watermarks_both_sides(ctx):
    c = f.citizen()
    f.issue(f.skill_test(c))
    card = f.craft_card(c, skill_level=f.level(3))
    workflow.apply(db.session, card, "submit", user=f.user("cairo_clerk"))
    db.session.commit()
    pdf = documents.render(card)
    assert pdftools.page_sizes_mm(pdf) == [CARD_MM, CARD_MM]
    assert all(n >= 1 for n in pdftools.images_on_pages(pdf)), "both sides carry the watermark"
    assert pdftools.qr_codes(pdf) == []


def test_revoked_and_expired_documents_are_refused(ctx):
    revoked = f.issue(f.certificate(f.citizen()))
    workflow.apply(db.session, revoked, "revoke", user=f.user("cairo_manager"), reason="بيانات خاطئة")
    expired = f.issue(f.certificate(f.citizen()))
    workflow.apply(db.session, expired, "expire")
    db.session.commit()
    for doc in (revoked, expired):
        with pytest.raises(documents.DocumentRefused):
            documents.render(doc)


def test_a_skill_test_prints_its_certificate(ctx):
    test = f.issue(f.skill_test(f.citizen()))
    assert documents.document_of(test) is test.certificate
    assert test.certificate.kind == SKILL
    with pytest.raises(documents.DocumentRefused):
        documents.document_of(f.skill_test(f.citizen()))  # not approved: no certificate yet


def test_document_is_arabic_whatever_the_screen_language(app, ctx):
    doc = f.issue(f.certificate(f.citizen()))
    from flask_babel import force_locale
    from app.scope import unscoped
    with app.test_request_context("/?_l=en"), unscoped(), force_locale("en"):
        text = pdftools.text(documents.render(doc))
    assert "شهادة قيد" in text and "Registration certificate" not in text


def test_resource_policy_serves_only_the_fonts():
    assert documents.link_callback("font:Amiri-Regular.ttf", None).endswith("Amiri-Regular.ttf")
    for uri in ("/etc/passwd", "font:../../etc/passwd", "http://169.254.169.254/", "file:///etc/hosts"):
        assert documents.link_callback(uri, None) == ""
    assert documents.POLICY.allow_remote is False


# --- printing from the screens --------------------------------------------------
def _prints(doc):
    return db.session.scalars(select(AuditLog).where(
        AuditLog.entity == type(doc).__name__, AuditLog.record_id == doc.id,
        AuditLog.action.in_(("print", "reprint", "print_preview"))).order_by(AuditLog.id)).all()


def test_print_and_reprint_are_recorded_in_the_history(app, ctx, as_user):
    doc = f.issue(f.certificate(f.citizen()))
    clerk = as_user("cairo_clerk")
    show = clerk.get(f"/certificateview/show/{doc.id}").get_data(as_text=True)
    assert f"/certificateview/print/{doc.id}" in show

    first = clerk.get(f"/certificateview/print/{doc.id}")
    second = clerk.get(f"/certificateview/print/{doc.id}")
    assert first.status_code == second.status_code == 200
    assert first.mimetype == "application/pdf" and first.data.startswith(b"%PDF")
    assert "no-store" in first.headers["Cache-Control"]
    db.session.expire_all()
    rows = _prints(doc)
    assert [r.action for r in rows] == ["print", "reprint"]
    assert {r.username for r in rows} == {"cairo_clerk"} and rows[0].directorate_id == doc.directorate_id

    history = as_user("auditor").get(
        f"/auditlogview/history/Certificate/{doc.id}", follow_redirects=True).get_data(as_text=True)
    assert "أُعيدت الطباعة" in history


def test_print_of_a_draft_is_a_recorded_preview(ctx, as_user):
    draft = f.certificate(f.citizen())
    clerk = as_user("cairo_clerk")
    assert "معاينة" in clerk.get(f"/certificateview/show/{draft.id}").get_data(as_text=True)
    r = clerk.get(f"/certificateview/print/{draft.id}")
    assert r.status_code == 200 and "preview" in r.headers["Content-Disposition"]
    db.session.expire_all()
    assert [row.action for row in _prints(draft)] == ["print_preview"]


def test_printing_a_revoked_document_says_why_and_records_nothing(ctx, as_user):
    doc = f.issue(f.certificate(f.citizen()))
    workflow.apply(db.session, doc, "revoke", user=f.user("cairo_manager"), reason="صدر بالخطأ")
    db.session.commit()
    r = as_user("cairo_clerk").get(f"/certificateview/print/{doc.id}", follow_redirects=True)
    assert r.status_code == 200 and "لا يمكن طباعة مستند ملغى" in r.get_data(as_text=True)
    db.session.expire_all()
    assert _prints(doc) == []


def test_another_directorates_document_cannot_be_printed(ctx, as_user):
    cairo_doc = f.issue(f.certificate(f.citizen("01")))
    giza = as_user("giza_clerk")
    assert giza.get(f"/certificateview/print/{cairo_doc.id}").status_code == 404
    giza_doc = f.issue(f.certificate(f.citizen("21")), clerk="giza_clerk", manager="giza_manager")
    r = giza.post("/certificateview/action_post",
                  data={"action": "print_batch", "rowid": [str(giza_doc.id), str(cairo_doc.id)]})
    assert r.status_code == 404, "a batch naming another directorate's document prints nothing"
    r = giza.post("/certificateview/action_post", data={"action": "print_batch", "rowid": ["x1"]})
    assert r.status_code == 404
    db.session.expire_all()
    assert _prints(cairo_doc) == [] and _prints(giza_doc) == []
    # the permit and skill-test screens go through the same scope
    permit = f.issue(f.permit(f.establishment("01")))
    assert giza.get(f"/permitview/print/{permit.id}").status_code == 404
    test = f.issue(f.skill_test(f.citizen("01")))
    assert giza.get(f"/skilltestview/print/{test.id}").status_code == 404


def test_an_auditor_cannot_print(ctx, as_user):
    doc = f.issue(f.certificate(f.citizen()))
    r = as_user("auditor").get(f"/certificateview/print/{doc.id}")
    assert r.mimetype != "application/pdf"
    db.session.expire_all()
    assert _prints(doc) == []


def test_batch_print_is_one_pdf_cards_ten_to_a_sheet(ctx, as_user):
    certs = [f.issue(f.certificate(f.citizen())) for _ in range(2)]
    cards = []
    for _ in range(3):
        c = f.citizen()
        f.issue(f.skill_test(c))
        cards.append(f.issue(f.craft_card(c, skill_level=f.level(3))))
    draft = f.certificate(f.citizen())
    clerk = as_user("cairo_clerk")
    r = clerk.post("/certificateview/action_post", data={
        "action": "print_batch", "rowid": [str(d.id) for d in certs + cards + [draft]]})
    assert r.status_code == 200 and r.mimetype == "application/pdf"
    pdf = r.data
    # two certificates, one page each; the three cards on one A4 sheet of fronts and one of backs
    assert pdftools.page_sizes_mm(pdf) == [A4_MM] * 4
    text = pdftools.text(pdf)
    for doc in certs + cards:
        assert doc.serial in text
    assert "غير صالحة" not in text, "the draft was left out of the batch"
    assert len(pdftools.qr_codes(pdf)) == 5
    db.session.expire_all()
    for doc in certs + cards:
        assert [row.action for row in _prints(doc)] == ["print"]
    assert _prints(draft) == []


def test_batch_of_only_drafts_prints_nothing_and_says_so(ctx, as_user):
    draft = f.certificate(f.citizen())
    r = as_user("cairo_clerk").post("/certificateview/action_post",
                                    data={"action": "print_batch", "rowid": [str(draft.id)]},
                                    follow_redirects=True)
    assert r.mimetype == "text/html" and "لا يُطبع في الدفعة إلا المستندات الصادرة" in r.get_data(as_text=True)


def test_permit_past_its_end_is_refused(ctx):
    start = datetime.date.today() - datetime.timedelta(days=200)
    permit = f.issue(f.permit(f.establishment(), start_date=start, end_date=start + datetime.timedelta(days=100)))
    with pytest.raises(documents.DocumentRefused):
        documents.render(permit)


def test_certificate_model_status_is_what_the_document_says(ctx):
    doc = f.issue(f.certificate(f.citizen()))
    assert db.session.get(Certificate, doc.id).validity() == (doc.issue_date, None)


def test_batch_larger_than_the_limit_is_refused_with_a_message(app, ctx, as_user, monkeypatch):
    monkeypatch.setitem(app.config, "PRINT_BATCH_MAX", 2)
    docs = [f.issue(f.certificate(f.citizen())) for _ in range(3)]
    r = as_user("cairo_clerk").post("/certificateview/action_post", data={
        "action": "print_batch", "rowid": [str(d.id) for d in docs]}, follow_redirects=True)
    assert r.mimetype == "text/html" and "اختر 2 مستندًا على الأكثر" in r.get_data(as_text=True)
    db.session.expire_all()
    assert all(_prints(d) == [] for d in docs)


def test_markup_in_a_name_is_printed_as_text_not_obeyed(ctx):
    permit = f.issue(f.permit(f.establishment(), worker_name='John <img src="/etc/passwd"> Smith'))
    text = pdftools.text(documents.render(permit))
    assert '<img src="/etc/passwd">' in text


def test_skill_test_and_permit_screens_print_their_documents(ctx, as_user):
    test = f.issue(f.skill_test(f.citizen()))
    permit = f.issue(f.permit(f.establishment()))
    clerk = as_user("cairo_clerk")
    assert f"/skilltestview/print/{test.id}" in clerk.get(f"/skilltestview/show/{test.id}").get_data(as_text=True)
    r = clerk.get(f"/skilltestview/print/{test.id}")
    assert r.mimetype == "application/pdf" and test.certificate.serial in pdftools.text(r.data)
    r = clerk.get(f"/permitview/print/{permit.id}")
    assert r.mimetype == "application/pdf" and permit.passport_number in pdftools.text(r.data)
    db.session.expire_all()
    assert [row.action for row in _prints(test.certificate)] == ["print"]
    assert [row.action for row in _prints(permit)] == ["print"]
    untested = f.skill_test(f.citizen())  # no certificate yet: no print button, a message if asked
    assert "/print/" not in clerk.get(f"/skilltestview/show/{untested.id}").get_data(as_text=True)
    r = clerk.get(f"/skilltestview/print/{untested.id}", follow_redirects=True)
    assert "لا توجد شهادة لهذا الاختبار بعد" in r.get_data(as_text=True)


@pytest.mark.parametrize("name", [
    "عبد الرحمن محمد عبد العزيز عبد الحميد مصطفى إبراهيم الشرقاوي",
    " ".join(["عبد الرحمن محمد عبد العزيز"] * 7),  # 195 letters: only a shortened text fits
])
def test_long_names_and_titles_keep_the_card_on_its_two_sides(ctx, name):
    c = f.citizen(full_name=name)
    f.issue(f.skill_test(c, occ="7119"))
    card = f.issue(f.craft_card(c, occ="7119", skill_level=f.level(5)))
    pdf = documents.render(card)
    assert pdftools.page_sizes_mm(pdf) == [CARD_MM, CARD_MM]
    assert card.serial in pdftools.text(pdf) and len(pdftools.qr_codes(pdf)) == 1
