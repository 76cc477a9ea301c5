"""Catalogs in the database (PostgreSQL and SQLite): stored whole and versioned, read through a
cache that a change's own SELECT validates, the default catalog for collections without one,
the stock of stocked skus; and migration 0006, which turns promo codes into catalog rules."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from server.auth.identity import Identity, Role
from server.domain.catalog import EMPTY, Level
from server.domain.model import Cart, CartItem, Sku
from server.service import commands as c
from server.service.carts import CartHandlers
from server.service.catalogs import CatalogHandlers
from server.store.database import create_engine, database_url
from server.store.driver import ROUND_TRIP, Database
from server.store.migrate import migrate_to
from server.store.unit_of_work import UnitOfWorkFactory
from tests.conftest import fresh_postgres_database
from tests.support import migrated_database

COLLECTION = 4982
OWNER = Identity("1", COLLECTION, frozenset({Role.USER}))

HEARD: list[str] = []  # every statement and round trip of the scenario's database


def document(title: str, *, stock: int | None = None, code: str = "TEN") -> str:
    sku: dict[str, Any] = {"skuId": "tea", "title": title, "regularPrice": "4.00",
                           "provider": "leaves"}  # fmt: skip
    if stock is not None:
        sku["stock"] = stock
    rule = {"id": code, "code": code, "title": "10 %", "level": "CART", "kind": "PERCENTAGE",
            "value": "10"}  # fmt: skip
    return json.dumps({"currency": "USD", "skus": [sku], "promotions": [rule]})


@pytest.fixture(params=["postgresql", "sqlite"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'catalogs.db'}"
    else:
        with fresh_postgres_database("cartservice_catalogs") as fresh:
            yield fresh


def run(url: str, scenario: Any) -> Any:
    async def main() -> Any:
        database = await migrated_database(url, 2)
        database.listener = HEARD.append  # before any connection is opened: each keeps it
        try:
            return await scenario(database, UnitOfWorkFactory(database))
        finally:
            await database.close()

    return asyncio.run(main())


def test_a_load_replaces_the_catalog_and_bumps_its_version(url: str) -> None:
    async def scenario(database: Database, units: UnitOfWorkFactory) -> Any:
        catalogs = CatalogHandlers(units, clock=lambda: 5)
        first = await catalogs.store(COLLECTION, document("Green tea"))
        second = await catalogs.store(COLLECTION, document("Black tea"))
        async with units.reading() as uow:
            return first.version, second.version, await uow.catalogs.effective(COLLECTION)

    first, second, catalog = run(url, scenario)

    assert (first, second) == (1, 2)
    assert catalog.skus["tea"].title == "Black tea"


def test_a_collection_without_a_catalog_is_priced_by_the_default_one(url: str) -> None:
    async def scenario(database: Database, units: UnitOfWorkFactory) -> Any:
        async with units.reading() as uow:
            before = await uow.catalogs.effective(COLLECTION)
        await CatalogHandlers(units).store(0, document("Default tea"))
        async with units.reading() as uow:
            return before, await uow.catalogs.effective(COLLECTION)

    before, after = run(url, scenario)

    assert before is EMPTY
    assert after.skus["tea"].title == "Default tea"


def test_a_stocked_sku_becomes_a_product_baskets_sell(url: str) -> None:
    async def scenario(database: Database, units: UnitOfWorkFactory) -> Any:
        await CatalogHandlers(units).store(COLLECTION, document("Green tea", stock=7))
        await CatalogHandlers(units).store(COLLECTION, document("Green tea", stock=9))
        async with units.reading() as uow:
            return await uow.baskets.product("tea")

    product = run(url, scenario)

    assert (product.name, product.provider, product.stock) == ("Green tea", "leaves", 9)
    assert str(product.retail_price).startswith("4.00")


def test_a_cached_catalog_costs_a_change_no_round_trip_and_a_new_one_one_select(url: str) -> None:
    heard = HEARD

    async def scenario(database: Database, units: UnitOfWorkFactory) -> Any:
        await CatalogHandlers(units).store(COLLECTION, document("Green tea"))
        carts = CartHandlers(units)
        created = await carts.handle(c.CreateCart(Cart(items=[CartItem(skus=[Sku("tea")])])), OWNER)
        cart_id = created.answer.carts[0].id  # type: ignore[attr-defined]
        counts = []
        for reload in (True, False, False):
            if reload:
                await CatalogHandlers(units).store(COLLECTION, document("Oolong"))
            heard.clear()
            await carts.handle(c.CalculateCart(cart_id), OWNER)
            counts.append(heard.count("SELECT"))
        return counts

    counts = run(url, scenario)

    # The loading process cached what it stored; another process reads it once (below).
    assert counts == [1, 1, 1]


def test_another_process_reads_a_new_catalog_once_then_from_its_cache(url: str) -> None:
    async def scenario(database: Database, units: UnitOfWorkFactory) -> Any:
        carts = CartHandlers(units)
        created = await carts.handle(c.CreateCart(Cart(items=[CartItem(skus=[Sku("tea")])])), OWNER)
        cart_id = created.answer.carts[0].id  # type: ignore[attr-defined]
        # Another process: a factory of its own, hence a cache of its own.
        await CatalogHandlers(UnitOfWorkFactory(database)).store(COLLECTION, document("Oolong"))
        heard = HEARD
        counts = []
        for _ in range(2):
            heard.clear()
            await carts.handle(c.CalculateCart(cart_id), OWNER)
            counts.append((heard.count("SELECT"), heard.count(ROUND_TRIP)))
        return counts

    (first, second) = run(url, scenario)

    assert first[0] == second[0] + 1  # the catalog's document, once
    if url.startswith("postgresql"):  # SQLite has no network round trips to count
        assert first[1] == second[1] + 1


# ---- migration 0006 ----


def test_promo_codes_become_rules_of_the_default_catalog_and_come_back(url: str) -> None:
    async def scenario(database: Database, units: UnitOfWorkFactory) -> Any:
        engine = create_engine(database_url(url, Path(".")))
        try:
            await migrate_to(engine, "0005")
            async with engine.begin() as connection:
                await connection.execute(sa.text(
                    "INSERT INTO products (id, name, retail_price, currency, provider, stock)"
                    " VALUES ('mug', 'Mug', '12.50', 'USD', 'acme', 3)"
                ))  # fmt: skip
                await connection.execute(sa.text(
                    "INSERT INTO promo_codes (code, description, amount_off, currency,"
                    " minimum_subtotal, valid_until) VALUES ('FIVE', '5 off', '5.00', 'USD',"
                    " '20.00', 99)"
                ))  # fmt: skip
            await migrate_to(engine, "head")
            async with units.reading() as uow:
                catalog = await uow.catalogs.effective(COLLECTION)
            await migrate_to(engine, "0005")
            async with engine.connect() as connection:
                codes = (await connection.execute(sa.text(
                    "SELECT code, description, amount_off, currency, minimum_subtotal,"
                    " valid_until FROM promo_codes"
                ))).all()  # fmt: skip
            await migrate_to(engine, "head")
            return catalog, codes
        finally:
            await engine.dispose()

    catalog, codes = run(url, scenario)

    rule = catalog.rule_for_code("FIVE")
    assert rule is not None and rule.level is Level.CART
    assert (str(rule.value), str(rule.minimum_subtotal), rule.valid_until) == ("5", "20", 99)
    assert catalog.skus["mug"].title == "Mug" and catalog.skus["mug"].stock == 3
    assert [(code, description, valid_until) for code, description, *_, valid_until in codes] == [
        ("FIVE", "5 off", 99)
    ]
    assert str(codes[0][2]).startswith("5") and codes[0][3] == "USD"
