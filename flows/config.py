"""The flows' parameters: one pydantic model per flow, which the UI renders as its Run form.

Every list of names (strategies, learners, voting, objectives, metrics) comes from the
registries and types in `imbalance_flows.tasks`; the command line reads its choices here.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from imbalance_flows.tasks.choices import Objective, UnknownCategories, Validation, Voting
from imbalance_flows.tasks.evaluate import Metric
from imbalance_flows.tasks.spec import ImageOptions, MemberSpec, default_members, plain_optional


class TrainConfig(BaseModel):
    """Parameters of one training run."""

    model_config = ConfigDict(extra="forbid")  # a misspelt key is refused, not ignored

    data: str = Field(description="CSV or Parquet file: a local path or an fsspec URL (s3://, gs://, file://).")
    target: str = Field(description="Name of the column that holds the class labels.")
    members: list[MemberSpec] = Field(default_factory=default_members,
                                      description="The ensemble's members; the default recipe if left as is.")
    voting: Voting = Field(
        "weighted", description="Majority of labels, mean of probabilities, or weighted mean (weights in fifths "
                                "that vote best on the rows judging the members).")
    threshold_objective: Objective = Field(
        "g_mean", description="Two classes only: the score the decision threshold is tuned for.")
    validation: Validation = Field(
        "out_of_fold", description="Where member weights and the threshold come from: out-of-fold predictions of "
                                   "every training row (forests: out of bag; other members: cross-fitted), or a "
                                   "held-out validation split.")
    validation_size: float = Field(0.2, gt=0, lt=0.5, description="Holdout only: share of each class held out "
                                                                  "for weights and threshold.")
    folds: int = Field(5, ge=2, le=20, description="Out of fold only: cross-fitting folds for members that are "
                                                   "not forests.")
    test_size: float = Field(0.2, gt=0, lt=0.5, description="Share of each class kept untouched for the report.")
    random_state: int = Field(0, ge=0, le=2**32 - 1, description="Seed for the splits, the samplers and the "
                                                                   "learners.")
    store: str = Field("models", description="Model store directory; each run adds a version under versions/.")
    workspace: str | None = Field(None, description="Where splits and fitted members are kept between tasks "
                                                    "(shared storage for Dask workers); default: the store's "
                                                    ".work folder.",
                                  json_schema_extra=plain_optional)
    max_concurrency: int | None = Field(None, ge=1, description="Members trained at once; default: one per core.",
                                        json_schema_extra=plain_optional)
    dask_address: str | None = Field(None, description="Train the members on this Dask scheduler (e.g. "
                                                       "tcp://10.0.0.5:8786), with the workspace on storage every "
                                                       "worker reads; none: threads on this machine.",
                                 json_schema_extra=plain_optional)
    id_columns: list[str] = Field(default_factory=list, description="Identifier columns (transaction_id, "
                                  "patient_id): not features; written first beside the scores, to join them back.")
    drop_columns: list[str] = Field(default_factory=list, description="Columns left out of training (and "
                                                                      "ignored in data to score).")
    images: ImageOptions = Field(default_factory=ImageOptions,
                                 description="Images only (data is a folder of class folders, or a table with "
                                             "an image-bytes column): size, channels, column.")

    @field_validator("members")
    @classmethod
    def _some_members(cls, members: list[MemberSpec]) -> list[MemberSpec]:
        if not members:
            raise ValueError("an ensemble needs at least one member")
        return members


class RetrainConfig(BaseModel):
    """Parameters of a retraining run."""

    model_config = ConfigDict(extra="forbid")  # a misspelt key is refused, not ignored

    train: TrainConfig = Field(description="How to train the challenger (data may be a glob of partitions).")
    metric: Metric = Field("balanced_accuracy", description="The metric on the fresh holdout that decides.")
    margin: float = Field(0.0, ge=0, le=1, description="How much the challenger must beat the champion by.")
    min_rows_per_class: int = Field(
        10, ge=1, description="Fewest rows of each class, unseen by champion and challenger, to judge them on; "
                              "fewer refuses the comparison.")


class PredictConfig(BaseModel):
    """Parameters of one batch-scoring run."""

    model_config = ConfigDict(extra="forbid")  # a misspelt key is refused, not ignored

    data: str = Field(description="CSV or Parquet to score: a path, an fsspec URL, or a glob of partitions.")
    out: str = Field(description="Output file, .parquet or .csv; written only when complete.")
    store: str = Field("models", description="Model store directory.")
    version: str = Field("champion", description="'champion', a version name under <store>/versions, or a path.")
    chunk_rows: int = Field(50_000, ge=1, description="Rows read and scored at a time.")
    passthrough: list[str] = Field(default_factory=list, description="Columns of the scored file copied to the "
                                   "output beside the scores (a timestamp, a key); the model's id columns always are.")
    unknown_categories: UnknownCategories = Field(
        "ignore", description="Categories unseen in training: treat as missing (counted in the run's report), "
                              "or refuse the data.")
