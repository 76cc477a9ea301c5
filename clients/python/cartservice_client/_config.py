"""Channel settings shared by the sync and asyncio clients: the grpc service config (retries)
and the token's metadata."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

CART_SERVICE = "cartservice.cart.v1.CartService"
BASKET_SERVICE = "cartservice.basket.v1.BasketService"
WATCH_BASKET = "WatchBasket"

# A static token, or a function giving the current one (called for every call, so it may
# refresh an expiring token); the asyncio client also takes a coroutine function.
Token = str | Callable[[], str]
AsyncToken = str | Callable[[], str] | Callable[[], Awaitable[str]]


def service_config(attempts: int) -> str:
    """Unary calls retry UNAVAILABLE (the server was unreachable or shutting down) with
    exponential backoff, done by grpc itself; WatchBasket does not (watch_basket resumes it).
    Default deadlines are set per call by the clients, not here: a service config's timeout
    caps every deadline, so a caller could not ask for a longer one."""
    retry = {
        "maxAttempts": attempts,
        "initialBackoff": "0.1s",
        "maxBackoff": "2s",
        "backoffMultiplier": 2,
        "retryableStatusCodes": ["UNAVAILABLE"],
    }
    unary = {
        "name": [{"service": CART_SERVICE}, {"service": BASKET_SERVICE}],
        **({"retryPolicy": retry} if attempts > 1 else {}),
    }
    watch = {"name": [{"service": BASKET_SERVICE, "method": WATCH_BASKET}]}
    return json.dumps({"methodConfig": [unary, watch]})


def channel_options(attempts: int) -> list[tuple[str, object]]:
    return [
        ("grpc.service_config", service_config(attempts)),
        ("grpc.enable_retries", 1),
    ]


def bearer(token: str) -> tuple[str, str]:
    return ("authorization", f"Bearer {token}")
