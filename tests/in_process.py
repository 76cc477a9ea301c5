"""CartService and BasketService served in process by grpcio-testing over the in-memory store:
the real servicers, handlers and error translation, no network and no database.

grpcio-testing drives synchronous servicers from its own threads; each call here runs the
grpc.aio servicer method to completion on an event loop of its own, through the same
translate_errors the server's interceptor applies, with the caller bound as the authentication
interceptor would bind it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import grpc
import grpc_testing
from cartservice.basket.v1 import basket_service_pb2
from cartservice.cart.v1 import cart_service_pb2
from google.protobuf.message import Message
from google.rpc import status_pb2

from server.api.basket_servicer import BasketServicer
from server.api.cart_servicer import CartServicer
from server.api.errors import translate_errors
from server.auth.identity import Identity, Role, bind_caller
from server.domain.basket_lifecycle import Product
from server.service.baskets import BasketHandlers
from server.service.carts import CartHandlers
from server.watch.basket_feed import BasketFeed
from tests.memory_store import MemoryUnits

NOW = 1_795_420_000_000
OWNER = Identity("7", 4982, frozenset({Role.USER}))
NEIGHBOUR = Identity("8", 4982, frozenset({Role.USER}))
MUG = Product("mug", "Mug", Decimal("12.50"), "USD", "acme", stock=5)
CART_SERVICE = cart_service_pb2.DESCRIPTOR.services_by_name["CartService"]
BASKET_SERVICE = basket_service_pb2.DESCRIPTOR.services_by_name["BasketService"]
_IDENTITY_KEY = "test-caller"


class _Aborted(Exception):
    pass


class _AioContext:
    """grpc.aio's abort over grpcio-testing's synchronous servicer context (whose own abort
    drops the trailers, where the rich error details travel)."""

    def __init__(self, context: Any) -> None:
        self._context = context

    async def abort(
        self, code: grpc.StatusCode, details: str = "", trailing_metadata: Any = ()
    ) -> None:
        self._context.set_trailing_metadata(trailing_metadata)
        self._context.set_code(code)
        self._context.set_details(details)
        raise _Aborted

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)


class _Synchronous:
    """Each method of a grpc.aio servicer as grpcio-testing calls it."""

    def __init__(self, servicer: Any, identities: dict[str, Identity]) -> None:
        self._servicer = servicer
        self._identities = identities

    def __getattr__(self, name: str) -> Callable[[Message, Any], Message]:
        method = translate_errors(getattr(self._servicer, name))

        def call(request: Message, context: Any) -> Message:
            caller = dict(context.invocation_metadata())[_IDENTITY_KEY]

            async def as_caller() -> Message | None:
                bind_caller(self._identities[caller])
                try:
                    return await method(request, _AioContext(context))  # type: ignore[no-any-return]
                except _Aborted:
                    return None  # the call ends with the code and trailers set

            return asyncio.run(as_caller())  # type: ignore[return-value]

        return call


class InProcess:
    def __init__(self) -> None:
        self.units = MemoryUnits()
        self.units.store.add_product(MUG)

        async def no_read(basket_id: str) -> None:
            return None

        clock = lambda: NOW  # noqa: E731
        carts = CartHandlers(self.units, clock=clock)  # type: ignore[arg-type]
        baskets = BasketHandlers(self.units, BasketFeed(no_read), clock=clock)  # type: ignore[arg-type]
        self._identities = {"owner": OWNER, "neighbour": NEIGHBOUR}
        self._server = grpc_testing.server_from_dictionary(
            {
                CART_SERVICE: _Synchronous(CartServicer(carts), self._identities),
                BASKET_SERVICE: _Synchronous(
                    BasketServicer(baskets, BasketFeed(no_read)), self._identities
                ),
            },
            grpc_testing.strict_real_time(),
        )

    def call(
        self, method: str, request: Message, caller: str = "owner"
    ) -> tuple[Any, grpc.StatusCode, status_pb2.Status | None]:
        """(response, code, the google.rpc.Status of the trailers when there is one)."""
        service = CART_SERVICE if method in CART_SERVICE.methods_by_name else BASKET_SERVICE
        rpc = self._server.invoke_unary_unary(
            service.methods_by_name[method], ((_IDENTITY_KEY, caller),), request, None
        )
        response, trailing, code, _ = rpc.termination()
        details = dict(trailing or ()).get("grpc-status-details-bin")
        status = status_pb2.Status.FromString(details) if details else None
        return response, code, status

    def ok(self, method: str, request: Message, caller: str = "owner") -> Any:
        response, code, status = self.call(method, request, caller)
        assert code is grpc.StatusCode.OK, (code, status)
        return response
