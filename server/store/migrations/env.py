"""Alembic environment: always runs on a connection handed over by server.store.migrate."""

from __future__ import annotations

from alembic import context

from server.store.tables import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    compare_type=True,
    # SQLite cannot ALTER most things in place; batch mode rebuilds the table instead.
    render_as_batch=connection.dialect.name == "sqlite",
    user_module_prefix="server.store.types.",
)
with context.begin_transaction():
    context.run_migrations()
