"""Reading a user's table: what a CSV or Parquet file says is read as it means it, and what it cannot mean is
refused before training (the command-line errors: tests/flow/test_bad_inputs.py)."""

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from imbalance_flows.tasks.data.tables import read_one
from imbalance_flows.tasks.errors import DataWarning, InputError


def test_markers_are_values_in_text_and_missing_in_numbers(tmp_path):
    (tmp_path / "a.csv").write_text("country,plan,x,label\nNA,None,1.5,a\nUS,Pro,NA,b\nNA,,null,a\nFR,Pro,2,b\n")

    frame = read_one(str(tmp_path / "a.csv"))

    assert frame["country"].tolist() == ["NA", "US", "NA", "FR"]
    assert frame["plan"].tolist()[:2] == ["None", "Pro"] and pd.isna(frame["plan"].iloc[2])  # empty: missing
    assert frame["x"].dtype == float and frame["x"].isna().tolist() == [False, True, True, False]


def test_a_first_column_numbering_the_rows_is_left_out_with_a_warning(tmp_path):
    pd.DataFrame({"x": [3.0, 1.0, 2.0], "label": ["a", "b", "a"]}).to_csv(tmp_path / "saved.csv")  # index 0, 1, 2

    with pytest.warns(DataWarning, match="has no name and numbers the rows: a saved index, left out"):
        frame = read_one(str(tmp_path / "saved.csv"))

    assert list(frame.columns) == ["x", "label"]
    (tmp_path / "codes.csv").write_text(",x,label\n7,1,a\n3,2,b\n")  # no name, and not a row number
    with pytest.raises(InputError, match=r"every column needs a name in the header: column 1 of"):
        read_one(str(tmp_path / "codes.csv"))


def test_a_saved_index_is_left_out_behind_a_byte_order_mark(tmp_path):
    # Excel's "CSV UTF-8" starts with a byte-order mark: the first name is still empty, and the index still left out
    pd.DataFrame({"x": [3.0, 1.0, 2.0], "label": ["a", "b", "a"]}).to_csv(tmp_path / "saved.csv",
                                                                          encoding="utf-8-sig")

    with pytest.warns(DataWarning, match="a saved index, left out"):
        frame = read_one(str(tmp_path / "saved.csv"))

    assert list(frame.columns) == ["x", "label"]


@pytest.mark.parametrize("values, refused", [
    (['"1,5"', '"2,25"', "3"], "holds '1,5' and 1 other value with a comma"),
    (['"1,5"', "NA", '"-2,0"'], "holds '1,5' and 1 other value with a comma"),
    (['"a,b"', '"1,5"', "c"], None),  # text with commas: a category
])
def test_numbers_with_a_decimal_comma_are_refused_and_text_with_commas_is_read(tmp_path, values, refused):
    (tmp_path / "a.csv").write_text("x,label\n" + "".join(f"{value},{'ab'[i % 2]}\n" for i, value in enumerate(values)))

    if refused:
        with pytest.raises(InputError, match=rf"numbers must be written with a decimal point: column 'x' {refused}"):
            read_one(str(tmp_path / "a.csv"))
    else:
        assert read_one(str(tmp_path / "a.csv"))["x"].tolist() == ["a,b", "1,5", "c"]


def test_parquet_decimals_are_numbers_and_nested_columns_are_refused(tmp_path):
    import decimal

    amounts = pa.array([decimal.Decimal("1.25"), None, decimal.Decimal("-3.50")], type=pa.decimal128(6, 2))
    pq.write_table(pa.table({"amount": amounts, "label": ["a", "b", "a"]}), tmp_path / "d.parquet")
    frame = read_one(str(tmp_path / "d.parquet"))
    assert frame["amount"].dtype == float and frame["amount"].fillna(0).tolist() == [1.25, 0.0, -3.5]

    for name, values in (("tags", [["x"], [], ["y", "z"]]), ("point", [{"a": 1}, {"a": 2}, None]),
                         ("pairs", pa.array([[("k", 1)], [], []], type=pa.map_(pa.string(), pa.int64())))):
        pq.write_table(pa.table({name: values, "label": ["a", "b", "a"]}), tmp_path / f"{name}.parquet")
        with pytest.raises(InputError, match=rf"every column must hold one value per row .*: '{name}' of"):
            read_one(str(tmp_path / f"{name}.parquet"))
