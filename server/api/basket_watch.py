"""WatchBasket: a server stream per storefront page, so a server holds thousands open for hours.

Everything that keeps an open stream small lives here: the compact request it keeps, one
coroutine frame per stream (it translates its own errors, and the interceptor adds no wrapper),
dropping the caller once authorized, the accept queue for reconnect bursts, calls started in an
empty context, and the garbage collector's settings. The figures behind each are in
bench/README.md ("WatchBasket fan-out").
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

import grpc
from cartservice.basket.v1 import basket_service_pb2 as pb

from server.api import access_log
from server.api.errors import (
    Undecodable,
    abort_for,
    abort_undecodable,
    parses_request_with,
    translates_own_errors,
)
from server.api.validation import Violations, check_basket_id
from server.auth.identity import caller, forget_caller
from server.watch.basket_feed import BasketFeed, Watcher

if TYPE_CHECKING:
    from server.service.baskets import BasketHandlers

Context: TypeAlias = grpc.aio.ServicerContext
log = logging.getLogger(__name__)

# When thousands of WatchBasket clients (re)connect at once, calls arrive faster than the event
# loop takes them. grpc-core queues calls not yet taken, starts refusing them at random beyond
# 1,000 queued (hard limit 3,000) and cancels any queued for 30 s: the "no new streams above
# 2,500-6,000" of a plain grpc.aio server. A deeper, more patient queue lets a burst through.
ACCEPT_BURST_OPTIONS = [
    ("grpc.server.max_pending_requests", 20_000),
    ("grpc.server.max_pending_requests_hard_limit", 40_000),
    ("grpc.server_max_unrequested_time_in_server", 300),
]
# Allocations between young-generation collections (Python's default: 700).
GC_YOUNG_THRESHOLD = 70_000


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


class WatchBasketStreams:
    """The WatchBasket method of BasketServicer."""

    _baskets: BasketHandlers
    _feed: BasketFeed

    @translates_own_errors
    @parses_request_with(WatchRequest.parse)
    async def WatchBasket(  # writes with context.write
        self, request: WatchRequest, context: Context
    ) -> None:
        # One frame per open stream, and only this one: it translates its own errors instead of
        # running inside a wrapper's frame, and runs its loop inline. The basket id lives in the
        # request only: the watcher keeps none.
        access_log.when_done(context)
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
        except asyncio.CancelledError:
            access_log.note_cancelled()  # the client went away
            raise
        except Exception as error:
            await abort_for(context, error)

    async def _offer_current(self, watcher: Watcher, basket_id: str, from_version: int) -> None:
        current = (await self._baskets.watch_snapshot(basket_id, caller())).message
        if current.version < from_version:
            watcher.last_version = 0  # the id names a newer basket than the client knew
        watcher.offer_snapshot(current, current.version)


def _check_watch_request(request: WatchRequest) -> None:
    violations = Violations()
    check_basket_id(violations, request.basket_id)
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


async def start_calls_in_empty_context(server: grpc.aio.Server) -> None:
    """grpc.aio runs each call in a task whose context is copied from the one server.start() ran
    in. Started from an empty context, a call's context holds only what the call sets: nothing
    of startup (the decimal module's context, say) is shared by all calls, and a WatchBasket
    stream that has dropped its caller keeps no context entries of its own."""
    await asyncio.create_task(server.start(), context=contextvars.Context())


def tune_garbage_collector() -> None:
    """Startup objects (modules, mappings, descriptors) are frozen out of the cyclic collector and
    young collections run less often: with thousands of open watches, the default collector
    spends a share of every change's fan-out traversing stream objects that are not garbage."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 10, 10)
