"""What a member is, as users write it: a resampling strategy, optional augmentation and a learner.

Validated here, against the registries of strategies (`tasks.sampling.resample`) and learners
(`tasks.learners.registry`), before any data is read. Cheap to import (pydantic only), so the
command line and the flows' parameter forms can use it without loading scikit-learn.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

from imbalance_flows.tasks.errors import InputError, preview
from imbalance_flows.tasks.forms import number_or_auto, plain_optional
from imbalance_flows.tasks.learners.registry import LEARNERS
from imbalance_flows.tasks.sampling import (
    GENERATIVE_MODELS,
    IMAGE_TRANSFORMS,
    TABLE_AUGMENTS,
)
from imbalance_flows.tasks.sampling.resample import (
    STRATEGIES,
    check_sampler_params,
    get_strategy,
)

SamplerName = Literal[tuple(STRATEGIES)]  # type: ignore[valid-type]
LearnerName = Literal[tuple(LEARNERS)]  # type: ignore[valid-type]
AUGMENT_METHODS = (*TABLE_AUGMENTS, "image", "gan")
_LEARNER_NAMES = [f"{name} (images)" if learner.images else name for name, learner in LEARNERS.items()]
_SAMPLER_PARAMS_HELP = "Extra sampler parameters, by strategy: " + "; ".join(
    f"{name}: {', '.join(strategy.params)}" for name, strategy in STRATEGIES.items() if strategy.params) + \
    " (the others take none). Unknown keys are refused."
_LEARNER_PARAMS_HELP = ("Extra learner parameters: those of the learner's estimator (e.g. rf: n_estimators, max_depth; "
                        "hgb: max_iter, learning_rate; logreg: C; keras_mlp: epochs, hidden_units, loss), as "
                        "`imbalance-flows strategies` lists them. Unknown keys are refused with the closest valid one.")
_LEARNER_HELP = (", ".join(_LEARNER_NAMES[:-1]) + f" or {_LEARNER_NAMES[-1]}; "
                 "`imbalance-flows strategies` describes each.")


def require_keras(member: str) -> None:
    """Image augmentation and `+gan` need TensorFlow, the `keras` extra; say how to install it."""
    import importlib.util

    if importlib.util.find_spec("tensorflow") is None or importlib.util.find_spec("keras") is None:
        raise InputError("image augmentation and +gan need TensorFlow (the `keras` extra)",
                         f"member {member} asks for it and TensorFlow is not installed",
                         "Install it with pip install 'imbalance-flows[keras]', or use +jitter or +mixup.")


class AugmentSpec(BaseModel):
    """Synthetic minority rows added after resampling (training split only)."""

    # A misspelt key is refused, not ignored. The UI's form sends an untouched augment as {}: its schema requires
    # nothing, and a member reads an augment without a method as none.
    model_config = ConfigDict(extra="forbid", json_schema_extra=lambda schema: schema.pop("required", None))

    method: Literal[AUGMENT_METHODS] = Field(  # type: ignore[valid-type]
        description="Noise jitter or within-class mixup (tables); image: Keras preprocessing layers; "
                              "gan: rows or images drawn from a conditional generative model (Keras).")
    ratio: float = Field(0.5, gt=0, le=1, description="Grow each class to at least this share of the largest.")
    noise: float = Field(0.1, gt=0, le=1, description="Jitter scale, as a share of each feature's spread.")
    alpha: float = Field(0.4, gt=0, description="Mixup's Beta(alpha, alpha) parameter.")
    transforms: list[Literal[IMAGE_TRANSFORMS]] = Field(  # type: ignore[valid-type]
        ["rotation", "translation", "zoom", "contrast"],
        description="Image augmentation only: the transforms that keep the class (no flip for digits or text).")
    factor: float = Field(0.1, gt=0, le=0.5, description="Image augmentation only: strength of each transform.")
    model: Literal[GENERATIVE_MODELS] = Field(  # type: ignore[valid-type]
        "vae", description="gan only: a conditional VAE or a conditional Wasserstein GAN (CTGAN-style for tables).")
    steps: int = Field(1000, ge=1, le=100_000, description="gan only: training updates of the generative model.")
    learning_rate: float = Field(1e-3, gt=0, le=1, description="gan only: the generative model's learning rate.")


# The validation context of a saved model's member specs: checked as written, without their learners' libraries
# (promotion checks a version where those may be absent; loading builds the members, which needs them).
SAVED = "saved"


class MemberSpec(BaseModel):
    """One ensemble member: a resampling strategy, optional augmentation, and a learner."""

    model_config = ConfigDict(extra="forbid")  # a misspelt key is refused, not ignored

    sampler: SamplerName = Field("none", description="How the member sees the imbalance.")
    learner: LearnerName = Field("hgb", description=_LEARNER_HELP)
    sampling_strategy: float | Literal["auto"] = Field(
        "auto", description="How far to rebalance: 'auto' = fully; r in (0, 1] = smaller classes to r × largest.",
        json_schema_extra=number_or_auto)
    sampler_params: dict[str, Any] = Field(default_factory=dict, description=_SAMPLER_PARAMS_HELP)
    augment: AugmentSpec | None = Field(None, description="Synthetic minority rows after resampling; none without a "
                                        "method.", json_schema_extra=plain_optional)
    learner_params: dict[str, Any] = Field(default_factory=dict, description=_LEARNER_PARAMS_HELP)
    seed: int = Field(0, description="Offset added to the run's random_state, so copies of a member differ.")

    def seeded(self, random_state: int) -> int:
        """The member's seed in a run seeded `random_state`: the two added, within the seeds numpy's random states
        take (0 to 2**32 − 1), whatever the sum."""
        return (int(random_state) + self.seed) % 2**32

    @field_validator("sampler", mode="before")
    @classmethod
    def _known_sampler(cls, value):
        get_strategy(value)
        return value

    @field_validator("augment", mode="before")
    @classmethod
    def _no_method_no_augment(cls, value):
        # The UI form's untouched augment: no method, and every other field as its default (the form fills them in).
        if isinstance(value, dict) and "method" not in value and all(
                name in AugmentSpec.model_fields and given == AugmentSpec.model_fields[name].default
                for name, given in value.items()):
            return None
        return value

    @model_serializer(mode="wrap")
    def _auto_left_out(self, handler):
        data = handler(self)  # "auto" is the default: left out, as the form's number field leaves it
        if data.get("sampling_strategy") == "auto":
            del data["sampling_strategy"]
        return data

    @field_validator("learner", mode="before")
    @classmethod
    def _known_learner(cls, value):
        if value not in LEARNERS:
            raise InputError("the learner must be a known one", f"{value!r} is not among {preview(LEARNERS)}",
                             "Run `imbalance-flows strategies` to list them.")
        return value

    @model_validator(mode="after")
    def _parameters_known(self, info: ValidationInfo):
        """Misspelt parameters are refused when the spec is read, before any data is, and a learner whose extra is
        not installed; a saved model's spec is read without its learner's library (`SAVED`)."""
        check_sampler_params(self.sampler, self.sampler_params)
        if (info.context or {}).get(SAVED):
            return self
        LEARNERS[self.learner].require(self.name)
        if self.augment is not None and self.augment.method in ("image", "gan"):
            require_keras(self.name)
        LEARNERS[self.learner].check_params(self.learner_params)
        return self

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
        sampler, plus, augment = sampler.partition("+")
        sampler, at, ratio = sampler.partition("@")
        if plus and augment not in AUGMENT_METHODS:
            raise InputError("the augmentation must be one of " + ", ".join(AUGMENT_METHODS),
                             f"got {augment!r} in {text!r}", "Write e.g. smote+jitter:hgb.")
        try:
            ratio_value = float(ratio) if at else "auto"
        except ValueError:
            raise InputError("the ratio after @ must be a number in (0, 1]", f"got {ratio!r} in {text!r}",
                             "Write e.g. random_under@0.5:rf.") from None
        return cls(sampler=sampler, learner=learner, sampling_strategy=ratio_value,
                   augment=AugmentSpec(method=augment) if augment else None)


def default_members(rows: int | None = None) -> list[MemberSpec]:
    """The default recipe: diverse learners, each seeing the imbalance differently.

    A plain forest, a forest on a balanced under-sample and a class-weighted linear
    model; all three give out-of-fold probabilities cheaply (two out of the bag, one
    by cross-fitting a fast learner). Chosen by bench/out_of_fold.py.

    With more than `imbalance_flows.tasks.model.sizes.MEDIUM_ROWS` training `rows`, the recipe for medium data
    ("default-medium"): class-weighted histogram gradient boosting instead of the plain forest, judged (with
    validation="auto") on a held-out split, so that each member fits once. With more than
    `imbalance_flows.tasks.model.sizes.LARGE_ROWS` training `rows`, the recipe for
    large data ("default-large"): histogram gradient boosting, plain and on a balanced under-sample, whose
    cost grows linearly with the rows where a forest's grows faster, and whose trees grow larger on more rows
    (`imbalance_flows.tasks.learners.registry.BIG_TREE_ROWS`); a linear member never earned a vote there
    (bench/results/large_recipe.md).
    """
    from imbalance_flows.tasks.model.sizes import is_large, is_medium

    if rows is None:
        return recipe_members("default")
    return recipe_members("default-large" if is_large(rows) else "default-medium" if is_medium(rows) else "default")


# Named recipes (`--recipe NAME`): member lists a user can name instead of writing them out.
# The members of "plain-over-under" are settled by bench/quality.py (see docs/concepts/voting.md, "The default recipe").
RECIPES: dict[str, tuple[str, tuple[str, ...]]] = {
    "default": ("a plain forest, a forest on a balanced under-sample, a class-weighted linear model",
                ("none:rf", "random_under:rf", "class_weight:logreg")),
    "default-medium": ("the default for medium data (more than 50,000 training rows): class-weighted gradient "
                       "boosting, a forest on a balanced under-sample, a class-weighted linear model",
                       ("class_weight:hgb", "random_under:rf", "class_weight:logreg")),
    "default-large": ("the default for large data: plain gradient boosting and gradient boosting on a balanced "
                      "under-sample", ("none:hgb", "random_under:hgb")),
    "plain-over-under": ("members that see the data plain, over-sampled and under-sampled",
                         ("none:rf", "random_over:logreg", "random_under:rf")),
}


def sized_members(members: list[MemberSpec], rows: int) -> list[MemberSpec]:
    """`members`, or the default recipe for `rows` training rows where `members` is the default recipe."""
    return default_members(rows) if members == default_members() else members


def recipe_members(name: str) -> list[MemberSpec]:
    """The members of a named recipe (see `RECIPES`)."""
    if name not in RECIPES:
        raise InputError("the recipe must be a known one", f"got {name!r}",
                         f"Use one of {', '.join(RECIPES)} (`imbalance-flows strategies` describes them), "
                         "or list members with --member.")
    return [MemberSpec.parse(text) for text in RECIPES[name][1]]
