"""Loads and stores whole carts: one row each, the aggregate in its document.

A read is one primary-key SELECT (its basket id joined in); a change writes the row back with one
UPDATE and a new cart is one INSERT, whatever the cart holds: cart ids come from the same id
space as part ids, so an INSERT needs no RETURNING and its document holds its id. Each statement
is built once, at import.
"""

from __future__ import annotations

from typing import Any

from cartservice.cart.v1 import cart_pb2
from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from server.domain.errors import NotFound
from server.domain.model import Cart
from server.store.documents import (
    assign_part_ids,
    cart_message,
    decode_cart,
    encode_cart,
    parts_without_ids,
)
from server.store.ids import PartIds
from server.store.tables import baskets, carts

_c = carts.c
_ROW = (
    _c.id, _c.collection_id, _c.user_id, _c.status, _c.version, _c.created_time,
    _c.updated_time, _c.document, baskets.c.basket_id,
)  # fmt: skip
_WITH_BASKET = carts.outerjoin(baskets, baskets.c.cart_id == _c.id)
_GET = select(*_ROW).select_from(_WITH_BASKET).where(_c.id == bindparam("cart_id"))
_GET_FOR_UPDATE = _GET.with_for_update(of=carts)
_LIST = (
    select(*_ROW)
    .select_from(_WITH_BASKET)
    .where(
        _c.collection_id == bindparam("collection_id"),
        _c.user_id == bindparam("user_id"),
        _c.id > bindparam("after_id"),
    )
    .order_by(_c.id)
    .limit(bindparam("limit"))
)
_INSERT = insert(carts)
_UPDATE = update(carts).where(_c.id == bindparam("cart_id"))
_DELETE = delete(carts).where(_c.id == bindparam("cart_id"))


def cart_from_row(row: Any) -> Cart:
    return decode_cart(row.document, row.version, row.basket_id)


def _columns(cart: Cart) -> dict[str, Any]:
    return {
        "collection_id": cart.collection_id,
        "user_id": cart.user_id,
        "status": cart.status,
        "version": cart.version,
        "created_time": cart.created_time,
        "updated_time": cart.updated_time,
        "document": encode_cart(cart),
    }


class CartRepository:
    def __init__(self, connection: AsyncConnection, part_ids: PartIds) -> None:
        self._connection = connection
        self._part_ids = part_ids
        self._new: list[Cart] = []
        # Carts loaded for a change, with the version they were loaded at.
        self._locked: dict[int, tuple[Cart, int]] = {}

    def add(self, cart: Cart) -> None:
        self._new.append(cart)

    async def get(self, cart_id: int, *, for_update: bool = False) -> Cart:
        """The cart with all its parts; `for_update` row-locks it until the transaction ends and
        writes it back on flush if it changed."""
        statement = _GET_FOR_UPDATE if for_update else _GET
        row = (await self._connection.execute(statement, {"cart_id": cart_id})).one_or_none()
        if row is None:
            raise NotFound("cart", cart_id)
        cart = cart_from_row(row)
        if for_update:
            self.track(cart)
        return cart

    async def get_message(self, cart_id: int) -> cart_pb2.Cart:
        """The cart as GetCart answers it, straight from its document (no domain objects)."""
        row = (await self._connection.execute(_GET, {"cart_id": cart_id})).one_or_none()
        if row is None:
            raise NotFound("cart", cart_id)
        return cart_message(row.document)

    def track(self, cart: Cart) -> None:
        """Writes this cart, loaded row-locked, back on flush if it changed."""
        assert cart.id is not None
        self._locked[cart.id] = (cart, cart.version)

    async def list_for_user(
        self, collection_id: int, user_id: str, *, after_id: int, limit: int
    ) -> list[cart_pb2.Cart]:
        rows = await self._connection.execute(
            _LIST,
            {"collection_id": collection_id, "user_id": user_id, "after_id": after_id,
             "limit": limit},
        )  # fmt: skip
        return [cart_message(row.document) for row in rows]

    async def delete(self, cart: Cart) -> None:
        self._locked.pop(cart.id or 0, None)
        await self._connection.execute(_DELETE, {"cart_id": cart.id})

    async def flush(self) -> None:
        """Writes new and changed carts; every new cart and part gets its id."""
        new, self._new = self._new, []
        changed = [cart for cart, version in self._locked.values() if cart.version != version]
        missing = len(new) + sum(parts_without_ids(cart) for cart in (*new, *changed))
        ids = iter(await self._part_ids.take(self._connection, missing))
        for cart in new:
            cart.id = next(ids)
            assign_part_ids(cart, ids.__next__)
            await self._connection.execute(_INSERT, {"id": cart.id, **_columns(cart)})
        for cart in changed:
            assign_part_ids(cart, ids.__next__)
            await self._connection.execute(_UPDATE, {"cart_id": cart.id, **_columns(cart)})
            self.track(cart)
