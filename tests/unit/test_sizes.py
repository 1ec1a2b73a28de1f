"""The size rule: on large training splits members fit on a class-capped sample and are judged on a stratified one."""

import warnings

import numpy as np
import pandas as pd
import pytest

from imbalance_flows import InputError, MemberSpec, VotingEnsemble
from imbalance_flows.tasks.data import tables
from imbalance_flows.tasks.data.schema import coerce, infer_schema
from imbalance_flows.tasks.errors import DataWarning
from imbalance_flows.tasks.model import sizes
from imbalance_flows.tasks.model.fitting import (
    _fit,
    _fit_view,
    copies_as_weights,
    encode_labels,
    fit_out_of_fold,
)
from imbalance_flows.tasks.model.spec import RECIPES, default_members, sized_members
from imbalance_flows.tasks.sampling import resample


@pytest.fixture
def small_limits(monkeypatch):
    """The large-data rules from 1,000 training rows: fit on 400, judge on 300 with at least 40 of the rarest."""
    monkeypatch.setattr(sizes, "LARGE_ROWS", 1_000)
    monkeypatch.setattr(sizes, "FIT_ROWS", 400)
    monkeypatch.setattr(sizes, "JUDGE_ROWS", 300)
    monkeypatch.setattr(sizes, "MIN_JUDGED", 40)


def _codes(counts):
    codes = np.concatenate([np.full(n, code) for code, n in enumerate(counts)])
    return np.random.default_rng(0).permutation(codes)


def test_small_splits_fit_and_are_judged_on_every_row():
    plan = sizes.plan_rows(_codes([900, 100]))
    assert not plan.large
    assert plan.fit_rows().tolist() == list(range(1000)) and plan.judge_rows().tolist() == list(range(1000))


@pytest.mark.parametrize("counts, total, quota", [([10, 1000], 400, 390), ([100, 200, 5000], 400, 150),
                                                   ([50, 60], 400, 60), ([300, 300], 400, 200)])
def test_the_class_quota_keeps_small_classes_whole_and_shares_the_rest(counts, total, quota):
    assert sizes.class_quota(np.array(counts), total) == quota
    assert sum(min(n, quota) for n in counts) <= total


def test_a_large_split_fits_on_a_class_capped_sample_weighted_back_to_the_class_sizes(small_limits):
    codes = _codes([60, 340, 3600])
    plan = sizes.plan_rows(codes, random_state=1)
    assert plan.large
    fit = plan.fit_rows()
    kept = np.bincount(codes[fit], minlength=3)
    judged = np.bincount(codes[plan.judge_rows()], minlength=3)
    assert judged.tolist() == [12, 68, 720]  # a fifth of each class judges (the most it may give up) ...
    assert kept.tolist() == [48, 176, 176]  # ... the rare class's other rows are all fitted on, the others capped
    assert not set(fit.tolist()) & set(plan.judge_rows().tolist())  # a member predicts its judging rows itself
    assert np.all(np.diff(fit) > 0)
    for code, total in enumerate([60, 340, 3600]):
        assert plan.weight[codes[fit] == code].sum() == pytest.approx(total)  # each class counts as in the split


def test_the_judging_sample_keeps_the_class_shares_and_enough_rare_rows(small_limits):
    codes = _codes([250, 950, 9000])
    plan = sizes.plan_rows(codes, random_state=0)
    judged = np.bincount(codes[plan.judge_rows()], minlength=3)
    assert judged[0] == 40  # grown for the rarest class: 300 rows in the shares would hold only 7 of them
    assert judged[1] / judged[2] == pytest.approx(950 / 9000, rel=0.02)
    assert not set(plan.fit_rows().tolist()) & set(plan.judge_rows().tolist())  # judged rows are never fitted on


def test_a_rare_class_gives_at_most_a_fifth_of_its_rows_to_judging(small_limits):
    codes = _codes([50, 950, 2000])  # 40 judging rows of 50 would leave 10 to fit on
    plan = sizes.plan_rows(codes, random_state=0)
    judged = np.bincount(codes[plan.judge_rows()], minlength=3)
    kept = np.bincount(codes[plan.fit_rows()], minlength=3)
    assert judged[0] == 10 and kept[0] == 40
    assert judged[1] / judged[2] == pytest.approx(950 / 2000, rel=0.02)  # the shares kept: a fifth of each
    tiny = _codes([2, 1500])
    plan = sizes.plan_rows(tiny, random_state=0)
    assert np.bincount(tiny[plan.judge_rows()])[0] == 1 and np.bincount(tiny[plan.fit_rows()])[0] == 1  # one row each


def test_with_holdout_validation_no_training_row_judges_and_every_rare_row_is_fitted(small_limits):
    codes = _codes([60, 340, 3600])
    plan = sizes.plan_rows(codes, random_state=1, judged=False)
    assert plan.judge is None and np.bincount(codes[plan.fit_rows()], minlength=3)[0] == 60
    assert np.array_equal(plan.needed(), plan.fit)  # a member reads only its fit rows


def test_out_of_fold_a_member_reads_its_fit_and_judging_rows_and_a_batch_learner_every_other_row(small_limits):
    codes = _codes([60, 340, 3600])
    plan = sizes.plan_rows(codes, random_state=2)
    fit, judge = plan.fit_rows(), plan.judge_rows()

    assert np.array_equal(plan.needed(), np.union1d(fit, judge))
    assert np.array_equal(plan.unjudged(), np.setdiff1d(np.arange(len(codes)), judge))


def test_a_large_validation_split_judges_by_a_stratified_sample_of_its_rows(small_limits):
    assert sizes.holdout_rows(_codes([100, 900])) is None  # up to LARGE_ROWS rows: every row judges
    codes = _codes([50, 950, 9000])
    rows = sizes.holdout_rows(codes, random_state=0)
    judged = np.bincount(codes[rows], minlength=3)
    assert judged[0] == 40  # grown for the rarest class, as the training rows' judging sample is
    assert judged[1] / judged[2] == pytest.approx(950 / 9000, rel=0.02)
    assert np.all(np.diff(rows) > 0)
    assert np.array_equal(rows, sizes.holdout_rows(codes, random_state=0))
    assert not np.array_equal(rows, sizes.holdout_rows(codes, random_state=1))


def test_holdout_validation_of_a_large_split_judges_the_members_on_the_sample(small_limits, monkeypatch):
    X, y = _noise(8_000, rare=0.05)
    judged = []
    combine = VotingEnsemble.combine

    def spy(self, fitted, specs, schema, X_val, y_val):
        judged.append(len(y_val))
        return combine(self, fitted, specs, schema, X_val, y_val)

    monkeypatch.setattr(VotingEnsemble, "combine", spy)
    VotingEnsemble(members=[MemberSpec.parse("class_weight:logreg")], validation="holdout",
                   validation_size=0.25, random_state=0).fit(X, y)
    assert 300 <= judged[0] < 2_000  # a sample of the 2,000 validation rows


def test_the_plan_is_the_same_for_the_same_labels_and_seed(small_limits):
    codes = _codes([100, 1900])
    first, again = sizes.plan_rows(codes, 3), sizes.plan_rows(codes, 3)
    assert np.array_equal(first.fit, again.fit) and np.array_equal(first.judge, again.judge)
    assert not np.array_equal(first.fit, sizes.plan_rows(codes, 4).fit)


def test_members_that_see_the_classes_as_they_are_are_weighted_and_resamplers_are_not(small_limits):
    codes = _codes([100, 1900])
    plan = sizes.plan_rows(codes)
    rows, counts, weights = _fit_view(MemberSpec.parse("class_weight:logreg"), codes, plan)
    assert counts == {0: 100, 1: 1900} and weights is not None and len(weights) == len(rows)
    rows, counts, weights = _fit_view(MemberSpec.parse("random_under:rf"), codes, plan)
    assert len(rows) == len(plan.fit) and counts is None and weights is None


def test_the_default_recipe_adapts_to_the_size_of_the_training_split(small_limits):
    assert [m.name for m in default_members()] == list(RECIPES["default"][1])
    assert [m.name for m in default_members(1_000)] == list(RECIPES["default"][1])
    assert [m.name for m in default_members(1_001)] == list(RECIPES["default-large"][1])
    chosen = [MemberSpec.parse("random_over:hgb")]
    assert sized_members(chosen, 5_000) == chosen  # members a user chose are kept
    assert sized_members(default_members(), 5_000) == default_members(5_000)


def _noise(n, rare=0.2, seed=0):
    """Features that say nothing about the labels: any skill on rows the members did not see is a leak."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 4)), columns=list("abcd"))
    y = pd.Series(np.where(rng.random(n) < rare, "rare", "common"))
    return X, y


@pytest.mark.parametrize("member", ["none:rf", "random_under:rf", "class_weight:logreg",
                                    '{"sampler": "none", "learner": "rf", "learner_params": {"bootstrap": false}}'])
def test_judging_rows_are_predicted_by_models_that_did_not_see_them(small_limits, member):
    # A forest without bootstrap memorises its rows: predicted in sample, the judging rows would all be right.
    # The rare class (90 rows) is kept whole but for its judging rows, which no member fits on.
    X, y = _noise(3_000, rare=0.03)
    spec = MemberSpec.model_validate_json(member) if member.startswith("{") else MemberSpec.parse(member)
    schema = infer_schema(X, y)
    plan = sizes.plan_rows(encode_labels(y, schema), 0)
    _, _, proba = fit_out_of_fold(spec, coerce(X, schema), y, schema, random_state=0, plan=plan)
    judged = encode_labels(y.iloc[plan.judge_rows()], schema)
    assert proba.shape == (len(plan.judge_rows()), 2)
    assert not set(plan.judge_rows()) & set(plan.fit_rows())
    recall = [np.mean(proba[judged == code].argmax(1) == code) for code in (0, 1)]
    assert np.mean(recall) < 0.65  # chance is 0.5


def test_the_ensemble_uses_the_large_recipe_and_the_judging_sample_above_the_threshold(small_limits):
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(3_000, 3)), columns=["a", "b", "c"])
    y = pd.Series(np.where(X["a"] + 0.5 * rng.normal(size=3_000) > 1.4, "yes", "no"))
    model = VotingEnsemble(random_state=0).fit(X, y)
    assert [s.name for s in model.specs_] == list(RECIPES["default-large"][1])
    assert model.class_prior_ == pytest.approx(y.value_counts(normalize=True).sort_index().to_numpy(), abs=0.01)
    assert np.mean(model.predict(X) == y) > 0.8
    small = VotingEnsemble(random_state=0).fit(X.iloc[:900], y.iloc[:900])
    assert [s.name for s in small.specs_] == list(RECIPES["default"][1])


def test_the_ensemble_refuses_a_sampler_too_slow_for_the_rows_before_fitting(monkeypatch):
    monkeypatch.setattr(resample, "SLOW_SECONDS", 1e-9)
    X, y = _noise(400)
    model = VotingEnsemble(members=[MemberSpec.parse("tomek:logreg")])
    with pytest.raises(InputError, match="tomek") as refused:
        model.fit(X, y)
    assert "allow_slow_samplers" in str(refused.value)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.set_params(allow_slow_samplers=True).fit(X, y)
    assert any("estimated to take" in str(w.message) for w in caught)


@pytest.mark.parametrize("written", [True, False], ids=["workspace", "parquet"])
def test_reading_rows_by_position_matches_reading_the_table(tmp_path, monkeypatch, written):
    frame = pd.DataFrame({"x": np.arange(10_000, dtype=np.float32), "y": np.arange(10_000) % 7})
    if written:  # an Arrow stream of batches of 999 rows
        monkeypatch.setattr(tables, "CHUNK_ROWS", 999)
        ref = tables.write_table(frame, str(tmp_path), "t")
        assert ref.path.endswith(tables.WRITTEN)
    else:  # a Parquet file of row groups of 999 rows
        frame.to_parquet(tmp_path / "t.parquet", index=False, row_group_size=999)
        ref = tables.TableRef(path=str(tmp_path / "t.parquet"), fingerprint="-", n_rows=len(frame))
    rows = np.sort(np.random.default_rng(0).choice(len(frame), 1_234, replace=False))
    read = tables.read_rows(ref, rows)
    pd.testing.assert_frame_equal(read, frame.iloc[rows].reset_index(drop=True))
    assert read["x"].dtype == np.float32
    assert tables.read_column(ref, "y").tolist() == frame["y"].tolist()


def test_auto_validation_holds_out_a_split_for_medium_data_only():
    from imbalance_flows.tasks.model.sizes import (
        LARGE_ROWS,
        MEDIUM_ROWS,
        judged_on_holdout,
    )

    # "auto" looks at the training rows a 20 % holdout would leave of the rows fit is given.
    assert not judged_on_holdout("auto", int(MEDIUM_ROWS / 0.8), 0.2)  # exactly MEDIUM_ROWS left: small
    assert judged_on_holdout("auto", 100_000, 0.2)  # 80,000 left: medium
    assert judged_on_holdout("auto", int(LARGE_ROWS / 0.8), 0.2)  # exactly LARGE_ROWS left: medium
    assert not judged_on_holdout("auto", 1_000_000, 0.2)  # large: the large-data rules judge out of fold
    assert judged_on_holdout("holdout", 10, 0.2) and not judged_on_holdout("out_of_fold", 100_000, 0.2)


def test_auto_validation_judges_out_of_fold_where_a_holdout_would_hold_too_few_rows_of_a_class():
    """What the split really holds decides, copies of a row kept on one side counted."""
    from imbalance_flows.tasks.model.plan import holdout_split
    from imbalance_flows.tasks.model.sizes import MIN_HELD_OUT

    labels = np.repeat([0, 1], [100_000 - 5 * MIN_HELD_OUT, 5 * MIN_HELD_OUT])  # 20 %: MIN_HELD_OUT rare rows
    assert holdout_split(labels, 0.2, 0, auto=True) is not None
    assert holdout_split(labels[:-3], 0.2, 0, auto=True) is None  # 22 rare rows: 4 held out
    assert holdout_split(labels[:-3], 0.2, 0) is not None  # asked for: held out (and warned about)
    groups = np.arange(len(labels))
    groups[-6:] = groups[-6]  # six rare rows are one row and its copies, kept on one side: 20 distinct rare rows
    decided = []
    for seed in range(6):
        _, held = holdout_split(labels, 0.2, seed, groups=groups)
        decided.append(holdout_split(labels, 0.2, seed, groups=groups, auto=True) is None)
        assert decided[-1] == (int(np.sum(labels[held] == 1)) < MIN_HELD_OUT)
    assert any(decided)  # some seed holds out 4 of the 20 (while 20 % of the 25 rows would be 5)


def test_the_estimator_judges_out_of_fold_where_auto_would_hold_out_too_few_rare_rows(monkeypatch):
    monkeypatch.setattr(sizes, "MEDIUM_ROWS", 100)  # a medium table of a few hundred rows
    y = pd.Series(np.repeat(["common", "rare"], [480, 20]))
    X = pd.DataFrame({"x": np.random.default_rng(0).normal(size=len(y)) + (y == "rare") * 2.0})
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        model = VotingEnsemble(members=["class_weight:logreg"], random_state=0).fit(X, y)
    assert model.validation_ == "out_of_fold"  # a 20 % holdout would hold 4 rare rows
    y[:30] = "rare"
    assert VotingEnsemble(members=["class_weight:logreg"], random_state=0).fit(X, y).validation_ == "holdout"


def test_a_holdout_with_too_few_rows_of_a_class_warns_with_the_way_out():
    """As scikit-learn's stratified folds warn of a class with fewer rows than folds: the fit goes on."""

    y = pd.Series(np.repeat(["common", "rare"], [400, 12]))
    X = pd.DataFrame({"x": np.random.default_rng(0).normal(size=len(y)) + (y == "rare") * 2.0})
    ensemble = VotingEnsemble(members=["class_weight:logreg"], validation="holdout", validation_size=0.1,
                              random_state=0)
    with pytest.warns(DataWarning, match=r"class 'rare' has 1 of its 12 training rows in the validation split "
                                         r"\(validation_size=0.1\).*validation='out_of_fold'"):
        ensemble.fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        VotingEnsemble(members=["class_weight:logreg"], validation="holdout", validation_size=0.5,
                       random_state=0).fit(X, y)


def test_the_default_recipe_follows_the_training_rows():
    from imbalance_flows.tasks.model.spec import RECIPES, default_members

    def names(rows):
        return tuple(spec.name for spec in default_members(rows))

    assert names(50_000) == RECIPES["default"][1]
    assert names(50_001) == names(300_000) == RECIPES["default-medium"][1]
    assert names(300_001) == RECIPES["default-large"][1]


def test_the_estimator_on_medium_data_fits_the_medium_recipe_judged_on_a_holdout(monkeypatch):
    import numpy as np
    import pandas as pd

    from imbalance_flows import default_ensemble
    from imbalance_flows.tasks.model.spec import RECIPES

    monkeypatch.setattr(sizes, "MEDIUM_ROWS", 200)  # 400 rows given, 320 left to train on: medium
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(400, 3)), columns=list("abc"))
    y = pd.Series(np.where(X["a"] + rng.normal(scale=0.5, size=400) > 1.2, "rare", "common"))

    fitted = default_ensemble(random_state=0).fit(X, y)

    assert fitted.validation == "auto" and fitted.validation_ == "holdout"
    assert tuple(spec.name for spec in fitted.specs_) == RECIPES["default-medium"][1]
    assert default_ensemble(random_state=0).fit(X.iloc[:200], y.iloc[:200]).validation_ == "out_of_fold"


def _few_valued(n: int, seed: int = 0):
    """n rows of two few-valued features (mostly copies of 12 rows) and a label that depends on them, with noise."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.integers(0, 4, n).astype(float), "b": rng.choice(["x", "y", "z"], n).astype(object)})
    codes = ((X["a"] + (X["b"] == "z") + rng.normal(0, 1, n)) > 3).astype(np.int64).to_numpy()
    return X, codes


def test_copies_of_rows_fitted_as_one_row_weighing_their_count_grow_the_same_trees():
    # Numbers only: a categorical split skips categories held by fewer than 10 rows, which copies as weights change.
    X, codes = _few_valued(40_000)
    X["b"] = X["b"].map({"x": 0.0, "y": 1.0, "z": 2.0})
    y = pd.Series(codes).astype(str)
    schema = infer_schema(X, y)
    X = coerce(X, schema)
    spec = MemberSpec(sampler="none", learner="hgb",
                      learner_params={"early_stopping": False, "min_samples_leaf": 1, "max_iter": 20})

    copies = copies_as_weights(spec, X, codes, None, random_state=0)

    assert copies is not None and len(copies.X) <= 24 and copies.held is None and copies.weights.sum() == len(X)
    counts = {int(code): int(n) for code, n in enumerate(np.bincount(codes))}
    as_rows, _ = _fit(spec, X, codes, schema, 0, 1, None, False, counts=counts)
    as_copies, _ = _fit(spec, copies.X, copies.codes, schema, 0, 1, None, False, copies.weights, counts, copies)
    np.testing.assert_allclose(as_copies.predict_proba(X), as_rows.predict_proba(X), atol=1e-9)


def test_copies_held_out_to_stop_early_are_a_random_share_of_the_copies_as_rows_would_be():
    X, codes = _few_valued(50_000)
    weights = np.where(codes == 1, 3.0, 1.0)
    spec = MemberSpec(sampler="class_weight", learner="hgb")  # early stopping "auto": on, for 50,000 rows

    copies = copies_as_weights(spec, X, codes, weights, random_state=0)

    held_X, held_codes, held_weights = copies.held
    assert copies.stops and set(copies.codes) == set(held_codes) == {0, 1}
    np.testing.assert_allclose(copies.weights.sum() + held_weights.sum(), weights.sum())
    assert 0.08 < held_weights.sum() / weights.sum() < 0.12  # validation_fraction, 0.1
    assert copies.rows == len(X) and len(copies.X) <= 24


@pytest.mark.parametrize("spec, distinct", [
    (MemberSpec(sampler="none", learner="hgb"), True),  # rows mostly distinct
    (MemberSpec(sampler="random_under", learner="hgb"), False),  # resampling draws rows, not weights
    (MemberSpec(sampler="none", learner="rf"), False),  # a forest's bootstrap draws rows
    (MemberSpec(sampler="none", learner="hgb", learner_params={"max_bins": 3}), False),  # bins would differ
])
def test_rows_are_fitted_as_they_are_where_copies_would_change_the_fit(spec, distinct):
    X, codes = _few_valued(40_000)
    if distinct:
        X = X.assign(c=np.random.default_rng(1).normal(size=len(X)))

    assert copies_as_weights(spec, X, codes, None, random_state=0) is None


@pytest.mark.parametrize("member", ["none:hgb", "class_weight:hgb"])
def test_a_large_table_of_few_distinct_rows_fits_its_plain_member_on_them(member):
    X, codes = _few_valued(sizes.LARGE_ROWS + 50_000)
    y = pd.Series(np.where(codes == 1, "rare", "common"))

    model = VotingEnsemble(members=[member], random_state=0).fit(X, y)

    learner = model.members_[0].steps[-1][1]
    assert learner.get_params()["early_stopping"] == "auto"  # as built: it stopped early on held-out copies
    assert 0 < learner.n_iter_ < learner.max_iter and len(learner.validation_score_) == learner.n_iter_ + 1
    assert (model.predict(X) == y).mean() > 0.6
