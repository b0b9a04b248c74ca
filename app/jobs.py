"""Scheduled jobs: APScheduler inside the app, the schedule in the app's
database, and a lease that makes each scheduled run happen exactly once.

* The schedule (cron triggers) lives in ``apscheduler_jobs`` through
  APScheduler's SQLAlchemyJobStore on the app's own engine, so a run missed
  while every process was down fires once when one comes back (coalesced,
  no misfire limit).
* Every gunicorn worker on every host may run a scheduler; APScheduler 3
  does not coordinate them. What makes a run single is ``job_lease``: one row
  per (job, period), claimed by an INSERT that the unique constraint lets
  only one process win (PostgreSQL makes the loser wait for the winner's
  commit, then refuses it). A failed run is re-claimed by one UPDATE …
  WHERE state = 'failed' AND retry_at <= now: again only one process wins.
* Every run is written to ``job_run`` (job, period, start, end, rows,
  outcome, error) on its own connection, so a failure is kept even though
  the job's own work rolls back. Failed runs are retried with exponential
  backoff by a small sweep each scheduler runs; a run left "running" by a
  process that died is taken over once its lease time has passed.

Jobs register with ``@job(...)``; a job is ``func(period, **options) -> rows``
run in an app context with the session unscoped (no request).
"""
import atexit
import datetime
import logging
import os
import socket
import traceback
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from flask import current_app
from flask_appbuilder import Model
from flask_babel import lazy_gettext as _
from sqlalchemy import (
    Column, DateTime, Float, Integer, LargeBinary, String, Table, Text, Unicode, UniqueConstraint, and_,
    insert, or_, select, update,
)
from sqlalchemy.exc import IntegrityError

from .extensions import db
from .models import label

log = logging.getLogger(__name__)

SCHEDULED, MANUAL, CLI = "scheduled", "manual", "cli"
RUNNING, SUCCESS, FAILED, DONE = "running", "success", "failed", "done"
OUTCOME_LABELS = {RUNNING: _("Running"), SUCCESS: _("Succeeded"), FAILED: _("Failed")}
TRIGGER_LABELS = {SCHEDULED: _("Scheduled"), MANUAL: _("By hand (web)"), CLI: _("Command line")}


# --- Tables -------------------------------------------------------------------------
class JobRun(Model):
    """One run of a job: the history admins read."""

    __tablename__ = "job_run"
    id = Column(Integer, primary_key=True)
    job = Column(String(40), nullable=False, index=True, info=label(_("Job")))
    period = Column(String(10), nullable=False, info=label(_("Period")))
    trigger = Column(String(10), nullable=False, default=SCHEDULED, info=label(_("Trigger")))
    attempt = Column(Integer, nullable=False, default=1, info=label(_("Attempt")))
    started_at = Column(DateTime, nullable=False, index=True, info=label(_("Started at")))
    finished_at = Column(DateTime, nullable=True, info=label(_("Finished at")))
    rows = Column(Integer, nullable=True, info=label(_("Rows touched")))
    outcome = Column(String(10), nullable=False, default=RUNNING, info=label(_("Outcome")))
    error = Column(Text, nullable=True, info=label(_("Error")))
    host = Column(String(100), nullable=True, info=label(_("Host and process")))
    username = Column(String(100), nullable=True, info=label(_("Started by")))

    def __str__(self):
        return f"{self.job} {self.period} #{self.id}"

    def job_label(self):
        spec = JOBS.get(self.job)
        return spec.label if spec else self.job

    def outcome_label(self):
        return OUTCOME_LABELS.get(self.outcome, self.outcome)

    def trigger_label(self):
        return TRIGGER_LABELS.get(self.trigger, self.trigger)

    def duration(self):
        if not self.finished_at:
            return ""
        return f"{(self.finished_at - self.started_at).total_seconds():.1f}"


class JobLease(Model):
    """The claim on one scheduled run: (job, period) is unique."""

    __tablename__ = "job_lease"
    id = Column(Integer, primary_key=True)
    job = Column(String(40), nullable=False)
    period = Column(String(10), nullable=False)
    state = Column(String(10), nullable=False)  # running / done / failed
    holder = Column(String(100), nullable=False)
    attempts = Column(Integer, nullable=False, default=1)
    leased_until = Column(DateTime, nullable=False)
    retry_at = Column(DateTime, nullable=True)
    updated_at = Column(DateTime, nullable=False)
    __table_args__ = (UniqueConstraint("job", "period", name="uq_job_lease"),)


# APScheduler's job store table, declared here (as APScheduler defines it) so
# that the migrations own it like every other table; the store itself builds
# its own Table object for the same database table.
JOBSTORE_TABLE = "apscheduler_jobs"
apscheduler_jobs = Table(
    JOBSTORE_TABLE, Model.metadata,
    Column("id", Unicode(191), primary_key=True),
    Column("next_run_time", Float(25), index=True),
    Column("job_state", LargeBinary, nullable=False),
)


# --- Registry -----------------------------------------------------------------------
@dataclass
class JobSpec:
    name: str
    label: object
    func: object
    cron_setting: str  # config key holding the crontab line
    period_of: object  # local date → period key of the run due then


JOBS = {}


def job(name, label_text, cron_setting, period_of):
    def register(func):
        JOBS[name] = JobSpec(name, label_text, func, cron_setting, period_of)
        return func
    return register


def _previous_month_key(day):
    from .stats import month_key, previous_month
    return month_key(previous_month(day))


@job("monthly_stats", _("Monthly statistics"), "JOB_MONTHLY_STATS_CRON", _previous_month_key)
def compile_statistics(period, directorate_ids=None, include_locked=False):
    from . import stats
    return stats.compile_month(db.session, period, directorate_ids, include_locked).rows


@job("expire_due", _("Daily expiry"), "JOB_EXPIRE_CRON", lambda day: day.isoformat())
def expire_documents(period):
    from . import workflow
    return workflow.expire_due(db.session, datetime.date.fromisoformat(period))


# --- Clock and identity ---------------------------------------------------------------
def utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def local_today():
    """Today in the ministry's time zone (periods are local: the 1st in Cairo)."""
    return datetime.datetime.now(ZoneInfo(current_app.config.get("SCHEDULER_TIMEZONE", "Africa/Cairo"))).date()


def holder_name():
    return f"{socket.gethostname()}:{os.getpid()}"[:100]


def _setting(name, default):
    return current_app.config.get(name, default)


def backoff(attempts):
    """Minutes before retry n+1: base, 2×base, 4×base…"""
    return _setting("JOB_RETRY_MINUTES", 5) * 2 ** max(attempts - 1, 0)


# --- Lease ----------------------------------------------------------------------------
def claim(engine, name, period, now=None):
    """The attempt number if this process now holds the run of (name,
    period), else None (someone else runs or ran it, or a retry is not due)."""
    now = now or utcnow()
    t = JobLease.__table__
    until = now + datetime.timedelta(minutes=_setting("JOB_LEASE_MINUTES", 60))
    me = holder_name()
    try:
        with engine.begin() as conn:
            conn.execute(insert(t).values(job=name, period=period, state=RUNNING, holder=me, attempts=1,
                                          leased_until=until, updated_at=now))
        return 1
    except IntegrityError:
        pass  # the run exists: it may still be taken over below
    due = or_(
        and_(t.c.state == FAILED, t.c.retry_at <= now, t.c.attempts < _setting("JOB_MAX_ATTEMPTS", 5)),
        and_(t.c.state == RUNNING, t.c.leased_until < now),  # its holder died
    )
    this = and_(t.c.job == name, t.c.period == period)
    with engine.begin() as conn:
        taken = conn.execute(update(t).where(this, due).values(
            state=RUNNING, holder=me, attempts=t.c.attempts + 1, leased_until=until, retry_at=None,
            updated_at=now))
        if taken.rowcount != 1:
            return None
        runs = JobRun.__table__
        conn.execute(update(runs).where(runs.c.job == name, runs.c.period == period, runs.c.outcome == RUNNING)
                     .values(outcome=FAILED, finished_at=now,
                             error="abandoned: the process running it stopped before finishing"))
        return conn.execute(select(t.c.attempts).where(this)).scalar_one()


def release(engine, name, period, ok, attempts, now=None):
    now = now or utcnow()
    t = JobLease.__table__
    values = {"state": DONE, "retry_at": None} if ok else {
        "state": FAILED, "retry_at": now + datetime.timedelta(minutes=backoff(attempts))}
    with engine.begin() as conn:
        conn.execute(update(t).where(t.c.job == name, t.c.period == period, t.c.holder == holder_name())
                     .values(updated_at=now, **values))


# --- Running --------------------------------------------------------------------------
@dataclass
class Outcome:
    run_id: int
    outcome: str
    rows: object = None
    error: object = None

    @property
    def ok(self):
        return self.outcome == SUCCESS


def _record_start(engine, name, period, trigger, attempt, username):
    with engine.begin() as conn:
        result = conn.execute(insert(JobRun.__table__).values(
            job=name, period=period, trigger=trigger, attempt=attempt, started_at=utcnow(), outcome=RUNNING,
            host=holder_name(), username=username))
        return result.inserted_primary_key[0]


def _record_end(engine, run_id, outcome, rows=None, error=None):
    with engine.begin() as conn:
        conn.execute(update(JobRun.__table__).where(JobRun.__table__.c.id == run_id).values(
            finished_at=utcnow(), outcome=outcome, rows=rows, error=error))


def run(name, period=None, trigger=SCHEDULED, username=None, **options):
    """Run a job for a period in the current app context and record it.

    A scheduled run first claims the lease and returns None when another
    process has it; a run by hand (web, CLI) always runs — an admin asked
    for it — and a success settles a failed scheduled run of that period."""
    spec = JOBS[name]
    period = period or spec.period_of(local_today())
    engine = db.engine
    attempt = 1
    if trigger == SCHEDULED:
        attempt = claim(engine, name, period)
        if attempt is None:
            log.info("job %s %s: already run, or running elsewhere; skipped here", name, period)
            return None
    run_id = _record_start(engine, name, period, trigger, attempt, username)
    try:
        rows = spec.func(period, **options)
        db.session.commit()
    except Exception as exc:  # a job's failure is recorded, never lost
        db.session.rollback()
        error = f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc(limit=8)}"[:8000]
        log.exception("job %s %s failed (attempt %s)", name, period, attempt)
        _record_end(engine, run_id, FAILED, error=error)
        if trigger == SCHEDULED:
            release(engine, name, period, False, attempt)
        return Outcome(run_id, FAILED, error=error)
    _record_end(engine, run_id, SUCCESS, rows=rows)
    if trigger == SCHEDULED:
        release(engine, name, period, True, attempt)
    else:
        _settle_failed_lease(engine, name, period)
    log.info("job %s %s: %s rows", name, period, rows)
    return Outcome(run_id, SUCCESS, rows=rows)


def _settle_failed_lease(engine, name, period):
    t = JobLease.__table__
    with engine.begin() as conn:
        conn.execute(update(t).where(t.c.job == name, t.c.period == period, t.c.state == FAILED)
                     .values(state=DONE, retry_at=None, updated_at=utcnow()))


def due_retries(engine, now=None):
    """(job, period) of failed runs whose retry is due and of runs whose
    process died (lease time passed)."""
    now = now or utcnow()
    t = JobLease.__table__
    query = select(t.c.job, t.c.period).where(or_(
        and_(t.c.state == FAILED, t.c.retry_at <= now, t.c.attempts < _setting("JOB_MAX_ATTEMPTS", 5)),
        and_(t.c.state == RUNNING, t.c.leased_until < now)))
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(query)]


def retry_due():
    """Retry every due run (each is claimed, so one process retries it)."""
    done = []
    for name, period in due_retries(db.engine):
        if name in JOBS:
            done.append(run(name, period))
    return done


def failing(session):
    """Jobs whose latest finished run failed: [(JobRun, lease or None)].
    The dashboard shows them as warnings until a later run succeeds."""
    warnings = []
    for name in JOBS:
        latest = session.scalars(
            select(JobRun).where(JobRun.job == name, JobRun.outcome.in_((SUCCESS, FAILED)))
            .order_by(JobRun.id.desc()).limit(1)).first()
        if latest is not None and latest.outcome == FAILED:
            lease = session.scalars(select(JobLease).where(JobLease.job == name,
                                                           JobLease.period == latest.period)).first()
            warnings.append((latest, lease))
    return warnings


# --- Scheduler ------------------------------------------------------------------------
_app = None
_scheduler = None


def fire(name, period=None):
    """What the stored schedule calls (by reference, so it survives restarts)."""
    with _app.app_context():
        return run(name, period)


def _sweep():
    with _app.app_context():
        retry_due()


def _serving():
    """True in a server process. Flask's CLI sets FLASK_RUN_FROM_CLI for
    every command; a short-lived command (init, stats…) must not run jobs,
    only `flask run` serves."""
    if os.environ.get("FLASK_RUN_FROM_CLI") != "true":
        return True
    import click
    ctx = click.get_current_context(silent=True)
    return ctx is not None and ctx.command.name == "run"


def init_scheduler(app):
    """Start the scheduler when SCHEDULER_ENABLED and this process serves."""
    if not app.config.get("SCHEDULER_ENABLED") or not _serving():
        return None
    return start_scheduler(app)


def start_scheduler(app, paused=False):
    global _app, _scheduler
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.jobstores.memory import MemoryJobStore
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.cron import CronTrigger
    _app = app
    zone = ZoneInfo(app.config.get("SCHEDULER_TIMEZONE", "Africa/Cairo"))
    with app.app_context():
        engine = db.engine
    scheduler = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=engine, tablename=JOBSTORE_TABLE),
                   "local": MemoryJobStore()},
        executors={"default": ThreadPoolExecutor(1)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        timezone=zone,
    )
    scheduler.start(paused=True)
    for spec in JOBS.values():
        trigger = CronTrigger.from_crontab(app.config[spec.cron_setting], timezone=zone)
        stored = scheduler.get_job(spec.name, jobstore="default")
        # Re-adding an unchanged job would move its next run past a missed
        # one: only a new or changed schedule is written.
        if stored is None or repr(stored.trigger) != repr(trigger):
            scheduler.add_job(fire, trigger, args=[spec.name], id=spec.name, name=str(spec.label),
                              jobstore="default", replace_existing=True)
    scheduler.add_job(_sweep, "interval", minutes=app.config.get("JOB_SWEEP_MINUTES", 5), id="retry_sweep",
                      jobstore="local", replace_existing=True)
    if not paused:
        scheduler.resume()
    _scheduler = scheduler
    atexit.register(lambda: scheduler.shutdown(wait=False) if scheduler.running else None)
    log.info("scheduler started: %s", ", ".join(JOBS))
    return scheduler
