"""LISTENs for basket changes committed by any server process sharing the PostgreSQL database."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import psycopg
from sqlalchemy.engine import URL

from server.watch.basket_changes import CHANNEL, BasketChange
from server.watch.basket_feed import BasketFeed

log = logging.getLogger(__name__)

RECONNECT_DELAYS = (0.1, 0.5, 1.0, 2.0, 5.0)


def libpq_dsn(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class PostgresChangeListener:
    """One connection per process, in autocommit, LISTENing on the basket channel.

    After a lost connection it reconnects and asks the feed to re-read every watched basket,
    since notifications sent while it was away are gone.
    """

    def __init__(self, url: URL, feed: BasketFeed) -> None:
        self._dsn = libpq_dsn(url)
        self._feed = feed
        self.listening = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        failures = 0
        while not stop.is_set():
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._dsn, autocommit=True
                ) as connection:
                    await connection.execute(f"LISTEN {CHANNEL}")
                    if failures:
                        self._feed.resync()
                    failures = 0
                    self.listening.set()
                    await self._forward(connection, stop)
            except (psycopg.OperationalError, OSError) as error:
                self.listening.clear()
                delay = RECONNECT_DELAYS[min(failures, len(RECONNECT_DELAYS) - 1)]
                failures += 1
                log.warning("basket change listener lost its connection (%s); retry in %.1fs",
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
                    self._feed.publish(BasketChange.from_payload(notify.payload))
                except (ValueError, TypeError):
                    log.warning("ignored a malformed basket change: %r", notify.payload[:200])
        finally:
            stopping.cancel()
