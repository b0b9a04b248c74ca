"""Per-client rate limit of the REST API: API_RATE_LIMIT_PER_MINUTE requests
in each fixed minute, then 429 with ``Retry-After``.

The counter is a database row per client and minute (``api_store.hit``), not
a per-process dict: gunicorn's workers (and a second host) share it, so the
limit is the same whichever worker answers. It costs one UPSERT per API
request, small next to the request's own queries. Flask-Limiter would need a
Redis or Memcached the deployment does not have; its in-memory store would
count each worker apart (a limit of N would let N x workers through).

The client is who the credential says, checked before the request runs:
the JWT's user (its signature is verified), the API key (by its hash), else
the caller's address (login attempts, anonymous calls).
"""
import hashlib

from flask import current_app, g, request

from .api_errors import error, is_api_request
from .api_store import hit


def api_key_of_request():
    """The raw API key in ``X-API-Key``, ``Authorization: ApiKey …`` or a
    ``Bearer`` token with the key prefix; else None."""
    key = request.headers.get("X-API-Key", "").strip()
    if key:
        return key
    scheme, _sep, value = request.headers.get("Authorization", "").partition(" ")
    value = value.strip()
    if scheme.lower() == "apikey" and value:
        return value
    prefixes = current_app.config.get("FAB_API_KEY_PREFIXES", [])
    if scheme.lower() == "bearer" and any(value.startswith(p) for p in prefixes):
        return value
    return None


def client_of_request():
    key = api_key_of_request()
    if key:
        return "key:" + hashlib.sha256(key.encode()).hexdigest()[:32]
    scheme, _sep, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        from flask_jwt_extended import decode_token
        try:
            return f"user:{decode_token(token.strip())['sub']}"
        except Exception:  # noqa: BLE001 — any bad token: counted by address, refused later
            pass
    return f"ip:{request.remote_addr or '-'}"


def _limit():
    if not is_api_request():
        return None
    per_minute = current_app.config.get("API_RATE_LIMIT_PER_MINUTE", 120)
    if not per_minute:
        return None
    from .extensions import db
    client = client_of_request()
    count, retry_after = hit(db.engine, client)
    g.sijill_rate = (per_minute, max(per_minute - count, 0), retry_after)
    if count > per_minute:
        return error("rate_limited", {"limit_per_minute": per_minute, "retry_after": retry_after},
                     headers={"Retry-After": str(retry_after)})
    return None


def _headers(response):
    rate = g.get("sijill_rate")
    if rate and is_api_request():
        response.headers["X-RateLimit-Limit"] = str(rate[0])
        response.headers["X-RateLimit-Remaining"] = str(rate[1])
    return response


def install(app):
    app.before_request(_limit)
    app.after_request(_headers)
