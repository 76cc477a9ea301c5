"""Many concurrent writers on one cart: every acknowledged change survives (no lost update)."""

from __future__ import annotations

import grpc
from cartservice.cart.v1 import cart_pb2 as r
from cartservice.cart.v1 import cart_service_pb2 as pb
from cartservice.cart.v1.cart_service_pb2_grpc import CartServiceStub
from cartservice.type.v1.decimal_pb2 import Decimal as D

from tests.test_cart_rpcs import create_cart, get

WRITERS = 40


def test_concurrent_property_merges_all_survive(stub: CartServiceStub) -> None:
    # Each merge reads the cart's property map and writes it back whole: without the row lock,
    # concurrent merges overwrite each other's keys.
    cart = create_cart(stub)
    calls = [
        stub.PatchUpdateCartProperties.future(
            pb.PatchUpdateCartPropertiesRequest(cart_id=cart.id, cart_properties={f"k{n}": str(n)})
        )
        for n in range(WRITERS)
    ]
    results = [call.result(timeout=60) for call in calls]

    stored = dict(get(stub, cart.id).custom_properties)
    assert {f"k{n}": str(n) for n in range(WRITERS)}.items() <= stored.items()
    assert max(len(result.cart_properties_list) for result in results) == len(stored)


def test_concurrent_item_adds_and_item_property_merges_all_survive(stub: CartServiceStub) -> None:
    cart = create_cart(stub)
    item_id = cart.items[0].id
    sku = r.Sku(sku_id="sku", price=D(value="1.25"))
    adds = [
        stub.CreateCartItem.future(
            pb.CreateCartItemRequest(
                cart_id=cart.id, items=[r.CartItem(quantity=n + 1, skus=[sku])]
            )
        )
        for n in range(WRITERS)
    ]
    merges = [
        stub.PatchUpdateCartItemProperties.future(
            pb.PatchUpdateCartItemPropertiesRequest(
                cart_id=cart.id, item_id=item_id, item_properties={f"p{n}": "v"}
            )
        )
        for n in range(WRITERS)
    ]
    added_ids = {call.result(timeout=60).items[0].id for call in adds}
    for call in merges:
        call.result(timeout=60)

    stored = get(stub, cart.id)
    assert len(added_ids) == WRITERS
    assert {i.id for i in stored.items} == added_ids | {item_id}
    assert sorted(i.quantity for i in stored.items if i.id in added_ids) == list(
        range(1, WRITERS + 1)
    )
    assert {f"p{n}" for n in range(WRITERS)} <= set(stored.items[0].custom_properties)


def test_concurrent_status_changes_leave_one_consistent_outcome(stub: CartServiceStub) -> None:
    # Racing check-outs against item adds: each add either lands before the check-out or is
    # refused after it; none lands on a checked-out cart.
    cart = create_cart(stub)
    sku = r.Sku(sku_id="sku", price=D(value="1"))
    adds = [
        stub.CreateCartItem.future(
            pb.CreateCartItemRequest(cart_id=cart.id, items=[r.CartItem(quantity=1, skus=[sku])])
        )
        for _ in range(WRITERS)
    ]
    checkout = stub.PatchUpdateCart.future(
        pb.PatchUpdateCartRequest(cart_id=cart.id, cart=r.Cart(status=r.CART_STATUS_CHECKED_OUT))
    )
    accepted = 0
    for call in adds:
        try:
            call.result(timeout=60)
            accepted += 1
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert checkout.result(timeout=60).cart.status == r.CART_STATUS_CHECKED_OUT
    stored = get(stub, cart.id)
    assert len(stored.items) == 1 + accepted
