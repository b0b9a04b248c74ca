"""What the REST API keeps between requests: idempotency keys and the
per-client rate-limit counters.

Both live in the database, not in a process: gunicorn runs several workers
(and maybe several hosts), and a retry or the next request of a client may
land on any of them. One small row per key or per client-minute is cheap next
to the application it protects.
"""
import datetime
import hashlib
import json

from flask_appbuilder import Model
from sqlalchemy import Column, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint, delete, select
from sqlalchemy.dialects import postgresql, sqlite


class IdempotencyKey(Model):
    """One POST of one client under one ``Idempotency-Key``, with the answer
    it got. The unique (client, key) makes concurrent duplicates wait for
    the first and then fail their insert: only one application is made."""

    __tablename__ = "idempotency_key"
    id = Column(Integer, primary_key=True)
    client = Column(String(64), nullable=False)
    key = Column(String(200), nullable=False)
    request_hash = Column(String(64), nullable=False)
    user_id = Column(Integer, ForeignKey("ab_user.id"), nullable=True)
    response_status = Column(Integer, nullable=True)
    response_body = Column(Text, nullable=True)
    created_at = Column(DateTime, nullable=False, default=datetime.datetime.utcnow, index=True)
    __table_args__ = (UniqueConstraint("client", "key", name="uq_idempotency_client_key"),)


class ApiRateWindow(Model):
    """Requests of one client in one fixed minute (``window`` = epoch minute)."""

    __tablename__ = "api_rate_window"
    id = Column(Integer, primary_key=True)
    client = Column(String(64), nullable=False)
    window = Column(Integer, nullable=False, index=True)
    count = Column(Integer, nullable=False, default=0)
    __table_args__ = (UniqueConstraint("client", "window", name="uq_api_rate_client_window"),)


def request_hash(method, path, body):
    """Same request = same method, path and JSON body (key order ignored)."""
    try:
        canonical = json.dumps(json.loads(body or b"null"), sort_keys=True, ensure_ascii=False)
    except ValueError:
        canonical = (body or b"").decode("utf-8", "replace")
    return hashlib.sha256(f"{method} {path}\n{canonical}".encode()).hexdigest()


def find_key(session, client, key):
    return session.execute(select(IdempotencyKey).where(
        IdempotencyKey.client == client, IdempotencyKey.key == key)).scalar_one_or_none()


def hit(engine, client, now=None):
    """Count one request of client in the current minute and return
    (count so far, seconds until the window ends). Committed on its own
    connection: a request that later rolls back still counted."""
    now = now or datetime.datetime.utcnow()
    epoch = int(now.replace(tzinfo=datetime.timezone.utc).timestamp())
    window, left = divmod(epoch, 60)
    dialect = engine.dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = ApiRateWindow.__table__
    stmt = insert(table).values(client=client, window=window, count=1)
    stmt = stmt.on_conflict_do_update(index_elements=["client", "window"],
                                      set_={"count": table.c.count + 1}).returning(table.c.count)
    with engine.begin() as conn:
        count = conn.execute(stmt).scalar_one()
        if count == 1 and window % 10 == 0:
            # a new window now and then: forget the windows of an hour ago
            conn.execute(delete(table).where(table.c.window < window - 60))
    return count, 60 - left
