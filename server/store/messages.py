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
from google.protobuf.message_factory import GetMessageClass

from server.domain import model

DECIMAL = decimal_pb2.Decimal.DESCRIPTOR
M = TypeVar("M", bound=Message)
Writer = Callable[[Any], Message]
_WRITERS: dict[tuple[type, type], Writer] = {}


def to_proto(obj: object, message_class: type[M]) -> M:
    writer = _WRITERS.get((type(obj), message_class))
    if writer is None:
        writer = _WRITERS[(type(obj), message_class)] = _writer(type(obj), message_class)
    return writer(obj)  # type: ignore[return-value]


def _writer(cls: type, message_class: type[Message]) -> Writer:
    hints = typing.get_type_hints(cls, vars(model))
    plan = [
        (descriptor.name, _converter(descriptor))
        for descriptor in message_class.DESCRIPTOR.fields
        if descriptor.name in hints
    ]

    def write(obj: Any) -> Message:
        values = {}
        for name, convert in plan:
            value = getattr(obj, name)
            if value is not None:
                values[name] = value if convert is None else convert(value)
        return message_class(**values)

    return write


def _converter(descriptor: Any) -> Callable[[Any], Any] | None:
    if is_map(descriptor):
        return None
    if descriptor.is_repeated:
        element_class = GetMessageClass(descriptor.message_type)
        return lambda values: [to_proto(element, element_class) for element in values]
    if descriptor.message_type is DECIMAL:
        return decimal_message
    if descriptor.message_type is not None:
        sub_class = GetMessageClass(descriptor.message_type)
        return lambda value: to_proto(value, sub_class)
    if descriptor.enum_type is not None:
        enum = descriptor.enum_type
        prefix = enum_prefix(enum)
        return lambda value: enum.values_by_name[prefix + value.value].number
    return None


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
