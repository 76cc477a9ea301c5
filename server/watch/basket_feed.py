"""The basket change feed of one server process: committed changes in, WatchBasket streams out.

Changes arrive from PostgreSQL LISTEN (every process sees every commit) or, on the embedded SQLite
default, straight from this process's commits. For each changed basket that has watchers here,
the feed reads the basket once and offers that one snapshot to every watcher.

A watcher's buffer is bounded: it holds at most one snapshot (a newer one replaces it: versions
may be skipped, never reordered) and a few error notices. A watcher that cannot keep up with
errors, or whose stream stops taking messages (watch_stall_seconds), is ended with UNAVAILABLE and
the version to resume from (or CANCELLED when grpc-core cannot send a status; see
docs/decisions.md). Memory per watcher is therefore a few hundred bytes plus one shared
snapshot reference.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from cartservice.basket.v1 import basket_pb2
from cartservice.basket.v1 import basket_service_pb2 as pb

from server.domain.basket_lifecycle import BASKET_DELETED
from server.watch.basket_changes import BasketChange

log = logging.getLogger(__name__)

MAX_QUEUED_NOTICES = 8

# Reads a basket for the feed (no caller: watchers were authorized when they subscribed);
# None when it no longer exists.
SnapshotLoader = Callable[[str], Awaitable["Snapshot | None"]]


@dataclass(frozen=True)
class StreamEnd:
    """Why a watch ended: ok (the basket is gone) or unavailable (resume elsewhere or later)."""

    ok: bool
    message: str


class Watcher:
    """One WatchBasket stream's buffer. Kept small on purpose (there may be 10,000 per process):
    a list instead of a deque and one future instead of an asyncio.Event."""

    __slots__ = (
        "_end",
        "_queue",
        "_wakeup",
        "last_version",
        "stalled",
        "task",
        "writing_since",
    )

    def __init__(self, from_version: int) -> None:
        # Highest version queued or sent: older snapshots are never offered again.
        self.last_version = from_version
        # None while nothing waits (an idle stream, the usual state, keeps no list).
        self._queue: list[pb.WatchBasketResponse] | None = None
        self._wakeup: asyncio.Future[None] | None = None
        self._end: StreamEnd | None = None
        # Set by the stream around each write (loop time), read by the feed's stall sweep.
        self.task: asyncio.Task[object] | None = asyncio.current_task()
        self.writing_since = 0.0
        self.stalled = False

    def offer_snapshot(self, message: pb.WatchBasketResponse, version: int) -> None:
        """Takes the snapshot (whose version the caller reads once for all watchers) if newer."""
        if self._end is not None or version <= self.last_version:
            return
        self.last_version = version
        if self._queue:
            # Coalesce: only the newest snapshot waits.
            self._queue = [m for m in self._queue if not m.HasField("basket_updated")]
            self._queue.append(message)
        else:
            self._queue = [message]
        self._wake()

    def offer_notice(self, message: pb.WatchBasketResponse) -> None:
        if self._end is not None:
            return
        if self._queue is None:
            self._queue = [message]
        elif len(self._queue) > MAX_QUEUED_NOTICES:
            self.end(False, "watcher fell behind")
            return
        else:
            self._queue.append(message)
        self._wake()

    def end(self, ok: bool, message: str) -> None:
        if self._end is None:
            self._end = StreamEnd(ok, message)
            self._wake()

    def _wake(self) -> None:
        if self._wakeup is not None and not self._wakeup.done():
            self._wakeup.set_result(None)

    def pop(self) -> pb.WatchBasketResponse | None:
        """The next message to send, if one waits."""
        queue = self._queue
        if not queue:
            return None
        message = queue.pop(0)
        if not queue:
            self._queue = None
        return message

    def wakeup(self) -> asyncio.Future[None]:
        """A future done when a message is offered or the stream should end. A plain future,
        not a coroutine: an idle stream (the usual state) holds no frame of its own here."""
        wakeup = self._wakeup
        if wakeup is None or wakeup.done():
            wakeup = self._wakeup = asyncio.get_running_loop().create_future()
        if self._queue or self._end is not None:
            wakeup.set_result(None)
        return wakeup

    @property
    def ending(self) -> StreamEnd | None:
        return self._end


@dataclass(frozen=True)
class Snapshot:
    """A basket as watchers see it, with its owner (to authorize new watchers without a read)."""

    message: pb.WatchBasketResponse
    collection_id: int
    user_id: str


class BasketFeed:
    def __init__(self, load: SnapshotLoader, stall_seconds: float = 30.0) -> None:
        self._load = load
        self._stall_seconds = stall_seconds
        self._sweeper: asyncio.Task[None] | None = None
        self._watchers: dict[str, set[Watcher]] = {}
        # The newest snapshot of each watched basket: a new watcher starts from it, no read needed.
        self._latest: dict[str, Snapshot] = {}
        # Baskets whose snapshot is being read, and whether another change came meanwhile.
        self._loading: dict[str, bool] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.open_streams = 0

    def subscribe(self, basket_id: str, from_version: int) -> Watcher:
        watcher = Watcher(from_version)
        self._watchers.setdefault(basket_id, set()).add(watcher)
        self.open_streams += 1
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep_stalled())
        return watcher

    def unsubscribe(self, basket_id: str, watcher: Watcher) -> None:
        watchers = self._watchers.get(basket_id)
        if watchers is not None and watcher in watchers:
            watchers.discard(watcher)
            self.open_streams -= 1
            if not watchers:
                del self._watchers[basket_id]
                self._latest.pop(basket_id, None)

    def latest(self, basket_id: str) -> Snapshot | None:
        return self._latest.get(basket_id)

    def remember(self, basket_id: str, snapshot: Snapshot) -> None:
        """Keeps a snapshot read by a new watcher, unless a newer one is known."""
        known = self._latest.get(basket_id)
        if basket_id in self._watchers and (
            known is None or known.message.version < snapshot.message.version
        ):
            self._latest[basket_id] = snapshot

    def offer(self, basket_id: str, snapshot: Snapshot) -> None:
        """A committed basket to its watchers (each takes it only if it is newer than theirs)."""
        self.remember(basket_id, snapshot)
        message = snapshot.message
        version = message.version
        for watcher in list(self._watchers.get(basket_id, ())):
            watcher.offer_snapshot(message, version)

    def publish(self, change: BasketChange) -> None:
        """A committed change (or a failed call's error) of one basket."""
        watchers = self._watchers.get(change.basket_id)
        if not watchers:
            return
        if change.error_code or change.deleted:
            code = change.error_code or BASKET_DELETED
            notice = pb.WatchBasketResponse(
                version=change.version,
                something_happened=basket_pb2.SomethingHappened(
                    error_code=code, message=change.message
                ),
            )
            for watcher in list(watchers):
                watcher.offer_notice(notice)
                if change.deleted:
                    watcher.end(True, "basket deleted")
            if change.deleted:
                self._latest.pop(change.basket_id, None)
            return
        if all(change.version <= w.last_version for w in watchers):
            return
        self._refresh(change.basket_id)

    def resync(self) -> None:
        """Re-reads every watched basket (after the change source may have missed something)."""
        for basket_id in list(self._watchers):
            self._refresh(basket_id)

    def _refresh(self, basket_id: str) -> None:
        if basket_id in self._loading:
            self._loading[basket_id] = True  # read again when the running read is done
            return
        self._loading[basket_id] = False
        task = asyncio.get_running_loop().create_task(self._read_and_offer(basket_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _read_and_offer(self, basket_id: str) -> None:
        try:
            while True:
                try:
                    snapshot = await self._load(basket_id)
                except Exception:
                    log.exception("reading basket %s for its watchers failed", basket_id)
                    snapshot = None
                if snapshot is not None:
                    self.offer(basket_id, snapshot)
                if not self._loading.get(basket_id):
                    return
                self._loading[basket_id] = False
        finally:
            self._loading.pop(basket_id, None)

    async def _sweep_stalled(self) -> None:
        """Cancels the writes of streams that stopped taking messages. One sweep over all watchers
        instead of a timer per write: a change to 10,000 watchers would otherwise arm and cancel
        10,000 timers."""
        loop = asyncio.get_running_loop()
        try:
            while self._watchers:
                await asyncio.sleep(min(1.0, self._stall_seconds / 4))
                deadline = loop.time() - self._stall_seconds
                for watchers in list(self._watchers.values()):
                    for watcher in list(watchers):
                        if 0 < watcher.writing_since < deadline and not watcher.stalled:
                            watcher.stalled = True
                            if watcher.task is not None:
                                watcher.task.cancel()
        finally:
            self._sweeper = None

    def close(self, message: str) -> None:
        """Ends every stream (graceful shutdown): clients resume on another server."""
        for watchers in list(self._watchers.values()):
            for watcher in list(watchers):
                watcher.end(False, message)
