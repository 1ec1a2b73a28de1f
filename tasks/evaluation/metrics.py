"""Metrics that respect imbalance, per class and overall, for members and the ensemble."""

from __future__ import annotations

from typing import Literal

import numpy as np

from imbalance_flows.tasks.narrow import row_sums

SUMMARY = ("balanced_accuracy", "g_mean", "macro_f1", "mcc", "roc_auc", "average_precision")
CALIBRATION = ("brier", "log_loss", "calibration_error")  # of the probabilities; smaller is better
CALIBRATION_BINS = 15
FEW_TEST_ROWS = 30  # a class with fewer test rows is flagged: its per-class figures rest on few rows
Z_95 = 1.959964  # the normal quantile of a two-sided 95 % interval
Metric = Literal[SUMMARY]  # type: ignore[valid-type]
DECISION_METRICS = (*SUMMARY, "cost_per_row")  # what a champion/challenger decision may use; cost: smaller is better
DecisionMetric = Literal[DECISION_METRICS]  # type: ignore[valid-type]


def evaluate(y_true, y_pred, proba, classes, costs=None) -> dict:
    """Score predictions on held-out rows.

    Parameters
    ----------
    y_true, y_pred : array-like
        True and predicted labels.
    proba : ndarray of shape (n_rows, n_classes) or None
        Class probabilities in the order of `classes`; None for hard voting,
        in which case ROC-AUC and average precision are left out.
    classes : array-like
        All classes the model knows, in order.
    costs : ndarray of shape (n_classes, n_classes) or None
        cost[true][predicted] in the order of `classes`: adds `cost_per_row`, the mean cost of the predictions.

    Returns
    -------
    dict
        Overall metrics (see `SUMMARY`), the probabilities' calibration (see `CALIBRATION`;
        None for hard voting), a `per_class` dict of precision, recall, F1, support and
        average precision, and the `confusion_matrix` (rows: true).
    """
    from imbalance_flows.tasks.data.splits import label_positions

    y_true, y_pred, classes = np.asarray(y_true), np.asarray(y_pred), np.asarray(classes)
    true = label_positions(y_true, classes)  # once, for every metric below
    matrix = _counted(true, label_positions(y_pred, classes), len(classes))
    hits, support, predicted = np.diag(matrix), matrix.sum(axis=1), matrix.sum(axis=0)
    precision, recall = _ratio(hits, predicted), _ratio(hits, support)
    f1 = _ratio(2 * hits, support + predicted)
    result = {
        "n_rows": int(len(y_true)),
        "balanced_accuracy": float(recall[support > 0].mean()) if support.any() else 0.0,
        # imbalanced-learn's multi-class G-mean: 0 as soon as one class (seen or not) is never found
        "g_mean": float(np.exp(np.log(recall).mean())) if (recall > 0).all() else 0.0,
        "macro_f1": float(f1.mean()),
        "mcc": _mcc(matrix),
        "roc_auc": None,
        "average_precision": None,
        "per_class": {},
        "classes": classes.tolist(),
        "confusion_matrix": matrix.tolist(),
    }
    per_class_ap = [None] * len(classes) if proba is None else _ranking_scores(result, true, proba, len(classes))
    result.update(_calibration(true, proba, len(classes)) if proba is not None else dict.fromkeys(CALIBRATION))
    if costs is not None:
        matrix = np.asarray(result["confusion_matrix"])
        result["cost_per_row"] = float((matrix * np.asarray(costs)).sum() / max(len(y_true), 1))
    for i, label in enumerate(classes.tolist()):
        result["per_class"][str(label)] = {
            "precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
            "support": int(support[i]), "average_precision": per_class_ap[i],
            "recall_interval": wilson_interval(int(hits[i]), int(support[i])),
            "few_rows": bool(support[i] < FEW_TEST_ROWS),
        }
    result["balanced_accuracy_interval"] = balanced_accuracy_interval(hits, support)
    result["few_rows_classes"] = [str(label) for label, n in zip(classes.tolist(), support) if n < FEW_TEST_ROWS]
    return result


def confusion(y_true: np.ndarray, y_pred: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """The confusion matrix in the order of `classes` (rows: true), counted in one pass.

    Labels outside `classes` are left out, as scikit-learn's `confusion_matrix(labels=...)` does.
    The metrics are all read from it: on 2M test rows, scikit-learn's functions, each checking
    and counting the labels again, took 3.75 s a model (bench/results/hot_paths.md).
    """
    from imbalance_flows.tasks.data.splits import label_positions

    return _counted(label_positions(y_true, classes), label_positions(y_pred, classes), len(classes))


def _counted(true: np.ndarray, predicted: np.ndarray, n: int) -> np.ndarray:
    """The confusion matrix of labels given as their positions among `n` classes (-1: none of them, left out)."""
    known = (true >= 0) & (predicted >= 0)
    return np.bincount(true[known] * n + predicted[known], minlength=n * n).reshape(n, n)


def _ratio(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """top / bottom, 0 where bottom is 0 (scikit-learn's zero_division=0)."""
    return np.divide(top, bottom, out=np.zeros(len(top)), where=bottom > 0)


def _mcc(matrix: np.ndarray) -> float:
    """Matthews' correlation coefficient (its multi-class form, R_K) from the confusion matrix; 0 when undefined."""
    matrix = matrix.astype(float)
    true, predicted, n = matrix.sum(axis=1), matrix.sum(axis=0), matrix.sum()
    covariance = np.trace(matrix) * n - true @ predicted
    spread = (n * n - predicted @ predicted) * (n * n - true @ true)
    return float(covariance / np.sqrt(spread)) if spread > 0 else 0.0


def ranking_curve_scores(hits: np.ndarray, scores: np.ndarray, order: np.ndarray | None = None
                         ) -> tuple[float, float] | None:
    """ROC-AUC and average precision of `scores` for the rows where `hits` is true, from one sort (or from `order`,
    the rows' positions by decreasing score, where it is known).

    As scikit-learn computes them (`roc_auc_score`, `average_precision_score`): tied scores are one
    threshold, the ROC curve is integrated by trapezoids and precision is summed over recall's steps.
    None when the rows are all hits or all misses.
    """
    if not len(scores):
        return None
    # Tied scores are one threshold (counted at the last row of their run), so their order among themselves does
    # not matter: the unstable sort, about 3 × faster than a stable one on 2M test rows, gives the same figures.
    order = np.argsort(scores)[::-1] if order is None else order
    scores, hits = scores[order], hits[order].astype(float)
    last = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]  # the last row of each run of tied scores
    true_pos = np.cumsum(hits)[last]
    false_pos = last + 1 - true_pos
    if true_pos[-1] == 0 or false_pos[-1] == 0:
        return None
    tpr, fpr = np.r_[0, true_pos] / true_pos[-1], np.r_[0, false_pos] / false_pos[-1]
    roc_auc = float(np.trapezoid(tpr, fpr))
    precision = true_pos / (true_pos + false_pos)
    average_precision = float(np.sum(np.diff(tpr) * precision))
    return roc_auc, average_precision


def _ranking_scores(result: dict, codes: np.ndarray, proba, n: int) -> list:
    """Set ROC-AUC and average precision in `result` from the probabilities of rows whose true labels are these
    positions among `n` classes; return each class's average precision.

    Two classes: the minority class's; several: the macro means (one-vs-rest), only when every class is present.
    """
    proba = np.asarray(proba, dtype=float)
    if n == 2:
        # One sort for both classes: by increasing P(1) the rows are by decreasing P(0) wherever P(0) never rises
        # along that order (it is 1 − P(1), rounded), and ties of P(0) are found on its own values.
        rising = np.argsort(proba[:, 1])
        falling_first = rising if (np.diff(proba[rising, 0]) <= 0).all() else None
        curves = [ranking_curve_scores(codes == 0, proba[:, 0], falling_first),
                  ranking_curve_scores(codes == 1, proba[:, 1], rising[::-1])]
    else:
        curves = [ranking_curve_scores(codes == i, proba[:, i]) for i in range(n)]
    per_class_ap = [None if curve is None else curve[1] for curve in curves]
    counts = np.bincount(codes[codes >= 0], minlength=n)
    if n == 2 and curves[1] is not None:
        result["roc_auc"] = curves[1][0]
        result["average_precision"] = per_class_ap[int(np.argmin(counts))]
    elif n > 2 and all(curve is not None for curve in curves):  # every class present, and not alone
        result["roc_auc"] = float(np.mean([curve[0] for curve in curves]))
        result["average_precision"] = float(np.mean(per_class_ap))
    return per_class_ap


def calibration_scores(y_true, proba, classes, bins: int = CALIBRATION_BINS) -> dict:
    """Brier score, log-loss and expected calibration error of class probabilities (smaller is better).

    Two classes: of the probability of the class rarer among these rows (Brier: its mean
    squared error; calibration error: over `bins` equal-width bins of it). Several classes:
    the multi-class Brier score (squared error summed over classes) and the calibration error
    of the most likely class's probability (its confidence). Log-loss takes probabilities
    below 1e-15 as 1e-15.
    """
    from imbalance_flows.tasks.data.splits import label_positions

    return _calibration(label_positions(y_true, classes), proba, len(classes), bins)


def _calibration(codes: np.ndarray, proba, n: int, bins: int = CALIBRATION_BINS) -> dict:
    """`calibration_scores` of rows whose true labels are these positions among `n` classes."""
    proba = np.asarray(proba, dtype=float)
    if not len(proba):
        return dict.fromkeys(CALIBRATION)
    # Each row's true class picked by position, not through a one-hot table of every row and class.
    rows, known = np.arange(len(proba)), codes >= 0  # -1: a label of none of the classes, whose probability is 0
    true_proba = np.where(known, proba[rows, np.maximum(codes, 0)], 0.0)
    log_loss = float(-np.mean(np.log(np.clip(true_proba, 1e-15, 1.0))))
    if n == 2:
        rarer = int(np.argmin(np.bincount(codes[known], minlength=n)))
        scores, hits = proba[:, rarer], (codes == rarer).astype(float)
        brier = float(np.mean((scores - hits) ** 2))
    else:
        picked = proba.argmax(axis=1)
        scores, hits = proba[rows, picked], (codes == picked).astype(float)
        squared = proba ** 2  # (p − 0)² for every class but the true one, (p − 1)² for it
        squared[rows[known], codes[known]] = (true_proba[known] - 1) ** 2
        brier = float(np.mean(row_sums(squared)))
    binned = np.clip((scores * bins).astype(int), 0, bins - 1)
    count = np.bincount(binned, minlength=bins)
    gap = np.abs(np.bincount(binned, scores, bins) - np.bincount(binned, hits, bins))  # per bin: n · |mean p − rate|
    return {"brier": brier, "log_loss": log_loss, "calibration_error": float(gap.sum() / count.sum())}


def wilson_interval(successes: int, n: int, z: float = Z_95) -> list[float] | None:
    """The Wilson score interval (95 %) of a proportion, e.g. a class's recall: hits among its rows.

    Unlike the normal approximation it stays inside [0, 1] and is honest for few rows
    or a recall of 0 or 1. None when there are no rows.
    """
    if n == 0:
        return None
    share = successes / n
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(share * (1 - share) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [float(max(0.0, centre - half)), float(min(1.0, centre + half))]


def balanced_accuracy_interval(hits, support, draws: int = 2000, seed: int = 0) -> list[float] | None:
    """A 95 % interval of balanced accuracy by a stratified bootstrap of the test rows.

    Resampling a class's rows with replacement makes its hits binomial (its rows, its
    recall), so the bootstrap is drawn exactly and cheaply, class by class, with a fixed seed.
    """
    hits, support = np.asarray(hits, dtype=float), np.asarray(support)
    present = support > 0
    if not present.any():
        return None
    rng = np.random.default_rng(seed)
    recalls = rng.binomial(support[present], hits[present] / support[present],
                           size=(draws, int(present.sum()))) / support[present]
    low, high = np.quantile(recalls.mean(axis=1), [0.025, 0.975])
    return [float(low), float(high)]
