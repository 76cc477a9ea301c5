"""Server CPU of one cart change by cart size, in process (no grpc, no relay): where the cost
that grows with the cart goes.

    .venv/bin/python -m bench.write_cost [--calls 500] [--rounds 5] [--profile]

Runs PatchUpdateCartItem through the servicer, the handler and the real unit of work on a fresh
PostgreSQL database, on a 1-item and a 90-item cart, and prints CPU ms per call (process time,
so the database's own work is not counted; the fastest of alternating rounds); --profile prints cProfile's top of the 90-item run.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import time
from pathlib import Path

from cartservice.cart.v1 import cart_pb2 as r
from cartservice.cart.v1 import cart_service_pb2 as pb
from cartservice.type.v1.decimal_pb2 import Decimal as D
from google.protobuf import field_mask_pb2

from server.api.cart_servicer import CartServicer
from server.auth.identity import Identity, Role, bind_caller
from server.service.carts import CartHandlers
from server.store.database import create_engine, database_url
from server.store.driver import Database
from server.store.migrate import upgrade_to_head
from server.store.unit_of_work import UnitOfWorkFactory
from tests.conftest import fresh_postgres_database

CALLER = Identity("7", 4982, frozenset({Role.USER}))


def item(n: int) -> r.CartItem:
    return r.CartItem(quantity=1, skus=[r.Sku(sku_id=f"s{n}", price=D(value="10.48"))])


async def measure(url: str, calls: int, rounds: int, profile: bool) -> dict[int, float]:
    engine = create_engine(url)
    await upgrade_to_head(engine)
    await engine.dispose()
    database = Database(url, 2)
    servicer = CartServicer(CartHandlers(UnitOfWorkFactory(database)))
    bind_caller(CALLER)
    cpu_ms: dict[int, float] = {}
    try:
        patches = {size: await _patch_of_new_cart(servicer, size) for size in (1, 90)}
        for patch in patches.values():
            for _ in range(50):  # warm: statements prepared, plans made
                await servicer.PatchUpdateCartItem(patch, None)  # type: ignore[arg-type]
        # Rounds alternate the sizes and each keeps its fastest: the machine's noise only adds.
        for _ in range(rounds):
            for size, patch in patches.items():
                profiler = cProfile.Profile() if profile and size == 90 else None
                started = time.process_time()
                if profiler:
                    profiler.enable()
                for _ in range(calls):
                    await servicer.PatchUpdateCartItem(patch, None)  # type: ignore[arg-type]
                if profiler:
                    profiler.disable()
                    pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
                    profile = False
                spent = (time.process_time() - started) / calls * 1000
                cpu_ms[size] = min(cpu_ms.get(size, spent), spent)
    finally:
        await database.close()
    return cpu_ms


async def _patch_of_new_cart(servicer: CartServicer, size: int) -> pb.PatchUpdateCartItemRequest:
    create = pb.CreateCartRequest(cart=r.Cart(items=[item(n) for n in range(size)]))
    cart = (await servicer.CreateCart(create, None)).carts[0]  # type: ignore[arg-type]
    return pb.PatchUpdateCartItemRequest(
        cart_id=cart.id,
        item_id=cart.items[0].id,
        item=r.CartItem(quantity=2),
        update_mask=field_mask_pb2.FieldMask(paths=["quantity"]),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    with fresh_postgres_database() as url:
        cpu_ms = asyncio.run(
            measure(database_url(url, Path(".")), args.calls, args.rounds, args.profile)
        )
    for size, ms in cpu_ms.items():
        print(f"PatchUpdateCartItem, {size}-item cart: {ms:.2f} ms CPU per call")
    print(f"90-item / 1-item: {cpu_ms[90] / cpu_ms[1]:.2f}x")


if __name__ == "__main__":
    main()
