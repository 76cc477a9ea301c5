"""No event lost, none invented: kill -9 in the middle of a run, and a broker outage.

Both runs add items (CreateCartItem) to many carts and follow them by their cartitem.created
messages on RabbitMQ, which name the item. Delivery is at-least-once: a message may come twice,
always with the same message_id.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import psycopg
import pytest

from tests.brokers import (
    AWS,
    RABBITMQ_FLAGS,
    TEST_EXCHANGE,
    EventBridgeStub,
    RabbitConsumer,
    moto_eventbridge,
)
from tests.identities import SERVER_FLAGS
from tests.servers import ServerProcess
from tests.support import CARTS, Shopper, free_port
from tests.tcp_proxy import TcpProxy


def outbox_states(database_url: str, item_ids: set[int]) -> dict[str, int]:
    """How the outbox sees the EventBridge events of these items: status → count (diagnostics)."""
    from cartservice.events.v1 import events_pb2 as ev

    url = database_url.replace("postgresql+psycopg://", "postgresql://")
    states: dict[str, int] = {}
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "SELECT status, attempts, last_error, event FROM outbox_events WHERE destination = 'eventbridge'"
        ).fetchall()
    for status, attempts, error, data in rows:
        event = ev.CartEvent.FromString(data)
        if (
            event.detail.payload.WhichOneof("kind") == "create_cart_item"
            and event.detail.payload.create_cart_item.items[0].id in item_ids
        ):
            key = f"{status} after {attempts} attempts ({error})"
            states[key] = states.get(key, 0) + 1
    return states


def delivered_items(
    consumer: RabbitConsumer, shopper: Shopper, expected: set[int], timeout: float = 90
) -> dict[int, set[str]]:
    """cartItemId → the message_ids it was delivered under, once every expected item arrived."""
    carts = set(shopper.carts)
    seen: dict[int, set[str]] = {}
    deadline = time.monotonic() + timeout
    while not expected <= seen.keys() and time.monotonic() < deadline:
        for key, properties, body in consumer.receive(
            lambda b: b["cartId"] in carts, expected=1, timeout=1
        ):
            if key == "cartitem.created":
                seen.setdefault(body["cartItemId"], set()).add(properties.message_id)
    return seen


@pytest.mark.slow
def test_kill_9_mid_run_loses_no_acknowledged_event_and_invents_none(
    postgres_url: str, tmp_path: Path
) -> None:
    port = free_port()
    flags = (*SERVER_FLAGS, "--port", str(port), *RABBITMQ_FLAGS)
    consumer = RabbitConsumer()
    server = ServerProcess.start(tmp_path, database_url=postgres_url, extra=flags)
    shopper = Shopper(server.address)
    try:
        with ThreadPoolExecutor(8) as pool:
            running = [pool.submit(shopper.add_item, n) for n in range(500)]
            while sum(f.done() for f in running) < 300:
                time.sleep(0.01)
            os.kill(server.process.pid, signal.SIGKILL)  # mid-run: calls in flight, rows unsent
            server.process.wait()
            for f in running:
                f.result()
        killed_at = len(shopper.acknowledged)
        server = ServerProcess.start(tmp_path, database_url=postgres_url, extra=flags)
        grpc.channel_ready_future(shopper.channel).result(timeout=30)  # reconnect, as clients do
        shopper.run(range(500, 1300))

        stored = shopper.stored_items()
        delivered = delivered_items(consumer, shopper, stored)
    finally:
        server.stop()
        consumer.close()
    redelivered = sum(1 for ids in delivered.values() if len(ids) > 1)
    print(
        f"kill -9: acknowledged {len(shopper.acknowledged)} (killed after {killed_at}), failed {shopper.failures}, stored {len(stored)}, delivered {len(delivered)}, distinct message ids per item max {max(map(len, delivered.values()))}, redelivered {redelivered}"
    )
    assert 300 <= killed_at < 500 and len(shopper.acknowledged) >= 1000
    assert shopper.acknowledged <= stored
    # Every committed item has its event; no event names an item that was never committed.
    assert delivered.keys() == stored
    # Redeliveries after the crash carry the original message_id, so consumers can drop them.
    assert all(len(ids) == 1 for ids in delivered.values())


@pytest.fixture(scope="module")
def eventbridge() -> Iterator[EventBridgeStub]:
    yield from moto_eventbridge()


@pytest.mark.slow
def test_broker_outage_delays_events_and_loses_none(
    postgres_url: str, tmp_path: Path, eventbridge: EventBridgeStub
) -> None:
    rabbit = TcpProxy("127.0.0.1", 5672)
    moto_host, moto_port = eventbridge.endpoint_url.removeprefix("http://").split(":")
    aws = TcpProxy(moto_host, int(moto_port))
    flags = (
        *SERVER_FLAGS, "--rabbitmq-url", f"amqp://guest:guest@127.0.0.1:{rabbit.port}/%2F",
        "--rabbitmq-exchange", TEST_EXCHANGE,
        "--eventbridge-bus", eventbridge.bus, "--eventbridge-endpoint-url", f"http://127.0.0.1:{aws.port}",
    )  # fmt: skip
    consumer = RabbitConsumer()
    server = ServerProcess.start(tmp_path, database_url=postgres_url, extra=flags, env=AWS)
    shopper = Shopper(server.address)
    try:
        shopper.run(range(0, 150))
        rabbit.cut()
        aws.cut()
        shopper.run(range(150, 300))  # RPCs keep succeeding; their events wait in the outbox
        time.sleep(1.5)
        rabbit.restore()
        aws.restore()
        shopper.run(range(300, 400))
        delivered = delivered_items(consumer, shopper, shopper.acknowledged)
        envelopes = eventbridge.receive(
            lambda e: (
                e["detail-type"] == "cartservices/cartitem/create"
                and e["detail"]["payload"]["items"][0]["id"] in shopper.acknowledged
            ),
            expected=400,
            timeout=90,
        )
        log = server.log()
    finally:
        server.stop()
        consumer.close()
        rabbit.close()
        aws.close()
    print(
        f"outage: acknowledged {len(shopper.acknowledged)}, failed calls {shopper.failures}, RabbitMQ delivered {len(delivered)}, EventBridge delivered {len(envelopes)} (+{eventbridge.redelivered} redelivered)"
    )
    assert shopper.failures == 0 and len(shopper.acknowledged) == 400
    assert "rabbitmq unreachable" in log and "eventbridge unreachable" in log  # felt by the relay
    assert shopper.acknowledged <= delivered.keys(), (
        f"lost on RabbitMQ: {len(shopper.acknowledged - delivered.keys())}"
    )
    eventbridge_items = {e["detail"]["payload"]["items"][0]["id"] for e in envelopes}
    missing = shopper.acknowledged - eventbridge_items
    twice = {
        i
        for i in eventbridge_items
        if sum(1 for e in envelopes if e["detail"]["payload"]["items"][0]["id"] == i) > 1
    }
    assert not missing, (
        f"not received from EventBridge: {len(missing)}; items under two event ids: {len(twice)}; outbox: {outbox_states(postgres_url, missing)}; sample: {[(e['resources'], e['detail']['payload']['items'][0]['id']) for e in envelopes if e['detail']['payload']['items'][0]['id'] in list(twice)[:2]]}"
    )


@pytest.mark.slow
def test_the_backlog_drains_within_seconds_of_the_broker_coming_back(
    postgres_url: str, tmp_path: Path
) -> None:
    """A 10 s cut: every cart's oldest event was refused many times, so a per-event backoff
    alone (up to 30 s) would hold the backlog long after the broker is back."""
    rabbit = TcpProxy("127.0.0.1", 5672)
    flags = (
        *SERVER_FLAGS, "--rabbitmq-url", f"amqp://guest:guest@127.0.0.1:{rabbit.port}/%2F",
        "--rabbitmq-exchange", TEST_EXCHANGE,
    )  # fmt: skip
    consumer = RabbitConsumer()
    server = ServerProcess.start(tmp_path, database_url=postgres_url, extra=flags)
    shopper = Shopper(server.address)
    try:
        consumer.receive(lambda b: b["cartId"] in shopper.carts, expected=CARTS)  # cart.created
        rabbit.cut()
        calls, cut_ends = 0, time.monotonic() + 10
        while time.monotonic() < cut_ends:
            shopper.run(range(calls, calls + CARTS))
            calls += CARTS
            time.sleep(0.5)
        rabbit.restore()
        restored = time.monotonic()
        first = delivered_items(consumer, shopper, {min(shopper.acknowledged)}, timeout=10)
        started_after = time.monotonic() - restored
        rest = delivered_items(consumer, shopper, shopper.acknowledged - first.keys(), timeout=30)
        drained_after = time.monotonic() - restored
        log = server.log()
    finally:
        server.stop()
        consumer.close()
        rabbit.close()
    print(f"recovery: {calls} events waited; draining began {started_after:.2f} s and ended "
          f"{drained_after:.2f} s after the broker came back")  # fmt: skip
    assert shopper.failures == 0 and len(shopper.acknowledged) == calls
    assert shopper.acknowledged <= first.keys() | rest.keys()
    assert started_after < 2.0
    assert drained_after < 5.0
    assert "rabbitmq unreachable" in log
