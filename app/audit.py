"""The audit trail: one mechanism for every change and every event.

Changes — ``after_flush`` writes one ``audit_log`` row per inserted, updated or
deleted record with the old → new value of each changed column, on the same
connection and in the same transaction as the change: a rollback takes the
audit row with it, and no change can skip it (forms, API, imports, jobs).
A workflow step labels its change with ``mark(obj, "approve", reason)``.

Events without a row change (print, export, login, failed login, access
denied) go through ``record_event``; denials are committed on their own
connection because the request that was denied rolls back.

On PostgreSQL a trigger refuses UPDATE, DELETE and TRUNCATE on the table
(migration 0001); the app offers no way to edit it.
"""
import datetime
import decimal
import json

from flask import g, has_request_context, request
from sqlalchemy import event, insert, inspect
from sqlalchemy.orm import Mapper, Session

from .models import AuditLog, Model, Scoped

# Columns that change on every write and tell a reader nothing.
_NOISE = {"changed_at", "version", "name_normalized", "title_normalized", "created_at",
          "last_login", "login_count", "fail_login_count", "changed_on"}
_NOT_AUDITED = {"audit_log", "serial_counter", "idempotency_key", "api_rate_window", "job_lease", "job_run", "ab_permission_view",
                "ab_permission_view_role", "ab_view_menu", "ab_permission"}
_SECRET = {"password"}


def _jsonable(value):
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def actor():
    """(user_id, username, ip) of the current request, or the CLI/job."""
    if not has_request_context():
        return None, "system", None
    user = g.get("user")
    user_id = username = None
    if user is not None and getattr(user, "is_authenticated", False):
        user_id, username = user.id, user.username
    return user_id, username, request.remote_addr


def mark(obj, action, reason=None):
    """Label the next flushed change of obj as a workflow step."""
    obj._sijill_audit = (action, reason)


def created_changes(values):
    """The changes of a new record as the trail stores them: every filled
    column but the noise, None → value. Shared by the flush hook and
    ``bulk_audit`` so both write the same trail."""
    # values stay as they are: json.dumps(default=_jsonable) turns dates into
    # text once, at write time (a second pass per value costs at 100,000 rows)
    return {key: [None, "***" if key in _SECRET else value]
            for key, value in values.items()
            if value is not None and key != "id" and key not in _NOISE}


def _changes(obj, state, new):
    if new:
        return created_changes({attr.key: getattr(obj, attr.key) for attr in state.mapper.column_attrs})
    changes = {}
    for attr in state.mapper.column_attrs:
        key = attr.key
        if key in _NOISE:
            continue
        hist = state.attrs[key].history
        if hist.has_changes():
            old = hist.deleted[0] if hist.deleted else None
            new_value = hist.added[0] if hist.added else None
            if old != new_value:
                changes[key] = ["***", "***"] if key in _SECRET else [_jsonable(old), _jsonable(new_value)]
    return changes


def _noop(target, value, oldvalue, initiator):
    return value


@event.listens_for(Mapper, "mapper_configured")
def _keep_old_values(mapper, cls):
    """Load a column's old value when it is set, even if the row was expired
    by a commit: otherwise the trail would record "None → new"."""
    if issubclass(cls, Model) and getattr(cls, "__tablename__", None) not in _NOT_AUDITED:
        for prop in mapper.column_attrs:
            if prop.key not in _NOISE:
                event.listen(getattr(cls, prop.key), "set", _noop, active_history=True, retval=True)


@event.listens_for(Session, "after_flush")
def _audit_changes(session, flush_context):
    user_id, username, ip = actor()
    now = datetime.datetime.utcnow()
    rows = []
    for obj, kind in ([(o, "create") for o in session.new] + [(o, "update") for o in session.dirty]
                      + [(o, "delete") for o in session.deleted]):
        if not isinstance(obj, Model) or obj.__tablename__ in _NOT_AUDITED:
            continue
        state = inspect(obj)
        changes = _changes(obj, state, kind == "create") if kind != "delete" else {}
        if kind == "update" and not changes:
            continue
        action, reason = getattr(obj, "_sijill_audit", (None, None))
        if action:
            del obj._sijill_audit
        elif kind == "update" and "deleted_at" in changes:
            action = "delete" if changes["deleted_at"][1] else "restore"
            reason = getattr(obj, "delete_reason", None)
        rows.append({
            "at": now, "user_id": user_id, "username": username, "ip": ip,
            "action": action or kind, "entity": type(obj).__name__,
            "record_id": getattr(obj, "id", None),
            "directorate_id": obj.directorate_id if isinstance(obj, Scoped) else None,
            "changes": json.dumps(changes, ensure_ascii=False, default=_jsonable) if changes else None,
            "detail": reason,
        })
    if rows:
        session.connection().execute(insert(AuditLog), rows)


# One encoder for every bulk row: json.dumps with options builds a new one per call.
_ENCODE = json.JSONEncoder(ensure_ascii=False, default=_jsonable).encode


def bulk_audit(session, entity, entries, detail=None):
    """The trail of rows written with Core (the fast import path), one INSERT
    for the whole batch on the session's connection, so it commits or rolls
    back with the rows: the same content ``_audit_changes`` would write.

    ``entries``: (action, record_id, directorate_id, changes) with changes a
    {column: [old, new]} dict (``created_changes`` for a new row)."""
    user_id, username, ip = actor()
    now = datetime.datetime.utcnow()
    rows = [{
        "at": now, "user_id": user_id, "username": username, "ip": ip,
        "action": action, "entity": entity, "record_id": record_id, "directorate_id": directorate_id,
        "changes": _ENCODE(changes) if changes else None,
        "detail": detail,
    } for action, record_id, directorate_id, changes in entries]
    from .bulk import insert_all
    insert_all(session, AuditLog.__table__, rows)


def record_event(session, action, entity=None, record_id=None, directorate_id=None, detail=None,
                 user_id=None, username=None):
    """An event that is not a row change; committed with the caller's work."""
    uid, uname, ip = actor()
    session.add(AuditLog(
        at=datetime.datetime.utcnow(), user_id=user_id or uid, username=username or uname, ip=ip,
        action=action, entity=entity, record_id=record_id, directorate_id=directorate_id,
        detail=detail if detail is None or isinstance(detail, str) else json.dumps(detail, ensure_ascii=False),
    ))


def record_event_now(engine, action, entity=None, record_id=None, directorate_id=None, detail=None,
                     user_id=None, username=None):
    """An event committed on its own connection, kept even when the request
    rolls back (denied access, failed login)."""
    uid, uname, ip = actor()
    with engine.begin() as conn:
        conn.execute(insert(AuditLog).values(
            at=datetime.datetime.utcnow(), user_id=user_id or uid, username=username or uname, ip=ip,
            action=action, entity=entity, record_id=record_id, directorate_id=directorate_id,
            detail=detail if detail is None or isinstance(detail, str) else json.dumps(detail, ensure_ascii=False),
        ))
