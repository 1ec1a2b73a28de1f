"""Metrics that respect imbalance, per class and overall, for members and the ensemble."""

from __future__ import annotations

from typing import Literal

import numpy as np

SUMMARY = ("balanced_accuracy", "g_mean", "macro_f1", "mcc", "roc_auc", "average_precision")
CALIBRATION = ("brier", "log_loss", "calibration_error")  # of the probabilities; smaller is better
CALIBRATION_BINS = 15
FEW_TEST_ROWS = 30  # a class with fewer test rows is flagged: its per-class figures rest on few rows
Z_95 = 1.959964  # the normal quantile of a two-sided 95 % interval
Metric = Literal[SUMMARY]  # type: ignore[valid-type]  # the metrics a champion/challenger decision may use


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
    # Imported here: the metric names above are read by the command line, which must start fast.
    from imblearn.metrics import geometric_mean_score
    from sklearn.metrics import (
        balanced_accuracy_score,
        confusion_matrix,
        f1_score,
        matthews_corrcoef,
        precision_recall_fscore_support,
    )

    y_true, y_pred, classes = np.asarray(y_true), np.asarray(y_pred), np.asarray(classes)
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=classes, zero_division=0)
    result = {
        "n_rows": int(len(y_true)),
        "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)),
        "g_mean": float(geometric_mean_score(y_true, y_pred, labels=classes, average="multiclass")),
        "macro_f1": float(f1_score(y_true, y_pred, labels=classes, average="macro", zero_division=0)),
        "mcc": float(matthews_corrcoef(y_true, y_pred)),
        "roc_auc": None,
        "average_precision": None,
        "per_class": {},
        "classes": classes.tolist(),
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=classes).tolist(),
    }
    per_class_ap = [None] * len(classes) if proba is None else _ranking_scores(result, y_true, proba, classes)
    result.update(calibration_scores(y_true, proba, classes) if proba is not None
                  else dict.fromkeys(CALIBRATION))
    if costs is not None:
        matrix = np.asarray(result["confusion_matrix"])
        result["cost_per_row"] = float((matrix * np.asarray(costs)).sum() / max(len(y_true), 1))
    hits = np.diag(np.asarray(result["confusion_matrix"]))
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


def _ranking_scores(result: dict, y_true: np.ndarray, proba, classes: np.ndarray) -> list:
    """Set ROC-AUC and average precision in `result` from the probabilities; return each class's average precision.

    Two classes: the minority class's; several: the macro means (one-vs-rest), only when every class is present.
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    proba = np.asarray(proba, dtype=float)
    onehot = (y_true[:, None] == classes[None, :]).astype(int)
    present = onehot.sum(axis=0) > 0
    per_class_ap = [float(average_precision_score(onehot[:, i], proba[:, i])) if present[i] else None
                    for i in range(len(classes))]
    if len(classes) == 2:
        result["roc_auc"] = float(roc_auc_score(onehot[:, 1], proba[:, 1]))
        result["average_precision"] = per_class_ap[int(np.argmin(onehot.sum(axis=0)))]
    elif present.all():
        result["roc_auc"] = float(roc_auc_score(y_true, proba, labels=classes, multi_class="ovr", average="macro"))
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
    y_true, proba, classes = np.asarray(y_true), np.asarray(proba, dtype=float), np.asarray(classes)
    onehot = (y_true[:, None] == classes[None, :]).astype(float)
    if not len(y_true):
        return dict.fromkeys(CALIBRATION)
    log_loss = float(-np.mean(np.log(np.clip((proba * onehot).sum(axis=1), 1e-15, 1.0))))
    if len(classes) == 2:
        rarer = int(np.argmin(onehot.sum(axis=0)))
        scores, hits = proba[:, rarer], onehot[:, rarer]
        brier = float(np.mean((scores - hits) ** 2))
    else:
        scores = proba.max(axis=1)
        hits = onehot[np.arange(len(proba)), proba.argmax(axis=1)]
        brier = float(np.mean(((proba - onehot) ** 2).sum(axis=1)))
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
