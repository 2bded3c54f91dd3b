#!/usr/bin/env bash
# Install celerymod into .venv and show, as a diff, what it would change in the bundled
# example project (examples/). Nothing is written: add --write to apply, -i to review.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "celerymod needs Python >= 3.11 (found: $("$python" --version 2>&1)); set PYTHON=..." >&2
    exit 2
fi
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e .

.venv/bin/celerymod check examples/ || true
echo
exec .venv/bin/celerymod fix "$@" examples/
