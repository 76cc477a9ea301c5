"""The asyncio client (grpc.aio)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from cartservice.basket.v1 import basket_service_pb2 as basket_pb
from cartservice.basket.v1 import basket_service_pb2_grpc
from cartservice.cart.v1 import cart_service_pb2_grpc, catalog_service_pb2_grpc

from cartservice_client._config import AsyncToken, bearer, channel_options
from cartservice_client._errors import CartServiceError, Unavailable, from_rpc_error
from cartservice_client._resume import Resume


class AsyncClient:
    """`await client.carts.CreateCart(request)`, `client.baskets.WatchBasket(request)`: the
    generated asyncio stubs, with the token attached and failures raised as CartServiceError."""

    def __init__(
        self,
        target: str,
        token: AsyncToken | None = None,
        *,
        credentials: grpc.ChannelCredentials | None = None,
        timeout_s: float = 5.0,
        attempts: int = 4,
        options: tuple[tuple[str, Any], ...] = (),
    ) -> None:
        settings = [*channel_options(attempts), *options]
        interceptors: list[Any] = []
        if token is not None:
            interceptors = [_UnaryToken(token), _StreamToken(token)]
        self._closed = False
        self._channel = (
            grpc.aio.secure_channel(target, credentials, settings, interceptors=interceptors)
            if credentials is not None
            else grpc.aio.insecure_channel(target, settings, interceptors=interceptors)
        )
        self.carts: Any = _Translated(
            cart_service_pb2_grpc.CartServiceStub(self._channel), timeout_s
        )
        self.baskets: Any = _Translated(
            basket_service_pb2_grpc.BasketServiceStub(self._channel), timeout_s
        )
        self.catalogs: Any = _Translated(
            catalog_service_pb2_grpc.CatalogServiceStub(self._channel), timeout_s
        )

    async def watch_basket(
        self, basket_id: str, from_version: int = 0
    ) -> AsyncIterator[basket_pb.WatchBasketResponse]:
        """As Client.watch_basket: resumes after UNAVAILABLE from the last version yielded."""
        resume = Resume(basket_id, from_version)
        while not self._closed:
            try:
                async for message in self.baskets.WatchBasket(
                    resume.request(), wait_for_ready=True
                ):
                    if resume.fresh(message):
                        yield message
                return
            except Unavailable:
                if self._closed:
                    return
                await asyncio.sleep(resume.pause())
            except (CartServiceError, grpc.aio.UsageError):
                # Closing the client cancels the stream; a reconnect after it finds the channel
                # closed: both end the watch.
                if self._closed:
                    return
                raise

    async def close(self) -> None:
        self._closed = True
        await self._channel.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class _Translated:
    def __init__(self, stub: Any, timeout_s: float) -> None:
        self._stub = stub
        self._timeout_s = timeout_s

    def __getattr__(self, name: str) -> Callable[..., Any]:
        # Built once per method: the wrapper then lives on the instance and hides this hook.
        method = getattr(self._stub, name)
        if isinstance(method, grpc.aio.UnaryStreamMultiCallable):
            call = _streaming(method)
        else:
            call = _unary(method, self._timeout_s)
        setattr(self, name, call)
        return call


def _unary(method: Any, timeout_s: float) -> Callable[..., Any]:
    async def call(request: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", timeout_s)
        try:
            return await method(request, **kwargs)
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None

    return call


def _streaming(method: Any) -> Callable[..., Any]:
    return lambda request, **kwargs: _stream(method(request, **kwargs))


async def _stream(call: Any) -> AsyncIterator[Any]:
    try:
        async for message in call:
            yield message
    except grpc.RpcError as error:
        raise from_rpc_error(error) from None


async def _metadata(token: AsyncToken, details: Any) -> Any:
    current = token() if callable(token) else token
    if inspect.isawaitable(current):
        current = await current
    metadata = grpc.aio.Metadata(*(details.metadata or ()), bearer(current))
    return details._replace(metadata=metadata)


class _UnaryToken(grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    def __init__(self, token: AsyncToken) -> None:
        self._token = token

    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(await _metadata(self._token, details), request)


class _StreamToken(grpc.aio.UnaryStreamClientInterceptor):  # type: ignore[misc]
    def __init__(self, token: AsyncToken) -> None:
        self._token = token

    async def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(await _metadata(self._token, details), request)
