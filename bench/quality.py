"""End-to-end quality benchmark: the default ensemble against its members and the best imbalance learners.

For the issue "Model quality: a default ensemble that beats the best imbalance learners".
Every learner is fitted on the outer-train part of a stratified 5-fold split
(``StratifiedKFold(5, shuffle=True, random_state=0)``) of each of the 16 offline data sets of
``bench/datasets.py`` and scored on the outer-test part, all in the same run:

* ``default ensemble`` -- ``imbalance_flows.default_ensemble(random_state=0)`` exactly as users get it:
  ``fit(X, y)`` on the DataFrames as loaded (categoricals and NaN handled by the product), its
  members side by side on every core (``n_jobs=-1``, as the peers' ``n_jobs=-1``). Scoring switches ``unknown_categories`` to ``"ignore"`` after the fit (a
  scoring-only setting: a test-fold category never seen in training is then read as missing
  instead of refused; the fit is unchanged);
* ``member <spec>`` -- each spec of ``imbalance_flows.default_members()`` alone, through the product's own
  code: ``VotingEnsemble(members=[spec], random_state=0)`` (fitted on all outer-train rows, with
  the G-mean threshold from out-of-fold predictions, as the ensemble);
* baselines with ``random_state=0`` and library defaults otherwise, in a Pipeline whose
  ColumnTransformer imputes numbers with the median and categories with the most frequent one
  and codes them with an OrdinalEncoder (unknown -> -1): scikit-learn's RandomForest and
  HistGradientBoosting, imbalanced-learn's BalancedRandomForest, BalancedBagging, EasyEnsemble,
  RUSBoost; they predict with ``predict`` (argmax) and score with ``predict_proba``;
* ``SelfPacedEnsemble`` (imbalanced-ensemble) when a separate virtual environment holding it
  exists (``--spe-python``, default ``/tmp/spe-venv/bin/python``; it needs an older
  scikit-learn than the product, see ``SPE_SETUP``). It is fed the same preprocessed numbers as
  the baselines; its fit seconds are measured inside that process, plus the preprocessing;
* variants of the default ensemble, compared with it in their own tables and not ranked with the
  learners: other calibrations, a fixed class prior power and plain/over/under recipes (``VARIANTS``,
  ``PLAIN_OVER_UNDER``), and recipes with boosting libraries as members (``BOOSTERS_AS_MEMBERS``:
  ``lgbm``, ``xgb``, ``catboost`` with 300 iterations), each
  ``VotingEnsemble(members=[...], random_state=0, n_jobs=-1)``, with a verdict from the numbers.

Metrics per fold with ``imbalance_flows.tasks.evaluation.metrics.evaluate`` (balanced accuracy, G-mean of the per-class
recalls, macro-F1, MCC, average precision -- the minority class's for two classes, macro over
classes one-vs-rest otherwise -- and ROC-AUC, one-vs-rest macro for several classes), plus fit
wall and CPU seconds. Per data set: the mean over folds; across data sets: the average rank of
each learner per metric (1 = best, ties averaged) and the mean. The issue's goals are checked
and written with numbers.

Run from the repository root::

    .venv/bin/python -m bench.quality                           # everything (resumable)
    .venv/bin/python -m bench.quality --datasets glass --folds 2 --out /tmp/q   # a quick try

Results go to ``<out>/quality.json``, ``quality.md`` and ``quality.png`` (``--out`` defaults to
``bench/results``); each (data set, fold) is cached in ``<out>/quality-cache/`` as soon as it is
done, so an interrupted run picks up where it stopped. When the product's code changes (a
digest of ``tasks/**/*.py``), its models and BalancedRandomForest, the fit-time reference, are
refitted and the other baselines reused. There is no option to run one table alone: a run
fits only what its cache lacks, so once a full run is cached and ``tasks/**/*.py`` is unchanged,
adding a recipe (as the booster recipes) and rerunning the full command fits just that recipe;
``--datasets`` and ``--folds`` restrict a run (its report then says it covers part of the
benchmark only). Everything runs in one process, one fit at a time,
so that fit times are comparable.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
RUN_DATE = time.strftime("%Y-%m-%d")  # the day the run that writes the report started
COMMAND = ".venv/bin/python -m bench.quality"
N_FOLDS = 5
SEED = 0
DEFAULT = "default ensemble"
BOOSTED = ("LightGBM", "XGBoost", "CatBoost")  # with balanced class weights; `pip install -e .[bench]`
BASELINES = ("RandomForest", "HistGradientBoosting", "BalancedRandomForest", "BalancedBagging", "EasyEnsemble",
             "RUSBoost", *BOOSTED)
# The default ensemble with another calibration or a fixed class prior power: compared with the default
# in their own table (not ranked with the learners), to choose the defaults.
VARIANTS = {f"{DEFAULT} calibration={method}": {"calibration": method}
            for method in ("none", "isotonic", "temperature")}
VARIANTS[f"{DEFAULT} class_prior_power=0.5"] = {"class_prior_power": 0.5}
# Recipes whose members see the data plain, over-sampled and under-sampled: does an over-sampled member earn
# its place? (Over-sampled members are cross-fitted: a forest's out-of-bag rows are not clean once rows are
# copied or interpolated.)
PLAIN_OVER_UNDER = {"plain-over-under": ["none:rf", "random_over:logreg", "random_under:rf"],
                    "plain-over(smote:logreg)-under": ["none:rf", "smote:logreg", "random_under:rf"],
                    "plain-over(rf)-under": ["none:rf", "random_over:rf", "random_under:rf"]}
VARIANTS.update({f"{DEFAULT} recipe={name}": {"members": members} for name, members in PLAIN_OVER_UNDER.items()})
# Boosting libraries (lgbm, xgb, catboost learners; `pip install -e .[bench]`) as members: does one earn a place in
# the default recipe? Compared with the default in their own table (ranked among themselves and the default only).
# A member is a spec string or, for learner parameters, a dict spec. CatBoost's default 1000 iterations are too
# slow for a member that is cross-fitted (5 out-of-fold fits and the final fit): 300 here, as the labels say.
CATBOOST_300 = {"sampler": "none", "learner": "catboost", "learner_params": {"iterations": 300}}
BOOSTERS_AS_MEMBERS = {
    "boosters: none:lgbm + random_under:rf + class_weight:logreg": ["none:lgbm", "random_under:rf",
                                                                     "class_weight:logreg"],
    "boosters: none:rf + random_under:lgbm + class_weight:logreg": ["none:rf", "random_under:lgbm",
                                                                     "class_weight:logreg"],
    "boosters: class_weight:lgbm + random_under:rf + class_weight:logreg": ["class_weight:lgbm", "random_under:rf",
                                                                             "class_weight:logreg"],
    "boosters: none:xgb + random_under:rf + class_weight:logreg": ["none:xgb", "random_under:rf",
                                                                    "class_weight:logreg"],
    "boosters: none:catboost(iterations=300) + random_under:rf + class_weight:logreg": [
        CATBOOST_300, "random_under:rf", "class_weight:logreg"],
    "boosters: none:lgbm + none:xgb + none:catboost(300)": ["none:lgbm", "none:xgb", CATBOOST_300],
}
BOOSTER_VARIANTS = {f"{DEFAULT} recipe={name}": {"members": members} for name, members in BOOSTERS_AS_MEMBERS.items()}
SPE = "SelfPacedEnsemble"
SPE_PYTHON = "/tmp/spe-venv/bin/python"
SPE_SETUP = ("python3.11 -m venv /tmp/spe-venv && /tmp/spe-venv/bin/pip install imbalanced-ensemble==0.2.3 && "
             "/tmp/spe-venv/bin/pip install --only-binary=:all: scikit-learn==1.2.2 'numpy<2' 'pandas<2.3' "
             "'scipy<1.14'")
SPE_NOTE = ("imbalanced-ensemble 0.2.3 pins scikit-learn==1.6.0 but does not import with it (it imports "
            "sklearn.utils._print_elapsed_time, moved in 1.5, and metaestimators.if_delegate_has_method, removed "
            "in 1.3); with scikit-learn 1.2.2, numpy 1.26.4, pandas 2.2.3, scipy 1.13.1 in its own venv it imports "
            "and fits (pip's resolver warns about the pin). Installing took about 1 minute.")
TIMING_ONLY = "BalancedRandomForest n_jobs=-1"  # fitted for its fit time only (same trees as n_jobs=None)
CALIBRATED = ("brier", "log_loss", "calibration_error")
METRICS = ("balanced_accuracy", "g_mean", "macro_f1", "average_precision", "roc_auc", "mcc", *CALIBRATED)
RANKED = ("balanced_accuracy", "g_mean", "macro_f1", "average_precision", "roc_auc", *CALIBRATED, "fit_seconds")
LOWER_IS_BETTER = ("fit_seconds", *CALIBRATED)
RELIABILITY_PEERS = ("BalancedRandomForest", "LightGBM")  # drawn beside the default ensemble
LABELS = {"balanced_accuracy": "balanced acc.", "g_mean": "G-mean", "macro_f1": "macro-F1",
          "average_precision": "avg. precision", "roc_auc": "ROC-AUC", "mcc": "MCC", "fit_seconds": "fit s",
          "brier": "Brier", "log_loss": "log-loss", "calibration_error": "ECE"}


def member_names() -> list[str]:
    from imbalance_flows.tasks.model.spec import default_members

    return [f"member {spec.name}" for spec in default_members()]


def product_signature() -> str:
    """A digest of the product's code: cached results of the product's models are reused only while it holds."""
    import glob
    import hashlib

    root = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tasks")
    digest = hashlib.sha256()
    for path in sorted(glob.glob(os.path.join(root, "**", "*.py"), recursive=True)):
        with open(path, "rb") as handle:
            digest.update(os.path.relpath(path, root).encode() + handle.read())
    return digest.hexdigest()[:16]


def learner_names(with_spe: bool) -> list[str]:
    return [DEFAULT, *member_names(), *BASELINES, *([SPE] if with_spe else [])]


# --------------------------------------------------------------------------------------------
# models


def product_model(name: str):
    """The default ensemble, or one default member alone, as the product builds them."""
    from imbalance_flows import default_ensemble, default_members
    from imbalance_flows.tasks.model.ensemble import VotingEnsemble

    if name == DEFAULT:
        return default_ensemble(random_state=SEED, n_jobs=-1)
    if name in VARIANTS or name in BOOSTER_VARIANTS:
        params = {"n_jobs": -1, **{**VARIANTS, **BOOSTER_VARIANTS}[name]}
        if "members" in params:
            params["members"] = [member_spec(member) for member in params["members"]]
        return default_ensemble(random_state=SEED, **params)
    spec = {f"member {s.name}": s for s in default_members()}[name]
    return VotingEnsemble(members=[spec], random_state=SEED)


def member_spec(member):
    """A recipe's member: the short form `SAMPLER:LEARNER`, or a dict spec (for learner parameters)."""
    from imbalance_flows import MemberSpec

    return MemberSpec.parse(member) if isinstance(member, str) else MemberSpec.model_validate(member)


def member_text(member) -> str:
    """A recipe's member as the report writes it: the short form, with a dict spec's learner parameters."""
    if isinstance(member, str):
        return member
    params = json.dumps(member.get("learner_params", {}))
    return f"{member_spec(member).name} (learner_params {params})"


def prepare_step(X):
    """Median-impute numbers; most-frequent-impute and ordinal-code categories (unknown -> -1)."""
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    numeric = [c for c in X.columns if pd.api.types.is_numeric_dtype(X[c])]
    categorical = [c for c in X.columns if c not in numeric]
    return ColumnTransformer([
        ("numeric", SimpleImputer(strategy="median"), numeric),
        ("categorical", Pipeline([
            ("impute", SimpleImputer(strategy="most_frequent")),
            ("code", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)),
        ]), categorical),
    ])


def baseline_model(name: str, X):
    from imblearn.ensemble import (
        BalancedBaggingClassifier,
        BalancedRandomForestClassifier,
        EasyEnsembleClassifier,
        RUSBoostClassifier,
    )
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.pipeline import Pipeline

    learner = {
        "RandomForest": lambda: RandomForestClassifier(random_state=SEED),
        "HistGradientBoosting": lambda: HistGradientBoostingClassifier(random_state=SEED),
        "BalancedRandomForest": lambda: BalancedRandomForestClassifier(random_state=SEED),
        TIMING_ONLY: lambda: BalancedRandomForestClassifier(random_state=SEED, n_jobs=-1),
        "BalancedBagging": lambda: BalancedBaggingClassifier(random_state=SEED),
        "EasyEnsemble": lambda: EasyEnsembleClassifier(random_state=SEED),
        "RUSBoost": lambda: RUSBoostClassifier(random_state=SEED),
        "LightGBM": lambda: _lightgbm(),
        "XGBoost": lambda: BalancedXGBoost(random_state=SEED),
        "CatBoost": lambda: _catboost(),
    }[name]()
    return Pipeline([("prepare", prepare_step(X)), ("learn", learner)])


def _lightgbm():
    from lightgbm import LGBMClassifier

    return LGBMClassifier(class_weight="balanced", random_state=SEED, verbose=-1)


def _catboost():
    from catboost import CatBoostClassifier

    # allow_writing_files=False: no catboost_info/ folder of training logs in the working directory.
    return CatBoostClassifier(auto_class_weights="Balanced", random_seed=SEED, verbose=0, allow_writing_files=False)


class BalancedXGBoost(ClassifierMixin, BaseEstimator):
    """XGBoost with balanced class weights: `scale_pos_weight` for two classes, balanced sample weights for more.

    XGBoost learns class codes 0..k-1; this keeps the labels as given, as the other learners do.
    """

    def __init__(self, random_state=0):
        self.random_state = random_state

    def fit(self, X, y):
        from sklearn.utils.class_weight import compute_sample_weight
        from xgboost import XGBClassifier

        self.classes_, codes = np.unique(np.asarray(y), return_inverse=True)
        counts = np.bincount(codes)
        if len(self.classes_) == 2:
            self.model_ = XGBClassifier(random_state=self.random_state, scale_pos_weight=counts[0] / counts[1])
            self.model_.fit(X, codes)
        else:
            self.model_ = XGBClassifier(random_state=self.random_state)
            self.model_.fit(X, codes, sample_weight=compute_sample_weight("balanced", codes))
        return self

    def predict_proba(self, X):
        return self.model_.predict_proba(X)

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


def aligned(proba: np.ndarray, model_classes, classes: np.ndarray) -> np.ndarray:
    """Probabilities with columns in the order of `classes` (a class the model lacks gets 0)."""
    out = np.zeros((len(proba), len(classes)))
    position = {str(c): i for i, c in enumerate(classes)}
    for j, c in enumerate(model_classes):
        out[:, position[str(c)]] = proba[:, j]
    return out


def timed_fit(model, X, y) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    model.fit(X, y)
    return time.perf_counter() - wall, time.process_time() - cpu


def score(y_test, predicted, proba, classes) -> dict:
    from imbalance_flows.tasks.evaluation.metrics import evaluate

    predicted = np.asarray(predicted).ravel()  # CatBoost predicts a column
    result = evaluate(np.asarray(y_test), predicted, proba, classes)
    return {**{key: result[key] for key in (*METRICS, "per_class", "confusion_matrix")},
            "reliability": reliability(y_test, proba, classes)}


def reliability(y_test, proba, classes) -> dict | None:
    """Two classes: per bin of the minority class's probability (as the calibration error's bins), the rows,
    their summed probability and their summed true hits; pooled over folds and data sets for the plot."""
    from imbalance_flows.tasks.evaluation.metrics import CALIBRATION_BINS

    if len(classes) != 2:
        return None
    hits = (np.asarray(y_test).astype(str)[:, None] == np.asarray(classes).astype(str)[None, :]).astype(float)
    rarer = int(np.argmin(hits.sum(axis=0)))
    scores = np.asarray(proba, dtype=float)[:, rarer]
    binned = np.clip((scores * CALIBRATION_BINS).astype(int), 0, CALIBRATION_BINS - 1)
    return {"rows": np.bincount(binned, minlength=CALIBRATION_BINS).tolist(),
            "proba_sum": np.bincount(binned, scores, CALIBRATION_BINS).tolist(),
            "hit_sum": np.bincount(binned, hits[:, rarer], CALIBRATION_BINS).tolist()}


def run_product(name: str, X_train, y_train, X_test, y_test, classes) -> dict:
    model = product_model(name)
    wall, cpu = timed_fit(model, X_train, y_train)
    model.set_params(unknown_categories="ignore")  # scoring only: unseen categories read as missing
    tick = time.perf_counter()
    predicted = model.predict(X_test)
    proba = aligned(model.predict_proba(X_test), model.classes_, classes)
    result = score(y_test, predicted, proba, classes)
    result.update(fit_seconds=wall, fit_cpu_seconds=cpu, predict_seconds=time.perf_counter() - tick,
                  weights={s.name: float(w) for s, w in zip(model.specs_, model.weights_)},
                  validation_balanced_accuracy={s.name: v["balanced_accuracy"]
                                                for s, v in zip(model.specs_, model.validation_scores_)},
                  threshold=model.threshold_, positive_class=None if model.positive_class_ is None
                  else str(model.positive_class_))
    return result


def run_baseline(name: str, X_train, y_train, X_test, y_test, classes) -> dict:
    model = baseline_model(name, X_train)
    failure = None
    try:
        wall, cpu = timed_fit(model, X_train, y_train)
    except ValueError as error:
        # e.g. RUSBoost's stumps on several classes: "worse than random, ensemble can not be fit".
        # Scored as a class-prior guess (what a user is left with), and flagged.
        from sklearn.dummy import DummyClassifier

        failure = f"{type(error).__name__}: {error}"
        model.set_params(learn=DummyClassifier(strategy="prior"))
        wall, cpu = timed_fit(model, X_train, y_train)
    if name == TIMING_ONLY:
        return {"fit_seconds": wall, "fit_cpu_seconds": cpu}
    tick = time.perf_counter()
    predicted = model.predict(X_test)
    proba = aligned(model.predict_proba(X_test), model.classes_, classes)
    result = score(y_test, predicted, proba, classes)
    result.update(fit_seconds=wall, fit_cpu_seconds=cpu, predict_seconds=time.perf_counter() - tick)
    if failure:
        result["failed"] = failure
    return result


# --------------------------------------------------------------------------------------------
# SelfPacedEnsemble, in its own virtual environment (it needs an older scikit-learn)

SPE_WORKER = r"""
import sys, time, warnings
import numpy as np
warnings.filterwarnings("ignore")
from imbalanced_ensemble.ensemble import SelfPacedEnsembleClassifier
data = np.load(sys.argv[1])
out = {}
for key in sorted(k for k in data.files if k.startswith("Xtrain_")):
    fold = key.split("_", 1)[1]
    model = SelfPacedEnsembleClassifier(random_state=int(data["seed"]))
    wall, cpu = time.perf_counter(), time.process_time()
    model.fit(data[key], data["ytrain_" + fold])
    out["wall_" + fold] = np.float64(time.perf_counter() - wall)
    out["cpu_" + fold] = np.float64(time.process_time() - cpu)
    out["classes_" + fold] = np.asarray(model.classes_)
    out["pred_" + fold] = np.asarray(model.predict(data["Xtest_" + fold]))
    out["proba_" + fold] = np.asarray(model.predict_proba(data["Xtest_" + fold]))
np.savez(sys.argv[2], **out)
"""


def spe_available(python: str) -> tuple[bool, str]:
    if not os.path.exists(python):
        return False, f"{python} does not exist (set it up with: {SPE_SETUP})"
    probe = subprocess.run([python, "-c", "import imbalanced_ensemble.ensemble as e; e.SelfPacedEnsembleClassifier"],
                           capture_output=True, text=True, check=False)
    if probe.returncode:
        return False, f"imbalanced_ensemble does not import in {python}: {probe.stderr.strip().splitlines()[-1]}"
    return True, "ok"


def run_spe(python: str, folds: dict) -> dict:
    """Fit SelfPacedEnsemble on several folds in one call of the other interpreter.

    `folds` maps fold -> (X_train, y_train codes, X_test, y_test, classes); returns fold -> result.
    """
    arrays, prep = {"seed": np.int64(SEED)}, {}
    for k, (X_train, codes, X_test, _, _) in folds.items():
        prepare = prepare_step(X_train)
        wall, cpu = time.perf_counter(), time.process_time()
        arrays[f"Xtrain_{k}"] = np.asarray(prepare.fit_transform(X_train), dtype=float)
        prep[k] = (time.perf_counter() - wall, time.process_time() - cpu)
        arrays[f"ytrain_{k}"] = codes
        arrays[f"Xtest_{k}"] = np.asarray(prepare.transform(X_test), dtype=float)
    with tempfile.TemporaryDirectory() as tmp:
        source, target = os.path.join(tmp, "in.npz"), os.path.join(tmp, "out.npz")
        np.savez(source, **arrays)
        done = subprocess.run([python, "-c", SPE_WORKER, source, target], capture_output=True, text=True, check=False)
        if done.returncode:
            raise RuntimeError(f"SelfPacedEnsemble worker failed: {done.stderr[-2000:]}")
        with np.load(target) as out:
            out = {key: out[key] for key in out.files}
    results = {}
    for k, (_, _, _, y_test, classes) in folds.items():
        model_classes = [classes[int(c)] for c in out[f"classes_{k}"]]
        predicted = np.asarray(model_classes)[np.searchsorted(out[f"classes_{k}"], out[f"pred_{k}"])]
        proba = aligned(out[f"proba_{k}"], model_classes, classes)
        result = score(y_test, predicted, proba, classes)
        result.update(fit_seconds=float(out[f"wall_{k}"]) + prep[k][0],
                      fit_cpu_seconds=float(out[f"cpu_{k}"]) + prep[k][1], predict_seconds=None)
        results[k] = result
    return results


# --------------------------------------------------------------------------------------------
# the run, one (data set, fold) at a time, cached


def cache_file(cache_dir: str, dataset: str, fold: int, n_folds: int) -> str:
    return os.path.join(cache_dir, f"{dataset}-fold{fold}of{n_folds}.json")


def read_json(path: str) -> dict:
    if not os.path.exists(path):
        return {}
    with open(path) as handle:
        return json.load(handle)


def write_json(path: str, payload: dict) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    staging = path + ".tmp"
    with open(staging, "w") as handle:
        json.dump(payload, handle, indent=1, default=_plain)
    os.replace(staging, path)


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(type(value))


def unseen_categories(X_train, X_test) -> int:
    import pandas as pd

    count = 0
    for column in X_train.columns:
        if not pd.api.types.is_numeric_dtype(X_train[column]):
            known = set(X_train[column].dropna())
            count += int((X_test[column].notna() & ~X_test[column].isin(known)).sum())
    return count


def run_dataset(dataset: str, n_folds: int, cache_dir: str, learners: list[str], spe_python: str | None,
                log) -> list[dict]:
    from sklearn.model_selection import StratifiedKFold

    from bench.datasets import load

    X, y = load(dataset)
    classes = np.asarray(sorted(y.unique().tolist()))
    splits = list(StratifiedKFold(n_folds, shuffle=True, random_state=SEED).split(X, y))
    wanted = [name for name in learners if name != SPE] + list(VARIANTS) + list(BOOSTER_VARIANTS) + [TIMING_ONLY]
    records, spe_jobs = {}, {}
    signature = product_signature()
    for fold, (train, test) in enumerate(splits):
        path = cache_file(cache_dir, dataset, fold, n_folds)
        record = read_json(path) or {"dataset": dataset, "fold": fold, "n_folds": n_folds, "learners": {}}
        if record.get("product_signature") != signature:
            # The product changed: refit its models, and BalancedRandomForest, the fit-time reference,
            # so that the time ratio compares fits timed in the same run on the same machine state.
            record["learners"] = {name: got for name, got in record["learners"].items()
                                  if name not in (DEFAULT, "BalancedRandomForest", TIMING_ONLY)
                                  and not name.startswith(("member ", DEFAULT))}
            record["product_signature"] = signature
        X_train, y_train = X.iloc[train].reset_index(drop=True), y.iloc[train].reset_index(drop=True)
        X_test, y_test = X.iloc[test].reset_index(drop=True), y.iloc[test].reset_index(drop=True)
        record.update(n_train=len(train), n_test=len(test), classes=classes.tolist(),
                      unseen_test_categories=unseen_categories(X_train, X_test))
        for name in wanted:
            if _cached(record, name):
                continue
            started = time.perf_counter()
            runner = run_product if name.startswith((DEFAULT, "member ")) else run_baseline
            got = runner(name, X_train, y_train, X_test, y_test, classes)
            got["elapsed_seconds"] = time.perf_counter() - started  # fit, predict and scoring
            record["learners"][name] = got
            write_json(path, record)
            log(f"  {dataset} fold {fold} {name}: BA {got.get('balanced_accuracy', float('nan')):.3f} "
                f"fit {got['fit_seconds']:.2f}s ({time.perf_counter() - started:.1f}s)")
        if SPE in learners and not _cached(record, SPE):
            codes = np.searchsorted(classes, y_train.to_numpy().astype(str))
            spe_jobs[fold] = (X_train, codes, X_test, y_test, classes)
        records[fold] = record
    if spe_jobs:
        started = time.perf_counter()
        spe_results = run_spe(spe_python, spe_jobs)
        for fold, result in spe_results.items():
            result["elapsed_seconds"] = (time.perf_counter() - started) / len(spe_results)
            records[fold]["learners"][SPE] = result
            write_json(cache_file(cache_dir, dataset, fold, n_folds), records[fold])
            log(f"  {dataset} fold {fold} {SPE}: BA {result['balanced_accuracy']:.3f} fit {result['fit_seconds']:.2f}s")
    return [records[fold] for fold in range(n_folds)]


def _cached(record: dict, name: str) -> bool:
    """A learner's result on this fold is in the cache, with every metric (results from before the
    calibration metrics are refitted)."""
    got = record["learners"].get(name)
    return got is not None and (name == TIMING_ONLY or "brier" in got)


# --------------------------------------------------------------------------------------------
# analysis


def dataset_info(dataset: str) -> dict:
    import pandas as pd

    from bench.datasets import load

    X, y = load(dataset)
    counts = y.value_counts()
    return {"rows": len(X), "features": X.shape[1],
            "categorical": int(sum(not pd.api.types.is_numeric_dtype(X[c]) for c in X.columns)),
            "classes": len(counts), "imbalance_ratio": float(counts.max() / counts.min()),
            "class_counts": {str(k): int(v) for k, v in counts.items()}}


def summarise(folds: list[dict], learners: list[str]) -> dict:
    """Mean and standard deviation over folds of each learner's metrics on one data set."""
    out = {}
    for name in learners:
        rows = [f["learners"][name] for f in folds]
        entry = {}
        for metric in (*METRICS, "fit_seconds", "fit_cpu_seconds"):
            values = np.array([np.nan if r.get(metric) is None else r[metric] for r in rows], dtype=float)
            entry[metric] = float(np.nanmean(values)) if np.isfinite(values).any() else None
            entry[f"{metric}_std"] = float(np.nanstd(values)) if np.isfinite(values).any() else None
        out[name] = entry
    timing = [f["learners"][TIMING_ONLY] for f in folds]
    out[TIMING_ONLY] = {"fit_seconds": float(np.mean([t["fit_seconds"] for t in timing])),
                        "fit_cpu_seconds": float(np.mean([t["fit_cpu_seconds"] for t in timing]))}
    return out


def average_ranks(per_dataset: dict, learners: list[str]) -> tuple[dict, dict, dict]:
    """Average rank per metric (1 = best; ties averaged), per-data-set ranks, and means over data sets."""
    from scipy.stats import rankdata

    ranks, by_dataset, means = {}, {}, {}
    for metric in RANKED:
        table = np.array([[per_dataset[d]["learners"][n][metric] for n in learners] for d in per_dataset],
                         dtype=float)
        sign = 1.0 if metric in LOWER_IS_BETTER else -1.0
        rank = np.vstack([rankdata(sign * row, method="average") for row in table])
        ranks[metric] = {n: float(rank[:, j].mean()) for j, n in enumerate(learners)}
        by_dataset[metric] = {d: {n: float(rank[i, j]) for j, n in enumerate(learners)}
                              for i, d in enumerate(per_dataset)}
        means[metric] = {n: float(np.nanmean(table[:, j])) for j, n in enumerate(learners)}
    return ranks, by_dataset, means


def best_rank(ranks: dict, learners: list[str], metrics: tuple[str, ...]) -> dict:
    """Does the default ensemble have the best average rank on each of `metrics`? With the runner-up."""
    goal = {}
    for metric in metrics:
        order = sorted(learners, key=lambda n: ranks[metric][n])
        others = [n for n in order if n != DEFAULT]
        goal[metric] = {"default_rank": ranks[metric][DEFAULT], "position": order.index(DEFAULT) + 1,
                        "best_other": others[0], "best_other_rank": ranks[metric][others[0]],
                        "pass": ranks[metric][DEFAULT] < ranks[metric][others[0]]}
    return {**goal, "pass": all(v["pass"] for v in goal.values())}


def check_goals(per_dataset: dict, ranks: dict, means: dict, learners: list[str]) -> dict:
    members = [n for n in learners if n.startswith("member ")]
    names = list(per_dataset)
    goals = {}

    # (1) best average rank on balanced accuracy and on G-mean
    goals["1_best_average_rank"] = best_rank(ranks, learners, ("balanced_accuracy", "g_mean"))

    # (2) worse than its best single member on at most one data set in five
    two = {"limit": len(names) // 5, "n_datasets": len(names)}
    for metric in ("balanced_accuracy", "g_mean"):
        losses = []
        for d in names:
            row = per_dataset[d]["learners"]
            best = max(members, key=lambda n: row[n][metric])
            if row[best][metric] > row[DEFAULT][metric]:
                losses.append({"dataset": d, "member": best, "member_value": row[best][metric],
                               "default_value": row[DEFAULT][metric],
                               "gap": row[best][metric] - row[DEFAULT][metric]})
        # The stricter reading above takes the best member per data set; also the one member best overall.
        overall = min(members, key=lambda n: ranks[metric][n])
        losses_overall = [d for d in names
                          if per_dataset[d]["learners"][overall][metric] > per_dataset[d]["learners"][DEFAULT][metric]]
        two[metric] = {"losses": losses, "count": len(losses), "share": len(losses) / len(names),
                       "pass": len(losses) / len(names) <= 0.2,
                       "best_member_overall": overall, "losses_to_best_member_overall": losses_overall}
    two["pass"] = two["balanced_accuracy"]["pass"] and two["g_mean"]["pass"]
    goals["2_not_worse_than_best_member"] = two

    # (3) mean average precision no worse than plain RandomForest's
    ap_default, ap_rf = means["average_precision"][DEFAULT], means["average_precision"]["RandomForest"]
    wins = sum(per_dataset[d]["learners"][DEFAULT]["average_precision"]
               >= per_dataset[d]["learners"]["RandomForest"]["average_precision"] for d in names)
    goals["3_average_precision_vs_random_forest"] = {
        "default": ap_default, "random_forest": ap_rf, "difference": ap_default - ap_rf,
        "datasets_at_least_rf": int(wins), "pass": ap_default >= ap_rf}

    # (4) fit time within 3x BalancedRandomForest's
    per = {}
    for d in names:
        row = per_dataset[d]["learners"]
        per[d] = {"default_s": row[DEFAULT]["fit_seconds"], "brf_s": row["BalancedRandomForest"]["fit_seconds"],
                  "ratio": row[DEFAULT]["fit_seconds"] / row["BalancedRandomForest"]["fit_seconds"],
                  "cpu_ratio": row[DEFAULT]["fit_cpu_seconds"] / row["BalancedRandomForest"]["fit_cpu_seconds"],
                  "ratio_vs_brf_all_cores": row[DEFAULT]["fit_seconds"] / row[TIMING_ONLY]["fit_seconds"]}
    total_default = sum(p["default_s"] for p in per.values())
    total_brf = sum(p["brf_s"] for p in per.values())
    total_brf_all = sum(per_dataset[d]["learners"][TIMING_ONLY]["fit_seconds"] for d in names)
    total_cpu = (sum(per_dataset[d]["learners"][DEFAULT]["fit_cpu_seconds"] for d in names)
                 / sum(per_dataset[d]["learners"]["BalancedRandomForest"]["fit_cpu_seconds"] for d in names))
    ratios = np.array([p["ratio"] for p in per.values()])
    goals["4_fit_time_vs_balanced_random_forest"] = {
        "per_dataset": per, "overall_ratio": total_default / total_brf,
        "geometric_mean_ratio": float(np.exp(np.mean(np.log(ratios)))),
        "median_ratio": float(np.median(ratios)), "max_ratio": float(ratios.max()),
        "datasets_over_3": [d for d, p in per.items() if p["ratio"] > 3],
        "overall_cpu_ratio": total_cpu, "overall_ratio_vs_brf_all_cores": total_default / total_brf_all,
        "default_total_s": total_default, "brf_total_s": total_brf,
        "pass": total_default / total_brf <= 3 and not (ratios > 3).any()}

    # (5) calibrated probabilities: best average rank on Brier score and on log-loss
    goals["5_best_calibration_rank"] = best_rank(ranks, learners, ("brier", "log_loss"))

    # (6) against what a practitioner picks first: balanced accuracy above the best other learner's
    # (the one with the best average rank) on at least 70 % of the data sets; average precision rank
    # no worse than any single learner's
    others = [n for n in learners if n != DEFAULT]
    best_other = min(others, key=lambda n: ranks["balanced_accuracy"][n])
    above = [d for d in names if per_dataset[d]["learners"][DEFAULT]["balanced_accuracy"]
             > per_dataset[d]["learners"][best_other]["balanced_accuracy"]]
    above_each = [d for d in names if per_dataset[d]["learners"][DEFAULT]["balanced_accuracy"]
                  > max(per_dataset[d]["learners"][n]["balanced_accuracy"] for n in others)]
    best_ap = min(others, key=lambda n: ranks["average_precision"][n])
    six = {"best_other": best_other, "datasets_above": len(above), "share_above": len(above) / len(names),
           "datasets_not_above": [d for d in names if d not in above],
           "datasets_above_every_other": len(above_each),
           "ap_rank": ranks["average_precision"][DEFAULT], "best_other_ap": best_ap,
           "best_other_ap_rank": ranks["average_precision"][best_ap]}
    six["pass_ba"] = six["share_above"] >= 0.7
    six["pass_ap"] = six["ap_rank"] <= six["best_other_ap_rank"]
    six["pass"] = six["pass_ba"] and six["pass_ap"]
    goals["6_beats_the_first_pick"] = six

    # (7) never the slow choice: fit time at most BalancedRandomForest's, geometric mean over data sets
    geometric = goals["4_fit_time_vs_balanced_random_forest"]["geometric_mean_ratio"]
    goals["7_fit_time_at_most_balanced_random_forest"] = {"geometric_mean_ratio": geometric, "pass": geometric <= 1.0}
    return goals


def variant_summary(per_dataset: dict, variants: dict | None = None) -> dict:
    """The default ensemble against its variants (other calibrations, a fixed class prior power, other recipes;
    `VARIANTS` unless given): average ranks among them and means, over all data sets and over the multi-class
    ones."""
    from scipy.stats import rankdata

    names = [DEFAULT, *(VARIANTS if variants is None else variants)]
    out = {"ranks": {}, "means": {}, "multiclass_means": {}}
    multi = [d for d, e in per_dataset.items() if e["info"]["classes"] > 2]
    for metric in ("balanced_accuracy", "g_mean", "average_precision", *CALIBRATED):
        table = np.array([[per_dataset[d]["learners"][n][metric] for n in names] for d in per_dataset], dtype=float)
        sign = 1.0 if metric in LOWER_IS_BETTER else -1.0
        rank = np.vstack([rankdata(sign * row, method="average") for row in table])
        out["ranks"][metric] = {n: float(rank[:, j].mean()) for j, n in enumerate(names)}
        out["means"][metric] = {n: float(np.nanmean(table[:, j])) for j, n in enumerate(names)}
        out["multiclass_means"][metric] = {
            n: float(np.nanmean([per_dataset[d]["learners"][n][metric] for d in multi])) for n in names}
    out["n_multiclass"] = len(multi)
    # Fit time against BalancedRandomForest's, as goal 4 measures it (sum over data sets; worst data set).
    brf = {d: e["learners"]["BalancedRandomForest"]["fit_seconds"] for d, e in per_dataset.items()}
    out["fit_ratio"] = {n: sum(e["learners"][n]["fit_seconds"] for e in per_dataset.values()) / sum(brf.values())
                        for n in names}
    out["fit_ratio_max"] = {n: max(e["learners"][n]["fit_seconds"] / brf[d] for d, e in per_dataset.items())
                            for n in names}
    return out


BOOSTER_GOAL_METRICS = ("balanced_accuracy", "g_mean")


def booster_summary(per_dataset: dict) -> dict:
    """The default ensemble against the recipes with boosters as members (`BOOSTERS_AS_MEMBERS`): ranks among these
    and means as `variant_summary`, the data sets where each is above the default, and the verdict: a recipe beats
    the default when its average rank is better and its mean higher on balanced accuracy and on G-mean."""
    out = variant_summary(per_dataset, BOOSTER_VARIANTS)
    out["n_datasets"] = len(per_dataset)
    out["above_default"], out["beats_default"], out["ahead_on"] = {}, {}, {}
    for n in BOOSTER_VARIANTS:
        out["above_default"][n] = {m: [d for d, e in per_dataset.items()
                                       if e["learners"][n][m] > e["learners"][DEFAULT][m]]
                                   for m in BOOSTER_GOAL_METRICS}
        ahead = [f"{m} {kind}" for m in BOOSTER_GOAL_METRICS for kind, better in (
            ("rank", out["ranks"][m][n] < out["ranks"][m][DEFAULT]),
            ("mean", out["means"][m][n] > out["means"][m][DEFAULT])) if better]
        out["ahead_on"][n] = ahead
        out["beats_default"][n] = len(ahead) == 2 * len(BOOSTER_GOAL_METRICS)
    out["winners"] = [n for n in BOOSTER_VARIANTS if out["beats_default"][n]]
    return out


# --------------------------------------------------------------------------------------------
# report


def fmt(value, digits=3) -> str:
    return "—" if value is None or (isinstance(value, float) and not np.isfinite(value)) else f"{value:.{digits}f}"


def write_markdown(path: str, report: dict) -> None:
    meta, goals = report["meta"], report["goals"]
    learners = meta["learners"]
    ranks, means, per_dataset = report["average_ranks"], report["means"], report["per_dataset"]
    order = sorted(learners, key=lambda n: (ranks["balanced_accuracy"][n] + ranks["g_mean"][n]) / 2)
    lines = [
        "# Quality benchmark: the default ensemble against its members and imbalance learners",
        "",
        f"Run {meta['date']} on {meta['machine']}; {meta['versions']}.",
        "",
        "Reproduce (from the repository root; resumable, per-fold results cached in "
        f"`{meta['cache_dir']}/`):",
        "",
        "```",
        meta["command"],
        "```",
        "",
        f"Runtime: {meta['runtime_minutes']:.1f} min wall for the invocation that wrote this report; the fits, "
        f"predictions and scoring of every learner on every fold (summed from the cache, whichever invocation did "
        f"them) take {meta['work_minutes']:.1f} min. One process, one fit at a time: the default ensemble, its members and "
        "HistGradientBoosting use both cores (as users get them, `n_jobs=None`); RandomForest and the "
        "imbalanced-learn learners use one (their default `n_jobs=None`).",
        "",
        f"Protocol: `StratifiedKFold({meta['n_folds']}, shuffle=True, random_state=0)` on the "
        f"{len(per_dataset)} data sets of `bench/datasets.py`; every learner fitted on the outer-train part, "
        "scored on the outer-test part; per data set the mean over folds; ranks over data sets (1 = best, ties "
        "averaged) among the learners below. Metrics from `imbalance_flows.tasks.evaluation.metrics.evaluate`: average precision is the "
        "minority class's for two classes and the macro mean over classes (one-vs-rest) for several; ROC-AUC "
        "one-vs-rest macro for several classes.",
        "",
        "Learners: **default ensemble** = `imbalance_flows.default_ensemble(random_state=0)` fitted on the DataFrames as "
        "loaded (it imputes and codes categories itself); `member …` = "
        "`VotingEnsemble(members=[spec], random_state=0)` for each spec of `default_members()` (fitted on all "
        "outer-train rows, G-mean threshold from out-of-fold predictions, as in the ensemble); baselines with `random_state=0` and library "
        "defaults, behind median / most-frequent imputation and an OrdinalEncoder (unknown → -1), predicting by "
        "argmax. Test-fold categories unseen in training: "
        f"{meta['unseen_test_categories']} cells in all; the product models score them with "
        "`unknown_categories=\"ignore\"` (read as missing), set after the fit.",
        "",
        f"SelfPacedEnsemble (imbalanced-ensemble): **{meta['spe']['status']}**. {meta['spe']['note']}",
        "",
        "Fits that failed (scored as a class-prior guess, `DummyClassifier(strategy=\"prior\")`, behind the same "
        "preprocessing, and counted in the ranks as such): "
        + ("; ".join(sorted({f"{x['learner']} on {x['dataset']} ({sum(1 for y in meta['failures'] if (y['learner'], y['dataset']) == (x['learner'], x['dataset']))} of {meta['n_folds']} folds: {x['error']})" for x in meta["failures"]}))
           or "none") + ".",
        "",
        "## Goals of the issue",
        "",
    ]
    g1, g2, g3, g4 = (goals[k] for k in ("1_best_average_rank", "2_not_worse_than_best_member",
                                           "3_average_precision_vs_random_forest",
                                           "4_fit_time_vs_balanced_random_forest"))
    verdict = lambda ok: "**PASS**" if ok else "**FAIL**"

    def rank_lines(goal: dict) -> list[str]:
        return [f"   * {LABELS[metric]}: default {v['default_rank']:.2f} (position {v['position']} of "
                f"{len(learners)}); best other `{v['best_other']}` {v['best_other_rank']:.2f} — {verdict(v['pass'])}"
                for metric, v in goal.items() if metric != "pass"]

    lines.append(f"1. Best average rank on balanced accuracy and on G-mean: {verdict(g1['pass'])}.")
    lines += rank_lines(g1)
    lines.append(f"2. Worse than its best single member on at most one data set in five (≤ {g2['limit']} of "
                 f"{g2['n_datasets']}; best member taken per data set): {verdict(g2['pass'])}.")
    for metric in ("balanced_accuracy", "g_mean"):
        v = g2[metric]
        detail = "; ".join(f"{x['dataset']} (`{x['member']}` {x['member_value']:.3f} vs {x['default_value']:.3f}, "
                           f"−{x['gap']:.3f})" for x in sorted(v["losses"], key=lambda x: -x["gap"]))
        lines.append(f"   * {LABELS[metric]}: {v['count']} of {g2['n_datasets']} ({v['share']:.0%}) — "
                     f"{verdict(v['pass'])}{': ' + detail if detail else ''}. Against the one member best "
                     f"overall (`{v['best_member_overall']}`): {len(v['losses_to_best_member_overall'])} data sets.")
    lines.append(f"3. Mean average precision no worse than plain RandomForest's: {verdict(g3['pass'])} — "
                 f"{g3['default']:.4f} vs {g3['random_forest']:.4f} ({g3['difference']:+.4f}); at least RF's on "
                 f"{g3['datasets_at_least_rf']} of {len(per_dataset)} data sets.")
    over = ", ".join(f"{d} {g4['per_dataset'][d]['ratio']:.1f}×" for d in g4["datasets_over_3"]) or "none"
    lines.append(f"4. Fit time within 3× BalancedRandomForest's (per data set and overall): {verdict(g4['pass'])} — "
                 f"overall {g4['overall_ratio']:.2f}× ({g4['default_total_s']:.1f} s vs {g4['brf_total_s']:.1f} s "
                 f"summed over data sets of the mean per-fold fit), geometric mean of per-data-set ratios "
                 f"{g4['geometric_mean_ratio']:.2f}×, median {g4['median_ratio']:.2f}×, max {g4['max_ratio']:.2f}×; "
                 f"over 3×: {over}. For context: in CPU seconds {g4['overall_cpu_ratio']:.2f}× (the ensemble uses "
                 f"both cores, BalancedRandomForest one by default); against BalancedRandomForest with "
                 f"`n_jobs=-1` (same trees) {g4['overall_ratio_vs_brf_all_cores']:.2f}× in wall time.")
    g5, g6 = goals["5_best_calibration_rank"], goals["6_beats_the_first_pick"]
    lines.append(f"5. Best average rank on Brier score and on log-loss (calibrated probabilities): "
                 f"{verdict(g5['pass'])}.")
    lines += rank_lines(g5)
    lines.append(f"6. Against the first pick: balanced accuracy above the best other learner's "
                 f"(`{g6['best_other']}`, best average rank) on at least 70 % of the data sets: "
                 f"{verdict(g6['pass_ba'])} — {g6['datasets_above']} of {len(per_dataset)} "
                 f"({g6['share_above']:.0%}); not above on {', '.join(g6['datasets_not_above']) or 'none'}. "
                 f"(Above every other learner at once: {g6['datasets_above_every_other']} data sets.) "
                 f"Average-precision rank no worse than any single learner's: {verdict(g6['pass_ap'])} — "
                 f"{g6['ap_rank']:.2f} against `{g6['best_other_ap']}` {g6['best_other_ap_rank']:.2f}. "
                 "Fit time: goal 4.")
    g7 = goals["7_fit_time_at_most_balanced_random_forest"]
    lines.append(f"7. Fit time at most BalancedRandomForest's (geometric mean of the per-data-set ratios): "
                 f"{verdict(g7['pass'])} — {g7['geometric_mean_ratio']:.2f}×.")
    lines += ["", "## Average ranks (1 = best) and means over data sets", "",
              f"Sorted by the mean of the balanced-accuracy and G-mean ranks; {len(per_dataset)} data sets, "
              f"{len(learners)} learners ranked together.", "",
              "| learner | " + " | ".join(LABELS[m] for m in RANKED) + " | mean BA | mean G-mean | mean macro-F1 | "
              "mean AP | mean ROC-AUC | mean Brier | mean log-loss | mean ECE | mean fit s |",
              "|---|" + "---:|" * (len(RANKED) + 9)]
    for n in order:
        name = f"**{n}**" if n == DEFAULT else n
        lines.append(f"| {name} | " + " | ".join(f"{ranks[m][n]:.2f}" for m in RANKED) + " | "
                     + " | ".join(fmt(means[m][n]) for m in ("balanced_accuracy", "g_mean", "macro_f1",
                                                             "average_precision", "roc_auc"))
                     + " | " + " | ".join(fmt(means[m][n], 4) for m in CALIBRATED)
                     + f" | {means['fit_seconds'][n]:.2f} |")
    lines += ["", "Brier score and calibration error (ECE, 15 equal-width bins) are of the minority class's "
              "probability for two classes; for several classes, the multi-class Brier score (squared error summed "
              "over classes) and the ECE of the top class's probability. Log-loss of the true class's probability "
              "(below 1e-15 read as 1e-15). Smaller is better for all three.", ""]
    lines += variant_lines(report)
    lines += booster_lines(report)
    lines += ["", "## Balanced accuracy per data set (mean of the folds; best in bold)", ""]
    short = {n: n.replace("member ", "") for n in learners}
    lines.append("| data set | rows | classes | IR | " + " | ".join(f"`{short[n]}`" if n.startswith("member ")
                                                                     else short[n] for n in order) + " |")
    lines.append("|---|---:|---:|---:|" + "---:|" * len(order))
    for d, entry in per_dataset.items():
        values = {n: entry["learners"][n]["balanced_accuracy"] for n in order}
        best = max(values.values())
        info = entry["info"]
        lines.append(f"| {d} | {info['rows']} | {info['classes']} | {info['imbalance_ratio']:.1f} | "
                     + " | ".join(f"**{v:.3f}**" if v == best else f"{v:.3f}" for v in values.values()) + " |")
    lines.append("| mean | | | | " + " | ".join(f"{means['balanced_accuracy'][n]:.3f}" for n in order) + " |")
    lines += ["", "## G-mean, average precision and fit seconds per data set (default ensemble vs the best others)",
              ""]
    compare = [DEFAULT, "BalancedRandomForest", "RandomForest", "EasyEnsemble"] + ([SPE] if SPE in learners else [])
    lines.append("| data set | " + " | ".join(f"G-mean {short[n]}" for n in compare) + " | "
                 + " | ".join(f"AP {short[n]}" for n in compare) + " | fit s default | fit s BRF | ratio |")
    lines.append("|---|" + "---:|" * (2 * len(compare) + 3))
    for d, entry in per_dataset.items():
        row = entry["learners"]
        p = g4["per_dataset"][d]
        lines.append(f"| {d} | " + " | ".join(fmt(row[n]["g_mean"]) for n in compare) + " | "
                     + " | ".join(fmt(row[n]["average_precision"]) for n in compare)
                     + f" | {p['default_s']:.2f} | {p['brf_s']:.3f} | {p['ratio']:.1f}× |")
    lines += ["", "## Where the default ensemble loses (balanced accuracy, by more than 0.01)", ""]
    for d, entry in per_dataset.items():
        row = entry["learners"]
        ahead = sorted(((row[n]["balanced_accuracy"] - row[DEFAULT]["balanced_accuracy"], n) for n in learners
                        if n != DEFAULT and row[n]["balanced_accuracy"] > row[DEFAULT]["balanced_accuracy"] + 0.01),
                       reverse=True)
        if ahead:
            lines.append(f"* {d} (default {row[DEFAULT]['balanced_accuracy']:.3f}): "
                         + ", ".join(f"{n} +{gap:.3f}" for gap, n in ahead))
    lines += ["", "Full per-data-set and per-fold numbers (every metric, per class, confusion matrices, the "
              "ensemble's member weights and thresholds): `bench/results/quality.json`. Plot: "
              "`bench/results/quality.png`.", ""]
    with open(path, "w") as handle:
        handle.write("\n".join(lines))


def variant_lines(report: dict) -> list[str]:
    """The calibration methods and the class prior power, the default against its variants."""
    v = report["variants"]
    names = [DEFAULT, *VARIANTS]
    metrics = ("balanced_accuracy", "g_mean", "average_precision", *CALIBRATED)
    lines = ["## Calibration, class prior power and plain/over/under recipes (the default ensemble against its "
             "variants)", "",
             "The same ensemble with each calibration of its weighted mean (fitted on the out-of-fold "
             "predictions, `imbalance_flows.tasks.model.calibrate`), and with the class prior power fixed at 0.5 instead "
             f"of tuned on the out-of-fold rows (several classes only: {v['n_multiclass']} data sets). Average rank "
             f"among these {len(names)} (1 = best) and mean over all data sets; the multi-class means last.", "",
             "Recipes: " + "; ".join(f"`{name}` = {', '.join(members)}" for name, members in PLAIN_OVER_UNDER.items())
             + ". Fit time: summed over data sets against BalancedRandomForest's (worst data set in brackets), as "
             "in goal 4.", "",
             "| variant | " + " | ".join(f"{LABELS[m]} rank" for m in metrics) + " | "
             + " | ".join(f"mean {LABELS[m]}" for m in metrics) + " | multi-class mean BA | multi-class mean "
             "log-loss | fit time vs BRF |", "|---|" + "---:|" * (2 * len(metrics) + 3)]
    for n in names:
        label = f"**{n}** (default)" if n == DEFAULT else n.replace(DEFAULT + " ", "")
        lines.append(f"| {label} | " + " | ".join(f"{v['ranks'][m][n]:.2f}" for m in metrics) + " | "
                     + " | ".join(fmt(v["means"][m][n], 4) for m in metrics)
                     + f" | {fmt(v['multiclass_means']['balanced_accuracy'][n])} | "
                     + f"{fmt(v['multiclass_means']['log_loss'][n], 4)} | "
                     + f"{v['fit_ratio'][n]:.2f}× ({v['fit_ratio_max'][n]:.2f}×) |")
    lines += ["", "Reliability diagram (two-class data sets pooled): `bench/results/quality-calibration.png`.", ""]
    return lines


def booster_lines(report: dict) -> list[str]:
    """The recipes with boosting libraries as members, the default against them, with the verdict from the numbers."""
    v, meta = report["boosters"], report["meta"]
    names = [DEFAULT, *BOOSTER_VARIANTS]
    label = {n: f"**{DEFAULT}** (default: {', '.join(default_recipe())})" if n == DEFAULT
             else n.replace(f"{DEFAULT} recipe=", "") for n in names}
    metrics = ("balanced_accuracy", "g_mean", "average_precision", *CALIBRATED)
    lines = ["## Boosters as members (the default ensemble against recipes with LightGBM, XGBoost, CatBoost)", "",
             ("Goal: does a boosting library (learners `lgbm`, `xgb`, `catboost`) earn a place among the default "
              "recipe's members? Each recipe is fitted as `VotingEnsemble(members=[...], random_state=0, n_jobs=-1)` "
              "on the same folds as the default. CatBoost members use `learner_params={\"iterations\": 300}` "
              "instead of CatBoost's default 1000 iterations, too slow for a member that is cross-fitted "
              "(5 out-of-fold fits and the final fit). Average rank among these "
              f"{len(names)} (1 = best) and mean over all {v['n_datasets']} data sets; the multi-class means "
              f"({v['n_multiclass']} data sets) last."), "",
             "Recipes: " + "; ".join(f"`{name}` = {', '.join(member_text(m) for m in members)}"
                                     for name, members in BOOSTERS_AS_MEMBERS.items())
             + ". Fit time: summed over data sets against BalancedRandomForest's (worst data set in brackets), as "
             "in goal 4. Above the default: data sets where the recipe's mean over folds is higher than the "
             "default's.", "",
             "| recipe | " + " | ".join(f"{LABELS[m]} rank" for m in metrics) + " | "
             + " | ".join(f"mean {LABELS[m]}" for m in metrics) + " | multi-class mean BA | multi-class mean "
             "log-loss | fit time vs BRF | BA above default | G-mean above default |",
             "|---|" + "---:|" * (2 * len(metrics) + 5)]
    for n in names:
        above = (["—", "—"] if n == DEFAULT else
                 [f"{len(v['above_default'][n][m])} of {v['n_datasets']}" for m in BOOSTER_GOAL_METRICS])
        lines.append(f"| {label[n]} | " + " | ".join(f"{v['ranks'][m][n]:.2f}" for m in metrics) + " | "
                     + " | ".join(fmt(v["means"][m][n], 4) for m in metrics)
                     + f" | {fmt(v['multiclass_means']['balanced_accuracy'][n])} | "
                     + f"{fmt(v['multiclass_means']['log_loss'][n], 4)} | "
                     + f"{v['fit_ratio'][n]:.2f}× ({v['fit_ratio_max'][n]:.2f}×) | " + " | ".join(above) + " |")
    ranks, means = v["ranks"], v["means"]
    reference = (f"the default's balanced-accuracy rank {ranks['balanced_accuracy'][DEFAULT]:.2f} and mean "
                 f"{means['balanced_accuracy'][DEFAULT]:.4f}, G-mean rank {ranks['g_mean'][DEFAULT]:.2f} and mean "
                 f"{means['g_mean'][DEFAULT]:.4f}")
    if v["winners"]:
        verdict = (f"**{len(v['winners'])} of {len(BOOSTER_VARIANTS)} booster recipes "
                   f"{'beats' if len(v['winners']) == 1 else 'beat'} the default** ("
                   + "; ".join(f"`{label[n]}`: balanced-accuracy rank {ranks['balanced_accuracy'][n]:.2f}, mean "
                               f"{means['balanced_accuracy'][n]:.4f}; G-mean rank {ranks['g_mean'][n]:.2f}, mean "
                               f"{means['g_mean'][n]:.4f}; fit time {v['fit_ratio'][n]:.2f}× BalancedRandomForest's"
                               + (", over goal 4's 3×" if v["fit_ratio"][n] > 3 or v["fit_ratio_max"][n] > 3 else "")
                               for n in v["winners"]) + f"; against {reference}).")
    else:
        verdict = f"**no booster recipe beats the default** ({reference})."
    partial = [n for n in BOOSTER_VARIANTS if v["ahead_on"][n] and not v["beats_default"][n]]
    if partial:
        verdict += " Ahead on part of it only: " + "; ".join(
            f"`{label[n]}` on {', '.join(LABELS[a.split()[0]] + ' ' + a.split()[1] for a in v['ahead_on'][n])}"
            for n in partial) + "."
    behind = [n for n in BOOSTER_VARIANTS if not v["ahead_on"][n]]
    if behind:
        verdict += (" Ahead on none of the four (balanced-accuracy and G-mean rank and mean): "
                    f"{', '.join(f'`{label[n]}`' for n in behind)}.")
    full = set(meta["datasets"]) == set(all_datasets()) and meta["n_folds"] == N_FOLDS
    if not full:
        decision = (f"This run covers {len(meta['datasets'])} data sets and {meta['n_folds']} folds only, not the "
                    f"benchmark's {len(all_datasets())} data sets and {N_FOLDS} folds: it says nothing for or against "
                    "the default recipe, which changes only if the numbers of a full run say so.")
    elif v["winners"]:
        decision = ("The default recipe changes only if the numbers say so: here they do, for the recipes that beat "
                    "it above.")
    else:
        decision = "The default recipe changes only if the numbers say so: here they do not, and it stays as it is."
    lines += ["", "A recipe beats the default when, among these recipes, its average rank is better and its mean "
              "over data sets higher on both balanced accuracy and G-mean. Verdict: " + verdict + " " + decision
              + " (The default recipe: `RECIPES[\"default\"]` in `tasks/model/spec.py`.)", ""]
    return lines


def default_recipe() -> list[str]:
    from imbalance_flows.tasks.model.spec import RECIPES

    return list(RECIPES["default"][1])


def all_datasets() -> list[str]:
    from bench.datasets import DATASETS

    return list(DATASETS)


def write_plot(path: str, report: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ranks, learners = report["average_ranks"], report["meta"]["learners"]
    metrics = ("balanced_accuracy", "g_mean", "average_precision")
    order = sorted(learners, key=lambda n: (ranks["balanced_accuracy"][n] + ranks["g_mean"][n]) / 2, reverse=True)
    fig, ax = plt.subplots(figsize=(10, 0.55 * len(order) + 1.8))
    height = 0.26
    colors = ("#1f77b4", "#ff7f0e", "#2ca02c")
    y = np.arange(len(order))
    for i, metric in enumerate(metrics):
        values = [ranks[metric][n] for n in order]
        bars = ax.barh(y + (1 - i) * height, values, height, label=LABELS[metric], color=colors[i])
        ax.bar_label(bars, labels=[f"{v:.1f}" for v in values], fontsize=7, padding=2)
    ax.set_yticks(y)
    ax.set_yticklabels(order, fontsize=9)
    for tick in ax.get_yticklabels():
        if tick.get_text() == DEFAULT:
            tick.set_fontweight("bold")
    ax.set_xlabel(f"average rank over {len(report['per_dataset'])} data sets (1 = best; shorter is better)")
    ax.set_title(f"Average rank per learner, stratified {report['meta']['n_folds']}-fold CV "
                 f"({report['meta']['date']})", pad=28)
    ax.set_xlim(0, len(learners) + 1.5)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, frameon=False)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def pooled_reliability(report: dict, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows, mean probability and observed rate per bin, pooled over every fold of the two-class data sets."""
    rows = proba = hits = 0
    for folds in report["per_fold"].values():
        for fold in folds:
            got = fold["learners"][name].get("reliability")
            if got:
                rows, proba, hits = (rows + np.asarray(got["rows"]), proba + np.asarray(got["proba_sum"]),
                                     hits + np.asarray(got["hit_sum"]))
    if np.isscalar(rows):  # no two-class data set in this run (e.g. a quick try on glass): nothing to draw
        return np.zeros(0), np.zeros(0), np.zeros(0)
    seen = rows > 0
    return rows[seen], proba[seen] / rows[seen], hits[seen] / rows[seen]


def write_reliability_plot(path: str, report: dict) -> None:
    """The reliability diagram of the default ensemble, its uncalibrated mean, and two peers."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [DEFAULT, f"{DEFAULT} calibration=none", *RELIABILITY_PEERS]
    fig, (ax, counts) = plt.subplots(2, 1, figsize=(7, 8), height_ratios=(3, 1), sharex=True)
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfectly calibrated")
    means = report["means"]
    for name, style in zip(names, ("o-", "s--", "^-", "v-")):
        rows, proba, rate = pooled_reliability(report, name)
        brier = means["brier"].get(name, report["variants"]["means"]["brier"].get(name))
        label = ("default ensemble (calibrated)" if name == DEFAULT else
                 "default ensemble, uncalibrated mean" if name.startswith(DEFAULT) else name)
        ax.plot(proba, rate, style, label=f"{label} (mean Brier, all data sets: {brier:.4f})", markersize=4)
        counts.plot(proba, rows, style, markersize=4)
    ax.set_ylabel("observed share of the minority class")
    binary = sum(entry["info"]["classes"] == 2 for entry in report["per_dataset"].values())
    ax.set_title(f"Reliability of the minority class's probability, {binary} two-class data sets pooled\n"
                 f"(15 equal bins; outer test folds, {report['meta']['date']})", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3)
    counts.set_yscale("log")
    counts.set_xlabel("predicted probability of the minority class (bin mean)")
    counts.set_ylabel("test rows in bin")
    counts.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# --------------------------------------------------------------------------------------------


def main(argv=None) -> int:
    from bench.datasets import DATASETS

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--folds", type=int, default=N_FOLDS, help="outer stratified folds (default 5)")
    parser.add_argument("--out", default=RESULTS, help="folder for quality.json/.md/.png and quality-cache/")
    parser.add_argument("--spe-python", default=SPE_PYTHON,
                        help="interpreter of a venv with imbalanced-ensemble ('' to skip SelfPacedEnsemble)")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    started = time.perf_counter()

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - started:7.1f}s] {message}", flush=True)

    spe_ok, spe_reason = spe_available(args.spe_python) if args.spe_python else (False, "skipped (--spe-python '')")
    learners = learner_names(spe_ok)
    log(f"{len(args.datasets)} data sets x {args.folds} folds; learners: {', '.join(learners)}; SPE: {spe_reason}")
    cache_dir = os.path.join(args.out, "quality-cache")
    per_dataset, per_fold, work = {}, {}, 0.0
    for dataset in args.datasets:
        tick = time.perf_counter()
        log(f"{dataset}")
        folds = run_dataset(dataset, args.folds, cache_dir, learners, args.spe_python if spe_ok else None, log)
        work += time.perf_counter() - tick
        per_fold[dataset] = folds
        per_dataset[dataset] = {"info": dataset_info(dataset), "learners": summarise(folds, [*learners, *VARIANTS, *BOOSTER_VARIANTS])}
    ranks, ranks_by_dataset, means = average_ranks(per_dataset, learners)
    goals = check_goals(per_dataset, ranks, means, learners)
    import imblearn
    import pandas
    import sklearn

    report = {
        "meta": {
            "date": RUN_DATE, "machine": f"{os.cpu_count()}-core {platform.machine()}, Python "
                                         f"{platform.python_version()}",
            "versions": f"scikit-learn {sklearn.__version__}, imbalanced-learn {imblearn.__version__}, "
                        f"pandas {pandas.__version__}, numpy {np.__version__}",
            "command": COMMAND + ("" if args.datasets == list(DATASETS) and args.folds == N_FOLDS
                                  else f" --datasets {' '.join(args.datasets)} --folds {args.folds}"),
            "n_folds": args.folds, "seed": SEED, "datasets": args.datasets, "learners": learners,
            "timing_only": TIMING_ONLY, "cache_dir": os.path.relpath(cache_dir),
            "spe": {"status": "ran" if spe_ok else "not run", "reason": spe_reason, "python": args.spe_python,
                    "setup": SPE_SETUP, "note": SPE_NOTE if spe_ok else spe_reason},
            "failures": [{"dataset": d, "fold": f["fold"], "learner": n, "error": v["failed"]}
                         for d, fs in per_fold.items() for f in fs for n, v in f["learners"].items() if v.get("failed")],
            "unseen_test_categories": int(sum(f["unseen_test_categories"] for fs in per_fold.values() for f in fs)),
            "runtime_minutes": (time.perf_counter() - started) / 60, "fitted_fold_minutes": work / 60,
            "work_minutes": sum(v.get("elapsed_seconds", 0.0) for fs in per_fold.values() for f in fs
                                for v in f["learners"].values()) / 60,
        },
        "goals": goals, "variants": variant_summary(per_dataset), "boosters": booster_summary(per_dataset),
        "average_ranks": ranks, "means": means, "ranks_by_dataset": ranks_by_dataset,
        "per_dataset": per_dataset, "per_fold": per_fold,
    }
    os.makedirs(args.out, exist_ok=True)
    write_json(os.path.join(args.out, "quality.json"), report)
    write_markdown(os.path.join(args.out, "quality.md"), report)
    write_plot(os.path.join(args.out, "quality.png"), report)
    write_reliability_plot(os.path.join(args.out, "quality-calibration.png"), report)
    for metric in ("balanced_accuracy", "g_mean", "average_precision"):
        top = sorted(learners, key=lambda n: ranks[metric][n])[:4]
        log(f"avg rank {metric}: " + ", ".join(f"{n} {ranks[metric][n]:.2f}" for n in top))
    log("goals: " + ", ".join(f"{k} {'PASS' if v['pass'] else 'FAIL'}" for k, v in goals.items()))
    log(f"wrote {args.out}/quality.json, quality.md, quality.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
