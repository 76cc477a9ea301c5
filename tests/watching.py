"""A WatchBasket stream read by a grpc.aio client, for tests that follow a basket live."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import grpc
from cartservice.basket.v1 import basket_service_pb2 as pb
from cartservice.basket.v1.basket_service_pb2_grpc import BasketServiceStub

from tests.identities import DEFAULT, as_caller

Message = pb.WatchBasketResponse
DEFAULT_METADATA = as_caller(DEFAULT["user_id"], DEFAULT["collection_id"], DEFAULT["roles"])  # type: ignore[arg-type]


class Watch:
    """One open stream; `until` reads on until a message matches, checking the version order."""

    def __init__(self, channel: grpc.aio.Channel, basket_id: str, from_version: int = 0) -> None:
        stub = BasketServiceStub(channel)
        self.call: Any = stub.WatchBasket(
            pb.WatchBasketRequest(basket_id=basket_id, from_version=from_version),
            metadata=DEFAULT_METADATA,
        )
        self.received: list[Message] = []

    async def next(self, seconds: float = 10) -> Message:
        message = await asyncio.wait_for(self.call.read(), seconds)
        assert message is not grpc.aio.EOF, "the stream ended"
        if message.HasField("basket_updated") and self.updates():
            # Snapshots may skip versions, never go back.
            assert message.version > self.updates()[-1].version
        self.received.append(message)
        return message  # type: ignore[no-any-return]

    async def until(self, matches: Callable[[Message], bool], seconds: float = 10) -> Message:
        deadline = asyncio.get_running_loop().time() + seconds
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            message = await self.next(max(remaining, 0.01))
            if matches(message):
                return message

    def updates(self) -> list[Message]:
        return [m for m in self.received if m.HasField("basket_updated")]

    def cancel(self) -> None:
        self.call.cancel()


def updated(version: int | None = None, **checks: Any) -> Callable[[Message], bool]:
    """Matches a BasketUpdated (at least `version`, if given) whose fields equal `checks`."""

    def matches(message: Message) -> bool:
        if not message.HasField("basket_updated"):
            return False
        if version is not None and message.version < version:
            return False
        basket = message.basket_updated
        return all(_field(basket, name) == value for name, value in checks.items())

    return matches


def happened(error_code: str) -> Callable[[Message], bool]:
    return lambda m: m.something_happened.error_code == error_code


def _field(basket: Any, name: str) -> Any:
    if name == "quoted":
        return [item.quoted_price.amount.value for item in basket.items]
    if name == "lines":
        return len(basket.items)
    return getattr(basket, name)
