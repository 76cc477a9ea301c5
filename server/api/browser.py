"""The browser endpoint: CartService and BasketService over the Connect protocol and gRPC-Web
(HTTP/1.1, JSON or binary), for storefront pages, with CORS.

connectrpc decodes each request and encodes each answer; the call itself goes over a Unix socket
to this process's own grpc server, so it passes the same interceptors (authentication, access
log, error translation, wire limits), servicers and service handlers as a gRPC call, and answers
the same status with the same google.rpc details (docs/decisions.md, "The browser endpoint").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from typing import Any, TypeAlias

import grpc
import uvicorn
from cartservice.basket.v1 import basket_service_pb2
from cartservice.cart.v1 import cart_service_pb2
from connectrpc.code import Code
from connectrpc.errors import ConnectError
from connectrpc.method import IdempotencyLevel, MethodInfo
from connectrpc.request import RequestContext
from connectrpc.server import ConnectASGIApplication, Endpoint
from google.protobuf import descriptor, descriptor_pb2, json_format, message_factory
from google.protobuf.message import DecodeError, Message
from google.rpc import status_pb2

log = logging.getLogger(__name__)

SERVICES = (
    cart_service_pb2.DESCRIPTOR.services_by_name["CartService"],
    basket_service_pb2.DESCRIPTOR.services_by_name["BasketService"],
)
# What a browser call carries on to the gRPC call; everything else stays at the edge.
FORWARDED_HEADERS = ("authorization", "x-request-id", "traceparent", "tracestate")
Context: TypeAlias = RequestContext[Any, Any]
_IDEMPOTENCY = {
    descriptor_pb2.MethodOptions.NO_SIDE_EFFECTS: IdempotencyLevel.NO_SIDE_EFFECTS,
    descriptor_pb2.MethodOptions.IDEMPOTENT: IdempotencyLevel.IDEMPOTENT,
}
_CODES = {status.value[0]: status for status in grpc.StatusCode}
_CONNECT_CODES = {
    **{code.name: code for code in Code},
    "CANCELLED": Code.CANCELED,  # gRPC's spelling
}


class _BinaryCodec:
    """Protobuf bytes; bytes that are not the method's message are INVALID_ARGUMENT (the
    library's own codec lets the error through, and the client would see UNKNOWN)."""

    def name(self) -> str:
        return "proto"

    def encode(self, message: Message) -> bytes:
        return message.SerializeToString()

    def decode(self, data: bytes | bytearray, message: Message) -> Message:
        try:
            message.ParseFromString(bytes(data))
        except DecodeError as error:
            raise ConnectError(
                Code.INVALID_ARGUMENT, f"request is not valid protobuf: {error}"
            ) from None
        return message


class _JsonCodec:
    """Protobuf JSON; fields this server does not know are ignored, as in protobuf bytes (newer
    clients may send them), and JSON that is not the method's message is INVALID_ARGUMENT."""

    def name(self) -> str:
        return "json"

    def encode(self, message: Message) -> bytes:
        return json_format.MessageToJson(message, indent=None).encode()

    def decode(self, data: bytes | bytearray, message: Message) -> Message:
        try:
            json_format.Parse(bytes(data), message, ignore_unknown_fields=True)
        except json_format.ParseError as error:
            raise ConnectError(
                Code.INVALID_ARGUMENT, f"request is not valid JSON: {error}"
            ) from None
        return message


class BrowserEndpoint(ConnectASGIApplication[grpc.aio.Channel]):
    """Every method of SERVICES, forwarded to the grpc server at the channel's end."""

    def __init__(self, channel: grpc.aio.Channel, read_max_bytes: int) -> None:
        super().__init__(
            service=channel,
            endpoints=endpoints,
            read_max_bytes=read_max_bytes,
            codecs=[_BinaryCodec(), _JsonCodec()],
        )

    @property
    def path(self) -> str:
        return "/"


def endpoints(channel: grpc.aio.Channel) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for service in SERVICES:
        for method in service.methods:
            path = f"/{service.full_name}/{method.name}"
            found[path] = _endpoint(channel, path, method)
    return found


def _endpoint(channel: grpc.aio.Channel, path: str, method: descriptor.MethodDescriptor) -> Any:
    request_class = message_factory.GetMessageClass(method.input_type)
    response_class = message_factory.GetMessageClass(method.output_type)
    info = MethodInfo(
        name=method.name,
        service_name=method.containing_service.full_name,
        input=request_class,
        output=response_class,
        idempotency_level=_IDEMPOTENCY.get(
            method.GetOptions().idempotency_level, IdempotencyLevel.UNKNOWN
        ),
    )
    codec = {
        "request_serializer": request_class.SerializeToString,
        "response_deserializer": response_class.FromString,
    }
    if method.server_streaming:
        stream = channel.unary_stream(path, **codec)
        return Endpoint.server_stream(method=info, function=_streamed(stream))
    return Endpoint.unary(method=info, function=_forwarded(channel.unary_unary(path, **codec)))


def _forwarded(
    call: grpc.aio.UnaryUnaryMultiCallable,
) -> Callable[[Any, RequestContext[Any, Any]], Awaitable[Any]]:
    async def forward(request: Any, context: Context) -> Any:
        with _as_connect_error():
            return await call(request, metadata=_metadata(context), timeout=_timeout(context))

    return forward


def _streamed(
    call: grpc.aio.UnaryStreamMultiCallable,
) -> Callable[[Any, RequestContext[Any, Any]], AsyncIterator[Any]]:
    async def forward(request: Any, context: Context) -> AsyncIterator[Any]:
        answers = call(request, metadata=_metadata(context), timeout=_timeout(context))
        try:
            with _as_connect_error():
                async for answer in answers:
                    yield answer
        finally:
            answers.cancel()  # the browser went away: end the watch on the server too

    return forward


def _metadata(context: Context) -> tuple[tuple[str, str], ...]:
    headers = context.request_headers()
    return tuple((name, headers[name]) for name in FORWARDED_HEADERS if name in headers)


def _timeout(context: Context) -> float | None:
    remaining = context.timeout_ms()
    return None if remaining is None else max(remaining, 0.0) / 1000


@contextlib.contextmanager
def _as_connect_error() -> Iterator[None]:
    try:
        yield
    except grpc.aio.AioRpcError as error:
        raise connect_error(error) from None


def connect_error(error: grpc.aio.AioRpcError) -> ConnectError:
    """The gRPC status as Connect's: the same code, message and google.rpc details."""
    code = _CONNECT_CODES.get(error.code().name, Code.UNKNOWN)
    details: list[Any] = []
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin" and isinstance(value, bytes):
            details = list(status_pb2.Status.FromString(value).details)
    return ConnectError(code, error.details() or "", details)


class Cors:
    """CORS for the browser endpoint: preflights of the listed origins are answered here, and
    their answers expose the headers a Connect or gRPC-Web client reads."""

    ALLOWED_HEADERS = (
        "authorization, content-type, connect-protocol-version, connect-timeout-ms, "
        "connect-accept-encoding, connect-content-encoding, grpc-timeout, x-grpc-web, "
        "x-user-agent, x-request-id, traceparent, tracestate"
    )
    EXPOSED_HEADERS = (
        "grpc-status, grpc-message, grpc-status-details-bin, content-encoding, "
        "connect-content-encoding, connect-accept-encoding"
    )

    def __init__(self, app: Any, origins: frozenset[str]) -> None:
        self._app = app
        self._origins = origins

    def _allows(self, origin: str) -> bool:
        return bool(origin) and ("*" in self._origins or origin in self._origins)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        headers = _headers(scope)
        origin = headers.get("origin", "")
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            await self._preflight(origin, send)
            return
        if not self._allows(origin):
            await self._app(scope, receive, send)
            return

        async def with_cors(event: Mapping[str, Any]) -> None:
            if event["type"] == "http.response.start":
                event = {**event, "headers": [*event.get("headers", ()), *self._cors(origin)]}
            await send(event)

        await self._app(scope, receive, with_cors)

    def _cors(self, origin: str) -> list[tuple[bytes, bytes]]:
        return [
            (b"access-control-allow-origin", origin.encode()),
            (b"access-control-expose-headers", self.EXPOSED_HEADERS.encode()),
            (b"vary", b"Origin"),
        ]

    async def _preflight(self, origin: str, send: Any) -> None:
        if not self._allows(origin):
            headers = [(b"vary", b"Origin"), (b"content-length", b"0")]
            await send({"type": "http.response.start", "status": 403, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        headers = [
            *self._cors(origin),
            (b"access-control-allow-methods", b"POST, GET"),
            (b"access-control-allow-headers", self.ALLOWED_HEADERS.encode()),
            (b"access-control-max-age", b"7200"),
            (b"content-length", b"0"),
        ]
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})


def _headers(scope: Any) -> dict[str, str]:
    return {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}


def cors_origins(text: str) -> frozenset[str]:
    return frozenset(origin.strip().rstrip("/") for origin in text.split(",") if origin.strip())


class BrowserGateway:
    """The browser endpoint's parts: a private Unix socket on the grpc server (added before it
    starts), a channel to it, and the HTTP server on its own port."""

    def __init__(
        self,
        grpc_server: grpc.aio.Server,
        *,
        host: str,
        port: int,
        origins: frozenset[str],
        tls: dict[str, Any],
        grace_seconds: float,
        read_max_bytes: int,
        share_port: bool,
    ) -> None:
        self._socket = listening_socket(host, port, share_port=share_port)
        self.port: int = self._socket.getsockname()[1]
        self._directory = tempfile.mkdtemp(prefix="cartservice-browser-")
        target = f"unix:{self._directory}/grpc.sock"
        grpc_server.add_insecure_port(target)
        self._channel = grpc.aio.insecure_channel(target)
        app = Cors(BrowserEndpoint(self._channel, read_max_bytes), origins)
        self._http = http_server(app, tls, grace_seconds)
        self._serving: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._serving = asyncio.create_task(self._http.serve(sockets=[self._socket]))
        while not self._http.started:
            if self._serving.done():
                await self._serving  # raises what stopped it
                raise RuntimeError("the browser endpoint stopped at start")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        """Refuses new requests, lets running ones finish (within the grace period), closes."""
        self._http.should_exit = True
        if self._serving is not None:
            await self._serving
        self._socket.close()
        await self._channel.close()
        shutil.rmtree(self._directory, ignore_errors=True)


class _Server(uvicorn.Server):
    """uvicorn's server without its signal handlers: the cartservice process owns SIGTERM and
    SIGINT, and stops this server in its own shutdown order."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def http_server(app: Any, tls: dict[str, Any], grace_seconds: float) -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        lifespan="off",
        log_config=None,
        access_log=False,  # the forwarded gRPC call is logged by the access log
        timeout_graceful_shutdown=max(1, round(grace_seconds)),
        **tls,
    )
    # uvicorn's own lines ("Uvicorn running on ...") would repeat what the server logs.
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
    return _Server(config)


def listening_socket(host: str, port: int, *, share_port: bool) -> socket.socket:
    family, kind, _, _, where = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if share_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind(where)
    except OSError:
        sock.close()
        raise
    sock.listen(1024)
    sock.setblocking(False)
    return sock
