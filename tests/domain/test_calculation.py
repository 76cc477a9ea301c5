"""Worked examples of the pricing engine (server.domain.calculation), each with its figures
computed by hand in the comment beside it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal as D
from typing import Any

import pytest

from server.domain.calculation import (
    CURRENCY_MISMATCH,
    QUANTITY_LIMIT,
    Calculation,
    calculate,
    check_quantity,
)
from server.domain.catalog import (
    Catalog,
    CatalogSku,
    Kind,
    Level,
    PromotionRule,
    QuantityLimit,
    Stacking,
    TaxRate,
)
from server.domain.errors import FailedPrecondition
from server.domain.model import (
    Address,
    Cart,
    CartItem,
    ChargeLevel,
    ChargeType,
    LoyaltyDetail,
    OtherCharge,
    Payment,
    Promotion,
    Shipping,
    Sku,
)
from server.domain.money import Rounding

NOW = 1_795_420_000_000


def item(sku_id: str, price: str = "0", quantity: int = 1, *, item_id: int, **kw: Any) -> CartItem:
    return CartItem(quantity=quantity, skus=[Sku(sku_id=sku_id, price=D(price))], id=item_id, **kw)


def sku(sku_id: str, regular: str, sale: str | None = None, **kw: Any) -> CatalogSku:
    return CatalogSku(sku_id, sku_id.title(), D(regular), D(sale) if sale else None, **kw)


def rule(rule_id: str, level: Level, kind: Kind, value: str, **kw: Any) -> PromotionRule:
    return PromotionRule(rule_id, rule_id, level, kind, D(value), **kw)


def catalog(*skus: CatalogSku, **kw: Any) -> Catalog:
    return Catalog(skus={s.sku_id: s for s in skus}, **kw)


@dataclass
class Example:
    name: str
    cart: Cart
    catalog: Catalog
    expected: dict[str, str]  # CartFigures fields
    more: Callable[[Calculation], None] = field(default=lambda c: None)
    used: dict[str, int] = field(default_factory=dict)


TEN_PERCENT_CA = (TaxRate("US", "CA", "standard", D("0.10")),)
CA = Address(country="US", state="CA")

EXAMPLES = [
    Example(
        "no catalog: the cart's own prices",
        Cart(items=[item("a", "10.48", item_id=1)]),
        Catalog(),
        {"original_price": "10.48", "markdown": "0", "grand_total": "10.48"},
    ),
    Example(
        # regular 13.48, sale 10.48, 2 units: 26.96 − 20.96 = 6.00 markdown
        "markdown: the sale price against the regular price",
        Cart(items=[item("a", "99", 2, item_id=1)]),
        catalog(sku("a", "13.48", "10.48")),
        {"original_price": "26.96", "markdown": "6.00", "price_after_markdown": "20.96",
         "grand_total": "20.96"},
    ),
    Example(
        # the seed's rule: 5 % of 10.48 = 0.524 → 0.52 (half-even); 10.48 − 0.52 = 9.96
        "5 % off on cart, automatic, like the seed's",
        Cart(items=[item("a", item_id=1)]),
        catalog(sku("a", "13.48", "10.48"), promotions=(
            rule("d14f48d0", Level.CART, Kind.PERCENTAGE, "5"),)),
        {"original_price": "13.48", "markdown": "3.00", "cart_discount": "0.52",
         "total_discount": "0.52", "price_after_discount": "9.96", "grand_total": "9.96"},
        lambda c: _applied(c, [("d14f48d0", "0.52")]),
    ),
    Example(
        # ITEM 10 %: 3.00 + 2.00; then 5.00 off the cart over 27:18 → 3.00 + 2.00
        "stacked: 10 % off every item, then a 5.00 code off the cart",
        Cart(items=[item("a", item_id=1), item("b", item_id=2)],
             promotions=[Promotion(promo_code="save5")]),  # codes match whatever their case
        catalog(sku("a", "30.00"), sku("b", "20.00"), promotions=(
            rule("items10", Level.ITEM, Kind.PERCENTAGE, "10", priority=1),
            rule("save5", Level.CART, Kind.FIXED, "5", code="SAVE5", priority=2))),
        {"item_discount": "5.00", "cart_discount": "5.00", "total_discount": "10.00",
         "price_after_discount": "40.00"},
        lambda c: _line_totals(c, "discount", ["6.00", "4.00"]),
    ),
    Example(
        # 20 % of 50.00 = 10.00, and the STOP rule keeps the 10 % rule out
        "stop after: a higher-priority rule ends the list",
        Cart(items=[item("a", item_id=1)]),
        catalog(sku("a", "50.00"), promotions=(
            rule("first", Level.CART, Kind.PERCENTAGE, "20", priority=1, stacking=Stacking.STOP),
            rule("second", Level.CART, Kind.PERCENTAGE, "10", priority=2))),
        {"cart_discount": "10.00", "grand_total": "40.00"},
        lambda c: _applied(c, [("first", "10.00")]),
    ),
    Example(
        "a code rule the cart does not carry does nothing",
        Cart(items=[item("a", item_id=1)]),
        catalog(sku("a", "50.00"), promotions=(
            rule("code", Level.CART, Kind.PERCENTAGE, "20", code="SPRING"),)),
        {"total_discount": "0", "grand_total": "50.00"},
        lambda c: _applied(c, []),
    ),
    Example(
        "a minimum subtotal the cart does not reach, and rules out of their window",
        Cart(items=[item("a", item_id=1)]),
        catalog(sku("a", "50.00"), promotions=(
            rule("big", Level.CART, Kind.FIXED, "10", minimum_subtotal=D("100")),
            rule("ended", Level.CART, Kind.FIXED, "10", valid_until=NOW),
            rule("later", Level.CART, Kind.FIXED, "10", valid_from=NOW + 1))),
        {"total_discount": "0", "grand_total": "50.00"},
    ),
    Example(
        "a rule whose usage limit is used up",
        Cart(items=[item("a", item_id=1)]),
        catalog(sku("a", "50.00"), promotions=(
            rule("once", Level.CART, Kind.FIXED, "10", usage_limit=3),)),
        {"total_discount": "0"},
        used={"once": 3},
    ),
    Example(
        # 10 % of the line's 40.00 = 4.00, not taxable
        "a percentage charge on an item",
        Cart(items=[item("a", quantity=2, item_id=1)], other_charges=[OtherCharge(
            name="giftwrap", item_id=1, charge_value=D(10), type=ChargeLevel.ITEM,
            charge_type=ChargeType.PERCENTAGE)]),
        catalog(sku("a", "20.00")),
        {"other_charges": "4.00", "tax_on_other_charges": "0", "grand_total": "44.00"},
        lambda c: _assert(c.value.calculated_other_charges == {"giftwrap": D("4.00")}),
    ),
    Example(
        # tax 10 % of 10.00 = 1.00; a taxable flat 2.00 on the cart, taxed 0.20: 13.20
        "a taxable flat charge on the cart",
        Cart(items=[item("a", item_id=1)], address=CA, other_charges=[OtherCharge(
            name="service", charge_value=D(2), taxable=True, type=ChargeLevel.CART,
            charge_type=ChargeType.FLAT)]),
        catalog(sku("a", "10.00"), tax_rates=TEN_PERCENT_CA),
        {"tax_on_price": "1.00", "other_charges": "2.00", "tax_on_other_charges": "0.20",
         "over_all_tax": "1.20", "grand_total": "13.20"},
    ),
    Example(
        "a non-taxable flat charge",
        Cart(items=[item("a", item_id=1)], address=CA, other_charges=[OtherCharge(
            name="service", charge_value=D(2), taxable=False, type=ChargeLevel.CART,
            charge_type=ChargeType.FLAT)]),
        catalog(sku("a", "10.00"), tax_rates=TEN_PERCENT_CA),
        {"tax_on_other_charges": "0", "over_all_tax": "1.00", "grand_total": "13.00"},
    ),
    Example(
        # express 7.50, taken whole by a free-shipping rule for carts of 25.00 or more
        "free shipping",
        Cart(items=[item("a", item_id=1)], shipping=Shipping(selected_method="express")),
        catalog(sku("a", "30.00"), delivery_charges={"express": D("7.50")}, promotions=(
            rule("free", Level.SHIPPING, Kind.PERCENTAGE, "100", minimum_subtotal=D(25)),)),
        {"cart_delivery_charge": "7.50", "cart_delivery_charge_discount": "7.50",
         "total_delivery_charge": "0", "over_all_discount": "7.50", "grand_total": "30.00"},
        lambda c: _assert([(a.rule.id, a.delivery_discount) for a in c.applied]
                          == [("free", D("7.50"))]),
    ),
    Example(
        # delivery taxed at 5 %: 0.375 → 0.38 (half-even: 7 is odd); 30 + 7.50 + 0.38
        "a taxed delivery charge per item",
        Cart(items=[item("a", item_id=1, shipping=Shipping(selected_method="express"))],
             address=CA),
        catalog(sku("a", "30.00"), delivery_charges={"express": D("7.50")},
                tax_rates=(TaxRate("*", "*", "delivery", D("0.05")),)),
        {"item_delivery_charge": "7.50", "tax_on_delivery_charge": "0.38",
         "delivery_charge_including_tax": "7.88", "grand_total": "37.88"},
    ),
    Example(
        "loyalty rewards: a discount after the promotions",
        Cart(items=[item("a", item_id=1)], loyalty_details=[LoyaltyDetail(value=D(5))]),
        catalog(sku("a", "25.00"), promotions=(
            rule("ten", Level.CART, Kind.PERCENTAGE, "10"),)),
        # 10 % of 25.00 = 2.50; loyalty 5.00 off the 22.50 left
        {"cart_discount": "2.50", "loyalty_discount": "5.00", "total_discount": "7.50",
         "grand_total": "17.50"},
    ),
    Example(
        # 333 JPY × 3 = 999; 10 % = 99.9 → 100 yen (no minor unit)
        "JPY: whole yen",
        Cart(items=[item("a", quantity=3, item_id=1)]),
        catalog(sku("a", "333", currency="JPY"), currency="JPY", promotions=(
            rule("ten", Level.CART, Kind.PERCENTAGE, "10"),)),
        {"original_price": "999", "cart_discount": "100", "grand_total": "899"},
        lambda c: _assert(c.currency == "JPY"),
    ),
    Example(
        # 2.125 KWD taxed 5 %: 0.10625 → 0.106 (three digits); 2.231
        "KWD: three digits",
        Cart(items=[item("a", item_id=1)], address=CA),
        catalog(sku("a", "2.125", currency="KWD"), currency="KWD", default_tax_rate=D("0.05")),
        {"tax_on_price": "0.106", "grand_total": "2.231"},
    ),
    Example(
        # 3.99 × 0.5 = 1.995 → 2.00 half-even (9 is odd)
        "half a kilo through quantityV2, half-even",
        Cart(items=[CartItem(quantity=1, quantity_v2=D("0.5"), skus=[Sku(sku_id="a")], id=1)]),
        catalog(sku("a", "3.99")),
        {"count": "0.5", "original_price": "2.00", "grand_total": "2.00"},
    ),
    Example(
        "half a kilo, half-down",
        Cart(items=[CartItem(quantity=1, quantity_v2=D("0.5"), skus=[Sku(sku_id="a")], id=1)]),
        catalog(sku("a", "3.99"), rounding=Rounding.HALF_DOWN),
        {"original_price": "1.99", "grand_total": "1.99"},
    ),
    Example(
        # 2.685 × 1 line: half-up 2.69 where half-even gives 2.68
        "half-up",
        Cart(items=[CartItem(quantity=1, quantity_v2=D("0.5"), skus=[Sku(sku_id="a")], id=1)]),
        catalog(sku("a", "5.37"), rounding=Rounding.HALF_UP),
        {"original_price": "2.69"},
    ),
    Example(
        "a partly paid cart",
        Cart(items=[item("a", item_id=1)], payments=[Payment(amount=D(20))]),
        catalog(sku("a", "50.00")),
        {"grand_total": "50.00"},
        lambda c: _assert((c.amount_paid, c.amount_unpaid) == (D("20.00"), D("30.00"))),
    ),
    Example(
        # 12.00 holds 20 % VAT: 12 − 12 / 1.2 = 2.00; nothing is added
        "tax-inclusive prices",
        Cart(items=[item("a", item_id=1)], address=Address(country="GB")),
        catalog(sku("a", "12.00", currency="GBP"), currency="GBP", tax_inclusive=True,
                tax_rates=(TaxRate("GB", "*", "standard", D("0.20")),)),
        {"tax_on_price": "2.00", "price_including_tax": "12.00", "grand_total": "12.00"},
    ),
    Example(
        "age-restricted skus: the highest minimum age",
        Cart(items=[item("wine", item_id=1), item("spirit", item_id=2)]),
        catalog(sku("wine", "9.00", minimum_age=18), sku("spirit", "30.00", minimum_age=21)),
        {"grand_total": "39.00"},
        lambda c: _assert((c.age_required, c.age_verified) == (21, False)),
    ),
    Example(
        # 7.25 % of 1.15 = 0.083375 → 0.08 per line; 0.16 where the total's 0.16675 is 0.17
        "tax rounded per line, so the cart's tax is what its lines show",
        Cart(items=[item("a", item_id=1), item("b", item_id=2)], address=CA),
        catalog(sku("a", "1.15"), sku("b", "1.15"),
                tax_rates=(TaxRate("US", "CA", "*", D("0.0725")),)),
        {"tax_on_price": "0.16", "grand_total": "2.46"},
        lambda c: _line_totals(c, "tax_on_price", ["0.08", "0.08"]),
    ),
    Example(
        # 10.00 over three equal lines: 3.33 each and the cent left to the lowest item id
        "a fixed cart discount allocated with its remainder",
        Cart(items=[item("c", item_id=3), item("a", item_id=1), item("b", item_id=2)]),
        catalog(sku("a", "10.00"), sku("b", "10.00"), sku("c", "10.00"), promotions=(
            rule("ten", Level.CART, Kind.FIXED, "10"),)),
        {"cart_discount": "10.00", "grand_total": "20.00"},
        lambda c: _line_totals(c, "discount", ["3.33", "3.34", "3.33"]),
    ),
    Example(
        # the discount applied after taxation: tax on 100.00 = 10.00; 90.00 + 10.00
        "a discount applied after taxation",
        Cart(items=[item("a", item_id=1)], address=CA),
        catalog(sku("a", "100.00"), tax_rates=TEN_PERCENT_CA, promotions=(
            rule("ten", Level.CART, Kind.PERCENTAGE, "10", apply_before_taxation=False),)),
        {"price_after_discount": "90.00", "tax_on_price": "10.00", "grand_total": "100.00"},
    ),
    Example(
        # before taxation: tax on 90.00 = 9.00; 99.00
        "the same discount applied before taxation",
        Cart(items=[item("a", item_id=1)], address=CA),
        catalog(sku("a", "100.00"), tax_rates=TEN_PERCENT_CA, promotions=(
            rule("ten", Level.CART, Kind.PERCENTAGE, "10"),)),
        {"price_after_discount": "90.00", "tax_on_price": "9.00", "grand_total": "99.00"},
    ),
    Example(
        "a sku-level rule discounts the lines holding its skus",
        Cart(items=[item("a", item_id=1), item("b", item_id=2)]),
        catalog(sku("a", "10.00"), sku("b", "8.00"), promotions=(
            rule("half-b", Level.SKU, Kind.PERCENTAGE, "50", skus=frozenset({"b"})),)),
        {"item_discount": "4.00", "grand_total": "14.00"},
        lambda c: _line_totals(c, "discount", ["0", "4.00"]),
    ),
    Example(
        # 2 units at 4.00, 1.50 off a unit: 3.00
        "a fixed item discount per unit, never more than the line",
        Cart(items=[item("a", quantity=2, item_id=1), item("b", item_id=2)]),
        catalog(sku("a", "4.00"), sku("b", "1.00"), promotions=(
            rule("off", Level.ITEM, Kind.FIXED, "1.50"),)),
        {"item_discount": "4.00", "grand_total": "5.00"},
        lambda c: _line_totals(c, "discount", ["3.00", "1.00"]),
    ),
]  # fmt: skip


def _assert(condition: bool) -> None:
    assert condition


def _applied(calculation: Calculation, expected: list[tuple[str, str]]) -> None:
    assert [(a.rule.id, a.price_discount) for a in calculation.applied] == [
        (rule_id, D(amount)) for rule_id, amount in expected
    ]


def _line_totals(calculation: Calculation, name: str, expected: list[str]) -> None:
    assert [getattr(line.total, name) for line in calculation.lines] == [D(v) for v in expected]


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_worked_example(example: Example) -> None:
    calculation = calculate(example.cart, example.catalog, now=NOW, used=example.used)

    for name, expected in example.expected.items():
        assert getattr(calculation.value, name) == D(expected), name
    example.more(calculation)


def test_there_are_at_least_twenty_worked_examples() -> None:
    assert len(EXAMPLES) >= 20


def test_a_second_currency_in_one_cart_is_refused_with_a_reason() -> None:
    cart = Cart(items=[item("a", item_id=1), item("b", item_id=2)])

    with pytest.raises(FailedPrecondition) as refused:
        calculate(cart, catalog(sku("a", "1.00"), sku("b", "1.00", currency="EUR")))

    assert refused.value.reason == CURRENCY_MISMATCH
    assert "USD" in str(refused.value) and "EUR" in str(refused.value)


def test_a_quantity_outside_the_skus_limit_is_refused_naming_sku_and_limit() -> None:
    limited = catalog(sku("a", "1.00", quantity_limit=QuantityLimit(1, 5)))

    check_quantity(limited, item("a", quantity=5, item_id=1))
    with pytest.raises(FailedPrecondition) as refused:
        check_quantity(limited, item("a", quantity=6, item_id=1))

    assert refused.value.reason == QUANTITY_LIMIT
    assert "sku a" in str(refused.value) and "at most 5" in str(refused.value)


def test_skus_are_enriched_from_the_catalog() -> None:
    calculation = calculate(
        Cart(items=[item("a", "1", item_id=1)]),
        catalog(sku("a", "13.48", "10.48", quantity_limit=QuantityLimit(1, 5))),
    )

    priced = calculation.lines[0].skus[0]
    assert (priced.title, priced.price, priced.regular_price) == ("A", D("10.48"), D("13.48"))
    assert priced.quantity_limit == QuantityLimit(1, 5)


def test_unit_values_are_a_units_share_of_the_line() -> None:
    calculation = calculate(
        Cart(items=[item("a", quantity=3, item_id=1)]), catalog(sku("a", "3.33"))
    )

    line = calculation.lines[0]
    assert (line.unit.original_price, line.total.original_price) == (D("3.33"), D("9.99"))
