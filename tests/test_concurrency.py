"""Many concurrent writers on one cart: every acknowledged change survives (no lost update)."""

from __future__ import annotations

import threading

import grpc
from cartservice.cart.v1 import cart_pb2 as r
from cartservice.cart.v1 import cart_service_pb2 as pb
from cartservice.cart.v1.cart_service_pb2_grpc import CartServiceStub
from cartservice.type.v1.decimal_pb2 import Decimal as D

from tests.support import create_cart, get

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


def test_every_read_is_a_state_the_writes_produced(stub: CartServiceStub) -> None:
    """One writer per cart creates, patches and deletes items and reads the cart after each
    write (nobody else writes it, so that read is the state the write produced); readers read
    all carts meanwhile. Every reader's answer must be one of its cart's recorded states: a read
    pieced together from several snapshots (an item without its skus) is not."""
    carts = [create_cart(stub) for _ in range(3)]
    states: dict[int, set[bytes]] = {c.id: {get(stub, c.id).SerializeToString()} for c in carts}
    seen: list[tuple[int, bytes]] = []
    done = threading.Event()

    def write(cart_id: int) -> None:
        for n in range(30):
            sku = [r.Sku(sku_id=f"s{n}-{k}", price=D(value="1.5")) for k in range(3)]
            added = stub.CreateCartItem(
                pb.CreateCartItemRequest(cart_id=cart_id, items=[r.CartItem(quantity=1, skus=sku)])
            ).items[0]
            states[cart_id].add(get(stub, cart_id).SerializeToString())
            stub.PatchUpdateCartItem(
                pb.PatchUpdateCartItemRequest(
                    cart_id=cart_id, item_id=added.id, item=r.CartItem(quantity=n + 2)
                )
            )
            states[cart_id].add(get(stub, cart_id).SerializeToString())
            if n % 2:
                stub.DeleteCartItem(pb.DeleteCartItemRequest(cart_id=cart_id, item_id=added.id))
                states[cart_id].add(get(stub, cart_id).SerializeToString())

    def read() -> None:
        while not done.is_set():
            for cart in carts:
                seen.append((cart.id, get(stub, cart.id).SerializeToString()))

    writers = [threading.Thread(target=write, args=(c.id,)) for c in carts]
    readers = [threading.Thread(target=read) for _ in range(2)]
    for thread in (*writers, *readers):
        thread.start()
    for thread in writers:
        thread.join(120)
    done.set()
    for thread in readers:
        thread.join(30)

    assert len(seen) > 100
    assert all(state in states[cart_id] for cart_id, state in seen)
