"""Settings every test needs before Prefect is imported: no telemetry, a private Prefect home."""

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
