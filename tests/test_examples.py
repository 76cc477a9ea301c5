"""The README's client examples are files that run: each block is its file, and each file runs
against a real server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.identities import token
from tests.servers import ServerProcess
from tests.support import readme_blocks

ROOT = Path(__file__).parents[1]
CREATE_CART = ROOT / "clients/python/examples/create_cart.py"
STOREFRONT = ROOT / "clients/python/examples/storefront.py"


def test_the_readme_shows_the_python_example_as_it_is() -> None:
    assert CREATE_CART.read_text() in readme_blocks("python")


def test_the_python_example_creates_a_cart_of_the_tokens_user(server: ServerProcess) -> None:
    done = subprocess.run(
        [sys.executable, str(CREATE_CART)],
        env={**os.environ, "CARTSERVICE_ADDRESS": server.address,
             "TOKEN": token(user_id="31", collection_id=4982)},
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("cart ")
    assert done.stdout.rstrip().endswith("of user 31: 10.48 x 2")


def test_the_readme_shows_the_client_example_as_it_is() -> None:
    assert STOREFRONT.read_text() in readme_blocks("python")


def test_the_client_example_watches_and_reads_typed_errors(tmp_path: Path) -> None:
    server = ServerProcess.on_own_sqlite(tmp_path)
    try:
        done = subprocess.run(
            [sys.executable, str(STOREFRONT)],
            env={**os.environ, "CARTSERVICE_ADDRESS": server.address, "TOKEN": token()},
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
    finally:
        server.stop()
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "version 1",
        "version 2 items 1",
        "PromoCodeDoesntExist NOT_FOUND",
    ]
