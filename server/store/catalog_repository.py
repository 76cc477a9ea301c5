"""Collections' catalogs (server.domain.catalog), stored as the JSON documents they were loaded
from and kept parsed in a process-wide cache by collection and version.

A change reads the versions with its cart (server.store.repository), so a cached catalog costs
no round trip; only a catalog loaded since is read again, by its primary key.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass

from server.domain.catalog import EMPTY, Catalog, parse_catalog
from server.store.driver import Connection, Row, Statement

DEFAULT_COLLECTION = 0
CACHED_CATALOGS = 64
_VERSIONS = Statement(
    "SELECT (SELECT version FROM catalogs WHERE collection_id = :collection_id) AS own,"
    f" (SELECT version FROM catalogs WHERE collection_id = {DEFAULT_COLLECTION}) AS fallback"
)
_READ = Statement("SELECT version, document FROM catalogs WHERE collection_id = :collection_id")
_PUT = Statement(
    "INSERT INTO catalogs (collection_id, version, document, loaded_time)"
    " VALUES (:collection_id, 1, :document, :now)"
    " ON CONFLICT (collection_id) DO UPDATE SET version = catalogs.version + 1,"
    " document = excluded.document, loaded_time = excluded.loaded_time RETURNING version"
)
_STOCKED = Statement(
    "INSERT INTO products (id, name, retail_price, currency, provider, stock)"
    " VALUES (:id, :name, :retail_price, :currency, :provider, :stock)"
    " ON CONFLICT (id) DO UPDATE SET name = excluded.name, retail_price = excluded.retail_price,"
    " currency = excluded.currency, provider = excluded.provider, stock = excluded.stock"
)
_USES = Statement("SELECT rule_id, uses FROM promotion_uses WHERE collection_id = :collection_id")
# One more use, unless the limit is reached (then no row comes back): concurrent checkouts queue
# on the row, so a rule is never used past its limit.
_USE = Statement(
    "INSERT INTO promotion_uses (collection_id, rule_id, uses) VALUES (:collection_id, :rule_id, 1)"
    " ON CONFLICT (collection_id, rule_id) DO UPDATE SET uses = promotion_uses.uses + 1"
    " WHERE promotion_uses.uses < :usage_limit RETURNING uses"
)
_GIVE_BACK = Statement(
    "UPDATE promotion_uses SET uses = uses - 1"
    " WHERE collection_id = :collection_id AND rule_id = :rule_id AND uses > 0"
)
# The versions of a cart's own catalog and of the default one, beside the cart's columns.
CART_CATALOG_VERSIONS = (
    "(SELECT version FROM catalogs WHERE catalogs.collection_id = carts.collection_id)"
    " AS catalog_version,"
    f" (SELECT version FROM catalogs WHERE catalogs.collection_id = {DEFAULT_COLLECTION})"
    " AS default_catalog_version"
)


@dataclass(frozen=True, slots=True)
class CatalogVersions:
    own: int | None
    fallback: int | None

    @classmethod
    def of_row(cls, row: Row) -> CatalogVersions:
        """The versions a row read with CART_CATALOG_VERSIONS carries."""
        return cls(row["catalog_version"], row["default_catalog_version"])


class CatalogCache:
    """Parsed catalogs by (collection, version); a loaded catalog gets a new version, so an
    entry never goes stale, and the oldest entries leave first."""

    def __init__(self, size: int = CACHED_CATALOGS) -> None:
        self._size = size
        self._parsed: OrderedDict[tuple[int, int], Catalog] = OrderedDict()

    def get(self, key: tuple[int, int]) -> Catalog | None:
        found = self._parsed.get(key)
        if found is not None:
            self._parsed.move_to_end(key)
        return found

    def put(self, key: tuple[int, int], catalog: Catalog) -> None:
        self._parsed[key] = catalog
        while len(self._parsed) > self._size:
            self._parsed.popitem(last=False)


class CatalogRepository:
    def __init__(self, connection: Connection, cache: CatalogCache) -> None:
        self._connection = connection
        self._cache = cache

    async def versions(self, collection_id: int) -> CatalogVersions:
        row = await self._connection.fetch_one(_VERSIONS, {"collection_id": collection_id})
        assert row is not None
        return CatalogVersions(row["own"], row["fallback"])

    async def effective(
        self, collection_id: int, versions: CatalogVersions | None = None
    ) -> Catalog:
        """The collection's catalog, else the default one, else an empty catalog."""
        if versions is None:
            versions = await self.versions(collection_id)
        if versions.own is not None:
            return await self._catalog(collection_id, versions.own)
        if versions.fallback is not None:
            return await self._catalog(DEFAULT_COLLECTION, versions.fallback)
        return EMPTY

    async def _catalog(self, collection_id: int, version: int) -> Catalog:
        cached = self._cache.get((collection_id, version))
        if cached is not None:
            return cached
        row = await self._connection.fetch_one(_READ, {"collection_id": collection_id})
        if row is None:  # removed since the versions were read
            return EMPTY
        catalog = parse_catalog(json.loads(row["document"]))
        self._cache.put((collection_id, row["version"]), catalog)
        return catalog

    async def uses(self, collection_id: int) -> dict[str, int]:
        rows = await self._connection.fetch_all(_USES, {"collection_id": collection_id})
        return {row["rule_id"]: row["uses"] for row in rows}

    async def use(self, collection_id: int, rule_id: str, usage_limit: int) -> bool:
        """Counts one use of the rule; False when its limit was reached."""
        row = await self._connection.fetch_one(
            _USE, {"collection_id": collection_id, "rule_id": rule_id, "usage_limit": usage_limit}
        )
        return row is not None

    async def give_back(self, collection_id: int, rule_id: str) -> None:
        await self._connection.execute(
            _GIVE_BACK, {"collection_id": collection_id, "rule_id": rule_id}
        )

    async def document(self, collection_id: int) -> tuple[int, str] | None:
        row = await self._connection.fetch_one(_READ, {"collection_id": collection_id})
        return None if row is None else (row["version"], row["document"])

    async def put(self, collection_id: int, document: str, catalog: Catalog, now_ms: int) -> int:
        """Stores the catalog (parsed from `document`) and the stock of its stocked skus;
        answers its new version."""
        row = await self._connection.fetch_one(
            _PUT, {"collection_id": collection_id, "document": document, "now": now_ms}
        )
        assert row is not None
        # NUMERIC on PostgreSQL; exact text on SQLite (server.store.types.ExactDecimal).
        exact = (lambda d: d) if self._connection.dialect == "postgresql" else str
        stocked = [
            {"id": sku.sku_id, "name": sku.title, "retail_price": exact(sku.price),
             "currency": sku.currency, "provider": sku.provider, "stock": sku.stock}
            for sku in catalog.skus.values()
            if sku.stock is not None
        ]  # fmt: skip
        if stocked:
            await self._connection.execute_many(_STOCKED, stocked)
        version: int = row["version"]
        self._cache.put((collection_id, version), catalog)
        return version
