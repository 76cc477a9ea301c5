"""A cart as one document: the serialized `cartservice.cart.v1.Cart` of the contract.

The document is exactly what GetCart answers, so a read parses it (in C)
and sends it on without touching the domain; the row's columns repeat what lookups need.
docs/decisions.md says why protobuf and not JSON (figures in bench/README.md). A change reads
the document into the domain's dataclasses by a plan made once per class (which fields, how
each converts), so no call walks descriptors. Items, the part that grows, are converted field
by field when first read, so a change pays for the items it looks at, not for the whole cart.
"""

from __future__ import annotations

import dataclasses
import operator
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


# On a cart read from a document: the message it was parsed from and the item objects its
# items were read into, in order.
_DOCUMENT = "_document"


def encode_cart(cart: Cart) -> bytes:
    """The cart's document. A cart read from a document is written back into the message it
    was parsed from: items no recorded event touched stay as they are there (in C), so a change
    costs the parts it changes, not the whole cart."""
    document: tuple[cart_pb2.Cart, list[CartItem]] | None = getattr(cart, _DOCUMENT, None)
    message = None if document is None else _written_in_place(cart, *document)
    if message is None:
        message = to_proto(cart, cart_pb2.Cart)
    # What is written now is what a later encode of this unit of work starts from.
    setattr(cart, _DOCUMENT, (message, list(cart.items)))
    return message.SerializeToString()


def _written_in_place(
    cart: Cart, message: cart_pb2.Cart, stored: list[CartItem]
) -> cart_pb2.Cart | None:
    """The stored message changed to hold the cart, or None when its items are no longer the
    stored ones in their order followed by new ones (no operation does that today)."""
    items = cart.items
    if len(items) >= len(stored) and all(map(operator.is_, items, stored)):
        survivors = stored
    else:
        current = set(items)
        for k in reversed([k for k, item in enumerate(stored) if item not in current]):
            del message.items[k]
        survivors = [item for item in stored if item in current]
        if len(items) < len(survivors) or not all(map(operator.is_, items, survivors)):
            return None
    touched = _touched_items(cart)
    if touched:
        for k, item in enumerate(survivors):
            if item in touched:
                message.items[k].CopyFrom(to_proto(item, cart_pb2.CartItem))
    for item in items[len(survivors) :]:
        fill(message.items.add(), item)
    cleared: Message = message
    for name in _CART_FIELDS:
        cleared.ClearField(name)
    fill(message, cart, skip=("items",))
    return message


def _touched_items(cart: Cart) -> set[CartItem]:
    """Items whose fields an operation changed: every operation that changes an item in place
    records one of these events (server.domain.cart_operations)."""
    touched: set[CartItem] = set()
    for event in cart.events:
        if isinstance(event, events.ItemPatched):
            touched.add(event.item)
        elif isinstance(event, _ITEM_CHANGES):
            touched.update(item for item in cart.items if item.id == event.item_id)
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
    cart: Cart = _CART_WITHOUT_ITEMS(message)
    cart.items = [_StoredItem(stored) for stored in message.items]
    cart.version = version
    cart.basket_id = basket_id
    setattr(cart, _DOCUMENT, (message, list(cart.items)))
    return cart


class _StoredItem(CartItem):
    """An item read from a document. Each field is a `_StoredField` until first read; the
    value read (or assigned) then lives on the instance and hides the descriptor."""

    def __init__(self, message: cart_pb2.CartItem) -> None:
        self.__dict__[_MESSAGE] = message


_MESSAGE = "_message"


class _StoredField:
    """Converts one field of a stored item from its message when first read (a non-data
    descriptor: once the instance holds a value, Python reads that instead)."""

    __slots__ = ("name", "read")

    def __init__(self, name: str, read: Callable[[Message], Any]) -> None:
        self.name = name
        self.read = read

    def __get__(self, item: Any, owner: type | None = None) -> Any:
        if item is None:
            return self
        value = item.__dict__[self.name] = self.read(item.__dict__[_MESSAGE])
        return value


def _reader(cls: type, message_class: type[Message]) -> Reader:
    reader = _READERS.get(cls)
    if reader is None:
        reader = _READERS[cls] = _plan(cls, message_class)
    return reader


def _fields_plan(cls: type, message_class: type[Message]) -> list[tuple[str, bool, Any]]:
    hints = typing.get_type_hints(cls, vars(model))
    descriptors = message_class.DESCRIPTOR.fields_by_name
    return [(name, *_field_reader(descriptors[name], hints[name])) for name in hints
            if name in descriptors]  # fmt: skip


def _plan(cls: type, message_class: type[Message], skip: tuple[str, ...] = ()) -> Reader:
    plan = [step for step in _fields_plan(cls, message_class) if step[0] not in skip]

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


def _lazy_fields() -> None:
    defaults = {f.name: _default_of(f) for f in dataclasses.fields(CartItem)}
    for name, presence, convert in _fields_plan(CartItem, cart_pb2.CartItem):
        read = _field(name, presence, convert, defaults[name])
        setattr(_StoredItem, name, _StoredField(name, read))


def _default_of(spec: dataclasses.Field[Any]) -> Callable[[], Any]:
    if spec.default_factory is not dataclasses.MISSING:
        return spec.default_factory
    return lambda: spec.default


def _field(
    name: str, presence: bool, convert: Callable[[Any], Any] | None, default: Callable[[], Any]
) -> Callable[[Message], Any]:
    def read(message: Message) -> Any:
        if presence and not message.HasField(name):
            return default()
        value = getattr(message, name)
        return value if convert is None else convert(value)

    return read


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


_lazy_fields()
_CART_WITHOUT_ITEMS = _plan(Cart, cart_pb2.Cart, skip=("items",))
_CART_FIELDS = [f.name for f in cart_pb2.Cart.DESCRIPTOR.fields if f.name != "items"]


def assign_part_ids(cart: Cart, next_id: Callable[[], int], parts: list[Any] | None = None) -> None:
    """Gives every part that has none (or those of `parts`) an id, unique across all carts."""
    for part in parts_without_ids(cart) if parts is None else parts:
        part.id = next_id()
    for charge in cart.other_charges:
        charge.cart_id = cart.id


def parts_without_ids(cart: Cart) -> list[Any]:
    return [part for part in _parts_with_ids(cart) if part.id is None]


def _parts_with_ids(cart: Cart) -> Iterator[Any]:
    for single in (cart.shipping, cart.address):
        if single is not None:
            yield single
    # A stored item and those of its parts neither read nor assigned yet are as stored, ids
    # and all.
    for item in cart.items:
        if type(item) is _StoredItem:
            held = item.__dict__
            if "skus" not in held and "shipping" not in held and "address" not in held:
                continue
        elif item.id is None:
            yield item
        yield from item.skus
        for single in (item.shipping, item.address):
            if single is not None:
                yield single
    yield from cart.payments
    yield from cart.other_charges
    yield from cart.loyalty_details
