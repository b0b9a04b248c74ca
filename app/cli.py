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

