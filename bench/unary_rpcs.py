"""Latency and throughput of the cart RPCs against a real server process.

    .venv/bin/python -m bench.unary_rpcs [--backend postgresql|sqlite] [--calls 2000] [--concurrency 16]

Starts `cartservice serve` on a fresh database, drives it with grpc.aio clients from this process,
and prints p50/p99 latency and calls/s per RPC. Figures go to bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
from cartservice.cart.v1 import cart_pb2 as r
from cartservice.cart.v1 import cart_service_pb2 as pb
from cartservice.cart.v1.cart_service_pb2_grpc import CartServiceStub
from cartservice.type.v1.decimal_pb2 import Decimal as D

from tests.conftest import fresh_postgres_database
from tests.identities import DEFAULT, SERVER_FLAGS, as_caller
from tests.servers import ServerProcess

SKU = r.Sku(
    sku_id="sku_001", product_id="prod_001", bundle_sku_type="DEFAULT", price=D(value="10.48")
)


def new_cart(user: str) -> pb.CreateCartRequest:
    item = r.CartItem(quantity=1, skus=[SKU], shipping=r.Shipping(type="Home"))
    return pb.CreateCartRequest(
        cart=r.Cart(
            user_id=user,
            collection_id=4982,
            type="5506",
            items=[item],
            custom_properties={"a": "b"},
        )
    )


async def measure(
    name: str, calls: int, concurrency: int, call: Callable[[int], Awaitable[object]]
) -> None:
    latencies: list[float] = []
    queue = iter(range(calls))

    async def worker() -> None:
        for n in queue:
            started = time.perf_counter()
            await call(n)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    quantiles = statistics.quantiles(latencies, n=100)
    print(
        f"| {name} | {calls} | {concurrency} | {calls / elapsed:,.0f} | "
        f"{quantiles[49] * 1000:.1f} | {quantiles[98] * 1000:.1f} |"
    )


class AsAdmin(grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    """Every call with the token of a caller allowed everything (the server verifies it)."""

    metadata = as_caller(**DEFAULT)

    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return await continuation(details._replace(metadata=self.metadata), request)


async def run(address: str, calls: int, concurrency: int) -> None:
    async with grpc.aio.insecure_channel(address, interceptors=[AsAdmin()]) as channel:
        stub = CartServiceStub(channel)
        # Enough carts that none passes the 100-items limit (--max-items-per-cart): ≤ 50 each.
        carts = [
            (await stub.CreateCart(new_cart(f"warm{n}"))).carts[0].id
            for n in range(max(concurrency, -(-calls // 50)))
        ]
        print("| RPC | calls | concurrent clients | calls/s | p50 ms | p99 ms |")
        print("|---|---|---|---|---|---|")
        await measure(
            "CreateCart", calls, concurrency, lambda n: stub.CreateCart(new_cart(f"u{n}"))
        )
        await measure(
            "CreateCartItem (spread over carts of at most 50 items)", calls, concurrency,
            lambda n: stub.CreateCartItem(pb.CreateCartItemRequest(cart_id=carts[n % len(carts)], items=[r.CartItem(quantity=1, skus=[SKU])])),
        )  # fmt: skip
        hot = carts[0]
        await measure(
            "PatchUpdateCartProperties (all on one cart)", calls // 4, concurrency,
            lambda n: stub.PatchUpdateCartProperties(pb.PatchUpdateCartPropertiesRequest(cart_id=hot, cart_properties={f"k{n % 40}": str(n)})),
        )  # fmt: skip
        small = (await stub.CreateCart(new_cart("reader"))).carts[0].id
        await measure(
            "GetCart (1 item)",
            calls,
            concurrency,
            lambda n: stub.GetCart(pb.GetCartRequest(cart_id=small)),
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir, contextlib.ExitStack() as stack:
        url = (
            stack.enter_context(fresh_postgres_database("cartservice_bench"))
            if args.backend == "postgresql"
            else ""
        )
        server = ServerProcess.start(Path(workdir), database_url=url, extra=SERVER_FLAGS)
        try:
            asyncio.run(run(server.address, args.calls, args.concurrency))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
