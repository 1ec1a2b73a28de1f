"""Members one at a time or side by side: the default recipe's members phase, both ways, on small and large tables.

    .venv/bin/python -m bench.side_by_side [--rounds 3] [--sizes 1000000 10000000] [--datasets glass churn]

For each table, the default recipe for its rows is planned as `VotingEnsemble.fit` and the training flow plan it
(`plan.plan_fit`), then its members are fitted by `fitting.run_members` (threads, the costliest first) two ways,
alternately, `--rounds` times each:

  one at a time   one member after another, each with every core;
  side by side    as many at once as there are cores (at most one per member), the cores divided among them.

Recorded: the members phase's wall seconds (the median of the rounds) and which way `fitting.plan_members`
chooses. Tables: the synthetic tables of `bench/scale.py` (their training split), and the small real data sets of
`bench/datasets.py` (the first of its five stratified folds). Results go to bench/results/side_by_side.json and
side_by_side.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from bench.scale import RESULTS, _split, data_path, stamp, write_markdown
from imbalance_flows.tasks.cores import available_cores
from imbalance_flows.tasks.data.schema import coerce, infer_schema
from imbalance_flows.tasks.model.fitting import encode_labels, plan_members, run_members
from imbalance_flows.tasks.model.plan import plan_fit


def tables(sizes: list[int], datasets: list[str]):
    """(name, X, y) of each table's training rows."""
    for rows in sizes:
        X, y, _, _ = _split(data_path(rows))
        yield f"synthetic {rows:,}", X.reset_index(drop=True), pd.Series(y)
    if datasets:
        from sklearn.model_selection import StratifiedKFold

        from bench.datasets import load
        for name in datasets:
            X, y = load(name)
            train, _ = next(StratifiedKFold(5, shuffle=True, random_state=0).split(X, y))
            yield name, X.iloc[train].reset_index(drop=True), y.iloc[train].reset_index(drop=True)


def members_phase(plan, X, y, way: tuple[int, int]) -> float:
    """Wall seconds to fit the plan's members `way` (members at once, threads each)."""
    specs = list(plan.specs)
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(specs), thread_name_prefix="member") as pool:
        run_members(specs, lambda spec, threads: pool.submit(plan.fit_member, spec, X, y, threads),
                    works=plan.works(), plan=way)
    return time.perf_counter() - started


def measure(name: str, X, y, rounds: int) -> dict:
    schema = infer_schema(X, y)
    X = coerce(X, schema, keep_float32=True)
    plan = plan_fit(None, schema, encode_labels(y, schema), seed=0, validation="out_of_fold", folds=5)
    cores, n = available_cores(), len(plan.specs)
    ways = {"one at a time": (1, cores), "side by side": (min(n, cores), max(1, cores // min(n, cores)))}
    seconds = {way: [] for way in ways}
    for _ in range(rounds):
        for way, planned in ways.items():
            seconds[way].append(members_phase(plan, X, y, planned))
    chosen = plan_members(list(plan.specs), plan.works(), one_at_a_time=plan.one_at_a_time)
    row = {"table": name, "rows": len(X), "features": X.shape[1], "members": [spec.name for spec in plan.specs],
           "seconds": {way: statistics.median(each) for way, each in seconds.items()}, "runs": seconds,
           "planned": next((way for way, planned in ways.items() if planned == chosen), str(chosen))}
    row["side_by_side_ratio"] = row["seconds"]["side by side"] / row["seconds"]["one at a time"]
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="*", default=[1_000_000, 10_000_000])
    parser.add_argument("--datasets", nargs="*", default=["glass", "hepatic_injury", "olive", "hawks", "attrition", "hpc", "churn", "lending_club"])
    args = parser.parse_args()
    report = {**stamp("bench.side_by_side", [f"--rounds {args.rounds}"]), "cores": available_cores(),
              "rows": [measure(name, X, y, args.rounds) for name, X, y in tables(args.sizes, args.datasets)]}
    ratios = [row["side_by_side_ratio"] for row in report["rows"]]
    report["geometric_mean_ratio"] = float(np.exp(np.mean(np.log(ratios))))
    (RESULTS / "side_by_side.json").write_text(json.dumps(report, indent=1))
    lines = ["The default recipe's members phase (`fitting.run_members`) on each table's training rows, one member at "
             f"a time with every core or side by side with the cores divided, on {report['cores']} cores; the median "
             f"of {args.rounds} rounds, the two ways alternating. `planned`: the way `fitting.plan_members` chooses.",
             "", "| table | rows × features | members | one at a time (s) | side by side (s) | side by side / one at "
             "a time | planned |", "|---|---|---|---:|---:|---:|---|"]
    for row in report["rows"]:
        lines.append(f"| {row['table']} | {row['rows']:,} × {row['features']} | {', '.join(row['members'])} | "
                     f"{row['seconds']['one at a time']:.2f} | {row['seconds']['side by side']:.2f} | "
                     f"{row['side_by_side_ratio']:.2f} | {row['planned']} |")
    lines += ["", f"Side by side against one at a time, geometric mean over the tables: "
                  f"{report['geometric_mean_ratio']:.2f} ×."]
    write_markdown("side_by_side", "Members one at a time or side by side", report, lines)


if __name__ == "__main__":
    main()
