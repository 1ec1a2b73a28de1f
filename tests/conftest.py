"""Settings every test needs before Prefect is imported (no telemetry, a private Prefect home); the one test server."""

import os
import tempfile
from pathlib import Path

import pytest

os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="imbalance-flows-prefect-"))
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "tasks" / "bundled"


@pytest.fixture(scope="session")
def bundled() -> Path:
    """The folder of the bundled example tables."""
    return BUNDLED


@pytest.fixture(scope="session")
def churn_small(tmp_path_factory) -> Path:
    """1,500 rows of the bundled churn table (binary, 4 categorical features), as CSV."""
    import pandas as pd

    frame = pd.read_parquet(BUNDLED / "churn.parquet").sample(1500, random_state=0)
    path = tmp_path_factory.mktemp("data") / "churn.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def prefect_server():
    """The one Prefect test server of the session, for every folder whose tests run flows in this process.

    Never start a second `prefect_test_harness` beside it: Prefect's events worker is one per process and
    keeps sending to the API it started with, so task runs of flows under a second, nested harness are
    recorded on the first server and the second one's API never shows them.
    """
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
