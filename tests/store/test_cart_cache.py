"""The carts a process committed (server.store.cart_cache): its next change of one reads
nothing first, and whatever moved meanwhile (another process's change of the cart, a catalog
loaded elsewhere, a state the cache never saw) sends the change back to what is committed,
losing nothing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from cartservice.cart.v1 import cart_pb2 as r
from cartservice.cart.v1 import cart_service_pb2 as pb
from google.protobuf import field_mask_pb2

from server import metrics
from server.api.cart_servicer import CartServicer
from server.auth.identity import Identity, Role, bind_caller
from server.domain.errors import FailedPrecondition
from server.service import commands as c
from server.service.baskets import BasketHandlers
from server.service.carts import CartHandlers
from server.service.catalogs import CatalogHandlers
from server.store.cart_cache import CachedCart, CartCache
from server.store.catalog_repository import DEFAULT_COLLECTION, CatalogVersions
from server.store.demo_catalog import GIFT_VOUCHER_50, demo_document
from server.store.driver import ROUND_TRIP, Database
from server.store.unit_of_work import UnitOfWork, UnitOfWorkFactory
from server.watch.basket_feed import BasketFeed
from tests.conftest import fresh_postgres_database
from tests.support import migrated_database

COLLECTION = 4982
CALLER = Identity("1", COLLECTION, frozenset({Role.USER}))
NO_CATALOGS = CatalogVersions(None, None)
CONTEXT: Any = None  # the servicers are called directly: no grpc context


def cached(size: int, version: int = 1) -> CachedCart:
    return CachedCart(bytes(size), version, None, NO_CATALOGS)


# ---- the cache itself ----


def test_the_least_recently_used_carts_leave_once_the_documents_pass_the_budget() -> None:
    cache = CartCache(max_bytes=300)
    for cart_id in (1, 2, 3):
        cache.put(cart_id, cached(100))
    assert cache.get(1) is not None  # 1 is now the most recently used
    cache.put(4, cached(100))
    assert cache.get(2) is None
    assert [cache.get(n) is not None for n in (1, 3, 4)] == [True, True, True]


def test_a_new_version_replaces_the_old_and_counts_once() -> None:
    cache = CartCache(max_bytes=250)
    cache.put(1, cached(100, version=1))
    cache.put(1, cached(100, version=2))
    cache.put(2, cached(100))
    found = cache.get(1)
    assert found is not None and found.version == 2 and len(cache) == 2


def test_a_contended_cart_is_never_cached_again() -> None:
    cache = CartCache()
    cache.put(1, cached(10))
    cache.contended(1)
    cache.put(1, cached(10, version=2))
    assert cache.get(1) is None


def test_a_budget_of_nothing_caches_nothing() -> None:
    cache = CartCache(max_bytes=0)
    cache.put(1, cached(1))
    assert cache.get(1) is None and len(cache) == 0


# ---- on PostgreSQL: two processes, each a factory (and a cache) of its own ----


def catalog(most: int) -> str:
    sku = {"skuId": "tea", "title": "Tea", "regularPrice": "4.00", "provider": "leaves",
           "quantityLimit": {"maxValue": most}}  # fmt: skip
    return json.dumps({"currency": "USD", "skus": [sku], "promotions": []})


def tea(quantity: int = 1) -> r.CartItem:
    return r.CartItem(quantity=quantity, skus=[r.Sku(sku_id="tea")])


def patch(cart_id: int, item_id: int, quantity: int) -> pb.PatchUpdateCartItemRequest:
    return pb.PatchUpdateCartItemRequest(
        cart_id=cart_id, item_id=item_id, item=r.CartItem(quantity=quantity),
        update_mask=field_mask_pb2.FieldMask(paths=["quantity"]),
    )  # fmt: skip


Factories = tuple[UnitOfWorkFactory, UnitOfWorkFactory]
Scenario = Callable[[Database, CartServicer, CartServicer, Factories], Awaitable[Any]]


def two_processes(scenario: Scenario) -> Any:
    """`scenario(database, here, there, factories)`: the servicers of two processes on one
    database, and their unit-of-work factories (here's, there's)."""

    async def run() -> Any:
        with fresh_postgres_database("cartservice_cart_cache") as url:
            database = await migrated_database(url, 4)
            bind_caller(CALLER)
            factories = (UnitOfWorkFactory(database), UnitOfWorkFactory(database))
            here, there = (CartServicer(CartHandlers(units)) for units in factories)
            try:
                await CatalogHandlers(factories[1]).store(COLLECTION, catalog(10))
                return await scenario(database, here, there, factories)
            finally:
                await database.close()

    return asyncio.run(run())


async def new_cart(servicer: CartServicer) -> r.Cart:
    created = await servicer.CreateCart(pb.CreateCartRequest(cart=r.Cart(items=[tea()])), CONTEXT)
    return created.carts[0]


def reruns(reason: str) -> float:
    value: float = metrics.group_commit_reruns.labels(reason)._value.get()
    return value


def test_a_change_after_another_process_changed_the_cart_keeps_both() -> None:
    async def scenario(database: Database, here: CartServicer, there: CartServicer, _: Any) -> Any:
        cart = await new_cart(here)
        first = cart.items[0].id
        await here.PatchUpdateCartItem(patch(cart.id, first, 2), CONTEXT)  # cached here
        added = await there.CreateCartItem(  # unseen here
            pb.CreateCartItemRequest(cart_id=cart.id, items=[tea(4)]), CONTEXT
        )
        before = reruns("changed")
        heard: list[str] = []
        database.listener = heard.append
        answer = await here.PatchUpdateCartItem(patch(cart.id, first, 3), CONTEXT)
        again: list[str] = []
        database.listener = again.append
        await here.PatchUpdateCartItem(patch(cart.id, first, 5), CONTEXT)
        database.listener = None
        read = await there.GetCart(pb.GetCartRequest(cart_id=cart.id), CONTEXT)
        return added.items[0], answer.items[0], read.cart, reruns("changed") - before, heard, again

    added, answer, read, rerun, heard, again = two_processes(scenario)
    assert answer.quantity == 3
    assert [i.quantity for i in read.items] == [5, 4]  # the other process's item is kept
    assert read.items[1].id == added.id
    assert rerun == 1
    assert heard.count("UPDATE") == 2  # refused, then written on the row-locked rerun
    # Now known to be shared: read first, not trusted from the cache.
    assert again[:2] == ["SELECT", ROUND_TRIP]


def test_a_catalog_loaded_elsewhere_rules_the_next_change() -> None:
    """Cached here with a catalog that allows 10 of the sku; another process loads one that
    allows 2: a change to 5 is refused by the new catalog, not allowed by the old."""

    async def scenario(database: Database, here: CartServicer, _: Any, units: Factories) -> Any:
        cart = await new_cart(here)
        await here.PatchUpdateCartItem(patch(cart.id, cart.items[0].id, 2), CONTEXT)  # cached
        await CatalogHandlers(units[1]).store(COLLECTION, catalog(2))
        before = reruns("changed")
        with pytest.raises(FailedPrecondition, match="outside its limit"):
            await here.PatchUpdateCartItem(patch(cart.id, cart.items[0].id, 5), CONTEXT)
        read = await here.GetCart(pb.GetCartRequest(cart_id=cart.id), CONTEXT)
        return read.cart, reruns("changed") - before

    read, rerun = two_processes(scenario)
    assert read.items[0].quantity == 2
    assert rerun == 1


def test_an_error_from_a_stale_cart_is_checked_against_what_is_committed() -> None:
    """The cache here lacks an item another process added: a patch of that item is not refused
    for it, but runs on the committed cart."""

    async def scenario(database: Database, here: CartServicer, there: CartServicer, _: Any) -> Any:
        cart = await new_cart(here)
        await here.PatchUpdateCartItem(patch(cart.id, cart.items[0].id, 2), CONTEXT)  # cached
        added = await there.CreateCartItem(
            pb.CreateCartItemRequest(cart_id=cart.id, items=[tea(4)]), CONTEXT
        )
        before = reruns("cached")
        new_item = added.items[0].id
        answer = await here.PatchUpdateCartItem(patch(cart.id, new_item, 6), CONTEXT)
        read = await there.GetCart(pb.GetCartRequest(cart_id=cart.id), CONTEXT)
        return answer.items[0], read.cart, reruns("cached") - before

    answer, read, rerun = two_processes(scenario)
    assert answer.quantity == 6 and [i.quantity for i in read.items] == [2, 6]
    assert rerun == 1


def test_a_change_that_writes_nothing_runs_on_what_is_committed() -> None:
    """A unit of work that starts from the cached cart and commits without writing it back
    checked nothing: it runs again on the committed cart, whose answer is the one returned."""

    async def scenario(
        database: Database, here: CartServicer, there: CartServicer, units: Factories
    ) -> Any:
        cart = await new_cart(here)
        await here.PatchUpdateCartItem(patch(cart.id, cart.items[0].id, 2), CONTEXT)  # cached
        await there.PatchUpdateCartItem(patch(cart.id, cart.items[0].id, 5), CONTEXT)
        seen: list[int] = []

        async def look(uow: UnitOfWork) -> int:
            loaded = await uow.carts.get(cart.id, for_update=True)
            seen.append(loaded.items[0].quantity)
            await uow.commit()
            return loaded.items[0].quantity

        before = reruns("cached")
        answer = await units[0].run(look, key=cart.id)
        return answer, seen, reruns("cached") - before

    answer, seen, rerun = two_processes(scenario)
    assert seen == [2, 5] and answer == 5
    assert rerun == 1


def test_a_calculation_reads_the_committed_cart() -> None:
    """CalculateCart changes nothing, so nothing would check a cached cart: it reads."""

    async def scenario(database: Database, here: CartServicer, there: CartServicer, _: Any) -> Any:
        cart = await new_cart(here)
        await here.PatchUpdateCartItem(patch(cart.id, cart.items[0].id, 2), CONTEXT)  # cached
        await there.CreateCartItem(
            pb.CreateCartItemRequest(cart_id=cart.id, items=[tea(4)]), CONTEXT
        )
        before = reruns("cached")
        request = pb.CreateCartCalculationRequest(cart_id=cart.id)
        answer = await here.CreateCartCalculation(request, CONTEXT)
        return answer.cart_checkout, reruns("cached") - before

    checkout, rerun = two_processes(scenario)
    assert [item.quantity for item in checkout.items] == [2, 4]
    assert rerun == 0


# ---- baskets: the row and its cart from the cache together ----


def two_basket_processes(scenario: Callable[..., Awaitable[Any]]) -> Any:
    """`scenario(database, here, there)`: the basket handlers of two processes on one database
    with the demo catalog's products."""

    async def run() -> Any:
        with fresh_postgres_database("cartservice_cart_cache") as url:
            database = await migrated_database(url, 4)
            factories = (UnitOfWorkFactory(database), UnitOfWorkFactory(database))
            await CatalogHandlers(factories[1]).store(DEFAULT_COLLECTION, demo_document())
            here, there = (BasketHandlers(units, BasketFeed(_nothing)) for units in factories)
            try:
                return await scenario(database, here, there)
            finally:
                await database.close()

    return asyncio.run(run())


async def _nothing(_: str) -> None:
    return None


def test_a_basket_change_after_one_here_reads_only_its_products() -> None:
    async def scenario(database: Database, here: BasketHandlers, _: Any) -> Any:
        await here.handle(c.CreateBasket("b-1", "web"), CALLER)
        await here.handle(c.AddBasketItem("b-1", GIFT_VOUCHER_50, 1), CALLER)  # reads, caches
        heard: list[str] = []
        database.listener = heard.append
        answer = await here.handle(c.AddBasketItem("b-1", GIFT_VOUCHER_50, 1), CALLER)
        database.listener = None
        return answer.basket, heard

    basket, heard = two_basket_processes(scenario)
    assert len(basket.items) == 2
    # The products (the basket's and the added one); then the cart, the basket's row, the
    # outbox rows and the watchers' NOTIFY (a SELECT of pg_notify) with COMMIT.
    trip = ROUND_TRIP
    assert heard == [
        "SELECT",
        trip,
        "BEGIN",
        "UPDATE",
        "UPDATE",
        "INSERT",
        "SELECT",
        "COMMIT",
        trip,
    ]


def test_a_basket_changed_by_another_process_keeps_both_changes() -> None:
    async def scenario(database: Database, here: BasketHandlers, there: BasketHandlers) -> Any:
        await here.handle(c.CreateBasket("b-2", "web"), CALLER)
        await here.handle(c.AddBasketItem("b-2", GIFT_VOUCHER_50, 1), CALLER)  # cached here
        await there.handle(c.AddBasketItem("b-2", GIFT_VOUCHER_50, 2), CALLER)
        before = reruns("changed")
        answer = await here.handle(c.AddBasketItem("b-2", GIFT_VOUCHER_50, 1), CALLER)
        return answer.basket, reruns("changed") - before

    basket, rerun = two_basket_processes(scenario)
    assert len(basket.items) == 4
    assert rerun == 1
