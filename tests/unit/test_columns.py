"""Columns the user controls: identifiers carried to the scores, dropped columns, passthrough, and the warning."""

import warnings

import numpy as np
import pandas as pd
import pytest

from imbalance_flows.tasks.data.checks import UnseenCategoryWarning
from imbalance_flows.tasks.data.splits import identifier_like, set_aside
from imbalance_flows.tasks.errors import DataWarning, InputError
from imbalance_flows.tasks.model.ensemble import VotingEnsemble
from imbalance_flows.tasks.serving.scoring import score_file, score_frame
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


def test_scores_start_with_the_id_columns_then_passthrough_and_ignore_dropped_columns(tmp_path):
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
    for carried in ("model_version", "predicted_label", "proba_rare"):  # the user's values would be overwritten
        with pytest.raises(InputError, match=rf"the scores' own columns cannot be carried beside them: \['{carried}'\] "
                                             r"would be overwritten by the scores"):
            score_frame(model, table.assign(**{carried: "mine"}), "v1", passthrough=[carried])
    no_ids = tmp_path / "no_ids.csv"
    table.drop(columns=["patient_id", "label"]).to_csv(no_ids, index=False)
    with pytest.warns(DataWarning, match=r"The id column \['patient_id'\] of the model is not in the data to score") \
            as told:
        score_file(model, str(no_ids), str(tmp_path / "scores.csv"), chunk_rows=10)  # several chunks, told once
    assert sum("id column" in str(warning.message) for warning in told) == 1
    assert "patient_id" not in pd.read_csv(tmp_path / "scores.csv").columns
    model.schema_.id_columns = ["proba_rare"]  # an id column named as a probability
    with pytest.raises(InputError, match=r"\['proba_rare'\] would be overwritten .* retrain with it renamed"):
        score_frame(model, table.assign(proba_rare="p1"), "v1")


@pytest.mark.parametrize("voting", ["weighted", "hard"])
def test_an_empty_table_scores_to_no_labels_and_no_probabilities(fitted_binary, binary_table, voting):
    X = binary_table.drop(columns="label")
    model = fitted_binary if voting == "weighted" else VotingEnsemble(members=FAST_MEMBERS, voting="hard",
                                                                     random_state=0).fit(X, binary_table["label"])
    empty = X.iloc[:0]

    assert model.predict(empty).shape == (0,)
    assert model.predict(empty).dtype == model.classes_.dtype
    if voting == "weighted":
        assert model.predict_proba(empty).shape == (0, 2)


def test_whole_numbers_of_a_categorical_column_read_as_floats_are_the_categories_trained_on():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"num": rng.normal(size=80), "zip": pd.Categorical(np.arange(80) % 4 + 75000)})
    y = np.where(X["num"] + (X["zip"] == 75001) > 0.8, "rare", "common")
    model = VotingEnsemble(members=FAST_MEMBERS, random_state=0).fit(X, y)
    floats = X.assign(zip=X["zip"].astype(float))  # as pandas holds whole numbers beside a missing one
    floats.loc[0, "zip"] = np.nan

    with warnings.catch_warnings():
        warnings.simplefilter("error", UnseenCategoryWarning)  # 75000.0 is the category 75000
        scored = model.predict_proba(floats)

    np.testing.assert_array_equal(scored[1:], model.predict_proba(X)[1:])
    np.testing.assert_array_equal(scored[:1], model.predict_proba(X.assign(zip=X["zip"].cat.set_categories(
        [75001, 75002, 75003])).iloc[:1]))  # the missing one scored as missing


def test_numbers_held_as_python_objects_are_categories_with_a_warning_that_names_the_conversion():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"num": rng.normal(size=60), "amount": pd.Series(rng.normal(size=60), dtype=object),
                      "mixed": pd.Series([1, "x"] * 30, dtype=object)})

    with pytest.warns(DataWarning) as caught:
        model = VotingEnsemble(members=FAST_MEMBERS, random_state=0).fit(X, ["a", "b", "b"] * 20)

    told = [str(warning.message) for warning in caught if issubclass(warning.category, DataWarning)]
    assert told == ["Column 'amount' holds numbers as Python objects: it is treated as 60 categories, and a number "
                    "unseen in training is scored as missing. Convert it with pd.to_numeric(X['amount']) to treat "
                    "it as numbers, or with .astype('category') to keep it as categories."]
    assert [column.kind for column in model.schema_.columns] == ["numeric", "categorical", "categorical"]


def test_float32_numbers_far_below_float32s_largest_are_scaled_for_the_linear_member():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"num": rng.normal(size=60).astype(np.float32),
                      "big": (np.float32(1e37) * (1 + np.arange(60) % 3)).astype(np.float32)})
    y = np.where(X["num"] > 0.5, "rare", "common")

    model = VotingEnsemble(members=[FAST_MEMBERS[0]], random_state=0).fit(X, y)  # the linear member alone

    assert np.isfinite(model.predict_proba(X)).all()
    assert model.predict(X).tolist().count("rare") > 0


def test_a_file_whose_categories_of_whole_numbers_read_as_floats_reports_none_unseen(tmp_path):
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"num": rng.normal(size=80), "zip": pd.Categorical(np.arange(80) % 4 + 75000)})
    y = np.where(X["num"] + (X["zip"] == 75001) > 0.8, "rare", "common")
    model = VotingEnsemble(members=FAST_MEMBERS, random_state=0).fit(X, y)
    floats = X.assign(zip=X["zip"].astype(float))
    floats.loc[0, "zip"] = np.nan  # Parquet keeps the floats pandas made
    floats.to_parquet(tmp_path / "batch.parquet")
    unseen = {}

    score_file(model, str(tmp_path / "batch.parquet"), str(tmp_path / "scores.parquet"), unseen=unseen, chunk_rows=30)

    assert unseen == {}
    np.testing.assert_array_equal(pd.read_parquet(tmp_path / "scores.parquet")["proba_rare"].to_numpy()[1:],
                                  model.predict_proba(X)[1:, 1])


@pytest.mark.parametrize("held", ["text", "floats with blank text"])
def test_numbers_held_as_text_are_categories_with_a_warning_that_names_the_conversion(held):
    rng = np.random.default_rng(0)
    amounts = pd.Series(rng.normal(size=60).round(3))
    column = amounts.map(str) if held == "text" else amounts.astype(object).where(np.arange(60) % 20 > 0, "")
    X = pd.DataFrame({"num": rng.normal(size=60), "amount": column, "zone": ["north", "5"] * 30})

    with pytest.warns(DataWarning) as caught:
        VotingEnsemble(members=FAST_MEMBERS, random_state=0).fit(X, ["a", "b", "b"] * 20)

    told = [str(warning.message) for warning in caught if issubclass(warning.category, DataWarning)]
    assert len(told) == 1 and told[0].startswith("Column 'amount' holds only numbers, some or all as text: it is "
                                                 "treated as ")
    assert "pd.to_numeric(X['amount'], errors='coerce')" in told[0]


def test_a_pyarrow_table_keeps_its_columns_names_and_types():
    import pyarrow as pa

    frame = mixed_table((150, 50))
    X, y = frame.drop(columns="label"), frame["label"]
    table = pa.Table.from_pandas(X, preserve_index=False)
    from_table = VotingEnsemble(members=FAST_MEMBERS, random_state=0).fit(table, y)
    from_frame = VotingEnsemble(members=FAST_MEMBERS, random_state=0).fit(X, y)

    assert list(from_table.feature_names_in_) == list(X.columns)
    assert [c.kind for c in from_table.schema_.columns] == [c.kind for c in from_frame.schema_.columns]
    np.testing.assert_array_equal(from_table.predict_proba(table), from_frame.predict_proba(X))
    np.testing.assert_array_equal(from_table.predict_proba(X), from_frame.predict_proba(X))


def test_a_numpy_array_of_byte_strings_is_read_as_a_frame_of_them_is():
    X = np.array([[b"red"], [b"blue"], [b"green"]] * 20, dtype="S5")
    y = ["a", "b", "b"] * 20
    from_array = VotingEnsemble(members=FAST_MEMBERS, random_state=0).fit(X, y)
    from_frame = VotingEnsemble(members=FAST_MEMBERS, random_state=0).fit(pd.DataFrame({"x0": X[:, 0].astype(object)}), y)
    np.testing.assert_array_equal(from_array.predict_proba(X), from_frame.predict_proba(pd.DataFrame({"x0": X[:, 0]})))


def test_blank_text_in_a_numeric_column_is_scored_as_a_missing_number():
    frame = mixed_table((150, 50))
    X, y = frame.drop(columns="label"), frame["label"]
    model = VotingEnsemble(members=FAST_MEMBERS, random_state=0).fit(X, y)
    blanks = X.head(4).assign(num=pd.Series(["", " ", None, "1.5"], dtype=object))
    expected = X.head(4).assign(num=[np.nan, np.nan, np.nan, 1.5])
    np.testing.assert_array_equal(model.predict_proba(blanks), model.predict_proba(expected))
