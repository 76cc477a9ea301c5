"""Quoted prices of a basket: each line's retail price after the basket's promo code.

Rounding, exact in Decimal throughout:
- A percent-off code discounts every line by that percent of its retail price; each quoted price
  is rounded half-up to the currency's minor unit (2 digits, 0 for JPY/KRW/..., 3 for BHD/KWD/...).
- An amount-off code takes its amount off the basket's subtotal (never below zero). The discount is
  shared over the lines in proportion to their retail prices, each share rounded down to the minor
  unit and the leftover minor units given to the lines with the largest remainders (ties: earlier
  line first), so the quoted prices add up to exactly subtotal − discount.
- A code whose minimum subtotal the basket does not reach stays applied but discounts nothing
  until the basket reaches it again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

ZERO_DECIMAL_CURRENCIES = frozenset(
    ["BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW",
     "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"]
)  # fmt: skip
THREE_DECIMAL_CURRENCIES = frozenset(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"])


def minor_unit(currency: str) -> Decimal:
    if currency in ZERO_DECIMAL_CURRENCIES:
        return Decimal(1)
    if currency in THREE_DECIMAL_CURRENCIES:
        return Decimal("0.001")
    return Decimal("0.01")


@dataclass(frozen=True)
class PromoCode:
    code: str
    description: str
    percent_off: Decimal | None = None
    amount_off: Decimal | None = None
    currency: str | None = None
    valid_from: int | None = None
    valid_until: int | None = None
    minimum_subtotal: Decimal | None = None


def in_minor_units(value: Decimal, currency: str) -> Decimal:
    return value.quantize(minor_unit(currency), rounding=ROUND_HALF_UP)


def quote(
    retail_prices: Sequence[Decimal], currency: str, promo: PromoCode | None
) -> list[Decimal]:
    """The quoted price of each line, in the order given."""
    prices = [in_minor_units(p, currency) for p in retail_prices]
    subtotal = sum(prices, Decimal(0))
    if promo is None or not prices or not discounts(promo, subtotal, currency):
        return prices
    if promo.percent_off is not None:
        keep = (Decimal(100) - promo.percent_off) / Decimal(100)
        return [in_minor_units(p * keep, currency) for p in prices]
    assert promo.amount_off is not None
    return _share_discount(prices, min(promo.amount_off, subtotal), currency)


def discounts(promo: PromoCode, subtotal: Decimal, currency: str) -> bool:
    """Whether the code takes anything off a basket of this subtotal and currency."""
    if promo.amount_off is not None and promo.currency != currency:
        return False
    return promo.minimum_subtotal is None or subtotal >= promo.minimum_subtotal


def _share_discount(prices: list[Decimal], discount: Decimal, currency: str) -> list[Decimal]:
    unit = minor_unit(currency)
    subtotal = sum(prices, Decimal(0))
    if subtotal == 0:
        return prices
    exact = [discount * p / subtotal for p in prices]
    shares = [e.quantize(unit, rounding=ROUND_DOWN) for e in exact]
    leftover = int((in_minor_units(discount, currency) - sum(shares, Decimal(0))) / unit)
    by_remainder = sorted(range(len(prices)), key=lambda i: (-(exact[i] - shares[i]), i))
    for i in by_remainder[:leftover]:
        shares[i] += unit
    return [p - s for p, s in zip(prices, shares, strict=True)]
