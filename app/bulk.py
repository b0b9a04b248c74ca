"""Bulk writes on the session's own connection and transaction, for the
imports' fast path.

On PostgreSQL rows go in with COPY (the bench's 1M-citizen load uses the
same): an INSERT with parameters spends more time in SQLAlchemy's and
psycopg2's per-value handling than in the server. A COPY into a temporary
table followed by ``INSERT … SELECT … ON CONFLICT DO NOTHING RETURNING``
keeps the "never a second row for one key" rule of the unique index.
Elsewhere (SQLite in tests) the same statements go through SQLAlchemy Core.

Either way the writes join the caller's transaction: a rollback takes them
with it.
"""
import datetime
import io

from sqlalchemy import insert

_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_value(value):
    if value is None:
        return "\\N"
    if type(value) is int:
        return str(value)
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    text = str(value)
    # most cells have nothing to escape; str.translate is slow per character
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        return text.translate(_ESCAPES)
    return text


def _copy(cursor, table, columns, rows):
    buf = io.StringIO()
    value = _copy_value
    write = buf.write
    for row in rows:
        write("\t".join([value(row[c]) for c in columns]))
        write("\n")
    buf.seek(0)
    cursor.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", buf)


def _cursor(session):
    return session.connection().connection.dbapi_connection.cursor()


def is_postgresql(session):
    return session.get_bind().dialect.name == "postgresql"


def insert_new(session, table, rows, key):
    """Insert rows (dicts with the same keys) unless a row with the same
    ``key`` exists; returns {key value: new id} of the rows written."""
    if not rows:
        return {}
    columns = list(rows[0])
    if is_postgresql(session):
        staging = f"sijill_import_{table.name}"
        cols = ", ".join(columns)
        cur = _cursor(session)
        cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {staging} ON COMMIT DELETE ROWS AS "
                    f"SELECT {cols} FROM {table.name} WITH NO DATA")
        cur.execute(f"TRUNCATE {staging}")
        _copy(cur, staging, columns, rows)
        cur.execute(f"INSERT INTO {table.name} ({cols}) SELECT {cols} FROM {staging} "
                    f"ON CONFLICT ({key}) DO NOTHING RETURNING {key}, id")
        written = dict(cur.fetchall())
        cur.execute(f"TRUNCATE {staging}")
        cur.close()
        return written
    if session.get_bind().dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as upsert
        stmt = upsert(table).on_conflict_do_nothing(index_elements=[key])
    else:  # pragma: no cover - PostgreSQL in production, SQLite in tests
        stmt = insert(table)
    return dict(session.execute(stmt.returning(table.c[key], table.c.id), rows).all())


def insert_all(session, table, rows):
    """Plain insert of rows (dicts with the same keys), no ids returned."""
    if not rows:
        return
    if is_postgresql(session):
        cur = _cursor(session)
        _copy(cur, table.name, list(rows[0]), rows)
        cur.close()
    else:
        session.connection().execute(insert(table), rows)
