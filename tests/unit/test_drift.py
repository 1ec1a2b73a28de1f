"""Drift (PSI against the training split's picture) and prior shift (EM estimate, adjusted scores)."""

import re

import numpy as np
import pandas as pd
import pytest

from imbalance_flows.tasks.data.schema import infer_schema
from imbalance_flows.tasks.errors import InputError
from imbalance_flows.tasks.model.calibrate import check_priors
from imbalance_flows.tasks.monitoring.drift import (
    BINS,
    DriftTally,
    _bins,
    _sorted_counts,
    adjust_proba,
    drift_report,
    estimate_priors,
    markdown,
    psi,
    psi_png,
    reference,
)


def _table(n: int, rng, shift: float = 0.0, rare: float = 0.1) -> tuple[pd.DataFrame, pd.Series]:
    y = np.where(rng.random(n) < rare, "yes", "no")
    frame = pd.DataFrame({"amount": rng.normal(loc=shift, size=n), "age": rng.integers(18, 80, n).astype(float),
                          "plan": rng.choice(["a", "b", "c"], size=n, p=[0.6, 0.3, 0.1])})
    frame.loc[rng.random(n) < 0.05, "age"] = np.nan
    return frame, pd.Series(y, name="label")


def _posterior(x: np.ndarray, prior: float) -> np.ndarray:
    """P(yes | x) when x | no ~ N(0, 1), x | yes ~ N(2, 1) and P(yes) = prior: calibrated by construction."""
    odds = prior / (1 - prior) * np.exp(2 * x - 2)
    p = odds / (1 + odds)
    return np.column_stack([1 - p, p])


def _tally(ref, classes, frames) -> DriftTally:
    tally = DriftTally(ref, classes, [ref["class_shares"][c] for c in classes])
    for frame, proba in frames:
        tally.update(frame, proba, np.asarray(classes)[proba.argmax(1)])
    return tally


def test_psi_is_zero_for_the_same_shares_and_grows_with_the_shift():
    assert psi([0.5, 0.5], [0.5, 0.5]) == 0
    assert 0 < psi([0.5, 0.5], [0.6, 0.4]) < psi([0.5, 0.5], [0.9, 0.1])
    assert np.isfinite(psi([0.5, 0.5, 0.0], [0.4, 0.4, 0.2]))  # an empty bin is floored, not infinite


def test_the_same_population_does_not_drift_and_a_moved_feature_does():
    rng = np.random.default_rng(0)
    X, y = _table(5000, rng)
    ref = reference(X, y, infer_schema(X, y))
    assert len(ref["features"]["amount"]["edges"]) == 9 and ref["class_shares"]["yes"] == pytest.approx(0.1, abs=0.02)
    assert set(ref["features"]["plan"]["shares"]) == {"a", "b", "c"} and ref["features"]["plan"]["other"] == 0

    same, _ = _table(3000, rng)
    share = ref["class_shares"]["yes"]
    proba = _posterior(rng.normal(loc=np.where(rng.random(3000) < share, 2.0, 0.0)), share)
    report = drift_report(_tally(ref, ["no", "yes"], [(same.iloc[:1500], proba[:1500]),
                                                      (same.iloc[1500:], proba[1500:])]))
    assert not report["drift"] and report["drifted_features"] == [] and report["rows"] == 3000
    assert max(f["psi"] for f in report["features"].values()) < 0.05
    assert report["verdict"].startswith("No drift")

    moved, _ = _table(3000, rng, shift=1.5)
    moved["plan"] = "d"  # a category training never saw
    report = drift_report(_tally(ref, ["no", "yes"], [(moved, proba)]), unseen={"plan": 3000})
    assert report["drift"] and report["drifted_features"][:2] in (["plan", "amount"], ["amount", "plan"])
    assert report["features"]["age"]["psi"] < 0.05 and report["features"]["plan"]["unseen"] == 1.0
    assert "Drift: features drifted: " in report["verdict"] and "amount (PSI" in report["verdict"]
    assert "| `amount` |" in markdown(report)
    assert psi_png(report)[:8] == b"\x89PNG\r\n\x1a\n"


def test_em_recovers_a_shifted_prior_and_adjusted_scores_do_better():
    rng = np.random.default_rng(1)
    train_prior, new_prior = 0.1, 0.4
    y = rng.random(20_000) < new_prior
    x = rng.normal(loc=np.where(y, 2.0, 0.0))
    proba = _posterior(x, train_prior)  # the model's calibrated probabilities, learnt under the training prior

    estimated = estimate_priors(proba, [1 - train_prior, train_prior])
    assert estimated[1] == pytest.approx(new_prior, abs=0.02)
    adjusted = adjust_proba(proba, [1 - train_prior, train_prior], estimated)
    np.testing.assert_allclose(adjusted, _posterior(x, estimated[1]), atol=1e-9)

    def log_loss(p):
        return -np.mean(np.log(np.where(y, p[:, 1], p[:, 0])))

    assert log_loss(adjusted) < log_loss(proba) - 0.05
    fn, fp = 5.0, 1.0  # decide yes when P(yes) > fp / (fn + fp), as a cost-tuned model does

    def cost(p):
        flagged = p[:, 1] >= fp / (fn + fp)
        return np.mean(np.where(y & ~flagged, fn, 0) + np.where(~y & flagged, fp, 0))

    assert cost(adjusted) < cost(proba)


def test_the_tally_estimates_priors_from_the_probabilities_it_saw():
    rng = np.random.default_rng(2)
    X, labels = _table(2000, rng)
    ref = reference(X, labels, infer_schema(X, labels))
    y = rng.random(4000) < 0.3
    proba = _posterior(rng.normal(loc=np.where(y, 2.0, 0.0)), ref["class_shares"]["yes"])
    report = drift_report(_tally(ref, ["no", "yes"], [(_table(4000, rng)[0], proba)]))
    assert report["classes"]["yes"]["estimated"] == pytest.approx(0.3, abs=0.03)
    assert report["shifted_classes"] == ["yes"] and "class shares shifted: yes 0.09" in report["verdict"]


def test_given_priors_must_name_every_class_and_sum_to_one():
    np.testing.assert_allclose(check_priors({"yes": 0.2, "no": 0.8}, ["no", "yes"]), [0.8, 0.2])
    with pytest.raises(InputError, match="must name every class of the model once"):
        check_priors({"yes": 0.2}, ["no", "yes"])
    with pytest.raises(InputError, match=r"must each lie in \(0, 1\) and sum to 1"):
        check_priors({"yes": 0.2, "no": 0.7}, ["no", "yes"])


def test_a_rare_flag_and_a_category_named_other_are_binned_apart():
    rng = np.random.default_rng(3)
    n = 4000
    y = pd.Series(np.where(rng.random(n) < 0.1, "yes", "no"))
    X = pd.DataFrame({"flag": (rng.random(n) < 0.05).astype(int),
                      "kind": rng.choice(["(other)", "x", "y"], size=n, p=[0.5, 0.3, 0.2])})
    ref = reference(X, y, infer_schema(X, y))
    classes = ["no", "yes"]
    share = ref["class_shares"]["yes"]
    proba = _posterior(rng.normal(loc=np.where(rng.random(n) < share, 2.0, 0.0)), share)

    same = drift_report(_tally(ref, classes, [(X, proba)]))
    assert same["features"]["flag"]["psi"] < 0.01 and same["features"]["kind"]["psi"] < 0.01
    flagged = X.assign(flag=(rng.random(n) < 0.6).astype(int), kind="(other)")
    moved = drift_report(_tally(ref, classes, [(flagged, proba)]))
    assert set(moved["drifted_features"]) == {"flag", "kind"}  # 5 % → 60 % ones; every row the one category


def test_a_small_batch_gets_no_verdict_and_no_alarm():
    rng = np.random.default_rng(4)
    X, y = _table(3000, rng)
    ref = reference(X, y, infer_schema(X, y))
    few, _ = _table(40, rng, shift=3.0)
    report = drift_report(_tally(ref, ["no", "yes"], [(few, np.tile([0.5, 0.5], (40, 1)))]))
    assert not report["drift"] and report["verdict"].startswith("No verdict: 40 rows are too few")
    assert report["features"]["amount"]["psi"] > 1  # still measured and written, only not judged


def test_the_prior_sample_is_uniform_over_the_stream(monkeypatch):
    from imbalance_flows.tasks.monitoring import drift

    monkeypatch.setattr(drift, "PRIOR_ROWS", 1000)
    tally = DriftTally({"features": {}, "class_shares": {}}, ["no", "yes"], [0.5, 0.5])
    first, second = np.tile([1.0, 0.0], (5000, 1)), np.tile([0.0, 1.0], (5000, 1))  # a file sorted by class
    for chunk in (first, second):
        tally.update(pd.DataFrame(index=range(len(chunk))), chunk, ["no"] * len(chunk))
    assert len(tally.sample) == 1000 and 0.4 < tally.sample[:, 1].mean() < 0.6


@pytest.mark.parametrize("labels", [
    [1, 0, 1, np.nan], np.array(["a", "b", None, "a"], dtype=object), [True, False, True],
    pd.Categorical(["x", "y", "x"], categories=["x", "y", "z"]), pd.Categorical(["x", None, "x"]),
    np.array([0.1, 0.2, 0.1], dtype=np.float32), np.array([1, 1.0, 2], dtype=object),
    np.array([1, True, 0, False], dtype=object), pd.array(["a", None, "a"], dtype="string"),
    pd.array([1, 2, None], dtype="Int64"), np.array([b"a", b"b", b"a"], dtype=object)])
def test_labels_are_counted_as_their_text_whatever_their_type(labels):
    from imbalance_flows.tasks.monitoring.drift import label_counts

    y = pd.Series(labels)
    assert label_counts(y).sort_index().to_dict() == y.astype(str).value_counts().sort_index().to_dict()


def test_a_feature_with_few_values_in_the_batch_passing_the_psi_limit_by_chance_is_no_alarm():
    # A feature missing in most rows: a batch of the training distribution holds few of its values, and their
    # PSI over ten training deciles passes 0.25 by chance, where the counts are well within chance.
    rng = np.random.default_rng(7)
    X, y = _table(20_000, rng)
    X.loc[rng.random(len(X)) < 0.92, "amount"] = np.nan
    ref = reference(X, y, infer_schema(X, y))
    share = ref["class_shares"]["yes"]
    chance, alarms = [], 0
    for _ in range(40):
        batch, _ = _table(900, rng)
        batch.loc[rng.random(len(batch)) < 0.92, "amount"] = np.nan
        proba = _posterior(rng.normal(loc=np.where(rng.random(900) < share, 2.0, 0.0)), share)
        report = drift_report(_tally(ref, ["no", "yes"], [(batch, proba)]))
        chance.append(report["features"]["amount"]["psi"])
        alarms += report["drift"]
    assert max(chance) > 0.15  # PSI alone is this noisy on ~70 values
    assert alarms == 0


def test_a_large_shift_in_a_small_batch_is_found():
    rng = np.random.default_rng(8)
    X, y = _table(5000, rng, rare=0.05)
    ref = reference(X, y, infer_schema(X, y))
    n = 415  # the rare class at 54 % instead of 5 %: far beyond the noise of 415 rows
    share = ref["class_shares"]["yes"]
    proba = _posterior(rng.normal(loc=np.where(rng.random(n) < 0.54, 2.0, 0.0)), share)
    report = drift_report(_tally(ref, ["no", "yes"], [(_table(n, rng)[0], proba)]))
    assert "yes" in report["shifted_classes"] and report["classes"]["yes"]["p_value"] < 1e-6
    assert re.search(r"yes 0\.0\d\d → 0\.5\d\d", report["verdict"])
    moved = drift_report(_tally(ref, ["no", "yes"], [(_table(120, rng, shift=2.0)[0], proba[:120])]))
    assert moved["drifted_features"] == ["amount"] and moved["features"]["amount"]["p_value"] < 1e-9


@pytest.mark.parametrize("kind", ["continuous", "mostly one value", "infinities", "one value"])
def test_the_picture_counts_each_bin_as_binning_every_number_does(kind):
    rng = np.random.default_rng(4)
    numbers = {"continuous": rng.normal(size=5_001),
               "mostly one value": np.where(rng.random(5_001) < 0.8, 0.0, rng.integers(1, 4, 5_001)),
               "infinities": np.where(rng.random(5_001) < 0.1, np.inf, rng.normal(size=5_001)),
               "one value": np.full(5_001, 2.5)}[kind]
    ordered = np.sort(numbers)
    with np.errstate(invalid="ignore"):  # inf − inf: a NaN edge, sorted last
        edges = np.unique(np.quantile(ordered, np.linspace(0, 1, BINS + 1)[1:-1]))
    expected = np.bincount(_bins(edges, numbers), minlength=len(edges) + 1)
    assert _sorted_counts(edges, ordered).tolist() == expected.tolist()
