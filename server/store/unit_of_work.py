"""One database transaction per request: what a change writes commits together or not at all."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.store.basket_repository import BasketRepository
from server.store.outbox import OutboxRepository
from server.store.repository import CartRepository
from server.watch.basket_changes import CHANNEL, BasketChange

LocalFanOut = Callable[[BasketChange], None]


class UnitOfWork:
    carts: CartRepository
    baskets: BasketRepository
    outbox: OutboxRepository

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], local_fan_out: LocalFanOut | None
    ) -> None:
        self._sessions = sessions
        self._local_fan_out = local_fan_out
        self._basket_changes: list[BasketChange] = []

    async def __aenter__(self) -> UnitOfWork:
        self._session = self._sessions()
        await self._session.begin()
        self.carts = CartRepository(self._session)
        self.baskets = BasketRepository(self._session)
        self.outbox = OutboxRepository(self._session)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Whatever was not committed is rolled back, including on cancellation.
        await self._session.close()

    def basket_changed(self, change: BasketChange) -> None:
        """Tells the basket's watchers about this change once (and only if) it commits."""
        self._basket_changes.append(change)

    async def commit(self) -> None:
        if self._basket_changes and self._local_fan_out is None:
            # PostgreSQL delivers a NOTIFY to every listening server process on commit, never
            # for a transaction that rolls back.
            for change in self._basket_changes:
                await self._session.execute(select(func.pg_notify(CHANNEL, change.to_payload())))
        await self._session.commit()
        if self._local_fan_out is not None:
            for change in self._basket_changes:
                self._local_fan_out(change)
        self._basket_changes.clear()


class UnitOfWorkFactory:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        local_fan_out: LocalFanOut | None = None,
    ) -> None:
        """`local_fan_out`: where basket changes go after commit when the database cannot
        NOTIFY (the embedded SQLite default); None on PostgreSQL."""
        self._sessions = sessions
        self._local_fan_out = local_fan_out

    def __call__(self) -> UnitOfWork:
        return UnitOfWork(self._sessions, self._local_fan_out)
