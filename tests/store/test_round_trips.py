"""Each RPC costs a fixed, small number of SQL round trips, whatever its cart holds.

The servicer runs in process on PostgreSQL; the driver reports every statement (BEGIN and COMMIT
included) and every round trip: a read is one, a change two (its cart's SELECT; the UPDATE, the
outbox INSERT and COMMIT in one query string, shared with the changes committing beside it), or
one when this process committed the cart last (server.store.cart_cache); a new cart one."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from cartservice.cart.v1 import cart_pb2 as r
from cartservice.cart.v1 import cart_service_pb2 as pb
from cartservice.type.v1.decimal_pb2 import Decimal as D
from google.protobuf import field_mask_pb2

from server.api.cart_servicer import CartServicer
from server.auth.identity import Identity, Role, bind_caller
from server.service.carts import CartHandlers
from server.store.database import create_engine, database_url
from server.store.driver import ROUND_TRIP, Database
from server.store.migrate import upgrade_to_head
from server.store.unit_of_work import UnitOfWorkFactory

CALLER = Identity("1", 4982, frozenset({Role.USER}))


def item(n: int) -> r.CartItem:
    sku = r.Sku(sku_id=f"sku-{n}", price=D(value="10.48"))
    return r.CartItem(quantity=1, skus=[sku], shipping=r.Shipping(type="Home"))


class Counted:
    def __init__(self) -> None:
        self.statements: list[str] = []
        self.commits = 0

    def hear(self, verb: str) -> None:
        self.statements.append(verb)

    async def of(self, call: Callable[[], Awaitable[Any]]) -> list[str]:
        self.statements = []
        await call()
        return self.statements


def _changes_of(
    servicer: CartServicer, cart_id: int, first: int
) -> dict[str, Callable[[], Awaitable[Any]]]:
    context: Any = None
    patch = pb.PatchUpdateCartItemRequest(
        cart_id=cart_id, item_id=first, item=r.CartItem(quantity=3),
        update_mask=field_mask_pb2.FieldMask(paths=["quantity"]),
    )  # fmt: skip
    return {
        "GetCart": lambda: servicer.GetCart(pb.GetCartRequest(cart_id=cart_id), context),
        "CreateCartItem": lambda: servicer.CreateCartItem(
            pb.CreateCartItemRequest(cart_id=cart_id, items=[item(999)]), context
        ),
        "PatchUpdateCartItem": lambda: servicer.PatchUpdateCartItem(patch, context),
        "DeleteCartItem": lambda: servicer.DeleteCartItem(
            pb.DeleteCartItemRequest(cart_id=cart_id, item_id=first), context
        ),
        "DeleteCart": lambda: servicer.DeleteCart(pb.DeleteCartRequest(cart_id=cart_id), context),
    }


def test_statements_per_rpc_do_not_grow_with_the_cart(postgres_url: str) -> None:
    async def scenario() -> dict[str, dict[int, list[str]]]:
        url = database_url(postgres_url, Path("."))
        engine = create_engine(url)
        await upgrade_to_head(engine)
        await engine.dispose()
        database = Database(url, 2)
        counted = Counted()
        database.listener = counted.hear
        servicer = CartServicer(CartHandlers(UnitOfWorkFactory(database)))
        bind_caller(CALLER)
        context: Any = None
        found: dict[str, dict[int, list[str]]] = {}
        warm = pb.CreateCartRequest(cart=r.Cart(items=[item(0)]))
        warm_id = (await servicer.CreateCart(warm, context)).carts[0].id  # a block of ids
        # and the cart's catalog, if the database has one: cached, it costs no round trip.
        add = pb.CreateCartItemRequest(cart_id=warm_id, items=[item(1)])
        await servicer.CreateCartItem(add, context)
        for size in (1, 90):
            request = pb.CreateCartRequest(cart=r.Cart(items=[item(n) for n in range(size)]))
            cart: r.Cart | None = None

            async def create() -> None:
                nonlocal cart
                cart = (await servicer.CreateCart(request, context)).carts[0]  # noqa: B023

            counts = {"CreateCart": await counted.of(create)}
            assert cart is not None
            calls = _changes_of(servicer, cart.id, cart.items[0].id)
            for name, call in calls.items():
                counts[name] = await counted.of(call)
            for name, count in counts.items():
                found.setdefault(name, {})[size] = count
        await database.close()
        return found

    found = asyncio.run(scenario())

    for name, by_size in found.items():
        assert by_size[1] == by_size[90], f"{name}: {by_size}"
    trip = ROUND_TRIP
    assert found["GetCart"][1] == ["SELECT", trip]  # no transaction around a read
    # The cart and its outbox rows in one query string with BEGIN and COMMIT.
    assert found["CreateCart"][1] == ["BEGIN", "INSERT", "INSERT", "COMMIT", trip]
    # The first change of a cart this process has not committed reads it (no lock, no
    # transaction), then commits in a group: the UPDATE checks the version it read.
    expected = ["SELECT", trip, "BEGIN", "UPDATE", "INSERT", "COMMIT", trip]
    assert found["CreateCartItem"][1] == expected
    # The next ones start from the cart as this process committed it: one round trip, the
    # UPDATE checking the cached version (and the catalogs' versions).
    for change in ("PatchUpdateCartItem", "DeleteCartItem"):
        assert found[change][1] == ["BEGIN", "UPDATE", "INSERT", "COMMIT", trip], change
    # A deletion locks its cart: its rows go, with nothing to check a version against.
    expected = ["BEGIN", "SELECT", trip, "DELETE", "INSERT", "COMMIT", trip]
    assert found["DeleteCart"][1] == expected
