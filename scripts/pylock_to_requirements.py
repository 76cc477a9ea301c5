"""Prints a pylock.toml (PEP 751, from `pip lock`) as a hash-pinned requirements file.

The lock's wheel URLs may point at this machine's package mirror; name==version with the
wheel's hash installs from whatever index pip is given and still refuses altered files.
"""

from __future__ import annotations

import sys
import tomllib

HEADER = "# Generated from pyproject.toml by scripts/lock.sh (make lock); do not edit.\n"


def main(path: str) -> None:
    with open(path, "rb") as file:
        lock = tomllib.load(file)
    lines = []
    for package in sorted(lock["packages"], key=lambda p: p["name"]):
        if "version" not in package:
            continue  # the project itself (a directory), installed on its own
        hashes = sorted(
            {w["hashes"]["sha256"] for w in package.get("wheels", [])}
            | ({package["sdist"]["hashes"]["sha256"]} if "sdist" in package else set())
        )
        pins = " ".join(f"--hash=sha256:{h}" for h in hashes)
        lines.append(f"{package['name']}=={package['version']} {pins}")
    sys.stdout.write(HEADER + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
