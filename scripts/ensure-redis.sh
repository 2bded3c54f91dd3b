#!/usr/bin/env bash
# Make sure redis-server is available for the real-worker tests (tests/celery_worker.py).
# Idempotent: installs Debian's redis-server package only when it is not on PATH.
# If the package install starts a daemon on 6379 that is harmless: the tests start
# their own redis-server on a free loopback port.
set -euo pipefail

if ! command -v redis-server >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then
        SUDO=""
    elif command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "ensure-redis: redis-server missing and not root (no sudo available)" >&2
        exit 1
    fi
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server
fi

redis-server --version
