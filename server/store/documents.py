"""A cart as one JSON document: the aggregate's dataclasses as JSON objects, money as text.

The row's columns (id, owner, status, version, times) stay out of the document, so the columns
are the one place each of them is kept. Decimals are written as their exact text and read back
with Decimal(), never through a float; enums as their value. The codec of each dataclass is built
once, from its type hints, so a call walks a precomputed list instead of inspecting types.
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Callable
from dataclasses import fields
from decimal import Decimal
from enum import StrEnum
from typing import Any

from server.domain import model

# Fields of Cart kept as columns of the carts row, not in its document.
COLUMNS = frozenset(
    {"id", "user_id", "collection_id", "status", "version", "created_time", "updated_time"}
)
# Fields derived from the row on load rather than stored (a charge's cart is the row's id; a
# cart's basket comes from the baskets table).
DERIVED = frozenset({"cart_id", "basket_id"})

Encode = Callable[[Any], Any]
Decode = Callable[[Any], Any]


def _decimal_text(value: Decimal) -> str:
    return str(value)


def _converters(hint: Any) -> tuple[Encode | None, Decode | None]:
    """How one field's value is written to JSON and read back (None: as it is)."""
    optional = False
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        (hint,) = (arg for arg in typing.get_args(hint) if arg is not type(None))
        optional, origin = True, typing.get_origin(hint)
    encode: Encode | None
    decode: Decode | None
    if origin is list:
        (element,) = typing.get_args(hint)
        codec = _codec_of(element)
        encode = lambda values: [codec.encode(v) for v in values]  # noqa: E731
        decode = lambda values: [codec.decode(v) for v in values]  # noqa: E731
    elif origin is dict:
        encode = decode = dict
    elif hint is Decimal:
        encode, decode = _decimal_text, Decimal
    elif isinstance(hint, type) and issubclass(hint, StrEnum):
        encode, decode = (lambda member: member.value), hint
    elif isinstance(hint, type) and hint in _CODECS_BY_CLASS:
        codec = _CODECS_BY_CLASS[hint]
        encode, decode = codec.encode, codec.decode
    else:
        return None, None
    if optional:
        return _or_none(encode), _or_none(decode)
    return encode, decode


def _or_none(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else convert(value)


class _Codec:
    def __init__(self, cls: type, skip: frozenset[str]) -> None:
        self.cls = cls
        hints = typing.get_type_hints(cls, vars(model))
        names = [f.name for f in fields(cls) if f.name not in skip]
        self._fields = [(name, *_converters(hints[name])) for name in names]

    def encode(self, obj: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, encode, _ in self._fields:
            value = getattr(obj, name)
            out[name] = value if encode is None else encode(value)
        return out

    def decode(self, data: dict[str, Any]) -> Any:
        values: dict[str, Any] = {}
        for name, _, decode in self._fields:
            if name in data:
                value = data[name]
                values[name] = value if decode is None else decode(value)
        return self.cls(**values)


_CODECS_BY_CLASS: dict[type, _Codec] = {}


def _codec_of(cls: type) -> _Codec:
    if cls not in _CODECS_BY_CLASS:
        _CODECS_BY_CLASS[cls] = _Codec(cls, DERIVED)
    return _CODECS_BY_CLASS[cls]


for _part in (
    model.Sku, model.Shipping, model.Address, model.CartItem, model.Payment, model.Promotion,
    model.CommunicationPreference, model.OtherCharge, model.LoyaltyDetail,
):  # fmt: skip
    _codec_of(_part)
_CART = _Codec(model.Cart, COLUMNS | DERIVED)
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_loads = json.JSONDecoder().decode


def encode_cart(cart: model.Cart) -> str:
    """The document of a cart: everything but its columns."""
    return _dumps(_CART.encode(cart))


def decode_cart(document: str, row: Any, basket_id: str | None = None) -> model.Cart:
    """The cart of a carts row (its columns and its document)."""
    cart: model.Cart = _CART.decode(_loads(document))
    cart.id = row.id
    cart.user_id = row.user_id
    cart.collection_id = row.collection_id
    cart.status = model.CartStatus(row.status)
    cart.version = row.version
    cart.created_time = row.created_time
    cart.updated_time = row.updated_time
    cart.basket_id = basket_id
    for charge in cart.other_charges:
        charge.cart_id = row.id
    return cart


def assign_part_ids(cart: model.Cart, next_id: Callable[[], int]) -> None:
    """Gives every part that has none an id (unique across all carts)."""
    for part in _parts_with_ids(cart):
        if part.id is None:
            part.id = next_id()
    for charge in cart.other_charges:
        charge.cart_id = cart.id


def parts_without_ids(cart: model.Cart) -> int:
    return sum(1 for part in _parts_with_ids(cart) if part.id is None)


def _parts_with_ids(cart: model.Cart) -> typing.Iterator[Any]:
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
