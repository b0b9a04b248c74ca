"""The database under test is the one asked for, and the migrations build
exactly the schema the models describe."""
import os

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_appbuilder import Model

from app.extensions import db


def test_database_backend(app, ctx):
    wanted = "postgresql" if os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql") else "sqlite"
    assert db.engine.dialect.name == wanted


def test_migrations_match_models(app, ctx):
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Model.metadata)
    assert diff == [], f"models and migrations differ; add a migration: {diff}"


def test_reference_data_is_loaded_once(app, ctx):
    from sqlalchemy import func, select
    from app import seed
    from app.models import Directorate, Occupation, SkillLevel
    seed.load_reference_data()  # a second load changes nothing
    assert db.session.scalar(select(func.count(Directorate.id))) == 27
    assert db.session.scalar(select(func.count(SkillLevel.id))) == 5
    counts = dict(db.session.execute(select(Occupation.level, func.count()).group_by(Occupation.level)).all())
    assert (counts[1], counts[2], counts[3], counts[4]) == (10, 43, 130, 436)
