"""`flask sijill …`: set-up and maintenance commands."""
import click
from flask import current_app
from flask.cli import with_appcontext
from flask_migrate import upgrade


@click.group("sijill")
def sijill():
    """Sijill administration."""


@sijill.command("init")
@click.option("--demo/--no-demo", default=False, help="Load demo data when the database is empty.")
@click.option("--citizens", default=None, type=int, help="Demo citizens (default: DEMO_CITIZENS).")
@with_appcontext
def init(demo, citizens):
    """Migrate the schema, sync roles and permissions, load reference data;
    with --demo, demo accounts and data on first start."""
    from . import seed
    from .extensions import appbuilder
    # "heads": independent branches of migrations (one per feature) all apply
    upgrade(revision="heads")
    appbuilder.sm.ensure_builtin_roles()
    appbuilder.add_permissions(update_perms=True)
    appbuilder.sm.sync_roles()
    seed.load_reference_data()
    click.echo("schema, roles and reference data are up to date")
    if demo:
        seed.create_demo_users(current_app.config["DEMO_PASSWORD"])
        if seed.database_is_empty():
            count = citizens if citizens is not None else current_app.config["DEMO_CITIZENS"]
            click.echo(f"loading demo data ({count} citizens)…")
            seed.seed_demo(count)
            click.echo("demo data loaded")


@sijill.command("seed-demo")
@click.option("--citizens", default=200, type=int, show_default=True)
@with_appcontext
def seed_demo(citizens):
    """Add demo citizens with certificates, tests and permits in every status."""
    from . import seed
    seed.create_demo_users(current_app.config["DEMO_PASSWORD"])
    seed.seed_demo(citizens)
    click.echo(f"{citizens} demo citizens added")


@sijill.command("stats")
@click.option("--from", "first", required=True, metavar="YYYY-MM", help="First month to compile.")
@click.option("--to", "last", default=None, metavar="YYYY-MM", help="Last month (default: --from).")
@click.option("--directorate", default=None, metavar="CODE", help="One directorate (two-digit code).")
@click.option("--include-locked", is_flag=True, help="Also replace months their managers approved.")
@with_appcontext
def stats_command(first, last, directorate, include_locked):
    """Compile (or re-compile) the monthly statistics of a range of months."""
    from . import jobs, stats
    from .extensions import db
    from .models import Directorate
    from sqlalchemy import select
    try:
        first_month = stats.parse_month(first)
        last_month = stats.parse_month(last) if last else first_month
    except ValueError as exc:
        raise click.BadParameter(str(exc))
    if last_month < first_month:
        raise click.BadParameter("--to comes before --from")
    ids = None
    if directorate:
        found = db.session.scalar(select(Directorate.id).where(Directorate.code == directorate))
        if found is None:
            raise click.BadParameter(f"no directorate with code {directorate}")
        ids = [found]
    failed = 0
    for month in stats.months_between(first_month, last_month):
        outcome = jobs.run("monthly_stats", stats.month_key(month), trigger=jobs.CLI,
                           directorate_ids=ids, include_locked=include_locked)
        if outcome.ok:
            click.echo(f"{stats.month_key(month)}: {outcome.rows} rows")
        else:
            failed += 1
            click.echo(f"{stats.month_key(month)}: FAILED {outcome.error.splitlines()[0]}", err=True)
    if failed:
        raise SystemExit(1)


@sijill.command("job")
@click.argument("name")
@click.option("--period", default=None, help="Period key (YYYY-MM or YYYY-MM-DD); default: the one due now.")
@with_appcontext
def job_command(name, period):
    """Run one scheduled job now, by hand (recorded in the jobs' history)."""
    from . import jobs
    if name not in jobs.JOBS:
        raise click.BadParameter(f"unknown job {name}; jobs: {', '.join(jobs.JOBS)}")
    outcome = jobs.run(name, period, trigger=jobs.CLI)
    if not outcome.ok:
        click.echo(outcome.error, err=True)
        raise SystemExit(1)
    click.echo(f"{name}: {outcome.rows} rows")



@sijill.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--kind", required=True, type=click.Choice(["citizens", "registration", "skill", "craft", "permits"]),
              help="What the file holds (app/import_kinds.py).")
@click.option("--directorate", default=None, metavar="CODE",
              help="Directorate (two-digit code) the rows go to; default: the --user's.")
@click.option("--user", "username", default=None, help="Import as this user (its scope applies).")
@click.option("--commit", is_flag=True, help="Write the rows (without it: a dry run that writes nothing).")
@click.option("--batch-size", default=None, type=int,
              help="Rows per transaction and checkpoint (0: one transaction); default IMPORT_BATCH_SIZE.")
@click.option("--report", "report_path", default=None, type=click.Path(dir_okay=False),
              help="Write the row report (row, column, message) to this CSV file.")
@with_appcontext
def import_command(file, kind, directorate, username, commit, batch_size, report_path):
    """Import a register file (CSV UTF-8/Windows-1256, or XLSX): a dry run,
    then with --commit the rows are written; a re-run resumes and never duplicates."""
    import csv
    import os
    import time
    from sqlalchemy import select
    from . import imports
    from .extensions import appbuilder, db
    from .models import Directorate
    from .scope import EVERYTHING, acting_as, scope_of_user

    user = None
    scope = EVERYTHING
    if username:
        user = appbuilder.sm.find_user(username=username)
        if user is None:
            raise click.BadParameter(f"no user {username}")
        scope = scope_of_user(user)
    with acting_as(scope):
        if directorate:
            target = db.session.scalar(select(Directorate).where(Directorate.code == directorate))
            if target is None:
                raise click.BadParameter(f"no directorate with code {directorate}")
        elif user is not None and user.directorate_id:
            target = db.session.get(Directorate, user.directorate_id)
        else:
            raise click.BadParameter("give --directorate (or --user of a directorate)")
        if scope.directorate_id and target.id != scope.directorate_id:
            raise click.BadParameter(f"{username} imports into its own directorate only")
        with open(file, "rb") as fh:
            data = fh.read()
        size = batch_size if batch_size is not None else current_app.config.get("IMPORT_BATCH_SIZE", 1000)
        from .import_jobs import expected_rows
        expected = expected_rows(data, file) or None  # rows to come, for the bar
        started = time.perf_counter()
        bar = _Progress(expected, started)
        try:
            report = imports.run(db.session, kind, data, os.path.basename(file), target, user=user,
                                 commit=commit, batch_size=size, progress=bar.update)
        except imports.ImportError_ as exc:
            raise click.ClickException(str(exc))
        bar.done()
    click.echo(f"{'committed' if commit else 'dry run'}: {report.rows_total} rows, {report.valid} valid, "
               f"{report.created} new, {report.updated} updated, {report.unchanged} unchanged, "
               f"{len(report.errors)} errors, {report.rows_per_s:.0f} rows/s"
               + (f" (resumed after row {report.resumed_from})" if report.resumed_from else ""))
    for error in report.errors[:20]:
        click.echo(f"  row {error.row}, {error.column}: {error.message}")
    if report_path:
        with open(report_path, "w", newline="", encoding="utf-8-sig") as out:
            writer = csv.writer(out)
            writer.writerow(["row", "column", "message"])
            for error in report.errors:
                writer.writerow([error.row, error.column, error.message])


class _Progress:
    """A one-line progress bar on stderr: rows, rate and time left."""

    def __init__(self, expected, started):
        self.expected, self.started = expected, started

    def update(self, rows):
        import time
        elapsed = max(time.perf_counter() - self.started, 1e-6)
        rate = rows / elapsed
        if self.expected:
            share = min(rows / self.expected, 1.0)
            left = (self.expected - rows) / rate if rate else 0
            bar = "#" * int(share * 30)
            click.echo(f"\r[{bar:<30}] {rows}/{self.expected} {rate:.0f} rows/s, {left:.0f}s left",
                       nl=False, err=True)
        else:
            click.echo(f"\r{rows} rows {rate:.0f} rows/s", nl=False, err=True)

    def done(self):
        click.echo("", err=True)


@sijill.group("api-key")
def api_key():
    """API keys of service accounts (the national portal). Only a hash is stored."""


@api_key.command("create")
@click.option("--user", "username", required=True, help="The account the key acts as (e.g. portal).")
@click.option("--name", default=None, help="What the key is for (default: <user>-<date>).")
@with_appcontext
def api_key_create(username, name):
    """Create a key and print it once: it cannot be shown again."""
    import datetime
    from .extensions import appbuilder
    sm = appbuilder.sm
    user = sm.find_user(username=username)
    if user is None:
        raise click.BadParameter(f"no user {username}")
    info = sm.create_api_key(user, name or f"{username}-{datetime.date.today().isoformat()}")
    if info is None:
        raise click.ClickException("the key could not be created")
    click.echo(f"uuid: {info['uuid']}")
    click.echo(f"key:  {info['key']}")
    click.echo("Store the key now: only its hash is kept. Revoke with: flask sijill api-key revoke <uuid>")


@api_key.command("list")
@click.option("--user", "username", required=True)
@with_appcontext
def api_key_list(username):
    """The keys of an account (never the keys themselves)."""
    from .extensions import appbuilder
    sm = appbuilder.sm
    user = sm.find_user(username=username)
    if user is None:
        raise click.BadParameter(f"no user {username}")
    for key in sm.find_api_keys_for_user(user.id):
        state = "revoked" if key.revoked_on else ("active" if key.is_active else "inactive")
        click.echo(f"{key.uuid}  {key.name}  {state}  last used: {key.last_used_on or '-'}")


@api_key.command("revoke")
@click.argument("uuid")
@with_appcontext
def api_key_revoke(uuid):
    """Revoke a key: the next request with it gets 401."""
    from .extensions import appbuilder
    if not appbuilder.sm.revoke_api_key(uuid):
        raise click.ClickException(f"no API key {uuid}")
    click.echo(f"revoked {uuid}")
