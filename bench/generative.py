"""Generative synthesis (`+gan`) against SMOTE, mixup and image augmentation, member by member.

Each technique feeds the same learner, through the product's own member pipeline
(`tasks.model.fitting.fit_member`: prepare → resample → augment → encode → learn), and every one
grows the smaller classes to half the largest (the augmentations' default ratio, 0.5):

* tables (6 public data sets of `bench/datasets.py`, stratified 3-fold, seed 0), learners
  `hgb` and `logreg`: `none` (nothing added), `smote@0.5`, `none+mixup`, `none+gan` with the
  conditional VAE (the default) and with the conditional WGAN-GP (`model: gan`), 1000 steps each;
* images (the bundled traffic lights, 3,000 crops, and scikit-learn's digits with 3, 8, 9 cut
  to 30 images; one stratified 80/20 split, seed 0), learner `keras_cnn`: `none`, `none+image`
  (rotation, translation, zoom, contrast) and `none+gan` (VAE, and GAN).

Metrics with `tasks.evaluation.metrics.evaluate` on the held-out rows: balanced accuracy, G-mean,
macro-F1, average precision and ROC-AUC, and the fit seconds of the member (generator
included). Run from the repository root (the `keras` and `bench` extras installed)::

    .venv/bin/python -m bench.generative                  # everything (resumable)
    .venv/bin/python -m bench.generative --only tables    # or images

Results go to `bench/results/generative.json` and `generative.md`; each (data set, fold,
technique, learner) is cached in `bench/results/generative-cache/` as it finishes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time

import numpy as np

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
RUN_DATE = "2026-11-29"
COMMAND = ".venv/bin/python -m bench.generative"
TABLE_SETS = ("yeast4", "abalone9_18", "page_blocks0", "churn", "attrition", "hawks")
TABLE_LEARNERS = ("hgb", "logreg")
IMAGE_SETS = ("traffic_lights", "digits")
N_FOLDS = 3
RATIO = 0.5
METRICS = ("balanced_accuracy", "g_mean", "macro_f1", "average_precision", "roc_auc")


def table_techniques() -> dict:
    from imbalance_flows.tasks.model.spec import AugmentSpec

    return {"none": {}, "smote": {"sampler": "smote", "sampling_strategy": RATIO},
            "mixup": {"augment": AugmentSpec(method="mixup", ratio=RATIO)},
            "gan (vae)": {"augment": AugmentSpec(method="gan", ratio=RATIO, model="vae")},
            "gan (gan)": {"augment": AugmentSpec(method="gan", ratio=RATIO, model="gan")}}


def image_techniques() -> dict:
    from imbalance_flows.tasks.model.spec import AugmentSpec

    return {"none": {}, "image": {"augment": AugmentSpec(method="image", ratio=RATIO)},
            "gan (vae)": {"augment": AugmentSpec(method="gan", ratio=RATIO, model="vae")},
            "gan (gan)": {"augment": AugmentSpec(method="gan", ratio=RATIO, model="gan")}}


def run_member(spec, X_train, y_train, X_test, y_test, schema) -> dict:
    from imbalance_flows.tasks.evaluation.metrics import evaluate
    from imbalance_flows.tasks.model.fitting import fit_member

    started = time.perf_counter()
    pipeline, _ = fit_member(spec, X_train, y_train, schema, random_state=0, threads=2)
    seconds = time.perf_counter() - started
    proba = np.zeros((len(X_test), len(schema.classes)))
    model = pipeline.named_steps["learn"]
    proba[:, model.classes_] = pipeline.predict_proba(X_test)
    predicted = np.asarray(schema.classes)[proba.argmax(axis=1)]
    result = evaluate(np.asarray(y_test), predicted, proba, schema.classes)
    return {**{key: float(result[key]) for key in METRICS}, "fit_seconds": round(seconds, 2),
            "recall": {str(label): float(row["recall"]) for label, row in result["per_class"].items()}}


def splits(name: str):
    """(fold, X_train, y_train, X_test, y_test, schema) for a table or image data set."""
    from sklearn.model_selection import StratifiedKFold, train_test_split

    from imbalance_flows.tasks.data.checks import check_categories
    from imbalance_flows.tasks.data.schema import coerce, infer_schema

    if name in IMAGE_SETS:
        X, y = load_images(name)
        parts = [train_test_split(np.arange(len(y)), test_size=0.2, stratify=y, random_state=0)]
    else:
        from bench.datasets import load

        X, y = load(name)
        parts = list(StratifiedKFold(N_FOLDS, shuffle=True, random_state=0).split(X, y))
    for fold, (train, test) in enumerate(parts):
        X_train, y_train = X.iloc[train].reset_index(drop=True), y.iloc[train].reset_index(drop=True)
        X_test, y_test = X.iloc[test].reset_index(drop=True), y.iloc[test].reset_index(drop=True)
        schema = infer_schema(X_train, y_train)
        yield (fold, coerce(X_train, schema), y_train,
               coerce(check_categories(X_test, schema, "ignore"), schema), y_test, schema)


def load_images(name: str):
    from imbalance_flows.tasks.data.images import load_folder

    root = tempfile.mkdtemp(prefix=f"bench-{name}-")
    if name == "traffic_lights":
        from imbalance_flows.tasks.bundled.make_traffic_lights import (
            make_traffic_lights,
        )

        make_traffic_lights(root)
        target = "light"
    else:
        from imbalance_flows.tasks.bundled.make_digits import make_digits

        make_digits(root, rare=(3, 8, 9), keep=30)
        target = "digit"
    frame, _ = load_folder(root, target)
    return frame.drop(columns=target), frame[target].astype(str)


def cached(path: str, compute):
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    result = compute()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w") as f:
        json.dump(result, f)
    os.replace(path + ".tmp", path)
    return result


def run(kind: str, out: str) -> dict:
    from imbalance_flows.tasks.model.spec import MemberSpec

    sets, learners, techniques = ((TABLE_SETS, TABLE_LEARNERS, table_techniques()) if kind == "tables"
                                  else (IMAGE_SETS, ("keras_cnn",), image_techniques()))
    results = {}
    for name in sets:
        for fold, X_train, y_train, X_test, y_test, schema in splits(name):
            for learner in learners:
                for technique, fields in techniques.items():
                    params = {"learner_params": {"epochs": 30}} if learner == "keras_cnn" else {}
                    spec = MemberSpec(learner=learner, **{"sampler": "none", **fields, **params})
                    path = os.path.join(out, "generative-cache", f"{name}-{fold}-{learner}-{technique}.json")
                    result = cached(path, lambda: run_member(spec, X_train, y_train, X_test, y_test, schema))
                    results.setdefault(name, {}).setdefault(learner, {}).setdefault(technique, []).append(result)
                    print(name, fold, learner, technique, {k: round(result[k], 3) for k in
                                                           ("balanced_accuracy", "average_precision", "fit_seconds")},
                          flush=True)
    return {name: {learner: {technique: mean_of(folds) for technique, folds in by_technique.items()}
                   for learner, by_technique in by_learner.items()} for name, by_learner in results.items()}


def mean_of(folds: list[dict]) -> dict:
    out = {key: float(np.mean([f[key] for f in folds])) for key in (*METRICS, "fit_seconds")}
    out["recall"] = {label: float(np.mean([f["recall"][label] for f in folds])) for label in folds[0]["recall"]}
    return out


def summary(per_set: dict) -> dict:
    """Per learner and technique: mean of each metric over data sets, and wins against each other technique."""
    out = {}
    learners = sorted({learner for by_learner in per_set.values() for learner in by_learner})
    for learner in learners:
        sets = [name for name in per_set if learner in per_set[name]]
        techniques = list(per_set[sets[0]][learner])
        out[learner] = {technique: {key: float(np.mean([per_set[s][learner][technique][key] for s in sets]))
                                    for key in (*METRICS, "fit_seconds")} for technique in techniques}
        for technique in techniques:
            out[learner][technique]["beats_smote_or_image_ba"] = sum(
                per_set[s][learner][technique]["balanced_accuracy"]
                > per_set[s][learner]["smote" if "smote" in techniques else "image"]["balanced_accuracy"]
                for s in sets)
    return out


def write_markdown(path: str, report: dict) -> None:
    lines = ["# Generative synthesis (`+gan`) against SMOTE, mixup and image augmentation", "",
             f"Run {report['date']} on {report['machine']}, one run, techniques side by side. Reproduce:", "",
             f"    {COMMAND}", "",
             "Each technique feeds the same learner through the product's member pipeline and grows the "
             f"smaller classes to {RATIO} × the largest. `gan (vae)` is `+gan` as it comes (a conditional "
             "VAE); `gan (gan)` sets `model: gan` (a conditional WGAN-GP). Both train 1000 steps. "
             "Predictions are the argmax of the member's probabilities (no tuned threshold), so "
             "balanced accuracy shows how each technique moves the decision, and average precision how "
             "it ranks.", ""]
    for kind, title in (("tables", f"Tables ({len(TABLE_SETS)} data sets, stratified {N_FOLDS}-fold)"),
                        ("images", "Images (one stratified 80/20 split; keras_cnn, 30 epochs at most)")):
        if kind not in report:
            continue
        lines += [f"## {title}", ""]
        per_set = report[kind]["per_set"]
        for learner, by_technique in report[kind]["summary"].items():
            reference = "smote" if "smote" in by_technique else "image"
            lines += [f"### Mean over data sets, learner `{learner}`", "",
                      "| technique | " + " | ".join(METRICS) + f" | fit s | bal. acc. above {reference} |",
                      "|---|" + "---:|" * (len(METRICS) + 2)]
            for technique, row in by_technique.items():
                lines.append(f"| {technique} | " + " | ".join(f"{row[k]:.3f}" for k in METRICS)
                             + f" | {row['fit_seconds']:.1f} | {row['beats_smote_or_image_ba']} of "
                             f"{sum(learner in per_set[s] for s in per_set)} |")
            lines.append("")
        lines += ["### Per data set: balanced accuracy / average precision", ""]
        for name, by_learner in per_set.items():
            for learner, by_technique in by_learner.items():
                lines.append(f"- **{name}**, `{learner}`: " + "; ".join(
                    f"{t} {r['balanced_accuracy']:.3f} / {r['average_precision']:.3f}"
                    for t, r in by_technique.items()))
        if kind == "images":
            lines += ["", "Recall of each class (test split):", ""]
            for name, by_learner in per_set.items():
                for technique, row in by_learner["keras_cnn"].items():
                    lines.append(f"- {name}, {technique}: " + ", ".join(f"{label} {value:.2f}" for label, value
                                                                       in row["recall"].items()))
        lines.append("")
    with open(path, "w") as f:
        f.write("\n".join(lines))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("tables", "images"))
    parser.add_argument("--out", default=RESULTS)
    args = parser.parse_args(argv)
    path = os.path.join(args.out, "generative.json")
    report = {}
    if os.path.exists(path):
        with open(path) as f:
            report = json.load(f)
    report.update({"date": RUN_DATE, "machine": f"{os.cpu_count()}-core {platform.machine()}, Python "
                   f"{platform.python_version()}", "command": COMMAND})
    for kind in ("tables", "images"):
        if args.only in (None, kind):
            per_set = run(kind, args.out)
            report[kind] = {"per_set": per_set, "summary": summary(per_set)}
    with open(path, "w") as f:
        json.dump(report, f, indent=1)
    write_markdown(os.path.join(args.out, "generative.md"), report)
    print(open(os.path.join(args.out, "generative.md")).read())
    return 0


if __name__ == "__main__":
    sys.exit(main())
