"""Properties of the default ensemble over many small random datasets.

Whatever the data (20–300 rows, 2–6 classes of random sizes, numeric, categorical and
missing values mixed, labels of every dtype), `default_ensemble().fit` either succeeds,
and then every prediction is a proper distribution over the training classes, or it
raises the product's `InputError` with its three parts. No other exception escapes.
"""

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from imbalance_flows import InputError, default_ensemble

LABEL_KINDS = ["int", "str", "float", "bool", "category"] * 3 + ["mixed", "int-and-str", "bool-and-str"]


@st.composite
def datasets(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    rows = draw(st.integers(20, 300))
    kind = draw(st.sampled_from(LABEL_KINDS))
    n_classes = 2 if kind.startswith("bool") else draw(st.integers(2, 6))
    shares = rng.dirichlet(np.full(n_classes, draw(st.sampled_from([0.3, 1.0, 5.0]))))
    codes = rng.choice(n_classes, size=rows, p=shares)
    labels = _labels(kind, codes, n_classes)
    columns = {}
    for i in range(draw(st.integers(1, 6))):
        column = draw(st.sampled_from(["normal", "integer", "category", "few-levels", "constant", "bool"]))
        columns[f"f{i}"] = _column(column, rows, codes, rng)
        missing = draw(st.sampled_from([0.0] * 10 + [0.1] * 5 + [0.5] * 4 + [1.0]))
        if missing:
            columns[f"f{i}"] = pd.Series(columns[f"f{i}"]).mask(rng.random(rows) < missing)
    return pd.DataFrame(columns), labels, kind


def _labels(kind: str, codes: np.ndarray, n_classes: int):
    names = {
        "int": list(range(10, 10 + n_classes)), "str": [f"class {c}" for c in range(n_classes)],
        "float": [c / 2 for c in range(n_classes)], "bool": [False, True],
        "category": [f"c{c}" for c in range(n_classes)],
        "mixed": [1, "1", 2.5, "b", 4, "c"][:n_classes], "int-and-str": [1, "1", 2, "2", 3, "3"][:n_classes],
        "bool-and-str": [True, "maybe"],
    }[kind]
    labels = pd.Series([names[c] for c in codes], dtype="object" if kind not in ("int", "float", "bool") else None)
    return labels.astype("category") if kind == "category" else labels


def _column(kind: str, rows: int, codes: np.ndarray, rng) -> np.ndarray:
    signal = codes + rng.normal(scale=1.0, size=rows)
    if kind == "normal":
        return signal
    if kind == "integer":
        return np.round(signal * 3).astype(int)
    if kind == "category":
        return np.array([f"level {int(v)}" for v in np.round(signal * 2)], dtype=object)
    if kind == "few-levels":
        return rng.choice(["a", "b", "c"], size=rows)
    if kind == "constant":
        return np.ones(rows)
    return signal > 1


@settings(deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])  # examples: the profile
@given(data=datasets())
def test_fit_either_succeeds_with_proper_probabilities_or_raises_the_products_error(data):
    X, y, kind = data
    try:
        model = default_ensemble(random_state=0).fit(X, y)
    except InputError as error:
        event(f"refused: {error.rule[:60]}")
        assert error.rule and error.value and error.hint
        assert "Traceback" not in str(error) and len(str(error)) < 1500
        return
    assert kind not in ("mixed", "int-and-str", "bool-and-str"), "labels of mixed types must be refused"
    event("fitted")
    proba = model.predict_proba(X)
    assert proba.shape == (len(X), len(model.classes_))
    assert np.all(proba >= 0) and np.allclose(proba.sum(axis=1), 1)
    predicted = model.predict(X)
    assert len(predicted) == len(X)
    assert set(pd.unique(predicted)) <= set(pd.unique(y))
    assert {type(v) for v in predicted.tolist()} <= {type(v) for v in pd.Series(y).tolist()}


@pytest.mark.parametrize("labels, named", [
    ([1, "1"] * 15, "int, str"),
    ([True, False, "maybe"] * 10, "bool, str"),
    ([1.5, "a"] * 15, "float, str"),
])
def test_labels_of_mixed_types_are_refused_naming_the_types(labels, named):
    X = pd.DataFrame({"x": np.arange(len(labels), dtype=float)})
    with pytest.raises(InputError, match="the labels must all have one type") as caught:
        default_ensemble().fit(X, pd.Series(labels, dtype=object))
    assert named in caught.value.value


@pytest.mark.parametrize("labels, named", [
    (pd.Series(pd.to_datetime(["2020-01-01", "2020-01-02"] * 15)), "datetime64"),
    (pd.Series([(1, 2), (3, 4)] * 15, dtype=object), "tuple"),
    (pd.Series([1 + 2j, 3j] * 15), "complex"),
])
def test_labels_that_are_not_numbers_booleans_or_strings_are_refused_by_the_rule(labels, named):
    X = pd.DataFrame({"x": np.arange(len(labels), dtype=float)})
    with pytest.raises(InputError, match="class labels must be numbers, booleans or strings") as caught:
        default_ensemble().fit(X, labels)
    assert named in caught.value.value and "astype(str)" in caught.value.hint
