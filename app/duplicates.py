"""Near-duplicate citizens: the same person registered twice under two
national IDs (a typing error in one of them, usually).

The rules (also in the README):

* Same national ID in an import → never a second citizen; the registered
  one is updated by the rule of app/imports.py (empty cells never erase, a
  different name is reported and kept, other filled cells replace — the
  audit trail keeps the old value).
* Same normalised name (app/arabic.normalize_name) and the same birth date
  under a different national ID, in the same directorate → a pair in the
  review queue (``citizen_duplicate``). Nothing is changed until a manager
  of that directorate decides:
    - "different people": the pair is closed and never proposed again;
    - "same person": ``merge`` keeps the surviving citizen, re-points every
      record linked to the other one (certificates, skill tests) with an
      audited update each, and soft-deletes the other with the reason
      "merged into …" — history stays readable on both.
"""
import datetime

from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import Column, DateTime, ForeignKey, Integer, String, UniqueConstraint, or_, select
from sqlalchemy.orm import relationship

from .audit import mark, record_event
from .bulk import insert_all
from .models import Certificate, Citizen, SkillTest

PENDING, SAME, DIFFERENT = "pending", "same", "different"

# Every table that points at a citizen: a merge re-points them all. A new
# link to citizen.id must be added here (tests/test_import_kinds.py checks
# the list against the schema).
LINKED = (Certificate, SkillTest)


class CitizenDuplicate(Model):
    """A pair of citizens that may be one person, and the decision."""
    __tablename__ = "citizen_duplicate"
    id = Column(Integer, primary_key=True)
    citizen_id = Column(Integer, ForeignKey("citizen.id"), nullable=False, index=True)  # registered first
    other_id = Column(Integer, ForeignKey("citizen.id"), nullable=False, index=True)  # the newer record
    citizen = relationship(Citizen, foreign_keys=[citizen_id])
    other = relationship(Citizen, foreign_keys=[other_id])
    directorate_id = Column(Integer, ForeignKey("directorate.id"), nullable=False, index=True)
    status = Column(String(10), nullable=False, default=PENDING, index=True)
    found_at = Column(DateTime, nullable=False, default=datetime.datetime.utcnow)
    decided_by_id = Column(Integer, ForeignKey("ab_user.id"), nullable=True)
    decided_at = Column(DateTime, nullable=True)
    __table_args__ = (UniqueConstraint("citizen_id", "other_id", name="uq_citizen_duplicate_pair"),)


def find_near_duplicates(session, directorate_id, new_rows):
    """Queue the pairs formed by citizens just written (dicts with id,
    name_normalized, birth_date, national_id) with any live citizen of the
    directorate of the same normalised name and birth date; a pair already
    known (either decision) is never proposed again. Returns the number queued.

    One query per batch by name only: with the directorate or a join in the
    SQL, PostgreSQL's statistics of a table that an import is filling lead
    it to read the whole directorate at every batch. Pairs are written in
    bulk and not audited: a proposed pair changes no record; the manager's
    decision (an ORM update, merge's changes) is what the trail keeps."""
    new_rows = [r for r in new_rows if r.get("id")]
    if not new_rows:
        return 0
    names = {r["name_normalized"] for r in new_rows}
    candidates = session.execute(
        select(Citizen.id, Citizen.name_normalized, Citizen.birth_date, Citizen.national_id,
               Citizen.directorate_id, Citizen.deleted_at)
        .where(Citizen.name_normalized.in_(names))
        .execution_options(sijill_unscoped=True, sijill_include_deleted=True)).all()
    by_key = {}
    for c in candidates:
        if c.directorate_id == directorate_id and c.deleted_at is None:
            by_key.setdefault((c.name_normalized, c.birth_date), []).append(c)
    pairs = set()
    for r in new_rows:
        for c in by_key.get((r["name_normalized"], r["birth_date"]), ()):
            if c.national_id != r["national_id"]:
                pairs.add((min(c.id, r["id"]), max(c.id, r["id"])))
    if not pairs:
        return 0
    known = set(session.execute(select(CitizenDuplicate.citizen_id, CitizenDuplicate.other_id).where(
        CitizenDuplicate.citizen_id.in_({p[0] for p in pairs}))).all())
    now = datetime.datetime.utcnow()
    fresh = sorted(pairs - known)
    insert_all(session, CitizenDuplicate.__table__, [
        {"citizen_id": first, "other_id": second, "directorate_id": directorate_id, "status": PENDING,
         "found_at": now} for first, second in fresh])
    return len(fresh)


def queue(session, directorate_id=None, limit=200):
    """Pending pairs, newest first (those of the import just made); a
    directorate user sees its own directorate's only."""
    query = select(CitizenDuplicate).where(CitizenDuplicate.status == PENDING)
    if directorate_id is not None:
        query = query.where(CitizenDuplicate.directorate_id == directorate_id)
    return session.scalars(query.order_by(CitizenDuplicate.id.desc()).limit(limit)).all()


class DecisionError(ValueError):
    """A decision that cannot be taken (already decided, out of scope)."""


def _pair(session, pair_id, directorate_id):
    pair = session.get(CitizenDuplicate, pair_id)
    if pair is None or (directorate_id is not None and pair.directorate_id != directorate_id):
        raise DecisionError(str(_l("No such pair in your directorate.")))
    if pair.status != PENDING:
        raise DecisionError(str(_l("This pair has already been decided.")))
    return pair


def mark_different(session, pair_id, user=None, directorate_id=None):
    pair = _pair(session, pair_id, directorate_id)
    pair.status = DIFFERENT
    pair.decided_by_id = getattr(user, "id", None)
    pair.decided_at = datetime.datetime.utcnow()
    return pair


def merge(session, pair_id, survivor_id, user=None, directorate_id=None):
    """"Same person": keep ``survivor_id``, move the other's records to it,
    soft-delete the other. Every step goes through the ORM, so the scope,
    the rules and the audit trail see each change; the caller commits."""
    pair = _pair(session, pair_id, directorate_id)
    if survivor_id not in (pair.citizen_id, pair.other_id):
        raise DecisionError(str(_l("Choose one of the two citizens to keep.")))
    merged_id = pair.other_id if survivor_id == pair.citizen_id else pair.citizen_id
    survivor = session.get(Citizen, survivor_id)
    merged = session.get(Citizen, merged_id)
    if survivor is None or merged is None:
        raise DecisionError(str(_l("No such pair in your directorate.")))
    moved = 0
    for model in LINKED:
        for record in session.scalars(select(model).where(model.citizen_id == merged.id)
                                      .execution_options(sijill_include_deleted=True)):
            record.citizen_id = survivor.id
            record.citizen = survivor
            mark(record, "merge", f"citizen {merged.national_id} merged into {survivor.national_id}")
            moved += 1
    # Fill the survivor's empty fields from the merged record: nothing typed is lost.
    for name in ("latin_name", "mobile", "address", "qualification"):
        if not getattr(survivor, name) and getattr(merged, name):
            setattr(survivor, name, getattr(merged, name))
    merged.deleted_at = datetime.datetime.utcnow()
    merged.deleted_by_id = getattr(user, "id", None)
    merged.delete_reason = f"merged into {survivor.national_id} (#{survivor.id})"
    pair.status = SAME
    pair.decided_by_id = getattr(user, "id", None)
    pair.decided_at = datetime.datetime.utcnow()
    # Other open pairs naming the merged record now concern the survivor
    # (a pair that would repeat an existing one is closed instead).
    existing = set(session.execute(select(CitizenDuplicate.citizen_id, CitizenDuplicate.other_id).where(
        or_(CitizenDuplicate.citizen_id == survivor.id, CitizenDuplicate.other_id == survivor.id))).all())
    for other in session.scalars(select(CitizenDuplicate).where(
            CitizenDuplicate.status == PENDING, CitizenDuplicate.id != pair.id,
            or_(CitizenDuplicate.citizen_id == merged.id, CitizenDuplicate.other_id == merged.id))):
        ids = {other.citizen_id, other.other_id} - {merged.id}
        third = ids.pop() if ids else survivor.id
        first, second = min(third, survivor.id), max(third, survivor.id)
        if third == survivor.id or (first, second) in existing:
            other.status = SAME if third == survivor.id else DIFFERENT
            other.decided_at = datetime.datetime.utcnow()
        else:
            other.citizen_id, other.other_id = first, second
            existing.add((first, second))
    session.flush()
    record_event(session, "merge", entity="Citizen", record_id=survivor.id,
                 directorate_id=survivor.directorate_id,
                 detail={"merged_id": merged.id, "merged_national_id": merged.national_id,
                         "records_moved": moved})
    return survivor, merged, moved
