#!/usr/bin/env bash
# Run the cds-cyto HAPI FHIR test server (FHIR R4, in-memory H2) in the foreground.
#
#   hapi/run.sh [PORT]          default port 8080, bound to 127.0.0.1
#
# Builds hapi/target/hapi-test-server.jar first if it is missing (or older than the
# sources under hapi/), starts it, waits (at most HAPI_WAIT_S seconds, default 180)
# for GET /fhir/metadata to answer 200, prints the base URL, then stays in the
# foreground until the server exits.
# Ctrl-C (or SIGTERM to this script) stops the server.
#
# Environment: HAPI_HOST (default 127.0.0.1), HAPI_WAIT_S (default 180),
#              HAPI_JAVA_OPTS (default: -Xmx1g -XX:TieredStopAtLevel=1 -XX:+UseSerialGC
#              -Duser.timezone=UTC).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "${here}/.." && pwd)"
jar="${here}/target/hapi-test-server.jar"
port="${1:-8080}"
host="${HAPI_HOST:-127.0.0.1}"
wait_s="${HAPI_WAIT_S:-180}"
java_opts="${HAPI_JAVA_OPTS:--Xmx1g -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Duser.timezone=UTC}"

if ! [[ "${port}" =~ ^[0-9]+$ ]] || ((port < 1 || port > 65535)); then
	echo "usage: $0 [PORT]   (PORT must be 1-65535, got '${port}')" >&2
	exit 2
fi
for tool in java curl; do
	command -v "${tool}" >/dev/null 2>&1 || { echo "run.sh: '${tool}' is not on PATH" >&2; exit 1; }
done

# Build if the jar is missing, or older than the module's sources (when mvn is available).
needs_build=0
if [[ ! -f "${jar}" ]]; then
	needs_build=1
	command -v mvn >/dev/null 2>&1 || { echo "run.sh: jar missing and 'mvn' is not on PATH" >&2; exit 1; }
elif command -v mvn >/dev/null 2>&1 &&
	[[ -n "$(find "${here}/pom.xml" "${here}/src" "${here}/.mvn" -newer "${jar}" -type f -print -quit 2>/dev/null)" ]]; then
	needs_build=1
fi
if ((needs_build)); then
	echo "Building ${jar} (the first build downloads ~290 MB from Maven Central) ..."
	(cd "${repo_root}" && mvn -q -B -f hapi/pom.xml package -DskipTests)
fi

base_url="http://${host}:${port}/fhir"
if curl -s -o /dev/null --max-time 2 "http://${host}:${port}/"; then
	echo "run.sh: something is already listening on ${host}:${port}" >&2
	exit 1
fi

# shellcheck disable=SC2086  # java_opts is a list of flags
java ${java_opts} -jar "${jar}" --server.port="${port}" --server.address="${host}" &
pid=$!

stop_server() {
	trap - INT TERM
	if kill -0 "${pid}" 2>/dev/null; then
		kill -TERM "${pid}" 2>/dev/null || true
		for _ in $(seq 1 40); do
			kill -0 "${pid}" 2>/dev/null || break
			sleep 0.5
		done
		kill -KILL "${pid}" 2>/dev/null || true
	fi
	wait "${pid}" 2>/dev/null || true
}
trap 'stop_server; exit 130' INT
trap 'stop_server; exit 143' TERM

start=${SECONDS}
while true; do
	if ! kill -0 "${pid}" 2>/dev/null; then
		wait "${pid}" || true
		echo "run.sh: HAPI server exited during start-up" >&2
		exit 1
	fi
	code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "${base_url}/metadata" || true)"
	if [[ "${code}" == "200" ]]; then
		break
	fi
	if ((SECONDS - start >= wait_s)); then
		echo "run.sh: /fhir/metadata did not answer 200 within ${wait_s} s; stopping" >&2
		stop_server
		exit 1
	fi
	sleep 1
done

echo "HAPI FHIR R4 ready at ${base_url} (pid ${pid}, $((SECONDS - start)) s); Ctrl-C to stop"
set +e
wait "${pid}"
rc=$?
exit "${rc}"
