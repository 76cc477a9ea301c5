"""Migration 0005 moves carts filled through the old schema (one table per part) into one
document per cart, and back on downgrade, on both backends."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from server.domain.model import Cart, CartItem, ChargeLevel, ContactMethod, Sku
from server.store.database import create_engine, database_url
from server.store.driver import Database
from server.store.migrate import migrate_to
from server.store.unit_of_work import UnitOfWorkFactory
from tests.conftest import fresh_postgres_database

SHIPPING = {
    "type": "Home",
    "selected_method": "Express",
    "delivery_on_or_before": 7,
    "delivery_instructions": "ring twice",
    "shipping_version": 11,
}
ADDRESS = {
    name: f"{name}-value"
    for name in (
        "first_name",
        "last_name",
        "middle_name",
        "company_name",
        "address_line1",
        "address_line2",
        "address_line3",
        "city",
        "state",
        "county",
        "country",
        "zip",
        "email",
        "phone",
        "mobile",
        "store_id",
        "profile_address_id",
    )
} | {"can_receive_sms": True, "address_version": 12}

# Rows of revision 0004's tables: two carts (a full one, and an empty one that holds a basket).
OLD_ROWS: dict[str, list[dict[str, Any]]] = {
    "shippings": [{"id": 301, **SHIPPING}, {"id": 302, **SHIPPING, "type": "Store"}],
    "addresses": [{"id": 401, **ADDRESS}, {"id": 402, **ADDRESS, "city": "Pune"}],
    "carts": [
        {"id": 7, "collection_id": 4982, "user_id": "1", "accounts_id": 10, "status": "ACTIVE",
         "type": "5506", "custom_properties": {"a": "b"}, "shipping_id": 301, "address_id": 401,
         "created_by": "1", "created_time": 1000, "updated_by": "2", "updated_time": 2000,
         "version": 5},
        {"id": 8, "collection_id": 4982, "user_id": "u-9", "accounts_id": 0, "status": "CHECKED_OUT",
         "type": "basket", "custom_properties": {}, "shipping_id": None, "address_id": None,
         "created_by": "u-9", "created_time": 3000, "updated_by": "u-9", "updated_time": 3000,
         "version": 1},
    ],
    "cart_items": [
        {"id": 51, "cart_id": 7, "quantity": 2, "quantity_v2": Decimal("2.5"),
         "fulfillment_date": 99, "custom_properties": {"gift": "yes"}, "shipping_id": 302,
         "address_id": 402, "created_by": "1", "created_time": 1_715_235_065_000, "updated_by": "1",
         "updated_time": 1_715_235_066_000},
        {"id": 52, "cart_id": 7, "quantity": 1, "quantity_v2": Decimal(1), "fulfillment_date": 0,
         "custom_properties": {}, "shipping_id": None, "address_id": None, "created_by": "1",
         "created_time": 0, "updated_by": "1", "updated_time": 0},
    ],
    "skus": [
        {"id": 61, "item_id": 51, "sku_id": "sku_001", "product_id": "p1", "bundle_sku_type": "DEFAULT",
         "optional_sku_quantity": 0, "price": Decimal("10.48"), "sku_quantity": 1,
         "sku_quantity_v2": Decimal("1"), "optional_sku_quantity_v2": Decimal("0.0001")},
        {"id": 62, "item_id": 51, "sku_id": "sku_002", "product_id": "p2", "bundle_sku_type": "",
         "optional_sku_quantity": 1, "price": Decimal("999999999999999.9999"), "sku_quantity": 2,
         "sku_quantity_v2": Decimal("2"), "optional_sku_quantity_v2": Decimal("0")},
        {"id": 63, "item_id": 52, "sku_id": "sku_003", "product_id": "p3", "bundle_sku_type": "",
         "optional_sku_quantity": 0, "price": Decimal("0"), "sku_quantity": 0,
         "sku_quantity_v2": Decimal("0"), "optional_sku_quantity_v2": Decimal("0")},
    ],
    "payments": [{"id": 71, "cart_id": 7, "payment_id": "pi_1", "payment_item_id": "x",
                  "transaction_id": "t", "amount": Decimal("100.10"), "currency": "USD",
                  "payment_type": "CARD"}],
    "promotions": [
        {"id": 1, "cart_id": 7, "promo_code": "A1", "name": "first", "created_by": "1"},
        {"id": 2, "cart_id": 7, "promo_code": "B2", "name": "second", "created_by": "2"},
    ],
    "communication_preferences": [
        {"cart_id": 7, "first_name": "F", "last_name": "L", "email": "f@example.com",
         "phone": "123", "contact_method": "TEXT", "zip_code": "411001"}],
    "other_charges": [
        {"id": 81, "cart_id": 7, "item_id": None, "name": "bag", "description": "d",
         "charge_value": Decimal("0.5"), "charge_against": "", "taxable": True, "type": "CART",
         "charge_type": "FLAT", "charge_source": "s", "charge_value_overridable": False,
         "waive_overridable": True, "waived_by_default": False, "created_by": "1",
         "updated_by": None},
        {"id": 82, "cart_id": 7, "item_id": 52, "name": "wrap", "description": "",
         "charge_value": Decimal("5"), "charge_against": "item", "taxable": False, "type": "ITEM",
         "charge_type": "PERCENTAGE", "charge_source": "", "charge_value_overridable": True,
         "waive_overridable": False, "waived_by_default": True, "created_by": "1",
         "updated_by": "2"}],
    "loyalty_details": [{"id": 91, "cart_id": 7, "value": Decimal("1.25"), "points": Decimal("12.5"),
                         "type": "POINTS", "value_type": "FIXED"}],
    "baskets": [{"basket_id": "b-8", "cart_id": 8, "sales_channel_id": "web", "stage": "Settled",
                 "currency": "USD", "payment_intent_id": None, "payment_intent_time": None,
                 "payment_reference": "ref"}],
}  # fmt: skip
ORDER = ("shippings", "addresses", "carts", "cart_items", "skus", "payments", "promotions",
         "communication_preferences", "other_charges", "loyalty_details", "baskets")  # fmt: skip


@pytest.fixture(params=["postgresql", "sqlite"])
def engine_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'migrate.db'}"
    else:
        with fresh_postgres_database("cartservice_migration") as url:
            yield url


def _rows(connection: sa.Connection) -> dict[str, list[dict[str, Any]]]:
    meta = sa.MetaData()
    meta.reflect(connection, only=ORDER)
    out = {}
    for name in ORDER:
        table = meta.tables[name]
        rows = connection.execute(sa.select(table).order_by(*table.primary_key)).mappings()
        out[name] = [_normal(dict(row)) for row in rows]
    return out


def _normal(row: dict[str, Any]) -> dict[str, Any]:
    """Values as comparable across backends (SQLite keeps decimals as text, booleans as 0/1)."""
    out = {}
    for key, value in row.items():
        if (
            key
            in (
                "quantity_v2",
                "price",
                "sku_quantity_v2",
                "optional_sku_quantity_v2",
                "amount",
                "charge_value",
                "value",
                "points",
            )
            and value is not None
        ):
            value = Decimal(value)
        if isinstance(value, int) and key in (
            "taxable",
            "can_receive_sms",
            "charge_value_overridable",
            "waive_overridable",
            "waived_by_default",
        ):
            value = bool(value)
        out[key] = value
    return out


async def _fill_old_schema(engine: AsyncEngine) -> None:
    await migrate_to(engine, "0004")

    def fill(connection: sa.Connection) -> None:
        meta = sa.MetaData()
        meta.reflect(connection, only=ORDER)
        for name in ORDER:
            table = meta.tables[name]
            rows = [
                {
                    k: (
                        str(v)
                        if isinstance(v, Decimal) and connection.dialect.name == "sqlite"
                        else v
                    )
                    for k, v in row.items()
                }
                for row in OLD_ROWS[name]
            ]
            connection.execute(table.insert(), rows)

    async with engine.begin() as connection:
        await connection.run_sync(fill)


async def _carts_after_upgrade(url: Any) -> tuple[list[Cart], Cart]:
    """Carts 7 and 8 as the service reads them, and cart 7 with one more item (rolled back)."""
    database = Database(url, 1)
    units = UnitOfWorkFactory(database)
    try:
        async with units.reading() as uow:
            carts = [await uow.carts.get(7), await uow.carts.get(8)]
        async with units() as uow:
            changed = await uow.carts.get(7, for_update=True)
            changed.items.append(CartItem(quantity=1, skus=[Sku(sku_id="new")]))
            changed.version += 1
            await uow.carts.flush()  # never committed
    finally:
        await database.close()
    return carts, changed


def test_upgrade_folds_every_part_into_the_document_and_downgrade_restores_the_rows(
    engine_url: str, tmp_path: Path
) -> None:
    async def scenario() -> tuple[list[Cart], Cart, dict[str, list[dict[str, Any]]]]:
        url = database_url(engine_url, tmp_path)
        engine = create_engine(url)
        try:
            await _fill_old_schema(engine)
            await migrate_to(engine, "head")
            carts, changed = await _carts_after_upgrade(url)
            await migrate_to(engine, "0004")
            async with engine.connect() as connection:
                restored = await connection.run_sync(_rows)
            return carts, changed, restored
        finally:
            await engine.dispose()

    (full, basket_cart), changed, restored = asyncio.run(scenario())

    assert (full.id, full.user_id, full.collection_id, full.version) == (7, "1", 4982, 5)
    assert (full.accounts_id, full.type, full.custom_properties) == (10, "5506", {"a": "b"})
    assert (full.created_by, full.created_time, full.updated_by, full.updated_time) == (
        "1",
        1000,
        "2",
        2000,
    )
    assert (
        full.shipping is not None
        and full.shipping.id == 301
        and full.shipping.selected_method == "Express"
    )
    assert (
        full.address is not None and full.address.id == 401 and full.address.can_receive_sms is True
    )
    assert [item.id for item in full.items] == [51, 52]
    first = full.items[0]
    assert first.quantity_v2 == Decimal("2.5") and first.custom_properties == {"gift": "yes"}
    # Item times become the seed's text, which keeps whole seconds (0001 kept milliseconds).
    assert (first.created_time, first.updated_time) == (
        "Thu May 09 06:11:05 GMT 2024",
        "Thu May 09 06:11:06 GMT 2024",
    )
    assert first.shipping is not None and first.shipping.type == "Store"
    assert first.address is not None and first.address.city == "Pune"
    assert [(s.id, s.sku_id, s.price) for s in first.skus] == [
        (61, "sku_001", Decimal("10.48")),
        (62, "sku_002", Decimal("999999999999999.9999")),
    ]
    assert isinstance(first.skus[0].price, Decimal)
    assert full.items[1].shipping is None and [s.id for s in full.items[1].skus] == [63]
    assert [(p.id, p.amount) for p in full.payments] == [(71, Decimal("100.10"))]
    assert [(p.promo_code, p.created_by) for p in full.promotions] == [("A1", "1"), ("B2", "2")]
    assert full.communication_preference is not None
    assert full.communication_preference.contact_method is ContactMethod.TEXT
    assert [(c.id, c.item_id, c.type, c.cart_id) for c in full.other_charges] == [
        (81, None, ChargeLevel.CART, 7),
        (82, 52, ChargeLevel.ITEM, 7),
    ]
    assert [(d.id, d.points) for d in full.loyalty_details] == [(91, Decimal("12.5"))]
    assert (
        basket_cart.basket_id == "b-8"
        and basket_cart.items == []
        and basket_cart.status == "CHECKED_OUT"
    )
    # New parts get ids above every id the old tables gave out.
    assert changed.items[-1].id is not None and changed.items[-1].id > 402
    expected = {name: [_normal(row) for row in rows] for name, rows in OLD_ROWS.items()}
    assert restored == expected
