"""tasks.calibrate and the ensemble's calibrated probabilities: they match the real class frequencies."""

import json

import numpy as np
import pandas as pd
import pytest

from imbalance_flows.tasks.evaluation.metrics import calibration_scores
from imbalance_flows.tasks.model.calibrate import calibrate, fit_calibration
from imbalance_flows.tasks.model.ensemble import VotingEnsemble


def balanced_world(n=4000, prevalence=0.03, seed=0):
    """Probabilities of a model that learnt from a balanced sample, and the true labels at a 3 % prevalence.

    Scores are right about the odds up to the prior: the balanced model's odds are the true odds
    divided by the prior odds, which is what resampling to balance does.
    """
    rng = np.random.default_rng(seed)
    codes = (rng.random(n) < prevalence).astype(int)
    signal = rng.normal(loc=np.where(codes == 1, 1.5, 0.0))
    true_logit = np.log(prevalence / (1 - prevalence)) + 1.5 * signal - 1.125  # the exact posterior
    balanced_logit = true_logit - np.log(prevalence / (1 - prevalence))
    p = 1 / (1 + np.exp(-balanced_logit))
    return np.column_stack([1 - p, p]), codes, 1 / (1 + np.exp(-true_logit))


@pytest.mark.parametrize("method", ["sigmoid", "isotonic"])
def test_a_balanced_models_probabilities_are_brought_back_to_the_real_frequency(method):
    proba, codes, truth = balanced_world()
    fit_rows, new_rows = slice(0, 2000), slice(2000, None)

    calibration = fit_calibration(method, proba[fit_rows], codes[fit_rows])
    calibrated = calibrate(calibration, proba[new_rows])

    raw = calibration_scores(codes[new_rows], proba[new_rows], [0, 1])
    fixed = calibration_scores(codes[new_rows], calibrated, [0, 1])
    assert raw["calibration_error"] > 0.2  # the balanced model says ~30 % where the rate is 3 %
    assert fixed["calibration_error"] < 0.03 and fixed["brier"] < raw["brier"] and fixed["log_loss"] < raw["log_loss"]
    assert calibrated[:, 1].mean() == pytest.approx(codes[new_rows].mean(), abs=0.015)
    np.testing.assert_allclose(calibrated.sum(axis=1), 1.0)
    if method == "sigmoid":  # Platt on the logit finds the exact posterior's form: the prior shift is an intercept
        error = np.abs(calibrated[:, 1] - truth[new_rows]).mean()
        assert error < 0.01 and error < np.abs(proba[new_rows, 1] - truth[new_rows]).mean() / 20


def test_calibration_keeps_the_order_of_the_scores():
    proba, codes, _ = balanced_world(n=1000)
    order = np.argsort(proba[:, 1])
    for method in ("sigmoid", "temperature", "isotonic"):
        calibrated = calibrate(fit_calibration(method, proba, codes), proba)[:, 1]
        assert (np.diff(calibrated[order]) >= -1e-12).all(), method


def test_temperature_only_scales_and_none_changes_nothing():
    proba, codes, _ = balanced_world(n=1000)
    temperature = fit_calibration("temperature", proba, codes)
    assert temperature["intercepts"] == [0.0, 0.0] and temperature["slope"] > 0
    assert fit_calibration("none", proba, codes) is None
    np.testing.assert_array_equal(calibrate(None, proba), proba)


def test_isotonic_never_says_zero_or_one():
    proba, codes, _ = balanced_world(n=500)
    calibration = fit_calibration("isotonic", proba, codes)
    calibrated = calibrate(calibration, np.array([[1.0, 0.0], [0.0, 1.0]]))
    floor = 1 / (2 * 500)
    assert calibrated.min() >= floor - 1e-15 and calibrated.max() <= 1 - floor + 1e-15


@pytest.mark.parametrize("method", ["sigmoid", "isotonic", "temperature"])
def test_several_classes_give_rows_that_sum_to_one_and_a_map_of_plain_numbers(method):
    rng = np.random.default_rng(1)
    codes = rng.choice(3, size=600, p=[0.7, 0.2, 0.1])
    proba = rng.dirichlet(np.ones(3), size=600) + 2 * np.eye(3)[codes]
    proba /= proba.sum(axis=1, keepdims=True)

    calibration = fit_calibration(method, proba, codes)
    calibrated = calibrate(json.loads(json.dumps(calibration)), proba)  # as the manifest keeps it

    np.testing.assert_allclose(calibrated.sum(axis=1), 1.0)
    assert calibration_scores(codes, calibrated, [0, 1, 2])["log_loss"] < \
        calibration_scores(codes, proba, [0, 1, 2])["log_loss"]


def test_the_ensembles_probabilities_are_calibrated_and_its_decision_agrees_with_them(binary_table):
    X, y = binary_table.drop(columns="label"), binary_table["label"]
    members = [{"sampler": "random_under", "learner": "logreg"}]
    raw = VotingEnsemble(members=members, calibration="none").fit(X, y)
    calibrated = VotingEnsemble(members=members).fit(X, y)

    assert calibrated.calibration_["method"] == "sigmoid" and raw.calibration_ is None
    rare = list(calibrated.classes_).index("rare")
    # The under-sampled member believes in a balanced world; the calibrated mean is nearer the real 12 in 52.
    assert abs(calibrated.predict_proba(X)[:, rare].mean() - 12 / 52) < abs(raw.predict_proba(X)[:, rare].mean()
                                                                            - 12 / 52)
    # Same members, same ranking: the threshold moved with the probabilities and the decisions stayed.
    assert calibrated.predict(X).tolist() == raw.predict(X).tolist()
    expected = np.where(calibrated.predict_proba(X)[:, rare] >= calibrated.threshold_, "rare", "common")
    assert calibrated.predict(X).tolist() == expected.tolist()


def test_calibration_is_refused_by_name_when_unknown():
    with pytest.raises(ValueError, match="unknown calibration 'platt'"):
        fit_calibration("platt", np.full((4, 2), 0.5), np.array([0, 1, 0, 1]))


def test_calibration_scores_follow_their_definitions():
    y = np.array(["a", "a", "a", "b"])
    proba = np.array([[0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.3, 0.7]])
    got = calibration_scores(y, proba, ["a", "b"])
    assert got["brier"] == pytest.approx(np.mean([0.01, 0.04, 0.16, 0.09]))  # of "b", the rarer class
    assert got["log_loss"] == pytest.approx(-np.mean(np.log([0.9, 0.8, 0.6, 0.7])))
    # bins of P(b): 0.1 → bin 1, 0.2 → bin 3, 0.4 → bin 6, 0.7 → bin 10; each holds one row
    assert got["calibration_error"] == pytest.approx(np.mean([0.1, 0.2, 0.4, 0.3]))
    frame = pd.DataFrame(proba)
    assert calibration_scores(y, frame.to_numpy(), ["a", "b"]) == got


@pytest.mark.parametrize("with_intercepts", [True, False])
def test_the_scaling_fit_stops_where_the_log_loss_is_least(with_intercepts):
    from imbalance_flows.tasks.model.calibrate import _fit_scaling, _logits, _softmax

    rng = np.random.default_rng(3)
    proba = rng.dirichlet([0.5, 1.0, 2.0], size=3000)
    codes = np.array([rng.choice(3, p=row ** 1.7 / (row ** 1.7).sum()) for row in proba])
    logits = _logits(proba)

    def log_loss(slope, intercepts):
        return -np.mean(np.log(_softmax(slope * logits + np.asarray(intercepts))[np.arange(len(codes)), codes]))

    slope, intercepts = _fit_scaling(logits, codes, with_intercepts)
    best = log_loss(slope, intercepts)
    assert 1.3 < slope < 2.1  # the truth sharpens the scores by 1.7
    for step in (1e-2, -1e-2):  # no nearby map fits better
        assert best <= log_loss(slope + step, intercepts) + 1e-9
        if with_intercepts:
            assert best <= log_loss(slope, [0.0, intercepts[1] + step, intercepts[2]]) + 1e-9
