"""The two baselines of bench/request_path.py, each a grpc.aio server with no code of ours:

    python -m bench.baselines echo                     # the framework's limit: answers the request
    python -m bench.baselines sql --database-url URL   # the database's limit, through psycopg async

`sql` serves /bare/Write (lock the cart row, write its document back, insert one outbox row,
commit) and /bare/Read (one primary-key SELECT of the row), for the cart id of a GetCartRequest,
on a pool of 10 connections like the server's. Prints "listening on PORT".
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from typing import Any

import grpc
import psycopg
from cartservice.cart.v1 import cart_service_pb2 as pb

POOL_SIZE = 10
BARE_EVENT_PREFIX = "bare"  # + 32 hex digits: event_id is 36 characters
LOCK = "SELECT document FROM carts WHERE id = %s FOR UPDATE"
UPDATE = "UPDATE carts SET document = %s, version = version + 1, updated_time = %s WHERE id = %s"
INSERT = (
    "INSERT INTO outbox_events (event_id, destination, cart_id, event, created_at, status,"
    " available_at, attempts) VALUES (%s, 'eventbridge', %s, %s, %s, 'pending', %s, 0)"
)
READ = (
    "SELECT id, collection_id, user_id, status, version, created_time, updated_time, document"
    " FROM carts WHERE id = %s"
)
EVENT = bytes(600)


class Handlers(grpc.GenericRpcHandler):  # type: ignore[misc]
    def __init__(self, methods: dict[str, Any]) -> None:
        self._methods = {
            name: grpc.unary_unary_rpc_method_handler(method) for name, method in methods.items()
        }

    def service(self, details: Any) -> Any:
        return self._methods.get(details.method, self._methods.get("*"))


async def echo(request: bytes, context: Any) -> bytes:
    return request


class Sql:
    def __init__(self, url: str) -> None:
        self._url = url
        self._pool: asyncio.Queue[psycopg.AsyncConnection[Any]] = asyncio.Queue()

    async def open(self) -> None:
        for _ in range(POOL_SIZE):
            self._pool.put_nowait(await psycopg.AsyncConnection.connect(self._url, autocommit=True))

    async def write(self, request: bytes, context: Any) -> bytes:
        cart_id = pb.GetCartRequest.FromString(request).cart_id
        connection = await self._pool.get()
        try:
            now = time.time_ns() // 1_000_000
            async with connection.transaction():
                row = await (await connection.execute(LOCK, (cart_id,))).fetchone()
                assert row is not None
                await connection.execute(UPDATE, (row[0], now, cart_id))
                event_id = f"{BARE_EVENT_PREFIX}{uuid.uuid4().hex}"
                await connection.execute(INSERT, (event_id, cart_id, EVENT, now, now))
        finally:
            self._pool.put_nowait(connection)
        return b""

    async def read(self, request: bytes, context: Any) -> bytes:
        cart_id = pb.GetCartRequest.FromString(request).cart_id
        connection = await self._pool.get()
        try:
            row = await (await connection.execute(READ, (cart_id,))).fetchone()
        finally:
            self._pool.put_nowait(connection)
        assert row is not None
        return str(row[7]).encode()


async def serve(kind: str, database_url: str) -> None:
    if kind == "echo":
        methods: dict[str, Any] = {"*": echo}
    else:
        sql = Sql(database_url)
        await sql.open()
        methods = {"/bare/Write": sql.write, "/bare/Read": sql.read}
    server = grpc.aio.server()
    server.add_generic_rpc_handlers([Handlers(methods)])
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(f"listening on {port}", flush=True)
    await server.wait_for_termination()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["echo", "sql"])
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    asyncio.run(serve(args.kind, args.database_url))


if __name__ == "__main__":
    main()
