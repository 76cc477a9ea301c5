"""One line per RPC: method, status, latency, the caller's user and collection, request id; and
the RPC metrics (server.metrics), counted in the same place.

The request id is the caller's `x-request-id` or a new one. Nothing else of the request is
logged: no token, e-mail, phone or address can reach the line.

Wrappers are made once per method, not per call; a call's own facts travel in a context
variable. WatchBasket, open for hours, gets no wrapper frame: it asks `when_done` for a line at
its end (server.api.basket_watch).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

import grpc

from server import metrics
from server.api.errors import HandlerWrappers
from server.auth.identity import Identity, current_caller

log = logging.getLogger("cartservice.access")
REQUEST_ID_KEY = "x-request-id"
MAX_REQUEST_ID = 128
_UNSAFE = re.compile(r"[^A-Za-z0-9._:/+=-]")
_ID_PREFIX = uuid.uuid4().hex[:16]
_ids = itertools.count(1)


class _Call:
    __slots__ = ("cancelled", "grpc_type", "identity", "method", "request_id", "started")

    def __init__(self, method: str, request_id: str) -> None:
        self.method = method
        self.request_id = request_id
        self.started = time.perf_counter()
        self.grpc_type = "unary"
        self.identity: Identity | None = None
        # Set by the handler's side: the context does not say so yet when done callbacks run.
        self.cancelled = False

    def finish(self, context: grpc.aio.ServicerContext) -> None:
        try:
            self._log(context)
        except Exception:  # a log line must never change a call's outcome
            log.exception("access log line for %s failed", self.method)

    def _log(self, context: grpc.aio.ServicerContext) -> None:
        code = context.code()
        if self.cancelled or context.cancelled():
            status = "CANCELLED"
        elif code is None:
            status = "OK"
        else:
            status = code.name
        identity = self.identity or current_caller()
        seconds = time.perf_counter() - self.started
        metrics.rpc_finished(self.grpc_type, self.method, status, seconds)
        fields = {
            "method": self.method,
            "code": status,
            "ms": round(seconds * 1000, 2),
            "user": identity.user_id if identity else None,
            "collection": identity.collection_id if identity else None,
            "request_id": self.request_id,
        }
        log.info(
            "%s %s %.2f ms user=%s collection=%s request_id=%s",
            *(value if value is not None else "-" for value in fields.values()),
            extra={"access": fields},
        )


_call: ContextVar[_Call] = ContextVar("access_log_call")


def when_done(context: grpc.aio.ServicerContext) -> None:
    """Logs the running call's line when it ends, for a handler that has no wrapper."""
    call = _call.get(None)
    if call is not None:
        call.identity = current_caller()
        context.add_done_callback(call.finish)


def note_cancelled() -> None:
    """The running call was cancelled (its task was), for a handler that has no wrapper."""
    call = _call.get(None)
    if call is not None:
        call.cancelled = True


class AccessLogInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """First in the chain, so it sees every call, the refused ones too."""

    def __init__(self) -> None:
        self._wrapped = HandlerWrappers(lambda handler, _method: _wrap(handler))

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        call = _Call(details.method, _request_id(details.invocation_metadata))
        _call.set(call)
        handler = await continuation(details)
        if handler is None:
            return handler
        if handler.unary_stream is not None:
            call.grpc_type = "server_stream"
        metrics.rpc_begun(call.grpc_type, call.method)
        return self._wrapped.of(handler, call.method)


def _request_id(metadata: Any) -> str:
    for key, value in metadata or ():
        if key == REQUEST_ID_KEY and isinstance(value, str) and value:
            # Kept to one word of safe characters, so a text line stays parseable.
            return _UNSAFE.sub("_", value[:MAX_REQUEST_ID])
    # A random prefix per process and a counter: unique, and a tenth of uuid4's cost.
    return f"{_ID_PREFIX}{next(_ids):010x}"


def _wrap(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(
            _logged(handler.unary_unary),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    stream = handler.unary_stream
    # A handler marked translates_own_errors (WatchBasket) logs itself with when_done.
    if stream is not None and not getattr(stream, "translates_own_errors", False):
        return grpc.unary_stream_rpc_method_handler(
            _logged(stream),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )
    return handler


def _logged(method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    async def logged(request: Any, context: grpc.aio.ServicerContext) -> Any:
        call = _call.get()
        try:
            return await method(request, context)
        except asyncio.CancelledError:
            call.cancelled = True
            raise
        finally:
            call.finish(context)

    return logged
