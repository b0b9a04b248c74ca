"""portal API: idempotency_key (safe retries of POSTs), api_rate_window
(per-client request counters shared by every worker), and the channel
("web" / "portal") of certificates, skill tests and permits

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-04 21:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0008'
branch_labels = None
depends_on = None

WORKFLOW_TABLES = ("certificate", "skill_test", "permit")


def upgrade():
    op.create_table('idempotency_key',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client', sa.String(length=64), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('response_status', sa.Integer(), nullable=True),
    sa.Column('response_body', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['ab_user.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('client', 'key', name='uq_idempotency_client_key')
    )
    op.create_index('ix_idempotency_key_created_at', 'idempotency_key', ['created_at'], unique=False)
    op.create_table('api_rate_window',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client', sa.String(length=64), nullable=False),
    sa.Column('window', sa.Integer(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('client', 'window', name='uq_api_rate_client_window')
    )
    op.create_index('ix_api_rate_window_window', 'api_rate_window', ['window'], unique=False)
    for table in WORKFLOW_TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('channel', sa.String(length=8), nullable=False, server_default='web'))


def downgrade():
    for table in WORKFLOW_TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('channel')
    op.drop_index('ix_api_rate_window_window', table_name='api_rate_window')
    op.drop_table('api_rate_window')
    op.drop_index('ix_idempotency_key_created_at', table_name='idempotency_key')
    op.drop_table('idempotency_key')
