"""A real `prefect server`, started for the session on 127.0.0.1, and a helper to run the CLI."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).with_name("imbalance-flows"))


def missing_service(what: str) -> None:
    """A system package a test needs is not installed: skipped on a developer's machine, a failure where the
    services are promised (`.ci/run` sets IMBALANCE_FLOWS_CI=1 after installing them)."""
    message = f"{what} is not installed (.ci/run installs it)"
    if os.environ.get("IMBALANCE_FLOWS_CI"):
        pytest.fail(message)
    pytest.skip(message)


def scaled(seconds: float) -> float:
    """A deadline that grows with the machine's load: a busy 2-core machine starts a server several times slower."""
    try:
        load = os.getloadavg()[0] / (os.cpu_count() or 1)
    except OSError:  # no load average on this platform
        load = 1.0
    return seconds * max(1.0, load)


def start(args: list, **options) -> subprocess.Popen:
    """Start a process in its own process group, so that it and every child it starts can be ended together."""
    return subprocess.Popen([str(arg) for arg in args], start_new_session=True, **options)


def stop(process: subprocess.Popen, grace: float = 30) -> None:
    """End a process started by `start` and its whole group: SIGTERM, then SIGKILL after `grace` seconds."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


class _RetryWhenBusy(httpx.HTTPTransport):
    """Prefect's server answers 503 while its SQLite database is busy; Prefect's own client retries those, and so
    does a test's client, up to 5 tries over about 15 s."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        for attempt in range(5):
            response = super().handle_request(request)
            if response.status_code != 503 or attempt == 4:
                return response
            response.close()
            time.sleep(2 ** attempt)


def api_client(api: str) -> httpx.Client:
    """An HTTP client of a Prefect API that retries the server's "busy" answers, as Prefect's own client does."""
    return httpx.Client(base_url=api, timeout=30, transport=_RetryWhenBusy())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def prefect_server(home: Path, database: str | None = None):
    """Run `prefect server start` on a free port with its own PREFECT_HOME (and the database at the SQLAlchemy
    URL `database`, if given: PostgreSQL in production); yield the API URL."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_UI_API_URL": url}
    if database:
        env["PREFECT_API_DATABASE_CONNECTION_URL"] = database
    env.pop("PREFECT_API_URL", None)
    log = open(home / "server.log", "w")
    server = start([Path(sys.executable).with_name("prefect"), "server", "start", "--host", "127.0.0.1", "--port",
                    port], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        # A fresh database on a busy machine has taken well over a minute to answer.
        deadline = time.monotonic() + scaled(300)
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"prefect server did not start; see {log.name}")
            time.sleep(0.5)
        yield url
    finally:
        stop(server)
        log.close()


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory):
    """A real Prefect server (API and UI) for the whole session."""
    with prefect_server(tmp_path_factory.mktemp("prefect-home")) as url:
        yield url


# `serve` asks the server for runs to start every PREFECT_RUNNER_POLL_FREQUENCY seconds, 10 by default: each run
# started through the API would wait up to that long before it starts.
QUICK_RUNNER = {"PREFECT_RUNNER_POLL_FREQUENCY": "1"}


@contextlib.contextmanager
def serving_every_minute(home: Path, data, store, database: str | None = None):
    """A Prefect server with its own home (on `database` if given) and `imbalance-flows serve` with a one-minute
    retrain cron; yields an HTTP client of the API and the path of serve's log."""
    home.mkdir(exist_ok=True)
    with prefect_server(home, database) as api:
        env = {**os.environ, "PREFECT_API_URL": api, "PREFECT_HOME": str(home), **QUICK_RUNNER}
        log = open(home / "serve.log", "w")
        serving = start([CLI, "serve", "--data", data, "--target", "churn", "--store", store, "--cron", "* * * * *"],
                        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield api_client(api), home / "serve.log"
        finally:
            stop(serving, grace=60)
            log.close()


def run_cli(*args, api_url=None, cwd=ROOT, timeout=300, env=None) -> subprocess.CompletedProcess:
    """Run `imbalance-flows ARGS`; against `api_url` when given, else with Prefect's ephemeral API; `env` adds
    variables.

    The command runs in its own process group: on a timeout it is ended with the temporary
    Prefect server it may have started, which would otherwise be left running.
    """
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false", **(env or {})}
    env.pop("PREFECT_API_URL", None)
    if api_url:
        env["PREFECT_API_URL"] = api_url
    process = start([CLI, *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = process.communicate(timeout=scaled(timeout))
    except subprocess.TimeoutExpired:
        stop(process, grace=10)
        raise
    finally:
        stop(process, grace=10)  # children left behind by a command that has ended
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def wait_for(condition, timeout=180, interval=1.0, what="condition"):
    deadline = time.monotonic() + scaled(timeout)
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out waiting for {what}")


@pytest.fixture(scope="session")
def served(prefect_api, churn_small, tmp_path_factory):
    """`imbalance-flows serve` running against the test server, with a weekly Berlin schedule, its data a folder
    where labelled batches land (the first: the 1,500 churn rows)."""
    import pandas as pd

    store = tmp_path_factory.mktemp("served") / "models"
    labelled = store.parent / "labelled"
    labelled.mkdir()
    pd.read_csv(churn_small).to_parquet(labelled / "batch-0001.parquet")
    env = {**os.environ, "PREFECT_API_URL": prefect_api, "PREFECT_SERVER_ANALYTICS_ENABLED": "false", **QUICK_RUNNER}
    log = open(store.parent / "serve.log", "w")
    process = start([CLI, "serve", "--data", labelled, "--target", "churn", "--store", store,
                     "--cron", "0 3 * * 1", "--timezone", "Europe/Berlin"],
                    cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    client = api_client(prefect_api)

    def deployments():
        found = client.post("/deployments/filter", json={}).json()
        return {d["name"]: d for d in found} if len(found) >= 3 else None

    try:
        yield {"client": client, "store": store, "deployments": wait_for(deployments, what="deployments"),
               "api": prefect_api, "labelled": labelled}
    finally:
        stop(process, grace=60)
        log.close()


def run_deployment(served, name: str, config: dict, timeout=300) -> dict:
    """Start a run the way the UI does (POST create_flow_run) and wait until it is final."""
    client, deployment = served["client"], served["deployments"][name]
    run = client.post(f"/deployments/{deployment['id']}/create_flow_run", json={"parameters": {"config": config}})
    run.raise_for_status()

    def final():
        state = client.get(f"/flow_runs/{run.json()['id']}").json()["state"]
        return state if state["type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED") else None

    return wait_for(final, timeout=timeout, interval=0.5, what=f"{name} run")


def drifted_batches(served, churn_small, tmp_path_factory) -> dict:
    """Score a steady batch, then a drifted one (whose labelled rows are added to the deployments' folder), through
    the predict deployment (once per server); wait for the retrain the drift event starts. Returns the folder of
    the scores, the drifted batch's predict run, the automation's retrain run, and a function listing the retrain
    runs automations started."""
    if "drifted" in served:
        return served["drifted"]
    import pandas as pd

    from imbalance_flows.tasks.store.model_store import champion

    client, retrain = served["client"], served["deployments"]["retrain"]
    if champion(served["store"]) is None:
        base = retrain["parameters"]["config"]
        strong = [{"sampler": "smote", "learner": "hgb", "sampling_strategy": 0.5}]
        assert run_deployment(served, "retrain", {**base, "train": {**base["train"], "members": strong}})[
            "type"] == "COMPLETED"

    def started_by_automation():
        found = client.post("/flow_runs/filter", json={"flow_runs": {"deployment_id": {"any_": [retrain["id"]]}}})
        return [run for run in found.json() if (run.get("created_by") or {}).get("type") == "AUTOMATION"]

    folder = tmp_path_factory.mktemp("drift")
    labelled = pd.read_csv(churn_small)
    frame = labelled.drop(columns="churn")
    frame.to_parquet(folder / "steady.parquet")
    frame.assign(total_day_minutes=frame["total_day_minutes"] * 1.5).to_parquet(folder / "drifted.parquet")
    # The drifted batch's labels arrive too: a new file in the folder the deployments read.
    labelled.assign(total_day_minutes=labelled["total_day_minutes"] * 1.5).to_parquet(
        served["labelled"] / "batch-0002.parquet")
    base = served["deployments"]["predict"]["parameters"]["config"]
    runs = {}
    for name in ("steady", "drifted"):
        config = {**base, "data": str(folder / f"{name}.parquet"), "out": str(folder / f"{name}-scores.parquet")}
        runs[name] = run_deployment(served, "predict", config)
        assert runs[name]["type"] == "COMPLETED"
    done = wait_for(lambda: [run for run in started_by_automation()
                             if run["state_type"] in ("COMPLETED", "FAILED", "CRASHED")], timeout=300, interval=0.5,
                    what="the retrain the drift event starts")
    served["drifted"] = {"folder": folder, "predict": runs["drifted"], "retrain": done[0],
                         "started_by_automation": started_by_automation}
    return served["drifted"]