"""Ensemble members: a spec (how to see the imbalance, which learner) and its pipeline.

A member's pipeline is
    prepare (impute; code categories) → resample → augment → encode → learner,
an imbalanced-learn Pipeline, so resampling and augmentation act only during fit.
`check_member` says before any training whether a member can be fitted on the data.
"""

from __future__ import annotations

from typing import Callable

from imblearn.pipeline import Pipeline
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.preprocessing import OneHotEncoder

from imbalance_flows.tasks.data.schema import MISSING_CATEGORY, Schema
from imbalance_flows.tasks.errors import InputError
from imbalance_flows.tasks.learners.registry import LEARNERS, LearnerContext
from imbalance_flows.tasks.model.prepare import LinearPrep, TablePrep
from imbalance_flows.tasks.model.sizes import FIT_ROWS, is_large
from imbalance_flows.tasks.model.spec import MemberSpec
from imbalance_flows.tasks.sampling.augment import TabularAugmenter
from imbalance_flows.tasks.sampling.generative import GenerativeAugmenter
from imbalance_flows.tasks.sampling.image_augment import ImageAugmenter
from imbalance_flows.tasks.sampling.resample import (
    Context,
    check_sampler,
    check_sampler_size,
    class_weights,
    make_sampler,
    rows_after,
)

SAMPLING_STEPS = ("resample", "augment")


def check_member(spec: MemberSpec, schema: Schema, counts: dict, allow_slow: bool = False) -> float | None:
    """Refuse, before any training, a member that cannot be fitted on data with these class `counts`.

    The checks that need the data: images for an image learner or augmentation, the
    sampler against the class sizes and feature kinds (SMOTE's neighbours, ...), and
    against the size of the data (`resample.check_sampler_size`: with `allow_slow`, a
    slow sampler's estimated seconds are returned instead). Parameter names were checked
    when the spec was made.
    """
    _require_images(spec, schema)
    context = _learner_context(spec, schema, counts)
    check_sampler(spec.sampler, dict(spec.sampler_params), _sampler_context(spec, schema, counts, context))
    rows = sum(counts.values())
    entry = LEARNERS[spec.learner]
    # Above the size rule's threshold a member's sampler sees its class-capped sample, not every row (learners
    # that learn in batches fit on every row: see imbalance_flows.tasks.model.sizes).
    sampled = min(rows, FIT_ROWS) if is_large(rows) and not entry.every_row else rows
    slow = check_sampler_size(spec.sampler, sampled, len(schema.columns), allow_slow, of_rows=rows)
    if spec.learner_params and not entry.images:
        # scikit-learn checks parameter values only when fitting: check them now, not after the other members.
        learner = entry.build(dict(spec.learner_params), context)
        try:
            if hasattr(learner, "_parameter_constraints"):
                learner._validate_params()
        except ValueError as error:
            raise InputError(f"the learner parameters of {spec.learner} must be valid",
                             f"member {spec.name}: {str(error).strip().rstrip('.')}",
                             "Fix its learner_params (`imbalance-flows strategies` lists each learner's).") from error
    return slow


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

    Returns
    -------
    Pipeline
        prepare → resample → augment → encode → learn; the learner as its `LEARNERS` entry builds it.
    """
    entry = LEARNERS[spec.learner]
    _require_images(spec, schema)
    context = _learner_context(spec, schema, counts, spec.seeded(random_state), threads)
    sampler = make_sampler(spec.sampler, dict(spec.sampler_params), _sampler_context(spec, schema, counts, context))
    params = dict(spec.learner_params)
    if entry.images:
        params.setdefault("image_shape", schema.image.shape)
    return Pipeline([("prepare", _prepare(schema)), ("resample", sampler),
                     ("augment", _augmenter(spec, schema, context)),
                     ("encode", _encoder(entry.encoding, context.n_numeric, list(context.categorical_sizes))),
                     ("learn", entry.build(params, context))])


class Watched(BaseEstimator):
    """A sampling step run through `watch(step, sampler, X, y)`, so that a caller sees it run.

    The training flow watches with a Prefect task, so each member's resampling and
    augmentation show in the UI with the class counts before and after.
    """

    def __init__(self, step: str, sampler, watch: Callable):
        self.step = step
        self.sampler = sampler
        self.watch = watch

    def fit_resample(self, X, y):
        self.done_ = True
        return self.watch(self.step, self.sampler, X, y)

    def fit(self, X, y):
        self.fit_resample(X, y)
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return getattr(self, "done_", False)


def watch_sampling(pipeline: Pipeline, watch: Callable) -> Pipeline:
    """Route the pipeline's sampling steps through `watch` (see `Watched`)."""
    for position, (name, step) in enumerate(pipeline.steps):
        if name in SAMPLING_STEPS and step is not None:
            pipeline.steps[position] = (name, Watched(name, step, watch))
    return pipeline


def drop_sampling(pipeline: Pipeline) -> Pipeline:
    """The fitted pipeline without its samplers: they act only during fit, and their state
    (neighbour trees, kept rows) would only make saved members larger and harder to trust."""
    for position, (name, _) in enumerate(pipeline.steps):
        if name in SAMPLING_STEPS:
            pipeline.steps[position] = (name, None)
    return pipeline


def _require_images(spec: MemberSpec, schema: Schema) -> None:
    if schema.image is not None:
        return
    if LEARNERS[spec.learner].images:
        raise InputError(f"{spec.learner} needs image data", f"member {spec.name} trains on a table",
                         "Use keras_mlp for tables, or load images (a folder of class folders).")
    if spec.augment is not None and spec.augment.method == "image":
        raise InputError("image augmentation needs image data", f"member {spec.name} trains on a table",
                         "Use +jitter or +mixup for tables, or load images (a folder of class folders).")


def _prepare(schema: Schema) -> TablePrep:
    return TablePrep(numeric=[c.name for c in schema.columns if c.kind == "numeric"],
                     categorical=[c.name for c in schema.columns if c.kind == "categorical"],
                     categories=[sorted({*c.categories, MISSING_CATEGORY}) for c in schema.columns
                                 if c.kind == "categorical"])


def _learner_context(spec: MemberSpec, schema: Schema, counts: dict, seed: int = 0,
                     threads: int = 1) -> LearnerContext:
    categorical = [c for c in schema.columns if c.kind == "categorical"]
    weights = class_weights(counts, _ratio(spec)) if spec.sampler == "class_weight" else None
    return LearnerContext(weights=weights, random_state=seed, threads=threads, rows=sum(counts.values()),
                          fit_rows=rows_fitted(spec, counts),
                          n_classes=len(schema.classes), n_numeric=len(schema.columns) - len(categorical),
                          categorical_sizes=tuple(len({*c.categories, MISSING_CATEGORY}) for c in categorical))


def _sampler_context(spec: MemberSpec, schema: Schema, counts: dict, context: LearnerContext) -> Context:
    return Context(counts=counts, categorical=context.categorical, n_features=len(schema.columns),
                   ratio=_ratio(spec), random_state=context.random_state, labels=tuple(schema.classes))


def rows_fitted(spec: MemberSpec, counts: dict) -> int:
    """About how many rows a member's learner fits on, given rows with these class `counts` (after its sampler)."""
    return rows_after(spec.sampler, counts, _ratio(spec))


def _ratio(spec: MemberSpec) -> float:
    return 1.0 if spec.sampling_strategy == "auto" else float(spec.sampling_strategy)


def _augmenter(spec: MemberSpec, schema: Schema, context: LearnerContext):
    """The member's augmentation step, or None."""
    augment, categorical, seed = spec.augment, context.categorical, context.random_state
    if augment is None:
        return None
    if augment.method == "gan":
        return GenerativeAugmenter(model=augment.model, ratio=augment.ratio, steps=augment.steps,
                                   learning_rate=augment.learning_rate, categorical_features=categorical,
                                   image_shape=schema.image.shape if schema.image is not None else None,
                                   threads=context.threads, class_names=list(schema.classes), random_state=seed)
    if augment.method == "image":
        return ImageAugmenter(transforms=tuple(augment.transforms), factor=augment.factor,
                              ratio=augment.ratio, image_shape=schema.image.shape, random_state=seed)
    return TabularAugmenter(method=augment.method, ratio=augment.ratio, noise=augment.noise,
                            alpha=augment.alpha, categorical_features=categorical, random_state=seed)


# The classes each encoding's step holds once fitted ("module:Class"; "passthrough" holds none): a saved member's
# encode step may hold only its learner's (`imbalance_flows.tasks.store.graph`).
ENCODER_CLASSES = {
    "one_hot": ("imbalance_flows.tasks.model.prepare:LinearPrep",),
    "one_hot_unscaled": ("sklearn.compose:ColumnTransformer", "sklearn.preprocessing:OneHotEncoder",
                         "sklearn.preprocessing:FunctionTransformer"),
    "codes": (), "images": (),
}


def _encoder(encoding: str, n_numeric: int, sizes: list[int]):
    """The step between the prepared features (numbers, then category codes) and the learner."""
    if encoding == "one_hot":
        return LinearPrep(n_numeric=n_numeric, sizes=sizes)
    if encoding == "one_hot_unscaled":
        return ColumnTransformer([
            ("numeric", "passthrough", list(range(n_numeric))),
            ("categorical", OneHotEncoder(handle_unknown="ignore", sparse_output=False),
             list(range(n_numeric, n_numeric + len(sizes)))),
        ])
    return "passthrough"  # codes (trees split them as they are) and images (pixel values)
