"""The flows' parameters: one pydantic model per flow, which the UI renders as its Run form.

Every list of names (strategies, learners, voting, objectives, metrics) comes from the
registries and types in `imbalance_flows.tasks`; the command line reads its choices here.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_serializer,
    field_validator,
    model_validator,
)

from imbalance_flows.tasks.data.options import ImageOptions
from imbalance_flows.tasks.errors import InputError
from imbalance_flows.tasks.evaluation.metrics import DecisionMetric
from imbalance_flows.tasks.forms import one_object, plain_optional
from imbalance_flows.tasks.model.choices import (
    Calibration,
    Objective,
    UnknownCategories,
    Validation,
    Voting,
)
from imbalance_flows.tasks.model.costs import Costs, check_miss_costs
from imbalance_flows.tasks.model.params import (
    FOLDS,
    SEED_MAX,
    VALIDATION_SIZE,
    check_params,
    check_values,
    parse_priors,
)
from imbalance_flows.tasks.model.spec import (
    RECIPES,
    MemberSpec,
    default_members,
    recipe_members,
)
from imbalance_flows.tasks.storage import check
from imbalance_flows.tasks.store.integrity import DEFAULT_MODEL, check_model_name


class TrainConfig(BaseModel):
    """Parameters of one training run."""

    model_config = ConfigDict(extra="forbid")  # a misspelt key is refused, not ignored

    data: str = Field(description="CSV or Parquet file: a local path or an fsspec URL (s3://, gs://, file://); or a "
                                  "partitioned table (a folder of Parquet files, or a glob matching several), read "
                                  "file by file, on the Dask cluster of dask_address if one is given.")
    target: str = Field(description="Name of the column that holds the class labels.")
    recipe: Literal[tuple(RECIPES)] | None = Field(  # type: ignore[valid-type]
        None, description="A named recipe instead of members: " + "; ".join(
            f"{name}: {', '.join(members)}" for name, (_, members) in RECIPES.items()) + ". Leave empty to use "
        "members.", json_schema_extra=plain_optional)
    members: list[MemberSpec] = Field(default_factory=default_members,
                                      description="The ensemble's members; the default recipe if left as is.")
    voting: Voting = Field(
        "weighted", description="Majority of labels, mean of probabilities, or weighted mean (weights in fifths "
                                "that vote best on the rows judging the members).")
    threshold_objective: Objective = Field(
        "auto", description="Two classes: the score the decision threshold is tuned for (and, for any number of "
                            "classes, the weight search's aim); auto: cost when costs are given, else g_mean.")
    calibration: Calibration = Field(
        "sigmoid", description="How the ensemble's probabilities are calibrated to the real class frequencies, on "
                               "rows the members did not see: sigmoid (Platt), isotonic, temperature or none.")
    costs: Costs | None = Field(
        None, description="What mistakes cost: fn and fp for two classes (a missed case of the rarer class, a false "
                          "alarm), or a matrix cost[true][predicted] over the sorted classes. The decision then "
                          "minimises expected cost, and reports give the cost per row.",
        json_schema_extra=one_object({
            "fn": {"type": "number", "minimum": 0, "title": "Fn", "description": "Two classes: what a missed case of "
                   "the rarer class costs."},
            "fp": {"type": "number", "minimum": 0, "title": "Fp", "description": "Two classes: what a false alarm "
                   "costs."},
            "matrix": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}, "title": "Matrix",
                       "description": "Any number of classes, instead of fn and fp: cost[true][predicted], one row "
                                      "per class in sorted order."}},
            "What mistakes cost: fn and fp for two classes, or a matrix. Leave empty for no costs."))
    validation: Validation = Field(
        "auto", description="Where member weights and the threshold come from: out-of-fold predictions of "
                            "every training row (forests: out of bag; other members: cross-fitted), or a held-out "
                            "validation split; auto holds one out where the rows left to train on are more than "
                            "50,000 and at most 300,000, and judges out of fold otherwise.")
    validation_size: float = Field(0.2, **VALIDATION_SIZE.field(), description="Holdout only: share of each class "
                                   "of the rows left after the test split held out for weights and threshold (as "
                                   "VotingEnsemble's validation_size is of the rows fit is given).")
    folds: int = Field(5, **FOLDS.field(), description="Out of fold only: cross-fitting folds for members that are "
                                                       "not forests.")
    test_size: float = Field(0.2, gt=0, lt=0.5, description="Share of each class kept untouched for the report.")
    random_state: int = Field(0, ge=0, le=SEED_MAX, description="Seed for the splits, the samplers and the "
                                                                 "learners.")
    store: str = Field("models", description="Model store directory; each run adds a version under versions/.")
    model: str = Field(DEFAULT_MODEL, description="The model's name in the store (e.g. churn): each name has its "
                                                  "own versions and champion.")
    workspace: str | None = Field(None, description="Where splits and fitted members are kept between tasks "
                                                    "(shared storage for Dask workers); default: the store's "
                                                    ".work folder.",
                                  json_schema_extra=plain_optional)
    max_concurrency: int | None = Field(None, ge=1, description="Members trained at once; default: one per core.",
                                        json_schema_extra=plain_optional)
    dask_address: str | None = Field(None, description="Train the members on this Dask scheduler (e.g. "
                                                       "tcp://10.0.0.5:8786), with the workspace on storage every "
                                                       "worker reads (and a partitioned table's files checked, split "
                                                       "and scored there); none: threads on this machine.",
                                 json_schema_extra=plain_optional)
    id_columns: list[str] = Field(default_factory=list, description="Identifier columns (transaction_id, "
                                  "patient_id): not features; written first beside the scores, to join them back.")
    drop_columns: list[str] = Field(default_factory=list, description="Columns left out of training (and "
                                                                      "ignored in data to score).")
    missing_values: list[str] = Field(default_factory=list, description="CSV: text that means a missing value in "
                                      "any column, besides an empty field (e.g. '?', '-999'); scoring reads its CSV "
                                      "the same way. Numeric columns also read NA, null and the like as missing.")

    @field_validator("missing_values")
    @classmethod
    def _markers(cls, markers):
        for marker in markers:
            if not marker.strip():
                raise InputError("a missing-value marker is some text", f"got {marker!r}",
                                 "An empty field is always missing; give markers such as ? or -999.")
        return markers
    allow_slow_samplers: bool = Field(False, description="Run a sampler whose nearest-neighbour or clustering cost "
                                      "is estimated past 5 minutes at this size (Tomek links, ENN, cluster centroids, "
                                      "SMOTE-Tomek, SMOTE-ENN, Borderline-SMOTE, ADASYN on large data), with a "
                                      "warning, instead of refusing it before training.")
    examples: int = Field(10, ge=0, le=1000, description="Test rows per class, of those the ensemble got wrong, "
                                                         "that the report keeps (the most confident mistakes "
                                                         "first); 0 keeps none.")
    images: ImageOptions = Field(default_factory=ImageOptions,
                                 description="Images only (data is a folder of class folders, or a table with "
                                             "an image-bytes column): size, channels, column.")
    storage_options: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Per URL scheme, what credentials cannot say, e.g. {\"s3\": "
                                          "{\"endpoint_url\": \"http://minio:9000\"}}: fsspec's options of that "
                                          "file system. Credentials come the standard way (environment, profiles, "
                                          "instance roles).")

    @field_validator("data", "store", "workspace")
    @classmethod
    def _known_storage(cls, path, info):
        return path if path is None else check(path, info.field_name)

    @field_validator("model")
    @classmethod
    def _model_name(cls, name):
        return check_model_name(name, "model")

    def ensemble_params(self) -> dict:
        """The VotingEnsemble parameters this run sets."""
        return {"voting": self.voting, "threshold_objective": self.threshold_objective,
                "validation": self.validation, "folds": self.folds, "random_state": self.random_state,
                "calibration": self.calibration, "allow_slow_samplers": self.allow_slow_samplers,
                "costs": None if self.costs is None else
                self.costs.model_dump() if hasattr(self.costs, "model_dump") else self.costs}

    @field_validator("costs", mode="before")
    @classmethod
    def _plain_costs(cls, costs):
        if isinstance(costs, dict) and "matrix" in costs:  # the form's one object: a matrix, by name
            if set(costs) != {"matrix"}:
                raise InputError("costs are fn and fp, or a matrix", f"both were given ({sorted(costs)})",
                                 "Give fn and fp for two classes, or the matrix alone.")
            return costs["matrix"]
        if costs == {}:  # the form's untouched costs object
            return None
        if isinstance(costs, dict):  # one clear error for fn and fp, not one per form costs may take
            check_miss_costs(costs)
        return costs

    @field_serializer("costs")
    def _costs_by_name(self, costs):
        return {"matrix": costs} if isinstance(costs, list) else costs  # within the form's one object

    @model_validator(mode="before")
    @classmethod
    def _the_ensembles_values(cls, data):
        # The estimator's own rules (`imbalance_flows.tasks.model.params`) on the values as given, before pydantic's
        # types: the command line, a config file, the UI and Python refuse the same values in the same words.
        if isinstance(data, dict):
            check_values({name: value for name, value in data.items() if name != "members"})
            if data.get("recipe") is not None:
                data = {**data, "members": _recipe_members(data["recipe"], data.get("members"))}
        return data

    @model_validator(mode="after")
    def _the_ensembles_rules(self) -> "TrainConfig":
        check_params({"members": self.members, **self.ensemble_params()})
        return self

    @field_validator("members")
    @classmethod
    def _some_members(cls, members: list[MemberSpec]) -> list[MemberSpec]:
        if not members:
            raise ValueError("an ensemble needs at least one member")
        return members


def _recipe_members(recipe, members) -> list[MemberSpec]:
    """The members of a named recipe. Members given beside it must be that recipe's (a saved run's parameters) or
    the default ones (the UI's form fills them in: left as they are, the recipe replaces them)."""
    chosen = recipe_members(recipe)
    given = None if members is None else [MemberSpec.model_validate(m) if isinstance(m, dict) else m for m in members]
    if given is not None and given not in (chosen, default_members()):
        raise InputError("recipe and members are two ways to name the members", f"both were given (recipe {recipe!r})",
                         "Give one: a recipe, or the members (leave the other empty).")
    return chosen


class RetrainConfig(BaseModel):
    """Parameters of a retraining run."""

    model_config = ConfigDict(extra="forbid")  # a misspelt key is refused, not ignored

    train: TrainConfig = Field(description="How to train the challenger (data may be a glob of partitions).")
    metric: DecisionMetric = Field("balanced_accuracy", description="The metric on the fresh holdout that decides; "
                                   "cost_per_row (smaller is better) counts with the challenger's costs.")
    margin: float = Field(0.0, ge=0, le=1, description="How much better the challenger must be, at least, with the "
                                                       "confidence below; 0: better at all.")
    confidence: float = Field(0.95, ge=0.5, lt=1, description="How sure the paired comparison of the two models on "
                              "the same rows must be that the challenger is better by more than the margin; a tie "
                              "never promotes.")
    min_rows_per_class: int = Field(
        10, ge=1, description="Fewest rows of each class, unseen by champion and challenger, to judge them on; "
                              "fewer refuses the comparison.")


class PredictConfig(BaseModel):
    """Parameters of one batch-scoring run."""

    model_config = ConfigDict(extra="forbid")  # a misspelt key is refused, not ignored

    data: str = Field(description="CSV or Parquet to score: a path, an fsspec URL, a glob of partitions or a folder "
                                  "of Parquet files; or a folder of images (class folders inside it or not): one row per file, with its path.")
    out: str = Field(description="Output file, .parquet or .csv; written only when complete.")
    store: str = Field("models", description="Model store directory.")
    version: str = Field("champion", description="A model's name (its champion), NAME@VERSION, 'champion' (the "
                                                 "default model's), a version name under <store>/versions, or a "
                                                 "path.")
    chunk_rows: int = Field(50_000, ge=1, description="Rows read and scored at a time.")
    passthrough: list[str] = Field(default_factory=list, description="Columns of the scored file copied to the "
                                   "output beside the scores (a timestamp, a key); the model's id columns always are.")
    unknown_categories: UnknownCategories = Field(
        "ignore", description="Categories unseen in training: treat as missing (counted in the run's report), "
                              "or refuse the data.")
    adjust_priors: str | None = Field(
        None, description="Adjust the scores to the class shares of the data scored: 'estimated' (by EM on the "
                          "model's calibrated probabilities, from the first 200,000 rows), or shares such as "
                          "'yes=0.1,no=0.9'. Empty: as in training.", json_schema_extra=plain_optional)
    drift_psi_limit: float = Field(0.25, gt=0, description="A feature whose population stability index (PSI) "
                                   "against the training split exceeds this has drifted.")
    drift_share_limit: float = Field(0.5, gt=0, description="A class whose share (estimated prior) moved by more "
                                     "than this, relative to training, has shifted (0.5: by half or more).")
    storage_options: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Per URL scheme, what credentials cannot say (an endpoint, a region): "
                                          "fsspec's options of that file system.")

    @model_validator(mode="before")
    @classmethod
    def _the_models_values(cls, data):
        # unknown_categories by the estimator's rule, in its words (see TrainConfig).
        if isinstance(data, dict):
            check_values({name: value for name, value in data.items() if name == "unknown_categories"})
        return data

    @field_validator("data", "out", "store", "version")
    @classmethod
    def _known_storage(cls, path, info):
        return check(path, info.field_name)

    @field_validator("adjust_priors")
    @classmethod
    def _priors_readable(cls, value):
        if value is None:
            return None
        value = value.strip()
        if value not in ("", "estimated"):
            parse_priors(value)
        return value or None
