"""The request path's connections: psycopg 3 (async) to PostgreSQL, aiosqlite to SQLite.

Units of work talk to the driver directly: SQLAlchemy's asyncio layer (greenlets around psycopg)
cost a write transaction about three times the driver's own CPU, most of a call's (figures in
bench/README.md). SQLAlchemy keeps what is not per request: migrations, the relay, the catalog.
Statements are written once, with `:name` parameters, and adapted to each driver's style at
import.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from typing import Any, Protocol, TypeVar

import aiosqlite
import psycopg
from psycopg.rows import dict_row
from sqlalchemy.engine import URL

from server import tracing

T = TypeVar("T")
Row = dict[str, Any]
Params = Mapping[str, Any]
# What a caller may catch for "the row exists already" or "the database is away", whichever
# driver raised it.
INTEGRITY_ERRORS: tuple[type[Exception], ...] = (psycopg.IntegrityError, sqlite3.IntegrityError)
UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    psycopg.OperationalError,
    sqlite3.OperationalError,
    OSError,
    TimeoutError,
)
ACQUIRE_TIMEOUT_S = 30.0
_NAMED = re.compile(r"(?<!:):([a-z_][a-z0-9_]*)")


class Statement:
    """SQL with `:name` parameters, in the style of each driver."""

    def __init__(self, sql: str, verb: str | None = None) -> None:
        """`verb`: what the statement does, where its first word does not say (WITH …)."""
        self.sqlite = sql
        self.postgresql = _NAMED.sub(r"%(\1)s", sql.replace("%", "%%"))
        self.verb = verb or sql.split(None, 1)[0].upper()
        self.locks = "FOR UPDATE" in sql.upper()


class KeyedRead(Statement):
    """`SELECT … WHERE <key>` of the row with one key (`= :key`), which can also be sent for
    many keys at once (`many`: `= ANY(:keys)`), so that concurrent reads of different rows
    share a round trip; `column` names the key in its rows."""

    def __init__(self, up_to_key: str, column: str) -> None:
        super().__init__(f"{up_to_key} = :key")
        self.many = Statement(f"{up_to_key} = ANY(:keys)")
        self.column = column


class Connection(Protocol):
    dialect: str
    # Whether `SELECT … FOR UPDATE` is how a change holds its rows (SQLite holds the whole file
    # from BEGIN IMMEDIATE; a change in a group commit holds nothing and checks versions).
    locks_rows: bool

    async def fetch_one(self, statement: Statement, params: Params = ...) -> Row | None: ...
    async def fetch_all(self, statement: Statement, params: Params = ...) -> list[Row]: ...
    async def execute(self, statement: Statement, params: Params = ...) -> int: ...
    async def execute_many(self, statement: Statement, rows: Sequence[Params]) -> None: ...
    async def execute_later(self, statement: Statement, params: Params = ...) -> None: ...
    async def execute_many_later(self, statement: Statement, rows: Sequence[Params]) -> None: ...
    async def begin(self, *, write: bool) -> None: ...
    async def commit(self) -> None: ...
    async def rollback(self) -> None: ...


Listener = Callable[[str], None]
# What a listener hears when statements go to the database and their answers come back.
ROUND_TRIP = "(round trip)"
_BEGIN = Statement("BEGIN")
_BEGIN_IMMEDIATE = Statement("BEGIN IMMEDIATE")
_COMMIT = Statement("COMMIT")
_ROLLBACK = Statement("ROLLBACK")


class _Postgres:
    """Statements a change only writes wait in a queue and travel with the next statement that
    needs an answer, in one query string: BEGIN goes with the locking SELECT, and the cart's UPDATE,
    its outbox INSERT and COMMIT with each other, so a change costs two round trips."""

    dialect = "postgresql"
    locks_rows = True

    def __init__(self, connection: psycopg.AsyncConnection[Row], listener: Listener | None):
        self._connection = connection
        self._listener = listener
        self._queued: list[tuple[Statement, Any, bool]] = []
        self.in_transaction = False
        # Set when a round trip was interrupted (the call cancelled, a client's deadline): what
        # the server still sends for it could be read as the answers of the next user's
        # statements, so the pool closes the connection instead of handing it on.
        self._interrupted = False

    @property
    def broken(self) -> bool:
        return bool(self._interrupted or self._connection.broken or self._connection.closed)

    async def fetch_one(self, statement: Statement, params: Params = {}) -> Row | None:  # noqa: B006
        if self._queued or tracing.enabled():
            return await (await self._send(statement, params)).fetchone()
        # A read alone, the most frequent round trip: _round_trip's work without its layers.
        self._heard(statement.verb)
        self._heard(ROUND_TRIP)
        try:
            return await (await self._connection.execute(statement.postgresql, params)).fetchone()
        except asyncio.CancelledError:
            self._interrupted = True
            raise

    async def fetch_all(self, statement: Statement, params: Params = {}) -> list[Row]:  # noqa: B006
        return await (await self._send(statement, params)).fetchall()

    async def execute(self, statement: Statement, params: Params = {}) -> int:  # noqa: B006
        return (await self._send(statement, params)).rowcount

    async def execute_many(self, statement: Statement, rows: Sequence[Params]) -> None:
        self._queue(statement, rows, many=True)
        await self._send(None, {})

    async def execute_later(self, statement: Statement, params: Params = {}) -> None:  # noqa: B006
        self._queue(statement, params, many=False)

    async def execute_many_later(self, statement: Statement, rows: Sequence[Params]) -> None:
        if rows:
            self._queue(statement, rows, many=True)

    async def begin(self, *, write: bool) -> None:
        self._queue(_BEGIN, {}, many=False)
        self.in_transaction = True

    async def commit(self) -> None:
        await self._send(_COMMIT, {})
        self.in_transaction = False

    async def rollback(self) -> None:
        unsent_begin = bool(self._queued) and self._queued[0][0] is _BEGIN
        self._queued.clear()
        self.in_transaction = False
        if not unsent_begin:
            await self._send(_ROLLBACK, {})

    def _queue(self, statement: Statement, params: Any, *, many: bool) -> None:
        self._heard(statement.verb)
        self._queued.append((statement, params, many))

    async def _send(self, statement: Statement | None, params: Params) -> psycopg.AsyncCursor[Row]:
        """Sends the queue and then `statement` (if any) in one round trip; its cursor."""
        sent = [waiting for waiting, _, _ in self._queued]
        return await self._round_trip(
            sent + ([statement] if statement is not None else []),
            lambda: self._send_now(statement, params),
        )

    async def _round_trip(self, sent: Sequence[Statement], run: Callable[[], Awaitable[T]]) -> T:
        """`run`, traced as one round trip carrying `sent`. A round trip interrupted (the call
        cancelled, a client's deadline) leaves answers on the wire that the next user's
        statements could read as theirs: the connection is then not handed on."""
        try:
            if tracing.enabled():
                with tracing.database_span("postgresql", [s.postgresql for s in sent]):
                    return await run()
            return await run()
        except asyncio.CancelledError:
            self._interrupted = True
            raise

    async def _send_now(
        self, statement: Statement | None, params: Params
    ) -> psycopg.AsyncCursor[Row]:
        if statement is not None:
            self._heard(statement.verb)
        self._heard(ROUND_TRIP)
        connection = self._connection
        if not self._queued:
            assert statement is not None
            return await connection.execute(statement.postgresql, params)
        queued, self._queued = self._queued, []
        script = [
            (waiting, row)
            for waiting, values, many in queued
            for row in (values if many else (values,))
        ]
        if statement is not None:
            script.append((statement, params))
        cursor = await self._run_script(script)
        while cursor.nextset():  # to the answer of the last statement
            pass
        return cursor

    async def fetch_each(self, reads: Sequence[tuple[Statement, Params]]) -> list[list[Row]]:
        """The rows of each SELECT, all sent in one round trip."""
        return await self._round_trip([s for s, _ in reads], lambda: self._fetch_each(reads))

    async def _fetch_each(self, reads: Sequence[tuple[Statement, Params]]) -> list[list[Row]]:
        for statement, _ in reads:
            self._heard(statement.verb)
        self._heard(ROUND_TRIP)
        cursor = await self._run_script(reads)
        found = [await cursor.fetchall()]
        while cursor.nextset():
            found.append(await cursor.fetchall())
        return found

    async def _run_script(
        self, script: Sequence[tuple[Statement, Params]]
    ) -> psycopg.AsyncClientCursor[Row]:
        # The statements go as one string, their values bound into it here: one simple query
        # costs psycopg about half the Python of a pipeline (bench/README.md).
        cursor: psycopg.AsyncClientCursor[Row] = psycopg.AsyncClientCursor(self._connection)
        await cursor.execute("; ".join(cursor.mogrify(s.postgresql, p) for s, p in script))
        return cursor

    def _heard(self, verb: str) -> None:
        if self._listener is not None:
            self._listener(verb)


class _Sqlite:
    dialect = "sqlite"
    locks_rows = False
    broken = False  # a file does not go away

    def __init__(self, connection: aiosqlite.Connection, listener: Listener | None) -> None:
        self._connection = connection
        self._listener = listener
        self.in_transaction = False

    async def fetch_one(self, statement: Statement, params: Params = {}) -> Row | None:  # noqa: B006
        async with await self._run(statement, params) as cursor:
            row = await cursor.fetchone()
            return None if row is None else _row(cursor, row)

    async def fetch_all(self, statement: Statement, params: Params = {}) -> list[Row]:  # noqa: B006
        async with await self._run(statement, params) as cursor:
            return [_row(cursor, row) for row in await cursor.fetchall()]

    async def execute(self, statement: Statement, params: Params = {}) -> int:  # noqa: B006
        async with await self._run(statement, params) as cursor:
            return int(cursor.rowcount)

    async def execute_many(self, statement: Statement, rows: Sequence[Params]) -> None:
        self._heard(statement)
        await self._connection.executemany(statement.sqlite, rows)

    async def execute_later(self, statement: Statement, params: Params = {}) -> None:  # noqa: B006
        await self.execute(statement, params)  # a local file: nothing to save by waiting

    async def execute_many_later(self, statement: Statement, rows: Sequence[Params]) -> None:
        if rows:
            await self.execute_many(statement, rows)

    async def begin(self, *, write: bool) -> None:
        # A change takes SQLite's write lock at BEGIN (its FOR UPDATE); a read sees one
        # committed state (WAL) and takes no lock. Marked first: a call cancelled while BEGIN
        # waits still has it run in aiosqlite's thread, and the pool must then roll it back (its
        # ROLLBACK runs after it in the same thread) or the next user finds the write lock held.
        self.in_transaction = True
        await self.execute(_BEGIN_IMMEDIATE if write else _BEGIN)

    async def commit(self) -> None:
        await self.execute(_COMMIT)
        self.in_transaction = False

    async def rollback(self) -> None:
        # sqlite3's rollback, not a ROLLBACK statement: it does nothing when no transaction is
        # open (a cancelled call's COMMIT may have run meanwhile), so the connection stays.
        self._heard(_ROLLBACK)
        await self._connection.rollback()
        self.in_transaction = False

    async def _run(self, statement: Statement, params: Params) -> aiosqlite.Cursor:
        self._heard(statement)
        return await self._connection.execute(statement.sqlite, params)

    def _heard(self, statement: Statement) -> None:
        if self._listener is not None:
            self._listener(statement.verb)


def _row(cursor: Any, row: Iterable[Any]) -> Row:
    return dict(zip((column[0] for column in cursor.description), row, strict=True))


class Database:
    """A pool of driver connections for units of work."""

    def __init__(self, url: URL, size: int) -> None:
        self.dialect = "sqlite" if url.get_backend_name() == "sqlite" else "postgresql"
        self._url = url
        self._size = size
        self._idle: asyncio.Queue[_Postgres | _Sqlite] = asyncio.Queue()
        self._opened = 0
        self._lock = asyncio.Lock()
        self._closing: set[asyncio.Future[None]] = set()
        # Told the verb of every statement sent (tests count round trips with it).
        self.listener: Listener | None = None

    @property
    def in_use(self) -> int:
        return self._opened - self._idle.qsize()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[_Postgres | _Sqlite]:
        connection = await self._acquire()
        try:
            yield connection
        finally:
            await self._release(connection)

    async def _acquire(self) -> _Postgres | _Sqlite:
        if self._idle.empty() and self._opened < self._size:
            async with self._lock:
                if self._opened < self._size:
                    self._opened += 1
                    try:
                        return await self._open()
                    except BaseException:
                        self._opened -= 1
                        raise
        if not self._idle.empty():  # as Queue.get does when it need not wait, minus the timer
            return self._idle.get_nowait()
        # Not wait_for: on Python 3.11 a cancel that meets the get's completion can drop the
        # connection it took (CPython gh-86296); a timeout on this task keeps Queue.get's own
        # cancel safety.
        async with asyncio.timeout(ACQUIRE_TIMEOUT_S):
            return await self._idle.get()

    async def _release(self, connection: _Postgres | _Sqlite) -> None:
        """Back to the pool, rolled back if a transaction was left open; a connection the
        database dropped, or whose rollback failed or was cancelled, is closed and the next
        call opens a new one. Either way the connection leaves the caller's hands: one kept by
        neither would hold its transaction (SQLite: the write lock) and a pool slot for good."""
        healthy = not connection.broken
        try:
            if healthy and connection.in_transaction:
                await connection.rollback()
        except Exception:
            healthy = False
        except BaseException:  # cancelled while rolling back: closed below all the same
            healthy = False
            raise
        finally:
            if healthy:
                self._idle.put_nowait(connection)
            else:
                self._opened -= 1
                self._closing.add(task := asyncio.ensure_future(_close(connection)))
                task.add_done_callback(self._closing.discard)

    async def _open(self) -> _Postgres | _Sqlite:
        if self.dialect == "postgresql":
            conninfo = self._url.set(drivername="postgresql").render_as_string(hide_password=False)
            raw = await psycopg.AsyncConnection.connect(
                conninfo, autocommit=True, row_factory=dict_row
            )
            return _Postgres(raw, self._listen)
        connection = await aiosqlite.connect(
            self._url.database or ":memory:", timeout=30, isolation_level=None
        )
        for pragma in ("foreign_keys = ON", "journal_mode = WAL", "busy_timeout = 30000"):
            await connection.execute(f"PRAGMA {pragma}")
        return _Sqlite(connection, self._listen)

    def _listen(self, verb: str) -> None:
        if self.listener is not None:
            self.listener(verb)

    async def close(self) -> None:
        await asyncio.gather(*self._closing, return_exceptions=True)
        while not self._idle.empty():
            await _close(self._idle.get_nowait())
            self._opened -= 1


async def _close(connection: _Postgres | _Sqlite) -> None:
    with suppress(Exception):  # it is being thrown away
        await connection._connection.close()


async def reachable(url: URL, timeout_s: float) -> bool:
    """Whether a new connection to the database opens and answers within the timeout. A
    connection of its own, not the pool's: a busy pool is not an unreachable database."""
    if url.get_backend_name() != "postgresql":
        return True  # a local file: nothing between the server and it to fail
    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        async with asyncio.timeout(timeout_s):
            connection = await psycopg.AsyncConnection.connect(conninfo, autocommit=True)
            try:
                await connection.execute("SELECT 1")
            finally:
                await connection.close()
    except (TimeoutError, psycopg.Error, OSError):
        return False
    return True
