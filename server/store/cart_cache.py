"""The carts this process last committed, so that its next change of one reads nothing first.

A change that starts from a cached cart writes it back with an UPDATE that checks both the
version and the catalog versions the cache holds (server.store.repository): if anything moved
since (another process wrote the cart or loaded a catalog) the UPDATE aborts its transaction and
the change runs again, row-locked, on what is committed. A cart found so is "contended" and is
not cached again, so carts that several processes share cost at most one such rerun each.

Never used to answer a read: GetCart must see what any process committed.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

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


class CartCache:
    """Committed carts by id, the least recently used leaving first once their documents pass
    `max_bytes` in all (0: nothing is cached)."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self._max_bytes = max_bytes
        self._bytes = 0
        self._carts: OrderedDict[int, CachedCart] = OrderedDict()
        self._contended: OrderedDict[int, None] = OrderedDict()

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
            _, oldest = self._carts.popitem(last=False)
            self._bytes -= len(oldest.document)

    def drop(self, cart_id: int) -> None:
        gone = self._carts.pop(cart_id, None)
        if gone is not None:
            self._bytes -= len(gone.document)

    def contended(self, cart_id: int) -> None:
        """Another process changes this cart too: it is read from the database from now on."""
        self.drop(cart_id)
        self._contended[cart_id] = None
        self._contended.move_to_end(cart_id)
        if len(self._contended) > MAX_CONTENDED:
            self._contended.popitem(last=False)
