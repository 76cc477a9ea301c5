"""The Python client distribution (clients/python) against real servers: what it depends on,
tokens, typed errors, default deadlines, grpc's own retries, and watches that survive a server
restart."""

from __future__ import annotations

import asyncio
import contextlib
import queue
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest
from cartservice.basket.v1 import basket_service_pb2 as bpb
from cartservice.cart.v1 import cart_pb2 as r
from cartservice.cart.v1 import cart_service_pb2 as pb
from cartservice.type.v1.decimal_pb2 import Decimal as D
from cartservice_client import (
    AsyncClient,
    CartServiceError,
    Client,
    DeadlineExceeded,
    InvalidArgument,
    NotFound,
    PromoCodeDoesntExist,
    Unauthenticated,
    Unavailable,
)

from server.store.demo_catalog import GIFT_VOUCHER_50
from tests.identities import token
from tests.servers import ServerProcess
from tests.support import free_port

CLIENT_PROJECT = Path(__file__).parents[2] / "clients/python/pyproject.toml"
GET_CART = "/cartservice.cart.v1.CartService/GetCart"
TIMEOUT_S = 20


def a_cart() -> pb.CreateCartRequest:
    return pb.CreateCartRequest(
        cart=r.Cart(
            items=[r.CartItem(quantity=1, skus=[r.Sku(sku_id="s1", price=D(value="2.50"))])]
        )
    )


def test_the_client_depends_on_grpc_and_protobuf_only() -> None:
    project = tomllib.loads(CLIENT_PROJECT.read_text())["project"]
    names = {d.split(">")[0].split("=")[0].split("<")[0] for d in project["dependencies"]}
    assert names == {"grpcio", "protobuf", "googleapis-common-protos"}
    imported = subprocess.run(
        [sys.executable, "-c",
         "import sys, cartservice_client, cartservice.cart.v1.cart_service_pb2_grpc;"
         "print(sorted({m.split('.')[0] for m in sys.modules}))"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    for server_side in ("server", "sqlalchemy", "psycopg", "boto3", "pika", "alembic"):
        assert f"'{server_side}'" not in imported


def test_calls_carry_the_token_of_the_moment_and_fail_with_typed_errors(
    server: ServerProcess,
) -> None:
    tokens = iter([token(user_id="41"), token(user_id="42")])
    with Client(server.address, token=lambda: next(tokens)) as client:
        first = client.carts.CreateCart(a_cart()).carts[0]
        second = client.carts.CreateCart(a_cart()).carts[0]
    assert (first.user_id, second.user_id) == ("41", "42")

    with Client(server.address, token=token(user_id="41")) as client:
        with pytest.raises(NotFound) as missing:
            client.carts.GetCart(pb.GetCartRequest(cart_id=999_999_999))
        assert missing.value.code is grpc.StatusCode.NOT_FOUND
        bad = a_cart()
        bad.cart.items[0].skus[0].price.value = "ten"
        with pytest.raises(InvalidArgument) as invalid:
            client.carts.CreateCart(bad)
        assert [v.field for v in invalid.value.field_violations] == ["cart.items[0].skus[0].price"]
        client.baskets.CreateBasket(
            bpb.CreateBasketRequest(basket_id="pc-1", sales_channel_id="web")
        )
        with pytest.raises(PromoCodeDoesntExist) as unknown:
            client.baskets.ApplyPromoCode(
                bpb.ApplyPromoCodeRequest(basket_id="pc-1", promo_code="NOPE")
            )
        assert unknown.value.reason == "PromoCodeDoesntExist"
        assert unknown.value.code is grpc.StatusCode.NOT_FOUND

    with Client(server.address) as anonymous, pytest.raises(Unauthenticated):
        anonymous.carts.CreateCart(a_cart())


def test_calls_get_a_default_deadline(slow: str) -> None:
    with Client(slow, token="t", timeout_s=0.05) as client:
        with pytest.raises(DeadlineExceeded):
            client.carts.GetCart(pb.GetCartRequest(cart_id=5))
        # A deadline given with the call replaces the default.
        assert client.carts.GetCart(pb.GetCartRequest(cart_id=5), timeout=10).cart.id == 5


class FlakyGetCart(grpc.GenericRpcHandler):
    """A server whose GetCart answers UNAVAILABLE a number of times before it answers."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.attempts = 0

    def service(self, details: Any) -> Any:
        if details.method != GET_CART:
            return None
        return grpc.unary_unary_rpc_method_handler(
            self._get, pb.GetCartRequest.FromString, pb.GetCartResponse.SerializeToString
        )

    def _get(self, request: pb.GetCartRequest, context: grpc.ServicerContext) -> Any:
        self.attempts += 1
        if self.attempts <= self.failures:
            context.abort(grpc.StatusCode.UNAVAILABLE, "shutting down")
        return pb.GetCartResponse(cart=r.Cart(id=request.cart_id))


class SlowGetCart(FlakyGetCart):
    """A server whose GetCart answers after 0.3 s: longer than a 50 ms deadline, always."""

    def _get(self, request: pb.GetCartRequest, context: grpc.ServicerContext) -> Any:
        time.sleep(0.3)
        return super()._get(request, context)


@pytest.fixture
def slow() -> Iterator[str]:
    fake = grpc.server(futures.ThreadPoolExecutor(2), handlers=[SlowGetCart(failures=0)])
    port = fake.add_insecure_port("127.0.0.1:0")
    fake.start()
    yield f"127.0.0.1:{port}"
    fake.stop(None)


@pytest.fixture
def flaky() -> Iterator[tuple[str, FlakyGetCart]]:
    handler = FlakyGetCart(failures=2)
    fake = grpc.server(futures.ThreadPoolExecutor(2), handlers=[handler])
    port = fake.add_insecure_port("127.0.0.1:0")
    fake.start()
    yield f"127.0.0.1:{port}", handler
    fake.stop(None)


def test_unavailable_is_retried_by_grpc(flaky: tuple[str, FlakyGetCart]) -> None:
    address, handler = flaky
    with Client(address, token="t", attempts=4) as client:
        assert client.carts.GetCart(pb.GetCartRequest(cart_id=5)).cart.id == 5
    assert handler.attempts == 3


def test_without_retries_unavailable_is_raised(flaky: tuple[str, FlakyGetCart]) -> None:
    address, handler = flaky
    with Client(address, token="t", attempts=1) as client, pytest.raises(Unavailable):
        client.carts.GetCart(pb.GetCartRequest(cart_id=5))
    assert handler.attempts == 1


def start_on(workdir: Path, port: int) -> ServerProcess:
    return ServerProcess.on_own_sqlite(workdir, "--port", str(port))


def add_gift_voucher(client: Client, basket_id: str) -> None:
    request = bpb.AddItemRequest(basket_id=basket_id, product_id=GIFT_VOUCHER_50)
    client.baskets.AddItem(request, wait_for_ready=True, timeout=TIMEOUT_S)


def test_a_watch_resumes_after_a_server_restart_with_every_version_once(tmp_path: Path) -> None:
    port = free_port()
    server = start_on(tmp_path, port)
    seen: queue.Queue[int | str] = queue.Queue()
    with Client(server.address, token=token()) as client:
        client.baskets.CreateBasket(
            bpb.CreateBasketRequest(basket_id="w-1", sales_channel_id="web")
        )

        def watch() -> None:
            with contextlib.suppress(CartServiceError):  # CANCELLED when the client closes
                for message in client.watch_basket("w-1"):
                    notice = message.something_happened.error_code
                    seen.put(notice or message.version)

        threading.Thread(target=watch, daemon=True).start()
        assert seen.get(timeout=TIMEOUT_S) == 1
        add_gift_voucher(client, "w-1")
        assert seen.get(timeout=TIMEOUT_S) == 2
        server.stop()  # open streams end with UNAVAILABLE
        server = start_on(tmp_path, port)
        try:
            add_gift_voucher(client, "w-1")
            assert seen.get(timeout=TIMEOUT_S) == 3, "version 2 again, or nothing"
            add_gift_voucher(client, "w-1")
            assert seen.get(timeout=TIMEOUT_S) == 4
            with pytest.raises(PromoCodeDoesntExist):
                client.baskets.ApplyPromoCode(
                    bpb.ApplyPromoCodeRequest(basket_id="w-1", promo_code="NOPE")
                )
            assert seen.get(timeout=TIMEOUT_S) == "PromoCodeDoesntExist"
        finally:
            server.stop()
    assert seen.empty()


def test_the_asyncio_client(server: ServerProcess) -> None:
    async def scenario() -> tuple[str, int, list[int]]:
        async def refreshed() -> str:
            return token(user_id="51")

        async with AsyncClient(server.address, token=refreshed) as client:
            cart = (await client.carts.CreateCart(a_cart())).carts[0]
            try:
                await client.carts.GetCart(pb.GetCartRequest(cart_id=999_999_999))
            except NotFound as error:
                missing = error.code.value[0]
            await client.baskets.CreateBasket(
                bpb.CreateBasketRequest(basket_id="aio-1", sales_channel_id="web")
            )
            versions: list[int] = []
            async for message in client.watch_basket("aio-1"):
                versions.append(message.version)
                if message.version == 1:
                    await client.baskets.AddItem(
                        bpb.AddItemRequest(basket_id="aio-1", product_id=GIFT_VOUCHER_50)
                    )
                else:
                    break
            return cart.user_id, missing, versions

    user, missing, versions = asyncio.run(asyncio.wait_for(scenario(), TIMEOUT_S))
    assert (user, missing, versions) == ("51", grpc.StatusCode.NOT_FOUND.value[0], [1, 2])


def test_closing_the_client_ends_its_watch_without_an_error(server: ServerProcess) -> None:
    client = Client(server.address, token=token())
    basket_id = f"close-{free_port()}"
    client.baskets.CreateBasket(bpb.CreateBasketRequest(basket_id=basket_id, sales_channel_id="w"))
    seen: queue.Queue[object] = queue.Queue()

    def watch() -> None:
        try:
            for message in client.watch_basket(basket_id):
                seen.put(message.version)
            seen.put("ended")
        except Exception as error:  # what the test is about
            seen.put(error)

    threading.Thread(target=watch, daemon=True).start()
    assert seen.get(timeout=TIMEOUT_S) == 1
    client.close()

    assert seen.get(timeout=TIMEOUT_S) == "ended"
