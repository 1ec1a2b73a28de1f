"""Flow tests run against the session's one Prefect test server (tests/conftest.py)."""

import pytest


@pytest.fixture(scope="session", autouse=True)
def _flows_run_on_the_prefect_server(prefect_server):
    yield
