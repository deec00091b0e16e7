#!/usr/bin/env bash
# Start the HAPI FHIR sandbox in the background and return once it answers (the README's pasteable blocks use it).
#
#   scripts/hapi-up.sh [PORT]     default 8080; `make hapi-up` (and `make hapi-down` stops it)
#
# The server's output goes to var/hapi-PORT.log and its process id to var/hapi-PORT.pid. A server already
# answering on the port is left as it is. Exit 1, with the log's tail, if it does not come up.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
port="${1:-8080}"
host="${HAPI_HOST:-127.0.0.1}"
wait_s="${HAPI_WAIT_S:-180}"
log="${repo_root}/var/hapi-${port}.log"
pidfile="${repo_root}/var/hapi-${port}.pid"
base_url="http://${host}:${port}/fhir"
mkdir -p "${repo_root}/var"

if [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "${base_url}/metadata" || true)" == "200" ]]; then
	echo "HAPI FHIR already answering at ${base_url}"
	exit 0
fi
# run.sh builds the jar if needed, waits for the server and stays in the foreground: here, in its own session.
setsid bash "${repo_root}/hapi/run.sh" "${port}" >"${log}" 2>&1 </dev/null &
echo $! >"${pidfile}"
pid=$(cat "${pidfile}")
start=${SECONDS}
# the build (first time only) comes before the server's own wait: allow for it
until grep -q "ready at" "${log}" 2>/dev/null; do
	if ! kill -0 "${pid}" 2>/dev/null; then
		echo "hapi-up: the HAPI server did not start (log: ${log}):" >&2
		tail -n 20 "${log}" >&2
		rm -f "${pidfile}"
		exit 1
	fi
	if ((SECONDS - start > wait_s + 600)); then
		echo "hapi-up: no answer from ${base_url} after $((SECONDS - start)) s (log: ${log})" >&2
		exit 1
	fi
	sleep 1
done
echo "HAPI FHIR R4 ready at ${base_url} ($((SECONDS - start)) s; log ${log}; stop with make hapi-down)"
