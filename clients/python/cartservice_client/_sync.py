"""The blocking client."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc
from cartservice.basket.v1 import basket_service_pb2 as basket_pb
from cartservice.basket.v1 import basket_service_pb2_grpc
from cartservice.cart.v1 import cart_service_pb2_grpc, catalog_service_pb2_grpc

from cartservice_client._config import Token, bearer, channel_options
from cartservice_client._errors import CartServiceError, Unavailable, from_rpc_error
from cartservice_client._resume import Resume


class Client:
    """`client.carts.CreateCart(request)`, `client.baskets.AddItem(request)`: the generated
    stubs' methods, with the token attached and failures raised as CartServiceError."""

    def __init__(
        self,
        target: str,
        token: Token | None = None,
        *,
        credentials: grpc.ChannelCredentials | None = None,
        timeout_s: float = 5.0,
        attempts: int = 4,
        options: tuple[tuple[str, Any], ...] = (),
    ) -> None:
        settings = [*channel_options(attempts), *options]
        channel = (
            grpc.secure_channel(target, credentials, settings)
            if credentials is not None
            else grpc.insecure_channel(target, settings)
        )
        self._channel = channel
        self._closed = False
        if token is not None:
            channel = grpc.intercept_channel(channel, _TokenInterceptor(token))
        self.carts: Any = _Translated(cart_service_pb2_grpc.CartServiceStub(channel), timeout_s)
        self.baskets: Any = _Translated(
            basket_service_pb2_grpc.BasketServiceStub(channel), timeout_s
        )
        self.catalogs: Any = _Translated(
            catalog_service_pb2_grpc.CatalogServiceStub(channel), timeout_s
        )

    def watch_basket(
        self, basket_id: str, from_version: int = 0
    ) -> Iterator[basket_pb.WatchBasketResponse]:
        """The basket's updates, newest version last, for as long as the caller reads: after
        UNAVAILABLE (a server restart, a stalled stream, a lost connection) it reconnects and
        resumes from the last version it yielded, so no version comes twice or out of order.
        SomethingHappened notices (a failed call's error code) come as they happen. Ends when
        the server ends the stream (the basket was deleted) or the client is closed."""
        resume = Resume(basket_id, from_version)
        while not self._closed:
            try:
                for message in self.baskets.WatchBasket(resume.request(), wait_for_ready=True):
                    if resume.fresh(message):
                        yield message
                return
            except Unavailable:
                if self._closed:
                    return
                time.sleep(resume.pause())
            except (CartServiceError, ValueError):
                # Closing the client cancels the stream, and a reconnect after it finds the
                # channel closed (ValueError): both end the watch.
                if self._closed:
                    return
                raise

    def close(self) -> None:
        self._closed = True
        self._channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Translated:
    """A stub whose calls raise CartServiceError instead of grpc.RpcError."""

    def __init__(self, stub: Any, timeout_s: float) -> None:
        self._stub = stub
        self._timeout_s = timeout_s

    def __getattr__(self, name: str) -> Callable[..., Any]:
        # Built once per method: the wrapper then lives on the instance and hides this hook.
        method = getattr(self._stub, name)
        if isinstance(method, grpc.UnaryStreamMultiCallable):

            def call(request: Any, **kwargs: Any) -> Any:
                return _stream(method(request, **kwargs))

        else:

            def call(request: Any, **kwargs: Any) -> Any:
                kwargs.setdefault("timeout", self._timeout_s)
                try:
                    return method(request, **kwargs)
                except grpc.RpcError as error:
                    raise from_rpc_error(error) from None

        setattr(self, name, call)
        return call


def _stream(responses: Iterator[Any]) -> Iterator[Any]:
    try:
        yield from responses
    except grpc.RpcError as error:
        raise from_rpc_error(error) from None


class _TokenInterceptor(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):  # type: ignore[misc]
    def __init__(self, token: Token) -> None:
        self._token = token

    def _with_token(self, details: Any) -> Any:
        token = self._token() if callable(self._token) else self._token
        metadata = [*(details.metadata or ()), bearer(token)]
        return details._replace(metadata=metadata)

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._with_token(details), request)

    def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._with_token(details), request)
