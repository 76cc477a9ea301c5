"""Ids of carts and their parts (items, skus, payments, …): int64, unique across every cart.

PostgreSQL: the sequence `cart_part_ids` steps by BLOCK, so one nextval hands a process BLOCK
ids, and most writes allocate without a round trip. A block lost in a crash leaves a gap, never
a duplicate. SQLite: the table `part_id_blocks` holds the next free id, advanced inside the
writing transaction (which holds SQLite's write lock from BEGIN), so a rollback gives the ids back
and no two writers, in any process, can take the same ones.
"""

from __future__ import annotations

from server.store.driver import Connection, Statement

BLOCK = 1000
SEQUENCE = "cart_part_ids"

_NEXT_BLOCK = Statement(f"SELECT nextval('{SEQUENCE}') AS start")
_TAKE_SQLITE = Statement(
    "UPDATE part_id_blocks SET next_id = next_id + :count WHERE name = 'cart_parts'"
    " RETURNING next_id - :count AS start"
)


class PartIds:
    """One per process; shared by its units of work (the event loop runs one at a time)."""

    def __init__(self) -> None:
        self._next = 0
        self._end = 0

    async def take(self, connection: Connection, count: int) -> list[int]:
        if count == 0:
            return []
        if connection.dialect != "postgresql":
            row = await connection.fetch_one(_TAKE_SQLITE, {"count": count})
            assert row is not None
            first = int(row["start"])
            return list(range(first, first + count))
        taken: list[int] = []
        while len(taken) < count:
            if self._next == self._end:
                row = await connection.fetch_one(_NEXT_BLOCK)
                assert row is not None
                self._next, self._end = int(row["start"]), int(row["start"]) + BLOCK
            step = min(count - len(taken), self._end - self._next)
            taken.extend(range(self._next, self._next + step))
            self._next += step
        return taken
