"""Where the relay sends events: EventBridge (boto3), RabbitMQ (pika, publisher confirms), or a
local JSON-lines file for the embedded default.

A publisher answers each event with an Outcome; it never raises for a delivery problem. boto3
and pika block, so each remote publisher runs on one thread of its own.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import boto3
import pika
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from cartservice.events.v1 import events_pb2 as ev
from pika.exceptions import AMQPError, NackError, UnroutableError

from server.events.catalog import EXCHANGE, SOURCE
from server.events.envelopes import (
    dumps,
    event_detail,
    event_urn,
    eventbridge_envelope,
    rabbitmq_messages,
)

log = logging.getLogger(__name__)

EVENTBRIDGE_ENTRY_LIMIT = 256 * 1024
EVENTBRIDGE_BATCH = 10


@dataclass(frozen=True)
class Outcome:
    # sent | unroutable | dead | retry
    status: str
    error: str | None = None


SENT = Outcome("sent")


def retry(error: str) -> Outcome:
    return Outcome("retry", error)


class Publisher(Protocol):
    async def publish(self, events: Sequence[ev.CartEvent]) -> list[Outcome]: ...

    async def close(self) -> None: ...


class _OnOwnThread:
    """Runs a blocking client on one dedicated thread (pika connections are not thread-safe)."""

    def __init__(self, name: str) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)

    async def _run(self, function: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    async def close(self) -> None:
        await self._run(self._close)
        self._executor.shutdown(wait=True)

    def _close(self) -> None:
        pass


class JsonLinesSink:
    """Appends what a destination would receive to a file, one JSON document a line."""

    def __init__(self, path: Path, destination: str, region: str) -> None:
        self._path = path
        self._destination = destination
        self._region = region
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)

    async def publish(self, events: Sequence[ev.CartEvent]) -> list[Outcome]:
        lines = [dumps(document) + "\n" for event in events for document in self._documents(event)]
        with self._lock, self._path.open("a", encoding="utf-8") as sink:
            sink.writelines(lines)
        return [SENT] * len(events)

    def _documents(self, event: ev.CartEvent) -> list[dict[str, Any]]:
        if self._destination == "eventbridge":
            return [eventbridge_envelope(event, region=self._region)]
        return rabbitmq_messages(event)

    async def close(self) -> None:
        pass


class EventBridgePublisher(_OnOwnThread):
    def __init__(self, bus_name: str, region: str, endpoint_url: str = "") -> None:
        super().__init__("eventbridge")
        self._bus = bus_name
        # The relay retries with backoff itself; botocore's own retries would only delay it.
        config = Config(retries={"max_attempts": 1}, connect_timeout=3, read_timeout=10)
        self._client = boto3.client(
            "events", region_name=region, endpoint_url=endpoint_url or None, config=config
        )

    async def publish(self, events: Sequence[ev.CartEvent]) -> list[Outcome]:
        outcomes: list[Outcome] = await self._run(self._publish, list(events))
        return outcomes

    def _publish(self, events: list[ev.CartEvent]) -> list[Outcome]:
        outcomes: list[Outcome] = [SENT] * len(events)
        entries: list[tuple[int, dict[str, Any]]] = []
        for index, event in enumerate(events):
            entry = self._entry(event)
            if _entry_size(entry) > EVENTBRIDGE_ENTRY_LIMIT:
                outcomes[index] = Outcome("dead", "larger than EventBridge's 256 KB entry limit")
            else:
                entries.append((index, entry))
        for batch in _chunks(entries, EVENTBRIDGE_BATCH):
            for index, outcome in zip([i for i, _ in batch], self._put(batch), strict=True):
                outcomes[index] = outcome
        return outcomes

    def _put(self, batch: list[tuple[int, dict[str, Any]]]) -> list[Outcome]:
        try:
            answer = self._client.put_events(Entries=[entry for _, entry in batch])
        except (BotoCoreError, ClientError) as error:
            return [retry(f"put_events: {error}")] * len(batch)
        return [
            retry(f"{result['ErrorCode']}: {result.get('ErrorMessage', '')}")
            if result.get("ErrorCode")
            else SENT
            for result in answer["Entries"]
        ]

    def _entry(self, event: ev.CartEvent) -> dict[str, Any]:
        return {
            "Source": SOURCE,
            "DetailType": event.detail_type,
            "Detail": dumps(event_detail(event)),
            "Resources": [event_urn(event)],
            "Time": datetime.fromtimestamp(event.detail.timestamp / 1000, UTC),
            "EventBusName": self._bus,
        }


class RabbitMqPublisher(_OnOwnThread):
    """Publishes to the durable topic exchange with publisher confirms and the mandatory flag."""

    def __init__(self, url: str, exchange: str = EXCHANGE) -> None:
        super().__init__("rabbitmq")
        self._parameters = pika.URLParameters(url)
        self._exchange = exchange
        self._connection: Any = None
        self._channel: Any = None

    async def publish(self, events: Sequence[ev.CartEvent]) -> list[Outcome]:
        outcomes: list[Outcome] = await self._run(self._publish, list(events))
        return outcomes

    def _publish(self, events: list[ev.CartEvent]) -> list[Outcome]:
        try:
            return [self._publish_event(event) for event in events]
        except AMQPError as error:
            # The connection broke mid-batch: what went out may go out again (at-least-once,
            # with stable message ids); everything is retried.
            self._drop_connection()
            return [retry(f"rabbitmq: {error.__class__.__name__}: {error}")] * len(events)

    def _publish_event(self, event: ev.CartEvent) -> Outcome:
        outcome = SENT
        for message in rabbitmq_messages(event):
            properties = pika.BasicProperties(**message["properties"])
            try:
                self._open_channel().basic_publish(
                    self._exchange,
                    message["routing_key"],
                    dumps(message["body"]).encode(),
                    properties,
                    mandatory=True,
                )
            except UnroutableError:
                log.warning(
                    "no queue is bound for %s (message %s): the broker returned it",
                    message["routing_key"],
                    message["properties"]["message_id"],
                )
                outcome = Outcome("unroutable", f"no queue bound for {message['routing_key']}")
            except NackError:
                return retry("the broker nacked the message")
        return outcome

    def _open_channel(self) -> Any:
        if self._channel is None or self._channel.is_closed:
            if self._connection is None or self._connection.is_closed:
                self._connection = pika.BlockingConnection(self._parameters)
            self._channel = self._connection.channel()
            self._channel.exchange_declare(self._exchange, exchange_type="topic", durable=True)
            self._channel.confirm_delivery()
        return self._channel

    def _drop_connection(self) -> None:
        try:
            if self._connection is not None and self._connection.is_open:
                self._connection.close()
        except Exception:
            pass
        self._connection = self._channel = None

    def _close(self) -> None:
        self._drop_connection()


def _entry_size(entry: dict[str, Any]) -> int:
    parts = [entry["Source"], entry["DetailType"], entry["Detail"], *entry["Resources"]]
    return sum(len(part.encode()) for part in parts) + 14  # + the Time stamp


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
