"""Two models compared on the same rows: the paired difference and its bootstrap bound, on hand-made votes."""

import numpy as np
import pytest

from imbalance_flows.tasks.evaluation.compare import from_confusion, paired_difference
from imbalance_flows.tasks.evaluation.metrics import evaluate

CLASSES = ["common", "rare"]


def votes(truth, right_share, seed):
    """Votes that are right on `right_share` of the rows (chosen at random), wrong on the others."""
    rng = np.random.default_rng(seed)
    flipped = np.where(truth == "rare", "common", "rare")
    return np.where(rng.random(len(truth)) < right_share, truth, flipped)


@pytest.fixture(scope="module")
def truth():
    return np.where(np.random.default_rng(0).random(4000) < 0.1, "rare", "common")


@pytest.mark.parametrize("metric", ["balanced_accuracy", "g_mean", "macro_f1", "mcc"])
def test_the_label_metrics_of_a_confusion_matrix_are_those_of_the_report(truth, metric):
    predicted = votes(truth, 0.8, 1)
    report = evaluate(truth, predicted, None, CLASSES)
    assert from_confusion(np.asarray(report["confusion_matrix"]), metric) == pytest.approx(report[metric])


def test_a_clearly_better_model_is_better_with_confidence_and_a_copy_is_a_tie(truth):
    good, bad = votes(truth, 0.92, 1), votes(truth, 0.80, 2)

    better = paired_difference(truth, (good, None), (bad, None), CLASSES, "balanced_accuracy")
    worse = paired_difference(truth, (bad, None), (good, None), CLASSES, "balanced_accuracy")
    tie = paired_difference(truth, (good, None), (good, None), CLASSES, "balanced_accuracy")

    report = {name: evaluate(truth, v, None, CLASSES)["balanced_accuracy"] for name, v in (("good", good), ("bad", bad))}
    assert better["difference"] == pytest.approx(report["good"] - report["bad"])
    assert 0 < better["low"] < better["difference"] < better["high"]
    assert worse["high"] < 0 and worse["difference"] == pytest.approx(-better["difference"])
    assert tie == {"difference": 0.0, "low": 0.0, "high": 0.0, "confidence": 0.95, "rows": len(truth)}


def test_a_difference_of_one_row_is_within_the_noise(truth):
    few = truth[:300]
    first = votes(few, 0.9, 3)
    second = first.copy()
    second[np.flatnonzero((few == "rare") & (first == "rare"))[0]] = "common"  # one rare row more missed

    compared = paired_difference(few, (first, None), (second, None), CLASSES, "g_mean")

    assert compared["low"] <= 0 < compared["difference"]  # better on these rows, not shown better


def test_cost_per_row_counts_smaller_as_better_and_ranking_metrics_need_probabilities(truth):
    costs = np.array([[0.0, 1.0], [20.0, 0.0]])  # a missed rare row costs 20
    finds_rare = np.where(truth == "rare", "rare", votes(truth, 0.7, 5))  # every rare row, many false alarms
    cautious = np.where(truth == "rare", votes(truth, 0.5, 6), "common")  # half the rare rows, no false alarm

    compared = paired_difference(truth, (finds_rare, None), (cautious, None), CLASSES, "cost_per_row", costs=costs)

    cost = {name: evaluate(truth, v, None, CLASSES, costs)["cost_per_row"]
            for name, v in (("finds", finds_rare), ("cautious", cautious))}
    assert compared["difference"] == pytest.approx(cost["cautious"] - cost["finds"]) and compared["low"] > 0
    hard = paired_difference(truth, (finds_rare, None), (cautious, None), CLASSES, "roc_auc")
    assert hard["difference"] is None and hard["low"] is None  # hard voting gives no probabilities
