"""Session-wide real servers. HAPI FHIR starts once, on first use, on a free loopback port, and stops at the end.

Under CI (CI=true) a server that cannot start fails the tests that need it; locally such tests are skipped with
the reason, so a quick run without Java still works.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from _pytest.nodeid import coerce_node_id

from tests.support.hapi import HapiServer, hapi_available, start_hapi
from tests.support.hapi_cohort import CohortOnHapi, load_cohort

IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the groups into the node ids
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist (`-n 2 --dist loadgroup`, as `make test` runs), every test that needs the HAPI server
    goes to one worker, in file order: one server starts, and the tests that share its data see it as without
    xdist. The other tests are spread over both workers."""
    if not config.pluginmanager.hasplugin("xdist"):
        return
    for item in items:
        if "hapi" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("hapi"))


class _GroupsIntoNodeIds:
    """pytest-xdist 3.8 writes a test's group into `item._nodeid` ("…@hapi"), which pytest 9 no longer reads (its
    node id is `item._id`): the groups never reached the scheduler, each worker started its own HAPI and built the
    doors' data (15 min each under load). This copies the id xdist meant, after its hook; a no-op once xdist
    sets the id pytest reads."""

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            meant = item.__dict__.get("_nodeid")
            if isinstance(meant, str) and meant != item.nodeid and hasattr(item, "_id"):
                item._id = coerce_node_id(meant)


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):  # an xdist worker: the one that collects and reports the ids
        config.pluginmanager.register(_GroupsIntoNodeIds(), "cds-cyto-xdist-groups")


@pytest.fixture(scope="session")
def hapi() -> Iterator[HapiServer]:
    ok, why = hapi_available()
    if not ok:
        if IN_CI:
            pytest.fail(f"HAPI FHIR test server unavailable: {why}")
        pytest.skip(f"HAPI FHIR test server unavailable: {why}")
    server = start_hapi()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def hapi_url(hapi: HapiServer) -> str:
    return hapi.base_url


@pytest.fixture(scope="session")
def cohort_on_hapi(hapi_url: str, tmp_path_factory: pytest.TempPathFactory) -> CohortOnHapi:
    """fixtures/cohort on the session's HAPI, loaded once for every test that reads it (the load takes minutes)."""
    return load_cohort(hapi_url, tmp_path_factory.mktemp("cohort-load"))
