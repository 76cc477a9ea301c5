"""OutboxRelay: publishes committed outbox rows, marks them, retries failures with backoff.

Runs inside `cartservice serve` (woken right after each commit of this process, and polling for
other processes' commits) or alone as `cartservice relay`, with one loop per destination, so a
slow or unreachable destination never delays another. Several relays may run at once:
PostgreSQL's FOR UPDATE SKIP LOCKED gives each its own rows, and only the oldest pending row of a
cart is ever eligible, so a cart's events go out in commit order.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass

from cartservice.events.v1 import events_pb2 as ev
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server import metrics, tracing
from server.events.publishers import Outcome, Publisher, retry
from server.store.driver import Database
from server.store.outbox import DriverRound, OutboxRepository, PendingRow

log = logging.getLogger(__name__)
WAKE_COALESCE_S = 0.005
ROUND_PACE_S = 0.02

BACKOFF_BASE_S = 0.2
BACKOFF_MAX_S = 30.0
# While a destination is unreachable its loop sends one event at a time, at most this far apart:
# the backlog starts to drain about as soon as the destination is back, whatever the per-event
# backoff of events it refused one by one.
PROBE_BASE_S = 0.1
PROBE_MAX_S = 1.0
PRUNE_EVERY_S = 60.0


def epoch_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class _Reachability:
    """A destination's state as its last round found it; shared by its loop and helpers."""

    away_since: float | None = None
    probes: int = 0

    def went_away(self, destination: str, error: str) -> None:
        if self.away_since is None:
            self.away_since = time.monotonic()
            log.warning(
                "%s unreachable (%s): its events wait in the outbox; trying again every %.1f s "
                "at most",
                destination,
                error,
                PROBE_MAX_S,
            )

    def came_back(self, destination: str) -> None:
        if self.away_since is not None:
            log.info(
                "%s reachable again after %.1f s", destination, time.monotonic() - self.away_since
            )
        self.away_since, self.probes = None, 0

    def next_probe_s(self) -> float:
        self.probes += 1
        return min(PROBE_BASE_S * 2.0**self.probes, PROBE_MAX_S)


class OutboxRelay:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        publishers: Mapping[str, Publisher],
        *,
        batch_size: int = 100,
        poll_interval: float = 0.2,
        retention_hours: float = 168.0,
        workers: int = 1,
        clock: Callable[[], int] = epoch_ms,
        database: Database | None = None,
    ) -> None:
        """`database`: the driver's pool for the rounds on PostgreSQL (two round trips
        each); without it rounds go through SQLAlchemy (SQLite, or a relay given sessions only).
        The relay closes it."""
        self._sessions = sessions
        self._database = database
        self._publishers = publishers
        self._workers = workers
        self._extra_publishers: list[Publisher] = []
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._retention_ms = int(retention_hours * 3_600_000)
        self._clock = clock
        self._wakes = {destination: asyncio.Event() for destination in publishers}
        self._reachability = {destination: _Reachability() for destination in publishers}

    def notify(self) -> None:
        """A commit of this process wrote outbox rows: look now rather than at the next poll."""
        for wake in self._wakes.values():
            wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """One loop per destination, so a slow or unreachable one never holds the others back.

        On PostgreSQL, `workers - 1` helpers per destination join in while a backlog lasts (the
        loop's rounds come back full), each with its own broker connection, so that one round's
        database work overlaps another's wait for confirms; SKIP LOCKED gives each its own rows.
        At a steady trickle they stay out of the way: competing for a few rows only adds lag."""
        helpers = self._workers - 1 if await self._skips_locked_rows() else 0
        loops = []
        for destination, publisher in self._publishers.items():
            backlog = asyncio.Event()
            loops.append(self._run_destination(destination, publisher, stop, backlog))
            for _ in range(helpers):
                helper = publisher.another()
                if helper is not publisher:
                    self._extra_publishers.append(helper)
                loops.append(self._help_with_backlog(destination, helper, stop, backlog))
        await asyncio.gather(*loops, self._prune_loop(stop))

    async def _skips_locked_rows(self) -> bool:
        async with self._sessions() as session:
            return OutboxRepository(session).is_postgresql()

    async def _run_destination(
        self, destination: str, publisher: Publisher, stop: asyncio.Event, backlog: asyncio.Event
    ) -> None:
        wake = self._wakes[destination]
        reachability = self._reachability[destination]
        while not stop.is_set():
            if reachability.away_since is not None:
                backlog.clear()
                await _first_of(stop, at_most_s=reachability.next_probe_s())
                await self._round(destination, publisher, limit=1)
                continue
            sent = await self._round(destination, publisher)
            if sent >= self._batch_size:
                backlog.set()
            else:
                backlog.clear()
            if sent == 0:
                wake.clear()
                await _first_of(wake, stop, at_most_s=self._poll_interval)
                if wake.is_set() and not stop.is_set():
                    # Woken by a commit: let the commits of the next few ms join the same round.
                    await asyncio.sleep(WAKE_COALESCE_S)
            elif sent < self._batch_size:
                # A partial round under a steady stream of commits: the next one waits, so that
                # each round carries many events instead of one or two (a round's own statements
                # share the event loop with the requests).
                await asyncio.sleep(ROUND_PACE_S)

    async def _help_with_backlog(
        self, destination: str, publisher: Publisher, stop: asyncio.Event, backlog: asyncio.Event
    ) -> None:
        while not stop.is_set():
            await _first_of(backlog, stop, at_most_s=self._poll_interval)
            busy = backlog.is_set() and not stop.is_set()
            if busy and await self._round(destination, publisher) == 0:
                await asyncio.sleep(WAKE_COALESCE_S)  # the backlog is someone else's now

    async def _round(self, destination: str, publisher: Publisher, limit: int = 0) -> int:
        try:
            return await self._relay(destination, publisher, limit or self._batch_size)
        except Exception:
            # The database is away or a bug: keep the loop alive, try again after a pause.
            log.exception("outbox relay round for %s failed", destination)
            return 0

    async def _prune_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self._prune()
            except Exception:
                log.exception("pruning the outbox failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), PRUNE_EVERY_S)

    @contextlib.asynccontextmanager
    async def _round_outbox(self) -> AsyncIterator[OutboxRepository | DriverRound]:
        """One round's transaction: committed when the round's work is done, rolled back if it
        fails."""
        if self._database is not None:
            async with self._database.connection() as connection:
                rounded = DriverRound(connection)
                yield rounded
                await rounded.commit()
            return
        async with self._sessions() as session, session.begin():
            # Core statements on the session's connection: the ORM's execute path adds its own
            # work to every statement and this round needs none of it.
            outbox = OutboxRepository(await session.connection())
            await outbox.settle_relay_round()
            yield outbox

    async def _relay(self, destination: str, publisher: Publisher, limit: int) -> int:
        async with self._round_outbox() as outbox:
            rows = await outbox.claim(destination, self._clock(), limit)
            if not rows:
                return 0
            outcomes = await self._publish(destination, publisher, rows)
            now = self._clock()
            for status in ("sent", "unroutable", "dead"):
                done = [r for r, o in zip(rows, outcomes, strict=True) if o.status == status]
                errors = {o.error for o in outcomes if o.status == status}
                await outbox.finish(
                    [r.sequence for r in done], status, now, next(iter(errors), None)
                )
            for row, outcome in zip(rows, outcomes, strict=True):
                if outcome.status == "retry":
                    await outbox.retry_later(
                        row.sequence,
                        row.attempts + 1,
                        now + _backoff_ms(row.attempts),
                        outcome.error or "",
                    )
        for status, count in collections.Counter(o.status for o in outcomes).items():
            metrics.relay_outcomes.labels(destination, status).inc(count)
        unreached = [o.error for o in outcomes if o.status == "away"]
        if unreached:
            # Left as they were: no attempt counted and no backoff, since the events were fine.
            self._reachability[destination].went_away(destination, unreached[0] or "")
            return 0
        self._reachability[destination].came_back(destination)
        failures = [o.error for o in outcomes if o.status == "retry"]
        if failures:
            log.warning(
                "%s: %d of %d events will be retried: %s",
                destination,
                len(failures),
                len(rows),
                failures[0],
            )
        return len(rows) - len(failures)

    async def _publish(
        self, destination: str, publisher: Publisher, rows: list[PendingRow]
    ) -> list[Outcome]:
        events = [ev.CartEvent.FromString(row.event) for row in rows]
        try:
            if tracing.enabled():
                with tracing.publish_span(destination, [e.trace_parent for e in events]):
                    return await publisher.publish(events)
            return await publisher.publish(events)
        except Exception as error:
            log.exception("publisher failed")
            return [retry(f"{error.__class__.__name__}: {error}")] * len(rows)

    async def _prune(self) -> None:
        async with self._sessions() as session, session.begin():
            pruned = await OutboxRepository(session).prune(self._clock() - self._retention_ms)
        if pruned:
            log.info("pruned %d sent outbox rows", pruned)

    async def close(self) -> None:
        for publisher in (*self._publishers.values(), *self._extra_publishers):
            await publisher.close()
        if self._database is not None:
            await self._database.close()


def _backoff_ms(attempts: int) -> int:
    delay = min(BACKOFF_BASE_S * 2**attempts, BACKOFF_MAX_S)
    return int(delay * random.uniform(0.5, 1.5) * 1000)


async def _first_of(*events: asyncio.Event, at_most_s: float) -> None:
    """Returns when any of the events is set, or after `at_most_s` seconds."""
    waits = [asyncio.ensure_future(event.wait()) for event in events]
    await asyncio.wait(waits, timeout=at_most_s, return_when=asyncio.FIRST_COMPLETED)
    for waiter in waits:
        waiter.cancel()


BACKLOG_EVERY_S = 5.0


async def report_backlog(
    sessions: async_sessionmaker[AsyncSession],
    destinations: Sequence[str],
    stop: asyncio.Event,
    clock: Callable[[], int] = epoch_ms,
) -> None:
    """Keeps the outbox gauges (server.metrics) current: pending events and the age of the
    oldest, per destination, from one grouped query over the pending rows' index."""
    while not stop.is_set():
        try:
            async with sessions() as session:
                backlog = await OutboxRepository(session).backlog()
            now = clock()
            for destination in destinations:
                count, oldest = backlog.get(destination, (0, None))
                metrics.outbox_pending.labels(destination).set(count)
                age = (now - oldest) / 1000 if oldest is not None else 0.0
                metrics.outbox_oldest_age.labels(destination).set(age)
        except Exception:
            log.warning("measuring the outbox backlog failed", exc_info=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), BACKLOG_EVERY_S)
