"""The catalog document: the README's example is a catalog, and tax rates go from the most
specific entry to the default."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from server.domain.catalog import Catalog, Kind, Level, Stacking, TaxRate, parse_catalog
from server.domain.errors import InvalidArgument
from server.domain.money import Rounding
from tests.support import readme_blocks

COMMENT = re.compile(r"\s*//.*$", re.MULTILINE)


def test_the_readmes_catalog_example_is_a_catalog() -> None:
    (block,) = [b for b in readme_blocks("json") if '"promotions"' in b]

    catalog = parse_catalog(json.loads(COMMENT.sub("", block)))

    assert (catalog.currency, catalog.rounding, catalog.tax_inclusive) == (
        "USD",
        Rounding.HALF_EVEN,
        False,
    )
    sku = catalog.skus["210001110"]
    assert (sku.price, sku.regular_price, sku.quantity_limit.max_value) == (
        Decimal("10.48"), Decimal("13.48"), 5,
    )  # fmt: skip
    (rule,) = catalog.promotions
    assert (rule.level, rule.kind, rule.value, rule.code) == (
        Level.CART,
        Kind.PERCENTAGE,
        Decimal(5),
        None,
    )
    assert rule.stacking is Stacking.STACK and rule.apply_before_taxation
    assert catalog.delivery_charges == {"standard": Decimal("4.99"), "express": Decimal("9.99")}


def test_the_most_specific_tax_rate_wins_then_the_default() -> None:
    catalog = Catalog(
        default_tax_rate=Decimal("0.19"),
        tax_rates=(
            TaxRate("US", "*", "*", Decimal("0.05")),
            TaxRate("US", "CA", "standard", Decimal("0.0725")),
            TaxRate("*", "*", "food", Decimal("0.01")),
        ),
    )

    assert catalog.tax_rate("US", "CA", "standard") == Decimal("0.0725")
    assert catalog.tax_rate("US", "NY", "standard") == Decimal("0.05")
    assert catalog.tax_rate("US", "CA", "food") == Decimal("0.05")  # the country is more specific
    assert catalog.tax_rate("DE", "", "food") == Decimal("0.01")
    assert catalog.tax_rate("DE", "", "standard") == Decimal("0.19")


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 10**20) | st.text(max_size=8)
    | st.sampled_from(["1.00", "-1", "HALF_UP", "CART", "PERCENTAGE", "USD", "*"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["skus", "promotions", "taxRates", "deliveryCharges", "skuId",
                         "regularPrice", "salePrice", "quantityLimit", "maxValue", "id", "level",
                         "kind", "value", "rate", "currency", "rounding", "skus", "stock"]),
        inner, max_size=5),
    max_leaves=20,
)  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(JSON)
def test_any_json_is_a_catalog_or_invalid_argument_never_another_error(document: Any) -> None:
    try:
        parse_catalog(document)
    except InvalidArgument as error:
        assert error.violations
