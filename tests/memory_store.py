"""An in-memory unit of work with the interface of server.store.unit_of_work, for tests of the
servicers and the domain without a database or a network.

It keeps what the real store keeps, a document per cart, so a change that fails before commit
leaves nothing behind, and reads see only committed documents."""

from __future__ import annotations

import itertools
from types import TracebackType
from typing import Any

from cartservice.cart.v1 import cart_pb2
from cartservice.events.v1 import events_pb2 as ev

from server.domain.errors import NotFound
from server.domain.model import Cart
from server.store.documents import assign_part_ids, cart_message, decode_cart, encode_cart
from server.watch.basket_changes import BasketChange


class MemoryStore:
    def __init__(self) -> None:
        self.documents: dict[int, tuple[int, bytes, Cart]] = {}  # id → (version, document, cart)
        self.events: list[ev.CartEvent] = []
        self.basket_changes: list[BasketChange] = []
        self.ids = itertools.count(1)


class _Carts:
    def __init__(self, store: MemoryStore, written: dict[int, Cart | None]) -> None:
        self._store = store
        self._written = written
        self._new: list[Cart] = []
        self._locked: dict[int, tuple[Cart, int]] = {}

    def add(self, cart: Cart) -> None:
        self._new.append(cart)

    async def get(self, cart_id: int, *, for_update: bool = False) -> Cart:
        version, document, _ = self._committed(cart_id)
        cart = decode_cart(document, version)
        if for_update:
            self.track(cart)
        return cart

    async def get_message(self, cart_id: int) -> cart_pb2.Cart:
        return cart_message(self._committed(cart_id)[1])

    def track(self, cart: Cart) -> None:
        assert cart.id is not None
        self._locked[cart.id] = (cart, cart.version)

    async def list_for_user(
        self, collection_id: int, user_id: str, *, after_id: int, limit: int
    ) -> list[cart_pb2.Cart]:
        found = [
            cart_message(document)
            for cart_id, (_, document, cart) in sorted(self._store.documents.items())
            if cart.collection_id == collection_id
            and cart.user_id == user_id
            and cart_id > after_id
        ]
        return found[:limit]

    async def delete(self, cart: Cart) -> None:
        assert cart.id is not None
        self._locked.pop(cart.id, None)
        self._written[cart.id] = None

    async def flush(self) -> None:
        ids = self._store.ids
        for cart in self._new:
            cart.id = next(ids)
            assign_part_ids(cart, ids.__next__)
            self._written[cart.id] = cart
        self._new = []
        for cart, version in self._locked.values():
            if cart.version != version:
                assign_part_ids(cart, ids.__next__)
                assert cart.id is not None
                self._written[cart.id] = cart

    def _committed(self, cart_id: int) -> tuple[int, bytes, Cart]:
        if cart_id not in self._store.documents:
            raise NotFound("cart", cart_id)
        return self._store.documents[cart_id]


class _Outbox:
    def __init__(self) -> None:
        self.pending: list[ev.CartEvent] = []

    def add(self, event: ev.CartEvent, now_ms: int) -> None:
        self.pending.append(event)


class MemoryUnitOfWork:
    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self._written: dict[int, Cart | None] = {}
        self._changes: list[BasketChange] = []
        self.carts = _Carts(store, self._written)
        self.outbox = _Outbox()
        self.baskets: Any = None  # carts of baskets are not kept here

    async def __aenter__(self) -> MemoryUnitOfWork:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._written.clear()  # uncommitted: gone  # fmt: skip

    def basket_changed(self, change: BasketChange) -> None:
        self._changes.append(change)

    async def commit(self) -> None:
        for cart_id, cart in self._written.items():
            if cart is None:
                self._store.documents.pop(cart_id, None)
            else:
                self._store.documents[cart_id] = (cart.version, encode_cart(cart), cart)
        self._store.events.extend(self.outbox.pending)
        self._store.basket_changes.extend(self._changes)
        self._written.clear()


class MemoryUnits:
    """Stands where server.store.unit_of_work.UnitOfWorkFactory does."""

    def __init__(self) -> None:
        self.store = MemoryStore()

    def __call__(self) -> MemoryUnitOfWork:
        return MemoryUnitOfWork(self.store)

    def reading(self) -> MemoryUnitOfWork:
        return MemoryUnitOfWork(self.store)
