"""A cart's document read and written back: items are read field by field when first touched
and written back into the message they were parsed from, so what a change leaves must equal
what a full conversion of the changed cart gives."""

from __future__ import annotations

from decimal import Decimal
from itertools import count

from cartservice.cart.v1 import cart_pb2

from server.contract.messages import to_proto
from server.domain import cart_operations as ops
from server.domain.model import Cart, CartItem, Shipping, Sku
from server.store.documents import assign_part_ids, decode_cart, encode_cart, parts_without_ids

STAMP = ops.Stamp(actor="7", now_ms=1_795_420_000_000)


def stored_cart(items: int) -> tuple[bytes, count[int]]:
    ids = count(1000)
    cart = ops.new_cart(
        Cart(
            items=[
                CartItem(skus=[Sku(sku_id=f"s{n}", price=Decimal("10.48"))]) for n in range(items)
            ]
        ),
        STAMP,
    )
    cart.id = next(ids)
    assign_part_ids(cart, ids.__next__)
    return encode_cart(cart), ids


def full_document(cart: Cart) -> cart_pb2.Cart:
    """The cart converted as a new cart would be, part by part."""
    return to_proto(cart, cart_pb2.Cart)


def written(document: bytes) -> cart_pb2.Cart:
    return cart_pb2.Cart.FromString(document)


def test_an_unchanged_cart_is_written_back_as_read() -> None:
    document, _ = stored_cart(5)
    cart = decode_cart(document, 1)
    assert written(encode_cart(cart)) == written(document)


def test_items_read_lazily_equal_the_stored_ones() -> None:
    document, _ = stored_cart(3)
    cart = decode_cart(document, 1)
    assert [to_proto(item, cart_pb2.CartItem) for item in cart.items] == list(
        written(document).items
    )
    assert cart.items[1].skus[0].price == Decimal("10.48")
    assert cart.items[1].quantity == 1 and cart.items[1].shipping is None


def test_a_patched_item_is_rewritten_and_the_others_stay_as_stored() -> None:
    document, ids = stored_cart(4)
    cart = decode_cart(document, 1)
    target = cart.items[2]
    ops.patch_item(cart, target.id or 0, {"quantity": 7, "shipping": Shipping(type="SHIP")}, STAMP)
    assign_part_ids(cart, ids.__next__)
    after = written(encode_cart(cart))
    assert after.items[2].quantity == 7
    assert after.items[2].shipping.type == "SHIP"
    assert after.items[2].shipping.id > 0, "a part assigned to a stored item gets an id"
    assert [after.items[k] for k in (0, 1, 3)] == [written(document).items[k] for k in (0, 1, 3)]
    assert after == full_document(cart)


def test_added_and_deleted_items_in_one_change() -> None:
    document, ids = stored_cart(3)
    cart = decode_cart(document, 1)
    first = cart.items[0].id or 0
    ops.delete_item(cart, first, STAMP)
    ops.add_items(cart, [CartItem(skus=[Sku(sku_id="new")])], STAMP, max_items=10)
    assert len(parts_without_ids(cart)) == 2  # the new item and its sku
    assign_part_ids(cart, ids.__next__)
    after = written(encode_cart(cart))
    assert [item.skus[0].sku_id for item in after.items] == ["s1", "s2", "new"]
    assert first not in {item.id for item in after.items}
    assert after == full_document(cart)


def test_a_second_write_in_one_unit_of_work_keeps_the_first() -> None:
    document, ids = stored_cart(2)
    cart = decode_cart(document, 1)
    ops.add_items(cart, [CartItem(skus=[Sku(sku_id="a")])], STAMP, max_items=10)
    assign_part_ids(cart, ids.__next__)
    encode_cart(cart)
    cart.events.clear()  # the outbox took them
    ops.patch_item(cart, cart.items[0].id or 0, {"quantity": 3}, STAMP)
    assign_part_ids(cart, ids.__next__)
    after = written(encode_cart(cart))
    assert [item.skus[0].sku_id for item in after.items] == ["s0", "s1", "a"]
    assert after.items[0].quantity == 3
    assert after == full_document(cart)


def test_items_in_another_order_are_written_whole() -> None:
    document, _ = stored_cart(3)
    cart = decode_cart(document, 1)
    cart.items.reverse()
    after = written(encode_cart(cart))
    assert [item.skus[0].sku_id for item in after.items] == ["s2", "s1", "s0"]
    assert after == full_document(cart)


def test_a_stored_item_without_new_parts_asks_for_no_ids() -> None:
    document, _ = stored_cart(90)
    cart = decode_cart(document, 1)
    ops.patch_item(cart, cart.items[0].id or 0, {"quantity": 2}, STAMP)
    assert parts_without_ids(cart) == []
