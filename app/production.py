"""Start-up checks of production mode (SIJILL_ENV=production).

The app refuses to start rather than run unsafely: no SECRET_KEY or
DOCUMENT_SIGNING_KEY from the environment, no VERIFY_BASE_URL, debug on, or
any account still holding the demo password."""
import os

from sqlalchemy import inspect, select
from werkzeug.security import check_password_hash


class UnsafeConfiguration(RuntimeError):
    pass


def check(app, db):
    if app.config.get("SIJILL_ENV") != "production":
        return
    problems = []
    if not os.environ.get("SECRET_KEY"):
        problems.append("SECRET_KEY is not set in the environment")
    if not os.environ.get("DOCUMENT_SIGNING_KEY"):
        # its own key: rotating SECRET_KEY (sessions) must not void every printed QR code
        problems.append("DOCUMENT_SIGNING_KEY is not set in the environment")
    if not app.config.get("VERIFY_BASE_URL"):
        problems.append("VERIFY_BASE_URL is not set (the QR codes would hold no address)")
    if app.debug or os.environ.get("FLASK_DEBUG") in ("1", "true"):
        problems.append("debug mode is on")
    if app.config.get("SESSION_COOKIE_SECURE") is not True:
        problems.append("SESSION_COOKIE_SECURE must be on (serve over HTTPS)")
    problems += _demo_passwords(app, db)
    if problems:
        raise UnsafeConfiguration("Sijill refuses to start in production: " + "; ".join(problems))


def _demo_passwords(app, db):
    from .models import SijillUser
    if not inspect(db.engine).has_table("ab_user"):
        return []
    demo = app.config.get("DEMO_PASSWORD") or "Sijill@2026"
    with app.app_context():
        rows = db.session.execute(select(SijillUser.username, SijillUser.password)).all()
    weak = [name for name, hashed in rows if hashed and check_password_hash(hashed, demo)]
    return [f"accounts still have the demo password: {', '.join(sorted(weak))}"] if weak else []
