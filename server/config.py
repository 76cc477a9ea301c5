"""Settings of the service. Each is a command-line flag with an environment variable twin
(--grace-period / CARTSERVICE_GRACE_PERIOD); the flag wins, then the variable, then the default.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

ENV_PREFIX = "CARTSERVICE_"


def setting(default: Any, help: str, *, groups: tuple[str, ...] = ("serve",)) -> Any:
    return field(default=default, metadata={"help": help, "groups": groups})


DATABASE = ("serve", "migrate")


@dataclass(frozen=True)
class Settings:
    host: str = setting("127.0.0.1", "Address to listen on (0.0.0.0 for every interface).")
    port: int = setting(50051, "Port to listen on; 0 picks a free one (logged at start).")
    data_dir: Path = setting(
        Path("var"), "Directory of the embedded SQLite database.", groups=DATABASE
    )
    database_url: str = setting(
        "",
        "SQLAlchemy URL, e.g. postgresql+psycopg://user@host:5432/db; "
        "empty: SQLite file cartservice.db in the data directory.",
        groups=DATABASE,
    )
    migrate: str = setting(
        "auto",
        "Apply database migrations at start: auto (only for the embedded SQLite), always, never.",
    )
    db_pool_size: int = setting(10, "Database connections kept open (PostgreSQL).")
    grace_period: float = setting(
        10.0, "Seconds running calls may take to finish after SIGTERM/SIGINT."
    )
    max_message_bytes: int = setting(1024 * 1024, "Largest request accepted, in bytes.")
    log_level: str = setting("INFO", "DEBUG, INFO, WARNING or ERROR.", groups=("serve", "migrate"))

    def migrate_at_start(self) -> bool:
        if self.migrate == "auto":
            return not self.database_url
        return self.migrate == "always"


def env_name(name: str) -> str:
    return ENV_PREFIX + name.upper()


def add_arguments(parser: argparse.ArgumentParser, group: str) -> None:
    for spec in fields(Settings):
        if group not in spec.metadata["groups"]:
            continue
        env = env_name(spec.name)
        fallback: Any = spec.default
        kind = type(fallback)
        default = os.environ.get(env, fallback)
        parser.add_argument(
            "--" + spec.name.replace("_", "-"),
            dest=spec.name,
            type=kind,
            default=kind(default),
            choices=("auto", "always", "never") if spec.name == "migrate" else None,
            help=f"{spec.metadata['help']} [env {env}; default {spec.default}]",
        )


def from_arguments(arguments: argparse.Namespace) -> Settings:
    known = {spec.name for spec in fields(Settings)}
    return Settings(**{k: v for k, v in vars(arguments).items() if k in known})
