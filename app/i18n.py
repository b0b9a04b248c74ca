"""Sijill's language and digits, for every page.

* The language: Arabic unless this browser chose otherwise. FAB keeps the
  choice of its language menu (``/lang/<code>``) in the session only, and the
  session ends after ``SESSION_IDLE_MINUTES`` or at logout, so the choice is
  also kept in a long-lived cookie (``LOCALE_COOKIE_DAYS``) and read back when
  the session has none.
* Digits: a clerk types Arabic-Indic (٠١٢٣) or Western (0123) digits. The
  browser converts them as they are typed (``static/js/sijill.js``), but the
  server never relies on it: list searches (FAB's ``_flt_`` arguments) and
  every number, date and digit-shaped text field of a form are converted
  before anything reads them.
* Display: one format for a value on every page and document — dates
  ``yyyy-mm-dd``, times ``yyyy-mm-dd HH:MM`` (as in the exports), yes/no in
  the page's language, nothing at all for an empty value (FAB prints "None").
"""
import datetime
import re

from flask import current_app, has_request_context, request, session
from flask_babel import get_babel, get_locale, gettext, lazy_gettext
from werkzeug.datastructures import ImmutableMultiDict, MultiDict
from wtforms import fields as wtf

from .arabic import western_digits

LOCALE_COOKIE = "sijill_locale"
DATE_FORMAT = "%Y-%m-%d"
DATETIME_FORMAT = "%Y-%m-%d %H:%M"

_EASTERN_DIGIT = re.compile("[\u0660-\u0669\u06f0-\u06f9]")
# A text typed as a number (national ID, mobile, register number, year…):
# digits of either script with the separators people type between them.
_DIGIT_SHAPED = re.compile(r"^[\s\d\u0660-\u0669\u06f0-\u06f9+\-/().\u066b\u066c]*$")
_NUMBER_FIELDS = (wtf.IntegerField, wtf.DecimalField, wtf.FloatField)
_DATE_FIELDS = (wtf.DateField, wtf.DateTimeField, wtf.DateTimeLocalField, wtf.TimeField, wtf.MonthField)


def _languages():
    return current_app.config.get("LANGUAGES") or {}


def _valid(code):
    return code if code and code in _languages() else None


def select_locale():
    """The request's language: FAB's ``_l_`` argument (its REST API), the
    session's choice, this browser's saved choice, else the default (ar).
    Outside a request (CLI, jobs): the default."""
    if not has_request_context():
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    if "_l_" in request.args:
        return _valid(request.args["_l_"]) or current_app.config["BABEL_DEFAULT_LOCALE"]
    return (_valid(session.get("locale")) or _valid(request.cookies.get(LOCALE_COOKIE))
            or current_app.config["BABEL_DEFAULT_LOCALE"])


def _remember_locale(response):
    """Keep an explicit choice (FAB's /lang/<code> writes it in the session)
    beyond the session, in a cookie of this browser."""
    chosen = _valid(session.get("locale"))
    if chosen and request.cookies.get(LOCALE_COOKIE) != chosen:
        response.set_cookie(
            LOCALE_COOKIE, chosen, max_age=current_app.config.get("LOCALE_COOKIE_DAYS", 365) * 86400,
            httponly=True, samesite="Lax", secure=current_app.config.get("SESSION_COOKIE_SECURE", False))
    return response


# --- digits -----------------------------------------------------------------------
def numeric_text(text):
    """A typed number in Western form: digits, and the Arabic decimal (٫) and
    thousands (٬) separators as a Python number expects them."""
    return western_digits(text).replace("\u066b", ".").replace("\u066c", "")


def _has_eastern_digits(value):
    return isinstance(value, str) and _EASTERN_DIGIT.search(value) is not None


def _normalise_filter_args():
    """FAB's list search reads ``_flt_<op>_<column>`` straight from the query
    string: a national ID typed in Arabic-Indic digits must find the citizen."""
    items = list(request.args.items(multi=True))
    if not any(key.startswith("_flt_") and _has_eastern_digits(value) for key, value in items):
        return
    request.args = ImmutableMultiDict(
        [(key, numeric_text(value) if key.startswith("_flt_") else value) for key, value in items])


def _converter_for(field):
    if isinstance(field, wtf.PasswordField):
        return None  # a password is compared as typed
    if isinstance(field, _NUMBER_FIELDS):
        return numeric_text
    if isinstance(field, _DATE_FIELDS):
        return western_digits
    if isinstance(field, wtf.StringField) and not isinstance(field, wtf.TextAreaField):
        return lambda value: western_digits(value) if _DIGIT_SHAPED.match(value) else value
    return None


class DigitsForm:
    """Mixed into a form class: posted digits are Western before any field
    parses them (WTForms' DateField rejects ``٢٠٢٦-٠١-٠٢``)."""

    class Meta:
        def wrap_formdata(self, form, formdata):
            formdata = super().wrap_formdata(form, formdata)
            if formdata is None or not any(_has_eastern_digits(v) for _, v in formdata.items(multi=True)):
                return formdata
            converters = {f.name: c for f in form._fields.values() if (c := _converter_for(f))}
            converted = MultiDict()
            for key, value in formdata.items(multi=True):
                convert = converters.get(key)
                converted.add(key, convert(value) if convert and isinstance(value, str) else value)
            return converted


def digits_form(form_class):
    if form_class is None or issubclass(form_class, DigitsForm):
        return form_class
    return type(form_class.__name__, (DigitsForm, form_class), {})


def _digit_forms_everywhere(appbuilder):
    """Every form FAB builds for a screen (add, edit, search, simple forms),
    including FAB's own user screens and screens added by any feature. FAB
    generates these classes itself, so they are wrapped once they exist."""
    for view in appbuilder.baseviews:
        for attr in ("add_form", "edit_form", "search_form", "form"):
            form_class = getattr(view, attr, None)
            if isinstance(form_class, type):
                setattr(view, attr, digits_form(form_class))


# --- page titles ------------------------------------------------------------------
_FAB_DEFAULT_TITLE = ("List ", "Show ", "Add ", "Edit ")


def _menu_items(items):
    for item in items:
        yield item
        yield from _menu_items(item.childs or [])


def _titles_from_menu(appbuilder):
    """FAB titles a screen "List Citizen" / "Add Citizen" by pasting English
    words onto the class name, which no catalog can translate. A screen on
    the menu is titled by its menu label instead (already translated), for
    every title a view has not set itself."""
    for item in _menu_items(appbuilder.menu.get_list()):
        view, label = item.baseview, item.label
        if view is None or not label or not hasattr(view, "list_title"):
            continue
        titles = {
            "list_title": label,
            "show_title": lazy_gettext("Record — %(list)s", list=label),
            "add_title": lazy_gettext("New record — %(list)s", list=label),
            "edit_title": lazy_gettext("Edit record — %(list)s", list=label),
        }
        for attr, title in titles.items():
            current = getattr(view, attr, None)
            if isinstance(current, str) and current.startswith(_FAB_DEFAULT_TITLE):
                setattr(view, attr, title)
        if isinstance(view.title, str) and view.title.startswith(_FAB_DEFAULT_TITLE):
            view.title = view.list_title


# --- display ----------------------------------------------------------------------
def display(value):
    """How ``{{ value }}`` shows in any template (Jinja's ``finalize``)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return gettext("Yes") if value else gettext("No")
    if isinstance(value, datetime.datetime):
        return value.strftime(DATETIME_FORMAT)
    if isinstance(value, datetime.date):
        return value.strftime(DATE_FORMAT)
    return value


def is_rtl(locale):
    return str(locale or "").split("_")[0] in ("ar", "fa", "he", "ur")


def install(app):
    from .extensions import appbuilder
    # FAB's selector falls back to English in its menu and forgets the
    # choice with the session; Sijill's replaces it (same `_l_` and session).
    get_babel(app).locale_selector = select_locale
    app.before_request(_normalise_filter_args)
    app.after_request(_remember_locale)
    app.jinja_env.finalize = display
    app.jinja_env.globals.update(get_locale=get_locale, sijill_is_rtl=is_rtl)
    _digit_forms_everywhere(appbuilder)
    _titles_from_menu(appbuilder)
