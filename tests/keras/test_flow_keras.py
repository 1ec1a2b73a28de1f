"""The training flow with Keras members beside scikit-learn ones, on a table and on images."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from imbalance_flows.flows.config import TrainConfig
from imbalance_flows.flows.train import train
from imbalance_flows.tasks.data.images import load_folder
from imbalance_flows.tasks.data.options import ImageOptions
from imbalance_flows.tasks.data.tables import read_written
from imbalance_flows.tasks.errors import InputError
from imbalance_flows.tasks.model.spec import AugmentSpec, MemberSpec
from tests.conftest import ROOT
from tests.keras.conftest import FEW_EPOCHS

pytestmark = pytest.mark.usefixtures("prefect_server")

# Two cross-fitting folds, not five: a Keras member, or one that generates rows, fits once per fold and once more
# for its out-of-fold predictions, and those fits are most of these tests' time.
FOLDS = 2


def _reload_and_predict(version, frame: pd.DataFrame, target: str, tmp_path) -> list:
    """Load the version in a fresh process and return its predictions for `frame`."""
    frame.to_parquet(tmp_path / "score.parquet")
    script = textwrap.dedent(f"""
        import json
        import pandas as pd
        from imbalance_flows.tasks.store.model_store import load_model
        frame = pd.read_parquet({str(tmp_path / 'score.parquet')!r})
        print(json.dumps(load_model({str(version)!r}).predict(frame.drop(columns={target!r})).tolist()))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_tabular_flow_trains_keras_members_beside_scikit_learn_ones(churn_small, tmp_path):
    members = [MemberSpec(sampler="class_weight", learner="keras_mlp", learner_params=FEW_EPOCHS),
               MemberSpec(sampler="none", learner="keras_mlp", learner_params={**FEW_EPOCHS, "loss": "focal"}),
               MemberSpec(sampler="class_weight", learner="logreg")]
    result = train(TrainConfig(data=str(churn_small), target="churn", members=members, store=str(tmp_path),
                               folds=FOLDS))

    version = result["version"]
    assert set(result["results"]) == {m.name for m in members} | {"ensemble"}
    assert result["results"]["ensemble"]["balanced_accuracy"] > 0.6
    work = sorted(p.suffix for p in (tmp_path / ".work" / "members").iterdir())
    assert work == [".keras", ".keras", ".npy", ".npy", ".npy", ".skops", ".skops", ".skops"]  # + out-of-fold probabilities
    test = read_written(next((tmp_path / ".work" / "tables").glob("test-*.arrows")))
    from imbalance_flows.tasks.store.model_store import load_model

    assert _reload_and_predict(version, test, "churn", tmp_path) == load_model(version).predict(test).tolist()


def test_image_flow_trains_a_cnn_with_augmentation_beside_a_forest(digits_folder, tmp_path):
    members = [MemberSpec(sampler="random_under", sampling_strategy=0.5, learner="keras_cnn",
                          augment=AugmentSpec(method="image", ratio=1.0), learner_params={"epochs": 5}),
               MemberSpec(sampler="class_weight", learner="rf", learner_params={"n_estimators": 50})]
    result = train(TrainConfig(data=str(digits_folder), target="digit", members=members, store=str(tmp_path),
                               images=ImageOptions(size=(8, 8)), folds=FOLDS))

    manifest = json.loads(open(f"{result['version']}/manifest.json").read())
    assert manifest["schema"]["image"] == {"height": 8, "width": 8, "channels": 1}
    assert result["results"]["ensemble"]["classes"] == [str(d) for d in range(10)]
    assert result["results"]["ensemble"]["balanced_accuracy"] > 0.8
    frame, _ = load_folder(digits_folder, "digit")
    predicted = _reload_and_predict(result["version"], frame.head(50), "digit", tmp_path)
    assert sum(p == t for p, t in zip(predicted, frame["digit"].head(50))) >= 40


def test_image_augmentation_on_a_table_fails_the_run_with_the_rule(churn_small, tmp_path):
    members = [MemberSpec.parse("class_weight+image:keras_mlp")]
    with pytest.raises(InputError, match="image augmentation needs image data"):
        train(TrainConfig(data=str(churn_small), target="churn", members=members, store=str(tmp_path)))
    assert not (tmp_path / "versions").exists()


def test_generated_minority_rows_train_save_and_predict_in_a_fresh_process(churn_small, tmp_path):
    members = [MemberSpec(sampler="none", learner="rf", learner_params={"n_estimators": 50},
                          augment=AugmentSpec(method="gan", steps=200)),
               MemberSpec(sampler="class_weight", learner="logreg")]
    result = train(TrainConfig(data=str(churn_small), target="churn", members=members, store=str(tmp_path),
                               folds=FOLDS))

    assert set(result["results"]) == {"none+gan:rf", "class_weight:logreg", "ensemble"}
    assert result["results"]["none+gan:rf"]["balanced_accuracy"] > 0.6
    version = result["version"]
    assert sorted(p.name for p in Path(version, "members").iterdir()) == ["00.skops", "01.skops"]  # no generator
    test = read_written(next((tmp_path / ".work" / "tables").glob("test-*.arrows")))
    from imbalance_flows.tasks.store.model_store import load_model

    assert _reload_and_predict(version, test, "churn", tmp_path) == load_model(version).predict(test).tolist()


def test_generated_images_feed_an_under_sampled_cnn(digits_folder, tmp_path):
    members = [MemberSpec(sampler="random_under", sampling_strategy=0.5, learner="keras_cnn",
                          augment=AugmentSpec(method="gan", ratio=1.0, steps=150), learner_params={"epochs": 4}),
               MemberSpec(sampler="class_weight", learner="rf", learner_params={"n_estimators": 50})]
    result = train(TrainConfig(data=str(digits_folder), target="digit", members=members, store=str(tmp_path),
                               images=ImageOptions(size=(8, 8)), folds=FOLDS))

    assert result["results"]["random_under@0.5+gan:keras_cnn"]["balanced_accuracy"] > 0.2  # chance: 0.1
    assert result["results"]["ensemble"]["balanced_accuracy"] > 0.8
    frame, _ = load_folder(digits_folder, "digit")
    predicted = _reload_and_predict(result["version"], frame.head(50), "digit", tmp_path)
    assert sum(p == t for p, t in zip(predicted, frame["digit"].head(50))) >= 40
