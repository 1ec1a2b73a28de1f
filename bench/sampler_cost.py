"""What each resampling strategy costs as rows grow: the measurements behind `Strategy.cost`.

Every strategy resamples scikit-learn's `make_classification(n_samples=N, n_features=30,
n_informative=10, weights=[0.99, 0.01], flip_y=0.01, random_state=0)` (float32, as the
scale issue's tables) through the product's own `make_sampler`, one at a time, at N = 10k,
30k and 100k rows (a strategy is dropped from larger sizes once one fit passes 120 s).
The growth exponent b of seconds = a · N^b is fitted on the two largest sizes measured;
the cost at 100k, 1M and 10M rows is extrapolated from it. Run from the repository root::

    .venv/bin/python -m bench.sampler_cost

Results go to `bench/results/sampler_cost.json` and `sampler_cost.md`.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time

import numpy as np

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
RUN_DATE = "2026-11-29"
SIZES = (10_000, 30_000, 100_000)
STOP_AFTER = 120.0


def measure(name: str, rows: int) -> float:
    from sklearn.datasets import make_classification

    from imbalance_flows.tasks.sampling.resample import Context, make_sampler

    X, y = make_classification(n_samples=rows, n_features=30, n_informative=10, weights=[0.99, 0.01], flip_y=0.01,
                               random_state=0)
    X = X.astype(np.float32)
    counts = dict(zip(*np.unique(y, return_counts=True)))
    sampler = make_sampler(name, {}, Context(counts={int(k): int(v) for k, v in counts.items()}, categorical=[],
                                             n_features=30, ratio=1.0, random_state=0, labels=(0, 1)))
    if sampler is None:
        return 0.0
    started = time.perf_counter()
    sampler.fit_resample(X, y)
    return time.perf_counter() - started


def main() -> int:
    from imbalance_flows.tasks.sampling.resample import STRATEGIES

    results = {}
    for name, strategy in STRATEGIES.items():
        if strategy.build is None:
            continue
        seconds, error = {}, None
        for rows in SIZES:
            try:
                seconds[rows] = round(measure(name, rows), 3)
            except (RuntimeError, ValueError) as failure:  # e.g. K-Means SMOTE finds no usable cluster
                error = f"{rows} rows: {str(failure).splitlines()[0]}"
                break
            print(name, rows, seconds[rows], flush=True)
            if seconds[rows] > STOP_AFTER:
                break
        if len(seconds) < 2:
            results[name] = {"seconds": seconds, "error": error}
            continue
        sizes = sorted(seconds)[-2:]
        a, b = (seconds[sizes[0]], seconds[sizes[1]])
        exponent = float(np.log(max(b, 1e-3) / max(a, 1e-3)) / np.log(sizes[1] / sizes[0]))
        exponent = max(1.0, exponent)  # nothing here is cheaper than reading the rows
        at = {n: b * (n / sizes[1]) ** exponent for n in (100_000, 1_000_000, 10_000_000)}
        results[name] = {"seconds": seconds, "exponent": round(exponent, 2),
                         "estimate": {str(n): round(v, 1) for n, v in at.items()}}
    report = {"date": RUN_DATE, "machine": f"{os.cpu_count()}-core {platform.machine()}, Python "
              f"{platform.python_version()}", "command": ".venv/bin/python -m bench.sampler_cost", "results": results}
    with open(os.path.join(RESULTS, "sampler_cost.json"), "w") as f:
        json.dump(report, f, indent=1)
    lines = ["# Resampling cost as rows grow", "", f"Run {report['date']} on {report['machine']}. Reproduce:", "",
             f"    {report['command']}", "",
             "make_classification, 30 float32 features, 1 % minority, fully rebalanced (ratio 1). Measured "
             "seconds at 10k/30k/100k rows; seconds = a·N^b fitted on the two largest sizes measured, "
             "extrapolated to 1M and 10M rows (b at least 1).", "",
             "| strategy | 10k s | 30k s | 100k s | b | 1M s (est.) | 10M s (est.) |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name, r in results.items():
        s = r["seconds"]
        if "exponent" not in r:
            lines.append(f"| `{name}` | failed: {r['error']} | | | | | |")
            continue
        lines.append(f"| `{name}` | " + " | ".join(f"{s[n]:.2f}" if n in s else "–" for n in SIZES)
                     + f" | {r['exponent']} | {r['estimate']['1000000']:.0f} | {r['estimate']['10000000']:.0f} |")
    with open(os.path.join(RESULTS, "sampler_cost.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
