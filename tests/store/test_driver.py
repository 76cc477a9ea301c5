"""The driver's pool when calls are cancelled (a client's deadline, a closed connection): no
connection goes back to the pool with a transaction open."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from server.store.driver import Database, Statement

CREATE = Statement("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
INSERT = Statement("INSERT INTO notes (text) VALUES (:text)")


def sqlite_database(tmp_path: Path, size: int) -> Database:
    return Database(make_url(f"sqlite+aiosqlite:///{tmp_path}/driver.db"), size)


def test_a_call_cancelled_while_begin_waits_leaves_no_write_lock(tmp_path: Path) -> None:
    async def scenario() -> None:
        database = sqlite_database(tmp_path, 1)
        async with database.connection() as connection:
            await connection.execute(CREATE)

        async def cancelled_change() -> None:
            async with database.connection() as connection:
                await connection.begin(write=True)
                await asyncio.sleep(10)

        begun = asyncio.Event()
        database.listener = lambda verb: begun.set() if verb == "BEGIN" else None
        task = asyncio.ensure_future(cancelled_change())
        await begun.wait()  # the task now waits for BEGIN IMMEDIATE to run in sqlite's thread
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        async with asyncio.timeout(5), database.connection() as connection:
            await connection.begin(write=True)
            await connection.execute(INSERT, {"text": "after"})
            await connection.commit()
        await database.close()

    asyncio.run(scenario())


def test_a_connection_whose_round_trip_was_cancelled_is_not_handed_on(
    postgres_url: str,
) -> None:
    """Whatever the server still sends for an interrupted pipeline must never be read as the
    next call's answers: the pool closes such a connection and opens another."""
    slow = Statement("SELECT pg_sleep(0.3), 1 AS answer")
    quick = Statement("SELECT 2 AS answer")

    async def scenario() -> tuple[bool, Any]:
        database = Database(make_url(postgres_url), 1)
        used: list[object] = []

        async def cancelled_read() -> None:
            async with database.connection() as connection:
                used.append(connection)
                await connection.begin(write=True)
                await connection.fetch_one(slow)

        task = asyncio.ensure_future(cancelled_read())
        await asyncio.sleep(0.1)  # the pipeline with BEGIN and the slow SELECT is out
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        async with asyncio.timeout(5), database.connection() as connection:
            reused = connection is used[0]
            answer = await connection.fetch_one(quick)
        await database.close()
        return reused, answer

    assert asyncio.run(scenario()) == (False, {"answer": 2})
