"""Scheduled jobs: every run recorded, failures retried and shown until a run
succeeds, one run per period even across processes, the schedule in the
database, and the daily expiry with its list of what expires soon."""
import csv
import datetime
import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import delete, func, insert, select, update

from app import jobs, stats
from app.extensions import db
from app.models import CRAFT, EXPIRED, ISSUED, SKILL, AuditLog, Certificate, Permit
from tests import factories as f
from tests.test_stats import establishment, expected_cells, fresh_month, generate, permit, person

ROOT = Path(__file__).resolve().parent.parent
ON_POSTGRES = os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql")


def fresh_period():
    """A period key no run on this database has used (PostgreSQL test databases may be kept)."""
    n = 0
    while True:
        n += 1
        period = f"t{os.getpid() % 100000:05d}-{n:03d}"
        if db.session.scalar(select(func.count(jobs.JobRun.id)).where(jobs.JobRun.period == period)) == 0:
            return period


def runs_of(name, period):
    return db.session.scalars(select(jobs.JobRun).where(jobs.JobRun.job == name, jobs.JobRun.period == period)
                              .order_by(jobs.JobRun.id)).all()


def lease_of(name, period):
    db.session.expire_all()
    return db.session.scalar(select(jobs.JobLease).where(jobs.JobLease.job == name, jobs.JobLease.period == period))


@pytest.fixture()
def flaky(app, ctx, monkeypatch):
    """A job that fails while `state["fail"]` is true."""
    state = {"fail": True, "calls": 0}
    # leftovers of an earlier run on a kept database must not be retried here
    db.session.execute(update(jobs.JobLease).where(jobs.JobLease.job == "flaky").values(state="done"))
    db.session.commit()

    def work(period):
        state["calls"] += 1
        if state["fail"]:
            raise RuntimeError("the database replica is unreachable")
        return 7
    monkeypatch.setitem(jobs.JOBS, "flaky", jobs.JobSpec("flaky", "Flaky job", work, "JOB_EXPIRE_CRON",
                                                         lambda day: day.isoformat()))
    return state


# --- recording, lease, retries ---------------------------------------------------------
def test_a_run_is_recorded_and_a_period_runs_once(app, ctx):
    period = stats.month_key(fresh_month(datetime.date(2012, 1, 1)))
    outcome = jobs.run("monthly_stats", period)
    assert outcome.ok
    again = jobs.run("monthly_stats", period)  # a second worker firing the same run
    assert again is None
    [run] = runs_of("monthly_stats", period)
    assert (run.outcome, run.trigger, run.attempt, run.rows) == ("success", "scheduled", 1, outcome.rows)
    assert run.started_at <= run.finished_at and run.host and run.error is None
    assert lease_of("monthly_stats", period).state == "done"


def test_a_failure_is_recorded_retried_with_backoff_and_warned_until_a_success(app, ctx, as_user, flaky):
    period = fresh_period()
    outcome = jobs.run("flaky", period)
    assert not outcome.ok and "replica is unreachable" in outcome.error
    [run] = runs_of("flaky", period)
    assert run.outcome == "failed" and "RuntimeError: the database replica is unreachable" in run.error
    lease = lease_of("flaky", period)
    assert lease.state == "failed" and lease.retry_at - lease.updated_at == datetime.timedelta(minutes=5)

    html = as_user("cairo_manager").get("/statistics/").get_data(as_text=True)
    assert f"فشلت المهمة «Flaky job» عن الفترة {period}" in html  # "The job … failed for …"
    # not due yet: the sweep leaves it; a second scheduled firing does not run it either
    assert ("flaky", period) not in jobs.due_retries(db.engine)
    assert jobs.run("flaky", period) is None and flaky["calls"] == 1

    # due: the sweep retries, it fails again and waits twice as long
    db.session.execute(update(jobs.JobLease).where(jobs.JobLease.job == "flaky", jobs.JobLease.period == period)
                       .values(retry_at=datetime.datetime(2000, 1, 1)))
    db.session.commit()
    assert [o.outcome for o in jobs.retry_due() if o] == ["failed"]
    lease = lease_of("flaky", period)
    assert lease.attempts == 2 and lease.retry_at - lease.updated_at == datetime.timedelta(minutes=10)
    assert [r.attempt for r in runs_of("flaky", period)] == [1, 2]

    # the cause is gone: the next retry succeeds and the warning disappears
    flaky["fail"] = False
    db.session.execute(update(jobs.JobLease).where(jobs.JobLease.job == "flaky", jobs.JobLease.period == period)
                       .values(retry_at=datetime.datetime(2000, 1, 1)))
    db.session.commit()
    assert [o.outcome for o in jobs.retry_due() if o] == ["success"]
    assert lease_of("flaky", period).state == "done"
    html = as_user("cairo_manager").get("/statistics/").get_data(as_text=True)
    assert "Flaky job" not in html


def test_retries_stop_after_the_last_attempt(app, ctx, flaky, monkeypatch):
    monkeypatch.setitem(app.config, "JOB_MAX_ATTEMPTS", 2)
    period = fresh_period()
    jobs.run("flaky", period)
    for _ in range(3):
        db.session.execute(update(jobs.JobLease).where(jobs.JobLease.job == "flaky", jobs.JobLease.period == period)
                           .values(retry_at=datetime.datetime(2000, 1, 1)))
        db.session.commit()
        jobs.retry_due()
    assert flaky["calls"] == 2 and lease_of("flaky", period).state == "failed"


def test_a_run_whose_process_died_is_taken_over(app, ctx):
    period = stats.month_key(fresh_month(datetime.date(2012, 4, 1)))
    now = jobs.utcnow()
    db.session.execute(insert(jobs.JobLease).values(
        job="monthly_stats", period=period, state="running", holder="deadhost:1", attempts=1,
        leased_until=now - datetime.timedelta(minutes=1), updated_at=now - datetime.timedelta(hours=2)))
    db.session.execute(insert(jobs.JobRun).values(job="monthly_stats", period=period, trigger="scheduled", attempt=1,
                                                  started_at=now - datetime.timedelta(hours=2), outcome="running",
                                                  host="deadhost:1"))
    db.session.commit()
    assert ("monthly_stats", period) in jobs.due_retries(db.engine)
    assert jobs.run("monthly_stats", period).ok
    dead, taken = runs_of("monthly_stats", period)
    assert dead.outcome == "failed" and "abandoned" in dead.error
    assert taken.outcome == "success" and taken.attempt == 2


def test_admins_read_the_history_and_can_run_a_failed_job_again(app, ctx, as_user, flaky):
    period = fresh_period()
    jobs.run("flaky", period)
    admin = as_user("admin")
    listing = admin.get("/jobrunview/list/").get_data(as_text=True)
    assert "Flaky job" in listing and period in listing
    assert as_user("cairo_manager").get("/jobrunview/list/").status_code == 403
    assert as_user("cairo_manager").post("/statistics/rerun", data={"job": "flaky", "period": period}).status_code == 403
    flaky["fail"] = False
    assert admin.post("/statistics/rerun", data={"job": "flaky", "period": period}).status_code == 302
    last = runs_of("flaky", period)[-1]
    assert (last.outcome, last.trigger, last.username) == ("success", "manual", "admin")
    assert lease_of("flaky", period).state == "done"  # no retry left pending
    assert admin.post("/statistics/rerun", data={"job": "nope", "period": period}).status_code == 404


# --- the scheduler ------------------------------------------------------------------------
def test_the_schedule_is_stored_in_the_database(app, ctx):
    scheduler = jobs.start_scheduler(app, paused=True)
    try:
        stored = dict(db.session.execute(select(jobs.apscheduler_jobs.c.id, jobs.apscheduler_jobs.c.next_run_time)).all())
        assert {"monthly_stats", "expire_due"} <= set(stored)
        monthly = scheduler.get_job("monthly_stats")
        assert monthly.next_run_time.day == 1 and monthly.next_run_time.hour == 2
        assert str(monthly.next_run_time.tzinfo) == "Africa/Cairo"
    finally:
        scheduler.shutdown(wait=False)
    # another worker starting keeps the stored next run (a missed run still fires once)
    db.session.execute(update(jobs.apscheduler_jobs).where(jobs.apscheduler_jobs.c.id == "monthly_stats")
                       .values(next_run_time=stored["monthly_stats"] - 86400 * 40))
    db.session.commit()
    scheduler = jobs.start_scheduler(app, paused=True)
    try:
        assert db.session.scalar(select(jobs.apscheduler_jobs.c.next_run_time).where(
            jobs.apscheduler_jobs.c.id == "monthly_stats")) == stored["monthly_stats"] - 86400 * 40
    finally:
        scheduler.shutdown(wait=False)


def test_a_cli_command_never_starts_the_scheduler(app, monkeypatch):
    monkeypatch.setitem(app.config, "SCHEDULER_ENABLED", True)
    monkeypatch.setenv("FLASK_RUN_FROM_CLI", "true")
    assert jobs.init_scheduler(app) is None
    monkeypatch.setitem(app.config, "SCHEDULER_ENABLED", False)
    monkeypatch.delenv("FLASK_RUN_FROM_CLI")
    assert jobs.init_scheduler(app) is None


WORKER = textwrap.dedent("""
    import json, os, sys, time
    from pathlib import Path
    from app import create_app
    from app import jobs
    app = create_app()
    me, barrier, period = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    (barrier / me).touch()
    deadline = time.time() + 60
    while len(list(barrier.iterdir())) < 2 and time.time() < deadline:
        time.sleep(0.005)
    with app.app_context():
        outcome = jobs.run("monthly_stats", period)
    print(json.dumps({"ran": outcome is not None, "ok": bool(outcome and outcome.ok)}))
""")


@pytest.mark.postgres
@pytest.mark.skipif(not ON_POSTGRES, reason="SQLite is the embedded single-process database: "
                                            "several processes sharing a run only happen on PostgreSQL")
def test_two_processes_fire_the_same_run_and_it_runs_once(app, ctx, tmp_path):
    month = datetime.date(2016, 3, 1)
    month = fresh_month(month)
    generate(month, seed=16, citizens=20)
    period = stats.month_key(month)
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    env = dict(os.environ, DATABASE_URL=os.environ["TEST_DATABASE_URL"], SIJILL_INSTANCE_DIR=str(tmp_path),
               SECRET_KEY="test-secret-key", SCHEDULER_ENABLED="0", PYTHONPATH=str(ROOT))
    env.pop("FLASK_RUN_FROM_CLI", None)
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, name, str(barrier), period], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for name in ("a", "b")]
    results = []
    for worker in workers:
        out, err = worker.communicate(timeout=180)
        assert worker.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert sorted(r["ran"] for r in results) == [False, True]
    assert all(r["ok"] for r in results if r["ran"])
    db.session.expire_all()
    [run] = runs_of("monthly_stats", period)
    assert run.outcome == "success"
    assert lease_of("monthly_stats", period).attempts == 1
    compiled = sum(db.session.scalars(select(stats.MonthlyStat.count).where(stats.MonthlyStat.month == month)))
    assert compiled == sum(expected_cells(month).values()) > 0
    assert db.session.scalar(select(func.count()).select_from(AuditLog).where(
        AuditLog.action == "compile", AuditLog.detail.contains(f'"month": "{period}"'))) == 1


# --- daily expiry -----------------------------------------------------------------------
def _craft_card(code, issued, expiry):
    holder = person(code)
    f.certificate(holder, kind=SKILL, status=ISSUED, skill_level=f.level(3), issue_date=issued)
    return f.certificate(holder, kind=CRAFT, status=ISSUED, fee=100, issue_date=issued, expiry_date=expiry)


def test_daily_expiry_expires_what_ended_and_records_it(app, ctx):
    today = datetime.date.today()
    card = _craft_card("01", today - datetime.timedelta(days=400), today - datetime.timedelta(days=1))
    valid = _craft_card("01", today - datetime.timedelta(days=400), today)  # valid through today
    est = establishment("21", workers=1000)
    ended = permit(est, status=ISSUED, start_date=today - datetime.timedelta(days=200),
                      end_date=today - datetime.timedelta(days=3), issue_date=today - datetime.timedelta(days=200))
    outcome = jobs.run("expire_due", today.isoformat(), trigger=jobs.MANUAL, username="test")
    assert outcome.ok and outcome.rows >= 2
    db.session.expire_all()
    assert db.session.get(Certificate, card.id).status == EXPIRED
    assert db.session.get(Permit, ended.id).status == EXPIRED
    assert db.session.get(Certificate, valid.id).status == ISSUED
    for entity, record in (("Certificate", card.id), ("Permit", ended.id)):
        row = db.session.scalar(select(AuditLog).where(AuditLog.entity == entity, AuditLog.record_id == record,
                                                       AuditLog.action == "expire"))
        assert row is not None and row.username == "system" and '"expired"' in row.changes
    assert runs_of("expire_due", today.isoformat())[-1].rows == outcome.rows
    # a second run finds nothing left to expire
    assert jobs.run("expire_due", today.isoformat(), trigger=jobs.MANUAL).rows == 0


def test_each_directorate_sees_and_exports_its_own_expiring_list(app, ctx, as_user):
    today = datetime.date.today()
    cairo_card = _craft_card("01", today - datetime.timedelta(days=300), today + datetime.timedelta(days=10))
    giza_card = _craft_card("21", today - datetime.timedelta(days=300), today + datetime.timedelta(days=12))
    later = _craft_card("01", today - datetime.timedelta(days=300), today + datetime.timedelta(days=45))
    est = establishment("01", workers=1000)
    ending = permit(est, worker_name="=HYPERLINK(\"http://x\") Smith", status=ISSUED,
                      start_date=today - datetime.timedelta(days=300), end_date=today + datetime.timedelta(days=20),
                      issue_date=today - datetime.timedelta(days=300))

    page = as_user("cairo_clerk").get("/expiring/?directorate=21").get_data(as_text=True)
    assert f"/certificateview/show/{cairo_card.id}\"" in page and f"/permitview/show/{ending.id}\"" in page
    assert f"/certificateview/show/{giza_card.id}\"" not in page
    assert f"/certificateview/show/{later.id}\"" not in page  # beyond the 30 days
    assert as_user("cairo_clerk").get("/expiring/export/csv").status_code == 403  # clerks do not export

    body = as_user("cairo_manager").get("/expiring/export/csv").get_data()
    assert body.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    ids, names = [row[3] for row in rows[1:]], [row[2] for row in rows[1:]]
    assert cairo_card.citizen.national_id in ids and giza_card.citizen.national_id not in ids
    assert later.citizen.national_id not in ids
    assert "'=HYPERLINK(\"http://x\") Smith" in names  # a formula is neutralised
    assert db.session.scalar(select(AuditLog).where(AuditLog.action == "export", AuditLog.entity == "Expiring")
                             .order_by(AuditLog.id.desc())).username == "cairo_manager"

    admin_page = as_user("admin").get("/expiring/?directorate=21").get_data(as_text=True)
    assert f"/certificateview/show/{giza_card.id}\"" in admin_page
    assert f"/certificateview/show/{cairo_card.id}\"" not in admin_page
    xlsx = as_user("admin").get("/expiring/export/xlsx")
    assert xlsx.status_code == 200 and xlsx.data[:2] == b"PK"
