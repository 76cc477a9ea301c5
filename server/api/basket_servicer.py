"""cartservice.basket.v1.BasketService: the storefront basket API of seeds 000 and 002.

Every change runs like a cart change (server.api.cart_servicer): one unit of work, the basket's
cart row-locked, a pure rule of server.domain.basket_lifecycle, then in the same transaction the
cart events of what changed in the cart, the basket lifecycle events, and a notice for watchers.
An error with a seed error code is also told to the basket's watchers as SomethingHappened.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeAlias

import grpc
from cartservice.basket.v1 import basket_pb2 as resources
from cartservice.basket.v1 import basket_service_pb2 as pb
from cartservice.basket.v1 import basket_service_pb2_grpc
from cartservice.cart.v1 import cart_pb2 as cart_resources
from cartservice.cart.v1 import cart_service_pb2 as cart_pb
from google.protobuf.message import Message

from server.api import convert
from server.api.basket_convert import basket_message, updated_message
from server.api.cart_servicer import DELETE_RECEIPTS, epoch_ms
from server.api.errors import (
    Undecodable,
    abort_for,
    abort_undecodable,
    parses_request_with,
    translates_own_errors,
)
from server.api.validation import Rule, Violations, limits
from server.auth import access
from server.auth.identity import caller, forget_caller
from server.domain import basket_lifecycle as basket
from server.domain import cart_operations as ops
from server.domain.basket_lifecycle import BASKET_NOT_FOUND, BasketState
from server.domain.cart_operations import Stamp
from server.domain.errors import AlreadyExists, DomainError, NotFound
from server.domain.model import Cart
from server.events import basket_events
from server.events.cart_events import build_cart_event
from server.store.driver import INTEGRITY_ERRORS
from server.store.unit_of_work import UnitOfWork, UnitOfWorkFactory
from server.watch.basket_changes import BasketChange
from server.watch.basket_feed import BasketFeed, Snapshot, Watcher

Context: TypeAlias = grpc.aio.ServicerContext
log = logging.getLogger(__name__)

BASKET_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
MAX_QUANTITY_PER_ADD = 20
MAX_LINES_PER_REMOVE = 100
BASKET_CART_TYPE = "basket"


@dataclass
class Outcome:
    """What a basket change did: the cart operations it amounts to (request, response builder,
    called after flush so new rows have ids) and its lifecycle events besides BasketUpdated."""

    cart_events: list[tuple[Message, Callable[[], Message]]] = field(default_factory=list)
    lifecycle: list[str] = field(default_factory=list)
    changed: bool = True
    extra: Any = None


Change = Callable[[UnitOfWork, BasketState, Cart, Stamp], Awaitable[Outcome]]


def _receipt(response_type: Any, now_ms: int) -> Message:
    code, message = DELETE_RECEIPTS[response_type]
    return response_type(  # type: ignore[no-any-return]
        response_code=code, response_message=message, time_stamp=str(now_ms)
    )


def _check_basket_id(violations: Violations, value: str) -> None:
    if not BASKET_ID.fullmatch(value):
        violations.add(
            "basket_id", "must be 1-64 characters: letters, digits, '.', '_', ':' or '-'"
        )


def _basket_id_and_text(request: Any, name: str, max_length: int) -> None:
    """Validates the basket id and one required text field of the request."""
    violations = Violations()
    _check_basket_id(violations, request.basket_id)
    violations.check_string(
        name, getattr(request, name), Rule(required=True, max_length=max_length)
    )
    violations.raise_if_any()


def _basket_id_only(request: Any) -> None:
    violations = Violations()
    _check_basket_id(violations, request.basket_id)
    violations.raise_if_any()


@dataclass(frozen=True, slots=True)
class WatchRequest:
    """What an open WatchBasket stream keeps of its request (grpc.aio holds the decoded request
    until the call ends, possibly hours)."""

    basket_id: str
    from_version: int

    @classmethod
    def parse(cls, raw: bytes) -> WatchRequest:
        message = pb.WatchBasketRequest.FromString(raw)
        return cls(message.basket_id, message.from_version)


class BasketServicer(basket_service_pb2_grpc.BasketServiceServicer):
    def __init__(
        self,
        units: UnitOfWorkFactory,
        feed: BasketFeed,
        clock: Callable[[], int] = epoch_ms,
        on_commit: Callable[[], None] = lambda: None,
    ) -> None:
        self._units = units
        self._feed = feed
        self._clock = clock
        self._on_commit = on_commit

    # ---- plumbing ----

    def _stamp(self) -> Stamp:
        return Stamp(actor=caller().user_id, now_ms=self._clock())

    @staticmethod
    async def _load(
        uow: UnitOfWork, basket_id: str, *, for_update: bool = False
    ) -> tuple[BasketState, Cart]:
        state, cart = await uow.baskets.with_cart(basket_id, for_update=for_update)
        if for_update:
            uow.carts.track(cart)
        try:
            access.authorize_cart(caller(), cart)
        except NotFound:
            raise NotFound("basket", basket_id, reason=BASKET_NOT_FOUND) from None
        return basket.with_cart(state, cart), cart

    @staticmethod
    async def _message(uow: UnitOfWork, state: BasketState, cart: Cart) -> resources.Basket:
        products = await uow.baskets.products(basket.products_in(cart))
        promo = await uow.baskets.promo_code(state.promo_code) if state.promo_code else None
        return basket_message(basket.view(state, cart, products, promo))

    async def _change(self, basket_id: str, change: Change) -> tuple[resources.Basket, Any]:
        version = 0
        try:
            async with self._units() as uow:
                state, cart = await self._load(uow, basket_id, for_update=True)
                version = cart.version
                stamp = self._stamp()
                outcome = await change(uow, state, cart, stamp)
                if not outcome.changed:
                    return await self._message(uow, state, cart), outcome.extra
                await uow.carts.flush()
                await uow.baskets.save(state)
                message = await self._message(uow, state, cart)
                await self._record(uow, cart, stamp, outcome, message)
                uow.basket_changed(BasketChange(basket_id, cart.version))
                await uow.commit()
        except DomainError as error:
            await self._tell_watchers_of(error, basket_id, version)
            raise
        # This process's watchers get the committed basket at once; the change notice that
        # follows finds them up to date and reads nothing. Other processes read it on the notice.
        self._feed.offer(
            basket_id, Snapshot(updated_message(message), cart.collection_id, cart.user_id)
        )
        self._on_commit()
        return message, outcome.extra

    async def _record(
        self,
        uow: UnitOfWork,
        cart: Cart,
        stamp: Stamp,
        outcome: Outcome,
        message: resources.Basket,
        *,
        updated: bool = True,
    ) -> None:
        """The outbox rows of a change: its cart events, its lifecycle events, BasketUpdated."""
        identity = caller()
        for request, respond in outcome.cart_events:
            event = build_cart_event(request, respond(), cart, identity, stamp.now_ms)
            uow.outbox.add(event, stamp.now_ms)
        names = [*outcome.lifecycle, *([basket_events.BASKET_UPDATED] if updated else [])]
        for name in names:
            event = basket_events.build_basket_event(name, message, cart, identity, stamp.now_ms)
            uow.outbox.add(event, stamp.now_ms)

    async def _tell_watchers_of(self, error: DomainError, basket_id: str, version: int) -> None:
        """A failed call's seed error code, as SomethingHappened, once the caller was authorized
        for the basket (version > 0) and the error has a code (malformed input has none)."""
        reason = getattr(error, "reason", None)
        if version and reason:
            async with self._units() as uow:
                uow.basket_changed(BasketChange(basket_id, version, reason, str(error)))
                await uow.commit()

    # ---- create, read, delete ----

    async def CreateBasket(
        self, request: pb.CreateBasketRequest, context: Context
    ) -> pb.CreateBasketResponse:
        _basket_id_and_text(request, "sales_channel_id", 64)
        try:
            return await self._create(request)
        except INTEGRITY_ERRORS:
            # Another call created the same basket id meanwhile: answer as a repeat would.
            return await self._create(request)

    async def _create(self, request: pb.CreateBasketRequest) -> pb.CreateBasketResponse:
        identity = caller()
        async with self._units() as uow:
            existing = await uow.baskets.find(request.basket_id)
            if existing is not None:
                return await self._repeat(uow, existing, request)
            cart = Cart(
                type=BASKET_CART_TYPE,
                custom_properties={
                    "basketId": request.basket_id,
                    "salesChannelId": request.sales_channel_id,
                },
            )
            cart.user_id, cart.collection_id = access.new_cart_owner(identity)
            stamp = self._stamp()
            ops.new_cart(cart, stamp)
            cart.basket_id = request.basket_id
            uow.carts.add(cart)
            await uow.carts.flush()
            assert cart.id is not None
            state = BasketState(request.basket_id, cart.id, request.sales_channel_id)
            await uow.baskets.add(state)
            message = await self._message(uow, state, cart)
            created = cart_pb.CreateCartResponse(
                carts=[convert.to_proto(cart, cart_resources.Cart)]
            )
            outcome = Outcome(
                cart_events=[(cart_pb.CreateCartRequest(), lambda: created)],
                lifecycle=[basket_events.BASKET_CREATED],
            )
            await self._record(uow, cart, stamp, outcome, message, updated=False)
            await uow.commit()
        self._on_commit()
        return pb.CreateBasketResponse(basket=message)

    async def _repeat(
        self, uow: UnitOfWork, existing: BasketState, request: pb.CreateBasketRequest
    ) -> pb.CreateBasketResponse:
        cart = await uow.carts.get(existing.cart_id)
        basket.with_cart(existing, cart)
        identity = caller()
        owner = (identity.subject_user, identity.collection_id)
        if (cart.user_id, cart.collection_id) != owner or (
            existing.sales_channel_id != request.sales_channel_id
        ):
            raise AlreadyExists("basket", request.basket_id)
        return pb.CreateBasketResponse(basket=await self._message(uow, existing, cart))

    async def GetBasket(
        self, request: pb.GetBasketRequest, context: Context
    ) -> pb.GetBasketResponse:
        _basket_id_only(request)
        async with self._units.reading() as uow:
            state, cart = await self._load(uow, request.basket_id)
            return pb.GetBasketResponse(basket=await self._message(uow, state, cart))

    async def DeleteBasket(
        self, request: pb.DeleteBasketRequest, context: Context
    ) -> pb.DeleteBasketResponse:
        _basket_id_only(request)
        version = 0
        try:
            async with self._units() as uow:
                state, cart = await self._load(uow, request.basket_id, for_update=True)
                version = cart.version
                basket.check_deletable(state)
                stamp = self._stamp()
                message = await self._message(uow, state, cart)
                await uow.carts.delete(cart)
                outcome = Outcome(
                    cart_events=[
                        (
                            cart_pb.DeleteCartRequest(cart_id=state.cart_id),
                            lambda: _receipt(cart_pb.DeleteCartResponse, stamp.now_ms),
                        )
                    ],
                    lifecycle=[basket_events.BASKET_DELETED],
                )
                await self._record(uow, cart, stamp, outcome, message, updated=False)
                uow.basket_changed(BasketChange(request.basket_id, version, deleted=True))
                await uow.commit()
        except DomainError as error:
            await self._tell_watchers_of(error, request.basket_id, version)
            raise
        self._on_commit()
        return pb.DeleteBasketResponse()

    # ---- items and promo codes ----

    async def AddItem(self, request: pb.AddItemRequest, context: Context) -> pb.AddItemResponse:
        violations = Violations()
        _check_basket_id(violations, request.basket_id)
        violations.check_string(
            "product_id", request.product_id, Rule(required=True, max_length=64)
        )
        quantity = request.quantity or 1
        if not 1 <= quantity <= MAX_QUANTITY_PER_ADD:
            violations.add("quantity", f"must be between 1 and {MAX_QUANTITY_PER_ADD}")
        violations.raise_if_any()

        async def add(uow: UnitOfWork, state: BasketState, cart: Cart, stamp: Stamp) -> Outcome:
            basket.ensure_mutable(state)
            product = await uow.baskets.product(request.product_id)
            if product is None:
                raise NotFound("product", request.product_id, reason=basket.UNAVAILABLE_PRODUCT)
            lines = basket.add_lines(cart, state, product, quantity, stamp, limits().items_per_cart)
            return Outcome(
                cart_events=[
                    (
                        cart_pb.CreateCartItemRequest(cart_id=state.cart_id),
                        lambda: cart_pb.CreateCartItemResponse(
                            items=[convert.to_proto(i, cart_resources.CartItem) for i in lines]
                        ),
                    )
                ],
                extra=lines,
            )

        message, lines = await self._change(request.basket_id, add)
        return pb.AddItemResponse(
            basket=message, added_line_item_ids=[str(line.id) for line in lines]
        )

    async def RemoveItems(
        self, request: pb.RemoveItemsRequest, context: Context
    ) -> pb.RemoveItemsResponse:
        violations = Violations()
        _check_basket_id(violations, request.basket_id)
        line_ids: list[int] = []
        if not 1 <= len(request.line_item_ids) <= MAX_LINES_PER_REMOVE:
            violations.add("line_item_ids", f"must list 1 to {MAX_LINES_PER_REMOVE} line items")
        for index, text in enumerate(request.line_item_ids):
            if not (text.isascii() and text.isdigit() and 0 < len(text) < 19 and int(text) > 0):
                violations.add(f"line_item_ids[{index}]", "is not a line item id of this service")
            else:
                line_ids.append(int(text))
        violations.raise_if_any()

        async def remove(uow: UnitOfWork, state: BasketState, cart: Cart, stamp: Stamp) -> Outcome:
            basket.remove_lines(cart, state, line_ids, stamp)
            return Outcome(
                cart_events=[
                    (
                        cart_pb.DeleteCartItemRequest(cart_id=state.cart_id, item_id=line_id),
                        lambda: _receipt(cart_pb.DeleteCartItemResponse, stamp.now_ms),
                    )
                    for line_id in dict.fromkeys(line_ids)
                ]
            )

        message, _ = await self._change(request.basket_id, remove)
        return pb.RemoveItemsResponse(basket=message)

    async def ApplyPromoCode(
        self, request: pb.ApplyPromoCodeRequest, context: Context
    ) -> pb.ApplyPromoCodeResponse:
        _basket_id_and_text(request, "promo_code", 64)
        code = request.promo_code.strip().upper()

        async def apply(uow: UnitOfWork, state: BasketState, cart: Cart, stamp: Stamp) -> Outcome:
            basket.ensure_mutable(state)
            promo = await uow.baskets.promo_code(code)
            subtotal = sum(basket.retail_prices(state, cart), Decimal(0))
            if state.promo_code == code:
                basket.check_promo(code, promo, state, subtotal, stamp.now_ms)
                return Outcome(changed=False)
            replaced = basket.apply_promo(cart, state, code, promo, subtotal, stamp)
            events = []
            if replaced is not None:
                events.append(_promotion_deleted(state.cart_id, replaced, stamp))
            events.append(_promotion_created(state.cart_id, cart, code))
            return Outcome(cart_events=events)

        message, _ = await self._change(request.basket_id, apply)
        return pb.ApplyPromoCodeResponse(basket=message)

    async def RemovePromoCode(
        self, request: pb.RemovePromoCodeRequest, context: Context
    ) -> pb.RemovePromoCodeResponse:
        _basket_id_only(request)

        async def remove(uow: UnitOfWork, state: BasketState, cart: Cart, stamp: Stamp) -> Outcome:
            removed = basket.remove_promo(cart, state, stamp)
            if removed is None:
                return Outcome(changed=False)
            return Outcome(cart_events=[_promotion_deleted(state.cart_id, removed, stamp)])

        message, _ = await self._change(request.basket_id, remove)
        return pb.RemovePromoCodeResponse(basket=message)

    # ---- payment ----

    async def CreatePaymentIntent(
        self, request: pb.CreatePaymentIntentRequest, context: Context
    ) -> pb.CreatePaymentIntentResponse:
        _basket_id_only(request)

        async def create(uow: UnitOfWork, state: BasketState, cart: Cart, stamp: Stamp) -> Outcome:
            if state.locked and state.stage is basket.Stage.BASKET:
                return Outcome(changed=False)  # a repeat: the intent that exists
            basket.ensure_mutable(state)
            promo = await uow.baskets.promo_code(state.promo_code) if state.promo_code else None
            total = basket.quoted_total(state, cart, promo)
            payment = basket.create_payment_intent(cart, state, str(uuid.uuid4()), total, stamp)
            await uow.baskets.reserve(state.basket_id, basket.quantities(cart))
            return Outcome(
                cart_events=[
                    (
                        cart_pb.CreatePaymentRequest(cart_id=state.cart_id),
                        lambda: cart_pb.CreatePaymentResponse(
                            payment=[convert.to_proto(payment, cart_resources.Payment)]
                        ),
                    )
                ],
                lifecycle=[basket_events.PAYMENT_INTENT_CREATED],
            )

        message, _ = await self._change(request.basket_id, create)
        return pb.CreatePaymentIntentResponse(basket=message, payment_intent=message.payment_intent)

    async def DeletePaymentIntent(
        self, request: pb.DeletePaymentIntentRequest, context: Context
    ) -> pb.DeletePaymentIntentResponse:
        _basket_id_only(request)

        async def delete(uow: UnitOfWork, state: BasketState, cart: Cart, stamp: Stamp) -> Outcome:
            payment_id = basket.delete_payment_intent(cart, state, stamp)
            await uow.baskets.release(state.basket_id)
            return Outcome(
                cart_events=[
                    (
                        cart_pb.DeleteCartPaymentRequest(
                            cart_id=state.cart_id, cart_payment_id=payment_id
                        ),
                        lambda: _receipt(cart_pb.DeleteCartPaymentResponse, stamp.now_ms),
                    )
                ],
                lifecycle=[basket_events.PAYMENT_INTENT_DELETED],
            )

        message, _ = await self._change(request.basket_id, delete)
        return pb.DeletePaymentIntentResponse(basket=message)

    async def CompleteBasket(
        self, request: pb.CompleteBasketRequest, context: Context
    ) -> pb.CompleteBasketResponse:
        _basket_id_and_text(request, "payment_reference", 256)

        async def complete(
            uow: UnitOfWork, state: BasketState, cart: Cart, stamp: Stamp
        ) -> Outcome:
            payment = basket.complete(cart, state, request.payment_reference, stamp)
            if payment is None:
                return Outcome(changed=False)  # the same confirmation again
            await uow.baskets.sell(state.basket_id)
            return Outcome(
                cart_events=[
                    (
                        cart_pb.PatchUpdateCartPaymentRequest(cart_id=state.cart_id),
                        lambda: cart_pb.PatchUpdateCartPaymentResponse(
                            payment=[convert.to_proto(payment, cart_resources.Payment)]
                        ),
                    ),
                    (
                        cart_pb.PatchUpdateCartRequest(cart_id=state.cart_id),
                        lambda: cart_pb.PatchUpdateCartResponse(
                            cart=convert.to_proto(cart, cart_resources.Cart)
                        ),
                    ),
                ],
                lifecycle=[basket_events.BASKET_COMPLETE],
            )

        message, _ = await self._change(request.basket_id, complete)
        return pb.CompleteBasketResponse(basket=message)

    # ---- watching ----

    @translates_own_errors
    @parses_request_with(WatchRequest.parse)
    async def WatchBasket(  # type: ignore[override]  # writes with context.write
        self, request: WatchRequest, context: Context
    ) -> None:
        # One frame per open stream, and only this one: it translates its own errors instead of
        # running inside a wrapper's frame and runs its loop inline (each frame kept per stream
        # costs ~0.3 KB; 10,000 streams, bench/README.md). The basket id lives in the request
        # only: the watcher keeps none.
        try:
            if isinstance(request, Undecodable):
                await abort_undecodable(context, request)
            _check_watch_request(request)
            # Subscribe before reading: a change committed meanwhile is offered, never missed.
            watcher = self._feed.subscribe(request.basket_id, request.from_version)
            sent_version = request.from_version
            try:
                await self._offer_current(watcher, request.basket_id, request.from_version)
                forget_caller()  # authorized; the feed needs no caller to offer changes
                while True:
                    message = watcher.pop()
                    if message is None:
                        if watcher.ending is not None:
                            break
                        await watcher.wakeup()  # a bare future: an idle stream's only wait
                    elif await _write(watcher, context, message):
                        if message.HasField("basket_updated"):
                            sent_version = message.version
                    else:
                        break
            finally:
                self._feed.unsubscribe(request.basket_id, watcher)
            ending = watcher.ending
            if ending is not None and not ending.ok and not context.done():
                await _end_unavailable(
                    context, f"{ending.message}; watch again with from_version={sent_version}"
                )
        except Exception as error:
            await abort_for(context, error)

    async def _offer_current(self, watcher: Watcher, basket_id: str, from_version: int) -> None:
        current = await self._current(basket_id)
        if current.version < from_version:
            watcher.last_version = 0  # the id names a newer basket than the client knew
        watcher.offer_snapshot(current, current.version)

    async def _current(self, basket_id: str) -> pb.WatchBasketResponse:
        """The basket for a new watcher: the feed's copy when it has one (no database read, so
        thousands of reconnecting watchers cost little), else a read."""
        snapshot = self._feed.latest(basket_id)
        if snapshot is None:
            async with self._units.reading() as uow:
                state, cart = await self._load(uow, basket_id)
                message = updated_message(await self._message(uow, state, cart))
            snapshot = Snapshot(message, cart.collection_id, cart.user_id)
            self._feed.remember(basket_id, snapshot)
            return message
        try:
            access.authorize_owner(
                caller(), snapshot.collection_id, snapshot.user_id, "basket", basket_id
            )
        except NotFound:
            raise NotFound("basket", basket_id, reason=BASKET_NOT_FOUND) from None
        return snapshot.message

    async def snapshot_for_feed(self, basket_id: str) -> Snapshot | None:
        """The feed's read of a changed basket (its watchers were authorized when subscribing)."""
        async with self._units.reading() as uow:
            try:
                state, cart = await uow.baskets.with_cart(basket_id)
            except NotFound:
                return None
            message = updated_message(await self._message(uow, basket.with_cart(state, cart), cart))
            return Snapshot(message, cart.collection_id, cart.user_id)


def _check_watch_request(request: WatchRequest) -> None:
    violations = Violations()
    _check_basket_id(violations, request.basket_id)
    if request.from_version < 0:
        violations.add("from_version", "must be 0 or a version the stream sent")
    violations.raise_if_any()


async def _write(watcher: Watcher, context: Context, message: pb.WatchBasketResponse) -> bool:
    """Writes one message; False when the feed's stall sweep had to withdraw it (the sweep
    cancels a write that takes longer than watch_stall_seconds)."""
    watcher.writing_since = asyncio.get_running_loop().time()
    try:
        await context.write(message)
    except asyncio.CancelledError:
        if not watcher.stalled:
            raise
        asyncio.current_task().uncancel()  # type: ignore[union-attr]
        watcher.end(False, "watcher stopped reading")
        return False
    finally:
        watcher.writing_since = 0.0
    return True


async def _end_unavailable(context: Context, message: str) -> None:
    try:
        await context.abort(grpc.StatusCode.UNAVAILABLE, message)
    except grpc.aio.AbortError:
        raise
    except Exception:
        # grpc-core refuses a status while a withdrawn write is still queued on a stalled stream;
        # then the only way to end it is to cancel it (the client sees CANCELLED and resumes).
        log.info("watch stream ended by cancellation: %s", message)
        raise asyncio.CancelledError from None


def _promotion_created(
    cart_id: int, cart: Cart, code: str
) -> tuple[Message, Callable[[], Message]]:
    def respond() -> Message:
        promotion = next(p for p in cart.promotions if p.promo_code == code)
        return cart_pb.CreatePromotionResponse(
            promotion=[convert.to_proto(promotion, cart_resources.Promotion)]
        )

    return cart_pb.CreatePromotionRequest(cart_id=cart_id), respond


def _promotion_deleted(
    cart_id: int, code: str, stamp: Stamp
) -> tuple[Message, Callable[[], Message]]:
    return (
        cart_pb.DeletePromotionRequest(cart_id=cart_id, promo_code=code),
        lambda: _receipt(cart_pb.DeletePromotionResponse, stamp.now_ms),
    )
