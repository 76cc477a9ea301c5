"""Real destinations for event tests: RabbitMQ (the machine's broker) and EventBridge served by
moto in server mode on a loopback port, with a rule on `source: cartservices` feeding an SQS queue.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pika
from moto.server import ThreadedMotoServer

RABBITMQ_URL = os.environ.get(
    "CARTSERVICE_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2F"
)
# This run's own exchange: other programs publish to `ecomm` on the same broker, and no test may
# see (or count) their messages. Deleted when the run ends (tests/conftest.py).
TEST_EXCHANGE = f"cartservice_test_{uuid.uuid4().hex[:12]}"
RABBITMQ_FLAGS = ("--rabbitmq-url", RABBITMQ_URL, "--rabbitmq-exchange", TEST_EXCHANGE)


def delete_test_exchange() -> None:
    connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))
    try:
        connection.channel().exchange_delete(TEST_EXCHANGE)
    finally:
        connection.close()


AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass
class EventBridgeStub:
    endpoint_url: str
    bus: str
    queue_url: str
    _sqs: Any = field(repr=False)
    redelivered: int = 0

    def receive(self, match: Any, expected: int, timeout: float = 30) -> list[dict[str, Any]]:
        """Distinct envelopes (as the rule delivered them to SQS) for which `match` is true.

        Delivery is at-least-once (ours, and SQS's own): an event seen again, by its
        resources[0], counts once.
        """
        found: dict[str, dict[str, Any]] = {}
        self.redelivered = 0
        deadline = time.monotonic() + timeout
        while len(found) < expected and time.monotonic() < deadline:
            answer = self._sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
            )
            for message in answer.get("Messages", []):
                envelope = json.loads(message["Body"])
                if match(envelope):
                    key = envelope["resources"][0]
                    self.redelivered += key in found
                    found[key] = envelope
                self._sqs.delete_message(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
        return list(found.values())


def moto_eventbridge() -> Iterator[EventBridgeStub]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    options = {
        "endpoint_url": endpoint,
        "region_name": "us-east-1",
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
    }
    events, sqs = boto3.client("events", **options), boto3.client("sqs", **options)
    bus = f"carts-{uuid.uuid4().hex[:8]}"
    queue_url = sqs.create_queue(QueueName=bus)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    events.create_event_bus(Name=bus)
    events.put_rule(
        Name="all-cart-events",
        EventBusName=bus,
        EventPattern=json.dumps({"source": ["cartservices"]}),
    )
    events.put_targets(
        Rule="all-cart-events", EventBusName=bus, Targets=[{"Id": "queue", "Arn": queue_arn}]
    )
    try:
        yield EventBridgeStub(endpoint, bus, queue_url, sqs)
    finally:
        server.stop()


class RabbitConsumer:
    """An exclusive queue bound with '#' to this run's exchange: sees every internal message the
    run's servers and relays publish from now on, and nothing of other programs."""

    def __init__(self, url: str = RABBITMQ_URL, exchange: str = TEST_EXCHANGE) -> None:
        self._connection = pika.BlockingConnection(pika.URLParameters(url))
        self._channel = self._connection.channel()
        self._channel.exchange_declare(exchange, exchange_type="topic", durable=True)
        self.queue = self._channel.queue_declare("", exclusive=True).method.queue
        self._channel.queue_bind(self.queue, exchange, routing_key="#")

    def receive(
        self, match: Any, expected: int, timeout: float = 30
    ) -> list[tuple[str, Any, dict[str, Any]]]:
        """(routing key, properties, body) of the messages for which `match(body)` is true."""
        found: list[tuple[str, Any, dict[str, Any]]] = []
        deadline = time.monotonic() + timeout
        while len(found) < expected and time.monotonic() < deadline:
            method, properties, body = self._channel.basic_get(self.queue, auto_ack=True)
            if method is None:
                self._connection.sleep(0.05)
                continue
            document = json.loads(body)
            if match(document):
                found.append((method.routing_key, properties, document))
        return found

    def close(self) -> None:
        self._connection.close()
