"""The relay's rules beyond a single happy path: several relays at once, per-entry EventBridge
failures, pruning."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pika
import pytest
from botocore.stub import Stubber
from cartservice.events.v1 import events_pb2 as ev
from sqlalchemy import func, select

from server.events.catalog import EXCHANGE
from server.events.publishers import (
    SENT,
    EventBridgePublisher,
    Outcome,
    RabbitMqPublisher,
    away,
)
from server.events.relay import OutboxRelay
from server.store.database import create_engine, database_url, session_factory
from server.store.migrate import upgrade_to_head
from server.store.outbox import RABBITMQ, OutboxRepository
from server.store.tables import outbox_events
from tests.brokers import RABBITMQ_FLAGS, RABBITMQ_URL, TEST_EXCHANGE, RabbitConsumer
from tests.conftest import fresh_postgres_database
from tests.identities import SERVER_FLAGS
from tests.servers import RelayProcess, ServerProcess
from tests.support import Shopper


@pytest.mark.slow
def test_two_standalone_relays_share_the_work_once_each_in_commit_order_per_cart(
    postgres_url: str, tmp_path: Path
) -> None:
    consumer = RabbitConsumer()
    server = ServerProcess.start(
        tmp_path / "server",
        database_url=postgres_url,
        extra=(*SERVER_FLAGS, "--relay", "off", *RABBITMQ_FLAGS),
    )
    relays = [
        RelayProcess.start(
            tmp_path / f"relay{n}",
            database_url=postgres_url,
            extra=RABBITMQ_FLAGS,
        )
        for n in range(2)
    ]
    try:
        shopper = Shopper(server.address)
        shopper.run(range(400))
        order: dict[int, list[int]] = {}
        carts = set(shopper.carts)
        seen = delivered_items_in_order(consumer, carts, shopper.acknowledged, order)
    finally:
        for relay in relays:
            relay.stop()
        server.stop()
        consumer.close()
    logs = [relay.log_path.read_text() for relay in relays]
    assert seen == shopper.acknowledged and len(shopper.acknowledged) == 400
    assert sum(len(items) for items in order.values()) == 400  # each event published once
    assert all(items == sorted(items) for items in order.values())  # commit order per cart
    assert all("Traceback" not in log for log in logs)


def delivered_items_in_order(
    consumer: RabbitConsumer, carts: set[int], expected: set[int], order: dict[int, list[int]]
) -> set[int]:
    deadline = time.monotonic() + 60
    seen: set[int] = set()
    while not expected <= seen and time.monotonic() < deadline:
        for key, _, body in consumer.receive(lambda b: b["cartId"] in carts, expected=1, timeout=1):
            if key == "cartitem.created":
                order.setdefault(body["cartId"], []).append(body["cartItemId"])
                seen.add(body["cartItemId"])
    time.sleep(0.5)  # anything published twice would arrive now
    for key, _, body in consumer.receive(
        lambda b: b["cartId"] in carts, expected=10**6, timeout=0.5
    ):
        if key == "cartitem.created":
            order.setdefault(body["cartId"], []).append(body["cartItemId"])
    return seen


def _event(n: int) -> ev.CartEvent:
    detail = ev.EventDetail(
        timestamp=1_715_235_066_029, event_type="cartservices/cart/create", user_id="1"
    )
    detail.payload.delete_cart.response_code = "PRCRDEL0000"
    return ev.CartEvent(
        event_id=f"00000000-0000-0000-0000-{n:012d}",
        cart_id=n,
        detail_type=detail.event_type,
        detail=detail,
    )


def test_eventbridge_per_entry_failures_are_retried_and_the_rest_sent() -> None:
    publisher = EventBridgePublisher("carts", "us-east-1", "http://127.0.0.1:1")
    client = publisher._client
    with Stubber(client) as stub:
        stub.add_response(
            "put_events",
            {
                "FailedEntryCount": 1,
                "Entries": [
                    {"EventId": "a"},
                    {"ErrorCode": "ThrottlingException", "ErrorMessage": "slow down"},
                    {"EventId": "c"},
                ],
            },
        )
        outcomes = asyncio.run(publisher.publish([_event(1), _event(2), _event(3)]))
    assert [o.status for o in outcomes] == ["sent", "retry", "sent"]
    assert outcomes[1].error and "ThrottlingException" in outcomes[1].error


def test_eventbridge_batches_at_most_ten_entries_a_call() -> None:
    publisher = EventBridgePublisher("carts", "us-east-1", "http://127.0.0.1:1")
    with Stubber(publisher._client) as stub:
        for size in (10, 10, 3):
            stub.add_response(
                "put_events",
                {"FailedEntryCount": 0, "Entries": [{"EventId": str(n)} for n in range(size)]},
            )
        outcomes = asyncio.run(publisher.publish([_event(n) for n in range(23)]))
        stub.assert_no_pending_responses()
    assert [o.status for o in outcomes] == ["sent"] * 23


def test_sent_rows_are_pruned_after_the_retention_and_pending_ones_never(postgres_url: str) -> None:
    async def scenario() -> list[tuple[int, str]]:

        engine = create_engine(database_url(postgres_url, Path(".")))
        await upgrade_to_head(engine)  # also when this test runs first
        sessions = session_factory(engine)
        async with sessions() as session, session.begin():
            outbox = OutboxRepository(session)
            for n, created in ((1, 1_000), (2, 2_000), (3, 3_000)):
                await outbox.add([_event(900_000_000 + n)], created)
            rows = (
                (
                    await session.execute(
                        select(outbox_events.c.sequence)
                        .where(outbox_events.c.cart_id > 900_000_000)
                        .order_by(outbox_events.c.sequence)
                    )
                )
                .scalars()
                .all()
            )
            assert len(rows) == 3  # no internal messages: one row each, for EventBridge
            await outbox.finish(rows[:1], "sent", 1_500)  # sent long ago
            await outbox.finish(rows[1:2], "sent", 10_000_000)  # sent recently
            pruned = await outbox.prune(sent_before_ms=5_000)
            left = (
                await session.execute(
                    select(outbox_events.c.cart_id, outbox_events.c.status)
                    .where(outbox_events.c.cart_id > 900_000_000)
                    .order_by(outbox_events.c.sequence)
                )
            ).all()
            await session.rollback()
        await engine.dispose()
        assert pruned == 1
        return [(int(c), str(s)) for c, s in left]

    left = asyncio.run(scenario())
    assert left == [(900_000_002, "sent"), (900_000_003, "pending")]


def test_a_standalone_relay_is_woken_by_a_commit_in_another_process(
    postgres_url: str, tmp_path: Path
) -> None:
    # It polls only every 60 s: delivery within seconds means the commit's NOTIFY woke it.
    consumer = RabbitConsumer()
    server = ServerProcess.start(
        tmp_path / "server",
        database_url=postgres_url,
        extra=(*SERVER_FLAGS, "--relay", "off", *RABBITMQ_FLAGS),
    )
    relay = RelayProcess.start(
        tmp_path / "relay",
        database_url=postgres_url,
        extra=(*RABBITMQ_FLAGS, "--relay-poll-interval", "60"),
    )
    try:
        time.sleep(1.5)  # the relay's first round (at start) is over; now it would sleep 60 s
        shopper = Shopper(server.address)
        started = time.monotonic()
        shopper.run(range(3))
        carts = set(shopper.carts)
        received = consumer.receive(lambda b: b["cartId"] in carts, expected=3, timeout=10)
        elapsed = time.monotonic() - started
    finally:
        relay.stop()
        server.stop()
        consumer.close()
    assert len(received) >= 3 and elapsed < 10


class CountingPublisher:
    """Wraps a real publisher to see which worker of the relay published what."""

    def __init__(self, inner: Any, counts: list[int]) -> None:
        self._inner, self._counts, self._index = inner, counts, len(counts)
        counts.append(0)

    async def publish(self, events: Any) -> Any:
        self._counts[self._index] += len(events)
        return await self._inner.publish(events)

    def another(self) -> CountingPublisher:
        return CountingPublisher(self._inner.another(), self._counts)

    async def close(self) -> None:
        await self._inner.close()


@pytest.mark.slow
def test_helpers_drain_a_backlog_with_the_loop_once_each_in_commit_order_per_cart() -> None:
    carts, per_cart = 30, 20
    consumer = RabbitConsumer()
    counts: list[int] = []

    async def scenario(url: str) -> None:
        engine = create_engine(database_url(url, Path(".")))
        await upgrade_to_head(engine)
        sessions = session_factory(engine)
        async with sessions() as session, session.begin():
            outbox = OutboxRepository(session)
            await outbox.add(
                [_item_created(cart_id=1 + n % carts, item_id=n) for n in range(carts * per_cart)],
                0,
            )
        publisher = CountingPublisher(RabbitMqPublisher(RABBITMQ_URL, TEST_EXCHANGE), counts)
        # Batches of 10 over 600 rows: the loop's rounds come back full, so the helpers join in.
        relay = OutboxRelay(
            sessions, {RABBITMQ: publisher}, batch_size=10, workers=3, poll_interval=0.05
        )
        stop = asyncio.Event()
        running = asyncio.create_task(relay.run(stop))
        publish_foreign_messages()  # what other programs send to `ecomm` meanwhile
        async with sessions() as session:
            query = select(func.count()).where(
                outbox_events.c.destination == RABBITMQ, outbox_events.c.status == "pending"
            )
            deadline = time.monotonic() + 60
            while (await session.scalar(query)) and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
                await session.rollback()
        stop.set()
        await running
        await relay.close()
        await engine.dispose()

    with fresh_postgres_database() as url:
        asyncio.run(scenario(url))
    try:
        received = consumer.receive(lambda b: b["cartItemId"] < 10**6, carts * per_cart + 1, 5)
    finally:
        consumer.close()
    order: dict[int, list[int]] = {}
    for _, _, body in received:
        order.setdefault(body["cartId"], []).append(body["cartItemId"])
    assert len(received) == carts * per_cart  # each event once
    assert all(items == sorted(items) for items in order.values())  # commit order per cart
    assert len(counts) == 3 and sum(counts) == carts * per_cart
    assert sum(1 for count in counts if count) >= 2  # helpers took part


def _item_created(cart_id: int, item_id: int) -> ev.CartEvent:
    event = _event(item_id)
    event.cart_id = cart_id
    event.internal_messages.append(
        ev.InternalMessage(
            routing_key="cartitem.created",
            message_id=event.event_id,
            cart_payload=ev.CartPayload(user_id=1, cart_id=cart_id, cart_item_id=item_id),
        )
    )
    return event


def publish_foreign_messages() -> None:
    """Messages shaped like this run's, sent where other programs on the machine send theirs."""
    connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))
    try:
        channel = connection.channel()
        channel.exchange_declare(EXCHANGE, exchange_type="topic", durable=True)
        for n in range(3):
            body = json.dumps({"cartId": 1, "cartItemId": n, "userId": 1, "skuIds": ["x"]})
            channel.basic_publish(EXCHANGE, "cartitem.created", body.encode())
            channel.basic_publish(EXCHANGE, "basket.updated", b'{"basketId": "foreign"}')
    finally:
        connection.close()


def test_internal_messages_go_to_ecomm_unless_another_exchange_is_set(tmp_path: Path) -> None:
    from server.config import Settings
    from server.events.setup import publishers

    assert Settings().rabbitmq_exchange == EXCHANGE == "ecomm"
    settings = Settings(data_dir=tmp_path, rabbitmq_exchange="orders")
    sink = publishers(settings)[RABBITMQ]
    asyncio.run(sink.publish([_item_created(cart_id=5, item_id=6)]))
    [line] = settings.events_path().read_text().splitlines()
    assert json.loads(line)["exchange"] == "orders"


def test_a_server_without_a_broker_leaves_the_outbox_to_the_server_that_has_one(
    tmp_path: Path,
) -> None:
    """Two servers on one PostgreSQL: A publishes to RabbitMQ (and EventBridge events to its
    file), B has no destination configured. Calls to both; everything reaches A's destinations
    once, and B takes nothing."""
    with fresh_postgres_database() as url:
        consumer = RabbitConsumer()
        a = ServerProcess.start(
            tmp_path / "a", database_url=url, extra=(*SERVER_FLAGS, *RABBITMQ_FLAGS)
        )
        b = ServerProcess.start(
            tmp_path / "b", database_url=url, extra=SERVER_FLAGS, events_to_file=False
        )
        try:
            shoppers = [Shopper(a.address), Shopper(b.address)]
            for shopper in shoppers:
                shopper.run(range(20))
            carts = {cart for shopper in shoppers for cart in shopper.carts}
            # One cart.created per cart, one cartitem.created per call.
            expected = len(carts) + 40
            received = consumer.receive(lambda body: body["cartId"] in carts, expected=expected)
            time.sleep(1)  # time for a stray copy to show up
            received += consumer.receive(
                lambda body: body["cartId"] in carts, expected=1, timeout=0.5
            )
            pending = _outbox_statuses(url)
        finally:
            b.stop()
            a.stop()
            consumer.close()
    assert len(received) == expected
    assert pending == {"sent": 2 * expected}  # EventBridge's copies went to A's file
    assert not b.events_file.exists()
    assert "eventbridge and rabbitmq left to other relays" in b.log_path.read_text()
    eventbridge_lines = [
        line for line in a.events_file.read_text().splitlines() if '"detail-type"' in line
    ]
    assert len(eventbridge_lines) == expected


def _outbox_statuses(url: str) -> dict[str, int]:
    async def count() -> dict[str, int]:
        engine = create_engine(database_url(url, Path(".")))
        try:
            async with engine.connect() as connection:
                rows = await connection.execute(
                    select(outbox_events.c.status, func.count()).group_by(outbox_events.c.status)
                )
                return {status: n for status, n in rows}
        finally:
            await engine.dispose()

    return asyncio.run(count())


class UnreachableFor:
    """A destination that refuses the first `refusals` calls as unreachable, then takes all."""

    def __init__(self, refusals: int) -> None:
        self.refusals = refusals
        self.calls: list[int] = []  # events per call
        self.refused_thrice = asyncio.Event()

    async def publish(self, events: Any) -> list[Outcome]:
        self.calls.append(len(events))
        if len(self.calls) == 3:
            self.refused_thrice.set()
        if len(self.calls) <= self.refusals:
            return [away("connection refused")] * len(events)
        return [SENT] * len(events)

    def another(self) -> UnreachableFor:
        return self

    async def close(self) -> None:
        pass


def test_an_unreachable_destination_is_probed_with_one_event_and_its_events_keep_no_backoff(
    tmp_path: Path,
) -> None:
    publisher = UnreachableFor(refusals=4)

    async def scenario() -> tuple[list[tuple[str, int, int]], list[tuple[str, int, int]]]:
        engine = create_engine(database_url("", tmp_path))
        await upgrade_to_head(engine)
        sessions = session_factory(engine)
        async with sessions() as session, session.begin():
            await OutboxRepository(session).add([_item_created(1 + n % 5, n) for n in range(20)], 0)
        relay = OutboxRelay(sessions, {RABBITMQ: publisher}, batch_size=100, poll_interval=0.05)
        columns = select(
            outbox_events.c.status, outbox_events.c.attempts, outbox_events.c.available_at
        ).where(outbox_events.c.destination == RABBITMQ)
        stop = asyncio.Event()
        running = asyncio.create_task(relay.run(stop))
        await asyncio.wait_for(publisher.refused_thrice.wait(), 10)
        async with sessions() as session:
            while_away = [tuple(row) for row in await session.execute(columns)]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            async with sessions() as session:
                after = [tuple(row) for row in await session.execute(columns)]
            if all(status == "sent" for status, _, _ in after):
                break
        stop.set()
        await running
        await relay.close()
        await engine.dispose()
        return while_away, after

    while_away, after = asyncio.run(scenario())
    assert publisher.calls[0] == 5  # a full round (the head of each cart) found it away ...
    assert publisher.calls[1:4] == [1, 1, 1]  # ... then one event at a time until it answered
    assert {(status, attempts) for status, attempts, _ in while_away} == {("pending", 0)}
    assert max(available for _, _, available in while_away) <= 1  # no backoff was set
    assert {status for status, _, _ in after} == {"sent"}
