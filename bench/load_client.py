"""One load-generating process: unary calls of pre-serialized requests, N in flight.

    python -m bench.load_client PLAN.json

The plan names the address, the method, the metadata, the requests (a file of length-prefixed
serialized messages), how many calls may be in flight, the seconds to run and whether requests
may be reused (`cycle`; creating calls use each request once, so carts keep their size). Prints
one JSON object: calls, errors (by status), elapsed seconds and every latency in milliseconds.
Every target of a benchmark run gets the same client, so the client's own cost is the same in
each figure.
"""

from __future__ import annotations

import asyncio
import json
import struct
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import grpc


def read_requests(path: Path) -> list[bytes]:
    data = path.read_bytes()
    requests, offset = [], 0
    while offset < len(data):
        (size,) = struct.unpack_from(">I", data, offset)
        requests.append(data[offset + 4 : offset + 4 + size])
        offset += 4 + size
    return requests


def write_requests(path: Path, requests: list[bytes]) -> None:
    path.write_bytes(b"".join(struct.pack(">I", len(r)) + r for r in requests))


async def run(plan: dict[str, Any]) -> dict[str, Any]:
    requests = read_requests(Path(plan["requests"]))
    metadata = tuple(tuple(pair) for pair in plan["metadata"])
    latencies: list[float] = []
    errors: Counter[str] = Counter()
    async with grpc.aio.insecure_channel(plan["address"]) as channel:
        call = channel.unary_unary(plan["method"])
        deadline = time.perf_counter() + plan["seconds"]
        cycle = plan["cycle"]
        position = iter(range(10**12 if cycle else len(requests)))

        async def worker() -> None:
            for n in position:
                if time.perf_counter() > deadline:
                    return
                started = time.perf_counter()
                try:
                    await call(requests[n % len(requests)], metadata=metadata, timeout=30)
                except grpc.aio.AioRpcError as error:
                    errors[error.code().name] += 1
                latencies.append((time.perf_counter() - started) * 1000)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(plan["in_flight"])))
        elapsed = time.perf_counter() - started
    return {"calls": len(latencies), "errors": dict(errors), "elapsed": elapsed,
            "latencies_ms": latencies}  # fmt: skip


def main() -> None:
    plan = json.loads(Path(sys.argv[1]).read_text())
    print(json.dumps(asyncio.run(run(plan))))


if __name__ == "__main__":
    main()
