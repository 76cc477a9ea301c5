"""The grpc health service, kept true: NOT_SERVING while the database cannot be reached.

A load balancer or orchestrator then sends calls elsewhere instead of to a server that can only
answer UNAVAILABLE. One failed probe is not enough (a restart of PostgreSQL, a dropped packet):
the database must stay away for GRACE_S before the status changes; one good probe restores it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from grpc_health.v1 import health, health_pb2

log = logging.getLogger("cartservice")
PROBE_EVERY_S = 1.0
PROBE_TIMEOUT_S = 2.0
GRACE_S = 2.0
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class DatabaseHealth:
    def __init__(
        self,
        servicer: health.aio.HealthServicer,
        services: Sequence[str],
        probe: Callable[[], Awaitable[bool]],
    ) -> None:
        self._servicer = servicer
        self._services = services
        self._probe = probe
        self._failing_since: float | None = None
        self.serving = False

    async def set_serving(self) -> None:
        await self._set(SERVING)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.check()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), PROBE_EVERY_S)

    async def check(self) -> None:
        if await self._probe():
            if not self.serving:
                log.info("database reachable again: SERVING")
                await self._set(SERVING)
            self._failing_since = None
            return
        now = time.monotonic()
        self._failing_since = self._failing_since or now
        if self.serving and now - self._failing_since >= GRACE_S:
            log.warning("database unreachable for %.1f s: NOT_SERVING", now - self._failing_since)
            await self._set(NOT_SERVING)

    async def _set(self, status: health_pb2.HealthCheckResponse.ServingStatus.ValueType) -> None:
        self.serving = status == SERVING
        for service in self._services:
            await self._servicer.set(service, status)
