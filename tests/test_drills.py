"""Failure drills on PostgreSQL (issue 11). Each prints its result.

(a) a connection dropped mid-request; (b) SIGKILL mid-statistics run (the
import one is tests/test_imports.py::test_sigkill_mid_import_leaves_consistent_checkpoint);
(c) two schedulers: tests/test_jobs.py::test_two_processes_fire_the_same_run_and_it_runs_once;
(d) PostgreSQL restart under concurrent writers (a private cluster on port
55432, never the shared server); (e) pg_dump + restore into a fresh database.
"""
import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from app import stats
from app.extensions import db
from app.models import Citizen
from app.scope import Scope, acting_as
from tests import factories as f
from tests.conftest import PASSWORD, login

ROOT = Path(__file__).resolve().parent.parent
URL = os.environ.get("TEST_DATABASE_URL", "")
pytestmark = [pytest.mark.postgres,
              pytest.mark.skipif(not URL.startswith("postgresql"),
                                 reason="failure drills need PostgreSQL (set TEST_DATABASE_URL)")]


def _admin_engine():
    return create_engine(URL, isolation_level="AUTOCOMMIT")


# --- (a) the connection drops mid-request ------------------------------------------------
def test_connection_dropped_mid_request_fails_cleanly_and_next_succeeds(app, ctx):
    client = login(app, "admin")
    assert client.get("/citizenview/list/").status_code == 200
    locker = create_engine(URL).connect()
    tx = locker.begin()
    locker.execute(text("LOCK TABLE citizen IN ACCESS EXCLUSIVE MODE"))  # the list's query waits here
    result = {}

    def request():
        started = time.monotonic()
        r = client.get("/citizenview/list/")
        result.update(status=r.status_code, body=r.get_data(as_text=True), seconds=time.monotonic() - started)

    worker = threading.Thread(target=request)
    worker.start()
    with _admin_engine().connect() as admin:
        pid = None
        for _ in range(100):
            pid = admin.scalar(text("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                    "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid() LIMIT 1"))
            if pid:
                break
            time.sleep(0.1)
        assert pid, "the request never reached the database"
        admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    worker.join(timeout=30)
    tx.rollback()
    locker.close()
    assert not worker.is_alive(), "the request hung after its connection was dropped"
    assert result["status"] == 503 and "تعذر الوصول إلى قاعدة البيانات" in result["body"]
    after = client.get("/citizenview/list/")
    assert after.status_code == 200
    print(f"\nDRILL (a) connection dropped: that request answered {result['status']} in "
          f"{result['seconds']:.1f} s; the next {after.status_code}")


# --- (b) SIGKILL in the middle of a statistics run ------------------------------------------
STATS_WORKER = r"""
import sys, time
from app import create_app, stats
from app.extensions import db
app = create_app()
with app.app_context():
    result = stats.compile_month(db.session, sys.argv[1])
    db.session.flush()
    open(sys.argv[2], "w").write(str(result.rows))  # the rows are written, not committed
    time.sleep(120)
    db.session.commit()
"""


def _month_rows(month):
    db.session.rollback()
    return sorted(db.session.execute(select(stats.MonthlyStat.directorate_id, stats.MonthlyStat.count)
                                     .where(stats.MonthlyStat.month == month)).all())


def test_sigkill_mid_statistics_leaves_no_partial_rows_and_rerun_completes(app, ctx, tmp_path):
    from tests.test_stats import fresh_month, generate
    month = fresh_month(datetime.date(2014, 6, 1))
    generate(month, seed=14, citizens=20)
    with acting_as(Scope()):
        stats.compile_month(db.session, month)
        db.session.commit()
        before = _month_rows(month)
        assert before, "the month has statistics to lose"
    marker = tmp_path / "written"
    env = dict(os.environ, DATABASE_URL=URL, SIJILL_INSTANCE_DIR=str(tmp_path), SECRET_KEY="test-secret-key",
               SCHEDULER_ENABLED="0", PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-c", STATS_WORKER, "2014-06", str(marker)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not marker.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
    assert marker.exists(), proc.stderr.read()[-2000:] if proc.poll() is not None else "worker too slow"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with acting_as(Scope()):
        assert _month_rows(month) == before, "the killed run left partial statistics"
        stats.compile_month(db.session, month)  # the re-run
        db.session.commit()
        after = _month_rows(month)
        again = stats.compile_month(db.session, month)
        db.session.commit()
        assert _month_rows(month) == after  # a re-run is idempotent
    print(f"\nDRILL (b) SIGKILL mid-statistics: rows after the kill identical to before ({len(before)}); "
          f"re-run compiled {again.rows} rows")


# --- (e) backup and restore -------------------------------------------------------------
RESTORED_APP = r"""
import json, sys
from app import create_app
app = create_app(WTF_CSRF_ENABLED=False)
client = app.test_client()
r = client.post("/login/", data={"username": "admin", "password": sys.argv[1]})
listing = client.get("/citizenview/list/")
print(json.dumps({"login": r.status_code, "list": listing.status_code}))
"""


def _counts(url):
    engine = create_engine(url)
    with engine.connect() as conn:
        tables = conn.scalars(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")).all()
        counts = {t: conn.scalar(text(f'SELECT count(*) FROM "{t}"')) for t in tables}
    engine.dispose()
    return counts


@pytest.mark.skipif(not shutil.which("pg_dump") or not shutil.which("pg_restore"), reason="needs pg_dump")
def test_backup_and_restore_gives_identical_counts_and_a_working_app(app, ctx, tmp_path):
    for _ in range(5):
        f.certificate(f.citizen())  # a populated database, whatever ran before
    url = make_url(URL)
    restored = url.set(database=f"{url.database}_restored")
    with _admin_engine().connect() as admin:
        admin.execute(text(f'DROP DATABASE IF EXISTS "{restored.database}"'))
        admin.execute(text(f'CREATE DATABASE "{restored.database}"'))
    libpq = url.set(drivername="postgresql").render_as_string(hide_password=False)
    dump = tmp_path / "sijill.dump"
    subprocess.run(["pg_dump", "-Fc", "-d", libpq, "-f", str(dump)], check=True, timeout=300)
    subprocess.run(["pg_restore", "--no-owner", "-j", "2", "-d",
                    restored.set(drivername="postgresql").render_as_string(hide_password=False), str(dump)],
                   check=True, timeout=300)
    original, copy = _counts(URL), _counts(restored.render_as_string(hide_password=False))
    assert original == copy and original["citizen"] > 0
    env = dict(os.environ, DATABASE_URL=restored.render_as_string(hide_password=False),
               SIJILL_INSTANCE_DIR=str(tmp_path), SECRET_KEY="test-secret-key", SCHEDULER_ENABLED="0",
               PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-c", RESTORED_APP, PASSWORD], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-2000:]
    outcome = json.loads(r.stdout.strip().splitlines()[-1])
    assert outcome == {"login": 302, "list": 200}
    with _admin_engine().connect() as admin:
        admin.execute(text(f'DROP DATABASE IF EXISTS "{restored.database}" WITH (FORCE)'))
    print(f"\nDRILL (e) backup/restore: {len(original)} tables, {sum(original.values())} rows, counts identical; "
          f"restored app login {outcome['login']}, list {outcome['list']}")


# --- (d) PostgreSQL restarts under concurrent writers -------------------------------------------
LOAD = r"""
import json, sys, threading, time, datetime
from app import create_app, seed
from app.cli import init
from app.extensions import db
from app.national_id import make_national_id
mode, password, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
app = create_app(WTF_CSRF_ENABLED=False, RATELIMIT_ENABLED=False)
if mode == "init":
    with app.app_context():
        assert app.test_cli_runner().invoke(init, []).exit_code == 0
        seed.create_demo_users(password)
    sys.exit(0)
results, lock = [], threading.Lock()

def writer(n):
    client = app.test_client()
    assert client.post("/login/", data={"username": "cairo_clerk", "password": password}).status_code == 302
    i, end = 0, time.time() + seconds
    while time.time() < end:
        i += 1
        nid = make_national_id(datetime.date(1960, 1, 1) + datetime.timedelta(days=n * 1000 + i), "01", n * 7919 + i, "M")
        started = time.time()
        try:
            status = client.post("/citizenview/add", data={"national_id": nid, "full_name": "محمد أحمد علي حسن"}).status_code
        except Exception as exc:
            status = repr(exc)[:80]
        if status == 500:
            print("500 at", time.time(), file=sys.stderr)
        with lock:
            results.append({"t": started, "done": time.time(), "status": status, "nid": nid})
        time.sleep(0.02)

threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps(results))
"""


def _free_port():
    """A port nobody listens on now: a fixed one was taken by a drill cluster of another
    run on the same machine (CI runs beside the session), and the start failed."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin():
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


@pytest.fixture()
def private_cluster(tmp_path_factory):
    """A PostgreSQL of its own on a free port (the shared 5432 is never touched),
    run as the postgres user when the tests run as root; stopped at the end."""
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("needs initdb/pg_ctl under /usr/lib/postgresql/*/bin")
    base = Path(tempfile.mkdtemp(prefix="pgdrill-"))
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    as_root = os.geteuid() == 0
    if as_root:
        shutil.chown(base, "postgres")
        shutil.chown(sock, "postgres")

    def pg(*args):
        cmd = " ".join(str(a) for a in args)
        full = ["su", "postgres", "-s", "/bin/bash", "-c", cmd] if as_root else ["bash", "-c", cmd]
        return subprocess.run(full, capture_output=True, text=True, timeout=120)

    r = pg(bindir / "initdb", "-D", data, "-A", "trust", "-U", "postgres")
    if r.returncode:
        pytest.skip(f"initdb failed: {r.stderr[-300:]}")
    ctl = lambda action, *extra: pg(bindir / "pg_ctl", "-D", data, "-w", "-l", base / "log", *extra, action)  # noqa: E731
    port = _free_port()
    opts = f'"-p {port} -k {sock} -c listen_addresses=127.0.0.1"'
    r = ctl("start", "-o", opts)
    log = (base / "log").read_text(errors="replace") if (base / "log").exists() else ""
    assert r.returncode == 0, r.stderr + r.stdout + log[-2000:]
    subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-qc",
                    "CREATE DATABASE sijill"], check=True)
    yield {"url": f"postgresql+psycopg2://postgres@127.0.0.1:{port}/sijill", "ctl": ctl, "opts": opts}
    ctl("stop", "-m", "fast")
    shutil.rmtree(base, ignore_errors=True)


def test_postgres_restart_under_load_loses_no_committed_record(private_cluster, tmp_path):
    env = dict(os.environ, DATABASE_URL=private_cluster["url"], SIJILL_INSTANCE_DIR=str(tmp_path),
               SECRET_KEY="test-secret-key", SCHEDULER_ENABLED="0", PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-c", LOAD, "init", PASSWORD, "0"], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    engine = create_engine(private_cluster["url"])
    with engine.connect() as conn:
        before = conn.scalar(text("SELECT count(*) FROM citizen"))
    engine.dispose()
    load = subprocess.Popen([sys.executable, "-c", LOAD, "load", PASSWORD, "14"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(5)
    down = time.time()
    stopped = private_cluster["ctl"]("stop", "-m", "fast")
    assert stopped.returncode == 0, stopped.stderr
    time.sleep(2)
    started = private_cluster["ctl"]("start", "-o", private_cluster["opts"])
    assert started.returncode == 0, started.stderr
    up = time.time()
    out, err = load.communicate(timeout=120)
    assert load.returncode == 0, err[-3000:]
    (tmp_path / "load.log").write_text(err)
    Path("/tmp/drill_load_err.log").write_text(err)
    results = json.loads(out.strip().splitlines()[-1])
    committed = [x["nid"] for x in results if x["status"] == 302]
    failed = [x for x in results if x["status"] != 302]
    engine = create_engine(private_cluster["url"])
    with engine.connect() as conn:
        after = conn.scalar(text("SELECT count(*) FROM citizen"))
        present = conn.scalar(text("SELECT count(*) FROM citizen WHERE national_id = ANY(:ids)"),
                              {"ids": committed})
    engine.dispose()
    assert committed and failed, "the load should both commit and meet the outage"
    assert present == len(committed), "a committed record was lost"
    assert after == before + len(committed)
    late = [x for x in failed if x["t"] > up + 1.0]
    early = [x for x in failed if x["done"] < down - 0.5]
    assert not late and not early, f"errors outside the outage: {(late + early)[:3]}"
    assert all(x["status"] == 503 for x in failed), ({str(x["status"]) for x in failed}, err[-3000:])
    after_up = [x for x in results if x["t"] > up + 1.0]
    assert after_up and all(x["status"] == 302 for x in after_up)
    print(f"\nDRILL (d) PostgreSQL restart under 6 writers: {len(results)} requests, {len(committed)} committed, "
          f"{len(failed)} failed (all 503, all while down for {up - down:.1f} s); citizens {before} -> {after}, "
          f"none lost; {len(after_up)} requests after restart all succeeded")
