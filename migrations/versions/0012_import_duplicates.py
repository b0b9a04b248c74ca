"""imports, part two: import_batch.rows_expected (the web page's progress
bar), citizen_duplicate (near-duplicate citizens and the
manager's decision; app/duplicates.py) and legacy_occupation_count (legacy
occupation rows per directorate, for the coverage per directorate;
app/occupation_match.py)

Revision ID: 0012
Revises: 0010
Create Date: 2026-12-04 21:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('import_batch', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rows_expected', sa.Integer(), nullable=True))

    op.create_table('citizen_duplicate',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('citizen_id', sa.Integer(), nullable=False),
    sa.Column('other_id', sa.Integer(), nullable=False),
    sa.Column('directorate_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('found_at', sa.DateTime(), nullable=False),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['citizen_id'], ['citizen.id'], ),
    sa.ForeignKeyConstraint(['other_id'], ['citizen.id'], ),
    sa.ForeignKeyConstraint(['directorate_id'], ['directorate.id'], ),
    sa.ForeignKeyConstraint(['decided_by_id'], ['ab_user.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('citizen_id', 'other_id', name='uq_citizen_duplicate_pair')
    )
    with op.batch_alter_table('citizen_duplicate', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_citizen_duplicate_citizen_id'), ['citizen_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_citizen_duplicate_other_id'), ['other_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_citizen_duplicate_directorate_id'), ['directorate_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_citizen_duplicate_status'), ['status'], unique=False)

    op.create_table('legacy_occupation_count',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('legacy_id', sa.Integer(), nullable=False),
    sa.Column('directorate_id', sa.Integer(), nullable=False),
    sa.Column('row_count', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['legacy_id'], ['legacy_occupation.id'], ),
    sa.ForeignKeyConstraint(['directorate_id'], ['directorate.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('legacy_id', 'directorate_id', name='uq_legacy_occupation_count')
    )
    with op.batch_alter_table('legacy_occupation_count', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_legacy_occupation_count_legacy_id'), ['legacy_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_legacy_occupation_count_directorate_id'), ['directorate_id'], unique=False)


def downgrade():
    op.drop_table('legacy_occupation_count')
    op.drop_table('citizen_duplicate')
    with op.batch_alter_table('import_batch', schema=None) as batch_op:
        batch_op.drop_column('rows_expected')
