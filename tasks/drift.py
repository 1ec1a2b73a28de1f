"""Drift and prior shift: how far a scored batch is from the rows a model was trained on.

At training, `reference` keeps a compact picture of the training split in the model's
manifest: per feature a histogram (numbers: the training deciles as bin edges;
categories: the shares of the most frequent ones and an "other"), the share of missing
values, and the class shares. At scoring, `DriftTally` counts each chunk into the same
bins, and `drift_report` compares: the population stability index (PSI) per feature,
missing and never-seen shares, the predicted class shares against the training shares,
and the class priors of the scored data estimated by EM (Saerens, Latinne and
Decaestecker, 2002) from the model's calibrated probabilities.

PSI = Σ (a − e) · ln(a / e) over the bins, shares floored at 1e-4: below 0.1 is
commonly read as stable, 0.1–0.25 as a moderate shift, above 0.25 as a major one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from imbalance_flows.tasks.errors import InputError
from imbalance_flows.tasks.figures import png, pyplot

BINS = 10  # quantile bins of a numeric feature
TOP_CATEGORIES = 20  # categories kept by name; the rest are "other"
FLOOR = 1e-4  # shares are floored here in PSI, so an empty bin costs a finite amount
PSI_LIMIT = 0.25  # a feature beyond this has drifted
SHARE_CHANGE_LIMIT = 0.5  # a class whose share moved by more than this (relative) has shifted
PRIOR_ROWS = 200_000  # rows of probabilities kept for the prior estimate
OTHER = "(other)"


def reference(X: pd.DataFrame, y: pd.Series, schema) -> dict:
    """The training split's picture, kept in the manifest (plain JSON)."""
    features = {}
    if schema.image is None:  # pixels one by one say little; images keep only the class shares
        for column in schema.columns:
            values = X[column.name]
            missing = float(values.isna().mean()) if len(values) else 0.0
            present = values.dropna()
            if column.kind == "numeric":
                numbers = pd.to_numeric(present, errors="coerce").dropna().to_numpy(float)
                edges = np.unique(np.quantile(numbers, np.linspace(0, 1, BINS + 1)[1:-1])) if len(numbers) else []
                counts = np.bincount(np.searchsorted(edges, numbers, side="right"), minlength=len(edges) + 1)
                features[column.name] = {"kind": "numeric", "edges": [float(e) for e in edges],
                                         "shares": _shares(counts), "missing": missing}
            else:
                counts = present.astype(str).value_counts()
                top = counts.head(TOP_CATEGORIES)
                shares = {str(k): float(v) / max(len(present), 1) for k, v in top.items()}
                shares[OTHER] = float(counts.iloc[TOP_CATEGORIES:].sum()) / max(len(present), 1)
                features[column.name] = {"kind": "categorical", "shares": shares, "missing": missing}
    classes = pd.Series(y).astype(str).value_counts()
    return {"rows": int(len(X)), "features": features,
            "class_shares": {str(label): float(classes.get(str(label), 0)) / max(len(y), 1)
                             for label in schema.classes}}


def _shares(counts) -> list[float]:
    counts = np.asarray(counts, dtype=float)
    return (counts / counts.sum()).tolist() if counts.sum() else [0.0] * len(counts)


def psi(expected, actual) -> float:
    """Population stability index between two share vectors over the same bins."""
    e = np.maximum(np.asarray(expected, dtype=float), FLOOR)
    a = np.maximum(np.asarray(actual, dtype=float), FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def estimate_priors(proba: np.ndarray, train_priors, max_iter: int = 200, tol: float = 1e-7) -> np.ndarray:
    """Class priors of the rows behind `proba` (calibrated, under `train_priors`), by EM (Saerens et al., 2002).

    Each step re-weights every row's probabilities by new/training priors, renormalises,
    and takes the mean as the new priors, until they stop moving.
    """
    proba = np.asarray(proba, dtype=float)
    train = np.maximum(np.asarray(train_priors, dtype=float), 1e-12)
    priors = train.copy()
    for _ in range(max_iter):
        adjusted = adjust_proba(proba, train, priors)
        new = adjusted.mean(axis=0)
        if np.abs(new - priors).max() < tol:
            return new
        priors = new
    return priors


def adjust_proba(proba: np.ndarray, train_priors, priors) -> np.ndarray:
    """Probabilities under new class `priors`: p·(new/train), renormalised per row (Bayes' rule)."""
    weighted = np.asarray(proba, dtype=float) * (np.asarray(priors, dtype=float)
                                                 / np.maximum(np.asarray(train_priors, dtype=float), 1e-12))
    return weighted / np.maximum(weighted.sum(axis=1, keepdims=True), 1e-300)


def check_priors(priors: dict, classes) -> np.ndarray:
    """Given priors as {class: share}: every class, shares in (0, 1) summing to 1; as an array in class order."""
    names = [str(c) for c in classes]
    given = {str(k): v for k, v in priors.items()}
    if set(given) != set(names):
        raise InputError("given class priors must name every class of the model once",
                         f"got {sorted(given)} for classes {names}", "Give a share for each, e.g. yes=0.1 no=0.9.")
    values = np.array([float(given[name]) for name in names])
    if not np.all((values > 0) & (values < 1)) or abs(values.sum() - 1) > 1e-6:
        raise InputError("class priors must each lie in (0, 1) and sum to 1", f"got {given}",
                         "Give shares such as yes=0.1 no=0.9, or --adjust-priors estimated.")
    return values


class DriftTally:
    """Counts of scored rows in the reference's bins, chunk by chunk, and a sample of their probabilities."""

    def __init__(self, ref: dict, classes, seed: int = 0):
        self.ref, self.classes = ref, [str(c) for c in classes]
        self.rows = 0
        self.counts = {name: np.zeros(len(f["shares"])) for name, f in ref["features"].items()}
        self.missing = dict.fromkeys(ref["features"], 0)
        self.predicted = np.zeros(len(self.classes))
        self.sample: list[np.ndarray] = []
        self._kept = 0
        self._rng = np.random.default_rng(seed)

    def update(self, frame: pd.DataFrame, proba: np.ndarray | None, labels) -> None:
        self.rows += len(frame)
        for name, feature in self.ref["features"].items():
            if name not in frame.columns:
                continue
            values = frame[name]
            self.missing[name] += int(values.isna().sum())
            present = values.dropna()
            if feature["kind"] == "numeric":
                numbers = pd.to_numeric(present, errors="coerce").dropna().to_numpy(float)
                position = np.searchsorted(np.asarray(feature["edges"]), numbers, side="right")
                self.counts[name] += np.bincount(position, minlength=len(feature["shares"]))
            else:
                names = list(feature["shares"])
                text = present.astype(str)
                index = pd.Index(names).get_indexer(text.where(text.isin(names[:-1]), OTHER))
                self.counts[name] += np.bincount(index, minlength=len(names))
        positions = pd.Index(self.classes).get_indexer(pd.Series(labels).astype(str))
        self.predicted += np.bincount(positions[positions >= 0], minlength=len(self.classes))
        if proba is not None and self._kept < PRIOR_ROWS:
            keep = proba[: PRIOR_ROWS - self._kept]
            self.sample.append(np.asarray(keep, dtype=float))
            self._kept += len(keep)


def drift_report(tally: DriftTally, unseen: dict | None = None, psi_limit: float = PSI_LIMIT,
                 share_change_limit: float = SHARE_CHANGE_LIMIT) -> dict:
    """The scored batch against the training reference: per feature, per class, the priors and a verdict.

    `unseen` gives, per categorical feature, the rows whose category training never saw.
    """
    unseen = unseen or {}
    ref = tally.ref
    features = {}
    for name, feature in ref["features"].items():
        counts = tally.counts[name]
        shares = counts / counts.sum() if counts.sum() else np.zeros_like(counts)
        expected = feature["shares"] if feature["kind"] == "numeric" else list(feature["shares"].values())
        features[name] = {"psi": round(psi(expected, shares), 4),
                          "missing": round(tally.missing[name] / max(tally.rows, 1), 4),
                          "missing_in_training": round(feature["missing"], 4),
                          "unseen": round(unseen.get(name, 0) / max(tally.rows, 1), 4)}
    train_shares = np.array([ref["class_shares"][c] for c in tally.classes])
    predicted = tally.predicted / max(tally.predicted.sum(), 1)
    estimated = None
    if tally.sample:
        estimated = estimate_priors(np.concatenate(tally.sample), train_shares)
    shifts = {}
    for i, label in enumerate(tally.classes):
        now = estimated[i] if estimated is not None else predicted[i]
        shifts[label] = {"training": round(float(train_shares[i]), 4), "predicted": round(float(predicted[i]), 4),
                         "estimated": None if estimated is None else round(float(estimated[i]), 4),
                         "change": round(float(now / train_shares[i] - 1), 4) if train_shares[i] else None}
    drifted = sorted((n for n, f in features.items() if f["psi"] > psi_limit), key=lambda n: -features[n]["psi"])
    shifted = [label for label, s in shifts.items() if s["change"] is not None
               and abs(s["change"]) > share_change_limit]
    return {"rows": tally.rows, "features": features, "classes": shifts, "drifted_features": drifted,
            "shifted_classes": shifted, "limits": {"psi": psi_limit, "class_share_change": share_change_limit},
            "drift": bool(drifted or shifted), "verdict": verdict(drifted, shifted, features, shifts)}


def verdict(drifted: list, shifted: list, features: dict, shifts: dict) -> str:
    """One line: what moved, or that nothing did."""
    if not drifted and not shifted:
        worst = max(features.items(), key=lambda item: item[1]["psi"], default=None)
        tail = f" (largest PSI {worst[1]['psi']:.3f}, {worst[0]})" if worst else ""
        return "No drift: every feature and class share is within its limits" + tail + "."
    parts = []
    if drifted:
        parts.append("features drifted: " + ", ".join(f"{n} (PSI {features[n]['psi']:.2f})" for n in drifted[:5])
                     + (f" and {len(drifted) - 5} more" if len(drifted) > 5 else ""))
    if shifted:
        parts.append("class shares shifted: " + ", ".join(
            f"{label} {shifts[label]['training']:.3f} → {_now(shifts[label]):.3f}" for label in shifted))
    return "Drift: " + "; ".join(parts) + "."


def _now(shift: dict) -> float:
    return shift["estimated"] if shift["estimated"] is not None else shift["predicted"]


def markdown(report: dict, top: int = 10) -> str:
    """The drift artifact: the verdict, the most shifted features, and the class shares."""
    rows = sorted(report["features"].items(), key=lambda item: -item[1]["psi"])[:top]
    lines = [f"**{report['verdict']}**", "",
             f"{report['rows']} rows scored; limits: PSI {report['limits']['psi']}, class share change "
             f"{report['limits']['class_share_change']:.0%}.", ""]
    if rows:
        lines += ["| feature | PSI | missing (training) | never seen |", "|---|---:|---:|---:|"]
        lines += [f"| `{name}` | {f['psi']:.3f} | {f['missing']:.3f} ({f['missing_in_training']:.3f}) | "
                  f"{f['unseen']:.3f} |" for name, f in rows]
        lines.append("")
    lines += ["| class | training share | predicted share | estimated prior |", "|---|---:|---:|---:|"]
    lines += [f"| `{label}` | {s['training']:.3f} | {s['predicted']:.3f} | "
              f"{'—' if s['estimated'] is None else format(s['estimated'], '.3f')} |"
              for label, s in report["classes"].items()]
    return "\n".join(lines)


def psi_png(report: dict, top: int = 10) -> bytes:
    """A bar chart of the most shifted features' PSI, with the drift limit drawn across."""
    plt = pyplot()
    rows = sorted(report["features"].items(), key=lambda item: -item[1]["psi"])[:top][::-1]
    figure, axes = plt.subplots(figsize=(6, 0.35 * max(len(rows), 3) + 1))
    limit = report["limits"]["psi"]
    axes.barh([name for name, _ in rows], [f["psi"] for _, f in rows],
              color=["#d62728" if f["psi"] > limit else "#1f77b4" for _, f in rows])
    axes.axvline(limit, color="black", linestyle="--", linewidth=1, label=f"limit {limit:g}")
    axes.set_xlabel("population stability index against the training split")
    axes.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    return png(figure)
