"""The server as operators meet it: health, reflection (what grpcurl uses), migrations, shutdown."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from cartservice.cart.v1 import cart_service_pb2
from google.protobuf import descriptor_pool, json_format
from google.protobuf.message_factory import GetMessageClass
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from server.config import add_arguments, from_arguments
from server.store.database import create_engine, database_url
from server.store.migrate import schema_differences
from tests.conftest import fresh_postgres_database
from tests.identities import as_caller, token
from tests.servers import ServerProcess

CART_SERVICE = "cartservice.cart.v1.CartService"


def test_health_reports_serving(channel: grpc.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", CART_SERVICE):
        answer = health.Check(health_pb2.HealthCheckRequest(service=service))
        assert answer.status == health_pb2.HealthCheckResponse.SERVING


def test_health_command_exits_zero_against_a_serving_server(server: ServerProcess) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "server", "health", "--address", server.address],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert (done.returncode, done.stdout.strip()) == (0, "SERVING")


def test_reflection_lists_describes_and_calls_without_proto_files(channel: grpc.Channel) -> None:
    # What `grpcurl list / describe / -d '{…}'` does: everything from the server alone.
    database = ProtoReflectionDescriptorDatabase(channel)
    assert {CART_SERVICE, "grpc.health.v1.Health"} <= set(database.get_services())
    pool = descriptor_pool.DescriptorPool(database)
    service = pool.FindServiceByName(CART_SERVICE)
    ours = cart_service_pb2.DESCRIPTOR.services_by_name["CartService"]
    assert [m.name for m in service.methods] == [m.name for m in ours.methods]
    assert len(service.methods) == 35
    for method in service.methods:
        assert method.input_type.fields and method.output_type.fields is not None

    method = service.methods_by_name["CreateCart"]
    request_class = GetMessageClass(method.input_type)
    response_class = GetMessageClass(method.output_type)
    request = json_format.Parse(
        '{"cart": {"userId": "7", "collectionId": "4982", "items": [{"quantity": 2,'
        ' "skus": [{"skuId": "sku_001", "price": {"value": "10.48"}}]}]}}',
        request_class(),
        descriptor_pool=pool,
    )
    call = channel.unary_unary(
        f"/{CART_SERVICE}/CreateCart",
        request_serializer=request_class.SerializeToString,
        response_deserializer=response_class.FromString,
    )
    answer = json_format.MessageToDict(call(request, metadata=as_caller("7")), descriptor_pool=pool)
    cart = answer["carts"][0]
    assert cart["userId"] == "7" and cart["status"] == "CART_STATUS_ACTIVE"
    assert cart["items"][0]["skus"][0]["price"] == {"value": "10.48"}


def test_serve_help_documents_every_setting_with_its_environment_variable() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "server", "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0
    for variable in ("CARTSERVICE_PORT", "CARTSERVICE_DATABASE_URL", "CARTSERVICE_GRACE_PERIOD"):
        assert variable in done.stdout


def test_flag_beats_environment_variable_beats_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARTSERVICE_PORT", "6123")
    monkeypatch.setenv("CARTSERVICE_GRACE_PERIOD", "2.5")
    parser = argparse.ArgumentParser()
    add_arguments(parser, "serve")
    from_env = from_arguments(parser.parse_args([]))
    from_flag = from_arguments(parser.parse_args(["--port", "7"]))
    assert (from_env.port, from_env.grace_period, from_env.host) == (6123, 2.5, "127.0.0.1")
    assert from_flag.port == 7


def _migrate(url: str, data_dir: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "server", "migrate", "--database-url", url, "--data-dir", str(data_dir)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def _differences(url: str, data_dir: Path) -> list[object]:
    async def compare() -> list[object]:
        engine = create_engine(database_url(url, data_dir))
        try:
            return await schema_differences(engine)
        finally:
            await engine.dispose()

    return asyncio.run(compare())


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_migrate_builds_exactly_the_declared_schema_and_is_repeatable(
    backend: str, tmp_path: Path
) -> None:
    with contextlib.ExitStack() as stack:
        url = (
            stack.enter_context(fresh_postgres_database("cartservice_migrate"))
            if backend == "postgresql"
            else ""  # the embedded default: a file in the data directory
        )
        assert _differences(url, tmp_path) != []  # empty database: every table is missing
        _migrate(url, tmp_path)
        _migrate(url, tmp_path)
        assert _differences(url, tmp_path) == []
    if backend == "sqlite":
        assert (tmp_path / "cartservice.db").exists()


def test_sigterm_stops_gracefully_and_refuses_new_calls(tmp_path: Path) -> None:
    server = ServerProcess.start(tmp_path, database_url="")  # the embedded default
    with grpc.insecure_channel(server.address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        assert (
            health.Check(health_pb2.HealthCheckRequest()).status
            == health_pb2.HealthCheckResponse.SERVING
        )
        assert server.stop() == 0
        with pytest.raises(grpc.RpcError) as raised:
            health.Check(health_pb2.HealthCheckRequest(), timeout=2)
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    log = server.log()
    assert "stopping: refusing new calls" in log and log.rstrip().endswith("stopped")
    assert "Traceback" not in log


def test_log_holds_no_personal_data(stub: object, server: ServerProcess) -> None:
    from cartservice.cart.v1 import cart_pb2 as r
    from cartservice.cart.v1 import cart_service_pb2 as pb
    from cartservice.cart.v1.cart_service_pb2_grpc import CartServiceStub

    assert isinstance(stub, CartServiceStub)
    secrets = {
        "email": "leak.check@example.org",
        "phone": "+44 20 7946 0958",
        "address_line1": "221B Baker Street",
    }
    cart = stub.CreateCart(
        pb.CreateCartRequest(cart=r.Cart(user_id="1", collection_id=4982))
    ).carts[0]
    stub.CreateCartAddress(
        pb.CreateCartAddressRequest(cart_id=cart.id, address=r.Address(**secrets))
    )
    with pytest.raises(grpc.RpcError):
        stub.UpdateCommunicationPreference(
            pb.UpdateCommunicationPreferenceRequest(
                cart_id=cart.id,
                communication_preference=r.CommunicationPreference(
                    email=secrets["email"], phone="bad phone " + secrets["phone"]
                ),
            )
        )
    expired = token(ttl_seconds=-600)
    with pytest.raises(grpc.RpcError):
        stub.GetCart(
            pb.GetCartRequest(cart_id=cart.id), metadata=(("authorization", f"Bearer {expired}"),)
        )
    log = server.log()
    assert "serving on" in log and "unauthenticated call" in log
    assert not [value for value in [*secrets.values(), expired] if value in log]


def test_limits_are_settings(tmp_path: Path) -> None:
    from cartservice.cart.v1 import cart_pb2 as r
    from cartservice.cart.v1 import cart_service_pb2 as pb
    from cartservice.cart.v1.cart_service_pb2_grpc import CartServiceStub
    from cartservice.type.v1.decimal_pb2 import Decimal

    server = ServerProcess.start(
        tmp_path, database_url="", extra=("--max-items-per-cart", "2", "--max-string-length", "8")
    )
    try:
        with grpc.insecure_channel(server.address) as channel:
            stub = CartServiceStub(channel)
            me = as_caller("limits")
            item = r.CartItem(quantity=1, skus=[r.Sku(sku_id="s", price=Decimal(value="1"))])
            cart = stub.CreateCart(
                pb.CreateCartRequest(cart=r.Cart(items=[item, item])), metadata=me
            ).carts[0]
            with pytest.raises(grpc.RpcError) as too_many:
                stub.CreateCartItem(
                    pb.CreateCartItemRequest(cart_id=cart.id, items=[item]), metadata=me
                )
            assert too_many.value.code() == grpc.StatusCode.FAILED_PRECONDITION
            with pytest.raises(grpc.RpcError) as too_long:
                stub.CreateCartAddress(
                    pb.CreateCartAddressRequest(cart_id=cart.id, address=r.Address(city="c" * 9)),
                    metadata=me,
                )
            assert "address.city" in (too_long.value.details() or "")
    finally:
        server.stop()


def test_grpc_experiments_are_set_before_grpc_is_imported_and_an_operators_choice_is_kept() -> None:
    from server.grpc_runtime import experiments_setting

    assert experiments_setting("") == "fuse_filters"
    assert experiments_setting("tcp_rcv_lowat") == "tcp_rcv_lowat,fuse_filters"
    assert experiments_setting("-fuse_filters") == "-fuse_filters"
    assert experiments_setting(" fuse_filters ,x") == "fuse_filters,x"
    # A process that starts the way `cartservice` does has the setting before grpc exists.
    probe = (
        "import sys, os; import server.app; "
        "from server import grpc_runtime as r; "
        "print(os.environ['GRPC_EXPERIMENTS'], r.grpc_imported_first)"
    )
    env = {k: v for k, v in os.environ.items() if k != "GRPC_EXPERIMENTS"}
    out = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        cwd=Path(__file__).parents[1],
    ).stdout.split()
    assert out == ["fuse_filters", "False"]


def test_calls_start_from_an_empty_context_whatever_startup_set() -> None:
    import contextvars
    from decimal import Decimal

    from server.api.basket_watch import start_calls_in_empty_context

    startup = contextvars.ContextVar("startup_setting")

    async def names(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return ",".join(sorted(var.name for var in contextvars.copy_context())).encode()

    async def scenario() -> bytes:
        startup.set("shared by every call?")
        _ = Decimal("1.10") * 3  # sets the decimal module's context variable here
        assert {var.name for var in contextvars.copy_context()} >= {"startup_setting"}
        server = grpc.aio.server()
        server.add_generic_rpc_handlers(
            [
                grpc.method_handlers_generic_handler(
                    "t.S", {"Names": grpc.unary_unary_rpc_method_handler(names)}
                )
            ]
        )
        port = server.add_insecure_port("127.0.0.1:0")
        await start_calls_in_empty_context(server)
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                return await channel.unary_unary("/t.S/Names")(b"")  # type: ignore[no-any-return]
        finally:
            await server.stop(None)

    assert asyncio.run(scenario()) == b""
