"""Runs `cartservice serve` as a real process on an ephemeral port, the way an operator would."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.identities import SECRET, SERVER_FLAGS

SERVING = re.compile(r"serving on [\d.]+:(\d+)")
START_TIMEOUT_S = 30


@dataclass
class ServerProcess:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    database_url: str = ""

    @property
    def events_file(self) -> Path:
        """The JSON-lines sink of a server without brokers (in its data directory)."""
        return self.log_path.parent / "data" / "events.jsonl"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @classmethod
    def start(
        cls,
        workdir: Path,
        *,
        database_url: str,
        extra: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
        events_to_file: bool = True,
    ) -> ServerProcess:
        """Starts a server; a restart in the same workdir appends to the same log. With
        `events_to_file`, destinations without a broker go to the data directory's events file
        (chosen explicitly, as a server on PostgreSQL needs it to be)."""
        workdir.mkdir(parents=True, exist_ok=True)
        log_path = workdir / "server.log"
        offset = log_path.stat().st_size if log_path.exists() else 0
        secret_file = workdir / "jwt-secret"
        secret_file.write_text(SECRET)
        arguments = [
            sys.executable, "-m", "server", "serve", "--port", "0",
            "--data-dir", str(workdir / "data"), "--database-url", database_url,
            "--migrate", "always", "--grace-period", "5", "--jwt-secret-file", str(secret_file),
            *_events_file_flag(workdir, events_to_file, extra), *extra,
        ]  # fmt: skip
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                arguments, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
            )
        port = cls._wait_for_port(process, log_path, offset)
        return cls(process, port, log_path, database_url)

    @classmethod
    def on_own_sqlite(cls, workdir: Path, *extra: str) -> ServerProcess:
        """A server with a SQLite file of its own in `workdir` (a restart in the same workdir
        finds the same data), with the tests' flags."""
        database_url = f"sqlite+aiosqlite:///{workdir}/cartservice.db"
        return cls.start(workdir, database_url=database_url, extra=(*SERVER_FLAGS, *extra))

    @staticmethod
    def _wait_for_port(process: subprocess.Popen[bytes], log_path: Path, offset: int) -> int:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            found = SERVING.search(log_path.read_bytes()[offset:].decode(errors="replace"))
            if found:
                return int(found.group(1))
            if process.poll() is not None:
                raise RuntimeError(f"server exited at start:\n{log_path.read_text()}")
            time.sleep(0.05)
        process.kill()
        raise RuntimeError(f"server did not start in {START_TIMEOUT_S}s:\n{log_path.read_text()}")

    def log(self) -> str:
        return self.log_path.read_text()

    def stop(self, timeout: float = 15) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise


@dataclass
class RelayProcess:
    """`cartservice relay` as a process of its own."""

    process: subprocess.Popen[bytes]
    log_path: Path

    @classmethod
    def start(
        cls, workdir: Path, *, database_url: str, extra: tuple[str, ...] = ()
    ) -> RelayProcess:
        workdir.mkdir(parents=True, exist_ok=True)
        log_path = workdir / "relay.log"
        arguments = [
            sys.executable, "-m", "server", "relay", "--data-dir", str(workdir / "data"),
            "--database-url", database_url, "--relay-poll-interval", "0.05",
            *_events_file_flag(workdir, True, extra), *extra,
        ]  # fmt: skip
        with log_path.open("ab") as log:
            process = subprocess.Popen(arguments, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT_S
        while "outbox relay running" not in log_path.read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"relay did not start:\n{log_path.read_text()}")
            time.sleep(0.05)
        return cls(process, log_path)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(15)


def _events_file_flag(workdir: Path, wanted: bool, extra: tuple[str, ...]) -> tuple[str, ...]:
    if not wanted or "--events-file" in extra:
        return ()
    return ("--events-file", str(workdir / "data" / "events.jsonl"))
