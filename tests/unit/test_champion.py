"""tasks.champion: champion and challenger judged on rows neither saw, one promotion at a time."""

import threading

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification

from imbalance_flows.tasks.data.schema import infer_schema, row_hashes
from imbalance_flows.tasks.data.splits import split_target
from imbalance_flows.tasks.errors import InputError
from imbalance_flows.tasks.model.ensemble import VotingEnsemble
from imbalance_flows.tasks.store.champion import (
    decisions,
    judge,
    metrics_of,
    unseen_rows,
)
from imbalance_flows.tasks.store.model_store import (
    champion,
    load_model,
    promote,
    read_manifest,
    save_model,
)

MEMBERS = [{"sampler": "class_weight", "learner": "logreg"}]


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    """2,400 rows, 5 features, 15 % 'rare'; separable enough that clean labels beat noisy ones by far."""
    X, y = make_classification(n_samples=2400, n_features=5, n_informative=4, n_redundant=0, weights=[0.85],
                               class_sep=1.5, random_state=0)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(5)])
    frame["label"] = np.where(y == 1, "rare", "common")
    return frame


def fit_and_save(frame: pd.DataFrame, store, flip: float = 0.0, seed: int = 0, target: str = "label"):
    """Fit on `frame` (with a share `flip` of labels swapped) and save it with its training rows."""
    rng = np.random.default_rng(seed)
    frame = frame.copy()
    swap = rng.random(len(frame)) < flip
    frame.loc[swap, target] = np.where(frame.loc[swap, target] == "rare", "common", "rare")
    X, y = split_target(frame, target)
    model = VotingEnsemble(members=MEMBERS, validation="holdout", random_state=seed).fit(X, y)
    return save_model(model, store, training_rows=frame)


def test_row_hashes_match_rows_across_files_and_tell_rows_apart(table):
    schema = infer_schema(*split_target(table, "label"), "label")
    widened = table.copy()
    widened["f0"] = widened["f0"].astype("float32").astype(float)  # a different value: must not match
    as_text_label = table.astype({"label": "category"})

    hashes = row_hashes(table, schema)

    assert len(np.unique(hashes)) == len(table)
    np.testing.assert_array_equal(row_hashes(as_text_label, schema), hashes)
    assert not np.isin(row_hashes(widened, schema), hashes).all()
    relabelled = table.assign(label=np.where(table["label"] == "rare", "common", "rare"))
    assert not np.isin(row_hashes(relabelled, schema), hashes).any()


def _pandas_fingerprints(frame: pd.DataFrame, schema, labels=None) -> np.ndarray:
    """The fingerprints saved versions hold: pandas' hash of the features as the members see them, then the label
    as text."""
    from imbalance_flows.tasks.data.schema import as_text, coerce

    labels = frame[schema.target] if labels is None else labels
    canonical = coerce(frame[schema.names], schema).assign(**{"\0target": as_text(labels, missing="").to_numpy()})
    return pd.util.hash_pandas_object(canonical, index=False).to_numpy(dtype=np.uint64)


@pytest.mark.parametrize("change", ["none", "nullable ints", "number labels", "byte labels", "boolean labels",
                                    "categorical dtype", "numbers as text", "wide ints", "no rows"])
def test_row_hashes_are_pandas_hashes_of_the_rows_as_members_see_them(change):
    """Versions saved before keep these fingerprints: the block-by-block hashing must give pandas' values, across
    more rows than one block, for NaN (any), -0.0 and 0.0, booleans, ints, text with missing values."""
    from imbalance_flows.tasks.data.schema import HASH_BLOCK

    rng = np.random.default_rng(0)
    n = 2 * HASH_BLOCK + 17
    frame = pd.DataFrame({"a": rng.standard_normal(n).astype(np.float32), "b": rng.integers(0, 5, n),
                          "c": rng.random(n) < 0.5, "d": rng.choice(np.array(["x", "y", None], dtype=object), n),
                          "y": rng.choice(["no", "yes"], n)})
    frame.loc[::7, "a"], frame.loc[::11, "a"], frame.loc[::13, "a"] = np.nan, -0.0, 0.0
    schema = infer_schema(*split_target(frame, "y"), "y")
    if change == "nullable ints":
        frame["b"] = frame["b"].astype("Int64")
        frame.loc[::5, "b"] = pd.NA
    elif change == "number labels":
        frame["y"] = rng.integers(0, 3, n)
    elif change == "byte labels":
        frame["y"] = rng.integers(0, 3, n).astype(np.uint8) * 100
    elif change == "boolean labels":
        frame["y"] = rng.random(n) < 0.2
    elif change == "categorical dtype":
        frame["d"] = frame["d"].astype("category")
    elif change == "numbers as text":
        frame["b"] = frame["b"].astype(str).astype(object)
    elif change == "wide ints":
        frame["b"] = rng.integers(0, 2 ** 62, n).astype(np.uint64)
    elif change == "no rows":
        frame = frame.iloc[:0]

    np.testing.assert_array_equal(row_hashes(frame, schema), _pandas_fingerprints(frame, schema))
    labels = frame["y"].astype(str)
    np.testing.assert_array_equal(row_hashes(frame.drop(columns="y"), schema, labels=labels),
                                  _pandas_fingerprints(frame.drop(columns="y"), schema, labels=labels))


@pytest.mark.parametrize("values", [np.array([3, -1, 3, 0], dtype=np.int64), np.array([1, 250, 1], dtype=np.uint8),
                                    np.array([True, False, True]), np.array([0.5, -0.0, 0.0, np.nan]),
                                    np.array([1, 1.0, True, "1", None], dtype=object)])
def test_labels_print_as_text_value_by_value_even_when_each_distinct_value_is_converted_once(values):
    from imbalance_flows.tasks.data.schema import as_text

    series = pd.Series(values)
    one_by_one = [None if pd.isna(v) else str(v) for v in series.astype(object)]

    assert [None if pd.isna(v) else v for v in as_text(series)] == one_by_one  # missing: None or NaN


@pytest.mark.parametrize("dtype", [object, "str"])
def test_a_column_of_strings_is_its_own_text_and_a_missing_one_gets_the_marker(dtype):
    from imbalance_flows.tasks.data.schema import as_text, distinct_texts

    whole = pd.Series(["b", "a", "b"], dtype=dtype, index=[7, 7, 3], name="kind")
    holed = pd.Series(["b", None, "a"], dtype=dtype, name="kind")

    assert as_text(whole).tolist() == ["b", "a", "b"] and as_text(whole).index.tolist() == [7, 7, 3]
    assert as_text(holed, missing="?").tolist() == ["b", "?", "a"]
    assert distinct_texts(holed) == distinct_texts(whole) == ["a", "b"]


def test_integer_columns_read_back_as_floats_keep_their_fingerprint():
    frame = pd.DataFrame({"count": [1, 2, 3, 4], "kind": ["a", "b", "a", "b"], "y": [0, 1, 0, 1]})
    schema = infer_schema(*split_target(frame, "y"), "y")
    wider = frame.astype({"count": float})  # as in a larger file where the column has blanks

    np.testing.assert_array_equal(row_hashes(wider, schema), row_hashes(frame, schema))


def test_a_saved_version_keeps_the_fingerprints_of_its_training_rows(table, tmp_path):
    version = fit_and_save(table.iloc[:1000], tmp_path)

    assert read_manifest(version)["training_rows"] == {"file": "training_rows.npy", "rows": 1000}
    fresh, dropped = unseen_rows(table.iloc[800:1200], version, load_model(version).schema_)
    assert dropped == 200
    assert fresh.index.tolist() == list(range(1000, 1200))


def test_the_champion_is_judged_only_on_rows_it_was_not_trained_on(table, tmp_path):
    store = tmp_path / "store"
    first = fit_and_save(table.iloc[:1600], store)
    promote(store, first)
    challenger = fit_and_save(table.iloc[:1200], store, seed=1)
    holdout = table.iloc[1200:2400]  # 400 of these rows trained the champion, none the challenger

    decision = judge(store, challenger, holdout, "balanced_accuracy")

    assert (decision["holdout_rows"], decision["excluded_champion_rows"], decision["judged_rows"]) == (1200, 400, 800)
    unseen = table.iloc[1600:2400]
    assert decision["champion_metrics"] == metrics_of(load_model(first), unseen)
    assert decision["challenger_metrics"] == metrics_of(load_model(challenger), unseen)
    assert decisions(store) == [{key: value for key, value in decision.items() if key != "record"}]


def test_a_holdout_given_chunk_by_chunk_is_judged_as_the_same_rows_at_once(table, tmp_path):
    first_store, chunked_store = tmp_path / "whole", tmp_path / "chunks"
    decisions_made = []
    for store, holdout in ((first_store, table.iloc[1200:2400]),
                           (chunked_store, (table.iloc[start:start + 250] for start in range(1200, 2400, 250)))):
        promote(store, fit_and_save(table.iloc[:1600], store))
        decisions_made.append(judge(store, fit_and_save(table.iloc[:1200], store, seed=1), holdout,
                                    "balanced_accuracy"))
    whole, chunked = decisions_made
    for key in ("holdout_rows", "excluded_champion_rows", "judged_rows", "champion_metrics", "challenger_metrics",
                "promoted"):
        assert chunked[key] == whole[key], key
    assert (chunked["holdout_rows"], chunked["excluded_champion_rows"], chunked["judged_rows"]) == (1200, 400, 800)


def test_a_challenger_that_cannot_score_its_holdout_or_has_none_left_is_refused_and_nothing_is_promoted(table,
                                                                                                          tmp_path):
    challenger = fit_and_save(table.iloc[:1200], tmp_path)

    with pytest.raises(InputError, match=r"the challenger must be able to score its own holdout rows: .*'f0'"):
        judge(tmp_path, challenger, table.iloc[1200:].drop(columns=["f0"]), "balanced_accuracy")
    with pytest.raises(InputError, match=r"a challenger is judged on rows it was not trained on: none of the 1200 "
                                         r"holdout rows is such a row"):
        judge(tmp_path, challenger, table.iloc[:1200], "balanced_accuracy")  # its own training rows
    assert champion(tmp_path) is None and decisions(tmp_path) == []


def test_a_champion_without_a_record_of_its_rows_is_judged_on_the_whole_holdout(table, tmp_path):
    X, y = split_target(table.iloc[:1600], "label")
    old = save_model(VotingEnsemble(members=MEMBERS, validation="holdout").fit(X, y), tmp_path)  # no training_rows
    promote(tmp_path, old)
    challenger = fit_and_save(table.iloc[:1200], tmp_path)

    decision = judge(tmp_path, challenger, table.iloc[1200:2400], "balanced_accuracy")

    assert (decision["excluded_champion_rows"], decision["judged_rows"]) == (None, 1200)


def test_too_few_fresh_rows_of_a_class_is_refused_and_the_champion_stays(table, tmp_path):
    first = fit_and_save(table, tmp_path)
    promote(tmp_path, first)
    challenger = fit_and_save(table, tmp_path, seed=1)

    fresh = table[table["label"] == "common"].iloc[:60].assign(f0=-9.0)  # new rows, none of them rare

    with pytest.raises(InputError, match=r"at least 10 of every class: 60 such rows remain, with \{'rare': 0\}; "
                                         r"2340 of the 2400 holdout rows were the champion's training rows\. "
                                         r"Retrain when more fresh labelled rows have arrived"):
        judge(tmp_path, challenger, pd.concat([table.iloc[60:], fresh]), "balanced_accuracy")
    assert champion(tmp_path) == first
    assert decisions(tmp_path) == []


def test_a_worse_challenger_that_finishes_last_does_not_replace_a_better_one(table, tmp_path):
    """Both beat the old champion; the second is compared with the champion as it is under the lock."""
    train, holdout = table.iloc[:1800], table.iloc[1800:]
    old = fit_and_save(train, tmp_path, flip=0.45)
    promote(tmp_path, old)
    better, worse = fit_and_save(train, tmp_path, seed=1), fit_and_save(train, tmp_path, flip=0.25, seed=2)

    first = judge(tmp_path, better, holdout, "balanced_accuracy")
    second = judge(tmp_path, worse, holdout, "balanced_accuracy")

    assert first["promoted"] and first["champion"] == str(old)
    assert not second["promoted"] and second["champion"] == str(better)
    assert champion(tmp_path) == better
    assert [d["sequence"] for d in decisions(tmp_path)] == [1, 2]


def race_retrains(table, store):
    """Two challengers judged at once against a weak champion; returns the champion before and the challengers."""
    train, holdout = table.iloc[:1800], table.iloc[1800:]
    old = fit_and_save(train, store, flip=0.45)
    promote(store, old)
    challengers = [fit_and_save(train, store, flip=flip, seed=seed) for seed, flip in ((1, 0.25), (2, 0.0))]
    start = threading.Barrier(len(challengers))
    errors = []

    def run(version):
        start.wait()
        try:
            judge(store, version, holdout, "balanced_accuracy")
        except Exception as error:  # surfaced below: a thread's exception would otherwise be lost
            errors.append(error)

    threads = [threading.Thread(target=run, args=(version,)) for version in challengers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return old, challengers


def test_racing_retrains_leave_the_best_challenger_as_champion(table, tmp_path):
    old, challengers = race_retrains(table, tmp_path)

    assert champion(tmp_path) == challengers[1]
    recorded = decisions(tmp_path)
    assert [d["sequence"] for d in recorded] == [1, 2]
    assert recorded[1]["champion"] == (str(old) if not recorded[0]["promoted"] else recorded[0]["challenger"])


def test_added_or_reordered_columns_in_newer_data_still_find_the_champions_rows(table, tmp_path):
    """Rows are fingerprinted with the champion's own schema, not the challenger's."""
    store = tmp_path / "store"
    promote(store, fit_and_save(table.iloc[:1600], store))
    grown = table.assign(region=np.where(np.arange(len(table)) % 2, "north", "south"))
    grown = grown[["region", *reversed(table.columns.tolist())]]  # a new column first, the others reversed
    challenger = fit_and_save(grown.iloc[:1200], store, seed=1)

    decision = judge(store, challenger, grown.iloc[1200:2400], "balanced_accuracy")

    assert (decision["excluded_champion_rows"], decision["judged_rows"]) == (400, 800)


def test_the_first_challenger_is_promoted_however_few_its_rows(table, tmp_path):
    """The rule on rows per class guards a comparison; with no champion there is none to guard."""
    challenger = fit_and_save(table.iloc[:1800], tmp_path)
    rest = table.iloc[1800:]
    holdout = pd.concat([rest[rest["label"] == "common"].iloc[:50], rest[rest["label"] == "rare"].iloc[:3]])

    decision = judge(tmp_path, challenger, holdout, "balanced_accuracy")

    assert decision["promoted"] and champion(tmp_path) == challenger


def test_a_champion_that_cannot_score_the_new_data_says_why_in_the_decision(table, tmp_path):
    promote(tmp_path, fit_and_save(table.iloc[:1600], tmp_path))
    renamed = table.rename(columns={"f4": "f4_new"})
    challenger = fit_and_save(renamed.iloc[:1200], tmp_path, seed=1)

    decision = judge(tmp_path, challenger, renamed.iloc[1600:], "balanced_accuracy")

    assert decision["promoted"] and decision["champion_metrics"] is None
    assert "the champion cannot score the new data" in decision["reason"]
    assert "f4" in decision["champion_error"]


@pytest.mark.parametrize("change, said", [
    (lambda t: t.rename(columns={"label": "outcome"}), "predicts the target 'outcome' where the champion predicts "
                                                       "'label'"),
    (lambda t: t.assign(label=t["label"].map({"common": "no", "rare": "yes"})),
     "predicts the classes ['no', 'yes'] where the champion predicts ['common', 'rare']"),
])
def test_a_challenger_of_another_target_or_other_classes_never_replaces_the_champion(table, tmp_path, change, said):
    old = fit_and_save(table.iloc[:1600], tmp_path)
    promote(tmp_path, old)
    other = change(table)  # another data set pointed at by mistake, under the champion's model name
    target = "outcome" if "outcome" in other else "label"
    challenger = fit_and_save(other.iloc[:1200], tmp_path, seed=1, target=target)

    decision = judge(tmp_path, challenger, other.iloc[1600:], "balanced_accuracy")

    assert not decision["promoted"] and champion(tmp_path) == old
    assert said in decision["reason"] and "--model" in decision["reason"]


def test_decisions_recorded_before_they_were_numbered_come_first_and_numbering_goes_on(table, tmp_path):
    import json

    folder = tmp_path / "decisions"
    folder.mkdir()
    (folder / "20250101T030000Z-abc123.json").write_text(json.dumps({"reason": "old"}))
    challenger = fit_and_save(table.iloc[:1800], tmp_path)

    decision = judge(tmp_path, challenger, table.iloc[1800:], "balanced_accuracy")

    assert decision["sequence"] == 1
    assert [d["reason"] for d in decisions(tmp_path)] == ["old", decision["reason"]]


def test_fresh_data_with_a_category_the_champion_never_saw_still_compares_them(table, tmp_path):
    with_region = table.assign(region=np.where(table["f0"] > 0, "north", "south"))
    old = with_region.iloc[:1600]
    strict = VotingEnsemble(members=MEMBERS, validation="holdout", unknown_categories="error")  # as saved long ago
    promote(tmp_path, save_model(strict.fit(*split_target(old, "label")), tmp_path, training_rows=old))
    fresh = with_region.assign(region=np.where(with_region.index % 7 == 0, "east", with_region["region"]))
    challenger = fit_and_save(fresh.iloc[:1200], tmp_path, seed=1)

    decision = judge(tmp_path, challenger, fresh.iloc[1600:], "balanced_accuracy")

    assert decision["champion_error"] is None and decision["champion_metrics"] is not None


def test_a_challenger_no_better_than_the_champion_never_moves_it_and_the_decision_says_how_sure(table, tmp_path):
    train, holdout = table.iloc[:1800], table.iloc[1800:]
    old = fit_and_save(train, tmp_path)
    promote(tmp_path, old)
    same = fit_and_save(train, tmp_path)  # a retrain on unchanged data: the same model again

    tie = judge(tmp_path, same, holdout, "balanced_accuracy")

    assert not tie["promoted"] and champion(tmp_path) == old
    assert tie["comparison"]["difference"] == tie["comparison"]["low"] == 0.0 and tie["comparison"]["rows"] == 600
    assert "not shown better, the champion stays" in tie["reason"]
    clearly_better = judge(tmp_path, fit_and_save(train, tmp_path, seed=1), holdout, "balanced_accuracy",
                           margin=0.0, confidence=0.95)
    weak = fit_and_save(train, tmp_path, flip=0.45, seed=2)
    promote(tmp_path, weak)
    assert judge(tmp_path, fit_and_save(train, tmp_path, seed=3), holdout, "balanced_accuracy")["promoted"]
    assert clearly_better["comparison"]["low"] <= clearly_better["comparison"]["difference"]


def test_cost_per_row_decides_with_the_challengers_costs_and_is_refused_without_them(table, tmp_path):
    train, holdout = table.iloc[:1800], table.iloc[1800:]
    X, y = split_target(train, "label")
    promote(tmp_path, save_model(VotingEnsemble(members=MEMBERS, validation="holdout").fit(X, y), tmp_path,
                                 training_rows=train))
    costly = save_model(VotingEnsemble(members=MEMBERS, validation="holdout", costs={"fn": 20, "fp": 1}).fit(X, y),
                        tmp_path, training_rows=train)

    decision = judge(tmp_path, costly, holdout, "cost_per_row")

    assert decision["challenger_metrics"]["cost_per_row"] < decision["champion_metrics"]["cost_per_row"]
    assert decision["comparison"]["difference"] == pytest.approx(
        decision["champion_metrics"]["cost_per_row"] - decision["challenger_metrics"]["cost_per_row"])
    assert decision["promoted"] == (decision["comparison"]["low"] > 0)
    with pytest.raises(InputError, match="cost_per_row decides only between models trained with costs"):
        judge(tmp_path, fit_and_save(train, tmp_path, seed=4), holdout, "cost_per_row")


def test_a_table_of_few_distinct_rows_is_judged_on_every_row(tmp_path):
    # Few-valued features: 12 value combinations, the label noisy, every row a copy of many others. No row of the
    # new data is one neither model saw; kept to unseen rows, there would be none to judge on.
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.integers(0, 3, 4_000).astype(float), "b": rng.integers(0, 4, 4_000).astype(float)})
    frame["label"] = np.where(rng.random(4_000) < 0.1 + 0.2 * (frame["a"] == 2), "rare", "common")
    first = fit_and_save(frame.iloc[:2_000], tmp_path)
    promote(tmp_path, first)
    challenger = fit_and_save(frame.iloc[:3_000], tmp_path, seed=1)

    decision = judge(tmp_path, challenger, frame.iloc[3_000:], "balanced_accuracy")

    assert decision["copies_judged"] and decision["judged_rows"] == 1_000
    assert decision["excluded_champion_rows"] == 0 and decision["challenger_metrics"] is not None
