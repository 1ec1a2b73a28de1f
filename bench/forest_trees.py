"""Fewer trees, members one at a time, or scikit-learn's own forest fit: what the default recipe's fit time gains or
loses on small tables, and what it costs.

On the quality benchmark's tables (`bench/datasets.py`, its folds: `StratifiedKFold(5, shuffle=True,
random_state=0)`), each fold fitted and scored one fit at a time, alternating, in one process:

- `default`: `default_ensemble(random_state=0, n_jobs=-1)`, as the quality benchmark fits it: its members side by
  side, or one after another on few training rows (`FitPlan.one_at_a_time`);
- `members side by side`: the same with that rule turned off for this measurement (as the estimator fitted before
  it): on small tables the forests' work is mostly Python around each tree (`bench/results/forest_overhead.md`),
  which two threads do not share;
- `members one at a time`: `n_jobs=1`, on every table;
- `forests of 50 trees`: the default recipe with `learner_params={"n_estimators": 50}` on both forest members, half
  of the trees (about as many in all as BalancedRandomForest's 100);
- `scikit-learn's forest fit`: the default, its forests grown by scikit-learn's own `fit` (the forest member's
  lean fit turned off for this measurement: `imbalance_flows.tasks.learners.forest`); the same trees and
  predictions, with scikit-learn's work around each tree;
- `BalancedRandomForest`: the quality benchmark's fit-time reference, as it fits it (`bench.quality`).

Balanced accuracy, G-mean and log-loss on the held-out fold (the quality benchmark's `score`); fit seconds against
BalancedRandomForest's, the geometric mean over tables of the per-table ratios of the fold means (the quality
benchmark's fit-time goal). Run from the repository root, nothing else heavy on the machine::

    .venv/bin/python -m bench.forest_trees

Results go to `bench/results/forest_trees.json` and `forest_trees.md`.
"""

from __future__ import annotations

import contextlib
import json
import sys
import warnings

import numpy as np

from bench.scale import RESULTS, stamp, write_markdown

REFERENCE = "BalancedRandomForest"
VARIANTS = {"default": {}, "members side by side": {"side_by_side": True}, "members one at a time": {"n_jobs": 1},
            "forests of 50 trees": {"trees": 50}, "scikit-learn's forest fit": {"sklearn_forest": True}}
METRICS = ("balanced_accuracy", "g_mean", "log_loss")


def model(variant: str):
    from imbalance_flows import MemberSpec, default_ensemble, default_members

    params = VARIANTS[variant]
    members = None
    if "trees" in params:
        members = [MemberSpec.model_validate({**spec.model_dump(), "learner_params": {"n_estimators": params["trees"]}})
                   if spec.learner == "rf" else spec for spec in default_members()]
    return default_ensemble(random_state=0, n_jobs=params.get("n_jobs", -1), members=members)


@contextlib.contextmanager
def side_by_side(on: bool):
    """With `on`, members are planned as if the training rows were never few (`FitPlan.one_at_a_time` off)."""
    from imbalance_flows.tasks.model.plan import FitPlan

    if not on:
        yield
        return
    rule = FitPlan.one_at_a_time
    FitPlan.one_at_a_time = property(lambda plan: False)
    try:
        yield
    finally:
        FitPlan.one_at_a_time = rule


@contextlib.contextmanager
def sklearn_forest(on: bool):
    """With `on`, the forest member's trees are grown by scikit-learn's own fit (as if its check had failed)."""
    from imbalance_flows.tasks.learners import forest

    if not on:
        yield
        return
    forest.grows_as_scikit_learn()
    held = forest._CHECKED[:]
    forest._CHECKED[:] = [False]
    try:
        yield
    finally:
        forest._CHECKED[:] = held


def fold_results(X_train, y_train, X_test, y_test, classes) -> dict:
    from bench.quality import aligned, run_baseline, score, timed_fit

    out = {}
    for variant in VARIANTS:
        fitted = model(variant)
        with side_by_side(VARIANTS[variant].get("side_by_side", False)), \
                sklearn_forest(VARIANTS[variant].get("sklearn_forest", False)):
            wall, _ = timed_fit(fitted, X_train, y_train)
        fitted.set_params(unknown_categories="ignore")
        proba = aligned(fitted.predict_proba(X_test), fitted.classes_, classes)
        scored = score(y_test, fitted.predict(X_test), proba, classes)
        out[variant] = {"fit_seconds": wall, **{key: scored[key] for key in METRICS}}
    reference = run_baseline(REFERENCE, X_train, y_train, X_test, y_test, classes)
    out[REFERENCE] = {"fit_seconds": reference["fit_seconds"], **{key: reference[key] for key in METRICS}}
    return out


def measure(table: str) -> dict:
    from sklearn.model_selection import StratifiedKFold

    from bench.datasets import DATASETS

    X, y = DATASETS[table]()
    classes = np.unique(np.asarray(y))
    from imbalance_flows.tasks.model.fitting import few_rows

    splits = list(StratifiedKFold(5, shuffle=True, random_state=0).split(X, y))
    folds = [fold_results(X.iloc[train], y.iloc[train], X.iloc[test], y.iloc[test], classes) for train, test in splits]
    train = splits[0][0]
    means = {name: {key: float(np.mean([fold[name][key] for fold in folds])) for key in ("fit_seconds", *METRICS)}
             for name in folds[0]}
    result = {"table": table, "rows": len(X), "features": X.shape[1], "models": means,
              "one_at_a_time": bool(few_rows(len(train), X.shape[1]))}  # the rule on the first fold's training rows
    print(table, {name: {k: round(v, 4) for k, v in m.items()} for name, m in means.items()}, flush=True)
    return result


def summary(results: list[dict]) -> dict:
    out = {}
    for variant in VARIANTS:
        ratios = [r["models"][variant]["fit_seconds"] / r["models"][REFERENCE]["fit_seconds"] for r in results]
        entry = {"fit_vs_reference": float(np.exp(np.mean(np.log(ratios)))),
                 **{f"mean_{key}": float(np.mean([r["models"][variant][key] for r in results])) for key in METRICS}}
        if variant != "default":
            entry["fit_vs_default"] = float(np.exp(np.mean(np.log(
                [r["models"][variant]["fit_seconds"] / r["models"]["default"]["fit_seconds"] for r in results]))))
            for key in ("balanced_accuracy", "g_mean"):
                entry[f"{key}_below_default"] = sum(r["models"][variant][key] < r["models"]["default"][key]
                                                    for r in results)
            entry["log_loss_above_default"] = sum(r["models"][variant]["log_loss"] > r["models"]["default"]["log_loss"]
                                                  for r in results)
        out[variant] = entry
    for few, key in ((True, "one_at_a_time_tables"), (False, "other_tables")):
        chosen = [r for r in results if r["one_at_a_time"] == few]
        out[key] = {"tables": [r["table"] for r in chosen], "side_by_side_vs_one_at_a_time": float(np.exp(np.mean(
            np.log([r["models"]["members side by side"]["fit_seconds"] / r["models"]["members one at a time"]["fit_seconds"]
                    for r in chosen])))) if chosen else None}
    return out


def main(argv: list[str]) -> int:
    from bench.datasets import DATASETS

    warnings.filterwarnings("ignore")  # out-of-bag votes missing for a few rows of the smallest tables
    results = [measure(table) for table in (argv or list(DATASETS))]
    report = {**stamp("bench.forest_trees", argv), "tables": len(results), "results": results,
              "summary": summary(results)}
    (RESULTS / "forest_trees.json").write_text(json.dumps(report, indent=1))
    s = report["summary"]
    lines = ["| model | fit time vs BalancedRandomForest | fit time vs default | mean balanced accuracy | "
             "mean G-mean | mean log-loss | tables with lower balanced accuracy than the default | "
             "with lower G-mean | with higher log-loss |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
             *[f"| {name} | {v['fit_vs_reference']:.2f} × | "
               f"{'' if name == 'default' else format(v['fit_vs_default'], '.2f') + ' ×'} | "
               f"{v['mean_balanced_accuracy']:.4f} | {v['mean_g_mean']:.4f} | {v['mean_log_loss']:.4f} | "
               f"{'' if name == 'default' else v['balanced_accuracy_below_default']} | "
               f"{'' if name == 'default' else v['g_mean_below_default']} | "
               f"{'' if name == 'default' else v['log_loss_above_default']} |" for name, v in s.items()
               if name in VARIANTS],
             "", "Members side by side against one at a time, geometric mean: "
             f"{s['one_at_a_time_tables']['side_by_side_vs_one_at_a_time']:.2f} × on the tables whose training rows are "
             f"few enough that the default fits its members one at a time ({', '.join(s['one_at_a_time_tables']['tables'])}), "
             f"{s['other_tables']['side_by_side_vs_one_at_a_time']:.2f} × on the others.",
             "", f"{len(results)} table{'s' if len(results) != 1 else ''}, 5 folds each; fit times: the geometric mean over tables of the ratios of the "
             "fold means. Per table:", "",
             "| table | rows × features | default plan | " + " | ".join(f"{name} s / BA" for name in [*VARIANTS, REFERENCE])
             + " |",
             "|---|---|---|" + "---:|" * (len(VARIANTS) + 1),
             *[f"| {r['table']} | {r['rows']:,} × {r['features']} | "
               f"{'one at a time' if r['one_at_a_time'] else 'as estimated'} | " + " | ".join(
                 f"{m['fit_seconds']:.2f} / {m['balanced_accuracy']:.3f}" for m in r["models"].values()) + " |"
               for r in results]]
    write_markdown("forest_trees", "Fewer trees, members one at a time, or scikit-learn's own forest fit, on small tables",
                   report, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
