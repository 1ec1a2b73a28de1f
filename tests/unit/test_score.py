"""tasks.score and globbed data: batch scoring a chunk at a time, and tables split into partitions."""

import copy

import numpy as np
import pandas as pd
import pytest

from imbalance_flows.tasks.errors import InputError
from imbalance_flows.tasks.score import iter_chunks, score_file
from imbalance_flows.tasks.tables import read_file


def test_a_glob_reads_every_partition_in_name_order(binary_table, tmp_path):
    binary_table.iloc[:30].to_parquet(tmp_path / "part-0.parquet")
    binary_table.iloc[30:].to_csv(tmp_path / "part-1.csv", index=False)

    frame = read_file(str(tmp_path / "part-*"))

    pd.testing.assert_frame_equal(frame, binary_table.reset_index(drop=True), check_dtype=False)


def test_a_glob_that_matches_nothing_names_the_pattern(tmp_path):
    with pytest.raises(InputError, match=r"a data glob must match at least one file: .*part-\*\.parquet' matches none"):
        read_file(str(tmp_path / "part-*.parquet"))


def test_chunks_cover_every_row_once(binary_table, tmp_path):
    binary_table.to_parquet(tmp_path / "data.parquet")
    binary_table.to_csv(tmp_path / "data.csv", index=False)

    for name in ("data.parquet", "data.csv"):
        sizes = [len(chunk) for chunk in iter_chunks(str(tmp_path / name), chunk_rows=20)]
        assert sizes == [20, 20, 12]


@pytest.mark.parametrize("out", ["scores.parquet", "scores.csv"])
def test_scoring_in_chunks_equals_scoring_at_once(fitted_binary, binary_table, tmp_path, out):
    binary_table.to_parquet(tmp_path / "data.parquet")

    rows = score_file(fitted_binary, str(tmp_path / "data.parquet"), str(tmp_path / out), version="v1", chunk_rows=7)

    scored = pd.read_parquet(tmp_path / out) if out.endswith(".parquet") else pd.read_csv(tmp_path / out)
    assert rows == len(binary_table) == len(scored)
    assert scored["predicted_label"].tolist() == fitted_binary.predict(binary_table).tolist()
    np.testing.assert_allclose(scored[["proba_common", "proba_rare"]], fitted_binary.predict_proba(binary_table))
    assert set(scored["model_version"]) == {"v1"}
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["data.parquet", out])  # no staging file left


def test_a_chunk_that_fails_leaves_no_output(fitted_binary, binary_table, tmp_path):
    broken = binary_table.astype({"colour": object})
    broken.loc[40, "colour"] = "purple"  # unseen category, in the third chunk
    broken.to_parquet(tmp_path / "data.parquet")

    strict = copy.deepcopy(fitted_binary).set_params(unknown_categories="error")
    with pytest.raises(InputError, match="'purple'"):
        score_file(strict, str(tmp_path / "data.parquet"), str(tmp_path / "scores.parquet"), chunk_rows=20)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.parquet"]


def test_new_categories_are_scored_as_missing_and_counted_across_chunks(fitted_binary, binary_table, tmp_path):
    table = binary_table.astype({"colour": object})
    table.loc[[3, 25, 41, 45], "colour"] = ["purple", "purple", "mauve", "purple"]  # in three chunks of 20
    table.drop(columns="label").to_parquet(tmp_path / "data.parquet")
    unseen = {}

    rows = score_file(fitted_binary, str(tmp_path / "data.parquet"), str(tmp_path / "s.csv"), chunk_rows=20,
                      unseen=unseen)

    assert rows == len(table)
    assert unseen["colour"].to_dict() == {"purple": 3, "mauve": 1}
