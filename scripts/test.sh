#!/usr/bin/env bash
# Install everything the test suite needs, then run all of it:
#   - Debian's redis-server (the real-worker tests start their own on a free loopback port),
#   - a virtualenv in .venv with celerymod and its test extras,
# then pytest. Extra arguments go to pytest (e.g. scripts/test.sh -k interactive).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-redis.sh >/dev/null

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "celerymod needs Python >= 3.11 (found: $("$python" --version 2>&1)); set PYTHON=..." >&2
    exit 2
fi
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'

exec .venv/bin/python -m pytest "$@"
