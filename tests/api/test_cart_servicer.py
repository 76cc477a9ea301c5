"""CartServicer with the domain and the event mapping, over an in-memory unit of work: no
database, no network. Each test checks the state a call leaves and the events it records."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

import pytest
from cartservice.cart.v1 import cart_pb2 as r
from cartservice.cart.v1 import cart_service_pb2 as pb
from cartservice.type.v1.decimal_pb2 import Decimal as D
from google.protobuf import field_mask_pb2

from server.api.cart_servicer import CartServicer
from server.auth.identity import Identity, Role, bind_caller
from server.domain.errors import FailedPrecondition, NotFound
from server.service.carts import CartHandlers
from tests.memory_store import MemoryUnits

T = TypeVar("T")
OWNER = Identity("7", 4982, frozenset({Role.USER}))
CONTEXT: Any = None  # the servicer's methods never use it


def run(call: Awaitable[T]) -> T:
    async def as_owner() -> T:
        bind_caller(OWNER)
        return await call

    return asyncio.run(as_owner())


def item(sku_id: str, price: str = "10.48") -> r.CartItem:
    return r.CartItem(quantity=1, skus=[r.Sku(sku_id=sku_id, price=D(value=price))])


@pytest.fixture
def units() -> MemoryUnits:
    return MemoryUnits()


@pytest.fixture
def servicer(units: MemoryUnits) -> CartServicer:
    return CartServicer(CartHandlers(units, clock=lambda: 1_795_420_000_000))  # type: ignore[arg-type]


def test_create_cart_item_stores_the_item_and_records_its_events(
    units: MemoryUnits, servicer: CartServicer
) -> None:
    cart = run(servicer.CreateCart(pb.CreateCartRequest(cart=r.Cart(type="5506")), CONTEXT)).carts[
        0
    ]
    added = run(
        servicer.CreateCartItem(
            pb.CreateCartItemRequest(cart_id=cart.id, items=[item("a"), item("b", "2.5")]), CONTEXT
        )
    ).items

    stored = run(servicer.GetCart(pb.GetCartRequest(cart_id=cart.id), CONTEXT)).cart
    assert [i.skus[0].sku_id for i in stored.items] == ["a", "b"]
    assert [i.id for i in stored.items] == [i.id for i in added] and all(i.id for i in added)
    assert stored.items[1].skus[0].price.value == "2.5" and stored.user_id == "7"
    created, items_added = units.store.events
    assert created.detail_type == "cartservices/cart/create"
    assert items_added.detail_type == "cartservices/cartitem/create"
    assert [m.routing_key for m in items_added.internal_messages] == ["cartitem.created"] * 2
    assert [m.cart_payload.cart_item_id for m in items_added.internal_messages] == [
        i.id for i in added
    ]


def test_a_refused_change_leaves_the_cart_and_the_outbox_as_they_were(
    units: MemoryUnits, servicer: CartServicer
) -> None:
    cart = run(servicer.CreateCart(pb.CreateCartRequest(cart=r.Cart(items=[item("a")])), CONTEXT))
    cart_id = cart.carts[0].id
    before = units.store.documents[cart_id][1]
    events = len(units.store.events)
    with pytest.raises(NotFound):
        run(
            servicer.DeleteCartItem(pb.DeleteCartItemRequest(cart_id=cart_id, item_id=999), CONTEXT)
        )
    assert units.store.documents[cart_id][1] == before
    assert len(units.store.events) == events


def test_patch_update_cart_parks_and_changes_fields_in_one_call(
    units: MemoryUnits, servicer: CartServicer
) -> None:
    cart_id = run(servicer.CreateCart(pb.CreateCartRequest(cart=r.Cart()), CONTEXT)).carts[0].id
    patched = run(
        servicer.PatchUpdateCart(
            pb.PatchUpdateCartRequest(
                cart_id=cart_id, cart=r.Cart(status=r.CART_STATUS_INACTIVE, accounts_id=10)
            ),
            CONTEXT,
        )
    ).cart
    assert (patched.status, patched.accounts_id) == (r.CART_STATUS_INACTIVE, 10)
    with pytest.raises(FailedPrecondition):
        mask = field_mask_pb2.FieldMask(paths=["accounts_id"])
        request = pb.PatchUpdateCartRequest(
            cart_id=cart_id, cart=r.Cart(accounts_id=11), update_mask=mask
        )
        run(servicer.PatchUpdateCart(request, CONTEXT))
    assert units.store.events[-1].detail_type == "cartservices/cart/patchupdate"


def test_delete_cart_removes_it_and_records_the_seed_receipt(
    units: MemoryUnits, servicer: CartServicer
) -> None:
    cart_id = run(servicer.CreateCart(pb.CreateCartRequest(cart=r.Cart()), CONTEXT)).carts[0].id
    receipt = run(servicer.DeleteCart(pb.DeleteCartRequest(cart_id=cart_id), CONTEXT))
    assert receipt.response_code == "PRCRDEL0000"
    assert cart_id not in units.store.documents
    deleted = units.store.events[-1]
    assert deleted.detail_type == "cartservices/cart/delete"
    assert [m.routing_key for m in deleted.internal_messages] == ["cart.deleted"]
    with pytest.raises(NotFound):
        run(servicer.GetCart(pb.GetCartRequest(cart_id=cart_id), CONTEXT))


def test_list_carts_pages_through_the_callers_carts(servicer: CartServicer) -> None:
    ids = [
        run(servicer.CreateCart(pb.CreateCartRequest(cart=r.Cart()), CONTEXT)).carts[0].id
        for _ in range(3)
    ]
    first = run(servicer.ListCarts(pb.ListCartsRequest(page_size=2), CONTEXT))
    rest = run(
        servicer.ListCarts(
            pb.ListCartsRequest(page_size=2, page_token=first.next_page_token), CONTEXT
        )
    )
    assert [c.id for c in first.carts] + [c.id for c in rest.carts] == ids
    assert rest.next_page_token == ""
