"""The Prometheus endpoint, scraped over HTTP from a real server."""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path

import grpc
import pytest
from cartservice.basket.v1 import basket_service_pb2 as bp
from cartservice.basket.v1.basket_service_pb2_grpc import BasketServiceStub
from cartservice.cart.v1 import cart_service_pb2 as pb
from cartservice.cart.v1.cart_service_pb2_grpc import CartServiceStub
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import fresh_postgres_database
from tests.identities import SERVER_FLAGS, as_caller
from tests.servers import ServerProcess
from tests.support import free_port

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(port: int) -> Samples:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def rpc(
    method: str, service: str = "cartservice.cart.v1.CartService", **more: str
) -> dict[str, str]:
    kind = "server_stream" if method == "WatchBasket" else "unary"
    return {"grpc_type": kind, "grpc_service": service, "grpc_method": method, **more}


@pytest.mark.slow
def test_metrics_count_rpcs_streams_the_backlog_and_the_relay(tmp_path: Path) -> None:
    port = free_port()
    # RabbitMQ on a port nothing listens on: its events stay in the outbox, EventBridge's go out.
    flags = (
        *SERVER_FLAGS, "--metrics-port", str(port),
        "--rabbitmq-url", "amqp://guest:guest@127.0.0.1:1/%2F",
    )  # fmt: skip
    me = as_caller("7", 4982)
    basket = "cartservice.basket.v1.BasketService"
    with fresh_postgres_database() as url:
        server = ServerProcess.start(tmp_path, database_url=url, extra=flags)
        try:
            with grpc.insecure_channel(server.address) as channel:
                carts = CartServiceStub(channel)
                cart = carts.CreateCart(pb.CreateCartRequest(), metadata=me).carts[0]
                carts.GetCart(pb.GetCartRequest(cart_id=cart.id), metadata=me)
                for n in range(2):  # the first reads the cart, the second finds it cached
                    merge = pb.PatchUpdateCartPropertiesRequest(
                        cart_id=cart.id, cart_properties={"n": str(n)}
                    )
                    carts.PatchUpdateCartProperties(merge, metadata=me)
                with pytest.raises(grpc.RpcError):
                    carts.GetCart(pb.GetCartRequest(cart_id=9_000_000), metadata=me)
                baskets = BasketServiceStub(channel)
                baskets.CreateBasket(
                    bp.CreateBasketRequest(basket_id="b-1", sales_channel_id="web"), metadata=me
                )
                watch = baskets.WatchBasket(bp.WatchBasketRequest(basket_id="b-1"), metadata=me)
                next(watch)
                deadline = time.monotonic() + 20
                while True:
                    samples = scrape(port)
                    pending = value(
                        samples, "cartservice_outbox_pending_events", destination="rabbitmq"
                    )
                    if pending or time.monotonic() > deadline:  # the first report after the calls
                        break
                    time.sleep(0.25)
                watch.cancel()
        finally:
            server.stop()

    handled = "grpc_server_handled_total"
    assert value(samples, handled, **rpc("CreateCart", grpc_code="OK")) == 1
    assert value(samples, handled, **rpc("GetCart", grpc_code="OK")) == 1
    assert value(samples, handled, **rpc("GetCart", grpc_code="NOT_FOUND")) == 1
    assert value(samples, "grpc_server_handling_seconds_count", **rpc("GetCart")) == 2
    assert value(samples, "grpc_server_started_total", **rpc("WatchBasket", basket)) == 1
    assert value(samples, handled, **rpc("WatchBasket", basket, grpc_code="OK")) is None  # open
    assert value(samples, "cartservice_watch_streams") == 1
    # Waiting for RabbitMQ: cart.created of CreateCart, the two merges' cart.updated, and
    # CreateBasket's cart.created and basket.created; EventBridge's copies went out.
    assert pending == 5
    age = value(samples, "cartservice_outbox_oldest_pending_age_seconds", destination="rabbitmq")
    assert age is not None and age > 0
    assert value(samples, "cartservice_outbox_pending_events", destination="eventbridge") == 0
    sent = value(
        samples, "cartservice_relay_events_total", destination="eventbridge", outcome="sent"
    )
    away = value(samples, "cartservice_relay_events_total", destination="rabbitmq", outcome="away")
    assert sent is not None and sent >= 2 and away is not None and away >= 1
    assert value(samples, "cartservice_db_connections_in_use") is not None
    grouped = value(samples, "cartservice_group_commit_changes_count")
    assert grouped is not None and grouped >= 1  # CreateCart committed in a group
    assert value(samples, "cartservice_group_commit_reruns_total", reason="changed") is None
    assert value(samples, "cartservice_cart_cache_reads_total", result="miss") == 1
    assert value(samples, "cartservice_cart_cache_reads_total", result="hit") == 1
