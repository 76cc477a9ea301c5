"""An in-memory unit of work with the interface of server.store.unit_of_work, for tests of the
servicers and the domain without a database or a network.

It keeps what the real store keeps, a document per cart, so a change that fails before commit
leaves nothing behind, and reads see only committed documents."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping
from types import TracebackType
from typing import TypeVar

from cartservice.cart.v1 import cart_pb2
from cartservice.events.v1 import events_pb2 as ev

from server.domain.basket_lifecycle import (
    BASKET_NOT_FOUND,
    UNAVAILABLE_PRODUCT,
    BasketState,
    Product,
)
from server.domain.catalog import EMPTY, Catalog
from server.domain.errors import FailedPrecondition, NotFound
from server.domain.model import Cart
from server.store.documents import assign_part_ids, cart_message, decode_cart, encode_cart
from server.watch.basket_changes import BasketChange

T = TypeVar("T")


class MemoryStore:
    def __init__(self) -> None:
        self.documents: dict[int, tuple[int, bytes, Cart]] = {}  # id → (version, document, cart)
        self.events: list[ev.CartEvent] = []
        self.basket_changes: list[BasketChange] = []
        self.ids = itertools.count(1)
        self.baskets: dict[str, BasketState] = {}
        self.products: dict[str, Product] = {}
        # Catalogs by collection (0: the default), each (version, document, catalog).
        self.catalogs: dict[int, tuple[int, str, Catalog]] = {}
        self.promotion_uses: dict[tuple[int, str], int] = {}
        self.stock: dict[str, int] = {}  # product id → units left
        self.reserved: dict[str, dict[str, int]] = {}  # basket id → product id → units
        self.sold: set[str] = set()  # basket ids whose reservation was sold

    def add_product(self, product: Product) -> None:
        self.products[product.id] = product
        self.stock[product.id] = product.stock

    def use_catalog(self, catalog: Catalog, collection_id: int = 0) -> None:
        version = self.catalogs[collection_id][0] + 1 if collection_id in self.catalogs else 1
        self.catalogs[collection_id] = (version, "{}", catalog)


class _Catalogs:
    def __init__(self, store: MemoryStore, staged: list[Callable[[], None]]) -> None:
        self._store = store
        self._staged = staged

    async def effective(self, collection_id: int, versions: object = None) -> Catalog:
        found = self._store.catalogs.get(collection_id) or self._store.catalogs.get(0)
        return found[2] if found else EMPTY

    async def uses(self, collection_id: int) -> dict[str, int]:
        found = self._store.promotion_uses.items()
        return {rule: n for (collection, rule), n in found if collection == collection_id}

    async def use(self, collection_id: int, rule_id: str, usage_limit: int) -> bool:
        key = (collection_id, rule_id)
        if self._store.promotion_uses.get(key, 0) >= usage_limit:
            return False
        uses = self._store.promotion_uses
        self._staged.append(lambda: uses.__setitem__(key, uses.get(key, 0) + 1))
        return True

    async def give_back(self, collection_id: int, rule_id: str) -> None:
        key, uses = (collection_id, rule_id), self._store.promotion_uses
        self._staged.append(lambda: uses.__setitem__(key, max(uses.get(key, 0) - 1, 0)))

    async def document(self, collection_id: int) -> tuple[int, str] | None:
        found = self._store.catalogs.get(collection_id)
        return (found[0], found[1]) if found else None

    async def put(self, collection_id: int, document: str, catalog: Catalog, now_ms: int) -> int:
        found = self._store.catalogs.get(collection_id)
        version = found[0] + 1 if found else 1
        self._staged.append(
            lambda: self._store.catalogs.__setitem__(collection_id, (version, document, catalog))
        )
        return version


class _Carts:
    def __init__(
        self, store: MemoryStore, written: dict[int, tuple[int, bytes, Cart] | None]
    ) -> None:
        self._store = store
        self._written = written
        self._new: list[Cart] = []
        self._locked: dict[int, tuple[Cart, int]] = {}

    def add(self, cart: Cart) -> None:
        self._new.append(cart)

    async def get(self, cart_id: int, *, for_update: bool = False, cached: bool = True) -> Cart:
        version, document, _ = self._committed(cart_id)
        held = (b.basket_id for b in self._store.baskets.values() if b.cart_id == cart_id)
        cart = decode_cart(document, version, next(held, None))
        if for_update:
            self.track(cart)
        return cart

    async def get_message(self, cart_id: int, into: cart_pb2.Cart | None = None) -> cart_pb2.Cart:
        message = cart_message(self._committed(cart_id)[1])
        if into is None:
            return message
        into.CopyFrom(message)
        return into

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
            self._written[cart.id] = (cart.version, encode_cart(cart), cart)
        self._new = []
        # Encoded here, as the real repository does: the document reuses what no recorded
        # event touched, and the events are still on the cart until the outbox takes them.
        for cart, version in list(self._locked.values()):
            if cart.version != version:
                assign_part_ids(cart, ids.__next__)
                assert cart.id is not None
                self._written[cart.id] = (cart.version, encode_cart(cart), cart)
                self.track(cart)

    def _committed(self, cart_id: int) -> tuple[int, bytes, Cart]:
        if cart_id not in self._store.documents:
            raise NotFound("cart", cart_id)
        return self._store.documents[cart_id]


class _Baskets:
    """Baskets, catalog and stock; writes are staged and land on commit."""

    def __init__(self, store: MemoryStore, staged: list[Callable[[], None]]) -> None:
        self._store = store
        self._staged = staged

    async def find(self, basket_id: str) -> BasketState | None:
        state = self._store.baskets.get(basket_id)
        return dataclasses.replace(state) if state else None

    async def get(self, basket_id: str) -> BasketState:
        state = await self.find(basket_id)
        if state is None:
            raise NotFound("basket", basket_id, reason=BASKET_NOT_FOUND)
        return state

    async def with_cart(
        self, basket_id: str, *, for_update: bool = False
    ) -> tuple[BasketState, Cart]:
        state = await self.get(basket_id)
        if state.cart_id not in self._store.documents:
            raise NotFound("basket", basket_id, reason=BASKET_NOT_FOUND)
        version, document, _ = self._store.documents[state.cart_id]
        return state, decode_cart(document, version, basket_id)

    async def add(self, state: BasketState) -> None:
        if state.basket_id in self._store.baskets:
            raise AssertionError("basket ids are unique")
        self.stage(lambda: self._store.baskets.__setitem__(state.basket_id, state))

    async def save(self, state: BasketState) -> None:
        saved = dataclasses.replace(state)
        self.stage(lambda: self._store.baskets.__setitem__(state.basket_id, saved))

    async def product(self, product_id: str) -> Product | None:
        return self._store.products.get(product_id)

    async def products(self, product_ids: Iterable[str]) -> dict[str, Product]:
        return {p: self._store.products[p] for p in product_ids if p in self._store.products}

    async def products_page(self, after_id: str, limit: int) -> list[Product]:
        following = sorted(p for p in self._store.products if p > after_id)
        return [self._store.products[p] for p in following[:limit]]

    async def reserve(self, basket_id: str, wanted: Mapping[str, int]) -> None:
        for product_id, quantity in wanted.items():
            if self._store.stock.get(product_id, 0) < quantity:
                raise FailedPrecondition(
                    f"product {product_id}: fewer than {quantity} left in stock",
                    UNAVAILABLE_PRODUCT,
                )

        def take() -> None:
            for product_id, quantity in wanted.items():
                self._store.stock[product_id] -= quantity
            self._store.reserved[basket_id] = dict(wanted)

        self.stage(take)

    async def release(self, basket_id: str) -> None:
        def put_back() -> None:
            for product_id, quantity in self._store.reserved.pop(basket_id, {}).items():
                self._store.stock[product_id] += quantity

        self.stage(put_back)

    async def sell(self, basket_id: str) -> None:
        self.stage(lambda: self._store.sold.add(basket_id))

    def stage(self, write: Callable[[], None]) -> None:
        self._staged.append(write)


class _Outbox:
    def __init__(self) -> None:
        self.pending: list[ev.CartEvent] = []

    def add(self, event: ev.CartEvent, now_ms: int) -> None:
        self.pending.append(event)


class MemoryUnitOfWork:
    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self._written: dict[int, tuple[int, bytes, Cart] | None] = {}
        self._changes: list[BasketChange] = []
        self._staged: list[Callable[[], None]] = []
        self.carts = _Carts(store, self._written)
        self.outbox = _Outbox()
        self.baskets = _Baskets(store, self._staged)
        self.catalogs = _Catalogs(store, self._staged)

    async def catalog_of(self, cart: Cart, *, with_used_up: bool = False) -> Catalog:
        catalog = await self.catalogs.effective(cart.collection_id)
        if with_used_up:
            return catalog
        return catalog.without_used_up(await self.catalogs.uses(cart.collection_id))

    async def __aenter__(self) -> MemoryUnitOfWork:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._written.clear()  # uncommitted: gone  # fmt: skip
        self._staged.clear()

    def basket_changed(self, change: BasketChange) -> None:
        self._changes.append(change)

    async def commit(self) -> None:
        for cart_id, cart in self._written.items():  # (version, document, cart) or None
            if cart is None:
                self._store.documents.pop(cart_id, None)
                for basket in [b for b in self._store.baskets.values() if b.cart_id == cart_id]:
                    del self._store.baskets[basket.basket_id]  # the row's foreign key cascades
            else:
                self._store.documents[cart_id] = cart
        self._store.events.extend(self.outbox.pending)
        self._store.basket_changes.extend(self._changes)
        for write in self._staged:
            write()
        self._written.clear()
        self._staged.clear()


class MemoryUnits:
    """Stands where server.store.unit_of_work.UnitOfWorkFactory does."""

    def __init__(self) -> None:
        self.store = MemoryStore()

    def __call__(self) -> MemoryUnitOfWork:
        return MemoryUnitOfWork(self.store)

    def reading(self) -> MemoryUnitOfWork:
        return MemoryUnitOfWork(self.store)

    async def run(
        self, work: Callable[[MemoryUnitOfWork], Awaitable[T]], *, key: Hashable = None
    ) -> T:
        async with self() as uow:
            return await work(uow)
