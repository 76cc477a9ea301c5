"""Changes of different carts commit together on PostgreSQL: one transaction and one round trip
for every change that is ready while the batch before it is on its way.

A change in a group reads its cart without a lock (one committed state, no transaction) and
writes it back with an UPDATE that checks the version it read; a cart changed meanwhile by
another process makes that UPDATE raise, and the change runs again alone with its cart
row-locked (server.store.unit_of_work). So does a change that writes anything whose answer it
needs (a stock reservation, a promotion use): statements it only writes wait for the group.
A batch that fails is sent again one change at a time, so a change fails only for its own
statements. Figures: bench/README.md.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Hashable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg

from server import metrics
from server.store.driver import Connection, Database, KeyedRead, Params, Row, Statement

# How many changes one transaction takes at most (its query string grows with each).
MAX_BATCH = 64
# Batches on their way at once (each kind): one, so that the changes ready while it travels
# wait and go together. A server busy with its CPU has few changes at the database at once, and
# a second batch in flight would mostly go alone (bench/README.md).
BATCHES_IN_FLIGHT = 1
# What a group's transaction meets when a cart moved under it (cartservice_cart_changed() of
# migration 0008 raises serialization_failure) or when it deadlocks with another process's
# transaction: either way the change runs again, alone and row-locked.
_CHANGED_ELSEWHERE = (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected)


class NeedsLock(Exception):
    """The change must run alone, its cart row-locked: it sent a statement that writes and
    needs an answer (reason "needs_lock"), or its cart changed since it read it ("changed")."""

    def __init__(self, message: str, reason: str = "needs_lock") -> None:
        super().__init__(message)
        self.reason = reason


# Each statement with its values, or with the rows of an executemany (True).
Writes = list[tuple[Statement, Any, bool]]


@dataclass(eq=False)
class _Change:
    writes: Writes
    done: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class _Batches:
    """Sends what waits, one batch after another (BATCHES_IN_FLIGHT at a time), until nothing
    waits; `wake` after adding to what waits."""

    def __init__(self) -> None:
        self._draining = 0
        self._drains: set[asyncio.Task[None]] = set()

    def _waits(self) -> bool:
        raise NotImplementedError

    async def _send_next(self) -> None:
        raise NotImplementedError

    def wake(self) -> None:
        if self._draining < BATCHES_IN_FLIGHT:
            self._draining += 1
            self._drains.add(drain := asyncio.ensure_future(self._drain()))
            drain.add_done_callback(self._drains.discard)

    async def _drain(self) -> None:
        try:
            while self._waits():
                await self._send_next()
        finally:
            # In the same step as the last look at what waits: what arrives later wakes a
            # drain of its own.
            self._draining -= 1


class GroupCommit(_Batches):
    """One per process: the batches of its units of work that commit together."""

    def __init__(self, database: Database) -> None:
        super().__init__()
        self._database = database
        self._waiting: list[_Change] = []
        self._holders: dict[Hashable, list[Any]] = {}
        self.reads = ReadBatches(database)

    @asynccontextmanager
    async def holding(self, key: Hashable) -> AsyncIterator[None]:
        """Changes of one cart (or basket) in this process run one after the other, so they do
        not meet as conflicts in a batch."""
        entry = self._holders.setdefault(key, [asyncio.Lock(), 0])
        entry[1] += 1
        try:
            async with entry[0]:
                yield
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                del self._holders[key]

    async def commit(self, writes: Writes) -> None:
        """Returns once `writes` committed, with the changes of their batch; raises NeedsLock if
        a cart they update changed since it was read. A cancelled caller's writes still commit
        (they may already be on their way)."""
        if not writes:
            return
        change = _Change(writes)
        change.done.add_done_callback(_retrieved)
        self._waiting.append(change)
        self.wake()
        await asyncio.shield(change.done)

    def _waits(self) -> bool:
        return bool(self._waiting)

    async def _send_next(self) -> None:
        batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
        await self._send(batch)

    async def _send(self, batch: Sequence[_Change]) -> None:
        metrics.group_commit_changes.observe(len(batch))
        try:
            async with self._database.connection() as connection:
                try:
                    await _transaction(connection, [w for change in batch for w in change.writes])
                except psycopg.Error as error:
                    if len(batch) == 1:
                        raise _translated(error) from error
                    await connection.rollback()
                    for change in batch:  # one at a time: each fails only for its own writes
                        await _alone(connection, change)
                    return
            for change in batch:
                _settle(change, None)
        except BaseException as error:  # every change of the batch hears of it
            for change in batch:
                _settle(change, error)
            if not isinstance(error, Exception):
                raise


async def _transaction(connection: Connection, writes: Writes) -> None:
    await connection.begin(write=True)
    for statement, values, many in writes:
        if many:
            await connection.execute_many_later(statement, values)
        else:
            await connection.execute_later(statement, values)
    await connection.commit()


async def _alone(connection: Connection, change: _Change) -> None:
    try:
        await _transaction(connection, change.writes)
    except psycopg.Error as error:
        await connection.rollback()
        _settle(change, _translated(error))
    else:
        _settle(change, None)


def _translated(error: BaseException) -> BaseException:
    if isinstance(error, _CHANGED_ELSEWHERE):
        return NeedsLock(str(error), reason="changed")
    return error


def _retrieved(done: asyncio.Future[Any]) -> None:
    """Marks the outcome seen: a caller cancelled meanwhile never awaits it, and asyncio would
    log the error as never retrieved."""
    if not done.cancelled():
        done.exception()


def _settle(change: _Change, error: BaseException | None) -> None:
    if change.done.done():
        return
    if error is None:
        change.done.set_result(None)
    else:
        change.done.set_exception(error)


class ReadBatches(_Batches):
    """Reads of rows by key (KeyedRead) that wait at the same time go in one round trip: one
    `= ANY(:keys)` SELECT per statement, each row one committed state."""

    def __init__(self, database: Database) -> None:
        super().__init__()
        self._database = database
        self._waiting: dict[KeyedRead, dict[Any, asyncio.Future[Row | None]]] = {}

    async def fetch_one(self, statement: KeyedRead, key: Any) -> Row | None:
        if not self._waiting and not self._draining:
            return await self._read_alone(statement, key)
        waiting = self._waiting.setdefault(statement, {})
        found = waiting.get(key)
        if found is None:
            found = waiting[key] = asyncio.get_running_loop().create_future()
            found.add_done_callback(_retrieved)
        self.wake()
        return await asyncio.shield(found)  # others may wait for the same row

    async def _read_alone(self, statement: KeyedRead, key: Any) -> Row | None:
        """No batch on its way: this read goes at once from the caller's task (a read has no
        side effect to shield from a cancelled caller), and the reads arriving meanwhile wait
        for the batch after it."""
        self._draining += 1
        try:
            async with self._database.connection() as connection:
                return await connection.fetch_one(statement, {"key": key})
        finally:
            self._draining -= 1
            if self._waiting:
                self.wake()

    def _waits(self) -> bool:
        return bool(self._waiting)

    async def _send_next(self) -> None:
        batch, self._waiting = self._waiting, {}
        await self._read(batch)

    async def _read(self, batch: dict[KeyedRead, dict[Any, asyncio.Future[Row | None]]]) -> None:
        try:
            async with self._database.connection() as connection:
                found = await _fetch(connection, batch)
            for (statement, waiting), rows in zip(batch.items(), found, strict=True):
                by_key = {row[statement.column]: row for row in rows}
                for key, future in waiting.items():
                    if not future.done():
                        future.set_result(by_key.get(key))
        except BaseException as error:  # every read of the batch hears of it
            for waiting in batch.values():
                for future in waiting.values():
                    if not future.done():
                        future.set_exception(error)
            if not isinstance(error, Exception):
                raise


async def _fetch(connection: Any, batch: dict[KeyedRead, dict[Any, Any]]) -> list[list[Row]]:
    if len(batch) == 1:
        ((statement, keys),) = batch.items()
        if len(keys) == 1:  # alone: a prepared statement, cheaper than an array in a script
            (key,) = keys
            row = await connection.fetch_one(statement, {"key": key})
            return [[row] if row is not None else []]
    reads = [(statement.many, {"keys": list(keys)}) for statement, keys in batch.items()]
    return list(await connection.fetch_each(reads))


class GroupedConnection:
    """A unit of work's connection when it commits in a group: reads go to a pooled connection
    outside any transaction, writes wait for the group's commit, and a write that needs an
    answer raises NeedsLock (the unit of work then runs again alone)."""

    dialect = "postgresql"
    locks_rows = False
    in_transaction = False
    broken = False

    def __init__(self, database: Database, group: GroupCommit) -> None:
        self._database = database
        self._group = group
        self._writes: Writes = []
        self._reader: Any = None
        self._reading: Connection | None = None

    async def fetch_one(self, statement: Statement, params: Params = {}) -> Row | None:  # noqa: B006
        # Once this unit of work holds a connection, its reads go there: waiting for a batch's
        # connection while holding one could leave the pool with none to give.
        if isinstance(statement, KeyedRead) and self._reading is None:
            return await self._group.reads.fetch_one(statement, params["key"])
        return await (await self._reader_for(statement)).fetch_one(statement, params)

    async def fetch_all(self, statement: Statement, params: Params = {}) -> list[Row]:  # noqa: B006
        return await (await self._reader_for(statement)).fetch_all(statement, params)

    async def execute(self, statement: Statement, params: Params = {}) -> int:  # noqa: B006
        raise NeedsLock(f"{statement.verb} needs its answer in the change's transaction")

    async def execute_many(self, statement: Statement, rows: Sequence[Params]) -> None:
        raise NeedsLock(f"{statement.verb} needs its answer in the change's transaction")

    async def execute_later(self, statement: Statement, params: Params = {}) -> None:  # noqa: B006
        self._writes.append((statement, params, False))

    async def execute_many_later(self, statement: Statement, rows: Sequence[Params]) -> None:
        if rows:
            self._writes.append((statement, rows, True))

    async def __aenter__(self) -> GroupedConnection:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def begin(self, *, write: bool) -> None:
        pass

    async def commit(self) -> None:
        await self.close()
        writes, self._writes = self._writes, []
        await self._group.commit(writes)

    async def rollback(self) -> None:
        self._writes.clear()

    async def close(self) -> None:
        """Gives the reading connection back to the pool."""
        reader, self._reader, self._reading = self._reader, None, None
        if reader is not None:
            await reader.__aexit__(None, None, None)

    async def _reader_for(self, statement: Statement) -> Connection:
        if statement.verb != "SELECT" or statement.locks:
            raise NeedsLock(f"{statement.verb} needs the change's transaction")
        if self._reading is None:
            self._reader = self._database.connection()
            self._reading = await self._reader.__aenter__()
        return self._reading
