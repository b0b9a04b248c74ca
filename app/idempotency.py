"""Safe retries of a POST: the same ``Idempotency-Key`` makes one record.

The key's row is inserted first, in the same transaction as the record it
protects, and gets the answer before the commit. So:

* a retry after success finds the row and gets the stored answer again
  (header ``Idempotent-Replayed: true``), nothing new is written;
* a retry with the same key but another body is refused (422
  ``idempotency_key_reused``): the client has a bug, guessing would be worse;
* two copies at the same moment: the second INSERT waits on the unique
  (client, key) until the first commits, then fails, rolls back and replays
  the first's answer. If the first failed (rolled back), the second runs;
* a failed request (422…) stores nothing: it changed nothing, and a retry
  with a corrected body under the same key is allowed.
"""
import json

from flask import g, make_response, request
from sqlalchemy.exc import IntegrityError

from .api_errors import error
from .api_store import IdempotencyKey, find_key, request_hash

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 200


def client_id():
    user = g.get("user")
    return f"user:{user.id}" if getattr(user, "id", None) else "anonymous"


def key_from_request():
    """(key or None, error response or None)."""
    key = (request.headers.get(HEADER) or "").strip()
    if not key:
        return None, None
    if len(key) > MAX_KEY_LENGTH or not key.isprintable():
        return None, error("bad_request", {"header": HEADER, "reason": f"1-{MAX_KEY_LENGTH} printable characters"})
    return key, None


def replay(row, digest):
    if row.request_hash != digest:
        return error("idempotency_key_reused", {"header": HEADER})
    if row.response_status is None:
        return error("idempotency_in_progress", {"header": HEADER}, headers={"Retry-After": "1"})
    response = make_response(row.response_body, row.response_status)
    response.headers["Content-Type"] = "application/json; charset=utf-8"
    response.headers["Idempotent-Replayed"] = "true"
    return response


def run(session, key, create):
    """Run ``create()`` (which returns (status, body dict) and leaves its
    changes in the session) under ``key``; commit; return the response.
    Exceptions of ``create`` propagate after the rollback."""
    digest = request_hash(request.method, request.path, request.get_data())
    client = client_id()
    if key is not None:
        existing = find_key(session, client, key)
        if existing is not None:
            return replay(existing, digest)
        row = IdempotencyKey(client=client, key=key, request_hash=digest, user_id=getattr(g.get("user"), "id", None))
        session.add(row)
        try:
            session.flush()
        except IntegrityError:
            # the same key is being (or was just) used by a concurrent copy
            session.rollback()
            existing = find_key(session, client, key)
            if existing is None:
                return error("idempotency_in_progress", {"header": HEADER}, headers={"Retry-After": "1"})
            return replay(existing, digest)
    try:
        status, body = create()
        text = json.dumps(body, ensure_ascii=False, default=str)
        if key is not None:
            row.response_status, row.response_body = status, text
        session.commit()
    except Exception:
        session.rollback()
        raise
    response = make_response(text, status)
    response.headers["Content-Type"] = "application/json; charset=utf-8"
    return response
