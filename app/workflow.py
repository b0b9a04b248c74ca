"""Maker–checker: the allowed transitions of certificates, tests and permits.

A clerk drafts and submits; a manager of the same directorate (never the
submitter) approves or rejects with a reason; approval issues the document
with its serial; revoking needs a reason; expiry is the daily job's. Anything
not in TRANSITIONS does not exist. Every step is written to the audit trail
with who, when and why (``audit.mark``), in the same transaction.
"""
import datetime

from flask_babel import lazy_gettext as _
from sqlalchemy import insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from . import audit
from .models import (
    DRAFT, EXPIRED, ISSUED, REJECTED, REVOKED, SKILL, SUBMITTED, Certificate, RuleViolation,
    SerialCounter, SkillTest,
)

# action: (statuses it starts from, status it leads to, reason required)
TRANSITIONS = {
    "submit": ({DRAFT, REJECTED}, SUBMITTED, False),
    "approve": ({SUBMITTED}, ISSUED, False),
    "reject": ({SUBMITTED}, REJECTED, True),
    "revoke": ({ISSUED}, REVOKED, True),
    "expire": ({ISSUED}, EXPIRED, False),
}
# A skill test is approved (its result confirmed) but never revoked or expired.
MODEL_ACTIONS = {
    "Certificate": ("submit", "approve", "reject", "revoke", "expire"),
    "SkillTest": ("submit", "approve", "reject"),
    "Permit": ("submit", "approve", "reject", "revoke", "expire"),
}
ACTION_LABELS = {
    "submit": _("Submit"), "approve": _("Approve"), "reject": _("Reject"),
    "revoke": _("Revoke"), "expire": _("Expire"),
}


class TransitionError(RuleViolation):
    pass


def allowed_actions(obj):
    return [a for a in MODEL_ACTIONS[type(obj).__name__] if obj.status in TRANSITIONS[a][0]]


def apply(session, obj, action, user=None, reason=None, today=None):
    """Move obj through one transition. The caller commits."""
    if action not in MODEL_ACTIONS.get(type(obj).__name__, ()):
        raise TransitionError({"status": _("This action does not exist for this record.")})
    sources, target, needs_reason = TRANSITIONS[action]
    if obj.status not in sources:
        raise TransitionError({"status": _("A record in status “%(status)s” cannot be %(action)s.",
                                           status=obj.status_label(), action=ACTION_LABELS[action])})
    reason = (reason or "").strip() or None
    if needs_reason and not reason:
        raise TransitionError({"reason": _("Give the reason.")})
    now = datetime.datetime.utcnow()
    day = today or datetime.date.today()
    user_id = getattr(user, "id", None)
    if action == "submit":
        obj.submitted_by_id, obj.submitted_at = user_id, now
    elif action in ("approve", "reject"):
        if user_id is not None and obj.submitted_by_id == user_id:
            raise TransitionError({"status": _("The person who submitted cannot approve or reject.")})
        obj.decided_by_id, obj.decided_at = user_id, now
    if reason:
        obj.reason = reason
    obj.status = target
    audit.mark(obj, action, reason)
    if action == "approve":
        with session.no_autoflush:  # one flush, so one audited "approve" row
            _issue(session, obj, day)
    session.flush()
    return obj


def _issue(session, obj, day):
    if isinstance(obj, SkillTest):
        if obj.computed_result() == "pass":
            certificate = Certificate(
                kind=SKILL, citizen_id=obj.citizen_id, occupation_id=obj.occupation_id,
                skill_level_id=obj.skill_level_id, directorate_id=obj.directorate_id,
                skill_test=obj, status=ISSUED, submitted_by_id=obj.submitted_by_id,
                submitted_at=obj.submitted_at, decided_by_id=obj.decided_by_id,
                decided_at=obj.decided_at,
            )
            certificate.on_issue(day)
            certificate.serial = allocate_serial(session, obj.directorate_id, certificate.serial_type, day.year,
                                                 obj.directorate.code)
            session.add(certificate)
            audit.mark(certificate, "approve", None)
        return
    obj.on_issue(day)
    obj.serial = allocate_serial(session, obj.directorate_id, obj.serial_type, day.year, obj.directorate.code)


def allocate_serial(session, directorate_id, doc_type, year, directorate_code):
    """Next number for (directorate, type, year), as DD-YYYY-TYP-NNNNNN.

    The counter row is created if missing (ON CONFLICT DO NOTHING), then
    incremented with UPDATE … RETURNING: the row lock makes concurrent
    approvals wait for each other, and the increment rolls back with the
    approval, so numbers are unique and without gaps."""
    dialect = session.get_bind().dialect.name
    with session.no_autoflush:  # the step's own changes flush once, as one audited row
        return _next_serial(session, dialect, directorate_id, doc_type, year, directorate_code)


def _next_serial(session, dialect, directorate_id, doc_type, year, directorate_code):
    values = dict(directorate_id=directorate_id, doc_type=doc_type, year=year, last=0)
    if dialect == "postgresql":
        stmt = postgresql.insert(SerialCounter).values(**values).on_conflict_do_nothing()
    elif dialect == "sqlite":
        stmt = sqlite.insert(SerialCounter).values(**values).on_conflict_do_nothing()
    else:  # pragma: no cover
        stmt = insert(SerialCounter).values(**values)
    session.execute(stmt)
    number = session.execute(
        update(SerialCounter)
        .where(SerialCounter.directorate_id == directorate_id, SerialCounter.doc_type == doc_type,
               SerialCounter.year == year)
        .values(last=SerialCounter.last + 1)
        .returning(SerialCounter.last)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    return f"{directorate_code}-{year}-{doc_type}-{number:06d}"


def expire_due(session, day=None):
    """Issued documents and permits whose end date has passed become expired."""
    from .models import Permit
    day = day or datetime.date.today()
    count = 0
    for model, end in ((Certificate, Certificate.expiry_date), (Permit, Permit.end_date)):
        for obj in session.scalars(select(model).where(model.status == ISSUED, end < day)):
            apply(session, obj, "expire", today=day)
            count += 1
    return count
