"""App-wide web behaviour that is not a screen: small JSON helpers used by
the forms, error pages and recorded denials (security headers: app.hardening)."""
from flask import g, jsonify, render_template, request
import functools

from flask import redirect, url_for
from flask_login import current_user
from werkzeug.exceptions import Forbidden, NotFound

from . import audit
from .extensions import db
from .national_id import GOVERNORATES, parse_national_id
from .pickers import picker_endpoint
from .scope import ScopeViolation


def _parse_nid():
    """What the citizen form shows while the ID is typed: one parser, the server's."""
    from flask import current_app
    try:
        parsed = parse_national_id(request.args.get("nid", ""),
                                   current_app.config.get("NATIONAL_ID_STRICT_CHECKSUM", False))
    except ValueError as exc:
        return jsonify(ok=False, error=str(exc))
    return jsonify(ok=True, national_id=parsed.number, birth_date=parsed.birth_date.isoformat(),
                   gender=parsed.gender, governorate=GOVERNORATES[parsed.governorate_code][0],
                   warning=parsed.warnings[0] if parsed.warnings else None)


def record_denial(status):
    """An access refused to a logged-in user, kept even though the request rolls back."""
    user = g.get("user")
    if user is not None and getattr(user, "is_authenticated", False):
        db.session.rollback()
        audit.record_event_now(db.engine, "denied", detail={"status": status, "method": request.method,
                                                              "path": request.path[:300]})


class DenialsRecorded:
    """For FAB APIs: their 403 and 404 answers (no permission, row not in
    scope) are recorded like the web's refusals."""

    def response_403(self, **kwargs):
        record_denial(403)
        return super().response_403(**kwargs)

    def response_404(self, **kwargs):
        record_denial(404)
        return super().response_404(**kwargs)


def login_required(view):
    """Send an anonymous caller to FAB's login page (flask-login's own
    decorator does not know FAB's login endpoint)."""
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if not current_user.is_authenticated:
            from .extensions import appbuilder
            return redirect(url_for(appbuilder.sm.auth_view.__class__.__name__ + ".login", next=request.path))
        return view(*args, **kwargs)
    return wrapper


def install(app):
    from . import i18n
    i18n.install(app)  # language choice, digits in both scripts, one display of values
    from . import render_cache
    render_cache.install(app)  # the navbar's menu rendered once per permissions and language
    app.add_url_rule("/picker/<name>", "picker", login_required(picker_endpoint))
    app.add_url_rule("/nid/parse", "nid_parse", login_required(_parse_nid))

    @app.errorhandler(ScopeViolation)
    def _scope_violation(exc):
        record_denial(404)
        return _error_page(404)

    @app.errorhandler(NotFound)
    def _not_found(exc):
        record_denial(404)
        return _error_page(404)

    @app.errorhandler(Forbidden)
    def _forbidden(exc):
        record_denial(403)
        return _error_page(403)

    from . import hardening
    hardening.install(app)  # security headers and CSP, idle timeout, refusal pages


def _error_page(status):
    if request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json":
        from .api_errors import error
        return error("not_found" if status == 404 else "forbidden")
    from .extensions import appbuilder
    return render_template("sijill/error.html", status=status, appbuilder=appbuilder,
                           base_template=appbuilder.base_template), status
