"""tasks.vote: the voting ensemble as a scikit-learn classifier, its weights, threshold and held-out rows."""

import copy
import json
import re
import subprocess
import sys
import warnings
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd
import pytest
import sklearn
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import balanced_accuracy_score
from sklearn.utils.estimator_checks import parametrize_with_checks
from sklearn.utils.fixes import parse_version

from imbalance_flows.tasks.data.checks import UnseenCategoryWarning
from imbalance_flows.tasks.data.schema import coerce, infer_schema
from imbalance_flows.tasks.errors import InputError
from imbalance_flows.tasks.model import ensemble as vote_module
from imbalance_flows.tasks.model import plan as plan_module
from imbalance_flows.tasks.model.ensemble import VotingEnsemble, default_ensemble
from imbalance_flows.tasks.model.fitting import (
    encode_labels,
    fit_member,
    fit_out_of_fold,
)
from imbalance_flows.tasks.model.plan import member_specs
from imbalance_flows.tasks.model.spec import MemberSpec, default_members
from imbalance_flows.tasks.model.weights import best_cut, code_objective, weight_grid
from tests.unit.conftest import FAST_MEMBERS

# Each check listed fails by design; the reason says why.
EXPECTED_FAILED_CHECKS = {
    "check_n_features_in_after_fitting":
        "scoring matches columns by name (x0, x1, ... for arrays) and names the missing ones in its own InputError",
    "check_complex_data":
        "complex features are refused by an InputError that names the column and its dtype",
    "check_classifiers_regression_target":
        "float labels are valid classes; a continuous target fails the 2-rows-per-class rule of out-of-fold validation",
    "check_supervised_y_2d":
        "y must be 1-D: a column vector is refused with an InputError rather than raveled with a warning",
    "check_fit2d_1sample":
        "one row holds one class: refused by the InputError 'the target needs at least two classes'",
    "check_fit2d_predict1d":
        "a 1-D X is refused by the InputError 'X must be a table (2-D)', whose hint shows the reshape",
    "check_requires_y_none":
        "y=None is refused by the InputError 'y must be one column of labels'",
}
STRICT = {"xfail_strict": True} if parse_version(sklearn.__version__) >= parse_version("1.8") else {}


def watching(fit, watch):
    """`fit` (fit_member or fit_out_of_fold) with every sampling step run through `watch`."""
    return lambda *args, **kwargs: fit(*args, **{**kwargs, "watch": watch})


@parametrize_with_checks(
    [VotingEnsemble(members=[{"sampler": "class_weight", "learner": "logreg"},
                             {"sampler": "random_over", "learner": "rf", "learner_params": {"n_estimators": 10}}])],
    expected_failed_checks=lambda estimator: EXPECTED_FAILED_CHECKS, **STRICT)
def test_ensemble_follows_the_scikit_learn_estimator_contract(estimator, check):
    check(estimator)


class FixedMember:
    """A stand-in for a fitted member: fixed class-code probabilities for the rows it is shown."""

    def __init__(self, proba, classes=(0, 1)):
        self.proba = np.asarray(proba, dtype=float)
        self.classes_ = np.asarray(classes)

    def predict_proba(self, X):
        return self.proba[:len(X)]


def adopt(members, y_val, **params) -> VotingEnsemble:
    """An ensemble that adopts fixed members and is weighed on validation labels `y_val`."""
    X_val = pd.DataFrame({"f": np.arange(len(y_val), dtype=float)})
    schema = infer_schema(X_val, pd.Series(y_val, name="label"))
    specs = [MemberSpec() for _ in members]
    return VotingEnsemble(**params).combine(members, specs, schema, X_val, pd.Series(y_val))


PERFECT = FixedMember([[.9, .1], [.8, .2], [.2, .8], [.1, .9]])  # balanced accuracy 1.0
CONSTANT = FixedMember([[.9, .1]] * 4)  # always class 0: 0.5, chance
HALF_RIGHT = FixedMember([[.9, .1], [.4, .6], [.2, .8], [.1, .9]])  # 0.75


def test_weighted_voting_keeps_balanced_accuracy_above_chance_when_no_weighting_votes_better():
    ensemble = adopt([PERFECT, CONSTANT, HALF_RIGHT], [0, 0, 1, 1])

    assert [s["balanced_accuracy"] for s in ensemble.validation_scores_] == [1.0, 0.5, 0.75]
    np.testing.assert_allclose(ensemble.weights_, [2 / 3, 0, 1 / 3])  # 0.5 : 0 : 0.25, already a perfect vote


def _judged(ensemble, probas, y, weights):
    """The objective a weighting's vote reaches on rows y (threshold tuned there too), as the docstring says."""
    codes, proba = np.asarray(y), np.tensordot(np.asarray(weights), np.stack(probas), axes=1)
    if ensemble.positive_class_ is not None:
        column = list(ensemble.classes_).index(ensemble.positive_class_)
        return best_cut(proba[:, column], codes == column, ensemble.objective_)[1]
    votes = (proba / ensemble.class_prior_ ** vote_module._SEARCH_POWER).argmax(1)  # the power of the search
    objective = "balanced_accuracy" if ensemble.objective_ == "none" else ensemble.objective_
    return code_objective(objective, codes, votes, len(ensemble.classes_))


def _start(ensemble):
    """Each member's balanced accuracy above chance, normalised: where the weight search starts."""
    above = np.array([max(s["balanced_accuracy"] - 1 / len(ensemble.classes_), 0)
                      for s in ensemble.validation_scores_])
    return above / above.sum()


@pytest.mark.parametrize("n_classes, n_members", [(2, 3), (3, 3), (2, 6), (3, 7)])
def test_weighted_voting_picks_the_best_voting_weights_in_fifths(n_classes, n_members):
    rng = np.random.default_rng(n_classes * 10 + n_members)
    y = np.repeat(np.arange(n_classes), [60, 25, 15][:n_classes])
    # Members of different skill: noisy one-hot of the truth, mixed with noise.
    probas = []
    for skill in np.linspace(0.1, 0.8, n_members):
        raw = skill * np.eye(n_classes)[y] + rng.random((len(y), n_classes))
        probas.append(raw / raw.sum(1, keepdims=True))

    ensemble = adopt([FixedMember(p, range(n_classes)) for p in probas], y)

    weights = ensemble.weights_
    assert weights.sum() == pytest.approx(1) and (weights >= 0).all()
    chosen = _judged(ensemble, probas, y, weights)
    start = _start(ensemble)
    assert chosen >= _judged(ensemble, probas, y, start) - 1e-12
    if n_members <= 6:  # every weighting in fifths was tried: none votes better, no single member either
        assert chosen >= max(_judged(ensemble, probas, y, w) for w in weight_grid(n_members, 5)) - 1e-12
        assert chosen >= max(_judged(ensemble, probas, y, np.eye(n_members)[i]) for i in range(n_members)) - 1e-12
    else:  # beyond six members the search is greedy: no worse than where it starts, and better than chance
        assert chosen > 1 / n_classes
    if not np.allclose(weights, start):
        np.testing.assert_allclose(weights * 5, np.round(weights * 5), atol=1e-9)  # in fifths


def test_weighted_voting_drops_a_member_that_only_spoils_the_vote():
    y = np.array([0] * 6 + [1] * 4)
    good = FixedMember(np.where(y[:, None] == [0, 1], 0.6, 0.4))  # right on every row, not sure of it
    # Better than chance (balanced accuracy 0.71), but sure of itself where it is wrong.
    noisy = FixedMember(np.array([[.99, .01]] * 4 + [[.01, .99]] * 2 + [[.99, .01]] * 1 + [[.01, .99]] * 3))

    ensemble = adopt([good, noisy], y, threshold_objective="none")

    start = ensemble._score_weights()
    assert start[1] > 0.25  # weighed by balanced accuracy alone, the noisy member would spoil 3 votes:
    assert ensemble.predict(pd.DataFrame({"f": np.arange(10.0)})).tolist() == y.tolist()
    ensemble.weights_ = start
    assert (ensemble.vote([good.proba, noisy.proba]) != y).sum() == 3


def test_weighted_voting_falls_back_to_equal_weights_when_no_member_beats_chance():
    ensemble = adopt([CONSTANT, CONSTANT], [0, 0, 1, 1])

    np.testing.assert_allclose(ensemble.weights_, [0.5, 0.5])


def test_soft_voting_weighs_members_equally():
    ensemble = adopt([PERFECT, CONSTANT, HALF_RIGHT], [0, 0, 1, 1], voting="soft", calibration="none")

    np.testing.assert_allclose(ensemble.weights_, [1 / 3] * 3)
    np.testing.assert_allclose(ensemble.predict_proba(pd.DataFrame({"f": [0.0]})), [[(.9 + .9 + .9) / 3, .1]])


def test_hard_voting_counts_labels_and_offers_no_probabilities():
    ensemble = adopt([PERFECT, CONSTANT, HALF_RIGHT], [0, 0, 1, 1], voting="hard")

    assert ensemble.predict(pd.DataFrame({"f": [0.0, 1.0, 2.0, 3.0]})).tolist() == [0, 0, 1, 1]
    assert not hasattr(ensemble, "predict_proba")
    assert ensemble.threshold_ is None


def test_threshold_is_tuned_on_the_rarer_class_of_the_validation_rows():
    member = FixedMember([[.9, .1], [.8, .2], [.7, .3], [.6, .4]])

    ensemble = adopt([member], [0, 0, 0, 1], calibration="none")

    assert ensemble.positive_class_ == 1
    assert ensemble.threshold_ == pytest.approx(0.4)  # the only cut that catches the one 1 and no 0
    assert ensemble.predict(pd.DataFrame({"f": [0.0, 1.0, 2.0, 3.0]})).tolist() == [0, 0, 0, 1]


@pytest.mark.parametrize("params", [{"threshold_objective": "none"}, {"voting": "hard"}])
def test_no_threshold_when_switched_off_or_voting_hard(params):
    assert adopt([PERFECT], [0, 0, 1, 1], **params).threshold_ is None


def test_no_threshold_for_three_classes(fitted_multiclass):
    assert fitted_multiclass.threshold_ is None and fitted_multiclass.positive_class_ is None
    assert fitted_multiclass.classes_.tolist() == ["class0", "class1", "class2"]


@pytest.mark.parametrize("scores, y_true, objective, expected", [
    ([.1, .2, .3, .4, .6, .7], [0, 0, 0, 1, 1, 1], "balanced_accuracy", 0.4),  # best cuts lie in (0.3, 0.4]
    ([.1, .2, .8, .9], [0, 0, 1, 1], "balanced_accuracy", 0.5),  # 0.5 is among the best: kept
    ([.1, .2, .3, .35, .9], [0, 0, 1, 0, 1], "f1", 0.3),
    ([.5, .5, .5, .5], [0, 1, 0, 1], "g_mean", 0.5),  # a flat objective keeps the usual rule
])
def test_best_cut_picks_the_best_cut_closest_to_one_half(scores, y_true, objective, expected):
    cut, _ = best_cut(np.array(scores), np.array(y_true) == 1, objective)

    assert cut == pytest.approx(expected)


def test_a_member_that_never_saw_a_class_gives_it_zero_probability():
    blind = FixedMember([[.7, .3]] * 3, classes=(0, 2))  # trained without class code 1
    ensemble = adopt([blind], ["a", "b", "c"], voting="soft", calibration="none")

    np.testing.assert_allclose(ensemble.predict_proba(pd.DataFrame({"f": [0.0, 1.0, 2.0]})), [[.7, 0, .3]] * 3)


@settings(max_examples=25, deadline=None)
@given(
    n_classes=st.integers(2, 4),
    n_members=st.integers(1, 4),
    voting=st.sampled_from(["soft", "weighted"]),
    seed=st.integers(0, 2**16),
)
def test_ensemble_probabilities_sum_to_one_for_any_members(n_classes, n_members, voting, seed):
    rng = np.random.default_rng(seed)
    y_val = np.arange(12) % n_classes
    members = []
    for _ in range(n_members):
        seen = np.sort(rng.choice(n_classes, size=rng.integers(1, n_classes + 1), replace=False))
        members.append(FixedMember(rng.dirichlet(np.ones(len(seen)), size=12), classes=seen))

    ensemble = adopt(members, y_val, voting=voting)
    proba = ensemble.predict_proba(pd.DataFrame({"f": np.zeros(12)}))

    assert ensemble.weights_.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert (proba >= 0).all()


values = st.floats(-1e6, 1e6) | st.just(float("nan"))  # missing values are imputed
rows = st.lists(st.tuples(values, values, st.sampled_from(["red", "blue", "green", None])), min_size=1, max_size=20)


@settings(max_examples=25, deadline=None)
@given(rows=rows)
def test_fitted_ensembles_give_probabilities_that_sum_to_one(fitted_binary, fitted_multiclass, rows):
    X = pd.DataFrame(rows, columns=["num", "size", "colour"])

    for ensemble in (fitted_binary, fitted_multiclass):
        proba = ensemble.predict_proba(X)
        assert proba.shape == (len(X), len(ensemble.classes_))
        np.testing.assert_allclose(proba.sum(axis=1), 1.0)
        assert set(ensemble.predict(X).tolist()) <= set(ensemble.classes_.tolist())


@settings(max_examples=10, deadline=None)
@given(
    counts=st.lists(st.integers(5, 25), min_size=2, max_size=3),
    validation_size=st.sampled_from([0.2, 0.3, 0.5]),
    random_state=st.integers(0, 1000),
)
def test_fit_never_resamples_or_augments_a_validation_row(counts, validation_size, random_state):
    y = pd.Series(np.repeat(["x", "y", "z"][:len(counts)], counts), name="label")
    X = pd.DataFrame({"row_id": np.arange(len(y), dtype=float), "num": np.random.default_rng(0).normal(size=len(y))})
    received, validation_ids = {"resample": [], "augment": []}, []

    def record(step, sampler, rows, labels):
        received[step].append(set(rows[:, 0].tolist()))  # row_id is the first prepared column
        return sampler.fit_resample(rows, labels)

    def recording_combine(self, fitted, specs, schema, X_val, y_val):
        validation_ids.extend(int(i) for i in X_val["row_id"])
        return original_combine(self, fitted, specs, schema, X_val, y_val)

    original_combine = VotingEnsemble.combine
    members = [{"sampler": "random_over", "learner": "logreg", "augment": {"method": "jitter", "ratio": 1.0}},
               {"sampler": "random_under", "learner": "logreg", "augment": {"method": "mixup", "ratio": 1.0}}]
    with mock.patch.object(plan_module, "fit_member", watching(fit_member, record)), \
            mock.patch.object(VotingEnsemble, "combine", recording_combine):
        VotingEnsemble(members=members, validation="holdout", validation_size=validation_size,
                       random_state=random_state, n_jobs=1).fit(X, y)

    assert validation_ids and set(y.iloc[validation_ids]) == set(y)  # every class has held-out rows
    training_ids = set(range(len(y))) - set(validation_ids)
    assert received["resample"] == [training_ids, training_ids]  # each member's sampler: the training rows
    assert len(received["augment"]) == 2
    assert all(ids <= training_ids for ids in received["augment"])


@pytest.mark.parametrize("member", ["none:rf", "random_under:rf", "smote:rf"])  # out of bag ×2, cross-fitted
def test_out_of_fold_probabilities_come_from_models_that_never_saw_the_row(member):
    # Labels are coin flips: a forest predicts the rows it saw well in sample (an
    # under-sampled one sees only some), a model that did not see a row can only guess.
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(400, 5)), columns=list("abcde"))
    y = pd.Series(rng.choice(["common", "rare"], size=400, p=[0.75, 0.25]))
    spec = MemberSpec.parse(member)
    schema = infer_schema(X, y)
    pipeline, _, proba = fit_out_of_fold(spec, coerce(X, schema), y, schema, random_state=0, folds=4)
    codes = encode_labels(y, schema)

    in_sample = balanced_accuracy_score(codes, pipeline.predict_proba(coerce(X, schema)).argmax(1))
    out_of_fold = balanced_accuracy_score(codes, proba.argmax(1))
    assert proba.shape == (400, 2) and np.allclose(proba.sum(1), 1)
    assert in_sample > 0.8 and out_of_fold < 0.62

    ensemble = VotingEnsemble(members=[spec], folds=4).fit(X, y)
    assert ensemble.validation_scores_[0]["balanced_accuracy"] == pytest.approx(out_of_fold)


def test_out_of_fold_ensemble_fits_members_on_every_row():
    rng = np.random.default_rng(1)
    X = pd.DataFrame({"f": rng.normal(size=120)})
    y = pd.Series(np.where(X["f"] + rng.normal(scale=.5, size=120) > 1, "rare", "common"))
    seen = []

    def spy(step, sampler, rows, labels):
        seen.append(len(rows))
        return sampler.fit_resample(rows, labels)

    with mock.patch.object(plan_module, "fit_out_of_fold", watching(fit_out_of_fold, spy)):
        ensemble = VotingEnsemble(members=[{"sampler": "random_under", "learner": "rf"}]).fit(X, y)

    assert seen == [120]  # the final member's sampler saw all rows: none was held back
    assert ensemble.threshold_ is not None and 0 < ensemble.threshold_ < 1


# Members fitted side by side each limit the process-wide thread pools and restore them on exit.
# The script forces the order that breaks naive restoring: the first member enters, the second
# enters (so takes the first's limit for the original), the first exits, the second exits last.
# It runs in a fresh interpreter: once the main thread has set a limit (as this suite does),
# OpenBLAS ignores limits set from worker threads, which hides the leak.
STAGGERED_FIT = """
import json, threading
from threadpoolctl import threadpool_info
from imbalance_flows.tasks import cores
from imbalance_flows.tasks.model import ensemble as vote
from imbalance_flows.tasks.model.fitting import fit_member

first_inside, second_inside, first_done = (threading.Event() for _ in range(3))

def first_waits(step, sampler, rows, labels):
    first_inside.set()
    assert second_inside.wait(30)
    return sampler.fit_resample(rows, labels)

def second_waits(step, sampler, rows, labels):
    second_inside.set()
    assert first_done.wait(30)
    return sampler.fit_resample(rows, labels)

def staggered(spec, *args, **kwargs):
    if spec.learner == "logreg":
        fitted = fit_member(spec, *args, watch=first_waits, **kwargs)
        first_done.set()
        return fitted
    assert first_inside.wait(30)
    return fit_member(spec, *args, watch=second_waits, **kwargs)

cores.available_cores = lambda: 2  # two workers, one thread each
vote.fit_member = staggered
X, y = [[i % 7, i % 3] for i in range(40)], [i % 2 for i in range(40)]
members = [{"sampler": "random_over", "learner": "logreg"}, {"sampler": "random_over", "learner": "hgb"}]
before = [lib["num_threads"] for lib in threadpool_info()]
vote.VotingEnsemble(members=members).fit(X, y)
print(json.dumps([before, [lib["num_threads"] for lib in threadpool_info()]]))
"""


def test_fit_leaves_the_process_thread_limits_as_it_found_them():
    result = subprocess.run([sys.executable, "-c", STAGGERED_FIT], capture_output=True, text=True, timeout=120,
                            cwd=Path(__file__).resolve().parents[2])

    assert result.returncode == 0, result.stderr
    before, after = json.loads(result.stdout)
    assert after == before


def test_new_categories_are_scored_as_missing_by_default_with_a_warning_naming_them(fitted_binary):
    assert fitted_binary.unknown_categories == "ignore"
    X = pd.DataFrame({"num": [0.5, 0.5, 0.5], "size": [3.0, 3.0, 3.0], "colour": ["purple", None, "mauve"]})

    with pytest.warns(UnseenCategoryWarning, match=r"'colour': 2 rows of 2 new values \['mauve', 'purple'\]"):
        proba = fitted_binary.predict_proba(X)

    np.testing.assert_allclose(proba[0], proba[1])
    strict = copy.deepcopy(fitted_binary).set_params(unknown_categories="error")  # a scoring-time setting
    with pytest.raises(InputError, match="categorical feature 'colour' must hold categories seen in training"):
        strict.predict_proba(X)


def test_cross_validation_on_a_long_tail_of_categories_runs(binary_table):
    # A category that only one row has lands in a test fold that no training fold saw.
    from sklearn.model_selection import cross_validate

    table = binary_table.assign(city=[f"city {i % 50}" for i in range(len(binary_table))])
    members = [{"sampler": "class_weight", "learner": "logreg"}]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnseenCategoryWarning)
        scores = cross_validate(VotingEnsemble(members=members), table.drop(columns="label"), table["label"],
                                cv=3, scoring="balanced_accuracy", error_score="raise")
    assert len(scores["test_score"]) == 3


def test_columns_are_matched_by_name_and_a_target_column_is_ignored(fitted_binary, binary_table):
    X = binary_table.drop(columns="label")
    shuffled = binary_table[["label", "colour", "size", "num"]]

    np.testing.assert_array_equal(fitted_binary.predict_proba(shuffled), fitted_binary.predict_proba(X))
    assert fitted_binary.feature_names_in_.tolist() == ["num", "size", "colour"]
    assert fitted_binary.n_features_in_ == 3


def test_an_ensemble_fitted_on_an_array_scores_arrays_by_position(fast_members):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), np.repeat([0, 1], [28, 12])
    X[y == 1] += 1.5

    ensemble = VotingEnsemble(members=fast_members, n_jobs=1).fit(X, y)

    assert ensemble.schema_.positional and not hasattr(ensemble, "feature_names_in_")
    assert ensemble.predict(X[:5]).dtype == y.dtype
    assert ensemble.score(X, y) > 0.7


def test_labels_stored_as_objects_are_learned_and_returned_as_they_are(fast_members, binary_table):
    X = binary_table.drop(columns="label")
    y = pd.Series(np.where(binary_table["label"] == "rare", 1, 0).astype(object))

    ensemble = VotingEnsemble(members=fast_members, n_jobs=1).fit(X, y)

    assert ensemble.classes_.tolist() == [0, 1] and ensemble.positive_class_ == 1
    assert set(ensemble.predict(X).tolist()) == {0, 1}


def test_default_ensemble_uses_the_default_members():
    ensemble = default_ensemble(random_state=3, voting="soft")

    assert (ensemble.members, ensemble.random_state, ensemble.voting) == (None, 3, "soft")
    assert [m.name for m in member_specs(ensemble.members)] == [m.name for m in default_members()] == [
        "none:rf", "random_under:rf", "class_weight:logreg"]


def test_several_classes_vote_on_calibrated_probabilities_with_a_tuned_class_prior_correction(fitted_multiclass):
    from tests.unit.conftest import mixed_table

    X = mixed_table((30, 12, 8), seed=1).drop(columns="label")
    proba, prior = fitted_multiclass.predict_proba(X), fitted_multiclass.class_prior_
    power = fitted_multiclass.prior_power_

    np.testing.assert_allclose(prior.sum(), 1.0)
    assert power in (0.0, 0.25, 0.5, 0.75, 1.0)
    expected = fitted_multiclass.classes_[(proba / prior ** power).argmax(1)]
    assert fitted_multiclass.predict(X).tolist() == expected.tolist()
    plain = copy.deepcopy(fitted_multiclass)
    plain.prior_power_ = 0.0
    assert plain.predict(X).tolist() == fitted_multiclass.classes_[proba.argmax(1)].tolist()


def test_a_given_class_prior_power_is_kept():
    from tests.unit.conftest import FAST_MEMBERS, mixed_table

    table = mixed_table((30, 15, 8), seed=1)
    ensemble = VotingEnsemble(members=FAST_MEMBERS, class_prior_power=0.3).fit(table.drop(columns="label"),
                                                                              table["label"])
    assert ensemble.prior_power_ == 0.3


def test_judging_rows_without_a_class_are_refused_naming_the_class():
    X = pd.DataFrame({"f": np.arange(6, dtype=float)})
    schema = infer_schema(X, pd.Series(["a", "a", "b", "b", "c", "c"], name="label"))
    member = FixedMember([[.8, .1, .1]] * 4, classes=(0, 1, 2))
    with pytest.raises(InputError, match="must include every class") as caught:
        VotingEnsemble().combine([member], [MemberSpec()], schema, X.iloc[:4], pd.Series(["a", "a", "b", "b"]))
    assert "'c'" in str(caught.value) and "stratified" in str(caught.value)


@pytest.mark.parametrize("random_state", [None, 0, np.random.RandomState(0)], ids=["None", "int", "RandomState"])
def test_random_state_takes_none_an_int_or_a_random_state(binary_table, random_state):
    X, y = binary_table.drop(columns="label"), binary_table["label"]
    model = default_ensemble(random_state=random_state, members=FAST_MEMBERS).fit(X, y)
    assert set(model.predict(X)) <= {"common", "rare"}


def test_a_random_state_instance_draws_reproducibly_and_an_int_repeats(binary_table):
    X, y = binary_table.drop(columns="label"), binary_table["label"]

    def proba(random_state):
        return default_ensemble(random_state=random_state, members=FAST_MEMBERS).fit(X, y).predict_proba(X)

    np.testing.assert_array_equal(proba(np.random.RandomState(3)), proba(np.random.RandomState(3)))
    np.testing.assert_array_equal(proba(7), proba(7))


@pytest.mark.parametrize("n_jobs, cores, expected_workers", [
    (None, 4, 3), (-1, 4, 3), (-2, 4, 3), (-3, 4, 2), (-4, 4, 1), (-9, 4, 1), (1, 4, 1), (2, 4, 2)])
def test_n_jobs_follows_the_scikit_learn_glossary(n_jobs, cores, expected_workers):
    from imbalance_flows.tasks.cores import plan_concurrency

    workers, threads = plan_concurrency(3, n_jobs, cores=cores)
    assert workers == expected_workers and workers * threads <= cores


def test_n_jobs_zero_is_refused_with_the_rule():
    from imbalance_flows.tasks.cores import plan_concurrency

    with pytest.raises(InputError, match="n_jobs must be a positive number .*: it is 0. Use None or -1"):
        plan_concurrency(3, 0, cores=2)


def test_an_ensemble_fitted_with_a_random_state_instance_saves_and_loads(binary_table, tmp_path):
    from imbalance_flows.tasks.store.model_store import (
        load_model,
        read_manifest,
        save_model,
    )

    X, y = binary_table.drop(columns="label"), binary_table["label"]
    model = default_ensemble(random_state=np.random.RandomState(1), members=FAST_MEMBERS).fit(X, y)

    version = save_model(model, tmp_path)

    assert read_manifest(version)["ensemble"]["random_state"] is None
    np.testing.assert_array_equal(load_model(version).predict_proba(X), model.predict_proba(X))


def _ranks_table(n: int, seed: int) -> tuple[pd.DataFrame, pd.Series]:
    """Like the military personnel table: categorical features only, weakly tied to 3 classes of 84/14.5/1.5 %."""
    profiles_rng = np.random.default_rng(0)  # the classes' profiles are fixed; `seed` draws the rows
    labels = np.array(["enlisted", "officer", "warrant"])
    profiles = [[base * np.exp(profiles_rng.normal(0, 1.0, 8)) for _ in labels]
                for base in (profiles_rng.dirichlet(np.ones(8)) for _ in range(4))]
    rng = np.random.default_rng(seed)
    codes = rng.choice(3, size=n, p=[0.84, 0.145, 0.015])
    frame = pd.DataFrame({f"f{f}": [f"v{rng.choice(8, p=profiles[f][c] / profiles[f][c].sum())}" for c in codes]
                          for f in range(4)})
    return frame, pd.Series(labels[codes])


def test_the_vote_does_not_follow_a_member_that_ignores_the_rarest_class():
    """A plain forest on such data predicts almost only the two larger classes; the ensemble still finds the rare one."""
    X, y = _ranks_table(12_000, 1)
    X_test, y_test = _ranks_table(6000, 2)
    model = vote_module.default_ensemble(random_state=0).fit(X, y)

    plain = model.classes_[model.member_probas(X_test)[0].argmax(1)]  # none:rf alone, as it votes by itself
    assert model.specs_[0].name == "none:rf" and np.mean(plain[y_test == "warrant"] == "warrant") < 0.2
    predicted = model.predict(X_test)
    assert np.mean(predicted[y_test == "warrant"] == "warrant") > 0.5
    assert balanced_accuracy_score(y_test, predicted) > balanced_accuracy_score(y_test, plain) + 0.1


class _Refuses:
    """Stands in for a member that must not be asked."""

    def predict_proba(self, X):
        raise AssertionError("a member of weight 0 was asked to predict")


@pytest.mark.parametrize("voting", ["soft", "hard"])
def test_scoring_does_not_ask_a_member_of_weight_0_and_decides_as_with_it(fitted_binary, binary_table, voting):
    X = binary_table.drop(columns="label")
    model = copy.deepcopy(fitted_binary)
    model.voting = voting
    model.weights_ = np.array([1.0] + [0.0] * (len(model.members_) - 1))
    every = model.member_probas(X)  # reports ask every member
    expected_labels = model.vote(every)
    expected_proba = model.combined(every)
    model.members_ = [model.members_[0]] + [_Refuses()] * (len(model.members_) - 1)

    np.testing.assert_array_equal(model.predict(X), expected_labels)
    if voting == "soft":
        np.testing.assert_allclose(model.predict_proba(X), expected_proba)
    with pytest.raises(AssertionError, match="weight 0"):
        model.member_probas(X)


@pytest.mark.parametrize("voting", ["weighted", "soft", "hard"])
@pytest.mark.parametrize("priors", [None, [0.5, 0.5]])
def test_scored_gives_the_vote_and_the_probabilities_from_one_combination(fitted_binary, binary_table, voting, priors):
    X = binary_table.drop(columns="label")
    model = copy.deepcopy(fitted_binary)
    model.voting = voting
    probas = model.member_probas(X)

    labels, proba = model.scored(probas, priors)

    np.testing.assert_array_equal(labels, model.vote(probas, priors))
    if voting == "hard":
        assert proba is None
    else:
        np.testing.assert_array_equal(proba, model.combined(probas, priors))


def test_scored_decides_a_cost_model_on_the_probabilities_moved_to_the_priors():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": np.r_[rng.normal(0, 1, 300), rng.normal(1.2, 1, 60)]})
    y = np.r_[["ok"] * 300, ["fraud"] * 60]
    model = VotingEnsemble(members=[{"sampler": "none", "learner": "logreg"}], costs={"fn": 10, "fp": 1}).fit(X, y)
    probas = model.member_probas(X)
    priors = [0.5, 0.5]  # classes in order: fraud, ok; far more fraud than in training

    labels, proba = model.scored(probas, priors)

    np.testing.assert_array_equal(labels, model.vote(probas, priors))
    assert (labels != model.vote(probas)).any()  # the priors moved some decisions: the two calls differ here
    np.testing.assert_array_equal(proba, model.combined(probas, priors))


BAD_PARAMETERS = [
    pytest.param({"voting": "majority"}, "voting must be one of 'hard', 'soft', 'weighted'", "'majority'", id="voting"),
    pytest.param({"unknown_categories": "maybe"}, "unknown_categories must be one of 'error', 'ignore'", "'maybe'",
                 id="unknown-categories"),
    pytest.param({"allow_slow_samplers": "yes"}, "allow_slow_samplers must be True or False", "'yes'", id="slow"),
    pytest.param({"validation": "holdout", "validation_size": 1.5}, "validation_size must be a number > 0 and ≤ 0.5",
                 "1.5", id="validation-size"),
    pytest.param({"calibration": "platt"}, "calibration must be one of 'sigmoid'", "'platt'", id="calibration"),
    pytest.param({"threshold_objective": "recall"}, "threshold_objective must be one of 'auto'", "'recall'",
                 id="objective"),
    pytest.param({"n_jobs": "two"}, "n_jobs must be None or a whole number other than 0", "'two'", id="n-jobs-text"),
    pytest.param({"n_jobs": 0}, "n_jobs must be None or a whole number other than 0", "0", id="n-jobs-zero"),
    pytest.param({"folds": 21}, "folds must be a whole number ≥ 2 and ≤ 20", "21", id="folds"),
    pytest.param({"random_state": -1}, "random_state must be None, a whole number from 0 to 4294967295", "-1",
                 id="seed"),
    pytest.param({"class_prior_power": -0.5}, "class_prior_power must be 'auto' or a number ≥ 0", "-0.5",
                 id="prior-power"),
    pytest.param({"members": "rf"}, "members must be None or a list of members", "'rf'", id="members-not-a-list"),
    pytest.param({"members": [{"sampler": "random_under", "learner": "forest"}]}, "the learner must be", "'forest'",
                 id="unknown-learner"),
    pytest.param({"members": [{"sampler": "random_under", "learner": "rf", "colour": 1}]},
                 "members[0] must be a member spec", "colour", id="unknown-member-field"),
    pytest.param({"threshold_objective": "cost"}, "threshold_objective='cost' needs costs", "no costs",
                 id="cost-without-costs"),
]


@pytest.mark.parametrize("params, rule, value", BAD_PARAMETERS)
def test_every_bad_parameter_is_refused_with_its_rule_before_any_member_fits(params, rule, value, monkeypatch):
    from imbalance_flows.tasks.model import ensemble as vote

    def no_fit(*args, **kwargs):
        raise AssertionError("a member was fitted")

    monkeypatch.setattr(vote, "run_members", no_fit)
    X, y = pd.DataFrame({"a": np.arange(40.0)}), np.array(["common"] * 30 + ["rare"] * 10)

    with pytest.raises(InputError) as caught:
        VotingEnsemble(**params).fit(X, y)
    assert rule in str(caught.value.rule) and value in caught.value.value and caught.value.hint


@pytest.mark.parametrize("params", [{"voting": "majority"}, {"validation_size": 0.7}, {"folds": 1},
                                    {"threshold_objective": "cost"}, {"random_state": -3}])
def test_the_training_flow_refuses_what_fit_refuses(params):
    """The flow's parameters carry the estimator's rules (pydantic words some of them its own way)."""
    from pydantic import ValidationError

    from imbalance_flows.flows.config import TrainConfig

    with pytest.raises((InputError, ValidationError)):
        TrainConfig(data="d.csv", target="y", **params)
    with pytest.raises(InputError):
        VotingEnsemble(**params).fit(pd.DataFrame({"a": np.arange(20.0)}), [0, 1] * 10)


@pytest.mark.parametrize("n_jobs, context, expected", [(None, None, 1), (None, 2, 2), (2, None, 2), (-1, None, None)])
def test_the_estimators_n_jobs_follows_the_glossary_none_is_one_job_unless_joblib_says_otherwise(
        n_jobs, context, expected, fast_members, binary_table, monkeypatch):
    import contextlib

    from joblib import parallel_config

    from imbalance_flows.tasks import cores
    from imbalance_flows.tasks.model import ensemble as vote

    asked, real = [], vote.run_members

    def spy(*args, **kwargs):
        asked.append(kwargs["n_jobs"])
        return real(*args, **kwargs)

    monkeypatch.setattr(vote, "run_members", spy)
    X, y = binary_table.drop(columns="label"), binary_table["label"]
    with parallel_config(n_jobs=context) if context else contextlib.nullcontext():
        VotingEnsemble(members=fast_members, n_jobs=n_jobs, validation="holdout").fit(X, y)
    workers, _ = cores.plan_concurrency(len(fast_members), asked[0])
    assert workers == min(len(fast_members), expected or cores.available_cores())


# One bad value per rule of the estimator that the training flow's parameters share, as a config file gives it.
SHARED_BAD_VALUES = {"voting": "majority", "threshold_objective": "recall", "calibration": "platt",
                     "validation": "cross", "validation_size": 0.7, "folds": 1, "random_state": -2,
                     "allow_slow_samplers": "yes"}


@pytest.mark.parametrize("name", list(SHARED_BAD_VALUES))
def test_python_the_command_line_and_a_config_file_refuse_a_bad_value_in_the_same_words(name, tmp_path, capsys):
    import yaml

    from imbalance_flows.cli import main as cli
    from imbalance_flows.flows.config import TrainConfig

    value = SHARED_BAD_VALUES[name]
    with pytest.raises(InputError) as caught:
        VotingEnsemble(**{name: value}).fit(pd.DataFrame({"a": np.arange(20.0)}), [0, 1] * 10)
    words = str(caught.value)
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump({name: value}))
    (tmp_path / "d.csv").write_text("a,y\n1,0\n2,1\n")

    assert cli(["train", str(tmp_path / "d.csv"), "--target", "y", "--config", str(tmp_path / "bad.yaml")]) == 2
    assert capsys.readouterr().err.strip() == f"error: {words}"
    option = f"--{name.replace('_', '-')}"
    if name != "allow_slow_samplers":  # an option that takes a value (that one is a flag)
        assert cli(["train", str(tmp_path / "d.csv"), "--target", "y", option, str(value)]) == 2
        assert capsys.readouterr().err.strip() == f"error: {words}"
    with pytest.raises(ValueError, match=re.escape(words)):  # the UI's form: pydantic around the same InputError
        TrainConfig(data="d.csv", target="y", **{name: value})


def test_labels_keep_their_kind_whatever_holds_them():
    """Half floats (which pandas indexes cannot hold) and numpy's scalars among Python objects are classes of the
    labels' own kind, predicted back as such."""
    X = pd.DataFrame({"x": np.r_[np.zeros(30), np.ones(30)] + np.random.default_rng(0).normal(scale=0.3, size=60)})
    codes = np.r_[np.zeros(30, dtype=int), np.ones(30, dtype=int)]
    members = [{"sampler": "class_weight", "learner": "logreg"}]
    for labels, expected in [(codes.astype(np.float16), [0.0, 1.0]),
                             (np.array([np.int64(v) for v in codes], dtype=object), [0, 1]),
                             (np.array([np.bool_(v) for v in codes], dtype=object), [False, True])]:
        model = VotingEnsemble(members=members, random_state=0).fit(X, labels)
        assert model.classes_.tolist() == expected and type(model.classes_.tolist()[0]) is type(expected[0])
        assert (model.predict(X) == np.asarray(expected)[codes]).mean() > 0.8


def test_a_refit_forgets_what_the_last_fit_set():
    X = pd.DataFrame({"a": np.arange(60.0), "b": np.arange(60.0) % 7})
    y = np.array(["no"] * 45 + ["yes"] * 15)
    members = [{"sampler": "class_weight", "learner": "logreg"}]
    model = VotingEnsemble(members=members, random_state=0).fit(X, y)
    model.fit(X.to_numpy(), y)
    assert not hasattr(model, "feature_names_in_") and model.n_features_in_ == 2
    assert VotingEnsemble(members=members, voting="hard").fit(X, y).lopsided_ is None


def test_priors_and_probabilities_given_to_the_vote_are_checked():
    X = pd.DataFrame({"a": np.arange(60.0)})
    y = np.array(["no"] * 45 + ["yes"] * 15)
    model = VotingEnsemble(members=[{"sampler": "class_weight", "learner": "logreg"}], random_state=0).fit(X, y)
    probas = model.member_probas(X, voting_only=True)
    np.testing.assert_array_equal(model.scored(probas, priors={"yes": 0.25, "no": 0.75})[1],
                                  model.scored(probas, priors=[0.75, 0.25])[1])
    for priors in ([0.2, 0.3, 0.5], [0.3], [0.5, 0.6], [-0.1, 1.1], "x", {"no": 0.9}):
        with pytest.raises(InputError, match="class priors must"):
            model.scored(probas, priors=priors)
    with pytest.raises(InputError, match="one array of rows × classes per member"):
        model.scored([])
    with pytest.raises(InputError, match="class priors must"):
        model.vote(probas, priors="x")  # a model tuned for the G-mean decides alike under any priors: still checked
    with pytest.raises(InputError, match="class priors must"):
        model.set_params(voting="hard").fit(X, y).scored(probas, priors=[5, 5])


def test_a_model_fitted_on_an_array_scores_a_table_by_position():
    import pyarrow as pa

    X = np.c_[np.arange(60.0), np.arange(60.0) % 7]
    y = np.array(["no"] * 45 + ["yes"] * 15)
    model = VotingEnsemble(members=[{"sampler": "class_weight", "learner": "logreg"}], random_state=0).fit(X, y)
    table = pa.table({"first": X[:, 0], "second": X[:, 1]})
    np.testing.assert_array_equal(model.predict_proba(table), model.predict_proba(X))


def test_a_members_seed_beside_any_run_seed_fits():
    """A member's seed is added to the run's: any sum is a seed (wrapped into numpy's 0 to 2**32 − 1)."""
    X = pd.DataFrame({"a": np.arange(60.0)})
    y = np.array(["no"] * 45 + ["yes"] * 15)
    for random_state, seed in [(2**32 - 1, 1), (0, -5)]:
        member = {"sampler": "random_under", "learner": "rf", "seed": seed, "learner_params": {"n_estimators": 5}}
        VotingEnsemble(members=[member], random_state=random_state).fit(X, y)


def test_the_class_prior_power_lies_from_0_to_1():
    with pytest.raises(InputError, match=r"class_prior_power.*1\.5.*0 \(the plain most likely class\) to 1"):
        VotingEnsemble(class_prior_power=1.5).fit(pd.DataFrame({"a": np.arange(60.0)}), ["a", "b"] * 30)


def test_a_target_named_0_keeps_its_name():
    frame = pd.DataFrame({"a": np.arange(60.0), 0: ["no"] * 45 + ["yes"] * 15})
    model = VotingEnsemble(members=[{"sampler": "class_weight", "learner": "logreg"}]).fit(frame[["a"]], frame[0])
    assert model.schema_.target == "0"
