"""Streaming CSV and XLSX exports of exactly what a list shows.

FAB has no export, and loading a result set as ORM objects would hold a
million rows in memory. Here a list's own query (its search, filters, sort,
and — through the session — its scope) is narrowed to plain columns and read
in batches from a server-side cursor; CSV is streamed as it is produced, XLSX
is written by openpyxl's write-only workbook to a temporary file. Memory stays
flat whatever the row count.

On PostgreSQL the CSV is written by the database itself: the list's query,
with the user's scope applied by ``app.scope.scoped`` (the same criteria
every ORM read gets), each column rendered to text in SQL the way ``cell``
renders it, inside ``COPY … TO STDOUT``. Python then only relays bytes: about
ten times the rows per second of formatting each row in Python, which stays
the path for SQLite and for a column whose formatter is not a ``Labels``.

Spreadsheet formula injection: a text cell starting with = + - @ (or a tab /
carriage return) is prefixed with an apostrophe so Excel shows it as text.
"""
import csv
import datetime
import decimal
import io
import queue
import tempfile
import threading

from flask import Response, current_app, stream_with_context
from sqlalchemy import Boolean, Date, DateTime, String, Text, case, cast, create_engine, func, inspect, literal
from sqlalchemy.orm import Session

from .scope import scoped

BATCH = 5000
MEMO_LIMIT = 1000  # distinct formatted values remembered per column
_MISSING = object()
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_replica_engine = None


class Labels:
    """A list formatter that maps stored codes to their (translated) labels:
    callable for the list, and readable as a mapping by the export."""

    def __init__(self, mapping):
        self.mapping = mapping

    def __call__(self, value):
        return self.mapping.get(value, value)


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


# --- PostgreSQL: the database writes the CSV ------------------------------------
_COPY_CHUNK = 256 * 1024
_COPY_QUEUE = 16  # chunks in flight: memory stays under 4 MB whatever the rows


def _sql_neutralised(text):
    return case((func.substr(text, 1, 1).in_(_FORMULA_START), literal("'") + text), else_=text)


def _sql_cell(expr, fmt):
    """The SQL of one column rendered as ``cell(fmt(value))`` would render it,
    or None when only Python can (a formatter that is not a Labels)."""
    if fmt is not None:
        if not isinstance(fmt, Labels) or not fmt.mapping:
            return None
        labelled = case({code: str(label) for code, label in fmt.mapping.items()}, value=expr,
                        else_=cast(expr, Text))
        return _sql_neutralised(labelled)
    kind = expr.type
    if isinstance(kind, DateTime):
        return func.to_char(expr, "YYYY-MM-DD HH24:MI")
    if isinstance(kind, Date):
        return func.to_char(expr, "YYYY-MM-DD")
    if isinstance(kind, Boolean):
        return case((expr.is_(True), "نعم"), (expr.is_(False), "لا"))
    if isinstance(kind, (String, Text)):
        return _sql_neutralised(expr)
    return expr  # numbers: PostgreSQL's text form is Python's


def copy_statement(session, query, exprs, joins, fmts):
    """The list's query as one COPY … TO STDOUT (CSV) statement, scope applied,
    or None when this database or these columns need the Python path."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    columns = [_sql_cell(expr, fmt) for expr, fmt in zip(exprs, fmts)]
    if any(column is None for column in columns):
        return None
    for _alias, relation in joins:
        query = query.outerjoin(relation)
    statement = scoped(query.with_entities(*columns).statement)
    compiled = statement.compile(dialect=session.get_bind().dialect,
                                 compile_kwargs={"render_postcompile": True})
    return str(compiled), compiled.params


class _QueueWriter:
    """copy_expert's file: collects rows into chunks handed to the response."""

    def __init__(self, chunks):
        self.chunks, self.parts, self.size = chunks, [], 0

    def write(self, data):
        self.parts.append(data)
        self.size += len(data)
        if self.size >= _COPY_CHUNK:
            self.flush()

    def flush(self):
        if self.parts:
            self.chunks.put(b"".join(self.parts))
            self.parts, self.size = [], 0


def copy_csv_response(filename, headers, engine, statement, on_done):
    """Streamed CSV written by PostgreSQL's COPY in a worker thread (psycopg2's
    copy_expert only writes into a file), relayed chunk by chunk."""
    sql, params = statement
    chunks = queue.Queue(maxsize=_COPY_QUEUE)
    done = object()
    outcome = {"rows": 0}
    connection = engine.raw_connection()

    def produce():
        try:
            cursor = connection.cursor()
            inner = cursor.mogrify(sql, params)
            writer = _QueueWriter(chunks)
            cursor.copy_expert(b"COPY (" + inner + b") TO STDOUT WITH (FORMAT csv)", writer)
            writer.flush()
            outcome["rows"] = cursor.rowcount
            connection.rollback()
        except BaseException as exc:  # handed to the response, which raises it
            outcome["error"] = exc
        finally:
            connection.close()
            chunks.put(done)

    def generate():
        worker = threading.Thread(target=produce, name="sijill-export", daemon=True)
        worker.start()
        try:
            buffer = io.StringIO()
            csv.writer(buffer, lineterminator="\n").writerow(headers)
            yield ("\ufeff" + buffer.getvalue()).encode("utf-8")
            sent = 0
            while (chunk := chunks.get()) is not done:
                sent += chunk.count(b"\n")
                outcome["sent"] = sent
                yield chunk
            if "error" in outcome:
                raise outcome["error"]
            outcome["complete"] = True
        finally:
            if worker.is_alive():  # the client left: stop the query, not just the relay
                connection.dbapi_connection.cancel()
            while worker.is_alive():
                try:
                    chunks.get(timeout=0.1)
                except queue.Empty:
                    pass
            # a finished COPY reports its rows; an abandoned one, the lines sent
            on_done(outcome["rows"] if outcome.get("complete") else outcome.get("sent", 0))
    response = Response(stream_with_context(generate()), mimetype="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}.csv"'
    return response


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
