"""Where the relay sends events: EventBridge (boto3), RabbitMQ (pika, publisher confirms), or a
local JSON-lines file for the embedded default.

A publisher answers each event with an Outcome; it never raises for a delivery problem. boto3
blocks, so the EventBridge publisher runs on a thread of its own; pika runs on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import boto3
import pika
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from cartservice.events.v1 import events_pb2 as ev
from pika.adapters.asyncio_connection import AsyncioConnection

from server.events.catalog import EXCHANGE, SOURCE
from server.events.envelopes import (
    body_json,
    dumps,
    event_detail,
    event_urn,
    eventbridge_envelope,
    rabbitmq_messages,
)

log = logging.getLogger(__name__)

# Characters JSON allows raw in strings but many line readers (str.splitlines, editors) take for
# line breaks; escaped, each event stays on its own line.
LINE_BREAKS_IN_JSON = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def _one_line(json_text: str) -> str:
    return json_text.translate(LINE_BREAKS_IN_JSON)


EVENTBRIDGE_ENTRY_LIMIT = 256 * 1024
EVENTBRIDGE_BATCH = 10


@dataclass(frozen=True)
class Outcome:
    # sent | unroutable | dead | retry (this event, later) | away (the destination is unreachable)
    status: str
    error: str | None = None


SENT = Outcome("sent")


def retry(error: str) -> Outcome:
    return Outcome("retry", error)


def away(error: str) -> Outcome:
    """Nothing wrong with the event: the destination could not be reached or refused the call."""
    return Outcome("away", error)


class Publisher(Protocol):
    async def publish(self, events: Sequence[ev.CartEvent]) -> list[Outcome]: ...

    def another(self) -> Publisher:
        """A publisher to the same destination for a concurrent relay worker (own connection)."""
        ...

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

    def __init__(self, path: Path, destination: str, region: str, exchange: str = EXCHANGE) -> None:
        self._path = path
        self._exchange = exchange
        self._destination = destination
        self._region = region
        self._lock = threading.Lock()
        self._fd: int | None = None
        path.parent.mkdir(parents=True, exist_ok=True)

    async def publish(self, events: Sequence[ev.CartEvent]) -> list[Outcome]:
        data = "".join(
            _one_line(dumps(document)) + "\n"
            for event in events
            for document in self._documents(event)
        ).encode()
        with self._lock:
            # Kept open (opening the file for each round cost more than writing it), and one
            # append per batch: writes with O_APPEND never interleave with the other
            # destination's, which appends to the same file.
            if self._fd is None:
                self._fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            written = 0
            while written < len(data):
                written += os.write(self._fd, data[written:])
        return [SENT] * len(events)

    def another(self) -> Publisher:
        return self  # each publish appends under the lock without awaiting: workers can share it

    def _documents(self, event: ev.CartEvent) -> list[dict[str, Any]]:
        if self._destination == "eventbridge":
            return [eventbridge_envelope(event, region=self._region)]
        return rabbitmq_messages(event, self._exchange)

    async def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


class EventBridgePublisher(_OnOwnThread):
    def __init__(self, bus_name: str, region: str, endpoint_url: str = "") -> None:
        super().__init__("eventbridge")
        self._bus = bus_name
        self._settings = (bus_name, region, endpoint_url)
        # The relay retries with backoff itself; botocore's own retries would only delay it.
        config = Config(retries={"max_attempts": 1}, connect_timeout=3, read_timeout=10)
        self._client = boto3.client(
            "events", region_name=region, endpoint_url=endpoint_url or None, config=config
        )

    async def publish(self, events: Sequence[ev.CartEvent]) -> list[Outcome]:
        outcomes: list[Outcome] = await self._run(self._publish, list(events))
        return outcomes

    def another(self) -> Publisher:
        return EventBridgePublisher(*self._settings)

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
            return [away(f"put_events: {error}")] * len(batch)
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


class LinkFailure(Exception):
    """The connection to RabbitMQ failed or broke; what was in flight is to be retried."""


@dataclass
class _Batch:
    done: asyncio.Future[None]
    # Per message: "ack", "nack" or "returned" (unroutable; the broker still acks it afterwards).
    results: list[str] = field(default_factory=list)
    by_tag: dict[int, int] = field(default_factory=dict)
    by_message_id: dict[str, int] = field(default_factory=dict)


class _BatchWritingConnection(AsyncioConnection):  # type: ignore[misc]
    """An AsyncioConnection that can hold the frames of a whole batch and hand them to the
    socket as one write. pika writes every frame on its own (three a message: method, header,
    body), and its transport sends each with a syscall of its own: 3,000 small TCP segments
    for a batch of 1,000, each one read and parsed by the broker on the same cores."""

    _held: list[bytes] | None = None

    def _adapter_emit_data(self, data: bytes) -> None:
        if self._held is not None:
            self._held.append(data)
        else:
            super()._adapter_emit_data(data)

    @contextlib.contextmanager
    def writes_held(self) -> Iterator[None]:
        self._held = []
        try:
            yield
        finally:
            held, self._held = self._held, None
            if held:
                super()._adapter_emit_data(b"".join(held))


class _ConfirmingLink:
    """A pika connection on the relay's own event loop, with publisher confirms.

    A whole batch is published at once and the caller awaits every confirm of it, instead of one
    round trip per message. No thread: a batch's confirms resolve a future on the loop directly
    (thread hand-offs under the GIL cost the relay ~10 ms a round at 500 commits/s).
    """

    def __init__(self, exchange: str) -> None:
        self._exchange = exchange
        self._loop = asyncio.get_running_loop()
        self._opened: asyncio.Future[None] = self._loop.create_future()
        self._closed: asyncio.Future[None] = self._loop.create_future()
        self._error: str | None = None
        self._channel: Any = None
        self._connection: Any = None
        self._batch: _Batch | None = None
        self._last_tag = 0

    @classmethod
    async def open(
        cls, parameters: pika.URLParameters, exchange: str, wait_s: float
    ) -> _ConfirmingLink:
        link = cls(exchange)
        link._connection = _BatchWritingConnection(
            parameters,
            on_open_callback=link._on_open,
            on_open_error_callback=link._on_open_error,
            on_close_callback=link._on_closed,
            custom_ioloop=link._loop,
        )
        try:
            await asyncio.wait_for(asyncio.shield(link._opened), wait_s)
        except TimeoutError:
            link._error = "no connection within the timeout"
        if link._error:
            await link.close()
            raise LinkFailure(link._error)
        return link

    @property
    def usable(self) -> bool:
        return self._error is None and self._channel is not None and self._channel.is_open

    async def publish(self, messages: list[dict[str, Any]], wait_s: float) -> list[str]:
        if not self.usable:
            raise LinkFailure(self._error or "channel not open")
        batch = _Batch(self._loop.create_future(), results=["ack"] * len(messages))
        self._batch = batch
        with self._connection.writes_held():
            for index, message in enumerate(messages):
                self._last_tag += 1
                batch.by_tag[self._last_tag] = index
                batch.by_message_id[message["properties"]["message_id"]] = index
                self._channel.basic_publish(
                    self._exchange,
                    message["routing_key"],
                    body_json(message["body"]).encode(),
                    pika.BasicProperties(**message["properties"]),
                    mandatory=True,
                )
        if not messages:
            return []
        try:
            await asyncio.wait_for(asyncio.shield(batch.done), wait_s)
        except TimeoutError:
            self._fail("no confirm within the timeout")
        if batch.done.exception() is not None:
            raise LinkFailure(str(batch.done.exception()))
        return batch.results

    async def close(self) -> None:
        connection = self._connection
        if connection is None or connection.is_closed:
            return
        if not connection.is_closing:
            connection.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._closed), 5)

    # ---- pika callbacks, on the loop ----

    def _on_open(self, connection: Any) -> None:
        connection.channel(on_open_callback=self._on_channel)

    def _on_channel(self, channel: Any) -> None:
        self._channel = channel
        channel.add_on_return_callback(self._on_return)
        channel.add_on_close_callback(
            lambda _channel, reason: self._fail(f"channel closed: {reason}")
        )
        channel.exchange_declare(
            self._exchange,
            exchange_type="topic",
            durable=True,
            callback=lambda _: channel.confirm_delivery(
                self._on_confirm, callback=lambda _: _resolve(self._opened)
            ),
        )

    def _on_open_error(self, connection: Any, error: BaseException) -> None:
        self._error = f"{error.__class__.__name__}: {error}"
        _resolve(self._opened)
        _resolve(self._closed)

    def _on_closed(self, connection: Any, reason: BaseException) -> None:
        self._fail(f"connection closed: {reason}")
        _resolve(self._opened)
        _resolve(self._closed)

    def _fail(self, error: str) -> None:
        self._error = self._error or error
        batch = self._batch
        if batch is not None and not batch.done.done():
            batch.done.set_exception(LinkFailure(error))
            batch.done.exception()  # retrieved here: publish() may already have given up

    def _on_return(self, channel: Any, method: Any, properties: Any, body: bytes) -> None:
        # The broker returns an unroutable message before it acks it.
        batch = self._batch
        if batch is not None and properties.message_id in batch.by_message_id:
            batch.results[batch.by_message_id[properties.message_id]] = "returned"

    def _on_confirm(self, frame: Any) -> None:
        batch = self._batch
        if batch is None:
            return
        method = frame.method
        acked = isinstance(method, pika.spec.Basic.Ack)
        tags = [method.delivery_tag]
        if method.multiple:
            # by_tag holds the unconfirmed tags in ascending order (inserted so, only popped):
            # stop at the first one beyond, rather than scan all of a batch at every confirm.
            tags = list(itertools.takewhile(lambda t: t <= method.delivery_tag, batch.by_tag))
        for tag in tags:
            index = batch.by_tag.pop(tag, None)
            if index is not None and not acked:
                batch.results[index] = "nack"
        if not batch.by_tag:
            _resolve(batch.done)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class RabbitMqPublisher:
    """Publishes to the durable topic exchange with publisher confirms and the mandatory flag."""

    def __init__(self, url: str, exchange: str = EXCHANGE, timeout: float = 10.0) -> None:
        self._url = url
        self._parameters = pika.URLParameters(url)
        self._exchange = exchange
        self._timeout = timeout
        self._link: _ConfirmingLink | None = None

    def another(self) -> Publisher:
        return RabbitMqPublisher(self._url, self._exchange, self._timeout)

    async def publish(self, events: Sequence[ev.CartEvent]) -> list[Outcome]:
        owners = [
            (index, message)
            for index, event in enumerate(events)
            for message in rabbitmq_messages(event, self._exchange)
        ]
        try:
            link = await self._open_link()
            results = await link.publish([m for _, m in owners], self._timeout)
        except LinkFailure as error:
            # Whatever went out may go out again: at-least-once, under stable message ids.
            await self._drop_link()
            return [away(f"rabbitmq: {error}")] * len(events)
        outcomes = [SENT] * len(events)
        for (index, message), result in zip(owners, results, strict=True):
            if result == "nack":
                outcomes[index] = retry("the broker nacked a message")
            elif result == "returned" and outcomes[index].status != "retry":
                log.warning(
                    "no queue is bound for %s (message %s): the broker returned it",
                    message["routing_key"],
                    message["properties"]["message_id"],
                )
                outcomes[index] = Outcome(
                    "unroutable", f"no queue bound for {message['routing_key']}"
                )
        return outcomes

    async def _open_link(self) -> _ConfirmingLink:
        if self._link is None or not self._link.usable:
            await self._drop_link()
            self._link = await _ConfirmingLink.open(self._parameters, self._exchange, self._timeout)
        return self._link

    async def _drop_link(self) -> None:
        if self._link is not None:
            await self._link.close()
        self._link = None

    async def close(self) -> None:
        await self._drop_link()


def _entry_size(entry: dict[str, Any]) -> int:
    parts = [entry["Source"], entry["DetailType"], entry["Detail"], *entry["Resources"]]
    return sum(len(part.encode()) for part in parts) + 14  # + the Time stamp


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
