"""The linear member's one-hot output, dense or sparse: its cross-fitted fit both ways, on real and synthetic tables.

    .venv/bin/python -m bench.linear_prep [--rounds 3] [--datasets hpc churn]

`LinearPrep` (`imbalance_flows.tasks.model.prepare`) one-hot codes the categories for the linear member. Decided
by density alone, as scikit-learn's ColumnTransformer decides it, the output is sparse where less than 30 % of it
is non-zero; as built, it stays dense where the member takes Newton steps (`registry.newton_steps`) on at most
`DENSE_WIDTH` columns and `DENSE_CELLS` values. Each table's `class_weight:logreg` member is fitted as the default ensemble fits it
(`fitting.fit_out_of_fold`: five cross-fits and the final fit), the two ways alternately, `--rounds` times each.

Recorded: the median wall seconds each way, the output's shape and density, the solver, and the largest
difference between the two ways' out-of-fold probabilities (the same optimum: differences of the solver's
tolerance). Tables: the data sets of `bench/datasets.py` that have categorical features (the first of its five
stratified folds' training rows; without categories the output is dense either way) and synthetic ones (normal
numbers, uniform category codes, a linear rule with noise). Results go to bench/results/linear_prep.json and .md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import time

import numpy as np
import pandas as pd

from bench.scale import RESULTS, stamp, write_markdown
from imbalance_flows.tasks.data.schema import coerce, infer_schema
from imbalance_flows.tasks.model import prepare
from imbalance_flows.tasks.model.fitting import fit_out_of_fold
from imbalance_flows.tasks.model.spec import MemberSpec

MEMBER = MemberSpec(sampler="class_weight", learner="logreg")
# (rows, numeric features, categories of each categorical feature, classes)
SYNTHETIC = ((4_000, 5, (15, 8), 4), (5_000, 15, (50, 10), 2), (20_000, 10, (20, 20), 2),
             (10_000, 17, (50, 30, 20, 5, 2), 2), (10_000, 17, (50, 30, 20, 5, 2), 3), (50_000, 10, (30, 30), 2))


@contextlib.contextmanager
def by_density():
    """LinearPrep deciding sparse or dense by density alone (ColumnTransformer's rule) while inside."""
    built = prepare.LinearPrep.fit

    def fit(self, X, y=None):
        return built(self, X, None)  # without labels, the Newton rule does not apply

    prepare.LinearPrep.fit = fit
    try:
        yield
    finally:
        prepare.LinearPrep.fit = built


def tables(datasets: list[str]):
    """(name, X, y) of each table's training rows."""
    from sklearn.model_selection import StratifiedKFold

    from bench.datasets import load
    for name in datasets:
        X, y = load(name)
        train, _ = next(StratifiedKFold(5, shuffle=True, random_state=0).split(X, y))
        yield name, X.iloc[train].reset_index(drop=True), y.iloc[train].reset_index(drop=True)
    rng = np.random.default_rng(0)
    for rows, numeric, sizes, classes in SYNTHETIC:
        X = pd.DataFrame(rng.normal(size=(rows, numeric)), columns=[f"x{i}" for i in range(numeric)])
        for position, size in enumerate(sizes):
            X[f"c{position}"] = pd.Series(rng.integers(0, size, rows)).map(lambda code: f"k{code}").astype(object)
        score = X["x0"] + rng.normal(size=rows)
        y = pd.Series(np.digitize(score, np.quantile(score, np.linspace(0, 1, classes + 1)[1:-1]) if classes > 2
                                  else [1.5])).astype(str)
        yield f"synthetic {rows:,} × {numeric} + {list(sizes)}, {classes} classes", X, y


def measure(name: str, X, y, rounds: int) -> dict:
    schema = infer_schema(X, y)
    X = coerce(X, schema, keep_float32=True)
    ways = {"as built": contextlib.nullcontext, "by density": by_density}
    seconds, probas, shapes = {way: [] for way in ways}, {}, {}
    for _ in range(rounds):
        for way, inside in ways.items():
            with inside():
                started = time.perf_counter()
                pipeline, _, probas[way] = fit_out_of_fold(MEMBER, X, y, schema, 0)
                seconds[way].append(time.perf_counter() - started)
                encode = pipeline.named_steps["encode"]
                shapes[way] = "sparse" if encode.sparse_output_ else "dense"
    width = encode.n_numeric + int(np.sum(encode.sizes))
    row = {"table": name, "rows": len(X), "width": width, "classes": len(schema.classes),
           "solver": pipeline.named_steps["learn"].solver, "output": shapes,
           "seconds": {way: statistics.median(each) for way, each in seconds.items()}, "runs": seconds,
           "largest_difference": float(np.abs(probas["as built"] - probas["by density"]).max())}
    row["ratio"] = row["seconds"]["as built"] / row["seconds"]["by density"]
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--datasets", nargs="*", default=["hpc", "churn", "lending_club", "attrition", "hypothyroid",
                                                          "flare_f", "hawks", "default", "abalone9_18"])
    args = parser.parse_args()
    report = {**stamp("bench.linear_prep", [f"--rounds {args.rounds}"]), "dense_width": prepare.DENSE_WIDTH,
              "dense_cells": prepare.DENSE_CELLS,
              "rows": [measure(name, X, y, args.rounds) for name, X, y in tables(args.datasets)]}
    changed = [row for row in report["rows"] if row["output"]["as built"] != row["output"]["by density"]]
    report["changed"] = len(changed)
    report["geometric_mean_ratio_changed"] = (float(np.exp(np.mean(np.log([row["ratio"] for row in changed]))))
                                              if changed else None)
    (RESULTS / "linear_prep.json").write_text(json.dumps(report, indent=1))
    lines = ["The default recipe's linear member (`class_weight:logreg`) fitted as the ensemble fits it (five "
             "cross-fits and the final fit) with `LinearPrep` as built (dense where the member takes Newton steps "
             f"on at most {prepare.DENSE_WIDTH} columns and {prepare.DENSE_CELLS:,} values) and deciding by density alone (sparse under 30 % "
             f"non-zero, as ColumnTransformer decides); the median of {args.rounds} rounds, the two ways alternating.",
             "", "| table | rows × one-hot columns | classes | solver | output as built / by density | as built (s) "
             "| by density (s) | as built / by density | largest probability difference |",
             "|---|---|---:|---|---|---:|---:|---:|---:|"]
    for row in report["rows"]:
        lines.append(f"| {row['table']} | {row['rows']:,} × {row['width']} | {row['classes']} | {row['solver']} | "
                     f"{row['output']['as built']} / {row['output']['by density']} | "
                     f"{row['seconds']['as built']:.3f} | {row['seconds']['by density']:.3f} | {row['ratio']:.2f} | "
                     f"{row['largest_difference']:.1e} |")
    if changed:
        lines += ["", f"Where the two ways differ ({len(changed)} tables), as built against by density, geometric "
                      f"mean: {report['geometric_mean_ratio_changed']:.2f} ×."]
    write_markdown("linear_prep", "The linear member's one-hot output, dense or sparse", report, lines)


if __name__ == "__main__":
    main()
