"""Ensemble members: a spec (how to see the imbalance, which learner) and its pipeline.

A member's pipeline is
    prepare (impute; code categories) → resample → augment → encode → learner,
an imbalanced-learn Pipeline, so resampling and augmentation act only during fit.
"""

from __future__ import annotations

from imblearn.pipeline import Pipeline
from sklearn.compose import ColumnTransformer
from sklearn.preprocessing import OneHotEncoder

from imbalance_flows.tasks.augment import TabularAugmenter
from imbalance_flows.tasks.errors import InputError
from imbalance_flows.tasks.image_augment import ImageAugmenter
from imbalance_flows.tasks.learners import LEARNERS, LearnerContext
from imbalance_flows.tasks.prepare import LinearPrep, TablePrep
from imbalance_flows.tasks.resample import Context, class_weights, make_sampler
from imbalance_flows.tasks.schema import MISSING_CATEGORY, Schema
from imbalance_flows.tasks.spec import MemberSpec

SAMPLING_STEPS = ("resample", "augment")


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
    numeric = [c.name for c in schema.columns if c.kind == "numeric"]
    categorical = [c.name for c in schema.columns if c.kind == "categorical"]
    seed = random_state + spec.seed
    ratio = 1.0 if spec.sampling_strategy == "auto" else float(spec.sampling_strategy)

    prepare = TablePrep(numeric=numeric, categorical=categorical,
                        categories=[sorted({*c.categories, MISSING_CATEGORY}) for c in schema.columns
                                    if c.kind == "categorical"])
    sizes = tuple(len(known) for known in prepare.categories)
    weights = class_weights(counts, ratio) if spec.sampler == "class_weight" else None
    context = LearnerContext(weights=weights, random_state=seed, threads=threads, rows=sum(counts.values()),
                             n_classes=len(schema.classes), n_numeric=len(numeric), categorical_sizes=sizes)
    sampler = make_sampler(spec.sampler, dict(spec.sampler_params),
                           Context(counts=counts, categorical=context.categorical,
                                   n_features=len(numeric) + len(categorical), ratio=ratio, random_state=seed,
                                   labels=tuple(schema.classes)))
    augmenter = _augmenter(spec, schema, context.categorical, seed)

    params = dict(spec.learner_params)
    if entry.images:
        if schema.image is None:
            raise InputError(f"{spec.learner} needs image data", f"member {spec.name} trains on a table",
                             "Use keras_mlp for tables, or load images (a folder of class folders).")
        params.setdefault("image_shape", schema.image.shape)
    learner = entry.build(params, context)
    return Pipeline([("prepare", prepare), ("resample", sampler), ("augment", augmenter),
                     ("encode", _encoder(entry.encoding, len(numeric), list(sizes))), ("learn", learner)])


def _augmenter(spec: MemberSpec, schema: Schema, categorical: list[int], seed: int):
    """The member's augmentation step, or None."""
    if spec.augment is None:
        return None
    if spec.augment.method == "image":
        if schema.image is None:
            raise InputError("image augmentation needs image data", f"member {spec.name} trains on a table",
                             "Use +jitter or +mixup for tables, or load images (a folder of class folders).")
        return ImageAugmenter(transforms=tuple(spec.augment.transforms), factor=spec.augment.factor,
                              ratio=spec.augment.ratio, image_shape=schema.image.shape, random_state=seed)
    return TabularAugmenter(method=spec.augment.method, ratio=spec.augment.ratio, noise=spec.augment.noise,
                            alpha=spec.augment.alpha, categorical_features=categorical, random_state=seed)


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
