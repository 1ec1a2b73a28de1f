"""tasks.members and tasks.train: member specs, the pipelines built from them, and fitting one member."""

import os
import subprocess
import sys
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from imblearn import over_sampling, under_sampling
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from imbalance_flows.tasks import cores as cores_module
from imbalance_flows.tasks.data.schema import ImageInfo, coerce, infer_schema
from imbalance_flows.tasks.data.splits import stratified_indices
from imbalance_flows.tasks.errors import InputError
from imbalance_flows.tasks.learners.forest import RandomForest
from imbalance_flows.tasks.learners.registry import ENCODINGS, LEARNERS, load_estimator
from imbalance_flows.tasks.model import fitting as train_module
from imbalance_flows.tasks.model.fitting import (
    PROBABILITY_TOLERANCE,
    check_probabilities,
    distinct_rows,
    encode_labels,
    fit_member,
    member_proba,
    plan_concurrency,
)
from imbalance_flows.tasks.model.members import build_member
from imbalance_flows.tasks.model.prepare import LinearPrep
from imbalance_flows.tasks.model.spec import AugmentSpec, MemberSpec
from imbalance_flows.tasks.sampling.augment import TabularAugmenter
from imbalance_flows.tasks.sampling.resample import (
    STRATEGIES,
    class_weights,
    over_targets,
    under_targets,
)


def table_with_row_ids(counts, seed: int = 0):
    """Features led by `row_id`, the row's position, which passes unchanged through a member's preparation."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.array(["no", "yes", "maybe"][:len(counts)], dtype=object), counts)
    X = pd.DataFrame({
        "row_id": np.arange(len(y), dtype=float),
        "num": rng.normal(size=len(y)) + (y == "yes"),
        "colour": rng.choice(["red", "green", "blue"], size=len(y)),
    })
    schema = infer_schema(X, pd.Series(y, name="label"), target="label")
    return coerce(X, schema), pd.Series(y, name="label"), schema


@pytest.mark.parametrize("text, fields", [
    ("smote:hgb", dict(sampler="smote", learner="hgb", sampling_strategy="auto", augment=None)),
    ("random_under@0.5:rf", dict(sampler="random_under", learner="rf", sampling_strategy=0.5, augment=None)),
    ("smote@0.5+mixup:hgb", dict(sampler="smote", learner="hgb", sampling_strategy=0.5,
                                 augment=AugmentSpec(method="mixup"))),
    ("none+jitter:logreg", dict(sampler="none", learner="logreg", sampling_strategy="auto",
                                augment=AugmentSpec(method="jitter"))),
])
def test_parse_reads_the_short_form_and_name_writes_it_back(text, fields):
    spec = MemberSpec.parse(text)

    assert {name: getattr(spec, name) for name in fields} == fields
    assert spec.name == text


def test_name_marks_a_seed_offset():
    assert MemberSpec(sampler="none", learner="rf", seed=2).name == "none:rf#2"


def test_a_spec_survives_a_round_trip_through_its_dump():
    spec = MemberSpec(sampler="smote", learner="hgb", sampling_strategy=0.5, sampler_params={"k_neighbors": 3},
                      augment={"method": "mixup", "ratio": 0.7}, learner_params={"max_iter": 30}, seed=1)

    assert MemberSpec.model_validate(spec.model_dump()) == spec


def test_class_weight_member_weights_the_learner_and_adds_no_sampler():
    _, _, schema = table_with_row_ids([20, 5])

    pipeline = build_member(MemberSpec(sampler="class_weight", learner="logreg", sampling_strategy=0.5), schema,
                            {0: 20, 1: 5})

    steps = dict(pipeline.steps)
    assert list(steps) == ["prepare", "resample", "augment", "encode", "learn"]
    assert steps["resample"] is None and steps["augment"] is None
    assert isinstance(steps["learn"], LogisticRegression)
    assert steps["learn"].class_weight == class_weights({0: 20, 1: 5}, 0.5) == {0: 1.0, 1: 2.0}
    assert isinstance(steps["encode"], LinearPrep) and steps["encode"].get_params() == {"n_numeric": 2, "sizes": [4]}


@pytest.mark.parametrize("sampler,counts,per_tree,leaf", [
    ("random_under", {0: 131_095, 1: 118_905}, 0.5, 5),  # the 10M-row table's under-sampled forest: half its rows
    ("random_under", {0: 788_123, 1: 11_877}, None, 1),  # 1M rows: 23,754 rows after under-sampling, left alone
    ("none", {0: 230_000, 1: 20_000}, 120_000 / 250_000, 5),  # at most 120k rows a tree
    ("random_over", {0: 100_000, 1: 5_000}, 0.5, 5),  # counted after over-sampling
    ("none", {0: 78_771, 1: 1_229}, 0.5, 1),  # the 100k-row table's plain forest
    ("none", {0: 40_000, 1: 5_000}, 30_000 / 45_000, 1),  # at least 30k rows a tree
    ("class_weight", {0: 29_000, 1: 1_000}, None, 1),  # 30k rows: every row
])
def test_a_forest_grows_each_tree_on_half_its_rows_from_30k_to_120k_with_leaves_of_5_above_120k(sampler, counts,
                                                                                                 per_tree, leaf):
    _, _, schema = table_with_row_ids([20, 5])

    forest = dict(build_member(MemberSpec(sampler=sampler, learner="rf"), schema, counts).steps)["learn"]
    mine = dict(build_member(MemberSpec(sampler=sampler, learner="rf", learner_params={
        "max_samples": None, "min_samples_leaf": 2}), schema, counts).steps)["learn"]
    unbagged = dict(build_member(MemberSpec(sampler=sampler, learner="rf", learner_params={"bootstrap": False}),
                                 schema, counts).steps)["learn"]

    assert forest.max_samples == (pytest.approx(per_tree, rel=1e-5) if per_tree else None)
    assert forest.min_samples_leaf == leaf
    assert (mine.max_samples, mine.min_samples_leaf) == (None, 2)  # a member's own parameters win
    assert unbagged.max_samples is None  # every tree sees every row: nothing to sample


def test_smote_member_on_mixed_features_uses_smote_nc_sized_by_the_ratio():
    _, _, schema = table_with_row_ids([20, 5])

    pipeline = build_member(MemberSpec(sampler="smote", learner="hgb", sampling_strategy=0.5), schema,
                            {0: 20, 1: 5}, random_state=3)

    steps = dict(pipeline.steps)
    assert isinstance(steps["resample"], over_sampling.SMOTENC)
    assert steps["resample"].categorical_features == [2]  # row_id, num, then colour
    assert steps["resample"].sampling_strategy == over_targets({0: 20, 1: 5}, 0.5) == {0: 20, 1: 10}
    assert steps["resample"].random_state == 3
    assert steps["encode"] == "passthrough"
    assert isinstance(steps["learn"], HistGradientBoostingClassifier)
    assert steps["learn"].categorical_features == [2]
    assert steps["learn"].class_weight is None


def test_under_sampling_member_with_augmentation_and_seed_offset():
    _, _, schema = table_with_row_ids([20, 5])
    spec = MemberSpec(sampler="random_under", learner="rf", sampling_strategy=0.5,
                      augment={"method": "jitter", "ratio": 1.0}, learner_params={"n_estimators": 20}, seed=2)

    steps = dict(build_member(spec, schema, {0: 20, 1: 5}, random_state=10, threads=2).steps)

    assert isinstance(steps["resample"], under_sampling.RandomUnderSampler)
    assert steps["resample"].sampling_strategy == under_targets({0: 20, 1: 5}, 0.5) == {0: 10, 1: 5}
    assert isinstance(steps["augment"], TabularAugmenter)
    assert (steps["augment"].categorical_features, steps["augment"].random_state) == ([2], 12)
    assert isinstance(steps["learn"], RandomForestClassifier)
    assert (steps["learn"].n_estimators, steps["learn"].random_state) == (20, 12)
    assert steps["learn"].n_jobs == cores_module.available_cores()  # a forest's idle threads sleep: every core


def test_encode_labels_gives_positions_in_the_schema_classes():
    _, _, schema = table_with_row_ids([3, 3, 3])

    assert schema.classes == ["maybe", "no", "yes"]
    assert encode_labels(["yes", "no", "maybe", "yes"], schema).tolist() == [2, 1, 0, 2]


@pytest.mark.parametrize("dtype", [object, "str", "category"])
def test_encode_labels_reads_each_kind_of_text_column_and_refuses_a_missing_or_unknown_label(dtype):
    _, _, schema = table_with_row_ids([3, 3, 3])
    labels = pd.Series(["yes", "no", "maybe", "yes"], dtype=dtype)

    assert encode_labels(labels, schema).tolist() == [2, 1, 0, 2]
    for bad, named in ((["yes", None], ("nan", "none")), (["yes", "perhaps"], ("perhaps",))):
        with pytest.raises(InputError, match="labels must be among the schema's classes") as caught:
            encode_labels(pd.Series(bad, dtype=dtype), schema)
        assert any(name in caught.value.value.lower() for name in named)


def test_fit_member_learns_class_codes_and_drops_its_samplers():
    X, y, schema = table_with_row_ids([30, 10])
    spec = MemberSpec(sampler="smote", learner="hgb", augment={"method": "mixup"}, learner_params={"max_iter": 20})

    pipeline, seconds = fit_member(spec, X, y, schema)

    steps = dict(pipeline.steps)
    assert steps["resample"] is None and steps["augment"] is None
    assert pipeline.classes_.tolist() == [0, 1]
    assert set(pipeline.predict(X).tolist()) <= {0, 1}
    assert pipeline.predict_proba(X).shape == (40, 2)
    assert seconds >= 0


@pytest.mark.parametrize("text, targets", [  # class codes 0, 1, 2 of 12, 30 and 8 rows
    ("random_over@0.5:logreg", {0: 15, 1: 30, 2: 15}),  # the smaller classes up to half the largest
    ("random_under@0.5:logreg", {0: 12, 1: 16, 2: 8}),  # the larger ones down to twice the smallest
    ("random_over+jitter:logreg", {0: 30, 1: 30, 2: 30}),
])
def test_fit_member_resamples_to_the_spec_ratio(text, targets):
    X, y, schema = table_with_row_ids([30, 8, 12])
    seen = []

    def counting(step, sampler, rows, labels):
        rows, labels = sampler.fit_resample(rows, labels)
        seen.append(dict(Counter(labels.tolist())))
        return rows, labels

    fit_member(MemberSpec.parse(text), X, y, schema, watch=counting)

    assert dict(Counter(encode_labels(y, schema).tolist())) == {0: 12, 1: 30, 2: 8}
    assert seen[0] == targets
    assert seen[-1] == targets  # jitter's default ratio of 0.5 asks for nothing more


@settings(max_examples=25, deadline=None)
@given(
    counts=st.lists(st.integers(6, 30), min_size=2, max_size=3),
    text=st.sampled_from(["random_over+jitter:logreg", "random_under+jitter:logreg", "random_over@0.5+mixup:logreg",
                          "class_weight+jitter:logreg", "tomek+mixup:logreg"]),
    seed=st.integers(0, 1000),
)
def test_fit_member_resamples_and_augments_only_training_rows(counts, text, seed):
    X, y, schema = table_with_row_ids(counts, seed)
    train, validation, test = stratified_indices(y.to_numpy(), [0.2, 0.2], random_state=seed)
    received = {"resample": [], "augment": []}

    def record(step, sampler, rows, labels):
        received[step].append(rows[:, 0].copy())  # row_id comes first after preparation
        return sampler.fit_resample(rows, labels)

    fit_member(MemberSpec.parse(text), X.iloc[train], y.iloc[train], schema, random_state=seed, watch=record)

    held_out = set(validation.tolist()) | set(test.tolist())
    for ids in received["resample"]:
        assert sorted(ids.tolist()) == train.tolist()  # every training row once, nothing else
    for ids in received["augment"]:
        assert set(ids.tolist()) <= set(train.tolist()) and not set(ids.tolist()) & held_out
    assert received["augment"], "every spec here augments"


@pytest.mark.parametrize("cores, n_members, max_concurrency, expected", [
    (8, 3, None, (3, 2)),
    (8, 20, None, (8, 1)),
    (8, 5, 2, (2, 4)),
    (2, 5, None, (2, 1)),
    (1, 5, 4, (1, 1)),
])
def test_plan_concurrency_never_oversubscribes_the_cores(monkeypatch, cores, n_members, max_concurrency, expected):
    monkeypatch.setattr(cores_module, "available_cores", lambda: cores)

    workers, threads = plan_concurrency(n_members, max_concurrency)

    assert (workers, threads) == expected
    assert workers * threads <= cores


def test_hgb_bins_a_categorical_feature_with_more_than_255_categories_as_codes():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"zip": [f"z{i}" for i in rng.integers(0, 400, 2000)], "colour": rng.choice(["r", "g"], 2000),
                      "x": rng.normal(size=2000)})
    y = pd.Series(np.where(rng.random(2000) < 0.1, "yes", "no"))
    schema = infer_schema(X, y)
    pipeline, _ = fit_member(MemberSpec.parse("class_weight:hgb"), coerce(X, schema), y, schema)

    learner = pipeline.named_steps["learn"]
    assert learner.is_categorical_.tolist() == [False, False, True]  # x, zip (400 codes), colour
    assert pipeline.predict_proba(coerce(X.head(3), schema)).shape == (3, 2)


def test_preparation_imputes_medians_and_codes_categories_as_an_ordinal_encoder_would():
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import OrdinalEncoder

    from imbalance_flows.tasks.model.prepare import TablePrep

    rng = np.random.default_rng(3)
    train = pd.DataFrame({"a": rng.normal(size=50), "b": rng.integers(0, 9, 50).astype(float),
                          "c": rng.choice(["x", "y", "(missing)"], 50).astype(object)})
    train.loc[::7, "a"] = np.nan
    score = pd.DataFrame({"a": [np.nan, 1.0], "b": [np.nan, 2.0], "c": ["z", "y"]}).astype({"c": object})
    known = [["(missing)", "x", "y"]]
    reference = ColumnTransformer([
        ("numeric", SimpleImputer(strategy="median"), ["a", "b"]),
        ("categorical", OrdinalEncoder(categories=known, handle_unknown="use_encoded_value", unknown_value=-1),
         ["c"])]).fit(train)

    prep = TablePrep(numeric=["a", "b"], categorical=["c"], categories=known).fit(train)

    np.testing.assert_array_equal(prep.transform(train), reference.transform(train))
    np.testing.assert_array_equal(prep.transform(score), reference.transform(score))  # "z" is unknown: -1
    assert prep.transform(score)[0, 2] == -1



@pytest.mark.parametrize("categories", [3, 40])  # dense, then sparse (most of it zeros)
def test_linear_preparation_scales_and_one_hot_codes_as_scaler_and_encoder_would(categories):
    from scipy import sparse
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    rng = np.random.default_rng(4)
    train = np.column_stack([rng.normal(3, 2, 60), np.full(60, 7.0), rng.integers(0, categories, 60),
                             rng.integers(0, 2, 60)]).astype(float)
    train[:, 2][train[:, 2] == 1] = 0  # code 1 is known but absent from the training rows
    score = np.array([[1.0, 7.0, 1, 1], [0.0, 7.0, -1, 0]])  # code 1 unseen in training, -1 unknown
    known = [list(range(categories)), [0, 1]]
    reference = ColumnTransformer([
        ("numeric", StandardScaler(), [0, 1]),
        ("categorical", OneHotEncoder(categories=known, handle_unknown="ignore"), [2, 3])]).fit(train)

    prep = LinearPrep(n_numeric=2, sizes=[categories, 2]).fit(train)

    for rows in (train, score):
        ours, theirs = prep.transform(rows), reference.transform(rows)
        assert sparse.issparse(ours) == sparse.issparse(theirs) == (categories == 40)
        np.testing.assert_allclose(sparse.csr_matrix(ours).toarray(), sparse.csr_matrix(theirs).toarray())
    assert prep.scale_[1] == 1.0  # a constant column is only centred


@pytest.mark.parametrize("categories, dense", [(40, True), (200, False)])  # Newton steps, then too wide for them
def test_linear_preparation_fitted_with_labels_stays_dense_where_the_member_takes_newton_steps(categories, dense):
    from scipy import sparse

    from imbalance_flows.tasks.model.prepare import DENSE_WIDTH

    rng = np.random.default_rng(5)
    rows = np.column_stack([rng.normal(size=3000), rng.integers(0, categories, 3000)]).astype(float)
    labels = rng.integers(0, 2, 3000)

    prep = LinearPrep(n_numeric=1, sizes=[categories]).fit(rows, labels)

    assert (1 + categories <= DENSE_WIDTH) == dense
    assert sparse.issparse(prep.transform(rows)) != dense
    assert sparse.issparse(LinearPrep(n_numeric=1, sizes=[categories]).fit(rows).transform(rows))  # by density


def test_preparation_imputes_zero_for_a_feature_with_no_value_in_its_rows():
    from imbalance_flows.tasks.model.prepare import TablePrep

    rows = pd.DataFrame({"a": [np.nan, np.nan], "b": [1.0, 3.0]})

    prep = TablePrep(numeric=["a", "b"]).fit(rows)

    np.testing.assert_array_equal(prep.transform(rows), [[0.0, 1.0], [0.0, 3.0]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rows", [1, 2, 1001, 1002])
def test_preparation_medians_are_numpys_float64_medians_of_the_values_present(dtype, rows):
    """The medians saved models impute: `np.median` of each feature's values as float64, missing ones left out,
    whether the features come as float32 (partitioned as they are) or float64."""
    from imbalance_flows.tasks.model.prepare import TablePrep

    rng = np.random.default_rng(rows)
    values = rng.normal(size=(rows, 4)).astype(dtype)
    values[::3, 1] = np.nan  # some missing (all of them in a one-row table)
    values[:, 2] = np.nan  # none present
    values[rows // 2, 3] = np.inf
    frame = pd.DataFrame(values, columns=list("abcd"))

    prep = TablePrep(numeric=list("abcd")).fit(frame)

    wide = values.astype(float)
    expected = [np.median(wide[~np.isnan(wide[:, i]), i]) if (~np.isnan(wide[:, i])).any() else 0.0
                for i in range(4)]
    np.testing.assert_array_equal(prep.medians_, expected)
    assert prep.medians_.dtype == np.float64


@pytest.mark.parametrize("features, classes, solver", [(3, 2, "newton-cholesky"), (300, 2, "lbfgs"),
                                                       (20, 4, "newton-cholesky"), (20, 12, "lbfgs")])
def test_linear_member_uses_newton_steps_only_for_a_small_hessian_and_many_rows(features, classes, solver):
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(2400, features)), columns=[f"f{i}" for i in range(features)])
    y = pd.Series(np.arange(2400) % classes, name="label").astype(str)
    schema = infer_schema(X, y, target="label")

    pipeline = build_member(MemberSpec(sampler="class_weight", learner="logreg"), schema,
                            {code: 2400 // classes for code in range(classes)})

    assert pipeline.named_steps["learn"].solver == solver


def test_a_small_forest_grows_in_one_thread_and_is_saved_with_every_core():
    X, y, schema = table_with_row_ids([60, 20])  # 80 rows × 3 features: far below SMALL_FOREST_WORK
    seen = {}
    original = RandomForest.fit

    def spy(self, *args, **kwargs):
        seen["n_jobs"] = self.n_jobs
        return original(self, *args, **kwargs)

    RandomForest.fit = spy
    try:
        pipeline, _ = fit_member(MemberSpec(sampler="none", learner="rf"), X, y, schema)
    finally:
        RandomForest.fit = original

    assert seen["n_jobs"] == 1
    assert pipeline.named_steps["learn"].n_jobs == cores_module.available_cores()


def test_a_members_estimated_work_counts_its_rows_after_sampling_and_each_cross_fitted_fit():
    counts = {0: 90_000, 1: 1_000}
    logreg, forest = MemberSpec(sampler="class_weight", learner="logreg"), MemberSpec(sampler="none", learner="rf")
    plain, under = MemberSpec(sampler="none", learner="hgb"), MemberSpec(sampler="random_under", learner="hgb")

    assert train_module.member_work(logreg, counts, 30, folds=5) == pytest.approx(
        6 * train_module.member_work(logreg, counts, 30))  # five folds and the final fit
    assert train_module.member_work(forest, counts, 30, folds=5) == train_module.member_work(forest, counts, 30)
    assert train_module.member_work(under, counts, 30) < train_module.member_work(plain, counts, 30) / 4  # 2,000 rows
    assert train_module.member_work(plain, counts, 60) > train_module.member_work(plain, counts, 30)


def test_members_start_costliest_first():
    from concurrent.futures import Future

    specs = [MemberSpec(sampler="class_weight", learner="logreg"), MemberSpec(sampler="none", learner="hgb"),
             MemberSpec(sampler="random_under", learner="hgb")]
    started = []

    def submit(spec, threads):
        started.append(spec)
        future = Future()
        future.set_result(spec.name)
        return future

    results = train_module.run_members(specs, submit, works=[0.5, 9.0, 2.0], n_jobs=1)

    assert started == [specs[1], specs[2], specs[0]]
    assert results == [spec.name for spec in specs]  # in the members' order


def test_members_of_unequal_work_fit_one_after_another_with_every_core():
    plain, under = MemberSpec(sampler="none", learner="hgb"), MemberSpec(sampler="random_under", learner="hgb")
    forest = MemberSpec(sampler="none", learner="rf")

    # 1M rows: the plain member fits on ten times the rows: alone on one core it would end the run alone.
    assert train_module.plan_members([plain, under], [5.0, 0.5], -1, cores=2) == (1, 2)
    # Equal work that threads divide only in part: side by side, one thread each.
    assert train_module.plan_members([plain, plain], [5.0, 5.0], -1, cores=2) == (2, 1)
    # A forest takes every core whatever it is given: beside it, a member only shares them.
    assert (train_module.makespan([forest, plain], [5.0, 5.0], 2, 1, 2)
            > train_module.makespan([plain, plain], [5.0, 5.0], 2, 1, 2))
    # At most what n_jobs allows, and never more threads than cores.
    assert train_module.plan_members([plain, plain, plain], [1.0, 1.0, 1.0], 1, cores=8) == (1, 8)
    workers, threads = train_module.plan_members([plain] * 3, [1.0, 2.0, 3.0], -1, cores=8)
    assert workers * threads <= 8


def test_members_on_few_training_rows_fit_one_after_another_in_the_estimator_as_in_the_flow(monkeypatch):
    from imbalance_flows import default_ensemble
    from imbalance_flows.tasks.model import plan as plan_module
    from imbalance_flows.tasks.model.plan import plan_fit

    def plan(rows: int, features: int):
        X = pd.DataFrame(np.zeros((rows, features)), columns=[f"x{i}" for i in range(features)])
        y = pd.Series(np.arange(rows) % 10 == 0)
        schema = infer_schema(X, y)
        return plan_fit(None, schema, encode_labels(y, schema), seed=0, validation="out_of_fold", folds=5)

    # The one-thread rule of a forest on every training row: rows × √features below 4,500.
    assert plan(1_000, 16).one_at_a_time and plan(1_124, 16).one_at_a_time  # 4,496
    assert not plan(1_125, 16).one_at_a_time and not plan(10_000, 3).one_at_a_time  # 4,500; 17,321
    specs, works = plan(1_000, 16).specs, plan(1_000, 16).works()
    assert train_module.plan_members(specs, works, -1, cores=2, one_at_a_time=True) == (1, 2)
    assert train_module.plan_members(specs, works, -1, cores=2)[0] == 2  # their estimated work alone: side by side

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(600, 5)), columns=list("abcde"))
    y = pd.Series(np.where(X["a"] + rng.normal(size=600) > 1.2, "rare", "common"))
    running, most = [0], [0]
    original = train_module.fit_out_of_fold

    def counted(*args, **kwargs):
        running[0] += 1
        most[0] = max(most[0], running[0])
        try:
            return original(*args, **kwargs)
        finally:
            running[0] -= 1

    monkeypatch.setattr(plan_module, "fit_out_of_fold", counted)
    default_ensemble(random_state=0, n_jobs=-1).fit(X, y)
    assert most[0] == 1  # 600 rows × √5: one member at a time, though n_jobs=-1 allows two


def test_mixed_category_values_keep_their_own_text():
    X = pd.DataFrame({"c": pd.Series([1, 1.0, "a", True, None, "a"], dtype=object)})

    schema = infer_schema(X, pd.Series([0, 1, 0, 1, 0, 1]))

    assert schema.columns[0].categories == ["1", "1.0", "True", "a"]
    assert coerce(X, schema)["c"].tolist() == ["1", "1.0", "a", "True", "(missing)", "a"]


def test_linear_preparation_keeps_the_output_type_of_its_training_rows_and_refuses_bad_codes():
    from scipy import sparse

    prep = LinearPrep(n_numeric=1, sizes=[3]).fit(np.array([[0.0, 0], [1.0, 1], [2.0, 2], [3.0, 0]]))

    assert not sparse.issparse(prep.transform(np.array([[1.0, -1], [2.0, -1]])))  # unknown rows: still dense
    for codes in ([[1.0, 3]], [[1.0, 0.5]], [[1.0, np.nan]], [[1.0, -2]]):
        with pytest.raises(ValueError, match="category codes must be whole numbers"):
            prep.transform(np.array(codes))
    with pytest.raises(ValueError, match="expects 2 columns"):
        prep.transform(np.array([[1.0]]))


def test_linear_preparation_only_centres_a_column_constant_up_to_rounding():
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(5)
    rows = np.column_stack([0.3 + rng.normal(0, 1e-14, 1000), rng.normal(0, 1e-17, 1000)])

    prep = LinearPrep(n_numeric=2).fit(rows)

    np.testing.assert_allclose(prep.transform(rows), StandardScaler().fit_transform(rows), atol=1e-12)


KERAS_LEARNERS = [name for name, learner in LEARNERS.items() if learner.extra == "keras"]
TABLE_LEARNERS = [name for name, learner in LEARNERS.items() if not learner.images and learner.extra != "keras"]
IMAGE_LEARNERS = [name for name, learner in LEARNERS.items() if learner.images]


def test_learner_names_work_and_summaries_come_from_the_registry(capsys):
    from imbalance_flows.cli import main

    assert MemberSpec.model_json_schema()["properties"]["learner"]["enum"] == list(LEARNERS)
    for name, learner in LEARNERS.items():
        assert learner.name == name and learner.summary and learner.encoding in ENCODINGS
        assert learner.work.fixed >= 0 and learner.work.per_100k_rows > 0 and 0 <= learner.work.parallel <= 1
        assert learner.estimator is not None  # whose parameters a spec's learner_params are checked against
        assert not learner.images or learner.encoding == "images"
        assert name in MemberSpec.model_fields["learner"].description
    assert main(["strategies"]) == 0
    printed = capsys.readouterr().out
    assert all(f"{name:<18} {learner.summary}" in printed for name, learner in LEARNERS.items())
    assert "gan (tables and images: rows drawn from a conditional generative model" in printed
    assert all(f"  {name:<18} " in printed for name in ("model", "steps", "learning_rate"))  # gan's parameters


@pytest.mark.parametrize("name", TABLE_LEARNERS)
def test_every_table_learner_builds_and_fits_a_member(name):
    X, y, schema = table_with_row_ids([30, 10])
    spec = MemberSpec(sampler="class_weight", learner=name)

    pipeline, _ = fit_member(spec, X, y, schema, random_state=4)

    learner = pipeline.named_steps["learn"]
    assert learner.random_state == 4 and learner.class_weight == class_weights({0: 30, 1: 10}, 1.0)
    assert (pipeline.named_steps["encode"] == "passthrough") == (LEARNERS[name].encoding == "codes")
    assert pipeline.predict_proba(X).shape == (40, 2)


@pytest.mark.parametrize("name", KERAS_LEARNERS)
def test_every_keras_learner_builds_its_own_estimator_without_fitting(name):
    X, _, schema = table_with_row_ids([30, 10])
    if LEARNERS[name].images:
        pixels = pd.DataFrame(np.zeros((40, 16)), columns=[f"p{i}" for i in range(16)])
        schema = infer_schema(pixels, pd.Series(np.repeat(["no", "yes"], [30, 10]))).model_copy(
            update={"image": ImageInfo(height=4, width=4, channels=1)})

    pipeline = build_member(MemberSpec(sampler="class_weight", learner=name), schema, {0: 30, 1: 10},
                            random_state=2, threads=3)

    learner = pipeline.named_steps["learn"]
    assert type(learner) is load_estimator(LEARNERS[name].estimator)
    assert (learner.random_state, learner.threads, learner.class_weight) == (2, 3, {0: 1.0, 1: 3.0})
    if LEARNERS[name].images:
        assert learner.image_shape == (4, 4, 1) and pipeline.named_steps["encode"] == "passthrough"
    else:
        assert pipeline.named_steps["encode"].transformers[1][2] == [2]  # colour one-hot, numbers as they are


@pytest.mark.parametrize("name", IMAGE_LEARNERS)
def test_every_image_learner_refuses_a_table(name):
    _, _, schema = table_with_row_ids([30, 10])

    with pytest.raises(InputError, match=f"{name} needs image data: member none:{name} trains on a table"):
        build_member(MemberSpec(sampler="none", learner=name), schema, {0: 30, 1: 10})


def test_a_keras_learner_refuses_an_unknown_parameter_when_the_spec_is_read():
    with pytest.raises(ValueError, match="the learner parameters of keras_mlp must be among .*got \\['bogus'\\]"):
        MemberSpec(learner="keras_mlp", learner_params={"bogus": 1})


@pytest.mark.parametrize("spec, message", [
    ({"learner": "rf", "learner_params": {"n_estimator": 50}},
     r"the learner parameters of rf must be among \[.*'n_estimators'.*\]: got \['n_estimator'\]\. "
     r"Did you mean 'n_estimators'\?"),
    ({"learner": "hgb", "learner_params": {"class_weight": "balanced"}},  # the member sets it: use class_weight
     r"the learner parameters of hgb must be among .*: got \['class_weight'\]"),
    ({"sampler": "smote", "sampler_params": {"k_neighbour": 3}},
     r"the parameters of 'smote' must be among \['k_neighbors'\]: got \['k_neighbour'\]\. Did you mean "
     r"'k_neighbors'\?"),
    ({"learner": "logreg", "learner_param": {"C": 1}}, r"learner_param\s+Extra inputs are not permitted"),
])
def test_misspelt_parameters_are_refused_when_the_spec_is_read(spec, message):
    with pytest.raises(ValueError, match=message):
        MemberSpec.model_validate(spec)


def test_real_parameters_of_every_table_learner_are_accepted():
    for name, params in (("rf", {"n_estimators": 5, "max_depth": 3}), ("hgb", {"max_iter": 5}),
                         ("logreg", {"C": 0.5}), ("keras_mlp", {"epochs": 2})):
        assert MemberSpec(learner=name, learner_params=params).learner_params == params


@pytest.mark.parametrize("max_bins, native", [(3, None), (4, [2])])  # colour: 3 colours and "(missing)"
def test_hgb_treats_a_category_natively_only_within_max_bins(max_bins, native):
    _, _, schema = table_with_row_ids([30, 10])

    pipeline = build_member(MemberSpec(learner="hgb", learner_params={"max_bins": max_bins}), schema,
                            {0: 30, 1: 10})

    assert pipeline.named_steps["learn"].categorical_features == native


def test_a_keras_member_without_tensorflow_names_the_extra_to_install(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorflow" else real(name, *a))
    with pytest.raises(ValueError, match=r"the keras_mlp learner needs the `keras` extra: member "
                                         r"class_weight:keras_mlp asks for it and tensorflow is not installed\. "
                                         r"Install it with pip install 'imbalance-flows\[keras\]'"):
        MemberSpec.parse("class_weight:keras_mlp")
    with pytest.raises(ValueError, match=r"image augmentation and \+gan need TensorFlow \(the `keras` extra\)"):
        MemberSpec.parse("none+gan:rf")
    assert MemberSpec.parse("class_weight:rf").learner == "rf"  # scikit-learn members need no TensorFlow


def test_named_recipes_list_valid_members_and_the_default_is_one_of_them():
    from imbalance_flows.tasks.model.spec import (
        RECIPES,
        default_members,
        recipe_members,
    )

    assert [m.name for m in recipe_members("default")] == [m.name for m in default_members()]
    plain_over_under = recipe_members("plain-over-under")
    kinds = {STRATEGIES[m.sampler].kind for m in plain_over_under}
    assert {"none", "over", "under"} <= kinds  # the data seen plain, over-sampled and under-sampled
    for name in RECIPES:
        assert recipe_members(name)
    with pytest.raises(InputError, match="the recipe must be a known one: got 'x'"):
        recipe_members("x")


def test_a_member_whose_sampler_cannot_scale_is_refused_before_training():
    import argparse

    import pandas as pd

    from imbalance_flows.flows.config import TrainConfig
    from imbalance_flows.flows.options import add_options, train_config
    from imbalance_flows.tasks.model.members import check_member

    frame = pd.DataFrame(np.random.default_rng(0).normal(size=(40, 30)), columns=[f"x{i}" for i in range(30)])
    schema = infer_schema(frame, pd.Series(["a", "b"] * 20))
    big = {0: 2_000_000, 1: 20_000}
    # Above the size rule's threshold a member resamples its class-capped sample of 250,000 rows, not every row.
    with pytest.raises(InputError, match=r"smote_tomek on 250,000 training rows \(the size rule's sample of "
                                         r"2,020,000\) of 30 features: about"):
        check_member(MemberSpec.parse("smote_tomek:hgb"), schema, big)
    assert check_member(MemberSpec.parse("smote_tomek:hgb"), schema, big, allow_slow=True) > 300
    with pytest.raises(InputError, match=r"tomek on 250,000 training rows \(the size rule's sample"):
        check_member(MemberSpec.parse("tomek:hgb"), schema, big)  # about 7 minutes on the sample, as measured
    assert check_member(MemberSpec.parse("near_miss:hgb"), schema, big) is None
    with pytest.raises(InputError, match="tomek on 2,020,000 training rows of 30 features: about"):
        check_member(MemberSpec.parse("tomek:keras_mlp"), schema, big)  # Keras members fit on every row
    assert check_member(MemberSpec.parse("random_under:hgb"), schema, big) is None
    assert check_member(MemberSpec.parse("tomek:hgb"), schema, {0: 2000, 1: 20}) is None
    parser = argparse.ArgumentParser()
    add_options("train", parser)
    args = parser.parse_args(["data.csv", "--target", "y", "--allow-slow-samplers"])
    assert train_config(args).allow_slow_samplers and not TrainConfig(data="d.csv", target="y").allow_slow_samplers


def test_the_training_flows_parameters_take_a_named_recipe_as_the_ui_form_offers_it():
    from pydantic import ValidationError

    from imbalance_flows.flows.config import TrainConfig
    from imbalance_flows.tasks.model.spec import (
        RECIPES,
        default_members,
        recipe_members,
    )

    config = TrainConfig(data="d.csv", target="y", recipe="plain-over-under")
    assert config.members == recipe_members("plain-over-under")
    assert TrainConfig.model_validate(config.model_dump(mode="json")) == config  # a saved run's parameters
    assert TrainConfig.model_json_schema()["properties"]["recipe"]["enum"] == list(RECIPES)  # the form's dropdown
    form = TrainConfig(data="d.csv", target="y", recipe="plain-over-under", members=default_members())
    assert form.members == recipe_members("plain-over-under")  # the form's default members give way
    with pytest.raises(ValidationError, match="recipe and members are two ways to name the members"):
        TrainConfig(data="d.csv", target="y", recipe="default", members=[MemberSpec.parse("smote:hgb")])
    with pytest.raises(ValidationError, match="recipe"):
        TrainConfig(data="d.csv", target="y", recipe="balanced")


def test_the_run_form_shows_one_field_for_each_parameter_and_accepts_what_the_flows_send():
    import jsonschema
    from prefect.utilities.callables import parameter_schema

    from imbalance_flows.flows.config import TrainConfig
    from imbalance_flows.flows.train import train

    schema = parameter_schema(train.fn).model_dump()
    member = schema["definitions"]["MemberSpec"]["properties"]
    assert member["sampling_strategy"]["type"] == "number" and "anyOf" not in member["sampling_strategy"]
    assert member["augment"] == {**member["augment"], "$ref": "#/definitions/AugmentSpec"}
    costs = schema["definitions"]["TrainConfig"]["properties"]["costs"]
    assert costs["type"] == "object" and set(costs["properties"]) == {"fn", "fp", "matrix"}

    # What the form sends untouched (empty objects, no ratio) means what it meant before: no augment, no costs, auto.
    filled = {"ratio": 0.5, "noise": 0.1, "alpha": 0.4, "transforms": ["rotation", "translation", "zoom", "contrast"],
              "factor": 0.1, "model": "vae", "steps": 1000, "learning_rate": 0.001}  # the form's defaults, no method
    untouched = TrainConfig(data="d.csv", target="y", costs={}, members=[{"sampler": "smote", "augment": {}},
                                                                         {"sampler": "none", "augment": filled}])
    assert untouched.costs is None and untouched.members[0].augment is untouched.members[1].augment is None
    with pytest.raises(ValueError, match="augment.method"):  # a field changed, no method chosen: said, not ignored
        MemberSpec(sampler="none", augment={**filled, "ratio": 1.0})
    assert untouched.members[0].sampling_strategy == "auto"
    matrix = TrainConfig(data="d.csv", target="y", costs={"matrix": [[0, 1, 2], [5, 0, 1], [9, 3, 0]]})
    assert matrix.costs == [[0, 1, 2], [5, 0, 1], [9, 3, 0]]
    with pytest.raises(ValueError, match=r"costs are fn and fp, or a matrix.*both were given"):
        TrainConfig(data="d.csv", target="y", costs={"fn": 1, "fp": 1, "matrix": [[0, 1], [1, 0]]})

    # Every run's parameters as a deployment, a retrain or the command line dumps them pass the server's check
    # against the form's schema, and read back the same.
    for config in (untouched, matrix, TrainConfig(data="d.csv", target="y", costs={"fn": 10, "fp": 1}, members=[
            {"sampler": "smote", "sampling_strategy": 0.5, "augment": {"method": "mixup"}}])):
        sent = config.model_dump(mode="json", exclude_none=True)
        jsonschema.validate({"config": sent}, schema)
        assert TrainConfig.model_validate(sent) == config


@pytest.mark.parametrize("sampler, counts, big", [
    ("none", {0: 790_000, 1: 10_000}, True),  # the large recipe's plain member: built for the whole split
    ("random_under", {0: 240_000, 1: 10_000}, False),  # 20,000 rows after under-sampling
    ("random_under", {0: 154_000, 1: 96_000}, True),  # 192,000 rows after under-sampling
    ("class_weight", {0: 62_000, 1: 2_000}, False),  # a medium split's holdout training part
])
def test_boosting_grows_larger_trees_on_150k_rows_or_more_and_a_members_own_parameters_win(sampler, counts, big):
    from imbalance_flows.tasks.learners.registry import BIG_TREES

    _, _, schema = table_with_row_ids([20, 5])

    learner = dict(build_member(MemberSpec(sampler=sampler, learner="hgb"), schema, counts).steps)["learn"]
    mine = dict(build_member(MemberSpec(sampler=sampler, learner="hgb", learner_params={"max_leaf_nodes": 15}),
                             schema, counts).steps)["learn"]

    sizes = {name: getattr(learner, name) for name in BIG_TREES}
    assert sizes == (BIG_TREES if big else {"max_leaf_nodes": 31, "min_samples_leaf": 20, "max_iter": 100})
    assert mine.max_leaf_nodes == 15


def test_on_own_thread_returns_the_result_and_raises_the_error_of_its_work():
    import threading

    assert cores_module.on_own_thread(lambda: threading.current_thread().name) == "own-thread"
    with pytest.raises(InputError, match="broken"):
        cores_module.on_own_thread(lambda: (_ for _ in ()).throw(InputError("broken", "x", "y")))


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity") or cores_module.available_cores() < 2,
                    reason="OpenMP keeps no worker threads with one core; thread counts are read from /proc")
def test_scoring_and_fitting_leave_no_openmp_threads_behind_in_the_calling_thread():
    # OpenMP keeps a team of worker threads for each thread that runs parallel work, while that thread lives; teams
    # of more threads than cores slow every later fit (see tasks/cores.py: on_own_thread). Counted in a process of
    # its own: other tests' threads come and go in this one.
    script = """
import os
import time
import numpy as np, pandas as pd
from imbalance_flows.tasks.data.schema import coerce, infer_schema
from imbalance_flows.tasks.model.fitting import fit_member, member_proba
from imbalance_flows.tasks.model.spec import MemberSpec

def threads():
    return len(os.listdir(f"/proc/{os.getpid()}/task"))

rng = np.random.default_rng(0)
X = pd.DataFrame(rng.normal(size=(30_000, 5)), columns=[f"x{i}" for i in range(5)])
y = pd.Series(np.where(X["x0"] + rng.normal(size=len(X)) > 1.5, "yes", "no"))
schema = infer_schema(X, y)
np.ones((300, 300)) @ np.ones((300, 300))  # BLAS's own pool, started once per process, is not OpenMP's
before = threads()
pipeline, _ = fit_member(MemberSpec.parse("none:hgb"), coerce(X, schema), y, schema, threads=2)
member_proba(pipeline, coerce(X, schema), 2)  # a large batch
member_proba(pipeline, coerce(X.head(50), schema), 2)  # a small one
# A thread that was joined may still be leaving the kernel's list for a moment on a busy machine; a team left
# behind stays: wait up to 5 s for the count to settle.
deadline = time.monotonic() + 5
while threads() != before and time.monotonic() < deadline:
    time.sleep(0.05)
print(before, threads())
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=True)
    before, after = done.stdout.split()

    assert after == before


def test_a_batch_of_few_distinct_rows_is_scored_once_per_distinct_row_with_the_same_probabilities():
    rng = np.random.default_rng(1)
    cells = pd.DataFrame({"branch": rng.choice(["army", "navy", "air"], 6_000), "grade": rng.integers(0, 4, 6_000)})
    cells.loc[::7, "branch"] = None  # missing values form rows of their own
    y = pd.Series(np.where(rng.random(len(cells)) < 0.2, "rare", "common"))
    schema = infer_schema(cells, y)
    X = coerce(cells, schema)
    pipeline, _ = fit_member(MemberSpec.parse("none:hgb"), X, y, schema)
    calls = []
    original = pipeline.predict_proba
    pipeline.predict_proba = lambda rows: calls.append(len(rows)) or original(rows)

    grouped = member_proba(pipeline, X, 2)
    one_by_one = np.vstack([original(X.iloc[start:start + 1_000]) for start in range(0, len(X), 1_000)])

    assert calls == [len(X.drop_duplicates())] == [16]  # 3 branches and missing, 4 grades
    np.testing.assert_allclose(grouped, one_by_one)
    assert distinct_rows(pd.DataFrame({"x": rng.normal(size=6_000)})) is None  # distinct rows: scored as they are


def test_an_ensemble_looks_for_copies_of_rows_once_per_batch_for_all_its_members(fitted_binary, monkeypatch):
    import imbalance_flows.tasks.model.ensemble as ensemble_module
    import imbalance_flows.tasks.model.fitting as fitting_module

    looked = []
    for module in (ensemble_module, fitting_module):
        monkeypatch.setattr(module, "distinct_rows", lambda X, original=module.distinct_rows: looked.append(len(X))
                            or original(X))
    rng = np.random.default_rng(0)
    X = pd.DataFrame({column.name: rng.normal(size=5_000) if column.kind == "numeric" else column.categories[0]
                      for column in fitted_binary.schema_.columns})  # 5,000 distinct rows

    probas = fitted_binary.member_probas(X)

    assert len(probas) == len(fitted_binary.members_) > 1
    assert looked == [5_000]


@pytest.mark.parametrize("columns", [2, 3, 5])
def test_probabilities_are_refused_exactly_where_a_row_breaks_a_rule(columns):
    rng = np.random.default_rng(columns)
    good = rng.dirichlet(np.ones(columns), size=400)
    tol = PROBABILITY_TOLERANCE
    cases = {"nan": np.nan, "inf": np.inf, "-inf": -np.inf, "below 0": -3 * tol, "above 1": 1 + 3 * tol}
    for name, value in cases.items():
        for row in (0, 199, 399):
            proba = good.copy()
            proba[row, columns - 1] = value
            with pytest.raises(InputError, match=f"for row {row} "):
                check_probabilities(proba, name)
    for shift, refused in ((0.5 * tol, False), (-0.5 * tol, False), (3 * tol, True), (-3 * tol, True)):
        proba = good.copy()
        proba[123] *= 1 + shift  # a row's sum off by `shift`, every value still from 0 to 1
        if refused:
            with pytest.raises(InputError, match="for row 123 "):
                check_probabilities(proba, "sum")
        else:
            assert check_probabilities(proba, "sum") is not None
    at_edges = good.copy()
    at_edges[7] = [1 + 0.5 * tol, *[-0.5 * tol / (columns - 1)] * (columns - 1)]  # rounding at both ends: accepted
    np.testing.assert_array_equal(check_probabilities(at_edges, "edges"), at_edges)


def test_a_training_split_is_planned_once_per_process_and_as_from_its_labels(monkeypatch, tmp_path):
    from imbalance_flows.tasks.data import tables
    from imbalance_flows.tasks.model import plan as plan_module

    rows = 400_000  # large data: the plan samples the rows members fit on and those that judge them
    frame = pd.DataFrame({"x": np.zeros(rows, dtype=np.float32), "y": np.where(np.arange(rows) % 50 == 0, "r", "c")})
    schema = infer_schema(frame[["x"]], frame["y"], "y")
    train = tables.write_table(frame, str(tmp_path), "train")
    reads = []
    read_column = tables.read_column
    monkeypatch.setattr(plan_module.tables, "read_column", lambda *a, **k: reads.append(a) or read_column(*a, **k))
    monkeypatch.setattr(plan_module, "_PLANNED", plan_module.Handovers(limit=2))

    def planned(seed, members=None):
        return plan_module.table_plan(members, train, schema, seed=seed, validation="out_of_fold", folds=5)

    first, again = planned(0), planned(0, [MemberSpec.parse("random_under:hgb")])
    expected = plan_module.plan_fit(None, schema, encode_labels(frame["y"], schema), seed=0,
                                    validation="out_of_fold", folds=5)
    assert len(reads) == 1 and first.rows.large
    for plan in (first, again):
        assert np.array_equal(plan.rows.fit, expected.rows.fit) and np.array_equal(plan.rows.judge, expected.rows.judge)
        assert np.array_equal(plan.rows.weight, expected.rows.weight) and plan.counts == expected.counts
    assert [spec.name for spec in again.specs] == ["random_under:hgb"]
    with pytest.raises(ValueError):
        first.rows.fit[0] = 1  # shared with the run's other steps: never changed in place
    other = planned(1)
    assert len(reads) == 2 and not np.array_equal(other.rows.fit, first.rows.fit)
    plan_module.forget_plans()  # a run's end
    planned(1)
    assert len(reads) == 3
