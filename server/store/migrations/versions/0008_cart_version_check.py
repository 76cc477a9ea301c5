"""cartservice_cart_changed(): how a version-checked cart UPDATE fails (PostgreSQL)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A change that commits in a group (server.store.group_commit) wrote its cart back only if the
# version it read is still there; otherwise this aborts the group's transaction with
# serialization_failure, and the change runs again with its cart row-locked. SQL has no
# statement that raises, and a constant expression that fails would fail when planned.
CREATE_FUNCTION = """
CREATE OR REPLACE FUNCTION cartservice_cart_changed(cart_id bigint) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RAISE EXCEPTION 'cart % changed since it was read', cart_id USING ERRCODE = '40001';
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(CREATE_FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION cartservice_cart_changed(bigint)")
