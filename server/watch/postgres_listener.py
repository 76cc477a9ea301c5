"""LISTENs on PostgreSQL channels for what other processes commit: basket changes (for the watch
feed) and new outbox rows (to wake the relay). One connection per process, for every channel."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping

import psycopg
from sqlalchemy.engine import URL

log = logging.getLogger(__name__)

RECONNECT_DELAYS = (0.1, 0.5, 1.0, 2.0, 5.0)

Handler = Callable[[str], None]


def libpq_dsn(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class PostgresListener:
    """Calls `handlers[channel](payload)` for every notification, in the event loop.

    After a lost connection it reconnects and calls `on_reconnect`, since notifications sent
    while it was away are gone (the feed re-reads what it watches, the relay looks again).
    """

    def __init__(
        self,
        url: URL,
        handlers: Mapping[str, Handler],
        on_reconnect: Callable[[], None] = lambda: None,
    ) -> None:
        self._dsn = libpq_dsn(url)
        self._handlers = dict(handlers)
        self._on_reconnect = on_reconnect
        self.listening = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        failures = 0
        while not stop.is_set():
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._dsn, autocommit=True
                ) as connection:
                    for channel in self._handlers:
                        await connection.execute(f"LISTEN {channel}")
                    if failures:
                        self._on_reconnect()
                    failures = 0
                    self.listening.set()
                    await self._forward(connection, stop)
            except (psycopg.OperationalError, OSError) as error:
                self.listening.clear()
                delay = RECONNECT_DELAYS[min(failures, len(RECONNECT_DELAYS) - 1)]
                failures += 1
                log.warning("notification listener lost its connection (%s); retry in %.1fs",
                            error, delay)  # fmt: skip
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)

    async def _forward(
        self, connection: psycopg.AsyncConnection[object], stop: asyncio.Event
    ) -> None:
        stopping = asyncio.ensure_future(stop.wait())
        try:
            notifies = connection.notifies()
            while True:
                next_notify = asyncio.ensure_future(anext(notifies))
                done, _ = await asyncio.wait(
                    {next_notify, stopping}, return_when=asyncio.FIRST_COMPLETED
                )
                if stopping in done:
                    next_notify.cancel()
                    return
                notify = next_notify.result()
                try:
                    self._handlers[notify.channel](notify.payload)
                except (ValueError, TypeError, KeyError):
                    log.warning("ignored a malformed notification on %s: %r",
                                notify.channel, notify.payload[:200])  # fmt: skip
        finally:
            stopping.cancel()
