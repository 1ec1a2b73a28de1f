"""Drift verdicts that hold up: false alarms on batches from the training distribution, and shifts found, on real
tables, for the rule `predict` applies (PSI past its limit and counts beyond chance; a class share moved by half
and beyond chance) beside PSI alone (past its limit, at least 500 rows: the rule before).

Per data set (`bench.datasets`): a stratified 60/40 split; a one-member ensemble (class-weighted logistic
regression, calibrated) is fitted on the 60 % and its drift picture taken as `save_model` takes it. From the 40 %
pool, batches of 100, 300 and 1,000 rows (each size as the pool allows) are drawn:

* **same**: uniformly, without replacement: any alarm is a false one;
* **prior**: the minority class at five times its training share (at most half the rows), rows drawn with
  replacement within each class;
* **covariate**: only rows whose most spread numeric feature lies above its training 75th percentile.

Each kind is drawn `DRAWS` times per size and data set. Run from the repository root (needs the `bench` data
sets, see bench/datasets.py)::

    .venv/bin/python -m bench.drift

Results go to `bench/results/drift.json` and `drift.md`.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd

from bench.scale import RESULTS, stamp, write_markdown

SIZES = (100, 300, 1000)
DRAWS = 40
KINDS = ("same", "prior", "covariate")
OLD_MIN_ROWS = 500


def _fit(X: pd.DataFrame, y: pd.Series):
    from imbalance_flows.tasks.model.ensemble import VotingEnsemble
    from imbalance_flows.tasks.model.spec import MemberSpec

    return VotingEnsemble(members=[MemberSpec.parse("class_weight:logreg")], random_state=0).fit(X, y)


def _batches(pool_X: pd.DataFrame, pool_y: pd.Series, train_X: pd.DataFrame, minority: str, share: float,
             kind: str, size: int, rng) -> np.ndarray | None:
    """Row positions in the pool of one batch of `kind`, or None when the pool cannot give it."""
    if kind == "same":
        return None if size > len(pool_X) else rng.choice(len(pool_X), size, replace=False)
    if kind == "prior":
        rare = np.flatnonzero(pool_y.to_numpy() == minority)
        rest = np.flatnonzero(pool_y.to_numpy() != minority)
        k = int(round(size * min(5 * share, 0.5)))
        return np.concatenate([rng.choice(rare, k, replace=True), rng.choice(rest, size - k, replace=True)])
    numeric = [c for c in train_X.columns if pd.api.types.is_numeric_dtype(train_X[c])
               and train_X[c].nunique() > 10]
    if not numeric:
        return None
    column = max(numeric, key=lambda c: train_X[c].rank(pct=True).std())  # most spread: ties are few
    high = np.flatnonzero(pool_X[column].to_numpy(float) > np.nanquantile(train_X[column].to_numpy(float), 0.75))
    return rng.choice(high, size, replace=True) if len(high) >= 10 else None


def _old_verdict(report: dict, psi_limit: float = 0.25, share_limit: float = 0.5) -> bool:
    """PSI alone: a feature past the limit, or a class share moved by more than half, with 500 rows or more."""
    if report["rows"] < OLD_MIN_ROWS:
        return False
    return (any(f["psi"] > psi_limit for f in report["features"].values())
            or any(c["change"] is not None and abs(c["change"]) > share_limit for c in report["classes"].values()))


def one_data_set(name: str) -> dict:
    from sklearn.model_selection import train_test_split

    from bench.datasets import load
    from imbalance_flows.tasks.monitoring.drift import (
        DriftTally,
        drift_report,
        reference,
    )

    X, y = load(name)
    train_X, pool_X, train_y, pool_y = train_test_split(X, y, test_size=0.4, stratify=y, random_state=0)
    pool_X, pool_y = pool_X.reset_index(drop=True), pool_y.reset_index(drop=True)
    model = _fit(train_X, train_y)
    picture = reference(train_X, train_y, model.schema_)
    proba = model.predict_proba(pool_X)
    labels = model.classes_[proba.argmax(axis=1)]
    counts = train_y.value_counts()
    minority, share = str(counts.idxmin()), float(counts.min() / len(train_y))
    rng = np.random.default_rng(0)
    out = {"rows": len(X), "features": X.shape[1], "classes": int(y.nunique()), "pool": len(pool_X), "kinds": {}}
    for kind in KINDS:
        for size in SIZES:
            new, old, drawn = 0, 0, 0
            for _ in range(DRAWS):
                rows = _batches(pool_X, pool_y, train_X, minority, share, kind, size, rng)
                if rows is None:
                    break
                tally = DriftTally(picture, model.classes_, model.class_prior_)
                tally.update(pool_X.iloc[rows], proba[rows], labels[rows])
                report = drift_report(tally)
                new += report["drift"]
                old += _old_verdict(report)
                drawn += 1
            if drawn:
                out["kinds"].setdefault(kind, {})[str(size)] = {"batches": drawn, "alarms": new, "alarms_psi_alone": old}
    return out


def main(argv: list[str]) -> None:
    from bench.datasets import DATASETS

    names = argv or list(DATASETS)
    report = {**stamp("bench.drift", argv), "sizes": list(SIZES), "draws": DRAWS, "data_sets": {}}
    for name in names:
        report["data_sets"][name] = one_data_set(name)
        print(name, json.dumps(report["data_sets"][name]["kinds"]), flush=True)
    totals = {kind: {str(size): {"batches": 0, "alarms": 0, "alarms_psi_alone": 0} for size in SIZES} for kind in KINDS}
    for found in report["data_sets"].values():
        for kind, by_size in found["kinds"].items():
            for size, counts in by_size.items():
                for key in ("batches", "alarms", "alarms_psi_alone"):
                    totals[kind][size][key] += counts[key]
    report["totals"] = totals
    (RESULTS / "drift.json").write_text(json.dumps(report, indent=2) + "\n")

    def rate(counts: dict, key: str) -> str:
        return f"{counts[key]} of {counts['batches']} ({counts[key] / counts['batches']:.0%})" if counts["batches"] else "–"

    what = {"same": "false alarms: batches of the training distribution", "prior": "found: the minority at five "
            "times its share", "covariate": "found: one feature's top quarter only"}
    lines = [f"{len(report['data_sets'])} data sets ({', '.join(report['data_sets'])}), {DRAWS} batches of each kind "
             "and size per data set (as the pool allows).", "",
             "| batches | rows | the rule `predict` applies | PSI alone (500 rows or more) |", "|---|---:|---:|---:|"]
    for kind in KINDS:
        for size in SIZES:
            counts = totals[kind][str(size)]
            lines.append(f"| {what[kind]} | {size} | {rate(counts, 'alarms')} | {rate(counts, 'alarms_psi_alone')} |")
    lines += ["", "## Per data set: false alarms (the rule `predict` applies / PSI alone)", "",
              "| data set | rows | " + " | ".join(f"{size} rows" for size in SIZES) + " |",
              "|---|---:|" + "---:|" * len(SIZES)]
    for name, found in report["data_sets"].items():
        cells = []
        for size in SIZES:
            counts = found["kinds"].get("same", {}).get(str(size))
            cells.append("–" if counts is None else f"{counts['alarms']} / {counts['alarms_psi_alone']} of "
                                                    f"{counts['batches']}")
        lines.append(f"| {name} | {found['rows']} | " + " | ".join(cells) + " |")
    write_markdown("drift", "Drift verdicts: false alarms and shifts found", report, lines)


if __name__ == "__main__":
    main(sys.argv[1:])
