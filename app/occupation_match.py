"""Occupation unification (توحيد مسميات المهن): free-text occupation names
from the old registers matched to the ISCO-08 classification.

Order of matching: a legacy name an admin has already mapped, then the exact
Arabic title, then the normalised title (app/arabic.normalize_name: alef
forms, ى/ي, ة/ه, diacritics, tatweel, spaces), then fuzzy with a score
(RapidFuzz). Below ``OCCUPATION_MATCH_THRESHOLD`` the name waits in the
review queue (``legacy_occupation`` rows without an occupation), counted per
distinct normalised name so the biggest names are mapped first.
"""
import datetime
from collections import Counter
from dataclasses import dataclass
from typing import Optional

from flask_appbuilder import Model
from rapidfuzz import fuzz, process
from sqlalchemy import Column, DateTime, Float, ForeignKey, Integer, String, UniqueConstraint, select
from sqlalchemy.orm import relationship

from .arabic import clean_text, normalize_name
from .models import ISCO_UNIT, NATIONAL, Occupation, setting

LEGACY, EXACT, NORMALISED, FUZZY, UNMATCHED = "legacy", "exact", "normalised", "fuzzy", "none"


class LegacyOccupation(Model):
    """One distinct legacy occupation name (normalised), its mapping once an
    admin decides it, and how many imported rows carried it."""
    __tablename__ = "legacy_occupation"
    id = Column(Integer, primary_key=True)
    name_normalized = Column(String(300), unique=True, nullable=False)
    sample = Column(String(300), nullable=False)  # one spelling as written, for the reviewer
    row_count = Column(Integer, nullable=False, default=0, index=True)
    occupation_id = Column(Integer, ForeignKey("occupation.id"), nullable=True, index=True)
    occupation = relationship(Occupation)
    method = Column(String(10), nullable=False, default=UNMATCHED)
    score = Column(Float, nullable=True)
    mapped_by_id = Column(Integer, ForeignKey("ab_user.id"), nullable=True)
    mapped_at = Column(DateTime, nullable=True)


class LegacyOccupationCount(Model):
    """How many imported rows of one directorate carried a legacy name: the
    coverage per directorate is read from here (a mapping, made once per
    name, counts for every directorate's rows at once)."""
    __tablename__ = "legacy_occupation_count"
    id = Column(Integer, primary_key=True)
    legacy_id = Column(Integer, ForeignKey("legacy_occupation.id"), nullable=False, index=True)
    directorate_id = Column(Integer, ForeignKey("directorate.id"), nullable=False, index=True)
    row_count = Column(Integer, nullable=False, default=0)
    __table_args__ = (UniqueConstraint("legacy_id", "directorate_id", name="uq_legacy_occupation_count"),)


@dataclass(frozen=True)
class Match:
    occupation_id: Optional[int]
    method: str
    score: float


class Matcher:
    """Matches names against the selectable (unit group) occupations, loaded
    once per import: 436 titles, not a large table."""

    def __init__(self, session, threshold=None):
        self.session = session
        self.threshold = threshold if threshold is not None else setting("OCCUPATION_MATCH_THRESHOLD", 85)
        rows = session.execute(select(Occupation.id, Occupation.title_ar, Occupation.title_normalized)
                               .where(Occupation.level.in_((ISCO_UNIT, NATIONAL)), Occupation.active.is_(True))).all()
        self.exact = {r.title_ar: r.id for r in rows}
        self.normalised = {(r.title_normalized or normalize_name(r.title_ar)): r.id for r in rows}
        self.choices = list(self.normalised)
        self._cache = {}

    def legacy(self, key):
        row = self.session.scalar(select(LegacyOccupation).where(LegacyOccupation.name_normalized == key))
        return row

    def match(self, raw):
        text = clean_text(raw)
        if not text:
            return Match(None, UNMATCHED, 0.0)
        key = normalize_name(text)
        if key in self._cache:
            return self._cache[key]
        found = self._match(text, key)
        self._cache[key] = found
        return found

    def _match(self, text, key):
        mapped = self.legacy(key)
        if mapped is not None and mapped.occupation_id:
            # a name seen before keeps how it was matched (an admin's mapping is LEGACY)
            return Match(mapped.occupation_id, mapped.method or LEGACY, mapped.score or 100.0)
        if text in self.exact:
            return Match(self.exact[text], EXACT, 100.0)
        if key in self.normalised:
            return Match(self.normalised[key], NORMALISED, 100.0)
        best = process.extractOne(key, self.choices, scorer=fuzz.WRatio)
        if best and best[1] >= self.threshold:
            return Match(self.normalised[best[0]], FUZZY, float(best[1]))
        return Match(None, UNMATCHED, float(best[1]) if best else 0.0)


def count_names(session, names, directorate_id=None):
    """Add this import's occupation names to the legacy table (one row per
    distinct normalised name, counts summed), so unmatched ones reach the
    review queue and the coverage figures."""
    counts, samples = Counter(), {}
    for raw in names:
        text = clean_text(raw)
        if text:
            key = normalize_name(text)
            counts[key] += 1
            samples.setdefault(key, text)
    matcher = Matcher(session)
    for key, n in counts.items():
        row = session.scalar(select(LegacyOccupation).where(LegacyOccupation.name_normalized == key))
        if row is None:
            found = matcher.match(samples[key])
            row = LegacyOccupation(name_normalized=key, sample=samples[key][:300], row_count=0,
                                   occupation_id=found.occupation_id, method=found.method, score=found.score)
            session.add(row)
            session.flush()
        row.row_count += n
        if directorate_id is not None:
            per = session.scalar(select(LegacyOccupationCount).where(
                LegacyOccupationCount.legacy_id == row.id, LegacyOccupationCount.directorate_id == directorate_id))
            if per is None:
                per = LegacyOccupationCount(legacy_id=row.id, directorate_id=directorate_id, row_count=0)
                session.add(per)
            per.row_count += n
    session.flush()
    return counts


def review_queue(session, limit=100):
    """Unmapped names, biggest first."""
    return session.scalars(select(LegacyOccupation).where(LegacyOccupation.occupation_id.is_(None))
                           .order_by(LegacyOccupation.row_count.desc(), LegacyOccupation.id)
                           .limit(limit)).all()


def map_name(session, legacy_id, occupation_id, user=None):
    """An admin's decision: this legacy name is this occupation, for every
    row with that name, now and in future imports (the matcher reads the
    mapping first)."""
    row = session.get(LegacyOccupation, legacy_id)
    occupation = session.get(Occupation, occupation_id)
    if row is None or occupation is None or not occupation.is_selectable:
        raise ValueError("unknown legacy name or occupation")
    row.occupation_id = occupation.id
    row.method = LEGACY
    row.score = 100.0
    row.mapped_by_id = getattr(user, "id", None)
    row.mapped_at = datetime.datetime.utcnow()
    return row


def coverage(session):
    """Share of imported rows whose occupation name is mapped (percentage)."""
    from sqlalchemy import case, func
    total, mapped = session.execute(select(
        func.coalesce(func.sum(LegacyOccupation.row_count), 0),
        func.coalesce(func.sum(case((LegacyOccupation.occupation_id.isnot(None), LegacyOccupation.row_count),
                                    else_=0)), 0))).one()
    return round(100.0 * mapped / total, 1) if total else 100.0


def coverage_by_directorate(session):
    """[(directorate, rows with an occupation name, mapped rows, percentage)]
    for every directorate that imported occupation names, lowest share first:
    where the mapping work is."""
    from sqlalchemy import case, func
    from .models import Directorate
    mapped = func.sum(case((LegacyOccupation.occupation_id.isnot(None), LegacyOccupationCount.row_count), else_=0))
    rows = session.execute(
        select(Directorate, func.sum(LegacyOccupationCount.row_count), mapped)
        .join(LegacyOccupationCount, LegacyOccupationCount.directorate_id == Directorate.id)
        .join(LegacyOccupation, LegacyOccupation.id == LegacyOccupationCount.legacy_id)
        .group_by(Directorate.id).order_by(Directorate.code)).all()
    out = [(d, int(total or 0), int(done or 0), round(100.0 * (done or 0) / total, 1) if total else 100.0)
           for d, total, done in rows]
    return sorted(out, key=lambda r: r[3])
