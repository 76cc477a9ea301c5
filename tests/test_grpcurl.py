"""The real grpcurl (the test extra's static binary) against a real server: the README's grpcurl
session exactly as written, and a WatchBasket stream that receives an update."""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from server.store.demo_catalog import GIFT_VOUCHER_50
from tests.identities import token
from tests.servers import ServerProcess

BIN = Path(sys.executable).parent
README = Path(__file__).parents[1] / "README.md"
README_ADDRESS = "127.0.0.1:50051"
BASKETS = "cartservice.basket.v1.BasketService"
TIMEOUT_S = 20


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server of its own: the README's session shows the ids of a new database."""
    server = ServerProcess.on_own_sqlite(tmp_path)
    yield server
    server.stop()


@dataclass
class Step:
    command: str
    expected: list[str]


def readme_session() -> list[Step]:
    """The commands of the README's grpcurl block and the output shown after each."""
    section = README.read_text().split("## A grpcurl session", 1)[1]
    block = section.split("```console\n", 1)[1].split("```", 1)[0]
    steps: list[Step] = []
    lines = iter(block.splitlines())
    for line in lines:
        if line.startswith("$ "):
            command = line[2:]
            while command.count("'") % 2:  # a quoted argument goes on over several lines
                command += "\n" + next(lines)
            steps.append(Step(command, []))
        elif line.strip():
            steps[-1].expected.append(line)
    return steps


def matches(expected: list[str], actual: list[str]) -> bool:
    """Line by line; `…` in a line stands for any text, a line `...` for any lines."""
    if not expected:
        return not actual
    head, rest = expected[0], expected[1:]
    if head == "...":
        return any(matches(rest, actual[k:]) for k in range(len(actual) + 1))
    pattern = ".*".join(re.escape(part) for part in head.split("…"))
    return (
        bool(actual) and re.fullmatch(pattern, actual[0]) is not None and matches(rest, actual[1:])
    )


def shell_environment(bearer: str) -> dict[str, str]:
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "TOKEN": bearer}


def test_the_readme_session_prints_what_the_readme_shows(fresh_server: ServerProcess) -> None:
    steps = readme_session()
    assert [s.command.split()[3] for s in steps[:4]] == ["list", "describe", "describe", "describe"]
    environment = shell_environment(token(user_id="1", collection_id=4982))
    for step in steps:
        command = step.command.replace(README_ADDRESS, fresh_server.address)
        done = subprocess.run(
            ["bash", "-c", command], env=environment, capture_output=True, text=True,
            timeout=TIMEOUT_S,
        )  # fmt: skip
        assert done.returncode == 0, f"{step.command}\n{done.stderr}"
        printed = done.stdout.rstrip("\n").splitlines()
        assert matches(step.expected, printed), (
            f"{step.command}\nREADME shows:\n" + "\n".join(step.expected)
            + "\ngrpcurl printed:\n" + done.stdout
        )  # fmt: skip


def grpcurl(server: ServerProcess, bearer: str, method: str, body: dict[str, Any]) -> Any:
    done = subprocess.run(
        [str(BIN / "grpcurl"), "-plaintext", "-H", f"authorization: Bearer {bearer}",
         "-d", json.dumps(body), server.address, method],
        capture_output=True, text=True, timeout=TIMEOUT_S,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


class Stream:
    """grpcurl's printed messages of a server stream, one JSON document each, as they come."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self._messages: queue.Queue[Any] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        lines: list[str] = []
        for line in self.process.stdout:
            lines.append(line)
            if line.rstrip("\n") == "}":  # grpcurl ends each message with a closing brace alone
                self._messages.put(json.loads("".join(lines)))
                lines = []

    def next(self) -> Any:
        return self._messages.get(timeout=TIMEOUT_S)


def test_a_watch_basket_stream_receives_the_update_of_another_call(
    fresh_server: ServerProcess,
) -> None:
    bearer = token(user_id="1", collection_id=4982)
    grpcurl(
        fresh_server,
        bearer,
        f"{BASKETS}/CreateBasket",
        {"basketId": "b-7", "salesChannelId": "web"},
    )
    process = subprocess.Popen(
        [str(BIN / "grpcurl"), "-plaintext", "-H", f"authorization: Bearer {bearer}",
         "-d", '{"basketId": "b-7"}', fresh_server.address, f"{BASKETS}/WatchBasket"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        stream = Stream(process)
        first = stream.next()
        assert first == {"version": "1", "basketUpdated": {"stage": "Basket"}}
        grpcurl(fresh_server, bearer, f"{BASKETS}/AddItem",
                {"basketId": "b-7", "productId": GIFT_VOUCHER_50})  # fmt: skip
        update = stream.next()
        assert update["version"] == "2"
        (item,) = update["basketUpdated"]["items"]
        assert item["productId"] == GIFT_VOUCHER_50
        assert item["retailPrice"] == {"amount": {"value": "50.00"}, "currency": "USD"}
    finally:
        process.terminate()
        process.wait(TIMEOUT_S)
