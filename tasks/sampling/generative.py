"""Synthetic minority rows and images drawn from a conditional generative model (`+gan`).

The augmenter is an imbalanced-learn over-sampler like the others: inside a member's
pipeline it acts only while the member is fitted, on the member's own training rows
(after any resampling), and is dropped before the member is saved, so no generator
and no code ever reaches a model file.

It learns one conditional model of all the rows it receives (the class is the
condition, so the small classes borrow the shape of the data from the large ones),
then draws new rows of the smaller classes until each has `ratio` × the largest.
Tables are coded as CTGAN codes them: a numeric column by its mode (a component of
a Gaussian mixture fitted to it) and its place inside that mode, a category (or a
numeric column of few values) as a one-hot choice, generated as a choice. Images
are scaled to [-1, 1]. The networks (a conditional VAE or a conditional WGAN-GP)
live in `keras_generative`; TensorFlow is imported only when the augmenter runs.

A generator that did not learn (collapsed, constant or non-finite output) is caught
before its rows are used, and the member fails with a message that says so.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from imblearn.over_sampling.base import BaseOverSampler
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state

from imbalance_flows.tasks.errors import InputError
from imbalance_flows.tasks.sampling import GENERATIVE_MODELS
from imbalance_flows.tasks.sampling.resample import over_targets

MAX_MODES = 10  # mixture components per numeric column
DISCRETE_VALUES = 10  # a numeric column with at most this many values is coded as a choice
MIXTURE_ROWS = 2000  # rows a column's mixture is fitted on
MIN_SPREAD = 0.1  # generated rows of a class must vary at least this share of the real ones
MIN_DISTINCT = 0.1  # ... and at least this share of them must differ from each other
ROWS_PER_CLASS = 20_000  # rows of each class the generative model learns from (all, for smaller classes)


@dataclass
class Span:
    """Where a column's code lies in a coded row: `kind` "value" (one number in [-1, 1]) or "choice"."""

    kind: str
    start: int
    width: int


@dataclass
class ColumnCode:
    """How one column is coded: by its modes (means, spreads) or by its values (choices)."""

    values: np.ndarray | None = None  # a choice among these values
    means: np.ndarray | None = None  # a mode and a place inside it
    sds: np.ndarray | None = None
    low: float = 0.0
    high: float = 0.0
    integral: bool = False
    spans: list[Span] = field(default_factory=list)


class TableCode:
    """Mode-specific normalisation of numeric columns; choices for categories and few-valued numbers."""

    def __init__(self, X: np.ndarray, categorical: set[int], random_state: int):
        from sklearn.mixture import BayesianGaussianMixture

        rng = np.random.RandomState(random_state)
        self.columns: list[ColumnCode] = []
        self.spans: list[Span] = []
        start = 0
        for j in range(X.shape[1]):
            column = X[:, j]
            values = np.unique(column)
            code = ColumnCode(low=float(column.min()), high=float(column.max()),
                              integral=bool(np.all(np.mod(values, 1) == 0)))
            if j in categorical or len(values) <= DISCRETE_VALUES:
                code.values = values
                code.spans = [Span("choice", start, len(values))]
            else:
                sample = column if len(column) <= MIXTURE_ROWS else column[rng.choice(len(column), MIXTURE_ROWS,
                                                                                     replace=False)]
                mixture = BayesianGaussianMixture(
                    n_components=MAX_MODES, weight_concentration_prior_type="dirichlet_process",
                    weight_concentration_prior=1e-3, max_iter=100, tol=1e-2, random_state=random_state)
                with warnings.catch_warnings():  # an unconverged mixture still places the modes well enough
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    mixture.fit(sample[:, None])
                kept = mixture.weights_ > 0.005
                code.means = mixture.means_[kept, 0]
                code.sds = np.maximum(np.sqrt(mixture.covariances_[kept].reshape(-1)), 1e-3 * column.std() + 1e-9)
                code.spans = [Span("value", start, 1), Span("choice", start + 1, int(kept.sum()))]
            start += sum(span.width for span in code.spans)
            self.columns.append(code)
            self.spans.extend(code.spans)
        self.width = start

    def encode(self, X: np.ndarray) -> np.ndarray:
        out = np.zeros((len(X), self.width), dtype=np.float32)
        rows = np.arange(len(X))
        for j, code in enumerate(self.columns):
            column = X[:, j]
            if code.values is not None:
                out[rows, code.spans[0].start + np.searchsorted(code.values, column)] = 1
                continue
            # The most likely mode, then the value's place in it (4 sd either side = [-1, 1]).
            density = -0.5 * ((column[:, None] - code.means) / code.sds) ** 2 - np.log(code.sds)
            mode = density.argmax(axis=1)
            place = (column - code.means[mode]) / (4 * code.sds[mode])
            out[:, code.spans[0].start] = np.clip(place, -0.99, 0.99)
            out[rows, code.spans[1].start + mode] = 1
        return out

    def decode(self, coded: np.ndarray, rng: np.random.RandomState) -> np.ndarray:
        """Rows from generated codes: a choice is drawn from its generated probabilities."""
        out = np.empty((len(coded), len(self.columns)))
        for j, code in enumerate(self.columns):
            choice = code.spans[-1]
            chosen = draw(coded[:, choice.start:choice.start + choice.width], rng)
            if code.values is not None:
                out[:, j] = code.values[chosen]
                continue
            place = np.clip(coded[:, code.spans[0].start], -1, 1)
            value = np.clip(place * 4 * code.sds[chosen] + code.means[chosen], code.low, code.high)
            out[:, j] = np.round(value) if code.integral else value
        return out


def draw(probabilities: np.ndarray, rng: np.random.RandomState) -> np.ndarray:
    """One index per row, drawn with the row's (non-negative) weights."""
    weights = np.clip(np.nan_to_num(probabilities, nan=0.0), 0, None) + 1e-12
    cumulative = np.cumsum(weights / weights.sum(axis=1, keepdims=True), axis=1)
    return np.minimum((cumulative < rng.random_sample((len(weights), 1))).sum(axis=1), weights.shape[1] - 1)


class ImageCode:
    """Pixels 0–255 to [-1, 1] and back."""

    def __init__(self, shape: tuple[int, ...]):
        self.shape = tuple(int(n) for n in shape)
        self.width = int(np.prod(self.shape))
        self.spans = [Span("value", 0, self.width)]

    def encode(self, X: np.ndarray) -> np.ndarray:
        return (np.asarray(X, dtype=np.float32) / 127.5 - 1).reshape(len(X), *self.shape)

    def decode(self, coded: np.ndarray, rng: np.random.RandomState) -> np.ndarray:
        return np.clip((np.asarray(coded, dtype=float).reshape(len(coded), -1) + 1) * 127.5, 0, 255)


def check_generated(real: np.ndarray, made: np.ndarray, label, model: str) -> None:
    """Refuse generated rows that are not finite, barely vary, or repeat (a collapsed generator)."""
    other = "gan" if model == "vae" else "vae"
    hint = (f"Lower its learning_rate or change its steps; model={other} may do better; "
            "or use +mixup or smote for this member.")
    if not np.all(np.isfinite(made)):
        raise InputError("+gan's generative model must give finite values",
                         f"the {model} made non-finite values for class {label!r} (its training diverged)", hint)
    real_spread, made_spread = real.std(axis=0), made.std(axis=0)
    varies = real_spread > 0
    if varies.any() and len(made) > 1:
        spread = float(np.median(made_spread[varies] / real_spread[varies]))
        if spread < MIN_SPREAD:
            raise InputError(f"+gan's generated rows must vary at least {MIN_SPREAD:g} × as much as the real ones",
                             f"the {model}'s rows of class {label!r} vary {spread:.3f} × as much (it collapsed)",
                             hint)
    distinct_real = len(np.unique(real, axis=0))
    if len(made) >= 20 and distinct_real > 1:
        distinct = len(np.unique(made, axis=0)) / len(made)
        if distinct < MIN_DISTINCT * min(1.0, distinct_real / len(made)):
            raise InputError(f"at least {MIN_DISTINCT:g} of +gan's generated rows must differ from each other",
                             f"only {distinct:.3f} of the {model}'s rows of class {label!r} differ (it collapsed)",
                             hint)


class GenerativeAugmenter(BaseOverSampler):
    """Grow the smaller classes with rows drawn from a conditional generative model.

    Parameters
    ----------
    model : {"vae", "gan"}
        A conditional variational autoencoder, or a conditional Wasserstein GAN with
        gradient penalty (CTGAN's training, without its sampling of categories).
    ratio : float
        Grow every class to at least `ratio` × the largest class of the rows received.
    steps : int
        Training updates (batches) of the generative model; cost does not grow with rows.
    latent_dim : int
        Size of the noise (or code) the model draws rows from.
    batch_size : int
        Rows per update, drawn class-balanced so that the small classes are learnt as well.
    learning_rate : float
    categorical_features : list of int
        Positions of categorical (integer-coded) features: generated as categories.
    image_shape : tuple of int or None
        (height, width, channels) when the rows are flattened images: a convolutional model.
    threads : int
        TensorFlow threads, as the member's learner.
    class_names : list or None
        The classes' names by code, for messages.
    random_state : int, RandomState instance or None
        The same rows and seed give the same synthetic rows.
    """

    _parameter_constraints = {**BaseOverSampler._parameter_constraints}
    method = "gan"  # as TabularAugmenter's `method`, for logs

    def __init__(self, model="vae", ratio=1.0, steps=1000, latent_dim=16, batch_size=64, learning_rate=1e-3,
                 categorical_features=(), image_shape=None, threads=1, class_names=None,
                 random_state=None):
        super().__init__(sampling_strategy="auto")
        self.model = model
        self.ratio = ratio
        self.steps = steps
        self.latent_dim = latent_dim
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.categorical_features = categorical_features
        self.image_shape = image_shape
        self.threads = threads
        self.class_names = class_names
        self.random_state = random_state

    def _fit_resample(self, X, y):
        from imbalance_flows.tasks.sampling.keras_generative import ConditionalGenerator

        if self.model not in GENERATIVE_MODELS:
            raise InputError("the generative model must be one of " + ", ".join(GENERATIVE_MODELS),
                             f"it is {self.model!r}", "Use vae or gan.")
        X, y = np.asarray(X, dtype=float), np.asarray(y)
        seed = int(check_random_state(self.random_state).randint(2**31 - 1))
        rng = np.random.RandomState(seed)
        if self.image_shape is not None:
            if int(np.prod(self.image_shape)) != X.shape[1]:
                raise InputError("generated images need rows of image pixels",
                                 f"rows have {X.shape[1]} values, images are {self.image_shape}",
                                 "Load images from class folders.")
            code = ImageCode(self.image_shape)
        else:
            code = TableCode(X, set(self.categorical_features), seed)
        labels, counts = np.unique(y, return_counts=True)
        wanted = over_targets(dict(zip(labels.tolist(), counts.tolist())), self.ratio)
        short = {label: wanted[label] - n for label, n in zip(labels.tolist(), counts.tolist()) if wanted[label] > n}
        self.losses_ = []
        if not short:
            return X, y
        # The model learns from at most ROWS_PER_CLASS rows of each class: its cost (and the coded copy)
        # does not grow with a huge majority; the small classes it generates for are kept whole.
        kept = np.sort(np.concatenate([rows if len(rows) <= ROWS_PER_CLASS else
                                       rng.choice(rows, ROWS_PER_CLASS, replace=False)
                                       for rows in (np.flatnonzero(y == label) for label in labels)]))
        sample, sample_y = X[kept], y[kept]
        positions = np.searchsorted(labels, sample_y)
        generator = ConditionalGenerator(self.model, code.spans, code.width, len(labels),
                                         image_shape=code.shape if self.image_shape is not None else None,
                                         latent_dim=int(self.latent_dim), learning_rate=float(self.learning_rate),
                                         threads=int(self.threads), seed=seed)
        coded_rows = code.encode(sample)
        self.losses_ = generator.fit(coded_rows, positions, steps=int(self.steps),
                                     batch_size=int(self.batch_size), rng=rng)
        new_rows, new_labels = [X], [y]
        for label, n_new in short.items():
            own = coded_rows[sample_y == label]
            coded = generator.sample(np.full(n_new, np.searchsorted(labels, label)), rng,
                                     like=own[rng.randint(len(own), size=n_new)])
            made = code.decode(coded, rng) if np.all(np.isfinite(coded)) else coded
            name = self.class_names[label] if self.class_names is not None else label
            check_generated(X[y == label], made, name, self.model)
            new_rows.append(made)
            new_labels.append(np.full(n_new, label, dtype=y.dtype))
        return np.vstack(new_rows), np.concatenate(new_labels)
