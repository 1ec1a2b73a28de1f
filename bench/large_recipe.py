"""Gradient boosting's tree size by the rows it fits on, and the recipe for large data.

Histogram boosting fitted on `BIG_TREE_ROWS` rows or more grows trees of up to 127 leaves of 50 rows or
more, for up to 300 iterations (early stopping decides; `imbalance_flows.tasks.learners.registry.BIG_TREES`),
and the large-data recipe is gradient boosting plain and on a balanced under-sample. This runs, on
each table, in a process of its own each, one after another:

- `default`: `default_ensemble(random_state=0)` as it is;
- `31-leaf trees`: the same with boosting's tree size left at scikit-learn's defaults at every size
  (31 leaves of 20 rows or more, up to 100 iterations);
- `larger trees at every size` (`synthetic 100k` only): the larger trees below 150,000 rows too;
- `previous large recipe` (large tables only): plain boosting of 31-leaf trees, a forest on a balanced
  under-sample and a class-weighted linear model, the large-data recipe before;
- `LightGBM` (`class_weight="balanced"`, categories as pandas categoricals).

Tables (stratified 80/20 split, seed 0; fit + predict seconds in the process, reading not counted):
`synthetic 100k` and `flights` from bench/medium_levers.py (medium data: boosting fits on the holdout's
training part, about 64,000 and 215,000 rows), `synthetic 1M` (bench/scale.py's table, 800,000 training
rows) and `military` (bench/military.py's table without `rank`, 1,131,674 training rows, three classes).
Run from the repository root, alone on the machine::

    .venv/bin/python -m bench.large_recipe

Results go to `bench/results/large_recipe.json` and `large_recipe.md`.
"""

from __future__ import annotations

import json
import sys
import time
import warnings

from bench.medium_levers import each_in_its_process
from bench.scale import RESULTS, stamp, write_markdown

TABLES = ("synthetic 100k", "flights", "synthetic 1M", "military")
LARGE = ("synthetic 1M", "military")
MODELS = ("default", "31-leaf trees", "larger trees at every size", "previous large recipe", "LightGBM")
PREVIOUS_LARGE = ["none:hgb", "random_under:rf", "class_weight:logreg"]


def table(name: str):
    """(X, y) of one of TABLES."""
    if name == "military":
        from bench.military import _table

        frame = _table()
        return frame.drop(columns="grade"), frame["grade"]
    from bench.medium_levers import table as medium_table

    return medium_table(name)


def one(table_name: str, model: str) -> dict:
    """Fit and score one model on one table's split (run in a process of its own)."""
    from bench.medium_levers import lightgbm_predicted, scored, split

    warnings.filterwarnings("ignore")
    X_train, X_test, y_train, y_test, text = split(*table(table_name))
    started = time.perf_counter()
    if model == "LightGBM":
        predicted = lightgbm_predicted(X_train, y_train, X_test, text)
        detail = {}
    else:
        from imbalance_flows import default_ensemble
        from imbalance_flows.tasks.learners import registry

        if model in ("31-leaf trees", "previous large recipe"):
            registry.BIG_TREE_ROWS = float("inf")
        elif model == "larger trees at every size":
            registry.BIG_TREE_ROWS = 0
        params = {"members": PREVIOUS_LARGE} if model == "previous large recipe" else {}
        fitted = default_ensemble(random_state=0, **params).fit(X_train, y_train)
        predicted = fitted.predict(X_test)
        detail = {"members": [spec.name for spec in fitted.specs_],
                  "weights": [round(float(weight), 2) for weight in fitted.weights_]}
    return scored(started, len(X_train), y_test, predicted, detail)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--one"]:
        print(json.dumps(one(argv[1], argv[2])))
        return 0
    cases = [(table_name, model) for table_name in TABLES for model in MODELS
             if not (model == "previous large recipe" and table_name not in LARGE
                     or model == "larger trees at every size" and table_name != "synthetic 100k")]
    report = {**stamp("bench.large_recipe", argv), "results": each_in_its_process("bench.large_recipe", cases)}
    (RESULTS / "large_recipe.json").write_text(json.dumps(report, indent=1) + "\n")
    rows = ["| table | training rows | model | fit + predict s | balanced accuracy | members (weights) |",
            "|---|---:|---|---:|---:|---|"]
    for result in report["results"]:
        members = zip(result.get("members", []), result.get("weights", []))
        how = ", ".join(f"{name} ({weight:g})" for name, weight in members)
        rows.append(f"| {result['table']} | {result['training_rows']:,} | {result['model']} | {result['seconds']:.1f} | "
                    f"{result['balanced_accuracy']:.4f} | {how} |")
    write_markdown("large_recipe", "Boosting's tree size by its rows, and the large-data recipe", report, [
        "Each model in its own process; fit + predict seconds in that process; balanced accuracy on the 20 % "
        "test split (stratified, seed 0). `31-leaf trees`: boosting at scikit-learn's tree size at every size.",
        "", *rows])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
