"""Metrics that respect imbalance, per class and overall, for members and the ensemble."""

from __future__ import annotations

from typing import Literal

import numpy as np

SUMMARY = ("balanced_accuracy", "g_mean", "macro_f1", "mcc", "roc_auc", "average_precision")
FEW_TEST_ROWS = 30  # a class with fewer test rows is flagged: its per-class figures rest on few rows
Z_95 = 1.959964  # the normal quantile of a two-sided 95 % interval
Metric = Literal[SUMMARY]  # type: ignore[valid-type]  # the metrics a champion/challenger decision may use


def evaluate(y_true, y_pred, proba, classes) -> dict:
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

    Returns
    -------
    dict
        Overall metrics (see `SUMMARY`), a `per_class` dict of precision, recall,
        F1, support and average precision, and the `confusion_matrix` (rows: true).
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
