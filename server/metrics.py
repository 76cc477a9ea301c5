"""Prometheus metrics, served over HTTP on --metrics-port (off by default).

RPC metrics use the names of the grpc ecosystem's Prometheus middleware (grpc_server_started_total,
grpc_server_handled_total, grpc_server_handling_seconds), so existing dashboards apply. The rest
are the service's own: the outbox backlog and the age of its oldest pending event, relay
outcomes, open WatchBasket streams and database connections in use.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

RPC_LABELS = ("grpc_type", "grpc_service", "grpc_method")
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

rpc_started = Counter("grpc_server_started", "RPCs started on the server.", RPC_LABELS)
rpc_handled = Counter(
    "grpc_server_handled",
    "RPCs completed on the server, by status code.",
    (*RPC_LABELS, "grpc_code"),
)
rpc_seconds = Histogram(
    "grpc_server_handling_seconds",
    "Time from the start of an RPC to its end, in seconds.",
    RPC_LABELS,
    buckets=LATENCY_BUCKETS,
)
outbox_pending = Gauge(
    "cartservice_outbox_pending_events", "Outbox events not yet delivered.", ("destination",)
)
outbox_oldest_age = Gauge(
    "cartservice_outbox_oldest_pending_age_seconds",
    "Age of the oldest undelivered outbox event (0 when none waits).",
    ("destination",),
)
relay_outcomes = Counter(
    "cartservice_relay_events",
    "Events the relay tried to deliver, by outcome: sent, retry (refused, backed off), away "
    "(destination unreachable), unroutable, dead.",
    ("destination", "outcome"),
)
watch_streams = Gauge("cartservice_watch_streams", "Open WatchBasket streams.")
db_connections_in_use = Gauge(
    "cartservice_db_connections_in_use", "Request-path database connections in use."
)
group_commit_changes = Histogram(
    "cartservice_group_commit_changes",
    "Changes committed together in one transaction (PostgreSQL group commit).",
    buckets=(1, 2, 4, 8, 16, 32, 64),
)
group_commit_reruns = Counter(
    "cartservice_group_commit_reruns",
    "Changes run again alone, rows locked: their cart changed since it was read (changed), "
    "they wrote something whose answer they needed (needs_lock), or they failed or wrote "
    "nothing on a cart from the cache (cached).",
    ("reason",),
)
_cart_cache_reads = Counter(
    "cartservice_cart_cache_reads",
    "Changes that looked for their cart among those this process last committed (PostgreSQL):"
    " found (hit) or read from the database (miss).",
    ("result",),
)
cart_cache_hits = _cart_cache_reads.labels("hit")
cart_cache_misses = _cart_cache_reads.labels("miss")

# Label children by (type, method[, code]), looked up once: .labels() takes a lock each time.
_started: dict[tuple[str, str], Counter] = {}
_finished: dict[tuple[str, str, str], tuple[Counter, Histogram]] = {}
MAX_CHILDREN = 10_000  # methods x codes; a server has few, but unknown methods come from clients


def _labels(grpc_type: str, full_method: str) -> tuple[str, str, str]:
    service, _, method = full_method.lstrip("/").partition("/")
    return grpc_type, service, method


def rpc_begun(grpc_type: str, full_method: str) -> None:
    """An RPC ("/package.Service/Method") started."""
    child = _started.get((grpc_type, full_method))
    if child is None:
        child = rpc_started.labels(*_labels(grpc_type, full_method))
        if len(_started) < MAX_CHILDREN:
            _started[(grpc_type, full_method)] = child
    child.inc()


def rpc_finished(grpc_type: str, full_method: str, code: str, seconds: float) -> None:
    key = (grpc_type, full_method, code)
    children = _finished.get(key)
    if children is None:
        labels = _labels(grpc_type, full_method)
        children = (rpc_handled.labels(*labels, code), rpc_seconds.labels(*labels))
        if len(_finished) < MAX_CHILDREN:
            _finished[key] = children
    handled, latency = children
    handled.inc()
    latency.observe(seconds)


def serve(host: str, port: int) -> None:
    start_http_server(port, addr=host)
