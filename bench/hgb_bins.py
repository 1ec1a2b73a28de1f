"""Histogram boosting's bins, with and without the row weights: scikit-learn's class against the product's.

Given row weights (class weights are row weights), scikit-learn's `HistGradientBoostingClassifier` finds each
feature's bin edges as weighted percentiles on up to 200,000 rows; the product's `hgb` learner
(`imbalance_flows.tasks.learners.histogram.HistGradientBoosting`) finds them on the rows unweighted, the weights
still weighing every row. Class-weighted (`class_weight="balanced"`, the `class_weight:hgb` member's weights),
on the flow's split of the synthetic tables of `bench/scale.py`: the 80,000 training rows of the 100k table and
the first 180,000 training rows of the 1M table; balanced accuracy on the test split at the 0.5 threshold.
Both classes in one process, one after the other, twice. Run from the repository root, nothing else heavy::

    .venv/bin/python -m bench.hgb_bins

Results go to `bench/results/hgb_bins.json` and `hgb_bins.md`.
"""

from __future__ import annotations

import json
import sys
import time

from bench.scale import RESULTS, _split, data_path, stamp, write_markdown

CASES = ((100_000, None), (1_000_000, 180_000))
ROUNDS = 2


def main(argv: list[str]) -> int:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import balanced_accuracy_score

    from imbalance_flows.tasks.learners.histogram import HistGradientBoosting

    runs = []
    for table, rows in CASES:
        X_train, y_train, X_test, y_test = _split(data_path(table))
        if rows:
            X_train, y_train = X_train.iloc[:rows], y_train[:rows]
        for round_ in range(ROUNDS):
            for name, learner in (("scikit-learn's (weighted bins)", HistGradientBoostingClassifier),
                                  ("the product's (unweighted bins)", HistGradientBoosting)):
                started = time.perf_counter()
                model = learner(class_weight="balanced", random_state=0).fit(X_train, y_train)
                seconds = time.perf_counter() - started
                runs.append({"table": f"{table:,} rows", "training_rows": len(y_train), "learner": name,
                             "round": round_ + 1, "fit_s": round(seconds, 2),
                             "balanced_accuracy": round(float(balanced_accuracy_score(y_test, model.predict(X_test))),
                                                        4)})
                print(runs[-1], flush=True)
    report = {**stamp("bench.hgb_bins", argv), "runs": runs}
    (RESULTS / "hgb_bins.json").write_text(json.dumps(report, indent=1))
    lines = ["| table | training rows | boosting | round | fit s | balanced accuracy |",
             "|---|---:|---|---:|---:|---:|",
             *[f"| {r['table']} | {r['training_rows']:,} | {r['learner']} | {r['round']} | {r['fit_s']} | "
               f"{r['balanced_accuracy']} |" for r in runs]]
    write_markdown("hgb_bins", "Histogram boosting's bins, with and without the row weights", report, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
