"""Start-up checks of production mode (SIJILL_ENV=production).

The app refuses to start rather than run unsafely: no SECRET_KEY from the
environment or a weak one, no DOCUMENT_SIGNING_KEY, no VERIFY_BASE_URL, debug
on, cookies not marked Secure, or any account still holding the demo password
(its hash checked against DEMO_PASSWORD and the published default, since a
checkout's README prints it)."""
import os

from sqlalchemy import inspect, select
from werkzeug.security import check_password_hash


class UnsafeConfiguration(RuntimeError):
    pass


def check(app, db):
    if app.config.get("SIJILL_ENV") != "production":
        return
    problems = []
    key = os.environ.get("SECRET_KEY")
    if not key:
        problems.append("SECRET_KEY is not set in the environment")
    elif _weak_secret(key):
        problems.append("SECRET_KEY is weak (use at least 32 random characters: "
                        "python3 -c 'import secrets; print(secrets.token_hex(32))')")
    if not os.environ.get("DOCUMENT_SIGNING_KEY"):
        # its own key: rotating SECRET_KEY (sessions) must not void every printed QR code
        problems.append("DOCUMENT_SIGNING_KEY is not set in the environment")
    if not app.config.get("VERIFY_BASE_URL"):
        problems.append("VERIFY_BASE_URL is not set (the QR codes would hold no address)")
    if app.debug or os.environ.get("FLASK_DEBUG") in ("1", "true"):
        problems.append("debug mode is on")
    if app.config.get("SESSION_COOKIE_SECURE") is not True:
        problems.append("SESSION_COOKIE_SECURE must be on (serve over HTTPS)")
    if app.config.get("WTF_CSRF_ENABLED") is False:
        problems.append("CSRF protection (WTF_CSRF_ENABLED) is off")
    problems += _demo_passwords(app, db)
    if problems:
        raise UnsafeConfiguration("Sijill refuses to start in production: " + "; ".join(problems))


# Values seen in examples and tutorials, never secrets.
KNOWN_WEAK_KEYS = {"secret", "changeme", "change-me", "dev", "development", "test", "test-secret-key",
                   "thisismysecretkey", "\x02\x01thisismyscretkey\x01\x02\\e\\y\\y\\h"}


def _weak_secret(key):
    """Too short, a known example value, or one repeated character."""
    return len(key) < 32 or key.lower() in KNOWN_WEAK_KEYS or len(set(key)) < 8


def _demo_passwords(app, db):
    from .models import SijillUser
    if not inspect(db.engine).has_table("ab_user"):
        return []
    demos = {app.config.get("DEMO_PASSWORD") or "Sijill@2026", "Sijill@2026"}
    with app.app_context():
        rows = db.session.execute(select(SijillUser.username, SijillUser.password)).all()
    weak = [name for name, hashed in rows
            if hashed and any(check_password_hash(hashed, demo) for demo in demos)]
    return [f"accounts still have the demo password: {', '.join(sorted(weak))}"] if weak else []
