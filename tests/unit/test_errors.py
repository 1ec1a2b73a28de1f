"""Every bad input gets an InputError that names the rule, the offending value and a way out."""

import copy
import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from scipy import sparse

from imbalance_flows.tasks.data.schema import infer_schema
from imbalance_flows.tasks.data.splits import (
    check_features,
    check_split_sizes,
    split_target,
    stratified_indices,
)
from imbalance_flows.tasks.data.tables import read_file
from imbalance_flows.tasks.errors import InputError, preview
from imbalance_flows.tasks.learners.registry import LEARNERS
from imbalance_flows.tasks.model.ensemble import VotingEnsemble
from imbalance_flows.tasks.model.fitting import encode_labels, fit_member
from imbalance_flows.tasks.model.members import build_member, check_member
from imbalance_flows.tasks.model.spec import MemberSpec
from imbalance_flows.tasks.sampling.augment import TabularAugmenter
from imbalance_flows.tasks.sampling.resample import (
    Context,
    check_sampler_params,
    get_strategy,
    make_sampler,
)
from imbalance_flows.tasks.store.model_store import load_model

NUMERIC = infer_schema(pd.DataFrame({"a": [1.0, 2.0], "b": [0.5, 1.5]}), pd.Series(["no", "yes"]))
MIXED = infer_schema(pd.DataFrame({"a": [1.0, 2.0], "colour": ["red", "blue"]}), pd.Series(["no", "yes"]))
LABELLED = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": ["x", "y", "x", "y"], "label": ["p", "q", "p", "q"]})


@pytest.fixture
def env(tmp_path, fitted_binary):
    """What the rows need: a scratch folder, and an ensemble fitted on num, size and colour (red/blue/green)."""
    return SimpleNamespace(tmp=tmp_path, model=fitted_binary)


def written(path, content):
    """Write `content` (bytes or text) to `path` and return the path."""
    path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    return path


def written_parquet(path, names):
    """A Parquet file whose columns are named `names` (pyarrow writes a name twice), returned as its path."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table([pa.array([position, position + 1]) for position in range(len(names))], names=names), path)
    return path


def labelled(**columns) -> pd.DataFrame:
    return LABELLED.assign(**columns)


def scoring(**changes) -> pd.DataFrame:
    """Two rows to score with the shared ensemble, with `changes` applied."""
    return pd.DataFrame({"num": [0.1, 0.2], "size": [1.0, 2.0], "colour": ["red", "blue"]}).assign(**changes)


def separated(n_common=20, n_rare=6):
    """Two classes so far apart that no rare row has a common neighbour."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": np.r_[rng.normal(size=n_common), rng.normal(100, 1, size=n_rare)],
                      "b": rng.normal(size=n_common + n_rare)})
    return X, pd.Series(["no"] * n_common + ["yes"] * n_rare)


BAD_INPUTS = [
    # Files.
    pytest.param(lambda e: read_file(str(e.tmp / "absent.csv")),
                 "the data file must exist", "absent.csv' was not found", "Check the path", id="missing-file"),
    pytest.param(lambda e: read_file(str(written(e.tmp / "bad.parquet", b"PAR1 this is not parquet"))),
                 "the data file must be readable as PARQUET", "bad.parquet' is not (",
                 "Check that the file is complete and that its extension matches its content", id="corrupt-parquet"),
    pytest.param(lambda e: read_file(str(written(e.tmp / "empty.csv", ""))),
                 "the data file must not be empty", "empty.csv' has 0 bytes", "Point to a file with data",
                 id="empty-csv-file"),
    pytest.param(lambda e: read_file(str(written(e.tmp / "header.csv", "a,label\n"))),
                 "the data must have rows", "header.csv' has none", "Point to a file with data", id="header-only"),
    pytest.param(lambda e: read_file(str(e.tmp / "data.xlsx")),
                 "the data file must be CSV or Parquet", "ends in '.xlsx'", "Use one of ['.csv', '.parquet', '.pq']",
                 id="unknown-extension"),
    pytest.param(lambda e: read_file(str(e.tmp / "data")),
                 "the data file must be CSV or Parquet", "ends in 'no extension'", "as the file extension",
                 id="no-extension"),
    # Target and labels.
    pytest.param(lambda e: split_target(LABELLED, "class"),
                 "the target column must exist", "'class' is not among the columns ['a', 'b', 'label']",
                 "with --target", id="target-absent"),
    pytest.param(lambda e: split_target(LABELLED[["label"]], "label"),
                 "the data must have features", "only the target column was found", "Add feature columns",
                 id="no-features"),
    pytest.param(lambda e: split_target(labelled(label=["p"] * 4), "label"),
                 "the target needs at least two classes", "'label' holds only ['p']", "add rows of the other classes",
                 id="one-class"),
    pytest.param(lambda e: split_target(labelled(label=[1, 1, 1, 1]), "label"),
                 "the target needs at least two classes", "'label' holds only [1]", "Check the --target column",
                 id="one-class-integer-labels"),
    pytest.param(lambda e: split_target(labelled(label=["p", None, "q", np.nan]), "label"),
                 "every row needs a class label", "2 rows of 'label' are empty or NaN (rows [1, 3])",
                 "Drop those rows or fill in their labels", id="nan-labels"),
    pytest.param(lambda e: split_target(labelled(label=["p", "  ", "q", ""]), "label"),
                 "every row needs a class label", "2 rows of 'label' are empty or NaN (rows [1, 3])",
                 "fill in their labels", id="empty-labels"),
    pytest.param(lambda e: split_target(labelled(label=[b"p", b" ", b"q", b""]), "label"),
                 "every row needs a class label", "2 rows of 'label' are empty or NaN (rows [1, 3])",
                 "fill in their labels", id="empty-bytes-labels"),
    pytest.param(lambda e: split_target(labelled(label=[b"p", b"q", b"p", b"q"]), "label"),
                 "class labels must be numbers, booleans or strings", "'label' holds bytes values (e.g. b'p')",
                 "y.str.decode('utf-8')", id="bytes-labels"),
    pytest.param(lambda e: VotingEnsemble().fit(pd.DataFrame({"a": range(6)}), np.array([b"p", b"q"] * 3)),
                 "class labels must be numbers, booleans or strings", "'target' holds bytes values (e.g. b'p')",
                 "y.str.decode('utf-8')", id="numpy-bytes-labels"),
    pytest.param(lambda e: stratified_indices([0] * 10 + [1] * 2, [0.2, 0.2]),
                 "each class needs at least 3 rows for a stratified 3-way split", "class 1 has 2",
                 "Collect more rows of it, merge it into a related class, or drop its rows", id="class-of-two-rows"),
    pytest.param(lambda e: VotingEnsemble().fit(pd.DataFrame({"a": range(6)}), ["p"] * 5 + ["rare"]),
                 "each class needs at least 2 rows for out-of-fold validation", "class 'rare' has 1",
                 "Collect more rows of it", id="class-of-one-row"),
    pytest.param(lambda e: VotingEnsemble(validation="holdout").fit(pd.DataFrame({"a": range(6)}),
                                                                    ["p"] * 5 + ["rare"]),
                 "each class needs at least 2 rows for a stratified 2-way split", "class 'rare' has 1",
                 "Collect more rows of it", id="class-of-one-row-holdout"),
    pytest.param(lambda e: VotingEnsemble(validation="cross").fit(pd.DataFrame({"a": range(6)}), [0, 1] * 3),
                 "validation must be one of 'auto', 'out_of_fold', 'holdout'", "it is 'cross'",
                 "Use auto (the default",
                 id="unknown-validation"),
    pytest.param(lambda e: VotingEnsemble(folds=1).fit(pd.DataFrame({"a": range(6)}), [0, 1] * 3),
                 "folds must be a whole number ≥ 2 and ≤ 20", "it is 1", "Use the default 5",
                 id="one-fold"),
    pytest.param(lambda e: encode_labels([0, 1, 5], infer_schema(pd.DataFrame({"a": [1, 2]}), pd.Series([0, 1]))),
                 "labels must be among the schema's classes", "found [5]", "Infer the schema from the same data",
                 id="label-outside-schema"),
    # Features.
    pytest.param(lambda e: VotingEnsemble().fit(pd.DataFrame(index=range(6)), [0, 1] * 3),
                 "the data must have features", "found 0 feature(s) (shape=(6, 0))", "Pass at least one feature column",
                 id="no-feature-columns"),
    pytest.param(lambda e: VotingEnsemble().fit(pd.DataFrame([[1, 2]] * 6, columns=["a", "a"]), [0, 1] * 3),
                 "column names must be unique", "'a' names 2 columns", "Rename or drop the copies",
                 id="repeated-column-name"),
    pytest.param(lambda e: VotingEnsemble().fit(pd.DataFrame([[1, 2]] * 6, columns=[1, "1"]), [0, 1] * 3),
                 "column names must be unique", "'1' names 2 columns", "1 and '1' are one name",
                 id="column-names-equal-as-text"),
    pytest.param(lambda e: VotingEnsemble().fit(pd.DataFrame([[1, 2]] * 6, columns=pd.MultiIndex.from_tuples(
                     [("g", "a"), ("g", "b")])), [0, 1] * 3),
                 "column names must have one level", "a MultiIndex of 2 levels (e.g. ('g', 'a'))",
                 "Join the levels first", id="multi-level-columns"),
    pytest.param(lambda e: read_file(str(written_parquet(e.tmp / "repeated.parquet", ["x", "x", "label"]))),
                 "column names must be unique", "'x' names 2 columns of", "write the file again",
                 id="parquet-repeated-column-name"),
    pytest.param(lambda e: check_features(pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [np.nan] * 3})),
                 "a feature must have at least one value", "'b' is empty (all NaN) in 3 rows", "Drop the column",
                 id="feature-all-nan"),
    pytest.param(lambda e: split_target(labelled(a=[1.0, np.inf, 3.0, -np.inf]), "label"),
                 "numeric features must be finite", "'a' has 2 infinite values",
                 "Replace them with NaN (they are then imputed)", id="infinite-values"),
    pytest.param(lambda e: split_target(labelled(a=pd.date_range("2024-01-01", periods=4)), "label"),
                 "features must be numeric, boolean or categorical", "'a' has dtype datetime64",
                 "Convert it (e.g. a date into year, month and weekday columns) or drop it", id="date-feature"),
    pytest.param(lambda e: VotingEnsemble().fit(np.arange(8).reshape(4, 2) * 1j, [0, 0, 1, 1]),
                 "features must be numeric, boolean or categorical", "'x0' has dtype complex128", "or drop it",
                 id="complex-feature"),
    # Strategies, samplers and their parameters.
    pytest.param(lambda e: get_strategy("smoot"),
                 "the resampling strategy must be a known one", "'smoot' is not among ['none', 'class_weight'",
                 "Run `imbalance-flows strategies`", id="unknown-strategy"),
    pytest.param(lambda e: check_member(MemberSpec(sampler="smote", sampler_params={"k_neighbors": 5}), NUMERIC,
                                        {0: 20, 1: 4}),
                 "`k_neighbors`=5 needs at least 6 training rows of every class it grows", "class 'yes' has 4",
                 "Lower k_neighbors to 3 (or 'auto'), or use random_over for this member",
                 id="smote-k-larger-than-class"),
    pytest.param(lambda e: build_member(MemberSpec(sampler="smote", sampler_params={"k_neighbors": 0}), NUMERIC,
                                        {0: 20, 1: 4}),
                 "`k_neighbors` must be a positive integer or 'auto'", "it is 0", "Use e.g. 5", id="smote-k-zero"),
    pytest.param(lambda e: check_member(MemberSpec(sampler="smote_enn"), NUMERIC, {0: 20, 1: 1}),
                 "interpolating samplers need at least 2 training rows of each class they grow", "class 'yes' has 1",
                 "Use random_over for this class", id="smote-single-row-class"),
    pytest.param(lambda e: check_sampler_params("smote", {"k_neighbour": 3}),
                 "the parameters of 'smote' must be among ['k_neighbors']", "got ['k_neighbour']",
                 "Did you mean 'k_neighbors'? Run `imbalance-flows strategies`", id="unknown-sampler-parameter"),
    pytest.param(lambda e: LEARNERS["rf"].check_params({"n_estimator": 50}),
                 "the learner parameters of rf must be among ['bootstrap', ", "got ['n_estimator']",
                 "Did you mean 'n_estimators'? Run `imbalance-flows strategies`", id="unknown-learner-parameter"),
    pytest.param(lambda e: check_member(MemberSpec(sampler="adasyn"), MIXED, {0: 20, 1: 9}),
                 "adasyn interpolates between rows and needs numeric features only",
                 "the data has 1 categorical features", "Use smote (it switches to SMOTE-NC", id="adasyn-categorical"),
    pytest.param(lambda e: make_sampler("random_over", {}, Context(counts={0: 5, 1: 2}, categorical=[],
                                                                   n_features=1, ratio=1.5)),
                 "sampling_strategy must be 'auto' or a number in (0, 1]", "it is 1.5", "Use 1.0 (fully balanced)",
                 id="ratio-above-one"),
    pytest.param(lambda e: fit_member(MemberSpec(sampler="adasyn", learner="logreg"), *separated(), NUMERIC),
                 "member adasyn:logreg could not be fitted", "Not any neigbours belong to the majority class",
                 "Change its sampler or learner parameters, or drop this member", id="sampler-fails-while-fitting"),
    pytest.param(lambda e: TabularAugmenter(method="swap").fit_resample(np.zeros((4, 1)), [0, 0, 0, 1]),
                 "the augmentation method must be one of jitter, mixup", "it is 'swap'", "Use jitter or mixup",
                 id="unknown-augmentation-method"),
    # The command line's short form of a member.
    pytest.param(lambda e: MemberSpec.parse("smote"),
                 "a member is written SAMPLER[@RATIO][+AUGMENT]:LEARNER", "got 'smote'",
                 "For example --member smote:hgb", id="member-without-learner"),
    pytest.param(lambda e: MemberSpec.parse("smote+noise:hgb"),
                 "the augmentation must be one of jitter, mixup", "got 'noise' in 'smote+noise:hgb'",
                 "Write e.g. smote+jitter:hgb", id="member-unknown-augmentation"),
    pytest.param(lambda e: MemberSpec.parse("smote@half:hgb"),
                 "the ratio after @ must be a number in (0, 1]", "got 'half' in 'smote@half:hgb'",
                 "Write e.g. random_under@0.5:rf", id="member-ratio-not-a-number"),
    # Split sizes and ensemble fitting.
    pytest.param(lambda e: check_split_sizes(0, 0.2),
                 "test_size must lie strictly between 0 and 1", "it is 0", "Use e.g. 0.2", id="test-size-zero"),
    pytest.param(lambda e: check_split_sizes(0.5, 0.4),
                 "test_size + validation_size must stay below 0.9", "they add up to 0.90", "Lower one of them",
                 id="no-rows-left-to-train"),
    pytest.param(lambda e: VotingEnsemble().fit(np.zeros((4, 2)), [0, 1, 0]),
                 "X and y must have the same number of rows", "4 and 3", "Pass the labels of exactly the rows of X",
                 id="x-y-length-mismatch"),
    pytest.param(lambda e: VotingEnsemble().fit(np.zeros((4, 2)), np.zeros((4, 1))),
                 "y must be one column of labels", "it has shape (4, 1)", "Pass a 1-D array or Series",
                 id="y-two-dimensional"),
    pytest.param(lambda e: VotingEnsemble(members=[]).fit(np.arange(8).reshape(4, 2), [0, 1, 0, 1]),
                 "an ensemble needs at least one member", "the member list is empty",
                 "Leave members=None for the default recipe", id="no-members"),
    # Scoring.
    pytest.param(lambda e: e.model.predict(scoring().drop(columns="colour")),
                 "the data to score must have every feature the model was trained on", "missing ['colour']",
                 "Add these columns (NaN is fine where a value is unknown)", id="predict-missing-column"),
    pytest.param(lambda e: e.model.predict(scoring(extra=[1, 2])),
                 "the data to score must have only the model's features", "unexpected ['extra']",
                 "Drop them, or copy them to the output with --passthrough; the model uses ['num', 'size', 'colour']",
                 id="predict-extra-column"),
    pytest.param(lambda e: copy.deepcopy(e.model).set_params(unknown_categories="error").predict(
                     scoring(colour=["red", "purple"])),
                 "categorical feature 'colour' must hold categories seen in training",
                 "['purple'] are new (known: ['blue', 'green', 'red'])",
                 "score with unknown_categories='ignore' (CLI: --unknown-categories ignore)",
                 id="predict-unseen-category"),
    pytest.param(lambda e: e.model.predict_proba(scoring(num=pd.Series(["0.5", "abc"], dtype=object))),
                 "numeric feature 'num' must hold numbers", "found ['abc']",
                 "Fix those values, or leave them blank (missing numbers are imputed)",
                 id="predict-text-in-numeric-column"),
    pytest.param(lambda e: e.model.predict(scoring(size=[1.0, np.inf])),
                 "numeric features must be finite", "'size' has 1 infinite values", "Replace them with NaN",
                 id="predict-infinite-value"),
    pytest.param(lambda e: e.model.predict(scoring().assign(copy=[1.0, 2.0]).rename(columns={"copy": "num"})),
                 "column names must be unique", "'num' names 2 columns", "Rename or drop the copies",
                 id="predict-repeated-column-name"),
    pytest.param(lambda e: e.model.predict(sparse.csr_matrix(np.ones((2, 3)))),
                 "X must be a dense table", "it is a sparse csr_matrix of shape (2, 3)", "Convert it with X.toarray()",
                 id="predict-sparse"),
    pytest.param(lambda e: e.model.predict(np.array([0.1, 1.0, 2.0])),
                 "X must be a table (2-D)", "it has shape (3,)", "reshape a single feature with X.reshape(-1, 1)",
                 id="predict-one-dimensional"),
    pytest.param(lambda e: MemberSpec.parse("smote@:hgb"),
                 "the ratio after @ must be a number in (0, 1]", "got '' in 'smote@:hgb'", "random_under@0.5:rf",
                 id="ratio-left-empty"),
    pytest.param(lambda e: MemberSpec.parse("none+:rf"),
                 "the augmentation must be one of jitter", "got '' in 'none+:rf'", "smote+jitter:hgb",
                 id="augmentation-left-empty"),
    # Saved models.
    pytest.param(lambda e: load_model(e.tmp),
                 "MODEL must be a saved model version's directory", "has no manifest.json",
                 "Pass the directory printed on the last line of `imbalance-flows train`", id="model-without-manifest"),
    pytest.param(lambda e: load_model(written(e.tmp / "manifest.json", "{not json").parent),
                 "a model's manifest.json must be valid JSON", "manifest.json' is not (",
                 "The version is damaged: retrain, or use another version", id="model-manifest-not-json"),
]


@pytest.mark.parametrize("call, rule, value, hint", BAD_INPUTS)
def test_bad_input_raises_an_input_error_with_rule_value_and_hint(env, call, rule, value, hint):
    with pytest.raises(InputError, match=re.escape(rule)) as caught:
        call(env)

    error = caught.value
    assert rule in error.rule
    assert value in error.value
    assert hint in error.hint
    assert str(error) == f"{error.rule}: {error.value}. {error.hint}"


BAD_SPECS = [
    pytest.param(lambda: MemberSpec.parse("smote:xgboost"),
                 "the learner must be a known one", "'xgboost' is not among ['logreg', 'rf', 'hgb'",
                 "Run `imbalance-flows strategies`", id="unknown-learner"),
    pytest.param(lambda: MemberSpec.model_validate({"sampler": "none", "learner": "svm"}),
                 "the learner must be a known one", "'svm' is not among", "to list them", id="unknown-learner-dict"),
    pytest.param(lambda: MemberSpec.model_validate({"sampler": "smoot"}),
                 "the resampling strategy must be a known one", "'smoot' is not among",
                 "Run `imbalance-flows strategies`", id="unknown-sampler"),
    pytest.param(lambda: MemberSpec.parse("tomek@0.5:rf"),
                 "sampling_strategy does not apply to 'tomek'", "it is 0.5", "Leave it at 'auto' for this strategy",
                 id="ratio-for-a-cleaning-strategy"),
    pytest.param(lambda: MemberSpec.parse("smote@1.5:hgb"),
                 "sampling_strategy must be 'auto' or a number in (0, 1]", "it is 1.5",
                 "Use 1.0 (fully balanced) or less", id="ratio-above-one"),
    pytest.param(lambda: MemberSpec.parse("random_over@0:hgb"),
                 "sampling_strategy must be 'auto' or a number in (0, 1]", "it is 0.0", "e.g. 0.5", id="ratio-zero"),
]


@pytest.mark.parametrize("call, rule, value, hint", BAD_SPECS)
def test_bad_member_spec_fails_validation_with_the_input_error_inside(call, rule, value, hint):
    with pytest.raises(ValidationError, match=re.escape(rule)) as caught:
        call()

    (problem,) = caught.value.errors()
    error = problem["ctx"]["error"]  # pydantic keeps the InputError it wrapped
    assert isinstance(error, InputError)
    assert rule in error.rule and value in error.value and hint in error.hint


def test_an_input_error_is_a_value_error_in_three_parts():
    error = InputError("the rule", "the value", "The hint.")

    assert isinstance(error, ValueError)
    assert (error.rule, error.value, error.hint) == ("the rule", "the value", "The hint.")
    assert str(error) == "the rule: the value. The hint."


@pytest.mark.parametrize("items, limit, expected", [
    ([], 8, "[]"),
    (["a", 1], 8, "['a', 1]"),
    (range(10), 3, "[0, 1, 2, … (7 more)]"),
    (range(3), 3, "[0, 1, 2]"),
])
def test_preview_lists_items_and_counts_the_rest(items, limit, expected):
    assert preview(items, limit) == expected


def test_a_short_write_without_an_errno_is_a_full_disk_too(tmp_path):
    import numpy as np

    from imbalance_flows.tasks.disk import room_to_write

    with pytest.raises(InputError, match=r"the disk must have room for the files a run writes: writing '.*members\.npy' "
                                         r"ran out of space"):
        with room_to_write(tmp_path / "members.npy"):
            with open("/dev/full", "wb") as full:
                np.arange(10**6).tofile(full)  # numpy: OSError("8000000 requested and 0 written"), no errno
    with pytest.raises(OSError, match="Permission"):  # any other OSError passes through as it is
        with room_to_write(tmp_path / "x"):
            raise PermissionError(13, "Permission denied")


def test_a_message_never_echoes_a_huge_value_whole():
    from imbalance_flows.tasks.data.splits import missing_target

    error = missing_target("x" * 10_000_000, ["label", "a"])  # a target pasted by mistake: no close match sought

    assert len(str(error)) < 400 and "'xxx" in error.value and error.value.endswith("is not among the columns "
                                                                                    "['label', 'a']")
    assert preview(["y" * 1_000_000, "b"]) == "['" + "y" * 198 + "…, 'b']"


def test_labels_that_are_not_a_column_say_what_they_are():
    from imbalance_flows.tasks.data.checks import as_series

    for y, what in [(None, "it is None"), ({"a": [1, 2]}, "it is a dict"), (np.zeros((2, 2)), r"it has shape \(2, 2\)")]:
        with pytest.raises(InputError, match=f"y must be one column of labels: {what}"):
            as_series(y)
