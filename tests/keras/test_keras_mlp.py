"""The keras_mlp member: a scikit-learn classifier that votes, saves and reloads like the others."""

import subprocess
import sys
import textwrap
from unittest import mock

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score

from imbalance_flows import MemberSpec, VotingEnsemble
from imbalance_flows.cli import main as cli
from imbalance_flows.tasks.data.schema import coerce, infer_schema
from imbalance_flows.tasks.errors import InputError
from imbalance_flows.tasks.learners.keras_members import KerasMLP, stratified_holdout
from imbalance_flows.tasks.model.fitting import encode_labels, fit_member
from imbalance_flows.tasks.model.members import build_member
from imbalance_flows.tasks.sampling.resample import class_weights
from imbalance_flows.tasks.store.member_files import dump_member, load_member
from imbalance_flows.tasks.store.model_store import save_model
from tests.conftest import ROOT
from tests.keras.conftest import FEW_EPOCHS


@pytest.mark.parametrize("loss", ["crossentropy", "focal"])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_fits_and_gives_probabilities_that_sum_to_one(blobs, loss, n_classes):
    X, y = blobs
    y = np.minimum(y, n_classes - 1)
    model = KerasMLP(loss=loss, epochs=15, learning_rate=1e-2).fit(X, y)

    proba = model.predict_proba(X)
    assert proba.shape == (len(X), n_classes)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-6)
    assert list(model.classes_) == list(range(n_classes))
    assert balanced_accuracy_score(y, model.predict(X)) > 0.9  # both losses learn separable classes


def test_same_seed_same_network_and_early_stopping_restores_the_best(blobs):
    X, y = blobs
    first = KerasMLP(epochs=6, random_state=3).fit(X, y)
    second = KerasMLP(epochs=6, random_state=3).fit(X, y)
    np.testing.assert_array_equal(first.predict_proba(X), second.predict_proba(X))
    assert "val_loss" in first.history_ and 1 <= first.n_epochs_ <= 6


def test_class_weight_strategy_becomes_keras_class_weight(churn_600):
    X, y = churn_600
    schema = infer_schema(X, y)
    counts = {0: 500, 1: 100}
    learner = build_member(MemberSpec.parse("class_weight:keras_mlp"), schema, counts).steps[-1][1]
    assert isinstance(learner, KerasMLP) and learner.class_weight == class_weights(counts, 1.0) == {0: 1.0, 1: 5.0}

    # Weighted, the rare class is predicted more often than unweighted.
    rng = np.random.default_rng(0)
    features = rng.normal(size=(600, 3))
    labels = (features[:, 0] + rng.normal(size=600) > 1.6).astype(int)
    plain = KerasMLP(epochs=8, validation_fraction=0).fit(features, labels).predict(features).mean()
    weighted = KerasMLP(epochs=8, validation_fraction=0, class_weight={0: 1.0, 1: 8.0}).fit(features, labels)
    assert weighted.predict(features).mean() > plain + 0.05


def test_member_pipeline_one_hot_encodes_categories_and_stops_on_rows_held_before_resampling(churn_600):
    X, y = churn_600
    schema = infer_schema(X, y)
    spec = MemberSpec(sampler="random_over", learner="keras_mlp", learner_params=FEW_EPOCHS)
    seen, stops = [], []

    def watch(step, sampler, rows, labels):
        seen.append(len(rows))
        return sampler.fit_resample(rows, labels)

    original = KerasMLP.fit

    def fit(self, X, y, X_val=None, y_val=None):
        stops.append(None if X_val is None else X_val.shape)
        return original(self, X, y, X_val, y_val)

    with mock.patch.object(KerasMLP, "fit", fit):
        pipeline, _ = fit_member(spec, coerce(X, schema), y, schema, watch=watch)

    _, held = stratified_holdout(encode_labels(y, schema), 0.1, 0)
    assert seen == [len(X) - len(held)]  # the stopping rows were set aside before resampling
    assert stops == [(len(held), pipeline.named_steps["learn"].n_features_in_)]  # ... and prepared like the rest

    assert pipeline.named_steps["encode"].transformers_[1][1].__class__.__name__ == "OneHotEncoder"
    learner = pipeline.named_steps["learn"]
    assert learner.n_features_in_ > len(schema.columns)  # categories one-hot
    assert "val_loss" in learner.history_
    fit_rows, held = stratified_holdout(np.repeat([0, 1], [90, 10]), 0.1, 0)
    assert len(held) == 10 and np.bincount(np.repeat([0, 1], [90, 10])[held]).tolist() == [9, 1]
    assert stratified_holdout(np.array([0, 0, 1]), 0.1, 0) is None  # a class of one row: no hold-out


@pytest.mark.parametrize("voting", ["hard", "soft", "weighted"])
def test_votes_beside_scikit_learn_members(churn_600, voting):
    X, y = churn_600
    members = [MemberSpec(sampler="class_weight", learner="keras_mlp", learner_params=FEW_EPOCHS),
               MemberSpec(sampler="random_under", learner="keras_mlp", learner_params={**FEW_EPOCHS, "loss": "focal"}),
               MemberSpec(sampler="class_weight", learner="logreg")]
    # Two folds, not five: a Keras member's out-of-fold fits are most of the time here.
    model = VotingEnsemble(members=members, voting=voting, folds=2).fit(X, y)

    assert set(model.predict(X)) <= {"no", "yes"}
    assert model.weights_.sum() == pytest.approx(1)
    if voting != "hard":
        np.testing.assert_allclose(model.predict_proba(X).sum(axis=1), 1, rtol=1e-6)
    assert balanced_accuracy_score(y, model.predict(X)) > 0.6


def test_saved_version_with_keras_members_loads_and_predicts_in_a_fresh_process(churn_600, tmp_path):
    X, y = churn_600
    members = [MemberSpec(sampler="class_weight", learner="keras_mlp", learner_params=FEW_EPOCHS),
               MemberSpec(sampler="none", learner="rf", learner_params={"n_estimators": 20})]
    model = VotingEnsemble(members=members, folds=2).fit(X, y)  # two folds, not five: fewer Keras fits
    version = save_model(model, tmp_path / "store")
    assert sorted(p.name for p in (version / "members").iterdir()) == ["00.keras", "00.skops", "01.skops"]
    X.to_parquet(tmp_path / "X.parquet")
    np.save(tmp_path / "proba.npy", model.predict_proba(X))

    script = textwrap.dedent(f"""
        import sys
        import numpy as np, pandas as pd
        from imbalance_flows.tasks.store.model_store import load_model
        model = load_model({str(version)!r})
        proba = model.predict_proba(pd.read_parquet({str(tmp_path / 'X.parquet')!r}))
        assert np.array_equal(proba, np.load({str(tmp_path / 'proba.npy')!r})), "probabilities differ"
        print("ok", type(model.members_[0].steps[-1][1]).__name__)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["ok", "KerasMLP"]


def test_member_files_are_written_and_checked(churn_600, tmp_path):
    X, y = churn_600
    schema = infer_schema(X, y)
    pipeline, _ = fit_member(MemberSpec(sampler="class_weight", learner="keras_mlp", learner_params=FEW_EPOCHS),
                             coerce(X, schema), y, schema)
    written = dump_member(pipeline, tmp_path / "m.skops")
    assert [p.name for p in written] == ["m.skops", "m.keras"]
    assert "model_" in vars(pipeline.steps[-1][1])  # the live pipeline keeps its network
    again = load_member(tmp_path / "m.skops")
    rows = coerce(X.head(20), schema)
    np.testing.assert_array_equal(again.predict_proba(rows), pipeline.predict_proba(rows))

    (tmp_path / "m.keras").write_bytes(b"not a zip archive")
    with pytest.raises(InputError, match="a Keras model file must be a valid .keras archive"):
        load_member(tmp_path / "m.skops")
    (tmp_path / "m.keras").unlink()
    with pytest.raises(InputError, match=r"a member.s model file must exist: .*m\.keras. was not found"):
        load_member(tmp_path / "m.skops")


@pytest.mark.parametrize("params, message", [
    ({"loss": "hinge"}, "a Keras member's loss must be one of crossentropy, focal: it is 'hinge'"),
    ({"epochs": 0}, "`epochs` must be a positive integer: it is 0"),
    ({"units": 5}, r"the learner parameters of keras_mlp must be among .*: got \['units'\]"),
])
def test_bad_member_parameters_are_refused(churn_600, params, message):
    X, y = churn_600
    schema = infer_schema(X, y)
    with pytest.raises(ValueError, match=message):  # an InputError, or the spec's validation error
        fit_member(MemberSpec(learner="keras_mlp", learner_params=params), coerce(X, schema), y, schema)


def test_command_line_knows_keras_members(capsys):
    assert cli(["strategies"]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in ("keras_mlp", "keras_cnn", "keras_transfer", "image (images only"))
    spec = MemberSpec.parse("class_weight:keras_mlp")
    assert (spec.sampler, spec.learner) == ("class_weight", "keras_mlp")
    assert MemberSpec.parse("random_under@0.5+image:keras_cnn").augment.method == "image"


def test_a_tabular_run_without_keras_members_does_not_import_tensorflow():
    script = textwrap.dedent("""
        import sys
        import pandas as pd
        from imbalance_flows import default_ensemble
        from imbalance_flows.tasks.store.model_store import save_model, load_model
        import tempfile
        frame = pd.read_parquet("tasks/bundled/hpc.parquet").sample(400, random_state=0)
        model = default_ensemble(random_state=0).fit(frame.drop(columns="class"), frame["class"])
        load_model(save_model(model, tempfile.mkdtemp())).predict(frame.drop(columns="class"))
        import imbalance_flows.flows.train, imbalance_flows.flows.steps  # the flow's modules too
        print(sorted(name for name in ("tensorflow", "keras") if name in sys.modules))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_a_tabular_keras_run_prints_no_tensorflow_start_up_lines():
    """TensorFlow is imported with its C++ log level raised: its start-up chatter stays off the terminal."""
    probe = ("import io, contextlib, sys\n"
             "from imbalance_flows.tasks.learners.keras_members import KerasMLP\n"
             "import numpy as np\n"
             "X = np.random.default_rng(0).normal(size=(60, 3)); y = (X[:, 0] > 0).astype(int)\n"
             "KerasMLP(epochs=1, random_state=0).fit(X, y)\n")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert not [line for line in result.stderr.splitlines() if "tensorflow" in line.lower() or "oneDNN" in line]
