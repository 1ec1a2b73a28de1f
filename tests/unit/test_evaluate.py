"""tasks.evaluate: imbalance-aware metrics on hand-made predictions with known answers."""

import numpy as np
import pytest
from pytest import approx

from imbalance_flows.tasks.evaluation.metrics import SUMMARY, evaluate
from imbalance_flows.tasks.model.weights import code_objective

# Two classes: 4 of class 0, 2 of class 1; one mistake each way.
Y2_TRUE = [0, 0, 0, 0, 1, 1]
Y2_PRED = [0, 0, 0, 1, 1, 0]
P2 = [[0.9, 0.1], [0.8, 0.2], [0.7, 0.3], [0.4, 0.6], [0.1, 0.9], [0.6, 0.4]]

# Three classes of 2 rows: 'a' half right, 'b' all right, 'c' half right.
Y3_TRUE = ["a", "a", "b", "b", "c", "c"]
Y3_PRED = ["a", "b", "b", "b", "c", "a"]
P3 = [[.7, .2, .1], [.3, .6, .1], [.1, .8, .1], [.2, .7, .1], [.1, .1, .8], [.5, .1, .4]]


def test_two_classes_give_exact_per_class_scores_and_confusion_matrix():
    result = evaluate(Y2_TRUE, Y2_PRED, P2, [0, 1])

    assert result["confusion_matrix"] == [[3, 1], [1, 1]]
    assert result["per_class"] == {
        "0": {"precision": 0.75, "recall": 0.75, "f1": 0.75, "support": 4, "average_precision": approx(0.95),
              "recall_interval": approx([0.3006, 0.9544], abs=1e-4), "few_rows": True},  # Wilson, 3 of 4
        "1": {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2, "average_precision": approx(5 / 6),
              "recall_interval": approx([0.0945, 0.9055], abs=1e-4), "few_rows": True},  # Wilson, 1 of 2
    }
    assert result["classes"] == [0, 1] and result["n_rows"] == 6


def test_two_classes_give_exact_overall_scores():
    result = evaluate(Y2_TRUE, Y2_PRED, P2, [0, 1])

    assert result["balanced_accuracy"] == approx((0.75 + 0.5) / 2)
    assert result["g_mean"] == approx(np.sqrt(0.75 * 0.5))
    assert result["macro_f1"] == approx(0.625)
    assert result["mcc"] == approx((1 * 3 - 1 * 1) / np.sqrt(2 * 2 * 4 * 4))
    assert result["roc_auc"] == approx(7 / 8)  # 0.4 is ranked below one negative, 0.6
    assert result["average_precision"] == result["per_class"]["1"]["average_precision"]  # the minority's


def test_three_classes_give_exact_scores():
    result = evaluate(Y3_TRUE, Y3_PRED, P3, ["a", "b", "c"])

    assert result["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert {c: (r["precision"], r["recall"], r["support"]) for c, r in result["per_class"].items()} == {
        "a": (0.5, 0.5, 2), "b": (approx(2 / 3), 1.0, 2), "c": (1.0, 0.5, 2)}
    assert [result["per_class"][c]["f1"] for c in "abc"] == [0.5, approx(0.8), approx(2 / 3)]
    assert result["balanced_accuracy"] == approx(2 / 3)
    assert result["g_mean"] == approx(0.25 ** (1 / 3))
    assert result["macro_f1"] == approx((0.5 + 0.8 + 2 / 3) / 3)
    assert result["mcc"] == approx((4 * 6 - 12) / np.sqrt(22 * 24))
    assert result["roc_auc"] == approx((7 / 8 + 1 + 1) / 3)  # one-vs-rest, macro
    assert result["average_precision"] == approx((5 / 6 + 1 + 1) / 3)


def test_hard_votes_leave_out_the_probability_metrics():
    result = evaluate(Y2_TRUE, Y2_PRED, None, [0, 1])

    assert result["roc_auc"] is None and result["average_precision"] is None
    assert {r["average_precision"] for r in result["per_class"].values()} == {None}
    assert set(SUMMARY) <= set(result)


@pytest.mark.filterwarnings("ignore:Recall is ill-defined")  # the absent class has no true rows
def test_a_class_absent_from_the_rows_has_zero_support_and_no_ranking_metrics():
    proba = np.hstack([np.asarray(P3) * 0.9, np.full((6, 1), 0.1)])

    result = evaluate(Y3_TRUE, Y3_PRED, proba, ["a", "b", "c", "d"])

    assert result["per_class"]["d"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0,
                                        "average_precision": None, "recall_interval": None, "few_rows": True}
    assert result["confusion_matrix"][3] == [0, 0, 0, 0]
    assert result["roc_auc"] is None and result["average_precision"] is None
    assert result["per_class"]["a"]["average_precision"] == approx(5 / 6)


@pytest.mark.parametrize("name, expected", [
    ("balanced_accuracy", 0.625),
    ("g_mean", np.sqrt(0.375)),
    ("f1", 0.625),  # macro
])
def test_code_objective_agrees_with_the_metrics_of_the_report(name, expected):
    """The weight search's fast scores from one confusion matrix are the report's own numbers."""
    assert code_objective(name, np.asarray(Y2_TRUE), np.asarray(Y2_PRED), 2) == approx(expected)
    report = evaluate(Y2_TRUE, Y2_PRED, None, [0, 1])
    assert code_objective(name, np.asarray(Y2_TRUE), np.asarray(Y2_PRED), 2) == approx(
        {"balanced_accuracy": report["balanced_accuracy"], "g_mean": report["g_mean"],
         "f1": report["macro_f1"]}[name])


def test_code_objective_refuses_an_unknown_objective():
    with pytest.raises(ValueError, match="unknown objective 'accuracy'"):
        code_objective("accuracy", np.asarray(Y2_TRUE), np.asarray(Y2_PRED), 2)


@pytest.mark.parametrize("hits, n, expected", [
    (8, 10, (0.4902, 0.9433)),  # the textbook Wilson interval of 8/10
    (0, 4, (0.0, 0.4899)),  # no hit among 4 rows: still an interval, not [0, 0]
    (4, 4, (0.5101, 1.0)),
])
def test_wilson_interval_of_a_recall(hits, n, expected):
    from imbalance_flows.tasks.evaluation.metrics import wilson_interval

    assert wilson_interval(hits, n) == pytest.approx(list(expected), abs=1e-4)


def test_balanced_accuracy_interval_holds_the_value_and_narrows_with_more_rows():
    from imbalance_flows.tasks.evaluation.metrics import balanced_accuracy_interval

    few = balanced_accuracy_interval([3, 90], [4, 100])
    many = balanced_accuracy_interval([75, 900], [100, 1000])
    assert few[0] <= (3 / 4 + 90 / 100) / 2 <= few[1] and many[0] <= 0.825 <= many[1]
    assert many[1] - many[0] < (few[1] - few[0]) / 2
    assert balanced_accuracy_interval([3, 90], [4, 100]) == few  # seeded: the same rows give the same interval


def test_classes_with_few_test_rows_are_flagged_with_their_intervals():
    y_true = ["common"] * 60 + ["rare"] * 4
    y_pred = ["common"] * 58 + ["rare"] * 2 + ["rare"] * 3 + ["common"]

    result = evaluate(y_true, y_pred, None, ["common", "rare"])

    assert result["few_rows_classes"] == ["rare"]
    assert result["per_class"]["rare"]["few_rows"] and not result["per_class"]["common"]["few_rows"]
    low, high = result["per_class"]["rare"]["recall_interval"]
    assert low < 0.75 < high and high - low > 0.4  # 3 of 4: a wide interval
    assert result["balanced_accuracy_interval"][0] < result["balanced_accuracy"] < result["balanced_accuracy_interval"][1]


@pytest.mark.parametrize("n_classes,seed", [(2, 0), (2, 1), (3, 2), (4, 3)])
def test_the_metrics_agree_with_scikit_learn_and_imbalanced_learn_on_random_predictions_with_ties(n_classes, seed):
    from imblearn.metrics import geometric_mean_score
    from sklearn.metrics import (
        average_precision_score,
        balanced_accuracy_score,
        confusion_matrix,
        f1_score,
        matthews_corrcoef,
        precision_recall_fscore_support,
        roc_auc_score,
    )

    rng = np.random.default_rng(seed)
    classes = np.array([f"c{i}" for i in range(n_classes)])
    y_true = classes[rng.choice(n_classes, 3000, p=np.r_[0.9, np.full(n_classes - 1, 0.1 / (n_classes - 1))])]
    proba = rng.dirichlet(np.ones(n_classes), 3000).round(2)  # rounded: many tied scores
    proba[np.arange(3000), np.searchsorted(classes, y_true)] += 0.3
    proba /= proba.sum(axis=1, keepdims=True)
    y_pred = classes[proba.argmax(axis=1)]
    result = evaluate(y_true, y_pred, proba, classes)

    assert result["confusion_matrix"] == confusion_matrix(y_true, y_pred, labels=classes).tolist()
    assert result["balanced_accuracy"] == approx(balanced_accuracy_score(y_true, y_pred))
    assert result["g_mean"] == approx(geometric_mean_score(y_true, y_pred, labels=classes, average="multiclass"))
    assert result["macro_f1"] == approx(f1_score(y_true, y_pred, labels=classes, average="macro", zero_division=0))
    assert result["mcc"] == approx(matthews_corrcoef(y_true, y_pred))
    precision, recall, f1, support = precision_recall_fscore_support(y_true, y_pred, labels=classes, zero_division=0)
    for i, label in enumerate(classes):
        row = result["per_class"][label]
        assert [row["precision"], row["recall"], row["f1"], row["support"]] == approx(
            [precision[i], recall[i], f1[i], support[i]])
        assert row["average_precision"] == approx(average_precision_score(y_true == label, proba[:, i]))
    if n_classes == 2:
        assert result["roc_auc"] == approx(roc_auc_score(y_true == classes[1], proba[:, 1]))
        assert result["average_precision"] == approx(average_precision_score(y_true == classes[1], proba[:, 1]))
    else:
        assert result["roc_auc"] == approx(roc_auc_score(y_true, proba, labels=classes, multi_class="ovr"))


@pytest.mark.parametrize("first_column", ["one minus the second", "its own scores"])
def test_two_classes_ranking_metrics_from_one_sort_agree_with_scikit_learn(first_column):
    """P(0) as 1 − P(1), rounded (tiny P(1) values it tells apart all give P(0) = 1.0: one threshold there), is
    ranked by sorting P(1) once; any other first column is sorted on its own."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    rng = np.random.default_rng(7)
    y_true = rng.random(4000) < 0.1
    second = np.where(y_true, rng.random(4000) * 0.6 + 0.3, rng.random(4000) * 0.6).round(3)
    second[:300] = rng.integers(1, 50, 300) * 1e-18  # distinct, but 1 − P(1) rounds each of them to 1.0
    first = 1 - second if first_column == "one minus the second" else rng.random(4000).round(2)
    proba, classes = np.c_[first, second], np.array([0, 1])

    result = evaluate(y_true.astype(int), (second > 0.5).astype(int), proba, classes)

    assert result["per_class"]["0"]["average_precision"] == approx(average_precision_score(~y_true, first))
    assert result["per_class"]["1"]["average_precision"] == approx(average_precision_score(y_true, second))
    assert result["roc_auc"] == approx(roc_auc_score(y_true, second))


def test_a_class_never_predicted_or_absent_scores_zero_where_scikit_learn_does():
    result = evaluate([0, 0, 0, 1], [0, 0, 0, 0], [[.8, .1, .1], [.7, .2, .1], [.6, .3, .1], [.5, .4, .1]], [0, 1, 2])

    assert result["per_class"]["1"]["precision"] == 0 and result["per_class"]["2"]["f1"] == 0
    assert result["balanced_accuracy"] == approx(0.5)  # over the classes with rows: 1 and 0
    assert result["g_mean"] == 0.0 and result["mcc"] == 0.0
    assert result["roc_auc"] is None and result["per_class"]["2"]["average_precision"] is None  # class 2 has no rows
