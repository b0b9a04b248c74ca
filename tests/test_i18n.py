"""The Arabic interface: a complete catalog, the language that sticks, digits
in both scripts, one display of dates.

The catalog test extracts the msgids from the code itself (app/catalog.py,
the same extraction as ``make catalog-update``), never from a committed
template, so a string added anywhere without its Arabic fails here by name.
"""
import datetime
import gettext as stdlib_gettext
import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from app import catalog
from tests import factories

PO = catalog.TRANSLATIONS / "ar" / "LC_MESSAGES" / "messages.po"
MO = PO.with_suffix(".mo")
PLACEHOLDER = re.compile(r"%\((\w+)\)[sdifr]|%[sdifr]|\{(\w*)\}")


def _arabic():
    with open(PO, "rb") as f:
        return read_po(f, locale="ar")


def _texts(message):
    return message.string if isinstance(message.string, (list, tuple)) else [message.string]


def _translated(message):
    return message is not None and "fuzzy" not in message.flags and all(_texts(message))


def _where(message):
    return ", ".join(f"{path}:{line}" for path, line in message.locations[:3])


def test_every_message_has_an_arabic_translation():
    arabic = _arabic()
    missing = [m for m in catalog.extract() if m.id and not _translated(arabic.get(m.id, m.context))]
    assert not missing, (
        f"{len(missing)} message(s) without Arabic (run `make catalog-update`, then translate them in "
        f"{PO.relative_to(catalog.ROOT)}):\n" +
        "\n".join(f"  {m.id!r}  ({_where(m)})" for m in missing))


def _placeholders(text):
    return sorted(name or whole for whole, name in
                  ((m.group(0), m.group(1) or m.group(2)) for m in PLACEHOLDER.finditer(text or "")))


def test_translations_keep_the_placeholders():
    """A translation that drops or renames %(name)s breaks the page that formats it."""
    wrong = []
    for message in _arabic():
        if not message.id or not _translated(message):
            continue
        ids = message.id if isinstance(message.id, (list, tuple)) else [message.id]
        expected = _placeholders(ids[-1])
        for text in _texts(message):
            got = _placeholders(text)
            # An Arabic plural form may spell the number out ("رسالة واحدة"): the
            # count may be left out of a plural form, never invented or renamed.
            if got != expected and not (len(ids) > 1 and set(got) <= set(expected)):
                wrong.append(f"  {ids[0]!r}: expects {expected}, the translation has {got}")
    # Babel's own checks, the ones `pybabel compile` refuses a catalog for.
    wrong += [f"  {m.id!r}: {'; '.join(str(e) for e in errors)}" for m, errors in _arabic().check()]
    assert not wrong, "translations whose placeholders differ from the msgid:\n" + "\n".join(wrong)


def test_compiled_catalog_is_current():
    """The app serves the .mo: it must hold every translation of the .po
    (`make setup` and tests/run.sh compile it)."""
    assert MO.exists(), f"{MO} is missing: run `make catalog`"
    with open(MO, "rb") as f:
        compiled = stdlib_gettext.GNUTranslations(f)
    stale = [m.id for m in _arabic() if m.id and isinstance(m.id, str) and _translated(m)
             and compiled.gettext(m.id) != m.string]
    assert not stale, f"{len(stale)} translation(s) not in the compiled catalog, e.g. {stale[:3]}: run `make catalog`"


def test_catalog_covers_fab_and_the_app():
    sources = {path.split("/")[0] for m in catalog.extract() for path, _ in m.locations}
    assert sources == {"app", "flask_appbuilder"}


# --- language -------------------------------------------------------------------
def _lang(html):
    return re.search(r'<html lang="(\w+)" dir="(\w+)"', html).groups()


def test_arabic_by_default_and_right_to_left(app):
    page = app.test_client().get("/login/").get_data(as_text=True)
    assert _lang(page) == ("ar", "rtl")
    assert "كلمة المرور" in page  # "Password"
    assert "bootstrap-rtl.min.css" in page and "bootstrap-datepicker.ar.min.js" in page


def test_english_choice_survives_the_session(app):
    browser = app.test_client()
    assert browser.get("/lang/en").status_code == 302
    cookie = browser.get_cookie("sijill_locale")
    assert cookie is not None and cookie.value == "en"
    assert _lang(browser.get("/login/").get_data(as_text=True)) == ("en", "ltr")
    # The session ends (idle timeout, logout); the browser keeps its choice.
    browser.delete_cookie(app.config.get("SESSION_COOKIE_NAME", "session"))
    page = browser.get("/login/").get_data(as_text=True)
    assert _lang(page) == ("en", "ltr")
    assert "bootstrap-rtl.min.css" not in page
    browser.get("/lang/ar")
    assert browser.get_cookie("sijill_locale").value == "ar"
    assert _lang(browser.get("/login/").get_data(as_text=True)) == ("ar", "rtl")


def test_language_menu_shows_the_current_language(as_user):
    page = as_user("admin").get("/").get_data(as_text=True)
    menu = page[page.index("sijill-locale-menu"):]
    menu = menu[:menu.index("</li>\n")] if "</li>\n" in menu else menu[:2000]
    assert "العربية" in menu and "/lang/en" in menu and "/lang/ar" not in menu


def test_screens_are_titled_in_arabic(as_user):
    page = as_user("admin").get("/citizenview/list/").get_data(as_text=True)
    assert "List Citizen" not in page
    assert "المواطنون" in page


# --- digits -----------------------------------------------------------------------
def _arabic_indic(text):
    return text.translate({ord(str(i)): chr(0x0660 + i) for i in range(10)})


def test_list_search_accepts_arabic_indic_digits(app, ctx, as_user):
    citizen = factories.citizen()
    typed = _arabic_indic(citizen.national_id)
    page = as_user("admin").get("/citizenview/list/", query_string={"_flt_0_national_id": typed})
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert f"/citizenview/show/{citizen.id}" in html
    assert html.count("/citizenview/show/") == 1


def test_forms_accept_arabic_indic_digits(app, ctx, as_user):
    """A national ID and a mobile typed in Arabic-Indic digits are stored in
    Western digits, and the birth date is read from the ID."""
    from sqlalchemy import select

    from app.extensions import db
    from app.models import Citizen
    nid = factories.national_id(birth=datetime.date(1988, 2, 29), gender="F")
    response = as_user("admin").post("/citizenview/add", data={
        "national_id": _arabic_indic(nid), "full_name": "سميرة عادل فهمي", "mobile": _arabic_indic("01001234567"),
        "directorate": str(factories.directorate("01").id)})
    db.session.expire_all()
    saved = db.session.scalars(select(Citizen).where(Citizen.national_id == nid)).one_or_none()
    assert saved is not None, re.sub(r"\s+", " ", response.get_data(as_text=True))[-1500:]
    assert saved.mobile == "01001234567"
    assert saved.birth_date == datetime.date(1988, 2, 29) and saved.gender == "F"


def test_digits_form_converts_numbers_and_dates_before_parsing(app):
    from flask_wtf import FlaskForm
    from wtforms import DateField, DecimalField, IntegerField, PasswordField, StringField

    from app.i18n import digits_form

    class Probe(FlaskForm):
        day = DateField()
        count = IntegerField()
        fee = DecimalField()
        phone = StringField()
        name = StringField()
        secret = PasswordField()

    with app.test_request_context("/", method="POST", data={
            "day": "٢٠٢٦-٠١-٠٢", "count": "١٢", "fee": "١٥٠٫٥", "phone": "٠١٠ ١٢٣", "name": "شارع ٢٦ يوليو",
            "secret": "١٢٣"}):
        form = digits_form(Probe)(meta={"csrf": False})
        assert form.validate(), form.errors
        assert form.day.data == datetime.date(2026, 1, 2)
        assert form.count.data == 12 and str(form.fee.data) == "150.5"
        assert form.phone.data == "010 123"
        assert form.name.data == "شارع ٢٦ يوليو"  # free text keeps what was typed
        assert form.secret.data == "١٢٣"  # a password is compared as typed


# --- display ----------------------------------------------------------------------
def test_values_show_one_way_on_every_page(app):
    from flask import render_template_string
    with app.test_request_context("/"):
        shown = render_template_string("{{ d }}|{{ t }}|{{ n }}|{{ yes }}|{{ no }}", d=datetime.date(2026, 3, 4),
                                       t=datetime.datetime(2026, 3, 4, 9, 5, 33, 123), n=None, yes=True, no=False)
    assert shown == "2026-03-04|2026-03-04 09:05||نعم|لا"
