"""Seven hot paths of large runs, each against what it replaced, side by side in one process.

1. Parquet: the 10M-row synthetic table of `bench/scale.py` written with pyarrow's default dictionary
   encoding of every column, and with it only for columns that are not floating-point
   (`imbalance_flows.tasks.data.tables.dictionary_columns`, what the flow writes); then each read back.
2. Test metrics on 2M rows (two classes, 1.5 % rare, random scores): `tasks.evaluation.metrics.evaluate` (one sort
   ranks the rows for both classes), against the scikit-learn and imbalanced-learn functions it used to call one by
   one.
3. Fresh memory: filling a new 480 MB array, then the same size again once freed (first-touch page
   faults on this machine; why a member's first chunk of predictions is its slowest). Measured first,
   before the process has taken and freed other memory.
4. Checking a member's probabilities of 2M rows of two classes (every value from 0 to 1, every row summing to 1):
   `tasks.model.fitting.check_probabilities` (reductions over the whole array, one sum per column) against the
   same rules row by row (reductions along each row of two values), which it did before and still does to name a
   bad row; the median of 5 runs each.
5. The save's drift picture of the 10M-row table's training split (8M rows, written by the workspace as the flow
   writes it) whose fingerprints the split found: every chunk read whole (`model_store.summarise_rows`, as before)
   against the labels and the picture's sample read alone (`model_store.summarise_tables`, the same picture); the
   median of 3 runs each.
6. Scoring a 2M-row test split of two classes: the ensemble's calibrated probabilities (`calibrate`, Platt
   scaling) with numpy's reductions along each row of two values, as before, against a column at a time
   (`tasks.narrow`, the same figures); and the metrics of two members and the ensemble one after another, as
   before, against side by side on the cores (as `report.split_results` runs them); the median of 3 runs each.
7. Loading and splitting the 10M-row table: its content hash (`tables.fingerprint`) a column at a time in one
   thread against side by side on the cores (the same hash); the check for columns of one value
   (`splits.constant_columns`) with pandas' `min` and `max` of each column, as before, against NumPy's `fmin` and
   `fmax` (the same columns); and the labels' part of the rows' fingerprints (`schema.row_hashes`) with every
   label turned into text, as before, against each distinct label once (the same hashes); the median of 3 runs each.

Needs the cached 10M-row table of `bench/scale.py`. Run from the repository root, nothing else heavy
on the machine::

    .venv/bin/python -m bench.hot_paths

Results go to `bench/results/hot_paths.json` and `hot_paths.md`.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile

import numpy as np

from bench.scale import RESULTS, data_path, stamp, timed, write_markdown


def alternating(ways: dict, rounds: int = 3) -> tuple[dict, dict]:
    """Each of `ways` (name → work) run once a round, in turn, for `rounds` rounds: the median seconds of each
    (rounded to the millisecond) and what each returned last."""
    import statistics
    import time

    runs, answers = {name: [] for name in ways}, {}
    for _ in range(rounds):
        for name, way in ways.items():
            started = time.perf_counter()
            answers[name] = way()
            runs[name].append(time.perf_counter() - started)
    return {name: round(statistics.median(each), 3) for name, each in runs.items()}, answers


def parquet() -> list[dict]:
    import pandas as pd
    import pyarrow as pa

    from imbalance_flows.tasks.data.tables import dictionary_columns

    frame = pd.read_parquet(data_path(10_000_000))
    keep = dictionary_columns(pa.Schema.from_pandas(frame, preserve_index=False))
    out = []
    with tempfile.TemporaryDirectory() as folder:
        for name, option in (("every column dictionary-encoded (pyarrow's default)", True),
                             ("only columns that are not floating-point (the flow)", keep)):
            path = os.path.join(folder, "table.parquet")
            write = timed(lambda: frame.to_parquet(path, index=False, use_dictionary=option))
            read = timed(lambda: pd.read_parquet(path))
            out.append({"case": f"10M rows × 31 columns, {name}", "write_s": write, "read_s": read,
                        "mib": round(os.path.getsize(path) / 2**20)})
            print(out[-1], flush=True)
    return out


def metrics() -> list[dict]:
    from imblearn.metrics import geometric_mean_score
    from sklearn.metrics import (
        average_precision_score,
        balanced_accuracy_score,
        confusion_matrix,
        f1_score,
        matthews_corrcoef,
        precision_recall_fscore_support,
        roc_auc_score,
    )

    from imbalance_flows.tasks.evaluation.metrics import evaluate

    rng = np.random.default_rng(0)
    y = (rng.random(2_000_000) < 0.015).astype(int)
    score = np.clip(y * 0.3 + rng.random(len(y)) * 0.7, 0, 1)
    proba, predicted, classes = np.c_[1 - score, score], (score > 0.5).astype(int), np.array([0, 1])

    def one_by_one():
        precision_recall_fscore_support(y, predicted, labels=classes, zero_division=0)
        balanced_accuracy_score(y, predicted)
        geometric_mean_score(y, predicted, labels=classes, average="multiclass")
        f1_score(y, predicted, labels=classes, average="macro", zero_division=0)
        matthews_corrcoef(y, predicted)
        confusion_matrix(y, predicted, labels=classes)
        for i in range(2):
            average_precision_score(y == i, proba[:, i])
        roc_auc_score(y, proba[:, 1])

    out = [{"case": "2M rows: scikit-learn's and imbalanced-learn's functions, one by one",
            "seconds": timed(one_by_one)},
           {"case": "2M rows: `evaluate` (one confusion matrix, one sort for both classes; calibration too)",
            "seconds": timed(lambda: evaluate(y, predicted, proba, classes))}]
    print(out, flush=True)
    return out


def fresh_memory() -> list[dict]:
    out = []
    for name in ("new 480 MB array, filled", "the same size again, once freed"):
        seconds = timed(lambda: np.ones((2_000_000, 30)))
        out.append({"case": name, "seconds": seconds})
    print(out, flush=True)
    return out


def probabilities() -> list[dict]:
    import statistics
    import time

    from imbalance_flows.tasks.model.fitting import (
        PROBABILITY_TOLERANCE,
        check_probabilities,
    )

    score = np.random.default_rng(0).random(2_000_000)
    proba = np.c_[1 - score, score]

    def row_by_row():
        bad = ~np.isfinite(proba).all(axis=1)
        bad |= ((proba < -PROBABILITY_TOLERANCE) | (proba > 1 + PROBABILITY_TOLERANCE)).any(axis=1)
        bad |= np.abs(proba.sum(axis=1) - 1) > PROBABILITY_TOLERANCE
        return bad.any()

    def median(work) -> float:
        runs = []
        for _ in range(5):
            started = time.perf_counter()
            work()
            runs.append(time.perf_counter() - started)
        return round(statistics.median(runs), 4)

    out = [{"case": "2M rows × 2 classes: the rules row by row", "seconds": median(row_by_row)},
           {"case": "2M rows × 2 classes: `check_probabilities`", "seconds": median(lambda: check_probabilities(proba, "m"))}]
    print(out, flush=True)
    return out


def picture() -> list[dict]:
    import shutil

    import pandas as pd

    from imbalance_flows.tasks.data import tables
    from imbalance_flows.tasks.data.schema import infer_schema
    from imbalance_flows.tasks.store.model_store import summarise_rows, summarise_tables

    frame = pd.read_parquet(data_path(10_000_000))
    schema = infer_schema(frame.drop(columns="y"), frame["y"], "y")
    workspace = tempfile.mkdtemp(prefix="hot-paths-")
    try:
        source = tables.keep(frame, "data")
        train = tables.write_parts(source, {"train": np.arange(8_000_000)}, workspace)["train"]
        tables.let_go(source)
        del frame
        known = np.zeros(train.n_rows, dtype=np.uint64)  # the values do not matter: only their count is checked
        ways = {"8M rows: every chunk read whole": lambda: summarise_rows(
                    tables.read_chunks(train), schema, total=train.n_rows, known=known)[1],
                "8M rows: the labels and the sample alone (`summarise_tables`)": lambda: summarise_tables(
                    [train], schema, known)[1]}
        seconds, pictures = alternating(ways)
        same = len({json.dumps(p, sort_keys=True) for p in pictures.values()}) == 1
        out = [{"case": name, "seconds": median, "same_picture": same} for name, median in seconds.items()]
    finally:
        shutil.rmtree(workspace, ignore_errors=True)
    print(out, flush=True)
    return out


def scoring() -> list[dict]:
    from concurrent.futures import ThreadPoolExecutor

    from imbalance_flows.tasks.cores import available_cores
    from imbalance_flows.tasks.evaluation.metrics import evaluate
    from imbalance_flows.tasks.model.calibrate import _logits, calibrate

    rng = np.random.default_rng(0)
    y = (rng.random(2_000_000) < 0.015).astype(int)
    scores = [np.clip(y * 0.3 + rng.random(len(y)) * 0.7, 0, 1) for _ in range(3)]
    probas, classes = [np.c_[1 - score, score] for score in scores], np.array([0, 1])
    predicted = [(score > 0.5).astype(int) for score in scores]
    platt = {"method": "sigmoid", "slope": 1.3, "intercepts": [0.0, -0.4]}

    def along_rows():
        logits = platt["slope"] * _logits(probas[0]) + np.asarray(platt["intercepts"])
        out = np.exp(logits - logits.max(axis=1, keepdims=True))
        return out / out.sum(axis=1, keepdims=True)

    def one_after_another():
        return [evaluate(y, labels, proba, classes) for labels, proba in zip(predicted, probas)]

    def side_by_side():
        with ThreadPoolExecutor(max_workers=min(available_cores(), len(probas))) as pool:
            return list(pool.map(lambda pair: evaluate(y, *pair, classes), zip(predicted, probas)))

    ways = {"2M rows × 2 classes, calibrated: reductions along each row": along_rows,
            "2M rows × 2 classes, calibrated: `calibrate` (a column at a time)": lambda: calibrate(platt, probas[0]),
            "2M rows, metrics of 3 models: one after another": one_after_another,
            "2M rows, metrics of 3 models: side by side (`split_results`)": side_by_side}
    seconds, answers = alternating(ways)
    names = list(ways)
    same = [np.array_equal(answers[names[0]], answers[names[1]])] * 2 + [
        json.dumps(answers[names[2]]) == json.dumps(answers[names[3]])] * 2
    out = [{"case": name, "seconds": median, "same": equal} for (name, median), equal in zip(seconds.items(), same)]
    print(out, flush=True)
    return out


def loading() -> list[dict]:
    import pandas as pd

    from imbalance_flows.tasks.data import schema as schemas
    from imbalance_flows.tasks.data import splits, tables

    frame = pd.read_parquet(data_path(10_000_000))
    X, y = frame.drop(columns="y"), frame["y"]

    def in_turn():
        kept, tables.PARALLEL_HASH_VALUES = tables.PARALLEL_HASH_VALUES, float("inf")
        try:
            return tables.fingerprint(frame)
        finally:
            tables.PARALLEL_HASH_VALUES = kept

    def label_texts_first():
        codes, texts = pd.factorize(schemas.as_text(y, missing="").to_numpy())
        return schemas._hashed(pd.Series(texts))[codes]

    ways = {"10M rows × 31 columns, content hash: a column at a time, one thread": in_turn,
            "10M rows × 31 columns, content hash: side by side (`fingerprint`)": lambda: tables.fingerprint(frame),
            "10M rows × 30 columns of one value?: pandas' `min` and `max`": lambda: [
                str(name) for name in X.columns if X[name].min() == X[name].max()],
            "10M rows × 30 columns of one value?: `fmin` and `fmax` (`constant_columns`)": lambda: splits.constant_columns(X),
            "10M labels' hashes: every label as text, then factorized": label_texts_first,
            "10M labels' hashes: each distinct label as text once (`row_hashes`)": lambda: schemas._label_hashes(y)}
    seconds, answers = alternating(ways)
    names = list(ways)
    same = [np.array_equal(answers[names[i]], answers[names[i + 1]]) for i in (0, 0, 2, 2, 4, 4)]
    out = [{"case": name, "seconds": median, "same": equal} for (name, median), equal in zip(seconds.items(), same)]
    print(out, flush=True)
    return out


def main(argv: list[str]) -> int:
    memory = fresh_memory()  # first: before anything else has taken memory from the system and freed it
    report = {**stamp("bench.hot_paths", argv), "parquet": parquet(), "metrics": metrics(), "fresh_memory": memory,
              "probabilities": probabilities(), "picture": picture(), "scoring": scoring(),
              "loading": loading()}
    (RESULTS / "hot_paths.json").write_text(json.dumps(report, indent=1))
    lines = ["| Parquet | write s | read s | MiB |", "|---|---:|---:|---:|",
             *[f"| {r['case']} | {r['write_s']} | {r['read_s']} | {r['mib']} |" for r in report["parquet"]], "",
             "| test metrics, fresh memory | seconds |", "|---|---:|",
             *[f"| {r['case']} | {r['seconds']} |" for r in report["metrics"] + report["fresh_memory"]], "",
             "| a member's probabilities, checked | seconds (median of 5) |", "|---|---:|",
             *[f"| {r['case']} | {r['seconds']} |" for r in report["probabilities"]], "",
             "| the save's drift picture | seconds (median of 3) | the same picture |", "|---|---:|---|",
             *[f"| {r['case']} | {r['seconds']} | {'yes' if r['same_picture'] else 'no'} |" for r in report["picture"]],
             "", "| scoring a test split | seconds (median of 3) | the same figures |", "|---|---:|---|",
             *[f"| {r['case']} | {r['seconds']} | {'yes' if r['same'] else 'no'} |" for r in report["scoring"]],
             "", "| loading and splitting | seconds (median of 3) | the same answer |", "|---|---:|---|",
             *[f"| {r['case']} | {r['seconds']} | {'yes' if r['same'] else 'no'} |" for r in report["loading"]]]
    write_markdown("hot_paths", "Hot paths of large runs, against what they replaced", report, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
