"""Builds and runs the grpc.aio server: services, health, reflection, graceful shutdown."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import signal
import socket
from collections.abc import Callable
from pathlib import Path
from ssl import CERT_REQUIRED
from typing import Any

import grpc
from cartservice.basket.v1 import basket_service_pb2, basket_service_pb2_grpc
from cartservice.cart.v1 import (
    cart_service_pb2,
    cart_service_pb2_grpc,
    catalog_service_pb2,
    catalog_service_pb2_grpc,
)
from grpc_health.v1 import health, health_pb2_grpc
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server import grpc_runtime, metrics, tracing
from server.api import basket_watch, reflection, validation
from server.api.access_log import AccessLogInterceptor
from server.api.basket_servicer import BasketServicer
from server.api.browser import BrowserGateway, cors_origins
from server.api.cart_servicer import CartServicer
from server.api.catalog_servicer import CatalogServicer
from server.api.errors import ErrorTranslationInterceptor
from server.api.health import PROBE_TIMEOUT_S, DatabaseHealth
from server.auth.interceptor import AuthenticationInterceptor
from server.auth.setup import token_verifier
from server.config import Settings
from server.events.relay import OutboxRelay, report_backlog
from server.events.setup import DESTINATIONS, log_destinations, outbox_relay
from server.grpc_runtime import GenericOnly
from server.service.baskets import BasketHandlers
from server.service.carts import CartHandlers, CartLimits
from server.service.catalogs import DEFAULT_COLLECTION, CatalogHandlers
from server.store.database import create_engine, database_url, session_factory
from server.store.demo_catalog import demo_document
from server.store.driver import Database, reachable
from server.store.migrate import upgrade_to_head
from server.store.outbox import OUTBOX_CHANNEL
from server.store.unit_of_work import UnitOfWorkFactory
from server.watch.basket_changes import CHANNEL, BasketChange
from server.watch.basket_feed import BasketFeed
from server.watch.postgres_listener import PostgresListener
from server.workers import READY_FILE_ENV

log = logging.getLogger("cartservice")

CART_SERVICE = cart_service_pb2.DESCRIPTOR.services_by_name["CartService"].full_name
BASKET_SERVICE = basket_service_pb2.DESCRIPTOR.services_by_name["BasketService"].full_name
CATALOG_SERVICE = catalog_service_pb2.DESCRIPTOR.services_by_name["CatalogService"].full_name
KEEPALIVE_OPTIONS = [
    # Long-lived connections behind load balancers: probe idle peers, tolerate client pings.
    ("grpc.keepalive_time_ms", 60_000),
    ("grpc.keepalive_timeout_ms", 20_000),
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
]


async def serve(settings: Settings) -> None:
    if grpc_runtime.grpc_imported_first:
        log.warning("grpc was imported before the server package: GRPC_EXPERIMENTS not applied")
    validation.configure(settings.limits())
    if tracing.configure("cartservice", settings.otlp_endpoint, settings.trace_file):
        log.info("tracing on: %s", settings.otlp_endpoint or settings.trace_file)
    verifier = token_verifier(settings)
    url = database_url(settings.database_url, settings.data_dir)
    # SQLAlchemy for migrations, the catalog and the relay; the driver's own pool for requests.
    engine = create_engine(url, pool_size=2 * max(1, settings.relay_workers) + 1)
    database = Database(url, settings.db_pool_size)
    if settings.migrate_at_start():
        await upgrade_to_head(engine)
        log.info("database migrated: %s", url.render_as_string(hide_password=True))
    sessions = session_factory(engine)
    server = grpc.aio.server(
        interceptors=[
            *tracing.server_interceptors(),
            AccessLogInterceptor(),
            AuthenticationInterceptor(verifier),
            ErrorTranslationInterceptor(),
        ],
        options=_server_options(settings),
    )
    relay = outbox_relay(settings, sessions, url) if settings.relay == "in-process" else None
    on_commit = relay.notify if relay else lambda: None
    on_postgres = url.get_backend_name() == "postgresql"
    feed = BasketFeed(
        lambda basket_id: baskets.snapshot_for_feed(basket_id),
        stall_seconds=settings.watch_stall_seconds,
    )
    units = UnitOfWorkFactory(
        database,
        local_fan_out=None if on_postgres else feed.publish,
        cart_cache_bytes=settings.cart_cache_mb * 1024 * 1024,
    )
    limits = settings.limits()
    cart_limits = CartLimits(items_per_cart=limits.items_per_cart, quantity=limits.quantity)
    baskets = BasketHandlers(units, feed, on_commit=on_commit, limits=cart_limits)
    carts = CartHandlers(units, on_commit=on_commit, limits=cart_limits)
    services = GenericOnly(server)
    cart_service_pb2_grpc.add_CartServiceServicer_to_server(CartServicer(carts), services)
    basket_service_pb2_grpc.add_BasketServiceServicer_to_server(
        BasketServicer(baskets, feed), services
    )
    catalogs = CatalogHandlers(units)
    catalog_service_pb2_grpc.add_CatalogServiceServicer_to_server(
        CatalogServicer(catalogs), services
    )
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, services)
    reflection.enable(
        services,
        (CART_SERVICE, BASKET_SERVICE, CATALOG_SERVICE, health.SERVICE_NAME),
    )
    port = _listen(server, settings)
    gateway = _browser_gateway(server, settings) if settings.browser_port else None
    # After the ports are taken: a server that cannot listen stops before it opens connections.
    await _load_demo_catalog(settings, catalogs)
    background_stop = asyncio.Event()
    background: list[asyncio.Task[None]] = []
    if settings.metrics_port:
        # Read at scrape time.
        metrics.watch_streams.set_function(lambda: feed.open_streams)
        metrics.db_connections_in_use.set_function(lambda: database.in_use)
        background.append(_serve_metrics(settings, sessions, background_stop))
    if on_postgres:
        listener = _listener(url, feed, relay)
        background.append(asyncio.create_task(listener.run(background_stop)))
        await asyncio.wait_for(listener.listening.wait(), 30)
    basket_watch.tune_garbage_collector()
    await basket_watch.start_calls_in_empty_context(server)
    database_health = DatabaseHealth(
        health_servicer,
        ("", CART_SERVICE, BASKET_SERVICE, CATALOG_SERVICE),
        lambda: reachable(url, PROBE_TIMEOUT_S),
    )
    await database_health.set_serving()
    if on_postgres:
        background.append(asyncio.create_task(database_health.run(background_stop)))
    if relay:
        background.append(asyncio.create_task(relay.run(background_stop)))
        log_destinations(log, settings, "outbox relay in process")
    if gateway:
        await gateway.start()
        scheme = "https" if settings.tls_cert_file else "http"
        log.info("browser endpoint on %s://%s:%d", scheme, settings.host, gateway.port)
    _announce(settings.host, port)

    await _wait_for_stop_signal()
    log.info("stopping: refusing new calls, %.1fs grace for running ones", settings.grace_period)
    await health_servicer.enter_graceful_shutdown()
    # Open watches end now with UNAVAILABLE, so their clients reconnect to another server.
    feed.close("server shutting down")
    if gateway:
        await gateway.stop()
    await server.stop(settings.grace_period)
    # Calls are done; the relay finishes its round and stops. Unsent rows stay in the outbox.
    background_stop.set()
    await asyncio.gather(*background)
    if relay:
        await relay.close()
    await database.close()
    await engine.dispose()
    tracing.shutdown()
    log.info("stopped")


def _serve_metrics(
    settings: Settings, sessions: async_sessionmaker[AsyncSession], stop: asyncio.Event
) -> asyncio.Task[None]:
    """The metrics endpoint (its own thread), and the task that keeps the outbox gauges."""
    try:
        metrics.serve(settings.host, settings.metrics_port)
    except OSError as error:
        raise CannotListen(
            f"--metrics-port {settings.metrics_port} on {settings.host}: {error.strerror}"
        ) from None
    log.info("metrics on http://%s:%d/metrics", settings.host, settings.metrics_port)
    return asyncio.create_task(report_backlog(sessions, DESTINATIONS, stop))


def _listener(url: URL, feed: BasketFeed | None, relay: OutboxRelay | None) -> PostgresListener:
    """What this process hears from the others through PostgreSQL: basket changes for its
    watchers, and new outbox rows for its relay."""
    handlers: dict[str, Callable[[str], None]] = {}
    if feed is not None:
        handlers[CHANNEL] = lambda payload: feed.publish(BasketChange.from_payload(payload))
    if relay is not None:
        handlers[OUTBOX_CHANNEL] = lambda _: relay.notify()

    def on_reconnect() -> None:
        if feed is not None:
            feed.resync()
        if relay is not None:
            relay.notify()

    return PostgresListener(url, handlers, on_reconnect)


def _server_options(settings: Settings) -> list[tuple[str, int]]:
    options = [
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        # grpc's default (on) lets a second server silently share a port with the first; only
        # the workers of one `serve --workers N` share theirs.
        ("grpc.so_reuseport", 1 if os.environ.get(READY_FILE_ENV) else 0),
        *KEEPALIVE_OPTIONS,
        *basket_watch.ACCEPT_BURST_OPTIONS,
    ]
    if settings.max_concurrent_streams:
        options.append(("grpc.max_concurrent_streams", settings.max_concurrent_streams))
    return options


async def _load_demo_catalog(settings: Settings, catalogs: CatalogHandlers) -> None:
    """The demo catalog as the default one: `auto` loads it into the embedded database when it
    has no default catalog, `always` whenever the default catalog is another document."""
    if settings.demo_catalog == "never" or (
        settings.demo_catalog == "auto" and settings.database_url
    ):
        return
    loaded = await catalogs.store_unless_present(
        DEFAULT_COLLECTION, demo_document(), replace_another=settings.demo_catalog == "always"
    )
    if loaded:
        log.info(
            "demo catalog loaded as the default catalog: %d skus, %d promotions (version %d)",
            len(loaded.catalog.skus),
            len(loaded.catalog.promotions),
            loaded.version,
        )


async def run_relay(settings: Settings) -> None:
    """`cartservice relay`: the outbox relay alone, until SIGTERM/SIGINT."""
    tracing.configure("cartservice-relay", settings.otlp_endpoint, settings.trace_file)
    url = database_url(settings.database_url, settings.data_dir)
    # A connection per destination loop and one for pruning: none opened and closed per round.
    engine = create_engine(url, pool_size=2 * max(1, settings.relay_workers) + 1)
    sessions = session_factory(engine)
    relay = outbox_relay(settings, sessions, url)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(relay.run(stop))]
    if settings.metrics_port:
        tasks.append(_serve_metrics(settings, sessions, stop))
    if url.get_backend_name() == "postgresql":
        # Woken by every commit that writes outbox rows, in any process; polling stays as backup.
        tasks.append(asyncio.create_task(_listener(url, None, relay).run(stop)))
    log_destinations(log, settings, "outbox relay running")
    await _wait_for_stop_signal()
    stop.set()
    await asyncio.gather(*tasks)
    await relay.close()
    await engine.dispose()
    tracing.shutdown()
    log.info("relay stopped")


def _announce(host: str, port: int) -> None:
    if os.environ.get(READY_FILE_ENV):
        # One of `serve --workers N`: the parent says "serving on" once every worker is ready.
        log.info("worker ready on %s:%d", host, port)
        Path(os.environ[READY_FILE_ENV]).touch()
    else:
        log.info("serving on %s:%d", host, port)


class CannotListen(Exception):
    """The server cannot take its address: the port is taken, the host is not this machine's,
    or the TLS files cannot be used."""


def _listen(server: grpc.aio.Server, settings: Settings) -> int:
    credentials = _tls_credentials(settings) if settings.tls_cert_file else None
    address = f"{settings.host}:{settings.port}"
    try:
        if credentials is None:
            return int(server.add_insecure_port(address))
        return int(server.add_secure_port(address, credentials))
    except RuntimeError as error:
        raise CannotListen(_why_not_listening(settings)) from error


def _browser_gateway(server: grpc.aio.Server, settings: Settings) -> BrowserGateway:
    tls: dict[str, Any] = {}
    if settings.tls_cert_file:
        tls = {"ssl_certfile": settings.tls_cert_file, "ssl_keyfile": settings.tls_key_file}
        if settings.tls_client_ca_file:
            tls |= {"ssl_ca_certs": settings.tls_client_ca_file, "ssl_cert_reqs": CERT_REQUIRED}
    try:
        return BrowserGateway(
            server,
            host=settings.host,
            port=settings.browser_port,
            origins=cors_origins(settings.cors_origins),
            tls=tls,
            grace_seconds=settings.grace_period,
            read_max_bytes=settings.max_message_bytes,
            share_port=bool(os.environ.get(READY_FILE_ENV)),
        )
    except OSError as error:
        raise CannotListen(
            f"--browser-port {settings.browser_port} on {settings.host}: {error.strerror}"
        ) from None


def _tls_credentials(settings: Settings) -> grpc.ServerCredentials:
    client_ca = _read("tls_client_ca_file", settings) if settings.tls_client_ca_file else None
    key, chain = _read("tls_key_file", settings), _read("tls_cert_file", settings)
    log.info("TLS on%s", " with client certificates required" if client_ca else "")
    return grpc.ssl_server_credentials(
        [(key, chain)], root_certificates=client_ca, require_client_auth=client_ca is not None
    )


def _read(setting: str, settings: Settings) -> bytes:
    path = Path(getattr(settings, setting))
    try:
        return path.read_bytes()
    except OSError as error:
        flag = "--" + setting.replace("_", "-")
        raise CannotListen(f"cannot read {flag} {path}: {error.strerror}") from None


def _why_not_listening(settings: Settings) -> str:
    """grpc says only that adding the port failed; a plain socket tells which reason it was."""
    address = f"{settings.host}:{settings.port}"
    try:
        family, kind, _, _, where = socket.getaddrinfo(
            settings.host, settings.port, type=socket.SOCK_STREAM
        )[0]
        with socket.socket(family, kind) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(where)
    except socket.gaierror:
        return f"--host {settings.host} is not a name or address this machine can resolve"
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            return f"{address} is already in use"
        return f"cannot listen on {address}: {error.strerror}"
    if settings.tls_cert_file:
        return (
            f"cannot listen on {address} with TLS: --tls-cert-file and --tls-key-file must be "
            "a PEM certificate chain and its private key"
        )
    return f"cannot listen on {address}"


async def _wait_for_stop_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
