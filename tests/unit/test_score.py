"""tasks.score and globbed data: batch scoring a chunk at a time, and tables split into partitions."""

import copy

import numpy as np
import pandas as pd
import pytest

from imbalance_flows.tasks.data.tables import read_file
from imbalance_flows.tasks.errors import InputError
from imbalance_flows.tasks.serving.scoring import iter_chunks, score_file


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


def _image_folder(root, per_class=12, seed=0):
    """Tiny 6×6 grey images of two classes, bright or dark, as class folders of PNG files."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for label, level in (("dark", 40), ("bright", 200)):
        (root / label).mkdir(parents=True)
        for i in range(per_class):
            pixels = np.clip(rng.normal(level, 30, size=(6, 6)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels, mode="L").save(root / label / f"{label}{i:02d}.png")
    return root


def test_a_folder_of_images_is_scored_one_row_per_file_with_its_path(tmp_path):
    from PIL import Image

    from imbalance_flows.tasks.data.images import load_folder
    from imbalance_flows.tasks.model.ensemble import VotingEnsemble

    train = _image_folder(tmp_path / "train")
    frame, _ = load_folder(str(train), "label")
    model = VotingEnsemble(members=[{"sampler": "none", "learner": "logreg"}]).fit(frame.drop(columns="label"),
                                                                                    frame["label"])
    new = _image_folder(tmp_path / "new", per_class=3, seed=1)
    (new / "notes.txt").write_text("not an image")
    # Loose files and deeper folders are scored too; a bigger RGB image is converted to the model's 6×6 grey.
    Image.fromarray(np.full((12, 12, 3), 230, np.uint8)).save(new / "loose.png")
    (new / "more" / "deeper").mkdir(parents=True)
    Image.fromarray(np.full((6, 6), 20, np.uint8), mode="L").save(new / "more" / "deeper" / "x.jpg")

    assert score_file(model, str(new), str(tmp_path / "scores.csv"), chunk_rows=4) == 8
    scores = pd.read_csv(tmp_path / "scores.csv")

    assert scores.columns[0] == "path"
    assert sorted(scores["path"]) == sorted(["bright/bright00.png", "bright/bright01.png", "bright/bright02.png",
                                             "dark/dark00.png", "dark/dark01.png", "dark/dark02.png", "loose.png",
                                             "more/deeper/x.jpg"])
    labelled, _ = load_folder(str(new), "label")  # the class folders' images, loaded as training loads them
    expected = model.predict(labelled.drop(columns="label"))
    in_folders = scores[scores["path"].str.contains("^(?:bright|dark)/", regex=True)]
    assert in_folders["predicted_label"].tolist() == expected.tolist()
    by_path = scores.set_index("path")["predicted_label"]
    assert by_path["loose.png"] == "bright" and by_path["more/deeper/x.jpg"] == "dark"


def test_a_folder_is_refused_by_a_model_trained_on_a_table(fitted_binary, tmp_path):
    folder = _image_folder(tmp_path / "images", per_class=1)
    with pytest.raises(InputError, match="a folder of images can be scored only by a model trained on images"):
        score_file(fitted_binary, str(folder), str(tmp_path / "out.csv"))


def test_a_folder_without_images_is_refused(tmp_path):
    from imbalance_flows.tasks.data.images import iter_image_chunks
    from imbalance_flows.tasks.data.schema import ImageInfo

    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("nothing")
    with pytest.raises(InputError, match="a folder to score must hold .png or .jpg images"):
        next(iter_image_chunks(str(tmp_path / "empty"), 10, ImageInfo(height=2, width=2, channels=1)))


def test_rows_are_counted_before_scoring_where_it_is_cheap(binary_table, tmp_path):
    import gzip

    from imbalance_flows.tasks.serving.scoring import count_rows

    binary_table.to_csv(tmp_path / "a.csv", index=False)
    binary_table.to_parquet(tmp_path / "b.parquet")
    with gzip.open(tmp_path / "c.csv.gz", "wt") as handle:
        binary_table.to_csv(handle, index=False)
    assert count_rows(str(tmp_path / "a.csv")) == len(binary_table)
    assert count_rows(str(tmp_path / "b.parquet")) == len(binary_table)
    assert count_rows(str(tmp_path / "*.parquet")) == len(binary_table)
    assert count_rows(str(tmp_path / "c.csv.gz")) is None  # compressed: not known without reading it all
    folder = _image_folder(tmp_path / "images", per_class=2)
    assert count_rows(str(folder)) == 4


def test_a_file_that_does_not_read_has_no_count_and_is_left_to_the_scorer(tmp_path):
    from imbalance_flows.tasks.serving.scoring import count_rows

    (tmp_path / "garbage.parquet").write_bytes(b"PAR1 this is not parquet PAR1")
    assert count_rows(str(tmp_path / "garbage.parquet")) is None
    assert count_rows(str(tmp_path / "missing.csv")) is None


@pytest.mark.parametrize("out", ["data.parquet", "./data.parquet", "parts/../data.parquet", "*.parquet"])
def test_the_data_being_scored_is_never_the_output(fitted_binary, binary_table, tmp_path, monkeypatch, out):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "parts").mkdir()
    binary_table.to_parquet(tmp_path / "data.parquet")
    before = (tmp_path / "data.parquet").read_bytes()
    data = "*.parquet" if out == "*.parquet" else "data.parquet"

    with pytest.raises(InputError, match="the output must not be the data being scored"):
        score_file(fitted_binary, data, "data.parquet" if out == "*.parquet" else out)
    assert (tmp_path / "data.parquet").read_bytes() == before


def test_an_output_that_is_a_folder_is_refused_with_a_file_name_to_use(fitted_binary, binary_table, tmp_path):
    binary_table.to_parquet(tmp_path / "data.parquet")
    (tmp_path / "scores.parquet").mkdir()

    with pytest.raises(InputError, match=r"the output must be a file: .* is a folder\. Name a file in it"):
        score_file(fitted_binary, str(tmp_path / "data.parquet"), str(tmp_path / "scores.parquet"))


@pytest.mark.parametrize("inside", ["members", "."])
def test_scores_are_never_written_into_a_saved_version(fitted_binary, binary_table, tmp_path, inside):
    from imbalance_flows.tasks.store.model_store import load_model, save_model

    version = save_model(fitted_binary, tmp_path / "models")
    binary_table.drop(columns="label").to_parquet(tmp_path / "data.parquet")

    with pytest.raises(InputError, match=r"the output must not be written into a saved model version: .* is inside "):
        score_file(fitted_binary, str(tmp_path / "data.parquet"), str(version / inside / "scores.parquet"))
    load_model(version)  # still holds only the files it was saved with
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "manifest.json").write_text("{}")  # a manifest of something else: no version of a store
    assert score_file(fitted_binary, str(tmp_path / "data.parquet"), str(tmp_path / "app" / "out" / "s.parquet")) > 0


def test_scores_go_to_a_bucket_whole_and_the_data_in_it_is_never_the_output(fitted_binary, binary_table, bucket):
    data, out = f"{bucket}/in/data.parquet", f"{bucket}/out/scores.csv"
    binary_table.to_parquet(data)

    assert score_file(fitted_binary, data, out, chunk_rows=7) == len(binary_table)
    assert len(pd.read_csv(out)) == len(binary_table)
    with pytest.raises(InputError, match="the output must not be the data being scored"):
        score_file(fitted_binary, data, data)
