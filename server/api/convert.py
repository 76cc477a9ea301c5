"""Conversion between protobuf messages and domain dataclasses, validating on the way in.

Both sides use the same field names, so conversion walks the message descriptor instead of
listing fields by hand; what differs by field lives in server.api.validation.RULES and in the
few special cases below.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import MISSING, fields
from enum import StrEnum
from typing import Any

from cartservice.type.v1 import decimal_pb2
from google.protobuf import field_mask_pb2
from google.protobuf.message import Message

from server.api.validation import Violations, limits, rule_for
from server.contract.messages import (
    decimal_message,
    decimal_text,
    enum_prefix,
    is_map,
    to_proto,
)
from server.domain import model

__all__ = ["decimal_message", "decimal_text", "to_proto"]

DOMAIN_CLASSES: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        model.Cart, model.CartItem, model.Sku, model.Shipping, model.Address, model.Payment,
        model.Promotion, model.CommunicationPreference, model.OtherCharge, model.LoyaltyDetail,
    )
}  # fmt: skip
DOMAIN_ENUMS: dict[str, type[StrEnum]] = {
    cls.__name__: cls
    for cls in (model.CartStatus, model.ContactMethod, model.ChargeLevel, model.ChargeType)
}
# Ids that refer to another resource, where 0 on the wire means "none".
OPTIONAL_REFERENCES = {"OtherCharge.item_id"}
DECIMAL = decimal_pb2.Decimal.DESCRIPTOR


class _Unset:
    """A field the client did not send; the dataclass default applies."""


UNSET = _Unset()


# ---- proto → domain ----


def from_proto(message: Message, path: str, violations: Violations) -> Any:
    cls = DOMAIN_CLASSES[message.DESCRIPTOR.name]
    values = {
        f.name: read_field(message, f.name, _join(path, f.name), violations)
        for f in fields(cls)
        if not f.metadata.get("server_set")
    }
    return cls(**{name: value for name, value in values.items() if value is not UNSET})


def read_field(message: Message, name: str, path: str, violations: Violations) -> Any:
    descriptor = message.DESCRIPTOR.fields_by_name[name]
    rule = rule_for(message.DESCRIPTOR.name, name)
    value = getattr(message, name)
    if is_map(descriptor):
        violations.check_properties(path, value)
        return dict(value)
    if descriptor.is_repeated:
        limit = rule.max_entries or limits().entries_per_request
        violations.check_count(path, len(value), limit)
        if rule.required and not value:
            violations.add(path, "needs at least one entry")
        return [from_proto(v, f"{path}[{i}]", violations) for i, v in enumerate(value[:limit])]
    if descriptor.message_type is DECIMAL:
        if not message.HasField(name):
            return UNSET
        number = violations.parse_decimal(path, value.value)
        if number is not None:
            violations.check_number(path, number, rule)
        return number
    if descriptor.message_type is not None:
        return from_proto(value, path, violations) if message.HasField(name) else None
    if descriptor.enum_type is not None:
        return _read_enum(descriptor.enum_type, value, path, rule.required, violations)
    if isinstance(value, str):
        violations.check_string(path, value, rule)
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        violations.check_number(path, value, rule)
        if value == 0 and f"{message.DESCRIPTOR.name}.{name}" in OPTIONAL_REFERENCES:
            return None
    return value


def _read_enum(
    enum: Any, number: int, path: str, required: bool, violations: Violations
) -> StrEnum | None:
    value = enum.values_by_number.get(number)
    if value is None:
        violations.add(path, f"unknown {enum.name} value {number}")
        return None
    if number == 0:
        if required:
            violations.add(path, "is required")
        return None
    return DOMAIN_ENUMS[enum.name](value.name.removeprefix(enum_prefix(enum)))


def changes_from_mask(
    message: Message,
    mask: field_mask_pb2.FieldMask,
    allowed: Iterable[str],
    path: str,
    violations: Violations,
) -> dict[str, Any]:
    """The fields a Patch* request changes, as domain values.

    With a mask, exactly its paths (a path left unset in the message resets the field); without
    one, every allowed field set to a non-default value (AIP-134).
    """
    allowed = tuple(allowed)
    cls = DOMAIN_CLASSES[message.DESCRIPTOR.name]
    paths = list(mask.paths) or [name for name in allowed if _is_set(message, name)]
    if not paths:
        violations.add("update_mask", "names no field to change")
    changes: dict[str, Any] = {}
    for name in paths:
        if name not in allowed:
            violations.add(
                "update_mask", f"{name!r} cannot be changed; allowed: {', '.join(allowed)}"
            )
            continue
        value = read_field(message, name, _join(path, name), violations)
        changes[name] = _default_of(cls, name) if value is UNSET else value
    return changes


def _is_set(message: Message, name: str) -> bool:
    descriptor = message.DESCRIPTOR.fields_by_name[name]
    if descriptor.is_repeated:
        return len(getattr(message, name)) > 0
    if descriptor.has_presence:
        return message.HasField(name)
    return bool(getattr(message, name))


def _default_of(cls: type, name: str) -> Any:
    spec = next(f for f in fields(cls) if f.name == name)
    if spec.default_factory is not MISSING:
        return spec.default_factory()
    return spec.default


# ---- helpers ----


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name
