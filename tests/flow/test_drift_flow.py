"""The predict flow measures drift and prior shift against the training split, and adjusts to new priors."""

import json

import numpy as np
import pandas as pd
import pytest

from imbalance_flows.flows.config import PredictConfig, TrainConfig
from imbalance_flows.flows.predict import predict
from imbalance_flows.flows.train import train
from imbalance_flows.tasks.errors import InputError
from imbalance_flows.tasks.model.spec import MemberSpec
from tests.conftest import BUNDLED

MEMBERS = [MemberSpec(sampler="class_weight", learner="logreg"),
           MemberSpec(sampler="random_under", learner="rf", learner_params={"n_estimators": 30})]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A model trained on 1,500 churn rows, and the 3,500 rows it never saw."""
    root = tmp_path_factory.mktemp("drift")
    frame = pd.read_parquet(BUNDLED / "churn.parquet")
    seen = frame.sample(1500, random_state=0)
    seen.to_csv(root / "train.csv", index=False)
    result = train(TrainConfig(data=str(root / "train.csv"), target="churn", members=MEMBERS,
                               store=str(root / "store")))
    return root, result["version"], frame.drop(index=seen.index).reset_index(drop=True)


def _score(root, version, frame: pd.DataFrame, name: str, **options) -> dict:
    frame.drop(columns="churn").to_parquet(root / f"{name}.parquet")
    return predict(PredictConfig(data=str(root / f"{name}.parquet"), out=str(root / f"{name}-scores.parquet"),
                                 version=str(version), **options))


def test_rows_like_the_training_ones_do_not_drift(trained):
    root, version, unseen = trained
    result = _score(root, version, unseen, "same")

    report = result["drift"]
    assert not report["drift"], report["verdict"]
    assert report["verdict"].startswith("No drift") and report["rows"] == len(unseen)
    assert max(f["psi"] for f in report["features"].values()) < 0.1
    assert result["drift_file"] == str(root / "same-scores.drift.json")
    assert json.loads(open(result["drift_file"]).read())["verdict"] == report["verdict"]


def test_a_moved_feature_is_named_and_more_churners_are_estimated(trained):
    root, version, unseen = trained
    moved = unseen.assign(total_day_minutes=unseen["total_day_minutes"] * 1.5)
    report = _score(root, version, moved, "moved")["drift"]
    assert report["drift"] and report["drifted_features"][0] == "total_day_minutes"
    assert "features drifted: total_day_minutes (PSI" in report["verdict"]

    churners = unseen[unseen["churn"] == "yes"]
    shifted = pd.concat([unseen[unseen["churn"] == "no"].sample(len(churners), random_state=0), churners])
    plain = _score(root, version, shifted, "shifted")
    report = plain["drift"]
    assert report["shifted_classes"] == ["yes"]
    assert report["classes"]["yes"]["estimated"] == pytest.approx(0.5, abs=0.12)
    assert report["classes"]["yes"]["training"] == pytest.approx(0.14, abs=0.03)

    adjusted = _score(root, version, shifted.assign(key=range(len(shifted))), "adjusted",
                      adjust_priors="estimated", passthrough=["key"])
    assert adjusted["priors"]["yes"] == pytest.approx(report["classes"]["yes"]["estimated"], abs=0.05)
    # The report estimates from the model's own probabilities, not from the adjusted ones (no double shift).
    assert adjusted["drift"]["classes"]["yes"]["estimated"] == pytest.approx(report["classes"]["yes"]["estimated"],
                                                                             abs=0.01)
    truth = (shifted["churn"] == "yes").to_numpy()

    def log_loss(name):
        p = pd.read_parquet(root / f"{name}-scores.parquet")["proba_yes"].clip(1e-6, 1 - 1e-6).to_numpy()
        return -np.mean(np.where(truth, np.log(p), np.log(1 - p)))

    assert log_loss("adjusted") < log_loss("shifted")


def test_given_priors_are_checked_against_the_model(trained):
    root, version, unseen = trained
    result = _score(root, version, unseen.head(200), "given", adjust_priors="yes=0.5,no=0.5")
    assert result["priors"] == {"no": 0.5, "yes": 0.5}
    with pytest.raises(InputError, match="must name every class of the model once"):
        _score(root, version, unseen.head(200), "wrong", adjust_priors="churn=0.5,stay=0.5")
    with pytest.raises(ValueError, match="adjust_priors is 'estimated' or shares written CLASS=SHARE"):
        PredictConfig(data="x.csv", out="y.csv", adjust_priors="half")
