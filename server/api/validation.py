"""Validation of what clients send, driven by one table of rules (RULES) keyed by proto field.

Conversion (server.api.convert) consults the table for every field it reads, so a rule is
written once and applies to every RPC that carries the field. A field without a rule of its own
gets the default for its kind (string length, decimal shape).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from server.api.input_shapes import problem_with
from server.domain.errors import FieldViolation, InvalidArgument

MAX_DECIMAL_INTEGER_DIGITS = 15
MAX_DECIMAL_FRACTION_DIGITS = 4
# ASCII digits only: \d would admit other scripts' digits ("١٠"), which Decimal() reads as 10.
DECIMAL_TEXT = re.compile(r"-?[0-9]+(\.[0-9]+)?")


@dataclass(frozen=True)
class Rule:
    required: bool = False
    # None: the configured Limits.string_length.
    max_length: int | None = None
    min_value: int | Decimal | None = None
    max_value: int | Decimal | None = None
    max_entries: int | None = None
    # A text shape checked when the value is not blank: currency, email, phone, reference.
    shape: str | None = None


@dataclass(frozen=True)
class Limits:
    """Sizes a request (or a cart) may not exceed. Each is a setting: --max-<name>."""

    items_per_request: int = 100
    items_per_cart: int = 100
    skus_per_item: int = 50
    entries_per_request: int = 100
    properties_per_map: int = 50
    property_key_length: int = 128
    property_value_length: int = 1024
    string_length: int = 256
    quantity: int = 10_000


NON_NEGATIVE = Decimal(0)
MONEY_MAX = Decimal("999999999999.9999")


def build_rules(limits: Limits) -> dict[str, Rule]:
    quantity = Decimal(limits.quantity)
    return {
        "Cart.accounts_id": Rule(min_value=0),
        "Cart.type": Rule(max_length=64),
        "Cart.items": Rule(max_entries=limits.items_per_request),
        "CreateCartItemRequest.items": Rule(required=True, max_entries=limits.items_per_request),
        "CartItem.quantity": Rule(min_value=1, max_value=limits.quantity),
        "CartItem.quantity_v2": Rule(min_value=Decimal("0.0001"), max_value=quantity),
        "CartItem.skus": Rule(required=True, max_entries=limits.skus_per_item),
        "CartItem.fulfillment_date": Rule(min_value=0),
        "Sku.sku_id": Rule(required=True, max_length=64),
        "Sku.product_id": Rule(max_length=64),
        "Sku.bundle_sku_type": Rule(max_length=64),
        "Sku.price": Rule(min_value=NON_NEGATIVE, max_value=MONEY_MAX),
        "Sku.sku_quantity": Rule(min_value=0, max_value=limits.quantity),
        "Sku.optional_sku_quantity": Rule(min_value=0, max_value=limits.quantity),
        "Sku.sku_quantity_v2": Rule(min_value=NON_NEGATIVE, max_value=quantity),
        "Sku.optional_sku_quantity_v2": Rule(min_value=NON_NEGATIVE, max_value=quantity),
        "Shipping.delivery_on_or_before": Rule(min_value=0),
        "Shipping.delivery_instructions": Rule(max_length=1024),
        "Payment.amount": Rule(min_value=NON_NEGATIVE, max_value=MONEY_MAX),
        "Payment.currency": Rule(required=True, max_length=3, shape="currency"),
        "Payment.payment_id": Rule(shape="reference"),
        "Payment.payment_item_id": Rule(shape="reference"),
        "Payment.transaction_id": Rule(shape="reference"),
        "Payment.payment_type": Rule(max_length=64, shape="reference"),
        "Address.email": Rule(max_length=254, shape="email"),
        "Address.phone": Rule(max_length=64, shape="phone"),
        "Address.mobile": Rule(max_length=64, shape="phone"),
        "CommunicationPreference.email": Rule(max_length=254, shape="email"),
        "Promotion.promo_code": Rule(required=True, max_length=64),
        "CommunicationPreference.phone": Rule(max_length=64, shape="phone"),
        "CommunicationPreference.zip_code": Rule(max_length=64),
        "OtherCharge.charge_value": Rule(min_value=NON_NEGATIVE, max_value=MONEY_MAX),
        "OtherCharge.description": Rule(max_length=1024),
        "OtherCharge.type": Rule(required=True),
        "OtherCharge.charge_type": Rule(required=True),
        "OtherCharge.charge_against": Rule(max_length=64),
        "OtherCharge.charge_source": Rule(max_length=64),
        "OtherCharge.item_id": Rule(min_value=0),
        "LoyaltyDetail.value": Rule(min_value=NON_NEGATIVE, max_value=MONEY_MAX),
        "LoyaltyDetail.points": Rule(min_value=NON_NEGATIVE, max_value=MONEY_MAX),
        "LoyaltyDetail.type": Rule(max_length=64),
        "LoyaltyDetail.value_type": Rule(max_length=64),
    }


DEFAULT_RULE = Rule()
_limits = Limits()
_rules = build_rules(_limits)


def configure(limits: Limits) -> None:
    """Sets the limits in force; called once at start-up, before the server takes calls."""
    global _limits, _rules
    _limits, _rules = limits, build_rules(limits)


def limits() -> Limits:
    return _limits


def rule_for(message_name: str, field_name: str) -> Rule:
    return _rules.get(f"{message_name}.{field_name}", DEFAULT_RULE)


@dataclass
class Violations:
    """Collects every problem of a request, so a client learns all of them in one answer."""

    found: list[FieldViolation] = field(default_factory=list)

    def add(self, path: str, description: str) -> None:
        self.found.append(FieldViolation(path, description))

    def raise_if_any(self) -> None:
        if self.found:
            raise InvalidArgument(self.found)

    def check_string(self, path: str, value: str, rule: Rule) -> None:
        if "\x00" in value:
            # PostgreSQL stores no NUL in text or JSON; refuse it for every backend alike.
            self.add(path, "must not contain NUL characters")
        elif rule.required and not value.strip():
            self.add(path, "is required")
        elif len(value) > (max_length := rule.max_length or _limits.string_length):
            self.add(path, f"is longer than {max_length} characters")
        elif rule.shape and value.strip():
            problem = problem_with(rule.shape, value.strip())
            if problem:
                self.add(path, problem)

    def check_number(self, path: str, value: int | Decimal, rule: Rule) -> None:
        if rule.required and not value:
            self.add(path, "is required")
        elif rule.min_value is not None and value < rule.min_value:
            self.add(path, f"must be at least {rule.min_value}")
        elif rule.max_value is not None and value > rule.max_value:
            self.add(path, f"must be at most {rule.max_value}")

    def check_positive_id(self, path: str, value: int) -> None:
        if value <= 0:
            self.add(path, "must be a positive id")

    def check_count(self, path: str, count: int, limit: int) -> None:
        if count > limit:
            self.add(path, f"has {count} entries; at most {limit} are allowed")

    def check_properties(self, path: str, properties: Mapping[str, str]) -> None:
        self.check_count(path, len(properties), _limits.properties_per_map)
        for key, value in properties.items():
            if "\x00" in key or "\x00" in value:
                self.add(f"{path}[{key[:32]!r}]", "must not contain NUL characters")
            elif not key.strip() or len(key) > _limits.property_key_length:
                self.add(
                    f"{path}[{key[:32]!r}]",
                    f"key must be 1 to {_limits.property_key_length} characters",
                )
            elif len(value) > _limits.property_value_length:
                self.add(
                    f"{path}[{key[:32]!r}]",
                    f"value is longer than {_limits.property_value_length} characters",
                )

    def parse_decimal(self, path: str, text: str) -> Decimal | None:
        """The exact value of a Decimal message, or None (with a violation) if malformed: an
        optional minus, ASCII digits and an optional fraction, nothing around them."""
        if not DECIMAL_TEXT.fullmatch(text):
            self.add(path, "must be a decimal number such as 10.48")
            return None
        integer, _, fraction = text.lstrip("-").partition(".")
        if len(fraction) > MAX_DECIMAL_FRACTION_DIGITS:
            self.add(path, f"has more than {MAX_DECIMAL_FRACTION_DIGITS} fraction digits")
            return None
        if len(integer.lstrip("0")) > MAX_DECIMAL_INTEGER_DIGITS:
            self.add(path, f"has more than {MAX_DECIMAL_INTEGER_DIGITS} integer digits")
            return None
        try:
            return Decimal(text)
        except InvalidOperation:  # pragma: no cover - the pattern admits only valid text
            self.add(path, "must be a decimal number such as 10.48")
            return None


BASKET_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")


def check_basket_id(violations: Violations, value: str) -> None:
    if not BASKET_ID.fullmatch(value):
        violations.add(
            "basket_id", "must be 1-64 characters: letters, digits, '.', '_', ':' or '-'"
        )
