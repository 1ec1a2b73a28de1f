"""Two keras_mlp members: one after another vs side by side, with and without thread limits.

    .venv/bin/python -m bench.keras_parallel [--rows 50000] [--epochs 5] [--repeats 3]

TensorFlow sizes its thread pools once per process, before its runtime starts, so
each configuration runs in a fresh process (`--one MODE INTRA INTER`). A configuration
fits two KerasMLP members (2×64 units, a fixed number of epochs: no early stopping)
on the same synthetic imbalanced table (`rows` × 20 features, 1 row in 10 positive):
  mode        sequential (one member after the other) or concurrent (two threads);
  intra/inter TensorFlow's intra-op and inter-op pool sizes; 0 = TensorFlow's default
              (as many threads as cores, for each pool).
The figure is the median wall time of `repeats` fits of the pair, after one warm-up
fit that pays for TensorFlow's start. Results go to bench/results/keras_parallel.json/.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
CONFIGURATIONS = [  # (label, mode, intra, inter)
    ("sequential, TensorFlow defaults", "sequential", 0, 0),
    ("sequential, intra=cores, inter=1", "sequential", -1, 1),
    ("concurrent, TensorFlow defaults", "concurrent", 0, 0),
    ("concurrent, intra=1, inter=1 (the flow's plan on 2 cores)", "concurrent", 1, 1),
    ("concurrent, intra=cores, inter=1", "concurrent", -1, 1),
]


def _data(rows: int):
    import numpy as np

    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, 20)).astype("float32")
    y = (X[:, :3].sum(axis=1) + rng.normal(size=rows) > 3.0).astype(int)
    return X, y


def one(mode: str, intra: int, inter: int, rows: int, epochs: int, repeats: int) -> list[float]:
    """Time `repeats` fits of two members in this (fresh) process; returns seconds per pair."""
    from joblib import Parallel, delayed

    from imbalance_flows.tasks.cores import available_cores
    from imbalance_flows.tasks.learners.keras_members import KerasMLP, configure_threads

    intra = available_cores() if intra < 0 else intra
    configure_threads(intra, inter)
    X, y = _data(rows)

    def fit(seed: int):
        KerasMLP(hidden_units=(64, 64), epochs=epochs, patience=epochs, batch_size=256, random_state=seed,
                 threads=intra).fit(X, y)

    fit(99)  # warm-up: TensorFlow's start and first tracing are not what is measured
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        if mode == "sequential":
            fit(1), fit(2)
        else:
            Parallel(n_jobs=2, backend="threading")(delayed(fit)(seed) for seed in (1, 2))
        seconds.append(time.perf_counter() - started)
    return seconds


def run(rows: int, epochs: int, repeats: int) -> dict:
    from imbalance_flows.tasks.cores import available_cores

    results = []
    for label, mode, intra, inter in CONFIGURATIONS:
        output = subprocess.run([sys.executable, "-m", "bench.keras_parallel", "--one", mode, str(intra), str(inter),
                                 "--rows", str(rows), "--epochs", str(epochs), "--repeats", str(repeats)],
                                capture_output=True, text=True, check=True, cwd=Path(__file__).parents[1])
        seconds = json.loads(output.stdout.strip().splitlines()[-1])
        results.append({"configuration": label, "mode": mode, "intra_op": intra if intra >= 0 else available_cores(),
                        "inter_op": inter, "seconds_median": round(statistics.median(seconds), 2),
                        "seconds": [round(s, 2) for s in seconds]})
        print(results[-1], flush=True)
    return {
        "machine": f"{platform.machine()}, {available_cores()} cores, Python {platform.python_version()}, no GPU",
        "date": date.today().isoformat(),
        "command": f"python -m bench.keras_parallel --rows {rows} --epochs {epochs} --repeats {repeats}",
        "workload": f"2 KerasMLP members (64-64, batch 256, {epochs} epochs each, no early stopping) on "
                    f"{rows} rows × 20 features",
        "results": results,
    }


def write(report: dict) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "keras_parallel.json").write_text(json.dumps(report, indent=2) + "\n")
    base = report["results"][0]["seconds_median"]
    rows = [f"| {r['configuration']} | {r['intra_op']} | {r['inter_op']} | {r['seconds_median']} | "
            f"{base / r['seconds_median']:.2f}× |" for r in report["results"]]
    (RESULTS / "keras_parallel.md").write_text("\n".join([
        "# Two Keras members: sequential vs concurrent, TensorFlow thread pools limited or not",
        "",
        f"Machine: {report['machine']}. Date: {report['date']}. Command: `{report['command']}`.",
        f"Workload: {report['workload']}. Median wall seconds for the pair; each configuration in a fresh "
        "process (TensorFlow's pools are sized once per process).",
        "",
        "| configuration | intra-op | inter-op | seconds | speed vs first row |",
        "|---|---:|---:|---:|---:|",
        *rows,
        "",
    ]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--one", nargs=3, metavar=("MODE", "INTRA", "INTER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        mode, intra, inter = args.one
        print(json.dumps(one(mode, int(intra), int(inter), args.rows, args.epochs, args.repeats)))
        return
    write(run(args.rows, args.epochs, args.repeats))


if __name__ == "__main__":
    main()
