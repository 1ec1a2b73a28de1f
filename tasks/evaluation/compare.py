"""Two models compared on the same rows: how much better one is on a metric, and how sure that is.

A paired bootstrap: the rows are drawn again with replacement, the same draw for both models, and the
difference of the metric is computed on each draw; its quantiles bound the difference. The label
metrics (balanced accuracy, G-mean, macro F1, MCC, cost per row) depend on the rows only through
the counts of (true class, first model's vote, second model's vote), so a draw is a Poisson count
per cell (the Poisson bootstrap) and costs nothing whatever the number of rows. The ranking metrics
(ROC-AUC, average precision) need the rows: fewer draws of them (`RANKING_ROUNDS`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from imbalance_flows.tasks.evaluation.metrics import _mcc, _ratio
from imbalance_flows.tasks.evaluation.metrics import evaluate as score

LABEL_METRICS = ("balanced_accuracy", "g_mean", "macro_f1", "mcc", "cost_per_row")
ROUNDS = 2000
RANKING_ROUNDS = 200


def from_confusion(matrix: np.ndarray, metric: str, costs: np.ndarray | None = None) -> float:
    """A label metric of a confusion matrix of counts (rows: true class), as `metrics.evaluate` computes it."""
    matrix = np.asarray(matrix, dtype=float)
    hits, support, predicted = np.diag(matrix), matrix.sum(axis=1), matrix.sum(axis=0)
    recall = _ratio(hits, support)
    if metric == "balanced_accuracy":
        return float(recall[support > 0].mean()) if support.any() else 0.0
    if metric == "g_mean":
        return float(np.exp(np.log(recall).mean())) if (recall > 0).all() else 0.0
    if metric == "macro_f1":
        return float(_ratio(2 * hits, support + predicted).mean())
    if metric == "mcc":
        return _mcc(matrix)
    if metric == "cost_per_row":
        return float((matrix * np.asarray(costs)).sum() / max(matrix.sum(), 1.0))
    raise ValueError(f"{metric} is not a label metric")


def paired_difference(labels, first: tuple, second: tuple, classes, metric: str, confidence: float = 0.95,
                      costs: np.ndarray | None = None, seed: int = 0) -> dict:
    """How much better `first` is than `second` on `metric` over the same labelled rows, with a one-sided bound.

    `first` and `second` are each (votes, probabilities or None) for the rows of `labels`. The
    difference is first − second (second − first for `cost_per_row`, where smaller is better), so that
    a positive difference always means `first` is better. `low` is the bootstrap's `1 − confidence`
    quantile of the difference: with `confidence` 0.95, `first` is better by more than `low` in 95 %
    of the draws. A metric either model cannot give (ranking metrics of hard voting) is None.
    """
    index = pd.Index(classes)
    y, a, b = (index.get_indexer(np.asarray(values)) for values in (labels, first[0], second[0]))
    known = (y >= 0) & (a >= 0) & (b >= 0)
    y, a, b = y[known], a[known], b[known]
    sign = -1.0 if metric == "cost_per_row" else 1.0
    rng = np.random.default_rng(seed)
    k = len(classes)
    if metric in LABEL_METRICS:
        cells = np.bincount((y * k + a) * k + b, minlength=k ** 3).reshape(k, k, k)  # true, first, second

        def difference(counts):
            return sign * (from_confusion(counts.sum(axis=2), metric, costs)
                           - from_confusion(counts.sum(axis=1), metric, costs))

        observed = difference(cells)
        draws = [difference(drawn) for drawn in rng.poisson(cells, size=(ROUNDS, k, k, k))]
    else:
        if first[1] is None or second[1] is None:
            return {"difference": None, "low": None, "high": None, "confidence": confidence, "rows": int(len(y))}
        proba_a, proba_b = np.asarray(first[1])[known], np.asarray(second[1])[known]
        truth = np.asarray(classes)[y]

        def difference(rows):
            value_a = score(truth[rows], np.asarray(classes)[a[rows]], proba_a[rows], classes)[metric]
            value_b = score(truth[rows], np.asarray(classes)[b[rows]], proba_b[rows], classes)[metric]
            return None if value_a is None or value_b is None else value_a - value_b

        observed = difference(np.arange(len(y)))
        draws = [difference(rng.integers(0, len(y), len(y))) for _ in range(RANKING_ROUNDS)]
        draws = [value for value in draws if value is not None]
        if observed is None or not draws:
            return {"difference": None, "low": None, "high": None, "confidence": confidence, "rows": int(len(y))}
    low, high = np.quantile(draws, [1 - confidence, confidence])
    return {"difference": float(observed), "low": float(low), "high": float(high), "confidence": confidence,
            "rows": int(len(y))}
