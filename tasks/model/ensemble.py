"""The voting ensemble: a scikit-learn classifier over imbalance-aware members."""

from __future__ import annotations

import contextlib
import numbers
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import check_random_state
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from imbalance_flows.tasks.data.checks import (
    as_frame,
    as_series,
    check_categories,
    check_columns,
    has_names,
)
from imbalance_flows.tasks.data.schema import Schema, coerce, infer_schema, row_hashes
from imbalance_flows.tasks.data.splits import (
    check_features,
    check_finite,
    check_labels,
    numbers_as_text,
    numbers_as_text_warning,
)
from imbalance_flows.tasks.errors import DataWarning, InputError, preview
from imbalance_flows.tasks.learners.registry import LEARNERS
from imbalance_flows.tasks.model.calibrate import (
    adjust_proba,
    calibrate,
    check_priors,
    fit_calibration,
)
from imbalance_flows.tasks.model.choices import (
    Calibration,
    Objective,
    UnknownCategories,
    Validation,
    Voting,
)
from imbalance_flows.tasks.model.costs import cheapest, cost_matrix
from imbalance_flows.tasks.model.fitting import (
    SEQUENTIAL_BELOW,
    check_probabilities,
    distinct_rows,
    encode_labels,
    member_proba,
    run_members,
)
from imbalance_flows.tasks.model.params import check_params, check_values
from imbalance_flows.tasks.model.plan import (
    check_plan,
    describe_slow,
    holdout_split,
    member_specs,
    plan_fit,
    short_holdout,
)
from imbalance_flows.tasks.model.sizes import judged_on_holdout
from imbalance_flows.tasks.model.spec import SAVED, MemberSpec
from imbalance_flows.tasks.model.weights import best_cut, code_objective, search_weights

# Above this share of the judged rows in one class that holds at most half of them, the decision is lopsided.
LOPSIDED_SHARE = 0.9


class LopsidedDecisionWarning(UserWarning):
    """The decision sends nearly every row to one class that most rows are not in (see `VotingEnsemble.lopsided_`)."""


def default_ensemble(random_state=0, **params) -> "VotingEnsemble":
    """The default ensemble, unfitted; `params` override any of VotingEnsemble's.

    `random_state` is None, an int or a `numpy.random.RandomState`, as in scikit-learn.
    """
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
        The members; None means the default recipe for the size of the training rows,
        `default_members(rows)`.
    voting : {"hard", "soft", "weighted"}, default="weighted"
        Majority of labels, mean of probabilities, or weighted mean: the weights, in
        fifths, that make the best vote (threshold objective, balanced accuracy where it
        is "none") on the rows that judge the members, starting from and tied towards
        each member's balanced accuracy above chance on them.
    threshold_objective : {"auto", "balanced_accuracy", "f1", "g_mean", "cost", "none"}, default="auto"
        For two classes (soft or weighted voting), the score the decision threshold
        on the rarer class's (calibrated) probability is tuned for on the rows that judge
        the members; also what the weight search aims at. "auto" is "cost" when `costs`
        are given and "g_mean" otherwise; "cost" minimises the mean cost per row.
    validation : {"auto", "out_of_fold", "holdout"}, default="auto"
        Where weights and threshold come from: every training row, predicted by a
        model that did not see it, or a held-out split of `validation_size` (members
        then train on the rest only). Out of fold costs no extra fits for forests and
        `folds` extra fits for any other member. "auto" holds out a split where the
        rows left to train on are medium data (more than 50,000, at most 300,000:
        `imbalance_flows.tasks.model.sizes.judged_on_holdout`), where one fit per
        member is what keeps training fast, and judges out of fold otherwise.
    validation_size : float, default=0.2
        Share of each class held out, for validation="holdout".
    folds : int, default=5
        Cross-fitting folds for out-of-fold predictions of members that are not forests.
    random_state : int, RandomState instance or None, default=0
        Seeds the splits, the samplers and the learners. An int makes `fit` reproducible;
        None or a RandomState draws a fresh seed at each `fit`, as scikit-learn does.
    n_jobs : int, default=None
        Members fitted at once, as scikit-learn's glossary has it: None is one (unless a
        `joblib.parallel_config` context says otherwise), -1 every core, -2 all but one, a
        positive number at most that many (one at a time on training rows so few that
        members side by side would be slower, `FitPlan.one_at_a_time`). Each member's threads are
        limited so that the cores are not oversubscribed: one member at a time uses every core.
    class_prior_power : float or "auto", default="auto"
        Without a tuned threshold or costs (several classes), the vote goes to the class
        with the largest (calibrated) probability divided by its share of the training rows
        to this power: 0 is the plain most-likely class, 1 fully corrects for class
        frequency. "auto" takes, from 0, 0.25, ..., 1, the power whose votes score best on
        the rows that judge the members (ties: nearest 0.5).
    calibration : {"sigmoid", "isotonic", "temperature", "none"}, default="sigmoid"
        The map, fitted on the rows that judge the members, that turns the members' weighted
        mean into `predict_proba`'s probabilities (see `imbalance_flows.tasks.model.calibrate`);
        thresholds and votes are decided on the calibrated probabilities.
    costs : dict, MissCosts, array-like of shape (n_classes, n_classes) or None, default=None
        What mistakes cost: {"fn": 100, "fp": 1} for two classes (a missed case of the rarer
        class, a false alarm), or a matrix cost[true][predicted] in the order of `classes_`.
        With costs the decision minimises expected cost: the threshold is tuned for it on the
        rows that judge the members (two classes), or each row goes to the class of least
        expected cost under the calibrated probabilities (several classes).
    unknown_categories : {"ignore", "error"}, default="ignore"
        What scoring does with a category not seen in training: treat it as missing
        (as scikit-learn's HistGradientBoosting does), with an `UnseenCategoryWarning`
        naming the column, the values and the rows; or refuse it.
    allow_slow_samplers : bool, default=False
        Fit a member whose sampler is estimated to take more than five minutes on the
        training rows (nearest-neighbour cleaning on a million rows, ...), with a warning;
        by default such a member is refused before any fit, with what to use instead.

    Large data: above `imbalance_flows.tasks.model.sizes.LARGE_ROWS` training rows, each member
    fits on a class-capped sample, weighted back to the class sizes where it sees the
    classes as they are, and the members are judged on a stratified sample of the rows
    (see `imbalance_flows.tasks.model.sizes`).

    Attributes
    ----------
    classes_ : ndarray
    schema_ : Schema
    members_ : list of fitted pipelines
    specs_ : list of MemberSpec
    weights_ : ndarray of shape (n_members,)
    threshold_ : float or None
        Calibrated probability of `positive_class_` above which it is predicted (two classes only).
    objective_ : str
        The threshold objective in force ("auto" resolved).
    calibration_ : dict or None
        The fitted calibration map (numbers only).
    prior_power_ : float
        The class prior power in force ("auto" resolved).
    cost_matrix_ : ndarray of shape (n_classes, n_classes) or None
        `costs` as cost[true][predicted] in the order of `classes_`.
    class_prior_ : ndarray of shape (n_classes,)
        Each class's share of the training rows, for `class_prior_power`.
    positive_class_ : label or None
        The rarer class in training, for two-class problems.
    validation_scores_ : list of dict
        Each member's validation metrics that its weight came from.
    validation_ : str
        The validation in force, "out_of_fold" or "holdout" ("auto" resolved).
    lopsided_ : str or None
        Set, with soft or weighted voting, when the decision sends at least 90 % of the rows that judged the
        members to a class holding at most half of them (costs that make flagging everyone the cheapest decision,
        say): what happened and what to check, also issued as a `LopsidedDecisionWarning` by `fit`.
    """

    def __init__(self, members=None, voting: Voting = "weighted", threshold_objective: Objective = "auto",
                 validation: Validation = "auto", validation_size: float = 0.2, folds: int = 5,
                 random_state=0, n_jobs: int | None = None, class_prior_power: float | str = "auto",
                 unknown_categories: UnknownCategories = "ignore", calibration: Calibration = "sigmoid",
                 costs=None, allow_slow_samplers: bool = False):
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
        self.calibration = calibration
        self.costs = costs
        self.allow_slow_samplers = allow_slow_samplers

    @classmethod
    def from_manifest(cls, manifest: dict, members: list) -> "VotingEnsemble":
        """The fitted ensemble a saved manifest describes, around its loaded member pipelines.

        Parameters
        ----------
        manifest : dict
            A saved version's manifest.json (see `imbalance_flows.tasks.store.model_store.save_model`).
        members : list
            The members' fitted pipelines, in the manifest's order.
        """
        entries = manifest["members"]
        if len(members) != len(entries):
            raise InputError("a saved version needs one member file per manifest entry",
                             f"{len(members)} files for {len(entries)} entries", "Retrain, or use another version.")
        return cls._described(manifest, members, check_members=True)

    @classmethod
    def check_manifest(cls, manifest: dict) -> None:
        """Refuse a saved manifest that describes a model no fit writes, as `from_manifest` does, without its
        members' files or their learners' libraries: what promoting a version by hand checks."""
        cls._described(manifest, [None] * len(manifest["members"]), check_members=False)

    @classmethod
    def _described(cls, manifest: dict, members: list, check_members: bool) -> "VotingEnsemble":
        entries = manifest["members"]
        ensemble = cls(members=[entry["spec"] for entry in entries], **manifest["ensemble"])
        specs = [MemberSpec.model_validate(entry["spec"], context={SAVED: not check_members}) for entry in entries]
        ensemble._adopt(members, specs, Schema.model_validate(manifest["schema"]))
        ensemble.weights_ = np.asarray([entry["weight"] for entry in entries])
        ensemble.validation_scores_ = [entry["validation"] for entry in entries]
        ensemble.threshold_ = manifest["threshold"]
        ensemble.class_prior_ = np.asarray(manifest["class_prior"])
        ensemble.positive_class_ = manifest["positive_class"]
        # Versions saved before calibration and costs existed decide as they always did.
        params = manifest["ensemble"]
        ensemble.objective_ = manifest.get("objective", params.get("threshold_objective", "g_mean"))
        ensemble.calibration_ = manifest.get("calibration")
        ensemble.prior_power_ = float(manifest.get("prior_power", params.get("class_prior_power", 0.5)))
        matrix = manifest.get("cost_matrix")
        ensemble.cost_matrix_ = None if matrix is None else np.asarray(matrix, dtype=float)
        # What decides its predictions (parameters of fitting alone, such as folds, may be of an earlier rule).
        scoring = ("voting", "unknown_categories", "threshold_objective")
        try:
            check_values({name: value for name, value in ensemble.get_params(deep=False).items() if name in scoring})
        except InputError as error:
            problem = f"{error.rule} ({error.value})"
        else:
            problem = ensemble._inconsistency(check_members)
        if problem:
            raise InputError("a model's manifest.json must describe a model as fitting writes it", problem,
                             "The version is damaged or was edited: retrain, or use another version.")
        return ensemble

    def _inconsistency(self, check_members: bool = True) -> str | None:
        """What makes a loaded ensemble one that no fit writes (classes, weights, threshold, priors, calibration,
        costs or, with `check_members`, members that disagree), in words; None if nothing does."""
        classes, k = list(self.schema_.classes), len(self.classes_)  # as saved: Python's values, as fitting sorts
        if k < 2 or len(set(map(str, classes))) != k:
            return f"its classes {preview(classes)} are not two or more distinct ones"
        if classes != sorted(classes, key=lambda c: (str(type(c)), c)):
            return f"its classes {preview(classes)} are not in the order fitting sorts them"
        if self.positive_class_ is not None and self.positive_class_ not in classes:
            return f"its positive class {self.positive_class_!r} is not among its classes"
        weights = np.asarray(self.weights_, dtype=float)
        if len(weights) != len(self.members_) or not np.isfinite(weights).all() or (weights < 0).any() \
                or not weights.sum() > 0:
            return f"its member weights {preview(weights.tolist())} are not one share ≥ 0 per member, some above 0"
        if self.threshold_ is not None and not 0 <= self.threshold_ <= 1:
            return f"its threshold {self.threshold_} is not a probability"
        prior = np.asarray(self.class_prior_, dtype=float)
        if prior.shape != (k,) or not np.isfinite(prior).all() or (prior < 0).any() or abs(prior.sum() - 1) > 1e-6:
            return f"its class prior {preview(prior.tolist())} is not one share per class, summing to 1"
        calibration = self.calibration_
        if calibration is not None:
            if calibration.get("method") not in ("sigmoid", "temperature", "isotonic"):
                return f"its calibration method {calibration.get('method')!r} is none the product fits"
            if calibration["method"] != "isotonic" and len(calibration.get("intercepts", ())) != k:
                return f"its calibration has {len(calibration.get('intercepts', ()))} intercepts for {k} classes"
            if calibration["method"] == "isotonic" and len(calibration.get("maps", ())) != (1 if k == 2 else k):
                return f"its calibration has {len(calibration.get('maps', ()))} maps for {k} classes"
        if self.cost_matrix_ is not None and (self.cost_matrix_.shape != (k, k)
                                              or not np.isfinite(self.cost_matrix_).all()):
            return f"its cost matrix of shape {self.cost_matrix_.shape} is not {k} × {k} finite costs"
        if not check_members:
            return None
        # Members learn the classes' codes 0 … k − 1; one that never saw a class gives it 0 (`_member_proba`), but
        # some member must have seen each.
        codes = [np.asarray(member.classes_) for member in self.members_ if hasattr(member, "classes_")]
        if codes and all(code.dtype.kind in "iu" for code in codes):
            seen = sorted(set(np.concatenate(codes).tolist()))
            if seen != list(range(k)):
                return f"its members predict the class codes {preview(seen)} where it has {k} classes"
        for spec, member in zip(self.specs_, self.members_):
            learner = member.steps[-1][1] if hasattr(member, "steps") else member
            entry = LEARNERS.get(spec.learner)
            names = {path.rsplit(":", 1)[-1] for path in (entry.estimator, *entry.types)} if entry else set()
            if names and not any(kind.__name__ in names for kind in type(learner).__mro__):
                return (f"member {spec.name} names the learner {spec.learner!r}, whose file holds a "
                        f"{type(learner).__name__}")
        return None

    def fit(self, X, y):
        """Fit the members, then weigh them (and tune the threshold) on rows they did not see.

        check → plan → fit members → combine (`imbalance_flows.tasks.model.plan`), as the training flow does.
        """
        check_params(self.get_params(deep=False))  # every parameter, before any data is looked at
        member_specs(self.members)  # the members' specs are read before any fit too (the recipe for the rows later)
        positional = not has_names(X)
        X, y = as_frame(X), as_series(y)
        if len(X) != len(y):
            raise InputError("X and y must have the same number of rows", f"{len(X)} and {len(y)}",
                             "Pass the labels of exactly the rows of X.")
        check_labels(y)
        check_features(X)
        for name, (distinct, held) in numbers_as_text(X).items():
            warnings.warn(numbers_as_text_warning(name, distinct, held), DataWarning, stacklevel=2)
        schema = infer_schema(X, y)
        schema.positional = positional
        X = coerce(X, schema, keep_float32=True)
        seed = _seed(self.random_state)
        split, labels = None, y.to_numpy()
        if judged_on_holdout(self.validation, len(X), self.validation_size):
            copies = row_hashes(X, schema, y)  # a row's copies are kept on one side
            split = holdout_split(labels, self.validation_size, seed, groups=copies, auto=self.validation == "auto")
        validation = "out_of_fold" if split is None else "holdout"
        if split is not None:
            train, held = split
            told = short_holdout(labels[held], labels, self.validation_size)
            if told:
                warnings.warn(told, DataWarning, stacklevel=2)
            X_train, y_train = X.iloc[train], y.iloc[train]
        else:
            X_train, y_train = X, y
        codes = encode_labels(y_train, schema)
        plan = plan_fit(self.members, schema, codes, seed=seed, validation=validation, folds=self.folds)
        for spec, seconds in check_plan(plan, self.costs, self.allow_slow_samplers):
            warnings.warn(describe_slow(spec, seconds, len(codes)), UserWarning, stacklevel=2)
        specs = list(plan.specs)
        fitted = self._fit_members(specs, lambda spec, threads: plan.fit_member(spec, X_train, y_train, threads),
                                   plan.works(), plan.one_at_a_time)
        members = [pipeline for pipeline, _, _ in fitted]
        if plan.out_of_fold:
            return self.combine_out_of_fold(members, specs, schema, y_train.iloc[plan.judging_rows()],
                                            [proba for _, _, proba in fitted])
        judged = plan.judged_validation(encode_labels(y.iloc[held], schema))
        held = held if judged is None else held[judged]
        return self.combine(members, specs, schema, X.iloc[held], y.iloc[held])

    def _fit_members(self, specs: list[MemberSpec], fit, works: list[float], one_at_a_time: bool = False) -> list:
        """`fit(spec, threads)` for every member, in threads, planned by `run_members` as the flow plans them
        (`works`: the members' estimated work, `FitPlan.works`; `one_at_a_time`: `FitPlan.one_at_a_time`)."""
        from joblib import effective_n_jobs

        n_jobs = effective_n_jobs(None) if self.n_jobs is None else self.n_jobs  # None: 1 outside a joblib context
        with ThreadPoolExecutor(max_workers=len(specs), thread_name_prefix="member") as pool:
            return run_members(specs, lambda spec, threads: pool.submit(fit, spec, threads), works=works,
                               n_jobs=n_jobs, one_at_a_time=one_at_a_time)

    def combine(self, fitted: list, specs: list[MemberSpec], schema: Schema, X_val: pd.DataFrame,
                y_val: pd.Series) -> "VotingEnsemble":
        """Adopt members fitted elsewhere and set weights and threshold on validation rows.

        This is how the training flow, which fits members as separate tasks, builds
        the very ensemble that `fit` builds with validation="holdout".
        """
        self._adopt(fitted, specs, schema)
        self.validation_ = "holdout"
        return self._settle([self._member_proba(position, X_val) for position in range(len(self.members_))], y_val)

    def combine_out_of_fold(self, fitted: list, specs: list[MemberSpec], schema: Schema, y: pd.Series,
                            probas: list[np.ndarray]) -> "VotingEnsemble":
        """Adopt members fitted on rows `y`, with their out-of-fold probabilities of those rows.

        `probas` are in class-code order (as `imbalance_flows.tasks.model.fitting.fit_out_of_fold` gives them),
        one array of shape (len(y), n_classes) per member.
        """
        self._adopt(fitted, specs, schema)
        for spec, proba in zip(specs, probas):
            if np.shape(proba) != (len(y), len(schema.classes)):
                raise InputError("out-of-fold probabilities must have one row per training row and one "
                                 "column per class", f"member {spec.name} has shape {np.shape(proba)}, "
                                 f"expected {(len(y), len(schema.classes))}", "Pass fit_out_of_fold's output.")
        self.validation_ = "out_of_fold"
        return self._settle([np.asarray(p, dtype=float) for p in probas], y)

    def _adopt(self, fitted: list, specs: list[MemberSpec], schema: Schema) -> None:
        self.schema_ = schema
        self.classes_ = np.asarray(schema.classes)
        self.specs_ = list(specs)
        self.members_ = list(fitted)
        self.n_features_in_ = len(schema.columns)
        if not schema.positional:
            self.feature_names_in_ = np.asarray(schema.names, dtype=object)
        elif hasattr(self, "feature_names_in_"):  # refitted on an array: the names of an earlier fit go
            del self.feature_names_in_

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
                             "Judge on a stratified split (imbalance_flows.tasks.data.splits.stratified_indices) or on all training rows.")
        y_val = self.classes_[codes]  # the labels as predict returns them
        rarer = _rarer(y_val, self.classes_)
        self.cost_matrix_ = cost_matrix(self.costs, self.classes_, rarer)
        self.objective_ = _objective(self.threshold_objective, self.cost_matrix_)
        self.validation_scores_ = [self._member_scores(codes, p.argmax(1)) for p in probas]
        # Judged rows are stratified (or all of them), so their class shares are the training data's.
        self.class_prior_ = counts / len(codes)
        self.positive_class_, self.threshold_, self.calibration_ = None, None, None
        self.prior_power_ = _prior_power(self.class_prior_power)
        if len(self.classes_) == 2 and self.voting != "hard" and self.objective_ != "none":
            self.positive_class_ = rarer
        self.weights_ = self._score_weights()
        if self.voting == "weighted" and len(probas) > 1:
            self.weights_ = self._search_weights(probas, codes, self.weights_)
        self.lopsided_ = None
        if self.voting == "hard":  # neither costs nor a threshold decide a hard vote
            return self
        # The decision is settled on the calibrated probabilities, so that it agrees with predict_proba.
        mean = self.average(probas)
        self.calibration_ = fit_calibration(self.calibration, mean, codes)
        proba = calibrate(self.calibration_, mean)
        if self.positive_class_ is not None:
            self.threshold_ = self._best_cut(proba, codes)[0]
        elif self.class_prior_power == "auto" and self.cost_matrix_ is None:
            self.prior_power_ = self._best_power(proba, codes)
        self.lopsided_ = self._lopsided(self.vote(probas), y_val)
        if self.lopsided_:
            warnings.warn(self.lopsided_, LopsidedDecisionWarning, stacklevel=3)
        return self

    def _lopsided(self, decided: np.ndarray, labels: np.ndarray) -> str | None:
        """What to tell when the decision sends nearly every judged row to a class that most of them are not in
        (costs that make flagging everyone the cheapest decision, say); None otherwise."""
        for label in self.classes_:
            share, actual = float(np.mean(decided == label)), float(np.mean(labels == label))
            if share >= LOPSIDED_SHARE and actual <= 0.5:
                how = (f" (threshold {self.threshold_:.3f} on the calibrated P({self.positive_class_}))"
                       if self.threshold_ is not None else "")
                hint = ("These costs make that the cheapest decision: check them (a missed case costs "
                        f"{self._cost_ratio()} false alarms), or choose another threshold objective (e.g. g_mean)."
                        if self.cost_matrix_ is not None else
                        "Check the data and the members, or choose another threshold objective.")
                label = label.item() if isinstance(label, np.generic) else label
                return (f"the decision gives {share:.0%} of the rows that judged the members to class {label!r}, "
                        f"which holds {actual:.0%} of them{how}. {hint}")
        return None

    def _cost_ratio(self) -> str:
        """A missed case's cost in false alarms (two classes), or the costs' largest over smallest mistake."""
        mistakes = self.cost_matrix_[~np.eye(len(self.classes_), dtype=bool)]
        positive = mistakes[mistakes > 0]
        if len(self.classes_) == 2 and self.positive_class_ is not None:
            column = int(np.flatnonzero(self.classes_ == self.positive_class_)[0])
            miss, alarm = self.cost_matrix_[column, 1 - column], self.cost_matrix_[1 - column, column]
            return f"{miss / alarm:g}" if alarm > 0 else "many"
        return f"up to {positive.max() / positive.min():g}" if len(positive) else "no"

    def _member_scores(self, codes: np.ndarray, votes: np.ndarray) -> dict:
        """A member's balanced accuracy (and mean cost, with costs) on the rows that judge it, voting its argmax."""
        scores = {"balanced_accuracy": code_objective("balanced_accuracy", codes, votes, len(self.classes_))}
        if self.cost_matrix_ is not None:
            scores["cost_per_row"] = -code_objective("cost", codes, votes, len(self.classes_), self.cost_matrix_)
        return scores

    def _best_power(self, proba: np.ndarray, codes: np.ndarray) -> float:
        """The class prior power, of 0, 0.25, ..., 1, whose votes score best on the judged rows (ties: nearest 0.5)."""
        objective = "balanced_accuracy" if self.objective_ == "none" else self.objective_
        powers = sorted(np.linspace(0, 1, 5), key=lambda power: abs(power - _SEARCH_POWER))
        values = [code_objective(objective, codes, (proba / self.class_prior_ ** power).argmax(1), len(self.classes_))
                  for power in powers]
        return float(powers[int(np.argmax(values))])

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
        costs = None
        if self.cost_matrix_ is not None:
            order = [1 - column, column]  # [negative, positive]
            costs = self.cost_matrix_[np.ix_(order, order)]
        return best_cut(proba[:, column], codes == column, self.objective_, costs)

    def _judge(self, proba: np.ndarray, codes: np.ndarray) -> float:
        """The objective the ensemble's vote reaches on judged rows, its threshold tuned on them too."""
        if self.positive_class_ is not None:
            return self._best_cut(proba, codes)[1]
        if self.cost_matrix_ is not None:
            return code_objective("cost", codes, cheapest(proba, self.cost_matrix_), len(self.classes_),
                                  self.cost_matrix_)
        objective = "balanced_accuracy" if self.objective_ == "none" else self.objective_
        votes = (proba / self.class_prior_ ** self.prior_power_).argmax(1)
        return code_objective(objective, codes, votes, len(self.classes_))

    def _search_weights(self, probas: list[np.ndarray], codes: np.ndarray, start: np.ndarray) -> np.ndarray:
        """The weighting whose vote is best on the judged rows (see `tasks.model.weights.search_weights`)."""
        stacked = np.stack(probas)
        return search_weights(lambda weights: self._judge(np.tensordot(weights, stacked, axes=1), codes),
                              len(probas), start)

    def _member_proba(self, position: int, X: pd.DataFrame, grouped: bool = True) -> np.ndarray:
        """The probabilities of the member at `position`, in the ensemble's class order (absent classes get 0);
        `grouped`: see `member_proba`."""
        return member_proba(self.members_[position], X, len(self.classes_), f"member {self.specs_[position].name}",
                            grouped)

    def average(self, probas: list[np.ndarray]) -> np.ndarray:
        """The members' weighted mean of probabilities, before calibration."""
        return np.tensordot(self.weights_, np.stack(probas), axes=1)

    def combined(self, probas: list[np.ndarray], priors=None) -> np.ndarray:
        """The ensemble's probabilities: the members' weighted mean, calibrated.

        With `priors` (the class shares of the rows scored, in class order), they are
        moved from the training shares to those by Bayes' rule.
        """
        proba = calibrate(self.calibration_, self.average(self._checked_probas(probas)))
        proba = proba if priors is None else adjust_proba(proba, self.class_prior_, check_priors(priors, self.classes_))
        return check_probabilities(proba, "the ensemble")

    def _checked_probas(self, probas) -> list[np.ndarray]:
        """Members' probabilities as `member_probas` gives them: one array per member, of rows × classes."""
        check_is_fitted(self, "members_")
        shapes = [np.shape(proba) for proba in probas] if isinstance(probas, (list, tuple)) else []
        if len(shapes) != len(self.members_) or len({shape for shape in shapes}) != 1 \
                or len(shapes[0]) != 2 or shapes[0][1] != len(self.classes_):
            raise InputError("members' probabilities must be one array of rows × classes per member",
                             f"got {preview(shapes) if shapes else type(probas).__name__} for "
                             f"{len(self.members_)} members and {len(self.classes_)} classes",
                             "Pass what member_probas(X) returns.")
        return probas

    def _prepare(self, X) -> pd.DataFrame:
        check_is_fitted(self, "members_")
        named = has_names(X)
        table = named and not isinstance(X, pd.DataFrame)
        X = as_frame(X, names=None if named else self.schema_.names)
        if table and self.schema_.positional and X.shape[1] == len(self.schema_.names):
            X = X.set_axis(self.schema_.names, axis=1)  # fitted on an array, or on a table read by position before
        X = check_columns(X, self.schema_)
        check_finite(X)
        return coerce(check_categories(X, self.schema_, self.unknown_categories), self.schema_, keep_float32=True)

    def member_probas(self, X, voting_only: bool = False) -> list[np.ndarray]:
        """Each member's class probabilities, in the ensemble's class order.

        With `voting_only` (scoring), a member of weight 0 is not asked: its probabilities are
        zeros, which change neither the weighted mean nor the weighted tally of votes. Reports,
        which show every member, ask all of them.
        """
        X = self._prepare(X)
        if not len(X):  # nothing to score (an empty batch): no member is asked
            return [np.zeros((0, len(self.classes_))) for _ in self.members_]
        distinct = distinct_rows(X)
        if distinct is not None:  # rows mostly copies of each other: each distinct row scored once, for every member
            first, group = distinct
            return [proba[group] for proba in self._member_probas(X.iloc[first], voting_only)]
        return self._member_probas(X, voting_only)

    def _member_probas(self, X: pd.DataFrame, voting_only: bool) -> list[np.ndarray]:
        import joblib

        # A few rows (a request online, a small file) are scored in this thread: starting joblib's threads for a
        # forest's trees costs more than they save below SEQUENTIAL_BELOW rows (bench/results/serve_model.md).
        with joblib.parallel_config(backend="sequential") if len(X) < SEQUENTIAL_BELOW else contextlib.nullcontext():
            # member_probas looked for copies of rows once for every member.
            return [self._member_proba(position, X, grouped=False) if weight > 0 or not voting_only
                    else np.zeros((len(X), len(self.classes_))) for position, weight in enumerate(self.weights_)]

    def _has_proba(self):
        return self.voting != "hard"

    @available_if(_has_proba)
    def predict_proba(self, X) -> np.ndarray:
        """Calibrated class probabilities: the members' weighted mean through `calibration_` (soft, weighted voting)."""
        return self.combined(self.member_probas(X, voting_only=True))

    def predict(self, X) -> np.ndarray:
        """The class voted for; for two classes, the tuned threshold decides."""
        return self.vote(self.member_probas(X, voting_only=True))

    def vote(self, probas: list[np.ndarray], priors=None) -> np.ndarray:
        """The labels the members' probabilities (from `member_probas`) vote for.

        With `priors` (see `combined`), a model that decides by costs decides on the
        probabilities under those priors. Balanced accuracy and G-mean do not depend on
        the class shares, so a model tuned for them keeps its decisions.
        """
        if priors is not None:
            check_priors(priors, self.classes_)
        if self.voting == "hard":
            probas = self._checked_probas(probas)
            if not len(probas[0]):  # an empty batch: no labels
                return self.classes_[:0]
            votes = np.stack([proba.argmax(1) for proba in probas], axis=1)
            tally = np.apply_along_axis(np.bincount, 1, votes, weights=self.weights_, minlength=len(self.classes_))
            return self.classes_[tally.argmax(1)]
        return self.decide(self.combined(probas, priors if self.objective_ == "cost" else None))

    def scored(self, probas: list[np.ndarray], priors=None) -> tuple[np.ndarray, np.ndarray | None]:
        """The labels the members' probabilities vote for and the ensemble's probabilities (None for hard voting):
        `vote` and `combined` of `probas`, from one weighted mean and calibration where they share it."""
        if self.voting == "hard":
            return self.vote(probas, priors), None
        proba = self.combined(probas, priors)
        deciding = proba if priors is None or self.objective_ == "cost" else self.combined(probas)
        return self.decide(deciding), proba

    def decide(self, proba: np.ndarray) -> np.ndarray:
        """The labels the ensemble's probabilities (from `combined`; soft or weighted voting) decide for: the
        tuned threshold for two classes, else the cheapest class under the costs, else the likeliest."""
        if self.threshold_ is not None:
            column = int(np.flatnonzero(self.classes_ == self.positive_class_)[0])
            other = self.classes_[1 - column]
            return np.where(proba[:, column] >= self.threshold_, self.positive_class_, other)
        if self.cost_matrix_ is not None:
            return self.classes_[cheapest(proba, self.cost_matrix_)]
        return self.classes_[(proba / self.class_prior_ ** self.prior_power_).argmax(1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        return tags


def _seed(random_state) -> int:
    """An int seed from scikit-learn's `random_state` (None, an int or a RandomState)."""
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        return int(random_state)
    try:
        return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
    except ValueError as error:
        raise InputError("random_state must be None, an int or a numpy RandomState", f"it is {random_state!r}",
                         "Use e.g. random_state=0 for reproducible fits.") from error


_SEARCH_POWER = 0.5  # the class prior power while weights are searched: it lifted rare classes on every
# multi-class data set of bench/results/quality.md before calibration


def _prior_power(power) -> float:
    """The class prior power to search weights with: `class_prior_power` (its rule checked, as `fit` checks it; a
    model combined from members fitted elsewhere is not fitted), or 0.5 for "auto"."""
    check_values({"class_prior_power": power})
    return _SEARCH_POWER if power == "auto" else float(power)


def _objective(threshold_objective: str, matrix: np.ndarray | None) -> str:
    """The objective in force: "auto" is "cost" with costs, "g_mean" without."""
    if threshold_objective == "auto":
        return "g_mean" if matrix is None else "cost"
    if threshold_objective == "cost" and matrix is None:
        raise InputError("threshold_objective='cost' needs costs", "no costs were given",
                         "Give costs (e.g. costs={'fn': 100, 'fp': 1}; CLI: --cost-fn 100 --cost-fp 1), "
                         "or choose another objective.")
    return threshold_objective


def _rarer(y, classes):
    counts = [(int(np.sum(np.asarray(y) == c)), i) for i, c in enumerate(classes)]
    return classes[min(counts)[1]]
