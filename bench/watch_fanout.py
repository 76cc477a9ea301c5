"""WatchBasket fan-out: many open streams on one server process, one change delivered to all.

    .venv/bin/python -m bench.watch_fanout [--streams 10000] [--connections 20] [--backend postgresql]

Starts `cartservice serve` (PostgreSQL by default: the change travels through LISTEN/NOTIFY),
opens --streams WatchBasket streams on one basket from --client-processes processes, each using
its share of --connections HTTP/2 connections, and reads the server's resident memory before and
after. Then it makes one change and reports, per stream, the delay from the call's start to the
arrival of the new version (the change's channel is connected beforehand): min, p50, p99, max.
With --get-first each connection makes one GetBasket call before its streams, as a storefront
does (grpc-core then sizes the calls of that connection from a finished one).
Figures go to bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import multiprocessing
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import grpc
from cartservice.basket.v1 import basket_service_pb2 as pb
from cartservice.basket.v1.basket_service_pb2_grpc import BasketServiceStub

from server.store.demo_catalog import GIFT_VOUCHER_50
from tests.conftest import fresh_postgres_database
from tests.identities import SERVER_FLAGS, as_caller
from tests.servers import ServerProcess

ME = as_caller("1", 4982, ("ROLE_USER",))


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def channel_options(index: int) -> list[tuple[str, Any]]:
    # A distinct argument gives each channel its own subchannel, hence its own TCP connection.
    return [("grpc.bench_connection", index), ("grpc.use_local_subchannel_pool", 1)]


async def _watchers(
    address: str,
    basket_id: str,
    streams: int,
    connections: int,
    opened: Any,
    go: Any,
    results: Any,
    get_first: bool,
) -> None:
    channels = [
        grpc.aio.insecure_channel(address, options=channel_options(i)) for i in range(connections)
    ]
    if get_first:
        # As a storefront does before it watches: grpc-core sizes a connection's new calls from
        # its finished ones, so streams on a connection that has carried a call take less memory.
        for channel in channels:
            await BasketServiceStub(channel).GetBasket(
                pb.GetBasketRequest(basket_id=basket_id), metadata=ME
            )
    calls = []
    for n in range(streams):
        stub = BasketServiceStub(channels[n % connections])
        calls.append(stub.WatchBasket(pb.WatchBasketRequest(basket_id=basket_id), metadata=ME))
    first = await asyncio.gather(*(call.read() for call in calls), return_exceptions=True)
    ok = [c for c, m in zip(calls, first, strict=True) if isinstance(m, pb.WatchBasketResponse)]
    errors = [repr(m)[:200] for m in first if not isinstance(m, pb.WatchBasketResponse)]
    # Every stream is already waiting for its next message when the change is made, as a
    # storefront's would be: arrival times are taken as messages come in.
    arrivals: list[tuple[int, float]] = []
    all_arrived = asyncio.Event()

    async def next_message(call: Any) -> None:
        message = await call.read()
        arrivals.append((message.version, time.time()))
        if len(arrivals) == len(ok):
            all_arrived.set()

    readers = [asyncio.create_task(next_message(call)) for call in ok]
    opened.put((len(ok), errors[:3]))
    target = await asyncio.get_running_loop().run_in_executor(None, go.get)
    await asyncio.wait_for(all_arrived.wait(), 60)
    stale = [version for version, _ in arrivals if version < target]
    assert not stale, f"{len(stale)} streams got a version older than the change's {target}"
    del readers
    results.put([arrived for _, arrived in arrivals])
    for call in calls:
        call.cancel()
    for channel in channels:
        await channel.close()


def watcher_process(*args: Any) -> None:
    # The clients stand in for thousands of storefronts on other machines: their own cyclic
    # collector (traversing 5,000 calls per process) must not show up as server latency.
    gc.set_threshold(70_000, 10, 10)
    asyncio.run(_watchers(*args))


async def change(address: str, basket_id: str) -> tuple[int, float]:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = BasketServiceStub(channel)
        await stub.GetBasket(pb.GetBasketRequest(basket_id=basket_id), metadata=ME)  # connected
        started = time.time()
        response = await stub.AddItem(
            pb.AddItemRequest(basket_id=basket_id, product_id=GIFT_VOUCHER_50), metadata=ME
        )
        print(f"the change (AddItem) answered after {(time.time() - started) * 1000:.0f} ms")
        return response.basket.version, started


async def warm_up(address: str) -> None:
    """One change to another basket first: a serving process has compiled its statements."""
    basket_id = f"warm-up-{uuid.uuid4()}"
    await create(address, basket_id)
    async with grpc.aio.insecure_channel(address) as channel:
        await BasketServiceStub(channel).AddItem(
            pb.AddItemRequest(basket_id=basket_id, product_id=GIFT_VOUCHER_50), metadata=ME
        )


async def create(address: str, basket_id: str) -> None:
    async with grpc.aio.insecure_channel(address) as channel:
        await BasketServiceStub(channel).CreateBasket(
            pb.CreateBasketRequest(basket_id=basket_id, sales_channel_id="web"), metadata=ME
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--streams", type=int, default=10_000)
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument("--backend", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--server-flag", action="append", default=[])
    parser.add_argument(
        "--get-first",
        action="store_true",
        help="each connection makes one GetBasket call before opening its streams",
    )
    parser.add_argument(
        "--change-elsewhere",
        action="store_true",
        help="make the change through a second server process (PostgreSQL: NOTIFY and a read)",
    )
    arguments = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="watch-bench-"))
    with contextlib.ExitStack() as stack:
        url = (
            stack.enter_context(fresh_postgres_database("cartservice_bench"))
            if arguments.backend == "postgresql"
            else f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
        )
        measure(arguments, workdir, url)


def measure(arguments: argparse.Namespace, workdir: Path, url: str) -> None:
    extra = (*SERVER_FLAGS, *arguments.server_flag)
    server = ServerProcess.start(workdir, database_url=url, extra=extra)
    other = server
    try:
        if arguments.change_elsewhere:
            other = ServerProcess.start(workdir / "other", database_url=url, extra=extra)
        run(arguments, server, other.address)
    finally:
        server.stop()
        if other is not server:
            other.stop()


def run(arguments: argparse.Namespace, server: ServerProcess, change_address: str) -> None:
    basket_id = f"bench-{uuid.uuid4()}"
    asyncio.run(create(server.address, basket_id))
    asyncio.run(warm_up(server.address))
    asyncio.run(warm_up(change_address))
    idle_kib = rss_kib(server.process.pid)
    processes = arguments.client_processes
    opened, go, results = multiprocessing.Queue(), multiprocessing.Queue(), multiprocessing.Queue()
    clients = [
        multiprocessing.Process(
            target=watcher_process,
            args=(
                server.address,
                basket_id,
                arguments.streams // processes,
                max(1, arguments.connections // processes),
                opened,
                go,
                results,
                arguments.get_first,
            ),
        )
        for _ in range(processes)
    ]
    started = time.perf_counter()
    for client in clients:
        client.start()
    reports = [opened.get(timeout=600) for _ in clients]
    open_seconds = time.perf_counter() - started
    open_streams = sum(count for count, _ in reports)
    time.sleep(2)
    loaded_kib = rss_kib(server.process.pid)
    version, changed_at = asyncio.run(change(change_address, basket_id))
    for _ in clients:
        go.put(version)
    delays = sorted(t - changed_at for _ in clients for t in results.get(timeout=120))
    for client in clients:
        client.join(30)
    per_stream = (loaded_kib - idle_kib) * 1024 / max(open_streams, 1)
    print(f"streams open: {open_streams} of {arguments.streams} "
          f"over {arguments.connections} connections in {open_seconds:.1f}s; errors: "
          f"{[e for _, errs in reports for e in errs][:3]}")  # fmt: skip
    print(f"server RSS: idle {idle_kib / 1024:.0f} MiB, with streams {loaded_kib / 1024:.0f} MiB "
          f"→ {per_stream / 1024:.1f} KiB ({per_stream:,.0f} B) per open stream")  # fmt: skip
    if delays:
        p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))]
        print(f"one change to {len(delays)} streams: min {delays[0] * 1000:.0f} ms, "
              f"p50 {statistics.median(delays) * 1000:.0f} ms, "
              f"p99 {p99 * 1000:.0f} ms, max {delays[-1] * 1000:.0f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
