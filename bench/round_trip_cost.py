"""What one change's SQL costs psycopg's Python, by how it is sent (no grpc, no server code):

    .venv/bin/python -m bench.round_trip_cost [--changes 3000] [--rounds 3]

On a fresh PostgreSQL database, 8 connections each run changes of their own carts (lock or
read the row, write its document back, insert an outbox row, commit), sent as separate
statements, as two pipelines, as two query strings with values bound client-side, and as groups
of 2, 4 and 8 changes per transaction in one query string. Prints CPU µs per change (this
process only) and changes/s, alternating the ways in rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg

from tests.conftest import fresh_postgres_database

CONNECTIONS = 8
DOCUMENT = os.urandom(800)
LOCK = "SELECT document, version FROM carts WHERE id = %(id)s FOR UPDATE"
UPDATE = "UPDATE carts SET document = %(doc)s, version = version + 1 WHERE id = %(id)s"
INSERT = "INSERT INTO outbox VALUES (%(event_id)s, %(id)s, %(event)s)"
Send = Callable[[psycopg.AsyncConnection[Any], list[int]], Awaitable[None]]


def values(cart_id: int) -> dict[str, Any]:
    return {"id": cart_id, "doc": DOCUMENT, "event_id": uuid.uuid4().hex, "event": DOCUMENT[:600]}


async def separate(connection: psycopg.AsyncConnection[Any], carts: list[int]) -> None:
    (cart,) = carts
    params = values(cart)
    async with connection.transaction():
        await (await connection.execute(LOCK, params)).fetchone()
        await connection.execute(UPDATE, params)
        await connection.execute(INSERT, params)


async def pipelined(connection: psycopg.AsyncConnection[Any], carts: list[int]) -> None:
    (cart,) = carts
    params = values(cart)
    cursor = connection.cursor()
    async with connection.pipeline():
        await connection.execute("BEGIN")
        await cursor.execute(LOCK, params)
    await cursor.fetchone()
    async with connection.pipeline():
        await connection.execute(UPDATE, params)
        await connection.execute(INSERT, params)
        await connection.execute("COMMIT")


async def one_string(connection: psycopg.AsyncConnection[Any], carts: list[int]) -> None:
    cursor = psycopg.AsyncClientCursor(connection)
    await cursor.execute(
        "SELECT id, document, version FROM carts WHERE id = ANY(%(ids)s)", {"ids": carts}
    )
    await cursor.fetchall()
    script = ["BEGIN"]
    for cart in carts:
        params = values(cart)
        script += [cursor.mogrify(UPDATE, params), cursor.mogrify(INSERT, params)]
    await cursor.execute("; ".join([*script, "COMMIT"]))


async def run(url: str, send: Send, changes: int, group: int) -> tuple[float, float]:
    connections = [
        await psycopg.AsyncConnection.connect(url, autocommit=True) for _ in range(CONNECTIONS)
    ]

    async def worker(n: int) -> None:
        carts = [n * 64 + k + 1 for k in range(group)]
        for _ in range(changes // CONNECTIONS // group):
            await send(connections[n], carts)

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker(n) for n in range(CONNECTIONS)))
    spent, wall = time.process_time() - cpu, time.perf_counter() - started
    for connection in connections:
        await connection.close()
    return spent / changes * 1e6, changes / wall


async def measure(url: str, changes: int, rounds: int) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as connection:
        await connection.execute(
            "CREATE TABLE carts (id bigint PRIMARY KEY, document bytea, version int)"
        )
        await connection.execute(
            "CREATE TABLE outbox (event_id text PRIMARY KEY, cart_id bigint, event bytea)"
        )
        await connection.execute(
            "INSERT INTO carts SELECT g, %s, 0 FROM generate_series(1, %s) g",
            (DOCUMENT, CONNECTIONS * 64),
        )
    ways: list[tuple[str, Send, int]] = [
        ("separate statements", separate, 1),
        ("two pipelines", pipelined, 1),
        ("read, then one query string", one_string, 1),
        *((f"groups of {n}, read, one string", one_string, n) for n in (2, 4, 8)),
    ]
    for _ in range(rounds):
        for name, send, group in ways:
            cpu_us, rate = await run(url, send, changes, group)
            print(f"{name:34} {cpu_us:6.0f} µs CPU per change {rate:8,.0f} changes/s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with fresh_postgres_database("cartservice_bench") as url:
        asyncio.run(measure(url.replace("+psycopg", ""), args.changes, args.rounds))


if __name__ == "__main__":
    main()
