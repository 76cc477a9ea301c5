"""`cartservice` on bad input: one line naming the setting and what it accepts, exit status 2,
never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from server.cli import main, ttl_seconds


def refused(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as exited:
        main(list(argv))
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert len(error.strip().splitlines()) == 1, error
    return error


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (("token", "--user-id", "1", "--collection-id", "1", "--roles", "ROLE_USER", "--ttl", "2w"),
         "--ttl: accepts a positive number of seconds, or one with a unit: 90s, 30m, 12h, 7d; got '2w'"),
        (("serve", "--log-level", "verbose"), "--log-level: accepts DEBUG, INFO, WARNING, ERROR"),
        (("serve", "--port", "70000"), "--port: accepts a number from 0 to 65535; got '70000'"),
        (("serve", "--port", "abc"), "--port: accepts a whole number; got 'abc'"),
        (("serve", "--workers", "0"), "--workers: accepts a number of at least 1"),
        (("serve", "--grace-period", "soon"), "--grace-period: accepts a number; got 'soon'"),
        (("serve", "--migrate", "sometimes"), "--migrate: accepts auto, always, never"),
        (("serve", "--database-url", "mysql://db/carts"), "--database-url: accepts a PostgreSQL or SQLite URL"),
        (("serve", "--no-such-flag"), "unrecognized arguments: --no-such-flag"),
        (("frobnicate",), "invalid choice: 'frobnicate'"),
    ],
)  # fmt: skip
def test_a_bad_flag_is_one_line_and_exit_status_2(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], says: str
) -> None:
    assert says in refused(capsys, *argv)


def test_a_bad_environment_value_names_its_variable_and_flag(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CARTSERVICE_PORT", "abc")

    assert main(["serve", "--help"]) == 2
    error = capsys.readouterr().err
    assert (
        error
        == "cartservice: CARTSERVICE_PORT (the --port setting) accepts a whole number; got 'abc'\n"
    )


def test_a_log_level_is_taken_in_any_case(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARTSERVICE_LOG_LEVEL", "debug")
    from server.cli import _parser

    assert _parser().parse_args(["migrate"]).log_level == "DEBUG"


def test_version_and_top_level_help_name_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == "cartservice 0.1.0"
    with pytest.raises(SystemExit):
        main(["--help"])
    shown = capsys.readouterr().out
    for command in ("serve", "migrate", "seed-demo", "catalog", "relay", "token", "health"):
        assert f"\n    {command}" in shown


@pytest.mark.parametrize(
    ("text", "seconds"), [("3600", 3600), ("90s", 90), ("30m", 1800), ("7d", 604_800)]
)
def test_ttls(text: str, seconds: int) -> None:
    assert ttl_seconds(text) == seconds


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (("--tls-cert-file", "/no/such.pem", "--tls-key-file", "/no/such.key"), "cannot read --tls-key-file /no/such.key: No such file or directory"),
        (("--host", "999.1.1.1"), "--host 999.1.1.1 is not a name or address this machine can resolve"),
    ],
)  # fmt: skip
def test_a_server_that_cannot_listen_says_why(
    tmp_path: Path, flags: tuple[str, ...], says: str
) -> None:
    started = subprocess.run(
        [sys.executable, "-m", "server", "serve", "--port", "0", "--data-dir", str(tmp_path), *flags],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert started.returncode == 2
    assert says in started.stderr
    assert "Traceback" not in started.stderr


def test_catalog_load_stores_a_file_and_names_every_mistake_of_a_bad_one(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text(json.dumps({"skus": [{"skuId": "a", "regularPrice": "1.00"}]}))
    bad.write_text(json.dumps({"skus": [{"skuId": "a", "regularPrice": 1.5}], "rounding": "UP"}))
    command = [sys.executable, "-m", "server", "catalog", "load", "--data-dir", str(tmp_path)]

    loaded = [subprocess.run([*command, str(good), "--collection-id", "7"],
                             capture_output=True, text=True, timeout=60) for _ in range(2)]  # fmt: skip
    refused = subprocess.run(
        [*command, str(bad), "--collection-id", "7"], capture_output=True, text=True, timeout=60
    )

    assert [done.returncode for done in loaded] == [0, 0]
    assert loaded[1].stdout.strip().endswith("version 2")
    assert refused.returncode == 2
    assert "skus[0].regularPrice: must be decimal text" in refused.stderr
    assert "rounding: must be HALF_EVEN, HALF_UP or HALF_DOWN" in refused.stderr
