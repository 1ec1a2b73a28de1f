"""tasks.data: reading tables, describing columns, coercing values, stratified splits and class profiles."""

import itertools
import os
from concurrent.futures import ThreadPoolExecutor as ThreadPool

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imbalance_flows.tasks.data.schema import (
    MISSING_CATEGORY,
    coerce,
    column_kind,
    infer_schema,
)
from imbalance_flows.tasks.data.splits import (
    check_split_sizes,
    class_profile,
    constant_columns,
    count_distinct,
    split_target,
    stratified_indices,
)
from imbalance_flows.tasks.data.tables import (
    TableRef,
    fingerprint,
    read_file,
    read_table,
    write_table,
)
from imbalance_flows.tasks.errors import InputError

SMALL = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": ["x", "y", "x"], "label": [0, 1, 0]})


@pytest.mark.parametrize("name, write", [
    ("t.csv", lambda frame, path: frame.to_csv(path, index=False)),
    ("t.parquet", lambda frame, path: frame.to_parquet(path, index=False)),
    ("t.pq", lambda frame, path: frame.to_parquet(path, index=False)),
    ("T.PARQUET", lambda frame, path: frame.to_parquet(path, index=False)),
])
def test_read_file_reads_csv_and_parquet_by_extension(tmp_path, name, write):
    write(SMALL, tmp_path / name)

    frame = read_file(str(tmp_path / name))

    pd.testing.assert_frame_equal(frame, SMALL, check_dtype=False)


def test_read_file_accepts_a_file_url(tmp_path):
    SMALL.to_csv(tmp_path / "t.csv", index=False)

    assert read_file(f"file://{tmp_path / 't.csv'}").shape == (3, 3)


def test_split_target_separates_features_from_labels():
    X, y = split_target(SMALL, "label")

    assert list(X.columns) == ["a", "b"]
    assert y.tolist() == [0, 1, 0]
    assert "label" in SMALL.columns  # the input is not modified


@pytest.mark.parametrize("values, kind", [
    ([1, 2, 3], "numeric"),
    ([1.5, None, 3.0], "numeric"),
    ([True, False, True], "numeric"),
    (["a", "b", None], "categorical"),
    (pd.Categorical(["a", "b", "a"]), "categorical"),
    (np.array([1, "a", 2.5], dtype=object), "categorical"),
])
def test_column_kind_numbers_and_booleans_are_numeric_the_rest_categorical(values, kind):
    assert column_kind(pd.Series(values, name="f")) == kind


def test_infer_schema_lists_columns_sorted_categories_and_classes():
    X = pd.DataFrame({
        "age": [30, 40, None],
        "city": ["Oslo", None, "Bergen"],
        "member": [True, False, True],
        "grade": pd.Categorical(["b", "a", "b"]),
    })

    schema = infer_schema(X, pd.Series([1, 0, 1], name="churn"))

    assert schema.target == "churn"
    assert [(c.name, c.kind, c.categories) for c in schema.columns] == [
        ("age", "numeric", []),
        ("city", "categorical", ["Bergen", "Oslo"]),  # missing is not a category seen in training
        ("member", "numeric", []),
        ("grade", "categorical", ["a", "b"]),
    ]
    assert schema.classes == [0, 1]
    assert schema.categorical == ["city", "grade"]


def test_infer_schema_orders_mixed_type_classes_by_type_then_value():
    schema = infer_schema(pd.DataFrame({"f": range(5)}), pd.Series(["b", 2, "a", 1, 2], name="y"))

    assert schema.classes == [1, 2, "a", "b"]


def test_coerce_gives_floats_and_text_with_a_missing_marker():
    X = pd.DataFrame({"n": ["1.5", None, "3"], "c": [3, None, 4]}, dtype=object)
    schema = infer_schema(pd.DataFrame({"n": [1.0, 2.0, 3.0], "c": ["3", "4", "4"]}), pd.Series([0, 1, 0]))

    out = coerce(X, schema)

    assert out["n"].tolist()[0::2] == [1.5, 3.0] and np.isnan(out["n"][1])
    assert out["n"].dtype == float
    assert out["c"].tolist() == ["3", MISSING_CATEGORY, "4"]


def test_fingerprint_follows_values_and_dtypes_not_the_index():
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})

    assert fingerprint(frame) == fingerprint(frame.copy())
    assert fingerprint(frame) == fingerprint(frame.set_index(pd.Index([10, 20])))
    assert fingerprint(frame) != fingerprint(frame.assign(a=[1, 3]))
    assert fingerprint(frame) != fingerprint(frame.astype({"a": float}))
    assert fingerprint(frame) != fingerprint(frame.assign(b=["x", "z"]))  # text: hashed value by value
    assert fingerprint(frame) != fingerprint(frame.astype({"a": "Int64"}))  # a nullable type is another dtype
    nullable = frame.astype({"a": "Int64"})
    assert fingerprint(nullable) != fingerprint(nullable.assign(a=pd.array([1, None], dtype="Int64")))
    assert fingerprint(frame) != fingerprint(frame.iloc[:1])
    assert fingerprint(frame) != fingerprint(frame.rename(columns={"a": "c"}))
    assert len(fingerprint(frame)) == 16


def test_fingerprint_is_the_same_whether_columns_are_hashed_side_by_side_or_in_turn(monkeypatch):
    from imbalance_flows.tasks.data import tables

    frame = pd.DataFrame({"a": np.arange(6.0), "b": list("xyzxyz"), "c": np.arange(6) % 2 == 0})
    in_turn = fingerprint(frame)
    monkeypatch.setattr(tables, "PARALLEL_HASH_VALUES", 1)
    monkeypatch.setattr(tables, "available_cores", lambda: 3)
    calls = []
    monkeypatch.setattr(tables, "ThreadPoolExecutor", lambda workers: calls.append(workers) or ThreadPool(workers))

    assert fingerprint(frame) == in_turn and calls == [3]
    moved = frame.assign(a=frame["a"][::-1].to_numpy())  # the same values in another order
    assert fingerprint(moved) != in_turn


def test_write_table_is_content_addressed_and_leaves_no_staging_file(tmp_path):
    first = write_table(SMALL, str(tmp_path), "train")
    second = write_table(SMALL.copy(), str(tmp_path), "train")

    assert first == second
    assert first == TableRef(path=f"{tmp_path}/tables/train-{fingerprint(SMALL)}.arrows",
                             fingerprint=fingerprint(SMALL), n_rows=3)
    assert os.listdir(tmp_path / "tables") == [os.path.basename(first.path)]
    pd.testing.assert_frame_equal(read_table(first), SMALL)


def test_stratified_indices_keeps_every_class_in_every_part_with_exact_sizes():
    y = np.array(["a"] * 10 + ["b"] * 5 + ["c"] * 3)

    train, validation, test = stratified_indices(y, [0.2, 0.2], random_state=0)

    # a: 2 + 2 held out of 10; b: round(1.0) = 1 each of 5; c: 1 each, leaving one to train on.
    assert [len(train), len(validation), len(test)] == [10, 4, 4]
    assert {label: int((y[train] == label).sum()) for label in "abc"} == {"a": 6, "b": 3, "c": 1}
    assert {label: int((y[validation] == label).sum()) for label in "abc"} == {"a": 2, "b": 1, "c": 1}
    assert {label: int((y[test] == label).sum()) for label in "abc"} == {"a": 2, "b": 1, "c": 1}
    assert sorted(np.concatenate([train, validation, test]).tolist()) == list(range(18))


@settings(deadline=None)
@given(copies=st.lists(st.integers(1, 2), min_size=12, max_size=60), seed=st.integers(0, 1000))
def test_copies_of_a_row_stay_in_one_part_and_every_class_in_every_part(copies, seed):
    # Row groups of 1–2 copies (at most half the rows copies), the classes alternating by group; a group is one
    # row's copies.
    groups = np.repeat(np.arange(len(copies)), copies)
    y = np.where(groups % 3 == 0, "rare", "common")

    parts = stratified_indices(y, [0.2, 0.2], random_state=seed, groups=groups * 7919 + 11)

    assert sorted(np.concatenate(parts).tolist()) == list(range(len(y)))
    for one, other in itertools.combinations(parts, 2):
        assert not set(groups[one]) & set(groups[other])  # no copy of a row in another part
    assert all(set(y[part]) == {"rare", "common"} for part in parts)
    if len(set(copies)) == 1 and copies[0] == 1:  # no copies: the split of distinct rows, as before
        assert [p.tolist() for p in parts] == [p.tolist() for p in stratified_indices(y, [0.2, 0.2], seed)]


def test_where_most_rows_are_copies_they_are_split_one_by_one():
    # Few-valued features: 6 distinct rows (3 value combinations × 2 labels), each repeated. Kept together, each
    # combination's label would fall on one side, and the test split would hold only labels training never saw
    # with those values.
    rng = np.random.default_rng(0)
    combination = rng.integers(0, 3, size=3_000)
    y = np.where(rng.random(3_000) < 0.2, "rare", "common")
    groups = combination * 2 + (y == "rare")

    train, test = stratified_indices(y, [0.2], random_state=0, groups=groups)

    for value in range(3):  # every combination, with both its labels, on both sides
        for label in ("rare", "common"):
            assert ((combination[train] == value) & (y[train] == label)).any()
            assert ((combination[test] == value) & (y[test] == label)).any()
    assert np.mean(y[test] == "rare") == pytest.approx(np.mean(y == "rare"), abs=0.01)


def test_stratified_indices_shrinks_the_largest_part_to_keep_a_training_row():
    y = np.array([0] * 4 + [1] * 4)

    train, validation, test = stratified_indices(y, [0.45, 0.45])

    # round(4 * 0.45) = 2 for each part would leave no row to train on; the first part gives one back.
    assert [len(train), len(validation), len(test)] == [2, 2, 4]


def test_stratified_indices_is_reproducible_and_follows_the_seed():
    y = np.array([0] * 30 + [1] * 10)

    same = [part.tolist() for part in stratified_indices(y, [0.25], random_state=3)]

    assert same == [part.tolist() for part in stratified_indices(y, [0.25], random_state=3)]
    assert same != [part.tolist() for part in stratified_indices(y, [0.25], random_state=4)]


@settings(max_examples=25, deadline=None)
@given(
    counts=st.lists(st.integers(3, 30), min_size=2, max_size=4),
    fractions=st.sampled_from([[0.2], [0.5], [0.1, 0.1], [0.2, 0.3], [0.4, 0.45]]),
    seed=st.integers(0, 2**16),
)
def test_stratified_indices_partitions_rows_with_every_class_in_every_part(counts, fractions, seed):
    y = np.repeat(np.arange(len(counts)), counts)
    y = np.random.default_rng(seed).permutation(y)

    parts = stratified_indices(y, fractions, random_state=seed)

    assert len(parts) == len(fractions) + 1
    assert sorted(np.concatenate(parts).tolist()) == list(range(len(y)))
    for part in parts:
        assert part.tolist() == sorted(part.tolist())
        assert set(y[part].tolist()) == set(range(len(counts)))


@pytest.mark.parametrize("test_size, validation_size", [(0.2, 0.2), (0.01, 0.01), (0.5, 0.39)])
def test_check_split_sizes_accepts_shares_that_leave_training_rows(test_size, validation_size):
    check_split_sizes(test_size, validation_size)


def test_class_profile_gives_exact_counts_shares_ratio_and_weights():
    profile = class_profile(["a"] * 6 + ["b"] * 3 + ["c"])

    assert profile == {
        "counts": {"a": 6, "b": 3, "c": 1},
        "shares": {"a": 0.6, "b": 0.3, "c": 0.1},
        "imbalance_ratio": 6.0,
        "minority": "c",
        "majority": "a",
        "class_weight": {"a": 0.5556, "b": 1.1111, "c": 3.3333},  # 10 / (3 × count)
    }


def test_class_profile_returns_plain_python_values_for_json():
    profile = class_profile(np.array([1, 1, 1, 0]))

    assert profile["counts"] == {1: 3, 0: 1}
    assert type(profile["minority"]) is int and type(next(iter(profile["counts"]))) is int
    assert profile["imbalance_ratio"] == 3.0


@pytest.mark.parametrize("keys", [
    np.array([], dtype=np.uint64),
    np.array([7], dtype=np.uint64),
    np.random.default_rng(0).integers(0, 50, 1_000).astype(np.uint64),  # many copies
    np.random.default_rng(1).integers(0, 2**63, 1_000, dtype=np.int64).astype(np.uint64),  # all distinct
    np.random.default_rng(2).integers(-5, 5, (40, 3)),  # any shape: every value counts
])
def test_count_distinct_counts_what_np_unique_finds(keys):
    assert count_distinct(keys) == len(np.unique(keys))


def test_a_split_with_distinct_groups_is_the_split_without_them():
    y = np.random.default_rng(3).choice(["a", "b", "c"], 3_000, p=[0.8, 0.15, 0.05])
    distinct = np.random.default_rng(4).permutation(3_000).astype(np.uint64)

    for with_groups, without in zip(stratified_indices(y, [0.2], 5, groups=distinct), stratified_indices(y, [0.2], 5)):
        np.testing.assert_array_equal(with_groups, without)


def test_a_kept_table_is_split_as_the_same_table_written_to_the_workspace(tmp_path):
    """A loaded table held in memory (`keep`) gives the same labels, row fingerprints and split files, at the same
    content addresses, as the table written to the workspace and read back; let go, it is refused by name."""
    from imbalance_flows.tasks.data import tables

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=250_001).astype("float32"),
                          "c": rng.choice(["a", "b", None], size=250_001),
                          "label": rng.integers(0, 2, size=250_001)})
    schema = infer_schema(frame.drop(columns="label"), frame["label"], "label")
    parts = {"train": np.arange(0, 250_001, 2), "test": np.arange(1, 250_001, 2)}
    written = write_table(frame, str(tmp_path / "on-disk"), "data")
    held = tables.keep(frame, "data")
    assert held.kept and held.fingerprint == written.fingerprint and not (tmp_path / "in-memory").exists()

    assert tables.read_column(held, "label").equals(tables.read_column(written, "label"))
    assert np.array_equal(tables.table_row_hashes(held, schema), tables.table_row_hashes(written, schema))
    from_memory = tables.write_parts(held, parts, str(tmp_path / "in-memory"))
    from_disk = tables.write_parts(written, parts, str(tmp_path / "on-disk"))
    for name in parts:
        assert from_memory[name].fingerprint == from_disk[name].fingerprint
        assert from_memory[name].n_rows == len(parts[name])
        pd.testing.assert_frame_equal(read_table(from_memory[name]), read_table(from_disk[name]))
        pd.testing.assert_frame_equal(read_table(from_memory[name]),
                                      frame.iloc[parts[name]].reset_index(drop=True), check_dtype=False)

    tables.let_go(held)
    with pytest.raises(InputError, match="split by the process that loaded it"):
        tables.read_column(held, "label")


def test_constant_columns_are_those_with_one_value_present_whatever_their_type():
    n = 40
    X = pd.DataFrame({
        "one": np.full(n, 2.5, dtype=np.float32),
        "one_and_missing": np.where(np.arange(n) % 3, 7.0, np.nan),
        "all_missing": np.full(n, np.nan),
        "two": np.r_[np.full(n - 1, 1.0), 1.5],
        "two_and_missing": np.r_[np.nan, np.full(n - 2, 1.0), -1.0],
        "integers": np.full(n, 3),
        "varying_integers": np.arange(n),
        "nullable": pd.array([4] * (n - 1) + [None], dtype="Int64"),
        "nullable_two": pd.array([4] * (n - 1) + [5], dtype="Int64"),
        "text": ["a"] * n,
        "flags": [True] * n,
        "inf": np.r_[np.full(n - 1, np.inf), np.nan],
        "signed_infs": np.r_[np.full(n - 1, np.inf), -np.inf],
    })

    assert constant_columns(X) == ["one", "one_and_missing", "integers", "nullable", "text", "flags", "inf"]
    assert constant_columns(X.iloc[:10]) == []  # too few rows to tell


def test_a_column_of_values_that_cannot_be_hashed_is_checked_as_text_not_a_crash():
    """The first values of a text column are read as numbers once per distinct value; lists cannot be counted, and
    are read one by one instead (then coded as categories by their text, as before)."""
    from imbalance_flows.tasks.data.splits import check_features

    X = pd.DataFrame({"a": np.arange(50.0), "b": [[i % 3] for i in range(50)], "c": ["1"] * 48 + ["x", "y"]})
    check_features(X[["a", "b"]])
    with pytest.raises(InputError, match="a column of numbers must hold only numbers"):
        check_features(X[["a", "c"]])


def test_a_categorical_column_is_the_users_categories_even_of_numbers_with_text():
    """Text of numbers with a few words is refused ('n/a' typed into a numeric column); the same values made
    categorical are categories, as the refusal's own warning about numbers as text suggests."""
    from imbalance_flows.tasks.data.splits import check_features

    codes = [f"{i:05d}" for i in range(40)] + ["unknown"]
    with pytest.raises(InputError, match="a column of numbers must hold only numbers"):
        check_features(pd.DataFrame({"a": codes}))
    check_features(pd.DataFrame({"a": pd.Series(codes, dtype="category")}))


def test_feature_errors_are_told_column_by_column_in_table_order():
    """The first column at fault is named, whichever rule it breaks."""
    from imbalance_flows.tasks.data.splits import check_features

    X = pd.DataFrame({"ok": np.arange(41.0), "typo": [str(i) for i in range(40)] + ["?"], "empty": np.nan})
    with pytest.raises(InputError, match="a column of numbers must hold only numbers.*'typo'"):
        check_features(X)
    with pytest.raises(InputError, match="a feature must have at least one value.*'empty'"):
        check_features(X[["ok", "empty", "typo"]])
    check_features(X[["ok", "empty"]], allow_empty=True)
