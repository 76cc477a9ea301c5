"""The figures of CreateCartCalculation, from a cart and its collection's catalog.

For each item line (q is quantityV2, else quantity), in this order (README, "Pricing"):
1. Prices: a sku of the catalog costs its sale price (its regular price if it has none);
   originalPrice is the regular price and markdown the difference. A sku the catalog lacks keeps
   the price the cart gives it. A line's totals are unit × q, rounded once.
2. Promotions: the automatic rules and those whose code the cart carries, valid now, whose
   minimum subtotal (price after markdown) the cart reaches and whose usage limit is not used
   up, by priority then id. Each takes its discount off what is left: ITEM of every line, SKU of
   the lines holding one of its skus (percentages per line, fixed amounts per unit), CART of the
   cart (one rounded amount, allocated over the lines), SHIPPING of the delivery charges. A STOP
   rule is the last one applied.
3. Loyalty rewards: a cart discount after the promotions, allocated over the lines.
4. Tax, per line and rounded per line, at the line's rate (its first sku's tax category at the
   cart's address) on its price less the discounts applied before taxation. With tax-inclusive
   prices the tax is the part of that price it contains, and nothing is added.
5. Delivery: the charge of the cart's shipping method (allocated over the lines) and of each
   item's own method, less shipping promotions, taxed at the rate of the category "delivery".
6. Other charges: PERCENTAGE of the line's (ITEM) or the cart's (CART) price after discount, or
   FLAT (per unit for ITEM, once for CART, allocated); taxable ones at the line's rate.
Allocation (money.allocate): in proportion, rounded down, leftover minor units to the largest
remainders, ties by item id; so the lines add up to the cart's figures to the last minor unit.
Every rounding uses the catalog's mode in the currency's minor unit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from decimal import Decimal
from typing import Any

from server.domain.catalog import (
    EMPTY,
    Catalog,
    CatalogSku,
    Kind,
    Level,
    PromotionRule,
    QuantityLimit,
    Stacking,
)
from server.domain.errors import FailedPrecondition
from server.domain.model import Cart, CartItem, ChargeLevel, ChargeType, OtherCharge, Sku
from server.domain.money import ZERO, allocate, rounded

DELIVERY_TAX_CATEGORY = "delivery"
CURRENCY_MISMATCH = "CURRENCY_MISMATCH"
QUANTITY_LIMIT = "QUANTITY_LIMIT"
AGE_VERIFIED_PROPERTY = "ageVerified"


@dataclass
class Figures:
    """The seed's `unitValue` / `totalValue` of an item."""

    original_price: Decimal = ZERO
    markdown: Decimal = ZERO
    price_after_markdown: Decimal = ZERO
    discount: Decimal = ZERO
    price_after_discount: Decimal = ZERO
    tax_on_price: Decimal = ZERO
    price_including_tax: Decimal = ZERO
    delivery_charge: Decimal = ZERO
    delivery_charge_discount: Decimal = ZERO
    delivery_charge_after_discount: Decimal = ZERO
    tax_on_delivery_charge: Decimal = ZERO
    delivery_charge_including_tax: Decimal = ZERO
    other_charges: Decimal = ZERO
    tax_on_other_charges: Decimal = ZERO
    other_charges_including_tax: Decimal = ZERO
    price_including_other_charges: Decimal = ZERO
    over_all_discount: Decimal = ZERO
    over_all_tax: Decimal = ZERO
    grand_total: Decimal = ZERO
    calculated_other_charges: dict[str, Decimal] = field(default_factory=dict)


@dataclass
class CartFigures(Figures):
    """The seed's cart `value`: the sums of the lines' totals, with the discounts by source and
    the delivery charges by level."""

    count: Decimal = ZERO
    item_discount: Decimal = ZERO
    cart_discount: Decimal = ZERO
    loyalty_discount: Decimal = ZERO
    voucher_discount: Decimal = ZERO
    total_discount: Decimal = ZERO
    item_delivery_charge: Decimal = ZERO
    item_delivery_charge_discount: Decimal = ZERO
    cart_delivery_charge: Decimal = ZERO
    cart_delivery_charge_discount: Decimal = ZERO

    @property
    def item_delivery_charge_after_discount(self) -> Decimal:
        return self.item_delivery_charge - self.item_delivery_charge_discount

    @property
    def cart_delivery_charge_after_discount(self) -> Decimal:
        return self.cart_delivery_charge - self.cart_delivery_charge_discount

    @property
    def total_delivery_charge_before_discount(self) -> Decimal:
        return self.delivery_charge

    @property
    def total_delivery_charge_discount(self) -> Decimal:
        return self.delivery_charge_discount

    @property
    def total_delivery_charge(self) -> Decimal:
        return self.delivery_charge_after_discount


@dataclass(frozen=True)
class PricedSku:
    sku: Sku
    title: str
    price: Decimal
    regular_price: Decimal
    quantity_limit: QuantityLimit | None


@dataclass(frozen=True)
class PricedLine:
    item: CartItem
    skus: list[PricedSku]
    unit: Figures
    total: Figures


@dataclass(frozen=True)
class AppliedRule:
    """A rule and the discount it gave, computed on the whole it discounts (the cart, each
    line, or the delivery charges) before its allocation over the lines."""

    rule: PromotionRule
    price_discount: Decimal
    delivery_discount: Decimal


@dataclass(frozen=True)
class Calculation:
    currency: str
    lines: list[PricedLine]
    applied: list[AppliedRule]
    value: CartFigures
    amount_paid: Decimal
    amount_unpaid: Decimal
    age_required: int  # the highest minimum age of the cart's skus; 0: none
    age_verified: bool
    loyalty_applied: Decimal = ZERO  # before its allocation over the lines
    charged: tuple[tuple[OtherCharge, Decimal], ...] = ()


def calculate(
    cart: Cart,
    catalog: Catalog = EMPTY,
    *,
    now: int = 0,
    used: Mapping[str, int] | None = None,
    currency: str | None = None,
) -> Calculation:
    """`now`: epoch ms, for the rules' validity; `used`: how often each rule has been used;
    `currency`: the cart's when none of its skus is in the catalog (else the catalog's)."""
    currency = cart_currency(cart, catalog, currency)
    lines = [_Line.of(item, index, catalog, currency) for index, item in enumerate(cart.items)]
    pricing = _Pricing(catalog, currency, lines)
    pricing.promotions(_applicable(cart, catalog, lines, now, used or {}))
    pricing.loyalty(sum((d.value for d in cart.loyalty_details), ZERO))
    pricing.delivery_and_charges(cart)
    value = _cart_figures(lines)
    paid = rounded(sum((p.amount for p in cart.payments), ZERO), currency, catalog.rounding)
    ages = [sku.minimum_age for line in lines for _, sku in line.skus if sku is not None]
    return Calculation(
        currency=currency,
        lines=[line.priced(catalog, currency) for line in lines],
        applied=pricing.applied(),
        value=value,
        amount_paid=paid,
        amount_unpaid=max(value.grand_total - paid, ZERO),
        age_required=max(ages, default=0),
        age_verified=cart.custom_properties.get(AGE_VERIFIED_PROPERTY) == "true",
        loyalty_applied=pricing.loyalty_amount,
        charged=tuple(pricing.charged),
    )


def cart_currency(cart: Cart, catalog: Catalog, otherwise: str | None = None) -> str:
    """The cart's one currency: its catalog skus' (all the same), else `otherwise`, else the
    catalog's."""
    found: dict[str, str] = {}
    for item in cart.items:
        for sku in item.skus:
            known = catalog.skus.get(sku.sku_id)
            if known is not None:
                found.setdefault(known.currency, sku.sku_id)
    if len(found) > 1:
        (first, first_sku), (second, second_sku) = list(found.items())[:2]
        raise FailedPrecondition(
            f"one currency per cart: sku {first_sku} is in {first}, sku {second_sku} in {second}",
            CURRENCY_MISMATCH,
        )
    return next(iter(found), otherwise or catalog.currency)


def check_quantity(catalog: Catalog, item: CartItem) -> None:
    """Refuses an item whose quantity is outside a limit of one of its catalog skus."""
    quantity = item.quantity_v2 if item.quantity_v2 is not None else Decimal(item.quantity)
    for sku in item.skus:
        known = catalog.skus.get(sku.sku_id)
        if known is None:
            continue
        limit = known.quantity_limit
        if quantity < limit.min_value or (limit.max_value and quantity > limit.max_value):
            most = f"at most {limit.max_value}" if limit.max_value else "no upper limit"
            raise FailedPrecondition(
                f"sku {sku.sku_id}: quantity {quantity} is outside its limit "
                f"(at least {limit.min_value}, {most})",
                QUANTITY_LIMIT,
            )


# ---- the lines as the calculation goes ----


@dataclass
class _Line:
    item: CartItem
    key: int
    quantity: Decimal
    skus: list[tuple[Sku, CatalogSku | None]]
    original: Decimal
    after_markdown: Decimal
    tax_rate: Decimal = ZERO
    delivery_tax_rate: Decimal = ZERO
    discount_before_tax: Decimal = ZERO
    discount_after_tax: Decimal = ZERO
    item_discount: Decimal = ZERO
    cart_discount: Decimal = ZERO
    loyalty_discount: Decimal = ZERO
    item_delivery: Decimal = ZERO
    cart_delivery: Decimal = ZERO
    item_delivery_discount: Decimal = ZERO
    cart_delivery_discount: Decimal = ZERO
    total: Figures = field(default_factory=Figures)

    @classmethod
    def of(cls, item: CartItem, index: int, catalog: Catalog, currency: str) -> _Line:
        quantity = item.quantity_v2 if item.quantity_v2 is not None else Decimal(item.quantity)
        skus = [(sku, catalog.skus.get(sku.sku_id)) for sku in item.skus]
        regular = sum((known.regular_price if known else sku.price for sku, known in skus), ZERO)
        sale = sum((known.price if known else sku.price for sku, known in skus), ZERO)
        mode = catalog.rounding
        return cls(
            item=item,
            key=item.id if item.id is not None else index,
            quantity=quantity,
            skus=skus,
            original=rounded(regular * quantity, currency, mode),
            after_markdown=rounded(sale * quantity, currency, mode),
        )

    @property
    def remaining_price(self) -> Decimal:
        return self.after_markdown - self.discount_before_tax - self.discount_after_tax

    @property
    def remaining_delivery(self) -> Decimal:
        return (
            self.item_delivery
            + self.cart_delivery
            - self.item_delivery_discount
            - self.cart_delivery_discount
        )

    def holds_any(self, sku_ids: frozenset[str]) -> bool:
        return any(sku.sku_id in sku_ids for sku, _ in self.skus)

    def tax_category(self) -> tuple[bool, str]:
        for _, known in self.skus:
            if known is not None:
                return known.taxable, known.tax_category
        return True, "standard"

    def priced(self, catalog: Catalog, currency: str) -> PricedLine:
        skus = [
            PricedSku(
                sku=sku,
                title=known.title if known else "",
                price=known.price if known else sku.price,
                regular_price=known.regular_price if known else sku.price,
                quantity_limit=known.quantity_limit if known else None,
            )
            for sku, known in self.skus
        ]
        return PricedLine(
            self.item, skus, _per_unit(self.total, self.quantity, catalog, currency), self.total
        )


class _Pricing:
    def __init__(self, catalog: Catalog, currency: str, lines: list[_Line]) -> None:
        self._catalog = catalog
        self._currency = currency
        self._lines = lines
        self.loyalty_amount = ZERO
        # Each other charge and its whole amount (of the cart, or of its item's line).
        self.charged: list[tuple[OtherCharge, Decimal]] = []
        self._rules: list[PromotionRule] = []
        # What each applied rule gave: (off the prices, off the delivery charges).
        self._taken: dict[str, tuple[Decimal, Decimal]] = {}

    def _round(self, value: Decimal) -> Decimal:
        return rounded(value, self._currency, self._catalog.rounding)

    def _allocated(self, amount: Decimal, weights: Sequence[Decimal]) -> list[Decimal]:
        return allocate(amount, weights, [line.key for line in self._lines], self._currency)

    # ---- promotions and loyalty ----

    def promotions(self, rules: list[PromotionRule]) -> None:
        """Takes the price discounts of `rules` (in order); their shipping discounts wait for
        the delivery charges (delivery_and_charges)."""
        self._rules = rules
        for rule in rules:
            if rule.level is Level.SHIPPING:
                continue
            whole, taken = self._price_discounts(rule)
            for line, share in zip(self._lines, taken, strict=True):
                if rule.apply_before_taxation:
                    line.discount_before_tax += share
                else:
                    line.discount_after_tax += share
                if rule.level is Level.CART:
                    line.cart_discount += share
                else:
                    line.item_discount += share
            self._taken[rule.id] = (whole, ZERO)

    def applied(self) -> list[AppliedRule]:
        return [AppliedRule(rule, *self._taken[rule.id]) for rule in self._rules]

    def _price_discounts(self, rule: PromotionRule) -> tuple[Decimal, list[Decimal]]:
        """The rule's discount, and its part on each line."""
        targets = [
            line.remaining_price
            if rule.level in (Level.CART, Level.ITEM) or line.holds_any(rule.skus)
            else ZERO
            for line in self._lines
        ]
        if rule.level is Level.CART:
            whole = sum(targets, ZERO)
            amount = (
                self._round(whole * rule.value / 100)
                if rule.kind is Kind.PERCENTAGE
                else min(self._round(rule.value), whole)
            )
            return amount, self._allocated(amount, targets)
        if rule.kind is Kind.PERCENTAGE:
            taken = [self._round(target * rule.value / 100) for target in targets]
        else:
            taken = [
                min(self._round(rule.value * line.quantity), target) if target else ZERO
                for line, target in zip(self._lines, targets, strict=True)
            ]
        return sum(taken, ZERO), taken

    def loyalty(self, value: Decimal) -> None:
        left = [line.remaining_price for line in self._lines]
        amount = min(self._round(value), sum(left, ZERO))
        self.loyalty_amount = amount
        for line, share in zip(self._lines, self._allocated(amount, left), strict=True):
            line.loyalty_discount += share
            line.discount_before_tax += share

    # ---- tax, delivery and other charges ----

    def delivery_and_charges(self, cart: Cart) -> None:
        catalog = self._catalog
        address = cart.address
        country, state = (address.country, address.state) if address else ("", "")
        delivery_rate = catalog.tax_rate(country, state, DELIVERY_TAX_CATEGORY)
        for line in self._lines:
            taxable, category = line.tax_category()
            line.tax_rate = catalog.tax_rate(country, state, category) if taxable else ZERO
            line.delivery_tax_rate = delivery_rate
            method = line.item.shipping.selected_method if line.item.shipping else ""
            line.item_delivery = catalog.delivery_charges.get(method, ZERO) if method else ZERO
        method = cart.shipping.selected_method if cart.shipping else ""
        cart_delivery = catalog.delivery_charges.get(method, ZERO) if method else ZERO
        weights = [line.after_markdown for line in self._lines]
        if not any(weights):
            weights = [Decimal(1) for _ in self._lines]
        for line, share in zip(self._lines, self._allocated(cart_delivery, weights), strict=True):
            line.cart_delivery = share
        self._shipping_promotions()
        charges = self._other_charges(cart.other_charges)
        for line, line_charges in zip(self._lines, charges, strict=True):
            line.total = self._figures(line, line_charges)

    def _shipping_promotions(self) -> None:
        # Two parts per line, its own delivery and its share of the cart's, so that the cart
        # reports the discounts of each level.
        keys = [key for line in self._lines for key in (2 * line.key, 2 * line.key + 1)]
        for rule in self._rules:
            if rule.level is not Level.SHIPPING:
                continue
            parts = [
                part
                for line in self._lines
                for part in (
                    line.item_delivery - line.item_delivery_discount,
                    line.cart_delivery - line.cart_delivery_discount,
                )
            ]
            whole = sum(parts, ZERO)
            amount = (
                self._round(whole * rule.value / 100)
                if rule.kind is Kind.PERCENTAGE
                else min(self._round(rule.value), whole)
            )
            taken = allocate(amount, parts, keys, self._currency)
            for index, line in enumerate(self._lines):
                line.item_delivery_discount += taken[2 * index]
                line.cart_delivery_discount += taken[2 * index + 1]
            self._taken[rule.id] = (ZERO, amount)

    def _other_charges(self, charges: list[OtherCharge]) -> list[list[tuple[OtherCharge, Decimal]]]:
        per_line: list[list[tuple[OtherCharge, Decimal]]] = [[] for _ in self._lines]
        active = [c for c in charges if not c.waived_by_default]
        for charge in active:
            if charge.type is ChargeLevel.ITEM:
                for index, line in enumerate(self._lines):
                    if charge.item_id == line.item.id:
                        amount = self._charge(charge, line.remaining_price, line.quantity)
                        per_line[index].append((charge, amount))
                        self.charged.append((charge, amount))
                continue
            bases = [line.remaining_price for line in self._lines]
            amount = self._charge(charge, sum(bases, ZERO), Decimal(1))
            self.charged.append((charge, amount))
            if not any(bases):
                bases = [Decimal(1) for _ in self._lines]
            for index, share in enumerate(self._allocated(amount, bases)):
                per_line[index].append((charge, share))
        return per_line

    def _charge(self, charge: OtherCharge, base: Decimal, units: Decimal) -> Decimal:
        if charge.charge_type is ChargeType.PERCENTAGE:
            return self._round(base * charge.charge_value / 100)
        return self._round(charge.charge_value * units)

    def _tax(self, base: Decimal, rate: Decimal) -> Decimal:
        if self._catalog.tax_inclusive:
            return self._round(base - base / (1 + rate))
        return self._round(base * rate)

    def _figures(self, line: _Line, charges: list[tuple[OtherCharge, Decimal]]) -> Figures:
        added = ZERO if self._catalog.tax_inclusive else Decimal(1)
        discount = line.discount_before_tax + line.discount_after_tax
        price_after = line.after_markdown - discount
        tax = self._tax(line.after_markdown - line.discount_before_tax, line.tax_rate)
        delivery = line.item_delivery + line.cart_delivery
        delivery_discount = line.item_delivery_discount + line.cart_delivery_discount
        delivery_after = delivery - delivery_discount
        delivery_tax = self._tax(delivery_after, line.delivery_tax_rate)
        other = sum((amount for _, amount in charges), ZERO)
        other_tax = sum(
            (self._tax(amount, line.tax_rate) for charge, amount in charges if charge.taxable),
            ZERO,
        )
        by_name: dict[str, Decimal] = {}
        for charge, amount in charges:
            by_name[charge.name] = by_name.get(charge.name, ZERO) + amount
        price_with_tax = price_after + added * tax
        others_with_tax = other + added * other_tax
        delivery_with_tax = delivery_after + added * delivery_tax
        return Figures(
            original_price=line.original,
            markdown=line.original - line.after_markdown,
            price_after_markdown=line.after_markdown,
            discount=discount,
            price_after_discount=price_after,
            tax_on_price=tax,
            price_including_tax=price_with_tax,
            delivery_charge=delivery,
            delivery_charge_discount=delivery_discount,
            delivery_charge_after_discount=delivery_after,
            tax_on_delivery_charge=delivery_tax,
            delivery_charge_including_tax=delivery_with_tax,
            other_charges=other,
            tax_on_other_charges=other_tax,
            other_charges_including_tax=others_with_tax,
            price_including_other_charges=price_with_tax + others_with_tax,
            over_all_discount=discount + delivery_discount,
            over_all_tax=tax + delivery_tax + other_tax,
            grand_total=price_with_tax + delivery_with_tax + others_with_tax,
            calculated_other_charges=by_name,
        )


def _applicable(
    cart: Cart, catalog: Catalog, lines: list[_Line], now: int, used: Mapping[str, int]
) -> list[PromotionRule]:
    codes = {promotion.promo_code.upper() for promotion in cart.promotions}
    subtotal = sum((line.after_markdown for line in lines), ZERO)

    def applies(rule: PromotionRule) -> bool:
        return (
            (rule.code is None or rule.code.upper() in codes)
            and (rule.valid_from is None or rule.valid_from <= now)
            and (rule.valid_until is None or now < rule.valid_until)
            and (rule.minimum_subtotal is None or subtotal >= rule.minimum_subtotal)
            and (rule.usage_limit is None or used.get(rule.id, 0) < rule.usage_limit)
            and (rule.level is not Level.SKU or any(line.holds_any(rule.skus) for line in lines))
        )

    ordered = sorted(filter(applies, catalog.promotions), key=lambda r: (r.priority, r.id))
    for index, rule in enumerate(ordered):
        if rule.stacking is Stacking.STOP:
            return ordered[: index + 1]
    return ordered


def _per_unit(total: Figures, quantity: Decimal, catalog: Catalog, currency: str) -> Figures:
    """A unit's share of the line's figures, rounded; the totals are the authoritative ones."""
    if quantity == 1 or quantity == 0:
        return total
    mode = catalog.rounding
    amounts: dict[str, Any] = {
        name: rounded(getattr(total, name) / quantity, currency, mode) for name in _AMOUNTS
    }
    unit = Figures(**amounts)
    unit.calculated_other_charges = {
        name: rounded(amount / quantity, currency, mode)
        for name, amount in total.calculated_other_charges.items()
    }
    return unit


def _cart_figures(lines: list[_Line]) -> CartFigures:
    totals = [line.total for line in lines]
    sums: dict[str, Any] = {
        name: sum((getattr(total, name) for total in totals), ZERO) for name in _AMOUNTS
    }
    value = CartFigures(count=sum((line.quantity for line in lines), ZERO), **sums)
    charges = value.calculated_other_charges
    for line in lines:
        for name, amount in line.total.calculated_other_charges.items():
            charges[name] = charges.get(name, ZERO) + amount
        value.item_discount += line.item_discount
        value.cart_discount += line.cart_discount
        value.loyalty_discount += line.loyalty_discount
        value.item_delivery_charge += line.item_delivery
        value.item_delivery_charge_discount += line.item_delivery_discount
        value.cart_delivery_charge += line.cart_delivery
        value.cart_delivery_charge_discount += line.cart_delivery_discount
    value.total_discount = value.item_discount + value.cart_discount + value.loyalty_discount
    return value


# The amount figures of an item (all of Figures but the charges by name).
_AMOUNTS = tuple(f.name for f in fields(Figures) if f.name != "calculated_other_charges")
