"""The Go and Java recipe of the README: buf.gen.yaml's managed mode generates both, the examples
build against them with Debian 12's toolchains, and each lists the catalog of a real server."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.identities import token
from tests.servers import ServerProcess
from tests.support import readme_blocks

ROOT = Path(__file__).parents[2]
RECIPE = ROOT / "clients/build-go-java.sh"
FIRST_PRODUCTS = ["Gift Voucher - $25\t25.00 USD", "Wireless Mouse\t24.99 USD"]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("go-java")
    done = subprocess.run([str(RECIPE), str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return out


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess.on_own_sqlite(tmp_path_factory.mktemp("go-java-server"))
    yield process
    process.stop()


def test_the_readme_shows_the_recipe_and_both_examples_as_they_are() -> None:
    assert (ROOT / "buf.gen.yaml").read_text() in readme_blocks("yaml")
    assert RECIPE.read_text() in readme_blocks("sh")
    assert (ROOT / "clients/go/listproducts/main.go").read_text() in readme_blocks("go")
    assert (ROOT / "clients/java/ListProducts.java").read_text() in readme_blocks("java")


def test_managed_mode_gives_go_and_java_their_packages(built: Path) -> None:
    module = built / "go/src/github.com/cartservice/cartservice"
    go = (module / "gen/go/cartservice/basket/v1/basket_service.pb.go").read_text()
    java = module / "gen/java/com/cartservice/basket/v1/BasketServiceGrpc.java"

    assert "package basketv1\n" in go
    assert java.read_text().startswith("package com.cartservice.basket.v1;")


def test_the_go_example_lists_the_catalog(built: Path, server: ServerProcess) -> None:
    done = subprocess.run(
        [str(built / "listproducts"), server.address, token()],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[:2] == FIRST_PRODUCTS


def test_the_java_example_lists_the_catalog(built: Path, server: ServerProcess) -> None:
    classpath = f"{built / 'java'}:/usr/share/java/*"
    done = subprocess.run(
        ["java", "-cp", classpath, "ListProducts", server.address, token()],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[:2] == FIRST_PRODUCTS
