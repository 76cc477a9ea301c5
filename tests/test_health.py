"""Health tells the truth: NOT_SERVING while the database is cut off, SERVING once it is back."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from server.api import health as database_health
from server.api.health import DatabaseHealth
from tests.conftest import fresh_postgres_database
from tests.identities import SERVER_FLAGS
from tests.servers import ServerProcess
from tests.tcp_proxy import TcpProxy

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
SERVICES = ("", "cartservice.cart.v1.CartService", "cartservice.basket.v1.BasketService")


def statuses(channel: grpc.Channel) -> set[int]:
    stub = health_pb2_grpc.HealthStub(channel)
    return {
        stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=5).status
        for name in SERVICES
    }


def wait_for(channel: grpc.Channel, status: int, timeout: float = 15) -> float:
    started = time.monotonic()
    while statuses(channel) != {status}:
        assert time.monotonic() - started < timeout, f"still {statuses(channel)}"
        time.sleep(0.1)
    return time.monotonic() - started


@pytest.mark.slow
def test_health_follows_the_database_behind_a_cut(tmp_path: Path) -> None:
    with fresh_postgres_database() as url:
        proxy = TcpProxy("127.0.0.1", 5432)
        proxied = url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
        server = ServerProcess.start(tmp_path, database_url=proxied, extra=SERVER_FLAGS)
        try:
            with grpc.insecure_channel(server.address) as channel:
                assert statuses(channel) == {SERVING}
                proxy.cut()
                went_down = wait_for(channel, NOT_SERVING)
                proxy.restore()
                came_back = wait_for(channel, SERVING)
            log = server.log()
        finally:
            server.stop()
            proxy.close()
    print(f"health: NOT_SERVING {went_down:.1f} s after the cut, SERVING {came_back:.1f} s after")
    assert went_down >= database_health.GRACE_S  # not at the first failed probe
    assert "NOT_SERVING" in log and "database reachable again: SERVING" in log


def test_one_failed_probe_is_not_enough_and_one_good_one_restores(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answers: list[bool] = []
    clock = [100.0]
    monkeypatch.setattr(database_health.time, "monotonic", lambda: clock[0])

    async def probe() -> bool:
        return answers.pop(0)

    async def scenario() -> list[bool]:
        servicer = health.aio.HealthServicer()
        watched = DatabaseHealth(servicer, SERVICES, probe)
        await watched.set_serving()
        seen = []
        for answer, at in ((False, 100.0), (False, 101.0), (False, 102.5), (True, 103.5)):
            answers.append(answer)
            clock[0] = at
            await watched.check()
            seen.append(watched.serving)
        return seen

    assert asyncio.run(scenario()) == [True, True, False, True]
