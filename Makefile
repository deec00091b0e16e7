# The two commands of the README: `make run` and `make test`. Everything they need is installed from here:
# the Python packages into .venv, the HAPI FHIR test server by Maven (first build downloads to ~/.m2).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)
HAPI_JAR := hapi/target/hapi-test-server.jar
HAPI_SOURCES := hapi/pom.xml $(shell find hapi/src -type f 2>/dev/null)

.PHONY: run test install lint typecheck pytest postgres chromium hapi hapi-up hapi-down hapi-jar bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

## run: the CDS Hooks service on 127.0.0.1:8000, auth disabled, the bundled synthetic cohort as its FHIR source
## (`make run PORT=8013` or `HOST=...`: the cards' links follow the port; a host given here may be non-loopback)
run: install
	$(BIN)/cds-cyto serve --demo $(if $(PORT),--port $(PORT)) $(if $(HOST),--host $(HOST))

## test: lint, type check, build the HAPI test server, install PostgreSQL if missing, run every test
test: lint typecheck hapi-jar postgres chromium pytest

# The store tests start a throwaway PostgreSQL cluster on loopback; this installs Debian's server package if needed.
postgres:
	bash scripts/ensure-postgres.sh

# The screen's browser tests drive Debian's chromium (never a downloaded browser); this installs it if needed.
chromium:
	bash scripts/ensure-chromium.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

hapi-jar: $(HAPI_JAR)

$(HAPI_JAR): $(HAPI_SOURCES)
	mvn -q -B -f hapi/pom.xml package -DskipTests

# pytest's exit code 5 means it collected no tests: that is a failure here, never a pass. The 25 slowest tests are
# listed at the end, so a CI log shows where the suite's 15 minutes go.
# Two workers (pytest-xdist) on the two cores; every test on the HAPI server runs in one of them (tests/conftest.py).
pytest: install
	$(BIN)/pytest -q -p no:cacheprovider -n 2 --dist loadgroup --durations=25; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing" >&2; exit 1; fi; exit $$rc

## hapi: a local HAPI FHIR sandbox on 127.0.0.1:8080/fhir (foreground; HAPI_PORT=… for another port)
hapi: $(HAPI_JAR)
	bash hapi/run.sh $(or $(HAPI_PORT),8080)

## hapi-up / hapi-down: the same sandbox in the background; hapi-up returns once it answers
hapi-up: $(HAPI_JAR)
	bash scripts/hapi-up.sh $(or $(HAPI_PORT),8080)

hapi-down:
	bash scripts/hapi-down.sh $(or $(HAPI_PORT),8080)

bench: install
	$(BIN)/python bench/bench_core.py

clean:
	rm -rf $(VENV) hapi/target .mypy_cache .ruff_cache .pytest_cache
