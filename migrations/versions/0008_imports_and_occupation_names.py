"""imports: import_batch (who, file, counts, checkpoint; app/imports.py) and
legacy_occupation (distinct legacy occupation names, their mapping and
counts; app/occupation_match.py)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 13:20:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('import_batch',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('file_name', sa.String(length=300), nullable=False),
    sa.Column('file_hash', sa.String(length=64), nullable=False),
    sa.Column('directorate_id', sa.Integer(), nullable=True),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('rows_total', sa.Integer(), nullable=False),
    sa.Column('rows_done', sa.Integer(), nullable=False),
    sa.Column('created', sa.Integer(), nullable=False),
    sa.Column('updated', sa.Integer(), nullable=False),
    sa.Column('unchanged', sa.Integer(), nullable=False),
    sa.Column('errors', sa.Integer(), nullable=False),
    sa.Column('message', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['directorate_id'], ['directorate.id'], ),
    sa.ForeignKeyConstraint(['user_id'], ['ab_user.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('import_batch', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_import_batch_directorate_id'), ['directorate_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_import_batch_file_hash'), ['file_hash'], unique=False)

    op.create_table('legacy_occupation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name_normalized', sa.String(length=300), nullable=False),
    sa.Column('sample', sa.String(length=300), nullable=False),
    sa.Column('row_count', sa.Integer(), nullable=False),
    sa.Column('occupation_id', sa.Integer(), nullable=True),
    sa.Column('method', sa.String(length=10), nullable=False),
    sa.Column('score', sa.Float(), nullable=True),
    sa.Column('mapped_by_id', sa.Integer(), nullable=True),
    sa.Column('mapped_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['mapped_by_id'], ['ab_user.id'], ),
    sa.ForeignKeyConstraint(['occupation_id'], ['occupation.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name_normalized')
    )
    with op.batch_alter_table('legacy_occupation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_legacy_occupation_occupation_id'), ['occupation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_legacy_occupation_row_count'), ['row_count'], unique=False)


def downgrade():
    op.drop_table('legacy_occupation')
    op.drop_table('import_batch')
