"""A random forest whose trees are grown without scikit-learn's work around each tree.

On a small table most of a forest's fit is not growing trees. For each of its 100 trees
scikit-learn clones the tree's parameters (through `inspect.signature`), checks the labels
again (`type_of_target`), validates the row weights and makes a fresh random state from the
tree's seed two or three times (about 0.25 ms each: each is seeded from the system's entropy
first); for the out-of-bag votes it draws each bootstrap sample a second time and predicts
through the tree's checks. On 214 rows that is about nine tenths of the fit
(bench/results/forest_overhead.md). `RandomForest` checks the rows, labels and weights once,
as scikit-learn's forest does, then hands each tree's bootstrap sample straight to the tree
builder scikit-learn's trees use, and keeps each sample's left-out rows for the out-of-bag
votes. Its probabilities read each tree directly, without the checks and thread hand-offs
around each tree's prediction (on one row: about 0.7 ms against 25 ms, by hand).

The trees are scikit-learn's, grown by its builder from the same random draws: the forest
is the one `RandomForestClassifier` grows, tree for tree, and it saves, loads and predicts
as one. A check the first time a process fits a forest confirms that on a small table (the
installed scikit-learn may draw or grow differently from the one this was written for);
where it does not hold, or for what the lean path does not cover (sparse features, several
outputs, per-bootstrap class weights, pruning, monotonic constraints, warm starts), the
forest is grown, and predicts, as scikit-learn's own.
"""

from __future__ import annotations

import threading

import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.utils.validation import check_is_fitted

try:
    from sklearn.base import _fit_context
except ImportError:  # a scikit-learn without it: the parameters are checked as fit begins
    def _fit_context(prefer_skip_nested_validation: bool):
        def checked(fit):
            def fit_checked(self, *args, **kwargs):
                self._validate_params()
                return fit(self, *args, **kwargs)
            return fit_checked
        return checked

MAX_SEED = np.iinfo(np.int32).max  # the bound of scikit-learn's per-tree seeds


class RandomForest(RandomForestClassifier):
    """scikit-learn's `RandomForestClassifier`, its trees grown with less work around each (see the module doc).
    Parameters, trees, predictions and out-of-bag votes are scikit-learn's."""

    @_fit_context(prefer_skip_nested_validation=True)  # the parameters checked first, as scikit-learn's fit does
    def fit(self, X, y, sample_weight=None):
        if not (self._lean_covers(X, y) and grows_as_scikit_learn()):
            return super().fit(X, y, sample_weight)
        return self._fit_lean(X, y, sample_weight)

    def _lean_covers(self, X, y) -> bool:
        from scipy.sparse import issparse

        # A frame of sparse columns only is read as a sparse matrix (scikit-learn's `check_array`); labels are looked
        # at as an array (an object with its own numpy functions may refuse `np.ndim`); progress lines are
        # scikit-learn's.
        return (not issparse(X) and not hasattr(X, "sparse") and np.asarray(y).ndim == 1
                and self.class_weight != "balanced_subsample" and self.ccp_alpha == 0.0
                and self.monotonic_cst is None and not self.warm_start and isinstance(self.criterion, str)
                and self.oob_score in (True, False) and not self.verbose)

    def _fit_lean(self, X, y, sample_weight):
        """scikit-learn's `BaseForest.fit` (1.9), each tree built by `_Grower.grow` instead of a cloned tree's `fit`."""
        from joblib import effective_n_jobs
        from sklearn.ensemble._bootstrap import _get_n_samples_bootstrap
        from sklearn.utils import check_random_state
        from sklearn.utils.parallel import Parallel, delayed
        from sklearn.utils.validation import _check_sample_weight, validate_data

        X, y = validate_data(self, X, y, multi_output=True, accept_sparse="csc", dtype=np.float32,
                             ensure_all_finite=False)
        missing = type(self.estimator)(criterion=self.criterion)._compute_missing_values_in_feature_mask(
            X, estimator_name=type(self).__name__)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X)
        y = np.reshape(np.atleast_1d(y), (-1, 1))
        self._n_samples, self.n_outputs_ = y.shape
        y, class_weight = self._validate_y_class_weight(y, sample_weight)
        y = np.ascontiguousarray(y, dtype=np.float64)
        weight = (class_weight if sample_weight is None else sample_weight if class_weight is None
                  else sample_weight * class_weight)
        self._sample_weight = weight
        if not self.bootstrap and self.max_samples is not None:
            raise ValueError("`max_sample` cannot be set if `bootstrap=False`. Either switch to `bootstrap=True` "
                             "or set `max_sample=None`.")
        self._n_samples_bootstrap = (_get_n_samples_bootstrap(X.shape[0], self.max_samples, weight)
                                     if self.bootstrap else None)
        self._validate_estimator()
        if not self.bootstrap and self.oob_score:
            raise ValueError("Out of bag estimation only available if bootstrap=True")

        random_state = check_random_state(self.random_state)
        seeds = [int(random_state.randint(MAX_SEED)) for _ in range(self.n_estimators)]
        grower = _Grower(self, X, y, weight, missing)
        parts = [part for part in np.array_split(np.arange(len(seeds)), effective_n_jobs(self.n_jobs)) if len(part)]
        grown = Parallel(n_jobs=len(parts), prefer="threads")(
            delayed(grower.grow_all)([seeds[i] for i in part]) for part in parts)
        self.estimators_ = [tree for part in grown for tree, _ in part]
        if self.oob_score:
            self._set_out_of_bag([rows for part in grown for _, rows in part], X, y)
        if self.n_outputs_ == 1:
            self.n_classes_ = self.n_classes_[0]
            self.classes_ = self.classes_[0]
        return self

    def predict_proba(self, X):
        """scikit-learn's probabilities (the mean of the trees'), each tree's read from its tree directly: on a small
        batch, scikit-learn's checks and thread hand-offs around each tree's prediction cost more than the tree."""
        check_is_fitted(self)
        if self.n_outputs_ != 1 or not grows_as_scikit_learn():
            return super().predict_proba(X)
        from joblib import effective_n_jobs
        from sklearn.utils.parallel import Parallel, delayed

        X = self._validate_X_predict(X)
        trees = self.estimators_
        jobs = min(effective_n_jobs(self.n_jobs), max(1, X.shape[0] // PER_THREAD))
        if jobs == 1:
            return _summed(trees, X, self.n_classes_) / len(trees)
        sums = Parallel(n_jobs=jobs, prefer="threads")(delayed(_summed)(trees[i::jobs], X, self.n_classes_)
                                                      for i in range(jobs))
        return sum(sums[1:], sums[0]) / len(trees)

    def _set_out_of_bag(self, left_out: list, X, y) -> None:
        """scikit-learn's out-of-bag votes and score, from the rows each bootstrap sample left out as the trees grew
        (scikit-learn draws each sample again), each tree's probabilities read from its tree directly: the same sums
        and counts."""
        import warnings

        from sklearn.metrics import accuracy_score

        n_classes = self.n_classes_[0]
        votes = np.zeros((len(y), n_classes))
        counts = np.zeros(len(y), dtype=np.int64)
        for tree, rows in zip(self.estimators_, left_out):
            votes[rows] += tree.tree_.predict(X[rows, :])[:, :n_classes]
            counts[rows] += 1
        if (counts == 0).any():
            warnings.warn("Some inputs do not have OOB scores. This probably means too few trees were used to "
                          "compute any reliable OOB estimates.", UserWarning)
            counts[counts == 0] = 1
        self.oob_decision_function_ = votes / counts[:, np.newaxis]
        self.oob_score_ = accuracy_score(y, np.argmax(self.oob_decision_function_, axis=1))


PER_THREAD = 5_000  # rows a batch needs per thread before its trees are read in threads


def _summed(trees: list, X, n_classes: int) -> np.ndarray:
    """The sum of these trees' probabilities of the rows X (validated: float32)."""
    out = np.zeros((X.shape[0], n_classes))
    for tree in trees:
        out += tree.tree_.predict(X)[:, :n_classes]
    return out


class _Grower:
    """What every tree of one fit shares: the rows, labels, weights and the tree parameters as scikit-learn's tree
    `_fit` derives them."""

    def __init__(self, forest: RandomForest, X, y, weight, missing):
        from sklearn.tree import DecisionTreeClassifier

        self.forest, self.X, self.y, self.weight, self.missing = forest, X, y, weight, missing
        n_samples, n_features = X.shape
        self.n_classes = np.asarray(forest.n_classes_, dtype=np.intp)
        self.classes = np.unique(y[:, 0])
        self.params = {name: getattr(forest, name) for name in forest.estimator_params if name != "random_state"}
        probe = DecisionTreeClassifier(**self.params)
        leaf = probe.min_samples_leaf
        self.min_samples_leaf = leaf if isinstance(leaf, (int, np.integer)) else int(np.ceil(leaf * n_samples))
        split = probe.min_samples_split
        split = split if isinstance(split, (int, np.integer)) else max(2, int(np.ceil(split * n_samples)))
        self.min_samples_split = max(split, 2 * self.min_samples_leaf)
        self.max_features = _max_features(probe.max_features, n_features)
        self.max_depth = np.iinfo(np.int32).max if probe.max_depth is None else probe.max_depth
        self.max_leaf_nodes = probe.max_leaf_nodes

    def grow_all(self, seeds: list[int]) -> list[tuple]:
        """The trees of these seeds, in order, with one bit generator reseeded for each: `RandomState(seed)`, as
        scikit-learn makes two for each tree, seeds a fresh generator from the system's entropy first and costs
        about 0.25 ms, more than growing a tree on a small table."""
        bits = np.random.MT19937()
        return [self.grow(seed, bits) for seed in seeds]

    def grow(self, seed: int, bits: np.random.MT19937) -> tuple:
        """One tree, as `_parallel_build_trees` and the tree's `_fit` grow it from this seed, and the rows its
        bootstrap sample left out (None without bootstrap)."""
        from sklearn.tree import DecisionTreeClassifier
        from sklearn.tree._classes import CRITERIA_CLF, DENSE_SPLITTERS
        from sklearn.tree._tree import BestFirstTreeBuilder, DepthFirstTreeBuilder, Tree

        n_samples, n_features = self.X.shape
        left_out = None
        if self.forest.bootstrap:
            counts = np.bincount(self._drawn(_seeded(bits, seed)), minlength=n_samples)
            weight = counts.astype(np.float64)
            left_out = np.flatnonzero(counts == 0)
        else:
            weight = None if self.weight is None else np.ascontiguousarray(self.weight, dtype=np.float64)
        fraction = self.params["min_weight_fraction_leaf"]
        min_weight_leaf = fraction * (n_samples if weight is None else np.sum(weight))
        criterion = CRITERIA_CLF[self.forest.criterion](1, self.n_classes)
        splitter = DENSE_SPLITTERS["best"](criterion, self.max_features, self.min_samples_leaf, min_weight_leaf,
                                           _seeded(bits, seed), None)
        tree_ = Tree(n_features, self.n_classes, 1)
        if self.max_leaf_nodes is None:
            builder = DepthFirstTreeBuilder(splitter, self.min_samples_split, self.min_samples_leaf, min_weight_leaf,
                                            self.max_depth, self.params["min_impurity_decrease"])
        else:
            builder = BestFirstTreeBuilder(splitter, self.min_samples_split, self.min_samples_leaf, min_weight_leaf,
                                           self.max_depth, self.max_leaf_nodes, self.params["min_impurity_decrease"])
        builder.build(tree_, self.X, self.y, weight, self.missing)
        tree = DecisionTreeClassifier(**self.params, random_state=seed)
        tree.n_features_in_, tree.n_outputs_, tree.max_features_ = n_features, 1, self.max_features
        tree.classes_, tree.n_classes_, tree.tree_ = self.classes, self.n_classes[0], tree_
        return tree, left_out

    def _drawn(self, random_state: np.random.RandomState) -> np.ndarray:
        """A tree's bootstrap sample, as scikit-learn's `_generate_sample_indices` draws it: uniformly, or in
        proportion to the rows' weights (class weights included)."""
        n_samples, n_drawn = self.X.shape[0], self.forest._n_samples_bootstrap
        if self.weight is None:
            return random_state.randint(0, n_samples, n_drawn)
        return random_state.choice(n_samples, n_drawn, replace=True, p=self.weight / np.sum(self.weight))


def _seeded(bits: np.random.MT19937, seed: int) -> np.random.RandomState:
    """`RandomState(seed)`'s draws from `bits`, reseeded as `RandomState(seed)` seeds its own."""
    bits._legacy_seeding(seed)
    return np.random.RandomState(bits)


def _max_features(max_features, n_features: int) -> int:
    """The features a split draws from, as scikit-learn's tree reads its `max_features`."""
    if max_features == "sqrt":
        return max(1, int(np.sqrt(n_features)))
    if max_features == "log2":
        return max(1, int(np.log2(n_features)))
    if max_features is None:
        return n_features
    if isinstance(max_features, (int, np.integer)):
        return int(max_features)
    return max(1, int(max_features * n_features)) if max_features > 0.0 else 0


_CHECKED: list[bool] = []
_CHECKING = threading.Lock()


def grows_as_scikit_learn() -> bool:
    """Whether `RandomForest`'s lean fit grows the forest scikit-learn's own fit grows, checked once a process on
    small tables (with and without row and class weights, a bootstrap fraction, several classes): the same trees,
    node for node, and the same out-of-bag votes. False where it differs or fails."""
    with _CHECKING:
        if not _CHECKED:
            _CHECKED.append(_same_forests())
        return _CHECKED[0]


def _same_forests() -> bool:
    rng = np.random.default_rng(7)
    X = rng.normal(size=(60, 4)).astype(np.float32)
    y = np.where(X[:, 0] + rng.normal(size=60) > 1.0, 2, np.where(X[:, 1] > 0.6, 1, 0))
    weights = rng.uniform(0.5, 2.0, size=60)
    # Enough trees on small enough samples that every row gets an out-of-bag vote: the check warns of nothing.
    cases = [{"n_estimators": 8, "max_samples": 0.3, "class_weight": {0: 1.0, 1: 3.0, 2: 5.0}, "oob_score": True},
             {"n_estimators": 3, "bootstrap": False, "max_features": None, "min_samples_leaf": 3}]
    try:
        for params in cases:
            common = dict(random_state=3, n_jobs=1, **params)
            theirs = RandomForestClassifier(**common).fit(X, y, sample_weight=weights)
            if not same_forest(RandomForest(**common)._fit_lean(X, y, weights), theirs):
                return False
    except Exception:  # a scikit-learn whose internals differ: grown by its own fit
        return False
    return True


def same_forest(ours, theirs) -> bool:
    """Whether two fitted forests hold the same trees (node arrays and values) and out-of-bag votes."""
    if len(ours.estimators_) != len(theirs.estimators_) or not np.array_equal(ours.classes_, theirs.classes_):
        return False
    for mine, other in zip(ours.estimators_, theirs.estimators_):
        a, b = mine.tree_.__getstate__(), other.tree_.__getstate__()
        if not (np.array_equal(a["nodes"], b["nodes"]) and np.array_equal(a["values"], b["values"])
                and mine.random_state == other.random_state and mine.max_features_ == other.max_features_):
            return False
    oob = [getattr(forest, "oob_decision_function_", None) for forest in (ours, theirs)]
    return (oob[0] is None) == (oob[1] is None) and (oob[0] is None or np.allclose(oob[0], oob[1], rtol=0, atol=1e-12))
