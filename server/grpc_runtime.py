"""grpc-core settings that grpc reads once, when it is first imported: set here, before that.

`server/__init__.py` applies them, so `cartservice`, `python -m server` and anything importing a
server module get them, unless grpc was imported earlier (then serve() logs a warning).
"""

from __future__ import annotations

import os
import sys
from typing import Any

# fuse_filters: grpc-core merges the server's message-size, HTTP and compression filters into one,
# with the same behaviour (the whole suite passes either way) and less memory per open call,
# which counts for thousands of WatchBasket streams (bench/README.md, docs/decisions.md).
EXPERIMENTS = ("fuse_filters",)

grpc_imported_first = False


def experiments_setting(current: str) -> str:
    """GRPC_EXPERIMENTS with ours added; an experiment the operator names (or turns off with a
    leading '-') is left as the operator set it."""
    names = [name.strip() for name in current.split(",") if name.strip()]
    named = {name.lstrip("-") for name in names}
    return ",".join(names + [name for name in EXPERIMENTS if name not in named])


def configure_grpc_core() -> None:
    global grpc_imported_first
    grpc_imported_first = "grpc" in sys.modules
    os.environ["GRPC_EXPERIMENTS"] = experiments_setting(os.environ.get("GRPC_EXPERIMENTS", ""))


class GenericOnly:
    """The server as the generated `add_…Servicer_to_server` functions see it: their services
    are served through the generic handler they add, not also as registered methods. For
    registered methods grpc.aio keeps one pending request per method and waits on all of them
    for every incoming call (asyncio.wait over some 50 futures here: ~0.1 ms of a call's CPU,
    bench/README.md); the generic handler finds the same methods by name."""

    def __init__(self, server: Any) -> None:
        self._server = server

    def add_generic_rpc_handlers(self, handlers: Any) -> None:
        self._server.add_generic_rpc_handlers(handlers)

    def add_registered_method_handlers(self, service: str, handlers: Any) -> None:
        """Served by the generic handler already."""

    def __getattr__(self, name: str) -> Any:  # anything else: the server's own
        return getattr(self._server, name)
