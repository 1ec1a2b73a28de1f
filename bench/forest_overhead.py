"""What a small table's forest spends its time on: scikit-learn's Python around each tree, or the trees.

On some of the quality benchmark's tables (`bench/datasets.py`), as the default recipe's forest members fit them
(one thread below the one-thread rule, out-of-bag votes on), a `RandomForestClassifier` of 100 trees is fitted
twice: as it is, and with every tree cut to one split (`max_depth=1`), whose building is next to nothing. The
second time is scikit-learn's work around each tree (checks, random states, parameter copies, out-of-bag votes);
its share of the first is what growing the trees themselves leaves. `BalancedRandomForestClassifier` (100 trees,
imbalanced-learn's defaults as the quality benchmark fits it) beside them. Each fit `ROUNDS` times, alternating,
the median kept; the features as the quality benchmark's baselines get them (median-imputed, categories as
codes). Run from the repository root, nothing else heavy on the machine::

    .venv/bin/python -m bench.forest_overhead

Results go to `bench/results/forest_overhead.json` and `forest_overhead.md`.
"""

from __future__ import annotations

import json
import statistics
import sys
import time

from bench.scale import RESULTS, stamp, write_markdown

TABLES = ("glass", "yeast4", "hypothyroid", "churn")
ROUNDS = 5


def _numbers(X):
    """The features as numbers: median-imputed, categories as codes."""
    import numpy as np
    import pandas as pd

    out = pd.DataFrame(index=X.index)
    for name, column in X.items():
        if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            values = column.astype(float)
            out[name] = values.fillna(values.median())
        else:
            out[name] = pd.factorize(column.astype(str))[0]
    return out.to_numpy(dtype=np.float32)


def measure(table: str) -> dict:
    from imblearn.ensemble import BalancedRandomForestClassifier
    from sklearn.ensemble import RandomForestClassifier

    from bench.datasets import DATASETS

    X, y = DATASETS[table]()
    X = _numbers(X)
    models = {
        "forest": lambda: RandomForestClassifier(100, n_jobs=1, oob_score=True, random_state=0),
        "forest of one-split trees": lambda: RandomForestClassifier(100, max_depth=1, n_jobs=1, oob_score=True,
                                                                    random_state=0),
        "BalancedRandomForest": lambda: BalancedRandomForestClassifier(100, sampling_strategy="all",
                                                                       replacement=True, bootstrap=False,
                                                                       random_state=0),
    }
    seconds = {name: [] for name in models}
    for _ in range(ROUNDS):
        for name, model in models.items():
            started = time.perf_counter()
            model().fit(X, y)
            seconds[name].append(time.perf_counter() - started)
    out = {"table": table, "rows": len(X), "features": X.shape[1],
           **{f"{name}_s": round(statistics.median(each), 3) for name, each in seconds.items()}}
    out["around_trees_share"] = round(out["forest of one-split trees_s"] / out["forest_s"], 2)
    print(out, flush=True)
    return out


def main(argv: list[str]) -> int:
    import warnings

    warnings.filterwarnings("ignore")  # out-of-bag votes missing for a few rows of the smallest tables
    tables = argv or list(TABLES)
    report = {**stamp("bench.forest_overhead", argv), "results": [measure(table) for table in tables]}
    (RESULTS / "forest_overhead.json").write_text(json.dumps(report, indent=1))
    lines = ["| table | rows | features | forest s | one-split trees s | share | BalancedRandomForest s |",
             "|---|---:|---:|---:|---:|---:|---:|",
             *[f"| {r['table']} | {r['rows']:,} | {r['features']} | {r['forest_s']} | "
               f"{r['forest of one-split trees_s']} | {r['around_trees_share']:.2f} | {r['BalancedRandomForest_s']} |"
               for r in report["results"]],
             "", f"100 trees, one thread, out-of-bag votes on; the median of {ROUNDS} alternating fits. share: the "
             "one-split forest's time over the forest's."]
    write_markdown("forest_overhead", "A small table's forest: scikit-learn's work around each tree", report, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
