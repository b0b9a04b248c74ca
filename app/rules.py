"""Runs the domain rules before every flush, whatever wrote the rows.

Order matters and is fixed here: first the directorate scope (which may set
``directorate_id``), then each new or changed record's own ``check()``.
A ``RuleViolation`` or ``ScopeViolation`` aborts the flush, and the caller's
transaction rolls back whole.
"""
from sqlalchemy import event
from sqlalchemy.orm import Session

from .scope import enforce_writes


@event.listens_for(Session, "before_flush")
def _before_flush(session, flush_context, instances):
    enforce_writes(session)
    for obj in list(session.new) + [o for o in session.dirty if session.is_modified(o)]:
        check = getattr(obj, "check", None)
        if check is not None and obj not in session.deleted:
            check(session)
