"""Fixtures: a fresh PostgreSQL database per run, and real servers (subprocesses) on ephemeral ports.

Every test that takes `stub` runs twice: against a server on PostgreSQL and one on SQLite.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import psycopg
import pytest
from cartservice.basket.v1 import basket_service_pb2_grpc
from cartservice.cart.v1 import cart_service_pb2_grpc

from tests.brokers import delete_test_exchange
from tests.identities import SERVER_FLAGS, DefaultCaller
from tests.servers import ServerProcess

BASE_URL = os.environ.get("CARTSERVICE_TEST_DATABASE_URL", "postgresql://127.0.0.1:5432/test")


@contextlib.contextmanager
def fresh_postgres_database(prefix: str = "cartservice_test") -> Iterator[str]:
    """An empty database on the test server (SQLAlchemy URL), dropped on the way out.
    Used by the tests and by bench/."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(BASE_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = psycopg.conninfo.conninfo_to_dict(BASE_URL)
    host, port = base.get("host", "127.0.0.1"), base.get("port", 5432)
    user = f"{base['user']}@" if base.get("user") else ""
    try:
        yield f"postgresql+psycopg://{user}{host}:{port}/{name}"
    finally:
        with psycopg.connect(BASE_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session", autouse=True)
def own_rabbitmq_exchange() -> Iterator[None]:
    """The run's exchange (tests/brokers.py) goes when the run ends; declared by whoever
    publishes or consumes first."""
    yield
    delete_test_exchange()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database created for this run only, dropped afterwards."""
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("sqlite") / "cartservice.db"
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture(scope="session", params=["postgresql", "sqlite"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    url_fixture = "postgres_url" if request.param == "postgresql" else "sqlite_url"
    database_url = request.getfixturevalue(url_fixture)
    workdir: Path = tmp_path_factory.mktemp(f"server-{request.param}")
    process = ServerProcess.start(workdir, database_url=database_url, extra=SERVER_FLAGS)
    yield process
    process.stop()


@pytest.fixture(scope="session")
def channel(server: ServerProcess) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(server.address) as channel:
        yield channel


@pytest.fixture(scope="session")
def stub(channel: grpc.Channel) -> cart_service_pb2_grpc.CartServiceStub:
    """Calls as the default caller (tests.identities.DEFAULT: a super admin) unless told otherwise."""
    return cart_service_pb2_grpc.CartServiceStub(grpc.intercept_channel(channel, DefaultCaller()))


@pytest.fixture(scope="session")
def baskets(channel: grpc.Channel) -> basket_service_pb2_grpc.BasketServiceStub:
    """BasketService as the default caller, like `stub`."""
    return basket_service_pb2_grpc.BasketServiceStub(
        grpc.intercept_channel(channel, DefaultCaller())
    )
