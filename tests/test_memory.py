"""Memory stays bounded under requests built to cost the most to parse: 1 MiB of empty items.

Each such request took ~79 MB to parse; 35 in a row took the server from 113 MB to 2.8 GB of
RSS and 20 at once to 4.3 GB, kept when idle. The bounds below are the issue's goals; this
server's floor (SQLite, at rest after start) measured 113 MB.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from cartservice.cart.v1 import cart_pb2 as r
from cartservice.cart.v1 import cart_service_pb2 as pb
from cartservice.cart.v1.cart_service_pb2_grpc import CartServiceStub

from tests.identities import SERVER_FLAGS, DefaultCaller
from tests.servers import ServerProcess

RUN_LIMIT_MB = 300
IDLE_LIMIT_MB = 150


def rss_mb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024
    raise AssertionError(f"no VmRSS for {pid}")


class PeakRss:
    """Samples a process's RSS every 20 ms on a thread of its own."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._done = pid, 0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._done.is_set():
            self.peak = max(self.peak, rss_mb(self.pid))
            time.sleep(0.02)

    def stop(self) -> int:
        self._done.set()
        self._thread.join()
        return self.peak


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    process = ServerProcess.start(tmp_path, database_url="", extra=SERVER_FLAGS)
    yield process
    process.stop()


@pytest.mark.slow
def test_requests_of_half_a_million_empty_items_keep_memory_bounded(
    server: ServerProcess,
) -> None:
    options = [("grpc.max_send_message_length", 8 << 20)]
    with grpc.insecure_channel(server.address, options=options) as channel:
        stub = CartServiceStub(grpc.intercept_channel(channel, DefaultCaller()))
        cart = stub.CreateCart(pb.CreateCartRequest()).carts[0]
        request = pb.CreateCartItemRequest(cart_id=cart.id, items=[r.CartItem()] * 524_000)
        assert 1_000_000 < request.ByteSize() <= 1 << 20
        start = rss_mb(server.process.pid)
        peak = PeakRss(server.process.pid)
        errors = []
        for _ in range(35):
            with pytest.raises(grpc.RpcError) as refused:
                stub.CreateCartItem(request)
            errors.append(refused.value)
        calls = [stub.CreateCartItem.future(request) for _ in range(20)]
        for call in calls:
            with pytest.raises(grpc.RpcError) as refused:
                call.result()
            errors.append(refused.value)
        during = peak.stop()
        time.sleep(1)
        idle = rss_mb(server.process.pid)
        still_serving = stub.GetCart(pb.GetCartRequest(cart_id=cart.id)).cart
    print(f"memory: {start} MB at rest, {during} MB at most during the run, {idle} MB idle after")
    assert {e.code() for e in errors} == {grpc.StatusCode.INVALID_ARGUMENT}
    assert all("items: has 524000 entries" in (e.details() or "") for e in errors)
    assert during < RUN_LIMIT_MB
    assert idle < IDLE_LIMIT_MB
    assert still_serving.id == cart.id and len(still_serving.items) == 0
