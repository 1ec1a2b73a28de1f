"""Partitioned tables: several Parquet files read, split, sampled and scored as one table, file by file."""

import numpy as np
import pandas as pd
import pytest

from imbalance_flows.tasks.data import tables
from imbalance_flows.tasks.data.parts import describe_part, merge_parts
from imbalance_flows.tasks.data.schema import coerce, infer_schema
from imbalance_flows.tasks.errors import InputError
from imbalance_flows.tasks.evaluation.examples import merge_examples, scored_rows
from imbalance_flows.tasks.model.prepare import TablePrep
from tests.unit.conftest import mixed_table


def write_parts(frame: pd.DataFrame, folder, sizes) -> list[str]:
    folder.mkdir(exist_ok=True)
    files, start = [], 0
    for index, size in enumerate(sizes):
        path = folder / f"part-{index:03d}.parquet"
        frame.iloc[start:start + size].to_parquet(path, index=False, row_group_size=7)
        files.append(str(path))
        start += size
    return files


@pytest.fixture
def table(tmp_path):
    frame = mixed_table((60, 20), seed=3)
    # The first file holds one class only: allowed for a part, the rule is about the whole table.
    frame = frame.sort_values("label", kind="stable").reset_index(drop=True)
    files = write_parts(frame, tmp_path / "parts", [30, 25, 25])
    return frame, files


def test_a_folder_of_parquet_files_is_one_table_checked_file_by_file(table, tmp_path):
    frame, files = table
    assert tables.partitioned(str(tmp_path / "parts")) == files
    assert tables.partitioned(str(tmp_path / "parts" / "part-*.parquet")) == files
    assert tables.partitioned(files[0]) is None  # one file: read whole, as always
    ref, schema, _ = merge_parts([describe_part(file, "label") for file in files], str(tmp_path / "parts"), "label")
    assert ref.n_rows == len(frame) and ref.part_rows == [30, 25, 25]
    whole = infer_schema(frame.drop(columns="label"), frame["label"], "label")
    assert schema.model_dump() == whole.model_dump()  # categories and classes seen in any file
    pd.testing.assert_frame_equal(tables.read_table(ref), frame)
    pd.testing.assert_series_equal(tables.read_column(ref, "label"), frame["label"])


def test_rows_and_splits_of_a_partitioned_table_match_the_whole(table, tmp_path):
    frame, files = table
    ref, _, _ = merge_parts([describe_part(file, "label") for file in files], "parts", "label")
    rows = np.array([0, 5, 29, 30, 31, 54, 55, 79])
    pd.testing.assert_frame_equal(tables.read_rows(ref, rows), frame.iloc[rows].reset_index(drop=True))
    calls = []

    def counting_map(function, items, **shared):
        calls.append(len(items))
        return tables.local_map(function, items, **shared)

    parts = {"train": np.arange(0, 80, 2), "test": np.arange(1, 80, 2)}
    written = tables.write_parts(ref, parts, str(tmp_path / "work"), counting_map)
    assert calls == [3]  # one job per source file, each writing that file's rows of every part
    for name, positions in parts.items():
        assert len(written[name].parts) == 3 and written[name].n_rows == len(positions)
        pd.testing.assert_frame_equal(tables.read_table(written[name]),
                                      frame.iloc[positions].reset_index(drop=True))
        chunks = pd.concat(tables.read_chunks(written[name], rows=4), ignore_index=True)
        pd.testing.assert_frame_equal(chunks, frame.iloc[positions].reset_index(drop=True))


def test_files_that_disagree_are_refused_with_the_file_named(tmp_path):
    frame = mixed_table((30, 10))
    files = write_parts(frame, tmp_path / "a", [20, 20])
    other = frame.iloc[20:].rename(columns={"size": "width"})
    other.to_parquet(files[1], index=False)
    with pytest.raises(InputError, match="same columns") as error:
        merge_parts([describe_part(file, "label") for file in files], "a", "label")
    assert "part-001" in str(error.value)
    typed = frame.iloc[20:].assign(num=lambda f: f["num"].map(lambda v: f"n{v:.0f}"))
    typed.to_parquet(files[1], index=False)
    with pytest.raises(InputError, match="one type in every file") as error:
        merge_parts([describe_part(file, "label") for file in files], "a", "label")
    assert "'num' is numeric" in str(error.value)
    single = frame.assign(label="common")
    files = write_parts(single, tmp_path / "b", [20, 20])
    with pytest.raises(InputError, match="at least two classes"):
        merge_parts([describe_part(file, "label") for file in files], "b", "label")


def test_a_column_empty_in_one_file_is_kept_and_empty_in_all_is_refused(tmp_path):
    frame = mixed_table((30, 10))
    frame["sparse"] = np.where(np.arange(len(frame)) < 20, np.nan, 1.0)
    files = write_parts(frame, tmp_path / "a", [20, 20])
    _, schema, _ = merge_parts([describe_part(file, "label") for file in files], "a", "label")
    assert "sparse" in schema.names
    write_parts(frame.assign(sparse=np.nan), tmp_path / "a", [20, 20])
    with pytest.raises(InputError, match="at least one value"):
        merge_parts([describe_part(file, "label") for file in files], "a", "label")


def test_scoring_part_by_part_finds_the_same_examples_as_the_whole(fitted_binary):
    frame = mixed_table((40, 12), seed=5)
    whole = scored_rows(frame, fitted_binary, per_class=3)
    parts = [scored_rows(frame.iloc[start:start + 10].reset_index(drop=True), fitted_binary, per_class=3)
             for start in range(0, len(frame), 10)]
    assert merge_examples([part["examples"] for part in parts]) == whole["examples"]
    np.testing.assert_array_equal(np.concatenate([part["predicted"] for part in parts]), whole["predicted"])


def test_float32_features_stay_float32_for_the_members_and_give_the_same_preparation():
    frame = mixed_table((40, 12)).drop(columns="colour")
    frame["num"] = frame["num"].astype(np.float32)
    frame["size"] = frame["size"].astype(np.float32)
    frame.loc[3, "num"] = np.nan
    schema = infer_schema(frame.drop(columns="label"), frame["label"], "label")
    single, double = coerce(frame, schema, keep_float32=True), coerce(frame, schema)
    assert set(single.dtypes) == {np.dtype(np.float32)} and set(double.dtypes) == {np.dtype(np.float64)}
    assert set(coerce(frame.assign(size=frame["size"].astype(float)), schema, keep_float32=True).dtypes) == {
        np.dtype(np.float64)}  # one float64 column: all float64, nothing rounded
    prep = TablePrep(numeric=["num", "size"]).fit(double)
    out32, out64 = prep.transform(single), prep.transform(double)
    assert out32.dtype == np.float32 and out64.dtype == np.float64
    np.testing.assert_allclose(out32, out64, rtol=1e-6)
    assert out64[3, 0] == prep.medians_[0]


def test_labels_of_different_types_across_files_are_refused(tmp_path):
    frame = mixed_table((30, 10)).assign(label=lambda f: (f["label"] == "rare").astype(int))
    files = write_parts(frame, tmp_path / "a", [20, 20])
    frame.iloc[20:].assign(label=lambda f: f["label"].astype(float)).to_parquet(files[1], index=False)
    with pytest.raises(InputError, match="target must have one type in every file") as error:
        merge_parts([describe_part(file, "label") for file in files], "a", "label")
    assert "float64 in" in str(error.value)


def test_a_file_changed_after_loading_is_refused_not_misread(table, tmp_path):
    frame, files = table
    ref, _, _ = merge_parts([describe_part(file, "label") for file in files], "parts", "label")
    frame.iloc[:10].to_parquet(files[0], index=False)  # rewritten between load and split
    with pytest.raises(InputError, match="must not change while it is trained on"):
        tables.write_parts(ref, {"train": np.arange(0, 80, 2)}, str(tmp_path / "work"))


def test_a_folder_of_images_is_not_a_partitioned_table_whatever_its_name(tmp_path):
    folder = tmp_path / "cats[2024]"
    (folder / "cat").mkdir(parents=True)
    assert tables.partitioned(str(folder)) is None


def test_decimal_columns_of_a_partitioned_table_are_numbers_as_in_one_file(tmp_path):
    import decimal

    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "parts"
    folder.mkdir()
    for index in range(2):
        pq.write_table(pa.table({"x": pa.array([decimal.Decimal("1.5"), decimal.Decimal("2.25")], pa.decimal128(5, 2)),
                                 "label": pa.array([decimal.Decimal(index), decimal.Decimal(1)], pa.decimal128(3, 0))}),
                       folder / f"part-{index}.parquet")
    files = tables.partitioned(str(folder))
    ref, schema, _ = merge_parts([describe_part(file, "label") for file in files], str(folder), "label")
    labels = tables.read_column(ref, "label")
    assert labels.dtype == float and labels.tolist() == [0.0, 1.0, 1.0, 1.0]
    assert tables.read_table(ref)["x"].dtype == float
    assert [str(label) for label in schema.classes] == sorted({str(label) for label in labels})  # one spelling


def test_a_split_of_text_dictionary_encoded_row_group_by_row_group_reads_back_as_written(tmp_path):
    # Each row group of the file holds its own dictionary of the categorical column (different values in each):
    # the workspace's stream keeps every batch's, and the split reads back with the file's values and categories.
    frame = pd.DataFrame({"colour": pd.Categorical(["red"] * 6 + ["blue"] * 6 + ["green", "red"] * 3),
                          "x": np.arange(18, dtype=np.float32), "label": [0, 1] * 9})
    files = write_parts(frame, tmp_path / "parts", [9, 9])
    ref, _, _ = merge_parts([describe_part(file, "label") for file in files], "parts", "label")
    parts = {"train": np.arange(0, 18, 2), "test": np.arange(1, 18, 2)}
    written = tables.write_parts(ref, parts, str(tmp_path / "work"))
    for name, positions in parts.items():
        assert all(file.endswith(tables.WRITTEN) for file in written[name].parts)
        read = tables.read_table(written[name])
        assert read["colour"].astype(str).tolist() == frame["colour"].iloc[positions].astype(str).tolist()
        assert read["x"].tolist() == frame["x"].iloc[positions].tolist()
