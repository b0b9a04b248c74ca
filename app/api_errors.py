"""One error shape for everything under /api/v1:

    {"code": "stable_snake_code",
     "message": {"ar": "...", "en": "..."},
     "details": {...}}

Our own endpoints answer with ``error(...)``. Whatever else answers under
/api/v1 — FAB's own responses ({"message": ...}), flask-jwt-extended's
({"msg": ...}), werkzeug's HTML 404/405/413 pages, an unhandled exception —
is rewritten by ``normalize`` (an ``after_request`` hook), so a client parses
one shape and never a HTML page.
"""
import json

from flask import current_app, jsonify, make_response, request
from flask_babel import force_locale, lazy_gettext as _
from werkzeug.exceptions import HTTPException

API_PREFIX = "/api/"  # /api/v1/… and FAB's /api/<version>/_openapi

# code: (HTTP status, message). The code is the contract; the text may change.
ERRORS = {
    "bad_request": (400, _("The request is not correct.")),
    "malformed_json": (400, _("The request body is not valid JSON.")),
    "unsupported_media_type": (400, _("Send the request body as JSON (Content-Type: application/json).")),
    "unauthorized": (401, _("Log in or send a valid API key.")),
    "invalid_token": (401, _("The access token is missing, invalid or expired.")),
    "invalid_credentials": (401, _("Wrong username or password.")),
    "forbidden": (403, _("This account may not do this.")),
    "not_found": (404, _("Not found.")),
    "method_not_allowed": (405, _("This method is not allowed here.")),
    "conflict": (409, _("The request conflicts with an existing record.")),
    "stale_record": (409, _("Someone else changed this record meanwhile; read it again and retry.")),
    "idempotency_in_progress": (409, _("A request with this Idempotency-Key is still being processed; retry shortly.")),
    "payload_too_large": (413, _("The request is too large.")),
    "validation_error": (422, _("Some fields are not valid.")),
    "rule_violation": (422, _("The record breaks a rule; nothing was saved.")),
    "idempotency_key_reused": (422, _("This Idempotency-Key was already used with a different request.")),
    "rate_limited": (429, _("Too many requests; wait and retry.")),
    "internal_error": (500, _("An unexpected error occurred; nothing was saved.")),
}
_BY_STATUS = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 409: "conflict", 413: "payload_too_large",
              422: "validation_error", 429: "rate_limited"}


def both(message):
    """A message in Arabic and English, whatever the request's language."""
    out = {}
    for lang in ("ar", "en"):
        with force_locale(lang):
            out[lang] = str(message)
    return out


def error(code, details=None, status=None, message=None, headers=None):
    default_status, default_message = ERRORS[code]
    body = {"code": code, "message": both(message if message is not None else default_message),
            "details": details or {}}
    response = make_response(jsonify(body), status or default_status)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def rule_details(exc):
    """A RuleViolation's fields, each message in both languages."""
    return {"fields": {field: both(msg) for field, msg in getattr(exc, "messages", exc.errors).items()}}


def is_api_request():
    return request.path.startswith(API_PREFIX)


def _is_ours(data):
    return isinstance(data, dict) and isinstance(data.get("code"), str) and \
        isinstance(data.get("message"), dict) and "details" in data


def _code_for(status, data):
    message = data.get("message") if isinstance(data, dict) else None
    if isinstance(data, dict) and "msg" in data:
        # flask-jwt-extended: no token at all, or a bad or expired one
        if not request.headers.get("Authorization"):
            return "unauthorized", 401
        return "invalid_token", 401
    if status == 401 and request.path.endswith("/security/login"):
        return "invalid_credentials", 401
    if status == 400 and message in ("Request is not JSON", "Request payload is not JSON"):  # FAB
        return "unsupported_media_type", 400
    if status >= 500:
        return "internal_error", 500
    return _BY_STATUS.get(status, "bad_request" if status < 500 else "internal_error"), status


def normalize(response):
    """after_request: rewrite a foreign error answer under /api/v1 into the shape."""
    if not is_api_request() or response.status_code < 400:
        return response
    data = None
    if response.is_json:
        try:
            data = json.loads(response.get_data(as_text=True))
        except ValueError:
            data = None
    if _is_ours(data):
        return response
    code, status = _code_for(response.status_code, data)
    details = {}
    if isinstance(data, dict) and status < 500:
        original = data.get("message", data.get("msg"))
        if isinstance(original, dict):
            details = {"fields": original}  # marshmallow: {field: [messages]}
        elif original:
            details = {"reason": str(original)}
    answer = error(code, details, status=status)
    for name in ("Retry-After", "Allow", "WWW-Authenticate"):
        if name in response.headers:
            answer.headers[name] = response.headers[name]
    return answer


def _check_rison():
    """FAB parses ``?q=`` (Rison) with prison, whose parser recurses for ever
    on an unclosed "(((" and FAB answers that 500: refuse it as 400 first."""
    if not is_api_request() or "q" not in request.args:
        return None
    import prison
    try:
        query = prison.loads(request.args["q"])
    except Exception:  # noqa: BLE001 — RecursionError, ParserException, ValueError…
        return error("bad_request", {"parameter": "q", "reason": "not valid Rison"})
    # A relation filter compares ids: FAB hands "value:A" to the database, whose
    # failed cast aborts the transaction (a 500 on PostgreSQL). Refuse it here.
    filters = query.get("filters") if isinstance(query, dict) else None
    for flt in filters if isinstance(filters, list) else ():
        if isinstance(flt, dict) and str(flt.get("opr", "")).startswith("rel_"):
            values = flt.get("value")
            values = values if isinstance(values, list) else [values]
            if not all(isinstance(v, int) or (isinstance(v, str) and v.isascii() and v.isdigit())
                       for v in values):
                return error("bad_request", {"parameter": "q", "reason": "a relation filter takes ids"})
    return None


def install(app):
    app.before_request(_check_rison)
    app.after_request(normalize)

    # Flask picks the most specific handler: app.web's NotFound/Forbidden
    # (which record the denial) still run first; normalize reshapes them.
    @app.errorhandler(HTTPException)
    def _http_error(exc):
        if not is_api_request():
            return exc  # the web's own pages (app.web)
        if exc.code == 400 and "JSON" in (exc.description or ""):
            return error("malformed_json")
        if exc.code >= 500:
            # an unhandled exception (Flask wraps it in InternalServerError):
            # nothing half-written stays, and its text is not shown
            from .extensions import db
            db.session.rollback()
            current_app.logger.error("unhandled error on %s: %r", request.path,
                                     getattr(exc, "original_exception", exc))
        code = _BY_STATUS.get(exc.code, "bad_request" if exc.code < 500 else "internal_error")
        response = error(code, status=exc.code if code != "internal_error" else 500)
        if exc.code == 405 and getattr(exc, "valid_methods", None):
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response
