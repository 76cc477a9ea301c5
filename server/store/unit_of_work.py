"""One database transaction per request: what a change writes commits together or not at all."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from contextlib import AbstractAsyncContextManager, nullcontext
from types import TracebackType
from typing import Any, TypeVar

from server import metrics
from server.domain.catalog import Catalog
from server.domain.model import Cart
from server.store.basket_repository import BasketRepository
from server.store.cart_cache import DEFAULT_MAX_BYTES, CartCache
from server.store.catalog_repository import CatalogCache, CatalogRepository
from server.store.driver import Connection, Database, Statement
from server.store.group_commit import GroupCommit, GroupedConnection, NeedsLock
from server.store.ids import PartIds
from server.store.outbox import OutboxWriter
from server.store.repository import CartRepository
from server.watch.basket_changes import CHANNEL, BasketChange

T = TypeVar("T")
LocalFanOut = Callable[[BasketChange], None]
_NOTIFY = Statement(f"SELECT pg_notify('{CHANNEL}', :payload)")


class UnitOfWork:
    carts: CartRepository
    baskets: BasketRepository
    catalogs: CatalogRepository
    outbox: OutboxWriter

    def __init__(
        self,
        database: Database,
        part_ids: PartIds,
        local_fan_out: LocalFanOut | None,
        *,
        catalogs: CatalogCache,
        read_only: bool = False,
        group: GroupCommit | None = None,
        carts: CartCache | None = None,
    ) -> None:
        """`carts`: the process's committed carts (PostgreSQL), which a change in a group may
        start from."""
        self._database = database
        self._group = group
        self._cart_cache = carts
        self._catalog_cache = catalogs
        self._part_ids = part_ids
        self._local_fan_out = local_fan_out
        self._read_only = read_only
        self._basket_changes: list[BasketChange] = []

    async def __aenter__(self) -> UnitOfWork:
        self._holder: AbstractAsyncContextManager[Any] = (
            self._database.connection()
            if self._group is None
            else GroupedConnection(self._database, self._group)
        )
        connection: Connection = await self._holder.__aenter__()
        # A read on PostgreSQL is one statement, which sees one committed state without a
        # transaction around it (BEGIN and COMMIT would be two more round trips).
        if not (self._read_only and connection.dialect == "postgresql"):
            await connection.begin(write=not self._read_only)
        self._connection = connection
        self.carts = CartRepository(
            connection,
            self._part_ids,
            None if self._read_only else self._cart_cache,
            reads_cache=self._group is not None,
        )
        self.baskets = BasketRepository(connection, self.carts)
        self.catalogs = CatalogRepository(connection, self._catalog_cache)
        self.outbox = OutboxWriter(connection)
        return self

    async def catalog_of(self, cart: Cart, *, with_used_up: bool = False) -> Catalog:
        """The catalog that prices `cart` (its collection's, else the default one), without the
        rules its collection has used up (unless `with_used_up`); cached unless it was loaded
        since the cart was read."""
        cart_id = cart.id or 0
        versions = self.carts.catalog_versions.get(cart_id)
        catalog = await self.catalogs.effective(cart.collection_id, versions)
        if with_used_up or not any(rule.usage_limit is not None for rule in catalog.promotions):
            return catalog
        return catalog.without_used_up(await self.catalogs.uses(cart.collection_id))

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Whatever was not committed is rolled back, including on cancellation.
        await self._holder.__aexit__(exc_type, exc, tb)

    def basket_changed(self, change: BasketChange) -> None:
        """Tells the basket's watchers about this change once (and only if) it commits."""
        self._basket_changes.append(change)

    async def commit(self) -> None:
        if self.carts.unconfirmed():
            raise NeedsLock("a cart from the cache, not written back", reason="cached")
        await self.outbox.write()
        if self._basket_changes and self._local_fan_out is None:
            # PostgreSQL delivers a NOTIFY to every listening server process on commit, never
            # for a transaction that rolls back.
            for change in self._basket_changes:
                await self._connection.execute_later(_NOTIFY, {"payload": change.to_payload()})
        self.carts.committing()
        await self._connection.commit()
        self.carts.committed()
        for row in self.baskets.saved:
            self.carts.remember_basket(row)
        if self._local_fan_out is not None:
            for change in self._basket_changes:
                self._local_fan_out(change)
        self._basket_changes.clear()


class UnitOfWorkFactory:
    def __init__(
        self,
        database: Database,
        local_fan_out: LocalFanOut | None = None,
        *,
        cart_cache_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        """`local_fan_out`: where basket changes go after commit when the database cannot
        NOTIFY (the embedded SQLite default); None on PostgreSQL. `cart_cache_bytes`: the
        documents of committed carts kept for the next change of each (PostgreSQL)."""
        self._database = database
        self._part_ids = PartIds()
        self._local_fan_out = local_fan_out
        self._catalogs = CatalogCache()
        self._group = GroupCommit(database) if database.dialect == "postgresql" else None
        self._carts = CartCache(cart_cache_bytes if self._group is not None else 0)

    async def run(self, work: Callable[[UnitOfWork], Awaitable[T]], *, key: Hashable = None) -> T:
        """Runs a change, `work` (which commits the unit of work it is given): on PostgreSQL in
        a group commit (server.store.group_commit), and again alone with its rows locked if it
        needs that; changes of one `key` (a cart, a basket) in this process one at a time."""
        if self._group is None:
            async with self() as uow:
                return await work(uow)
        async with self._group.holding(key) if key is not None else nullcontext():
            grouped = self._unit(group=self._group)
            try:
                async with grouped as uow:
                    return await self._run_checked(work, uow)
            except NeedsLock as rerun:
                metrics.group_commit_reruns.labels(rerun.reason).inc()
                if rerun.reason == "changed":
                    for cart_id in grouped.carts.from_cache:
                        self._carts.contended(cart_id)
            async with self() as uow:
                return await work(uow)

    @staticmethod
    async def _run_checked(work: Callable[[UnitOfWork], Awaitable[T]], uow: UnitOfWork) -> T:
        """`work`'s outcome, unless it rests on a cached cart that no write checked (an error
        or an answer without a change): that one runs again on what is committed."""
        try:
            result = await work(uow)
        except NeedsLock:
            raise
        except Exception as error:
            if uow.carts.from_cache:
                raise NeedsLock(f"failed from a cached cart: {error}", reason="cached") from error
            raise
        if uow.carts.unconfirmed():
            raise NeedsLock("answered from a cached cart", reason="cached")
        return result

    def _unit(self, *, read_only: bool = False, group: GroupCommit | None = None) -> UnitOfWork:
        return UnitOfWork(
            self._database,
            self._part_ids,
            self._local_fan_out,
            catalogs=self._catalogs,
            read_only=read_only,
            group=group,
            carts=self._carts,
        )

    def __call__(self) -> UnitOfWork:
        """A unit of work in a transaction of its own, its rows locked as it reads them."""
        return self._unit()

    def reading(self) -> UnitOfWork:
        """A unit of work that only reads (no transaction on PostgreSQL, where reads of rows by
        key share round trips; a deferred one on SQLite)."""
        return self._unit(read_only=True, group=self._group)
