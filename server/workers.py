"""`cartservice serve --workers N`: N server processes on one port.

The parent migrates once, holds the port (a bound socket with SO_REUSEPORT, so that the workers
can share it and nothing else can take it), starts the workers with the same settings and
`--workers 1`, waits until each one serves, and passes SIGTERM/SIGINT on to them. The kernel
spreads new connections over the workers; basket watchers see every change whichever worker
made it, through PostgreSQL's NOTIFY. If a worker dies, the others are stopped too.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from server.config import Settings
from server.store.database import create_engine, database_url
from server.store.migrate import upgrade_to_head

log = logging.getLogger("cartservice")
# Set in a worker's environment: bind with SO_REUSEPORT, and create this file once serving.
READY_FILE_ENV = "CARTSERVICE_WORKER_READY_FILE"
START_TIMEOUT_S = 60


class WorkersError(Exception):
    """Settings that N workers cannot run with."""


def run_workers(settings: Settings, argv: list[str]) -> int:
    if not settings.database_url:
        raise WorkersError(
            "--workers needs --database-url (PostgreSQL): watchers of the embedded SQLite "
            "database are told of changes inside one process only"
        )
    if settings.migrate_at_start():
        asyncio.run(_migrate(settings))
    holder = _hold_port(settings.host, settings.port)
    port = holder.getsockname()[1]
    with tempfile.TemporaryDirectory(prefix="cartservice-workers-") as ready_dir:
        workers = [
            _start(argv, port, Path(ready_dir) / f"worker-{n}", _metrics_port(settings, n))
            for n in range(settings.workers)
        ]
        stop = _forward_stop_signals(workers)
        try:
            _wait_until_serving(workers, Path(ready_dir), stop)
            log.info("serving on %s:%d with %d workers", settings.host, port, len(workers))
            return _wait_for_exit(workers)
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.send_signal(signal.SIGTERM)
            for worker in workers:
                worker.wait()
            holder.close()


async def _migrate(settings: Settings) -> None:
    engine = create_engine(database_url(settings.database_url, settings.data_dir))
    try:
        await upgrade_to_head(engine)
    finally:
        await engine.dispose()


def _hold_port(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    holder = socket.socket(family, socket.SOCK_STREAM)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        holder.bind((host, port))
    except OSError as error:
        holder.close()
        raise WorkersError(f"cannot listen on {host}:{port}: {error.strerror}") from None
    return holder


def _metrics_port(settings: Settings, worker: int) -> int:
    """Worker n serves its metrics on --metrics-port + n: one port cannot tell them apart."""
    return settings.metrics_port + worker if settings.metrics_port else 0


def _start(
    argv: list[str], port: int, ready_file: Path, metrics_port: int
) -> subprocess.Popen[bytes]:
    arguments = [*argv, "--workers", "1", "--port", str(port), "--migrate", "never"]
    arguments += ["--metrics-port", str(metrics_port)]
    environment = {**os.environ, READY_FILE_ENV: str(ready_file)}
    return subprocess.Popen([sys.executable, "-m", "server", *arguments], env=environment)


def _forward_stop_signals(workers: list[subprocess.Popen[bytes]]) -> list[bool]:
    stop = [False]

    def forward(signum: int, _frame: object) -> None:
        stop[0] = True
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, forward)
    return stop


def _wait_until_serving(
    workers: list[subprocess.Popen[bytes]], ready_dir: Path, stop: list[bool]
) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while len(list(ready_dir.iterdir())) < len(workers):
        if stop[0] or any(w.poll() is not None for w in workers) or time.monotonic() > deadline:
            raise WorkersError("a worker did not start (see its log above)")
        time.sleep(0.05)


def _wait_for_exit(workers: list[subprocess.Popen[bytes]]) -> int:
    while all(worker.poll() is None for worker in workers):
        time.sleep(0.2)
    return max(worker.returncode or 0 for worker in workers)
