"""A member's first steps: coerced table → numbers (numeric features imputed, categories coded),
and for linear members those numbers standardised and one-hot coded."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin


class TablePrep(TransformerMixin, BaseEstimator):
    """Numeric features with missing values set to the training median; categories as codes.

    The output has the numeric features first, then the categorical ones, as floats.
    A category's code is its position in `categories` (sorted, the missing marker
    among them), as scikit-learn's OrdinalEncoder gives it; a category not in the list
    gets -1. It does the work of a ColumnTransformer of SimpleImputer and
    OrdinalEncoder on the already coerced table (see `imbalance_flows.tasks.data.schema.coerce`) in one
    vectorised pass, which matters because a member is fitted several times when it is
    cross-fitted.

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
        # Column by column: a copy of one column at a time, never of the table.
        medians = np.zeros(len(self.numeric))
        for position, name in enumerate(self.numeric):
            values = X[name].to_numpy(dtype=float)
            if not np.isnan(values).all():  # no value in these rows (possible in a cross-fitting fold): 0
                medians[position] = np.nanmedian(values)
        self.medians_ = medians
        self.n_features_in_ = len(self.numeric) + len(self.categorical)
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        """Floats in one array, float32 where every numeric feature came as float32 (see `coerce`), filled
        column by column."""
        single = len(self.numeric) and all(X[name].dtype == np.float32 for name in self.numeric)
        out = np.empty((len(X), len(self.numeric) + len(self.categorical)), dtype=np.float32 if single else float,
                       order="F")
        for position, (name, median) in enumerate(zip(self.numeric, self.medians_)):
            column = out[:, position]
            column[:] = X[name].to_numpy(dtype=out.dtype)
            column[np.isnan(column)] = median
        for position, (name, known) in enumerate(zip(self.categorical, self.categories), len(self.numeric)):
            out[:, position] = pd.Index(known).get_indexer(X[name])
        return out


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
    thousands of categories does not fill memory.

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
        self.mean_ = numbers.mean(axis=0)
        variance = numbers.var(axis=0)
        # StandardScaler's test: a variance within rounding error of the mean's size is 0.
        eps, n_rows = np.finfo(float).eps, len(X)
        constant = variance <= n_rows * eps * variance + (n_rows * self.mean_ * eps) ** 2
        self.scale_ = np.where(constant, 1.0, np.sqrt(variance))
        known = int((X[:, self.n_numeric:] >= 0).sum())
        width = self.n_numeric + int(np.sum(self.sizes))
        self.sparse_output_ = bool(len(self.sizes)) and numbers.size + known < 0.3 * n_rows * width
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
