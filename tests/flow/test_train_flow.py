"""The training flow under a Prefect test server: outputs, artifacts, resume and failures."""

import json
import os
import re

import numpy as np
import pandas as pd
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

from imbalance_flows.flows.config import TrainConfig
from imbalance_flows.flows.train import train
from imbalance_flows.tasks.data.tables import read_written
from imbalance_flows.tasks.errors import InputError
from imbalance_flows.tasks.model.spec import MemberSpec, default_members
from imbalance_flows.tasks.store.model_store import load_model

FAST = [
    MemberSpec(sampler="class_weight", learner="logreg"),
    MemberSpec(sampler="smote", learner="hgb", sampling_strategy=0.5, learner_params={"max_iter": 30}),
    MemberSpec(sampler="random_under", learner="rf", learner_params={"n_estimators": 30}),
]


def _config(data, store, **changes) -> TrainConfig:
    return TrainConfig(data=str(data), target="churn", store=str(store), **{"members": FAST, **changes})


def _task_states(flow_run_id: str) -> dict[str, str]:
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    return {run.name: run.state.name for run in runs}


def _artifact_keys(flow_run_id: str) -> set[str]:
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])))
    return {artifact.key for artifact in artifacts}


def test_flow_saves_a_complete_version_with_report_and_artifacts(churn_small, tmp_path, caplog):
    with caplog.at_level("INFO"):
        result = train(_config(churn_small, tmp_path / "store"))

    version = result["version"]
    files = sorted(os.listdir(version))
    assert files == ["confusion_matrix.png", "examples.json", "manifest.json", "members", "report.json", "report.md",
                     "training_rows.npy"]
    manifest = json.loads(open(os.path.join(version, "manifest.json")).read())
    assert [m["name"] for m in manifest["members"]] == [m.name for m in FAST]
    assert manifest["data"]["fingerprint"] and manifest["code_version"]
    assert set(manifest["metrics"]) == {m.name for m in FAST} | {"ensemble"}
    assert manifest["positive_class"] == "yes" and 0 < manifest["threshold"] < 1
    assert {"members-vs-ensemble", "class-balance"} <= _artifact_keys(result["flow_run_id"])
    # Resampling shows as subtasks named after their member.
    assert {"resample smote@0.5:hgb", "resample random_under:rf"} <= set(_task_states(result["flow_run_id"]))
    assert "RandomUnderSampler: {'no': " in caplog.text  # classes by name, not by code

    # The report's ensemble numbers are those of the saved model on the test split.
    model = load_model(version)
    frame = read_written(next((tmp_path / "store" / ".work" / "tables").glob("test-*.arrows")))
    recall = (model.predict(frame)[frame["churn"] == "yes"] == "yes").mean()
    assert recall == pytest.approx(manifest["metrics"]["ensemble"]["per_class"]["yes"]["recall"])


def test_rerun_reuses_finished_members(churn_small, tmp_path, caplog):
    caplog.set_level("INFO")
    first = train(_config(churn_small, tmp_path / "store"))
    assert caplog.text.count("done: ") == len(FAST) and "reused: " not in caplog.text
    caplog.clear()
    second = train(_config(churn_small, tmp_path / "store"))

    states = _task_states(second["flow_run_id"])
    assert [states[f"train {m.name}"] for m in FAST] == ["Cached"] * len(FAST)
    assert first["version"] != second["version"]
    # the log says so: no member claims to have been fitted again
    assert caplog.text.count("fitted by an earlier run on the same rows") == len(FAST) and "done: " not in caplog.text


def test_a_cache_whose_member_files_are_gone_is_a_miss_and_the_members_are_refitted(churn_small, tmp_path):
    import shutil

    train(_config(churn_small, tmp_path / "store"))
    shutil.rmtree(tmp_path / "store")  # the store and its workspace are deleted; Prefect's cache is not

    again = train(_config(churn_small, tmp_path / "store"))

    states = _task_states(again["flow_run_id"])
    assert [states[f"train {m.name}"] for m in FAST] == ["Completed"] * len(FAST)
    load_model(again["version"])


def test_the_member_cache_holds_plain_json_that_runs_no_code(churn_small, tmp_path):
    """A cached member is a reference to its files, read as JSON: a planted payload is data, never code."""
    from prefect.settings import PREFECT_LOCAL_STORAGE_PATH

    marker = tmp_path / "ran"
    storage = PREFECT_LOCAL_STORAGE_PATH.value()
    before = {path: path.stat().st_mtime_ns for path in storage.glob("*") if path.is_file()}
    train(_config(churn_small, tmp_path / "store"))
    written = [path for path in storage.glob("*") if path.is_file() and before.get(path) != path.stat().st_mtime_ns]
    records = [json.loads(path.read_text()) for path in written]
    members = [r for r in records if isinstance(r.get("result"), str) and "members" in r["result"]]
    assert len(members) == len(FAST)
    assert all(r["metadata"]["serializer"]["type"] == "json" for r in members)
    for path in written:  # plant what a pickle payload would run, in every record of this run
        record = json.loads(path.read_text())
        if record in members:
            reference = json.loads(record["result"])
            reference["spec"] = {"__class__": "os.system", "data": f"touch {marker}"}
            record["result"] = json.dumps(reference)
            path.write_text(json.dumps(record))

    with pytest.raises(Exception):  # the planted reference is refused as data ...
        train(_config(churn_small, tmp_path / "store"))
    assert not marker.exists()  # ... and ran nothing

    # A record edited to ask for pickle (Prefect rebuilds the serializer from the record) is never read.
    import base64
    import pickle

    class Planted:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    for path in written:
        record = json.loads(path.read_text())
        if isinstance(record.get("result"), str) and "members" in record["result"]:
            record["metadata"]["serializer"] = {"type": "pickle", "picklelib": "cloudpickle"}
            record["result"] = base64.b64encode(pickle.dumps(Planted())).decode()
            path.write_text(json.dumps(record))
    again = train(_config(churn_small, tmp_path / "store"))
    assert not marker.exists()
    assert [_task_states(again["flow_run_id"])[f"train {m.name}"] for m in FAST] == ["Completed"] * len(FAST)


def test_a_run_that_fails_midway_saves_nothing_and_resumes(churn_small, tmp_path):
    store = tmp_path / "store"
    good = train(_config(churn_small, store))["version"]
    # A member that cannot be fitted (k larger than the rare class) fails the run after others trained.
    broken = [*FAST, MemberSpec(sampler="smote", learner="logreg", sampler_params={"k_neighbors": 10_000})]
    with pytest.raises(InputError, match="k_neighbors.*=10000 needs at least 10001"):
        train(TrainConfig(data=str(churn_small), target="churn", members=broken, store=str(store)))
    assert sorted(os.listdir(store / "versions")) == [os.path.basename(good)]
    load_model(good)  # the earlier version still loads


def test_multiclass_data_with_categorical_features(tmp_path, bundled):
    result = train(TrainConfig(data=str(bundled / "hpc.parquet"), target="class", members=FAST[:2],
                               store=str(tmp_path / "store")))
    ensemble = result["results"]["ensemble"]
    assert ensemble["classes"] == ["F", "L", "M", "VF"]
    assert ensemble["balanced_accuracy"] > 0.5  # four classes: chance is 0.25
    assert json.loads(open(os.path.join(result["version"], "manifest.json")).read())["threshold"] is None


@pytest.mark.parametrize("change, message", [
    ({"target": "nope"}, "the target column must exist: 'nope' is not among"),
    ({"data": "missing.csv"}, "the data file must exist: 'missing.csv' was not found"),
])
def test_bad_input_fails_the_run_with_the_rule(churn_small, tmp_path, change, message):
    config = _config(churn_small, tmp_path / "store").model_copy(update=change)
    with pytest.raises(InputError, match=message):
        train(config)
    assert not (tmp_path / "store" / "versions").exists()


@pytest.mark.parametrize("validation, medium_rows, judged", [("out_of_fold", None, "out_of_fold"),
                                                               ("holdout", None, "holdout"),
                                                               ("auto", 500, "holdout")])
def test_flow_judges_members_as_configured_and_matches_fit(churn_small, tmp_path, monkeypatch, validation,
                                                           medium_rows, judged):
    # out_of_fold: no validation split, members train on every training row; holdout: a validation split is
    # written and the members never train on it; auto: a holdout where the rows left to train on are medium data
    # (here more than 500 of them: 960 of the 1,200 outside the test split).
    from imbalance_flows.tasks.model import sizes

    if medium_rows:
        monkeypatch.setattr(sizes, "MEDIUM_ROWS", medium_rows)
    result = train(_config(churn_small, tmp_path / "store", validation=validation))
    tables = {path.name.split("-")[0] for path in (tmp_path / "store" / ".work" / "tables").glob("*.arrows")}
    manifest = json.loads(open(os.path.join(result["version"], "manifest.json")).read())
    assert manifest["ensemble"]["validation"] == judged and manifest["parameters"]["validation"] == validation
    assert ("validation" in tables) == (judged == "holdout")

    # The flow's vote is the one VotingEnsemble.fit makes from the same training rows.
    frame = read_written(next((tmp_path / "store" / ".work" / "tables").glob("train-*.arrows")))
    if judged == "holdout":
        frame = pd.concat([frame, read_written(next(
            (tmp_path / "store" / ".work" / "tables").glob("validation-*.arrows")))])
    flow_model = load_model(result["version"])
    assert flow_model.weights_ == pytest.approx([m["weight"] for m in manifest["members"]])
    # The fingerprints the save reused from the split are those of these rows, hashed as the schema hashes them.
    from imbalance_flows.tasks.data.schema import row_hashes

    saved = np.load(os.path.join(result["version"], "training_rows.npy"))
    assert sorted(saved) == sorted(row_hashes(frame, flow_model.schema_))
    from imbalance_flows.tasks.data.splits import stratified_indices
    from imbalance_flows.tasks.model.ensemble import VotingEnsemble

    # Both validations: VotingEnsemble.fit on the rows outside the test split, in the file's order, plans and fits
    # the same members and votes as the flow (holdout: it holds out the flow's validation rows itself).
    source = pd.read_csv(churn_small)
    outside_test, _ = stratified_indices(source["churn"].to_numpy(), [0.2], 0)
    rows = source.iloc[outside_test]
    direct = VotingEnsemble(members=FAST, validation=validation).fit(rows.drop(columns="churn"), rows["churn"])
    assert len(rows) == len(frame) and direct.validation_ == judged
    assert direct.weights_ == pytest.approx(flow_model.weights_)
    assert direct.threshold_ == pytest.approx(flow_model.threshold_)
    # Each member is the same model: the class-weighted one weighs the classes by their rows in the whole split,
    # though its task reads only its fit and judging rows.
    X = frame.drop(columns="churn")
    for ours, theirs in zip(direct.member_probas(X), flow_model.member_probas(X)):
        assert ours == pytest.approx(theirs)
    np.testing.assert_allclose(direct.predict_proba(source), flow_model.predict_proba(source), atol=1e-9)


def test_out_of_fold_run_refuses_a_class_with_one_training_row(churn_small, tmp_path):
    import pandas as pd

    frame = pd.read_csv(churn_small)
    rare = frame[frame["churn"] == "yes"].head(2)  # two rows: one goes to test, one stays for training
    path = tmp_path / "two_rare.csv"
    pd.concat([frame[frame["churn"] == "no"], rare]).to_csv(path, index=False)
    config = _config(path, tmp_path / "store").model_copy(update={"members": default_members()})

    with pytest.raises(InputError, match="each class needs at least 2 rows for out-of-fold validation: class 'yes' "
                                         "has 1"):
        train(config)
    assert not (tmp_path / "store" / "versions").exists()


def test_id_columns_are_not_features_and_lead_the_scores(churn_small, tmp_path, caplog):
    """An identifier marked with id_columns is set aside at load and written first by batch scoring."""
    from imbalance_flows.flows.config import PredictConfig
    from imbalance_flows.flows.predict import predict

    frame = pd.read_csv(churn_small)
    frame.insert(0, "customer_id", [f"c{i:05d}" for i in range(len(frame))])
    data = tmp_path / "with_ids.csv"
    frame.to_csv(data, index=False)

    result = train(_config(data, tmp_path / "store", id_columns=["customer_id"]))

    model = load_model(result["version"])
    assert model.schema_.id_columns == ["customer_id"] and "customer_id" not in model.schema_.names
    out = tmp_path / "scores.csv"
    predict(PredictConfig(data=str(data), out=str(out), store=str(tmp_path / "store"), version=result["version"]))
    scores = pd.read_csv(out)
    assert scores.columns[0] == "customer_id" and scores["customer_id"].tolist() == frame["customer_id"].tolist()


def test_a_column_that_looks_like_an_identifier_is_named_in_a_warning(churn_small, tmp_path, caplog):
    frame = pd.read_csv(churn_small)
    frame["ticket"] = range(100_000, 100_000 + len(frame))
    data = tmp_path / "with_ticket.csv"
    frame.to_csv(data, index=False)

    with caplog.at_level("WARNING"):
        train(_config(data, tmp_path / "store").model_copy(update={"members": FAST[:1]}))

    assert "Column 'ticket' holds a different value in every row: it looks like an identifier" in caplog.text
    assert "--id-column ticket" in caplog.text


@pytest.mark.parametrize("fault, attempts", [(OSError("connection reset by peer"), 2),
                                             (InputError("a rule", "a value", "A way out."), 1)])
def test_loading_retries_io_errors_but_never_a_broken_rule(churn_small, tmp_path, monkeypatch, fault, attempts):
    from imbalance_flows.flows import steps

    real, calls = steps.read_data, []

    def flaky(*args, **kwargs):  # the first read fails, as a network file system or object store may
        calls.append(1)
        if len(calls) == 1:
            raise fault
        return real(*args, **kwargs)

    monkeypatch.setattr(steps, "read_data", flaky)
    if isinstance(fault, InputError):
        with pytest.raises(InputError, match="a rule"):
            train(_config(churn_small, tmp_path / "store"))
    else:
        assert train(_config(churn_small, tmp_path / "store"))["version"]
    assert len(calls) == attempts


def test_costs_steer_the_decision_and_every_report_says_what_it_costs(churn_small, tmp_path):
    members = [MemberSpec(sampler="class_weight", learner="logreg")]
    plain = train(_config(churn_small, tmp_path / "plain", members=members))
    costly = train(_config(churn_small, tmp_path / "costly", members=members, costs={"fn": 50, "fp": 1}))

    manifest = json.loads(open(os.path.join(costly["version"], "manifest.json")).read())
    assert manifest["objective"] == "cost" and manifest["calibration"]["method"] == "sigmoid"
    assert manifest["cost_matrix"] == [[0.0, 1.0], [50.0, 0.0]]  # classes no, yes: a missed "yes" costs 50
    assert manifest["parameters"]["costs"] == {"fn": 50.0, "fp": 1.0}
    # A miss dearer than a false alarm: more test rows are flagged, so more of the true "yes" are caught.
    assert costly["results"]["ensemble"]["per_class"]["yes"]["recall"] >= \
        plain["results"]["ensemble"]["per_class"]["yes"]["recall"]
    assert manifest["threshold"] < json.loads(open(os.path.join(plain["version"], "manifest.json")).read())[
        "threshold"]
    for name, result in costly["results"].items():  # every member and the ensemble
        assert result["cost_per_row"] >= 0 and result["brier"] is not None, name
    report = open(os.path.join(costly["version"], "report.md")).read()
    assert "cost_per_row" in report and "calibration_error" in report


def test_the_report_shows_the_test_rows_the_ensemble_got_wrong(churn_small, tmp_path, capsys):
    from imbalance_flows.cli import main as cli

    result = train(_config(churn_small, tmp_path / "store", members=FAST[:1], examples=3))

    version = result["version"]
    examples = json.loads(open(os.path.join(version, "examples.json")).read())
    test = read_written(next((tmp_path / "store" / ".work" / "tables").glob("test-*.arrows")))
    missed = examples["classes"]["yes"]
    # Every count is the confusion matrix's; the rows shown are real test rows of that class, predicted otherwise.
    matrix = result["results"]["ensemble"]["confusion_matrix"]
    assert missed["wrong"] == matrix[1][0] and len(missed["examples"]) == min(3, missed["wrong"])
    for example in missed["examples"]:
        assert test["churn"].iloc[example["row"]] == "yes" and example["predicted"] == "no"
        assert example["features"]["state"] == test["state"].iloc[example["row"]]
    confidence = [e["p_predicted"] for e in missed["examples"]]
    assert confidence == sorted(confidence, reverse=True)
    assert "Test examples the ensemble got wrong" in open(os.path.join(version, "report.md")).read()
    assert "misclassified-examples" in _artifact_keys(result["flow_run_id"])

    capsys.readouterr()
    assert cli(["report", version, "--examples", "2"]) == 0
    printed = capsys.readouterr().out
    assert "probabilities calibrated: sigmoid" in printed
    assert f"**yes**: {missed['wrong']} of {missed['wrong'] + matrix[1][1]} test rows" in printed
    assert printed.count(f"| {missed['examples'][0]['row']} |") == 1


def _artifact_data(flow_run_id: str, key: str):
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        ArtifactFilterKey,
    )

    with get_client(sync_client=True) as client:
        (artifact,) = client.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]), key=ArtifactFilterKey(any_=[key])))
    return artifact.type, artifact.data


def test_training_and_scoring_keep_a_progress_bar_up_to_date(churn_small, tmp_path, monkeypatch):
    import io

    from imbalance_flows.flows.config import PredictConfig
    from imbalance_flows.flows.predict import predict

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    result = train(_config(churn_small, tmp_path / "store", members=FAST[:2]))
    assert _artifact_data(result["flow_run_id"], "member-progress") == ("progress", 100.0)
    assert "Members trained: 1/2 (50 %)" in terminal.getvalue() and "Members trained: 2/2 (100 %)\n" in \
        terminal.getvalue()

    state = predict(PredictConfig(data=str(churn_small), out=str(tmp_path / "scores.csv"), version=result["version"],
                                  store=str(tmp_path / "store"), chunk_rows=400), return_state=True)
    flow_run_id = str(state.state_details.flow_run_id)
    assert _artifact_data(flow_run_id, "scoring-progress") == ("progress", 100.0)
    assert "Rows scored: 400/1500 (27 %)" in terminal.getvalue() and "Rows scored: 1500/1500 (100 %)\n" in \
        terminal.getvalue()


def test_above_the_size_threshold_the_flow_trains_the_large_recipe_as_fit_does(churn_small, tmp_path, monkeypatch,
                                                                               caplog):
    # The large-data rules from 500 training rows (1,200 here): a class-capped fit sample of 600, 300 judging rows
    # at most.
    from imbalance_flows.tasks.model import sizes
    from imbalance_flows.tasks.model.ensemble import VotingEnsemble
    from imbalance_flows.tasks.model.spec import RECIPES

    for name, value in {"LARGE_ROWS": 500, "FIT_ROWS": 600, "JUDGE_ROWS": 300, "MIN_JUDGED": 60}.items():
        monkeypatch.setattr(sizes, name, value)
    with caplog.at_level("INFO"):
        result = train(_config(churn_small, tmp_path / "store", members=default_members()))
    manifest = json.loads(open(os.path.join(result["version"], "manifest.json")).read())
    assert [m["name"] for m in manifest["members"]] == list(RECIPES["default-large"][1])
    assert "the default recipe for large data" in caplog.text
    import re

    judged = int(re.search(r"Weights and threshold from (\d+) rows", caplog.text).group(1))
    assert judged == pytest.approx(1200 * sizes.MAX_JUDGED_SHARE, abs=2)  # a fifth of each class (300 would be more)
    assert manifest["parameters"]["members"] == [m.model_dump(mode="json") for m in default_members()]
    # Members and the vote planned the same rows as VotingEnsemble.fit plans them.
    frame = read_written(next((tmp_path / "store" / ".work" / "tables").glob("train-*.arrows")))
    direct = VotingEnsemble().fit(frame.drop(columns="churn"), frame["churn"])
    flow_model = load_model(result["version"])
    assert direct.weights_ == pytest.approx(flow_model.weights_)
    assert direct.threshold_ == pytest.approx(flow_model.threshold_)
    # Each member is the same model: the class-weighted one weighs the classes by their rows in the whole split,
    # though its task reads only its fit and judging rows.
    X = frame.drop(columns="churn")
    for ours, theirs in zip(direct.member_probas(X), flow_model.member_probas(X)):
        assert ours == pytest.approx(theirs)


def test_holdout_on_a_large_validation_split_judges_on_a_sample_read_file_by_file(churn_small, tmp_path,
                                                                                 monkeypatch, caplog):
    # The large-data rules from 200 rows: the 480 validation rows (0.4 of the 1,200 rows outside the test split)
    # judge by a stratified sample of them.
    import re

    from imbalance_flows.tasks.data import tables
    from imbalance_flows.tasks.model import sizes

    for name, value in {"LARGE_ROWS": 200, "FIT_ROWS": 600, "JUDGE_ROWS": 150, "MIN_JUDGED": 30}.items():
        monkeypatch.setattr(sizes, name, value)
    frame = pd.read_csv(churn_small)
    (tmp_path / "parts").mkdir()
    for index, start in enumerate(range(0, len(frame), 400)):
        frame.iloc[start:start + 400].to_parquet(tmp_path / "parts" / f"part-{index}.parquet", index=False)
    read_whole = []
    read_table = tables.read_table
    monkeypatch.setattr(tables, "read_table", lambda ref, *a, **k: read_whole.append(ref.path) or read_table(
        ref, *a, **k))
    with caplog.at_level("INFO"):
        result = train(_config(tmp_path / "parts", tmp_path / "store", validation="holdout", validation_size=0.4))
    judged = re.search(r"Weights and threshold from (\d+) rows the members did not see \(validation split, a "
                       r"stratified sample of the (\d+) validation rows\)", caplog.text)
    assert judged and 150 <= int(judged.group(1)) < int(judged.group(2)) == 480
    assert not [path for path in read_whole if "validation-" in path]
    assert load_model(result["version"]).weights_ is not None


def test_a_partitioned_table_trains_as_the_same_rows_in_one_file(churn_small, tmp_path, monkeypatch):
    # The size rule applies too (from 500 training rows), so members read their sample file by file.
    from imbalance_flows.tasks.model import sizes

    for name, value in {"LARGE_ROWS": 500, "FIT_ROWS": 600, "JUDGE_ROWS": 300, "MIN_JUDGED": 60}.items():
        monkeypatch.setattr(sizes, name, value)
    frame = pd.read_csv(churn_small)
    single = tmp_path / "churn.parquet"
    frame.to_parquet(single, index=False)
    (tmp_path / "parts").mkdir()
    for index, start in enumerate(range(0, len(frame), 400)):
        frame.iloc[start:start + 400].to_parquet(tmp_path / "parts" / f"part-{index}.parquet", index=False)
    whole = train(_config(single, tmp_path / "one"))
    parts = train(_config(tmp_path / "parts", tmp_path / "many"))
    assert len(parts["test_split"]["parts"]) == 4  # the test split is written file by file
    for name in ("report.json", "examples.json"):
        assert json.loads(open(os.path.join(parts["version"], name)).read()) == \
            json.loads(open(os.path.join(whole["version"], name)).read())
    assert list(load_model(parts["version"]).weights_) == list(load_model(whole["version"]).weights_)


def test_a_run_whose_costs_flag_nearly_every_row_says_so_in_its_log(churn_small, tmp_path, caplog):
    caplog.set_level("INFO")
    members = [MemberSpec(sampler="class_weight", learner="logreg")]

    train(_config(churn_small, tmp_path / "store", members=members, costs={"fn": 1000, "fp": 1}))

    warned = [record.getMessage() for record in caplog.records if "rows that judged the members" in record.getMessage()]
    assert len(warned) == 1 and re.match(r"The decision gives (9\d|100)% ", warned[0])
    assert "a missed case costs 1000 false alarms" in warned[0]


def test_a_column_with_one_value_in_every_row_or_numbers_as_text_is_named_in_the_log(churn_small, tmp_path, caplog):
    caplog.set_level("INFO")
    frame = pd.read_csv(churn_small)
    numeric = next(name for name in frame.columns if pd.api.types.is_float_dtype(frame[name]))
    frame = frame.assign(country="NL", as_text=frame[numeric].map(str))
    frame.to_parquet(tmp_path / "churn.parquet", index=False)

    train(_config(tmp_path / "churn.parquet", tmp_path / "store", members=FAST[:1]))

    assert "Column 'country' holds one value in every row: no member can learn from it. Leave it out with " \
           "--drop country." in caplog.text
    assert "Column 'as_text' holds only numbers, some or all as text" in caplog.text  # as the estimator warns
    assert "Column 'churn'" not in caplog.text and caplog.text.count("holds one value in every row") == 1
