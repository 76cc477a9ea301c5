"""Exact money: ISO 4217 minor units, the rounding modes a collection may choose, and the
allocation of an amount over lines so that the parts add up to it to the last minor unit."""

from __future__ import annotations

import enum
import functools
from collections.abc import Sequence
from decimal import ROUND_DOWN, ROUND_HALF_DOWN, ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal

ZERO = Decimal(0)
# ISO 4217 currencies whose minor unit is not the cent (all others have 2 digits).
_DIGITS = {
    **dict.fromkeys(
        ["BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI",
         "VND", "VUV", "XAF", "XOF", "XPF"],
        0,
    ),
    **dict.fromkeys(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"], 3),
    **dict.fromkeys(["CLF", "UYW"], 4),
}  # fmt: skip


class Rounding(enum.Enum):
    HALF_EVEN = ROUND_HALF_EVEN
    HALF_UP = ROUND_HALF_UP
    HALF_DOWN = ROUND_HALF_DOWN


def minor_digits(currency: str) -> int:
    return _DIGITS.get(currency, 2)


@functools.cache
def minor_unit(currency: str) -> Decimal:
    return Decimal(1).scaleb(-minor_digits(currency))


def rounded(value: Decimal, currency: str, rounding: Rounding = Rounding.HALF_EVEN) -> Decimal:
    """`value` in whole minor units of the currency."""
    return value.quantize(minor_unit(currency), rounding=rounding.value)


def allocate(
    amount: Decimal, weights: Sequence[Decimal], keys: Sequence[int], currency: str
) -> list[Decimal]:
    """`amount` (≥ 0, in minor units) shared over lines in proportion to their weights: each share
    rounded down to the minor unit, then one minor unit more to each of the lines with the
    largest remainders until the shares add up to `amount` (ties: the smallest key first, so
    the result does not depend on the order of the lines). No weight: nothing to share on."""
    total = sum(weights, ZERO)
    if not weights or total <= 0 or amount == 0:
        return [ZERO for _ in weights]
    unit = minor_unit(currency)
    exact = [amount * weight / total for weight in weights]
    shares = [share.quantize(unit, rounding=ROUND_DOWN) for share in exact]
    left = int((amount - sum(shares, ZERO)) / unit)
    by_remainder = sorted(range(len(weights)), key=lambda i: (shares[i] - exact[i], keys[i]))
    for index in by_remainder[:left]:
        shares[index] += unit
    return shares
