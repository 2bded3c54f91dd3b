#!/usr/bin/env bash
# Install everything the test suite needs, then run all of it:
#   - Debian's redis-server (the real-worker tests start their own on a free loopback port),
#   - a virtualenv in .venv with celerymod and its test extras,
# then pytest. Extra arguments go to pytest (e.g. scripts/test.sh -k interactive).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-redis.sh >/dev/null

source scripts/_venv.sh
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'

exec .venv/bin/python -m pytest "$@"
