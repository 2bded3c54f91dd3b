#!/usr/bin/env bash
# Install celerymod into .venv and show, as a diff, what it would change in the bundled
# example project (examples/). Nothing is written: add --write to apply, -i to review.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/_venv.sh
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e .

.venv/bin/celerymod check examples/ || true
echo
exec .venv/bin/celerymod fix "$@" examples/
