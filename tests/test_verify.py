"""The public verification page, as a citizen or an employer uses it: no
login, Arabic, the QR link or a typed serial, and only a masked name —
never the national ID or passport number. A forged code is named as such."""
import datetime
import re

import pytest

from app import verify, workflow
from app.extensions import db
from app.models import EXPIRED, NOT_FOUND, REVOKED, VALID, document_status
from tests import factories as f


@pytest.fixture(autouse=True)
def _fresh_limit():
    verify.limiter.reset()


@pytest.fixture()
def public(app):
    return app.test_client()  # nobody logged in


def _page(client, url):
    r = client.get(url)
    return r.status_code, r.get_data(as_text=True)


def _qr_link(doc):
    return verify.verify_url(doc.serial)


def test_valid_document_shows_status_type_dates_and_masked_name_only(app, ctx, public):
    c = f.citizen(full_name="محمد أحمد علي حسن")
    doc = f.issue(f.certificate(c))
    status, html = _page(public, _qr_link(doc))
    assert status == 200
    assert "سارية" in html and "شهادة قيد" in html and "القاهرة" in html
    assert doc.serial in html and doc.issue_date.isoformat() in html
    assert "محمد أ*** ح***" in html
    assert c.national_id not in html and "أحمد علي" not in html
    assert 'lang="ar"' in html and 'dir="rtl"' in html


def test_permit_page_never_shows_the_passport(ctx, public):
    permit = f.issue(f.permit(f.establishment(), worker_name="Maria Gonzalez Lopez"))
    status, html = _page(public, _qr_link(permit))
    assert status == 200 and "Maria G*** L***" in html
    assert permit.passport_number not in html and "Gonzalez" not in html
    assert "ترخيص عمل لأجنبي" in html


def test_expired_document(ctx, public):
    doc = f.issue(f.certificate(f.citizen()))
    workflow.apply(db.session, doc, "expire")
    db.session.commit()
    status, html = _page(public, _qr_link(doc))
    assert status == 200 and "انتهت" in html
    assert "ساري المفعول اليوم" not in html


def test_permit_past_its_end_date_is_expired_before_the_nightly_job(ctx, public):
    start = datetime.date.today() - datetime.timedelta(days=200)
    permit = f.issue(f.permit(f.establishment(), start_date=start, end_date=start + datetime.timedelta(days=100)))
    assert document_status(db.session, permit.serial)[0] == EXPIRED
    assert "انتهت" in _page(public, _qr_link(permit))[1]


def test_revoked_document(ctx, public):
    doc = f.issue(f.certificate(f.citizen()))
    workflow.apply(db.session, doc, "revoke", user=f.user("cairo_manager"), reason="صدرت بالخطأ")
    db.session.commit()
    status, html = _page(public, _qr_link(doc))
    assert status == 200 and "ألغت المديرية هذا المستند" in html
    assert document_status(db.session, doc.serial)[0] == REVOKED


def test_unknown_serial(app, public):
    with app.app_context():
        link = verify.verify_url("01-2026-REG-999999")
    status, html = _page(public, link)
    assert status == 404 and "لا يوجد مستند مسجل بهذا الرقم" in html


def test_tampered_signature_and_altered_serial(ctx, public):
    doc = f.issue(f.certificate(f.citizen()))
    link = _qr_link(doc)
    forged = re.sub(r"sig=.", lambda m: "sig=" + ("A" if m.group(0)[-1] != "A" else "B"), link)
    status, html = _page(public, forged)
    assert status == 400 and "توقيع غير صحيح" in html and "لا تقبل هذا المستند" in html
    assert doc.serial not in html.split("<form")[0], "a forged code shows nothing of the document"
    other = doc.serial[:-1] + ("1" if doc.serial[-1] != "1" else "2")
    assert _page(public, link.replace(doc.serial, other))[0] == 400, "the signature binds the serial"
    assert _page(public, f"/verify/{doc.serial}?sig=")[0] == 400


def test_signature_depends_on_the_server_key(app, ctx, monkeypatch):
    doc = f.issue(f.certificate(f.citizen()))
    sig = verify.sign(doc.serial)
    assert verify.signature_ok(doc.serial, sig)
    monkeypatch.setitem(app.config, "DOCUMENT_SIGNING_KEY", "another-key")
    assert not verify.signature_ok(doc.serial, sig)


def test_typed_serial_shows_the_same_limited_answer(ctx, public):
    c = f.citizen()
    doc = f.issue(f.certificate(c))
    arabic_digits = doc.serial.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    for typed in (doc.serial, f"  {doc.serial.lower()} ", arabic_digits):
        status, html = _page(public, f"/verify/?serial={typed}")
        assert status == 200 and "سارية" in html, typed
        assert c.national_id not in html
    assert _page(public, f"/verify/{doc.serial}")[0] == 200  # a link without ?sig= is a typed serial


def test_empty_form_and_bad_input_answer_in_arabic_never_500(public):
    status, html = _page(public, "/verify/")
    assert status == 200 and "التحقق من المستندات" in html and "<form" in html
    for bad in ("abc", "'; DROP TABLE certificate; --", "01-2026-XXX", "9" * 500):
        status, html = _page(public, f"/verify/?serial={bad}")
        assert status == 400 and "هذا ليس رقمًا مسلسلًا لمستند" in html, bad
    # a NUL byte is refused before any page reads it (app.hardening), in Arabic too
    status, html = _page(public, "/verify/?serial=%00")
    assert status == 400 and 'lang="ar"' in html
    assert _page(public, "/verify/../../etc/passwd")[0] in (404, 400)


def test_draft_serial_never_verifies(ctx):
    assert document_status(db.session, "01-2026-REG-000000") == (NOT_FOUND, None)
    doc = f.issue(f.certificate(f.citizen()))
    assert document_status(db.session, doc.serial) == (VALID, doc)


def test_rate_limit_answers_429_in_arabic(app, public, monkeypatch):
    monkeypatch.setitem(app.config, "VERIFY_RATE_LIMIT_PER_MINUTE", 3)
    for _ in range(3):
        assert public.get("/verify/").status_code == 200
    r = public.get("/verify/?serial=01-2026-REG-000001")
    assert r.status_code == 429 and "انتظر دقيقة" in r.get_data(as_text=True)
    assert r.headers["Retry-After"] == "60"
    other = app.test_client().get("/verify/", environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert other.status_code == 200, "the limit is per client address"


def test_rate_limiter_window_slides():
    limiter = verify.RateLimiter()
    assert all(limiter.allow("a", 2, now=t) for t in (0, 1))
    assert not limiter.allow("a", 2, now=2)
    assert limiter.allow("a", 2, now=61)


@pytest.mark.parametrize("name, masked", [
    ("محمد أحمد علي حسن", "محمد أ*** ح***"),
    ("محمد أحمد علي", "محمد أ*** ع***"),
    ("عبد الله محمود السيد", "عبد الله م*** ا***"),
    ("John Smith", "John S***"),
    ("", ""),
])
def test_masked_name(name, masked):
    assert verify.masked_name(name) == masked


def test_page_is_arabic_even_for_a_browser_that_chose_english(public):
    public.set_cookie("sijill_locale", "en")
    html = public.get("/verify/?_l_=en").get_data(as_text=True)
    assert "التحقق من المستندات" in html and "Document verification" not in html
