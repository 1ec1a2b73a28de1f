"""Production as its users run it: a Prefect server on PostgreSQL, `imbalance-flows serve`, data and store in a
bucket. The schedule retrains into the bucket, the predict deployment writes scores there, and a drifted batch
starts a retrain that reads the grown folder of labelled files."""

import glob
import os
import shutil
import subprocess
import tempfile

import pandas as pd
import pytest

from imbalance_flows.tasks import storage
from imbalance_flows.tasks.store.champion import decisions
from imbalance_flows.tasks.store.model_store import champion, read_manifest
from tests.e2e.conftest import (
    _free_port,
    missing_service,
    run_deployment,
    serving_every_minute,
    wait_for,
)

pytestmark = pytest.mark.slow


def _postgres_bin() -> str:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        missing_service("Debian's postgresql")
    return os.path.dirname(found[-1])


@pytest.fixture(scope="module")
def postgres():
    """A PostgreSQL server on 127.0.0.1 with a `prefect` database; yields its SQLAlchemy URL for Prefect.

    PostgreSQL refuses to run as root: as root, it runs as the `postgres` user, in a folder of its own outside
    pytest's private temporary folders."""
    binaries, port = _postgres_bin(), _free_port()
    home = tempfile.mkdtemp(prefix="imbalance-flows-postgres-")
    data = os.path.join(home, "data")
    os.mkdir(data)
    as_user = []
    if os.geteuid() == 0:
        os.chmod(home, 0o755)
        shutil.chown(data, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    run = lambda *args: subprocess.run([*as_user, *args], check=True, capture_output=True, text=True)  # noqa: E731
    run(f"{binaries}/initdb", "-D", data, "-A", "trust", "-U", "prefect")
    run(f"{binaries}/pg_ctl", "-D", data, "-o", f"-p {port} -k {data} -h 127.0.0.1", "-l",
        os.path.join(data, "server.log"), "start", "-w", "-t", "120")
    try:
        run(f"{binaries}/createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "prefect", "prefect")
        yield f"postgresql+asyncpg://prefect@127.0.0.1:{port}/prefect"
    finally:
        run(f"{binaries}/pg_ctl", "-D", data, "stop", "-m", "fast", "-w")
        shutil.rmtree(home, ignore_errors=True)


def test_a_postgres_backed_server_retrains_on_schedule_and_on_drift_with_everything_in_a_bucket(
        postgres, bucket, churn_small, tmp_path):
    labelled, store = f"{bucket}/labelled", f"{bucket}/store"
    frame = pd.read_csv(churn_small)
    frame.iloc[:900].to_parquet(f"{labelled}/batch-000.parquet", index=False)
    with serving_every_minute(tmp_path / "home", labelled, store, database=postgres) as (client, log):
        found = wait_for(lambda: len(d := client.post("/deployments/filter", json={}).json()) >= 3 and d,
                         what="the deployments")
        served = {"client": client, "deployments": {d["name"]: d for d in found}}
        retrain = served["deployments"]["retrain"]

        def retrains(*states, by=None):
            runs = client.post("/flow_runs/filter", json={"flow_runs": {
                "deployment_id": {"any_": [retrain["id"]]}, "state": {"type": {"any_": list(states)}}}}).json()
            return [run for run in runs if by is None or (run.get("created_by") or {}).get("type") == by]

        # The server (on PostgreSQL) schedules the retrain every minute; serve runs it; it promotes into the bucket.
        done = wait_for(lambda: retrains("COMPLETED", "FAILED", "CRASHED"), timeout=400, interval=2,
                        what="a scheduled retrain")
        assert done[0]["state_type"] == "COMPLETED", log.read_text()[-3000:]
        first = champion(store)
        assert isinstance(first, str) and first.startswith(f"{store}/versions/")
        assert read_manifest(first)["data"]["rows"] == 900

        # More labelled rows arrive; then a batch that has drifted is scored into the bucket.
        frame.iloc[900:].to_parquet(f"{labelled}/batch-001.parquet", index=False)
        before = {run["id"] for run in retrains("COMPLETED", "FAILED", "CRASHED", "RUNNING", "PENDING")}
        drifted = frame.drop(columns="churn").assign(total_day_minutes=frame["total_day_minutes"] * 1.5)
        drifted.to_parquet(f"{bucket}/incoming/drifted.parquet", index=False)
        base = served["deployments"]["predict"]["parameters"]["config"]
        scores = f"{bucket}/scores/drifted.parquet"
        scored = run_deployment(served, "predict", {**base, "data": f"{bucket}/incoming/drifted.parquet",
                                                    "out": scores, "version": "champion"})
        assert scored["type"] == "COMPLETED", log.read_text()[-3000:]
        assert len(pd.read_parquet(scores)) == len(frame)
        assert storage.is_file(f"{bucket}/scores/drifted.drift.json")

        def drift_retrain():
            runs = [run for run in retrains("COMPLETED", "FAILED", "CRASHED", by="AUTOMATION")
                    if run["id"] not in before]
            return runs or None

        (started,) = wait_for(drift_retrain, timeout=400, interval=2, what="the retrain the drift starts")[:1]
        assert started["state_type"] == "COMPLETED", log.read_text()[-3000:]
        # The schedule goes on retraining beside it; every decision since the second file came read both files.
        recorded = decisions(store)
        assert len(recorded) >= 2 and [d["sequence"] for d in recorded] == list(range(1, len(recorded) + 1))
        assert read_manifest(recorded[-1]["challenger"])["data"]["rows"] == len(frame)
        assert champion(store).startswith(f"{store}/versions/")
