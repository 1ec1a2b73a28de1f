"""tasks.versions and the commands that use it: one way to name a model, and managing the store's versions."""

import json

import pytest

from imbalance_flows.cli import main as cli
from imbalance_flows.tasks.errors import InputError
from imbalance_flows.tasks.store.champion import decisions
from imbalance_flows.tasks.store.model_store import champion, promote, save_model
from imbalance_flows.tasks.store.versions import (
    list_versions,
    promote_by_hand,
    prune,
    resolve_version,
)


@pytest.fixture
def store(fitted_binary, binary_table, tmp_path):
    """A store of three versions, the first of them the champion, and a run workspace."""
    from imbalance_flows.tasks.evaluation.metrics import evaluate

    X, y = binary_table.drop(columns="label"), binary_table["label"]
    scored = evaluate(y, fitted_binary.predict(X), fitted_binary.predict_proba(X), fitted_binary.classes_)
    root = tmp_path / "models"
    saved = [save_model(fitted_binary, root, metrics={"ensemble": {**scored, "balanced_accuracy": 0.7 + i / 10}},
                        extra={"data": {"source": f"data-{i}.csv"}}) for i in range(3)]
    promote(root, saved[0])
    (root / ".work" / "tables").mkdir(parents=True)
    return root, saved


def test_a_model_is_named_by_directory_version_name_or_champion(store):
    root, saved = store
    assert resolve_version(root, saved[1]) == saved[1]
    assert resolve_version(root, saved[1].name) == root / "versions" / saved[1].name
    assert resolve_version(root, "champion") == champion(root) == root / "versions" / saved[0].name


@pytest.mark.parametrize("model, message", [
    ("nonsense", r"MODEL must be a saved version's directory, a version name in the store, or 'champion': "
                 r"'nonsense' is none of these .* Recent versions: \["),
    ("../versions", "is none of these"),
])
def test_a_name_that_is_no_model_is_refused_with_the_recent_versions(store, model, message):
    with pytest.raises(InputError, match=message):
        resolve_version(store[0], model)


def test_champion_before_any_promotion_says_how_to_promote(tmp_path):
    with pytest.raises(InputError, match="`champion` needs a promoted model: .* has no champion yet. .*models promote"):
        resolve_version(tmp_path, "champion")


def test_list_shows_every_version_oldest_first_with_its_data_metrics_and_the_champion(store):
    root, saved = store
    rows = list_versions(root)
    assert [row["name"] for row in rows] == [path.name for path in saved]
    assert [row["champion"] for row in rows] == [True, False, False]
    assert [row["data"] for row in rows] == ["data-0.csv", "data-1.csv", "data-2.csv"]
    assert rows[2]["balanced_accuracy"] == pytest.approx(0.9)


def test_promoting_by_hand_moves_the_pointer_and_is_recorded_as_a_decision(store):
    root, saved = store
    decision = promote_by_hand(root, saved[2].name)
    assert champion(root) == root / "versions" / saved[2].name
    assert decisions(root) == [{key: value for key, value in decision.items() if key != "record"}]
    assert decision["reason"] == "promoted by hand" and decision["champion"].endswith(saved[0].name)


def test_only_a_version_of_the_store_can_be_promoted(store, fitted_binary, tmp_path):
    other = save_model(fitted_binary, tmp_path / "elsewhere")
    with pytest.raises(InputError, match="only a version of this store can be promoted"):
        promote_by_hand(store[0], other)


def test_prune_keeps_the_newest_and_never_the_champion(store):
    root, saved = store
    removed = prune(root, keep=1)
    assert removed == [saved[1].name, ".work"]
    assert [row["name"] for row in list_versions(root)] == [saved[0].name, saved[2].name]
    assert champion(root) == root / "versions" / saved[0].name


def test_prune_leaves_the_workspace_of_a_running_run_and_removes_a_stale_one(store, capsys):
    import os
    import time

    from imbalance_flows.tasks.store import activity

    store, _ = store
    workspace = store / ".work"
    (workspace / "tables").mkdir(parents=True, exist_ok=True)
    (workspace / "tables" / "train.parquet").write_bytes(b"rows")
    with activity.using(str(workspace), "run-1"):
        assert activity.runs_using(str(workspace)) == ["run-1"]
        assert cli(["models", "prune", "--keep", "5", "--store", str(store)]) == 0
        assert (workspace / "tables" / "train.parquet").exists()
        assert "Kept .work: a training run is using it" in capsys.readouterr().out
    assert activity.runs_using(str(workspace)) == []  # the marker goes with the run

    (workspace / ".running").mkdir(exist_ok=True)
    (workspace / ".running" / "killed-run").write_text("0\n")  # a run killed long ago never renewed it
    old = time.time() - activity.STALE_S - 1
    os.utime(workspace / ".running" / "killed-run", (old, old))
    assert ".work" in prune(store, keep=5) and not workspace.exists()


def test_a_dry_run_of_prune_says_what_would_go_and_removes_nothing(store, capsys):
    root, saved = store
    before = sorted(path.name for path in (root / "versions").iterdir())

    assert cli(["models", "prune", "--keep", "0", "--dry-run", "--store", str(root)]) == 0

    said = capsys.readouterr().out
    assert f"Would remove 2 versions: {saved[1].name}, {saved[2].name}" in said  # never the champion
    assert sorted(path.name for path in (root / "versions").iterdir()) == before
    assert cli(["models", "prune", "--keep", "1", "--store", str(root)]) == 0
    assert capsys.readouterr().out.startswith(f"Removed 1 version: {saved[1].name}")  # versions counted, not .work


def test_the_models_commands(store, capsys):
    root, saved = store
    assert cli(["models", "list", "--store", str(root)]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[0].startswith(f"* {saved[0].name}") and "balanced_accuracy 0.700" in listed[0]
    assert "voting: " in listed[0]  # the members that vote (weight above 0): what tells versions apart
    assert cli(["models", "promote", saved[1].name, "--store", str(root)]) == 0
    assert f"Promoted {saved[1].name}" in capsys.readouterr().out
    assert cli(["models", "prune", "--keep", "0", "--store", str(root)]) == 0
    assert [row["name"] for row in list_versions(root)] == [saved[1].name]
    assert cli(["report", "champion", "--store", str(root)]) == 0
    assert f"Model {saved[1].name}" in capsys.readouterr().out
    assert cli(["models", "promote", "bogus", "--store", str(root)]) == 2
    assert capsys.readouterr().err.startswith("error: MODEL must be a saved version's directory")


def test_a_config_file_with_an_unknown_key_is_refused_with_the_closest_one(tmp_path, capsys):
    config = tmp_path / "config.yaml"
    config.write_text("targte: churn\nvoting: soft\n")
    assert cli(["train", "data.csv", "--config", str(config)]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert error == [f"error: the keys of a config file must be parameters of the training flow: {str(config)!r} has "
                     "['targte']. Did you mean 'target'? `imbalance-flows train --help` lists them."]


def test_a_misspelt_learner_parameter_in_a_config_is_one_error_line_before_any_work(tmp_path, capsys):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"members": [{"sampler": "none", "learner": "rf",
                                               "learner_params": {"n_estimator": 50}}]}))
    assert cli(["train", str(tmp_path / "absent.csv"), "--target", "y", "--config", str(config)]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith("error: members.0: the learner parameters of rf must be among")
    assert "got ['n_estimator']. Did you mean 'n_estimators'?" in error[0]


def test_a_broken_champion_pointer_is_repaired_by_promoting_and_blocks_pruning(store):
    root, saved = store
    (root / "champion").write_text("../../etc\n")

    assert not any(row["champion"] for row in list_versions(root))
    with pytest.raises(InputError, match="a version is named by letters"):
        prune(root, keep=0)  # with no readable champion, pruning could delete it
    assert len(list_versions(root)) == 3

    promote_by_hand(root, saved[1].name)
    assert champion(root) == root / "versions" / saved[1].name


KILLED_WHILE_SAVING = """
import os, signal, sys
import skops.io
from imbalance_flows import default_ensemble
from imbalance_flows.tasks.store import model_store as store
import pandas as pd, numpy as np

rng = np.random.default_rng(0)
X = pd.DataFrame({"a": rng.normal(size=80)})
y = np.where(X["a"] > 0.8, "rare", "common")
model = default_ensemble(random_state=0).set_params(members=[{"sampler": "class_weight", "learner": "logreg"}]).fit(X, y)
real_dump = skops.io.dump

def dump_then_die(obj, file, **kwargs):
    real_dump(obj, file, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)  # the power goes out half-way through the save

skops.io.dump = dump_then_die
store.save_model(model, sys.argv[1])
"""


def test_what_a_killed_writer_leaves_is_removed_by_prune_but_not_a_live_writers(store, tmp_path):
    import os
    import signal
    import subprocess
    import sys

    from imbalance_flows.tasks.disk import staging_name, temporary

    root, saved = store
    killed = subprocess.run([sys.executable, "-c", KILLED_WHILE_SAVING, str(root)], capture_output=True)
    assert killed.returncode == -signal.SIGKILL
    (dead,) = os.listdir(root / ".staging")  # the half-written version: never visible among the versions
    assert [row["name"] for row in list_versions(root)] == [v.name for v in saved]
    live = root / ".staging" / staging_name()  # a save in progress in this process
    live.mkdir()
    live_file = temporary(root / "champion")
    live_file.write_text("x")

    removed = prune(root, keep=5)

    assert removed == [f".staging/{dead}", ".work"]
    assert sorted(os.listdir(root / ".staging")) == [live.name] and live_file.exists()
