"""Row-wise sums and maxima of narrow arrays: millions of rows of a few class probabilities each.

numpy reduces along a row of two values one row at a time, with the machinery of a whole reduction each
time: on millions of rows that is many times slower than comparing or adding whole columns (the calibrated
probabilities in bench/results/hot_paths.md). These go a column at a time, adding in the same order as numpy's
row sum, so the figures are the same. From `PAIRWISE_FROM` values a row, numpy adds them pairwise, in another
order: there `row_sums` is numpy's own.
"""

from __future__ import annotations

import numpy as np

PAIRWISE_FROM = 8  # numpy's sums of 8 values or more are pairwise (its `pairwise_sum`)


def row_sums(values: np.ndarray) -> np.ndarray:
    """`values.sum(axis=1)` of a 2-D array, one column at a time (numpy's own from `PAIRWISE_FROM` columns)."""
    if values.shape[1] >= PAIRWISE_FROM:
        return values.sum(axis=1)
    total = values[:, 0].copy()
    for column in range(1, values.shape[1]):
        total += values[:, column]
    return total


def row_maxima(values: np.ndarray) -> np.ndarray:
    """`values.max(axis=1)` of a 2-D array (NaN where a row holds one), one column at a time."""
    top = values[:, 0].copy()
    for column in range(1, values.shape[1]):
        np.maximum(top, values[:, column], out=top)
    return top
