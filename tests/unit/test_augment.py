"""tasks.augment: the jitter and mixup augmenter adds exactly the rows needed and keeps categories valid."""

from collections import Counter

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from imbalance_flows.tasks.sampling.augment import TabularAugmenter
from imbalance_flows.tasks.sampling.resample import over_targets

N_NUMERIC, CATEGORICAL = 2, [2, 3]  # as after a member's preparation: numeric columns first, then codes


def coded_rows(counts: list[int], seed: int):
    """Two numeric columns and two integer-coded categorical ones; each class uses its own codes."""
    rng = np.random.default_rng(seed)
    blocks = []
    for code, n in enumerate(counts):
        numeric = rng.normal(loc=code, scale=1 + code, size=(n, N_NUMERIC))
        categories = rng.choice([code, code + 1, code + 5], size=(n, len(CATEGORICAL)))
        blocks.append(np.hstack([numeric, categories]))
    return np.vstack(blocks), np.repeat(np.arange(len(counts)), counts)


augmentations = dict(
    counts=st.lists(st.integers(1, 30), min_size=2, max_size=4),
    method=st.sampled_from(["jitter", "mixup"]),
    ratio=st.sampled_from([1.0, 0.8, 0.5, 0.2]),
    seed=st.integers(0, 1000),
)


@settings(max_examples=25, deadline=None)
@given(**augmentations)
def test_augmenter_adds_exactly_the_rows_needed_and_keeps_the_originals(counts, method, ratio, seed):
    X, y = coded_rows(counts, seed)
    before = dict(Counter(y.tolist()))

    X_new, y_new = TabularAugmenter(method=method, ratio=ratio, categorical_features=CATEGORICAL,
                                    random_state=seed).fit_resample(X, y)

    assert dict(Counter(y_new.tolist())) == over_targets(before, ratio)
    np.testing.assert_array_equal(X_new[:len(X)], X)
    np.testing.assert_array_equal(y_new[:len(y)], y)


@settings(max_examples=25, deadline=None)
@given(**augmentations)
def test_augmenter_never_invents_a_category_a_class_did_not_have(counts, method, ratio, seed):
    X, y = coded_rows(counts, seed)

    X_new, y_new = TabularAugmenter(method=method, ratio=ratio, categorical_features=CATEGORICAL,
                                    random_state=seed).fit_resample(X, y)

    for label in np.unique(y):
        for column in CATEGORICAL:
            seen = set(X[y == label, column].tolist())
            assert set(X_new[y_new == label, column].tolist()) <= seen


@settings(max_examples=25, deadline=None)
@given(counts=augmentations["counts"], seed=augmentations["seed"])
def test_mixup_blends_numeric_values_within_the_class_range(counts, seed):
    X, y = coded_rows(counts, seed)

    X_new, y_new = TabularAugmenter(method="mixup", categorical_features=CATEGORICAL,
                                    random_state=seed).fit_resample(X, y)

    for label in np.unique(y):
        rows, made = X[y == label, :N_NUMERIC], X_new[len(X):][y_new[len(y):] == label, :N_NUMERIC]
        assert np.all(made >= rows.min(axis=0) - 1e-12) and np.all(made <= rows.max(axis=0) + 1e-12)


def test_jitter_moves_numeric_features_by_noise_times_their_spread():
    X = np.array([[0.0, 0.0]] * 20 + [[10.0, 1.0]] * 2)
    y = np.array([0] * 20 + [1] * 2)

    X_new, _ = TabularAugmenter(method="jitter", noise=0.1, categorical_features=[1],
                                random_state=0).fit_resample(X, y)

    made = X_new[len(X):]
    assert made.shape == (18, 2)
    np.testing.assert_array_equal(made[:, 1], 1.0)  # categorical: copied from the parent, never jittered
    spread = X[:, 0].std()
    assert 0 < np.abs(made[:, 0] - 10.0).max() < 5 * 0.1 * spread


def test_augmenter_is_reproducible_with_a_seed():
    X, y = coded_rows([20, 5], seed=0)
    augmenter = TabularAugmenter(method="mixup", categorical_features=CATEGORICAL, random_state=7)

    first, _ = augmenter.fit_resample(X, y)
    second, _ = TabularAugmenter(method="mixup", categorical_features=CATEGORICAL,
                                 random_state=7).fit_resample(X, y)

    np.testing.assert_array_equal(first, second)


def test_augmenter_leaves_balanced_classes_alone():
    X, y = coded_rows([10, 10], seed=0)

    X_new, y_new = TabularAugmenter(categorical_features=CATEGORICAL, random_state=0).fit_resample(X, y)

    np.testing.assert_array_equal(X_new, X)
    np.testing.assert_array_equal(y_new, y)
