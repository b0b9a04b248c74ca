"""Rows of the document registers (registration certificates, skill-level
certificates, craft cards, foreign work permits) → records, through the
models' own ``check()`` and written with the ORM, so the scope, the rules and
the audit trail apply exactly as for a form. These registers are far smaller
than the citizens' one; the ORM's cost does not matter there.

Rules of these imports:

* The paper registers list documents already issued: each row becomes an
  issued record (status "issued") with the register's serial and issue date
  (a craft card without an expiry gets the usual validity from its issue
  date). For permits the register is taken as proof that the security
  clearance and the documents were received, as they were when the permit
  was issued on paper.
* The holder is found by national ID among the citizens of the importing
  directorate (import the citizens first); permits name their establishment
  by commercial register number.
* The occupation: by code when the file has one, else the name through the
  matcher (app/occupation_match.py). A name no rule matches leaves the row
  out with a message; the name waits in the review queue, and once an admin
  maps it, importing the file again brings those rows in.
* A key already registered (a certificate's serial; a permit's passport
  number and start date) is never written twice: the row counts as
  unchanged, or is reported when the registered record differs in holder.
"""
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from .arabic import clean_text, normalize_name, western_digits
from .countries import COUNTRIES
from .imports import RowError, _column
from .models import (
    CRAFT, ISSUED, Certificate, Citizen, Directorate, Establishment, Occupation, Permit, RuleViolation, SkillLevel,
)
from .occupation_match import Matcher

_NATIONALITY_BY_NAME = {normalize_name(names[0]): code for code, names in COUNTRIES.items()}
_NATIONALITY_BY_NAME.update({normalize_name(names[1]): code for code, names in COUNTRIES.items()})
_GENDERS = {"m": "M", "f": "F", "ذكر": "M", "انثي": "F", "انثى": "F", "ذ": "M", "ا": "F"}


def _upper_code(value):
    return (clean_text(western_digits(value)) or "").upper().replace(" ", "") if value is not None else ""


class DocumentRows:
    def __init__(self, session, spec, directorate, user=None):
        self.session = session
        self.spec = spec
        self.directorate = directorate
        self.user = user
        self.codes = dict(session.execute(select(Directorate.code, Directorate.id)).all())
        self.matcher = Matcher(session)
        self.levels = {lvl.rank: lvl.id for lvl in session.scalars(select(SkillLevel))}
        self.by_code = {o.code: o for o in session.scalars(select(Occupation))}

    # --- keys ---------------------------------------------------------------
    def key(self, values):
        if self.spec.certificate_kind:
            serial = _upper_code(values.get("serial"))
            return ("serial", serial) if serial else None
        passport = _upper_code(values.get("passport_number"))
        return ("permit", passport, values.get("start_date")) if passport else None

    def _error(self, errors, number, name, message):
        errors.append(RowError(number, _column(name, self.spec), str(message)))

    # a rule names the model's field; the report names the file's column
    _FIELD_COLUMNS = {"citizen": "national_id", "establishment": "commercial_register"}

    def _fields_errors(self, errors, number, exc):
        for name, message in exc.errors.items():
            self._error(errors, number, self._FIELD_COLUMNS.get(name, name), message)

    # --- lookups, one query each per batch ----------------------------------
    def _citizens(self, pending):
        ids = {western_digits(str(v.get("national_id") or "")).strip() for _, v in pending}
        rows = self.session.scalars(select(Citizen).where(Citizen.national_id.in_(ids))
                                    .execution_options(sijill_unscoped=True, sijill_include_deleted=True)).all()
        return {c.national_id: c for c in rows}

    def _existing(self, pending):
        keys = [self.key(v) for _, v in pending]
        if self.spec.certificate_kind:
            serials = [k[1] for k in keys if k]
            rows = self.session.scalars(select(Certificate).where(Certificate.serial.in_(serials))
                                        .execution_options(sijill_unscoped=True, sijill_include_deleted=True))
            return {("serial", r.serial): r for r in rows}
        passports = [k[1] for k in keys if k]
        rows = self.session.scalars(select(Permit).where(Permit.passport_number.in_(passports))
                                    .execution_options(sijill_unscoped=True, sijill_include_deleted=True))
        found = {("permit", r.passport_number, r.start_date): r for r in rows}
        serials = [_upper_code(v.get("serial")) for _, v in pending if v.get("serial")]
        if serials:  # a serial taken by another permit is reported, not a crash on the unique index
            for r in self.session.scalars(select(Permit).where(Permit.serial.in_(serials))
                                          .execution_options(sijill_unscoped=True, sijill_include_deleted=True)):
                found[("serial", r.serial)] = r
        return found

    def _establishments(self, pending):
        numbers = {western_digits(clean_text(str(v.get("commercial_register") or "")) or "") for _, v in pending}
        rows = self.session.scalars(select(Establishment).where(Establishment.commercial_register.in_(numbers))
                                    .execution_options(sijill_unscoped=True))
        return {e.commercial_register: e for e in rows}

    # --- one row ------------------------------------------------------------
    def _occupation(self, number, values, errors):
        """(occupation id or None, name to count in the legacy table)."""
        code = western_digits(clean_text(str(values.get("occupation_code") or "")) or "")
        if code:
            occupation = self.by_code.get(code)
            if occupation is None or not occupation.is_selectable:
                self._error(errors, number, "occupation_code", _l(
                    "No unit group or national occupation has this code."))
                return None, None
            return occupation.id, None
        name = values.get("occupation")
        if not name:
            self._error(errors, number, "occupation", _l("The occupation is required."))
            return None, None
        found = self.matcher.match(name)
        if found.occupation_id is None:
            self._error(errors, number, "occupation", _l(
                "This occupation name is not in the classification yet; it waits in the review queue. "
                "Once it is mapped, import the file again."))
        return found.occupation_id, name

    def _other_directorate(self, number, values, errors):
        code = values.get("directorate")
        if code is not None and self.codes.get(str(code).zfill(2)) != self.directorate.id:
            self._error(errors, number, "directorate", _l(
                "This row belongs to another directorate (%(code)s); you import into %(name)s only.",
                code=str(code).zfill(2), name=self.directorate.name_ar))
            return True
        return False

    def build(self, number, values, known, errors, lookups):
        """A new record (not added), ``False`` if registered already, or None."""
        if self._other_directorate(number, values, errors):
            return None, None
        registered = known.get(self.key(values))
        occupation_id, name = self._occupation(number, values, errors)
        if registered is not None:
            return self._registered(number, values, registered, errors, lookups), name
        if self.spec.certificate_kind:
            obj = self._certificate(number, values, errors, lookups)
        else:
            obj = self._permit(number, values, errors, lookups, known)
        if obj is None or occupation_id is None:
            return None, name
        obj.occupation_id = occupation_id
        try:
            with self.session.no_autoflush:
                obj.check(self.session)
        except RuleViolation as exc:
            self._fields_errors(errors, number, exc)
            return None, name
        return obj, name

    def _registered(self, number, values, registered, errors, lookups):
        if registered.directorate_id != self.directorate.id or registered.deleted_at is not None:
            self._error(errors, number, self.spec.key[0], _l(
                "This document is registered in another directorate or deleted; the row was left out."))
            return None
        if self.spec.certificate_kind:
            citizen = lookups["citizens"].get(western_digits(str(values.get("national_id") or "")).strip())
            if registered.kind != self.spec.certificate_kind or citizen is None or citizen.id != registered.citizen_id:
                self._error(errors, number, "serial", _l(
                    "This serial is registered for another document or holder; the row was left out."))
                return None
        return False

    def _citizen(self, number, values, errors, lookups):
        citizen = lookups["citizens"].get(western_digits(str(values.get("national_id") or "")).strip())
        if citizen is None or citizen.deleted_at is not None:
            self._error(errors, number, "national_id", _l(
                "No citizen is registered with this national ID; import or add the citizen first."))
            return None
        if citizen.directorate_id != self.directorate.id:
            self._error(errors, number, "national_id", _l(
                "This citizen is registered in another directorate; the row was left out."))
            return None
        return citizen

    def _certificate(self, number, values, errors, lookups):
        citizen = self._citizen(number, values, errors, lookups)
        if citizen is None:
            return None
        if not values.get("issue_date"):
            self._error(errors, number, "issue_date", _l("The issue date of an issued document is required."))
            return None
        obj = Certificate(kind=self.spec.certificate_kind, serial=_upper_code(values.get("serial"))[:32],
                          citizen_id=citizen.id, directorate_id=self.directorate.id, status=ISSUED,
                          issue_date=values["issue_date"], expiry_date=values.get("expiry_date"),
                          experience_years=values.get("experience_years"), fee=values.get("fee"))
        rank = values.get("skill_level")
        if rank is not None:
            if rank not in self.levels:
                self._error(errors, number, "skill_level", _l("The skill level is a rank from 1 to 5."))
                return None
            obj.skill_level_id = self.levels[rank]
        if obj.kind == CRAFT and not obj.expiry_date:
            obj.on_issue(obj.issue_date)  # the card's usual validity from its issue date
        return obj

    def _permit(self, number, values, errors, lookups, known):
        establishment = lookups["establishments"].get(
            western_digits(clean_text(str(values.get("commercial_register") or "")) or ""))
        if establishment is None or establishment.deleted_at is not None:
            self._error(errors, number, "commercial_register", _l(
                "No establishment is registered with this commercial register number."))
            return None
        if establishment.directorate_id != self.directorate.id:
            self._error(errors, number, "commercial_register", _l(
                "This establishment is registered in another directorate; the row was left out."))
            return None
        serial = _upper_code(values.get("serial"))[:32] or None
        if serial and ("serial", serial) in known:
            self._error(errors, number, "serial", _l(
                "This serial is registered for another document or holder; the row was left out."))
            return None
        nationality = _upper_code(values.get("nationality"))
        if nationality not in COUNTRIES:
            nationality = _NATIONALITY_BY_NAME.get(normalize_name(values.get("nationality") or ""), nationality)
        gender = _GENDERS.get(normalize_name(values.get("gender") or "m"), "M")
        if not values.get("birth_date"):
            self._error(errors, number, "birth_date", _l("The birth date is required."))
            return None
        documents = {name: True for name in Permit.DOCUMENT_FIELDS}
        return Permit(serial=serial, passport_number=values.get("passport_number"),
                      worker_name=values.get("worker_name"), nationality=nationality,
                      birth_date=values["birth_date"], gender=gender, establishment_id=establishment.id,
                      start_date=values.get("start_date"),
                      end_date=values.get("end_date"), issue_date=values.get("start_date"), status=ISSUED,
                      security_cleared=True, directorate_id=self.directorate.id, **documents)

    # --- one batch ----------------------------------------------------------
    def flush(self, pending, report, commit):
        lookups = {"citizens": self._citizens(pending) if self.spec.certificate_kind else {},
                   "establishments": {} if self.spec.certificate_kind else self._establishments(pending)}
        known = self._existing(pending)
        occupations, new = [], []
        for number, values in pending:
            errors_before = len(report.errors)
            obj, name = self.build(number, values, known, report.errors, lookups)
            if obj is None:
                # a row left out only for an unmapped name still counts for that
                # name in the queue (its size tells the admin what to map first)
                if name and all(e.column == _column("occupation", self.spec)
                                for e in report.errors[errors_before:]):
                    occupations.append(name)
                continue
            report.valid += 1
            if obj is False:
                report.unchanged += 1
                continue
            report.created += 1
            new.append(obj)
            key = self.key(values)
            known[key] = obj  # a later row of the batch with this key is a duplicate
            if obj.serial:
                known[("serial", obj.serial)] = obj
            if name:
                occupations.append(name)
        if commit and new:
            self.session.add_all(new)
            self.session.flush()  # rules, scope and audit run here, as for a form
        return occupations
