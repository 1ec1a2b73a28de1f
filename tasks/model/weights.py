"""How the ensemble weighs its members and tunes its threshold, on rows the members did not see.

Pure functions of probabilities and class codes: `VotingEnsemble` calls them with its own
judging function, the benchmarks with theirs.
"""

from __future__ import annotations

from itertools import combinations
from typing import Callable

import numpy as np

STEPS = 5  # member weights are searched in fifths
EXHAUSTIVE_MEMBERS = 6  # up to 252 weightings tried; more members are weighed greedily


def search_weights(judge: Callable[[np.ndarray], float], n: int, start: np.ndarray, steps: int = STEPS,
                   exhaustive_members: int = EXHAUSTIVE_MEMBERS) -> np.ndarray:
    """Weights in whole steps of 1/`steps` that make the best vote, as `judge(weights)` scores it.

    Every such weighting is tried (21 for three members in fifths, 252 for six); with more
    than `exhaustive_members` members, the same steps are given out greedily, one at a time,
    to the member that helps most. `start` is kept unless a weighting votes better; among
    tied weightings the one closest to it wins.
    """
    if n <= exhaustive_members:
        grid = weight_grid(n, steps)
        values = np.array([judge(weights) for weights in grid])
        tied = grid[values >= values.max() - 1e-12]
        best = tied[np.abs(tied - start).sum(axis=1).argmin()]
    else:
        given = np.zeros(n)
        for _ in range(steps):
            values = np.array([judge((given + np.eye(n)[i]) / (given.sum() + 1)) for i in range(n)])
            tied = np.flatnonzero(values >= values.max() - 1e-12)
            given[tied[np.argmax(start[tied])]] += 1
        best = given / given.sum()
    return start if judge(start) >= judge(best) - 1e-12 else best


def best_cut(scores: np.ndarray, is_positive: np.ndarray, objective: str,
             costs: np.ndarray | None = None) -> tuple[float, float]:
    """The cut on the positive class's scores that maximises `objective`, and the value it reaches there.

    For objective "cost", `costs` is [[true negative, false positive], [false negative, true positive]]
    costs and the value is minus the mean cost per row.

    Candidate cuts are 201 quantiles of the scores and 0.5; ties go to the cut closest
    to 0.5, so that a flat objective keeps the usual rule. Every cut is scored at once
    from the class-wise counts of rows at or above it.
    """
    scores = np.asarray(scores, dtype=float)
    is_positive = np.asarray(is_positive, dtype=bool)
    ordered = np.sort(scores)  # np.quantile partitions a sorted array several times faster
    candidates = np.unique(np.concatenate([np.quantile(ordered, np.linspace(0, 1, 201)), [0.5]]))
    candidates = candidates[np.argsort(np.abs(candidates - 0.5), kind="stable")]
    n_pos, n_neg = int(is_positive.sum()), int((~is_positive).sum())
    tp = n_pos - np.searchsorted(np.sort(scores[is_positive]), candidates, side="left")
    fp = n_neg - np.searchsorted(np.sort(scores[~is_positive]), candidates, side="left")
    with np.errstate(divide="ignore", invalid="ignore"):
        tpr = tp / n_pos if n_pos else np.zeros(len(candidates))
        tnr = (n_neg - fp) / n_neg if n_neg else np.zeros(len(candidates))
        if objective == "balanced_accuracy":
            values = (tpr + tnr) / 2 if n_pos and n_neg else np.maximum(tpr, tnr)
        elif objective == "g_mean":
            values = np.sqrt(tpr * tnr) if n_pos and n_neg else np.maximum(tpr, tnr)
        elif objective == "f1":
            denominator = tp + fp + n_pos  # 2·tp + fp + fn
            values = np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1), 0.0)
        elif objective == "cost":
            (tn_cost, fp_cost), (fn_cost, tp_cost) = costs
            total = tp * tp_cost + (n_pos - tp) * fn_cost + fp * fp_cost + (n_neg - fp) * tn_cost
            values = -total / max(n_pos + n_neg, 1)
        else:
            raise ValueError(f"unknown threshold objective {objective!r}")
    # The first maximum in closeness-to-0.5 order, up to rounding noise.
    best = int(np.flatnonzero(values >= values.max() - 1e-12)[0])
    return float(candidates[best]), float(values[best])


def code_objective(objective: str, codes: np.ndarray, votes: np.ndarray, n_classes: int,
                   costs: np.ndarray | None = None) -> float:
    """Balanced accuracy, G-mean, macro-F1 or minus the mean cost of predicted class codes, from one confusion matrix.

    For the many weightings `VotingEnsemble` tries on rows where every class is present
    (as the stratified splits and out-of-fold rows are), without scikit-learn's input checks. A class absent from `codes` is left out
    of balanced accuracy and G-mean, and counts as F1 0.
    """
    matrix = np.bincount(codes * n_classes + votes, minlength=n_classes ** 2).reshape(n_classes, n_classes)
    support, predicted, hits = matrix.sum(1), matrix.sum(0), np.diag(matrix)
    present = support > 0
    recall = hits[present] / support[present]
    if objective == "balanced_accuracy":
        return float(recall.mean())
    if objective == "g_mean":
        return float(np.prod(recall) ** (1 / len(recall)))
    if objective == "cost":
        return -float((matrix * costs).sum() / max(len(codes), 1))
    if objective == "f1":
        denominator = support + predicted
        return float(np.mean(np.where(denominator > 0, 2 * hits / np.maximum(denominator, 1), 0.0)))
    raise ValueError(f"unknown objective {objective!r}")


def weight_grid(n: int, steps: int = STEPS) -> np.ndarray:
    """Every weighting of `n` members in whole steps of 1/`steps` (each row sums to 1)."""
    # Stars and bars: `steps` units shared among n members.
    rows = [np.diff([-1, *bars, steps + n - 1]) - 1 for bars in combinations(range(steps + n - 1), n - 1)]
    return np.array(rows, dtype=float) / steps
