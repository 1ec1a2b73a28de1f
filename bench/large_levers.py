"""Levers measured for the large-data rules (docs/concepts/size-rule.md), one after another in one process.

1. A forest's bootstrap subsamples (`max_samples`) on a balanced under-sample of the 10M-row synthetic
   table of `bench/scale.py` (all its rare rows and as many common ones, about 268k rows; 1M other
   rows to score): fit seconds, scoring seconds and balanced accuracy at a 0.5 threshold.
2. A plain forest with `max_samples=30000` on the 800k training rows of the 1M-row table, against
   the same forest on a 30k-row balanced under-sample of them.
3. HistGradientBoosting with row weights, at 180k rows (below its 200k binning sample: it bins on
   weighted rows) and at 225k rows (it bins on a uniform sample).

Needs the cached tables of `bench/scale.py` (run it first). Run from the repository root::

    .venv/bin/python -m bench.large_levers

Results go to `bench/results/large_levers.json` and `large_levers.md`.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
import warnings

import numpy as np
import pandas as pd

from bench.scale import RESULTS, data_path


def _timed(fn):
    started = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - started


def main() -> int:
    from imblearn.under_sampling import RandomUnderSampler
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.metrics import balanced_accuracy_score

    warnings.filterwarnings("ignore")
    rows = []
    frame = pd.read_parquet(data_path(10_000_000))
    y = frame.pop("y").to_numpy()
    X = frame.to_numpy()
    del frame
    rng = np.random.default_rng(0)
    test = rng.choice(len(y), 1_000_000, replace=False)
    rest = np.setdiff1d(np.arange(len(y)), test)
    rare = rest[y[rest] == 1]
    train = np.concatenate([rare, rng.choice(rest[y[rest] == 0], len(rare), replace=False)])
    for params in ({}, {"max_samples": 0.25}, {"max_samples": 0.1}):
        model, fit = _timed(lambda: RandomForestClassifier(n_jobs=-1, random_state=0, **params).fit(X[train], y[train]))
        proba, score = _timed(lambda: model.predict_proba(X[test])[:, 1])
        rows.append({"case": f"forest on {len(train):,} balanced rows of 10M, {params or 'all rows per tree'}",
                     "fit_s": round(fit, 1), "score_1M_s": round(score, 1),
                     "balanced_accuracy": round(float(balanced_accuracy_score(y[test], proba >= 0.5)), 4)})
        print(rows[-1], flush=True)
    del X, y
    frame = pd.read_parquet(data_path(1_000_000))
    y = frame.pop("y").to_numpy()
    X = frame.to_numpy()
    train = np.sort(rng.choice(len(y), 800_000, replace=False))
    _, fit = _timed(lambda: RandomForestClassifier(max_samples=30_000, n_jobs=-1, random_state=0).fit(X[train],
                                                                                                   y[train]))
    rows.append({"case": "plain forest, max_samples=30000, on 800k rows", "fit_s": round(fit, 1)})
    print(rows[-1], flush=True)
    Xu, yu = RandomUnderSampler(random_state=0).fit_resample(X[train], y[train])
    _, fit = _timed(lambda: RandomForestClassifier(n_jobs=-1, random_state=0).fit(Xu, yu))
    rows.append({"case": f"the same forest on a {len(yu):,}-row balanced under-sample", "fit_s": round(fit, 1)})
    print(rows[-1], flush=True)
    weights = np.where(y == 1, 1.0, 3.0)
    for n in (180_000, 225_000):
        _, fit = _timed(lambda: HistGradientBoostingClassifier(random_state=0).fit(X[:n], y[:n],
                                                                                  sample_weight=weights[:n]))
        rows.append({"case": f"HistGradientBoosting with row weights, {n:,} rows", "fit_s": round(fit, 1)})
        print(rows[-1], flush=True)
    report = {"date": time.strftime("%Y-%m-%d"), "command": ".venv/bin/python -m bench.large_levers",
              "machine": f"{os.cpu_count()}-core {platform.machine()}, Python {platform.python_version()}",
              "results": rows}
    (RESULTS / "large_levers.json").write_text(json.dumps(report, indent=1))
    lines = ["# Levers for large data", "", f"Run {report['date']} on {report['machine']}. Reproduce:", "",
             f"    {report['command']}", "", "| case | fit s | score 1M rows s | balanced accuracy |",
             "|---|---:|---:|---:|"]
    lines += [f"| {r['case']} | {r['fit_s']} | {r.get('score_1M_s', '')} | {r.get('balanced_accuracy', '')} |"
              for r in rows]
    (RESULTS / "large_levers.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
