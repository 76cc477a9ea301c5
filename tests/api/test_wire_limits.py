"""Oversized repeated fields are refused from the wire bytes, before a parse could cost memory."""

from __future__ import annotations

import pytest
from cartservice.cart.v1 import cart_pb2 as r
from cartservice.cart.v1 import cart_service_pb2 as pb
from cartservice.type.v1.decimal_pb2 import Decimal as D

from server.api.wire_limits import OUTLINE_FROM_BYTES, WireLimits
from server.domain.errors import FieldViolation

LIMITS = WireLimits()
CREATE_ITEMS = LIMITS.checker(pb.CreateCartItemRequest.DESCRIPTOR)
CREATE_CART = LIMITS.checker(pb.CreateCartRequest.DESCRIPTOR)
SKU = r.Sku(sku_id="sku-1", price=D(value="10.48"))
ITEM = r.CartItem(quantity=1, skus=[SKU])


def test_a_large_request_within_the_limits_passes() -> None:
    item = r.CartItem(quantity=1, skus=[SKU] * 50, custom_properties={"colour": "teal"})
    raw = pb.CreateCartItemRequest(cart_id=1, items=[item] * 100).SerializeToString()

    assert len(raw) > OUTLINE_FROM_BYTES
    assert CREATE_ITEMS(raw) is None


def test_too_many_items_are_refused_by_name_and_count() -> None:
    raw = pb.CreateCartItemRequest(cart_id=1, items=[r.CartItem()] * 524_000).SerializeToString()

    assert CREATE_ITEMS(raw) == FieldViolation(
        "items", "has 524000 entries; at most 100 are allowed"
    )


@pytest.mark.parametrize(
    ("cart", "field"),
    [
        (r.Cart(items=[ITEM, r.CartItem(skus=[r.Sku()] * 20_000)]), "cart.items[1].skus"),
        (
            r.Cart(items=[r.CartItem(custom_properties={str(n): "" for n in range(9_000)})]),
            "cart.items[0].custom_properties",
        ),
        (r.Cart(promotions=[r.Promotion()] * 20_000), "cart.promotions"),
    ],
)
def test_nested_fields_are_outlined_to_the_leaves(cart: r.Cart, field: str) -> None:
    violation = CREATE_CART(pb.CreateCartRequest(cart=cart).SerializeToString())

    assert violation is not None and violation.field == field


def test_small_requests_and_undecodable_bytes_are_left_to_the_parser() -> None:
    few = pb.CreateCartItemRequest(cart_id=1, items=[r.CartItem()] * 200).SerializeToString()
    assert len(few) < OUTLINE_FROM_BYTES
    assert CREATE_ITEMS(few) is None  # validation reports it, with the request's other problems
    assert CREATE_ITEMS(b"\x12\xff\xff\xff\xff\x0f" + b"\x00" * OUTLINE_FROM_BYTES) is None
