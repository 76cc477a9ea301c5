"""Engine and session factory for PostgreSQL (psycopg 3) and the embedded SQLite default."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def database_url(url: str, data_dir: Path) -> URL:
    """The configured URL, or the embedded SQLite file in the data directory when none is set."""
    if not url:
        data_dir.mkdir(parents=True, exist_ok=True)
        return URL.create("sqlite+aiosqlite", database=str(data_dir.resolve() / "cartservice.db"))
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    return parsed


def create_engine(url: URL, *, pool_size: int = 10, foreign_keys: bool = True) -> AsyncEngine:
    """`foreign_keys=False` only for migrations on SQLite, which rebuild tables (see migrate)."""
    if url.get_backend_name() == "sqlite":
        engine = create_async_engine(url, connect_args={"timeout": 30})
        _serialize_sqlite_writers(engine, foreign_keys)
        return engine
    return create_async_engine(url, pool_size=pool_size, max_overflow=pool_size)


def _serialize_sqlite_writers(engine: AsyncEngine, foreign_keys: bool) -> None:
    """Take SQLite's write lock at BEGIN, so two read-then-write transactions never interleave.

    pysqlite's own transaction handling begins lazily at the first write; a cart change reads the
    cart first, so it must hold the lock from its first statement (SQLite's FOR UPDATE).
    """

    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA foreign_keys = {'ON' if foreign_keys else 'OFF'}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA busy_timeout = 30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
