"""The outbox table's reads and writes (server.store.tables.outbox_events)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from cartservice.events.v1 import events_pb2 as ev
from sqlalchemy import (
    BigInteger,
    Select,
    Update,
    any_,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    select,
    text,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql.psycopg import dialect as psycopg_dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql.elements import ColumnClause

from server import tracing
from server.store.driver import Connection, Statement
from server.store.tables import outbox_events

EVENTBRIDGE = "eventbridge"
RABBITMQ = "rabbitmq"
DESTINATIONS = (EVENTBRIDGE, RABBITMQ)
# Notified by a trigger on every insert into outbox_events (migration 0004): wakes the relays.
OUTBOX_CHANNEL = "cartservice_outbox"


@dataclass(frozen=True)
class PendingRow:
    sequence: int
    event: bytes
    attempts: int


def outbox_rows(event: ev.CartEvent, now_ms: int) -> list[dict[str, object]]:
    """The outbox rows of one event: one per destination it goes to."""
    data = event.SerializeToString()
    destinations = [EVENTBRIDGE] + ([RABBITMQ] if event.internal_messages else [])
    return [
        {
            "event_id": event.event_id, "destination": destination, "cart_id": event.cart_id,
            "event": data, "created_at": now_ms, "status": "pending", "available_at": now_ms,
            "attempts": 0,
        }
        for destination in destinations
    ]  # fmt: skip


def _claim_statements() -> tuple[Select[Any], Select[Any]]:
    """The claim, built once (building it anew cost ~4 ms a round): for SQLite, and for
    PostgreSQL with row locks.

    Only the oldest pending row of each cart is eligible, and the heads of all carts are found in
    one grouped pass over the destination's pending rows. A correlated "is the first of its
    cart" per row did that work once per pending row: 143 ms against 25-35 ms per claim of 1000
    at 20,000 pending rows.
    """
    # A literal, not a bind parameter, so the partial index (WHERE status = 'pending') applies
    # even in a prepared statement's generic plan.
    pending: ColumnClause[str] = literal_column("'pending'")
    row, earlier = outbox_events.alias("row"), outbox_events.alias("earlier")
    of_destination = (
        earlier.c.destination == bindparam("destination"),
        earlier.c.status == pending,
    )
    due = (row.c.status == pending, row.c.available_at <= bindparam("now_ms"))

    heads = select(func.min(earlier.c.sequence)).where(*of_destination).group_by(earlier.c.cart_id)
    plain = (
        select(row.c.sequence, row.c.event, row.c.attempts)
        .where(*due, row.c.sequence.in_(heads))
        .order_by(row.c.sequence)
        .limit(bindparam("limit"))
    )

    # PostgreSQL: the heads, oldest first, then each one locked (or skipped, when another relay
    # holds it) by a lateral lookup until `limit` are claimed. The shape leaves the planner no
    # join that stale statistics could turn quadratic (an IN join became a nested loop with
    # stale statistics: 1.3 s per claim of 1000 at 2,000 pending rows), and rows are locked
    # only as they are claimed.
    oldest_first = heads.order_by(func.min(earlier.c.sequence)).subquery("heads")
    (head,) = oldest_first.c
    # `status` is checked again on the row itself: PostgreSQL re-evaluates the lookup's
    # conditions on a row that another relay has sent since this statement's snapshot.
    locked = (
        select(row.c.sequence, row.c.event, row.c.attempts)
        .where(row.c.sequence == head, *due)
        .with_for_update(skip_locked=True)
        .lateral("claimed")
    )
    locking = (
        select(locked.c.sequence, locked.c.event, locked.c.attempts)
        .select_from(oldest_first.join(locked, true()))
        .limit(bindparam("limit"))
    )
    return plain, locking


_CLAIM, _CLAIM_LOCKING = _claim_statements()


def _finish_statements() -> tuple[Update, Update]:
    """Marks claimed rows: for SQLite (one parameter per row), and for PostgreSQL (the rows
    as one array parameter: rendering, sending and parsing 1,000 parameters took ~45 ms of a
    round of 1,000 events)."""
    marked = outbox_events.update().values(
        status=bindparam("new_status"), sent_at=bindparam("now_ms"), last_error=bindparam("error")
    )
    one_by_one = marked.where(outbox_events.c.sequence.in_(bindparam("sequences", expanding=True)))
    as_array = marked.where(
        outbox_events.c.sequence == any_(bindparam("sequences", type_=ARRAY(BigInteger)))
    )
    return one_by_one, as_array


_FINISH, _FINISH_ARRAY = _finish_statements()
_INSERT = insert(outbox_events)
_RELAY_ROUND_SETTINGS = text(
    "SELECT set_config('plan_cache_mode', 'force_custom_plan', true),"
    " set_config('synchronous_commit', 'off', true)"
)


_WRITE = Statement(
    "INSERT INTO outbox_events (event_id, destination, cart_id, event, created_at, status,"
    " available_at, attempts) VALUES (:event_id, :destination, :cart_id, :event, :created_at,"
    " :status, :available_at, :attempts)"
)


_RETRY = (
    update(outbox_events)
    .where(outbox_events.c.sequence == bindparam("sequence"))
    .values(
        attempts=bindparam("attempts"),
        available_at=bindparam("available_at"),
        last_error=bindparam("error"),
    )
)
ERROR_CHARS = 512  # last_error's length


def _oldest_first(rows: Iterable[PendingRow]) -> list[PendingRow]:
    # As the heads were ordered: SQL does not promise a join keeps that order.
    return sorted(rows, key=lambda r: r.sequence)


def _finish_params(
    sequences: Sequence[int], status: str, now_ms: int, error: str | None
) -> dict[str, object]:
    return {
        "sequences": list(sequences), "new_status": status, "now_ms": now_ms,
        "error": error and error[:ERROR_CHARS],
    }  # fmt: skip


def _retry_params(sequence: int, attempts: int, available_at: int, error: str) -> dict[str, object]:
    return {
        "sequence": sequence, "attempts": attempts, "available_at": available_at,
        "error": error[:ERROR_CHARS],
    }  # fmt: skip


class OutboxWriter:
    """A unit of work's outbox rows, written with its change."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._pending: list[dict[str, object]] = []

    def add(self, event: ev.CartEvent, now_ms: int) -> None:
        """Queues the event's rows for each destination; `write` inserts them."""
        if tracing.enabled():
            event.trace_parent = tracing.current_traceparent()
        self._pending.extend(outbox_rows(event, now_ms))

    async def write(self) -> None:
        """Inserts every queued row, in the caller's transaction."""
        if self._pending:
            rows, self._pending = self._pending, []
            await self._connection.execute_many_later(_WRITE, rows)


class OutboxRepository:
    """The relay's reads and writes of the outbox (its own transactions, through SQLAlchemy)."""

    def __init__(self, session: AsyncSession | AsyncConnection) -> None:
        self._session = session

    async def add(self, events: Sequence[ev.CartEvent], now_ms: int) -> None:
        """Writes events in the caller's transaction (tests and benches fill outboxes so)."""
        rows = [row for event in events for row in outbox_rows(event, now_ms)]
        if rows:
            await self._session.execute(_INSERT, rows)

    async def settle_relay_round(self) -> None:
        """Settings for a relay round's transaction (PostgreSQL), taken before its claim.

        - Custom plans for the claim: psycopg prepares a statement after five runs, and the
          generic plan PostgreSQL then chose for it grew with the table (claim p50 3 → 11 ms
          over 900 rounds of 5 events) where the custom plan stays at ~1.5 ms.
        - The commit returns before its WAL reaches the disk: a crash may lose the last
          fraction of a second of marks, and the relay then publishes those events once more,
          which at-least-once delivery under stable event ids already allows. It saves a disk
          flush (~2.5 ms here) per round.
        """
        if self.is_postgresql():
            await self._session.execute(_RELAY_ROUND_SETTINGS)

    def is_postgresql(self) -> bool:
        """PostgreSQL: a claim locks its rows and skips those another relay holds (so several
        relays can share a destination), rows are finished by one array parameter and a round
        takes its own settings. SQLite has none of these (its writers take turns)."""
        session = self._session
        if isinstance(session, AsyncConnection):
            return session.dialect.name == "postgresql"
        return session.get_bind().dialect.name == "postgresql"

    async def claim(self, destination: str, now_ms: int, limit: int) -> list[PendingRow]:
        """Due rows that head their cart's queue, locked until the transaction ends.

        Only the oldest pending row of each cart is eligible, so a cart's events go out in commit
        order even with several relays (another relay's locked row still blocks what follows it)
        and while a failed row waits for its retry.
        """
        result = await self._session.execute(
            _CLAIM_LOCKING if self.is_postgresql() else _CLAIM,
            {"destination": destination, "now_ms": now_ms, "limit": limit},
        )
        return _oldest_first(PendingRow(r.sequence, r.event, r.attempts) for r in result)

    async def finish(
        self, sequences: Sequence[int], status: str, now_ms: int, error: str | None = None
    ) -> None:
        if sequences:
            await self._session.execute(
                _FINISH_ARRAY if self.is_postgresql() else _FINISH,
                _finish_params(sequences, status, now_ms, error),
            )

    async def retry_later(
        self, sequence: int, attempts: int, available_at: int, error: str
    ) -> None:
        await self._session.execute(_RETRY, _retry_params(sequence, attempts, available_at, error))

    async def backlog(self) -> dict[str, tuple[int, int | None]]:
        """Per destination: pending events and the creation time (ms) of the oldest."""
        pending = outbox_events.c.status == literal_column("'pending'")
        result = await self._session.execute(
            select(
                outbox_events.c.destination,
                func.count(),
                func.min(outbox_events.c.created_at),
            )
            .where(pending)
            .group_by(outbox_events.c.destination)
        )
        return {destination: (count, oldest) for destination, count, oldest in result}

    async def prune(self, sent_before_ms: int) -> int:
        result = await self._session.execute(
            delete(outbox_events).where(
                outbox_events.c.status != "pending", outbox_events.c.sent_at < sent_before_ms
            )
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _driver_statement(statement: Any) -> Statement:
    """A statement built above, for the driver (PostgreSQL, `:name` parameters)."""
    dialect = psycopg_dialect(paramstyle="named")  # type: ignore[no-untyped-call]
    return Statement(str(statement.compile(dialect=dialect)))


_DRIVER_SETTINGS = _driver_statement(_RELAY_ROUND_SETTINGS)
_DRIVER_CLAIM = _driver_statement(_CLAIM_LOCKING)
_DRIVER_FINISH = _driver_statement(_FINISH_ARRAY)
_DRIVER_RETRY = _driver_statement(_RETRY)


class DriverRound:
    """A relay round's statements on PostgreSQL through the request path's driver: BEGIN, the
    round's settings and the claim travel in one round trip, the marks with COMMIT in another
    (through SQLAlchemy's asyncio layer a round took four, each with greenlet switches)."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    async def claim(self, destination: str, now_ms: int, limit: int) -> list[PendingRow]:
        await self._connection.begin(write=True)
        await self._connection.execute_later(_DRIVER_SETTINGS)
        found = await self._connection.fetch_all(
            _DRIVER_CLAIM, {"destination": destination, "now_ms": now_ms, "limit": limit}
        )
        return _oldest_first(
            PendingRow(r["sequence"], bytes(r["event"]), r["attempts"]) for r in found
        )

    async def finish(
        self, sequences: Sequence[int], status: str, now_ms: int, error: str | None = None
    ) -> None:
        if sequences:
            await self._connection.execute_later(
                _DRIVER_FINISH, _finish_params(sequences, status, now_ms, error)
            )

    async def retry_later(
        self, sequence: int, attempts: int, available_at: int, error: str
    ) -> None:
        await self._connection.execute_later(
            _DRIVER_RETRY, _retry_params(sequence, attempts, available_at, error)
        )

    async def commit(self) -> None:
        await self._connection.commit()
