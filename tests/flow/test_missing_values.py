"""CSV files that write a missing value as text of their own (`?`, `-999`): read as missing, in training and in
scoring alike, when the training run names the markers."""

import json
from pathlib import Path

import numpy as np
import pandas as pd

from imbalance_flows.flows.config import PredictConfig, TrainConfig
from imbalance_flows.flows.predict import predict
from imbalance_flows.flows.train import train
from imbalance_flows.tasks.model.spec import MemberSpec


def _csv(path: Path, rows: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    amount = rng.normal(size=rows).round(3).astype(str)
    amount[rng.random(rows) < 0.1] = "?"
    plan = rng.choice(["basic", "pro", "?"], size=rows, p=[0.6, 0.3, 0.1])
    label = np.where(rng.random(rows) < 0.15, "yes", "no")
    pd.DataFrame({"amount": amount, "plan": plan, "label": label}).to_csv(path, index=False)
    return path


def test_named_markers_are_missing_in_numbers_and_text_in_training_and_scoring(tmp_path):
    data = _csv(tmp_path / "train.csv", 600, 0)
    store = tmp_path / "models"
    result = train(TrainConfig(data=str(data), target="label", store=str(store), missing_values=["?"],
                               members=[MemberSpec.parse("class_weight:logreg")]))
    manifest = json.loads((Path(result["version"]) / "manifest.json").read_text())
    columns = {column["name"]: column for column in manifest["schema"]["columns"]}
    assert columns["amount"]["kind"] == "numeric"  # "?" was no value: the column holds numbers
    assert "?" not in columns["plan"]["categories"]  # nor a category
    assert manifest["schema"]["missing_values"] == ["?"]

    scored = predict(PredictConfig(data=str(_csv(tmp_path / "new.csv", 200, 1)), out=str(tmp_path / "scores.csv"),
                                   store=str(store), version=result["version"]))
    assert scored["rows"] == 200 and not scored["unseen_categories"]  # "?" read as missing, not as a new plan


def test_without_markers_a_question_mark_is_text_and_an_empty_marker_is_refused(tmp_path):
    import pytest

    from imbalance_flows.tasks.data.tables import read_file

    data = _csv(tmp_path / "train.csv", 100, 0)
    assert not pd.api.types.is_numeric_dtype(read_file(str(data))["amount"])  # text, as written
    assert read_file(str(data), ["?"])["amount"].dtype == float
    with pytest.raises(ValueError, match="a missing-value marker is some text"):  # as every config error
        TrainConfig(data=str(data), target="label", missing_values=[" "])
