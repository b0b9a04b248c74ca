"""The password policy of Sijill accounts.

Plugged into FAB as ``FAB_PASSWORD_COMPLEXITY_VALIDATOR`` (with
``FAB_PASSWORD_COMPLEXITY_ENABLED``), so it applies wherever FAB sets a
password: adding a user, an admin's "reset password", a user's own reset.

FAB hands the validator the password only. The account it is for is read
from the request: the username typed in the add form, or the user whose
password is being reset (``pk`` of FAB's reset views), or the logged-in user.
"""
import re

from flask import g, has_request_context, request
from flask_appbuilder.exceptions import PasswordComplexityValidationError
from flask_babel import gettext as _

MIN_LENGTH = 10


def _classes(password):
    return sum(bool(re.search(pattern, password)) for pattern in
               (r"[a-z]", r"[A-Z]", r"[0-9]", r"[^A-Za-z0-9]"))


def _account_username():
    if not has_request_context():
        return None
    typed = request.form.get("username")
    if typed:
        return typed
    pk = request.args.get("pk")
    if pk and pk.isdigit():
        from .extensions import db
        from .models import SijillUser
        user = db.session.get(SijillUser, int(pk))
        return user.username if user else None
    user = g.get("user")
    return getattr(user, "username", None)


def problems(password, username=None):
    """What is wrong with a password, as Arabic-catalogued messages (empty: fine)."""
    password = password or ""
    found = []
    if len(password) < MIN_LENGTH:
        found.append(_("at least %(n)s characters", n=MIN_LENGTH))
    if _classes(password) < 3:
        found.append(_("at least three of: small letters, capital letters, digits, symbols"))
    if username and len(username) >= 3 and username.lower() in password.lower():
        found.append(_("must not contain the username"))
    return found


def validate(password):
    """FAB's hook: raise with one clear sentence listing every unmet rule."""
    found = problems(password, _account_username())
    if found:
        raise PasswordComplexityValidationError(
            _("The password is too weak: %(rules)s.", rules="، ".join(str(f) for f in found)))
