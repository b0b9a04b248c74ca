"""security stamp: one number that triggers raise on any change of roles,
permissions or role assignments; read with the user row, it keys each
worker's cache of a user's permissions (app/security.py)

Revision ID: 0014
Revises: 0013
"""
from alembic import op
import sqlalchemy as sa

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

# Every table a user's (permission, view) pairs are read from.
WATCHED = ("ab_user_role", "ab_user_group", "ab_group_role", "ab_permission_view_role",
           "ab_permission_view", "ab_permission", "ab_view_menu", "ab_role")
BUMP = "UPDATE security_stamp SET value = value + 1 WHERE id = 1"


def upgrade():
    op.create_table("security_stamp",
                    sa.Column("id", sa.Integer(), primary_key=True),
                    sa.Column("value", sa.BigInteger(), nullable=False, server_default=sa.text("0")))
    op.execute("INSERT INTO security_stamp (id, value) VALUES (1, 0)")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"CREATE FUNCTION security_stamp_bump() RETURNS trigger LANGUAGE plpgsql AS "
                   f"$$ BEGIN {BUMP}; RETURN NULL; END $$")
        for table in WATCHED:
            op.execute(f"CREATE TRIGGER {table}_stamp AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
                       f"FOR EACH STATEMENT EXECUTE FUNCTION security_stamp_bump()")
    else:
        for table in WATCHED:
            for event in ("INSERT", "UPDATE", "DELETE"):
                op.execute(f"CREATE TRIGGER {table}_stamp_{event.lower()} AFTER {event} ON {table} "
                           f"BEGIN {BUMP}; END")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for table in WATCHED:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_stamp ON {table}")
        op.execute("DROP FUNCTION IF EXISTS security_stamp_bump()")
    else:
        for table in WATCHED:
            for event in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_stamp_{event}")
    op.drop_table("security_stamp")
