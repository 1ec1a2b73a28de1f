"""The resampling strategies a member can use, built as imbalanced-learn samplers.

A strategy acts inside a member's pipeline, so it only ever sees the rows the member
is fitted on: the training split. Validation and test rows are never resampled.

`sampling_strategy` says how far to rebalance, the same way for every strategy and
for any number of classes: a float r in (0, 1] asks that, after resampling, every
class has at least r times as many rows as the largest (over-sampling), or that no
class has more than 1/r times as many rows as the smallest (under-sampling). "auto"
means r = 1, fully balanced. For `class_weight`, r scales the weights the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

from imbalance_flows.tasks.errors import InputError, preview


@dataclass(frozen=True)
class Context:
    """What a sampler needs to know about the training rows it will see."""

    counts: dict  # class code -> rows in the training data
    categorical: list[int]  # positions of categorical features after preparation
    n_features: int
    ratio: float  # how far to rebalance, see the module docstring
    random_state: int = 0
    labels: tuple = ()  # class labels by code, for messages

    def label(self, code) -> str:
        return repr(self.labels[code]) if code < len(self.labels) else repr(code)


@dataclass(frozen=True)
class Strategy:
    """A named way of handling imbalance and the parameters it accepts."""

    name: str
    kind: str  # none, weight, over, under, clean, combined
    summary: str
    params: dict[str, str] = field(default_factory=dict)
    build: Callable[[dict, Context], object] | None = None
    interpolates: bool = False  # makes new rows between neighbours (numeric features only)
    neighbours: tuple[str, int] | None = None  # (parameter, default) of the neighbours it interpolates with
    # (seconds at 100k rows of 30 features, growth exponent b of seconds ∝ rows^b), measured by
    # bench/sampler_cost.py, for the strategies whose cost explodes with rows; None: linear and cheap.
    # For tomek, enn and cluster_centroids, b runs from 100k rows to the 250k-row sample they resampled
    # through the product at 1M rows (bench/results/resamplers.md): steeper than from 10k to 100k.
    cost: tuple[float, float] | None = None


def over_targets(counts: dict, ratio: float) -> dict:
    """Rows wanted per class when over-sampling every class up to `ratio` × the largest."""
    largest = max(counts.values())
    return {label: max(n, math.ceil(ratio * largest)) for label, n in counts.items()}


def under_targets(counts: dict, ratio: float) -> dict:
    """Rows wanted per class when cutting every class down to the smallest / `ratio`."""
    smallest = min(counts.values())
    kept = smallest / ratio  # infinite for a ratio near 0: every row kept
    return {label: n if kept >= n else math.floor(kept) for label, n in counts.items()}


def rows_after(name: str, counts: dict, ratio: float = 1.0) -> int:
    """About how many rows a strategy leaves of rows with these class `counts` (cleaning: at most the given)."""
    kind = STRATEGIES[name].kind if name in STRATEGIES else "none"
    if kind in ("over", "combined"):
        return sum(over_targets(counts, ratio).values())
    if kind == "under":
        return sum(under_targets(counts, ratio).values())
    return sum(counts.values())


def class_weights(counts: dict, ratio: float) -> dict:
    """Weights that count each row of a small class as if over-sampled up to `ratio`."""
    largest = max(counts.values())
    return {label: max(1.0, ratio * largest / n) for label, n in counts.items()}


def _growing(counts: dict, ratio: float) -> dict:
    """The over-sampling targets of the classes that actually grow."""
    return {c: n for c, n in over_targets(counts, ratio).items() if n > counts[c]}


def _near_miss_neighbors(params: dict, ctx: Context) -> int:
    """NearMiss's neighbour count: versions 1 and 3 rank rows by their neighbours in the smallest class, so at most
    its rows ("auto": 3, fewer where it is tinier); version 2 looks at every row of it, so any count."""
    k = params.get("n_neighbors", "auto")
    label = min(ctx.counts, key=lambda c: ctx.counts[c])
    smallest = ctx.counts[label]
    if k == "auto":
        return min(3, smallest)
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise InputError("`n_neighbors` must be a positive integer or 'auto'", f"it is {k!r}", "Use e.g. 3.")
    if k > smallest and params.get("version", 1) != 2:
        raise InputError(f"`n_neighbors`={k} needs at least {k} training rows of the smallest class",
                         f"class {ctx.label(label)} has {smallest}",
                         f"Lower n_neighbors to {smallest} (or 'auto'), or use random_under for this member.")
    return k


def _k_neighbors(params: dict, ctx: Context, name: str = "k_neighbors", default: int = 5) -> int:
    """Resolve a neighbour count: "auto" shrinks to fit the smallest class that grows."""
    growing = _growing(ctx.counts, ctx.ratio) or ctx.counts
    label = min(growing, key=lambda c: ctx.counts[c])
    smallest = ctx.counts[label]
    k = params.get(name, "auto")
    if k == "auto":
        if smallest < 2:
            raise InputError(
                "interpolating samplers need at least 2 training rows of each class they grow",
                f"class {ctx.label(label)} has {smallest}", "Use random_over for this class, or collect more rows.",
            )
        return min(default, smallest - 1)
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise InputError(f"`{name}` must be a positive integer or 'auto'", f"it is {k!r}", "Use e.g. 5.")
    if k >= smallest:
        raise InputError(
            f"`{name}`={k} needs at least {k + 1} training rows of every class it grows",
            f"class {ctx.label(label)} has {smallest}",
            f"Lower {name} to {max(1, smallest - 1)} (or 'auto'), or use random_over for this member.",
        )
    return k


def _smote(params: dict, ctx: Context, sampling_strategy=None):
    """SMOTE for numeric data, SMOTE-NC for mixed, SMOTE-N for all-categorical features."""
    from imblearn import over_sampling

    k = _k_neighbors(params, ctx)
    targets = sampling_strategy if sampling_strategy is not None else over_targets(ctx.counts, ctx.ratio)
    common = dict(sampling_strategy=targets, k_neighbors=k, random_state=ctx.random_state)
    if not ctx.categorical:
        return over_sampling.SMOTE(**common)
    if len(ctx.categorical) == ctx.n_features:
        return over_sampling.SMOTEN(**common)
    return over_sampling.SMOTENC(categorical_features=ctx.categorical, **common)


def _kmeans_smote(params: dict, ctx: Context):
    from imblearn import over_sampling
    from sklearn.cluster import MiniBatchKMeans

    n_rows = sum(ctx.counts.values())
    clusters = params.get("n_clusters", max(2, min(8, n_rows // 50)))
    return over_sampling.KMeansSMOTE(
        sampling_strategy=over_targets(ctx.counts, ctx.ratio), k_neighbors=_k_neighbors(params, ctx, default=2),
        kmeans_estimator=MiniBatchKMeans(n_clusters=clusters, n_init=3, random_state=ctx.random_state),
        cluster_balance_threshold=params.get("cluster_balance_threshold", 0.05), random_state=ctx.random_state,
    )


def _imblearn():
    """imbalanced-learn's sampler modules, imported when a sampler is first built: listing strategies stays cheap."""
    import imblearn.combine
    import imblearn.over_sampling
    import imblearn.under_sampling

    return imblearn


def _cleaning(name: str, **extra):
    def build(params: dict, ctx: Context):
        return getattr(_imblearn().under_sampling, name)(sampling_strategy="auto", **extra, **params)
    return build


STRATEGIES: dict[str, Strategy] = {s.name: s for s in [
    Strategy("none", "none", "Train on the data as it is."),
    Strategy("class_weight", "weight", "Weight rows inversely to their class size (no rows added or removed)."),
    Strategy("random_over", "over", "Duplicate random rows of the smaller classes.",
             build=lambda p, c: _imblearn().over_sampling.RandomOverSampler(
                 sampling_strategy=over_targets(c.counts, c.ratio), random_state=c.random_state)),
    Strategy("smote", "over", "SMOTE: new rows between a row and its class neighbours "
             "(SMOTE-NC or SMOTE-N when features are categorical).",
             {"k_neighbors": "neighbours to interpolate with ('auto': 5, fewer for tiny classes)"}, _smote,
             neighbours=("k_neighbors", 5)),
    Strategy("adasyn", "over", "ADASYN: like SMOTE, more new rows where the class is hard to learn.",
             {"n_neighbors": "neighbours ('auto': 5, fewer for tiny classes)"},
             lambda p, c: _imblearn().over_sampling.ADASYN(
                 sampling_strategy=over_targets(c.counts, c.ratio),
                 n_neighbors=_k_neighbors(p, c, "n_neighbors"), random_state=c.random_state), interpolates=True,
             neighbours=("n_neighbors", 5), cost=(0.56, 1.39)),
    Strategy("borderline_smote", "over", "Borderline-SMOTE: SMOTE on rows near the class border.",
             {"k_neighbors": "neighbours to interpolate with", "m_neighbors": "neighbours that decide the border"},
             lambda p, c: _imblearn().over_sampling.BorderlineSMOTE(
                 sampling_strategy=over_targets(c.counts, c.ratio), k_neighbors=_k_neighbors(p, c),
                 m_neighbors=p.get("m_neighbors", 10), random_state=c.random_state), interpolates=True,
             neighbours=("k_neighbors", 5), cost=(0.73, 1.67)),
    Strategy("kmeans_smote", "over", "K-Means SMOTE: cluster first, then SMOTE inside sparse minority clusters.",
             {"n_clusters": "k-means clusters", "k_neighbors": "neighbours inside a cluster",
              "cluster_balance_threshold": "minority share a cluster needs to be used"},
             _kmeans_smote, interpolates=True, neighbours=("k_neighbors", 2)),
    Strategy("random_under", "under", "Drop random rows of the larger classes.",
             build=lambda p, c: _imblearn().under_sampling.RandomUnderSampler(
                 sampling_strategy=under_targets(c.counts, c.ratio), random_state=c.random_state)),
    Strategy("cluster_centroids", "under", "Replace the larger classes by k-means cluster representatives.",
             build=lambda p, c: _imblearn().under_sampling.ClusterCentroids(
                 sampling_strategy=under_targets(c.counts, c.ratio), random_state=c.random_state,
                 voting="hard" if c.categorical else p.get("voting", "auto")), cost=(29.4, 3.0)),
    Strategy("near_miss", "under", "NearMiss: keep the larger classes' rows closest to the smaller ones.",
             {"version": "1, 2 or 3", "n_neighbors": "neighbours used to rank rows"},
             lambda p, c: _imblearn().under_sampling.NearMiss(
                 sampling_strategy=under_targets(c.counts, c.ratio), version=p.get("version", 1),
                 n_neighbors=_near_miss_neighbors(p, c)), cost=(0.49, 1.04)),
    Strategy("tomek", "clean", "Remove Tomek links (cleaning; the ratio does not apply).",
             build=_cleaning("TomekLinks"), cost=(28.9, 2.93)),
    Strategy("enn", "clean", "Edited nearest neighbours: remove rows their neighbours disagree with.",
             {"n_neighbors": "neighbours that vote"}, _cleaning("EditedNearestNeighbours"), cost=(29.0, 2.91)),
    Strategy("smote_tomek", "combined", "SMOTE, then remove Tomek links.", {"k_neighbors": "as for smote"},
             lambda p, c: _imblearn().combine.SMOTETomek(smote=_smote(p, c), random_state=c.random_state),
             neighbours=("k_neighbors", 5), cost=(106.8, 2.0)),
    Strategy("smote_enn", "combined", "SMOTE, then clean with edited nearest neighbours.",
             {"k_neighbors": "as for smote"},
             lambda p, c: _imblearn().combine.SMOTEENN(smote=_smote(p, c), random_state=c.random_state),
             neighbours=("k_neighbors", 5), cost=(100.6, 1.88)),
]}


def get_strategy(name: str) -> Strategy:
    """Look a strategy up by name."""
    if name not in STRATEGIES:
        raise InputError(
            "the resampling strategy must be a known one", f"{name!r} is not among {preview(STRATEGIES, 20)}",
            "Run `imbalance-flows strategies` to list them with their parameters.",
        )
    return STRATEGIES[name]


SLOW_SECONDS = 300.0  # a sampler estimated to take longer is refused before it starts (unless allowed)


def sampler_seconds(name: str, rows: int, n_features: int) -> float | None:
    """The strategy's estimated seconds on `rows` training rows of `n_features` features; None: cheap."""
    strategy = get_strategy(name)
    if strategy.cost is None:
        return None
    at_100k, exponent = strategy.cost
    return at_100k * (max(rows, 1) / 100_000) ** exponent * max(n_features, 1) / 30


def max_rows(name: str, n_features: int = 30) -> int | None:
    """The most training rows on which the strategy is estimated to stay within SLOW_SECONDS; None: no limit."""
    strategy = get_strategy(name)
    if strategy.cost is None:
        return None
    at_100k, exponent = strategy.cost
    return int(100_000 * (SLOW_SECONDS / (at_100k * max(n_features, 1) / 30)) ** (1 / exponent))


def check_sampler_size(name: str, rows: int, n_features: int, allow_slow: bool = False,
                       of_rows: int | None = None) -> float | None:
    """Refuse, before it starts, a strategy whose nearest-neighbour or clustering cost explodes at this size:
    `rows` it resamples (a sample of `of_rows` training rows, where the size rule applies).

    Returns the estimated seconds when the strategy is slow but `allow_slow` (the caller warns), else None.
    """
    seconds = sampler_seconds(name, rows, n_features)
    if seconds is None or seconds <= SLOW_SECONDS:
        return None
    if allow_slow:
        return seconds
    raise InputError(
        f"a sampler estimated to take more than {SLOW_SECONDS / 60:g} minutes is refused before it starts",
        f"{name} on {rows:,} training rows"
        + (f" (the size rule's sample of {of_rows:,})" if of_rows and of_rows != rows else "")
        + f" of {n_features} features: about {_duration(seconds)} "
        f"(its cost grows as rows^{get_strategy(name).cost[1]:g}; it stays within the limit up to about "
        f"{max_rows(name, n_features):,} rows)",
        "At this size use random_under (then smote on what is left: random_under@0.1 as one member, smote as "
        "another), class_weight, or random_over; or train on a sample; or pass --allow-slow-samplers "
        "(allow_slow_samplers: true) to run it anyway.")


def _duration(seconds: float) -> str:
    if seconds < 3600:
        return f"{seconds / 60:.0f} minutes"
    if seconds < 2 * 86_400:
        return f"{seconds / 3600:.1f} hours"
    return f"{seconds / 86_400:.0f} days"


def check_sampler_params(name: str, params: dict) -> None:
    """Refuse parameters a strategy does not take, with the valid names closest to each."""
    from imbalance_flows.tasks.learners.registry import close_names

    strategy = get_strategy(name)
    unknown = sorted(set(params) - set(strategy.params))
    if unknown:
        raise InputError(
            f"the parameters of {name!r} must be among {preview(strategy.params) if strategy.params else '[]'}",
            f"got {preview(unknown)}",
            close_names(unknown, strategy.params) + "Run `imbalance-flows strategies` to see what each one takes.",
        )


def check_sampler(name: str, params: dict, ctx: Context) -> None:
    """Refuse a strategy that cannot run on the training rows `ctx` describes, without building it."""
    strategy = get_strategy(name)
    check_sampler_params(name, params)
    if not 0 < ctx.ratio <= 1:
        raise InputError("sampling_strategy must be 'auto' or a number in (0, 1]", f"it is {ctx.ratio}",
                         "Use 1.0 (fully balanced) or less, e.g. 0.5.")
    if strategy.interpolates and ctx.categorical:
        raise InputError(
            f"{name} interpolates between rows and needs numeric features only",
            f"the data has {len(ctx.categorical)} categorical features",
            "Use smote (it switches to SMOTE-NC for categorical features) or random_over for this member.",
        )
    if strategy.neighbours is not None:
        _k_neighbors(params, ctx, *strategy.neighbours)
    if name == "near_miss":
        _near_miss_neighbors(params, ctx)


def make_sampler(name: str, params: dict, ctx: Context):
    """Build the sampler for a strategy, or None when it adds or removes no rows."""
    check_sampler(name, params, ctx)
    strategy = STRATEGIES[name]
    return strategy.build(params, ctx) if strategy.build else None


def run_sampler(sampler, X, y):
    """Resample training rows (a no-op for None); returns the new rows and labels."""
    if sampler is None:
        return X, y
    return sampler.fit_resample(X, y)


def is_under_sampler(name: str) -> bool:
    """Whether a strategy only keeps some of the given rows (under-sampling or cleaning)."""
    return name in STRATEGIES and STRATEGIES[name].kind in ("under", "clean")
