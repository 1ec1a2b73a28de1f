"""Ensemble members: a spec (how to see the imbalance, which learner) and its pipeline.

A member's pipeline is
    prepare (impute; code categories) → resample → augment → encode → learner,
an imbalanced-learn Pipeline, so resampling and augmentation act only during fit.
"""

from __future__ import annotations

from typing import Any, Literal

from imblearn.pipeline import Pipeline
from pydantic import BaseModel, Field, field_validator, model_validator
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import OneHotEncoder

from tasks.augment import METHODS, TabularAugmenter
from tasks.image_augment import TRANSFORMS as IMAGE_TRANSFORMS
from tasks.image_augment import ImageAugmenter
from tasks.data import MISSING_CATEGORY, Schema
from tasks.errors import InputError, preview
from tasks.prepare import LinearPrep, TablePrep
from tasks.resample import STRATEGIES, Context, class_weights, get_strategy, make_sampler

SamplerName = Literal[tuple(STRATEGIES)]  # type: ignore[valid-type]
LearnerName = Literal["logreg", "rf", "hgb", "keras_mlp", "keras_cnn", "keras_transfer"]
SAMPLING_STEPS = ("resample", "augment")
KERAS_LEARNERS = ("keras_mlp", "keras_cnn", "keras_transfer")  # TensorFlow is imported only for these
AUGMENT_METHODS = (*METHODS, "image")


class AugmentSpec(BaseModel):
    """Synthetic minority rows added after resampling (training split only)."""

    method: Literal["jitter", "mixup", "image"] = Field(
        "jitter", description="Noise jitter or within-class mixup (tables); image: Keras preprocessing layers.")
    ratio: float = Field(0.5, gt=0, le=1, description="Grow each class to at least this share of the largest.")
    noise: float = Field(0.1, gt=0, le=1, description="Jitter scale, as a share of each feature's spread.")
    alpha: float = Field(0.4, gt=0, description="Mixup's Beta(alpha, alpha) parameter.")
    transforms: list[Literal[IMAGE_TRANSFORMS]] = Field(  # type: ignore[valid-type]
        ["rotation", "translation", "zoom", "contrast"],
        description="Image augmentation only: the transforms that keep the class (no flip for digits or text).")
    factor: float = Field(0.1, gt=0, le=0.5, description="Image augmentation only: strength of each transform.")


class MemberSpec(BaseModel):
    """One ensemble member: a resampling strategy, optional augmentation, and a learner."""

    sampler: SamplerName = Field("none", description="How the member sees the imbalance.")
    learner: LearnerName = Field("hgb", description="logreg, rf (random forest), hgb (histogram boosting), "
                                                   "keras_mlp, keras_cnn (images) or keras_transfer (images).")
    sampling_strategy: float | Literal["auto"] = Field(
        "auto", description="How far to rebalance: 'auto' = fully; r in (0, 1] = smaller classes to r × largest.")
    sampler_params: dict[str, Any] = Field(default_factory=dict, description="Extra sampler parameters.")
    augment: AugmentSpec | None = Field(None, description="Synthetic minority rows after resampling.")
    learner_params: dict[str, Any] = Field(default_factory=dict, description="Extra learner parameters.")
    seed: int = Field(0, description="Offset added to the run's random_state, so copies of a member differ.")

    @field_validator("sampler", mode="before")
    @classmethod
    def _known_sampler(cls, value):
        get_strategy(value)
        return value

    @field_validator("learner", mode="before")
    @classmethod
    def _known_learner(cls, value):
        if value not in LEARNERS:
            raise InputError("the learner must be a known one", f"{value!r} is not among {preview(LEARNERS)}",
                             "Run `imbalance-flows strategies` to list them.")
        return value

    @model_validator(mode="after")
    def _ratio_applies(self):
        if self.sampling_strategy != "auto":
            kind = STRATEGIES[self.sampler].kind
            if kind in ("none", "clean"):
                raise InputError(f"sampling_strategy does not apply to {self.sampler!r}",
                                 f"it is {self.sampling_strategy}", "Leave it at 'auto' for this strategy.")
            if not 0 < self.sampling_strategy <= 1:
                raise InputError("sampling_strategy must be 'auto' or a number in (0, 1]",
                                 f"it is {self.sampling_strategy}", "Use 1.0 (fully balanced) or less, e.g. 0.5.")
        return self

    @property
    def name(self) -> str:
        augment = f"+{self.augment.method}" if self.augment else ""
        ratio = "" if self.sampling_strategy == "auto" else f"@{self.sampling_strategy:g}"
        seed = f"#{self.seed}" if self.seed else ""
        return f"{self.sampler}{ratio}{augment}:{self.learner}{seed}"

    @classmethod
    def parse(cls, text: str) -> "MemberSpec":
        """Read the command line's short form, SAMPLER[@RATIO][+AUGMENT]:LEARNER, e.g. smote@0.5+mixup:hgb."""
        sampler, sep, learner = text.partition(":")
        if not sep or not sampler or not learner:
            raise InputError("a member is written SAMPLER[@RATIO][+AUGMENT]:LEARNER", f"got {text!r}",
                             "For example --member smote:hgb or --member random_under@0.5+jitter:rf.")
        sampler, _, augment = sampler.partition("+")
        sampler, _, ratio = sampler.partition("@")
        if augment and augment not in AUGMENT_METHODS:
            raise InputError("the augmentation must be one of " + ", ".join(AUGMENT_METHODS),
                             f"got {augment!r} in {text!r}", "Write e.g. smote+jitter:hgb.")
        try:
            ratio_value = float(ratio) if ratio else "auto"
        except ValueError:
            raise InputError("the ratio after @ must be a number in (0, 1]", f"got {ratio!r} in {text!r}",
                             "Write e.g. random_under@0.5:rf.") from None
        return cls(sampler=sampler, learner=learner, sampling_strategy=ratio_value,
                   augment=AugmentSpec(method=augment) if augment else None)


def _logreg(params: dict, weights, random_state: int, threads: int, width: int = 0, rows: int = 0,
            n_classes: int = 2):
    # Newton steps on the exact Hessian converge in a few iterations when there are many
    # more rows than (one-hot) columns: about twice as fast as L-BFGS on the benchmark data,
    # and to the same optimum. The Hessian has (columns × (classes - 1))² entries, so with
    # wide data or many classes it costs more than it saves and L-BFGS is kept.
    size = width * max(n_classes - 1, 1)
    solver = "newton-cholesky" if 0 < size <= 200 and rows >= 10 * width else "lbfgs"
    return LogisticRegression(max_iter=params.pop("max_iter", 2000), solver=params.pop("solver", solver),
                              class_weight=weights, random_state=random_state, **params)


def _rf(params: dict, weights, random_state: int, threads: int):
    # A forest's trees are built by joblib threads that sleep when idle, unlike OpenMP's
    # spinning workers, so a forest may use every core beside other members: it then
    # never runs alone on one core at the end of a run (bench/results/parallel.md).
    from tasks.train import available_cores

    return RandomForestClassifier(n_estimators=params.pop("n_estimators", 100),
                                  min_samples_leaf=params.pop("min_samples_leaf", 1), class_weight=weights,
                                  n_jobs=params.pop("n_jobs", available_cores()), random_state=random_state, **params)


def _hgb(params: dict, weights, random_state: int, threads: int, categorical=()):
    return HistGradientBoostingClassifier(class_weight=weights, random_state=random_state,
                                          categorical_features=list(categorical) or None, **params)


def _keras(name: str):
    """A builder that imports the Keras estimator only when a member uses it (TensorFlow is slow to import)."""
    def build(params: dict, weights, random_state: int, threads: int):
        from tasks import keras_images, keras_members

        estimator = getattr(keras_members, name, None) or getattr(keras_images, name)
        unknown = set(params) - set(estimator().get_params())
        if unknown:
            raise InputError(f"the learner parameters of {name} must be among {preview(estimator().get_params())}",
                             f"got {preview(sorted(unknown))}", "Run `imbalance-flows strategies` to list them.")
        return estimator(**{"class_weight": weights, "random_state": random_state, "threads": threads, **params})
    return build


LEARNERS = {"logreg": _logreg, "rf": _rf, "hgb": _hgb, "keras_mlp": _keras("KerasMLP"),
            "keras_cnn": _keras("KerasCNN"), "keras_transfer": _keras("KerasTransfer")}
LEARNER_SUMMARY = {
    "logreg": "Logistic regression on standardised numeric and one-hot categorical features.",
    "rf": "Random forest (100 trees); categories as ordinal codes.",
    "hgb": "Histogram gradient boosting with native categorical support.",
    "keras_mlp": "Keras dense network (64-32), normalised with training statistics, one-hot categories, early "
                 "stopping; learner_params: loss (crossentropy | focal), focal_gamma, hidden_units, dropout, "
                 "epochs, batch_size, learning_rate, validation_fraction, patience.",
    "keras_cnn": "Keras convolutional network for images (data loaded from class folders or image bytes); "
                 "learner_params: filters, dropout, loss, epochs, batch_size, ...; pairs with +image augmentation.",
    "keras_transfer": "A user's .keras model (learner_params: base_model=PATH) as a frozen feature extractor "
                      "with a new trained head; loaded in safe mode, nothing downloaded.",
}


def build_member(spec: MemberSpec, schema: Schema, counts: dict, random_state: int = 0,
                 threads: int = 1) -> Pipeline:
    """The unfitted pipeline of a member, sized for training data with these class `counts`.

    Parameters
    ----------
    spec : MemberSpec
    schema : Schema
        The feature columns; categorical ones are imputed with a "(missing)" category.
    counts : dict
        Rows per class code (position in `schema.classes`) in the data the member will be fitted on.
    random_state : int
        The run's seed; the member adds its own `spec.seed`.
    threads : int
        Threads the learner may use, so that members fitted side by side share the cores.
    """
    numeric = [c.name for c in schema.columns if c.kind == "numeric"]
    categorical = [c.name for c in schema.columns if c.kind == "categorical"]
    n_num, n_cat = len(numeric), len(categorical)
    cat_positions = list(range(n_num, n_num + n_cat))
    seed = random_state + spec.seed
    ratio = 1.0 if spec.sampling_strategy == "auto" else float(spec.sampling_strategy)

    prepare = TablePrep(numeric=numeric, categorical=categorical,
                        categories=[sorted({*c.categories, MISSING_CATEGORY}) for c in schema.columns
                                    if c.kind == "categorical"])
    context = Context(counts=counts, categorical=cat_positions, n_features=n_num + n_cat, ratio=ratio,
                      random_state=seed, labels=tuple(schema.classes))
    sampler = make_sampler(spec.sampler, dict(spec.sampler_params), context)
    weights = class_weights(counts, ratio) if spec.sampler == "class_weight" else None
    augmenter = None
    if spec.augment is not None and spec.augment.method == "image":
        if schema.image is None:
            raise InputError("image augmentation needs image data", f"member {spec.name} trains on a table",
                             "Use +jitter or +mixup for tables, or load images (a folder of class folders).")
        augmenter = ImageAugmenter(transforms=tuple(spec.augment.transforms), factor=spec.augment.factor,
                                   ratio=spec.augment.ratio, image_shape=schema.image.shape, random_state=seed)
    elif spec.augment is not None:
        augmenter = TabularAugmenter(method=spec.augment.method, ratio=spec.augment.ratio, noise=spec.augment.noise,
                                     alpha=spec.augment.alpha, categorical_features=cat_positions, random_state=seed)

    params = dict(spec.learner_params)
    if spec.learner in ("keras_cnn", "keras_transfer"):
        if schema.image is None:
            raise InputError(f"{spec.learner} needs image data", f"member {spec.name} trains on a table",
                             "Use keras_mlp for tables, or load images (a folder of class folders).")
        params.setdefault("image_shape", schema.image.shape)
        encode = "passthrough"
        learner = LEARNERS[spec.learner](params, weights, seed, threads)
    elif spec.learner == "keras_mlp":
        # Categories one-hot; numbers as they are: the network normalises them with its training rows' statistics.
        encode = ColumnTransformer([
            ("numeric", "passthrough", list(range(n_num))),
            ("categorical", OneHotEncoder(handle_unknown="ignore", sparse_output=False), cat_positions),
        ])
        learner = LEARNERS[spec.learner](params, weights, seed, threads)
    elif spec.learner == "hgb":
        encode = "passthrough"
        # Histogram boosting bins a categorical feature by its codes and allows at most 255
        # of them (max_bins); a feature with more categories is binned as ordered codes instead.
        native = [position for position, column in zip(cat_positions, [c for c in schema.columns
                                                                          if c.kind == "categorical"])
                  if len(set(column.categories) | {MISSING_CATEGORY}) <= params.get("max_bins", 255)]
        learner = _hgb(params, weights, seed, threads, categorical=native)
    elif spec.learner == "rf":
        # Trees split category codes as they are; one-hot columns would widen the data
        # (22 → 119 features on lending_club) and slow every split for no gain in the benchmark.
        encode = "passthrough"
        learner = LEARNERS[spec.learner](params, weights, seed, threads)
    else:
        sizes = [len(known) for known in prepare.categories]
        encode = LinearPrep(n_numeric=n_num, sizes=sizes)
        width = n_num + sum(sizes)  # columns after one-hot coding
        learner = _logreg(params, weights, seed, threads, width=width, rows=sum(counts.values()),
                          n_classes=len(schema.classes))
    return Pipeline([("prepare", prepare), ("resample", sampler), ("augment", augmenter),
                     ("encode", encode), ("learn", learner)])
