"""Costs: the decision follows what mistakes cost, and every report says what the decisions cost."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from imbalance_flows.tasks.errors import InputError
from imbalance_flows.tasks.evaluation.metrics import evaluate
from imbalance_flows.tasks.model.costs import MissCosts, cheapest, cost_matrix
from imbalance_flows.tasks.model.ensemble import VotingEnsemble
from imbalance_flows.tasks.model.weights import best_cut

LOGREG = [{"sampler": "none", "learner": "logreg"}]


def overlapping(n_common=300, n_rare=60, seed=0):
    """One feature; the rare class sits higher but overlaps: every threshold trades misses for false alarms."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"x": np.concatenate([rng.normal(0, 1, n_common), rng.normal(1.5, 1, n_rare)])})
    y = pd.Series(["ok"] * n_common + ["fraud"] * n_rare, name="label")
    return X, y


def test_fn_and_fp_become_a_matrix_around_the_rarer_class():
    matrix = cost_matrix({"fn": 100, "fp": 1}, np.array(["fraud", "ok"]), "fraud")
    np.testing.assert_array_equal(matrix, [[0, 100], [1, 0]])  # rows: true fraud, true ok
    assert cost_matrix(MissCosts(fn=5, fp=2), np.array([0, 1]), 1).tolist() == [[0, 2], [5, 0]]
    assert cost_matrix(None, np.array([0, 1]), 1) is None


@pytest.mark.parametrize("costs, rule", [
    ({"fn": 1, "fp": 1, "tp": 0}, "exactly fn and fp"),
    ({"fn": -1, "fp": 1}, "finite and not negative"),
    ({"fn": "lots", "fp": 1}, "must be a number"),
    ([[0, 1], [1, 0], [1, 1]], "one row and one column per class"),
    ([[0, -1], [1, 0]], "finite and not negative"),
    ([[0, np.inf], [1, 0]], "finite and not negative"),
    ([[1, 1], [2, 2]], "dearer than others"),
    ([["a", 1], [1, 0]], "must hold numbers"),
])
def test_bad_costs_are_refused_with_the_rule(costs, rule):
    with pytest.raises(InputError, match=rule):
        cost_matrix(costs, np.array(["a", "b"]), "b")


def test_fn_and_fp_are_refused_for_several_classes():
    with pytest.raises(InputError, match="fn and fp costs are for two classes") as caught:
        cost_matrix({"fn": 1, "fp": 1}, np.array(["a", "b", "c"]), "c")
    assert "matrix" in str(caught.value)


def test_a_cost_objective_without_costs_is_refused():
    X, y = overlapping()
    with pytest.raises(InputError, match="threshold_objective='cost' needs costs"):
        VotingEnsemble(members=LOGREG, threshold_objective="cost").fit(X, y)


def test_the_decision_moves_as_the_costs_move():
    X, y = overlapping()
    flagged, thresholds, costs = [], [], []
    for fn in (0.5, 2, 10, 50):
        model = VotingEnsemble(members=LOGREG, costs={"fn": fn, "fp": 1}).fit(X, y)
        assert model.objective_ == "cost" and model.positive_class_ == "fraud"
        flagged.append(int((model.predict(X) == "fraud").sum()))
        thresholds.append(model.threshold_)
        costs.append(model.cost_matrix_)
    assert flagged == sorted(flagged) and flagged[0] < flagged[-1]  # dearer misses: more rows flagged
    assert thresholds == sorted(thresholds, reverse=True) and thresholds[0] > thresholds[-1]
    # On calibrated probabilities the tuned cut sits near the Bayes cut fp / (fp + fn).
    assert thresholds[-1] == pytest.approx(1 / 51, abs=0.05)


def test_the_cost_objective_costs_less_than_a_plain_objective_on_new_rows():
    X, y = overlapping(seed=0)
    X_new, y_new = overlapping(n_common=3000, n_rare=600, seed=1)
    costly = VotingEnsemble(members=LOGREG, costs={"fn": 20, "fp": 1}).fit(X, y)
    plain = VotingEnsemble(members=LOGREG, costs={"fn": 20, "fp": 1}, threshold_objective="f1").fit(X, y)

    def cost(model):
        return evaluate(y_new, model.predict(X_new), None, model.classes_, model.cost_matrix_)["cost_per_row"]

    assert cost(costly) < cost(plain)


def test_several_classes_go_to_the_class_of_least_expected_cost():
    rng = np.random.default_rng(0)
    codes = rng.choice(3, size=450, p=[0.6, 0.3, 0.1])
    X = pd.DataFrame({"x": rng.normal(codes.astype(float), 1.0)})
    y = pd.Series(np.array(["a", "b", "c"])[codes])
    cheap = VotingEnsemble(members=LOGREG, costs=[[0, 1, 1], [1, 0, 1], [1, 1, 0]]).fit(X, y)
    dear_c = VotingEnsemble(members=LOGREG, costs=[[0, 1, 1], [1, 0, 1], [30, 30, 0]]).fit(X, y)

    assert (dear_c.predict(X) == "c").sum() > (cheap.predict(X) == "c").sum()
    proba = dear_c.predict_proba(X)
    np.testing.assert_array_equal(dear_c.predict(X), dear_c.classes_[cheapest(proba, dear_c.cost_matrix_)])


def test_reports_give_the_cost_per_row_of_every_model():
    y_true = np.array(["ok", "ok", "ok", "fraud"])
    matrix = np.array([[0, 100], [1, 0]])  # classes in order fraud, ok
    got = evaluate(y_true, np.array(["ok", "fraud", "ok", "ok"]), None, np.array(["fraud", "ok"]), matrix)
    assert got["cost_per_row"] == pytest.approx((1 + 100) / 4)
    assert "cost_per_row" not in evaluate(y_true, y_true, None, np.array(["fraud", "ok"]))


def test_best_cut_for_cost_counts_every_kind_of_decision():
    scores = np.array([0.1, 0.2, 0.3, 0.9])
    positive = np.array([False, True, False, True])
    # [[true negative, false positive], [false negative, true positive]]
    cut, value = best_cut(scores, positive, "cost", np.array([[0, 1], [10, 0]]))
    assert 0.1 < cut <= 0.2 and value == pytest.approx(-1 / 4)  # catch both positives, one false alarm


def test_costs_survive_saving_and_decide_the_same(tmp_path):
    from imbalance_flows.tasks.store.model_store import (
        load_model,
        read_manifest,
        save_model,
    )

    X, y = overlapping()
    model = VotingEnsemble(members=LOGREG, costs={"fn": 10, "fp": 1}).fit(X, y)
    version = save_model(model, tmp_path)
    loaded = load_model(version)

    manifest = read_manifest(version)
    assert manifest["cost_matrix"] == model.cost_matrix_.tolist() and manifest["objective"] == "cost"
    assert manifest["ensemble"]["costs"] == {"fn": 10, "fp": 1}
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_a_class_prior_power_that_is_not_a_number_is_refused():
    X, y = overlapping()
    with pytest.raises(InputError, match="class_prior_power must be 'auto' or a number ≥ 0 and ≤ 1: it is 'half'"):
        VotingEnsemble(members=LOGREG, class_prior_power="half").fit(X, y)


def test_costs_that_make_nearly_every_row_one_class_are_told_with_the_share_and_the_threshold():
    import warnings

    import pandas as pd

    from imbalance_flows import VotingEnsemble
    from imbalance_flows.tasks.model.ensemble import LopsidedDecisionWarning

    churn = pd.read_parquet(Path(__file__).resolve().parents[2] / "tasks" / "bundled" / "churn.parquet")
    X, y = churn.drop(columns="churn"), churn["churn"]
    members = [{"sampler": "none", "learner": "rf", "learner_params": {"n_estimators": 30}}, "class_weight:logreg"]

    with pytest.warns(LopsidedDecisionWarning, match=r"the decision gives 9\d% of the rows that judged the members to "
                                                     r"class 'yes', which holds 14% of them \(threshold 0\.\d+ on the "
                                                     r"calibrated P\(yes\)\)\. These costs make that the cheapest "
                                                     r"decision: check them \(a missed case costs 100 false alarms\)"):
        flagged = VotingEnsemble(members=members, costs={"fn": 100, "fp": 1}).fit(X, y)
    assert np.mean(flagged.predict(X) == "yes") > 0.9 and flagged.lopsided_
    assert flagged.set_params(voting="hard").fit(X, y).lopsided_ is None  # costs decide no hard vote: nothing kept

    with warnings.catch_warnings():
        warnings.simplefilter("error", LopsidedDecisionWarning)  # the same members without costs decide as usual
        balanced = VotingEnsemble(members=members).fit(X, y)
    assert balanced.lopsided_ is None


@pytest.mark.parametrize("costs", [{"fn": True, "fp": 1}, {"fn": "100", "fp": 1}, [["0", "1"], ["5", "0"]],
                                   [[False, True], [True, False]]])
def test_costs_are_numbers_not_text_or_booleans(costs):
    with pytest.raises(InputError, match="must (be a number|hold numbers)"):
        cost_matrix(costs, ["no", "yes"], "yes")
