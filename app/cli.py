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
