"""One database transaction per request: what a change writes commits together or not at all."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from server.store.basket_repository import BasketRepository
from server.store.database import READ_ONLY
from server.store.ids import PartIds
from server.store.outbox import OutboxRepository
from server.store.repository import CartRepository
from server.watch.basket_changes import CHANNEL, BasketChange

LocalFanOut = Callable[[BasketChange], None]
_NOTIFY = select(func.pg_notify(CHANNEL, bindparam("payload")))


class UnitOfWork:
    carts: CartRepository
    baskets: BasketRepository
    outbox: OutboxRepository

    def __init__(
        self,
        engine: AsyncEngine,
        part_ids: PartIds,
        local_fan_out: LocalFanOut | None,
        *,
        read_only: bool = False,
    ) -> None:
        self._engine = engine
        self._part_ids = part_ids
        self._local_fan_out = local_fan_out
        self._read_only = read_only
        self._basket_changes: list[BasketChange] = []

    async def __aenter__(self) -> UnitOfWork:
        connection = await self._engine.connect()
        if self._read_only and connection.dialect.name == "postgresql":
            # Each read is one statement, so it sees one committed state without a transaction
            # around it: BEGIN and COMMIT would be two more round trips.
            connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
        else:
            if self._read_only:
                connection = await connection.execution_options(**{READ_ONLY: True})
            await connection.begin()
        self._connection: AsyncConnection = connection
        self.carts = CartRepository(connection, self._part_ids)
        self.baskets = BasketRepository(connection)
        self.outbox = OutboxRepository(connection)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Whatever was not committed is rolled back, including on cancellation.
        await self._connection.close()

    def basket_changed(self, change: BasketChange) -> None:
        """Tells the basket's watchers about this change once (and only if) it commits."""
        self._basket_changes.append(change)

    async def commit(self) -> None:
        await self.outbox.write()
        if self._basket_changes and self._local_fan_out is None:
            # PostgreSQL delivers a NOTIFY to every listening server process on commit, never
            # for a transaction that rolls back.
            for change in self._basket_changes:
                await self._connection.execute(_NOTIFY, {"payload": change.to_payload()})
        await self._connection.commit()
        if self._local_fan_out is not None:
            for change in self._basket_changes:
                self._local_fan_out(change)
        self._basket_changes.clear()


class UnitOfWorkFactory:
    def __init__(self, engine: AsyncEngine, local_fan_out: LocalFanOut | None = None) -> None:
        """`local_fan_out`: where basket changes go after commit when the database cannot
        NOTIFY (the embedded SQLite default); None on PostgreSQL."""
        self._engine = engine
        self._part_ids = PartIds()
        self._local_fan_out = local_fan_out

    def __call__(self) -> UnitOfWork:
        return UnitOfWork(self._engine, self._part_ids, self._local_fan_out)

    def reading(self) -> UnitOfWork:
        """A unit of work that only reads (no transaction on PostgreSQL, a deferred one on
        SQLite)."""
        return UnitOfWork(self._engine, self._part_ids, self._local_fan_out, read_only=True)
