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

Re-importing creates no duplicates: a citizen is keyed by national ID. The
documented update rule for a national ID already registered (in the
importing directorate): empty cells never erase; a filled cell replaces the
stored value of full name, Latin name, mobile, address, qualification. A
national ID registered in another directorate is reported and left alone.
"""
import csv
import datetime
import hashlib
import io
import re
import time
from dataclasses import dataclass, field
from typing import Optional

from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from sqlalchemy import Column, DateTime, ForeignKey, Integer, String, Text, select

from .arabic import clean_text, western_digits
from .models import Citizen, Directorate, RuleViolation
from .national_id import parse_national_id
from .scope import ScopeViolation, current_scope

CITIZENS = "citizens"
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
    created = Column(Integer, nullable=False, default=0)
    updated = Column(Integer, nullable=False, default=0)
    unchanged = Column(Integer, nullable=False, default=0)
    errors = Column(Integer, nullable=False, default=0)
    message = Column(Text, nullable=True)


# --- Column definitions: field -> accepted headers (first is the template's) --
COLUMNS = {
    CITIZENS: {
        "national_id": ("الرقم القومي", "national_id", "national id", "الرقم القومى"),
        "full_name": ("الاسم رباعي", "full_name", "full name", "name", "الاسم", "الاسم رباعى"),
        "latin_name": ("الاسم بالحروف اللاتينية", "latin_name", "latin name"),
        "mobile": ("المحمول", "mobile", "رقم المحمول", "التليفون"),
        "address": ("العنوان", "address"),
        "qualification": ("المؤهل", "qualification"),
        "directorate": ("كود المديرية", "directorate"),
        "occupation": ("المهنة", "occupation", "المهنه"),
    },
}
REQUIRED = {CITIZENS: ("national_id", "full_name")}
EXAMPLE = {CITIZENS: ("29005170100000", "محمد أحمد علي حسن", "Mohamed Ahmed Ali Hassan",
                      "01012345678", "القاهرة - شبرا", "دبلوم صنايع", "01", "كهربائي منازل")}
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


def _column(name):
    return str(_LABELS.get(name, name))


class CitizenRows:
    """Row → Citizen through the model's own rules."""

    def __init__(self, session, directorate):
        self.session = session
        self.directorate = directorate
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
        try:
            return parse_national_id(values.get("national_id")).number
        except (ValueError, TypeError):
            return None

    def build(self, number, values, known, errors):
        """A new Citizen (not added), a changed existing one, ``False`` when
        nothing changes, or ``None`` after reporting errors."""
        code = values.get("directorate")
        if code is not None:
            code = str(code).zfill(2)
            if self.codes.get(code) != self.directorate.id:
                errors.append(RowError(number, _column("directorate"), str(_l(
                    "This row belongs to another directorate (%(code)s); you import into %(name)s only.",
                    code=code, name=self.directorate.name_ar))))
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
        try:
            obj = Citizen(national_id=values.get("national_id"), directorate_id=self.directorate.id)
            for name in UPDATABLE:
                setattr(obj, name, values.get(name))
            with self.session.no_autoflush:
                obj.check(self.session)
        except RuleViolation as exc:
            for name, message in exc.errors.items():
                errors.append(RowError(number, _column(name), str(message)))
            return None
        return obj

    def update(self, number, citizen_id, values, errors):
        obj = self.session.get(Citizen, citizen_id)
        changed = False
        for name in UPDATABLE:
            value = values.get(name)
            if value not in (None, "") and getattr(obj, name) != value:
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


def run(session, kind, data, file_name, directorate, user=None, commit=False, batch_size=1000,
        progress=None):
    """Validate (and with ``commit`` write) one file; returns a Report.

    ``progress(rows_handled)`` is called after every batch."""
    if kind not in COLUMNS:
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
        batch = session.scalar(select(ImportBatch).where(
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
    builder = CitizenRows(session, directorate)
    seen = {}
    occupations = []
    pending = []

    def flush(last_number):
        wanted = [n for n in (builder.national_id(v) for _, v in pending) if n]
        known = builder.existing(wanted)
        # the set-based form of Citizen.check's "already registered" query
        session.info["sijill_unregistered_national_ids"] = set(wanted) - set(known)
        new = []
        for number, values in pending:
            obj = builder.build(number, values, known, report.errors)
            if obj is None:
                continue
            report.valid += 1
            if obj is False:
                report.unchanged += 1
            elif obj.id is None:
                new.append(obj)
                report.created += 1
            else:
                report.updated += 1
            if values.get("occupation"):
                occupations.append(values["occupation"])
        pending.clear()
        if commit:
            session.add_all(new)
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
            key = builder.national_id(values) or values.get("national_id")
            if key in seen:
                report.errors.append(RowError(number, _column("national_id"), str(_l(
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
                count_names(session, occupations)
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
