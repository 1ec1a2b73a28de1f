"""What the command line refuses before Prefect starts (a temporary server takes seconds): data, target and model
addresses that name nothing, and a Prefect home the temporary server cannot use."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).with_name("imbalance-flows"))


def test_a_prefect_home_that_cannot_be_written_ends_in_one_error_line_before_any_server(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    env = {key: value for key, value in os.environ.items() if key != "PREFECT_API_URL"}
    env["PREFECT_HOME"] = str(blocker / "home")  # under a file: no folder can be made there
    result = subprocess.run([CLI, "train", str(ROOT / "tasks" / "bundled" / "hpc.parquet"), "--target", "class",
                             "--store", str(tmp_path / "store")], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"error: the temporary Prefect server keeps its database in PREFECT_HOME: it must be writable: "
        f"'{blocker / 'home'}' is not (Not a directory). Free space there, set PREFECT_HOME to a folder with room, "
        "or set PREFECT_API_URL to a running Prefect server."]
    assert not (tmp_path / "store").exists()


@pytest.mark.parametrize("args, message", [
    (["train", "missing.csv", "--target", "class"], "error: the data file must exist: 'missing.csv' was not found."),
    (["train", str(ROOT / "tasks" / "bundled" / "hpc.parquet"), "--target", "clas"],
     "error: the target column must exist: 'clas' is not among the columns ['protocol', 'compounds', "
     "'input_fields', 'iterations', 'num_pending', 'hour', 'day', 'class']. Did you mean 'class'?"),
    (["retrain", str(ROOT / "tasks" / "bundled" / "churn.parquet"), "--target", "Churn"],
     "is not among the columns ['state', 'account_length', 'area_code', 'international_plan', 'voice_mail_plan', "
     "'number_vmail_messages', 'total_day_minutes', 'total_day_calls', … (12 more)]. Did you mean 'churn'?"),
    (["predict", "champion", str(ROOT / "tasks" / "bundled" / "hpc.parquet"), "--out", "x.csv"],
     "error: a model's name (or 'champion') needs a promoted version"),
    (["predict", "churn@20260101T000000Z-abcdef", "x.csv", "--out", "y.csv"], "error: NAME@VERSION must name a version"),
])
def test_what_names_nothing_is_refused_before_prefect_starts(tmp_path, args, message):
    env = {key: value for key, value in os.environ.items() if key != "PREFECT_API_URL"}
    result = subprocess.run([CLI, *args, "--store", str(tmp_path / "store")], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("error: "), result.stderr
    assert message.removeprefix("error: ") in result.stderr
    assert "temporary server" not in result.stderr
