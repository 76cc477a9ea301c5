"""Domain objects as messages of the contract (cartservice.cart.v1), for documents and answers.

Each pair of classes gets a plan once (which fields the two share, how each value converts), so
no call walks descriptors.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

from cartservice.type.v1 import decimal_pb2
from google.protobuf.message import Message

from server.domain import model

DECIMAL = decimal_pb2.Decimal.DESCRIPTOR
M = TypeVar("M", bound=Message)


def to_proto(obj: object, message_class: type[M]) -> M:
    message = message_class()
    fill(message, obj)
    return message


def fill(message: Message, obj: object, skip: tuple[str, ...] = ()) -> None:
    """Sets the message's fields from the object's (but those in `skip`), building nested
    messages in place (a message passed to a constructor would be copied at every level)."""
    key = (type(obj), type(message))
    plan = _PLANS.get(key)
    if plan is None:
        plan = _PLANS[key] = _plan(type(obj), type(message))
    for name, kind, convert in plan:
        if name in skip:
            continue
        value = getattr(obj, name)
        if value is None:
            continue
        if kind is _SCALAR:
            setattr(message, name, value if convert is None else convert(value))
        elif kind is _DECIMAL:
            getattr(message, name).value = decimal_text(value)
        elif kind is _MESSAGE:
            fill(getattr(message, name), value)
        elif kind is _REPEATED:
            target = getattr(message, name)
            for element in value:
                fill(target.add(), element)
        else:
            getattr(message, name).update(value)


_SCALAR, _DECIMAL, _MESSAGE, _REPEATED, _MAP = range(5)
Plan = list[tuple[str, int, Callable[[Any], Any] | None]]
_PLANS: dict[tuple[type, type], Plan] = {}


def _plan(cls: type, message_class: type[Message]) -> Plan:
    """Which fields a domain class and a message share, and how each is set: made once per
    pair of classes, so no call walks descriptors."""
    hints = typing.get_type_hints(cls, vars(model))
    return [
        (descriptor.name, *_kind(descriptor))
        for descriptor in message_class.DESCRIPTOR.fields
        if descriptor.name in hints
    ]


def _kind(descriptor: Any) -> tuple[int, Callable[[Any], Any] | None]:
    if is_map(descriptor):
        return _MAP, None
    if descriptor.is_repeated:
        return _REPEATED, None
    if descriptor.message_type is DECIMAL:
        return _DECIMAL, None
    if descriptor.message_type is not None:
        return _MESSAGE, None
    if descriptor.enum_type is not None:
        enum = descriptor.enum_type
        numbers = {
            value.name.removeprefix(enum_prefix(enum)): value.number for value in enum.values
        }
        return _SCALAR, lambda member: numbers[member.value]
    return _SCALAR, None


def decimal_message(value: Decimal) -> decimal_pb2.Decimal:
    return decimal_pb2.Decimal(value=decimal_text(value))


def decimal_text(value: Decimal) -> str:
    """Canonical text of a decimal: no exponent, no trailing fraction zeros ("10.48", "100")."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def is_map(descriptor: Any) -> bool:
    message_type = descriptor.message_type
    return message_type is not None and bool(message_type.GetOptions().map_entry)


def enum_prefix(enum: Any) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", enum.name).upper() + "_"
