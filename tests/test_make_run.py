"""`make run`, as a newcomer types it: it says "serving" only once the server answers, and the
line it prints works as printed."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import grpc
from cartservice.cart.v1 import cart_service_pb2 as pb
from cartservice.cart.v1.cart_service_pb2_grpc import CartServiceStub
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.support import free_port

ROOT = Path(__file__).resolve().parent.parent


def test_make_run_says_serving_once_the_server_answers_and_its_token_works(tmp_path: Path) -> None:
    port = free_port()
    environment = {
        **os.environ,
        "CARTSERVICE_PORT": str(port),
        "CARTSERVICE_DATA_DIR": str(tmp_path),
    }
    run = subprocess.Popen(
        ["make", "--no-print-directory", "run"], cwd=ROOT, env=environment,
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        assert run.stdout is not None
        deadline = time.monotonic() + 120  # the first run may install the runtime
        lines: list[str] = []
        while not any("cartservice: serving on" in line for line in lines):
            assert time.monotonic() < deadline and run.poll() is None, lines
            lines.append(run.stdout.readline())
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            # Asked at once: "serving" came after the health check, not before the server.
            health = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=1
            )
            hint = run.stdout.readline()
            token = re.search(r"Bearer (\S+)'", hint)
            assert token is not None, hint
            created = CartServiceStub(channel).CreateCart(
                pb.CreateCartRequest(), metadata=(("authorization", f"Bearer {token[1]}"),)
            )
    finally:
        os.killpg(run.pid, signal.SIGINT)
        run.wait(30)
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    assert f"127.0.0.1:{port}" in hint and "CreateCart" in hint
    assert created.carts[0].id > 0
