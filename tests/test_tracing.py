"""Traces: the caller's trace continues into the server span, the event stored with the change
carries it, the relay's publish span links to it and the RabbitMQ message has it as a header."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import grpc
from cartservice.cart.v1 import cart_service_pb2 as pb
from cartservice.cart.v1.cart_service_pb2_grpc import CartServiceStub

from tests.brokers import RABBITMQ_FLAGS, RabbitConsumer
from tests.conftest import fresh_postgres_database
from tests.identities import SERVER_FLAGS, as_caller
from tests.servers import ServerProcess

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


def spans(path: Path, expected: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 15
    while True:
        found = (
            [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
        )
        if len(found) >= expected or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_a_change_is_traced_from_the_call_to_the_published_message(tmp_path: Path) -> None:
    # A database of its own: the relay publishes only this test's event, not what other tests
    # left pending in the run's shared database.
    with fresh_postgres_database() as url:
        traced_change(tmp_path, url)


def traced_change(tmp_path: Path, database_url: str) -> None:
    trace_file = tmp_path / "spans.jsonl"
    consumer = RabbitConsumer()
    server = ServerProcess.start(
        tmp_path,
        database_url=database_url,
        extra=(*SERVER_FLAGS, *RABBITMQ_FLAGS, "--trace-file", str(trace_file)),
    )
    try:
        with grpc.insecure_channel(server.address) as channel:
            traced = (*as_caller("7"), ("traceparent", f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"))
            cart = CartServiceStub(channel).CreateCart(pb.CreateCartRequest(), metadata=traced)
            cart_id = cart.carts[0].id
        [(key, properties, body)] = consumer.receive(lambda b: b["cartId"] == cart_id, 1)
        found = spans(
            trace_file, expected=4
        )  # the call, its round trips, a publish per destination
    finally:
        server.stop()
        consumer.close()

    [call] = [s for s in found if s["name"].endswith("CartService/CreateCart")]
    assert (call["kind"], call["trace_id"], call["parent_span_id"]) == (
        "SERVER",
        CALLER_TRACE,
        CALLER_SPAN,
    )
    round_trips = [
        s["attributes"]["db.statement"]
        for s in found
        if s["name"] == "postgresql round trip" and s["parent_span_id"] == call["span_id"]
    ]
    assert any("INSERT INTO outbox_events" in statements for statements in round_trips)
    publishes = {s["name"]: s for s in found if s["name"].startswith("publish ")}
    assert set(publishes) == {"publish eventbridge", "publish rabbitmq"}
    for publish in publishes.values():
        assert publish["kind"] == "PRODUCER"
        assert {"trace_id": CALLER_TRACE, "span_id": call["span_id"]} in publish["links"]
    assert key == "cart.created"
    assert properties.headers == {"traceparent": f"00-{CALLER_TRACE}-{call['span_id']}-01"}
    assert "traceparent" not in json.dumps(body)  # the seed's body is unchanged
