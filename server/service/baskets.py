"""The handlers of basket commands (seeds 000 and 002), keyed by command type.

A basket change runs like a cart change (server.service.carts): one unit of work with the
basket's cart row-locked, a rule of server.domain.basket_lifecycle that changes the cart through
the cart operations (so it records the cart events by itself), then BasketUpdated and the
lifecycle events, a notice for watchers, commit. An error with a seed error code is also told to
the basket's watchers as SomethingHappened.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from cartservice.basket.v1 import basket_pb2

from server.auth import access
from server.auth.identity import Identity
from server.contract.baskets import basket_message, updated_message
from server.domain import basket_lifecycle as basket
from server.domain.basket_lifecycle import BASKET_NOT_FOUND, BasketState
from server.domain.cart_operations import Stamp
from server.domain.errors import AlreadyExists, DomainError, NotFound, PermissionDenied
from server.domain.events import DomainEvent
from server.domain.model import Cart
from server.events.mapping import Source
from server.service import commands as c
from server.service.carts import DEFAULT_LIMITS, CartLimits, epoch_ms
from server.service.pricing import redeem_promotions, release_promotions
from server.service.recording import record
from server.store.driver import INTEGRITY_ERRORS
from server.store.unit_of_work import UnitOfWork, UnitOfWorkFactory
from server.watch.basket_changes import BasketChange
from server.watch.basket_feed import BasketFeed, Snapshot

T = TypeVar("T")
Change = Callable[[UnitOfWork, BasketState, Cart, Stamp], Awaitable[T]]


@dataclass(frozen=True, slots=True)
class Answer:
    """The basket as committed, what the command returns besides (AddBasketItem: the new lines)
    and the events it recorded (none: nothing changed)."""

    basket: basket_pb2.Basket
    value: Any = None
    events: tuple[DomainEvent, ...] = ()


class BasketHandlers:
    def __init__(
        self,
        units: UnitOfWorkFactory,
        feed: BasketFeed,
        clock: Callable[[], int] = epoch_ms,
        on_commit: Callable[[], None] = lambda: None,
        limits: CartLimits = DEFAULT_LIMITS,
    ) -> None:
        self._units = units
        self._feed = feed
        self._clock = clock
        self._on_commit = on_commit
        self._limits = limits

    async def handle(self, command: c.BasketCommand, identity: Identity) -> Answer:
        """Runs one basket command; answers the basket as committed and what the command
        returns besides (the new lines of AddBasketItem)."""
        handler = self._handlers[type(command)]
        return await handler(self, command, identity)

    # ---- queries ----

    async def get(self, basket_id: str, identity: Identity) -> basket_pb2.Basket:
        async with self._units.reading() as uow:
            state, cart = await self._load(uow, basket_id, identity)
            return await self._message(uow, state, cart)

    async def products(self, after_id: str, limit: int) -> list[basket.Product]:
        """A page of the catalog: any authenticated caller may list it."""
        async with self._units.reading() as uow:
            return await uow.baskets.products_page(after_id, limit)

    async def watch_snapshot(self, basket_id: str, identity: Identity) -> Snapshot:
        """The basket for a new watcher: the feed's copy when it has one (no database read, so
        thousands of reconnecting watchers cost little), else a read."""
        snapshot = self._feed.latest(basket_id)
        if snapshot is None:
            async with self._units.reading() as uow:
                state, cart = await self._load(uow, basket_id, identity)
                message = updated_message(await self._message(uow, state, cart))
            snapshot = Snapshot(message, cart.collection_id, cart.user_id)
            self._feed.remember(basket_id, snapshot)
            return snapshot
        try:
            access.authorize_owner(
                identity, snapshot.collection_id, snapshot.user_id, "basket", basket_id
            )
        except NotFound:
            raise NotFound("basket", basket_id, reason=BASKET_NOT_FOUND) from None
        return snapshot

    async def snapshot_for_feed(self, basket_id: str) -> Snapshot | None:
        """The feed's read of a changed basket (its watchers were authorized when subscribing)."""
        async with self._units.reading() as uow:
            try:
                state, cart = await uow.baskets.with_cart(basket_id)
            except NotFound:
                return None
            message = updated_message(await self._message(uow, basket.with_cart(state, cart), cart))
            return Snapshot(message, cart.collection_id, cart.user_id)

    # ---- create and delete ----

    async def _create(self, command: c.CreateBasket, identity: Identity) -> Answer:
        try:
            return await self._create_once(command, identity)
        except INTEGRITY_ERRORS:
            # Another call created the same basket id meanwhile: answer as a repeat would.
            return await self._create_once(command, identity)

    async def _create_once(self, command: c.CreateBasket, identity: Identity) -> Answer:
        owner = access.new_cart_owner(identity)
        async with self._units() as uow:
            existing = await uow.baskets.find(command.basket_id)
            if existing is not None:
                return Answer(await self._repeat(uow, existing, command, owner))
            stamp = self._stamp(identity)
            cart = basket.new_basket_cart(command.basket_id, command.sales_channel_id, owner, stamp)
            uow.carts.add(cart)
            await uow.carts.flush()
            assert cart.id is not None
            state = BasketState(command.basket_id, cart.id, command.sales_channel_id)
            await uow.baskets.add(state)
            message = await self._message(uow, state, cart)
            recorded = record(uow.outbox, Source(cart, identity, stamp.now_ms), message)
            await uow.commit()
        self._on_commit()
        return Answer(message, events=recorded.events)

    async def _repeat(
        self,
        uow: UnitOfWork,
        existing: BasketState,
        command: c.CreateBasket,
        owner: tuple[str, int],
    ) -> basket_pb2.Basket:
        cart = await uow.carts.get(existing.cart_id)
        basket.with_cart(existing, cart)
        if (cart.user_id, cart.collection_id) != owner or (
            existing.sales_channel_id != command.sales_channel_id
        ):
            raise AlreadyExists("basket", command.basket_id)
        return await self._message(uow, existing, cart)

    async def _delete(self, command: c.DeleteBasket, identity: Identity) -> Answer:
        version = 0
        try:
            async with self._units() as uow:
                state, cart = await self._load(uow, command.basket_id, identity, for_update=True)
                version = cart.version
                basket.delete(cart, state)
                stamp = self._stamp(identity)
                message = await self._message(uow, state, cart)
                await uow.carts.delete(cart)
                recorded = record(uow.outbox, Source(cart, identity, stamp.now_ms), message)
                uow.basket_changed(BasketChange(command.basket_id, version, deleted=True))
                await uow.commit()
        except DomainError as error:
            await self._tell_watchers_of(error, command.basket_id, version)
            raise
        self._on_commit()
        return Answer(message, events=recorded.events)

    # ---- changes ----

    async def _add_item(self, command: c.AddBasketItem, identity: Identity) -> Answer:
        async def add(uow: UnitOfWork, state: BasketState, cart: Cart, stamp: Stamp) -> Any:
            basket.ensure_mutable(state)
            # With the cart's other products: the answer's basket needs them too, and they
            # come in the same round trip.
            wanted = {*basket.products_in(cart), command.product_id}
            product = (await uow.baskets.products(wanted)).get(command.product_id)
            if product is None:
                raise NotFound("product", command.product_id, reason=basket.UNAVAILABLE_PRODUCT)
            return basket.add_lines(
                cart, state, product, command.quantity, stamp, self._limits.items_per_cart
            )

        return await self._change(command.basket_id, identity, add)

    async def _remove_items(self, command: c.RemoveBasketItems, identity: Identity) -> Answer:
        async def remove(uow: UnitOfWork, state: BasketState, cart: Cart, stamp: Stamp) -> None:
            basket.remove_lines(cart, state, command.line_ids, stamp)

        return await self._change(command.basket_id, identity, remove)

    async def _apply_promo(self, command: c.ApplyPromoCode, identity: Identity) -> Answer:
        code = command.promo_code.strip().upper()

        async def apply(uow: UnitOfWork, state: BasketState, cart: Cart, stamp: Stamp) -> None:
            basket.ensure_mutable(state)
            catalog = await uow.catalog_of(cart)
            if state.promo_code == code:
                basket.check_promo(code, state, cart, catalog, stamp.now_ms)
                return  # already applied: nothing changes
            basket.apply_promo(cart, state, code, catalog, stamp)

        return await self._change(command.basket_id, identity, apply)

    async def _remove_promo(self, command: c.RemovePromoCode, identity: Identity) -> Answer:
        async def remove(uow: UnitOfWork, state: BasketState, cart: Cart, stamp: Stamp) -> None:
            basket.remove_promo(cart, state, stamp)

        return await self._change(command.basket_id, identity, remove)

    async def _create_intent(self, command: c.CreatePaymentIntent, identity: Identity) -> Answer:
        async def create(uow: UnitOfWork, state: BasketState, cart: Cart, stamp: Stamp) -> None:
            if state.locked and state.stage is basket.Stage.BASKET:
                return  # a repeat: the intent that exists
            basket.ensure_mutable(state)
            catalog = await uow.catalog_of(cart)
            total = basket.quoted_total(state, cart, catalog, stamp.now_ms)
            basket.create_payment_intent(cart, state, str(uuid.uuid4()), total, stamp)
            await uow.baskets.reserve(state.basket_id, basket.quantities(cart))
            await redeem_promotions(uow, cart, stamp.now_ms)

        return await self._change(command.basket_id, identity, create)

    async def _delete_intent(self, command: c.DeletePaymentIntent, identity: Identity) -> Answer:
        async def delete(uow: UnitOfWork, state: BasketState, cart: Cart, stamp: Stamp) -> None:
            basket.delete_payment_intent(cart, state, stamp)
            await uow.baskets.release(state.basket_id)
            await release_promotions(uow, cart, stamp.now_ms)

        return await self._change(command.basket_id, identity, delete)

    async def _complete(self, command: c.CompleteBasket, identity: Identity) -> Answer:
        async def complete(uow: UnitOfWork, state: BasketState, cart: Cart, stamp: Stamp) -> None:
            if basket.complete(cart, state, command.payment_reference, stamp) is not None:
                await uow.baskets.sell(state.basket_id)

        return await self._change(command.basket_id, identity, complete)

    _handlers: ClassVar[dict[type[c.BasketCommand], Callable[..., Awaitable[Answer]]]] = {
        c.CreateBasket: _create,
        c.DeleteBasket: _delete,
        c.AddBasketItem: _add_item,
        c.RemoveBasketItems: _remove_items,
        c.ApplyPromoCode: _apply_promo,
        c.RemovePromoCode: _remove_promo,
        c.CreatePaymentIntent: _create_intent,
        c.DeletePaymentIntent: _delete_intent,
        c.CompleteBasket: _complete,
    }

    # ---- plumbing ----

    async def _change(self, basket_id: str, identity: Identity, change: Change[T]) -> Answer:
        version = 0

        async def run(uow: UnitOfWork) -> tuple[Answer, Cart | None]:
            nonlocal version
            state, cart = await self._load(uow, basket_id, identity, for_update=True)
            version = cart.version
            stamp = self._stamp(identity)
            result = await change(uow, state, cart, stamp)
            if not basket.mark_updated(cart):
                return Answer(await self._message(uow, state, cart), result), None
            await uow.carts.flush()
            await uow.baskets.save(state)
            message = await self._message(uow, state, cart)
            recorded = record(uow.outbox, Source(cart, identity, stamp.now_ms), message)
            uow.basket_changed(BasketChange(basket_id, cart.version))
            await uow.commit()
            return Answer(message, result, recorded.events), cart

        try:
            answer, changed = await self._units.run(run, key=("basket", basket_id))
        except DomainError as error:
            await self._tell_watchers_of(error, basket_id, version)
            raise
        if changed is None:
            return answer
        # This process's watchers get the committed basket at once; the change notice that
        # follows finds them up to date and reads nothing. Other processes read it on the notice.
        self._feed.offer(
            basket_id,
            Snapshot(updated_message(answer.basket), changed.collection_id, changed.user_id),
        )
        self._on_commit()
        return answer

    def _stamp(self, identity: Identity) -> Stamp:
        return Stamp(actor=identity.user_id, now_ms=self._clock())

    @staticmethod
    async def _load(
        uow: UnitOfWork, basket_id: str, identity: Identity, *, for_update: bool = False
    ) -> tuple[BasketState, Cart]:
        state, cart = await uow.baskets.with_cart(basket_id, for_update=for_update)
        if for_update:
            uow.carts.track(cart)
        try:
            access.authorize_cart(identity, cart)
        except NotFound:
            raise NotFound("basket", basket_id, reason=BASKET_NOT_FOUND) from None
        except PermissionDenied:
            # The cart behind a basket is the service's own business: name the basket only.
            raise PermissionDenied(f"basket {basket_id} belongs to another user") from None
        return basket.with_cart(state, cart), cart

    async def _message(self, uow: UnitOfWork, state: BasketState, cart: Cart) -> basket_pb2.Basket:
        products = await uow.baskets.products(basket.products_in(cart))
        catalog = await uow.catalog_of(cart)
        return basket_message(basket.view(state, cart, products, catalog, self._clock()))

    async def _tell_watchers_of(self, error: DomainError, basket_id: str, version: int) -> None:
        """A failed call's seed error code, as SomethingHappened, once the caller was authorized
        for the basket (version > 0) and the error has a code (malformed input has none)."""
        reason = getattr(error, "reason", None)
        if version and reason:
            async with self._units() as uow:
                uow.basket_changed(BasketChange(basket_id, version, reason, str(error)))
                await uow.commit()
