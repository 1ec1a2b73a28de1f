"""OpenMP's wait policy under contention: HistGradientBoosting fits with OMP_WAIT_POLICY unset and PASSIVE.

OpenMP threads spin while they wait for work by default; on a machine that is busy with
other work, those spinning threads take the cores the working ones need. Each setting
fits `HistGradientBoostingClassifier(max_iter=100)` on `make_classification(100_000, 30)`
in a fresh process (OpenMP reads the variable when it starts), on a quiet machine and
beside two processes that keep one core each busy (pure Python loops), alternating the
settings, `REPEATS` times each. Run from the repository root::

    .venv/bin/python -m bench.omp_wait

Results go to `bench/results/omp_wait.json` and `omp_wait.md` (medians and their ratio).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
RUN_DATE = "2026-11-29"
REPEATS = 5
FIT = r"""
import time
from sklearn.datasets import make_classification
from sklearn.ensemble import HistGradientBoostingClassifier
X, y = make_classification(n_samples=100_000, n_features=30, n_informative=10, weights=[0.99], random_state=0)
started = time.perf_counter()
HistGradientBoostingClassifier(max_iter=100, early_stopping=False, random_state=0).fit(X, y)
print(time.perf_counter() - started)
"""
BURN = "while True: pass"


def fit_seconds(policy: str | None) -> float:
    env = {key: value for key, value in os.environ.items() if key != "OMP_WAIT_POLICY"}
    if policy:
        env["OMP_WAIT_POLICY"] = policy
    done = subprocess.run([sys.executable, "-c", FIT], env=env, capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def measure(busy: bool) -> dict:
    burners = [subprocess.Popen([sys.executable, "-c", BURN]) for _ in range(2 if busy else 0)]
    try:
        times = {"default": [], "PASSIVE": []}
        for _ in range(REPEATS):
            for name, policy in (("default", None), ("PASSIVE", "PASSIVE")):
                times[name].append(round(fit_seconds(policy), 2))
        return {name: {"runs": values, "median": statistics.median(values)} for name, values in times.items()}
    finally:
        for burner in burners:
            burner.kill()


def main() -> int:
    report = {"date": RUN_DATE, "machine": f"{os.cpu_count()}-core {platform.machine()}, Python "
              f"{platform.python_version()}", "command": ".venv/bin/python -m bench.omp_wait"}
    for busy in (False, True):
        report["busy" if busy else "quiet"] = result = measure(busy)
        print("busy" if busy else "quiet", result, flush=True)
    lines = ["# OpenMP wait policy under contention", "", f"Run {report['date']} on {report['machine']}. "
             "Reproduce:", "", f"    {report['command']}", "",
             "HistGradientBoosting (100 iterations, 100k × 30) fit seconds, each in a fresh process, settings "
             f"alternating, {REPEATS} runs each; busy: two other processes keep one core each busy.", "",
             "| machine | OMP_WAIT_POLICY unset (median s) | PASSIVE (median s) | unset / PASSIVE |",
             "|---|---:|---:|---:|"]
    for state in ("quiet", "busy"):
        r = report[state]
        lines.append(f"| {state} | {r['default']['median']:.2f} | {r['PASSIVE']['median']:.2f} | "
                     f"{r['default']['median'] / r['PASSIVE']['median']:.2f}× |")
    with open(os.path.join(RESULTS, "omp_wait.json"), "w") as f:
        json.dump(report, f, indent=1)
    with open(os.path.join(RESULTS, "omp_wait.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
