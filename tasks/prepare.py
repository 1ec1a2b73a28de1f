"""A member's first step: coerced table → numbers (numeric features imputed, categories coded)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin


class TablePrep(TransformerMixin, BaseEstimator):
    """Numeric features with missing values set to the training median; categories as codes.

    The output has the numeric features first, then the categorical ones, as floats.
    A category's code is its position in `categories` (sorted, the missing marker
    among them), as scikit-learn's OrdinalEncoder gives it; a category not in the list
    gets -1. It does the work of a ColumnTransformer of SimpleImputer and
    OrdinalEncoder on the already coerced table (see `tasks.data.coerce`) in one
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
        values = X[list(self.numeric)].to_numpy(dtype=float)
        empty = np.isnan(values).all(axis=0)  # no value in these rows (possible in a cross-fitting fold): 0
        medians = np.zeros(values.shape[1])
        medians[~empty] = np.nanmedian(values[:, ~empty], axis=0)
        self.medians_ = medians
        self.n_features_in_ = len(self.numeric) + len(self.categorical)
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        numbers = X[list(self.numeric)].to_numpy(dtype=float)
        numbers = np.where(np.isnan(numbers), self.medians_, numbers)
        codes = [pd.Index(known).get_indexer(X[name]) for name, known in
                 zip(self.categorical, self.categories)]
        return np.column_stack([numbers, *codes]).astype(float) if codes else numbers
