"""Basket state, the products a basket sells (with their stock) and stock reservations, in the
caller's transaction. The cart of a basket is loaded and saved by CartRepository."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from server.domain.basket_lifecycle import (
    BASKET_NOT_FOUND,
    UNAVAILABLE_PRODUCT,
    BasketState,
    Product,
    Stage,
)
from server.domain.errors import FailedPrecondition, NotFound
from server.domain.model import Cart
from server.store.catalog_repository import CART_CATALOG_VERSIONS, CatalogVersions
from server.store.documents import decode_cart
from server.store.driver import Connection, KeyedRead, Row, Statement
from server.store.repository import CartRepository

RESERVED = "reserved"
SOLD = "sold"
_STATE = (
    "baskets.basket_id, baskets.cart_id, baskets.sales_channel_id, baskets.stage,"
    " baskets.currency, baskets.payment_intent_id, baskets.payment_intent_time,"
    " baskets.payment_reference"
)
_READ_WITH_CART = KeyedRead(
    f"SELECT {_STATE}, carts.version, carts.document, {CART_CATALOG_VERSIONS} FROM baskets"
    " JOIN carts ON carts.id = baskets.cart_id WHERE baskets.basket_id",
    "basket_id",
)
# Both rows: a change of the basket's state holds them until it commits.
_LOCK_WITH_CART = Statement(_READ_WITH_CART.sqlite + " FOR UPDATE")
_FIND = Statement(f"SELECT {_STATE} FROM baskets WHERE basket_id = :basket_id")
_COLUMNS = (
    "sales_channel_id", "stage", "currency", "payment_intent_id", "payment_intent_time",
    "payment_reference",
)  # fmt: skip
_ADD = Statement(
    "INSERT INTO baskets (basket_id, cart_id, " + ", ".join(_COLUMNS) + ") VALUES"
    " (:basket_id, :cart_id, " + ", ".join(f":{c}" for c in _COLUMNS) + ")"
)
_SAVE = Statement(
    "UPDATE baskets SET " + ", ".join(f"{c} = :{c}" for c in _COLUMNS)
    + " WHERE basket_id = :basket_id"
)  # fmt: skip
_PRODUCTS_PAGE = Statement(
    "SELECT id, name, retail_price, currency, provider, stock FROM products"
    " WHERE id > :after_id ORDER BY id LIMIT :limit"
)
_TAKE = Statement(
    "UPDATE products SET stock = stock - :quantity WHERE id = :product_id AND stock >= :quantity"
)
_RESERVE = Statement(
    "INSERT INTO stock_reservations (basket_id, product_id, quantity, state)"
    " VALUES (:basket_id, :product_id, :quantity, :state)"
)
_RELEASE = Statement(
    "DELETE FROM stock_reservations WHERE basket_id = :basket_id AND state = :state"
    " RETURNING product_id, quantity"
)
_PUT_BACK = Statement("UPDATE products SET stock = stock + :quantity WHERE id = :product_id")
_SELL = Statement("UPDATE stock_reservations SET state = :state WHERE basket_id = :basket_id")


@functools.lru_cache(maxsize=128)
def _products_statement(count: int) -> Statement:
    names = ", ".join(f":p{n}" for n in range(count))
    return Statement(
        "SELECT id, name, retail_price, currency, provider, stock FROM products"
        f" WHERE id IN ({names})"
    )


def _money(value: Any) -> Decimal | None:
    # NUMERIC on PostgreSQL, exact text on SQLite (server.store.types.ExactDecimal).
    return None if value is None else Decimal(str(value))


def _product(row: Row) -> Product:
    return Product(**{**row, "retail_price": _money(row["retail_price"])})


def _state(row: Row) -> BasketState:
    # promo_code is not stored here: it is the cart's promotion (basket_lifecycle.with_cart).
    return BasketState(
        basket_id=row["basket_id"],
        cart_id=row["cart_id"],
        sales_channel_id=row["sales_channel_id"],
        stage=Stage(row["stage"]),
        currency=row["currency"],
        payment_intent_id=row["payment_intent_id"],
        payment_intent_time=row["payment_intent_time"],
        payment_reference=row["payment_reference"],
    )


def _columns(state: BasketState) -> dict[str, Any]:
    return {
        "basket_id": state.basket_id,
        "sales_channel_id": state.sales_channel_id,
        "stage": state.stage.value,
        "currency": state.currency,
        "payment_intent_id": state.payment_intent_id,
        "payment_intent_time": state.payment_intent_time,
        "payment_reference": state.payment_reference,
    }


class BasketRepository:
    def __init__(self, connection: Connection, carts: CartRepository) -> None:
        """`carts`: the unit of work's, which holds a basket's cart for the change, with the
        versions of its catalogs (and may have both, with the basket's row, from the cart
        cache)."""
        self._connection = connection
        self._carts = carts
        # The rows this unit of work saved, for the cache once they commit.
        self.saved: list[dict[str, Any]] = []
        # Products read in this unit of work (None: no such product), until its stock changes:
        # a basket change and the basket it answers need them once.
        self._known: dict[str, Product | None] = {}

    async def find(self, basket_id: str) -> BasketState | None:
        row = await self._connection.fetch_one(_FIND, {"basket_id": basket_id})
        return _state(row) if row else None

    async def get(self, basket_id: str) -> BasketState:
        state = await self.find(basket_id)
        if state is None:
            raise NotFound("basket", basket_id, reason=BASKET_NOT_FOUND)
        return state

    async def with_cart(
        self, basket_id: str, *, for_update: bool = False
    ) -> tuple[BasketState, Cart]:
        """The basket and its cart in one statement (the versions of the cart's catalogs go
        to the cart repository's catalog_versions); `for_update` locks both rows where the
        connection holds rows so. Unlocked, a change's writes still check the cart's version,
        and every change of a basket's state changes its cart."""
        carts = self._carts
        if for_update and carts.reads_cache:
            cached = carts.basket_from_cache(basket_id)
            if cached is not None:
                return _state(cached[0]), cached[1]
        locking = for_update and self._connection.locks_rows
        statement = _LOCK_WITH_CART if locking else _READ_WITH_CART
        row = await self._connection.fetch_one(statement, {"key": basket_id})
        if row is None:
            raise NotFound("basket", basket_id, reason=BASKET_NOT_FOUND)
        cart = decode_cart(bytes(row["document"]), row["version"], basket_id)
        carts.catalog_versions[cart.id or 0] = CatalogVersions.of_row(row)
        return _state(row), cart

    async def add(self, state: BasketState) -> None:
        await self._connection.execute(_ADD, {**_columns(state), "cart_id": state.cart_id})

    async def save(self, state: BasketState) -> None:
        columns = _columns(state)
        await self._connection.execute_later(_SAVE, columns)
        self.saved.append({**columns, "cart_id": state.cart_id})

    # ---- catalog ----

    async def product(self, product_id: str) -> Product | None:
        found = await self.products([product_id])
        return found.get(product_id)

    async def products(self, product_ids: Iterable[str]) -> dict[str, Product]:
        wanted = set(product_ids)
        unknown = sorted(wanted - self._known.keys())
        if unknown:
            rows = await self._connection.fetch_all(
                _products_statement(len(unknown)),
                {f"p{n}": product_id for n, product_id in enumerate(unknown)},
            )
            found = {row["id"]: _product(row) for row in rows}
            self._known.update((product_id, found.get(product_id)) for product_id in unknown)
        return {p: known for p in wanted if (known := self._known[p]) is not None}

    async def products_page(self, after_id: str, limit: int) -> list[Product]:
        """Up to `limit` products whose id follows `after_id`, in id order."""
        rows = await self._connection.fetch_all(
            _PRODUCTS_PAGE, {"after_id": after_id, "limit": limit}
        )
        return [_product(row) for row in rows]

    # ---- stock ----

    async def reserve(self, basket_id: str, wanted: Mapping[str, int]) -> None:
        """Takes every wanted unit out of stock, or raises (the caller's transaction then rolls
        back whatever was taken). Products are taken in id order, so two baskets reserving the
        same products lock them in the same order and cannot deadlock."""
        self._known.clear()
        for product_id, quantity in sorted(wanted.items()):
            taken = await self._connection.execute(
                _TAKE, {"product_id": product_id, "quantity": quantity}
            )
            if taken != 1:
                raise FailedPrecondition(
                    f"product {product_id}: fewer than {quantity} left in stock",
                    UNAVAILABLE_PRODUCT,
                )
        await self._connection.execute_many(
            _RESERVE,
            [
                {"basket_id": basket_id, "product_id": p, "quantity": q, "state": RESERVED}
                for p, q in sorted(wanted.items())
            ],
        )

    async def release(self, basket_id: str) -> None:
        """Puts a reservation's units back in stock."""
        self._known.clear()
        rows = await self._connection.fetch_all(
            _RELEASE, {"basket_id": basket_id, "state": RESERVED}
        )
        for row in sorted(rows, key=lambda r: r["product_id"]):
            await self._connection.execute(
                _PUT_BACK, {"product_id": row["product_id"], "quantity": row["quantity"]}
            )

    async def sell(self, basket_id: str) -> None:
        self._known.clear()
        await self._connection.execute(_SELL, {"basket_id": basket_id, "state": SOLD})
