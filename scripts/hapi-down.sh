#!/usr/bin/env bash
# Stop the HAPI FHIR sandbox that scripts/hapi-up.sh started on PORT (default 8080).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
port="${1:-8080}"
pidfile="${repo_root}/var/hapi-${port}.pid"
if [[ ! -f "${pidfile}" ]]; then
	echo "hapi-down: no sandbox started by hapi-up on port ${port} (${pidfile} is missing)"
	exit 0
fi
pid=$(cat "${pidfile}")
# run.sh traps TERM and stops its Java server; the session id is its pid (setsid), so the group goes too
kill -TERM -- "-${pid}" 2>/dev/null || kill -TERM "${pid}" 2>/dev/null || true
for _ in $(seq 1 60); do
	kill -0 "${pid}" 2>/dev/null || break
	sleep 0.5
done
kill -KILL -- "-${pid}" 2>/dev/null || true
rm -f "${pidfile}"
echo "HAPI FHIR on port ${port} stopped"
