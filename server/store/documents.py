"""A cart as one document: the serialized `cartservice.cart.v1.Cart` of the contract.

The document is exactly what GetCart answers, so a read parses it (in C)
and sends it on without touching the domain; the row's columns repeat what lookups need.
docs/decisions.md says why protobuf and not JSON (figures in bench/README.md). A change reads
the document into the domain's dataclasses by a plan made once per class (which fields, how
each converts), so no call walks descriptors.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Iterator
from decimal import Decimal
from enum import StrEnum
from typing import Any

from cartservice.cart.v1 import cart_pb2
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

from server.contract.messages import enum_prefix, fill, to_proto
from server.domain import events, model
from server.domain.model import Cart, CartItem

Reader = Callable[[Message], Any]
_READERS: dict[type, Reader] = {}


# On a cart read from a document: each item object and the message it was read from.
_STORED_ITEMS = "_stored_items"


def encode_cart(cart: Cart) -> bytes:
    """The cart's document. Items read from the stored document that no recorded event touched
    are copied as the messages they were read from (in C), so a change costs the parts it
    changes, not the whole cart; every other part is converted."""
    stored: dict[CartItem, cart_pb2.CartItem] | None = getattr(cart, _STORED_ITEMS, None)
    if not stored:
        return to_proto(cart, cart_pb2.Cart).SerializeToString()
    touched = _touched_item_ids(cart)
    message = cart_pb2.Cart()
    fill(message, cart, skip=("items",))
    for item in cart.items:
        original = stored.get(item)
        if original is not None and item.id not in touched:
            message.items.add().CopyFrom(original)
        else:
            fill(message.items.add(), item)
    # What is written now is what a later encode of this unit of work starts from.
    setattr(cart, _STORED_ITEMS, dict(zip(cart.items, message.items, strict=True)))
    return message.SerializeToString()


def _touched_item_ids(cart: Cart) -> set[int | None]:
    """Items whose fields an operation changed: every operation that changes an item in place
    records one of these events (server.domain.cart_operations)."""
    touched: set[int | None] = set()
    for event in cart.events:
        if isinstance(event, events.ItemPatched):
            touched.add(event.item.id)
        elif isinstance(event, _ITEM_CHANGES):
            touched.add(event.item_id)
    return touched


_ITEM_CHANGES = (
    events.ItemPropertiesReplaced,
    events.ItemPropertiesMerged,
    events.ItemPropertiesDeleted,
)


def cart_message(document: bytes) -> cart_pb2.Cart:
    return cart_pb2.Cart.FromString(document)


def decode_cart(document: bytes, version: int, basket_id: str | None = None) -> Cart:
    """The cart of a row: its document, its version (a column only: the contract's Cart has
    none) and the basket it holds, if any."""
    message = cart_message(document)
    cart: Cart = _reader(Cart, cart_pb2.Cart)(message)
    cart.version = version
    cart.basket_id = basket_id
    setattr(cart, _STORED_ITEMS, dict(zip(cart.items, message.items, strict=True)))
    return cart


def _reader(cls: type, message_class: type[Message]) -> Reader:
    reader = _READERS.get(cls)
    if reader is None:
        reader = _READERS[cls] = _plan(cls, message_class)
    return reader


def _plan(cls: type, message_class: type[Message]) -> Reader:
    hints = typing.get_type_hints(cls, vars(model))
    descriptors = message_class.DESCRIPTOR.fields_by_name
    plan = [(name, *_field_reader(descriptors[name], hints[name])) for name in hints
            if name in descriptors]  # fmt: skip

    def read(message: Message) -> Any:
        values = {}
        for name, presence, convert in plan:
            if presence and not message.HasField(name):
                continue
            value = getattr(message, name)
            values[name] = value if convert is None else convert(value)
        return cls(**values)

    return read


def _field_reader(descriptor: Any, hint: Any) -> tuple[bool, Callable[[Any], Any] | None]:
    """(read only when present, conversion) for one field of a message."""
    optional = typing.get_origin(hint) in (typing.Union, types.UnionType)
    if optional:
        hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
    message_type = descriptor.message_type
    if message_type is not None and message_type.GetOptions().map_entry:
        return False, dict
    if descriptor.is_repeated:
        element = _reader(typing.get_args(hint)[0], GetMessageClass(message_type))
        return False, lambda values: [element(value) for value in values]
    if message_type is not None and hint is Decimal:
        return True, lambda value: Decimal(value.value)
    if message_type is not None:
        return True, _reader(hint, GetMessageClass(message_type))
    if descriptor.enum_type is not None:
        return False, _enum_reader(descriptor.enum_type, hint)
    if optional and hint is int and not descriptor.has_presence:
        return False, _none_for_zero  # an id, or a reference where 0 means none
    return descriptor.has_presence, None


def _none_for_zero(value: int) -> int | None:
    return value or None


def _enum_reader(enum: Any, domain: type[StrEnum]) -> Callable[[int], StrEnum | None]:
    prefix = enum_prefix(enum)
    members = {
        value.number: domain(value.name.removeprefix(prefix))
        for value in enum.values
        if value.number != 0
    }
    return members.get


def assign_part_ids(cart: Cart, next_id: Callable[[], int]) -> None:
    """Gives every part that has none an id (unique across all carts)."""
    for part in _parts_with_ids(cart):
        if part.id is None:
            part.id = next_id()
    for charge in cart.other_charges:
        charge.cart_id = cart.id


def parts_without_ids(cart: Cart) -> int:
    return sum(1 for part in _parts_with_ids(cart) if part.id is None)


def _parts_with_ids(cart: Cart) -> Iterator[Any]:
    for single in (cart.shipping, cart.address):
        if single is not None:
            yield single
    for item in cart.items:
        yield item
        yield from item.skus
        for single in (item.shipping, item.address):
            if single is not None:
                yield single
    yield from cart.payments
    yield from cart.other_charges
    yield from cart.loyalty_details
