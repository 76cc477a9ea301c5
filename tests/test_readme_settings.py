"""The README's configuration table is the settings' documentation: every setting, its environment
twin and its default, as the code has them."""

from __future__ import annotations

import re
from dataclasses import MISSING, fields
from pathlib import Path

from server.config import ENV_PREFIX, Settings

README = Path(__file__).resolve().parent.parent / "README.md"
ROW = re.compile(r"^\| `--([a-z-]+)` \| `([A-Z_]+)` \| ([^|]+) \|", re.MULTILINE)


def documented() -> dict[str, tuple[str, str]]:
    return {flag: (env, default.strip()) for flag, env, default in ROW.findall(README.read_text())}


def shown(default: object) -> str:
    return "empty" if default == "" else f"`{default}`"


def test_every_setting_is_in_the_readme_with_its_variable_and_default() -> None:
    table = documented()
    for setting in fields(Settings):
        assert setting.default is not MISSING
        flag = setting.name.replace("_", "-")
        assert flag in table, f"--{flag} is missing from the README's configuration table"
        env, default = table[flag]
        assert env == ENV_PREFIX + setting.name.upper()
        assert default == shown(setting.default), (
            f"--{flag}: README {default}, code {setting.default}"
        )


def test_the_readme_documents_no_setting_that_does_not_exist() -> None:
    names = {setting.name.replace("_", "-") for setting in fields(Settings)}
    assert set(documented()) <= names
