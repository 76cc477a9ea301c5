"""`serve --workers N` shares one port among N processes; a plain `serve` never shares one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grpc
from cartservice.cart.v1 import cart_pb2 as r
from cartservice.cart.v1 import cart_service_pb2 as pb
from cartservice.cart.v1.cart_service_pb2_grpc import CartServiceStub

from tests.identities import SECRET, SERVER_FLAGS, as_caller
from tests.servers import ServerProcess


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def test_a_server_on_a_port_in_use_refuses_to_start(tmp_path: Path, postgres_url: str) -> None:
    first = ServerProcess.start(tmp_path / "first", database_url=postgres_url, extra=SERVER_FLAGS)
    try:
        secret = tmp_path / "secret"
        secret.write_text(SECRET)
        second = subprocess.run(
            [sys.executable, "-m", "server", "serve", "--port", str(first.port),
             "--database-url", postgres_url, "--jwt-secret-file", str(secret),
             "--data-dir", str(tmp_path / "second")],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    finally:
        first.stop()
    assert second.returncode == 2
    assert f"127.0.0.1:{first.port} is already in use" in second.stderr
    assert "Traceback" not in second.stderr


def test_workers_share_the_port_and_stop_together(tmp_path: Path, postgres_url: str) -> None:
    server = ServerProcess.start(
        tmp_path, database_url=postgres_url, extra=(*SERVER_FLAGS, "--workers", "2")
    )
    try:
        workers = _children(server.process.pid)
        assert len(workers) == 2
        metadata = as_caller("1", 4982, ("ROLE_USER",))
        created = []
        for _ in range(12):  # a connection each: the kernel spreads them over the workers
            with grpc.insecure_channel(server.address) as channel:
                stub = CartServiceStub(channel)
                request = pb.CreateCartRequest(cart=r.Cart(type="t"))
                created.append(stub.CreateCart(request, metadata=metadata).carts[0].id)
        for cart_id in created:
            with grpc.insecure_channel(server.address) as channel:
                found = CartServiceStub(channel).GetCart(
                    pb.GetCartRequest(cart_id=cart_id), metadata=metadata
                )
                assert found.cart.id == cart_id
        assert len(set(created)) == 12
        log = server.log()
        assert log.count(f"worker ready on 127.0.0.1:{server.port}") == 2
        assert f"serving on 127.0.0.1:{server.port} with 2 workers" in log
    finally:
        code = server.stop()
    assert code == 0
    assert all(not Path(f"/proc/{pid}").exists() for pid in workers)


def test_concurrent_changes_of_one_cart_through_two_workers_all_survive(
    tmp_path: Path, postgres_url: str
) -> None:
    """Each worker commits its changes in groups, checking the version it read: a change whose
    cart the other worker changed meanwhile runs again, row-locked, and nothing is lost."""
    server = ServerProcess.start(
        tmp_path, database_url=postgres_url, extra=(*SERVER_FLAGS, "--workers", "2")
    )
    try:
        metadata = as_caller("1", 4982, ("ROLE_USER",))
        # A connection each (channels of one process share their connections otherwise): the
        # kernel spreads them over the workers.
        own = [("grpc.use_local_subchannel_pool", 1)]
        channels = [grpc.insecure_channel(server.address, options=own) for _ in range(8)]
        stubs = [CartServiceStub(channel) for channel in channels]
        cart = stubs[0].CreateCart(pb.CreateCartRequest(cart=r.Cart(type="t")), metadata=metadata)
        cart_id = cart.carts[0].id
        merges = [
            stubs[n % len(stubs)].PatchUpdateCartProperties.future(
                pb.PatchUpdateCartPropertiesRequest(
                    cart_id=cart_id, cart_properties={f"k{n}": "v"}
                ),
                metadata=metadata,
            )
            for n in range(64)
        ]
        for merge in merges:
            merge.result(timeout=60)
        stored = stubs[0].GetCart(pb.GetCartRequest(cart_id=cart_id), metadata=metadata).cart
        for channel in channels:
            channel.close()
    finally:
        server.stop()
    assert {f"k{n}" for n in range(64)} <= set(stored.custom_properties)
