"""The command line end to end: train on the bundled data, predict, report, and clear errors."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.e2e.conftest import ROOT, run_cli

HPC = ROOT / "tasks" / "bundled" / "hpc.parquet"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The README's main job, exactly: the default recipe on the bundled data, ephemeral Prefect API."""
    store = tmp_path_factory.mktemp("store")
    result = run_cli("train", HPC, "--target", "class", "--store", store)
    assert result.returncode == 0, result.stderr[-3000:]
    return result, store


def test_train_prints_members_vs_ensemble_per_class_and_the_version_last(trained):
    result, store = trained
    lines = result.stdout.strip().splitlines()
    version = lines[-1]
    assert version.startswith(str(store / "versions"))
    assert Path(version).parent == store / "versions" and (Path(version) / "manifest.json").is_file()
    assert "| `ensemble` |" in result.stdout
    assert "Recall per class" in result.stdout and "| F (n=" in result.stdout
    assert "Member 3/3 done" in result.stderr + result.stdout  # progress as members finish


def test_the_temporary_server_starts_with_the_command_and_keeps_the_run_in_prefects_home(trained):
    """Started before the flow's imports (flows.temporary_server), not by Prefect after them; the run is in the
    database of PREFECT_HOME, as with Prefect's own temporary server, and no link points at a UI it does not serve."""
    import os
    import re
    import sqlite3

    result, _ = trained
    output = result.stderr + result.stdout
    assert "Starting temporary server" not in output and "View at" not in output
    name = re.search(r"Beginning flow run '([^']+)' for flow 'train'", output).group(1)
    with sqlite3.connect(Path(os.environ["PREFECT_HOME"]) / "prefect.db") as database:
        states = database.execute("SELECT state_type FROM flow_run WHERE name = ?", (name,)).fetchall()
    assert states == [("COMPLETED",)]


def test_predict_writes_label_and_probabilities(trained, tmp_path):
    result, _ = trained
    version = result.stdout.strip().splitlines()[-1]
    out = tmp_path / "scores.parquet"
    scored = run_cli("predict", version, HPC, "--out", out)
    assert scored.returncode == 0, scored.stderr
    frame, data = pd.read_parquet(out), pd.read_parquet(HPC)
    assert list(frame.columns) == ["predicted_class", "proba_F", "proba_L", "proba_M", "proba_VF", "model_version"]
    assert len(frame) == len(data)
    assert frame.filter(like="proba_").sum(axis=1).round(6).eq(1).all()
    assert (frame["predicted_class"] == data["class"]).mean() > 0.7


def test_report_shows_the_saved_tables(trained):
    version = trained[0].stdout.strip().splitlines()[-1]
    report = run_cli("report", version)
    assert report.returncode == 0
    assert "| `ensemble` |" in report.stdout and "weight" in report.stdout


def test_strategies_lists_every_sampler_and_learner():
    from imbalance_flows.tasks.sampling.resample import STRATEGIES

    listing = run_cli("strategies")
    assert listing.returncode == 0
    for name in [*STRATEGIES, "logreg", "rf", "hgb", "k_neighbors"]:
        assert name in listing.stdout


def test_python_flows_train_runs_the_same_flow_with_members_and_config(prefect_api, tmp_path, churn_small):
    config = tmp_path / "config.yaml"
    config.write_text("target: churn\nvoting: soft\nthreshold_objective: g_mean\n")
    result = subprocess.run(
        [sys.executable, "flows/train.py", churn_small, "--config", config, "--member", "class_weight:logreg",
         "--member", "random_under@0.5+jitter:hgb", "--store", tmp_path / "store"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**__import__("os").environ, "PREFECT_API_URL": prefect_api})
    assert result.returncode == 0, result.stderr[-3000:]
    manifest = json.loads((tmp_path / "store" / "versions").glob("*/manifest.json").__next__().read_text())
    assert [m["name"] for m in manifest["members"]] == ["class_weight:logreg", "random_under@0.5+jitter:hgb"]
    assert manifest["ensemble"]["voting"] == "soft" and manifest["ensemble"]["threshold_objective"] == "g_mean"


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bad")
    (folder / "corrupt.parquet").write_bytes(b"this is not parquet")
    pd.DataFrame({"x": [1.0, 2, 3, 4], "y": ["a"] * 4}).to_csv(folder / "one_class.csv", index=False)
    frame = pd.read_parquet(HPC)
    frame.drop(columns=["day"]).to_csv(folder / "no_day.csv", index=False)
    frame.assign(protocol="Z").to_csv(folder / "new_protocol.csv", index=False)
    (folder / "bad.yaml").write_text("members:\n  - sampler: smote\n    learner: xgboost\n")
    return folder


@pytest.mark.parametrize("args, message", [
    (["train", "missing.csv", "--target", "class"], "the data file must exist: 'missing.csv' was not found"),
    (["train", "{bad}/corrupt.parquet", "--target", "class"], "must be readable as PARQUET"),
    (["train", HPC, "--target", "label"], "the target column must exist: 'label' is not among"),
    (["train", "{bad}/one_class.csv", "--target", "y"], "the target needs at least two classes"),
    (["train", HPC, "--target", "class", "--member", "smotte:hgb"], "the resampling strategy must be a known one"),
    (["train", HPC, "--target", "class", "--config", "{bad}/bad.yaml"], "the learner must be a known one"),
    (["predict", "{model}", "{bad}/no_day.csv", "--out", "x.csv"], "missing \\['day'\\]"),
    (["predict", "{model}", "{bad}/new_protocol.csv", "--out", "x.csv", "--unknown-categories", "error"],
     "'Z'\\] are new"),
    (["report", "{bad}"], "MODEL must be a model's name \\(its champion\\), NAME@VERSION"),
    (["serve-model", "{model}", "--port", "99999"], "--port must be a TCP port, 0 to 65535: it is 99999"),
    (["serve-model", "{model}", "--max-mib", "nan"], "--max-mib must be a positive number of MiB: it is nan"),
    (["serve-model", "{model}", "--max-mib", "0"], "--max-mib must be a positive number of MiB: it is 0.0"),
    (["serve-model", "{model}", "--port", "{busy}"], "serve-model needs a free port: 127.0.0.1:\\d+ is in use"),
    (["serve", "--cron", "61 * * * *"], "the retrain schedule must be a cron expression .*: --cron is '61 \\* "),
])
def test_bad_input_exits_2_with_the_rule_and_no_traceback(args, message, bad_files, trained, prefect_api):
    import socket

    model = trained[0].stdout.strip().splitlines()[-1]
    busy = socket.socket()  # a port something listens on
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    args = [str(a).format(bad=bad_files, model=model, busy=busy.getsockname()[1]) for a in args]
    with busy:
        result = run_cli(*args, "--store", bad_files / "store", api_url=prefect_api) if args[0] == "train" \
            else run_cli(*args, api_url=prefect_api, cwd=bad_files)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    error = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert error, result.stderr[-2000:]
    import re

    assert re.search(message, error[0]), error[0]
    # Printed once: the failed task and flow runs do not repeat it on the terminal.
    assert sum(error[0].removeprefix("error: ") in line for line in result.stderr.splitlines()) == 1, result.stderr


def test_in_a_terminal_the_last_line_is_the_saved_version(churn_small, tmp_path):
    """stdout and stderr as one stream, as a terminal shows them: Prefect's shutdown line does not follow."""
    import os

    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    result = subprocess.run([str(Path(sys.executable).with_name("imbalance-flows")), "train", str(churn_small),
                             "--target", "churn", "--member", "class_weight:logreg", "--store", str(tmp_path)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stdout[-3000:]
    last = result.stdout.strip().splitlines()[-1]
    assert Path(last).parent == tmp_path / "versions", result.stdout[-1500:]


def test_what_reading_the_data_told_is_in_the_runs_log(churn_small, tmp_path):
    frame = pd.read_csv(churn_small)
    pd.concat([frame, frame.head(40)], ignore_index=True).to_csv(tmp_path / "data.csv")  # a saved index, 40 copies
    result = run_cli("train", tmp_path / "data.csv", "--target", "churn", "--member", "class_weight:logreg",
                     "--store", tmp_path / "store", "--validation", "holdout", "--validation-size", "0.001")
    assert result.returncode == 0, result.stderr[-3000:]
    log = [line for line in result.stderr.splitlines() if "| WARNING |" in line]
    assert any("data.csv' has no name and numbers the rows: a saved index, left out" in line for line in log), log
    assert any("40 rows are copies of other rows (the same features and label)" in line for line in log), log
    assert any("training rows in the validation split (validation_size=0.001)" in line for line in log), log
