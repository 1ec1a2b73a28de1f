"""The same training flow with its members on a Dask cluster (a scheduler and two worker processes)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import ROOT, _free_port, run_cli, start, stop, wait_for


def _cluster(prefect_api, logs, *worker_options, unset=()):
    """`dask scheduler` and two `dask worker` processes on 127.0.0.1, started as a user would, with no Prefect
    settings; yields the address, the workers' log and the workers' process."""
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    for name in ("PREFECT_API_URL", *unset):
        env.pop(name, None)
    dask = str(Path(sys.executable).with_name("dask"))
    scheduler_log, worker_log = open(logs / "scheduler.log", "w"), open(logs / "workers.log", "w")
    scheduler = start([dask, "scheduler", "--host", "127.0.0.1", "--port", port, "--dashboard-address", ":0"],
                      cwd=ROOT, env=env, stdout=scheduler_log, stderr=subprocess.STDOUT)
    workers = start([dask, "worker", address, "--nworkers", "2", "--nthreads", "1", *worker_options,
                     "--dashboard-address", ":0"], cwd=ROOT, env=env, stdout=worker_log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: (logs / "workers.log").read_text().count("Registered to") >= 2, timeout=120,
                 what="two Dask workers")
        yield address, logs / "workers.log", workers
    finally:
        for process in (workers, scheduler):
            stop(process, grace=60)
        scheduler_log.close()
        worker_log.close()


@pytest.fixture(scope="module")
def dask_cluster(s3_server, prefect_api, tmp_path_factory):
    """Two workers, with the standard AWS variables of the session's S3 API server (as a cloud worker has its
    credentials)."""
    yield from _cluster(prefect_api, tmp_path_factory.mktemp("dask"))


def prefect_servers_under(process) -> list[str]:
    """The command lines of Prefect servers among a process's descendants (a temporary server is uvicorn serving
    Prefect's app)."""
    import psutil

    found = []
    for child in psutil.Process(process.pid).children(recursive=True):
        try:
            line = " ".join(child.cmdline())
        except psutil.Error:  # ended meanwhile
            continue
        if "prefect.server" in line or "prefect server" in line:
            found.append(line)
    return found


@pytest.mark.parametrize("api", ["server", "temporary"])
def test_members_train_on_dask_workers_which_report_to_the_flows_api(dask_cluster, prefect_api, churn_small,
                                                                      tmp_path, api):
    address, worker_log, workers = dask_cluster
    result = run_cli("train", churn_small, "--target", "churn", "--store", tmp_path / "store",
                     "--member", "class_weight:logreg", "--member", "random_under:hgb", "--dask-address", address,
                     api_url=prefect_api if api == "server" else None)
    assert result.returncode == 0, result.stderr[-3000:]
    assert Path(result.stdout.strip().splitlines()[-1], "manifest.json").is_file()
    # The members' task runs were executed, and logged, by the worker processes.
    log = worker_log.read_text()
    assert "train class_weight:logreg" in log and "train random_under:hgb" in log
    # Started with no Prefect settings, the workers were handed the run's API: none started a server of its own.
    assert prefect_servers_under(workers) == []
    assert "Starting temporary server" not in log


def test_a_partitioned_table_in_a_bucket_is_read_file_by_file_by_the_workers(dask_cluster, prefect_api, bucket,
                                                                             tmp_path):
    import s3fs

    from bench.dask_scale import write_partitioned

    address, worker_log, workers = dask_cluster
    write_partitioned(tmp_path / "parts", 4, 20_000, features=12)
    s3fs.S3FileSystem().put(str(tmp_path / "parts") + "/", f"{bucket.removeprefix('s3://')}/parts/", recursive=True)
    store = f"{bucket}/store"

    result = run_cli("train", f"{bucket}/parts", "--target", "y", "--store", store, "--member",
                     "random_under:logreg", "--dask-address", address, api_url=prefect_api, cwd=tmp_path)

    assert result.returncode == 0, result.stderr[-3000:]
    assert "from 4 Parquet files" in result.stderr and "checked file by file on the Dask cluster" in result.stderr
    version = result.stdout.strip().splitlines()[-1]
    assert version.startswith(f"{store}/versions/")
    manifest = json.loads(s3fs.S3FileSystem().cat_file(f"{version.removeprefix('s3://')}/manifest.json"))
    assert manifest["data"]["rows"] == 80_000
    # The splits were written file by file by the workers: one file per part of the table. 64,000 rows outside the
    # test split leave 51,200 to train on after a holdout: medium data, judged on a validation split (size rule).
    written = s3fs.S3FileSystem().find(f"{store.removeprefix('s3://')}/.work/tables")
    assert sum("/part-" in key for key in written) == 3 * 4
    assert sorted(os.listdir(tmp_path)) == ["parts"]
    assert prefect_servers_under(workers) == []


@pytest.fixture(scope="module")
def workers_without_an_endpoint(s3_server, prefect_api, tmp_path_factory):
    """Two workers with the bucket's credentials but not its endpoint: only the run's storage_options say it."""
    yield from _cluster(prefect_api, tmp_path_factory.mktemp("dask-no-endpoint"), unset=("AWS_ENDPOINT_URL",))


def test_a_runs_storage_options_reach_the_workers(workers_without_an_endpoint, s3_server, prefect_api, bucket,
                                                  tmp_path):
    import s3fs

    from bench.dask_scale import write_partitioned

    address, _, _ = workers_without_an_endpoint
    write_partitioned(tmp_path / "parts", 2, 5_000, features=12)
    s3fs.S3FileSystem().put(str(tmp_path / "parts") + "/", f"{bucket.removeprefix('s3://')}/parts/", recursive=True)
    config = tmp_path / "run.yaml"
    config.write_text(f"storage_options:\n  s3:\n    endpoint_url: {s3_server}\n")

    result = run_cli("train", f"{bucket}/parts", "--target", "y", "--store", f"{bucket}/store", "--member",
                     "random_under:logreg", "--dask-address", address, "--config", config, api_url=prefect_api,
                     cwd=tmp_path)

    assert result.returncode == 0, result.stderr[-3000:]
    assert "checked file by file on the Dask cluster" in result.stderr


# Each worker: less than the table, with room for a member's sample. A worker holds about 0.3 GiB bare (Prefect and
# the libraries imported) and peaks at about 0.7 GiB while a member fits; Dask kills one that reaches 95 % of this.
WORKER_MEMORY = 896 * 2**20


@pytest.fixture(scope="module")
def small_workers(prefect_api, tmp_path_factory):
    """Two workers limited to WORKER_MEMORY each."""
    yield from _cluster(prefect_api, tmp_path_factory.mktemp("dask-small"), "--memory-limit", str(WORKER_MEMORY))


def test_a_table_larger_than_a_worker_trains_file_by_file_on_the_cluster(small_workers, prefect_api, tmp_path):
    from bench.dask_scale import write_partitioned

    address, worker_log, _ = small_workers
    data = tmp_path / "parts"
    # 32 files × 250,000 rows × 30 float32 features: more than a worker may hold, before what a worker holds bare.
    size = write_partitioned(data, 32, 250_000, features=30)
    assert size > WORKER_MEMORY
    result = run_cli("train", data, "--target", "y", "--store", tmp_path / "store", "--member", "random_under:hgb",
                     "--member", "random_under:logreg", "--dask-address", address, api_url=prefect_api, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    version = Path(result.stdout.strip().splitlines()[-1])
    manifest = json.loads((version / "manifest.json").read_text())
    assert manifest["data"]["rows"] == 32 * 250_000
    report = json.loads((version / "report.json").read_text())
    assert report["ensemble"]["balanced_accuracy"] > 0.75  # the concept is learnable: a 1.5 % minority found
    assert "checked file by file on the Dask cluster" in result.stderr
    assert "a stratified sample of the 6400000 training rows" in result.stderr  # the size rule applied
    log = worker_log.read_text()
    for marker in ("Restarting worker", "memory budget", "Worker process still alive"):
        assert marker not in log, log[-3000:]
    assert log.count("Registered to") == 2  # neither worker was started again
