"""Outbox relay to RabbitMQ: throughput with publisher confirms, and commit-to-delivery lag.

    .venv/bin/python -m bench.relay [--events 20000] [--rate 500] [--seconds 20] [--producers 2]

1. pika's unconfirmed publish rate on this machine (the ceiling), for the same message bodies.
2. Relay throughput: the outbox is filled with --events events over many carts, then one
   in-process OutboxRelay with the RabbitMqPublisher (confirms, mandatory) drains it.
3. Lag: a producer commits outbox events at a steady --rate per second (each commit wakes the
   relay, as the servicer does); a consumer bound to `ecomm` records when each message arrives.
   Lag = arrival − commit, p50/p99.
Figures go to bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pika
import psycopg
from cartservice.events.v1 import events_pb2 as ev

from server.events.envelopes import dumps, rabbitmq_messages
from server.events.publishers import RabbitMqPublisher
from server.events.relay import OutboxRelay
from server.store.database import create_engine, database_url, session_factory
from server.store.migrate import upgrade_to_head
from server.store.outbox import RABBITMQ, OutboxRepository, outbox_rows
from tests.brokers import RABBITMQ_URL
from tests.conftest import fresh_postgres_database
from tests.servers import RelayProcess

CARTS = 2000


def event(n: int, run: str) -> ev.CartEvent:
    detail = ev.EventDetail(
        timestamp=time.time_ns() // 1_000_000,
        event_type="cartservices/cartitem/create",
        user_id="1",
    )
    detail.payload.delete_cart.response_code = "PRITDEL0000"
    message = ev.InternalMessage(
        routing_key="cartitem.created",
        message_id=f"{run}-{n}",
        cart_payload=ev.CartPayload(
            user_id=1, cart_id=1 + n % CARTS, cart_item_id=n, sku_ids=["sku_001"], cart_type="5506"
        ),
    )
    return ev.CartEvent(
        event_id=str(uuid.uuid4()),
        cart_id=1 + n % CARTS,
        detail_type=detail.event_type,
        detail=detail,
        internal_messages=[message],
    )


class BoundQueue:
    """A queue bound to `ecomm` for cartitem.created with no consumer: both the ceiling and the
    relay's drain publish into it (routed and stored, like a real binding), and no consumer in
    this process competes with the relay for the interpreter."""

    def __init__(self) -> None:
        self._connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))
        self._channel = self._connection.channel()
        self._channel.exchange_declare("ecomm", exchange_type="topic", durable=True)
        self.name = f"bench-relay-{uuid.uuid4().hex[:6]}"
        # Expires when unused for 10 minutes: a bench killed before close() must not leave a
        # queue that collects every cartitem.created of later runs and tests (four such queues,
        # 3.3 million messages, once made this machine's broker several times slower).
        self._channel.queue_declare(self.name, arguments={"x-expires": 600_000})
        self._channel.queue_bind(self.name, "ecomm", routing_key="cartitem.created")

    def depth(self) -> int:
        return int(self._channel.queue_declare(self.name, passive=True).method.message_count)

    def purge(self) -> None:
        self._channel.queue_purge(self.name)

    def close(self) -> None:
        self._channel.queue_delete(self.name)
        self._connection.close()


def unconfirmed_rate(count: int, queue: BoundQueue) -> float:
    connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))
    channel = connection.channel()
    messages = [rabbitmq_messages(event(n, "raw"))[0] for n in range(count)]
    started = time.perf_counter()
    for message in messages:
        channel.basic_publish(
            "ecomm",
            "cartitem.created",
            dumps(message["body"]).encode(),
            pika.BasicProperties(**message["properties"]),
        )
    connection.process_data_events(0)
    elapsed = time.perf_counter() - started
    connection.close()
    while queue.depth() < count:  # all routed (basic_publish returns before the broker has them)
        time.sleep(0.05)
    queue.purge()
    return count / elapsed


class Arrivals(threading.Thread):
    """Consumes `ecomm` (routing key bench.#... and cartitem.created) and stamps each arrival."""

    def __init__(self, prefix: str) -> None:
        super().__init__(daemon=True)
        self.prefix = prefix
        self.arrived: dict[str, float] = {}
        self.stop = threading.Event()
        self.ready = threading.Event()

    def run(self) -> None:
        connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))
        channel = connection.channel()
        queue = channel.queue_declare("", exclusive=True).method.queue
        channel.queue_bind(queue, "ecomm", routing_key="cartitem.created")
        self.ready.set()
        for method, properties, _ in channel.consume(queue, auto_ack=True, inactivity_timeout=0.2):
            if method is not None and properties.message_id.startswith(self.prefix):
                self.arrived[properties.message_id] = time.time()
            if self.stop.is_set():
                break
        connection.close()


async def drain_rate(
    url: str, count: int, queue: BoundQueue, batch_size: int = 1000, workers: int = 2
) -> float:
    engine = create_engine(database_url(url, Path(".")))
    await upgrade_to_head(engine)
    sessions = session_factory(engine)
    run = f"drain-{uuid.uuid4().hex[:6]}"
    for start in range(0, count, 1000):
        async with sessions() as session, session.begin():
            outbox = OutboxRepository(session)
            await outbox.add([event(n, run) for n in range(start, min(start + 1000, count))], 0)
    relay = OutboxRelay(
        sessions,
        {RABBITMQ: RabbitMqPublisher(RABBITMQ_URL)},
        batch_size=batch_size,
        workers=workers,
        poll_interval=0.01,
    )
    stop = asyncio.Event()
    started = time.perf_counter()
    running = asyncio.create_task(relay.run(stop))
    loop = asyncio.get_running_loop()
    # Done when the broker has routed every message into the bound queue (polled: the broker
    # has no event for it).
    while await loop.run_in_executor(None, queue.depth) < count:  # noqa: ASYNC110
        await asyncio.sleep(0.02)
    elapsed = time.perf_counter() - started
    stop.set()
    await running
    await relay.close()
    await engine.dispose()
    queue.purge()
    return count / elapsed


def produce(url: str, run: str, rate: int, seconds: int, out: str, first: int = 0) -> None:
    """In a process of its own: commits outbox events on a fixed schedule, records commit times.

    Plain psycopg with one INSERT per commit (the rows the service would write), so that the
    producer costs little CPU and the relay's lag is what is measured.
    """
    columns = ("event_id", "destination", "cart_id", "event", "created_at", "status",
               "available_at", "attempts")  # fmt: skip
    statement = (
        f"INSERT INTO outbox_events ({', '.join(columns)}) "
        f"VALUES ({', '.join(['%s'] * len(columns))})"
    )
    committed: dict[str, float] = {}
    dsn = database_url(url, Path(".")).set(drivername="postgresql")
    with psycopg.connect(dsn.render_as_string(hide_password=False), autocommit=True) as db:
        started = time.perf_counter()
        for n in range(rate * seconds):
            time.sleep(max(0.0, started + n / rate - time.perf_counter()))
            rows = outbox_rows(event(first + n, run), time.time_ns() // 1_000_000)
            with db.transaction(), db.cursor() as cursor:
                cursor.executemany(statement, [tuple(row[c] for c in columns) for row in rows])
            committed[f"{run}-{first + n}"] = time.time()
        committed["_rate"] = rate * seconds / (time.perf_counter() - started)
    Path(out).write_text(json.dumps(committed))


def lag(
    url: str, rate: int, seconds: int, workdir: Path, producers: int
) -> tuple[float, float, int, int]:
    run = f"lag-{uuid.uuid4().hex[:6]}"
    arrivals = Arrivals(run)
    arrivals.start()
    arrivals.ready.wait()
    relay = RelayProcess.start(
        workdir / "relay", database_url=url,
        extra=("--rabbitmq-url", RABBITMQ_URL, "--relay-poll-interval", "0.2"),  # the default
    )  # fmt: skip
    # Producer processes share the rate (one plain-psycopg process keeps 500 commits/s).
    share = rate // producers
    outs = [workdir / f"committed-{p}.json" for p in range(producers)]
    processes = [
        multiprocessing.Process(
            target=produce, args=(url, run, share, seconds, str(out), p * share * seconds)
        )
        for p, out in enumerate(outs)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    committed: dict[str, float] = {}
    achieved = 0
    for out in outs:
        part = json.loads(out.read_text())
        achieved += int(part.pop("_rate"))
        committed.update(part)
    deadline = time.time() + 30
    while len(arrivals.arrived) < len(committed) and time.time() < deadline:
        time.sleep(0.1)
    arrivals.stop.set()
    relay.stop()
    lags = sorted(
        (arrivals.arrived[k] - committed[k]) * 1000 for k in committed if k in arrivals.arrived
    )
    quantiles = statistics.quantiles(lags, n=100)
    return quantiles[49], quantiles[98], len(lags), achieved


async def _migrate(url: str) -> None:
    engine = create_engine(database_url(url, Path(".")))
    await upgrade_to_head(engine)
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--seconds", type=int, default=20)
    # One producer process commits one event at a time and waits for each commit's disk flush:
    # ~380-450 commits/s on these machines some days, so two share the rate by default.
    parser.add_argument("--producers", type=int, default=2)
    args = parser.parse_args()
    queue = BoundQueue()
    try:
        raw = unconfirmed_rate(args.events, queue)
        print(f"pika unconfirmed publish: {raw:,.0f} messages/s ({args.events} messages)")
        # Each measurement on a fresh database (a drain leaves its EventBridge rows pending).
        for batch, workers in ((1000, 1), (1000, 2), (500, 2)):  # 1000 and 2: the defaults
            with fresh_postgres_database("cartservice_bench") as url:
                drained = asyncio.run(drain_rate(url, args.events, queue, batch, workers))
            share = 100 * drained / raw
            print(
                f"relay with confirms, batch {batch}, {workers} worker(s): "
                f"{drained:,.0f} events/s = {share:.0f} % of unconfirmed"
            )
        with fresh_postgres_database("cartservice_bench") as lag_url:
            asyncio.run(_migrate(lag_url))
            with tempfile.TemporaryDirectory() as workdir:
                p50, p99, delivered, achieved = lag(
                    lag_url, args.rate, args.seconds, Path(workdir), args.producers
                )
        print(
            f"commit-to-delivery at {achieved} commits/s for {args.seconds}s (standalone relay, "
            f"defaults): p50 {p50:.1f} ms, p99 {p99:.1f} ms ({delivered} delivered)"
        )
    finally:
        queue.close()


if __name__ == "__main__":
    main()
