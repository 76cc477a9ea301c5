"""Properties of the pricing engine over random carts and catalogs (hypothesis): the lines add
up to the cart, nothing is negative, no discount exceeds what it discounts, the grand total is
the sum of its parts, every amount is in the currency's minor unit, and neither the order of
the items nor the order of the rules changes anything."""

from __future__ import annotations

import random
from dataclasses import fields, replace
from decimal import Decimal as D
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from server.domain.calculation import Calculation, Figures, calculate
from server.domain.catalog import (
    Catalog,
    CatalogSku,
    Kind,
    Level,
    PromotionRule,
    Stacking,
    TaxRate,
)
from server.domain.model import (
    Address,
    Cart,
    CartItem,
    ChargeLevel,
    ChargeType,
    LoyaltyDetail,
    OtherCharge,
    Promotion,
    Shipping,
    Sku,
)
from server.domain.money import Rounding, minor_unit

CURRENCIES = ("USD", "JPY", "KWD")
METHODS = ("", "standard", "express")
CODES = ("SAVE", "SPRING")
AMOUNT_FIELDS = [f.name for f in fields(Figures) if f.name != "calculated_other_charges"]


def amounts(currency: str, top: int) -> st.SearchStrategy[D]:
    unit = minor_unit(currency)
    return st.integers(0, top * int(1 / unit)).map(lambda n: D(n) * unit)


@st.composite
def catalogs(draw: Any) -> Catalog:
    currency = draw(st.sampled_from(CURRENCIES))
    skus = {}
    for index in range(draw(st.integers(1, 5))):
        regular = draw(amounts(currency, 500))
        sale = draw(st.none() | amounts(currency, 500).filter(regular.__ge__))
        skus[f"s{index}"] = CatalogSku(
            f"s{index}", f"Sku {index}", regular, sale, currency=currency,
            minimum_age=draw(st.sampled_from([0, 0, 18, 21])),
            taxable=draw(st.booleans()), tax_category=draw(st.sampled_from(["standard", "food"])),
        )  # fmt: skip
    rules = []
    for index in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(Kind))
        rules.append(PromotionRule(
            f"r{index}", f"Rule {index}", draw(st.sampled_from(Level)), kind,
            D(draw(st.integers(0, 100))) if kind is Kind.PERCENTAGE else draw(amounts(currency, 60)),
            code=draw(st.none() | st.sampled_from(CODES)),
            skus=frozenset(draw(st.lists(st.sampled_from(sorted(skus)), max_size=2))),
            minimum_subtotal=draw(st.none() | amounts(currency, 300)),
            apply_before_taxation=draw(st.booleans()),
            stacking=draw(st.sampled_from(Stacking)), priority=draw(st.integers(0, 3)),
        ))  # fmt: skip
    rates = draw(st.lists(st.sampled_from([
        TaxRate("US", "CA", "standard", D("0.0725")), TaxRate("US", "*", "*", D("0.05")),
        TaxRate("*", "*", "food", D("0.01")), TaxRate("*", "*", "delivery", D("0.2")),
    ]), max_size=4, unique=True))  # fmt: skip
    return Catalog(
        currency=currency,
        rounding=draw(st.sampled_from(Rounding)),
        tax_inclusive=draw(st.booleans()),
        default_tax_rate=draw(st.sampled_from([D(0), D("0.19")])),
        skus=skus,
        promotions=tuple(rules),
        tax_rates=tuple(rates),
        delivery_charges={
            "standard": draw(amounts(currency, 10)),
            "express": draw(amounts(currency, 30)),
        },
    )


@st.composite
def carts(draw: Any, catalog: Catalog) -> Cart:
    ids = draw(st.lists(st.integers(1, 10_000), min_size=1, max_size=6, unique=True))
    items = []
    for item_id in ids:
        quantity_v2 = draw(st.none() | st.sampled_from([D("0.5"), D("1.25"), D("2"), D("0.333")]))
        method = draw(st.sampled_from(METHODS))
        items.append(CartItem(
            quantity=draw(st.integers(1, 5)), quantity_v2=quantity_v2, id=item_id,
            skus=[Sku(sku_id=s) for s in draw(st.lists(st.sampled_from(sorted(catalog.skus)), min_size=1, max_size=2))],
            shipping=Shipping(selected_method=method) if method else None,
        ))  # fmt: skip
    charges = [
        OtherCharge(
            name=draw(st.sampled_from(["wrap", "service"])),
            item_id=draw(st.sampled_from(ids)),
            charge_value=D(draw(st.integers(0, 30))),
            taxable=draw(st.booleans()),
            type=draw(st.sampled_from(ChargeLevel)),
            charge_type=draw(st.sampled_from(ChargeType)),
            waived_by_default=draw(st.booleans()),
        )
        for _ in range(draw(st.integers(0, 3)))
    ]
    return Cart(
        items=items,
        promotions=[Promotion(promo_code=c) for c in draw(st.lists(st.sampled_from(CODES), unique=True))],
        other_charges=charges,
        loyalty_details=[LoyaltyDetail(value=v) for v in draw(st.lists(amounts(catalog.currency, 40), max_size=2))],
        address=draw(st.sampled_from([None, Address(country="US", state="CA"), Address(country="DE")])),
        shipping=Shipping(selected_method=draw(st.sampled_from(METHODS))),
    )  # fmt: skip


@st.composite
def priced(draw: Any) -> tuple[Cart, Catalog, Calculation]:
    catalog = draw(catalogs())
    cart = draw(carts(catalog))
    return cart, catalog, calculate(cart, catalog)


@settings(max_examples=300, deadline=None)
@given(priced())
def test_the_lines_add_up_to_the_cart_to_the_last_minor_unit(case: Any) -> None:
    _, _, calculation = case
    for name in AMOUNT_FIELDS:
        lines = sum((getattr(line.total, name) for line in calculation.lines), D(0))
        assert lines == getattr(calculation.value, name), name
    value = calculation.value
    assert value.total_discount == value.discount
    assert value.item_delivery_charge + value.cart_delivery_charge == value.delivery_charge


@settings(max_examples=300, deadline=None)
@given(priced())
def test_what_each_rule_and_charge_gave_is_what_the_lines_got_in_all(case: Any) -> None:
    _, _, calculation = case
    value = calculation.value
    by_level = {level: D(0) for level in Level}
    delivery = D(0)
    for applied in calculation.applied:
        by_level[applied.rule.level] += applied.price_discount
        delivery += applied.delivery_discount
    assert by_level[Level.CART] == value.cart_discount
    assert by_level[Level.ITEM] + by_level[Level.SKU] == value.item_discount
    assert delivery == value.delivery_charge_discount
    assert calculation.loyalty_applied == value.loyalty_discount
    assert sum((amount for _, amount in calculation.charged), D(0)) == value.other_charges


@settings(max_examples=300, deadline=None)
@given(priced())
def test_nothing_is_negative_and_no_discount_exceeds_what_it_discounts(case: Any) -> None:
    _, _, calculation = case
    for figures in [line.total for line in calculation.lines] + [calculation.value]:
        assert all(getattr(figures, name) >= 0 for name in AMOUNT_FIELDS)
        assert figures.discount <= figures.price_after_markdown
        assert figures.markdown <= figures.original_price
        assert figures.delivery_charge_discount <= figures.delivery_charge
    assert calculation.amount_unpaid >= 0


@settings(max_examples=300, deadline=None)
@given(priced())
def test_the_grand_total_is_the_sum_of_its_parts(case: Any) -> None:
    _, catalog, calculation = case
    added = 0 if catalog.tax_inclusive else 1
    for figures in [line.total for line in calculation.lines] + [calculation.value]:
        assert figures.grand_total == (
            figures.price_after_discount
            + figures.delivery_charge_after_discount
            + figures.other_charges
            + added * figures.over_all_tax
        )
        assert figures.over_all_tax == (
            figures.tax_on_price + figures.tax_on_delivery_charge + figures.tax_on_other_charges
        )


@settings(max_examples=300, deadline=None)
@given(priced())
def test_every_amount_is_in_the_currencys_minor_unit(case: Any) -> None:
    _, catalog, calculation = case
    unit = minor_unit(catalog.currency)
    for name in AMOUNT_FIELDS:
        value = getattr(calculation.value, name)
        assert value == value.quantize(unit), name


@settings(max_examples=200, deadline=None)
@given(priced(), st.randoms(use_true_random=False))
def test_the_order_of_items_and_rules_changes_nothing(case: Any, shuffler: random.Random) -> None:
    cart, catalog, calculation = case
    items, rules = list(cart.items), list(catalog.promotions)
    shuffler.shuffle(items)
    shuffler.shuffle(rules)

    again = calculate(replace(cart, items=items), replace(catalog, promotions=tuple(rules)))

    assert again.value == calculation.value
    by_item = {line.item.id: line.total for line in calculation.lines}
    assert {line.item.id: line.total for line in again.lines} == by_item
    assert sorted(a.rule.id for a in again.applied) == sorted(
        a.rule.id for a in calculation.applied
    )
