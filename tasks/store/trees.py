"""Check the trees in a loaded member before anything predicts with them.

scikit-learn's decision trees and histogram-boosting predictors walk their node arrays in
C without bounds checks: a saved file whose child or feature indices were edited would make
prediction read outside its memory (at best a segmentation fault). skops restores those
arrays as they are written, so a member is checked here, right after loading, against the
rules every tree that scikit-learn grows obeys:

- a node's children come after it (trees are stored depth first), so every walk from the
  root moves forward and ends, and children lie inside the node array;
- a split's feature is one of the estimator's `n_features_in_` features, its threshold a
  number (finite for decision trees), its category set (histogram boosting) one that exists;
- a decision tree's values have one row per node.
"""

from __future__ import annotations

import numpy as np

from imbalance_flows.tasks.errors import InputError

TREE_LEAF = -1  # scikit-learn's child index of a leaf
MAX_DEPTH = 64  # how deep the search for trees goes into nested estimators


def check_trees(member, path: str) -> None:
    """Refuse a loaded member holding a tree that could make prediction read out of bounds."""
    for owner, name, tree in _trees(member, set(), 0):
        problem = _problem(owner, tree)
        if problem:
            raise InputError("a saved member's trees must be well formed",
                             f"{path!r}: {type(owner).__name__}.{name} {problem}",
                             "The file was changed after it was saved: retrain, or restore the version.")


def check_linear(learner, path: str) -> None:
    """Refuse a loaded linear learner whose coefficients do not fit its own features and classes (numpy would
    refuse some with a traceback; others, one row too many, would shift every score silently)."""
    from sklearn.linear_model import LogisticRegression

    if not isinstance(learner, LogisticRegression) or not hasattr(learner, "coef_"):
        return
    coef, intercept = np.asarray(learner.coef_), np.asarray(learner.intercept_)
    classes = len(np.asarray(getattr(learner, "classes_", ())))
    width = getattr(learner, "n_features_in_", None)
    rows = 1 if classes == 2 else classes
    problem = None
    if classes < 2:
        problem = f"has {classes} classes"
    elif coef.shape != (rows, width):
        problem = f"has coef_ of shape {coef.shape}, not ({rows}, {width}) for {classes} classes of {width} features"
    elif intercept.shape != (rows,):
        problem = f"has intercept_ of shape {intercept.shape}, not ({rows},)"
    elif not (np.isfinite(coef).all() and np.isfinite(intercept).all()):
        problem = "has coefficients that are not finite numbers"
    if problem:
        raise InputError("a saved member's coefficients must fit its features and classes",
                         f"{path!r}: {type(learner).__name__} {problem}",
                         "The file was changed after it was saved: retrain, or restore the version.")


def _trees(node, seen: set, depth: int):
    """(owner, attribute, tree) for every decision tree and boosting predictor inside `node`."""
    from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
    from sklearn.tree._tree import Tree

    if id(node) in seen:
        return
    if depth > MAX_DEPTH:  # the product's members nest a few levels; deeper is a crafted file, not a model
        raise InputError(f"a saved member nests its parts at most {MAX_DEPTH} levels deep",
                         f"{type(node).__name__} lies deeper", "Retrain; do not load this file.")
    seen.add(id(node))
    if isinstance(node, (list, tuple)):
        children = list(node)
    elif isinstance(node, np.ndarray):  # gradient boosting keeps its trees in an object array
        children = list(node.ravel()) if node.dtype == object else []
    elif isinstance(node, dict):
        children = list(node.values())
    elif hasattr(node, "__dict__"):
        children = []
        for name, value in vars(node).items():
            if isinstance(value, Tree):
                yield node, name, value
            elif name == "_predictors":  # histogram boosting: one list of predictors per iteration
                for predictor in (p for iteration in value for p in iteration):
                    if not isinstance(predictor, TreePredictor):
                        raise InputError("a saved member's trees must be well formed",
                                         f"{type(node).__name__}._predictors holds {type(predictor).__name__}",
                                         "Retrain; do not load this file.")
                    yield node, name, predictor
            else:
                children.append(value)
    else:
        return
    for child in children:
        yield from _trees(child, seen, depth + 1)


def _problem(owner, tree) -> str | None:
    """What is wrong with one tree, or None."""
    width = getattr(owner, "n_features_in_", None)
    if not isinstance(width, (int, np.integer)) or width < 1:
        return f"belongs to an estimator without a valid n_features_in_ ({width!r})"
    if hasattr(tree, "nodes"):
        binner = getattr(owner, "_bin_mapper", None)  # its features in the order the predictors index them
        return _predictor_problem(tree, int(width), binner,
                                  getattr(binner, "is_categorical_", getattr(owner, "is_categorical_", None)))
    return _tree_problem(tree, int(width))


def _children_problem(left: np.ndarray, right: np.ndarray, split: np.ndarray) -> str | None:
    """Children of splits come after their node and inside the array."""
    count = len(left)
    index = np.arange(count)
    for side, children in (("left", left), ("right", right)):
        bad = split & ((children <= index) | (children >= count))
        if bad.any():
            at = int(np.flatnonzero(bad)[0])
            return f"node {at} has {side} child {int(children[at])} (must lie in {at + 1}..{count - 1})"
    return None


def _tree_problem(tree, width: int) -> str | None:
    count = int(tree.node_count)
    if count < 1:
        return "has no nodes"
    left, right = np.asarray(tree.children_left), np.asarray(tree.children_right)
    feature, threshold = np.asarray(tree.feature), np.asarray(tree.threshold)
    if not len(left) == len(right) == len(feature) == len(threshold) == count:
        return f"has arrays of different lengths for its {count} nodes"
    leaf = (left == TREE_LEAF) & (right == TREE_LEAF)
    split = ~leaf
    problem = _children_problem(left, right, split)
    if problem:
        return problem
    if int(tree.n_features) != width:
        return f"expects {int(tree.n_features)} features, its estimator {width}"
    bad = split & ((feature < 0) | (feature >= width))
    if bad.any():
        at = int(np.flatnonzero(bad)[0])
        return f"node {at} splits on feature {int(feature[at])} of {width}"
    bad = split & ~np.isfinite(threshold)
    if bad.any():
        at = int(np.flatnonzero(bad)[0])
        return f"node {at} has threshold {float(threshold[at])}"
    if np.asarray(tree.value).shape[0] != count:
        return f"has {np.asarray(tree.value).shape[0]} value rows for {count} nodes"
    return None


def _predictor_problem(predictor, width: int, bin_mapper, is_categorical=None) -> str | None:
    nodes = predictor.nodes
    if not isinstance(nodes, np.ndarray) or nodes.ndim != 1 or len(nodes) < 1 or nodes.dtype.names is None:
        return "has no node array"
    split = nodes["is_leaf"] == 0
    problem = _children_problem(nodes["left"].astype(np.int64), nodes["right"].astype(np.int64), split)
    if problem:
        return problem
    feature = nodes["feature_idx"].astype(np.int64)
    bad = split & ((feature < 0) | (feature >= width))
    if bad.any():
        at = int(np.flatnonzero(bad)[0])
        return f"node {at} splits on feature {int(feature[at])} of {width}"
    numeric = split & (nodes["is_categorical"] == 0)
    if np.isnan(nodes["num_threshold"][numeric]).any():
        return "has a split with threshold NaN"
    categorical = split & (nodes["is_categorical"] != 0)
    mask = np.zeros(width, dtype=bool) if is_categorical is None else np.asarray(is_categorical, dtype=bool)
    if mask.shape != (width,):
        return f"belongs to an estimator whose is_categorical_ has shape {mask.shape}, not ({width},)"
    bad = categorical & ~mask[np.clip(feature, 0, width - 1)]
    if bad.any():  # its category sets are looked up by feature: a numeric one has none
        at = int(np.flatnonzero(bad)[0])
        return f"node {at} splits on feature {int(feature[at])} by category, which is not categorical"
    for name in ("raw_left_cat_bitsets", "binned_left_cat_bitsets"):
        bitsets = np.asarray(getattr(predictor, name))
        if bitsets.ndim != 2 or bitsets.shape[1] != 8:
            return f"has {name} of shape {bitsets.shape} (must be (n, 8))"
        bad = categorical & (nodes["bitset_idx"].astype(np.int64) >= len(bitsets))
        if bad.any():
            at = int(np.flatnonzero(bad)[0])
            return f"node {at} uses category set {int(nodes['bitset_idx'][at])} of {len(bitsets)}"
    if bin_mapper is not None and np.asarray(getattr(bin_mapper, "is_categorical_", ())).size != width:
        return f"has a binner for {np.asarray(bin_mapper.is_categorical_).size} features, not {width}"
    return None
