"""A collection's catalog: skus, promotion rules, tax rates, delivery charges and the pricing
settings, as `cartservice catalog load FILE` and the admin RPC take them (README, "Pricing").

`parse_catalog` reads the documented JSON document (amounts as decimal text or JSON integers,
never as floats) and answers every mistake at once, each naming its JSON path.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from functools import cached_property
from typing import Any, TypeVar

from server.domain.errors import FieldViolation, InvalidArgument
from server.domain.money import Rounding

ANY = "*"
_CURRENCY = re.compile(r"^[A-Z]{3}$")
MAX_WHOLE = 2_147_483_647  # what an integer column holds (stock, limits, ages, priorities)
MAX_MS = 253_402_300_799_999  # the last millisecond of the year 9999
# The columns a catalog's ids and names are written to (server.store.tables).
ID_CHARACTERS = 64
TEXT_CHARACTERS = 256
_DECIMAL = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")
T = TypeVar("T")


class Level(enum.Enum):
    CART = "CART"
    ITEM = "ITEM"
    SKU = "SKU"
    SHIPPING = "SHIPPING"


class Kind(enum.Enum):
    PERCENTAGE = "PERCENTAGE"
    FIXED = "FIXED"


class Stacking(enum.Enum):
    STACK = "STACK"
    STOP = "STOP"  # no rule after this one applies


@dataclass(frozen=True)
class QuantityLimit:
    min_value: int = 1
    max_value: int = 0  # 0: no upper limit


@dataclass(frozen=True)
class CatalogSku:
    sku_id: str
    title: str
    regular_price: Decimal
    sale_price: Decimal | None = None
    currency: str = "USD"
    product_id: str = ""
    quantity_limit: QuantityLimit = QuantityLimit()
    minimum_age: int = 0
    taxable: bool = True
    tax_category: str = "standard"
    # For baskets (seed 002's products are these skus): the supplier, and the stock a load
    # sets (None: the load leaves the stock as it is).
    provider: str = ""
    stock: int | None = None

    @property
    def price(self) -> Decimal:
        return self.regular_price if self.sale_price is None else self.sale_price


@dataclass(frozen=True)
class PromotionRule:
    id: str
    title: str
    level: Level
    kind: Kind
    value: Decimal
    description: str = ""
    code: str | None = None  # None: automatic
    skus: frozenset[str] = frozenset()  # SKU level: the skus it discounts
    minimum_subtotal: Decimal | None = None
    valid_from: int | None = None  # epoch ms
    valid_until: int | None = None
    apply_before_taxation: bool = True
    stacking: Stacking = Stacking.STACK
    priority: int = 100
    usage_limit: int | None = None


@dataclass(frozen=True)
class TaxRate:
    country: str
    state: str
    category: str
    rate: Decimal  # a fraction: 0.0825 is 8.25 %


@dataclass(frozen=True)
class Catalog:
    currency: str = "USD"
    rounding: Rounding = Rounding.HALF_EVEN
    tax_inclusive: bool = False
    default_tax_rate: Decimal = Decimal(0)
    skus: Mapping[str, CatalogSku] = field(default_factory=dict)
    promotions: tuple[PromotionRule, ...] = ()
    tax_rates: tuple[TaxRate, ...] = ()
    delivery_charges: Mapping[str, Decimal] = field(default_factory=dict)  # by shipping method

    @cached_property
    def mixes_currencies(self) -> bool:
        """Whether its skus are priced in more than one currency (only then can a cart mix)."""
        return len({sku.currency for sku in self.skus.values()}) > 1

    def without_used_up(self, uses: Mapping[str, int]) -> Catalog:
        """This catalog without the rules whose usage limit `uses` reached."""
        kept = tuple(
            rule
            for rule in self.promotions
            if rule.usage_limit is None or uses.get(rule.id, 0) < rule.usage_limit
        )
        return self if len(kept) == len(self.promotions) else replace(self, promotions=kept)

    def rule_for_code(self, code: str) -> PromotionRule | None:
        """The rule of a promo code; codes match whatever their case."""
        wanted = code.upper()
        return next((r for r in self.promotions if r.code and r.code.upper() == wanted), None)

    def tax_rate(self, country: str, state: str, category: str) -> Decimal:
        """The most specific rate: country, state and category, then any state, then any
        country; else the default."""
        best: tuple[int, Decimal] | None = None
        for entry in self.tax_rates:
            if entry.category not in (category, ANY):
                continue
            if entry.country not in (country, ANY) or entry.state not in (state, ANY):
                continue
            score = (entry.country != ANY) * 4 + (entry.state != ANY) * 2 + (entry.category != ANY)
            if best is None or score > best[0]:
                best = (score, entry.rate)
        return self.default_tax_rate if best is None else best[1]


EMPTY = Catalog()


# ---- the JSON document ----


class _Reader:
    def __init__(self) -> None:
        self.violations: list[FieldViolation] = []

    def fail(self, path: str, description: str) -> None:
        self.violations.append(FieldViolation(path, description))

    def get(
        self,
        data: Mapping[str, Any],
        path: str,
        name: str,
        read: Callable[[Any, str], T],
        default: T,
        *,
        required: bool = False,
    ) -> T:
        where = f"{path}.{name}" if path else name
        if name not in data or data[name] is None:
            if required:
                self.fail(where, "is required")
            return default
        return read(data[name], where)

    def required(
        self,
        data: Mapping[str, Any],
        path: str,
        name: str,
        read: Callable[[Any, str], T],
        default: T,
    ) -> T:
        return self.get(data, path, name, read, default, required=True)

    def text(self, value: Any, path: str) -> str:
        if not isinstance(value, str):
            self.fail(path, "must be a string")
            return ""
        return value

    def texts(self, value: Any, path: str) -> list[str]:
        if not isinstance(value, list):
            self.fail(path, "must be a list of strings")
            return []
        return [self.text(item, f"{path}[{index}]") for index, item in enumerate(value)]

    def whole(self, value: Any, path: str) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_WHOLE:
            self.fail(path, f"must be a whole number from 0 to {MAX_WHOLE}")
            return 0
        return value

    def moment(self, value: Any, path: str) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_MS:
            self.fail(path, "must be epoch milliseconds")
            return 0
        return value

    def name(self, most: int) -> Callable[[Any, str], str]:
        def read(value: Any, path: str) -> str:
            text = self.text(value, path)
            if not 0 < len(text) <= most:
                self.fail(path, f"must be 1 to {most} characters")
            return text

        return read

    def flag(self, value: Any, path: str) -> bool:
        if not isinstance(value, bool):
            self.fail(path, "must be true or false")
            return False
        return value

    def amount(self, value: Any, path: str) -> Decimal:
        """Decimal text ("10.48") or a JSON integer; a JSON float could not be exact."""
        if isinstance(value, int) and not isinstance(value, bool):
            text = str(value)
        elif isinstance(value, str) and _DECIMAL.match(value):
            text = value
        else:
            self.fail(path, 'must be decimal text such as "10.48" (or a whole JSON number)')
            return Decimal(0)
        try:
            number = Decimal(text)
        except InvalidOperation:  # pragma: no cover  (the pattern admits only valid text)
            self.fail(path, "is not a decimal")
            return Decimal(0)
        if number < 0:
            self.fail(path, "must not be negative")
        return number

    def currency(self, value: Any, path: str) -> str:
        text = self.text(value, path)
        if text and not _CURRENCY.match(text):
            self.fail(path, "must be an ISO 4217 code such as USD")
        return text

    def choice(self, kind: type[enum.Enum]) -> Callable[[Any, str], Any]:
        def read(value: Any, path: str) -> Any:
            try:
                return kind(value)
            except ValueError:
                names = ", ".join(str(member.value) for member in kind)
                self.fail(path, f"must be one of {names}")
                return next(iter(kind))

        return read

    def rounding(self, value: Any, path: str) -> Rounding:
        try:
            return Rounding[str(value)]
        except KeyError:
            self.fail(path, "must be HALF_EVEN, HALF_UP or HALF_DOWN")
            return Rounding.HALF_EVEN

    def entries(self, data: Mapping[str, Any], name: str) -> list[tuple[str, Mapping[str, Any]]]:
        found = data.get(name) or []
        if not isinstance(found, list):
            self.fail(name, "must be a list")
            return []
        listed: list[tuple[str, Mapping[str, Any]]] = []
        for index, entry in enumerate(found):
            path = f"{name}[{index}]"
            if isinstance(entry, dict):
                listed.append((path, entry))
            else:
                self.fail(path, "must be an object")
        return listed


def parse_catalog(document: Any) -> Catalog:
    """The catalog of a JSON document (parsed), or InvalidArgument naming every mistake."""
    read = _Reader()
    if not isinstance(document, dict):
        raise InvalidArgument.single("", "a catalog is a JSON object")
    currency = read.get(document, "", "currency", read.currency, "USD")
    catalog = Catalog(
        currency=currency,
        rounding=read.get(document, "", "rounding", read.rounding, Rounding.HALF_EVEN),
        tax_inclusive=read.get(document, "", "taxInclusive", read.flag, False),
        default_tax_rate=read.get(document, "", "defaultTaxRate", read.amount, Decimal(0)),
        skus=_skus(read, document, currency),
        promotions=_promotions(read, document),
        tax_rates=tuple(
            _tax_rate(read, path, entry) for path, entry in read.entries(document, "taxRates")
        ),
        delivery_charges=_delivery(read, document),
    )
    if read.violations:
        raise InvalidArgument(read.violations)
    return catalog


def _promotions(read: _Reader, document: Mapping[str, Any]) -> tuple[PromotionRule, ...]:
    rules: dict[str, PromotionRule] = {}
    for path, entry in read.entries(document, "promotions"):
        rule = _promotion(read, path, entry)
        if rule.id in rules:
            read.fail(f"{path}.id", f"repeats {rule.id!r}")
        rules[rule.id] = rule
    return tuple(rules.values())


def _skus(read: _Reader, document: Mapping[str, Any], currency: str) -> dict[str, CatalogSku]:
    skus: dict[str, CatalogSku] = {}
    for path, entry in read.entries(document, "skus"):
        sku_id = read.required(entry, path, "skuId", read.name(ID_CHARACTERS), "")
        limit = entry.get("quantityLimit") or {}
        quantity_limit = QuantityLimit(
            min_value=read.get(limit, f"{path}.quantityLimit", "minValue", read.whole, 1),
            max_value=read.get(limit, f"{path}.quantityLimit", "maxValue", read.whole, 0),
        )
        if quantity_limit.max_value and quantity_limit.max_value < quantity_limit.min_value:
            read.fail(f"{path}.quantityLimit", "maxValue must be 0 (none) or at least minValue")
        sku = CatalogSku(
            sku_id=sku_id,
            title=read.get(entry, path, "title", read.name(TEXT_CHARACTERS), ""),
            regular_price=read.required(entry, path, "regularPrice", read.amount, Decimal(0)),
            sale_price=read.get(entry, path, "salePrice", read.amount, None),
            currency=read.get(entry, path, "currency", read.currency, currency),
            product_id=read.get(entry, path, "productId", read.text, ""),
            quantity_limit=quantity_limit,
            minimum_age=read.get(entry, path, "minimumAge", read.whole, 0),
            taxable=read.get(entry, path, "taxable", read.flag, True),
            tax_category=read.get(entry, path, "taxCategory", read.text, "standard"),
            provider=read.get(entry, path, "provider", read.name(ID_CHARACTERS), ""),
            stock=read.get(entry, path, "stock", read.whole, None),
        )
        if sku.sale_price is not None and sku.sale_price > sku.regular_price:
            read.fail(f"{path}.salePrice", "must not exceed regularPrice")
        if sku_id in skus:
            read.fail(f"{path}.skuId", f"repeats {sku_id!r}")
        skus[sku_id] = sku
    return skus


def _promotion(read: _Reader, path: str, entry: Mapping[str, Any]) -> PromotionRule:
    kind = read.required(entry, path, "kind", read.choice(Kind), Kind.PERCENTAGE)
    value = read.required(entry, path, "value", read.amount, Decimal(0))
    if kind is Kind.PERCENTAGE and value > 100:
        read.fail(f"{path}.value", "a percentage is at most 100")
    skus: list[str] = read.get(entry, path, "skus", read.texts, [])
    return PromotionRule(
        id=read.required(entry, path, "id", read.name(TEXT_CHARACTERS), ""),
        title=read.get(entry, path, "title", read.text, ""),
        description=read.get(entry, path, "description", read.text, ""),
        level=read.required(entry, path, "level", read.choice(Level), Level.CART),
        kind=kind,
        value=value,
        code=read.get(entry, path, "code", read.text, None),
        skus=frozenset(skus),
        minimum_subtotal=read.get(entry, path, "minimumSubtotal", read.amount, None),
        valid_from=read.get(entry, path, "validFrom", read.moment, None),
        valid_until=read.get(entry, path, "validUntil", read.moment, None),
        apply_before_taxation=read.get(entry, path, "applyBeforeTaxation", read.flag, True),
        stacking=read.get(entry, path, "stacking", read.choice(Stacking), Stacking.STACK),
        priority=read.get(entry, path, "priority", read.whole, 100),
        usage_limit=read.get(entry, path, "usageLimit", read.whole, None),
    )


def _tax_rate(read: _Reader, path: str, entry: Mapping[str, Any]) -> TaxRate:
    rate = read.required(entry, path, "rate", read.amount, Decimal(0))
    if rate >= 1:
        read.fail(f"{path}.rate", "is a fraction below 1 (0.0825 for 8.25 %)")
    return TaxRate(
        country=read.get(entry, path, "country", read.text, ANY),
        state=read.get(entry, path, "state", read.text, ANY),
        category=read.get(entry, path, "category", read.text, ANY),
        rate=rate,
    )


def _delivery(read: _Reader, document: Mapping[str, Any]) -> dict[str, Decimal]:
    charges = document.get("deliveryCharges") or {}
    if not isinstance(charges, dict):
        read.fail("deliveryCharges", "must be an object of shipping method to amount")
        return {}
    return {
        str(method): read.amount(amount, f"deliveryCharges.{method}")
        for method, amount in charges.items()
    }
