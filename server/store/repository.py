"""Loads and stores whole carts: one row each, the aggregate in its document.

A read is one primary-key SELECT (its basket id joined in); a change writes the row back with one
UPDATE and a new cart is one INSERT, whatever the cart holds: cart ids come from the same id
space as part ids, so an INSERT needs no RETURNING and its document holds its id.
"""

from __future__ import annotations

from typing import Any

from cartservice.cart.v1 import cart_pb2

from server import metrics
from server.domain.errors import NotFound
from server.domain.model import Cart
from server.store.cart_cache import CachedBasket, CachedCart, CartCache
from server.store.catalog_repository import (
    CART_CATALOG_VERSIONS,
    DEFAULT_COLLECTION,
    CatalogVersions,
)
from server.store.documents import (
    assign_part_ids,
    cart_message,
    decode_cart,
    encode_cart,
    parts_without_ids,
)
from server.store.driver import Connection, KeyedRead, Row, Statement
from server.store.ids import PartIds

_COLUMNS = "carts.id, carts.version, carts.document, baskets.basket_id"
_FROM = "carts LEFT OUTER JOIN baskets ON baskets.cart_id = carts.id"
_GET = KeyedRead(f"SELECT {_COLUMNS} FROM {_FROM} WHERE carts.id", "id")
# A change reads the versions of the cart's catalogs with it, so a cached catalog costs nothing.
_READ_FOR_CHANGE = KeyedRead(
    f"SELECT {_COLUMNS}, {CART_CATALOG_VERSIONS} FROM {_FROM} WHERE carts.id", "id"
)
_LOCK = Statement(_READ_FOR_CHANGE.sqlite + " FOR UPDATE OF carts")
_LIST = Statement(
    "SELECT document FROM carts WHERE collection_id = :collection_id AND user_id = :user_id"
    " AND id > :after_id ORDER BY id LIMIT :limit"
)
_INSERT = Statement(
    "INSERT INTO carts (id, collection_id, user_id, status, version, created_time,"
    " updated_time, document) VALUES (:id, :collection_id, :user_id, :status, :version,"
    " :created_time, :updated_time, :document)"
)
_SET = "status = :status, version = :version, updated_time = :updated_time, document = :document"


def _version_checked(condition: str) -> Statement:
    """Only where what the change started from is still there, else the transaction aborts
    (migration 0008): a change that held no lock (server.store.group_commit) never overwrites
    another's."""
    return Statement(
        f"WITH changed AS (UPDATE carts SET {_SET} WHERE id = :id AND {condition}"
        " RETURNING id) SELECT cartservice_cart_changed(:id) WHERE NOT EXISTS"
        " (SELECT FROM changed)",
        verb="UPDATE",
    )


_UPDATE = {
    "postgresql": _version_checked("version = :read_version"),
    # A change on SQLite holds the write lock from BEGIN IMMEDIATE.
    "sqlite": Statement(f"UPDATE carts SET {_SET} WHERE id = :id"),
}
# A change that started from the cache (server.store.cart_cache) also priced it with the
# catalogs of the cached versions: a catalog loaded since then sends it back too.
_UPDATE_CACHED = _version_checked(
    "version = :read_version AND (SELECT version FROM catalogs WHERE catalogs.collection_id ="
    " carts.collection_id) IS NOT DISTINCT FROM :catalog_version AND (SELECT version FROM"
    f" catalogs WHERE catalogs.collection_id = {DEFAULT_COLLECTION}) IS NOT DISTINCT FROM"
    " :default_catalog_version"
)
_UPDATED = ("id", "status", "version", "updated_time", "document")
_DELETE = Statement("DELETE FROM carts WHERE id = :id")


def _count(found: object) -> None:
    (metrics.cart_cache_misses if found is None else metrics.cart_cache_hits).inc()


def cart_from_row(row: Row) -> Cart:
    return decode_cart(bytes(row["document"]), row["version"], row["basket_id"])


def _columns(cart: Cart) -> dict[str, Any]:
    return {
        "id": cart.id,
        "collection_id": cart.collection_id,
        "user_id": cart.user_id,
        "status": cart.status.value,
        "version": cart.version,
        "created_time": cart.created_time,
        "updated_time": cart.updated_time,
        "document": encode_cart(cart),
    }


class CartRepository:
    def __init__(
        self,
        connection: Connection,
        part_ids: PartIds,
        cache: CartCache | None = None,
        *,
        reads_cache: bool = False,
    ) -> None:
        """`cache`: where committed carts go (`committed`); `reads_cache`: a change may start
        from a cart found there."""
        self._connection = connection
        self._part_ids = part_ids
        self._cache = cache
        self._reads_cache = reads_cache and cache is not None
        self._new: list[Cart] = []
        # Carts loaded for a change, with the version they were loaded at.
        self._locked: dict[int, tuple[Cart, int]] = {}
        # The versions of their catalogs, read with them.
        self.catalog_versions: dict[int, CatalogVersions] = {}
        # Carts this change started from the cache, and what it wrote (None: deleted).
        self.from_cache: set[int] = set()
        self._written: dict[int, CachedCart | None] = {}

    def add(self, cart: Cart) -> None:
        self._new.append(cart)

    async def get(self, cart_id: int, *, for_update: bool = False, cached: bool = True) -> Cart:
        """The cart with all its parts; `for_update` holds it for the change (row-locked, or
        version-checked when written) and writes it back on flush if it changed, and may come
        from the cache unless `cached` is False (a change that writes nothing checks nothing)."""
        if for_update and cached and self._reads_cache:
            found = self._cached(cart_id)
            if found is not None:
                return found
        if for_update:
            statement = _LOCK if self._connection.locks_rows else _READ_FOR_CHANGE
        else:
            statement = _GET
        row = await self._connection.fetch_one(statement, {"key": cart_id})
        if row is None:
            raise NotFound("cart", cart_id)
        cart = cart_from_row(row)
        if for_update:
            self.track(cart)
            self.catalog_versions[cart_id] = CatalogVersions.of_row(row)
        return cart

    @property
    def reads_cache(self) -> bool:
        return self._reads_cache

    def _cached(self, cart_id: int) -> Cart | None:
        assert self._cache is not None
        entry = self._cache.get(cart_id)
        _count(entry)
        return None if entry is None else self._adopt(cart_id, entry)

    def basket_from_cache(self, basket_id: str) -> tuple[dict[str, Any], Cart] | None:
        """A basket's row and its cart as this process committed them, held for the change
        like a cart from the cache; None when they are not cached together."""
        assert self._cache is not None
        found = self._cache.get_basket(basket_id)
        _count(found)
        if found is None:
            return None
        basket, entry = found
        return basket.row, self._adopt(basket.row["cart_id"], entry)

    def _adopt(self, cart_id: int, entry: CachedCart) -> Cart:
        cart = decode_cart(entry.document, entry.version, entry.basket_id)
        self.track(cart)
        self.catalog_versions[cart_id] = entry.catalog_versions
        self.from_cache.add(cart_id)
        return cart

    def remember_basket(self, row: dict[str, Any]) -> None:
        """After `committed`: the basket's row, saved with its cart, into the cache."""
        entry = self._written.get(row["cart_id"])
        if self._cache is not None and entry is not None:
            basket = CachedBasket(row, entry.version)
            self._cache.put_basket(row["basket_id"], basket)

    def unconfirmed(self) -> set[int]:
        """Carts this change started from the cache and does not write back: nothing checked
        that they are still what is committed."""
        return self.from_cache - self._written.keys()

    def committing(self) -> None:
        """The cache forgets the carts being written until they are committed (a caller
        cancelled meanwhile never hears whether they were)."""
        if self._cache is not None:
            for cart_id in self._written:
                self._cache.drop(cart_id)

    def committed(self) -> None:
        """The carts written, as committed, into the cache."""
        if self._cache is not None:
            for cart_id, entry in self._written.items():
                if entry is not None:
                    self._cache.put(cart_id, entry)

    async def get_message(self, cart_id: int, into: cart_pb2.Cart | None = None) -> cart_pb2.Cart:
        """The cart as GetCart answers it, straight from its document (no domain objects),
        parsed into `into` (an answer's field: no copy) if given."""
        row = await self._connection.fetch_one(_GET, {"key": cart_id})
        if row is None:
            raise NotFound("cart", cart_id)
        if into is None:
            return cart_message(bytes(row["document"]))
        into.MergeFromString(row["document"])
        return into

    def track(self, cart: Cart) -> None:
        """Writes this cart, loaded row-locked, back on flush if it changed."""
        assert cart.id is not None
        self._locked[cart.id] = (cart, cart.version)

    async def list_for_user(
        self, collection_id: int, user_id: str, *, after_id: int, limit: int
    ) -> list[cart_pb2.Cart]:
        rows = await self._connection.fetch_all(
            _LIST,
            {"collection_id": collection_id, "user_id": user_id, "after_id": after_id,
             "limit": limit},
        )  # fmt: skip
        return [cart_message(bytes(row["document"])) for row in rows]

    async def delete(self, cart: Cart) -> None:
        self._locked.pop(cart.id or 0, None)
        self._written[cart.id or 0] = None
        await self._connection.execute_later(_DELETE, {"id": cart.id})

    async def flush(self) -> None:
        """Writes new and changed carts (on PostgreSQL the statements travel with the next that
        needs an answer, at the latest with COMMIT); every new cart and part gets its id."""
        new, self._new = self._new, []
        changed = [(c, read) for c, read in self._locked.values() if c.version != read]
        parts = {id(cart): parts_without_ids(cart) for cart in (*new, *(c for c, _ in changed))}
        missing = len(new) + sum(map(len, parts.values()))
        ids = iter(await self._part_ids.take(self._connection, missing))
        for cart in new:
            cart.id = next(ids)
            assign_part_ids(cart, ids.__next__, parts[id(cart)])
            await self._connection.execute_later(_INSERT, _columns(cart))
        for cart, read_version in changed:
            assign_part_ids(cart, ids.__next__, parts[id(cart)])
            await self._update(cart, read_version)
            self.track(cart)

    async def _update(self, cart: Cart, read_version: int) -> None:
        assert cart.id is not None
        columns = _columns(cart)
        values = {name: columns[name] for name in _UPDATED}
        values["read_version"] = read_version
        catalogs = self.catalog_versions.get(cart.id)
        if cart.id in self.from_cache:
            assert catalogs is not None
            update = _UPDATE_CACHED
            values.update(catalog_version=catalogs.own, default_catalog_version=catalogs.fallback)
        else:
            update = _UPDATE[self._connection.dialect]
        await self._connection.execute_later(update, values)
        self._written[cart.id] = (
            None  # read without its catalogs' versions: not cached
            if catalogs is None
            else CachedCart(columns["document"], cart.version, cart.basket_id, catalogs)
        )
