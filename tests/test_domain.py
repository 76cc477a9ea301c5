"""The pure layers, without I/O: pricing, cart rules, decimal and date conversion."""

from __future__ import annotations

from decimal import Decimal

import pytest

from server.api.convert import decimal_text
from server.api.validation import Violations
from server.domain import cart_operations as ops
from server.domain.calculation import calculate
from server.domain.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from server.domain.model import (
    Cart,
    CartItem,
    CartStatus,
    ChargeLevel,
    ChargeType,
    LoyaltyDetail,
    OtherCharge,
    Payment,
    Promotion,
    Sku,
)

STAMP = ops.Stamp(actor="1", now_ms=1_715_235_065_946)


def cart_with(*prices: str, quantity: int = 1) -> Cart:
    cart = ops.new_cart(Cart(user_id="1", collection_id=1), STAMP)
    cart.items = [
        CartItem(id=n + 1, quantity=quantity, skus=[Sku(price=Decimal(p))])
        for n, p in enumerate(prices)
    ]
    for item in cart.items:
        item.quantity_v2 = Decimal(item.quantity)
    return cart


def test_line_total_is_exact_and_rounds_half_even_once() -> None:
    cart = cart_with("0.10", "0.20")
    assert calculate(cart).value.original_price == Decimal("0.30")  # not 0.1 + 0.2 in binary
    cart = cart_with("0.125")
    assert calculate(cart).lines[0].unit.original_price == Decimal("0.12")


def test_percentage_charge_loyalty_cap_and_unpaid_never_negative() -> None:
    cart = cart_with("10.00", quantity=2)
    cart.other_charges = [
        OtherCharge(name="svc", type=ChargeLevel.CART, charge_type=ChargeType.PERCENTAGE, charge_value=Decimal("12.5")),
        OtherCharge(name="waived", type=ChargeLevel.CART, charge_type=ChargeType.FLAT, charge_value=Decimal(5), waived_by_default=True),
    ]  # fmt: skip
    cart.loyalty_details = [LoyaltyDetail(value=Decimal(5))]
    cart.payments = [Payment(amount=Decimal(100))]
    price = calculate(cart)
    assert price.value.loyalty_discount == Decimal("5.00")
    assert price.value.other_charges == Decimal("1.88")  # 12.5 % of 15.00 = 1.875, half-even
    assert price.value.grand_total == Decimal("16.88")
    assert price.amount_unpaid == Decimal("0.00")
    cart.loyalty_details = [LoyaltyDetail(value=Decimal(50))]
    assert calculate(cart).value.loyalty_discount == Decimal("20.00")  # capped at the subtotal


def test_status_rules() -> None:
    cart = cart_with("1")
    ops.patch_cart(cart, {"status": CartStatus.INACTIVE}, STAMP)
    with pytest.raises(FailedPrecondition):
        ops.add_items(cart, [CartItem(skus=[Sku()])], STAMP, max_items=100)
    with pytest.raises(FailedPrecondition):
        ops.patch_cart(cart, {"type": "x"}, STAMP)
    ops.patch_cart(cart, {"status": CartStatus.ACTIVE, "type": "x"}, STAMP)  # reopen and change
    assert (cart.status, cart.type) == (CartStatus.ACTIVE, "x")
    ops.patch_cart(cart, {"status": CartStatus.CHECKED_OUT}, STAMP)
    with pytest.raises(FailedPrecondition):
        ops.patch_cart(cart, {"status": CartStatus.ACTIVE}, STAMP)
    with pytest.raises(FailedPrecondition):
        ops.delete_cart(cart)


def test_every_change_bumps_the_version_and_stamps_who_and_when() -> None:
    cart = cart_with("1")
    before = cart.version
    later = ops.Stamp(actor="9", now_ms=STAMP.now_ms + 5)
    ops.merge_cart_properties(cart, {"a": "b"}, later)
    assert (cart.version, cart.updated_by, cart.updated_time) == (before + 1, "9", later.now_ms)


def test_deleting_an_item_removes_its_charges_only() -> None:
    cart = cart_with("1", "2")
    cart.other_charges = [
        OtherCharge(name="a", type=ChargeLevel.ITEM, item_id=1),
        OtherCharge(name="b", type=ChargeLevel.CART),
    ]
    ops.delete_item(cart, 1, STAMP)
    assert [c.name for c in cart.other_charges] == ["b"]
    with pytest.raises(NotFound):
        ops.delete_item(cart, 1, STAMP)


def test_properties_and_promotions_conflicts() -> None:
    cart = cart_with("1")
    ops.create_cart_properties(cart, {"a": "1"}, STAMP)
    with pytest.raises(AlreadyExists):
        ops.create_cart_properties(cart, {"a": "2"}, STAMP)
    with pytest.raises(NotFound):
        ops.delete_cart_properties(cart, ["missing"], STAMP)
    ops.add_promotions(cart, [Promotion(promo_code="X")], STAMP)
    with pytest.raises(AlreadyExists):
        ops.add_promotions(cart, [Promotion(promo_code="X")], STAMP)
    with pytest.raises(InvalidArgument):
        ops.add_other_charges(cart, [OtherCharge(type=ChargeLevel.CART, item_id=1)], STAMP)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("10.48", "10.48"), ("100", "100"), ("0.0000", "0"), ("-0.38", "-0.38"), ("1.5000", "1.5")],
)
def test_decimal_round_trip_is_canonical(text: str, expected: str) -> None:
    violations = Violations()
    parsed = violations.parse_decimal("f", text)
    assert parsed is not None and decimal_text(parsed) == expected and not violations.found


@pytest.mark.parametrize(
    "text",
    ["", "1e3", "1.23456", "NaN", "1,5", "12345678901234567", " . ", " 10", "10 ", "\u0661\u0660",
     "1\u00b2", "+1", "10.", ".5"],
)  # fmt: skip
def test_malformed_decimals_are_violations(text: str) -> None:
    violations = Violations()
    assert violations.parse_decimal("price", text) is None
    assert [v.field for v in violations.found] == ["price"]


def test_item_times_render_as_the_seed_does() -> None:
    assert ops.item_time_text(1_715_235_065_946) == "Thu May 09 06:11:05 GMT 2024"


def test_a_cart_holds_at_most_max_items() -> None:
    cart = cart_with("1", "2")
    ops.add_items(cart, [CartItem(skus=[Sku()])], STAMP, max_items=3)
    with pytest.raises(FailedPrecondition) as raised:
        ops.add_items(cart, [CartItem(skus=[Sku()])], STAMP, max_items=3)
    assert raised.value.reason == ops.CART_FULL
    assert len(cart.items) == 3


def test_a_patch_that_parks_the_cart_applies_its_other_fields_too() -> None:
    cart = cart_with("1")
    ops.patch_cart(cart, {"status": CartStatus.INACTIVE, "accounts_id": 10}, STAMP)
    assert (cart.status, cart.accounts_id) == (CartStatus.INACTIVE, 10)
    with pytest.raises(FailedPrecondition):
        ops.patch_cart(cart, {"accounts_id": 11}, STAMP)  # parked: fields stay
    ops.patch_cart(cart, {"status": CartStatus.ACTIVE, "accounts_id": 12}, STAMP)  # re-opens
    assert (cart.status, cart.accounts_id) == (CartStatus.ACTIVE, 12)
    ops.patch_cart(cart, {"status": CartStatus.CHECKED_OUT}, STAMP)
    with pytest.raises(FailedPrecondition):
        ops.patch_cart(cart, {"status": CartStatus.ACTIVE, "type": "x"}, STAMP)  # final
    assert (cart.status, cart.type) == (CartStatus.CHECKED_OUT, "")
