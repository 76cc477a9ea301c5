"""Basket state, the catalog (products, promo codes) and stock reservations, in the caller's
transaction. The cart of a basket is loaded and saved by CartRepository."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from server.domain.basket_lifecycle import (
    BASKET_NOT_FOUND,
    UNAVAILABLE_PRODUCT,
    BasketState,
    Product,
    Stage,
)
from server.domain.basket_pricing import PromoCode
from server.domain.errors import FailedPrecondition, NotFound
from server.domain.model import Cart
from server.store.documents import decode_cart
from server.store.tables import baskets, carts, products, promo_codes, stock_reservations

_CART_COLUMNS = ("id", "collection_id", "user_id", "status", "version", "created_time",
                 "updated_time", "document")  # fmt: skip
_WITH_CART = (
    select(baskets, *(carts.c[name] for name in _CART_COLUMNS))
    .select_from(baskets.join(carts, carts.c.id == baskets.c.cart_id))
    .where(baskets.c.basket_id == bindparam("basket_id"))
)
# Both rows: a change of the basket's state holds them until it commits.
_WITH_CART_FOR_UPDATE = _WITH_CART.with_for_update()
RESERVED = "reserved"
SOLD = "sold"


def _state(row: Any) -> BasketState:
    # promo_code is not stored here: it is the cart's promotion (basket_lifecycle.with_cart).
    return BasketState(
        basket_id=row.basket_id,
        cart_id=row.cart_id,
        sales_channel_id=row.sales_channel_id,
        stage=Stage(row.stage),
        currency=row.currency,
        payment_intent_id=row.payment_intent_id,
        payment_intent_time=row.payment_intent_time,
        payment_reference=row.payment_reference,
    )


def _columns(state: BasketState) -> dict[str, Any]:
    return {
        "sales_channel_id": state.sales_channel_id,
        "stage": state.stage.value,
        "currency": state.currency,
        "payment_intent_id": state.payment_intent_id,
        "payment_intent_time": state.payment_intent_time,
        "payment_reference": state.payment_reference,
    }


class BasketRepository:
    def __init__(self, session: AsyncConnection) -> None:
        self._session = session

    async def find(self, basket_id: str) -> BasketState | None:
        row = (
            await self._session.execute(select(baskets).where(baskets.c.basket_id == basket_id))
        ).one_or_none()
        return _state(row) if row else None

    async def get(self, basket_id: str) -> BasketState:
        state = await self.find(basket_id)
        if state is None:
            raise NotFound("basket", basket_id, reason=BASKET_NOT_FOUND)
        return state

    async def with_cart(
        self, basket_id: str, *, for_update: bool = False
    ) -> tuple[BasketState, Cart]:
        """The basket and its cart in one statement; `for_update` locks both rows."""
        statement = _WITH_CART_FOR_UPDATE if for_update else _WITH_CART
        row = (await self._session.execute(statement, {"basket_id": basket_id})).one_or_none()
        if row is None:
            raise NotFound("basket", basket_id, reason=BASKET_NOT_FOUND)
        return _state(row), decode_cart(row.document, row.version, basket_id)

    async def add(self, state: BasketState) -> None:
        await self._session.execute(
            insert(baskets).values(
                basket_id=state.basket_id, cart_id=state.cart_id, **_columns(state)
            )
        )

    async def save(self, state: BasketState) -> None:
        await self._session.execute(
            update(baskets).where(baskets.c.basket_id == state.basket_id).values(**_columns(state))
        )

    # ---- catalog ----

    async def product(self, product_id: str) -> Product | None:
        found = await self.products([product_id])
        return found.get(product_id)

    async def products(self, product_ids: Iterable[str]) -> dict[str, Product]:
        ids = sorted(set(product_ids))
        if not ids:
            return {}
        rows = await self._session.execute(select(products).where(products.c.id.in_(ids)))
        return {row.id: Product(**row._mapping) for row in rows}

    async def promo_code(self, code: str) -> PromoCode | None:
        row = (
            await self._session.execute(select(promo_codes).where(promo_codes.c.code == code))
        ).one_or_none()
        return PromoCode(**row._mapping) if row else None

    # ---- stock ----

    async def reserve(self, basket_id: str, wanted: Mapping[str, int]) -> None:
        """Takes every wanted unit out of stock, or raises (the caller's transaction then rolls
        back whatever was taken). Products are taken in id order, so two baskets reserving the
        same products lock them in the same order and cannot deadlock."""
        for product_id, quantity in sorted(wanted.items()):
            taken = await self._session.execute(
                update(products)
                .where(products.c.id == product_id, products.c.stock >= quantity)
                .values(stock=products.c.stock - quantity)
            )
            if taken.rowcount != 1:
                raise FailedPrecondition(
                    f"product {product_id}: fewer than {quantity} left in stock",
                    UNAVAILABLE_PRODUCT,
                )
        await self._session.execute(
            insert(stock_reservations),
            [
                {"basket_id": basket_id, "product_id": p, "quantity": q, "state": RESERVED}
                for p, q in sorted(wanted.items())
            ],
        )

    async def release(self, basket_id: str) -> None:
        """Puts a reservation's units back in stock."""
        rows = await self._session.execute(
            delete(stock_reservations)
            .where(
                stock_reservations.c.basket_id == basket_id,
                stock_reservations.c.state == RESERVED,
            )
            .returning(stock_reservations.c.product_id, stock_reservations.c.quantity)
        )
        for product_id, quantity in sorted(rows.all()):
            await self._session.execute(
                update(products)
                .where(products.c.id == product_id)
                .values(stock=products.c.stock + quantity)
            )

    async def sell(self, basket_id: str) -> None:
        await self._session.execute(
            update(stock_reservations)
            .where(stock_reservations.c.basket_id == basket_id)
            .values(state=SOLD)
        )
