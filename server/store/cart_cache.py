"""The carts (and baskets) this process last committed, so that its next change of one reads
nothing first.

A change that starts from a cached cart writes it back with an UPDATE that checks both the
version and the catalog versions the cache holds (server.store.repository): if anything moved
since (another process wrote the cart or loaded a catalog) the UPDATE aborts its transaction and
the change runs again, row-locked, on what is committed. A cart found so is "contended" and is
not cached again, so carts that several processes share cost at most one such rerun each.

A basket's entry is its row as committed with the version of its cart then: it is found only
while the cart's entry has that version (every change of a basket's state changes its cart, so
the cart's version check covers the basket's row too).

Never used to answer a read: GetCart must see what any process committed.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from server.store.catalog_repository import CatalogVersions

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
# Carts remembered as contended, at most (about 100 bytes each).
MAX_CONTENDED = 50_000


@dataclass(frozen=True, slots=True)
class CachedCart:
    document: bytes
    version: int
    basket_id: str | None
    catalog_versions: CatalogVersions


@dataclass(frozen=True, slots=True)
class CachedBasket:
    row: dict[str, Any]  # its columns, cart_id among them
    cart_version: int


class CartCache:
    """Committed carts by id, the least recently used leaving first once their documents pass
    `max_bytes` in all (0: nothing is cached)."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self._max_bytes = max_bytes
        self._bytes = 0
        self._carts: OrderedDict[int, CachedCart] = OrderedDict()
        self._contended: OrderedDict[int, None] = OrderedDict()
        self._baskets: dict[str, CachedBasket] = {}

    def __len__(self) -> int:
        return len(self._carts)

    def get(self, cart_id: int) -> CachedCart | None:
        found = self._carts.get(cart_id)
        if found is not None:
            self._carts.move_to_end(cart_id)
        return found

    def put(self, cart_id: int, cart: CachedCart) -> None:
        self.drop(cart_id)
        if cart_id in self._contended or len(cart.document) > self._max_bytes:
            return
        self._carts[cart_id] = cart
        self._bytes += len(cart.document)
        while self._bytes > self._max_bytes:
            self.drop(next(iter(self._carts)))

    def drop(self, cart_id: int) -> None:
        gone = self._carts.pop(cart_id, None)
        if gone is not None:
            self._bytes -= len(gone.document)
            if gone.basket_id is not None:
                self._baskets.pop(gone.basket_id, None)

    def get_basket(self, basket_id: str) -> tuple[CachedBasket, CachedCart] | None:
        """The basket and its cart, if both are here as they were committed together."""
        basket = self._baskets.get(basket_id)
        if basket is None:
            return None
        cart = self.get(basket.row["cart_id"])
        if cart is None or cart.version != basket.cart_version:
            return None
        return basket, cart

    def put_basket(self, basket_id: str, basket: CachedBasket) -> None:
        """After its cart's entry (`put`): kept only as long as that entry is."""
        cart = self._carts.get(basket.row["cart_id"])
        if cart is not None and cart.basket_id == basket_id:
            self._baskets[basket_id] = basket

    def contended(self, cart_id: int) -> None:
        """Another process changes this cart too: it is read from the database from now on."""
        self.drop(cart_id)
        self._contended[cart_id] = None
        self._contended.move_to_end(cart_id)
        if len(self._contended) > MAX_CONTENDED:
            self._contended.popitem(last=False)
