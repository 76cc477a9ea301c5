"""Applies and checks the Alembic migrations of server/store/migrations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from server.store.database import create_engine
from server.store.tables import metadata

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


async def upgrade_to_head(engine: AsyncEngine) -> None:
    await migrate_to(engine, "head")


async def migrate_to(engine: AsyncEngine, revision: str) -> None:
    """Upgrades or downgrades to `revision` in one transaction.

    On SQLite a migration that rebuilds a table (copy, drop, rename) runs with foreign keys off:
    with them on, dropping the old table would cascade its deletes to the rows that refer to it
    (SQLite's documented procedure for schema changes); the keys are checked before commit.
    """
    if engine.dialect.name == "sqlite":
        engine = create_engine(engine.url, foreign_keys=False)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(lambda sync: _migrate(sync, revision))
    finally:
        if engine.dialect.name == "sqlite":
            await engine.dispose()


def _migrate(connection: Connection, revision: str) -> None:
    config = alembic_config(connection)
    current = MigrationContext.configure(connection).get_current_revision()
    if revision == "head" or current is None or int(revision) >= int(current):
        command.upgrade(config, revision)
    else:
        command.downgrade(config, revision)
    if connection.dialect.name == "sqlite":
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
        if broken:
            raise RuntimeError(f"migration to {revision} broke foreign keys: {broken[:5]}")


async def schema_differences(engine: AsyncEngine) -> list[Any]:
    """What the migrated database lacks or has beyond server.store.tables (empty when in sync)."""

    def compare(sync: Connection) -> list[Any]:
        context = MigrationContext.configure(sync, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    async with engine.connect() as connection:
        return await connection.run_sync(compare)
