"""Builds the relay's publishers from the settings: a broker where one is configured, else the
JSON-lines events file."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.config import Settings
from server.events.publishers import (
    EventBridgePublisher,
    JsonLinesSink,
    Publisher,
    RabbitMqPublisher,
)
from server.events.relay import OutboxRelay
from server.store.outbox import EVENTBRIDGE, RABBITMQ


def publishers(settings: Settings) -> dict[str, Publisher]:
    events_file = settings.events_path()
    eventbridge: Publisher = (
        EventBridgePublisher(
            settings.eventbridge_bus, settings.eventbridge_region, settings.eventbridge_endpoint_url
        )
        if settings.eventbridge_bus
        else JsonLinesSink(events_file, EVENTBRIDGE, settings.eventbridge_region)
    )
    rabbitmq: Publisher = (
        RabbitMqPublisher(settings.rabbitmq_url, settings.rabbitmq_exchange)
        if settings.rabbitmq_url
        else JsonLinesSink(
            events_file, RABBITMQ, settings.eventbridge_region, settings.rabbitmq_exchange
        )
    )
    return {EVENTBRIDGE: eventbridge, RABBITMQ: rabbitmq}


def outbox_relay(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> OutboxRelay:
    return OutboxRelay(
        sessions,
        publishers(settings),
        batch_size=settings.relay_batch_size,
        poll_interval=settings.relay_poll_interval,
        retention_hours=settings.outbox_retention_hours,
        workers=settings.relay_workers,
    )


def describe(settings: Settings) -> str:
    eventbridge = (
        f"EventBridge bus {settings.eventbridge_bus}" if settings.eventbridge_bus else None
    )
    rabbitmq = "RabbitMQ" if settings.rabbitmq_url else None
    brokers = [b for b in (eventbridge, rabbitmq) if b]
    file_part = f"file {settings.events_path()}" if len(brokers) < 2 else ""
    return ", ".join([*brokers, file_part] if file_part else brokers)
