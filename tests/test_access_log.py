"""The access log, read back: one line per RPC, with what an operator needs and nothing private."""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path
from typing import Any

import grpc
from cartservice.basket.v1 import basket_service_pb2 as bp
from cartservice.basket.v1.basket_service_pb2_grpc import BasketServiceStub
from cartservice.cart.v1 import cart_pb2 as r
from cartservice.cart.v1 import cart_service_pb2 as pb
from cartservice.cart.v1.cart_service_pb2_grpc import CartServiceStub
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.identities import SERVER_FLAGS, as_caller
from tests.servers import ServerProcess

CART = "/cartservice.cart.v1.CartService/"


def access_lines(server: ServerProcess, expected: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 10
    while True:
        lines = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
        found = [line for line in lines if line["logger"] == "cartservice.access"]
        if len(found) >= expected or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_every_call_is_one_json_line_with_status_latency_caller_and_request_id(
    tmp_path: Path,
) -> None:
    server = ServerProcess.start(
        tmp_path, database_url="", extra=(*SERVER_FLAGS, "--log-format", "json")
    )
    me = as_caller("7", 4982)
    traced = (*me, ("x-request-id", "checkout-42"))
    try:
        with grpc.insecure_channel(server.address) as channel:
            carts = CartServiceStub(channel)
            address = r.Address(email="jane@example.com", phone="+15555550100", city="Springfield")
            cart = carts.CreateCart(
                pb.CreateCartRequest(cart=r.Cart(address=address)),
                metadata=traced,
            ).carts[0]
            for metadata, cart_id in ((me, 9_000_000), ((), cart.id)):
                with contextlib.suppress(grpc.RpcError):
                    carts.GetCart(pb.GetCartRequest(cart_id=cart_id), metadata=metadata)
            health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
            baskets = BasketServiceStub(channel)
            baskets.CreateBasket(
                bp.CreateBasketRequest(basket_id="b-1", sales_channel_id="web"), metadata=me
            )
            watch = baskets.WatchBasket(bp.WatchBasketRequest(basket_id="b-1"), metadata=me)
            next(watch)  # the basket's current state: the stream is open
            watch.cancel()
            lines = access_lines(server, expected=6)
        log = server.log()
    finally:
        server.stop()

    by_method = {(line["method"].rsplit("/", 1)[1], line["code"]): line for line in lines}
    assert set(by_method) == {
        ("CreateCart", "OK"), ("GetCart", "NOT_FOUND"), ("GetCart", "UNAUTHENTICATED"),
        ("Check", "OK"), ("CreateBasket", "OK"), ("WatchBasket", "CANCELLED"),
    }  # fmt: skip
    created = by_method[("CreateCart", "OK")]
    assert created["request_id"] == "checkout-42"
    assert (created["user"], created["collection"]) == ("7", 4982)
    assert 0 < created["ms"] < 10_000
    refused = by_method[("GetCart", "UNAUTHENTICATED")]
    assert refused["user"] is None and len(refused["request_id"]) == 26  # generated
    assert by_method[("WatchBasket", "CANCELLED")]["user"] == "7"
    for private in ("jane@example.com", "+15555550100", "Springfield", me[0][1].split()[1]):
        assert private not in log


def test_text_lines_name_the_same_facts(server: ServerProcess, stub: CartServiceStub) -> None:
    cart = stub.CreateCart(pb.CreateCartRequest(), metadata=(("x-request-id", "a b;c"),)).carts[0]
    assert cart.id
    deadline = time.monotonic() + 10
    while "request_id=a_b_c" not in server.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    [line] = [line for line in server.log().splitlines() if "request_id=a_b_c" in line]
    assert " INFO cartservice.access /cartservice.cart.v1.CartService/CreateCart OK " in line
    assert " user=" in line and " collection=" in line
