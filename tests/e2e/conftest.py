"""A real `prefect server`, started for the session on 127.0.0.1, and a helper to run the CLI."""

import contextlib
import os
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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def prefect_server(home: Path):
    """Run `prefect server start` on a free port with its own PREFECT_HOME; yield the API URL."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_UI_API_URL": url}
    env.pop("PREFECT_API_URL", None)
    log = open(home / "server.log", "w")
    server = subprocess.Popen([str(Path(sys.executable).with_name("prefect")), "server", "start", "--host",
                               "127.0.0.1", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
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
        server.terminate()
        server.wait(timeout=30)
        log.close()


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory):
    """A real Prefect server (API and UI) for the whole session."""
    with prefect_server(tmp_path_factory.mktemp("prefect-home")) as url:
        yield url


def run_cli(*args, api_url=None, cwd=ROOT, timeout=300) -> subprocess.CompletedProcess:
    """Run `imbalance-flows ARGS`; against `api_url` when given, else with Prefect's ephemeral API."""
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return subprocess.run([CLI, *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def wait_for(condition, timeout=180, interval=1.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out waiting for {what}")


@pytest.fixture(scope="session")
def served(prefect_api, churn_small, tmp_path_factory):
    """`imbalance-flows serve` running against the test server, with a weekly Berlin schedule."""
    store = tmp_path_factory.mktemp("served") / "models"
    env = {**os.environ, "PREFECT_API_URL": prefect_api, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    log = open(store.parent / "serve.log", "w")
    process = subprocess.Popen([CLI, "serve", "--data", str(churn_small), "--target", "churn", "--store", str(store),
                                "--cron", "0 3 * * 1", "--timezone", "Europe/Berlin"],
                               cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    client = httpx.Client(base_url=prefect_api, timeout=30)

    def deployments():
        found = client.post("/deployments/filter", json={}).json()
        return {d["name"]: d for d in found} if len(found) >= 3 else None

    try:
        yield {"client": client, "store": store, "deployments": wait_for(deployments, what="deployments"),
               "api": prefect_api}
    finally:
        process.terminate()
        process.wait(timeout=60)
        log.close()


def run_deployment(served, name: str, config: dict, timeout=300) -> dict:
    """Start a run the way the UI does (POST create_flow_run) and wait until it is final."""
    client, deployment = served["client"], served["deployments"][name]
    for attempt in range(5):
        # The server answers 503 while its SQLite database is busy; Prefect's own client retries those too.
        run = client.post(f"/deployments/{deployment['id']}/create_flow_run", json={"parameters": {"config": config}})
        if run.status_code != 503 or attempt == 4:
            break
        time.sleep(2 ** attempt)
    run.raise_for_status()

    def final():
        state = client.get(f"/flow_runs/{run.json()['id']}").json()["state"]
        return state if state["type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED") else None

    return wait_for(final, timeout=timeout, interval=2, what=f"{name} run")
