"""Search for the default ensemble recipe across the offline benchmark data sets.

A recipe is a list of member specs, a voting mode and a threshold objective. Fitting
every recipe would refit the same members over and over, so this script

1. fits a POOL of candidate members once per (data set, outer fold), exactly as
   ``VotingEnsemble.fit`` would fit them (schema and coercion on the outer-train rows,
   the same inner stratified validation split, ``imbalance_flows.tasks.model.fitting.fit_member``), and caches
   each member's class probabilities on the inner-validation and outer-test rows plus
   its fit seconds under ``bench/results/pool/<data set>-fold<k>.npz``; baselines
   (plain RF / HGB, imbalanced-learn's BalancedRandomForest and EasyEnsemble) are fitted
   on the whole outer-train part and cached beside them;
2. scores recipes offline from those probabilities: weights as ``VotingEnsemble`` set
   them then (balanced accuracy above chance, now the start of its weight search), the
   two-class threshold with ``imbalance_flows.tasks.model.weights.best_cut``, metrics with
   ``imbalance_flows.tasks.evaluation.metrics.evaluate``; for several classes, argmax, and optionally per-class
   multiplicative "prior" weights tuned on the validation rows;
3. ranks every candidate per data set and averages the ranks, and picks a recommended
   default recipe by a fixed rule (see ``recommend``);
4. writes ``bench/results/recipe_search.json`` and ``bench/results/recipe_search.md``.

Run from the repository root::

    .venv/bin/python -m bench.recipe_search              # all 16 data sets, fit + score
    .venv/bin/python -m bench.recipe_search --datasets glass yeast4 --out /tmp/rs
    .venv/bin/python -m bench.recipe_search --score-only  # re-score the cached pool

Members are fitted one per process, two processes at a time, each single-threaded.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # every fit here is single-threaded; 2 processes share the 2 cores

import argparse  # noqa: E402
import json  # noqa: E402
import multiprocessing  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from concurrent.futures import ProcessPoolExecutor, as_completed  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
N_FOLDS = 5
METRICS = ("balanced_accuracy", "g_mean", "macro_f1", "average_precision", "roc_auc", "mcc")
RANKED = ("balanced_accuracy", "g_mean", "macro_f1", "average_precision", "roc_auc")
OBJECTIVES = ("none", "balanced_accuracy", "g_mean", "f1")
VOTINGS = ("soft", "weighted")
RUN_DATE = "2026-11-23"

# The pool: every member is fitted once per (data set, fold). "#s" is MemberSpec.seed.
POOL = [
    "none:hgb", "class_weight:hgb", "class_weight@0.5:hgb", "smote:hgb", "smote@0.5:hgb",
    "random_under:hgb", "random_under:hgb#1", "random_under:hgb#2", "random_under:hgb#3",
    "random_under@0.5:hgb", "random_over+jitter:hgb",
    "none:rf", "class_weight:rf", "random_under:rf", "random_under:rf#1", "random_under:rf#2",
    "random_under@0.5:rf", "smote:rf",
    "none:logreg", "class_weight:logreg", "smote:logreg",
]

EASY4 = ["random_under:hgb", "random_under:hgb#1", "random_under:hgb#2", "random_under:hgb#3"]
# Hand-picked recipes, each asking one question (see RECIPE_NOTES).
RECIPES: dict[str, list[str]] = {
    "current_default": ["class_weight:hgb", "random_under:rf", "smote@0.5:hgb", "class_weight:logreg", "none:rf"],
    "current_default-logreg": ["class_weight:hgb", "random_under:rf", "smote@0.5:hgb", "none:rf"],
    "current_default-none_rf": ["class_weight:hgb", "random_under:rf", "smote@0.5:hgb", "class_weight:logreg"],
    "hgb_trio": ["class_weight:hgb", "smote@0.5:hgb", "random_under:hgb"],
    "hgb_all": ["none:hgb", "class_weight:hgb", "class_weight@0.5:hgb", "smote:hgb", "smote@0.5:hgb",
                "random_under:hgb", "random_over+jitter:hgb"],
    "hgb_plain_pair": ["none:hgb", "class_weight:hgb"],
    "easy_hgb4": EASY4,
    "easy_hgb4+cw_hgb": EASY4 + ["class_weight:hgb"],
    "easy_rf3": ["random_under:rf", "random_under:rf#1", "random_under:rf#2"],
    "under_mix": EASY4 + ["random_under:rf", "random_under:rf#1"],
    "rf_all": ["none:rf", "class_weight:rf", "random_under:rf", "random_under@0.5:rf", "smote:rf"],
    "cw_trio": ["class_weight:hgb", "class_weight:rf", "class_weight:logreg"],
    "smote_trio": ["smote:hgb", "smote:rf", "smote:logreg"],
    "plain_pair": ["none:hgb", "none:rf"],
    "cw_hgb+under_rf": ["class_weight:hgb", "random_under:rf"],
    "cw_hgb+under_rf+under_hgb": ["class_weight:hgb", "random_under:rf", "random_under:hgb"],
    "diverse_A": ["class_weight:hgb", "random_under:hgb", "random_under:rf", "class_weight:rf"],
    "diverse_A+logreg": ["class_weight:hgb", "random_under:hgb", "random_under:rf", "class_weight:rf",
                         "class_weight:logreg"],
    "diverse_B": ["class_weight:hgb", "random_under:hgb", "random_under:hgb#1", "random_under:rf",
                  "random_under:rf#1"],
    "diverse_B+logreg": ["class_weight:hgb", "random_under:hgb", "random_under:hgb#1", "random_under:rf",
                         "random_under:rf#1", "class_weight:logreg"],
    "diverse_C": ["class_weight:hgb", "smote@0.5:hgb", "random_under:hgb", "random_under:rf", "class_weight:rf"],
    "diverse_D": ["class_weight:hgb", "class_weight@0.5:hgb", "random_under:rf", "random_under@0.5:rf"],
    "fast_mix": ["class_weight:hgb", "random_under:hgb", "random_under:rf", "class_weight:logreg"],
    "all": list(POOL),
    "all-logreg": [m for m in POOL if not m.endswith(":logreg")],
}
RECIPE_NOTES = {
    "current_default": "the default chosen here, before members were judged out of fold (bench/out_of_fold.py)",
    "current_default-logreg": "does the logistic member help?",
    "current_default-none_rf": "does the plain forest help?",
    "hgb_trio": "boosting only, three views of the imbalance",
    "hgb_all": "every hgb variant of the pool except the EasyEnsemble copies",
    "hgb_plain_pair": "no resampling, threshold only",
    "easy_hgb4": "EasyEnsemble-like: 4 under-sampled hgb, seeds 0-3",
    "easy_hgb4+cw_hgb": "EasyEnsemble-like plus one full-data weighted hgb",
    "easy_rf3": "3 under-sampled forests (balanced-bagging-like)",
    "under_mix": "under-sampling only, hgb and rf",
    "rf_all": "forests only",
    "cw_trio": "class weights only, three learners",
    "smote_trio": "SMOTE only, three learners",
    "plain_pair": "no imbalance handling except the threshold",
    "cw_hgb+under_rf": "two members",
    "cw_hgb+under_rf+under_hgb": "three members, cheap",
    "diverse_A": "weighted and under-sampled hgb and rf",
    "diverse_A+logreg": "diverse_A plus class_weight:logreg",
    "diverse_B": "weighted hgb plus 4 under-sampled (2 hgb, 2 rf)",
    "diverse_B+logreg": "diverse_B plus class_weight:logreg",
    "diverse_C": "diverse_A plus smote@0.5:hgb",
    "diverse_D": "full and half rebalancing for hgb (weights) and rf (under)",
    "fast_mix": "cheap members only",
    "all": "every pool member",
    "all-logreg": "every pool member but the logistic ones",
}
BASELINES = ("plain_rf", "plain_hgb", "balanced_rf", "easy_ensemble")

ORDER = {  # rough cost order, largest first, so two workers finish together
    "lending_club": 10, "default": 9, "caravan": 9, "satimage": 8, "churn": 7, "page_blocks0": 6, "hpc": 6,
    "hypothyroid": 5, "attrition": 3, "hepatic_injury": 3, "yeast4": 2, "flare_f": 2, "hawks": 2,
    "abalone9_18": 1, "olive": 1, "glass": 1,
}


# --------------------------------------------------------------------------------------------
# phase 1: fit the pool once per (data set, fold) and cache the probabilities


def member_spec(name: str):
    from imbalance_flows.tasks.model.spec import MemberSpec

    text, _, seed = name.partition("#")
    spec = MemberSpec.parse(text)
    if seed:
        spec = MemberSpec.model_validate({**spec.model_dump(), "seed": int(seed)})
    assert spec.name == name, (spec.name, name)
    return spec


def outer_split(X, y, fold: int, schema=None):
    """Outer-train and outer-test rows of fold `fold`, coerced as VotingEnsemble would."""
    from sklearn.model_selection import StratifiedKFold

    from imbalance_flows.tasks.data.checks import check_categories
    from imbalance_flows.tasks.data.schema import coerce, infer_schema

    train, test = list(StratifiedKFold(N_FOLDS, shuffle=True, random_state=0).split(X, y))[fold]
    X_train, y_train = X.iloc[train].reset_index(drop=True), y.iloc[train].reset_index(drop=True)
    X_test, y_test = X.iloc[test].reset_index(drop=True), y.iloc[test].reset_index(drop=True)
    schema = infer_schema(X_train, y_train)
    X_train = coerce(X_train, schema)
    # Scoring as VotingEnsemble(unknown_categories="ignore") does: unseen categories become missing.
    X_test = coerce(check_categories(X_test, schema, "ignore"), schema)
    return schema, X_train, y_train, X_test, y_test, test


def baseline_model(name: str, schema):
    from imblearn.ensemble import BalancedRandomForestClassifier, EasyEnsembleClassifier
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    numeric = [c.name for c in schema.columns if c.kind == "numeric"]
    categorical = [c.name for c in schema.columns if c.kind == "categorical"]
    prepare = ColumnTransformer([
        ("numeric", SimpleImputer(strategy="median"), numeric),
        # coerce() already turned missing categories into "(missing)"; codes are used as numbers.
        ("categorical", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1), categorical),
    ])
    model = {
        "plain_rf": lambda: RandomForestClassifier(random_state=0, n_jobs=1),
        "plain_hgb": lambda: HistGradientBoostingClassifier(random_state=0),
        "balanced_rf": lambda: BalancedRandomForestClassifier(random_state=0, n_jobs=1),
        "easy_ensemble": lambda: EasyEnsembleClassifier(random_state=0, n_jobs=1),
    }[name]()
    return Pipeline([("prepare", prepare), ("learn", model)])


def cache_path(pool_dir: str, dataset: str, fold: int) -> str:
    return os.path.join(pool_dir, f"{dataset}-fold{fold}.npz")


def read_cache(path: str) -> dict:
    if not os.path.exists(path):
        return {}
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def fit_fold(dataset: str, fold: int, pool: list[str], pool_dir: str) -> dict:
    """Fit the pool members and baselines missing from this fold's cache; return timing info."""
    from threadpoolctl import threadpool_limits

    from bench.datasets import load
    from imbalance_flows.tasks.data.splits import stratified_indices
    from imbalance_flows.tasks.model.fitting import encode_labels, fit_member

    warnings.filterwarnings("ignore")
    started = time.perf_counter()
    path = cache_path(pool_dir, dataset, fold)
    cache = read_cache(path)
    X, y = load(dataset)
    schema, X_train, y_train, X_test, y_test, test_rows = outer_split(X, y, fold)
    K = len(schema.classes)
    # Exactly VotingEnsemble.fit's inner split (validation_size=0.2, random_state=0).
    inner_train, validation = stratified_indices(y_train.to_numpy(), [0.2], 0)
    X_val = X_train.iloc[validation]
    cache.update({
        "classes": np.asarray([str(c) for c in schema.classes]),
        "y_val": encode_labels(y_train.iloc[validation], schema),
        "y_test": encode_labels(y_test, schema),
        "test_rows": np.asarray(test_rows),
    })

    def proba(model, rows):
        out = np.zeros((len(rows), K))
        out[:, model.classes_] = model.predict_proba(rows)  # members learn class codes
        return out

    fitted = []
    for name in pool:
        if f"test__{name}" in cache:
            continue
        pipeline, seconds = fit_member(member_spec(name), X_train.iloc[inner_train], y_train.iloc[inner_train],
                                       schema, random_state=0, threads=1)
        with threadpool_limits(limits=1):
            cache[f"val__{name}"] = proba(pipeline, X_val)
            cache[f"test__{name}"] = proba(pipeline, X_test)
        cache[f"sec__{name}"] = np.float64(seconds)
        fitted.append(name)
    codes = encode_labels(y_train, schema)
    for name in BASELINES:
        if f"base__{name}" in cache:
            continue
        model = baseline_model(name, schema)
        with threadpool_limits(limits=1):
            tick = time.perf_counter()
            model.fit(X_train, codes)
            cache[f"basesec__{name}"] = np.float64(time.perf_counter() - tick)
            cache[f"base__{name}"] = proba(model, X_test)
        fitted.append(name)
    if fitted:
        # Wall seconds spent fitting this fold, over every run that added to its cache.
        cache["wall_seconds"] = np.float64(float(cache.get("wall_seconds", 0.0)) + time.perf_counter() - started)
        os.makedirs(pool_dir, exist_ok=True)
        staging = path + ".tmp.npz"
        np.savez_compressed(staging, **cache)
        os.replace(staging, path)
    return {"dataset": dataset, "fold": fold, "fitted": len(fitted), "seconds": time.perf_counter() - started}


def fit_pool(datasets: list[str], pool_dir: str, workers: int) -> float:
    jobs = sorted(((d, k) for d in datasets for k in range(N_FOLDS)), key=lambda j: (-ORDER.get(j[0], 5), j))
    started = time.perf_counter()
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as executor:
        futures = [executor.submit(fit_fold, d, k, POOL, pool_dir) for d, k in jobs]
        for done, future in enumerate(as_completed(futures), start=1):
            info = future.result()
            print(f"[pool {done}/{len(jobs)} {time.perf_counter() - started:7.1f}s] {info['dataset']} "
                  f"fold {info['fold']}: fitted {info['fitted']} in {info['seconds']:.1f}s", flush=True)
    return time.perf_counter() - started


# --------------------------------------------------------------------------------------------
# phase 2: score recipes offline


def fast_balanced_accuracy(y: np.ndarray, predicted: np.ndarray, K: int) -> float:
    support = np.bincount(y, minlength=K)
    hits = np.bincount(y[predicted == y], minlength=K)
    present = support > 0
    return float(np.mean(hits[present] / support[present]))


PRIOR_GRID = np.linspace(-2.0, 2.0, 21)  # log multipliers, e^-2 .. e^2


def tune_prior(proba: np.ndarray, y: np.ndarray, K: int, passes: int = 3) -> np.ndarray:
    """Per-class log-weights on the averaged probabilities, by coordinate ascent on validation BA.

    Each pass tries, for one class at a time, every value of PRIOR_GRID and keeps the best
    (ties: the value closest to 0, i.e. no adjustment); stops when a pass changes nothing.
    """
    log_p = np.log(np.clip(proba, 1e-12, None))
    weights = np.zeros(K)
    for _ in range(passes):
        changed = False
        for k in range(K):
            trial = np.repeat(weights[None, :], len(PRIOR_GRID), axis=0)
            trial[:, k] = PRIOR_GRID
            scores = np.array([fast_balanced_accuracy(y, (log_p + w).argmax(1), K) for w in trial])
            top = scores.max()
            choice = PRIOR_GRID[scores >= top - 1e-12]
            value = choice[np.argmin(np.abs(choice))]
            if value != weights[k]:
                weights[k], changed = value, True
        if not changed:
            break
    return weights


def summary_metrics(y_test, predicted, proba, K) -> dict:
    from imbalance_flows.tasks.evaluation.metrics import evaluate

    result = evaluate(y_test, predicted, proba, np.arange(K))
    return {m: result[m] for m in METRICS}


def member_weights(val_ba: np.ndarray, K: int, voting: str) -> np.ndarray:
    """The weights of VotingEnsemble before its weight search (its `_score_weights`)."""
    n = len(val_ba)
    if voting != "weighted":
        return np.ones(n) / n
    above = np.maximum(val_ba - 1.0 / K, 0.0)
    return above / above.sum() if above.sum() > 0 else np.ones(n) / n


def recipes_to_score() -> dict[str, list[str]]:
    recipes = {f"single:{m}": [m] for m in POOL}
    recipes.update(RECIPES)
    return recipes


def rarer(y: np.ndarray, K: int) -> int:
    """The ensemble's positive class on codes: the class with fewest rows, the first of equals."""
    counts = [(int(np.sum(y == c)), c) for c in range(K)]
    return min(counts)[1]


def score_dataset(dataset: str, pool_dir: str) -> dict:
    """Metrics of every candidate on every fold of one data set."""
    from imbalance_flows.tasks.model.weights import best_cut, code_objective

    warnings.filterwarnings("ignore")
    recipes = recipes_to_score()
    rows, prior_rows = [], []
    for fold in range(N_FOLDS):
        cache = read_cache(cache_path(pool_dir, dataset, fold))
        y_val, y_test = cache["y_val"], cache["y_test"]
        K = len(cache["classes"])
        val = {m: cache[f"val__{m}"] for m in POOL}
        test = {m: cache[f"test__{m}"] for m in POOL}
        seconds = {m: float(cache[f"sec__{m}"]) for m in POOL}
        val_ba = {m: code_objective("balanced_accuracy", y_val, val[m].argmax(1), K) for m in POOL}
        for recipe, members in recipes.items():
            votings = ("soft",) if len(members) == 1 else VOTINGS
            for voting in votings:
                w = member_weights(np.array([val_ba[m] for m in members]), K, voting)
                p_val = np.tensordot(w, np.stack([val[m] for m in members]), axes=1)
                p_test = np.tensordot(w, np.stack([test[m] for m in members]), axes=1)
                base = {"dataset": dataset, "fold": fold, "recipe": recipe, "voting": voting,
                        "fit_seconds": sum(seconds[m] for m in members),
                        "makespan2": makespan([seconds[m] for m in members], 2)}
                if K == 2:
                    positive = rarer(y_val, K)
                    for objective in OBJECTIVES:
                        if objective == "none":
                            predicted, threshold = p_test.argmax(1), None
                        else:
                            threshold = best_cut(p_val[:, positive], y_val == positive, objective)[0]
                            predicted = np.where(p_test[:, positive] >= threshold, positive, 1 - positive)
                        rows.append({**base, "objective": objective, "threshold": threshold,
                                     **summary_metrics(y_test, predicted, p_test, K)})
                else:
                    argmax = summary_metrics(y_test, p_test.argmax(1), p_test, K)
                    log_w = tune_prior(p_val, y_val, K)
                    adjusted = p_test * np.exp(log_w)[None, :]
                    prior = summary_metrics(y_test, adjusted.argmax(1), p_test, K)
                    for objective in OBJECTIVES:  # no threshold for several classes: argmax
                        rows.append({**base, "objective": objective, "threshold": None, **argmax})
                    prior_rows.append({**base, "argmax": argmax, "prior": prior, "log_weights": log_w.tolist()})
        for name in BASELINES:
            p_test = cache[f"base__{name}"]
            rows.append({"dataset": dataset, "fold": fold, "recipe": f"baseline:{name}", "voting": "-",
                         "objective": "-", "threshold": None, "fit_seconds": float(cache[f"basesec__{name}"]),
                         "makespan2": float(cache[f"basesec__{name}"]),
                         **summary_metrics(y_test, p_test.argmax(1), p_test, K)})
    return {"rows": rows, "prior_rows": prior_rows}


def makespan(seconds: list[float], workers: int) -> float:
    """Wall time of fitting these members `workers` at a time, longest first (as a pool would)."""
    loads = [0.0] * workers
    for s in sorted(seconds, reverse=True):
        loads[loads.index(min(loads))] += s
    return max(loads)


def load_pool(datasets: list[str], pool_dir: str) -> dict:
    """Every fold's cached validation/test probabilities, for the fast greedy search."""
    from imbalance_flows.tasks.model.weights import code_objective

    data = {}
    for d in datasets:
        for fold in range(N_FOLDS):
            cache = read_cache(cache_path(pool_dir, d, fold))
            y_val = cache["y_val"]
            data[d, fold] = {
                "K": len(cache["classes"]), "y_val": y_val, "y_test": cache["y_test"],
                "val": {m: cache[f"val__{m}"] for m in POOL}, "test": {m: cache[f"test__{m}"] for m in POOL},
                "val_ba": {m: code_objective("balanced_accuracy", y_val, cache[f"val__{m}"].argmax(1), len(cache["classes"]))
                           for m in POOL},
            }
    return data


def fast_scores(members: tuple, dataset: str, data: dict, voting: str = "weighted",
                objective: str = "balanced_accuracy") -> tuple[float, float]:
    """Mean over folds of test balanced accuracy and G-mean (no evaluate(): for the greedy search)."""
    from imbalance_flows.tasks.model.weights import best_cut

    ba, gm = [], []
    for fold in range(N_FOLDS):
        f = data[dataset, fold]
        K, y_val, y_test = f["K"], f["y_val"], f["y_test"]
        w = member_weights(np.array([f["val_ba"][m] for m in members]), K, voting)
        p_test = np.tensordot(w, np.stack([f["test"][m] for m in members]), axes=1)
        if K == 2:
            p_val = np.tensordot(w, np.stack([f["val"][m] for m in members]), axes=1)
            positive = rarer(y_val, K)
            cut = best_cut(p_val[:, positive], y_val == positive, objective)[0]
            predicted = np.where(p_test[:, positive] >= cut, positive, 1 - positive)
        else:
            predicted = p_test.argmax(1)
        support = np.bincount(y_test, minlength=K)
        recall = np.bincount(y_test[predicted == y_test], minlength=K)[support > 0] / support[support > 0]
        ba.append(recall.mean())
        gm.append(float(np.prod(recall) ** (1 / len(recall))))
    return float(np.mean(ba)), float(np.mean(gm))


def greedy_search(datasets: list[str], data: dict, cache: dict, max_members: int = 7) -> list[str]:
    """Forward selection (no repeats) of pool members maximising mean (BA + G-mean)/2 over `datasets`,
    weighted voting and a balanced-accuracy threshold; stops when a member adds < 0.0005."""
    def value(members):
        total = 0.0
        for d in datasets:
            key = (tuple(sorted(members)), d)
            if key not in cache:
                cache[key] = fast_scores(tuple(sorted(members)), d, data)
            total += sum(cache[key]) / 2
        return total / len(datasets)

    chosen, best = [], -np.inf
    while len(chosen) < max_members:
        trials = {m: value(chosen + [m]) for m in POOL if m not in chosen}
        pick = max(trials, key=lambda m: (trials[m], -POOL.index(m)))
        if trials[pick] < best + 5e-4:
            break
        chosen.append(pick)
        best = trials[pick]
    return chosen


def greedy_lodo(datasets: list[str], data: dict, recommended: list[str], recommended_voting: str,
                recommended_objective: str) -> dict:
    """Does searching members on 15 data sets beat the fixed recommended recipe on the 16th?"""
    cache: dict = {}
    out = {"all_datasets": greedy_search(datasets, data, cache), "held_out": {}}
    for held in datasets:
        chosen = greedy_search([d for d in datasets if d != held], data, cache)
        g_ba, g_gm = fast_scores(tuple(chosen), held, data)
        r_ba, r_gm = fast_scores(tuple(recommended), held, data, recommended_voting,
                                 recommended_objective if recommended_objective != "none" else "balanced_accuracy")
        if recommended_objective == "none":  # fast_scores always thresholds two-class data; redo with argmax
            r_ba, r_gm = fast_scores_argmax(tuple(recommended), held, data, recommended_voting)
        out["held_out"][held] = {"members": chosen, "greedy_ba": g_ba, "greedy_g_mean": g_gm,
                                 "recommended_ba": r_ba, "recommended_g_mean": r_gm}
    rows = out["held_out"].values()
    out["mean_greedy_ba"] = float(np.mean([r["greedy_ba"] for r in rows]))
    out["mean_recommended_ba"] = float(np.mean([r["recommended_ba"] for r in rows]))
    out["mean_greedy_g_mean"] = float(np.mean([r["greedy_g_mean"] for r in rows]))
    out["mean_recommended_g_mean"] = float(np.mean([r["recommended_g_mean"] for r in rows]))
    out["greedy_wins_ba"] = int(sum(r["greedy_ba"] > r["recommended_ba"] + 1e-12 for r in rows))
    out["greedy_losses_ba"] = int(sum(r["greedy_ba"] < r["recommended_ba"] - 1e-12 for r in rows))
    return out


def fast_scores_argmax(members: tuple, dataset: str, data: dict, voting: str) -> tuple[float, float]:
    ba, gm = [], []
    for fold in range(N_FOLDS):
        f = data[dataset, fold]
        K, y_test = f["K"], f["y_test"]
        w = member_weights(np.array([f["val_ba"][m] for m in members]), K, voting)
        predicted = np.tensordot(w, np.stack([f["test"][m] for m in members]), axes=1).argmax(1)
        support = np.bincount(y_test, minlength=K)
        recall = np.bincount(y_test[predicted == y_test], minlength=K)[support > 0] / support[support > 0]
        ba.append(recall.mean())
        gm.append(float(np.prod(recall) ** (1 / len(recall))))
    return float(np.mean(ba)), float(np.mean(gm))


# --------------------------------------------------------------------------------------------
# phase 3: rank, recommend, report


def candidate_key(row) -> str:
    if row["recipe"].startswith("baseline:"):
        return row["recipe"]
    return f"{row['recipe']} / {row['voting']} / {row['objective']}"


def average_ranks(per_dataset: pd.DataFrame, metrics=RANKED) -> pd.DataFrame:
    """per_dataset: index candidate, columns (metric, dataset) means. Rank 1 = best."""
    out = {}
    for metric in metrics:
        table = per_dataset[metric]
        out[metric] = table.rank(axis=0, ascending=False, method="average").mean(axis=1)
    return pd.DataFrame(out)


AP_TOLERANCES = (0.0, 0.0025, 0.005, 0.01, 0.02, 0.05, 1.0)


def recommend(ranks: pd.DataFrame, means: pd.DataFrame, cost: pd.Series) -> tuple[str, dict]:
    """The rule: among recipes (not baselines) whose mean average precision over the data sets is
    at least plain RF's and whose 2-worker fit time is at most the current default's, the best
    mean of the average ranks on balanced accuracy and G-mean (ties: better AP rank). Should no
    recipe reach plain RF's AP, the floor is lowered by the smallest step of AP_TOLERANCES
    that leaves a candidate."""
    score = (ranks["balanced_accuracy"] + ranks["g_mean"]) / 2
    ap_floor = means.loc["baseline:plain_rf", "average_precision"]
    default_key = "current_default / weighted / balanced_accuracy"
    time_cap = cost.loc[default_key]
    # If no recipe reaches plain RF's mean AP, the floor is lowered in steps, and the report says so.
    for tolerance in AP_TOLERANCES:
        eligible = [c for c in ranks.index if not c.startswith("baseline:")
                    and means.loc[c, "average_precision"] >= ap_floor - tolerance - 1e-12
                    and cost.loc[c] <= time_cap + 1e-9]
        if eligible:
            break
    ordered = sorted(eligible, key=lambda c: (score[c], ranks.loc[c, "average_precision"]))
    best = ordered[0]
    return best, {"ap_floor_plain_rf": float(ap_floor), "ap_tolerance_used": tolerance,
                  "time_cap_seconds": float(time_cap), "n_eligible": len(eligible), "score": float(score[best]),
                  "runners_up": [{"candidate": c, "score": float(score[c]), "fit_seconds_2workers": float(cost[c]),
                                  "mean_average_precision": float(means.loc[c, "average_precision"])}
                                 for c in ordered[1:6]]}


def analyse(rows: list[dict], prior_rows: list[dict], datasets: list[str]) -> dict:
    frame = pd.DataFrame(rows)
    frame["candidate"] = frame.apply(candidate_key, axis=1)
    fold_means = frame.groupby(["candidate", "dataset"])[list(METRICS) + ["fit_seconds", "makespan2"]].mean()
    per_dataset = fold_means[list(METRICS)].unstack("dataset")
    ranks = average_ranks(per_dataset)
    means = pd.DataFrame({m: per_dataset[m].mean(axis=1) for m in METRICS})
    cost = fold_means["makespan2"].groupby("candidate").mean()  # mean over data sets of per-fold wall
    fit_sum = fold_means["fit_seconds"].groupby("candidate").mean()
    best, rule = recommend(ranks, means, cost)

    # Robustness: leave one data set out, re-rank, re-apply the rule.
    lodo = {}
    for left_out in datasets:
        keep = [d for d in datasets if d != left_out]
        sub = per_dataset.loc[:, [(m, d) for m in METRICS for d in keep]]
        r = average_ranks(sub)
        m = pd.DataFrame({k: sub[k].mean(axis=1) for k in METRICS})
        choice, _ = recommend(r, m, cost)
        score = ((r["balanced_accuracy"] + r["g_mean"]) / 2).rank(method="min")
        lodo[left_out] = {"choice": choice, "position_of_recommended": int(score[best])}

    # Binary and multi-class separately.
    groups = {}
    multi = [d for d in datasets if d in {p["dataset"] for p in prior_rows}]
    binary = [d for d in datasets if d not in multi]
    for label, subset in (("binary", binary), ("multiclass", multi)):
        if subset:
            sub = per_dataset.loc[:, [(m, d) for m in METRICS for d in subset]]
            groups[label] = {"datasets": subset, "ranks": average_ranks(sub).round(2).to_dict(orient="index")}

    # Wilcoxon signed-rank on per-data-set means, recommended vs others.
    from scipy.stats import wilcoxon

    tests = {}
    for other in ("current_default / weighted / balanced_accuracy", "baseline:balanced_rf", "baseline:plain_rf",
                  "baseline:easy_ensemble", "baseline:plain_hgb"):
        if other == best:
            continue
        tests[other] = {}
        for metric in RANKED:
            a, b = per_dataset.loc[best, metric], per_dataset.loc[other, metric]
            diff = (a - b).to_numpy()
            try:
                p = float(wilcoxon(diff).pvalue) if np.any(diff != 0) else 1.0
            except ValueError:
                p = float("nan")
            tests[other][metric] = {"mean_diff": float(diff.mean()), "wins": int((diff > 0).sum()),
                                    "losses": int((diff < 0).sum()), "p": p}

    # Multi-class prior adjustment: paired with argmax, same members and voting.
    prior = None
    if prior_rows:
        pr = pd.DataFrame([{"dataset": p["dataset"], "fold": p["fold"], "recipe": p["recipe"], "voting": p["voting"],
                            **{f"{k}_argmax": p["argmax"][k] for k in ("balanced_accuracy", "g_mean", "macro_f1")},
                            **{f"{k}_prior": p["prior"][k] for k in ("balanced_accuracy", "g_mean", "macro_f1")}}
                           for p in prior_rows])
        by_ds = pr.groupby(["recipe", "voting", "dataset"]).mean(numeric_only=True).drop(columns="fold")
        prior = {"per_dataset_delta": {}, "overall": {}}
        for k in ("balanced_accuracy", "g_mean", "macro_f1"):
            delta = by_ds[f"{k}_prior"] - by_ds[f"{k}_argmax"]
            prior["overall"][k] = {"mean_delta": float(delta.mean()), "share_improved": float((delta > 0).mean()),
                                   "share_worse": float((delta < 0).mean()), "n_pairs": int(delta.size)}
            prior["per_dataset_delta"][k] = delta.groupby("dataset").mean().round(4).to_dict()
        key_recipe, key_voting = best.split(" / ")[:2]
        sel = by_ds.loc[(key_recipe, key_voting)]
        prior["recommended"] = {d: {k: {"argmax": float(sel.loc[d, f"{k}_argmax"]),
                                        "prior": float(sel.loc[d, f"{k}_prior"])}
                                    for k in ("balanced_accuracy", "g_mean", "macro_f1")} for d in sel.index}

    # What the threshold objective and the voting mode do, with members held fixed.
    effects = {}
    recipe_rows = frame[~frame.recipe.str.startswith("baseline:")]
    bin_rows = recipe_rows[recipe_rows.dataset.isin(binary)]
    ds_means = bin_rows.groupby(["recipe", "voting", "objective", "dataset"])[list(METRICS)].mean()
    for objective in ("balanced_accuracy", "g_mean", "f1"):
        delta = ds_means.xs(objective, level="objective") - ds_means.xs("none", level="objective")
        effects[f"threshold {objective} vs none (binary)"] = delta.mean().round(4).to_dict()
    multi_members = recipe_rows[recipe_rows.recipe.isin(RECIPES)]
    vm = multi_members.groupby(["recipe", "voting", "objective", "dataset"])[list(METRICS)].mean()
    delta = vm.xs("weighted", level="voting") - vm.xs("soft", level="voting")
    effects["weighted vs soft voting (all data sets, hand-picked recipes)"] = delta.mean().round(4).to_dict()

    table = ranks.copy()
    table["mean_rank_ba_gmean"] = (ranks["balanced_accuracy"] + ranks["g_mean"]) / 2
    for m in METRICS:
        table[f"mean_{m}"] = means[m]
    table["fit_seconds_sum"] = fit_sum
    table["fit_seconds_2workers"] = cost
    table = table.sort_values(["mean_rank_ba_gmean", "average_precision"])
    return {"table": table, "per_dataset": per_dataset, "best": best, "rule": rule, "lodo": lodo,
            "groups": groups, "tests": tests, "prior": prior, "effects": effects, "frame": frame}


def fmt(value, digits=3):
    return "-" if value is None or (isinstance(value, float) and np.isnan(value)) else f"{value:.{digits}f}"


def write_markdown(path: str, result: dict, meta: dict) -> None:
    table, per_dataset, best = result["table"], result["per_dataset"], result["best"]
    datasets = meta["datasets"]
    lines = [
        "# Recipe search: the default voting-ensemble recipe",
        "",
        "> Members here are judged on a 20 % validation split and weighted by balanced accuracy above chance. "
        "The default has since moved to out-of-fold judging, three members and searched weights, chosen in "
        "[out_of_fold.md](out_of_fold.md); `current_default` below is the five-member recipe this search picked.",
        "",
        f"*Machine*: {meta['machine']}. *Date*: {RUN_DATE}. *Data*: {len(datasets)} offline data sets of "
        "`bench/datasets.py` ({}). *Protocol*: StratifiedKFold(5, shuffle=True, random_state=0) outer folds; "
        "inside each outer-train part exactly what `VotingEnsemble.fit` does (infer_schema + coerce, "
        "stratified_indices(y, [0.2], random_state=0) inner validation split, members fitted with "
        "`imbalance_flows.tasks.model.fitting.fit_member(..., random_state=0, threads=1)` on the inner-train rows). Every pool "
        "member is fitted once per fold; recipes are scored offline from the cached probabilities "
        "(`bench/results/pool/`). Baselines are fitted on the whole outer-train part and predict by argmax. "
        "Random forests have 300 trees (the member default); the plain RF / balanced RF baselines have their "
        "library default of 100.".format(", ".join(datasets)),
        "",
        "Reproduce (from the repository root):",
        "",
        "```",
        meta["command"],
        "```",
        "",
        f"Runtime: pool fitting {meta['fit_wall_seconds'] / 60:.1f} min wall in this run (2 processes, 1 thread "
        f"each; 0 when everything was cached; the cached pool's folds took {meta['pool_fold_seconds'] / 60:.1f} "
        f"min summed, i.e. about {meta['pool_fold_seconds'] / 120:.1f} min wall two at a time), scoring and "
        f"analysis {meta['score_wall_seconds'] / 60:.1f} min.",
        "",
        "## Recommendation",
        "",
        f"**{best}** — members `{RECIPES.get(best.split(' / ')[0], best.split(' / ')[0])}`.",
        "",
        "Rule (fixed before looking): among all recipe candidates (not the baselines) whose mean average "
        "precision over the data sets is at least plain RF's "
        f"({result['rule']['ap_floor_plain_rf']:.4f}) and whose fit time with 2 workers is at most the current "
        f"default's ({result['rule']['time_cap_seconds']:.2f} s, mean over data sets of the per-fold "
        "longest-first schedule of the members' single-thread seconds), the best mean of the average ranks on "
        f"balanced accuracy and G-mean. {result['rule']['n_eligible']} candidates were eligible"
        + (f" after lowering the AP floor by {result['rule']['ap_tolerance_used']} (no recipe reached plain RF's "
           "mean AP)." if result['rule']['ap_tolerance_used'] else "."),
        "",
    ]
    lines += ["Next by the same rule: " + "; ".join(
        f"`{r['candidate']}` (score {r['score']:.2f}, {r['fit_seconds_2workers']:.2f} s, mean AP "
        f"{r['mean_average_precision']:.4f})" for r in result["rule"]["runners_up"])
        + f" — the recommendation scores {result['rule']['score']:.2f}.", ""]
    ba_all = per_dataset["balanced_accuracy"]
    losses = [(d, ba_all.loc[best, d], ba_all.loc[b, d], b) for d in datasets for b in
              ("baseline:plain_rf", "baseline:balanced_rf") if ba_all.loc[b, d] > ba_all.loc[best, d] + 0.01]
    if losses:
        lines += ["Data sets where a baseline beats the recommendation by more than 0.01 balanced accuracy: "
                  + "; ".join(f"{d}: {b} {v:.3f} vs {r:.3f}" for d, r, v, b in losses) + ".", ""]
    lodo = result["lodo"]
    same = sum(1 for v in lodo.values() if v["choice"] == best)
    positions = [v["position_of_recommended"] for v in lodo.values()]
    lines += [
        f"Leave-one-data-set-out check: the rule picks the same candidate in {same} of {len(lodo)} cases; "
        f"the recommended candidate's position by the rule's score (all candidates) is at worst {max(positions)} "
        f"(median {int(np.median(positions))}). Other picks: "
        + (", ".join(sorted({f'`{v["choice"]}` (without {d})' for d, v in lodo.items() if v["choice"] != best}))
           or "none") + ".",
        "",
        "## Average ranks (1 = best; over {} data sets, {} candidates ranked together)".format(
            len(datasets), len(table)),
        "",
        "Candidate = `recipe / voting / threshold objective` (the objective only acts on two-class data; "
        "several classes use argmax). Singles are one pool member. Top 30, then the current default's "
        "configurations, the best single members, and the baselines. Full table in the JSON.",
        "",
    ]
    header = ("| # | candidate | BA | G-mean | macro-F1 | AP | ROC-AUC | mean BA | mean G | mean AP | "
              "fit s (2 workers) |")
    lines += [header, "|" + "---|" * 11]
    shown = list(table.index[:30])
    extra = [c for c in table.index if c.startswith("current_default") and c not in shown]
    extra += [c for c in table.index if c.startswith("single:") and c not in shown][:6]
    extra += [c for c in table.index if c.startswith("baseline:") and c not in shown]
    position = {c: i + 1 for i, c in enumerate(table.index)}
    for c in shown + extra:
        r = table.loc[c]
        name = f"**{c}**" if c == best else c
        lines.append(f"| {position[c]} | {name} | {r.balanced_accuracy:.2f} | {r.g_mean:.2f} | {r.macro_f1:.2f} | "
                     f"{r.average_precision:.2f} | {r.roc_auc:.2f} | {r.mean_balanced_accuracy:.4f} | "
                     f"{r.mean_g_mean:.4f} | {r.mean_average_precision:.4f} | {r.fit_seconds_2workers:.2f} |")
    lines += ["", "## Balanced accuracy per data set (mean of 5 outer folds)", ""]
    top = [best] + [c for c in table.index[:6] if c != best][:4]
    cols = top + ["current_default / weighted / balanced_accuracy"] + [f"baseline:{b}" for b in BASELINES]
    cols = list(dict.fromkeys(cols))
    lines.append("| data set | " + " | ".join(f"`{c}`" for c in cols) + " |")
    lines.append("|---|" + "---|" * len(cols))
    ba = per_dataset["balanced_accuracy"]
    for d in datasets:
        values = [ba.loc[c, d] for c in cols]
        top_value = max(values)
        lines.append(f"| {d} | " + " | ".join((f"**{v:.3f}**" if v == top_value else f"{v:.3f}") for v in values)
                     + " |")
    lines.append("| mean | " + " | ".join(f"{ba.loc[c].mean():.3f}" for c in cols) + " |")
    lines += ["", "## Binary and multi-class separately (average ranks, BA / G-mean / AP)", ""]
    for label, group in result["groups"].items():
        ranked = sorted(group["ranks"].items(),
                        key=lambda kv: (kv[1]["balanced_accuracy"] + kv[1]["g_mean"]) / 2)
        where = {c: i + 1 for i, (c, _) in enumerate(ranked)}
        lines.append(f"* **{label}** ({len(group['datasets'])} sets): recommended at position {where[best]}; "
                     f"top 5: " + "; ".join(f"`{c}` ({v['balanced_accuracy']:.1f}/{v['g_mean']:.1f}/"
                                            f"{v['average_precision']:.1f})" for c, v in ranked[:5]))
    lines += ["", "## Recommended vs others (per-data-set means, Wilcoxon signed-rank)", "",
              "| vs | metric | mean diff | wins / losses | p |", "|---|---|---|---|---|"]
    for other, metrics in result["tests"].items():
        for metric, t in metrics.items():
            lines.append(f"| {other} | {metric} | {t['mean_diff']:+.4f} | {t['wins']} / {t['losses']} | "
                         f"{fmt(t['p'])} |")
    lines += ["", "## Alternatives to the recommendation, and what did not help (numbers)", ""]
    lines += meta["findings"]
    if result["prior"]:
        lines += ["", "## Multi-class prior adjustment", "",
                  "Per-class multiplicative weights on the averaged probability (log-weights on a grid e^-2..e^2, "
                  "coordinate ascent, 3 passes, ties to no adjustment) tuned for balanced accuracy on the inner "
                  "validation rows; compared with argmax for the same members and voting, over every recipe × "
                  "voting × multi-class data set:", "",
                  "| metric | mean change | pairs improved | pairs worse |", "|---|---|---|---|"]
        for k, v in result["prior"]["overall"].items():
            lines.append(f"| {k} | {v['mean_delta']:+.4f} | {v['share_improved']:.0%} | {v['share_worse']:.0%} |")
        lines += ["", "Mean change in balanced accuracy per data set: " + ", ".join(
            f"{d} {v:+.4f}" for d, v in result["prior"]["per_dataset_delta"]["balanced_accuracy"].items()) + ".",
            "", "For the recommended members and voting (BA, argmax → prior): " + ", ".join(
            f"{d} {v['balanced_accuracy']['argmax']:.3f} → {v['balanced_accuracy']['prior']:.3f}"
            for d, v in result["prior"]["recommended"].items()) + "."]
    g = result.get("greedy")
    if g:
        lines += ["", "## Does a searched member list beat the fixed recipe? (greedy, leave one data set out)", "",
                  "Forward selection from the pool (weighted voting, BA threshold; criterion mean of BA and G-mean "
                  "over the other data sets; stop when a member adds < 0.0005), scored on the held-out set:", "",
                  f"* mean held-out BA: greedy {g['mean_greedy_ba']:.4f} vs recommended "
                  f"{g['mean_recommended_ba']:.4f}; G-mean {g['mean_greedy_g_mean']:.4f} vs "
                  f"{g['mean_recommended_g_mean']:.4f}; greedy better on BA in {g['greedy_wins_ba']}, worse in "
                  f"{g['greedy_losses_ba']} of {len(g['held_out'])} data sets.",
                  f"* greedy on all data sets picks: `{g['all_datasets']}`.",
                  "* picks per held-out set: " + "; ".join(f"{d}: `{v['members']}`" for d, v in g["held_out"].items())]
    lines += ["", "## Effects with the members held fixed (mean change over data sets and recipes)", ""]
    for label, deltas in result["effects"].items():
        lines.append(f"* {label}: " + ", ".join(f"{k} {v:+.4f}" for k, v in deltas.items()))
    lines += ["", "## Pool (fit seconds, single thread, mean per fold over data sets)", "",
              ", ".join(f"`{m}` {s:.2f}" for m, s in meta["pool_seconds"].items()), ""]
    lines += ["## Recipes", ""] + [f"* `{name}`: {RECIPES[name]} — {RECIPE_NOTES.get(name, '')}"
                                   for name in RECIPES] + [""]
    with open(path, "w") as handle:
        handle.write("\n".join(lines))


def findings(result: dict) -> list[str]:
    """Plain statements, with numbers, of what did not help."""
    table, best = result["table"], result["best"]
    out = []

    def get(c, col="mean_balanced_accuracy"):
        return table.loc[c, col] if c in table.index else float("nan")

    base_recipe, voting, objective = best.split(" / ")
    def same(recipe=base_recipe, v=voting, o=objective):
        return f"{recipe} / {v} / {o}"
    pairs = [
        ("current_default / weighted / balanced_accuracy", "the current default (weighted, BA threshold)"),
        (same(o="none"), "the recommended members without threshold tuning"),
        (same(v="soft" if voting == "weighted" else "weighted"), "the other voting mode"),
        (same(o="f1"), "threshold for F1 instead"),
        ("current_default-logreg / weighted / balanced_accuracy", "the current default minus class_weight:logreg"),
        ("all / weighted / balanced_accuracy", "every pool member"),
        ("smote_trio / weighted / balanced_accuracy", "SMOTE-only members"),
        ("plain_pair / weighted / balanced_accuracy", "no resampling, threshold only"),
        ("easy_hgb4 / weighted / balanced_accuracy", "EasyEnsemble-like hgb copies alone"),
        ("baseline:balanced_rf", "imblearn BalancedRandomForest"),
        ("baseline:easy_ensemble", "imblearn EasyEnsemble"),
    ]
    for c, label in pairs:
        if c == best or c not in table.index:
            continue
        out.append(f"* {label} (`{c}`): mean BA {get(c):.4f} vs {get(best):.4f}, mean G-mean "
                   f"{get(c, 'mean_g_mean'):.4f} vs {get(best, 'mean_g_mean'):.4f}, mean AP "
                   f"{get(c, 'mean_average_precision'):.4f} vs {get(best, 'mean_average_precision'):.4f}; "
                   f"avg rank BA {get(c, 'balanced_accuracy'):.1f} vs {get(best, 'balanced_accuracy'):.1f}.")
    for label, deltas in result["effects"].items():
        out.append(f"* {label}: mean change BA {deltas['balanced_accuracy']:+.4f}, G-mean {deltas['g_mean']:+.4f}, "
                   f"macro-F1 {deltas['macro_f1']:+.4f}.")
    g = result.get("greedy")
    if g:
        out.append(f"* searching the member list greedily on the other data sets: held-out mean BA "
                   f"{g['mean_greedy_ba']:.4f} vs {g['mean_recommended_ba']:.4f} for the fixed recommendation "
                   f"(better in {g['greedy_wins_ba']}, worse in {g['greedy_losses_ba']} of {len(g['held_out'])}).")
    if result["prior"]:
        o = result["prior"]["overall"]["balanced_accuracy"]
        out.append(f"* multi-class prior adjustment: mean BA change {o['mean_delta']:+.4f}, better in "
                   f"{o['share_improved']:.0%} and worse in {o['share_worse']:.0%} of recipe × voting × data set pairs.")
    return out


# --------------------------------------------------------------------------------------------


def main(argv=None) -> int:
    from bench.datasets import DATASETS

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="*", default=list(DATASETS), help="default: all 16")
    parser.add_argument("--out", default=RESULTS, help="results folder (pool cache under OUT/pool)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--score-only", action="store_true", help="use the cached pool, fit nothing")
    args = parser.parse_args(argv)
    unknown = set(args.datasets) - set(DATASETS)
    if unknown:
        parser.error(f"unknown data sets {sorted(unknown)}")
    datasets = [d for d in DATASETS if d in args.datasets]
    pool_dir = os.path.join(args.out, "pool")
    warnings.filterwarnings("ignore")

    fit_wall = 0.0
    if not args.score_only:
        fit_wall = fit_pool(datasets, pool_dir, args.workers)

    started = time.perf_counter()
    rows, prior_rows = [], []
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=args.workers, mp_context=context) as executor:
        futures = {executor.submit(score_dataset, d, pool_dir): d
                   for d in sorted(datasets, key=lambda d: -ORDER.get(d, 5))}
        for future in as_completed(futures):
            part = future.result()
            rows += part["rows"]
            prior_rows += part["prior_rows"]
            print(f"[score {time.perf_counter() - started:6.1f}s] {futures[future]}", flush=True)
    score_wall = time.perf_counter() - started
    result = analyse(rows, prior_rows, datasets)
    best_recipe, best_voting, best_objective = result["best"].split(" / ")
    best_members = RECIPES.get(best_recipe, [best_recipe.removeprefix("single:")])
    tick = time.perf_counter()
    result["greedy"] = greedy_lodo(datasets, load_pool(datasets, pool_dir), best_members, best_voting, best_objective)
    score_wall += time.perf_counter() - tick

    pool_seconds = {}
    for m in POOL:
        sub = result["frame"][(result["frame"].recipe == f"single:{m}") & (result["frame"].objective == "none")]
        pool_seconds[m] = float(sub.groupby("dataset").fit_seconds.mean().mean())
    command = ".venv/bin/python -m bench.recipe_search" + (
        "" if set(datasets) == set(DATASETS) else " --datasets " + " ".join(datasets)) + (
        "" if os.path.abspath(args.out) == RESULTS else f" --out {args.out}")
    meta = {
        "date": RUN_DATE, "machine": f"{os.cpu_count()}-core {platform.machine()} Linux, "
                                     f"Python {platform.python_version()}, scikit-learn "
                                     f"{__import__('sklearn').__version__}, imbalanced-learn "
                                     f"{__import__('imblearn').__version__}",
        "command": command, "datasets": datasets, "fit_wall_seconds": fit_wall, "score_wall_seconds": score_wall,
        "pool_seconds": pool_seconds,
        "pool_fold_seconds": float(sum(float(read_cache(cache_path(pool_dir, d, k)).get("wall_seconds", 0.0))
                                       for d in datasets for k in range(N_FOLDS))),
    }
    meta["findings"] = findings(result)
    best = result["best"]
    recipe = best.split(" / ")[0]
    members = RECIPES.get(recipe, [recipe.removeprefix("single:")])
    payload = {
        "meta": meta,
        "pool": POOL,
        "recipes": RECIPES,
        "recommended": {"candidate": best, "members": members,
                        "member_specs": [member_spec(m).model_dump(exclude_defaults=True) for m in members],
                        "voting": best.split(" / ")[1], "threshold_objective": best.split(" / ")[2],
                        "rule": result["rule"]},
        "ranking": result["table"].round(5).reset_index(names="candidate").to_dict(orient="records"),
        "per_dataset": {m: result["per_dataset"][m].round(5).to_dict(orient="index") for m in METRICS},
        "leave_one_dataset_out": result["lodo"],
        "groups": result["groups"],
        "wilcoxon": result["tests"],
        "multiclass_prior": result["prior"],
        "effects": result["effects"],
        "greedy_leave_one_dataset_out": result["greedy"],
    }
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "recipe_search.json"), "w") as handle:
        json.dump(payload, handle, indent=1, default=lambda o: o.item() if isinstance(o, np.generic) else str(o))
    write_markdown(os.path.join(args.out, "recipe_search.md"), result, meta)
    print(f"recommended: {best}")
    print(result["table"][["balanced_accuracy", "g_mean", "macro_f1", "average_precision", "roc_auc",
                           "mean_balanced_accuracy", "fit_seconds_2workers"]].head(20).round(3).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
