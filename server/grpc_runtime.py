"""grpc-core settings that grpc reads once, when it is first imported: set here, before that.

`server/__init__.py` applies them, so `cartservice`, `python -m server` and anything importing a
server module get them, unless grpc was imported earlier (then serve() logs a warning).
"""

from __future__ import annotations

import os
import sys

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
