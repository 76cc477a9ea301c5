"""Loads and stores whole carts."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.domain.errors import NotFound
from server.domain.model import Cart
from server.store import tables


class CartRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, cart: Cart) -> None:
        self._session.add(cart)

    async def get(self, cart_id: int, *, for_update: bool = False) -> Cart:
        """The cart with all its parts; `for_update` row-locks it until the transaction ends."""
        query = select(Cart).where(tables.carts.c.id == cart_id)
        if for_update:
            query = query.with_for_update(of=tables.carts)
        cart = (await self._session.scalars(query)).one_or_none()
        if cart is None:
            raise NotFound("cart", cart_id)
        return cart

    async def list_for_user(
        self, collection_id: int, user_id: str, *, after_id: int, limit: int
    ) -> list[Cart]:
        c = tables.carts.c
        query = (
            select(Cart)
            .where(c.collection_id == collection_id, c.user_id == user_id, c.id > after_id)
            .order_by(c.id)
            .limit(limit)
        )
        return list((await self._session.scalars(query)).all())

    async def delete(self, cart: Cart) -> None:
        await self._session.delete(cart)

    async def flush(self) -> None:
        """Sends pending changes, so that new rows have their ids."""
        await self._session.flush()
