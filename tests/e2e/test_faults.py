"""Faults: a run told to stop stops within seconds and leaves nothing running; a Prefect server that goes
away mid-run ends the run clearly; in every case the store is as it was."""

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import (
    CLI,
    ROOT,
    api_client,
    prefect_server,
    scaled,
    start,
    stop,
)

CHURN = ROOT / "tasks" / "bundled" / "churn.parquet"
STOP_WITHIN_S = 15


def _two_forests(folder: Path, trees: int) -> Path:
    """A config of two forest members (plain and over-sampled) of `trees` trees each."""
    path = folder / f"forests-{trees}.yaml"
    path.write_text("members:\n" + "".join(
        f"  - {{sampler: {sampler}, learner: rf, learner_params: {{n_estimators: {trees}}}}}\n"
        for sampler in ("none", "random_over")))
    return path


@pytest.fixture(scope="module")
def slow_config(tmp_path_factory) -> Path:
    """Members slow enough (minutes) that the run is surely training when it is told to stop."""
    return _two_forests(tmp_path_factory.mktemp("config"), 4000)


@pytest.fixture(scope="module")
def medium_config(tmp_path_factory) -> Path:
    """Members that take some seconds: the server is gone well before they finish."""
    return _two_forests(tmp_path_factory.mktemp("config"), 250)


def _children(pid: int) -> list[int]:
    """Every process below `pid` (children, grandchildren, ...)."""
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        listed = subprocess.run(["pgrep", "-P", str(parent)], capture_output=True, text=True).stdout.split()
        found += [int(p) for p in listed]
        frontier += [int(p) for p in listed]
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _train_until_training(args: list, env: dict, log: Path) -> subprocess.Popen:
    """Start `imbalance-flows train …` and return once its members are being trained."""
    process = start([CLI, "train", CHURN, "--target", "churn", *args], env=env, stdout=log.open("w"),
                    stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + scaled(300)
    while "Training 2 members" not in log.read_text():
        assert process.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, "the run never started training"
        time.sleep(0.5)
    time.sleep(2)  # inside the members' fits
    return process


def _environment(api_url: str | None) -> dict:
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return env


def _store_as_it_was(store: Path) -> None:
    assert not (store / "versions").exists() or list((store / "versions").iterdir()) == []
    assert not (store / "champion").exists()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_a_training_run_within_seconds_with_its_temporary_server(slow_config, tmp_path, sig):
    log, store = tmp_path / "run.log", tmp_path / "store"
    process = _train_until_training(["--config", slow_config, "--store", store], _environment(None), log)
    try:
        children = _children(process.pid)
        assert children, "the temporary Prefect server runs as a child process"
        told = time.monotonic()
        os.kill(process.pid, sig)  # to the command alone, as `kill` or systemd would; Ctrl-C is the same signal
        process.wait(timeout=scaled(60))
        took = time.monotonic() - told
        time.sleep(1)
        output = log.read_text()
        assert process.returncode == 128 + sig, output[-3000:]
        assert took < scaled(STOP_WITHIN_S), f"took {took:.1f} s"
        assert f"error: the run was stopped by {signal.Signals(sig).name}" in output
        assert "Traceback" not in output, output[-3000:]
        assert [pid for pid in children if _alive(pid)] == []  # no orphaned server
        _store_as_it_was(store)
    finally:
        stop(process, grace=5)


def _flow_runs(api_url: str) -> list[dict]:
    with api_client(api_url) as client:
        return client.post("/flow_runs/filter", json={}).raise_for_status().json()


def test_a_stopped_run_is_marked_crashed_on_the_server_and_a_rerun_completes(slow_config, prefect_api, tmp_path):
    log, store = tmp_path / "run.log", tmp_path / "store"
    process = _train_until_training(["--config", slow_config, "--store", store], _environment(prefect_api), log)
    try:
        os.kill(process.pid, signal.SIGTERM)
        process.wait(timeout=scaled(60))
    finally:
        stop(process, grace=5)
    assert process.returncode == 128 + signal.SIGTERM, log.read_text()[-3000:]
    runs = [run for run in _flow_runs(prefect_api) if run["name"] and run["parameters"].get("config", {}).get(
        "store") == str(store)]
    assert [run["state_type"] for run in runs] == ["CRASHED"], runs
    _store_as_it_was(store)


def test_a_prefect_server_that_goes_away_mid_run_ends_it_with_one_error_line(medium_config, tmp_path):
    # The members go on training here; the next call to the API finds it gone: the run ends with one line.
    log, store = tmp_path / "run.log", tmp_path / "store"
    home = tmp_path / "prefect-home"
    home.mkdir()
    with prefect_server(home) as api_url:
        # Prefect's client retries a refused connection with backoff (about 40 s by default); one retry says the same.
        env = {**_environment(api_url), "PREFECT_CLIENT_MAX_RETRIES": "1"}
        process = _train_until_training(["--config", medium_config, "--store", store], env, log)
        port = api_url.rsplit(":", 1)[1].split("/")[0]  # this test's server only, not the session's
        server = [pid for pid in _children(os.getpid())
                  if "server\x00start" in (line := Path(f"/proc/{pid}/cmdline").read_text(errors="replace"))
                  and f"\x00--port\x00{port}\x00" in line + "\x00"]
        assert len(server) == 1
        for pid in server:
            os.kill(pid, signal.SIGKILL)  # the server dies, as a machine or a container does
        try:
            process.wait(timeout=scaled(300))
        finally:
            stop(process, grace=5)
    output = log.read_text()
    errors = [line for line in output.splitlines() if line.startswith("error: ")]
    assert process.returncode == 1
    assert len(errors) == 1 and "the Prefect API" in errors[0] and "went away" in errors[0], output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    _store_as_it_was(store)


def test_concurrent_trains_retrains_and_predicts_never_corrupt_the_store(prefect_api, churn_small, tmp_path):
    from imbalance_flows import load_model
    from imbalance_flows.tasks.store.model_store import champion, decisions

    store, env = tmp_path / "store", _environment(prefect_api)
    fast = ["--member", "class_weight:logreg", "--member", "random_under:hgb", "--store", store]

    def launch(*args):
        return start([CLI, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def finish(processes):
        outputs = []
        for process in processes:
            out, _ = process.communicate(timeout=scaled(600))
            assert process.returncode == 0, out[-3000:]
            outputs.append(out)
        return outputs

    finish([launch("train", churn_small, "--target", "churn", "--random-state", str(seed), *fast) for seed in (1, 2)])
    assert len(list((store / "versions").iterdir())) == 2
    # One split for both: each judges on holdout rows the other (the champion, if it won the race) never saw.
    racers = [launch("retrain", churn_small, "--target", "churn", "--random-state", "3", *fast) for _ in range(2)]
    scores = []
    while any(process.poll() is None for process in racers):  # predicts race the retrains' promotions
        if champion(store) is not None:
            out = tmp_path / f"scores{len(scores)}.csv"
            scores.append(launch("predict", "champion", churn_small, "--out", out, "--store", store))
            finish(scores[-1:])
        time.sleep(1)
    finish(racers)

    versions = sorted((store / "versions").iterdir())
    assert len(versions) == 4 and all(load_model(version).members_ for version in versions)
    assert champion(store) in versions
    assert [d["sequence"] for d in decisions(store)] == [1, 2]
    assert not (store / ".staging").exists() or list((store / ".staging").iterdir()) == []
