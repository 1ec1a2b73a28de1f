"""tasks.resample: target counts, class weights, and what each strategy does to the class counts."""

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from imblearn import over_sampling

from imbalance_flows.tasks.sampling.resample import (
    STRATEGIES,
    Context,
    class_weights,
    get_strategy,
    make_sampler,
    over_targets,
    run_sampler,
    under_targets,
)

COUNTS = {0: 100, 1: 10, 2: 40}
EXACT_OVER = ["random_over", "smote"]
# Borderline-SMOTE grows only from rows near the border (none: no new rows); ADASYN and
# K-Means SMOTE share the new rows out per row or per cluster, rounding each share.
APPROXIMATE_OVER = ["borderline_smote", "adasyn", "kmeans_smote"]
UNDER = ["random_under", "cluster_centroids", "near_miss"]
CLEANING = ["tomek", "enn"]
COMBINED = ["smote_tomek", "smote_enn"]


def blobs(counts: list[int], seed: int, n_features: int = 3):
    """Overlapping Gaussian blobs, one per class, class i with counts[i] rows."""
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.normal(loc=code, size=(n, n_features)) for code, n in enumerate(counts)])
    y = np.repeat(np.arange(len(counts)), counts)
    return X, y


def resampled_counts(name: str, X, y, ratio: float = 1.0, params=None) -> dict:
    ctx = Context(counts=dict(Counter(y.tolist())), categorical=[], n_features=X.shape[1], ratio=ratio)
    _, y_new = run_sampler(make_sampler(name, params or {}, ctx), X, y)
    return dict(Counter(y_new.tolist()))


@pytest.mark.parametrize("ratio, expected", [
    (1.0, {0: 100, 1: 100, 2: 100}),
    (0.5, {0: 100, 1: 50, 2: 50}),
    (0.25, {0: 100, 1: 25, 2: 40}),  # class 2 already has more than 25 and keeps them
    (0.333, {0: 100, 1: 34, 2: 40}),  # rounded up
])
def test_over_targets_raise_every_class_to_ratio_times_the_largest(ratio, expected):
    assert over_targets(COUNTS, ratio) == expected


@pytest.mark.parametrize("ratio, expected", [
    (1.0, {0: 10, 1: 10, 2: 10}),
    (0.5, {0: 20, 1: 10, 2: 20}),
    (0.2, {0: 50, 1: 10, 2: 40}),  # class 2 already has fewer than 50 and keeps them
    (0.3, {0: 33, 1: 10, 2: 33}),  # rounded down
])
def test_under_targets_cut_every_class_to_the_smallest_over_ratio(ratio, expected):
    assert under_targets(COUNTS, ratio) == expected


@pytest.mark.parametrize("ratio, expected", [
    (1.0, {0: 1.0, 1: 10.0, 2: 2.5}),
    (0.5, {0: 1.0, 1: 5.0, 2: 1.25}),
    (0.2, {0: 1.0, 1: 2.0, 2: 1.0}),  # never below 1: no row counts less than once
])
def test_class_weights_count_small_classes_as_if_over_sampled(ratio, expected):
    assert class_weights(COUNTS, ratio) == expected


def test_every_strategy_is_listed_with_a_known_kind():
    assert set(STRATEGIES) == {"none", "class_weight", *EXACT_OVER, *APPROXIMATE_OVER, *UNDER, *CLEANING,
                               *COMBINED}
    assert {s.kind for s in STRATEGIES.values()} == {"none", "weight", "over", "under", "clean", "combined"}
    assert get_strategy("smote") is STRATEGIES["smote"]


@pytest.mark.parametrize("name", ["none", "class_weight"])
def test_strategies_that_add_no_rows_build_no_sampler(name):
    ctx = Context(counts={0: 10, 1: 3}, categorical=[], n_features=2, ratio=1.0)
    X, y = blobs([10, 3], seed=0, n_features=2)

    sampler = make_sampler(name, {}, ctx)

    assert sampler is None
    assert run_sampler(sampler, X, y) == (X, y)


@pytest.mark.parametrize("categorical, n_features, expected", [
    ([], 3, over_sampling.SMOTE),
    ([2], 3, over_sampling.SMOTENC),
    ([0, 1, 2], 3, over_sampling.SMOTEN),
])
def test_smote_switches_variant_by_feature_kinds(categorical, n_features, expected):
    ctx = Context(counts={0: 20, 1: 8}, categorical=categorical, n_features=n_features, ratio=1.0)

    assert type(make_sampler("smote", {}, ctx)) is expected


@pytest.mark.parametrize("counts, expected_k", [
    ({0: 40, 1: 10}, 5),  # the default
    ({0: 40, 1: 4}, 3),  # shrunk to fit the smallest growing class
    ({0: 40, 1: 2, 2: 30}, 1),
    ({0: 40, 1: 3, 2: 30}, 2),
])
def test_auto_k_neighbors_shrinks_to_the_smallest_growing_class(counts, expected_k):
    ctx = Context(counts=counts, categorical=[], n_features=2, ratio=1.0)

    assert make_sampler("smote", {}, ctx).k_neighbors == expected_k
    assert make_sampler("adasyn", {}, ctx).n_neighbors == expected_k


def test_an_explicit_k_neighbors_below_the_class_size_is_used():
    ctx = Context(counts={0: 40, 1: 4}, categorical=[], n_features=2, ratio=1.0)

    assert make_sampler("smote", {"k_neighbors": 3}, ctx).k_neighbors == 3


def test_context_label_names_a_class_by_its_label_when_known():
    ctx = Context(counts={0: 1, 1: 1}, categorical=[], n_features=1, ratio=1.0, labels=("no", "yes"))

    assert (ctx.label(1), ctx.label(5)) == ("'yes'", "5")


def test_approximate_over_samplers_grow_the_small_classes_close_to_their_targets():
    X, y = blobs([40, 8], seed=1)

    for name in APPROXIMATE_OVER:
        counts = resampled_counts(name, X, y, ratio=1.0)
        assert counts[0] == 40
        assert 36 <= counts[1] <= 44, name


class_counts = st.lists(st.integers(6, 40), min_size=2, max_size=3)
ratios = st.sampled_from([1.0, 0.75, 0.5, 0.3])
seeds = st.integers(0, 1000)


@settings(max_examples=25, deadline=None)
@given(counts=class_counts, ratio=ratios, seed=seeds)
def test_over_samplers_reach_the_requested_ratio(counts, ratio, seed):
    X, y = blobs(counts, seed)
    before = dict(Counter(y.tolist()))

    for name in EXACT_OVER:
        X_new, y_new = run_sampler(
            make_sampler(name, {}, Context(counts=before, categorical=[], n_features=3, ratio=ratio)), X, y)

        assert dict(Counter(y_new.tolist())) == over_targets(before, ratio), name
        np.testing.assert_array_equal(X_new[:len(X)], X)  # the original rows stay, new ones are appended


@settings(max_examples=25, deadline=None)
@given(counts=class_counts, ratio=ratios, seed=seeds)
def test_borderline_smote_grows_classes_at_most_to_the_requested_ratio(counts, ratio, seed):
    X, y = blobs(counts, seed)
    before = dict(Counter(y.tolist()))
    targets = over_targets(before, ratio)

    after = resampled_counts("borderline_smote", X, y, ratio)

    assert all(before[label] <= after[label] <= targets[label] for label in before)


@settings(max_examples=25, deadline=None)
@given(counts=class_counts, ratio=ratios, seed=seeds)
def test_under_samplers_cut_to_the_requested_ratio(counts, ratio, seed):
    X, y = blobs(counts, seed)
    before = dict(Counter(y.tolist()))

    for name in UNDER:
        assert resampled_counts(name, X, y, ratio) == under_targets(before, ratio), name


@settings(max_examples=25, deadline=None)
@given(counts=class_counts, seed=seeds)
def test_cleaning_samplers_only_remove_rows(counts, seed):
    X, y = blobs(counts, seed)
    before = dict(Counter(y.tolist()))
    original = {tuple(row) for row in X}

    for name in CLEANING:
        ctx = Context(counts=before, categorical=[], n_features=3, ratio=1.0)
        X_new, y_new = run_sampler(make_sampler(name, {}, ctx), X, y)

        after = Counter(y_new.tolist())
        assert all(after[label] <= n for label, n in before.items()), name
        assert min(before.values()) in [after[label] for label in before]  # the minority is not cleaned
        assert {tuple(row) for row in X_new} <= original, name


@settings(max_examples=25, deadline=None)
@given(counts=class_counts, ratio=ratios, seed=seeds)
def test_combined_samplers_never_exceed_the_over_sampling_targets(counts, ratio, seed):
    X, y = blobs(counts, seed)
    before = dict(Counter(y.tolist()))
    targets = over_targets(before, ratio)

    for name in COMBINED:
        after = resampled_counts(name, X, y, ratio)
        assert all(after.get(label, 0) <= targets[label] for label in before), name


@pytest.mark.parametrize("name", ["tomek", "enn", "near_miss", "cluster_centroids", "adasyn", "borderline_smote"])
def test_a_sampler_whose_cost_explodes_is_refused_before_it_starts_above_its_size(name):
    from imbalance_flows.tasks.errors import InputError
    from imbalance_flows.tasks.sampling.resample import (
        SLOW_SECONDS,
        check_sampler_size,
        max_rows,
        sampler_seconds,
    )

    limit = max_rows(name, 30)
    assert limit is not None and sampler_seconds(name, limit, 30) == pytest.approx(SLOW_SECONDS, rel=1e-4)
    assert check_sampler_size(name, limit // 2, 30) is None  # within its size: nothing to say
    with pytest.raises(InputError, match=rf"refused before it starts: {name} on {2 * limit:,} training rows of 30 "
                                         rf"features: about .* it stays within the limit up to about {limit:,} rows"
                                         r".*use random_under.*--allow-slow-samplers"):
        check_sampler_size(name, 2 * limit, 30)
    assert check_sampler_size(name, 2 * limit, 30, allow_slow=True) > SLOW_SECONDS  # insisted: an estimate
    assert max_rows(name, 60) < limit  # more features, fewer rows


@pytest.mark.parametrize("name", ["none", "class_weight", "random_under", "random_over", "smote"])
def test_samplers_that_scale_have_no_size_limit(name):
    from imbalance_flows.tasks.sampling.resample import check_sampler_size, max_rows

    assert max_rows(name) is None and check_sampler_size(name, 100_000_000, 30) is None


@pytest.mark.parametrize("ratio", [1e-320, 5e-324])
def test_a_ratio_near_zero_under_samples_nothing_away(ratio):
    # smallest / ratio is infinite: every row of every class is kept, not an overflow
    assert under_targets({"a": 900, "b": 30}, ratio) == {"a": 900, "b": 30}


def test_near_miss_fits_its_neighbours_to_the_smallest_class():
    """NearMiss (versions 1 and 3) ranks the larger classes' rows by their neighbours in the smallest class: 'auto'
    takes fewer there when it is tiny, a count it cannot hold is refused with the class, its rows and the way out;
    version 2 looks at all its rows, so any count fits."""
    import pandas as pd

    from imbalance_flows import InputError, VotingEnsemble

    X = pd.DataFrame({"a": np.random.default_rng(0).normal(size=300)})
    y = np.array(["common"] * 297 + ["rare"] * 3)
    VotingEnsemble(members=["near_miss:rf"], n_jobs=1, validation="holdout", validation_size=0.3).fit(X, y)

    def member(**params):
        return {"sampler": "near_miss", "learner": "rf", "sampler_params": params}

    VotingEnsemble(members=[member(n_neighbors=3)], n_jobs=1).fit(X, y)  # every row of the smallest class
    VotingEnsemble(members=[member(n_neighbors=10, version=2)], n_jobs=1).fit(X, y)
    with pytest.raises(InputError, match=r"`n_neighbors`=4 needs at least 4 training rows of the smallest class: "
                                         r"class 'rare' has 3\. Lower n_neighbors to 3 .*random_under"):
        VotingEnsemble(members=[member(n_neighbors=4)], n_jobs=1).fit(X, y)
