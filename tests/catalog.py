"""Products and promo codes written straight into a test server's database, each with a unique
id so tests never share stock: a promo code is a rule added to the catalog of the tests'
collection (a copy of the demo catalog at first)."""

from __future__ import annotations

import json
import time
import uuid
from decimal import Decimal

from sqlalchemy import create_engine, insert, select, text
from sqlalchemy.engine import Engine

from server.store.demo_catalog import demo_document
from server.store.tables import products

COLLECTION = 4982

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
    """A CART rule with a new code, as the promo code columns of old described one:
    percent_off or amount_off, valid_from, valid_until, minimum_subtotal."""
    code = f"T{uuid.uuid4().hex[:10].upper()}"
    percent = columns.get("percent_off")
    rule: dict[str, object] = {
        "id": code, "code": code, "title": f"test promo {code}", "level": "CART",
        "kind": "PERCENTAGE" if percent is not None else "FIXED",
        "value": str(percent if percent is not None else columns["amount_off"]),
    }  # fmt: skip
    for column, name in (("valid_from", "validFrom"), ("valid_until", "validUntil")):
        if columns.get(column) is not None:
            rule[name] = columns[column]
    if columns.get("minimum_subtotal") is not None:
        rule["minimumSubtotal"] = str(columns["minimum_subtotal"])
    with _engine(database_url).begin() as connection:
        found = connection.execute(
            text("SELECT document FROM catalogs WHERE collection_id = :c"), {"c": COLLECTION}
        ).scalar()
        document = json.loads(found or demo_document())
        document["promotions"].append(rule)
        connection.execute(
            text(
                "INSERT INTO catalogs (collection_id, version, document, loaded_time)"
                " VALUES (:c, 1, :d, :t) ON CONFLICT (collection_id) DO UPDATE SET"
                " version = catalogs.version + 1, document = excluded.document"
            ),
            {"c": COLLECTION, "d": json.dumps(document), "t": int(time.time() * 1000)},
        )
    return code


def stock_of(database_url: str, product_id: str) -> int:
    with _engine(database_url).connect() as connection:
        return int(
            connection.execute(
                select(products.c.stock).where(products.c.id == product_id)
            ).scalar_one()
        )


def uses_of(database_url: str, collection_id: int) -> dict[str, int]:
    """How often each limited promotion rule was used in the collection."""
    with _engine(database_url).connect() as connection:
        rows = connection.execute(
            text("SELECT rule_id, uses FROM promotion_uses WHERE collection_id = :c"),
            {"c": collection_id},
        )
        return {rule_id: uses for rule_id, uses in rows}
