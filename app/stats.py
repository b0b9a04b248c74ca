"""Monthly statistics: one table of counts, compiled by SQL aggregation.

A month is compiled per *family* (service × measure, e.g. craft cards issued)
with one ``INSERT … SELECT … GROUP BY`` each, on SQLite and PostgreSQL alike:
the database counts, Python never loops over records. Every row of
``monthly_stat`` is one cell: directorate × month × service × measure ×
outcome/status × skill level × occupation major group × gender × age band
(× nationality for permits).

Compiling a month deletes that month's rows (of the directorates compiled)
and inserts the new ones in the caller's transaction: a re-run replaces,
never adds, and a unique constraint over every dimension makes a double
count impossible even for two compilations racing each other.

A directorate manager approves its month's figures (``StatMonth``), which
locks them: jobs and backfills skip a locked month; only a ministry admin
compiles it again.

What each measure counts (dates are the record's own, status is the status
at compilation time; soft-deleted records are not counted, as in the lists):

* registration / skill_cert / craft_card · applied — submitted in the month;
* · issued — issue date in the month (issued, since revoked or expired);
* skill_cert / craft_card · active — valid on the month's last day;
* · expiring — last valid day (expiry date) in the month;
* skill_test · held — test date in the month, result recorded and
  submitted or confirmed; the outcome is pass / fail;
* permit · requested — submitted in the month (new and renewals);
  issued / renewed — issue date in the month, kind new / renewal;
  rejected — rejected in the month; expired — end date in the month;
  active — valid on the month's last day.
The age band is the holder's age on the event date (on the last day for
``active``).
"""
import calendar
import datetime
from dataclasses import dataclass, field

from flask_appbuilder import Model
from flask_babel import lazy_gettext as _
from sqlalchemy import (
    Column, Date, DateTime, ForeignKey, Integer, String, UniqueConstraint, case, delete, extract,
    func, insert, literal, or_, select, tuple_, update,
)
from sqlalchemy.orm import relationship

from . import audit
from .models import (
    CRAFT, EXPIRED, ISSUED, REGISTRATION, REJECTED, REVOKED, SKILL, SUBMITTED, Certificate,
    Citizen, Directorate, Occupation, Permit, Scoped, SkillLevel, SkillTest, label,
)


# --- Models -----------------------------------------------------------------------
class MonthlyStat(Scoped, Model):
    """One cell of the monthly statistics. Scoped: every ORM query of it is
    limited to the reader's directorate by ``app.scope``."""

    __tablename__ = "monthly_stat"
    id = Column(Integer, primary_key=True)
    month = Column(Date, nullable=False, info=label(_("Month")))  # first day of the month
    service = Column(String(16), nullable=False, info=label(_("Service")))
    measure = Column(String(12), nullable=False, info=label(_("Measure")))
    # Dimensions hold "" (not NULL) when they do not apply, so that the
    # unique constraint below covers every cell.
    outcome = Column(String(12), nullable=False, default="", info=label(_("Outcome")))
    skill_level = Column(Integer, nullable=False, default=0, info=label(_("Skill level")))
    occupation_group = Column(String(1), nullable=False, default="", info=label(_("Occupation group")))
    gender = Column(String(1), nullable=False, default="", info=label(_("Gender")))
    age_band = Column(String(5), nullable=False, default="", info=label(_("Age band")))
    nationality = Column(String(2), nullable=False, default="", info=label(_("Nationality")))
    count = Column(Integer, nullable=False, info=label(_("Count")))

    __table_args__ = (
        UniqueConstraint("month", "directorate_id", "service", "measure", "outcome", "skill_level",
                         "occupation_group", "gender", "age_band", "nationality",
                         name="uq_monthly_stat_cell"),
    )


class StatMonth(Scoped, Model):
    """A directorate's compiled month: when it was compiled and, once its
    manager approved the figures, by whom — which locks them."""

    __tablename__ = "stat_month"
    id = Column(Integer, primary_key=True)
    month = Column(Date, nullable=False, info=label(_("Month")))
    compiled_at = Column(DateTime, nullable=False, info=label(_("Compiled at")))
    rows = Column(Integer, nullable=False, default=0, info=label(_("Rows")))
    approved_at = Column(DateTime, nullable=True, info=label(_("Approved at")))
    approved_by_id = Column(Integer, ForeignKey("ab_user.id"), nullable=True)
    approved_by = relationship("SijillUser", info=label(_("Approved by")))

    __table_args__ = (UniqueConstraint("directorate_id", "month", name="uq_stat_month"),)

    @property
    def locked(self):
        return self.approved_at is not None


# --- Vocabulary ---------------------------------------------------------------------
SERVICES = {
    "registration": _("Registration certificates"),
    "skill_test": _("Skill tests"),
    "skill_cert": _("Skill-level certificates"),
    "craft_card": _("Craft practice licence cards"),
    "permit": _("Foreign work permits"),
}
MEASURES = {
    "applied": _("Applications"), "issued": _("Issued"), "held": _("Held"), "active": _("Active"),
    "expiring": _("Expiring"), "requested": _("Requested"), "renewed": _("Renewed"),
    "rejected": _("Rejected"), "expired": _("Expired"),
}
OUTCOMES = {
    "pass": _("Passed"), "fail": _("Failed"), "draft": _("Draft"), "submitted": _("Submitted"),
    "issued": _("Issued"), "rejected": _("Rejected"), "revoked": _("Revoked"), "expired": _("Expired"),
}
# (upper limit exclusive, band): ages at the event date.
AGE_LIMITS = ((15, "<15"), (25, "15-24"), (35, "25-34"), (45, "35-44"), (55, "45-54"), (65, "55-64"))
AGE_BANDS = [band for _limit, band in AGE_LIMITS[1:]] + ["65+"]
OCCUPATION_GROUPS = {
    "0": _("Armed forces occupations"), "1": _("Managers"), "2": _("Professionals"),
    "3": _("Technicians and associate professionals"), "4": _("Clerical support workers"),
    "5": _("Service and sales workers"), "6": _("Skilled agricultural, forestry and fishery workers"),
    "7": _("Craft and related trades workers"), "8": _("Plant and machine operators, and assemblers"),
    "9": _("Elementary occupations"),
}
SERVICE_OF_KIND = {REGISTRATION: "registration", SKILL: "skill_cert", CRAFT: "craft_card"}

# Key figures of the dashboard: (key, label, [(service, measure, outcome or None)]).
KPIS = [
    ("registration_applied", _("Registration applications"), [("registration", "applied", None)]),
    ("registration_issued", _("Registration certificates issued"), [("registration", "issued", None)]),
    ("tests_held", _("Skill tests held"), [("skill_test", "held", None)]),
    ("tests_passed", _("Skill tests passed"), [("skill_test", "held", "pass")]),
    ("tests_failed", _("Skill tests failed"), [("skill_test", "held", "fail")]),
    ("skill_issued", _("Skill certificates issued"), [("skill_cert", "issued", None)]),
    ("craft_issued", _("Craft cards issued"), [("craft_card", "issued", None)]),
    ("skill_active", _("Skill certificates active"), [("skill_cert", "active", None)]),
    ("craft_active", _("Craft cards active"), [("craft_card", "active", None)]),
    ("craft_expiring", _("Craft cards expiring"), [("craft_card", "expiring", None)]),
    ("skill_expiring", _("Skill certificates expiring"), [("skill_cert", "expiring", None)]),
    ("permits_requested", _("Permits requested"), [("permit", "requested", None)]),
    ("permits_issued", _("Permits issued"), [("permit", "issued", None)]),
    ("permits_renewed", _("Permits renewed"), [("permit", "renewed", None)]),
    ("permits_rejected", _("Permits rejected"), [("permit", "rejected", None)]),
    ("permits_expired", _("Permits expired"), [("permit", "expired", None)]),
    ("permits_active", _("Permits active"), [("permit", "active", None)]),
    ("documents_issued", _("Documents issued (all services)"),
     [("registration", "issued", None), ("skill_cert", "issued", None), ("craft_card", "issued", None),
      ("permit", "issued", None), ("permit", "renewed", None)]),
]
KPI_LABELS = {key: text for key, text, _parts in KPIS}


# --- Months ------------------------------------------------------------------------
def parse_month(value):
    """'2025-03' (or a date) → date(2025, 3, 1). ValueError on anything else."""
    if isinstance(value, datetime.date):
        return value.replace(day=1)
    text = (value or "").strip()
    try:
        year, month = text.split("-")
        if len(year) != 4 or not 1 <= len(month) <= 2:
            raise ValueError
        return datetime.date(int(year), int(month), 1)
    except ValueError:
        raise ValueError(f"not a month (YYYY-MM): {text!r}") from None


def month_key(month):
    return f"{month:%Y-%m}"


def next_month(month):
    return (month.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)


def add_months(month, n):
    index = month.year * 12 + month.month - 1 + n
    return datetime.date(index // 12, index % 12 + 1, 1)


def last_day(month):
    return month.replace(day=calendar.monthrange(month.year, month.month)[1])


def months_between(first, last):
    month = first
    while month <= last:
        yield month
        month = next_month(month)


def previous_month(day=None):
    day = day or datetime.date.today()
    return add_months(day.replace(day=1), -1)


def is_complete(month, today=None):
    return last_day(month) < (today or datetime.date.today())


# --- SQL building blocks ------------------------------------------------------------
def age_on(birth, on):
    """Whole years between two date columns/values, in portable SQL
    (SQLAlchemy renders extract() as strftime on SQLite)."""
    years = extract("year", on) - extract("year", birth)
    before_birthday = (extract("month", on) * 100 + extract("day", on)
                       < extract("month", birth) * 100 + extract("day", birth))
    return years - case((before_birthday, 1), else_=0)


def age_band(birth, on):
    age = age_on(birth, on)
    return case(*[(age < limit, band) for limit, band in AGE_LIMITS], else_="65+")


@dataclass
class Family:
    """One service × measure: which records count and how they are split."""
    service: str
    measure: str
    model: type
    where: list
    on: object  # the event date: the age band is taken on it
    outcome: object = None  # default: the record's status
    joins: list = field(default_factory=list)


def _families(month):
    start, end, final = month, next_month(month), last_day(month)
    start_at = datetime.datetime.combine(start, datetime.time())
    end_at = datetime.datetime.combine(end, datetime.time())
    was_issued = (ISSUED, REVOKED, EXPIRED)
    was_valid = (ISSUED, EXPIRED)  # revoked: the revocation date is not kept, so not counted as valid
    none = literal("")
    C, T, P = Certificate, SkillTest, Permit
    families = []
    for kind, service in SERVICE_OF_KIND.items():
        families += [
            Family(service, "applied", C, [C.kind == kind, C.submitted_at >= start_at, C.submitted_at < end_at],
                   C.submitted_at),
            Family(service, "issued", C, [C.kind == kind, C.issue_date >= start, C.issue_date < end,
                                          C.status.in_(was_issued)], C.issue_date),
        ]
        if kind != REGISTRATION:
            families += [
                Family(service, "active", C, [C.kind == kind, C.issue_date <= final, C.status.in_(was_valid),
                                              or_(C.expiry_date.is_(None), C.expiry_date >= final)],
                       literal(final, Date), none),
                Family(service, "expiring", C, [C.kind == kind, C.expiry_date >= start, C.expiry_date < end,
                                                C.status.in_(was_valid)], C.expiry_date, none),
            ]
    families.append(Family("skill_test", "held", T, [
        T.test_date >= start, T.test_date < end, T.result.isnot(None), T.status.in_((SUBMITTED, ISSUED))],
        T.test_date, T.result))
    families += [
        Family("permit", "requested", P, [P.submitted_at >= start_at, P.submitted_at < end_at], P.submitted_at),
        Family("permit", "issued", P, [P.kind == "new", P.issue_date >= start, P.issue_date < end,
                                       P.status.in_(was_issued)], P.issue_date),
        Family("permit", "renewed", P, [P.kind == "renewal", P.issue_date >= start, P.issue_date < end,
                                        P.status.in_(was_issued)], P.issue_date),
        Family("permit", "rejected", P, [P.status == REJECTED, P.decided_at >= start_at, P.decided_at < end_at],
               P.decided_at),
        Family("permit", "expired", P, [P.end_date >= start, P.end_date < end, P.status.in_(was_valid)],
               P.end_date),
        Family("permit", "active", P, [P.start_date <= final, P.end_date >= final, P.status.in_(was_valid)],
               literal(final, Date), none),
    ]
    return families


CELL_COLUMNS = ["month", "directorate_id", "service", "measure", "outcome", "skill_level",
                "occupation_group", "gender", "age_band", "nationality", "count"]


def _cells_of(family, month, directorate_ids):
    """SELECT of the family's cells, grouped in the database."""
    m = family.model
    if m is Permit:
        holder_gender, holder_birth, nationality = Permit.gender, Permit.birth_date, Permit.nationality
        level = literal(0)
    else:
        holder_gender, holder_birth, nationality = Citizen.gender, Citizen.birth_date, literal("")
        level = func.coalesce(SkillLevel.rank, 0)
    rows = (
        select(
            m.directorate_id.label("directorate_id"),
            (family.outcome if family.outcome is not None else m.status).label("outcome"),
            level.label("skill_level"),
            func.substr(Occupation.code, 1, 1).label("occupation_group"),
            holder_gender.label("gender"),
            age_band(holder_birth, family.on).label("age_band"),
            nationality.label("nationality"),
        )
        .select_from(m)
        .join(Occupation, Occupation.id == m.occupation_id)
    )
    if m is not Permit:
        rows = rows.join(Citizen, Citizen.id == m.citizen_id).outerjoin(
            SkillLevel, SkillLevel.id == m.skill_level_id)
    # This SELECT feeds a Core INSERT, which app.scope does not filter: the
    # directorates and the soft-delete condition are stated here explicitly.
    rows = rows.where(m.deleted_at.is_(None), m.directorate_id.in_(directorate_ids), *family.where).subquery()
    dims = [rows.c.directorate_id, rows.c.outcome, rows.c.skill_level, rows.c.occupation_group,
            rows.c.gender, rows.c.age_band, rows.c.nationality]
    return select(literal(month, Date), rows.c.directorate_id, literal(family.service),
                  literal(family.measure), *dims[1:], func.count()).group_by(*dims)


@dataclass
class Compiled:
    month: datetime.date
    rows: int = 0
    directorates: list = field(default_factory=list)  # ids compiled
    skipped_locked: list = field(default_factory=list)  # ids left alone: approved and locked


def compile_month(session, month, directorate_ids=None, include_locked=False):
    """Replace the statistics of one month (of the given directorates, or
    all) in the caller's transaction; the caller commits.

    Locked (approved) months are skipped unless include_locked — which only
    a ministry admin's request passes (``app.dashboard``)."""
    month = parse_month(month)
    now = datetime.datetime.utcnow()
    stat, state = MonthlyStat.__table__, StatMonth.__table__
    wanted = list(directorate_ids) if directorate_ids is not None else list(
        session.scalars(select(Directorate.id).order_by(Directorate.id)))
    # FOR UPDATE (PostgreSQL): an approval cannot slip in between reading the
    # locks and replacing the figures.
    states = {row.directorate_id: row for row in session.execute(
        select(state.c.directorate_id, state.c.approved_at)
        .where(state.c.month == month, state.c.directorate_id.in_(wanted)).with_for_update())}
    locked = [d for d in wanted if d in states and states[d].approved_at is not None]
    targets = wanted if include_locked else [d for d in wanted if d not in locked]
    result = Compiled(month, directorates=targets, skipped_locked=[] if include_locked else locked)
    if not targets:
        return result
    session.execute(delete(stat).where(stat.c.month == month, stat.c.directorate_id.in_(targets)))
    for family in _families(month):
        outcome = session.execute(insert(stat).from_select(CELL_COLUMNS, _cells_of(family, month, targets)))
        result.rows += max(outcome.rowcount or 0, 0)
    per_directorate = dict(session.execute(
        select(stat.c.directorate_id, func.count()).where(stat.c.month == month, stat.c.directorate_id.in_(targets))
        .group_by(stat.c.directorate_id)).all())
    for directorate_id in targets:
        values = dict(compiled_at=now, rows=per_directorate.get(directorate_id, 0))
        if directorate_id in states:
            session.execute(update(state).where(state.c.month == month, state.c.directorate_id == directorate_id)
                            .values(**values))
        else:
            session.execute(insert(state).values(month=month, directorate_id=directorate_id, **values))
    audit.record_event(session, "compile", entity="MonthlyStat",
                       directorate_id=targets[0] if len(targets) == 1 else None,
                       detail={"month": month_key(month), "rows": result.rows, "directorates": len(targets),
                               "locked_skipped": len(result.skipped_locked), "include_locked": include_locked})
    return result


# --- Reading (ORM selects of a Scoped model: limited to the reader's scope) ---------
def _where(query, month_from, month_to, directorate_id):
    query = query.where(MonthlyStat.month >= month_from, MonthlyStat.month <= month_to)
    if directorate_id is not None:
        query = query.where(MonthlyStat.directorate_id == directorate_id)
    return query


def cells(session, month_from, month_to=None, directorate_id=None, by=(), kpis=None):
    """{(service, measure, outcome, *by): count} summed over the other
    dimensions; with kpis, only the families those key figures need."""
    dims = [MonthlyStat.service, MonthlyStat.measure, MonthlyStat.outcome] + [getattr(MonthlyStat, d) for d in by]
    query = _where(select(*dims, func.sum(MonthlyStat.count)), month_from, month_to or month_from,
                   directorate_id).group_by(*dims)
    if kpis:
        families = sorted({(s, m) for key, _l, parts in KPIS if key in kpis for s, m, _o in parts})
        query = query.where(tuple_(MonthlyStat.service, MonthlyStat.measure).in_(families))
    return {tuple(row[:-1]): int(row[-1]) for row in session.execute(query)}


def kpi_values(summary, extra=0):
    """Key figures from a {(service, measure, outcome, *extra dims): n} mapping;
    with extra dims, {extra dims: {kpi: n}}."""
    out = {}
    for key, values in summary.items():
        service, measure, outcome, rest = key[0], key[1], key[2], tuple(key[3:3 + extra])
        bucket = out.setdefault(rest, {k: 0 for k, _l, _p in KPIS})
        for kpi, _label, parts in KPIS:
            if any(s == service and m == measure and (o is None or o == outcome) for s, m, o in parts):
                bucket[kpi] += values
    if not extra:
        return out.get((), {k: 0 for k, _l, _p in KPIS})
    return out


def month_kpis(session, month, directorate_id=None):
    return kpi_values(cells(session, month, month, directorate_id))


def trend(session, last, months=12, directorate_id=None, kpis=None):
    """[(month, {kpi: n})] for the months ending with last, oldest first
    (only the given key figures are right when kpis is given: the others
    are left out of the aggregation, which is what makes it cheap)."""
    first = add_months(last, -(months - 1))
    by_month = kpi_values(cells(session, first, last, directorate_id, by=("month",), kpis=kpis), extra=1)
    empty = {k: 0 for k, _l, _p in KPIS}
    return [(m, by_month.get((m,), empty)) for m in months_between(first, last)]


def by_directorate(session, month):
    """{directorate_id: {kpi: n}} of the month, for the directorates in scope."""
    values = kpi_values(cells(session, month, month, by=("directorate_id",)), extra=1)
    return {key[0]: kpis for key, kpis in values.items()}


def breakdown(session, month, dimension, services, directorate_id=None):
    """{(service, measure, outcome, value): n} for one dimension."""
    query = _where(
        select(MonthlyStat.service, MonthlyStat.measure, MonthlyStat.outcome, getattr(MonthlyStat, dimension),
               func.sum(MonthlyStat.count)).where(MonthlyStat.service.in_(services)),
        month, month, directorate_id,
    ).group_by(MonthlyStat.service, MonthlyStat.measure, MonthlyStat.outcome, getattr(MonthlyStat, dimension))
    return {tuple(row[:-1]): int(row[-1]) for row in session.execute(query)}


def ranking(values, kpi):
    """[(rank, directorate_id, value)] best first; ties share a rank (1, 2, 2, 4)."""
    ordered = sorted(values.items(), key=lambda item: -item[1].get(kpi, 0))
    ranked, previous, rank = [], None, 0
    for position, (directorate_id, kpis) in enumerate(ordered, start=1):
        value = kpis.get(kpi, 0)
        if value != previous:
            rank, previous = position, value
        ranked.append((rank, directorate_id, value))
    return ranked


def month_states(session, month):
    """{directorate_id: StatMonth} of the month, in the reader's scope."""
    return {row.directorate_id: row for row in session.scalars(select(StatMonth).where(StatMonth.month == month))}


def export_rows(session, month_from, month_to, directorate_id=None):
    """Rows of the statistics export (labels, not codes), in the reader's scope."""
    from .countries import country_name
    from .models import GENDER_LABELS
    query = _where(
        select(MonthlyStat.month, Directorate.code, Directorate.name_ar, MonthlyStat.service, MonthlyStat.measure,
               MonthlyStat.outcome, MonthlyStat.skill_level, MonthlyStat.occupation_group, MonthlyStat.gender,
               MonthlyStat.age_band, MonthlyStat.nationality, MonthlyStat.count)
        .join(Directorate, Directorate.id == MonthlyStat.directorate_id),
        month_from, month_to, directorate_id,
    ).order_by(MonthlyStat.month, Directorate.code, MonthlyStat.service, MonthlyStat.measure, MonthlyStat.id)
    # labels translated once per export, not once per row
    services, measures, outcomes, groups, genders = (
        {key: str(text) for key, text in labels.items()}
        for labels in (SERVICES, MEASURES, OUTCOMES, OCCUPATION_GROUPS, GENDER_LABELS))
    countries = {}
    for row in session.execute(query.execution_options(yield_per=2000)):
        if row.nationality not in countries:
            countries[row.nationality] = country_name(row.nationality) if row.nationality else ""
        yield [
            month_key(row.month), row.code, row.name_ar, services.get(row.service, row.service),
            measures.get(row.measure, row.measure), outcomes.get(row.outcome, row.outcome),
            row.skill_level or "", row.occupation_group, groups.get(row.occupation_group, ""),
            genders.get(row.gender, row.gender), row.age_band, countries[row.nationality], row.count,
        ]


EXPORT_HEADERS = [_("Month"), _("Directorate code"), _("Directorate"), _("Service"), _("Measure"), _("Outcome"),
                  _("Skill level"), _("Occupation group code"), _("Occupation group"), _("Gender"), _("Age band"),
                  _("Nationality"), _("Count")]
