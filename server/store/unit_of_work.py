"""One database transaction per request: what a change writes commits together or not at all."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.store.outbox import OutboxRepository
from server.store.repository import CartRepository


class UnitOfWork:
    carts: CartRepository
    outbox: OutboxRepository

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def __aenter__(self) -> UnitOfWork:
        self._session = self._sessions()
        await self._session.begin()
        self.carts = CartRepository(self._session)
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

    async def commit(self) -> None:
        await self._session.commit()


class UnitOfWorkFactory:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    def __call__(self) -> UnitOfWork:
        return UnitOfWork(self._sessions)
