"""tasks.versions and the commands that use it: one way to name a model, and managing the store's versions."""

import json
import re

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
    ("nonsense", r"MODEL must be a model's name \(its champion\), NAME@VERSION, 'champion' .*: "
                 r"'nonsense' is none of these .* Models: \['default'\]; recent versions: \["),
    ("../versions", "is none of these"),
])
def test_a_name_that_is_no_model_is_refused_with_the_recent_versions(store, model, message):
    with pytest.raises(InputError, match=message):
        resolve_version(store[0], model)


def test_champion_before_any_promotion_says_how_to_promote(tmp_path):
    with pytest.raises(InputError, match="needs a promoted version: .* has no champion of 'default' yet. "
                                         ".*models promote"):
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


def test_a_version_whose_files_changed_is_never_promoted(store):
    root, saved = store
    member = next((saved[2] / "members").iterdir())
    member.write_bytes(member.read_bytes()[:100])  # truncated

    with pytest.raises(InputError, match="a saved version's files must be as they were saved"):
        promote_by_hand(root, saved[2].name)

    assert champion(root) == root / "versions" / saved[0].name
    assert [d["challenger"] for d in decisions(root) if d.get("reason") == "promoted by hand"] == []


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
    assert listed[0] == "default"  # versions saved without a model's name belong to the default one
    assert listed[1].startswith(f"  * {saved[0].name}") and "bal.acc 0.700" in listed[1]
    assert "voting: " in listed[1]  # the members that vote (weight above 0): what tells versions apart
    assert cli(["models", "promote", saved[1].name, "--store", str(root)]) == 0
    assert f"Promoted {saved[1].name}" in capsys.readouterr().out
    assert cli(["models", "prune", "--keep", "0", "--store", str(root)]) == 0
    assert [row["name"] for row in list_versions(root)] == [saved[1].name]
    assert cli(["report", "champion", "--store", str(root)]) == 0
    assert f"Model {saved[1].name}" in capsys.readouterr().out
    assert cli(["models", "promote", "bogus", "--store", str(root)]) == 2
    assert capsys.readouterr().err.startswith("error: MODEL must be a model's name")


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


@pytest.fixture
def two_models(fitted_binary, binary_table, tmp_path):
    """A store with two versions of `churn` and one of `fraud`, each model's first version its champion."""
    from imbalance_flows.tasks.evaluation.metrics import evaluate

    X, y = binary_table.drop(columns="label"), binary_table["label"]
    scored = evaluate(y, fitted_binary.predict(X), fitted_binary.predict_proba(X), fitted_binary.classes_)
    root = tmp_path / "models"
    churn = [save_model(fitted_binary, root, model="churn", extra={"data": {"source": f"churn-{i}.csv", "rows": 100}},
                        metrics={"ensemble": {**scored, "balanced_accuracy": 0.8 + i / 100}}) for i in range(2)]
    fraud = save_model(fitted_binary, root, model="fraud", extra={"data": {"source": "fraud.csv", "rows": 50}})
    promote(root, churn[0])
    promote(root, fraud)
    return root, churn, fraud


def test_two_named_models_in_one_store_have_their_own_champions(two_models):
    root, churn, fraud = two_models
    assert champion(root, "churn").name == churn[0].name and champion(root, "fraud").name == fraud.name
    assert champion(root) is None  # the default model has none: no version of it was promoted
    assert resolve_version(root, "churn").name == churn[0].name  # a model's name: its champion
    assert resolve_version(root, f"churn@{churn[1].name}").name == churn[1].name
    with pytest.raises(InputError, match=f"NAME@VERSION must name a version of that model: '{fraud.name}' is a "
                                         f"version of 'fraud', not of 'churn'"):
        resolve_version(root, f"churn@{fraud.name}")
    with pytest.raises(InputError, match="Models: \\['churn', 'fraud'\\]"):
        resolve_version(root, "chrun")
    assert [row["name"] for row in list_versions(root, "churn")] == [path.name for path in churn]
    promote_by_hand(root, f"churn@{churn[1].name}")  # moves churn's champion only
    assert champion(root, "churn").name == churn[1].name and champion(root, "fraud").name == fraud.name
    assert decisions(root, "churn")[-1]["model"] == "churn" and not decisions(root, "fraud")


def test_prune_keeps_each_models_newest_and_every_champion(two_models, fitted_binary, capsys):
    root, churn, fraud = two_models
    extra = save_model(fitted_binary, root, model="fraud")
    assert cli(["models", "prune", "--keep", "0", "--dry-run", "--store", str(root)]) == 0
    assert capsys.readouterr().out.startswith(f"Would remove 2 versions: {churn[1].name}, {extra.name}")
    assert prune(root, keep=0, model="churn") == [churn[1].name]  # fraud's are left alone
    assert {row["name"] for row in list_versions(root)} == {churn[0].name, fraud.name, extra.name}


def test_a_model_is_named_by_a_letter_then_letters_digits_dash_underscore(fitted_binary, tmp_path):
    for bad in ("2026churn", "churn/eu", "..", "champion", "a b", "x" * 65):
        with pytest.raises(InputError, match="a model is named by a letter"):
            save_model(fitted_binary, tmp_path, model=bad)
    assert not (tmp_path / "versions").exists()


def test_list_show_diff_tag_and_describe(two_models, capsys):
    root, churn, fraud = two_models
    assert cli(["models", "describe", "churn", "Who leaves next month", "--store", str(root)]) == 0
    assert cli(["models", "tag", f"churn@{churn[1].name}", "candidate", "reviewed", "--store", str(root)]) == 0
    assert cli(["models", "tag", churn[1].name, "reviewed", "--remove", "--store", str(root)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"{churn[1].name}: candidate"
    assert cli(["models", "list", "--model", "churn", "--store", str(root)]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[0] == "churn: Who leaves next month" and len(listed) == 3  # fraud's left out
    assert listed[1].startswith(f"  * {churn[0].name}") and "churn-0.csv (target 'label', 100 rows)" in listed[1]
    assert listed[2].endswith("[candidate]") and "bal.acc 0.810" in listed[2]
    assert cli(["models", "show", "churn", "--store", str(root)]) == 0
    shown = capsys.readouterr().out
    assert re.search(rf"^version +{churn[0].name}$", shown, re.M) and re.search(r"^model +churn \(champion\)$",
                                                                                shown, re.M)
    assert re.search(r"^member class_weight:logreg +weight 1\.000$", shown, re.M) and "F1 per class" in shown
    assert cli(["models", "diff", "churn", f"churn@{churn[1].name}", "--store", str(root)]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.strip()}
    assert "≠" in lines["balanced_accuracy"] and "0.8000" in lines["balanced_accuracy"]
    assert "≠" not in lines["voting"] and "≠" in lines["data"]
    assert cli(["models", "tag", "churn", "no way", "--store", str(root)]) == 2
    assert "a tag is a letter" in capsys.readouterr().err


def test_a_card_rewritten_without_the_store_key_is_refused(two_models, monkeypatch):
    from imbalance_flows.tasks.sealing import STORE_KEY
    from imbalance_flows.tasks.store.versions import card, tag

    root, churn, _ = two_models
    monkeypatch.setenv(STORE_KEY, "k" * 32)
    tag(root, churn[0].name, ["candidate"])
    assert card(root, "churn")["tags"] == {churn[0].name: ["candidate"]}
    path = root / "models" / "churn" / "card.json"
    path.write_text(path.read_text().replace("candidate", "approved"))
    with pytest.raises(InputError, match="a model's card"):
        card(root, "churn")


def test_a_store_written_before_models_had_names_is_the_default_models(store):
    root, saved = store
    for path in saved:  # as such versions were written: no model named in the manifest
        manifest = json.loads((path / "manifest.json").read_text())
        del manifest["model"]
        (path / "manifest.json").write_text(json.dumps(manifest))
    assert {row["model"] for row in list_versions(root)} == {"default"}
    assert resolve_version(root, "default") == resolve_version(root, "champion") == champion(root)
    assert resolve_version(root, f"default@{saved[2].name}").name == saved[2].name
    from imbalance_flows.tasks.store.model_store import load_model

    assert load_model(saved[0]).classes_.tolist() == ["common", "rare"]


def test_a_served_models_name_or_champion_is_followed_and_a_version_is_not(two_models):
    from imbalance_flows.tasks.store.versions import followed_model

    root, churn, _ = two_models
    assert followed_model(root, "churn") == "churn" and followed_model(root, "champion") == "default"
    assert followed_model(root, f"churn@{churn[1].name}") is None and followed_model(root, churn[1].name) is None
    assert followed_model(root, churn[1]) is None  # a directory


def test_prune_leaves_a_version_a_live_process_is_loading(store):
    from imbalance_flows.tasks.store.activity import reading
    from imbalance_flows.tasks.store.model_store import load_model

    root, saved = store
    with reading(saved[1]):  # as load_model marks it while it reads
        assert prune(root, keep=0, dry_run=True) == [saved[2].name, ".work"]
        assert prune(root, keep=0) == [saved[2].name, ".work"]
    load_model(saved[1])
    assert not list((root / ".reading").iterdir())  # loading leaves no mark behind
    assert prune(root, keep=0) == [saved[1].name]


def test_promoting_the_champion_again_changes_and_records_nothing(store):
    root, saved = store
    recorded = decisions(root)

    decision = promote_by_hand(root, saved[0].name)

    assert not decision["promoted"] and decision["reason"] == "already the champion"
    assert decisions(root) == recorded and champion(root) == root / "versions" / saved[0].name
