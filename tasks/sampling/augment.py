"""Synthetic minority rows for tables: noise jitter and within-class mixup.

The augmenter is an imbalanced-learn over-sampler, so inside a member's pipeline it
acts only while the member is fitted, on the training split, after any resampling.
"""

from __future__ import annotations

import numpy as np
from imblearn.over_sampling.base import BaseOverSampler
from sklearn.utils import check_random_state

from imbalance_flows.tasks.errors import InputError
from imbalance_flows.tasks.sampling import TABLE_AUGMENTS
from imbalance_flows.tasks.sampling.resample import over_targets

METHODS = TABLE_AUGMENTS


class TabularAugmenter(BaseOverSampler):
    """Grow the smaller classes with perturbed copies of their own rows.

    Parameters
    ----------
    method : {"jitter", "mixup"}
        "jitter" copies a random row of the class and adds Gaussian noise of
        `noise` × the feature's standard deviation (over the training rows).
        "mixup" blends two random rows of the same class with a Beta(`alpha`,
        `alpha`) weight; categorical values come from the heavier parent.
    ratio : float
        Grow every class to at least `ratio` × the largest class of the rows the
        augmenter receives (after any resampling), as the over-samplers do.
    noise : float
        Jitter scale relative to each feature's spread.
    alpha : float
        Mixup's Beta parameter; small values keep new rows close to a parent.
    categorical_features : list of int
        Positions of categorical (integer-coded) features: never jittered or blended.
    random_state : int, RandomState instance or None
    """

    _parameter_constraints = {**BaseOverSampler._parameter_constraints}

    def __init__(self, method="jitter", ratio=1.0, noise=0.1, alpha=0.4, categorical_features=(),
                 random_state=None):
        super().__init__(sampling_strategy="auto")
        self.method = method
        self.ratio = ratio
        self.noise = noise
        self.alpha = alpha
        self.categorical_features = categorical_features
        self.random_state = random_state

    def _fit_resample(self, X, y):
        if self.method not in METHODS:
            raise InputError("the augmentation method must be one of " + ", ".join(METHODS),
                             f"it is {self.method!r}", "Use jitter or mixup.")
        rng = check_random_state(self.random_state)
        X = np.asarray(X, dtype=float)
        numeric = np.ones(X.shape[1], dtype=bool)
        numeric[list(self.categorical_features)] = False
        spread = X[:, numeric].std(axis=0)
        new_rows, new_labels = [X], [np.asarray(y)]
        labels, counts = np.unique(y, return_counts=True)
        wanted = over_targets(dict(zip(labels.tolist(), counts.tolist())), self.ratio)
        for label, n_have in zip(labels.tolist(), counts.tolist()):
            n_new = wanted[label] - n_have
            rows = X[np.asarray(y) == label]
            if n_new <= 0 or len(rows) == 0:
                continue
            first = rows[rng.randint(len(rows), size=n_new)]
            if self.method == "jitter":
                made = first.copy()
                made[:, numeric] += rng.normal(size=(n_new, int(numeric.sum()))) * self.noise * spread
            else:
                second = rows[rng.randint(len(rows), size=n_new)]
                weight = rng.beta(self.alpha, self.alpha, size=(n_new, 1))
                weight = np.maximum(weight, 1 - weight)  # the first parent always weighs more
                made = first.copy()
                made[:, numeric] = weight * first[:, numeric] + (1 - weight) * second[:, numeric]
            new_rows.append(made)
            new_labels.append(np.full(n_new, label, dtype=np.asarray(y).dtype))
        return np.vstack(new_rows), np.concatenate(new_labels)
