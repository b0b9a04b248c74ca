"""Sijill's data model and its domain rules.

Each model's ``check(session)`` holds the rules of that record; ``app.rules``
runs it before every flush, so web forms, the REST API, imports and scripts
share one definition. A broken rule raises ``RuleViolation`` naming the
field(s); the transaction rolls back and nothing is half-saved.

Labels are English msgids in ``info["label"]`` and translated by the catalog
(Arabic by default): one place that both the views and the exports read.
"""
import datetime
import re

from flask import current_app, has_app_context
from flask_appbuilder import Model
from flask_appbuilder.security.sqla.models import User
from flask_babel import lazy_gettext as _
from sqlalchemy import (
    BigInteger, Boolean, CheckConstraint, Column, Date, DateTime, ForeignKey, Index, Integer,
    Numeric, String, Table, Text, UniqueConstraint, func, select, text,
)
from sqlalchemy.orm import declared_attr, relationship, validates

from .arabic import clean_text, has_direction_override, normalize_name, western_digits
from .national_id import GOVERNORATES, parse_national_id


class RuleViolation(ValueError):
    """A write that breaks a domain rule. ``errors``: {field: message}."""

    def __init__(self, errors):
        self.errors = {k: str(v) for k, v in errors.items()}
        # the untranslated messages, for answers given in both languages (the REST API)
        self.messages = dict(errors)
        super().__init__("; ".join(f"{k}: {v}" for k, v in self.errors.items()))


DIRECTION_CONTROL_MESSAGE = _("This text contains hidden direction-control characters (such as U+202E) "
                              "that would show it reversed; retype it without them.")


def direction_control_errors(obj, fields):
    """The fields of ``obj`` holding a bidi embedding/override/isolate, each
    with the refusal; checked before clean_text would strip them."""
    return {name: DIRECTION_CONTROL_MESSAGE for name in fields if has_direction_override(getattr(obj, name, None))}


def setting(name, default=None):
    if has_app_context():
        return current_app.config.get(name, default)
    return default


def label(text, **info):
    info["label"] = text
    return info


def today():
    return datetime.date.today()


def years_between(born, on):
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


# --- Status vocabulary shared by every document-like record --------------------
DRAFT, SUBMITTED, ISSUED, REJECTED, REVOKED, EXPIRED = (
    "draft", "submitted", "issued", "rejected", "revoked", "expired",
)
STATUS_LABELS = {
    DRAFT: _("Draft"),
    SUBMITTED: _("Submitted"),
    ISSUED: _("Issued"),
    REJECTED: _("Rejected"),
    REVOKED: _("Revoked"),
    EXPIRED: _("Expired"),
}
GENDER_LABELS = {"M": _("Male"), "F": _("Female")}


# --- Mixins -----------------------------------------------------------------------
class Tracked:
    """Who created/changed a row and when, plus the optimistic-lock version.

    ``version`` is SQLAlchemy's version counter: an UPDATE of a row someone
    else changed meanwhile matches no row and is refused; forms also post the
    version they were loaded with (see ``app.views``), which closes the gap
    between opening a form and saving it.
    """

    created_at = Column(DateTime, default=datetime.datetime.utcnow, nullable=False,
                        info=label(_("Created at")))
    changed_at = Column(DateTime, default=datetime.datetime.utcnow,
                        onupdate=datetime.datetime.utcnow, nullable=False,
                        info=label(_("Changed at")))
    version = Column(Integer, nullable=False, default=1, server_default="1",
                     info=label(_("Version")))

    @declared_attr
    def created_by_id(cls):
        return Column(Integer, ForeignKey("ab_user.id"), nullable=True)

    @declared_attr
    def created_by(cls):
        return relationship("SijillUser", foreign_keys=[cls.created_by_id],
                            info=label(_("Created by")))

    @declared_attr
    def __mapper_args__(cls):
        return {"version_id_col": cls.version}


def live_scope_index(table):
    """(directorate_id, id) over the rows not deleted: a directorate's list page
    and its capped count read it alone (index-only), newest first."""
    live = text("deleted_at IS NULL")
    return Index(f"ix_{table}_live_directorate_id_id", "directorate_id", "id",
                 postgresql_where=live, sqlite_where=live)


class SoftDeleted:
    """Rows deleted from the UI are hidden, not removed (``app.scope`` hides
    them from every query); an admin can list and restore them."""

    deleted_at = Column(DateTime, nullable=True, info=label(_("Deleted at")))
    delete_reason = Column(String(500), nullable=True, info=label(_("Delete reason")))

    @declared_attr
    def deleted_by_id(cls):
        return Column(Integer, ForeignKey("ab_user.id"), nullable=True)


class Scoped:
    """A row that belongs to one directorate. ``app.scope`` filters every query
    of these models to the user's directorate and forces new rows into it."""

    @declared_attr
    def directorate_id(cls):
        return Column(Integer, ForeignKey("directorate.id"), nullable=False, index=True,
                      info=label(_("Directorate")))

    @declared_attr
    def directorate(cls):
        return relationship("Directorate", info=label(_("Directorate")))


class Workflow:
    """Maker–checker fields; transitions live in ``app.workflow``."""

    status = Column(String(12), nullable=False, default=DRAFT, index=True,
                    info=label(_("Status")))
    reason = Column(String(1000), nullable=True, info=label(_("Reason")))
    submitted_at = Column(DateTime, nullable=True, info=label(_("Submitted at")))
    decided_at = Column(DateTime, nullable=True, info=label(_("Decided at")))
    # "web" (a clerk at the counter) or "portal" (the national portal, app.portal_api)
    channel = Column(String(8), nullable=False, default="web", server_default="web",
                     info=label(_("Channel")))

    @declared_attr
    def submitted_by_id(cls):
        return Column(Integer, ForeignKey("ab_user.id"), nullable=True)

    @declared_attr
    def submitted_by(cls):
        return relationship("SijillUser", foreign_keys=[cls.submitted_by_id],
                            info=label(_("Submitted by")))

    @declared_attr
    def decided_by_id(cls):
        return Column(Integer, ForeignKey("ab_user.id"), nullable=True)

    @declared_attr
    def decided_by(cls):
        return relationship("SijillUser", foreign_keys=[cls.decided_by_id],
                            info=label(_("Approved by")))

    def status_label(self):
        return STATUS_LABELS.get(self.status, self.status)

    def is_editable(self):
        return self.status in (DRAFT, SUBMITTED, REJECTED)


# --- Reference data -------------------------------------------------------------
class Directorate(Model):
    """One labour directorate per governorate; code = the national-ID code."""

    __tablename__ = "directorate"
    __export_label__ = "name_ar"
    id = Column(Integer, primary_key=True)
    code = Column(String(2), unique=True, nullable=False, info=label(_("Code")))
    name_ar = Column(String(100), nullable=False, info=label(_("Arabic name")))
    name_en = Column(String(100), nullable=False, info=label(_("English name")))

    def __str__(self):
        return self.name_ar

    def check(self, session):
        code = western_digits(self.code or "").strip()
        if not (len(code) == 2 and code.isdigit()):
            raise RuleViolation({"code": _("A directorate code is two digits.")})
        self.code = code


class SkillLevel(Model):
    __tablename__ = "skill_level"
    __export_label__ = "name_ar"
    id = Column(Integer, primary_key=True)
    rank = Column(Integer, unique=True, nullable=False, info=label(_("Rank")))
    name_ar = Column(String(100), nullable=False, info=label(_("Arabic name")))
    name_en = Column(String(100), nullable=False, info=label(_("English name")))

    def __str__(self):
        return f"{self.rank} — {self.name_ar}"


ISCO_MAJOR, ISCO_SUB_MAJOR, ISCO_MINOR, ISCO_UNIT, NATIONAL = 1, 2, 3, 4, 5
OCCUPATION_LEVEL_LABELS = {
    ISCO_MAJOR: _("Major group"),
    ISCO_SUB_MAJOR: _("Sub-major group"),
    ISCO_MINOR: _("Minor group"),
    ISCO_UNIT: _("Unit group"),
    NATIONAL: _("National occupation"),
}


def isco_skill_level(code):
    """ISCO-08 skill level (1–4) of a group, from its major group."""
    major = code[:1]
    if major == "0":
        return {"01": 4, "02": 2, "03": 1}.get(code[:2])
    if major == "9":
        return 1
    if major in "45678":
        return 2
    if major == "3":
        return 3
    if major in "12":
        return 4
    return None


class Occupation(Model):
    """The unified classification: ISCO-08 groups (levels 1–4) and the
    national occupations (level 5) that hang under a unit group."""

    __tablename__ = "occupation"
    __normalized__ = {"title_ar": "title_normalized"}  # searched through the twin (app.filters)
    __export_label__ = "title_ar"
    id = Column(Integer, primary_key=True)
    code = Column(String(12), unique=True, nullable=False, info=label(_("Code")))
    level = Column(Integer, nullable=False, info=label(_("Level")))
    parent_id = Column(Integer, ForeignKey("occupation.id"), nullable=True, index=True)
    parent = relationship("Occupation", remote_side=[id], info=label(_("Parent group")))
    title_ar = Column(String(300), nullable=False, info=label(_("Arabic title")))
    title_en = Column(String(300), nullable=False, info=label(_("English title")))
    title_normalized = Column(String(300), nullable=False, default="", index=True)
    skill_level = Column(Integer, nullable=True, info=label(_("ISCO skill level")))
    active = Column(Boolean, nullable=False, default=True, info=label(_("Active")))

    def __str__(self):
        return f"{self.code} {self.title_ar}"

    @property
    def is_selectable(self):
        """Services name a unit group or a national occupation, never a broad group."""
        return self.level in (ISCO_UNIT, NATIONAL) and self.active

    def level_label(self):
        return OCCUPATION_LEVEL_LABELS.get(self.level, self.level)

    def major_group(self):
        return (self.code or "")[:1]

    def check(self, session):
        refused = direction_control_errors(self, ("title_ar", "title_en"))
        if refused:
            raise RuleViolation(refused)
        errors = {}
        self.code = western_digits(clean_text(self.code) or "")
        self.title_ar = clean_text(self.title_ar)
        self.title_en = clean_text(self.title_en)
        if not self.code or not self.code.isdigit():
            errors["code"] = _("An occupation code is made of digits.")
        if not self.title_ar:
            errors["title_ar"] = _("The Arabic title is required.")
        if not self.title_en:
            errors["title_en"] = _("The English title is required.")
        if self.level is None:
            self.level = NATIONAL
        if self.level == NATIONAL:
            parent = self.parent
            if parent is None and self.parent_id:
                parent = session.get(Occupation, self.parent_id)
            if parent is None or parent.level != ISCO_UNIT:
                errors["parent"] = _("A national occupation hangs under an ISCO unit group.")
            elif self.code and not self.code.startswith(parent.code):
                errors["code"] = _("A national code starts with its unit group's code (%(code)s).",
                                   code=parent.code)
        if errors:
            raise RuleViolation(errors)
        self.title_normalized = normalize_name(self.title_ar)
        if self.code:
            self.skill_level = isco_skill_level(self.code)


# --- Users ------------------------------------------------------------------------
# A number that database triggers raise whenever a role, a permission or a
# role assignment changes (migration 0014): read in the same query as the
# signed-in user's row, it is the key under which each worker keeps that
# user's permissions (app.security), so a change applies from the next
# request without the permissions being read again on every one.
security_stamp = Table(
    "security_stamp", Model.metadata,
    Column("id", Integer, primary_key=True),
    Column("value", BigInteger, nullable=False, server_default=text("0")),
)


class SijillUser(User):
    """FAB's user with its scope: a directorate, or none for the ministry.

    Extended the way FAB's own extendsecurity example does (single-table
    inheritance on ab_user)."""

    __tablename__ = "ab_user"
    __export_label__ = "username"
    directorate_id = Column(Integer, ForeignKey("directorate.id"), nullable=True, index=True,
                            info=label(_("Directorate")))
    directorate = relationship("Directorate", info=label(_("Directorate")))
    locked_until = Column(DateTime, nullable=True, info=label(_("Locked until")))

    @property
    def scope_label(self):
        return str(self.directorate) if self.directorate_id else str(_("Ministry (all directorates)"))


# --- Citizens and employers -------------------------------------------------------
class Citizen(Tracked, SoftDeleted, Scoped, Model):
    __tablename__ = "citizen"
    __export_label__ = "full_name"
    __normalized__ = {"full_name": "name_normalized"}  # searched through the twin (app.filters)
    id = Column(Integer, primary_key=True)
    national_id = Column(String(14), unique=True, nullable=False, info=label(_("National ID")))
    full_name = Column(String(200), nullable=False, info=label(_("Full name (Arabic)")))
    name_normalized = Column(String(200), nullable=False, default="")
    latin_name = Column(String(200), nullable=True, info=label(_("Name (Latin letters)")))
    mobile = Column(String(11), nullable=True, info=label(_("Mobile")))
    address = Column(String(500), nullable=True, info=label(_("Address")))
    qualification = Column(String(200), nullable=True, info=label(_("Qualification")))
    birth_date = Column(Date, nullable=False, info=label(_("Birth date")))
    gender = Column(String(1), nullable=False, info=label(_("Gender")))
    birth_governorate = Column(String(2), nullable=False, info=label(_("Governorate of birth")))
    national_id_warning = Column(String(300), nullable=True, info=label(_("National ID warning")))

    certificates = relationship("Certificate", back_populates="citizen", lazy="dynamic")
    skill_tests = relationship("SkillTest", back_populates="citizen", lazy="dynamic")

    __table_args__ = (
        Index("ix_citizen_directorate_id_id", "directorate_id", "id"),
        live_scope_index("citizen"),
        # Prefix search (LIKE 'x%') by name or national ID: on PostgreSQL an
        # ordinary b-tree serves LIKE only with the pattern operator class.
        Index("ix_citizen_name_prefix", "name_normalized",
              postgresql_ops={"name_normalized": "varchar_pattern_ops"}),
        Index("ix_citizen_national_id_prefix", "national_id",
              postgresql_ops={"national_id": "varchar_pattern_ops"}),
        # A directorate's citizens in national-ID order: the picker's prefix
        # search reads its first page off this range, at any table size.
        Index("ix_citizen_live_directorate_national_id", "directorate_id", "national_id",
              postgresql_where=text("deleted_at IS NULL"), sqlite_where=text("deleted_at IS NULL")),
    )

    def __str__(self):
        return f"{self.full_name} ({self.national_id})"

    def gender_label(self):
        return GENDER_LABELS.get(self.gender, "")

    def birth_governorate_label(self):
        names = GOVERNORATES.get(self.birth_governorate)
        return names[0] if names else ""

    def age_on(self, day):
        return years_between(self.birth_date, day) if self.birth_date else None

    @validates("national_id")
    def _derive_from_national_id(self, key, value):
        """Birth date, gender and governorate of birth come from the ID only."""
        try:
            parsed = parse_national_id(value, setting("NATIONAL_ID_STRICT_CHECKSUM", False))
        except ValueError as exc:
            raise RuleViolation({"national_id": str(exc)}) from None
        self.birth_date = parsed.birth_date
        self.gender = parsed.gender
        self.birth_governorate = parsed.governorate_code
        self.national_id_warning = parsed.warnings[0] if parsed.warnings else None
        return parsed.number

    def check(self, session):
        refused = direction_control_errors(self, ("full_name", "latin_name", "address", "qualification"))
        if refused:
            raise RuleViolation(refused)
        errors = {}
        self.full_name = clean_text(self.full_name)
        self.latin_name = clean_text(self.latin_name)
        self.address = clean_text(self.address)
        self.qualification = clean_text(self.qualification)
        if not self.national_id:
            errors["national_id"] = _("The national ID is required.")
        if not self.full_name or len(self.full_name.split()) < 3:
            errors["full_name"] = _("Write the full name: at least three names.")
        elif any("a" <= ch.lower() <= "z" for ch in self.full_name):
            errors["full_name"] = _("The full name is written in Arabic letters; the Latin name has its own field.")
        if self.mobile:
            mobile = western_digits(self.mobile).replace(" ", "").replace("-", "")
            if mobile.startswith("+20"):
                mobile = "0" + mobile[3:]
            if not (len(mobile) == 11 and mobile.isdigit() and mobile[:3] in ("010", "011", "012", "015")):
                errors["mobile"] = _("An Egyptian mobile number is 11 digits starting with 010, 011, 012 or 015.")
            else:
                self.mobile = mobile
        else:
            self.mobile = None
        # An import looks up a whole batch of IDs at once (app/imports.py) and
        # names here the ones it found unregistered in this transaction; the
        # unique index stays the last word.
        known_new = session.info.get("sijill_unregistered_national_ids", ())
        if self.national_id and "national_id" not in errors and self.national_id not in known_new:
            other = session.execute(
                select(Citizen.id, Citizen.deleted_at).where(
                    Citizen.national_id == self.national_id, Citizen.id != (self.id or 0))
                .execution_options(sijill_unscoped=True)
            ).first()
            if other is not None:
                errors["national_id"] = (
                    _("This national ID is already registered (deleted record: ask a ministry admin to restore it).")
                    if other.deleted_at else _("This national ID is already registered.")
                )
        if errors:
            raise RuleViolation(errors)
        self.name_normalized = normalize_name(self.full_name)


class Establishment(Tracked, SoftDeleted, Scoped, Model):
    __tablename__ = "establishment"
    __export_label__ = "name"
    id = Column(Integer, primary_key=True)
    name = Column(String(300), nullable=False, info=label(_("Name")))
    commercial_register = Column(String(30), unique=True, nullable=False,
                                 info=label(_("Commercial register number")))
    tax_number = Column(String(30), nullable=False, info=label(_("Tax number")))
    address = Column(String(500), nullable=True, info=label(_("Address")))
    egyptian_workers = Column(Integer, nullable=False, default=0,
                              info=label(_("Egyptian workers")))

    permits = relationship("Permit", back_populates="establishment", lazy="dynamic",
                           foreign_keys="Permit.establishment_id")

    def __str__(self):
        return f"{self.name} ({self.commercial_register})"

    def foreign_quota(self):
        return int((self.egyptian_workers or 0) * setting("FOREIGN_SHARE_PERCENT", 10) // 100)

    def check(self, session):
        refused = direction_control_errors(self, ("name", "address"))
        if refused:
            raise RuleViolation(refused)
        errors = {}
        self.name = clean_text(self.name)
        self.commercial_register = western_digits(clean_text(self.commercial_register) or "")
        self.tax_number = western_digits(clean_text(self.tax_number) or "")
        if not self.name:
            errors["name"] = _("The name is required.")
        if not self.commercial_register:
            errors["commercial_register"] = _("The commercial register number is required.")
        if not self.tax_number:
            errors["tax_number"] = _("The tax number is required.")
        if self.egyptian_workers is None:
            self.egyptian_workers = 0
        if self.egyptian_workers < 0:
            errors["egyptian_workers"] = _("The number of Egyptian workers cannot be negative.")
        if self.commercial_register and "commercial_register" not in errors:
            dup = session.execute(
                select(Establishment.id).where(
                    Establishment.commercial_register == self.commercial_register,
                    Establishment.id != (self.id or 0))
                .execution_options(sijill_unscoped=True)).first()
            if dup:
                errors["commercial_register"] = _("An establishment with this commercial register number exists.")
        if errors:
            raise RuleViolation(errors)


# --- Services ---------------------------------------------------------------------
REGISTRATION, SKILL, CRAFT = "registration", "skill", "craft"
CERTIFICATE_KINDS = {
    REGISTRATION: _("Registration certificate"),
    SKILL: _("Skill-level certificate"),
    CRAFT: _("Craft practice licence card"),
}
# Serial type codes: readable in the serial DD-YYYY-TYP-NNNNNN.
SERIAL_TYPES = {REGISTRATION: "REG", SKILL: "SKL", CRAFT: "CRF", "permit": "PRM"}


def _check_dates(errors, start, end, start_field, end_field):
    if start and end and end <= start:
        errors[end_field] = _("The end date must come after the start date.")


def _check_working_age(errors, citizen, on, field="citizen"):
    minimum = setting("MIN_WORKING_AGE", 15)
    if citizen is not None and citizen.birth_date and on:
        if years_between(citizen.birth_date, on) < minimum:
            errors[field] = _("The citizen is under the minimum working age (%(age)s years).",
                              age=minimum)


def _check_selectable_occupation(errors, occupation):
    if occupation is None:
        errors["occupation"] = _("The occupation is required.")
    elif not occupation.is_selectable:
        errors["occupation"] = _("Choose a unit group or a national occupation, not a broad group.")


class Certificate(Tracked, SoftDeleted, Scoped, Workflow, Model):
    """Documents issued to citizens: registration certificate, skill-level
    certificate and craft practice licence card."""

    __tablename__ = "certificate"
    id = Column(Integer, primary_key=True)
    kind = Column(String(16), nullable=False, info=label(_("Type")))
    serial = Column(String(32), unique=True, nullable=True, info=label(_("Serial")))
    citizen_id = Column(Integer, ForeignKey("citizen.id"), nullable=False, index=True)
    citizen = relationship("Citizen", back_populates="certificates", info=label(_("Citizen")))
    occupation_id = Column(Integer, ForeignKey("occupation.id"), nullable=False, index=True)
    occupation = relationship("Occupation", info=label(_("Occupation")))
    skill_level_id = Column(Integer, ForeignKey("skill_level.id"), nullable=True)
    skill_level = relationship("SkillLevel", info=label(_("Skill level")))
    issue_date = Column(Date, nullable=True, info=label(_("Issue date")))
    expiry_date = Column(Date, nullable=True, index=True, info=label(_("Expiry date")))
    experience_years = Column(Integer, nullable=True, info=label(_("Years of experience")))
    fee = Column(Numeric(8, 2), nullable=True, info=label(_("Fee (EGP)")))
    skill_test_id = Column(Integer, ForeignKey("skill_test.id"), nullable=True)
    skill_test = relationship("SkillTest", foreign_keys=[skill_test_id],
                              info=label(_("Skill test")))

    __table_args__ = (
        Index("ix_certificate_directorate_id_id", "directorate_id", "id"),
        live_scope_index("certificate"),
        Index("ix_certificate_citizen_kind", "citizen_id", "kind"),
    )

    def __str__(self):
        return f"{self.kind_label()} {self.serial or '#%s' % self.id}"

    def kind_label(self):
        return CERTIFICATE_KINDS.get(self.kind, self.kind)

    @property
    def serial_type(self):
        return SERIAL_TYPES[self.kind]

    def is_valid_on(self, day):
        return self.status == ISSUED and (self.expiry_date is None or self.expiry_date >= day)

    # --- as a printed document (app.documents, app.verify) ---
    def validity(self):
        """(valid from, valid until or None)."""
        return self.issue_date, self.expiry_date

    def is_past_validity(self, day=None):
        return self.expiry_date is not None and self.expiry_date < (day or today())

    def holder_name(self):
        return self.citizen.full_name if self.citizen is not None else ""

    def on_issue(self, day):
        """Dates set by approval: issue today; cards expire after the setting."""
        self.issue_date = day
        if self.kind == CRAFT and not self.expiry_date:
            years = setting("CRAFT_CARD_VALIDITY_YEARS", 5)
            self.expiry_date = _add_years(day, years)
        if self.kind == SKILL and not self.expiry_date:
            years = setting("SKILL_CERT_VALIDITY_YEARS", 0)
            if years:
                self.expiry_date = _add_years(day, years)

    def check(self, session):
        errors = {}
        if self.kind not in CERTIFICATE_KINDS:
            errors["kind"] = _("Unknown certificate type.")
        citizen = self.citizen or (self.citizen_id and session.get(Citizen, self.citizen_id))
        occupation = self.occupation or (self.occupation_id and session.get(Occupation, self.occupation_id))
        if not citizen:
            errors["citizen"] = _("The citizen is required.")
        _check_selectable_occupation(errors, occupation)
        _check_dates(errors, self.issue_date, self.expiry_date, "issue_date", "expiry_date")
        _check_working_age(errors, citizen, self.issue_date or today())
        if self.experience_years is not None and not 0 <= self.experience_years <= 70:
            errors["experience_years"] = _("Years of experience must be between 0 and 70.")
        if self.kind == SKILL and not (self.skill_level or self.skill_level_id):
            errors["skill_level"] = _("A skill-level certificate names the level.")
        if self.kind == CRAFT:
            if self.fee is not None and not 0 <= self.fee <= setting("CRAFT_CARD_MAX_FEE", 500):
                errors["fee"] = _("The craft card fee is at most EGP %(fee)s.",
                                  fee=setting("CRAFT_CARD_MAX_FEE", 500))
            if citizen and occupation and self.status != REVOKED and "occupation" not in errors:
                if not self._has_valid_skill_certificate(session, citizen, occupation):
                    errors["occupation"] = _(
                        "A craft licence needs a valid skill-level certificate in the same occupation.")
        if errors:
            raise RuleViolation(errors)

    def _has_valid_skill_certificate(self, session, citizen, occupation):
        day = self.issue_date or today()
        rows = session.execute(
            select(Certificate.id).where(
                Certificate.citizen_id == citizen.id,
                Certificate.occupation_id == occupation.id,
                Certificate.kind == SKILL,
                Certificate.status == ISSUED,
                (Certificate.expiry_date.is_(None)) | (Certificate.expiry_date >= day),
            ).limit(1)).first()
        return rows is not None


def _add_years(day, years):
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


class SkillTest(Tracked, SoftDeleted, Scoped, Workflow, Model):
    """A theory + practical test in one occupation. Approving a passed test
    issues its skill-level certificate (``app.workflow``)."""

    __tablename__ = "skill_test"
    id = Column(Integer, primary_key=True)
    citizen_id = Column(Integer, ForeignKey("citizen.id"), nullable=False, index=True)
    citizen = relationship("Citizen", back_populates="skill_tests", info=label(_("Citizen")))
    occupation_id = Column(Integer, ForeignKey("occupation.id"), nullable=False, index=True)
    occupation = relationship("Occupation", info=label(_("Occupation")))
    skill_level_id = Column(Integer, ForeignKey("skill_level.id"), nullable=False)
    skill_level = relationship("SkillLevel", info=label(_("Level tested")))
    test_date = Column(Date, nullable=False, index=True, info=label(_("Test date")))
    theory_score = Column(Integer, nullable=True, info=label(_("Theory score")))
    practical_score = Column(Integer, nullable=True, info=label(_("Practical score")))
    result = Column(String(4), nullable=True, info=label(_("Result")))
    fee_exempt = Column(Boolean, nullable=False, default=False, info=label(_("Fee exempt")))
    exemption_reason = Column(String(200), nullable=True, info=label(_("Exemption reason")))
    certificate = relationship("Certificate", foreign_keys="Certificate.skill_test_id",
                               uselist=False, viewonly=True, info=label(_("Certificate")))

    __table_args__ = (
        Index("ix_skill_test_directorate_id_id", "directorate_id", "id"),
        live_scope_index("skill_test"),
    )

    RESULT_LABELS = {"pass": _("Passed"), "fail": _("Failed")}

    def __str__(self):
        return f"{self.citizen} — {self.occupation} ({self.test_date})"

    def result_label(self):
        return self.RESULT_LABELS.get(self.result, "")

    def check(self, session):
        errors = {}
        citizen = self.citizen or (self.citizen_id and session.get(Citizen, self.citizen_id))
        occupation = self.occupation or (self.occupation_id and session.get(Occupation, self.occupation_id))
        if not citizen:
            errors["citizen"] = _("The citizen is required.")
        _check_selectable_occupation(errors, occupation)
        if not (self.skill_level or self.skill_level_id):
            errors["skill_level"] = _("Choose the level tested.")
        if not self.test_date:
            errors["test_date"] = _("The test date is required.")
        else:
            _check_working_age(errors, citizen, self.test_date)
        for name in ("theory_score", "practical_score"):
            score = getattr(self, name)
            if score is not None and not 0 <= score <= 100:
                errors[name] = _("A score is between 0 and 100.")
        if self.fee_exempt and not clean_text(self.exemption_reason):
            errors["exemption_reason"] = _("Record the reason of the fee exemption.")
        # A booking made on the portal is submitted before the test is held: its
        # scores are entered later, and approval still needs them.
        scores_due = self.status == ISSUED or (self.status == SUBMITTED and self.channel != "portal")
        if scores_due and (self.theory_score is None or self.practical_score is None):
            errors["theory_score"] = _("Enter both scores before submitting the result.")
        if errors:
            raise RuleViolation(errors)
        self.result = self.computed_result()

    def computed_result(self):
        if self.theory_score is None or self.practical_score is None:
            return None
        mark = setting("SKILL_PASS_MARK", 50)
        return "pass" if self.theory_score >= mark and self.practical_score >= mark else "fail"


class Permit(Tracked, SoftDeleted, Scoped, Workflow, Model):
    """Work permit of a foreign national for an establishment."""

    __tablename__ = "permit"
    __export_label__ = "serial"
    id = Column(Integer, primary_key=True)
    serial = Column(String(32), unique=True, nullable=True, info=label(_("Serial")))
    kind = Column(String(8), nullable=False, default="new", info=label(_("Kind")))
    renews_id = Column(Integer, ForeignKey("permit.id"), nullable=True)
    renews = relationship("Permit", remote_side=[id], foreign_keys=[renews_id],
                          info=label(_("Renews permit")))
    worker_name = Column(String(200), nullable=False, info=label(_("Worker name")))
    passport_number = Column(String(20), nullable=False, index=True, info=label(_("Passport number")))
    nationality = Column(String(2), nullable=False, info=label(_("Nationality")))
    birth_date = Column(Date, nullable=False, info=label(_("Birth date")))
    gender = Column(String(1), nullable=False, default="M", info=label(_("Gender")))
    establishment_id = Column(Integer, ForeignKey("establishment.id"), nullable=False, index=True)
    establishment = relationship("Establishment", back_populates="permits",
                                 foreign_keys=[establishment_id], info=label(_("Establishment")))
    occupation_id = Column(Integer, ForeignKey("occupation.id"), nullable=False, index=True)
    occupation = relationship("Occupation", info=label(_("Occupation")))
    start_date = Column(Date, nullable=False, info=label(_("Start date")))
    end_date = Column(Date, nullable=False, index=True, info=label(_("End date")))
    issue_date = Column(Date, nullable=True, info=label(_("Issue date")))
    quota_exception = Column(Boolean, nullable=False, default=False,
                             info=label(_("Exception to the foreign workers' share")))
    exception_reason = Column(String(500), nullable=True, info=label(_("Exception reason")))
    security_cleared = Column(Boolean, nullable=False, default=False,
                              info=label(_("Security clearance received")))
    docs_commercial_register = Column(Boolean, nullable=False, default=False,
                                      info=label(_("Commercial register copy")))
    docs_tax_card = Column(Boolean, nullable=False, default=False, info=label(_("Tax card copy")))
    docs_passport = Column(Boolean, nullable=False, default=False, info=label(_("Passport copy")))
    docs_medical = Column(Boolean, nullable=False, default=False, info=label(_("Medical certificate")))
    docs_photos = Column(Boolean, nullable=False, default=False, info=label(_("Photos")))

    __table_args__ = (
        Index("ix_permit_directorate_id_id", "directorate_id", "id"),
        live_scope_index("permit"),
        CheckConstraint("kind in ('new', 'renewal')", name="ck_permit_kind"),
    )

    KIND_LABELS = {"new": _("New"), "renewal": _("Renewal")}
    DOCUMENT_FIELDS = ("docs_commercial_register", "docs_tax_card", "docs_passport",
                       "docs_medical", "docs_photos")

    def __str__(self):
        return f"{self.worker_name} ({self.passport_number}) {self.serial or ''}".strip()

    def kind_label(self):
        return self.KIND_LABELS.get(self.kind, self.kind)

    serial_type = SERIAL_TYPES["permit"]

    def is_valid_on(self, day):
        return self.status == ISSUED and self.start_date <= day <= self.end_date

    # --- as a printed document (app.documents, app.verify) ---
    def validity(self):
        return self.start_date, self.end_date

    def is_past_validity(self, day=None):
        return self.end_date is not None and self.end_date < (day or today())

    def holder_name(self):
        return self.worker_name or ""

    def on_issue(self, day):
        self.issue_date = day

    def check(self, session):
        refused = direction_control_errors(self, ("worker_name",))
        if refused:
            raise RuleViolation(refused)
        errors = {}
        self.worker_name = clean_text(self.worker_name)
        self.passport_number = (clean_text(western_digits(self.passport_number)) or "").upper().replace(" ", "")
        self.nationality = (self.nationality or "").upper()
        self.kind = self.kind or "new"
        establishment = self.establishment or (
            self.establishment_id and session.get(Establishment, self.establishment_id))
        occupation = self.occupation or (self.occupation_id and session.get(Occupation, self.occupation_id))
        if not self.worker_name:
            errors["worker_name"] = _("The worker's name is required.")
        if not self.passport_number or not self.passport_number.isalnum():
            errors["passport_number"] = _("The passport number is letters and digits.")
        from .countries import COUNTRIES
        if self.nationality not in COUNTRIES:
            errors["nationality"] = _("Choose the nationality from the list.")
        elif self.nationality == "EG":
            errors["nationality"] = _("Egyptian citizens do not need a foreign work permit.")
        if not establishment:
            errors["establishment"] = _("The establishment is required.")
        _check_selectable_occupation(errors, occupation)
        if occupation and occupation.code:
            barred = setting("BARRED_OCCUPATIONS_FOR_FOREIGNERS", [])
            if any(occupation.code.startswith(code) for code in barred):
                errors["occupation"] = _("This occupation is reserved for Egyptians.")
        if not self.start_date:
            errors["start_date"] = _("The start date is required.")
        if not self.end_date:
            errors["end_date"] = _("The end date is required.")
        _check_dates(errors, self.start_date, self.end_date, "start_date", "end_date")
        if self.start_date and self.end_date and "end_date" not in errors:
            if (self.end_date - self.start_date).days > setting("PERMIT_MAX_DAYS", 366):
                errors["end_date"] = _("A work permit is valid for one year at most.")
        if self.birth_date and self.start_date:
            if years_between(self.birth_date, self.start_date) < setting("MIN_WORKING_AGE", 15):
                errors["birth_date"] = _("The worker is under the minimum working age.")
        if self.kind not in self.KIND_LABELS:
            errors["kind"] = _("Unknown permit kind.")
        elif self.kind == "renewal" and not (self.renews or self.renews_id):
            errors["renews"] = _("A renewal names the permit it renews.")
        if self.quota_exception and not clean_text(self.exception_reason):
            errors["exception_reason"] = _("Record the reason of the exception.")
        if self.status == ISSUED and not self.security_cleared:
            errors["security_cleared"] = _("A permit is issued only after security clearance.")
        if self.status in (SUBMITTED, ISSUED):
            missing = [f for f in self.DOCUMENT_FIELDS if not getattr(self, f)]
            if missing:
                errors[missing[0]] = _("All required documents must be received before submitting.")
        if establishment and not errors and self.status in (SUBMITTED, ISSUED) and not self.quota_exception:
            if self._foreigners_after(session, establishment) > establishment.foreign_quota():
                errors["quota_exception"] = _(
                    "Foreign workers would exceed %(pct)s%% of the establishment's Egyptian workforce "
                    "(%(quota)s allowed); record an exception to proceed.",
                    pct=setting("FOREIGN_SHARE_PERCENT", 10), quota=establishment.foreign_quota())
        if errors:
            raise RuleViolation(errors)

    def _foreigners_after(self, session, establishment):
        """Foreign workers with a live permit at the establishment, this one included.
        A renewal replaces the permit it renews, so that one is not counted twice."""
        day = self.start_date or today()
        excluded = [i for i in (self.id, self.renews_id) if i]
        query = select(func.count(func.distinct(Permit.passport_number))).where(
            Permit.establishment_id == establishment.id,
            Permit.status == ISSUED,
            Permit.end_date >= day,
            Permit.passport_number != self.passport_number,
        )
        if excluded:
            query = query.where(Permit.id.notin_(excluded))
        return session.execute(query).scalar_one() + 1


class SerialCounter(Model):
    """Last serial number per directorate, document type and year.

    Allocation is ``UPDATE … SET last = last + 1 RETURNING last`` inside the
    approving transaction: the row lock serialises concurrent approvals and a
    rollback returns the number, so serials are unique and gapless."""

    __tablename__ = "serial_counter"
    id = Column(Integer, primary_key=True)
    directorate_id = Column(Integer, ForeignKey("directorate.id"), nullable=False)
    doc_type = Column(String(3), nullable=False)
    year = Column(Integer, nullable=False)
    last = Column(Integer, nullable=False, default=0)
    __table_args__ = (UniqueConstraint("directorate_id", "doc_type", "year",
                                       name="uq_serial_counter"),)


class AuditLog(Model):
    """Append-only trail: every change with its old → new values, every
    workflow step, print, export, login and denial (``app.audit``)."""

    __tablename__ = "audit_log"
    id = Column(Integer, primary_key=True)
    at = Column(DateTime, nullable=False, default=datetime.datetime.utcnow, index=True,
                info=label(_("When")))
    user_id = Column(Integer, ForeignKey("ab_user.id"), nullable=True, index=True)
    user = relationship("SijillUser", info=label(_("User")))
    username = Column(String(100), nullable=True, info=label(_("Username")))
    ip = Column(String(64), nullable=True, info=label(_("IP address")))
    action = Column(String(20), nullable=False, index=True, info=label(_("Action")))
    entity = Column(String(40), nullable=True, info=label(_("Entity")))
    record_id = Column(Integer, nullable=True, info=label(_("Record")))
    directorate_id = Column(Integer, ForeignKey("directorate.id"), nullable=True, index=True)
    directorate = relationship("Directorate", info=label(_("Directorate")))
    changes = Column(Text, nullable=True, info=label(_("Changes")))
    detail = Column(Text, nullable=True, info=label(_("Detail")))

    __table_args__ = (Index("ix_audit_log_entity_record", "entity", "record_id"),)

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M} {self.username or '-'} {self.action} {self.entity or ''}#{self.record_id or ''}"


# --- What the public verification page says of a serial -------------------------
VALID, NOT_FOUND = "valid", "not_found"
SERIAL_PATTERN = re.compile(r"^\d{2}-\d{4}-[A-Z]{3}-\d{6}$")


def normalize_serial(text):
    """A typed serial as stored: western digits, upper case, no spaces;
    None if it cannot be a serial (DD-YYYY-TYP-NNNNNN)."""
    serial = western_digits(clean_text(text) or "").upper().replace(" ", "").replace("–", "-")
    return serial if SERIAL_PATTERN.match(serial) else None


def document_status(session, serial, day=None):
    """(state, document) of the document with this serial, for everyone:
    state is VALID, EXPIRED, REVOKED or NOT_FOUND (document None).

    Read across every directorate (the caller is anonymous), deleted rows
    excluded: a document removed from the register verifies as not found.
    Expired means marked expired by the daily job or past its end date
    already (the job runs at night)."""
    serial = normalize_serial(serial)
    if serial is None:
        return NOT_FOUND, None
    day = day or today()
    model = Permit if serial.split("-")[2] == SERIAL_TYPES["permit"] else Certificate
    doc = session.execute(select(model).where(model.serial == serial)
                          .execution_options(sijill_unscoped=True)).scalar_one_or_none()
    if doc is None or doc.status not in (ISSUED, EXPIRED, REVOKED):
        return NOT_FOUND, None
    if doc.status == REVOKED:
        return REVOKED, doc
    if doc.status == EXPIRED or doc.is_past_validity(day):
        return EXPIRED, doc
    return VALID, doc


SCOPED_MODELS = (Citizen, Establishment, Certificate, SkillTest, Permit)
WORKFLOW_MODELS = (Certificate, SkillTest, Permit)


# The statistics and scheduled-job tables live beside their code; imported
# here so that Model.metadata (migrations, the scope) always knows them.
from . import api_store, jobs, stats  # noqa: E402,F401
