"""Prices a cart: a simple, exact calculation (a later issue makes pricing complete).

- A line's unit price is the sum of its skus' prices; the line total is unit price × quantity_v2.
- An other charge that is not waived by default adds: PERCENTAGE → charge_value % of the base
  (the line total for an ITEM charge, the item subtotal for a CART charge); FLAT → charge_value
  (per unit for an ITEM charge, once for a CART charge).
- Loyalty rewards are a discount of their `value`, never more than the item subtotal.
- Payments recorded on the cart count as paid.
Every amount is a Decimal rounded half-up to cents once, where it is computed; sums of rounded
amounts are exact, so totals always equal the sum of the amounts shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from server.domain.model import Cart, CartItem, ChargeLevel, ChargeType, OtherCharge

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class LinePrice:
    item: CartItem
    unit_price: Decimal
    total_price: Decimal
    unit_other_charges: Decimal
    total_other_charges: Decimal
    other_charges_by_name: dict[str, Decimal] = field(default_factory=dict)
    unit_other_charges_by_name: dict[str, Decimal] = field(default_factory=dict)

    @property
    def unit_grand_total(self) -> Decimal:
        return self.unit_price + self.unit_other_charges

    @property
    def total_grand_total(self) -> Decimal:
        return self.total_price + self.total_other_charges


@dataclass(frozen=True)
class CartPrice:
    lines: list[LinePrice]
    count: Decimal
    original_price: Decimal
    loyalty_discount: Decimal
    price_after_discount: Decimal
    other_charges: Decimal
    other_charges_by_name: dict[str, Decimal]
    grand_total: Decimal
    amount_paid: Decimal
    amount_unpaid: Decimal


def price_cart(cart: Cart) -> CartPrice:
    lines = [_price_line(item, cart.other_charges) for item in cart.items]
    original = sum((line.total_price for line in lines), ZERO)
    loyalty = min(money(sum((d.value for d in cart.loyalty_details), ZERO)), original)
    after_discount = original - loyalty
    cart_charges = {
        c.name: _charge_amount(c, base=original, units=Decimal(1))
        for c in cart.other_charges
        if c.type is not ChargeLevel.ITEM and not c.waived_by_default
    }
    other = sum(cart_charges.values(), ZERO) + sum(
        (line.total_other_charges for line in lines), ZERO
    )
    grand_total = after_discount + other
    paid = money(sum((p.amount for p in cart.payments), ZERO))
    return CartPrice(
        lines=lines,
        count=sum((item.quantity_v2 or Decimal(item.quantity) for item in cart.items), Decimal(0)),
        original_price=original,
        loyalty_discount=loyalty,
        price_after_discount=after_discount,
        other_charges=other,
        other_charges_by_name=cart_charges,
        grand_total=grand_total,
        amount_paid=paid,
        amount_unpaid=max(grand_total - paid, ZERO),
    )


def _price_line(item: CartItem, charges: list[OtherCharge]) -> LinePrice:
    quantity = item.quantity_v2 if item.quantity_v2 is not None else Decimal(item.quantity)
    unit = money(sum((sku.price for sku in item.skus), ZERO))
    total = money(unit * quantity)
    item_charges = [
        c
        for c in charges
        if c.item_id == item.id and c.type is ChargeLevel.ITEM and not c.waived_by_default
    ]
    by_name = {c.name: _charge_amount(c, base=total, units=quantity) for c in item_charges}
    unit_charges = {c.name: _charge_amount(c, base=unit, units=Decimal(1)) for c in item_charges}
    return LinePrice(
        item=item,
        unit_price=unit,
        total_price=total,
        unit_other_charges=sum(unit_charges.values(), ZERO),
        total_other_charges=sum(by_name.values(), ZERO),
        other_charges_by_name=by_name,
        unit_other_charges_by_name=unit_charges,
    )


def _charge_amount(charge: OtherCharge, *, base: Decimal, units: Decimal) -> Decimal:
    if charge.charge_type is ChargeType.PERCENTAGE:
        return money(base * charge.charge_value / 100)
    return money(charge.charge_value * units)
