"""The request path against its two baselines, in one run (`make bench`).

    .venv/bin/python -m bench.request_path [--seconds 8] [--in-flight 16] [--clients 2]
        [--workers 1,2] [--out bench/results/request_path.json]

Targets, each driven by the same load generator (bench/load_client.py) in --clients processes
of their own with --in-flight calls in flight in all:
- `echo`: a no-op grpc.aio server (the framework's limit on this machine);
- `bare write` / `bare read`: a grpc.aio handler doing only the SQL a change or a read needs,
  through psycopg async (the database's limit), on the real server's carts;
- the real `cartservice serve` on PostgreSQL, authentication on, the in-process relay writing
  to the events file, with each --workers count.
Prints calls/s, p50, p99 and each scenario's ratio to the echo and to its bare baseline, and
writes them all to --out. Figures and their history: bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import psycopg
from cartservice.basket.v1 import basket_service_pb2 as bpb
from cartservice.basket.v1.basket_service_pb2_grpc import BasketServiceStub
from cartservice.cart.v1 import cart_pb2 as r
from cartservice.cart.v1 import cart_service_pb2 as pb
from cartservice.cart.v1.cart_service_pb2_grpc import CartServiceStub
from cartservice.type.v1.decimal_pb2 import Decimal as D
from google.protobuf import field_mask_pb2

from bench.baselines import BARE_EVENT_PREFIX
from bench.load_client import write_requests
from server.store.demo_catalog import GIFT_VOUCHER_50
from tests.conftest import fresh_postgres_database
from tests.identities import SERVER_FLAGS, as_caller
from tests.servers import ServerProcess

USER = "1"
CREATES_PER_CART = 10  # creating scenarios add at most this many items to one cart
ADDS_PER_BASKET = 40
CART = "/cartservice.cart.v1.CartService/"
BASKET = "/cartservice.basket.v1.BasketService/"


def sku(n: int) -> r.Sku:
    return r.Sku(
        sku_id=f"sku_{n:03d}", product_id=f"prod_{n:03d}", bundle_sku_type="DEFAULT",
        price=D(value="10.48"), sku_quantity=1,
    )  # fmt: skip


def item(n: int) -> r.CartItem:
    return r.CartItem(
        quantity=1, skus=[sku(n)], shipping=r.Shipping(type="Home", selected_method="Express"),
        custom_properties={"giftWrap": "no"},
    )  # fmt: skip


def new_cart(items: int) -> pb.CreateCartRequest:
    return pb.CreateCartRequest(
        cart=r.Cart(
            accounts_id=10, type="5506", items=[item(n) for n in range(items)],
            custom_properties={"additionalProp1": "Cricket"},
        )
    )  # fmt: skip


@dataclass
class Scenario:
    name: str
    method: str
    requests: list[bytes]
    cycle: bool
    baseline: str  # "write" or "read": the bare baseline it is compared with


@dataclass
class Result:
    target: str
    scenario: str
    calls: int
    errors: dict[str, int]
    calls_per_s: float
    p50_ms: float
    p99_ms: float


class Fixture:
    """Carts and baskets made through the real server's RPCs before any timing."""

    def __init__(self, address: str) -> None:
        self.metadata = as_caller(USER, 4982, ("ROLE_USER",), ttl_seconds=3600)
        channel = grpc.insecure_channel(address)
        self.carts = CartServiceStub(channel)
        self.baskets = BasketServiceStub(channel)

    def make_carts(self, items: int, count: int) -> list[r.Cart]:
        return [
            self.carts.CreateCart(new_cart(items), metadata=self.metadata).carts[0]
            for _ in range(count)
        ]

    def make_baskets(self, count: int) -> list[str]:
        run = os.urandom(4).hex()
        ids = [f"bench-{run}-{n}" for n in range(count)]
        for basket_id in ids:
            request = bpb.CreateBasketRequest(basket_id=basket_id, sales_channel_id="web")
            self.baskets.CreateBasket(request, metadata=self.metadata)
        return ids


def scenarios(fixture: Fixture, calls: int) -> list[Scenario]:
    """The scenarios of the issue's goals; creating ones get one request per call they may make."""
    carts_for_creates = max(1, calls // CREATES_PER_CART)
    read_carts = fixture.make_carts(20, 50)
    small = fixture.make_carts(1, carts_for_creates)
    large = fixture.make_carts(90, carts_for_creates)
    baskets = fixture.make_baskets(max(1, calls // ADDS_PER_BASKET))

    def creates(carts: list[r.Cart]) -> list[bytes]:
        return [
            pb.CreateCartItemRequest(cart_id=cart.id, items=[item(n)]).SerializeToString()
            for n in range(CREATES_PER_CART)
            for cart in carts
        ]

    def patches(carts: list[r.Cart]) -> list[bytes]:
        mask = field_mask_pb2.FieldMask(paths=["quantity"])
        return [
            pb.PatchUpdateCartItemRequest(
                cart_id=cart.id, item_id=cart.items[n % len(cart.items)].id,
                item=r.CartItem(quantity=2 + n % 5), update_mask=mask,
            ).SerializeToString()
            for n in range(5)
            for cart in carts
        ]  # fmt: skip

    adds = [
        bpb.AddItemRequest(basket_id=basket_id, product_id=GIFT_VOUCHER_50).SerializeToString()
        for _ in range(ADDS_PER_BASKET)
        for basket_id in baskets
    ]
    reads = [pb.GetCartRequest(cart_id=c.id).SerializeToString() for c in read_carts]
    return [
        Scenario("GetCart, 20 items", CART + "GetCart", reads, True, "read"),
        Scenario("CreateCart, 1 item", CART + "CreateCart",
                 [new_cart(1).SerializeToString()], True, "write"),
        Scenario("CreateCartItem, 1-item carts", CART + "CreateCartItem", creates(small), False,
                 "write"),
        Scenario("CreateCartItem, 90-item carts", CART + "CreateCartItem", creates(large), False,
                 "write"),
        Scenario("PatchUpdateCartItem, 1-item carts", CART + "PatchUpdateCartItem",
                 patches(small), True, "write"),
        Scenario("PatchUpdateCartItem, 90-item carts", CART + "PatchUpdateCartItem",
                 patches(large), True, "write"),
        Scenario("BasketService.AddItem", BASKET + "AddItem", adds, False, "write"),
    ]  # fmt: skip


def drive(
    address: str,
    target: str,
    scenario: Scenario,
    *,
    seconds: float,
    in_flight: int,
    clients: int,
    metadata: Any,
    workdir: Path,
) -> Result:
    """Runs the scenario's load from `clients` processes; each takes its own share of requests."""
    children = []
    for n in range(clients):
        share = scenario.requests[n::clients] if not scenario.cycle else scenario.requests
        requests = workdir / f"requests-{n}.bin"
        write_requests(requests, share)
        plan = workdir / f"plan-{n}.json"
        plan.write_text(
            json.dumps(
                {"address": address, "method": scenario.method, "metadata": metadata,
                 "requests": str(requests), "in_flight": in_flight // clients,
                 "seconds": seconds, "cycle": scenario.cycle}
            )
        )  # fmt: skip
        children.append(
            subprocess.Popen(
                [sys.executable, "-m", "bench.load_client", str(plan)], stdout=subprocess.PIPE
            )
        )
    outputs = [json.loads(child.communicate()[0]) for child in children]
    latencies = sorted(ms for out in outputs for ms in out["latencies_ms"])
    calls = len(latencies)
    errors: dict[str, int] = {}
    for out in outputs:
        for code, count in out["errors"].items():
            errors[code] = errors.get(code, 0) + count
    elapsed = max(out["elapsed"] for out in outputs)
    return Result(
        target=target,
        scenario=scenario.name,
        calls=calls,
        errors=errors,
        calls_per_s=round(calls / elapsed, 1),
        p50_ms=round(statistics.median(latencies), 2) if latencies else 0.0,
        p99_ms=round(latencies[int(0.99 * (calls - 1))], 2) if latencies else 0.0,
    )


@contextlib.contextmanager
def baseline_server(kind: str, database_url: str = "") -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.baselines", kind, "--database-url", database_url],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        port = re.search(r"listening on (\d+)", line)
        if port is None:
            raise RuntimeError(f"{kind} baseline did not start: {line!r}")
        yield f"127.0.0.1:{port.group(1)}"
    finally:
        process.terminate()
        process.wait(10)


def start_server(workdir: Path, url: str, workers: int) -> ServerProcess:
    extra = (*SERVER_FLAGS, "--workers", str(workers)) if workers > 1 else SERVER_FLAGS
    return ServerProcess.start(workdir, database_url=url, extra=extra)


def ratio(result: Result, baseline: Result | None) -> float | None:
    if baseline is None or not baseline.calls_per_s:
        return None
    return round(result.calls_per_s / baseline.calls_per_s, 3)


def table(results: list[Result], echo: Result, bare: dict[str, Result]) -> str:
    lines = [
        "| target | scenario | calls/s | p50 ms | p99 ms | of echo | of bare | errors |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for result in results:
        of_bare = ratio(result, bare.get(_baseline_of(result)))
        lines.append(
            f"| {result.target} | {result.scenario} | {result.calls_per_s:,.0f} | "
            f"{result.p50_ms} | {result.p99_ms} | {ratio(result, echo):.0%} | "
            f"{'' if of_bare is None else f'{of_bare:.0%}'} | {result.errors or ''} |"
        )
    return "\n".join(lines)


def _baseline_of(result: Result) -> str:
    if result.target.startswith("bare") or result.target == "echo":
        return ""
    return "read" if result.scenario.startswith("GetCart") else "write"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--in-flight", type=int, default=16)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--workers", default="1", help="comma-separated server process counts")
    parser.add_argument("--expected-rate", type=int, default=1200,
                        help="calls/s to prepare creating scenarios for")  # fmt: skip
    parser.add_argument("--out", type=Path, default=Path("bench/results/request_path.json"))
    args = parser.parse_args()
    workers = [int(n) for n in args.workers.split(",")]
    calls = int(args.expected_rate * args.seconds)
    common = {"seconds": args.seconds, "in_flight": args.in_flight, "clients": args.clients}
    results: list[Result] = []
    with fresh_postgres_database("cartservice_bench") as url, tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        server = start_server(workdir / "server", url, 1)
        fixture = Fixture(server.address)
        plans = {count: scenarios(fixture, calls) for count in workers}  # requests used once
        server.stop()
        metadata = [list(pair) for pair in fixture.metadata]
        # The baselines work on the 20-item carts of the read scenario.
        writes = reads = next(s for s in plans[workers[0]] if s.baseline == "read").requests
        with baseline_server("echo") as address:
            echo = drive(address, "echo", Scenario("echo", "/echo/Echo", writes, True, ""),
                         metadata=metadata, workdir=workdir, **common)  # fmt: skip
        plain_url = url.replace("+psycopg", "")
        with baseline_server("sql", plain_url) as address:
            bare = {
                "write": drive(address, "bare write", Scenario("lock, update, insert, commit",
                               "/bare/Write", writes, True, "write"), metadata=metadata,
                               workdir=workdir, **common),
                "read": drive(address, "bare read", Scenario("primary-key SELECT", "/bare/Read",
                              reads, True, "read"), metadata=metadata, workdir=workdir, **common),
            }  # fmt: skip
        _forget_bare_events(plain_url)
        results.extend([echo, bare["write"], bare["read"]])
        for count in workers:
            server = start_server(workdir / f"server-{count}", url, count)
            target = f"cartservice, {count} worker{'s' if count > 1 else ''}"
            try:
                for scenario in plans[count]:
                    results.append(drive(server.address, target, scenario, metadata=metadata,
                                         workdir=workdir, **common))  # fmt: skip
                    print(table(results[-1:], echo, bare).split("\n")[-1], flush=True)
            finally:
                server.stop()
    print(table(results, echo, bare))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {"when": datetime.now(UTC).isoformat(timespec="seconds"), "settings": vars(args)
             | {"out": str(args.out)}, "results": [asdict(r) for r in results]},
            indent=1,
        )
    )  # fmt: skip
    print(f"results: {args.out}")


def _forget_bare_events(url: str) -> None:
    """The bare baseline's outbox rows are not events of the server: they go before it starts."""
    with psycopg.connect(url) as connection:
        connection.execute(
            "DELETE FROM outbox_events WHERE event_id LIKE %s", (BARE_EVENT_PREFIX + "%",)
        )


if __name__ == "__main__":
    main()
