"""Renders a domain Calculation as the seed's `cartCheckout` message."""

from __future__ import annotations

from dataclasses import fields
from decimal import Decimal

from cartservice.cart.v1 import calculation_pb2 as pb
from cartservice.type.v1 import decimal_pb2

from server.contract.messages import decimal_message
from server.domain.calculation import AppliedRule, Calculation, CartFigures, Figures, PricedLine
from server.domain.catalog import Level
from server.domain.model import Cart

_ITEM_VALUE_FIELDS = [f.name for f in fields(Figures) if f.name != "calculated_other_charges"]
_CART_ONLY_FIELDS = (
    "count", "item_discount", "cart_discount", "loyalty_discount", "voucher_discount",
    "total_discount", "item_delivery_charge", "item_delivery_charge_discount",
    "item_delivery_charge_after_discount", "cart_delivery_charge", "cart_delivery_charge_discount",
    "cart_delivery_charge_after_discount", "total_delivery_charge_before_discount",
    "total_delivery_charge_discount", "total_delivery_charge",
)  # fmt: skip
# The items' figures the cart value shows under the same names (its delivery charges and
# discounts it shows by level and source: _CART_ONLY_FIELDS).
_CART_VALUE_FIELDS = [
    name
    for name in _ITEM_VALUE_FIELDS
    if name in pb.CartValue.DESCRIPTOR.fields_by_name and name not in _CART_ONLY_FIELDS
]


def cart_checkout(cart: Cart, calculation: Calculation, max_quantity: int) -> pb.CartCheckout:
    """`max_quantity`: the quantity limit shown for a sku the catalog does not know."""
    default_limit = pb.QuantityLimit(min_value=1, max_value=max_quantity)
    return pb.CartCheckout(
        items=[_item(line, default_limit) for line in calculation.lines],
        promotion_details=_promotion_details(calculation.applied),
        payment_value=pb.PaymentValue(
            bag_value=decimal_message(calculation.value.grand_total),
            total_amount_paid=decimal_message(calculation.amount_paid),
            total_amount_unpaid=decimal_message(calculation.amount_unpaid),
        ),
        value=_cart_value(calculation.value),
        age_verification=pb.AgeVerification(
            required=calculation.age_required > 0,
            verified=calculation.age_verified,
            required_limit=calculation.age_required,
        ),
        cart_id=str(cart.id),
        cart_type=cart.type,
        user_id=cart.user_id,
        created_time=cart.created_time,
        last_updated_time=cart.updated_time,
    )


def _promotion_details(applied: list[AppliedRule]) -> pb.PromotionDetails:
    """One promotion per level that gave something, with one breakup entry per rule."""
    by_level: dict[Level, list[AppliedRule]] = {}
    for entry in applied:
        by_level.setdefault(entry.rule.level, []).append(entry)
    return pb.PromotionDetails(
        promotions=[_promotion(level, entries) for level, entries in by_level.items()]
    )


def _promotion(level: Level, entries: list[AppliedRule]) -> pb.AppliedPromotion:
    price = sum((e.price_discount for e in entries), Decimal(0))
    delivery = sum((e.delivery_discount for e in entries), Decimal(0))
    return pb.AppliedPromotion(
        type=level.value,
        unit_price=decimal_message(price),
        total_price=decimal_message(price),
        unit_delivery_charge=decimal_message(delivery),
        total_delivery_charge=decimal_message(delivery),
        breakup=[_breakup(entry) for entry in entries],
    )


def _breakup(entry: AppliedRule) -> pb.PromotionBreakup:
    rule = entry.rule
    shipping = rule.level is Level.SHIPPING
    amount = entry.delivery_discount if shipping else entry.price_discount
    return pb.PromotionBreakup(
        identifier=rule.id,
        title=rule.title,
        description=rule.description or rule.title,
        type=rule.level.value,
        value_type="DELIVERY_CHARGE" if shipping else "PRICE",
        unit_value=decimal_message(amount),
        total_value=decimal_message(amount),
        apply_before_taxation=rule.apply_before_taxation,
    )


def _item(line: PricedLine, default_limit: pb.QuantityLimit) -> pb.CheckoutItem:
    item = line.item
    return pb.CheckoutItem(
        quantity_v2=decimal_message(item.quantity_v2 or Decimal(item.quantity)),
        item_id=item.id or 0,
        quantity=item.quantity,
        skus=[
            pb.CheckoutSku(
                sku_id=priced.sku.sku_id,
                product_id=priced.sku.product_id,
                type=priced.sku.bundle_sku_type,
                title=priced.title,
                price=decimal_message(priced.price),
                regular_price=decimal_message(priced.regular_price),
                quantity_limit=(
                    pb.QuantityLimit(
                        min_value=priced.quantity_limit.min_value,
                        max_value=priced.quantity_limit.max_value,
                    )
                    if priced.quantity_limit
                    else default_limit
                ),
            )
            for priced in line.skus
        ],
        unit_value=_item_value(line.unit),
        total_value=_item_value(line.total),
    )


def _item_value(figures: Figures) -> pb.ItemValue:
    return pb.ItemValue(
        **{name: decimal_message(getattr(figures, name)) for name in _ITEM_VALUE_FIELDS},
        calculated_other_charges=_by_name(figures),
    )


def _cart_value(value: CartFigures) -> pb.CartValue:
    return pb.CartValue(
        **{name: decimal_message(getattr(value, name)) for name in _CART_VALUE_FIELDS},
        **{name: decimal_message(getattr(value, name)) for name in _CART_ONLY_FIELDS},
        calculated_other_charges=_by_name(value),
        price_facets={},
    )


def _by_name(figures: Figures) -> dict[str, decimal_pb2.Decimal]:
    charges = figures.calculated_other_charges
    return {name: decimal_message(amount) for name, amount in charges.items()}
