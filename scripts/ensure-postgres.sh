#!/usr/bin/env bash
# Make sure the PostgreSQL server binaries that the store tests start (tests/support/postgres.py) are installed:
# the Debian package `postgresql`, whose initdb/pg_ctl live in /usr/lib/postgresql/<version>/bin, off PATH.
# Non-interactive (no stdin needed); as root it runs apt-get directly, otherwise through `sudo -n`.
set -euo pipefail

have_initdb() {
    command -v initdb >/dev/null 2>&1 || compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null
}

if have_initdb; then
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-postgres: no initdb and no apt-get: install PostgreSQL server binaries by hand" >&2
    exit 1
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    sudo=(sudo -n)
fi

echo "ensure-postgres: installing the Debian package postgresql" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q </dev/null
"${sudo[@]}" apt-get install -y -q --no-install-recommends postgresql </dev/null

if ! have_initdb; then
    echo "ensure-postgres: postgresql is installed but initdb was not found" >&2
    exit 1
fi
