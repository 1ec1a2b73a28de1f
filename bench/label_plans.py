"""The flow process's work on the labels of a very large table, against what it replaced, side by side.

On a partitioned table the flow's own process holds the label column and plans from it: the
stratified split (`tasks.data.splits.stratified_indices`, in the split step) and the size rule's row plan
(`tasks.model.sizes.plan_rows`, in every member task and the vote). Labels of 36,000,000 rows (the size of
`bench/dask_scale.py`'s table), 1.5 % rare, as class codes; each function against the code it
replaced (kept below as it was), with the same seed: the same rows come out
(checked). Each is called twice and the second call measured (the first takes fresh pages from the
system, which the second reuses): its seconds and the peak of numpy's allocations (tracemalloc).

- split: each row's part marked in one int8 array and read back in order, instead of concatenating
  each part's rows and sorting them;
- row plan: classes counted with `bincount` (not sorted by `np.unique`), a class's rows outside its
  fit sample taken by position (not by `np.setdiff1d`).

Run from the repository root, nothing else heavy on the machine::

    .venv/bin/python -m bench.label_plans

Results go to `bench/results/label_plans.json` and `label_plans.md`.
"""

from __future__ import annotations

import json
import sys
import time
import tracemalloc

import numpy as np

from bench.scale import RESULTS, stamp, write_markdown

ROWS = 36_000_000
RARE = 0.015


def replaced_split(y, fractions, random_state=0, where=""):
    """`stratified_indices` as it was."""
    from imbalance_flows.tasks.data.splits import _sorted_labels, check_rows_per_class

    y = np.asarray(y)
    rng = np.random.default_rng(random_state)
    parts = [[] for _ in range(len(fractions) + 1)]
    needed = len(fractions) + 1
    check_rows_per_class(y, needed, f"a stratified {needed}-way split", where)
    for label in _sorted_labels(y):
        rows = rng.permutation(np.flatnonzero(y == label))
        sizes = [max(1, int(round(len(rows) * f))) for f in fractions]
        while sum(sizes) > len(rows) - 1:
            sizes[int(np.argmax(sizes))] -= 1
        start = len(rows) - sum(sizes)
        parts[0].append(rows[:start])
        for i, size in enumerate(sizes, start=1):
            parts[i].append(rows[start:start + size])
            start += size
    return [np.sort(np.concatenate(part)) for part in parts]


def replaced_plan(codes, random_state=0):
    """`plan_rows` as it was, for a large split: (fit, weight, judge)."""
    from imbalance_flows.tasks.model.sizes import (
        FIT_ROWS,
        JUDGE_ROWS,
        MIN_JUDGED,
        class_quota,
    )

    codes = np.asarray(codes)
    n = len(codes)
    rng = np.random.default_rng(random_state)
    classes, counts = np.unique(codes, return_counts=True)
    quota = class_quota(counts, FIT_ROWS)
    judge_share = min(1.0, max(JUDGE_ROWS / n, MIN_JUDGED / counts.min()))
    fit, weight, judge = [], [], []
    for label, count in zip(classes, counts):
        rows = np.flatnonzero(codes == label)
        kept = rows if count <= quota else np.sort(rng.choice(rows, quota, replace=False))
        fit.append(kept)
        weight.append(np.full(len(kept), count / len(kept)))
        wanted = min(count, max(2, round(count * judge_share)))
        spare = np.setdiff1d(rows, kept, assume_unique=True)
        pool = spare if len(spare) >= wanted else rows
        judge.append(pool if wanted == len(pool) else np.sort(rng.choice(pool, wanted, replace=False)))
    fit, weight = np.concatenate(fit), np.concatenate(weight)
    order = np.argsort(fit, kind="stable")
    return fit[order], weight[order], np.sort(np.concatenate(judge))


def measured(fn):
    """(result, seconds and peak) of the second of two calls: the first pays the system's fresh pages."""
    fn()
    tracemalloc.start()
    started = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return result, {"seconds": round(seconds, 2), "peak_mib": round(peak / 2**20)}


def main(argv: list[str]) -> int:
    from imbalance_flows.tasks.data.splits import stratified_indices
    from imbalance_flows.tasks.model.sizes import plan_rows

    labels = (np.random.default_rng(0).random(ROWS) < RARE).astype(np.int64)
    out = []
    old, before = measured(lambda: replaced_split(labels, [0.2]))
    new, after = measured(lambda: stratified_indices(labels, [0.2]))
    assert all(np.array_equal(a, b) for a, b in zip(old, new))
    out += [{"case": f"split {ROWS:,} labels 80/20: concatenate and sort (replaced)", **before},
            {"case": f"split {ROWS:,} labels 80/20: parts marked in place (the flow)", **after}]
    train = labels[new[0]]
    del old, new
    old, before = measured(lambda: replaced_plan(train))
    new, after = measured(lambda: plan_rows(train))
    assert all(np.array_equal(a, b) for a, b in zip(old, (new.fit, new.weight, new.judge)))
    out += [{"case": f"row plan of the {len(train):,} training labels: np.unique, np.setdiff1d (replaced)",
             **before},
            {"case": f"row plan of the {len(train):,} training labels: bincount, positions (the flow)", **after}]
    for row in out:
        print(row, flush=True)
    report = {**stamp("bench.label_plans", argv), "results": out}
    (RESULTS / "label_plans.json").write_text(json.dumps(report, indent=1))
    lines = ["Each pair gives the same rows (checked).", "", "| case | seconds | peak of numpy's allocations, MiB |",
             "|---|---:|---:|", *[f"| {r['case']} | {r['seconds']} | {r['peak_mib']} |" for r in out]]
    write_markdown("label_plans", "The flow's work on the labels of 36M rows, against what it replaced", report,
                   lines)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
