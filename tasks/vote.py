"""The voting ensemble: a scikit-learn classifier over imbalance-aware members."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from tasks.data import (Schema, check_features, check_finite, check_labels, check_rows_per_class, coerce, infer_schema,
                        stratified_indices)
from tasks.errors import InputError, preview
from tasks.members import MemberSpec
from tasks.train import encode_labels, fit_member, fit_out_of_fold, longest_first, member_proba, plan_concurrency

Voting = Literal["hard", "soft", "weighted"]
Validation = Literal["out_of_fold", "holdout"]
Objective = Literal["balanced_accuracy", "f1", "g_mean", "none"]
WEIGHT_STEPS = 5  # member weights are searched in fifths
EXHAUSTIVE_MEMBERS = 6  # up to 252 weightings tried; more members are weighed greedily


def default_members() -> list[MemberSpec]:
    """The default recipe: diverse learners, each seeing the imbalance differently.

    A plain forest, a forest on a balanced under-sample and a class-weighted linear
    model; all three give out-of-fold probabilities cheaply (two out of the bag, one
    by cross-fitting a fast learner). Chosen by bench/out_of_fold.py.
    """
    return [
        MemberSpec(sampler="none", learner="rf"),
        MemberSpec(sampler="random_under", learner="rf"),
        MemberSpec(sampler="class_weight", learner="logreg"),
    ]


def default_ensemble(random_state: int = 0, **params) -> "VotingEnsemble":
    """The default ensemble, unfitted; `params` override any of VotingEnsemble's."""
    return VotingEnsemble(random_state=random_state, **params)


class VotingEnsemble(ClassifierMixin, BaseEstimator):
    """Members trained on the same rows, each handling imbalance its own way, voting.

    `fit` fits the members side by side on all rows and predicts every row out of
    fold (out of the bag for forests, by cross-fitting otherwise); those predictions
    set each member's weight and, for two classes, the decision threshold. With
    validation="holdout" a stratified split is held out for that instead. Rows that
    judge a member are never among those it was fitted or resampled on.

    Parameters
    ----------
    members : list of MemberSpec or dict, default=None
        The members; None means `default_members()`.
    voting : {"hard", "soft", "weighted"}, default="weighted"
        Majority of labels, mean of probabilities, or weighted mean: the weights, in
        fifths, that make the best vote (threshold objective, balanced accuracy where it
        is "none") on the rows that judge the members, starting from and tied towards
        each member's balanced accuracy above chance on them.
    threshold_objective : {"balanced_accuracy", "f1", "g_mean", "none"}, default="g_mean"
        For two classes (soft or weighted voting), the score the decision threshold
        on the rarer class's probability is tuned for on the validation split.
    validation : {"out_of_fold", "holdout"}, default="out_of_fold"
        Where weights and threshold come from: every training row, predicted by a
        model that did not see it, or a held-out split of `validation_size` (members
        then train on the rest only). Out of fold costs no extra fits for forests and
        `folds` extra fits for any other member.
    validation_size : float, default=0.2
        Share of each class held out, for validation="holdout".
    folds : int, default=5
        Cross-fitting folds for out-of-fold predictions of members that are not forests.
    random_state : int, default=0
    n_jobs : int, default=None
        Members fitted at once; None uses every core, with each member's threads
        limited so that the cores are not oversubscribed.
    class_prior_power : float, default=0.5
        Without a tuned threshold (several classes), the vote goes to the class with the
        largest probability divided by its share of the training rows to this power:
        0 is the plain most-likely class; 0.5 lifts rare classes part of the way, which
        raised balanced accuracy and G-mean on every multi-class benchmark dataset
        (bench/results/quality.md); 1 fully corrects for class frequency.
    unknown_categories : {"error", "ignore"}, default="error"
        What scoring does with a category not seen in training: refuse, or treat it
        as missing.

    Attributes
    ----------
    classes_ : ndarray
    schema_ : Schema
    members_ : list of fitted pipelines
    specs_ : list of MemberSpec
    weights_ : ndarray of shape (n_members,)
    threshold_ : float or None
        Probability of `positive_class_` above which it is predicted (two classes only).
    class_prior_ : ndarray of shape (n_classes,)
        Each class's share of the training rows, for `class_prior_power`.
    positive_class_ : label or None
        The rarer class in training, for two-class problems.
    validation_scores_ : list of dict
        Each member's validation metrics that its weight came from.
    """

    def __init__(self, members=None, voting: Voting = "weighted", threshold_objective: Objective = "g_mean",
                 validation: Validation = "out_of_fold", validation_size: float = 0.2, folds: int = 5,
                 random_state: int = 0, n_jobs: int | None = None, class_prior_power: float = 0.5,
                 unknown_categories: Literal["error", "ignore"] = "error"):
        self.members = members
        self.voting = voting
        self.threshold_objective = threshold_objective
        self.validation = validation
        self.validation_size = validation_size
        self.folds = folds
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.class_prior_power = class_prior_power
        self.unknown_categories = unknown_categories

    def _specs(self) -> list[MemberSpec]:
        specs = default_members() if self.members is None else [
            m if isinstance(m, MemberSpec) else MemberSpec.model_validate(m) for m in self.members]
        if not specs:
            raise InputError("an ensemble needs at least one member", "the member list is empty",
                             "Leave members=None for the default recipe.")
        return specs

    def fit(self, X, y):
        """Fit the members, then weigh them (and tune the threshold) on rows they did not see."""
        positional = not isinstance(X, pd.DataFrame)
        X, y = _as_frame(X), _as_series(y)
        if len(X) != len(y):
            raise InputError("X and y must have the same number of rows", f"{len(X)} and {len(y)}",
                             "Pass the labels of exactly the rows of X.")
        check_labels(y)
        check_features(X)
        check_validation(self.validation, self.folds)
        schema = infer_schema(X, y)
        schema.positional = positional
        X = coerce(X, schema)
        specs = self._specs()
        if self.validation == "holdout":
            train, validation = stratified_indices(y.to_numpy(), [self.validation_size], self.random_state)
            fitted = self._fit_members(specs, lambda spec, threads: fit_member(
                spec, X.iloc[train], y.iloc[train], schema, self.random_state, threads))
            return self.combine([pipeline for pipeline, _ in fitted], specs, schema,
                                X.iloc[validation], y.iloc[validation])
        check_rows_per_class(y.to_numpy(), 2, "out-of-fold validation")
        fitted = self._fit_members(specs, lambda spec, threads: fit_out_of_fold(
            spec, X, y, schema, self.random_state, threads, self.folds))
        return self.combine_out_of_fold([pipeline for pipeline, _, _ in fitted], specs, schema, y,
                                        [proba for _, _, proba in fitted])

    def _fit_members(self, specs: list[MemberSpec], fit) -> list:
        """`fit(spec, threads)` for every member, side by side, in the members' order."""
        workers, threads = plan_concurrency(len(specs), self.n_jobs)
        # Thread limits are process-wide: members setting them side by side restore each
        # other's values out of order, so the limits found before fit are restored here.
        with threadpool_limits(limits=threads):
            order = longest_first(specs, self.folds if self.validation == "out_of_fold" else None)
            fitted_in_order = Parallel(n_jobs=workers, backend="threading")(
                delayed(fit)(specs[i], threads) for i in order)
        return [result for _, result in sorted(zip(order, fitted_in_order), key=lambda pair: pair[0])]

    def combine(self, fitted: list, specs: list[MemberSpec], schema: Schema, X_val: pd.DataFrame,
                y_val: pd.Series) -> "VotingEnsemble":
        """Adopt members fitted elsewhere and set weights and threshold on validation rows.

        This is how the training flow, which fits members as separate tasks, builds
        the very ensemble that `fit` builds with validation="holdout".
        """
        self._adopt(fitted, specs, schema)
        return self._settle([self._member_proba(member, X_val) for member in self.members_], y_val)

    def combine_out_of_fold(self, fitted: list, specs: list[MemberSpec], schema: Schema, y: pd.Series,
                            probas: list[np.ndarray]) -> "VotingEnsemble":
        """Adopt members fitted on rows `y`, with their out-of-fold probabilities of those rows.

        `probas` are in class-code order (as `tasks.train.fit_out_of_fold` gives them),
        one array of shape (len(y), n_classes) per member.
        """
        self._adopt(fitted, specs, schema)
        for spec, proba in zip(specs, probas):
            if np.shape(proba) != (len(y), len(schema.classes)):
                raise InputError("out-of-fold probabilities must have one row per training row and one "
                                 "column per class", f"member {spec.name} has shape {np.shape(proba)}, "
                                 f"expected {(len(y), len(schema.classes))}", "Pass fit_out_of_fold's output.")
        return self._settle([np.asarray(p, dtype=float) for p in probas], y)

    def _adopt(self, fitted: list, specs: list[MemberSpec], schema: Schema) -> None:
        self.schema_ = schema
        self.classes_ = np.asarray(schema.classes)
        self.specs_ = list(specs)
        self.members_ = list(fitted)
        self.n_features_in_ = len(schema.columns)
        if not schema.positional:
            self.feature_names_in_ = np.asarray(schema.names, dtype=object)

    def _settle(self, probas: list[np.ndarray], y_val) -> "VotingEnsemble":
        """Weights, class prior and threshold from the members' probabilities of rows they did not see."""
        codes = encode_labels(y_val, self.schema_)
        counts = np.bincount(codes, minlength=len(self.classes_))
        absent = np.flatnonzero(counts == 0)
        if len(absent):
            # No judged row of a class: its prior would be 0 (a division by zero in the vote)
            # and nothing would say how well the members find it.
            raise InputError("the rows that judge the members must include every class",
                             f"no row of class {preview(self.classes_[absent].tolist(), 5)} among {len(codes)}",
                             "Judge on a stratified split (tasks.data.stratified_indices) or on all training rows.")
        y_val = self.classes_[codes]  # the labels as predict returns them
        self.validation_scores_ = [
            {"balanced_accuracy": code_objective("balanced_accuracy", codes, p.argmax(1), len(self.classes_))}
            for p in probas]
        # Judged rows are stratified (or all of them), so their class shares are the training data's.
        self.class_prior_ = counts / len(codes)
        self.positive_class_, self.threshold_ = None, None
        if len(self.classes_) == 2 and self.voting != "hard" and self.threshold_objective != "none":
            self.positive_class_ = _rarer(y_val, self.classes_)
        self.weights_ = self._score_weights()
        if self.voting == "weighted" and len(probas) > 1:
            self.weights_ = self._search_weights(probas, codes, self.weights_)
        if self.positive_class_ is not None:
            self.threshold_ = self._best_cut(self.average(probas), codes)[0]
        return self

    def _score_weights(self) -> np.ndarray:
        """Each member's validation balanced accuracy above chance (weighted voting), or equal weights."""
        n = len(self.members_)
        if self.voting != "weighted":
            return np.ones(n) / n
        chance = 1.0 / len(self.classes_)
        above = np.array([max(s["balanced_accuracy"] - chance, 0.0) for s in self.validation_scores_])
        return above / above.sum() if above.sum() > 0 else np.ones(n) / n

    def _best_cut(self, proba: np.ndarray, codes: np.ndarray) -> tuple[float, float]:
        """The tuned threshold for these ensemble probabilities, and the objective it reaches."""
        column = int(np.flatnonzero(self.classes_ == self.positive_class_)[0])
        return best_cut(proba[:, column], codes == column, self.threshold_objective)

    def _judge(self, proba: np.ndarray, codes: np.ndarray) -> float:
        """The objective the ensemble's vote reaches on judged rows, its threshold tuned on them too."""
        if self.positive_class_ is not None:
            return self._best_cut(proba, codes)[1]
        objective = "balanced_accuracy" if self.threshold_objective == "none" else self.threshold_objective
        votes = (proba / self.class_prior_ ** self.class_prior_power).argmax(1)
        return code_objective(objective, codes, votes, len(self.classes_))

    def _search_weights(self, probas: list[np.ndarray], codes: np.ndarray, start: np.ndarray) -> np.ndarray:
        """Weights in steps of 1/WEIGHT_STEPS that make the best vote on the judged rows.

        Every such weighting is tried (21 for three members, 252 for six); with more than
        `EXHAUSTIVE_MEMBERS` members, the same steps are given out greedily, one at a time,
        to the member that helps most. `start` (balanced accuracy above chance) is kept
        unless a weighting votes better; among tied weightings the one closest to it wins.
        """
        stacked = np.stack(probas)
        judge = lambda weights: self._judge(np.tensordot(weights, stacked, axes=1), codes)  # noqa: E731
        n = len(probas)
        if n <= EXHAUSTIVE_MEMBERS:
            grid = _weight_grid(n, WEIGHT_STEPS)
            values = np.array([judge(weights) for weights in grid])
            tied = grid[values >= values.max() - 1e-12]
            best = tied[np.abs(tied - start).sum(axis=1).argmin()]
        else:
            steps = np.zeros(n)
            for _ in range(WEIGHT_STEPS):
                values = np.array([judge((steps + np.eye(n)[i]) / (steps.sum() + 1)) for i in range(n)])
                tied = np.flatnonzero(values >= values.max() - 1e-12)
                steps[tied[np.argmax(start[tied])]] += 1
            best = steps / steps.sum()
        return start if judge(start) >= judge(best) - 1e-12 else best

    def _member_proba(self, member, X: pd.DataFrame) -> np.ndarray:
        """A member's probabilities in the ensemble's class order (absent classes get 0)."""
        return member_proba(member, X, len(self.classes_))

    def average(self, probas: list[np.ndarray]) -> np.ndarray:
        """The ensemble's probabilities: the members' weighted mean."""
        return np.tensordot(self.weights_, np.stack(probas), axes=1)

    def _prepare(self, X) -> pd.DataFrame:
        check_is_fitted(self, "members_")
        X = _as_frame(X, names=None if isinstance(X, pd.DataFrame) else self.schema_.names)
        X = check_columns(X, self.schema_)
        check_finite(X)
        return coerce(check_categories(X, self.schema_, self.unknown_categories), self.schema_)

    def member_probas(self, X) -> list[np.ndarray]:
        """Each member's class probabilities, in the ensemble's class order."""
        X = self._prepare(X)
        return [self._member_proba(member, X) for member in self.members_]

    def _has_proba(self):
        return self.voting != "hard"

    @available_if(_has_proba)
    def predict_proba(self, X) -> np.ndarray:
        """Weighted mean of the members' class probabilities (soft and weighted voting)."""
        return self.average(self.member_probas(X))

    def predict(self, X) -> np.ndarray:
        """The class voted for; for two classes, the tuned threshold decides."""
        return self.vote(self.member_probas(X))

    def vote(self, probas: list[np.ndarray]) -> np.ndarray:
        """The labels the members' probabilities (from `member_probas`) vote for."""
        if self.voting == "hard":
            votes = np.stack([proba.argmax(1) for proba in probas], axis=1)
            tally = np.apply_along_axis(np.bincount, 1, votes, weights=self.weights_, minlength=len(self.classes_))
            return self.classes_[tally.argmax(1)]
        proba = self.average(probas)
        if self.threshold_ is not None:
            column = int(np.flatnonzero(self.classes_ == self.positive_class_)[0])
            other = self.classes_[1 - column]
            return np.where(proba[:, column] >= self.threshold_, self.positive_class_, other)
        return self.classes_[(proba / self.class_prior_ ** self.class_prior_power).argmax(1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        return tags


def tune_threshold(scores: np.ndarray, y_true: np.ndarray, positive, classes: np.ndarray, objective: str) -> float:
    """The cut on the positive class's probability that maximises `objective` on these rows.

    Candidate cuts are 201 quantiles of the scores and 0.5; ties go to the cut closest
    to 0.5, so that a flat objective keeps the usual rule.
    """
    return best_cut(scores, np.asarray(y_true) == positive, objective)[0]


def best_cut(scores: np.ndarray, is_positive: np.ndarray, objective: str) -> tuple[float, float]:
    """`tune_threshold`'s cut and the objective it reaches there.

    Every cut is scored at once from the class-wise counts of rows at or above it.
    """
    scores = np.asarray(scores, dtype=float)
    is_positive = np.asarray(is_positive, dtype=bool)
    ordered = np.sort(scores)  # np.quantile partitions a sorted array several times faster
    candidates = np.unique(np.concatenate([np.quantile(ordered, np.linspace(0, 1, 201)), [0.5]]))
    candidates = candidates[np.argsort(np.abs(candidates - 0.5), kind="stable")]
    n_pos, n_neg = int(is_positive.sum()), int((~is_positive).sum())
    tp = n_pos - np.searchsorted(np.sort(scores[is_positive]), candidates, side="left")
    fp = n_neg - np.searchsorted(np.sort(scores[~is_positive]), candidates, side="left")
    with np.errstate(divide="ignore", invalid="ignore"):
        tpr = tp / n_pos if n_pos else np.zeros(len(candidates))
        tnr = (n_neg - fp) / n_neg if n_neg else np.zeros(len(candidates))
        if objective == "balanced_accuracy":
            values = (tpr + tnr) / 2 if n_pos and n_neg else np.maximum(tpr, tnr)
        elif objective == "g_mean":
            values = np.sqrt(tpr * tnr) if n_pos and n_neg else np.maximum(tpr, tnr)
        elif objective == "f1":
            denominator = tp + fp + n_pos  # 2·tp + fp + fn
            values = np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1), 0.0)
        else:
            raise ValueError(f"unknown threshold objective {objective!r}")
    # The first maximum in closeness-to-0.5 order, up to rounding noise.
    best = int(np.flatnonzero(values >= values.max() - 1e-12)[0])
    return float(candidates[best]), float(values[best])


def code_objective(objective: str, codes: np.ndarray, votes: np.ndarray, n_classes: int) -> float:
    """Balanced accuracy, G-mean or macro-F1 of predicted class codes, from one confusion matrix.

    The scores of `tasks.evaluate.objective_score`, without its input checks, for the
    many weightings `VotingEnsemble` tries on rows where every class is present (as the
    stratified splits and out-of-fold rows are). A class absent from `codes` is left out
    of balanced accuracy and G-mean, and counts as F1 0.
    """
    matrix = np.bincount(codes * n_classes + votes, minlength=n_classes ** 2).reshape(n_classes, n_classes)
    support, predicted, hits = matrix.sum(1), matrix.sum(0), np.diag(matrix)
    present = support > 0
    recall = hits[present] / support[present]
    if objective == "balanced_accuracy":
        return float(recall.mean())
    if objective == "g_mean":
        return float(np.prod(recall) ** (1 / len(recall)))
    if objective == "f1":
        denominator = support + predicted
        return float(np.mean(np.where(denominator > 0, 2 * hits / np.maximum(denominator, 1), 0.0)))
    raise ValueError(f"unknown objective {objective!r}")


def _weight_grid(n: int, steps: int) -> np.ndarray:
    """Every weighting of `n` members in whole steps of 1/`steps` (each row sums to 1)."""
    from itertools import combinations

    # Stars and bars: `steps` units shared among n members.
    rows = [np.diff([-1, *bars, steps + n - 1]) - 1 for bars in combinations(range(steps + n - 1), n - 1)]
    return np.array(rows, dtype=float) / steps


def check_validation(validation: str, folds) -> None:
    """The validation scheme must be a known one, with at least two cross-fitting folds."""
    if validation not in ("out_of_fold", "holdout"):
        raise InputError("validation must be 'out_of_fold' or 'holdout'", f"it is {validation!r}",
                         "Use out_of_fold (the default) or holdout with a validation_size.")
    if isinstance(folds, bool) or not isinstance(folds, (int, np.integer)) or folds < 2:
        raise InputError("folds must be a whole number of at least 2", f"it is {folds!r}",
                         "Use the default 5, or 3 to cross-fit faster.")


def _rarer(y, classes):
    counts = [(int(np.sum(np.asarray(y) == c)), i) for i, c in enumerate(classes)]
    return classes[min(counts)[1]]


def _as_frame(X, names: list[str] | None = None) -> pd.DataFrame:
    """A DataFrame as it is, or an array with positional column names (or `names`, if they fit)."""
    if isinstance(X, pd.DataFrame):
        return X.rename(columns=str)
    if sparse.issparse(X):
        raise InputError("X must be a dense table", f"it is a sparse {type(X).__name__} of shape {X.shape}",
                         "Convert it with X.toarray(), or pass a DataFrame.")
    array = np.asarray(X)
    if array.ndim != 2:
        raise InputError("X must be a table (2-D)", f"it has shape {array.shape}",
                         "Pass a DataFrame, or reshape a single feature with X.reshape(-1, 1).")
    if names is None or len(names) != array.shape[1]:
        names = [f"x{i}" for i in range(array.shape[1])]
    return pd.DataFrame(array, columns=names)


def _as_series(y) -> pd.Series:
    if isinstance(y, pd.Series):
        return y.reset_index(drop=True)
    array = np.asarray(y)
    if array.ndim != 1:
        raise InputError("y must be one column of labels", f"it has shape {array.shape}", "Pass a 1-D array or Series.")
    return pd.Series(array, name="target")


def check_columns(X: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """The columns to score must be exactly the training features (the target may be present)."""
    names = schema.names
    missing = [n for n in names if n not in X.columns]
    extra = [c for c in X.columns if c not in names and c != schema.target]
    if missing:
        raise InputError("the data to score must have every feature the model was trained on",
                         f"missing {preview(missing)}", "Add these columns (NaN is fine where a value is unknown).")
    if extra:
        raise InputError("the data to score must have only the model's features",
                         f"unexpected {preview(extra)}", f"Drop them; the model uses {preview(names)}.")
    return X[names]


def check_categories(X: pd.DataFrame, schema: Schema, unknown: str) -> pd.DataFrame:
    """Refuse categories never seen in training, or (unknown='ignore') treat them as missing."""
    X = X.copy() if unknown == "ignore" else X
    for column in schema.columns:
        if column.kind != "categorical":
            continue
        text = X[column.name].astype(object).where(X[column.name].notna(), None)
        values = text.map(lambda v: v if v is None else str(v))
        unseen = values.notna() & ~values.isin(column.categories)
        if unseen.any() and unknown == "error":
            raise InputError(
                f"categorical feature {column.name!r} must hold categories seen in training",
                f"{preview(sorted(values[unseen].unique()), 5)} are new (known: {preview(column.categories, 5)})",
                "Fix the values, or score with unknown_categories='ignore' (CLI: --unknown-categories ignore) "
                "to treat them as missing.")
        if unseen.any():
            X[column.name] = values.where(~unseen, None)
    return X
