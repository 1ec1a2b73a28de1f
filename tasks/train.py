"""Fit one ensemble member, sharing the cores fairly with members fitted beside it."""

from __future__ import annotations

import concurrent.futures
import time
import warnings
from typing import Callable

import numpy as np
import pandas as pd
from sklearn import config_context
from threadpoolctl import threadpool_limits

from imbalance_flows.tasks.cores import limit_threads, plan_concurrency
from imbalance_flows.tasks.errors import InputError
from imbalance_flows.tasks.learners import LEARNERS
from imbalance_flows.tasks.members import Watched, build_member, drop_sampling, watch_sampling
from imbalance_flows.tasks.resample import is_under_sampler
from imbalance_flows.tasks.schema import Schema
from imbalance_flows.tasks.spec import MemberSpec


def longest_first(specs: list[MemberSpec], folds: int | None = None) -> list[int]:
    """Positions of `specs`, the costliest first; with `folds`, cross-fitted members count `folds` + 1 fits.

    Started in this order, the last member to finish is a cheap one, so no core sits
    idle for long while one slow member runs alone on its share of the threads.
    """
    def cost(spec: MemberSpec) -> int:
        fits = 1 if folds is None or _out_of_bag_capable(spec) else folds + 1
        return LEARNERS[spec.learner].cost * fits  # the registry's rough one-thread cost

    return sorted(range(len(specs)), key=lambda i: -cost(specs[i]))


# Waiting for members, the main thread wakes this often: a signal (SIGTERM, Ctrl-C) delivered to one of the
# threads fitting them is handled only when the main thread runs, and a wait without a timeout may never end.
POLL_S = 0.5


def first_done(futures: list):
    """The first of some `concurrent.futures` futures to finish."""
    while True:
        done, _ = concurrent.futures.wait(futures, timeout=POLL_S, return_when=concurrent.futures.FIRST_COMPLETED)
        if done:
            return next(future for future in futures if future in done)


def run_members(specs: list[MemberSpec], submit: Callable, *, n_jobs: int | None = None, folds: int | None = None,
                wait_first: Callable = first_done, on_done: Callable | None = None) -> list:
    """Fit every member, side by side, the costliest first; return their results in the members' order.

    The one plan of how members share the cores, used by `VotingEnsemble.fit` (threads)
    and by the training flow (Prefect task runs, on threads or Dask workers):
    `plan_concurrency` says how many members run at once and with how many threads
    each, so members side by side never ask for more cores than there are; starting
    the slow ones first keeps a run from ending with one slow member alone on its share.

    Parameters
    ----------
    specs : list of MemberSpec
    submit : callable
        `submit(spec, threads)` starts fitting one member and returns a future.
    n_jobs : int or None
        Members fitted at once (see `plan_concurrency`).
    folds : int or None
        Out-of-fold judging: cross-fitted members cost `folds` + 1 fits (for the order).
    wait_first : callable
        `wait_first(futures)` returns the first of them to finish (Prefect futures need their own).
    on_done : callable
        `on_done(position, result, done, total)`, called as each member finishes.
    """
    workers, threads = plan_concurrency(len(specs), n_jobs)
    waiting = longest_first(specs, folds)
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
    codes = pd.Index(schema.classes).get_indexer(np.asarray(y))  # -1 where a label is not a class
    if (codes < 0).any():
        unknown = pd.unique(np.asarray(y)[codes < 0])
        raise InputError("labels must be among the schema's classes", f"found {unknown.tolist()[:5]}",
                         "Infer the schema from the same data.")
    return codes.astype(np.int64)


def fit_member(spec: MemberSpec, X: pd.DataFrame, y: pd.Series, schema: Schema, random_state: int = 0,
               threads: int = 1, watch: Callable | None = None, out_of_bag: bool = False):
    """Build one member's pipeline and fit it, as it is, on (already coerced) training rows.

    The pipeline (prepare → resample → augment → encode → learn) resamples and augments
    only the rows it is fitted on. With `watch`, each sampling step runs as
    `watch(step, sampler, rows, labels)` (the training flow passes a Prefect task, so
    the steps show in the UI); a Keras member stops early on rows held out before any
    resampling, passed through the pipeline's own preparation.

    Members learn class codes (positions in `schema.classes`), not the labels
    themselves, so that every learner and sampler sees the same small integers.
    With `out_of_bag`, a bagged learner also keeps its out-of-bag probabilities.
    Returns the fitted pipeline, without its samplers, and the seconds it took.
    """
    pipeline, seconds = _fit(spec, X, encode_labels(y, schema), schema, random_state, threads, watch, out_of_bag)
    return drop_sampling(pipeline), seconds


def _fit(spec: MemberSpec, X: pd.DataFrame, codes: np.ndarray, schema: Schema, random_state: int, threads: int,
         watch: Callable | None, out_of_bag: bool):
    """`fit_member`, samplers kept (their kept rows give a forest's out-of-bag rows)."""
    fit_params = {}
    if LEARNERS[spec.learner].keras:
        # Early stopping watches rows held out before resampling: no copy of a row it fits may judge it.
        X, codes, fit_params = _hold_out(spec, X, codes, random_state)
    counts = {int(code): int(n) for code, n in pd.Series(codes).value_counts().sort_index().items()}
    pipeline = build_member(spec, schema, counts, random_state=random_state, threads=threads)
    if watch is not None:
        watch_sampling(pipeline, watch)
    learner = pipeline.steps[-1][1]
    if out_of_bag:
        learner.set_params(oob_score=True)
    small_forest, jobs = _small_forest(spec, X), getattr(learner, "n_jobs", None)
    if small_forest:
        learner.set_params(n_jobs=1)
    started = time.perf_counter()
    try:
        # The held-out rows go through the steps before the learner: routing passes them on.
        with limit_threads(threads), config_context(enable_metadata_routing=bool(fit_params)), \
                warnings.catch_warnings():
            # Rows in every bootstrap sample have no out-of-bag vote; _out_of_bag_proba handles them.
            warnings.filterwarnings("ignore", message="Some inputs do not have OOB scores", category=UserWarning)
            pipeline.set_params(transform_input=["X_val"] if fit_params else None)
            pipeline.fit(X, codes, **fit_params)
    except InputError:
        raise
    except (ValueError, RuntimeError) as error:
        # Samplers refuse some data shapes (ADASYN with no majority neighbours,
        # K-Means SMOTE with no usable cluster): name the member, keep their reason.
        raise InputError(f"member {spec.name} could not be fitted", str(error).strip().rstrip("."),
                         "Change its sampler or learner parameters, or drop this member.") from error
    finally:
        pipeline.set_params(transform_input=None)
    if small_forest:
        learner.set_params(n_jobs=jobs)  # the saved forest scores big batches on every core
    return pipeline, time.perf_counter() - started


# Below this rows × √features a forest grows its trees in one thread. A tree's work grows with
# the rows and the features tried at each split (√features, the forest's default).
SMALL_FOREST_WORK = 4_500


def forest_work(rows) -> float:
    """The size of a forest's job, rows × √features, for the one-thread rule."""
    return rows.shape[0] * np.sqrt(rows.shape[1])


def _small_forest(spec: MemberSpec, rows: pd.DataFrame) -> bool:
    """A forest whose trees take less time to grow than to hand to threads (bench/results/parallel.md)."""
    return spec.learner == "rf" and "n_jobs" not in spec.learner_params and forest_work(rows) < SMALL_FOREST_WORK


def _hold_out(spec: MemberSpec, X: pd.DataFrame, codes: np.ndarray, random_state: int):
    """A Keras member's rows to fit, their codes, and the rows that stop its training early (as fit params)."""
    from imbalance_flows.tasks.keras_members import stratified_holdout

    fraction = float(spec.learner_params.get("validation_fraction", 0.1))
    split = stratified_holdout(codes, fraction, random_state + spec.seed)
    if split is None:
        return X, codes, {}
    keep, held = split
    return X.iloc[keep], codes[keep], {"X_val": X.iloc[held], "y_val": codes[held]}


def fit_out_of_fold(spec: MemberSpec, X: pd.DataFrame, y: pd.Series, schema: Schema, random_state: int = 0,
                    threads: int = 1, folds: int = 5, watch: Callable | None = None) -> tuple:
    """Fit a member on all rows, and predict every row with a model that never saw it.

    Those out-of-fold probabilities weigh the member and tune the threshold without
    holding rows back from training. A forest gives them for free: each row is scored
    by the trees whose bootstrap left it out, and rows an under-sampler dropped by the
    whole forest. Any other member is cross-fitted: refitted on `folds` − 1 parts of the
    rows to predict the remaining part, so it costs `folds` more fits.

    Returns the pipeline fitted on all rows, the seconds it took (cross-fitting
    included) and the probabilities, one row per row of X, in class-code order.
    """
    started = time.perf_counter()
    n_classes = len(schema.classes)
    if _out_of_bag_capable(spec):
        pipeline, _ = _fit(spec, X, encode_labels(y, schema), schema, random_state, threads, watch, out_of_bag=True)
        sampler = pipeline.named_steps["resample"]
        sampler = sampler.sampler if isinstance(sampler, Watched) else sampler
        kept = np.arange(len(X)) if sampler is None else getattr(sampler, "sample_indices_", None)
        proba = _out_of_bag_proba(drop_sampling(pipeline), X, kept, n_classes)
        if proba is not None:
            return pipeline, time.perf_counter() - started, proba
    else:
        pipeline, _ = fit_member(spec, X, y, schema, random_state, threads, watch)
    proba = cross_fit_proba(spec, X, y, schema, random_state, threads, folds)
    return pipeline, time.perf_counter() - started, proba


def cross_fit_proba(spec: MemberSpec, X: pd.DataFrame, y: pd.Series, schema: Schema, random_state: int = 0,
                    threads: int = 1, folds: int = 5) -> np.ndarray:
    """Out-of-fold probabilities of a member refitted on stratified folds of the rows."""
    from sklearn.model_selection import StratifiedKFold

    codes = encode_labels(y, schema)
    smallest = int(np.bincount(codes, minlength=len(schema.classes)).min())
    splitter = StratifiedKFold(n_splits=max(2, min(folds, smallest)), shuffle=True, random_state=random_state)
    proba = np.zeros((len(X), len(schema.classes)))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        parts = list(splitter.split(np.zeros(len(codes)), codes))
    for fit_rows, held_rows in parts:
        model, _ = fit_member(spec, X.iloc[fit_rows], y.iloc[fit_rows], schema, random_state, threads)
        proba[held_rows] = member_proba(model, X.iloc[held_rows], len(schema.classes))
    return proba


def _out_of_bag_capable(spec: MemberSpec) -> bool:
    """A bagged forest that trains on a subset of the given rows (no synthetic ones)."""
    return (spec.learner == "rf" and spec.augment is None and spec.learner_params.get("bootstrap", True)
            and (spec.sampler in ("none", "class_weight") or is_under_sampler(spec.sampler)))


def _out_of_bag_proba(pipeline, X: pd.DataFrame, kept, n_classes: int) -> np.ndarray | None:
    """Out-of-bag probabilities for the rows the forest saw; its plain ones for rows it never saw."""
    forest = pipeline.steps[-1][1]
    oob = getattr(forest, "oob_decision_function_", None)
    if kept is None or oob is None or len(kept) != len(oob) or len(np.unique(kept)) != len(kept):
        return None  # the sampler did not just pick rows: cross-fit instead
    proba = np.zeros((len(X), n_classes))
    proba[np.asarray(kept)[:, None], forest.classes_[None, :]] = oob
    missing = np.isnan(proba).any(axis=1)  # a row in every bootstrap sample: none left it out
    proba[missing] = 1.0 / n_classes
    unseen = np.setdiff1d(np.arange(len(X)), kept)
    if len(unseen):
        proba[unseen] = member_proba(pipeline, X.iloc[unseen], n_classes)
    return proba


def member_proba(model, X: pd.DataFrame, n_classes: int) -> np.ndarray:
    """A fitted member's probabilities in class-code order; a class it never saw gets 0."""
    out = np.zeros((len(X), n_classes))
    out[:, model.classes_] = model.predict_proba(X)  # members learn class codes
    return out
