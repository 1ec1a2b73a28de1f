"""A member's first steps: coerced table → numbers (numeric features imputed, categories coded),
and for linear members those numbers standardised and one-hot coded."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin

from imbalance_flows.tasks.learners.registry import newton_steps


class TablePrep(TransformerMixin, BaseEstimator):
    """Numeric features with missing values set to the training median; categories as codes.

    The output has the numeric features first, then the categorical ones, as floats.
    A category's code is its position in `categories` (sorted, the missing marker
    among them), as scikit-learn's OrdinalEncoder gives it; a category not in the list
    gets -1. It does the work of a ColumnTransformer of SimpleImputer and
    OrdinalEncoder on the already coerced table (see `imbalance_flows.tasks.data.schema.coerce`) a block of
    columns at a time, which matters because a member is fitted several times when it is
    cross-fitted, and on wide tables (a column at a time, 376 columns took 40 ms a fit).

    Parameters
    ----------
    numeric : list of str
    categorical : list of str
    categories : list of list of str
        For each categorical feature, its known categories in code order.
    """

    def __init__(self, numeric=(), categorical=(), categories=()):
        self.numeric = numeric
        self.categorical = categorical
        self.categories = categories

    def fit(self, X: pd.DataFrame, y=None):
        medians = np.zeros(len(self.numeric))
        for columns, values in _numeric_blocks(X, self.numeric, None):  # float32 stays float32: no float64 copy
            medians[columns] = _medians(values)
        self.medians_ = medians
        self.n_features_in_ = len(self.numeric) + len(self.categorical)
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        """Floats in one array, float32 where every numeric feature came as float32 (see `coerce`)."""
        held = X.dtypes  # one lookup: a column at a time costs about 20 µs each
        single = len(self.numeric) and all(held[name] == np.float32 for name in self.numeric)
        out = np.empty((len(X), len(self.numeric) + len(self.categorical)), dtype=np.float32 if single else float,
                       order="F")
        for columns, values in _numeric_blocks(X, self.numeric, out.dtype):
            out[:, columns] = values
            rows, at = np.nonzero(np.isnan(values))
            out[rows, columns[at]] = self.medians_[columns[at]]
        for position, (name, known) in enumerate(zip(self.categorical, self.categories), len(self.numeric)):
            out[:, position] = category_codes(X[name], known)
        return out


def category_codes(column: pd.Series, known) -> np.ndarray:
    """Each value's position in `known`, -1 for a value not there (as `pd.Index(known).get_indexer(column)`): the
    column's distinct values are found once and looked up, a third of the time of building the index and looking up
    every value (a member is prepared about a dozen times in a cross-fitted fit)."""
    found, distinct = pd.factorize(column, use_na_sentinel=True)
    position = {text: code for code, text in enumerate(known)}
    return np.array([position.get(value, -1) for value in distinct] + [-1])[found]  # missing (-1): the last, -1


# At most this many values are copied out of a table at once (64 MiB as float64): the whole table on small data,
# a block of its columns at a time on large data, never a copy of a large table.
BLOCK_VALUES = 1 << 23


def _numeric_blocks(X: pd.DataFrame, names, dtype):
    """(positions, values) for consecutive blocks of the `names` columns of X: their positions in `names` and their
    values as a `dtype` array, a row per row of X (None: as held where the block's columns share a float type,
    else float64)."""
    width = max(1, BLOCK_VALUES // max(len(X), 1))
    for start in range(0, len(names), width):
        block = list(names[start:start + width])
        frame = X[block]
        kinds = set(frame.dtypes)
        as_held = dtype is None and len(kinds) == 1 and kinds <= {np.dtype(np.float32), np.dtype(float)}
        values = frame.to_numpy() if as_held else frame.to_numpy(dtype=dtype or float)
        yield np.arange(start, start + len(block)), values


def _medians(values: np.ndarray) -> np.ndarray:
    """Each column's median in float64, as `np.median` gives it, its missing values left out; 0 for a column with
    none (a cross-fitting fold may hold no value of a feature). A column of float32 is partitioned as it is, one
    column at a time: its two middle values are those of its float64 copy (on 800k rows × 30 float32 features,
    0.30 s against 0.41 s for `np.median` of a float64 copy, 0.95 s where that copy is the process's first use of
    the memory)."""
    out, n_rows = np.zeros(values.shape[1]), len(values)
    middle = [(n_rows - 1) // 2, n_rows // 2]
    for position in range(values.shape[1]):
        column = values[:, position]
        missing = np.isnan(column)
        if not missing.any():
            if n_rows:
                part = np.partition(column, middle)
                out[position] = (float(part[middle[0]]) + float(part[middle[1]])) / 2
        elif not missing.all():
            out[position] = np.median(column[~missing].astype(float))
    return out


# A linear member fitted by Newton steps gets its one-hot output dense, however many zeros it holds, up to
# DENSE_WIDTH columns and DENSE_CELLS values (16 MiB): where that changed the output, its cross-fitted fit took 0.48
# to 0.85 × the time it took on sparse rows; on wider outputs, dense rows were slower (bench/results/linear_prep.md).
DENSE_WIDTH, DENSE_CELLS = 100, 2_000_000


class LinearPrep(TransformerMixin, BaseEstimator):
    """A linear member's view of `TablePrep`'s output: numbers standardised, categories one-hot.

    The first `n_numeric` columns are scaled to mean 0 and standard deviation 1 on the
    training rows, as StandardScaler does (a column constant up to rounding is only
    centred, by its test). Each following column holds a categorical feature's codes
    0 … size − 1 and becomes `size` indicator columns, all 0 for an unknown category
    (code -1), as OneHotEncoder(handle_unknown="ignore") does. Every known category keeps
    its column, whether the training rows hold it or not, so the width is the schema's.
    The output is sparse (CSR) when less than 30 % of the training rows' output is
    non-zero, decided at fit as a ColumnTransformer decides it, so that a feature with
    thousands of categories does not fill memory; it stays dense, fitted with class labels,
    where the linear member takes Newton steps on a small output (DENSE_WIDTH).

    Parameters
    ----------
    n_numeric : int
    sizes : list of int
        For each categorical feature, its number of known categories.
    """

    def __init__(self, n_numeric=0, sizes=()):
        self.n_numeric = n_numeric
        self.sizes = sizes

    def fit(self, X, y=None):
        X = self._check(X)
        self.n_features_in_ = X.shape[1]
        numbers = X[:, :self.n_numeric]
        # In float64 whatever the input: float32's own sums overflow on values far below its largest.
        self.mean_ = numbers.mean(axis=0, dtype=float)
        variance = numbers.var(axis=0, dtype=float)
        # StandardScaler's test: a variance within rounding error of the mean's size is 0.
        eps, n_rows = np.finfo(float).eps, len(X)
        constant = variance <= n_rows * eps * variance + (n_rows * self.mean_ * eps) ** 2
        self.scale_ = np.where(constant, 1.0, np.sqrt(variance))
        known = int((X[:, self.n_numeric:] >= 0).sum())
        width = self.n_numeric + int(np.sum(self.sizes))
        newton = (y is not None and width <= DENSE_WIDTH and n_rows * width <= DENSE_CELLS
                  and newton_steps(width, len(np.unique(np.asarray(y))), n_rows))  # dense: see DENSE_WIDTH
        self.sparse_output_ = bool(len(self.sizes)) and not newton and numbers.size + known < 0.3 * n_rows * width
        return self

    def _check(self, X) -> np.ndarray:
        X = np.asarray(X)
        if X.dtype not in (np.float32, np.float64):  # float32 is widened while centred, in transform
            X = X.astype(float)
        expected = self.n_numeric + len(self.sizes)
        if X.ndim != 2 or X.shape[1] != expected:
            raise ValueError(f"LinearPrep expects {expected} columns ({self.n_numeric} numbers, "
                             f"{len(self.sizes)} category codes), got shape {X.shape}")
        codes = X[:, self.n_numeric:]
        bad = (codes != np.floor(codes)) | (codes < -1) | (codes >= np.asarray(self.sizes))  # NaN too
        if bad.any():
            raise ValueError(f"category codes must be whole numbers from -1 (unknown) to size − 1, "
                             f"got {codes[bad][:5].tolist()}")
        return X

    def transform(self, X):
        X = self._check(X)
        n_rows, n = len(X), self.n_numeric
        numbers = np.subtract(X[:, :n], self.mean_, dtype=float)  # one new array, scaled in place
        numbers /= self.scale_
        if not len(self.sizes):
            return numbers
        codes = X[:, n:].astype(np.int64)
        rows, features = np.nonzero(codes >= 0)  # row by row, as CSR wants them
        columns = n + np.concatenate([[0], np.cumsum(self.sizes)[:-1]]).astype(np.int64)[features] \
            + codes[rows, features]
        width = n + int(np.sum(self.sizes))
        if self.sparse_output_:
            number_rows, number_columns = np.divmod(np.arange(numbers.size), max(n, 1))
            return sparse.csr_matrix(
                (np.concatenate([numbers.ravel(), np.ones(len(rows))]),
                 (np.concatenate([number_rows, rows]), np.concatenate([number_columns, columns]))),
                shape=(n_rows, width))
        out = np.zeros((n_rows, width))
        out[:, :n] = numbers
        out[rows, columns] = 1.0
        return out
