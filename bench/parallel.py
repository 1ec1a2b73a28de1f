"""How to fit the default members side by side: sequential vs naive vs planned concurrency.

    .venv/bin/python -m bench.parallel [--repeats 3] [--datasets hpc caravan lending_club]

Fits the default recipe's members on each dataset three ways and records wall time:
  sequential   one member at a time, each free to use every core;
  naive        all members at once (as many threads as cores), each free to use every core;
  planned      what the flow does: min(members, cores) at once, costliest first, cores // that
               OpenMP/BLAS threads each (forests use every core: their threads sleep when idle).
Then, for the forest members alone, one thread against every core (joblib threads, one tree
each at a time) by the size of the table the forest grows on: the reason forests on fewer than
`imbalance_flows.tasks.learners.registry.SMALL_FOREST_WORK` (rows × √features) use one thread.
Last, the whole default ensemble as users fit it (`imbalance_flows.default_ensemble().fit`, members judged
out of fold): its members in threads as shipped, one member at a time (`n_jobs=1`), and in
worker processes (joblib's loky backend, swapped in here only to measure it), with the cost of
starting those workers on the first fit.
Also records the peak resident memory of the process. Results go to bench/results/parallel.json
and bench/results/parallel.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import time
from datetime import date
from pathlib import Path

from joblib import Parallel, delayed
from threadpoolctl import threadpool_limits

from bench.datasets import load
from imbalance_flows.tasks.cores import available_cores, plan_concurrency
from imbalance_flows.tasks.data.schema import coerce, infer_schema
from imbalance_flows.tasks.learners.registry import SMALL_FOREST_WORK
from imbalance_flows.tasks.model.fitting import costliest_first, fit_member, member_work
from imbalance_flows.tasks.model.spec import default_members

RESULTS = Path(__file__).parent / "results"


def _fit_all(X, y, schema, workers: int, threads: int | None) -> float:
    """Fit every default member with `workers` at once; threads=None leaves each unrestricted."""
    specs = default_members()
    started = time.perf_counter()
    if threads is None:
        Parallel(n_jobs=workers, backend="threading")(
            delayed(fit_member)(spec, X, y, schema, 0, available_cores()) for spec in specs)
    else:
        counts = {code: int(n) for code, n in enumerate(y.value_counts().to_numpy())}
        works = [member_work(spec, counts, len(schema.columns)) for spec in specs]
        with threadpool_limits(limits=threads):  # as the flow and VotingEnsemble.fit do
            Parallel(n_jobs=workers, backend="threading")(
                delayed(fit_member)(specs[i], X, y, schema, 0, threads) for i in costliest_first(works))
    return time.perf_counter() - started


def forest_threads(X, y, schema, repeats: int) -> list[dict]:
    """Median fit seconds of each forest member with one thread and with every core."""
    import numpy as np

    rows = []
    for spec in default_members():
        if spec.learner != "rf":
            continue
        fitted_rows = len(y) if spec.sampler == "none" else y.value_counts().min() * y.nunique()
        seconds = {}
        for jobs in (1, available_cores()):
            pinned = spec.model_copy(update={"learner_params": {**spec.learner_params, "n_jobs": jobs}})
            seconds[jobs] = statistics.median(
                [fit_member(pinned, X, y, schema, 0, jobs)[1] for _ in range(repeats)])
        rows.append({"member": spec.name, "rows": int(fitted_rows), "features": X.shape[1],
                     "work": round(float(fitted_rows * np.sqrt(X.shape[1]))),
                     "one_thread": round(seconds[1], 3), "all_cores": round(seconds[available_cores()], 3),
                     "one_thread_faster": bool(np.less(seconds[1], seconds[available_cores()]))})
    return rows


def ensemble_backends(datasets: list[str], repeats: int) -> dict:
    """Median fit seconds of the default ensemble: threads (as shipped), one at a time, processes."""
    from joblib.externals.loky import get_reusable_executor

    from imbalance_flows.tasks.model.ensemble import VotingEnsemble, default_ensemble
    from imbalance_flows.tasks.model.fitting import fit_out_of_fold, run_members

    def fit_seconds(X, y, **params) -> float:
        started = time.perf_counter()
        default_ensemble(**params).fit(X, y)
        return time.perf_counter() - started

    def in_processes(X, y) -> float:
        """The same plan (`run_members`), its members fitted in loky worker processes, then combined."""
        started = time.perf_counter()
        schema = infer_schema(X, y)
        rows = coerce(X, schema)
        pool = get_reusable_executor(max_workers=available_cores())
        specs = default_members()
        fitted = run_members(specs, lambda spec, threads: pool.submit(fit_out_of_fold, spec, rows, y, schema, 0,
                                                                       threads), folds=5)
        VotingEnsemble(members=specs).combine_out_of_fold([f[0] for f in fitted], specs, schema, y,
                                                          [f[2] for f in fitted])
        return time.perf_counter() - started

    loaded = {name: load(name) for name in datasets}
    first = next(iter(loaded))
    first_process_fit = {"dataset": first, "first_fit": round(in_processes(*loaded[first]), 2)}  # starts them
    results = {}
    for name, (X, y) in loaded.items():
        timings = {"threads": [], "one_at_a_time": [], "processes": []}
        for _ in range(repeats):
            timings["threads"].append(fit_seconds(X, y))
            timings["one_at_a_time"].append(fit_seconds(X, y, n_jobs=1))
            timings["processes"].append(in_processes(X, y))
        results[name] = {mode: round(statistics.median(values), 2) for mode, values in timings.items()}
        print(name, results[name], flush=True)
    first_process_fit["warm_median"] = results[first]["processes"]
    return {"seconds_median": results, "first_process_fit": first_process_fit}


def run(datasets: list[str], repeats: int) -> dict:
    cores = available_cores()
    workers, threads = plan_concurrency(len(default_members()))
    results = {}
    for name in datasets:
        X, y = load(name)
        schema = infer_schema(X, y)
        X = coerce(X, schema)
        modes = {"sequential": (1, None), "naive": (cores, None), "planned": (workers, threads)}
        timings = {mode: [] for mode in modes}
        for _ in range(repeats):
            for mode, (n_workers, n_threads) in modes.items():
                timings[mode].append(_fit_all(X, y, schema, n_workers, n_threads))
        results[name] = {"rows": len(X), "features": X.shape[1],
                         **{mode: round(statistics.median(values), 2) for mode, values in timings.items()},
                         "forests": forest_threads(X, y, schema, repeats)}
        print(name, results[name], flush=True)
    return {
        "machine": f"{platform.machine()}, {cores} cores, Python {platform.python_version()}",
        "date": date.today().isoformat(),
        "command": "python -m bench.parallel --repeats %d --datasets %s" % (repeats, " ".join(datasets)),
        "members": [spec.name for spec in default_members()],
        "planned": {"workers": workers, "threads_per_member": threads},
        "seconds_median": results,
        "ensemble": ensemble_backends(datasets, repeats),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--datasets", nargs="+",
                        default=["hpc", "caravan", "lending_club", "default", "hypothyroid", "abalone9_18", "glass",
                                 "hepatic_injury"])
    args = parser.parse_args()
    report = run(args.datasets, args.repeats)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "parallel.json").write_text(json.dumps(report, indent=2) + "\n")
    rows = [f"| {name} | {r['rows']}×{r['features']} | {r['sequential']} | {r['naive']} | {r['planned']} |"
            for name, r in report["seconds_median"].items()]
    (RESULTS / "parallel.md").write_text("\n".join([
        "# Fitting the default members: sequential vs concurrent",
        "",
        f"Machine: {report['machine']}. Date: {report['date']}. Command: `{report['command']}`.",
        f"Members: {', '.join(report['members'])}. Planned: {report['planned']['workers']} at once, "
        f"{report['planned']['threads_per_member']} thread(s) each. Median wall seconds of {args.repeats} runs.",
        "",
        "| dataset | rows×features | sequential (all cores each) | naive (all at once, all cores each) | planned |",
        "|---|---|---:|---:|---:|",
        *rows,
        "",
        "## Forests: one thread or every core",
        "",
        f"Each forest member fitted alone (median of {args.repeats}), by the rows it grows its trees on and "
        f"rows × √features; the product uses one thread below {SMALL_FOREST_WORK:,}.",
        "",
        "| dataset | member | rows × features | rows × √features | one thread (s) | every core (s) |",
        "|---|---|---|---:|---:|---:|",
        *[f"| {name} | `{f['member']}` | {f['rows']} × {f['features']} | {f['work']:,} | {f['one_thread']} | "
          f"{f['all_cores']} |"
          for name, r in sorted(report["seconds_median"].items()) for f in r["forests"]],
        "",
        "## The whole default ensemble: threads or processes",
        "",
        f"`imbalance_flows.default_ensemble().fit(X, y)` as users call it (members judged out of fold; median of "
        f"{args.repeats}): its members side by side in threads as shipped, one at a time (`n_jobs=1`), and in "
        "worker processes (joblib's loky backend, swapped in for this measurement only, its workers started "
        "before the timed fits). Peak memory below is this process's; the workers' is not counted.",
        "",
        "| dataset | threads (shipped) | one at a time | processes |",
        "|---|---:|---:|---:|",
        *[f"| {name} | {r['threads']} | {r['one_at_a_time']} | {r['processes']} |"
          for name, r in report["ensemble"]["seconds_median"].items()],
        "",
        f"Starting the worker processes (not in the table): the first fit in this process "
        f"({report['ensemble']['first_process_fit']['dataset']}) took "
        f"{report['ensemble']['first_process_fit']['first_fit']} s against "
        f"{report['ensemble']['first_process_fit']['warm_median']} s once they were running.",
        "",
        f"Peak resident memory of the benchmark process: {report['peak_rss_mb']} MB.",
        "",
    ]))


if __name__ == "__main__":
    main()
