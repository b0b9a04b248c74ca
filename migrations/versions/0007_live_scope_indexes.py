"""live scope indexes: (directorate_id, id) WHERE deleted_at IS NULL on the big
scoped tables, so a directorate's list page and its capped count are index-only

Revision ID: 0007
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa

revision = '0007'
down_revision = '0002'
branch_labels = None
depends_on = None

TABLES = ("citizen", "certificate", "skill_test", "permit")


def upgrade():
    live = sa.text("deleted_at IS NULL")
    for table in TABLES:
        op.create_index(f"ix_{table}_live_directorate_id_id", table, ["directorate_id", "id"],
                        postgresql_where=live, sqlite_where=live)


def downgrade():
    for table in TABLES:
        op.drop_index(f"ix_{table}_live_directorate_id_id", table_name=table)
