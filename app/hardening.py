"""HTTP-level hardening: security headers and CSP, the session's idle
timeout, the reverse proxy, and the error pages of refused requests.

One ``after_request`` hook sets every security header, so no screen can
forget one. The Content-Security-Policy allows only the app's own scripts
and styles: FAB's templates carry small inline scripts, each marked with
``nonce="{{ baselib.get_nonce() }}"``; FAB's macro calls ``csp_nonce()``
when the Jinja environment has it, so defining it here is enough to let
exactly those scripts run and nothing injected into a page.
"""
import re
import secrets

from flask import current_app, g, request, session
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import BadRequest, MethodNotAllowed, RequestEntityTooLarge, TooManyRequests


def csp_nonce():
    """One random nonce per response (FAB's templates ask it once per script)."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return g.csp_nonce


def content_security_policy(nonce):
    # style-src-attr 'unsafe-inline': FAB's templates and its jQuery plugins
    # (select2, the date picker, Bootstrap's modals) position and hide
    # elements with style="" attributes. An inline style cannot run script;
    # <style> elements and style sheets stay limited to the app's own files.
    return "; ".join([
        "default-src 'self'",
        f"script-src 'self' 'nonce-{nonce}'",
        "style-src 'self'",
        "style-src-attr 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ])


def _security_headers(response):
    headers = response.headers
    headers["Content-Security-Policy"] = content_security_policy(csp_nonce())
    headers["X-Content-Type-Options"] = "nosniff"
    headers["X-Frame-Options"] = "DENY"
    headers["Referrer-Policy"] = "same-origin"
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    # HSTS only over HTTPS: over plain HTTP the header is meaningless, and on
    # a test or intranet host without TLS it would lock browsers out. Behind a
    # proxy, request.is_secure reflects X-Forwarded-Proto (PROXY_COUNT).
    if request.is_secure:
        days = current_app.config.get("HSTS_DAYS", 365)
        headers["Strict-Transport-Security"] = f"max-age={days * 86400}; includeSubDomains"
    return response


def _idle_timeout():
    """A permanent session whose cookie (and its signed timestamp, which Flask
    checks against PERMANENT_SESSION_LIFETIME on every load) is renewed by
    every request: the session ends after that long without a request."""
    session.permanent = True


# FAB's lists read page_<View> and psize_<View> with a bare int(): anything
# else was a 500, and any page size was served (psize=10000000 would read a
# million citizens into one page). Its own menu offers 25 to 100.
_PAGING_ARG = re.compile(r"^(page|psize)_\w+$")
MAX_PAGE_SIZE = 100


def _refuse_nul():
    """PostgreSQL text cannot hold NUL (psycopg2 raises ValueError, a 500): a
    NUL in a query argument or form field is refused as a bad request."""
    from flask import abort
    if any("\x00" in v for v in request.args.values()) or (
            request.method == "POST" and request.mimetype in ("application/x-www-form-urlencoded",
                                                              "multipart/form-data")
            and any("\x00" in v for v in request.form.values())):
        abort(400)


def _check_paging_args():
    from flask import abort
    for key, value in request.args.items(multi=True):
        if _PAGING_ARG.match(key):
            if not (value.isascii() and value.isdigit() and len(value) <= 7):
                abort(400, description="paging")
            if key.startswith("psize_") and not 0 < int(value) <= MAX_PAGE_SIZE:
                abort(400, description="paging")


UNAVAILABLE_PAGE = """<!DOCTYPE html>
<html lang="ar" dir="rtl"><head><meta charset="utf-8"><title>{title}</title>
<link href="/static/css/sijill.css" rel="stylesheet"></head>
<body class="sijill-rtl"><div role="alert"><h2>{title}</h2><p>{message}</p>
<a href="/">{back}</a></div></body></html>"""


def _refusal(exc, title, message):
    """An Arabic page saying what was refused and that nothing changed. The
    REST API keeps its own error bodies (werkzeug's, or FAB's JSON)."""
    from flask import render_template
    if request.path.startswith("/api/"):
        return exc if hasattr(exc, "get_response") else ({"message": str(message)}, exc.code)
    status = exc.code
    from .extensions import appbuilder
    return render_template("sijill/refused.html", status=status, title=title, message=message,
                           appbuilder=appbuilder, base_template=appbuilder.base_template), status


# Endpoints FAB accepts by GET although they change data: deleting a record
# and running an action on one. FAB refuses the GET only while CSRF is on; a
# state change must never be a link, so they are made POST-only for every
# ModelView, FAB's own security screens (users, roles) included. FAB's
# buttons for them already post a form.
MUTATING_ENDPOINTS = ("delete", "action")


def _post_only_mutations(app):
    for rule in app.url_map.iter_rules():
        if (rule.endpoint.rsplit(".", 1)[-1] in MUTATING_ENDPOINTS and rule.methods
                and "POST" in rule.methods and "Api" not in rule.endpoint):
            rule.methods.difference_update({"GET", "HEAD"})


def install(app):
    """Called once every view is registered (app.web.install)."""
    _post_only_mutations(app)
    app.jinja_env.globals["csp_nonce"] = csp_nonce
    app.before_request(_idle_timeout)
    app.before_request(_check_paging_args)
    app.before_request(_refuse_nul)
    app.after_request(_security_headers)

    proxies = int(app.config.get("PROXY_COUNT") or 0)
    if proxies:
        # Trust exactly PROXY_COUNT proxies' X-Forwarded-For/-Proto/-Host: the
        # login rate limit then counts the client's address, not the proxy's,
        # and HSTS and secure cookies see the original scheme.
        from werkzeug.middleware.proxy_fix import ProxyFix
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)

    @app.errorhandler(BadRequest)
    def _bad_request(exc):
        if isinstance(exc, CSRFError):
            return _csrf(exc)
        if exc.description == "paging":
            return _refusal(exc, _("Invalid page"),
                            _("The page number or page size in the address is not valid (page size at most "
                              "%(n)s).", n=MAX_PAGE_SIZE))
        return _refusal(exc, _("Invalid request"),
                        _("The request could not be understood; nothing was changed."))

    from sqlalchemy.exc import DBAPIError, InterfaceError, InvalidatePoolError, OperationalError

    # InvalidatePoolError: the pool's pre-ping found the server gone while
    # checking a connection out (seen in the restart drill, tests/test_drills.py).
    @app.errorhandler(InvalidatePoolError)
    @app.errorhandler(DBAPIError)
    def _database_down(exc):
        if isinstance(exc, DBAPIError) and not (
                exc.connection_invalidated or isinstance(exc, (OperationalError, InterfaceError))):
            raise exc  # a real bug: the ordinary 500
        # The database went away under this request (restart, dropped
        # connection): say so and roll back. pool_pre_ping hands the next
        # request a fresh connection, so "try again" is true advice.
        from .extensions import db
        try:
            db.session.rollback()
        except Exception:  # noqa: BLE001  (the connection is already gone)
            db.session.remove()
        app.logger.warning("database unavailable: %s", exc.__class__.__name__)
        title = _("The database is unavailable")
        message = _("The database could not be reached; nothing was saved. Try again in a moment.")
        if request.path.startswith("/api/"):
            return {"message": str(message)}, 503
        # Built here, not rendered: the template context (menu, user, scope)
        # would ask the database that is gone.
        from markupsafe import escape
        page = UNAVAILABLE_PAGE.format(title=escape(str(title)), message=escape(str(message)),
                                       back=escape(_("Back to the home page")))
        return page, 503, {"Content-Type": "text/html; charset=utf-8"}

    @app.errorhandler(CSRFError)
    def _csrf(exc):
        return _refusal(exc, _("The form has expired"),
                        _("The form was not accepted: its security token is missing or expired. "
                          "Open the page again and repeat the action; nothing was saved."))

    @app.errorhandler(MethodNotAllowed)
    def _method(exc):
        response = _refusal(exc, _("Not allowed this way"),
                            _("This action is only accepted from the button on its page; nothing was changed."))
        if exc.valid_methods and isinstance(response, tuple):
            response = current_app.make_response(response)
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(exc):
        limit = (app.config.get("MAX_CONTENT_LENGTH") or 0) // (1024 * 1024)
        return _refusal(exc, _("The file is too large"),
                        _("The upload is larger than the limit of %(mb)s MB; nothing was saved.", mb=limit))

    @app.errorhandler(TooManyRequests)
    def _too_many(exc):
        return _refusal(exc, _("Too many attempts"),
                        _("Too many login attempts from this address. Wait a minute and try again."))
