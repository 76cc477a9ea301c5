"""cartservice.basket.v1.BasketService: the storefront basket API of seeds 000 and 002.

Each call is validated into a command of server.service.baskets, whose handler owns the unit of
work and the events. WatchBasket streams the basket's changes from server.watch.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from typing import Any, TypeAlias

import grpc
from cartservice.basket.v1 import basket_pb2 as resources
from cartservice.basket.v1 import basket_service_pb2 as pb
from cartservice.basket.v1 import basket_service_pb2_grpc

from server.api.errors import (
    Undecodable,
    abort_for,
    abort_undecodable,
    parses_request_with,
    translates_own_errors,
)
from server.api.validation import Rule, Violations
from server.auth.identity import caller, forget_caller
from server.service import commands as c
from server.service.baskets import BasketHandlers
from server.watch.basket_feed import BasketFeed, Watcher

Context: TypeAlias = grpc.aio.ServicerContext
log = logging.getLogger(__name__)

BASKET_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
MAX_QUANTITY_PER_ADD = 20
MAX_LINES_PER_REMOVE = 100


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
    """Validates each request into a command of server.service and answers the basket."""

    def __init__(self, baskets: BasketHandlers, feed: BasketFeed) -> None:
        self._baskets = baskets
        self._feed = feed

    async def _run(self, command: c.BasketCommand) -> resources.Basket:
        return (await self._baskets.handle(command, caller())).basket

    # ---- create, read, delete ----

    async def CreateBasket(
        self, request: pb.CreateBasketRequest, context: Context
    ) -> pb.CreateBasketResponse:
        _basket_id_and_text(request, "sales_channel_id", 64)
        basket = await self._run(c.CreateBasket(request.basket_id, request.sales_channel_id))
        return pb.CreateBasketResponse(basket=basket)

    async def GetBasket(
        self, request: pb.GetBasketRequest, context: Context
    ) -> pb.GetBasketResponse:
        _basket_id_only(request)
        return pb.GetBasketResponse(basket=await self._baskets.get(request.basket_id, caller()))

    async def DeleteBasket(
        self, request: pb.DeleteBasketRequest, context: Context
    ) -> pb.DeleteBasketResponse:
        _basket_id_only(request)
        await self._run(c.DeleteBasket(request.basket_id))
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
        command = c.AddBasketItem(request.basket_id, request.product_id, quantity)
        answer = await self._baskets.handle(command, caller())
        lines = [str(line.id) for line in answer.value]
        return pb.AddItemResponse(basket=answer.basket, added_line_item_ids=lines)

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
        basket = await self._run(c.RemoveBasketItems(request.basket_id, line_ids))
        return pb.RemoveItemsResponse(basket=basket)

    async def ApplyPromoCode(
        self, request: pb.ApplyPromoCodeRequest, context: Context
    ) -> pb.ApplyPromoCodeResponse:
        _basket_id_and_text(request, "promo_code", 64)
        basket = await self._run(c.ApplyPromoCode(request.basket_id, request.promo_code))
        return pb.ApplyPromoCodeResponse(basket=basket)

    async def RemovePromoCode(
        self, request: pb.RemovePromoCodeRequest, context: Context
    ) -> pb.RemovePromoCodeResponse:
        _basket_id_only(request)
        basket = await self._run(c.RemovePromoCode(request.basket_id))
        return pb.RemovePromoCodeResponse(basket=basket)

    # ---- payment ----

    async def CreatePaymentIntent(
        self, request: pb.CreatePaymentIntentRequest, context: Context
    ) -> pb.CreatePaymentIntentResponse:
        _basket_id_only(request)
        basket = await self._run(c.CreatePaymentIntent(request.basket_id))
        return pb.CreatePaymentIntentResponse(basket=basket, payment_intent=basket.payment_intent)

    async def DeletePaymentIntent(
        self, request: pb.DeletePaymentIntentRequest, context: Context
    ) -> pb.DeletePaymentIntentResponse:
        _basket_id_only(request)
        basket = await self._run(c.DeletePaymentIntent(request.basket_id))
        return pb.DeletePaymentIntentResponse(basket=basket)

    async def CompleteBasket(
        self, request: pb.CompleteBasketRequest, context: Context
    ) -> pb.CompleteBasketResponse:
        _basket_id_and_text(request, "payment_reference", 256)
        command = c.CompleteBasket(request.basket_id, request.payment_reference)
        basket = await self._run(command)
        return pb.CompleteBasketResponse(basket=basket)

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
        current = (await self._baskets.watch_snapshot(basket_id, caller())).message
        if current.version < from_version:
            watcher.last_version = 0  # the id names a newer basket than the client knew
        watcher.offer_snapshot(current, current.version)


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
