"""Products and promo codes written straight into a test server's database (the catalog has no
RPCs: operators load it), each with a unique id so tests never share stock."""

from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy import create_engine, insert, select
from sqlalchemy.engine import Engine

from server.store.tables import products, promo_codes

_engines: dict[str, Engine] = {}


def _engine(database_url: str) -> Engine:
    if database_url not in _engines:
        _engines[database_url] = create_engine(database_url.replace("+aiosqlite", ""))
    return _engines[database_url]


def add_product(
    database_url: str,
    *,
    price: str = "10.00",
    stock: int = 100,
    provider: str = "acme",
    currency: str = "USD",
    name: str = "",
) -> str:
    product_id = f"p-{uuid.uuid4()}"
    with _engine(database_url).begin() as connection:
        connection.execute(
            insert(products).values(
                id=product_id, name=name or f"Product {product_id[:10]}",
                retail_price=Decimal(price), currency=currency, provider=provider, stock=stock,
            )
        )  # fmt: skip
    return product_id


def add_promo(database_url: str, **columns: object) -> str:
    code = f"T{uuid.uuid4().hex[:10].upper()}"
    values: dict[str, object] = {"code": code, "description": f"test promo {code}", **columns}
    with _engine(database_url).begin() as connection:
        connection.execute(insert(promo_codes).values(**values))
    return code


def stock_of(database_url: str, product_id: str) -> int:
    with _engine(database_url).connect() as connection:
        return int(
            connection.execute(
                select(products.c.stock).where(products.c.id == product_id)
            ).scalar_one()
        )
