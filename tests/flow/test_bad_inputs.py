"""Every bad input through the command line: one `error:` line (rule: value. way out), exit status 2, no traceback.

Each row plants its file in a folder of bad inputs and runs the command in this process,
against the session's Prefect server. Inputs that have a documented fallback instead of an
error (a gzip CSV is read, reordered columns are matched by name, a missing output folder
is created) are checked at the end.
"""

import gzip
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from imbalance_flows.cli import main as cli
from imbalance_flows.tasks.data.splits import stratified_indices
from imbalance_flows.tasks.data.tables import WRITTEN

ROWS = 120


def table(rows: int = ROWS, seed: int = 0) -> pd.DataFrame:
    """A small learnable table: two numbers, a category, a code column and a label with a rare class."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=rows)
    return pd.DataFrame({
        "x": x, "z": rng.normal(size=rows), "colour": rng.choice(["red", "green", "blue"], size=rows),
        "code": rng.choice(np.array(["A", 1, 2], dtype=object), size=rows),  # a code: categorical
        "label": np.where(x + rng.normal(scale=0.5, size=rows) > 1.0, "rare", "common"),
    })


def write_bad_files(folder: Path) -> None:
    good = table()
    good.to_csv(folder / "good.csv", index=False)
    (folder / "empty.csv").write_bytes(b"")
    good.assign(colour=good["colour"].replace("red", "rouge écarlate")).to_csv(
        folder / "latin1.csv", index=False, encoding="latin-1")
    (folder / "duplicate.csv").write_text("x,x,label\n" + "".join(f"{i},{i},{'ab'[i % 2]}\n" for i in range(40)))
    good.head(0).to_csv(folder / "header_only.csv", index=False)
    good.to_csv(folder / "semicolon.csv", index=False, sep=";")
    (folder / "garbage.parquet").write_bytes(b"PAR1 this is not parquet PAR1")
    good.astype({"code": str}).to_parquet(folder / "whole.parquet")
    (folder / "truncated.parquet").write_bytes((folder / "whole.parquet").read_bytes()[:300])
    good.assign(label="only").to_csv(folder / "one_class.csv", index=False)
    good.assign(label=["lone" if i == 0 else v for i, v in enumerate(good["label"])]).to_csv(
        folder / "one_row_class.csv", index=False)
    good.assign(label=["pair" if i < 2 else v for i, v in enumerate(good["label"])]).to_csv(
        folder / "two_row_class.csv", index=False)
    good.assign(label=good["label"].where(good.index % 10 != 3)).to_csv(folder / "nan_labels.csv", index=False)
    good.assign(empty=np.nan).to_csv(folder / "all_nan_feature.csv", index=False)
    good.assign(x=good["x"].where(good.index != 5, np.inf)).to_csv(folder / "inf.csv", index=False)
    good.assign(x=good["x"].where(good.index != 5, 1e39)).to_csv(folder / "float32_overflow.csv", index=False)
    good.assign(z=good["z"].astype(object).where(good.index % 40 != 7, "?")).to_csv(
        folder / "numbers_with_text.csv", index=False)
    good.to_csv(folder / "data.txt", index=False)
    good[["label"]].to_csv(folder / "target_only.csv", index=False)
    (folder / "unknown_key.yaml").write_text("target: label\nmembrs:\n  - sampler: smote\n")
    (folder / "malformed.yaml").write_text("target: label\nmembers: [sampler: smote\n")
    (folder / "repeated_key.yaml").write_text("target: label\nmembers:\n  - learner: rf\n    learner: hgb\n")
    (folder / "no_members.yaml").write_text("members: []\n")
    (folder / "list.yaml").write_text("- target\n- label\n")
    (folder / "big_k.yaml").write_text("members:\n  - sampler: smote\n    sampler_params: {k_neighbors: 50}\n"
                                       "    learner: logreg\n")
    (folder / "costs_three_rows.yaml").write_text("costs: [[0, 1], [10, 0], [1, 1]]\n")
    (folder / "costs_three_classes.csv").write_text("x,label\n" + "".join(
        f"{i},{'abc'[i % 3]}\n" for i in range(60)))
    (folder / "learner_typo.yaml").write_text("members:\n  - learner: rf\n    learner_params: {n_estimator: 5}\n")
    (folder / "learner_value.yaml").write_text("members:\n  - learner: rf\n    learner_params: {n_estimators: -5}\n")
    good.drop(columns=["label", "z"]).to_csv(folder / "score_missing_column.csv", index=False)
    good.drop(columns="label").assign(colour="purple").to_csv(folder / "score_new_category.csv", index=False)
    good.drop(columns="label").assign(x="high").to_csv(folder / "score_text_in_numbers.csv", index=False)
    good.drop(columns="label").assign(extra=1).to_csv(folder / "score_extra_column.csv", index=False)
    (folder / "score_empty.csv").write_bytes(b"")
    good.drop(columns="label").assign(colour="écarlate").to_csv(folder / "score_latin1.csv", index=False,
                                                                 encoding="latin-1")
    good.drop(columns="label").head(0).to_csv(folder / "score_header_only.csv", index=False)
    # Inputs that lie: one class written two ways, numbers with decimal commas, a column without a name,
    # nested Parquet columns.
    good.assign(label=good["label"].where(good.index % 7 != 0, good["label"].str.capitalize())).to_csv(
        folder / "labels_by_case.csv", index=False)
    good.assign(label=good["label"].where(good.index % 9 != 0, good["label"] + " ")).to_csv(
        folder / "labels_with_spaces.csv", index=False)
    good.assign(x=good["x"].map(lambda v: f"{v:.3f}".replace(".", ","))).to_csv(folder / "decimal_commas.csv",
                                                                                 index=False)
    (folder / "unnamed_column.csv").write_text("x,,label\n" + "".join(f"{i},{i * 2},{'ab'[i % 2]}\n"
                                                                      for i in range(40)))
    import pyarrow as pa
    import pyarrow.parquet as pq

    plain = pa.Table.from_pandas(good.astype({"code": str}), preserve_index=False)
    pq.write_table(plain.append_column("tags", pa.array([["a", "b"]] * ROWS)), folder / "list_column.parquet")
    pq.write_table(plain.append_column("point", pa.array([{"x": 1.0, "y": 2.0}] * ROWS)),
                   folder / "struct_column.parquet")
    pq.write_table(plain.drop_columns(["label"]).append_column("tags", pa.array([["a"]] * ROWS)),
                   folder / "score_list_column.parquet")
    pq.write_table(plain.append_column("x", plain.column("z")), folder / "repeated_column.parquet")
    pq.write_table(plain.drop_columns(["label"]).append_column("x", plain.column("z")),
                   folder / "score_repeated_column.parquet")
    pq.write_table(plain.replace_schema_metadata(None).set_column(  # without pandas' note that labels are text
        plain.schema.get_field_index("label"), "label", pa.array([value.encode() for value in good["label"]],
                                                                  pa.binary())), folder / "bytes_labels.parquet")
    (folder / "no_manifest").mkdir()
    (folder / "a_file").write_text("not a folder")


@pytest.fixture(scope="module")
def bad(tmp_path_factory):
    """The folder of bad inputs, and a model trained on the good table in its store."""
    folder = tmp_path_factory.mktemp("bad")
    write_bad_files(folder)
    store = folder / "store"
    assert cli(["train", str(folder / "good.csv"), "--target", "label", "--member", "class_weight:logreg",
                "--store", str(store)]) == 0
    model = next((store / "versions").iterdir())
    for name, change in (("missing_member", lambda v: (v / "members" / "00.skops").unlink()),
                         ("newer_format", lambda v: (v / "manifest.json").write_text(json.dumps(
                             {**json.loads((v / "manifest.json").read_text()), "format_version": 99})))):
        shutil.copytree(model, folder / name)
        change(folder / name)
    return folder, model


TRAIN = ["train", "{d}/good.csv", "--target", "label", "--store", "{d}/store"]


def train(data: str, *extra: str) -> list[str]:
    return ["train", data, "--target", "label", "--store", "{d}/store", *extra]


def member(text: str) -> list[str]:
    return [*TRAIN, "--member", text]


def predict(data: str, model: str = "{model}", out: str = "{d}/scores.csv") -> list[str]:
    return ["predict", model, data, "--out", out]


CASES = {
    # Loading a table.
    "missing-file": (train("{d}/nothing.csv"), r"the data file must exist: '.*nothing.csv' was not found"),
    "not-csv-or-parquet": (train("{d}/data.txt"), r"the data file must be CSV or Parquet: .* ends in '.txt'"),
    "empty-file": (train("{d}/empty.csv"), r"the data file must not be empty: '.*empty.csv' has 0 bytes"),
    "latin-1-csv": (train("{d}/latin1.csv"), r"a CSV file must be UTF-8 text: '.*latin1.csv' has byte 0xe9 "
                                             r"on line \d+\. Save it as UTF-8"),
    "duplicate-columns": (train("{d}/duplicate.csv"), r"column names must be unique: 'x' appears 2 times"),
    "header-only": (train("{d}/header_only.csv"), r"the data must have rows: '.*header_only.csv' has none"),
    "semicolon-csv": (train("{d}/semicolon.csv"), r"a CSV file must be comma-separated: the header of "
                                                  r"'.*semicolon.csv' is one column holding ';'"),
    "garbage-parquet": (train("{d}/garbage.parquet"), r"the data file must be readable as PARQUET"),
    "truncated-parquet": (train("{d}/truncated.parquet"), r"the data file must be readable as PARQUET"),
    "no-target-column": (["train", "{d}/good.csv", "--target", "class", "--store", "{d}/store"],
                         r"the target column must exist: 'class' is not among"),
    "only-the-target": (train("{d}/target_only.csv"), r"the data must have features"),
    "parquet-repeated-column": (train("{d}/repeated_column.parquet"),
                                r"column names must be unique: 'x' names 2 columns of '.*repeated_column.parquet'"),
    # Labels.
    "one-class": (train("{d}/one_class.csv"), r"the target needs at least two classes: 'label' holds only \['only'\]"),
    "one-row-of-a-class": (train("{d}/one_row_class.csv"),
                           r"each class needs at least 2 rows .*: class 'lone' has 1 in the file"),
    "two-rows-of-a-class": (train("{d}/two_row_class.csv"),
                            r"class 'pair' has 1 in the training split \(2 in the file\)"),
    "bytes-labels": (train("{d}/bytes_labels.parquet"), r"class labels must be numbers, booleans or strings: 'label' "
                                                        r"holds bytes values \(e\.g\. b'(common|rare)'\)"),
    "nan-labels": (train("{d}/nan_labels.csv"), r"every row needs a class label: 12 rows of 'label' are empty"),
    "labels-by-case": (train("{d}/labels_by_case.csv"), r"class labels must differ by more than case or surrounding "
                                                         r"spaces: 'Common' and 'common'; 'Rare' and 'rare' are labels"),
    "labels-with-spaces": (train("{d}/labels_with_spaces.csv"),
                           r"class labels must differ by more than case or surrounding spaces: 'common' and "
                           r"'common ' are labels of 'label'"),
    # Features.
    "decimal-commas": (train("{d}/decimal_commas.csv"), r"numbers must be written with a decimal point: column 'x' "
                                                        r"holds '-?\d+,\d{3}' and \d+ other values with a comma"),
    "unnamed-column": (train("{d}/unnamed_column.csv"), r"every column needs a name in the header: column 2 of "
                                                        r"'.*unnamed_column.csv' has none"),
    "parquet-list-column": (train("{d}/list_column.parquet"), r"every column must hold one value per row .*: 'tags' "
                                                              r"of '.*list_column.parquet' holds list<"),
    "parquet-struct-column": (train("{d}/struct_column.parquet"), r"'point' of .* holds struct<"),
    "all-nan-feature": (train("{d}/all_nan_feature.csv"), r"a feature must have at least one value: 'empty'"),
    "infinite-value": (train("{d}/inf.csv"), r"numeric features must be finite: 'x' has 1 infinite values"),
    "beyond-float32": (train("{d}/float32_overflow.csv"),
                       r"numeric features must lie within ±3.4e\+38 \(32-bit floats\): 'x' has 1 value beyond"),
    "numbers-with-text": (train("{d}/numbers_with_text.csv"),
                          r"a column of numbers must hold only numbers: 'z' has 3 values that are not \(\['\?'\]\)"),
    # Configuration and options.
    "config-unknown-key": (train("{d}/good.csv", "--config", "{d}/unknown_key.yaml"),
                           r"the keys of a config file must be parameters of the training flow: .*\['membrs'\]"),
    "config-repeated-key": (train("{d}/good.csv", "--config", "{d}/repeated_key.yaml"),
                            r"each key of a config file is given once: '.*repeated_key.yaml' gives 'learner' 2 times"),
    "config-malformed-yaml": (train("{d}/good.csv", "--config", "{d}/malformed.yaml"),
                              r"the config file must parse: '.*malformed.yaml' does not"),
    "config-not-a-mapping": (train("{d}/good.csv", "--config", "{d}/list.yaml"),
                             r"the config file must hold a mapping of parameters: .* holds list"),
    "config-missing": (train("{d}/good.csv", "--config", "{d}/none.yaml"), r"the config file must exist"),
    "no-members": (train("{d}/good.csv", "--config", "{d}/no_members.yaml"),
                   r"members: an ensemble needs at least one member: got \[\]"),
    "negative-random-state": (train("{d}/good.csv", "--random-state", "-1"),
                              r"random_state must be None, a whole number from 0 to 4294967295.*: it is -1"),
    "test-size-above-one": (train("{d}/good.csv", "--test-size", "1.5"), r"test_size: .*: got 1.5"),
    "validation-size-negative": (train("{d}/good.csv", "--validation-size", "-0.1"), r"validation_size must be a number > 0 and ≤ 0.5: it is -0.1"),
    "member-without-learner": (member("smote"), r"a member is written SAMPLER\[@RATIO\]\[\+AUGMENT\]:LEARNER: "
                                                r"got 'smote'"),
    "member-empty-learner": (member("smote:"), r"a member is written .*got 'smote:'"),
    "member-empty-sampler": (member(":rf"), r"a member is written .*got ':rf'"),
    "member-ratio-above-one": (member("smote@2.5:rf"), r"sampling_strategy must be 'auto' or a number in \(0, 1\]: "
                                                       r"it is 2.5"),
    "member-ratio-negative": (member("smote@-1:rf"), r"sampling_strategy must be 'auto' or a number in \(0, 1\]: "
                                                     r"it is -1"),
    "member-unknown-augmentation": (member("smote+nosuch:rf"), r"the augmentation must be one of jitter, mixup"),
    "member-unknown-strategy": (member("smotte:hgb"), r"the resampling strategy must be a known one"),
    "member-unknown-learner": (member("smote:svm"), r"the learner must be a known one"),
    "smote-k-too-large": (train("{d}/good.csv", "--config", "{d}/big_k.yaml"),
                          r"`k_neighbors`=50 needs at least 51 training rows of every class it grows"),
    "learner-parameter-typo": (train("{d}/good.csv", "--config", "{d}/learner_typo.yaml"),
                               r"Did you mean 'n_estimators'"),
    "learner-parameter-value": (train("{d}/good.csv", "--config", "{d}/learner_value.yaml"),
                                r"the learner parameters of rf must be valid: .*'n_estimators' .* Got -5"),
    "cost-fn-alone": (train("{d}/good.csv", "--cost-fn", "100"),
                      r"--cost-fn and --cost-fp go together: only --cost-fn was given\. Give both"),
    "cost-negative": (train("{d}/good.csv", "--cost-fn", "-5", "--cost-fp", "1"),
                      r"costs: the fn cost must be finite and not negative: got -5.0. Give e.g. 100."),
    "costs-matrix-shape": (train("{d}/good.csv", "--config", "{d}/costs_three_rows.yaml"),
                           r"a cost matrix needs one row and one column per class: shape \(3, 2\) for 2 classes"),
    "costs-fn-fp-three-classes": (train("{d}/costs_three_classes.csv", "--cost-fn", "5", "--cost-fp", "1"),
                                  r"fn and fp costs are for two classes: the data has 3 classes"),
    "threshold-cost-without-costs": (train("{d}/good.csv", "--threshold-objective", "cost"),
                                     r"error: threshold_objective=.cost. needs costs: no costs were given"),
    "recipe-unknown": (train("{d}/good.csv", "--recipe", "balanced"),
                       r"the recipe must be a known one: got 'balanced'\. Use one of default, default-medium, default-large, plain-over-under"),
    "recipe-and-member": ([*member("none:rf"), "--recipe", "default"],
                          r"--recipe and --member are two ways to name the members: both were given"),
    "store-under-a-file": (["train", "{d}/good.csv", "--target", "label", "--store", "{d}/a_file/store"],
                           r"the store must be a folder that can be written: .*a_file/store"),
    # Scoring.
    "score-missing-column": (predict("{d}/score_missing_column.csv"), r"missing \['z'\]"),
    "score-extra-column": (predict("{d}/score_extra_column.csv"), r"must have only the model's features: "
                                                                  r"unexpected \['extra'\]\. .*--passthrough"),
    "score-new-category-strict": ([*predict("{d}/score_new_category.csv"), "--unknown-categories", "error"],
                                  r"\['purple'\] are new"),
    "score-text-in-numbers": (predict("{d}/score_text_in_numbers.csv"),
                              r"numeric feature 'x' must hold numbers: found \['high'\]"),
    "score-latin-1-csv": (predict("{d}/score_latin1.csv"), r"a CSV file must be UTF-8 text: .* has byte 0xe9"),
    "score-garbage-parquet": (predict("{d}/garbage.parquet"), r"the data file must be readable as PARQUET"),
    "score-parquet-list-column": (predict("{d}/score_list_column.parquet"), r"'tags' of .* holds list<"),
    "score-parquet-repeated-column": (predict("{d}/score_repeated_column.parquet"),
                                      r"column names must be unique: 'x' names 2 columns"),
    "score-empty-file": (predict("{d}/score_empty.csv"), r"the data file must not be empty"),
    "score-header-only": (predict("{d}/score_header_only.csv"), r"the data to score must have rows"),
    "report-no-examples": (["report", "{model}", "--examples", "-1"], r"--examples must be at least 1: got -1"),
    "model-not-found": (predict("{d}/good.csv", model="{d}/no_such_model"),
                        r"MODEL must be a model's name \(its champion\), NAME@VERSION"),
    "model-without-manifest": (predict("{d}/good.csv", model="{d}/no_manifest"),
                               r"MODEL must be a model's name|has no manifest.json"),
    "model-missing-member": (predict("{d}/good.csv", model="{d}/missing_member"),
                             r"a saved version must have every file it was saved with: .*00.skops' is missing"),
    "model-newer-format": (predict("{d}/good.csv", model="{d}/newer_format"),
                           r"reads model formats 1, 2, 3: .* has format 99"),
    "output-not-csv-or-parquet": (predict("{d}/good.csv", out="{d}/scores.txt"),
                                  r"the output file must end in .csv or .parquet"),
    "output-under-a-file": (predict("{d}/good.csv", out="{d}/a_file/scores.csv"),
                            r"the output's folder must be one that can be written: .*a_file"),
}


@pytest.mark.parametrize("case", CASES)
def test_a_bad_input_gets_one_error_line_naming_the_rule_the_value_and_a_way_out(bad, case, capsys):
    folder, model = bad
    args, expected = CASES[case]
    code = cli([arg.format(d=folder, model=model) for arg in args])
    out, err = capsys.readouterr()
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert code == 2, (out + err)[-3000:]
    assert "Traceback" not in err
    assert case != "report-no-examples" or out == ""  # refused before the report is printed
    assert len(errors) == 1, err[-3000:]
    assert re.search(expected, errors[0]), errors[0]
    assert re.fullmatch(r"error: [^:]+: .+\. [A-Z`].+", errors[0]) or errors[0].count(": ") >= 2, errors[0]


def test_inputs_with_a_documented_fallback_succeed(bad, capsys):
    folder, model = bad
    frame = pd.read_csv(folder / "good.csv")
    with gzip.open(folder / "good.csv.gz", "wt") as handle:  # a compressed CSV is read as it is
        frame.to_csv(handle, index=False)
    assert cli(["train", str(folder / "good.csv.gz"), "--target", "label", "--member", "class_weight:logreg",
                "--store", str(folder / "gz_store")]) == 0
    features = frame.drop(columns="label")
    features[features.columns[::-1]].to_csv(folder / "shuffled.csv", index=False)  # columns matched by name
    out = folder / "new" / "folder" / "scores.csv"  # a missing output folder is created
    assert cli(["predict", str(model), str(folder / "shuffled.csv"), "--out", str(out)]) == 0
    assert len(pd.read_csv(out)) == ROWS


def test_scoring_reads_columns_with_the_types_the_model_recorded(bad, tmp_path):
    # A code column with blanks reads as 1.0 in one chunk and 1 in another when types are guessed per chunk.
    folder, model = bad
    frame = table(400, seed=3).drop(columns="label")
    frame["code"] = np.random.default_rng(4).choice([1, 2], size=400).astype(object)  # no "A" in these rows
    frame["code"] = frame["code"].where(frame.index < 350, "")
    frame.to_csv(tmp_path / "codes.csv", index=False)
    assert cli(["predict", str(model), str(tmp_path / "codes.csv"), "--out", str(tmp_path / "s.csv"),
                "--chunk-rows", "100"]) == 0
    assert len(pd.read_csv(tmp_path / "s.csv")) == 400


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB file system of its own (tmpfs; needs the right to mount, as root in CI has)."""
    import subprocess

    mount = tmp_path / "disk"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("mounting a small file system needs root")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


@pytest.mark.parametrize("left", [40_000, 300_000])  # full while writing the workspace, or the model version
def test_a_full_disk_gives_one_error_line_naming_the_path_and_leaves_nothing_behind(bad, small_disk, capsys, left):
    import os

    folder, _ = bad
    free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
    (small_disk / "filler").write_bytes(b"\0" * max(0, free - left))
    rows = table(3000, seed=5)
    rows.to_csv(folder / "bigger.csv", index=False)
    code = cli(["train", str(folder / "bigger.csv"), "--target", "label", "--member", "class_weight:logreg",
                "--member", "random_over:rf", "--store", str(small_disk / "store")])
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert code == 2 and "Traceback" not in err
    assert len(errors) == 1 and re.match(r"error: the disk must have room for the files a run writes: writing "
                                         rf"'{small_disk}/store/.+' ran out of space \(.*MB free there\)\. "
                                         r"Free some space", errors[0]), errors
    left_behind = [p.name for p in small_disk.rglob("*") if p.name.endswith(".tmp") or p.parent.name == ".staging"]
    assert left_behind == []
    assert not (small_disk / "store" / "versions").exists() or not any((small_disk / "store" / "versions").iterdir())


def test_a_file_written_whole_on_a_full_disk_is_the_products_error_and_leaves_no_staging_file(small_disk):
    import os

    from imbalance_flows.tasks import storage
    from imbalance_flows.tasks.errors import InputError

    free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
    (small_disk / "filler").write_bytes(b"\0" * max(0, free - 8192))

    with pytest.raises(InputError, match=r"the disk must have room for the files a run writes: writing "
                                         r"'.*fingerprints\.npy' ran out of space \(about 0\.2 MB to write"):
        storage.write_bytes(small_disk / "fingerprints.npy", b"\1" * 200_000)
    assert sorted(path.name for path in small_disk.iterdir()) == ["filler"]


def test_a_read_only_store_refuses_promote_and_prune_with_one_error_line_and_still_scores(bad, small_disk, capsys):
    import subprocess

    folder, model = bad
    shutil.copytree(folder / "store" / "versions", small_disk / "store" / "versions")  # 1 MiB: no workspace
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    try:
        for args in (["models", "promote", model.name], ["models", "prune", "--keep", "0"]):
            assert cli([*args, "--store", str(small_disk / "store")]) == 2
            err = capsys.readouterr().err
            assert "Traceback" not in err and err.startswith(
                "error: changing the store (promoting, pruning, tagging) needs it writable: "), err
        assert cli(["predict", str(small_disk / "store" / "versions" / model.name), str(folder / "good.csv"),
                    "--out", str(folder / "read_only_scores.csv")]) == 0
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)


def _many_levels(rng) -> pd.DataFrame:
    x = rng.normal(size=12_000)
    return pd.DataFrame({"cat": [f"level {i}" for i in rng.integers(0, 10_000, 12_000)], "x": x,
                         "label": np.where(x + rng.normal(size=12_000) > 1.5, "rare", "common")})


def _wide(rng) -> pd.DataFrame:
    frame = pd.DataFrame(rng.normal(size=(50, 1000)), columns=[f"c{i}" for i in range(1000)])
    return frame.assign(label=["a"] * 40 + ["b"] * 10)


def _odd_names(rng) -> pd.DataFrame:
    x = rng.normal(size=200)
    return pd.DataFrame({" spaced name ": x, "naïve çolumn ✓": rng.choice(["α", "β"], 200),
                         "label": np.where(x > 0.5, "oui", "non")})


@pytest.mark.parametrize("make", [_many_levels, _wide, _odd_names], ids=["10000-level-category",
                                                                       "1000-columns-50-rows", "unicode-names"])
def test_unusual_but_valid_tables_train_and_score(make, tmp_path):
    frame = make(np.random.default_rng(0))
    frame.to_csv(tmp_path / "data.csv", index=False)
    assert cli(["train", str(tmp_path / "data.csv"), "--target", "label", "--member", "class_weight:logreg",
                "--member", "random_under:hgb", "--store", str(tmp_path / "store")]) == 0
    frame.drop(columns="label").to_csv(tmp_path / "score.csv", index=False)
    model = next((tmp_path / "store" / "versions").iterdir())
    assert cli(["predict", str(model), str(tmp_path / "score.csv"), "--out", str(tmp_path / "s.csv")]) == 0
    scored = pd.read_csv(tmp_path / "s.csv")
    assert len(scored) == len(frame) and set(scored["predicted_label"]) <= set(frame["label"])


def test_new_categories_are_scored_as_missing_and_reported(bad, tmp_path, capsys):
    folder, model = bad
    assert cli(["predict", str(model), str(folder / "score_new_category.csv"), "--out", str(tmp_path / "s.csv")]) == 0
    out = capsys.readouterr().out
    assert f"'colour': {ROWS} rows held categories unseen in training, scored as missing (e.g. purple)" in out
    assert len(pd.read_csv(tmp_path / "s.csv")) == ROWS


def test_text_keeps_na_and_none_as_values_and_numbers_read_them_as_missing(tmp_path, capsys):
    # "NA" is Namibia and "None" a plan here; in the column of numbers they mark missing values.
    rng = np.random.default_rng(1)
    rows = 300
    x = rng.normal(size=rows)
    frame = pd.DataFrame({"country": rng.choice(["NA", "US", "FR"], rows), "plan": rng.choice(["None", "Pro"], rows),
                          "x": pd.Series(x.round(3)).astype(object).where(np.arange(rows) % 10 != 3, "NA"),
                          "label": np.where(x > 1.0, "rare", "common")})
    frame.to_csv(tmp_path / "data.csv", index=False)
    assert cli(["train", str(tmp_path / "data.csv"), "--target", "label", "--member", "class_weight:logreg",
                "--store", str(tmp_path / "store")]) == 0
    version = next((tmp_path / "store" / "versions").iterdir())
    columns = {column["name"]: column for column in json.loads((version / "manifest.json").read_text())["schema"]["columns"]}
    assert columns["country"]["categories"] == ["FR", "NA", "US"] and columns["plan"]["categories"] == ["None", "Pro"]
    assert columns["x"]["kind"] == "numeric"
    capsys.readouterr()
    frame.drop(columns="label").to_csv(tmp_path / "score.csv", index=False)
    assert cli(["predict", str(version), str(tmp_path / "score.csv"), "--out", str(tmp_path / "s.csv")]) == 0
    assert "unseen in training" not in capsys.readouterr().out  # "NA" is the category it was in training


def test_a_saved_index_is_left_out_and_a_decimal_parquet_column_is_read_as_numbers(tmp_path):
    import decimal

    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = table(200, seed=2)
    frame.to_csv(tmp_path / "indexed.csv")  # pandas' default: the index as a first column without a name
    assert cli(["train", str(tmp_path / "indexed.csv"), "--target", "label", "--member", "class_weight:logreg",
                "--store", str(tmp_path / "store")]) == 0  # the warning's line: tests/e2e/test_cli.py
    version = next((tmp_path / "store" / "versions").iterdir())
    names = [column["name"] for column in json.loads((version / "manifest.json").read_text())["schema"]["columns"]]
    assert names == ["x", "z", "colour", "code"]
    frame.drop(columns="label").to_csv(tmp_path / "score.csv")
    assert cli(["predict", str(version), str(tmp_path / "score.csv"), "--out", str(tmp_path / "s.csv")]) == 0
    assert len(pd.read_csv(tmp_path / "s.csv")) == 200

    table_ = pa.Table.from_pandas(frame.astype({"code": str}), preserve_index=False)
    amounts = pa.array([decimal.Decimal(f"{v:.2f}") for v in frame["z"]], type=pa.decimal128(10, 2))
    pq.write_table(table_.set_column(1, "z", amounts), tmp_path / "decimal.parquet")
    assert cli(["train", str(tmp_path / "decimal.parquet"), "--target", "label", "--member", "class_weight:logreg",
                "--store", str(tmp_path / "store2")]) == 0
    version = next((tmp_path / "store2" / "versions").iterdir())
    columns = {column["name"]: column for column in json.loads((version / "manifest.json").read_text())["schema"]["columns"]}
    assert columns["z"]["kind"] == "numeric"


def test_copies_of_rows_stay_on_one_side_of_the_split(tmp_path):
    frame = table(400, seed=6)
    pd.concat([frame] * 4, ignore_index=True).to_csv(tmp_path / "copies.csv", index=False)
    assert cli(["train", str(tmp_path / "copies.csv"), "--target", "label", "--member", "class_weight:logreg",
                "--store", str(tmp_path / "store")]) == 0  # the count's line: tests/e2e/test_cli.py
    version = next((tmp_path / "store" / "versions").iterdir())
    tested = json.loads((version / "report.json").read_text())["ensemble"]["n_rows"]
    assert tested == 4 * 80  # 20 % of the 400 distinct rows, each with its three copies


def test_a_table_with_a_few_copies_keeps_them_on_one_side_and_only_that_split(tmp_path):
    frame = table(400, seed=6)
    pd.concat([frame, frame.iloc[:100]], ignore_index=True).to_csv(tmp_path / "copies.csv", index=False)
    assert cli(["train", str(tmp_path / "copies.csv"), "--target", "label", "--member", "class_weight:logreg",
                "--store", str(tmp_path / "store")]) == 0
    # The splits drawn as if no row had copies, written while the rows were hashed, are gone.
    import pyarrow as pa

    files = list((tmp_path / "store" / ".work" / "tables").glob(f"*{WRITTEN}"))
    written = {path.name.split("-")[0]: path for path in files}
    assert sorted(written) == ["test", "train"] and len(files) == 2
    split = {}
    for name, path in written.items():
        with pa.ipc.open_stream(path) as reader:
            split[name] = set(reader.read_all().column("x").to_pylist())
    assert len(split["test"]) and not split["test"] & split["train"]  # no copy of a training row is tested on


def test_a_table_without_copies_is_split_as_drawn_while_its_rows_are_hashed(tmp_path, monkeypatch):
    from imbalance_flows.tasks.data import tables

    frame = table(400, seed=6)
    frame.to_csv(tmp_path / "plain.csv", index=False)
    calls, write_parts = [], tables.write_parts
    monkeypatch.setattr(tables, "write_parts", lambda *a, **k: calls.append(sorted(a[1])) or write_parts(*a, **k))
    assert cli(["train", str(tmp_path / "plain.csv"), "--target", "label", "--member", "class_weight:logreg",
                "--store", str(tmp_path / "store")]) == 0
    assert calls == [["test", "train"]]  # written once, while the rows were hashed
    from imbalance_flows.tasks.model import plan

    assert not plan._PLANNED._held  # the run let its plan go
    version = next((tmp_path / "store" / "versions").iterdir())
    assert json.loads((version / "report.json").read_text())["ensemble"]["n_rows"] == 80
    written = {path.name.split("-")[0]: path for path in (tmp_path / "store" / ".work" / "tables").glob(f"*{WRITTEN}")}
    assert sorted(written) == ["test", "train"]
    import pyarrow as pa

    with pa.ipc.open_stream(written["test"]) as reader:
        test = reader.read_all().to_pandas()
    _, expected = stratified_indices(frame["label"].to_numpy(), [0.2], 0, "")
    assert np.array_equal(test["x"], frame["x"].iloc[expected]) and list(test["label"]) == list(
        frame["label"].iloc[expected])


def test_with_a_store_key_a_member_changed_in_the_workspace_is_refused_not_signed_into_a_version(tmp_path, capsys,
                                                                                                monkeypatch):
    monkeypatch.setenv("IMBALANCE_FLOWS_STORE_KEY", "s3cret")
    table(300, seed=8).to_csv(tmp_path / "data.csv", index=False)
    args = ["train", str(tmp_path / "data.csv"), "--target", "label", "--member", "class_weight:logreg",
            "--store", str(tmp_path / "store")]
    assert cli(args) == 0
    (member,) = (tmp_path / "store" / ".work" / "members").glob("*.skops")
    assert member.with_name(member.name + ".sig").is_file()  # sealed with the key when it was written
    member.write_bytes(member.read_bytes() + b" ")  # someone without the key changes it for the next run
    capsys.readouterr()

    assert cli(args) == 2  # the next identical run would reuse it: refused instead
    err = capsys.readouterr().err
    assert "a file reused from the run workspace must be sealed with that key" in err and "Traceback" not in err
    assert len(list((tmp_path / "store" / "versions").iterdir())) == 1


def test_a_split_refused_for_its_copies_leaves_no_table_behind(tmp_path, capsys):
    frame = table(400, seed=6)
    common, rare = frame[frame["label"] == "common"].iloc[:200], frame[frame["label"] == "rare"].iloc[:1]
    pd.concat([common, rare, rare, rare], ignore_index=True).to_csv(tmp_path / "copies.csv", index=False)
    # Drawn row by row, the rare class's 3 rows fill every split; kept together they are one row.
    assert cli(["train", str(tmp_path / "copies.csv"), "--target", "label", "--member", "class_weight:logreg",
                "--store", str(tmp_path / "store")]) == 2
    err = capsys.readouterr().err
    assert "counting copies once" in err and "Traceback" not in err, err
    assert list((tmp_path / "store" / ".work" / "tables").glob(f"*{WRITTEN}")) == []
