"""Columns the user controls: identifiers carried to the scores, dropped columns, passthrough, and the warning."""

import numpy as np
import pandas as pd
import pytest

from imbalance_flows.tasks.data.splits import identifier_like, set_aside
from imbalance_flows.tasks.errors import InputError
from imbalance_flows.tasks.model.ensemble import VotingEnsemble
from imbalance_flows.tasks.serving.scoring import score_frame
from tests.unit.conftest import FAST_MEMBERS, mixed_table


def with_ids(table: pd.DataFrame) -> pd.DataFrame:
    return table.assign(patient_id=[f"p{i:04d}" for i in range(len(table))], visit=np.arange(len(table)) * 7,
                        clinic=["north"] * len(table))


def test_identifier_like_columns_are_whole_numbers_or_text_unique_per_row():
    table = with_ids(mixed_table((40, 12)))
    assert identifier_like(table.drop(columns="label")) == ["patient_id", "visit"]
    assert identifier_like(table.drop(columns="label").head(10)) == []  # too few rows to tell


def test_set_aside_removes_ids_and_dropped_columns_and_refuses_unknown_names():
    table = with_ids(mixed_table((40, 12)))
    assert list(set_aside(table, "label", ["patient_id"], ["visit"]).columns) == ["num", "size", "colour", "label",
                                                                                 "clinic"]
    with pytest.raises(InputError, match=r"id and dropped columns must be columns of the data: \['patient'\] are "
                                         r"not among .* Check the spelling of --id-column and --drop"):
        set_aside(table, "label", ["patient"])
    with pytest.raises(InputError, match="the target cannot be an id or dropped column"):
        set_aside(table, "label", [], ["label"])


def test_scores_start_with_the_id_columns_then_passthrough_and_ignore_dropped_columns():
    table = with_ids(mixed_table((40, 12)))
    features = set_aside(table, "label", ["patient_id"], ["visit"])
    model = VotingEnsemble(members=FAST_MEMBERS).fit(features.drop(columns="label"), features["label"])
    model.schema_.id_columns, model.schema_.dropped = ["patient_id"], ["visit"]
    scored_file = table.assign(received="2026-11-29")

    scores = score_frame(model, scored_file, "v1", passthrough=["received"])

    assert list(scores.columns) == ["patient_id", "received", "predicted_label", "proba_common", "proba_rare",
                                    "model_version"]
    assert scores["patient_id"].tolist() == table["patient_id"].tolist()
    with pytest.raises(InputError, match=r"the data to score must have only the model's features: unexpected "
                                         r"\['received'\]. Drop them, or copy them to the output with --passthrough"):
        score_frame(model, scored_file, "v1")
    with pytest.raises(InputError, match=r"passthrough columns must be columns of the data to score: \['when'\]"):
        score_frame(model, table, "v1", passthrough=["when"])
