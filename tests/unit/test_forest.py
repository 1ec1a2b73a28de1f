"""The forest member's lean fit: the forest scikit-learn's own fit grows, tree for tree, with the same out-of-bag
votes and probabilities; scikit-learn's own fit where the lean path does not apply or does not hold."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import sparse
from sklearn.ensemble import RandomForestClassifier

from imbalance_flows.tasks.learners import forest
from imbalance_flows.tasks.learners.forest import (
    RandomForest,
    grows_as_scikit_learn,
    same_forest,
)


def _table(n=300, classes=2, seed=0, missing=False):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6)).astype(np.float32)
    score = X[:, 0] + 0.5 * X[:, 1] + rng.normal(scale=0.7, size=n)
    y = np.digitize(score, np.quantile(score, [0.85, 0.95][:classes - 1]))
    if missing:
        X[rng.random(size=X.shape) < 0.05] = np.nan
    return X, y


CASES = {
    "binary": ({}, {}),
    "several classes, labels as text": ({"classes": 3}, {}),
    "class weights": ({}, {"class_weight": {0: 1.0, 1: 6.0}}),
    "balanced class weights, a bootstrap fraction": ({}, {"class_weight": "balanced", "max_samples": 0.5}),
    "row weights": ({"weights": True}, {}),
    "no bootstrap": ({"weights": True}, {"bootstrap": False, "oob_score": False}),
    "limits": ({}, {"min_samples_leaf": 4, "max_depth": 5, "max_features": 0.5, "min_samples_split": 0.05}),
    "leaf count": ({"classes": 3}, {"max_leaf_nodes": 9, "criterion": "entropy"}),
    "missing values": ({"missing": True}, {}),
    "two threads": ({"classes": 3}, {"n_jobs": 2}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_lean_fit_grows_scikit_learns_forest_tree_for_tree(case):
    data, params = CASES[case]
    X, y = _table(classes=data.get("classes", 2), missing=data.get("missing", False))
    if case.startswith("several"):
        y = np.array(["low", "mid", "high"])[y]
    weight = np.random.default_rng(1).uniform(0.2, 3.0, size=len(y)) if data.get("weights") else None
    common = {"n_estimators": 12, "random_state": 5, "oob_score": True, **params}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # rows no tree left out
        theirs = RandomForestClassifier(**common).fit(X, y, sample_weight=weight)
        ours = RandomForest(**common).fit(X, y, sample_weight=weight)
    assert grows_as_scikit_learn()
    assert same_forest(ours, theirs)
    assert np.array_equal(ours.classes_, theirs.classes_) and ours.n_classes_ == theirs.n_classes_
    if common["oob_score"]:
        assert ours.oob_score_ == theirs.oob_score_
    test, _ = _table(n=40, classes=data.get("classes", 2), seed=9, missing=data.get("missing", False))
    assert np.allclose(ours.predict_proba(test), theirs.predict_proba(test), rtol=0, atol=1e-12)
    assert np.array_equal(ours.predict(test), theirs.predict(test))


def test_what_the_lean_fit_does_not_cover_is_grown_by_scikit_learns_own_fit(monkeypatch):
    X, y = _table()
    monkeypatch.setattr(RandomForest, "_fit_lean", lambda *args: pytest.fail("the lean path was taken"))
    common = {"n_estimators": 5, "random_state": 0}
    for params, rows in (({"class_weight": "balanced_subsample"}, X), ({}, sparse.csr_matrix(X)),
                         ({"ccp_alpha": 0.01}, X)):
        ours = RandomForest(**common, **params).fit(rows, y)
        theirs = RandomForestClassifier(**common, **params).fit(rows, y)
        assert same_forest(ours, theirs)
        assert np.allclose(ours.predict_proba(rows), theirs.predict_proba(rows), rtol=0, atol=1e-12)


def test_a_scikit_learn_that_grows_differently_is_left_to_grow_its_own_forest(monkeypatch):
    """The check the first fit of a process makes: it fails where the lean fit would grow other trees, and the forest
    then is scikit-learn's own."""
    drawn = forest._Grower._drawn
    monkeypatch.setattr(forest._Grower, "_drawn", lambda self, state: np.sort(drawn(self, state)[::-1]) // 2)
    assert not forest._same_forests()
    monkeypatch.setattr(forest, "_CHECKED", [False])
    monkeypatch.setattr(RandomForest, "_fit_lean", lambda *args: pytest.fail("the lean path was taken"))
    X, y = _table()
    ours = RandomForest(n_estimators=5, random_state=0).fit(X, y)
    theirs = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)
    assert same_forest(ours, theirs)
    assert np.array_equal(ours.predict_proba(X), theirs.predict_proba(X))


def test_a_check_that_fails_on_other_internals_leaves_scikit_learns_fit(monkeypatch):
    monkeypatch.setattr(forest._Grower, "grow", lambda *args: (_ for _ in ()).throw(TypeError("other signature")))
    assert not forest._same_forests()


def test_a_forest_saved_as_a_member_loads_back_with_the_same_probabilities(tmp_path):
    import pandas as pd

    from imbalance_flows.tasks.data.schema import coerce, infer_schema
    from imbalance_flows.tasks.model.fitting import fit_member
    from imbalance_flows.tasks.model.spec import MemberSpec
    from imbalance_flows.tasks.store.member_files import dump_member, load_member

    X, y = _table()
    frame, labels = pd.DataFrame(X, columns=[f"f{i}" for i in range(6)]), pd.Series(y, name="y")
    schema = infer_schema(frame, labels)
    rows = coerce(frame, schema)
    member, _ = fit_member(MemberSpec.parse("random_under:rf"), rows, labels, schema, random_state=0)
    assert isinstance(member.steps[-1][1], RandomForest)
    path = tmp_path / "member.skops"
    dump_member(member, path)
    loaded = load_member(path)
    assert type(loaded.steps[-1][1]) is RandomForest
    assert np.array_equal(loaded.predict_proba(rows), member.predict_proba(rows))


def test_an_unfitted_forest_says_so_when_asked_for_probabilities():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError, match="not fitted yet"):
        RandomForest().predict_proba(np.zeros((1, 3)))


def test_the_check_warns_of_nothing(monkeypatch):
    """The first fit of a process checks the lean path on a small table; a user sees no warning from it (and one set
    to fail on warnings sees the check pass)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert forest._same_forests()


def test_inputs_scikit_learn_fits_are_fitted_alike(capsys):
    """A frame of sparse columns only (read as a sparse matrix), labels that refuse numpy's functions, and progress
    lines asked for: scikit-learn's own fit, the same forest."""
    import pandas as pd
    from sklearn.utils.estimator_checks import _NotAnArray

    X, y = _table(n=120)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(6)]).astype(pd.SparseDtype("float32", 0.0))
    for data, labels, params in [(frame, y, {}), (X, _NotAnArray(y), {}), (X, y, {"verbose": 2})]:
        ours = RandomForest(n_estimators=3, random_state=0, **params).fit(data, labels)
        theirs = RandomForestClassifier(n_estimators=3, random_state=0, **params).fit(data, labels)
        assert same_forest(ours, theirs)
    assert capsys.readouterr().out.count("building tree 3 of 3") == 2  # scikit-learn's progress, for both


def test_parameters_are_checked_as_scikit_learn_checks_them():
    from sklearn import config_context
    from sklearn.utils._param_validation import InvalidParameterError

    X, y = _table(n=120)
    with pytest.raises(InvalidParameterError, match="'oob_score' parameter"):
        RandomForest(oob_score=np.array([1, 2])).fit(X, y)
    with config_context(skip_parameter_validation=True):  # as scikit-learn's forest, when asked not to check
        ours = RandomForest(n_estimators=3, min_samples_leaf=1.0, random_state=0).fit(X, y)
        theirs = RandomForestClassifier(n_estimators=3, min_samples_leaf=1.0, random_state=0).fit(X, y)
    assert same_forest(ours, theirs)
