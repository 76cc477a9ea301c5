#!/usr/bin/env bash
# Refreshes the lock files from pyproject.toml: requirements/runtime.lock (what `make run` and the
# image install) and requirements/dev.lock (runtime, test and dev extras, for `make test`/CI).
# Each pins name==version with the sha256 of the wheel pip chose, so installs are the same on
# every machine of this platform (Linux x86_64, CPython 3.11) and refuse anything altered.
# Usage: scripts/lock.sh   (needs the .venv's pip, >= 26.3 for `pip lock`)
set -euo pipefail
cd "$(dirname "$0")/.."
PIP=.venv/bin/pip
lock() {  # $1: the project with its extras, $2: the lock file to write
    # pip lock writes inside the project only (an -o outside it fails), so in place, then removed.
    # The client distribution (clients/python) is the server's dependency from this checkout.
    "$PIP" lock --quiet -e clients/python -e "$1" -o pylock.toml 2>/dev/null
    .venv/bin/python scripts/pylock_to_requirements.py pylock.toml > "$2"
    rm pylock.toml
}
lock . requirements/runtime.lock
lock '.[test,dev]' requirements/dev.lock
echo "locked: $(grep -c '==' requirements/runtime.lock) runtime, $(grep -c '==' requirements/dev.lock) in all"
