"""Probabilities that mean what they say: a map fitted on rows the members did not see.

Resampled and class-weighted members learn from a balanced world: a member that saw as many
frauds as non-frauds says 50 % where the real rate is 2 %. The ensemble fits one of these maps
on its out-of-fold (or held-out) probabilities and applies it to every probability it gives:

* ``sigmoid`` -- Platt scaling: ``softmax(a · log p + b)``, one slope and one intercept per
  class, fitted by maximum likelihood. For two classes it is Platt's logistic fit on the
  logit of the minority class's probability; the intercepts also undo a shifted class prior.
* ``isotonic`` -- a monotone step map per class (one-vs-rest, then normalised); no probability
  is taken below 1 / (2 · rows): no judged row can vouch for a smaller one.
* ``temperature`` -- ``softmax(log p / T)``: one number; it sharpens or softens, but cannot undo a prior.
* ``none`` -- the members' weighted mean as it is.

A fitted map is a small JSON mapping of numbers (kept in the model's manifest): loading a model
never runs code, and the map can be read by eye.
"""

from __future__ import annotations

import numpy as np

from imbalance_flows.tasks.errors import InputError, preview
from imbalance_flows.tasks.narrow import row_maxima, row_sums

FLOOR = 1e-3  # probabilities below this are read as this before the logarithm: the members' votes are coarse
METHODS = ("sigmoid", "isotonic", "temperature", "none")


def fit_calibration(method: str, proba: np.ndarray, codes: np.ndarray) -> dict | None:
    """The map `method` fitted to class probabilities `proba` of rows whose true class codes are `codes`.

    Returns None for "none"; otherwise a JSON-ready mapping that `calibrate` applies.
    """
    proba = np.asarray(proba, dtype=float)
    n, k = proba.shape
    if method == "none":
        return None
    if method == "isotonic":
        from sklearn.isotonic import IsotonicRegression

        maps, onehot = [], np.eye(k)[codes]
        for column in ([1] if k == 2 else range(k)):
            fitted = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(
                proba[:, column], onehot[:, column])
            maps.append({"x": fitted.X_thresholds_.tolist(), "y": fitted.y_thresholds_.tolist()})
        return {"method": "isotonic", "maps": maps, "floor": 1.0 / (2 * n)}
    if method in ("sigmoid", "temperature"):
        slope, intercepts = _fit_scaling(_logits(proba), codes, with_intercepts=method == "sigmoid")
        return {"method": method, "slope": slope, "intercepts": intercepts}
    raise ValueError(f"unknown calibration {method!r}")


def calibrate(calibration: dict | None, proba: np.ndarray) -> np.ndarray:
    """Class probabilities through a map from `fit_calibration` (None: unchanged)."""
    proba = np.asarray(proba, dtype=float)
    if calibration is None:
        return proba
    if calibration["method"] == "isotonic":
        floor = calibration["floor"]
        columns = [np.interp(proba[:, c], m["x"], m["y"]) for c, m in zip(
            [1] if proba.shape[1] == 2 else range(proba.shape[1]), calibration["maps"])]
        if proba.shape[1] == 2:
            positive = np.clip(columns[0], floor, 1 - floor)
            return np.column_stack([1 - positive, positive])
        out = np.clip(np.column_stack(columns), floor, 1.0)
        return out / row_sums(out)[:, None]
    return _softmax(calibration["slope"] * _logits(proba) + np.asarray(calibration["intercepts"]))


def _logits(proba: np.ndarray) -> np.ndarray:
    return np.log(np.clip(proba, FLOOR, 1.0))


def _softmax(scores: np.ndarray) -> np.ndarray:
    out = np.exp(scores - row_maxima(scores)[:, None])
    out /= row_sums(out)[:, None]
    return out


def _fit_scaling(logits: np.ndarray, codes: np.ndarray, with_intercepts: bool) -> tuple[float, list[float]]:
    """Slope (and intercepts, the first fixed at 0) of softmax(slope · logits + intercepts), by maximum likelihood,
    for rows of these true class `codes`."""
    from scipy.optimize import minimize

    n, k = logits.shape
    codes = np.asarray(codes)
    # One row per class: the sums over classes run along rows of n values (over a row of k values, numpy's
    # reductions cost most of the fit).
    by_class = np.ascontiguousarray(logits.T)
    true_logits = logits[np.arange(n), codes]
    per_class = np.bincount(codes, minlength=k)

    def loss(params):
        slope, intercepts = params[0], np.concatenate([[0.0], params[1:]]) if with_intercepts else np.zeros(k)
        scores = slope * by_class + intercepts[:, None]
        top = scores.max(axis=0)
        scores -= top
        np.exp(scores, out=scores)
        total = scores.sum(axis=0)
        log_loss = -np.sum(slope * true_logits + intercepts[codes] - top - np.log(total)) / n
        scores /= total  # the probabilities: minus the one-hot truth, the gradient with respect to the scores
        gradient = [(np.sum(scores * by_class) - np.sum(true_logits)) / n]
        if with_intercepts:
            gradient.extend((scores.sum(axis=1) - per_class)[1:] / n)
        return log_loss, np.asarray(gradient)

    start = np.concatenate([[1.0], np.zeros(k - 1 if with_intercepts else 0)])
    bounds = [(1e-3, 1e3)] + [(None, None)] * (len(start) - 1)  # a positive slope keeps the classes' order
    found = minimize(loss, start, jac=True, method="L-BFGS-B", bounds=bounds)
    params = found.x if np.isfinite(found.fun) else start
    intercepts = np.concatenate([[0.0], params[1:]]) if with_intercepts else np.zeros(k)
    return float(params[0]), intercepts.tolist()


def adjust_proba(proba: np.ndarray, train_priors, priors) -> np.ndarray:
    """Probabilities under new class `priors`: p·(new/train), renormalised per row (Bayes' rule)."""
    weighted = np.asarray(proba, dtype=float) * (np.asarray(priors, dtype=float)
                                                 / np.maximum(np.asarray(train_priors, dtype=float), 1e-12))
    return weighted / np.maximum(row_sums(weighted), 1e-300)[:, None]


def check_priors(priors, classes) -> np.ndarray:
    """Class priors as {class: share} (every class once) or as shares in class order: each in (0, 1), summing to
    1; as an array in class order."""
    names = [str(c) for c in classes]
    if isinstance(priors, dict):
        given = {str(k): v for k, v in priors.items()}
        if set(given) != set(names) or len(given) != len(priors):
            raise InputError("given class priors must name every class of the model once",
                             f"got {sorted(map(str, priors))} for classes {names}",
                             "Give a share for each, e.g. yes=0.1 no=0.9.")
        shown, priors = given, [given[name] for name in names]
    else:
        shown = priors
    try:
        values = np.asarray(priors, dtype=float)
    except (TypeError, ValueError):
        values = np.full(0, np.nan)
    if values.shape != (len(names),) or not np.all((values > 0) & (values < 1)) or abs(values.sum() - 1) > 1e-6:
        raise InputError("class priors must each lie in (0, 1) and sum to 1, one per class",
                         f"got {preview(shown) if isinstance(shown, (list, tuple, np.ndarray)) else shown!r:.200} "
                         f"for classes {names}",
                         "Give shares in the model's class order (classes_), such as [0.9, 0.1], or as {class: share}; "
                         "on the command line yes=0.1 no=0.9, or --adjust-priors estimated.")
    return values
