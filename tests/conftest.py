"""Settings every test needs before Prefect is imported (no telemetry, a private Prefect home); the one test server."""

import os
import tempfile
from pathlib import Path

import pytest

os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
if os.environ.get("PYTEST_XDIST_WORKER"):  # pytest -n: each worker its own Prefect home (and test server)
    os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix=f"imbalance-flows-prefect-{os.environ['PYTEST_XDIST_WORKER']}-")
else:
    os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="imbalance-flows-prefect-"))
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")

# Hypothesis: the property tests that set no example count of their own take the profile's. The default one keeps
# the suite short; HYPOTHESIS_PROFILE=thorough runs four times as many examples.
from hypothesis import settings  # noqa: E402

settings.register_profile("default", max_examples=50)
settings.register_profile("thorough", max_examples=200)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

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
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    # No heartbeats from the flows run here: a flow run ends by joining its heartbeat thread, which sleeps in 1 s
    # steps, and each of the many runs of these folders would wait up to a second for it.
    with prefect_test_harness(server_startup_timeout=120), \
            temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield


S3_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """A real S3 API server (moto's, in its own process) on 127.0.0.1 for the session, as s3fs tests itself.

    The standard variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_DEFAULT_REGION`,
    `AWS_ENDPOINT_URL`) point every client at it, in this process and in the commands it starts.
    """
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    log = open(tmp_path_factory.mktemp("s3") / "moto.log", "w")
    server = subprocess.Popen([str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the S3 API server did not start; see {log.name}") from None
            time.sleep(0.2)
    settings = {**S3_CREDENTIALS, "AWS_ENDPOINT_URL": url}
    before = {name: os.environ.get(name) for name in settings}
    os.environ.update(settings)
    try:
        yield url
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        server.terminate()
        server.wait(timeout=30)
        log.close()


@pytest.fixture
def bucket(s3_server) -> str:
    """A new, empty bucket on the session's S3 API server: its s3:// URL."""
    import uuid

    import s3fs

    name = f"bkt-{uuid.uuid4().hex[:12]}"
    s3fs.S3FileSystem().mkdir(name)
    return f"s3://{name}"


SLOW_FOLDERS = ("e2e", "flow", "keras")  # real flows, servers, clusters, TensorFlow: minutes, not seconds


def pytest_collection_modifyitems(config, items):
    """The quick lane, `pytest -m "not slow"`, runs the unit tests; every test of the slow folders is `slow`.

    The slow folders' files come first, the longest first (by what each file's tests took in the last full run
    that `python -m bench.test_lanes` recorded; a file it does not know leads, as it may be long), each file's tests
    in their order: with `pytest -n auto --dist loadfile` the files of minutes start at once, no long file is left
    for the end, and the unit tests fill the workers' ends.
    """
    def slow(item) -> bool:
        parts = Path(str(item.path)).relative_to(ROOT).parts  # ("tests", folder, ...)
        return len(parts) > 2 and parts[1] in SLOW_FOLDERS

    took = _file_seconds()
    for item in items:
        if slow(item):
            item.add_marker(pytest.mark.slow)
    # stable: files stay whole, each file's tests in order
    items.sort(key=lambda item: (not slow(item), -took.get(Path(str(item.path)).relative_to(ROOT).as_posix(),
                                                           float("inf"))))


def _file_seconds() -> dict[str, float]:
    """What each test file took in the last full run `bench.test_lanes` recorded (none when it has not run)."""
    import json

    try:
        lanes = json.loads((ROOT / "bench" / "results" / "test_lanes.json").read_text())["lanes"]
        return {file: float(seconds) for file, seconds in lanes["full"].get("file_seconds", {}).items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def pytest_xdist_auto_num_workers(config):
    """`-n auto`: one worker per core, at least two (the e2e tests spend much of their time waiting on servers, so
    two overlap even on one core) and at most four (each worker runs its own Prefect server, clusters and
    TensorFlow)."""
    return min(4, max(2, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 2))
