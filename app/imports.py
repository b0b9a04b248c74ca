"""Imports of the paper and spreadsheet registers (CSV or XLSX).

Reading (encoding detected: UTF-8 with or without BOM, else Windows-1256;
XLSX read-only, streamed), header mapping (Arabic or English), cell cleaning
(Arabic-Indic digits, tatweel, stray spaces, Excel date serials, empty
trailing rows), then a per-row validation through the model rules
(validators + ``check()``, the same as the forms) giving a report
(row number, column, message).

``run(..., commit=False)`` is the dry run: nothing is written. With
``commit=True`` valid rows are written in batches, each batch in one
transaction together with the checkpoint (``import_batch.rows_done``), so a
crash loses at most the batch in flight and a re-run of the same file resumes
after the checkpoint. ``batch_size=0`` writes the whole file in one
transaction (the web page): all or nothing.

One engine for every kind: the columns, headers and keys come from
app/import_kinds.py; citizens are handled here (``CitizenRows``, the fast
path: the model's rules on a plain record, COPY, one bulk audit insert per
batch), the document registers in app/import_documents.py (ORM).

Re-importing creates no duplicates: a citizen is keyed by national ID. The
documented update rule for a national ID already registered (in the
importing directorate): empty cells never erase; a filled cell replaces the
stored Latin name, mobile, address, qualification (the audit trail keeps
the old value); a different full name is reported and the stored one kept
(a spelling variant of it changes nothing). A national ID registered in
another directorate, or deleted, is reported and left alone. New citizens
with the name and birth date of another under a different ID are queued
for a manager's decision (app/duplicates.py). The same rules are in the
README ("Imports: the duplicate rules").
"""
import csv
import datetime
import gc
import hashlib
import io
import re
import time
from dataclasses import dataclass, field
from typing import Optional

from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import Column, DateTime, ForeignKey, Integer, String, Text, select

from . import bulk
from .arabic import clean_text, normalize_name, western_digits
from .audit import bulk_audit, created_changes
from .import_kinds import CITIZENS, KINDS, parse_number
from .models import Citizen, Directorate, RuleViolation
from .national_id import parse_national_id
from .scope import ScopeViolation, current_scope

RUNNING, DONE, FAILED, DRY = "running", "done", "failed", "dry_run"


class ImportBatch(Model):
    """One import of one file: who, when, what, counts, and the checkpoint
    (rows of the file already committed) a re-run resumes after."""
    __tablename__ = "import_batch"
    id = Column(Integer, primary_key=True)
    kind = Column(String(20), nullable=False)
    file_name = Column(String(300), nullable=False)
    file_hash = Column(String(64), nullable=False, index=True)
    directorate_id = Column(Integer, ForeignKey("directorate.id"), nullable=True, index=True)
    user_id = Column(Integer, ForeignKey("ab_user.id"), nullable=True)
    started_at = Column(DateTime, nullable=False, default=datetime.datetime.utcnow)
    finished_at = Column(DateTime, nullable=True)
    status = Column(String(10), nullable=False, default=RUNNING)
    rows_total = Column(Integer, nullable=False, default=0)
    rows_done = Column(Integer, nullable=False, default=0)  # checkpoint: file rows handled and committed
    rows_expected = Column(Integer, nullable=True)  # the web page's progress bar (app/import_jobs.py)
    created = Column(Integer, nullable=False, default=0)
    updated = Column(Integer, nullable=False, default=0)
    unchanged = Column(Integer, nullable=False, default=0)
    errors = Column(Integer, nullable=False, default=0)
    message = Column(Text, nullable=True)


# --- Columns: app/import_kinds.py, one entry per kind ---------------------------
COLUMNS = {name: spec.columns for name, spec in KINDS.items()}
REQUIRED = {name: spec.required for name, spec in KINDS.items()}
EXAMPLE = {name: spec.example for name, spec in KINDS.items()}
UPDATABLE = ("full_name", "latin_name", "mobile", "address", "qualification")


@dataclass
class RowError:
    row: int  # row number in the file, header = 1
    column: str
    message: str


@dataclass
class Report:
    kind: str
    rows_total: int = 0
    valid: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list = field(default_factory=list)
    seconds: float = 0.0
    batch_id: Optional[int] = None
    resumed_from: int = 0

    @property
    def rows_per_s(self):
        return self.rows_total / self.seconds if self.seconds else 0.0


class ImportError_(ValueError):
    """The file itself cannot be read (not a row problem)."""


# --- What may be uploaded ------------------------------------------------------
ALLOWED_EXTENSIONS = (".csv", ".xlsx")
# Magic bytes of files that are never a register, whatever their name says.
_BINARY_MAGIC = (b"%PDF", b"\x89PNG", b"GIF8", b"\xff\xd8\xff", b"MZ", b"\x7fELF", b"\xd0\xcf\x11\xe0",
                 b"\x1f\x8b", b"Rar!", b"7z\xbc\xaf")


def check_upload(data, file_name):
    """Refuse anything but a CSV or XLSX register, by name *and* by content:
    an .xlsx is a ZIP (PK\\x03\\x04); a .csv is text (no NUL byte, no known
    binary signature, no HTML document). Raises ImportError_ with the reason."""
    name = (file_name or "").lower()
    if not name.endswith(ALLOWED_EXTENSIONS):
        raise ImportError_(str(_l("Only CSV and Excel (.xlsx) files can be imported.")))
    head = data[:1024]
    if name.endswith(".xlsx"):
        if not head.startswith(b"PK\x03\x04"):
            raise ImportError_(str(_l("The file is named .xlsx but is not an Excel workbook.")))
        return
    sniff = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if (b"\x00" in data[:65536] or head.startswith(_BINARY_MAGIC) or head.startswith(b"PK")
            or sniff.startswith((b"<!doctype", b"<html", b"<script", b"<svg", b"<?xml"))):
        raise ImportError_(str(_l("The file is named .csv but is not a text register.")))


# --- Reading ----------------------------------------------------------------
def decode(data):
    """UTF-8 (with or without BOM), else Windows-1256 (Excel's Arabic CSV)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1256")


def read_rows(data, file_name):
    """Rows of raw cells (lists) from CSV or XLSX bytes, header first."""
    if file_name.lower().endswith(".xlsx") or data[:2] == b"PK":
        from openpyxl import load_workbook
        try:
            wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception as exc:  # a corrupt workbook is the user's file, not a crash
            raise ImportError_(str(_l("The file could not be read as an Excel workbook."))) from exc
        for row in wb.worksheets[0].iter_rows(values_only=True):
            yield list(row)
        wb.close()
        return
    text = decode(data)
    sample = text[:4096]
    delimiter = ";" if sample.count(";") > sample.count(",") else ","
    yield from csv.reader(io.StringIO(text), delimiter=delimiter)


def clean_cell(value):
    """Text as stored: digits in western form, no tatweel, single spaces.
    Whole numbers from Excel lose their '.0'."""
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value
    return clean_text(western_digits(str(value)))


_EXCEL_EPOCH = datetime.date(1899, 12, 30)
_DATE_FORMS = ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%Y/%m/%d", "%d.%m.%Y")


def parse_date(value):
    """A date from an Excel date serial, a date cell or text in the usual forms."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    text = western_digits(str(value)).strip()
    if re.fullmatch(r"\d{4,5}(\.0+)?", text):
        return _EXCEL_EPOCH + datetime.timedelta(days=int(float(text)))
    for form in _DATE_FORMS:
        try:
            return datetime.datetime.strptime(text, form).date()
        except ValueError:
            continue
    raise ValueError(str(_l("Not a date: write it as yyyy-mm-dd.")))


def header_map(kind, header):
    """Column index of each known field; unknown headers are ignored."""
    wanted = {}
    for field_name, names in COLUMNS[kind].items():
        for name in names:
            wanted[clean_text(name).lower()] = field_name
    found = {}
    for i, cell in enumerate(header):
        key = (clean_text(western_digits(str(cell))) or "").lower() if cell is not None else ""
        if key in wanted and wanted[key] not in found:
            found[wanted[key]] = i
    missing = [COLUMNS[kind][f][0] for f in REQUIRED[kind] if f not in found]
    if missing:
        raise ImportError_(str(_l("Missing columns: %(names)s", names="، ".join(missing))))
    return found


def records(kind, data, file_name):
    """(row number, {field: cleaned value}) for every non-empty row."""
    rows = read_rows(data, file_name)
    try:
        header = next(rows)
    except StopIteration:
        raise ImportError_(str(_l("The file is empty."))) from None
    columns = header_map(kind, header)
    for number, raw in enumerate(rows, start=2):
        values = {f: clean_cell(raw[i]) if i < len(raw) else None for f, i in columns.items()}
        if any(v not in (None, "") for v in values.values()):  # empty (trailing) rows skipped
            yield number, values


def file_hash(data):
    return hashlib.sha256(data).hexdigest()


# --- Validation and writing ---------------------------------------------------
_LABELS = {
    "national_id": _l("National ID"), "full_name": _l("Full name (Arabic)"),
    "latin_name": _l("Name (Latin letters)"), "mobile": _l("Mobile"), "address": _l("Address"),
    "qualification": _l("Qualification"), "directorate": _l("Directorate"),
}


def _column(name, spec=None):
    """The column's name as the user's file has it (the template's Arabic
    header), for the report."""
    spec = spec or KINDS[CITIZENS]
    if name in spec.columns:
        return spec.columns[name][0]
    if name in _LABELS:
        return str(_LABELS[name])
    return name


class CitizenRows:
    """Row → citizen values through the model's own rules, written in bulk.

    ``Citizen.check`` and the national-ID validator are called on a plain
    record (``_Draft``), not on an ORM object: the constructor and the
    attribute instrumentation cost more than the rules themselves at 100,000
    rows. New citizens go in with one Core INSERT per batch and their audit
    rows with one more (``audit.bulk_audit``), in the same transaction.
    Updates of registered citizens stay on the ORM (few, and they get the
    version check and the flush-time audit of old → new values)."""

    def __init__(self, session, directorate, user=None):
        self.session = session
        self.directorate = directorate
        self.user = user
        self.codes = dict(session.execute(select(Directorate.code, Directorate.id)).all())

    def existing(self, ids):
        """Citizens already registered with these IDs, in any directorate
        (a lookup by the unique index; other directorates' rows are only
        reported, never read further or changed)."""
        if not ids:
            return {}
        rows = self.session.execute(
            select(Citizen.national_id, Citizen.id, Citizen.directorate_id, Citizen.deleted_at)
            .where(Citizen.national_id.in_(ids)).execution_options(sijill_unscoped=True)).all()
        return {r.national_id: r for r in rows}

    def national_id(self, values):
        """The row's ID in the 14-digit form parse_national_id stores, for the
        in-file duplicate key and the lookup (computed once per row; the full
        validation is the model's, in build())."""
        if "_national_id" not in values:
            raw = values.get("national_id")
            raw = western_digits(str(raw)).strip().replace(" ", "").replace("-", "") if raw is not None else ""
            values["_national_id"] = raw if len(raw) == 14 and raw.isascii() and raw.isdigit() else None
        return values["_national_id"]

    key = national_id

    def _other_directorate(self, number, values, errors):
        code = values.get("directorate")
        if code is not None:
            code = str(code).zfill(2)
            if self.codes.get(code) != self.directorate.id:
                errors.append(RowError(number, _column("directorate"), str(_l(
                    "This row belongs to another directorate (%(code)s); you import into %(name)s only.",
                    code=code, name=self.directorate.name_ar))))
                return True
        return False

    def build(self, number, values, known, errors):
        """The values of a new citizen (a dict), a changed existing Citizen,
        ``False`` when nothing changes, or ``None`` after reporting errors."""
        if self._other_directorate(number, values, errors):
            return None
        mobile = values.get("mobile")
        if isinstance(mobile, str) and len(mobile) == 10 and mobile.isdigit() and mobile[0] == "1":
            values["mobile"] = "0" + mobile  # a number cell in Excel loses the leading zero
        number_id = self.national_id(values)
        row = known.get(number_id) if number_id else None
        if row is not None:
            if row.directorate_id != self.directorate.id or row.deleted_at is not None:
                errors.append(RowError(number, _column("national_id"), str(_l(
                    "This national ID is registered in another directorate or deleted; the row was left out."))))
                return None
            return self.update(number, row.id, values, errors)
        draft = _Draft(self.directorate.id)
        try:
            draft.national_id = Citizen._derive_from_national_id(draft, "national_id", values.get("national_id"))
            for name in UPDATABLE:
                setattr(draft, name, values.get(name))
            Citizen.check(draft, self.session)
        except RuleViolation as exc:
            for name, message in exc.errors.items():
                errors.append(RowError(number, _column(name), str(message)))
            return None
        return draft.values()

    def update(self, number, citizen_id, values, errors):
        """The documented rule (module docstring): the name is never
        overwritten by a different one; other filled cells replace."""
        obj = self.session.get(Citizen, citizen_id)
        changed = False
        for name in UPDATABLE:
            value = values.get(name)
            if value in (None, "") or getattr(obj, name) == value:
                continue
            if name == "full_name":
                if normalize_name(value) != obj.name_normalized:
                    errors.append(RowError(number, _column(name), str(_l(
                        "A different name is registered for this national ID (%(name)s); it was kept. "
                        "Correct it on the citizen's page if the file is right.", name=obj.full_name))))
                continue  # a spelling variant of the same name: nothing to change
            setattr(obj, name, value)
            changed = True
        if not changed:
            return False
        try:
            with self.session.no_autoflush:
                obj.check(self.session)
        except RuleViolation as exc:
            for name, message in exc.errors.items():
                errors.append(RowError(number, _column(name), str(message)))
            self.session.expire(obj)
            return None
        return obj

    def flush(self, pending, report, commit):
        """Validate (and with ``commit`` write) one batch; occupation names
        of the valid rows are returned for the legacy-name counts."""
        wanted = [n for n in (self.national_id(v) for _, v in pending) if n]
        known = self.existing(wanted)
        # the set-based form of Citizen.check's "already registered" query
        self.session.info["sijill_unregistered_national_ids"] = set(wanted) - set(known)
        new, occupations = [], []
        for number, values in pending:
            obj = self.build(number, values, known, report.errors)
            if obj is None:
                continue
            report.valid += 1
            if obj is False:
                report.unchanged += 1
            elif isinstance(obj, dict):
                new.append((number, obj))
                report.created += 1
                if values.get("occupation"):
                    # counted once, when the row first comes in: a re-import of the
                    # same file does not inflate the name's count
                    occupations.append(values["occupation"])
            else:
                report.updated += 1
        if commit and new:
            self.session.flush()  # the ORM updates first: one order of writes per batch
            self.write(new, report)
        return occupations

    def write(self, new, report):
        # A citizen registered by someone else since the lookup in flush() is
        # not overwritten: insert_new skips it and the row is reported below
        # (the update rules would have to see it first).
        written = bulk.insert_new(self.session, Citizen.__table__, [values for _, values in new], "national_id")
        entries = []
        for number, values in new:
            record_id = written.get(values["national_id"])
            if record_id is None:
                report.created -= 1
                report.valid -= 1
                report.errors.append(RowError(number, _column("national_id"), str(_l(
                    "This national ID was registered by another user during the import; import the file again."))))
                continue
            values["id"] = record_id
            entries.append(("create", record_id, values["directorate_id"], created_changes(values)))
        bulk_audit(self.session, "Citizen", entries)
        from .duplicates import find_near_duplicates
        find_near_duplicates(self.session, self.directorate.id, [v for _, v in new if "id" in v])


class _Draft:
    """A citizen's columns, for the model's rules without the ORM object."""

    def __init__(self, directorate_id):
        self.id = None
        self.directorate_id = directorate_id
        self.latin_name = self.mobile = self.address = self.qualification = None

    def values(self):
        now = datetime.datetime.utcnow()
        return {
            "national_id": self.national_id, "full_name": self.full_name,
            "name_normalized": self.name_normalized, "latin_name": self.latin_name,
            "mobile": self.mobile, "address": self.address, "qualification": self.qualification,
            "birth_date": self.birth_date, "gender": self.gender,
            "birth_governorate": self.birth_governorate, "national_id_warning": self.national_id_warning,
            "directorate_id": self.directorate_id, "created_at": now, "changed_at": now, "version": 1,
        }


def handler_for(session, spec, directorate, user=None):
    if spec.name == CITIZENS:
        return CitizenRows(session, directorate, user)
    from .import_documents import DocumentRows
    return DocumentRows(session, spec, directorate, user)


def parse_cells(spec, number, values, errors):
    """Dates and numbers of one row; False (and a message per cell) if any is bad."""
    ok = True
    for name in spec.dates:
        if name in values:
            try:
                values[name] = parse_date(values[name])
            except ValueError as exc:
                errors.append(RowError(number, _column(name, spec), str(exc)))
                ok = False
    for name in spec.numbers:
        if values.get(name) not in (None, ""):
            try:
                values[name] = parse_number(values[name])
            except (ValueError, TypeError):
                errors.append(RowError(number, _column(name, spec), str(_l("Write a whole number."))))
                ok = False
    return ok


def run(session, kind, data, file_name, directorate, user=None, commit=False, batch_size=1000,
        progress=None, batch_id=None):
    """See ``_run``. The cyclic garbage collector is paused meanwhile: a
    batch of citizens is a few hundred thousand small dicts and strings,
    none in a cycle, and the collector's passes over them cost ~6% of a
    commit; it runs again (and collects) as soon as the file is done."""
    paused = gc.isenabled() and kind == CITIZENS
    if paused:
        gc.disable()
    try:
        return _run(session, kind, data, file_name, directorate, user, commit, batch_size, progress, batch_id)
    finally:
        if paused:
            gc.enable()


def _run(session, kind, data, file_name, directorate, user=None, commit=False, batch_size=1000,
         progress=None, batch_id=None):
    """Validate (and with ``commit`` write) one file; returns a Report.

    ``progress(rows_handled)`` is called after every batch. ``batch_id``: an
    import_batch row made beforehand (the web page's background commit)."""
    spec = KINDS.get(kind)
    if spec is None:
        raise ImportError_(str(_l("Unknown import type.")))
    scope = current_scope()
    if scope.deny or (scope.directorate_id is not None and scope.directorate_id != directorate.id):
        # the session would put the rows in the user's own directorate anyway;
        # asking for another one is refused outright rather than redirected
        raise ScopeViolation(f"import into directorate {directorate.id} outside scope")
    started = time.perf_counter()
    report = Report(kind)
    digest = file_hash(data)
    batch = None
    skip = 0
    if commit:
        batch = session.get(ImportBatch, batch_id) if batch_id else session.scalar(select(ImportBatch).where(
            ImportBatch.file_hash == digest, ImportBatch.kind == kind,
            ImportBatch.directorate_id == directorate.id, ImportBatch.status.in_((RUNNING, FAILED)))
            .order_by(ImportBatch.id.desc()).limit(1))
        if batch is None:
            batch = ImportBatch(kind=kind, file_name=file_name[:300], file_hash=digest,
                                directorate_id=directorate.id, user_id=getattr(user, "id", None))
            session.add(batch)
        else:
            skip = report.resumed_from = batch.rows_done
            # counts go on from the checkpoint's
            report.created, report.updated, report.unchanged = batch.created, batch.updated, batch.unchanged
            batch.status = RUNNING
        session.commit()
        report.batch_id = batch.id
    handler = handler_for(session, spec, directorate, user)
    seen = {}
    occupations = []
    pending = []

    def flush(last_number):
        occupations.extend(handler.flush(pending, report, commit))
        pending.clear()
        if commit:
            if batch_size:
                _checkpoint(session, batch, report, last_number)
                session.commit()
        else:
            session.rollback()  # a dry run keeps nothing, not even loaded rows
        if progress:
            progress(report.rows_total)

    try:
        last = 1
        for number, values in records(kind, data, file_name):
            last = number
            report.rows_total += 1
            if number <= skip:
                continue
            if not parse_cells(spec, number, values, report.errors):
                continue
            key = handler.key(values) or tuple(values.get(k) for k in spec.key)
            if key in seen:
                report.errors.append(RowError(number, _column(spec.key[0], spec), str(_l(
                    "Repeats row %(row)s of this file; left out.", row=seen[key]))))
                continue
            seen[key] = number
            pending.append((number, values))
            if len(pending) >= (batch_size or 1000):
                flush(number)
        if pending:
            flush(last)
        if commit:
            if occupations:
                from .occupation_match import count_names
                count_names(session, occupations, directorate.id)
            _checkpoint(session, batch, report, last)
            batch.status = DONE
            batch.finished_at = datetime.datetime.utcnow()
            session.commit()
    except Exception as exc:
        session.info.pop("sijill_unregistered_national_ids", None)
        session.rollback()
        if batch is not None:
            batch = session.get(ImportBatch, report.batch_id)
            batch.status = FAILED
            batch.message = str(exc)[:2000]
            session.commit()
        raise
    session.info.pop("sijill_unregistered_national_ids", None)
    report.errors.sort(key=lambda e: e.row)
    report.seconds = time.perf_counter() - started
    return report


def _checkpoint(session, batch, report, last_number):
    batch.rows_done = last_number
    batch.rows_total = report.rows_total
    batch.created = report.created
    batch.updated = report.updated
    batch.unchanged = report.unchanged
    batch.errors = len(report.errors)
    session.add(batch)
