"""Settings of the service. Each is a command-line flag with an environment variable twin
(--grace-period / CARTSERVICE_GRACE_PERIOD); the flag wins, then the variable, then the default.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from server.api.validation import Limits
from server.events.catalog import EXCHANGE

ENV_PREFIX = "CARTSERVICE_"


def setting(default: Any, help: str, *, groups: tuple[str, ...] = ("serve",)) -> Any:
    return field(default=default, metadata={"help": help, "groups": groups})


KEYS = ("serve", "token")
RELAY = ("serve", "relay")


@dataclass(frozen=True)
class Settings:
    host: str = setting("127.0.0.1", "Address to listen on (0.0.0.0 for every interface).")
    port: int = setting(50051, "Port to listen on; 0 picks a free one (logged at start).")
    workers: int = setting(
        1, "Server processes sharing the port (PostgreSQL only; each runs its own relay)."
    )
    data_dir: Path = setting(
        Path("var"),
        "Directory of the embedded SQLite database and of its generated JWT secret.",
        groups=("serve", "migrate", "token", "relay"),
    )
    database_url: str = setting(
        "",
        "SQLAlchemy URL, e.g. postgresql+psycopg://user@host:5432/db; "
        "empty: SQLite file cartservice.db in the data directory.",
        groups=("serve", "migrate", "token", "relay"),
    )
    jwt_algorithm: str = setting("HS256", "JWT algorithm: HS256, RS256 or ES256.")
    jwt_secret_file: str = setting(
        "",
        "File holding the HS256 secret; empty with the embedded default: <data-dir>/jwt-secret, "
        "generated at first start.",
        groups=KEYS,
    )
    jwt_public_key_file: str = setting("", "PEM public key verifying RS256/ES256 tokens.")
    jwt_jwks_file: str = setting("", "JWKS file verifying RS256/ES256 tokens (chosen by kid).")
    jwt_jwks_url: str = setting(
        "",
        "JWKS endpoint of the identity provider (RS256/ES256): fetched at start, on an unknown "
        "kid and every 5 minutes.",
    )
    jwt_issuer: str = setting("", "Required iss claim; empty: not checked.", groups=KEYS)
    jwt_audience: str = setting("", "Required aud claim; empty: not checked.", groups=KEYS)
    jwt_leeway: float = setting(30.0, "Clock skew, in seconds, allowed on exp and nbf.")
    tls_cert_file: str = setting("", "PEM certificate chain; with --tls-key-file, serve TLS only.")
    tls_key_file: str = setting("", "PEM private key of the certificate.")
    tls_client_ca_file: str = setting(
        "", "PEM CA bundle; when set, clients must present a certificate it signed (mutual TLS)."
    )
    migrate: str = setting(
        "auto",
        "Apply database migrations at start: auto (only for the embedded SQLite), always, never.",
    )
    db_pool_size: int = setting(
        10, "Database connections kept open (PostgreSQL).", groups=("serve", "relay")
    )
    cart_cache_mb: int = setting(
        64,
        "Megabytes of cart documents each server process keeps of the carts it last committed"
        " (PostgreSQL), so that its next change of one reads nothing first; 0: off.",
    )
    grace_period: float = setting(
        10.0, "Seconds running calls may take to finish after SIGTERM/SIGINT."
    )
    max_message_bytes: int = setting(1024 * 1024, "Largest request accepted, in bytes.")
    watch_stall_seconds: float = setting(
        30.0,
        "Seconds a WatchBasket stream may leave a message unread before it is ended "
        "(UNAVAILABLE, resume with from_version).",
    )
    max_concurrent_streams: int = setting(
        0, "HTTP/2 streams one client connection may open at once; 0: grpc's default."
    )
    demo_catalog: str = setting(
        "auto",
        "Load the demo catalog at start: auto (embedded SQLite, when the catalog is empty), "
        "always, never.",
    )
    max_items_per_request: int = setting(Limits.items_per_request, "Items one request may add.")
    max_items_per_cart: int = setting(Limits.items_per_cart, "Items a cart may hold.")
    max_skus_per_item: int = setting(Limits.skus_per_item, "Skus of one item.")
    max_entries_per_request: int = setting(
        Limits.entries_per_request, "Entries of any other list in a request."
    )
    max_properties_per_map: int = setting(Limits.properties_per_map, "Keys of a properties map.")
    max_property_key_length: int = setting(Limits.property_key_length, "Characters of a key.")
    max_property_value_length: int = setting(
        Limits.property_value_length, "Characters of a property value."
    )
    max_string_length: int = setting(
        Limits.string_length, "Characters of a text field without a limit of its own."
    )
    max_quantity: int = setting(Limits.quantity, "Largest quantity of an item or sku.")
    log_level: str = setting(
        "INFO", "DEBUG, INFO, WARNING or ERROR.", groups=("serve", "migrate", "relay")
    )
    metrics_port: int = setting(
        0,
        "Port of the Prometheus metrics endpoint (HTTP, on --host, path /metrics); 0: off.",
        groups=("serve", "relay"),
    )
    browser_port: int = setting(
        0,
        "Port of the browser endpoint (Connect and gRPC-Web over HTTP/1.1, on --host, with the "
        "server's TLS files when it has them); 0: off.",
    )
    cors_origins: str = setting(
        "",
        "Comma-separated origins whose pages may call the browser endpoint, e.g. "
        "http://localhost:8080; * for any; empty: none.",
    )
    otlp_endpoint: str = setting(
        "",
        "OTLP/gRPC collector for traces, e.g. http://127.0.0.1:4317; empty (and no "
        "--trace-file): tracing off.",
        groups=("serve", "relay"),
    )
    trace_file: str = setting(
        "",
        "Also write finished spans to this file, one JSON object a line.",
        groups=("serve", "relay"),
    )
    log_format: str = setting(
        "text",
        "text (for people) or json (one object a line, for collectors).",
        groups=("serve", "migrate", "relay"),
    )
    rabbitmq_url: str = setting(
        "",
        "AMQP URL of RabbitMQ, e.g. amqp://guest:guest@127.0.0.1:5672/%%2F; empty: internal "
        "messages go to the events file on SQLite or with --events-file, else to other relays.",
        groups=RELAY,
    )
    rabbitmq_exchange: str = setting(
        EXCHANGE,
        "Topic exchange internal messages are published to (declared durable if missing).",
        groups=RELAY,
    )
    eventbridge_bus: str = setting(
        "",
        "EventBridge bus name; empty: its events go to the events file on SQLite or with "
        "--events-file, else to other relays.",
        groups=RELAY,
    )
    eventbridge_region: str = setting("us-east-1", "AWS region of the bus.", groups=RELAY)
    eventbridge_endpoint_url: str = setting(
        "", "EventBridge endpoint override (e.g. a local moto server).", groups=RELAY
    )
    events_file: str = setting(
        "",
        "JSON-lines file for destinations without a broker (on PostgreSQL only when set); "
        "empty: <data-dir>/events.jsonl.",
        groups=RELAY,
    )
    relay: str = setting(
        "in-process", "Run the outbox relay inside serve (in-process) or not (off)."
    )
    relay_batch_size: int = setting(
        1000, "Outbox rows a relay round publishes at most.", groups=RELAY
    )
    relay_workers: int = setting(
        2,
        "Concurrent relay rounds per destination on PostgreSQL (SQLite: always 1).",
        groups=RELAY,
    )
    relay_poll_interval: float = setting(
        0.2,
        "Seconds between relay rounds when idle (a commit here wakes it at once).",
        groups=RELAY,
    )
    outbox_retention_hours: float = setting(
        168.0, "Hours sent outbox rows are kept before pruning.", groups=RELAY
    )

    def limits(self) -> Limits:
        return Limits(**{f.name: getattr(self, "max_" + f.name) for f in fields(Limits)})

    def hs256_secret_file(self) -> Path | None:
        """Where the HS256 secret is: configured, or generated beside the embedded database."""
        if self.jwt_secret_file:
            return Path(self.jwt_secret_file)
        if not self.database_url:
            return self.data_dir / "jwt-secret"
        return None

    def events_path(self) -> Path:
        return Path(self.events_file) if self.events_file else self.data_dir / "events.jsonl"

    def migrate_at_start(self) -> bool:
        if self.migrate == "auto":
            return not self.database_url
        return self.migrate == "always"


CHOICES = {
    "migrate": ("auto", "always", "never"),
    "jwt_algorithm": ("HS256", "RS256", "ES256"),
    "relay": ("in-process", "off"),
    "demo_catalog": ("auto", "always", "never"),
    "log_level": ("DEBUG", "INFO", "WARNING", "ERROR"),
    "log_format": ("text", "json"),
}
# Numbers below these make no sense (0 means "none" or "grpc's default" where the help says so).
MINIMUMS = {"workers": 1, "relay_workers": 1, "relay_batch_size": 1, "db_pool_size": 1}
MAXIMUMS = {"port": 65_535, "metrics_port": 65_535, "browser_port": 65_535}


def env_name(name: str) -> str:
    return ENV_PREFIX + name.upper()


def flag_name(name: str) -> str:
    return "--" + name.replace("_", "-")


def parse_value(name: str, text: str, kind: type) -> Any:
    """The setting's value from its text, or ValueError saying what the setting accepts."""
    choices = CHOICES.get(name)
    if choices is not None:
        value = text.upper() if name == "log_level" else text
        if value not in choices:
            raise ValueError(f"accepts {', '.join(choices)}; got {text!r}")
        return value
    if name == "database_url" and text:
        return _database_url(text)
    if issubclass(kind, str | Path):
        return kind(text)
    try:
        number: float = int(text) if kind is int else float(text)
    except ValueError:
        noun = "a whole number" if kind is int else "a number"
        raise ValueError(f"accepts {noun}; got {text!r}") from None
    low, high = MINIMUMS.get(name, 0), MAXIMUMS.get(name)
    if number < low or (high is not None and number > high):
        bounds = f"from {low} to {high}" if high is not None else f"of at least {low}"
        raise ValueError(f"accepts a number {bounds}; got {text!r}")
    return number


def _database_url(text: str) -> str:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        backend = make_url(text).get_backend_name()
    except ArgumentError:
        backend = ""
    if backend not in ("postgresql", "sqlite"):
        raise ValueError(
            "accepts a PostgreSQL or SQLite URL, e.g. postgresql+psycopg://user@host:5432/db; "
            f"got {text!r}"
        )
    return text


def _flag_type(name: str, kind: type) -> Any:
    def parse(text: str) -> Any:
        try:
            return parse_value(name, text, kind)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    parse.__name__ = kind.__name__  # what argparse names in its own messages
    return parse


class SettingError(ValueError):
    """An environment variable holds a value its setting does not accept."""


def add_arguments(parser: argparse.ArgumentParser, group: str) -> None:
    for spec in fields(Settings):
        if group not in spec.metadata["groups"]:
            continue
        env = env_name(spec.name)
        kind = type(spec.default)
        default = spec.default
        if env in os.environ:
            try:
                default = parse_value(spec.name, os.environ[env], kind)
            except ValueError as error:
                raise SettingError(f"{env} (the {flag_name(spec.name)} setting) {error}") from None
        parser.add_argument(
            flag_name(spec.name),
            dest=spec.name,
            type=_flag_type(spec.name, kind),
            default=default,
            metavar=spec.name.upper(),
            help=f"{spec.metadata['help']} [env {env}; default {spec.default}]",
        )


def from_arguments(arguments: argparse.Namespace) -> Settings:
    known = {spec.name for spec in fields(Settings)}
    return Settings(**{k: v for k, v in vars(arguments).items() if k in known})
