"""LightGBM, XGBoost and CatBoost as members, saved in their own formats and checked before they load.

Each library is an optional extra (`imbalance-flows[lightgbm]`, `[xgboost]`, `[catboost]`),
imported only when a member fits or loads. A member is a scikit-learn classifier of this
module: it fits through the library's own scikit-learn class and keeps the library's model
(`model_`); the member's other state is saved with skops like any member's, the model beside
it in the library's text format (LightGBM's model text, XGBoost's and CatBoost's JSON).

Loading never hands a file to a library as it is. The text is read here first, every tree in
it checked against the rules its library's trees obey (children inside the tree and after
their node, so every walk ends; split features among the member's features; finite
thresholds; leaf values of the right count), and the library then loads a copy written from
what was checked, nothing else: no parameters, no logs, no code. A model using something the
checks do not know (linear trees, categorical splits in XGBoost or CatBoost, CatBoost's
non-symmetric trees) is refused with the reason.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from pathlib import Path
from typing import ClassVar

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from imbalance_flows.tasks.errors import InputError

_HINT = "The file was changed after it was saved, or not written by this package: retrain, or restore the version."


def _refuse(library: str, problem: str) -> None:
    raise InputError(f"a saved {library} model must be well formed", problem, _HINT)


class BoostedMember(ClassifierMixin, BaseEstimator):
    """A boosting library's classifier as a member: classes, class weights and threads set the product's way.

    Parameters
    ----------
    params : dict
        The library's own parameters (its scikit-learn class's), as `learner_params` give them.
    class_weight : dict or None
        Class code → weight (the class_weight sampler), applied as row weights.
    threads : int
        Threads the library may use beside the other members.
    random_state : int
    categorical_features : list of int
        Columns holding category codes (LightGBM splits them natively; the others read them as numbers).
    """

    library: ClassVar[str]  # the module fitted and loaded with, e.g. "lightgbm"
    suffix: ClassVar[str]  # the saved model's file suffix, beside the member's skops file

    def __init__(self, params: dict | None = None, class_weight: dict | None = None, threads: int = 1,
                 random_state: int = 0, categorical_features: list | tuple = ()):
        self.params = params
        self.class_weight = class_weight
        self.threads = threads
        self.random_state = random_state
        self.categorical_features = categorical_features

    def fit(self, X, y, sample_weight=None):
        X = _rows(X)
        self.classes_, codes = np.unique(np.asarray(y), return_inverse=True)
        if len(self.classes_) < 2:
            raise InputError(f"a {self.library} member needs rows of two classes or more",
                             f"it got only {self.classes_.tolist()}", "Check the member's sampler.")
        self.n_features_in_ = X.shape[1]
        weight = np.ones(len(codes)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
        if self.class_weight:
            weight = weight * np.asarray([self.class_weight.get(int(label), 1.0) for label in self.classes_])[codes]
        self.model_ = self._fit(X, codes.astype(np.int32), weight)
        return self

    def predict_proba(self, X) -> np.ndarray:
        check_is_fitted(self, "model_")
        proba = np.asarray(self._proba(_rows(X)), dtype=float)
        if proba.ndim == 1:  # two classes: the second's probability
            proba = np.column_stack([1.0 - proba, proba])
        return proba

    def predict(self, X) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(1)]

    # The saved form: `save_native` writes the library's model, `load_native` checks and restores it.
    def save_native(self, path: Path) -> None:
        check_is_fitted(self, "model_")
        path.write_text(self._text(), encoding="utf-8")

    def load_native(self, path: Path) -> None:
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError) as error:
            _refuse(self.library, f"{str(path)!r} cannot be read as text ({type(error).__name__})")
        width, n_classes = getattr(self, "n_features_in_", None), len(getattr(self, "classes_", ()))
        if not isinstance(width, (int, np.integer)) or width < 1 or n_classes < 2:
            _refuse(self.library, f"{str(path)!r} belongs to a member without its features or classes")
        self.model_ = self._restore(self._checked(text, int(width), n_classes, str(path)))

    def _params(self) -> dict:
        return dict(self.params or {})


def _rows(X) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(X, dtype=np.float32))


# ---------------------------------------------------------------------------------------------------------------
# LightGBM


class LightGBMMember(BoostedMember):
    library = "lightgbm"
    suffix = ".lightgbm.txt"

    def _fit(self, X, codes, weight):
        from lightgbm import LGBMClassifier

        params = {"verbose": -1, **self._params(), "random_state": self.random_state, "n_jobs": self.threads}
        model = LGBMClassifier(**params)
        model.fit(X, codes, sample_weight=weight, categorical_feature=list(self.categorical_features) or "auto")
        return model.booster_

    def _proba(self, X):
        return self.model_.predict(X)

    def _text(self) -> str:
        return self.model_.model_to_string()

    def _restore(self, text: str):
        from lightgbm import Booster

        return Booster(model_str=text)

    def _checked(self, text: str, width: int, n_classes: int, path: str) -> str:
        return check_lightgbm(text, width, n_classes, path)


_LGB_HEADER = {"version", "num_class", "num_tree_per_iteration", "label_index", "max_feature_idx", "objective",
               "feature_names", "feature_infos", "tree_sizes"}
_LGB_TREE = {"num_leaves", "num_cat", "split_feature", "split_gain", "threshold", "decision_type", "left_child",
             "right_child", "leaf_value", "leaf_weight", "leaf_count", "internal_value", "internal_weight",
             "internal_count", "cat_boundaries", "cat_threshold", "is_linear", "shrinkage"}
_LGB_OBJECTIVES = ("binary", "multiclass", "multiclassova")


def _pairs(lines: list[str], allowed: set, where: str) -> dict:
    found = {}
    for line in lines:
        if not line:
            continue
        key, sep, value = line.partition("=")
        if not sep or key not in allowed or key in found:
            _refuse("LightGBM", f"{where}: unexpected line {line[:60]!r}")
        found[key] = value
    return found


def _numbers(fields: dict, key: str, count: int, where: str, kind=float) -> np.ndarray:
    text = fields.get(key)
    if text is None:
        _refuse("LightGBM", f"{where} has no {key}")
    try:
        values = np.asarray([kind(value) for value in text.split()], dtype=np.float64 if kind is float else np.int64)
    except (ValueError, OverflowError):
        _refuse("LightGBM", f"{where}: {key} holds something other than numbers")
    if len(values) != count:
        _refuse("LightGBM", f"{where}: {key} has {len(values)} values, not {count}")
    return values


def check_lightgbm(text: str, width: int, n_classes: int, path: str = "the model") -> str:
    """The model text up to its trees' end, once every line of it is known and every tree well formed."""
    end = text.find("\nend of trees\n")
    start = text.find("\nTree=0\n")
    if end < 0 or start < 0 or start > end:
        _refuse("LightGBM", f"{path!r} is not LightGBM model text with trees")
    header = text[:start].split("\n")
    if header[0] != "tree":
        _refuse("LightGBM", f"{path!r} does not start as LightGBM model text")
    fields = _pairs(header[1:], _LGB_HEADER, path)
    per_iteration = 1 if n_classes == 2 else n_classes
    expected = {"num_class": str(per_iteration), "num_tree_per_iteration": str(per_iteration),
                "max_feature_idx": str(width - 1), "label_index": "0"}
    for key, value in expected.items():
        if fields.get(key) != value:
            _refuse("LightGBM", f"{path!r} has {key}={fields.get(key)!r}, not {value} for this member")
    if fields.get("objective", "").split(" ")[0] not in _LGB_OBJECTIVES:
        _refuse("LightGBM", f"{path!r} has objective {fields.get('objective')!r} (a classifier's is one of "
                            f"{', '.join(_LGB_OBJECTIVES)})")
    for key in ("feature_names", "feature_infos"):
        if len(fields.get(key, "").split()) != width:
            _refuse("LightGBM", f"{path!r}: {key} does not name {width} features")
    blocks = [block for block in re.split(r"(?=Tree=\d+\n)", text[start + 1:end + 1]) if block]
    sizes = fields.get("tree_sizes", "").split()
    if [str(len(block.encode())) for block in blocks] != sizes:
        _refuse("LightGBM", f"{path!r}: tree_sizes do not match its trees")
    if len(blocks) % per_iteration:
        _refuse("LightGBM", f"{path!r} has {len(blocks)} trees, not a multiple of {per_iteration}")
    for number, block in enumerate(blocks):
        lines = block.split("\n")
        if lines[0] != f"Tree={number}":
            _refuse("LightGBM", f"{path!r}: tree {number} is numbered {lines[0]!r}")
        _check_lightgbm_tree(_pairs(lines[1:], _LGB_TREE, f"{path!r} tree {number}"), width,
                             f"{path!r} tree {number}")
    return text[:end + 1] + "end of trees\n"


def _check_lightgbm_tree(fields: dict, width: int, where: str) -> None:
    try:
        leaves, categories = int(fields.get("num_leaves", "")), int(fields.get("num_cat", "0"))
    except ValueError:
        _refuse("LightGBM", f"{where}: num_leaves or num_cat is not a whole number")
    if not 1 <= leaves <= 1 << 20 or categories < 0:
        _refuse("LightGBM", f"{where} has num_leaves={leaves}, num_cat={categories}")
    if fields.get("is_linear", "0") != "0":
        _refuse("LightGBM", f"{where} is a linear tree, which this package does not load")
    values = _numbers(fields, "leaf_value", leaves, where)
    if not np.isfinite(values).all():
        _refuse("LightGBM", f"{where} has a leaf value that is not a finite number")
    splits = leaves - 1
    if splits == 0:
        return
    feature = _numbers(fields, "split_feature", splits, where, int)
    threshold = _numbers(fields, "threshold", splits, where)
    decision = _numbers(fields, "decision_type", splits, where, int)
    left = _numbers(fields, "left_child", splits, where, int)
    right = _numbers(fields, "right_child", splits, where, int)
    for key in ("split_gain", "internal_value", "internal_weight", "internal_count"):
        if key in fields:
            _numbers(fields, key, splits, where)
    for key in ("leaf_weight", "leaf_count"):
        if key in fields:
            _numbers(fields, key, leaves, where)
    bad = np.flatnonzero((feature < 0) | (feature >= width))
    if len(bad):
        _refuse("LightGBM", f"{where}: node {bad[0]} splits on feature {feature[bad[0]]} of {width}")
    if ((decision < 0) | (decision > 15) | ((decision >> 2) > 2)).any():
        _refuse("LightGBM", f"{where} has a decision type LightGBM does not write")
    # A child that is a split comes after its node; a leaf is written ~leaf. Every node but the root, and every
    # leaf, is some node's child exactly once: the nodes make one tree, and every walk from the root ends.
    index = np.arange(splits)
    children = np.concatenate([left, right])
    inner = children[children >= 0]
    after = np.concatenate([index, index])[children >= 0]
    if (inner <= after).any() or (inner >= splits).any():
        _refuse("LightGBM", f"{where} has a split whose child split is not after it and inside the tree")
    leaf = ~children[children < 0]
    if leaf.max(initial=-1) >= leaves or sorted(inner.tolist()) != list(range(1, splits)) \
            or sorted(leaf.tolist()) != list(range(leaves)):
        _refuse("LightGBM", f"{where}'s nodes do not make one tree of {leaves} leaves")
    categorical = (decision & 1) == 1
    if categorical.any():
        bounds = _numbers(fields, "cat_boundaries", categories + 1, where, int)
        if bounds[0] != 0 or (np.diff(bounds) < 0).any():
            _refuse("LightGBM", f"{where}: cat_boundaries do not rise from 0")
        _numbers(fields, "cat_threshold", int(bounds[-1]), where, int)
        sets = threshold[categorical]
        if ((sets != np.floor(sets)) | (sets < 0) | (sets >= categories)).any():
            _refuse("LightGBM", f"{where} has a categorical split on a category set it does not hold")
    if not np.isfinite(threshold[~categorical]).all():
        _refuse("LightGBM", f"{where} has a threshold that is not a finite number")


# ---------------------------------------------------------------------------------------------------------------
# XGBoost


class XGBoostMember(BoostedMember):
    library = "xgboost"
    suffix = ".xgboost.json"

    def _fit(self, X, codes, weight):
        from xgboost import XGBClassifier

        params = {**self._params(), "random_state": self.random_state, "n_jobs": self.threads}
        model = XGBClassifier(**params)
        model.fit(X, codes, sample_weight=weight)
        return model.get_booster()

    def _proba(self, X):
        return self.model_.inplace_predict(X)

    def _text(self) -> str:
        return bytes(self.model_.save_raw("json")).decode("utf-8")

    def _restore(self, text: str):
        from xgboost import Booster

        booster = Booster()
        booster.load_model(bytearray(text.encode("utf-8")))
        return booster

    def _checked(self, text: str, width: int, n_classes: int, path: str) -> str:
        return check_xgboost(text, width, n_classes, path)


_XGB_ARRAYS = ("left_children", "right_children", "parents", "split_indices", "split_conditions", "default_left",
               "split_type", "base_weights", "loss_changes", "sum_hessian")


def _json(text: str, library: str, path: str) -> dict:
    try:
        model = json.loads(text, parse_constant=lambda name: _refuse(library, f"{path!r} holds {name}"))
    except (ValueError, RecursionError) as error:
        _refuse(library, f"{path!r} is not JSON ({type(error).__name__})")
    if not isinstance(model, dict):
        _refuse(library, f"{path!r} is not a JSON object")
    return model


def _get(node, *keys, library: str, path: str):
    for key in keys:
        if not isinstance(node, dict) or key not in node:
            _refuse(library, f"{path!r} has no {'.'.join(keys)}")
        node = node[key]
    return node


def check_xgboost(text: str, width: int, n_classes: int, path: str = "the model") -> str:
    """The model as JSON written from what was checked: its learner's parameters, objective and trees."""
    def get(node, *keys):
        return _get(node, *keys, library="XGBoost", path=path)

    model = _json(text, "XGBoost", path)
    learner = get(model, "learner")
    params = get(learner, "learner_model_param")
    if str(params.get("num_feature")) != str(width) or str(params.get("num_target", "1")) != "1":
        _refuse("XGBoost", f"{path!r} is for {params.get('num_feature')!r} features and "
                           f"{params.get('num_target')!r} targets, not {width} and 1")
    expected_classes = "0" if n_classes == 2 else str(n_classes)
    if str(params.get("num_class")) != expected_classes:
        _refuse("XGBoost", f"{path!r} has num_class={params.get('num_class')!r}, not {expected_classes}")
    objective = get(learner, "objective", "name")
    if objective not in ("binary:logistic", "multi:softprob"):
        _refuse("XGBoost", f"{path!r} has objective {objective!r} (binary:logistic or multi:softprob)")
    booster = get(learner, "gradient_booster")
    if booster.get("name") != "gbtree":
        _refuse("XGBoost", f"{path!r} uses booster {booster.get('name')!r}; only gbtree is loaded")
    trees = get(booster, "model", "trees")
    info = get(booster, "model", "tree_info")
    per_iteration = 1 if n_classes == 2 else n_classes
    if not isinstance(trees, list) or not isinstance(info, list) or len(info) != len(trees) \
            or any(not isinstance(group, int) or not 0 <= group < per_iteration for group in info):
        _refuse("XGBoost", f"{path!r}: its trees and their classes (tree_info) do not match")
    if str(get(booster, "model", "gbtree_model_param", "num_trees")) != str(len(trees)):
        _refuse("XGBoost", f"{path!r}: num_trees does not count its trees")
    for number, tree in enumerate(trees):
        _check_xgboost_tree(tree, width, f"{path!r} tree {number}")
    indptr = booster["model"].get("iteration_indptr")
    if indptr is not None and (not isinstance(indptr, list) or indptr[:1] != [0] or indptr[-1:] != [len(trees)]
                               or any(not isinstance(v, int) or v < 0 for v in indptr)
                               or any(b < a for a, b in zip(indptr, indptr[1:]))):
        _refuse("XGBoost", f"{path!r}: iteration_indptr does not cover its trees")
    clean = {"learner": {"attributes": {}, "feature_names": [], "feature_types": [],
                         "gradient_booster": {"model": {key: booster["model"][key] for key in (
                             "gbtree_model_param", "trees", "tree_info", "iteration_indptr", "cats")
                             if key in booster["model"]}, "name": "gbtree"},
                         "learner_model_param": params, "objective": learner["objective"]},
             "version": model.get("version")}
    return json.dumps(clean)


def _check_xgboost_tree(tree, width: int, where: str) -> None:
    if not isinstance(tree, dict):
        _refuse("XGBoost", f"{where} is not a JSON object")
    param = tree.get("tree_param") or {}
    try:
        count = int(param.get("num_nodes", -1))
    except (TypeError, ValueError):
        count = -1
    if count < 1 or str(param.get("num_feature")) != str(width) or str(param.get("size_leaf_vector", "1")) not in (
            "0", "1") or str(param.get("num_deleted", "0")) != "0":
        _refuse("XGBoost", f"{where} has tree_param {param!r} (one node or more, {width} features, one value a leaf)")
    arrays = {}
    for key in _XGB_ARRAYS:
        values = tree.get(key)
        if not isinstance(values, list) or len(values) != count or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values):
            _refuse("XGBoost", f"{where}: {key} is not {count} finite numbers")
        arrays[key] = np.asarray(values)
    if tree.get("categories_nodes"):
        _refuse("XGBoost", f"{where} has categorical splits, which this package does not load")
    left, right = arrays["left_children"].astype(np.int64), arrays["right_children"].astype(np.int64)
    leaf = left == -1
    index = np.arange(count)
    if (leaf != (right == -1)).any() or (arrays["split_type"] != 0).any():
        _refuse("XGBoost", f"{where} has a node with one child, or a split type other than numeric")
    for side, children in (("left", left), ("right", right)):
        bad = np.flatnonzero(~leaf & ((children <= index) | (children >= count)))
        if len(bad):
            _refuse("XGBoost", f"{where}: node {bad[0]} has {side} child {children[bad[0]]} "
                               f"(must lie in {bad[0] + 1}..{count - 1})")
    if sorted(np.concatenate([left[~leaf], right[~leaf]]).tolist()) != list(range(1, count)):
        _refuse("XGBoost", f"{where}'s nodes do not make one tree")
    feature = arrays["split_indices"].astype(np.int64)
    bad = np.flatnonzero(~leaf & ((feature < 0) | (feature >= width)))
    if len(bad):
        _refuse("XGBoost", f"{where}: node {bad[0]} splits on feature {feature[bad[0]]} of {width}")


# ---------------------------------------------------------------------------------------------------------------
# CatBoost


class CatBoostMember(BoostedMember):
    library = "catboost"
    suffix = ".catboost.json"

    def _fit(self, X, codes, weight):
        from catboost import CatBoostClassifier

        # allow_writing_files=False: no catboost_info/ folder of training logs in the working directory.
        params = {"verbose": 0, "allow_writing_files": False, **self._params(), "random_seed": self.random_state,
                  "thread_count": self.threads}
        model = CatBoostClassifier(**params)
        model.fit(X, codes, sample_weight=weight)
        return model

    def _proba(self, X):
        return self.model_.predict(X, prediction_type="Probability", thread_count=self.threads)

    def _text(self) -> str:
        with tempfile.TemporaryDirectory(prefix="imbalance-flows-catboost-") as folder:
            path = os.path.join(folder, "model.json")
            self.model_.save_model(path, format="json")
            return Path(path).read_text(encoding="utf-8")

    def _restore(self, text: str):
        from catboost import CatBoost

        with tempfile.TemporaryDirectory(prefix="imbalance-flows-catboost-") as folder:
            path = os.path.join(folder, "model.json")
            Path(path).write_text(text, encoding="utf-8")
            model = CatBoost()
            model.load_model(path, format="json")
        return model

    def _checked(self, text: str, width: int, n_classes: int, path: str) -> str:
        return check_catboost(text, width, n_classes, path)


MAX_CATBOOST_DEPTH = 16  # CatBoost's own limit on a symmetric tree's depth


def check_catboost(text: str, width: int, n_classes: int, path: str = "the model") -> str:
    """The model as JSON written from what was checked: its float features, symmetric trees, scale and bias."""
    def refuse(problem: str):
        _refuse("CatBoost", f"{path!r}{problem}")

    model = _json(text, "CatBoost", path)
    if "oblivious_trees" not in model:
        refuse(" has no symmetric (oblivious) trees; other tree shapes are not loaded (grow_policy SymmetricTree)")
    info = model.get("features_info")
    if not isinstance(info, dict) or set(info) != {"float_features"}:
        refuse(" uses features other than numbers (categorical, text or embedding features are not loaded)")
    features = info["float_features"]
    if not isinstance(features, list) or len(features) > width:
        refuse(f" has more float features than the member's {width}")
    borders = []
    for position, feature in enumerate(features):
        values = feature.get("borders") if isinstance(feature, dict) else None
        flat = feature.get("flat_feature_index") if isinstance(feature, dict) else None
        if feature.get("feature_index") != position or not isinstance(flat, int) or not 0 <= flat < width \
                or not isinstance(values, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                           and math.isfinite(v) for v in values):
            refuse(f": float feature {position} is not a feature of the member with finite borders")
        borders.append(set(values))
    dimension = 1 if n_classes == 2 else n_classes
    trees = model["oblivious_trees"]
    if not isinstance(trees, list):
        refuse(": oblivious_trees is not a list")
    for number, tree in enumerate(trees):
        splits = tree.get("splits") if isinstance(tree, dict) else None
        if not isinstance(splits, list) or len(splits) > MAX_CATBOOST_DEPTH:
            refuse(f" tree {number} has no list of at most {MAX_CATBOOST_DEPTH} splits")
        for split in splits:
            index = split.get("float_feature_index") if isinstance(split, dict) else None
            if split.get("split_type") != "FloatFeature" or not isinstance(index, int) \
                    or not 0 <= index < len(features) or split.get("border") not in borders[index]:
                refuse(f" tree {number} has a split that is not on one of its float features' borders")
        leaves = 1 << len(splits)
        for key, count in (("leaf_values", leaves * dimension), ("leaf_weights", leaves)):
            values = tree.get(key)
            if not isinstance(values, list) or len(values) != count or not all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values):
                refuse(f" tree {number}: {key} is not {count} finite numbers")
    scale = model.get("scale_and_bias")
    if not (isinstance(scale, list) and len(scale) == 2 and isinstance(scale[0], (int, float))
            and isinstance(scale[1], list) and len(scale[1]) in (0, dimension)):
        refuse(f": scale_and_bias is not a scale and {dimension} biases")
    loss = "Logloss" if n_classes == 2 else "MultiClass"  # how raw values become probabilities: set, not read
    return json.dumps({"features_info": {"float_features": features}, "oblivious_trees": trees,
                       "scale_and_bias": scale, "model_info": {"params": {"loss_function": {"params": {}, "type": loss},
                                                        "flat_params": {"loss_function": loss}}}})
