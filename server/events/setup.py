"""Builds the relay's publishers from the settings: a destination is relayed only by a
process configured for it.

A broker setting (`--eventbridge-bus`, `--rabbitmq-url`) serves its destination. Without one, the
JSON-lines events file serves it when the file was chosen (`--events-file`) or the database is
SQLite (the embedded default, one machine's file). A server on PostgreSQL with neither leaves the
destination's rows to other relays: taking them into a local file would divert the events a
shared database holds for production brokers.
"""

from __future__ import annotations

import logging

from sqlalchemy import make_url
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.config import Settings
from server.events.publishers import (
    EventBridgePublisher,
    JsonLinesSink,
    Publisher,
    RabbitMqPublisher,
)
from server.events.relay import OutboxRelay
from server.store.driver import Database
from server.store.outbox import EVENTBRIDGE, RABBITMQ

DESTINATIONS = (EVENTBRIDGE, RABBITMQ)


def publishers(settings: Settings) -> dict[str, Publisher]:
    """A publisher for each destination this process serves, by the rules above."""
    chosen: dict[str, Publisher] = {}
    if settings.eventbridge_bus:
        chosen[EVENTBRIDGE] = EventBridgePublisher(
            settings.eventbridge_bus, settings.eventbridge_region, settings.eventbridge_endpoint_url
        )
    if settings.rabbitmq_url:
        chosen[RABBITMQ] = RabbitMqPublisher(settings.rabbitmq_url, settings.rabbitmq_exchange)
    if _events_file_serves(settings):
        for destination in DESTINATIONS:
            if destination not in chosen:
                chosen[destination] = JsonLinesSink(
                    settings.events_path(),
                    destination,
                    settings.eventbridge_region,
                    settings.rabbitmq_exchange,
                )
    return chosen


def left_to_other_relays(settings: Settings) -> list[str]:
    served = served_by(settings)
    return [d for d in DESTINATIONS if d not in served]


def served_by(settings: Settings) -> dict[str, str]:
    """What serves each destination this process relays, for the start-up log."""
    file = f"file {settings.events_path()}" if _events_file_serves(settings) else None
    eventbridge = (
        f"EventBridge bus {settings.eventbridge_bus}" if settings.eventbridge_bus else file
    )
    rabbitmq = f"RabbitMQ exchange {settings.rabbitmq_exchange}" if settings.rabbitmq_url else file
    found = {EVENTBRIDGE: eventbridge, RABBITMQ: rabbitmq}
    return {d: where for d, where in found.items() if where}


def _events_file_serves(settings: Settings) -> bool:
    if settings.events_file:
        return True
    return (
        not settings.database_url or make_url(settings.database_url).get_backend_name() == "sqlite"
    )


def outbox_relay(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], url: URL
) -> OutboxRelay:
    """On PostgreSQL the rounds run on a driver pool of their own: a connection per destination
    loop and helper, none opened per round."""
    on_postgres = url.get_backend_name() == "postgresql"
    connections = len(DESTINATIONS) * max(1, settings.relay_workers)
    return OutboxRelay(
        sessions,
        publishers(settings),
        batch_size=settings.relay_batch_size,
        poll_interval=settings.relay_poll_interval,
        retention_hours=settings.outbox_retention_hours,
        workers=settings.relay_workers,
        database=Database(url, connections) if on_postgres else None,
    )


def describe(settings: Settings) -> str:
    """Where each destination this process relays goes, for the start-up log."""
    return "; ".join(f"{d} to {where}" for d, where in served_by(settings).items()) or "nothing"


def log_destinations(log: logging.Logger, settings: Settings, heading: str) -> None:
    log.info("%s: %s", heading, describe(settings))
    left = left_to_other_relays(settings)
    if left:
        log.warning(
            "%s: %s left to other relays: no broker is configured for %s and --events-file "
            "is not set",
            heading,
            " and ".join(left),
            "them" if len(left) > 1 else "it",
        )
