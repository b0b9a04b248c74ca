"""citizen picker index: (directorate_id, national_id) WHERE deleted_at IS NULL,
so a directorate's national-ID prefix search reads its first page off one
range of the index, whatever the size of the table (app/pickers.py)

Revision ID: 0013
Revises: 0012
"""
from alembic import op
import sqlalchemy as sa

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    live = sa.text("deleted_at IS NULL")
    op.create_index("ix_citizen_live_directorate_national_id", "citizen", ["directorate_id", "national_id"],
                    postgresql_where=live, sqlite_where=live)


def downgrade():
    op.drop_index("ix_citizen_live_directorate_national_id", table_name="citizen")
