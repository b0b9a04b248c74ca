"""Streaming CSV and XLSX exports of exactly what a list shows.

FAB has no export, and loading a result set as ORM objects would hold a
million rows in memory. Here a list's own query (its search, filters, sort,
and — through the session — its scope) is narrowed to plain columns and read
in batches from a server-side cursor; CSV is streamed as it is produced, XLSX
is written by openpyxl's write-only workbook to a temporary file. Memory stays
flat whatever the row count.

Spreadsheet formula injection: a text cell starting with = + - @ (or a tab /
carriage return) is prefixed with an apostrophe so Excel shows it as text.
"""
import csv
import datetime
import decimal
import io
import tempfile

from flask import Response, current_app, stream_with_context
from sqlalchemy import create_engine, inspect
from sqlalchemy.orm import Session

BATCH = 5000
MEMO_LIMIT = 1000  # distinct formatted values remembered per column
_MISSING = object()
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_replica_engine = None


def neutralise(value):
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def cell(value):
    if value is None:
        return ""
    if type(value) is str:  # most cells: the common case first
        return neutralise(value)
    if isinstance(value, (datetime.datetime,)):
        return value.isoformat(" ", "minutes")  # yyyy-mm-dd hh:mm, faster than strftime
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, bool):
        return "نعم" if value else "لا"
    if isinstance(value, decimal.Decimal):
        return str(value)
    return neutralise(str(value)) if not isinstance(value, (int, float)) else value


def reading_session(default_session):
    """The session exports read from: the read replica when READ_REPLICA_URL
    is set (scope listeners are on every Session, so it is scoped too)."""
    global _replica_engine
    url = current_app.config.get("READ_REPLICA_URL")
    if not url:
        return default_session, False
    if _replica_engine is None:
        _replica_engine = create_engine(url, pool_pre_ping=True)
    return Session(bind=_replica_engine), True


def export_columns(model, names, formatters):
    """(header label keys, SQL expressions, joins, per-column formatter) for
    the list columns that are plain columns or many-to-one relations.
    A relation exports the related row's ``__export_label__`` column."""
    mapper = inspect(model)
    exprs, joins, keys, fmts = [], [], [], []
    for name in names:
        if name in mapper.column_attrs:
            exprs.append(getattr(model, name))
        elif name in mapper.relationships:
            rel = mapper.relationships[name]
            target = rel.mapper.class_
            label_col = getattr(target, "__export_label__", None)
            if label_col is None or rel.direction.name != "MANYTOONE":
                continue
            from sqlalchemy.orm import aliased
            alias = aliased(target)
            joins.append((alias, getattr(model, name).of_type(alias)))
            exprs.append(getattr(alias, label_col))
        else:
            continue  # computed columns (methods) are not exported
        keys.append(name)
        fmts.append(formatters.get(name))
    return keys, exprs, joins, fmts


def rows_of(session, query, exprs, joins, fmts):
    """Rows of plain values from a FAB list query, in batches."""
    for alias, relation in joins:
        query = query.outerjoin(relation)
    query = query.with_entities(*exprs)
    result = session.execute(query.statement.execution_options(yield_per=BATCH, stream_results=True))
    # A formatter maps a code to its label (gender, status, kind) and translates
    # it: once per distinct value, not once per row (it was half the export's time).
    memo = [{} if fmt else None for fmt in fmts]
    for row in result:
        out = []
        for fmt, seen, value in zip(fmts, memo, row):
            if seen is None or value is None:
                out.append(cell(value))
                continue
            label = seen.get(value, _MISSING)
            if label is _MISSING:
                label = cell(fmt(value))
                if len(seen) < MEMO_LIMIT:
                    seen[value] = label
            out.append(label)
        yield out


class _Echo:
    def write(self, value):
        return value


def csv_response(filename, headers, rows, on_done):
    """Streamed CSV: UTF-8 with BOM so Excel reads the Arabic."""
    def generate():
        count = 0
        try:
            writer = csv.writer(_Echo())
            yield "\ufeff" + writer.writerow(headers)
            buffer = io.StringIO()
            chunk = csv.writer(buffer)
            for row in rows:
                chunk.writerow(row)
                count += 1
                if count % 1000 == 0:
                    yield buffer.getvalue()
                    buffer.seek(0)
                    buffer.truncate()
            yield buffer.getvalue()
        finally:
            on_done(count)
    response = Response(stream_with_context(generate()), mimetype="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}.csv"'
    return response


def xlsx_response(filename, headers, rows, on_done, sheet_title="Sijill"):
    """XLSX through openpyxl's write-only mode (rows go to disk, not memory)."""
    from openpyxl import Workbook
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(sheet_title[:31])
    sheet.sheet_view.rightToLeft = True
    sheet.append(headers)
    count = 0
    for row in rows:
        sheet.append(row)
        count += 1
    spool = tempfile.TemporaryFile()
    workbook.save(spool)
    on_done(count)
    spool.seek(0)

    def generate():
        with spool:
            while True:
                block = spool.read(64 * 1024)
                if not block:
                    break
                yield block
    response = Response(generate(), mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}.xlsx"'
    return response
