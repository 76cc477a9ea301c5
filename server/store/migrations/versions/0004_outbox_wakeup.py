"""outbox wake-up: NOTIFY on insert into outbox_events (PostgreSQL)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Once per inserting statement, delivered on commit (never for a rollback), and collapsed within a
# transaction: relays in other processes wake at once instead of at their next poll.
CREATE_FUNCTION = """
CREATE OR REPLACE FUNCTION cartservice_outbox_wakeup() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('cartservice_outbox', '');
    RETURN NULL;
END
$$
"""
CREATE_TRIGGER = """
CREATE TRIGGER outbox_events_wakeup AFTER INSERT ON outbox_events
FOR EACH STATEMENT EXECUTE FUNCTION cartservice_outbox_wakeup()
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(CREATE_FUNCTION)
        op.execute(CREATE_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS outbox_events_wakeup ON outbox_events")
        op.execute("DROP FUNCTION IF EXISTS cartservice_outbox_wakeup()")
