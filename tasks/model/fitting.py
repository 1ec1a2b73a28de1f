"""Fit one ensemble member, sharing the cores fairly with members fitted beside it."""

from __future__ import annotations

import concurrent.futures
import time
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
from sklearn import config_context
from sklearn.utils.class_weight import compute_sample_weight
from threadpoolctl import threadpool_limits

from imbalance_flows.tasks.cores import (
    available_cores,
    limit_threads,
    on_own_thread,
    plan_concurrency,
)
from imbalance_flows.tasks.data.schema import Schema
from imbalance_flows.tasks.data.splits import count_distinct, label_positions
from imbalance_flows.tasks.errors import InputError
from imbalance_flows.tasks.learners.registry import LEARNERS
from imbalance_flows.tasks.model.members import (
    Watched,
    build_member,
    drop_sampling,
    rows_fitted,
    watch_sampling,
)
from imbalance_flows.tasks.model.sizes import RowPlan
from imbalance_flows.tasks.model.spec import MemberSpec
from imbalance_flows.tasks.narrow import row_sums
from imbalance_flows.tasks.sampling.resample import is_under_sampler


def member_work(spec: MemberSpec, counts: dict, n_features: int, folds: int | None = None) -> float:
    """A member's estimated seconds of fitting with one thread, on fit rows with these class `counts` of
    `n_features` features: its learner's `Learner.work` on the rows its sampler leaves, for each fit (with
    `folds`, a cross-fitted member fits `folds` + 1 times). Rough: it decides the order members start in and how
    many fit at once, never a result."""
    work = LEARNERS[spec.learner].work
    fits = 1 if folds is None or _out_of_bag_capable(spec) else folds + 1
    return fits * (work.fixed + work.per_100k_rows * rows_fitted(spec, counts) / 100_000 * max(1, n_features) / 30)


def costliest_first(works: list[float]) -> list[int]:
    """Positions of members of these estimated `works`, the costliest first: started in this order, the last to
    finish is a cheap one, so no core sits idle for long while one slow member runs alone on its share."""
    return sorted(range(len(works)), key=lambda i: -works[i])


def makespan(specs: list[MemberSpec], works: list[float], workers: int, threads: int, cores: int) -> float:
    """Estimated seconds to fit members of these one-thread `works`, the costliest first, `workers` at once with
    `threads` threads each, on `cores` cores. A member runs `threads` (or, for a learner that takes `every_core`,
    `cores`) threads at its learner's speed-up for them (`Learner.work.parallel`); where the running members
    ask for more threads than there are cores, each gets its share."""
    def demand(i: int) -> int:
        return cores if LEARNERS[specs[i].learner].every_core else threads

    def speed(i: int) -> float:
        parallel = LEARNERS[specs[i].learner].work.parallel
        return 1 / ((1 - parallel) + parallel / demand(i))

    waiting = costliest_first(works)
    left, elapsed = {}, 0.0
    while waiting or left:
        while waiting and len(left) < workers:
            position = waiting.pop(0)
            left[position] = works[position]
        share = min(1.0, cores / sum(demand(i) for i in left))
        rates = {i: speed(i) * share for i in left}
        step = min(left[i] / rates[i] for i in left)
        elapsed += step
        left = {i: rest - rates[i] * step for i, rest in left.items() if rest - rates[i] * step > 1e-9}
    return elapsed


def plan_members(specs: list[MemberSpec], works: list[float], n_jobs: int | None = None,
                 cores: int | None = None, one_at_a_time: bool = False) -> tuple[int, int]:
    """How many members to fit at once, and with how many threads each, for these members of estimated one-thread
    `works` (`member_work`).

    At most what `plan_concurrency` allows (never more threads than cores); fewer at once, each with more
    threads, where that is estimated to finish sooner (`makespan`): beside a quick member, a slow
    one runs on its share of the cores and alone on it once the quick one is done (at 1M rows the default
    recipe's plain member fits on 250,000 rows, its under-sampled one on 20,000), and a forest's threads take
    cores from its neighbours. `one_at_a_time` (`FitPlan.one_at_a_time`: few training rows): one after another.
    """
    cores = cores or available_cores()
    if one_at_a_time:
        return 1, cores
    workers, threads = plan_concurrency(len(works), n_jobs, cores)
    best = makespan(specs, works, workers, threads, cores)
    for fewer in range(workers - 1, 0, -1):
        estimate = makespan(specs, works, fewer, cores // fewer, cores)  # fewer < workers ≤ cores: at least 1
        if estimate < best:
            workers, threads, best = fewer, cores // fewer, estimate
    return workers, threads


# Waiting for members, the main thread wakes this often: a signal (SIGTERM, Ctrl-C) delivered to one of the
# threads fitting them is handled only when the main thread runs, and a wait without a timeout may never end.
POLL_S = 0.5


def first_done(futures: list):
    """The first of some `concurrent.futures` futures to finish."""
    while True:
        done, _ = concurrent.futures.wait(futures, timeout=POLL_S, return_when=concurrent.futures.FIRST_COMPLETED)
        if done:
            return next(future for future in futures if future in done)


def run_members(specs: list[MemberSpec], submit: Callable, *, works: list[float], n_jobs: int | None = None,
                wait_first: Callable = first_done, on_done: Callable | None = None, plan: tuple[int, int] | None = None,
                one_at_a_time: bool = False) -> list:
    """Fit every member, the costliest first; return their results in the members' order.

    The one plan of how members share the cores, used by `VotingEnsemble.fit` (threads)
    and by the training flow (Prefect task runs, on threads or Dask workers):
    `plan_members` says how many members run at once and with how many threads
    each, from their estimated work, so members side by side never ask for more cores
    than there are; starting the slow ones first keeps a run from ending with one slow
    member alone on its share.

    Parameters
    ----------
    specs : list of MemberSpec
    submit : callable
        `submit(spec, threads)` starts fitting one member and returns a future.
    works : list of float
        Each member's estimated one-thread seconds (`member_work`).
    n_jobs : int or None
        Members fitted at once, at most (see `plan_concurrency`).
    wait_first : callable
        `wait_first(futures)` returns the first of them to finish (Prefect futures need their own).
    on_done : callable
        `on_done(position, result, done, total)`, called as each member finishes.
    plan : (int, int), optional
        Members at once and threads each, where the caller planned them (`plan_members`).
    one_at_a_time : bool
        One member after another, each with every core (`FitPlan.one_at_a_time`: few training rows).
    """
    workers, threads = plan or plan_members(specs, works, n_jobs, one_at_a_time=one_at_a_time)
    waiting = costliest_first(works)
    running, results = {}, {}
    # Thread limits are process-wide: members setting them side by side restore each
    # other's values out of order, so the limit is held here, around all of them.
    with threadpool_limits(limits=threads):
        while waiting or running:
            while waiting and len(running) < workers:
                position = waiting.pop(0)
                running[submit(specs[position], threads)] = position
            future = wait_first(list(running))
            position = running.pop(future)
            results[position] = future.result()
            if on_done is not None:
                on_done(position, results[position], len(results), len(specs))
    return [results[position] for position in range(len(specs))]


def encode_labels(y, schema: Schema) -> np.ndarray:
    """Class labels as their positions in `schema.classes`."""
    codes = label_positions(y, schema.classes)
    if (codes < 0).any():
        unknown = pd.unique(np.asarray(y.array if isinstance(y, pd.Series) else y)[codes < 0])
        raise InputError("labels must be among the schema's classes", f"found {unknown.tolist()[:5]}",
                         "Infer the schema from the same data.")
    return codes.astype(np.int64)


def fit_member(spec: MemberSpec, X: pd.DataFrame, y: pd.Series, schema: Schema, random_state: int = 0,
               threads: int = 1, watch: Callable | None = None, out_of_bag: bool = False,
               plan: RowPlan | None = None):
    """Build one member's pipeline and fit it, as it is, on (already coerced) training rows.

    The pipeline (prepare → resample → augment → encode → learn) resamples and augments
    only the rows it is fitted on. With `watch`, each sampling step runs as
    `watch(step, sampler, rows, labels)` (the training flow passes a Prefect task, so
    the steps show in the UI); a Keras member stops early on rows held out before any
    resampling, passed through the pipeline's own preparation. With a large-data `plan`
    (`imbalance_flows.tasks.model.sizes`), it fits on the plan's class-capped sample.

    Members learn class codes (positions in `schema.classes`), not the labels
    themselves, so that every learner and sampler sees the same small integers.
    With `out_of_bag`, a bagged learner also keeps its out-of-bag probabilities.
    Returns the fitted pipeline, without its samplers, and the seconds it took.
    """
    _, pipeline, seconds = _fit_planned(spec, X, encode_labels(y, schema), schema, random_state, threads, watch,
                                        out_of_bag, plan or RowPlan(len(X)))
    return drop_sampling(pipeline), seconds


def _fit_planned(spec: MemberSpec, X: pd.DataFrame, codes: np.ndarray, schema: Schema, random_state: int,
                 threads: int, watch: Callable | None, out_of_bag: bool, plan: RowPlan):
    """`_fit` on the rows `plan` gives this member (see `_fit_view`), as copies weighing their count where
    `copies_as_weights` says so: their positions, the pipeline, the seconds."""
    rows, counts, weights = _fit_view(spec, codes, plan)
    if rows is None:
        rows = np.arange(len(X))
    else:
        X, codes = X.iloc[rows], codes[rows]
    copies = copies_as_weights(spec, X, codes, weights, random_state) if plan.large and not out_of_bag else None
    if copies is not None:
        counts = counts or {int(code): int(n) for code, n in enumerate(np.bincount(codes)) if n}
        X, codes, weights = copies.X, copies.codes, copies.weights
    pipeline, seconds = _fit(spec, X, codes, schema, random_state, threads, watch, out_of_bag, weights, counts,
                             copies)
    return rows, pipeline, seconds


# A large table's class-capped sample that is mostly copies of a few rows (a table of a few few-valued features, as
# the military one) is fitted, by a member without resampling whose learner sums row weights
# (`Learner.copies_as_weights`), as each distinct (row, class) once, weighing its copies: the same sums of
# gradients and, where every feature holds at most as many values as the learner has bins, the same bins. Where
# the learner stops early on a share of its rows held out (scikit-learn's rule: "auto" on more than 10,000 rows),
# copies are held out at random in that share, as rows would be (a class keeps its rows to fit). What counts rows
# rather than weights counts distinct rows: min_samples_leaf is scaled by the distinct rows per row, and a
# categorical split considers a category held by 10 distinct rows or more. Applies where the distinct (row, class)
# pairs are at most COPIES_SHARE of the rows; on three such tables the default ensemble then took 0.63 to 0.94 × the
# time, its balanced accuracy within 0.0004 (bench/results/copies.md).
COPIES_SHARE = 0.1
# Evenly spaced rows that tell mostly distinct rows apart first: with at most COPIES_SHARE of the rows distinct,
# about two thirds of them are distinct at most.
COPIES_SAMPLE = 20_000


@dataclass(frozen=True)
class Copies:
    """A member's fit rows as distinct (row, class) pairs weighing their copies (see COPIES_SHARE)."""

    X: pd.DataFrame  # one row of each distinct (row, class) kept to fit
    codes: np.ndarray
    weights: np.ndarray  # the weight of its copies that fit
    stops: bool  # the learner stops early
    rows: int  # the rows they are copies of
    held: tuple | None  # (rows, codes, weights) of the copies held out to stop early; None: on the fit rows


def copies_as_weights(spec: MemberSpec, X: pd.DataFrame, codes: np.ndarray, weights, random_state: int
                      ) -> Copies | None:
    """The member's fit rows (with these class codes and row weights, None: 1) as `Copies`, or None where it fits
    them as they are (see COPIES_SHARE)."""
    params = spec.learner_params
    if not LEARNERS[spec.learner].copies_as_weights or spec.sampler not in ("none", "class_weight") \
            or spec.augment is not None:
        return None
    if len(X) <= COPIES_SAMPLE:
        return None
    sample = X.iloc[np.linspace(0, len(X) - 1, COPIES_SAMPLE).astype(np.int64)]
    groups = row_groups(sample)  # None where values cannot be compared
    if groups is None or groups.max() + 1 > 0.8 * len(sample):  # mostly distinct rows
        return None
    groups = row_groups(X)
    key = groups.astype(np.int64) * (int(codes.max()) + 1) + codes
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    kept = X.iloc[first]
    if len(first) > COPIES_SHARE * len(X) or (kept.nunique() > params.get("max_bins", 255)).any():
        return None
    copies = np.bincount(inverse)
    each = np.bincount(inverse, weights=None if weights is None else np.asarray(weights, dtype=float)) / copies
    stops = params.get("early_stopping", "auto")
    stops = len(X) > 10_000 if stops == "auto" else bool(stops)
    fraction = params.get("validation_fraction", 0.1)
    held, classes = np.zeros_like(copies), codes[first]
    if stops and fraction is not None:
        held = np.random.default_rng(random_state).binomial(copies, fraction)
        gone = np.setdiff1d(classes, classes[copies > held])  # a class all held out keeps its rows to fit
        held[np.isin(classes, gone)] = 0
    fits, val = copies > held, held > 0
    return Copies(kept[fits], classes[fits], ((copies - held) * each)[fits], stops, len(X),
                  (kept[val], classes[val], (held * each)[val]) if val.any() else None)


def _fit_view(spec: MemberSpec, codes: np.ndarray, plan: RowPlan) -> tuple[np.ndarray | None, dict | None, object]:
    """The rows (positions; None: all) a member fits on under `plan`, the class counts to build it for (None:
    those of its rows) and its rows' weights (None: unweighted).

    Learners that learn in batches (`every_row`) fit on every row but the judging rows. Members that
    see the classes as they are (no sampler or class weights, no augmentation) weigh the class-capped
    sample back to the classes' sizes and are built for those sizes; resampling members rebalance it anyway.
    """
    if plan.fit is None:
        return None, None, None
    if LEARNERS[spec.learner].every_row:
        return plan.unjudged(), None, None
    if spec.sampler in ("none", "class_weight") and spec.augment is None:
        # Built for the classes' sizes in the whole training split, whichever of its rows were read.
        return plan.fit, plan.totals, plan.weight
    return plan.fit, None, None


def _fit(spec: MemberSpec, X: pd.DataFrame, codes: np.ndarray, schema: Schema, random_state: int, threads: int,
         watch: Callable | None, out_of_bag: bool, weights=None, counts: dict | None = None,
         copies: Copies | None = None):
    """`fit_member` on exactly these rows (with these row `weights`, built for these class `counts`; None: the
    rows' own; `copies`: they are distinct rows weighing their copies), samplers kept: their kept rows give a
    forest's out-of-bag rows."""
    fit_params = {} if weights is None else {"learn__sample_weight": np.asarray(weights)}
    if LEARNERS[spec.learner].holdout:
        # Early stopping watches rows held out before resampling: no copy of a row it fits may judge it.
        X, codes, fit_params = _hold_out(spec, X, codes, random_state)
    if counts is None:
        counts = {int(code): int(n) for code, n in pd.Series(codes).value_counts().sort_index().items()}
    pipeline = build_member(spec, schema, counts, random_state=random_state, threads=threads)
    if watch is not None:
        watch_sampling(pipeline, watch)
    learner = pipeline.steps[-1][1]
    if copies is not None:  # as many distinct rows as copies would turn scikit-learn's "auto" off
        built = learner.get_params()
        stopping, smallest = built["early_stopping"], built["min_samples_leaf"]
        learner.set_params(early_stopping=copies.stops,
                           min_samples_leaf=max(1, round(smallest * len(copies.X) / copies.rows)))
        if copies.held is not None:  # routed to the learner, the held-out rows prepared as the fit rows are
            X_val, y_val, weights_val = copies.held
            if built.get("class_weight") is not None:  # as scikit-learn weighs the rows it holds out itself
                weights_val = weights_val * compute_sample_weight(built["class_weight"], y_val)
            fit_params = {"sample_weight": np.asarray(weights), "X_val": X_val, "y_val": y_val,
                          "sample_weight_val": weights_val}
    if out_of_bag:
        learner.set_params(oob_score=True)
    small_forest, jobs = _small_forest(spec, X), getattr(learner, "n_jobs", None)
    if small_forest:
        learner.set_params(n_jobs=1)
    routed = "X_val" in fit_params
    started = time.perf_counter()
    try:
        # The held-out rows go through the steps before the learner: routing passes them on.
        pipeline.set_params(transform_input=["X_val"] if routed else None)
        on_own_thread(lambda: _fit_here(pipeline, X, codes, fit_params, threads, routed))
    except InputError:
        raise
    except (ValueError, RuntimeError) as error:
        # Samplers refuse some data shapes (ADASYN with no majority neighbours,
        # K-Means SMOTE with no usable cluster): name the member, keep their reason.
        raise InputError(f"member {spec.name} could not be fitted", str(error).strip().rstrip("."),
                         "Change its sampler or learner parameters, or drop this member.") from error
    finally:
        pipeline.set_params(transform_input=None)
    if copies is not None:
        learner.set_params(early_stopping=stopping, min_samples_leaf=smallest)  # the parameters as built
    if small_forest:
        learner.set_params(n_jobs=jobs)  # the saved forest scores big batches on every core
    return pipeline, time.perf_counter() - started


def _fit_here(pipeline, X: pd.DataFrame, codes: np.ndarray, fit_params: dict, threads: int, routed: bool) -> None:
    """Fit `pipeline` in this thread, with at most `threads` threads (see `_fit`)."""
    with limit_threads(threads), config_context(enable_metadata_routing=routed), warnings.catch_warnings():
        # Rows in every bootstrap sample have no out-of-bag vote; _out_of_bag_proba handles them.
        warnings.filterwarnings("ignore", message="Some inputs do not have OOB scores", category=UserWarning)
        pipeline.fit(X, codes, **fit_params)


def forest_work(rows: int, features: int) -> float:
    """The size of a forest's job, rows × √features, for the one-thread rule (`Learner.one_thread_below`)."""
    return rows * np.sqrt(features)


def few_rows(rows: int, features: int) -> bool:
    """Training rows few enough that a forest on all of them grows its trees in one thread (the one-thread rule of
    `rf`, `Learner.one_thread_below`). Every member's fit is then mostly the interpreter's work around small
    steps, which members side by side in threads do not share (one holds the interpreter while the other waits):
    fitted one after another they finish sooner. On the quality benchmark's tables below the rule, the default
    recipe's members one at a time took less time than two at once; above it, about as long
    (bench/results/forest_trees.md)."""
    return forest_work(rows, features) < LEARNERS["rf"].one_thread_below


def _small_forest(spec: MemberSpec, rows: pd.DataFrame) -> bool:
    """A learner whose work on these rows takes less time than handing it to threads (bench/results/parallel.md)."""
    below = LEARNERS[spec.learner].one_thread_below
    return below is not None and "n_jobs" not in spec.learner_params and forest_work(*rows.shape) < below


def _hold_out(spec: MemberSpec, X: pd.DataFrame, codes: np.ndarray, random_state: int):
    """A Keras member's rows to fit, their codes, and the rows that stop its training early (as fit params)."""
    from imbalance_flows.tasks.learners.keras_members import stratified_holdout

    fraction = float(spec.learner_params.get("validation_fraction", 0.1))
    split = stratified_holdout(codes, fraction, spec.seeded(random_state))
    if split is None:
        return X, codes, {}
    keep, held = split
    return X.iloc[keep], codes[keep], {"X_val": X.iloc[held], "y_val": codes[held]}


def fit_out_of_fold(spec: MemberSpec, X: pd.DataFrame, y: pd.Series, schema: Schema, random_state: int = 0,
                    threads: int = 1, folds: int = 5, watch: Callable | None = None,
                    plan: RowPlan | None = None) -> tuple:
    """Fit a member on all rows, and predict every row with a model that never saw it.

    Those out-of-fold probabilities weigh the member and tune the threshold without
    holding rows back from training. A forest gives them for free: each row is scored
    by the trees whose bootstrap left it out, and rows an under-sampler dropped by the
    whole forest. Any other member is cross-fitted: refitted on `folds` − 1 parts of the
    rows to predict the remaining part, so it costs `folds` more fits.

    With a large-data `plan` (`imbalance_flows.tasks.model.sizes`), "all rows" are the plan's fit
    rows and only the plan's judging rows are predicted, by the member itself: they are none of
    its fit rows.

    Returns the pipeline fitted on all rows, the seconds it took (cross-fitting
    included) and the probabilities, one row per judging row (every row of X without
    a plan), in class-code order.
    """
    started = time.perf_counter()
    plan = plan or RowPlan(len(X))
    codes = encode_labels(y, schema)
    n_classes = len(schema.classes)
    out_of_bag = _out_of_bag_capable(spec) and not plan.large
    fitted_on, pipeline, _ = _fit_planned(spec, X, codes, schema, random_state, threads, watch, out_of_bag, plan)
    if plan.large:
        pipeline = drop_sampling(pipeline)
        return pipeline, time.perf_counter() - started, member_proba(pipeline, X.iloc[plan.judge_rows()], n_classes)
    if out_of_bag:
        sampler = pipeline.named_steps["resample"]
        sampler = sampler.sampler if isinstance(sampler, Watched) else sampler
        kept = getattr(sampler, "sample_indices_", None) if sampler is not None else np.arange(len(fitted_on))
        kept = None if kept is None else fitted_on[np.asarray(kept)]
        proba = _out_of_bag_proba(drop_sampling(pipeline), X, kept, n_classes)
        if proba is not None:
            return pipeline, time.perf_counter() - started, proba
    pipeline = drop_sampling(pipeline)
    proba = cross_fit_proba(spec, X, codes, schema, random_state, threads, folds)
    return pipeline, time.perf_counter() - started, proba


def cross_fit_proba(spec: MemberSpec, X: pd.DataFrame, codes: np.ndarray, schema: Schema, random_state: int = 0,
                    threads: int = 1, folds: int = 5) -> np.ndarray:
    """Out-of-fold probabilities of every row, by a member refitted on `folds` − 1 stratified parts of the rows
    (with these class codes) to predict the remaining part."""
    n_classes = len(schema.classes)
    proba = np.zeros((len(X), n_classes))
    for fit_part, held in _parts(codes, folds, random_state):
        model, _ = _fit(spec, X.iloc[fit_part], codes[fit_part], schema, random_state, threads, None, False)
        proba[held] = member_proba(drop_sampling(model), X.iloc[held], n_classes)
    return proba


def _parts(codes: np.ndarray, folds: int, random_state: int) -> list:
    """(fit, held) positions of rows with these codes: `folds` stratified folds (fewer where a class has fewer
    rows, at least two)."""
    from sklearn.model_selection import StratifiedKFold

    smallest = int(np.bincount(codes).min()) if len(codes) else 0
    splitter = StratifiedKFold(n_splits=max(2, min(folds, smallest)), shuffle=True, random_state=random_state)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        return list(splitter.split(np.zeros(len(codes)), codes))


def _out_of_bag_capable(spec: MemberSpec) -> bool:
    """A bagged learner (`Learner.out_of_bag`) that trains on a subset of the given rows (no synthetic ones)."""
    out_of_bag = LEARNERS[spec.learner].out_of_bag
    return (out_of_bag is not None and out_of_bag(spec.learner_params) and spec.augment is None
            and (spec.sampler in ("none", "class_weight") or is_under_sampler(spec.sampler)))


def _out_of_bag_proba(pipeline, X: pd.DataFrame, kept, n_classes: int) -> np.ndarray | None:
    """For every row: out-of-bag probabilities for the rows the forest saw (`kept`), its plain ones for rows it
    never saw (an under-sampler dropped them)."""
    forest = pipeline.steps[-1][1]
    oob = getattr(forest, "oob_decision_function_", None)
    if kept is None or oob is None or len(kept) != len(oob) or count_distinct(kept) != len(kept):
        return None  # the sampler did not just pick rows: cross-fit instead
    proba = np.zeros((len(X), n_classes))
    seen = np.zeros(len(X), dtype=bool)
    seen[kept] = True
    missing = np.isnan(oob).any(axis=1)  # a row in every bootstrap sample: none left it out
    inside = np.zeros((len(oob), n_classes))
    inside[:, forest.classes_] = oob
    inside[missing] = 1.0 / n_classes
    proba[kept] = inside
    if (~seen).any():
        proba[~seen] = member_proba(pipeline, X.iloc[np.flatnonzero(~seen)], n_classes)
    return proba


SEQUENTIAL_BELOW = 10_000  # fewer rows are scored in one thread (where it is faster: bench/results/serve_model.md)

# Rows of a table with few distinct rows (a handful of categorical columns, say) are scored once per distinct row:
# where evenly spaced DISTINCT_SAMPLE rows of a batch of at least twice as many hold at most half as many distinct
# ones. A row's probabilities never depend on the other rows of its batch. The military table's 282,919 test rows
# (five few-valued columns) hold about a hundred distinct rows (bench/military.py).
DISTINCT_SAMPLE = 2_000


def distinct_rows(X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray] | None:
    """For a batch of rows mostly copies of each other: the position of one row of each distinct row, and for each
    row the index of its distinct row among those. None where most rows look distinct, or cannot be compared."""
    if len(X) < 2 * DISTINCT_SAMPLE or X.shape[1] == 0:
        return None
    sample = X.iloc[np.linspace(0, len(X) - 1, DISTINCT_SAMPLE).astype(np.int64)]
    try:
        if len(sample.drop_duplicates()) > DISTINCT_SAMPLE // 2:
            return None
    except TypeError:  # values that cannot be compared (images as arrays): every row is scored
        return None
    group = row_groups(X)
    if group is None:
        return None
    first = np.unique(group, return_index=True)[1]
    return first, group


def row_groups(X: pd.DataFrame) -> np.ndarray | None:
    """Each row's group of equal rows: exact (no hashing), numbered in order of first appearance, missing values
    forming groups of their own. None where values cannot be compared (images as arrays)."""
    try:
        return X.groupby(list(X.columns), dropna=False, sort=False, observed=True).ngroup().to_numpy()
    except TypeError:
        return None


def member_proba(model, X: pd.DataFrame, n_classes: int, name: str = "a member", grouped: bool = True) -> np.ndarray:
    """A fitted member's probabilities in class-code order; a class it never saw gets 0. Checked
    (`check_probabilities`): a damaged member's NaN or out-of-range values never reach a vote or a file.
    Rows that are copies of each other are scored once (`distinct_rows`), unless `grouped` is False: the caller
    looked for them already."""
    distinct = distinct_rows(X) if grouped else None
    if distinct is not None:
        first, group = distinct
        return member_proba(model, X.iloc[first], n_classes, name, grouped=False)[group]
    out = np.zeros((len(X), n_classes))
    # Members learn class codes. A large batch is scored on a thread of its own (`on_own_thread`); a small one here,
    # in one thread: neither leaves an OpenMP team behind in this thread.
    if len(X) < SEQUENTIAL_BELOW:
        with limit_threads(1):
            out[:, model.classes_] = model.predict_proba(X)
    else:
        out[:, model.classes_] = on_own_thread(lambda: model.predict_proba(X))
    return check_probabilities(out, name)


# How far a row's probabilities may sum from 1 (float32 networks and boosters round).
PROBABILITY_TOLERANCE = 1e-4


def check_probabilities(proba: np.ndarray, who: str) -> np.ndarray:
    """`proba` when every value is a finite number from 0 to 1 and every row sums to 1; else the product's error,
    naming the first bad row."""
    proba = np.asarray(proba, dtype=float)
    if not len(proba) or _plausible(proba):
        return proba
    bad = ~np.isfinite(proba).all(axis=1)
    bad |= ((proba < -PROBABILITY_TOLERANCE) | (proba > 1 + PROBABILITY_TOLERANCE)).any(axis=1)
    bad |= np.abs(proba.sum(axis=1) - 1) > PROBABILITY_TOLERANCE
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError("a model's probabilities must be numbers from 0 to 1 that sum to 1 in every row",
                         f"{who} gives {np.round(proba[row], 6).tolist()} for row {row} ({int(bad.sum())} such rows)",
                         "The model is damaged or was changed after it was saved: retrain it, or restore the "
                         "version. Nothing was written for these rows.")
    return proba


def _plausible(proba: np.ndarray) -> bool:
    """Every value of a non-empty `proba` from 0 to 1 and every row summing to 1, within the tolerance: the same
    judgement as `check_probabilities`' row by row, from whole-array reductions and the rows' sums a column at a
    time (`narrow.row_sums`; reductions along millions of rows of a few values each are many times slower).
    A NaN fails every comparison."""
    low, high = proba.min(), proba.max()
    if not (low >= -PROBABILITY_TOLERANCE and high <= 1 + PROBABILITY_TOLERANCE):  # NaN and ±inf fail here
        return False
    total = row_sums(proba)
    total -= 1
    return bool(np.abs(total, out=total).max() <= PROBABILITY_TOLERANCE)
