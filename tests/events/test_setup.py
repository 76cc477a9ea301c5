"""Which destinations a process relays, and to what, from its settings alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.config import Settings
from server.events.publishers import EventBridgePublisher, JsonLinesSink, RabbitMqPublisher
from server.events.setup import describe, left_to_other_relays, publishers

POSTGRES = "postgresql://127.0.0.1:5432/carts"


def kinds(settings: Settings) -> dict[str, type]:
    return {destination: type(p) for destination, p in publishers(settings).items()}


def test_the_embedded_default_sends_both_destinations_to_its_file(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)

    assert kinds(settings) == {"eventbridge": JsonLinesSink, "rabbitmq": JsonLinesSink}
    assert str(tmp_path / "events.jsonl") in describe(settings)
    assert left_to_other_relays(settings) == []


def test_a_server_on_postgresql_without_destinations_relays_nothing(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url=POSTGRES)

    assert kinds(settings) == {}
    assert left_to_other_relays(settings) == ["eventbridge", "rabbitmq"]
    assert describe(settings) == "nothing"


def test_a_broker_serves_its_destination_only_and_the_file_only_when_chosen(
    tmp_path: Path,
) -> None:
    rabbitmq_only = Settings(data_dir=tmp_path, database_url=POSTGRES, rabbitmq_url="amqp://h")
    assert kinds(rabbitmq_only) == {"rabbitmq": RabbitMqPublisher}
    assert left_to_other_relays(rabbitmq_only) == ["eventbridge"]

    chosen_file = Settings(
        data_dir=tmp_path, database_url=POSTGRES, eventbridge_bus="carts",
        events_file=str(tmp_path / "e.jsonl"),
    )  # fmt: skip
    assert kinds(chosen_file) == {"eventbridge": EventBridgePublisher, "rabbitmq": JsonLinesSink}
    assert describe(chosen_file) == (
        f"eventbridge to EventBridge bus carts; rabbitmq to file {tmp_path / 'e.jsonl'}"
    )


@pytest.mark.parametrize("url", ["sqlite:///carts.db", "sqlite+aiosqlite:///carts.db"])
def test_a_sqlite_database_is_one_machines_and_keeps_the_file(tmp_path: Path, url: str) -> None:
    assert kinds(Settings(data_dir=tmp_path, database_url=url)) == {
        "eventbridge": JsonLinesSink, "rabbitmq": JsonLinesSink
    }  # fmt: skip
