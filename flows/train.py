"""The training flow: load → split → stratify → members in parallel → vote → evaluate → save.

Run it in-process for debugging (an ephemeral Prefect API starts on its own):

    python flows/train.py tasks/bundled/hpc.parquet --target class
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Literal

if __package__ in (None, ""):  # `python flows/train.py` puts flows/ first on the path, not the project.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prefect import flow
from prefect.futures import as_completed
from prefect.logging import get_run_logger
from prefect.runtime import flow_run
from prefect.task_runners import ThreadPoolTaskRunner
from pydantic import BaseModel, Field
from threadpoolctl import threadpool_limits

from tasks import steps
from tasks.images import ImageOptions
from tasks.members import MemberSpec
from tasks.store import code_version
from tasks.train import longest_first, plan_concurrency
from tasks.vote import default_members


class TrainConfig(BaseModel):
    """Parameters of one training run."""

    data: str = Field(description="CSV or Parquet file: a local path or an fsspec URL (s3://, gs://, file://).")
    target: str = Field(description="Name of the column that holds the class labels.")
    members: list[MemberSpec] = Field(default_factory=default_members,
                                      description="The ensemble's members; the default recipe if left as is.")
    voting: Literal["hard", "soft", "weighted"] = Field(
        "weighted", description="Majority of labels, mean of probabilities, or weighted mean (weights in fifths "
                                "that vote best on the rows judging the members).")
    threshold_objective: Literal["balanced_accuracy", "f1", "g_mean", "none"] = Field(
        "g_mean", description="Two classes only: the score the decision threshold is tuned for.")
    validation: Literal["out_of_fold", "holdout"] = Field(
        "out_of_fold", description="Where member weights and the threshold come from: out-of-fold predictions of "
                                   "every training row (forests: out of bag; other members: cross-fitted), or a "
                                   "held-out validation split.")
    validation_size: float = Field(0.2, gt=0, lt=0.5, description="Holdout only: share of each class held out "
                                                                  "for weights and threshold.")
    folds: int = Field(5, ge=2, le=20, description="Out of fold only: cross-fitting folds for members that are "
                                                   "not forests.")
    test_size: float = Field(0.2, gt=0, lt=0.5, description="Share of each class kept untouched for the report.")
    random_state: int = Field(0, description="Seed for the splits, the samplers and the learners.")
    store: str = Field("models", description="Model store directory; each run adds a version under versions/.")
    workspace: str | None = Field(None, description="Where splits and fitted members are kept between tasks "
                                                    "(shared storage for Dask workers); default <store>/.work.")
    max_concurrency: int | None = Field(None, ge=1, description="Members trained at once; default: one per core.")
    images: ImageOptions = Field(default_factory=ImageOptions,
                                 description="Images only (data is a folder of class folders, or a table with "
                                             "an image-bytes column): size, channels, column.")


DASK_ADDRESS = "IMBALANCE_FLOWS_DASK_ADDRESS"


def task_runner():
    """Threads on this machine, or the Dask cluster whose scheduler IMBALANCE_FLOWS_DASK_ADDRESS names.

    On Dask, the workspace (`workspace` or <store>/.work) must be storage every worker can read.
    """
    address = os.environ.get(DASK_ADDRESS)
    if address:
        from prefect_dask import DaskTaskRunner

        return DaskTaskRunner(address=address)
    return ThreadPoolTaskRunner(max_workers=max(1, os.cpu_count() or 1))


@flow(name="train", task_runner=task_runner(), log_prints=True)
def train(config: TrainConfig) -> dict:
    """Train an imbalance-aware voting ensemble and save it as a new model version."""
    logger = get_run_logger()
    workspace = config.workspace or os.path.join(config.store, ".work")
    loaded = steps.load(config.data, config.target, workspace, config.images)
    schema = loaded.table_schema
    holdout = config.validation == "holdout"
    splits = steps.split(loaded, config.validation_size if holdout else 0.0, config.test_size, config.random_state,
                         workspace)
    profile = steps.stratify(splits, schema, config.members, out_of_fold=not holdout)
    logger.info("Train split: %s", profile["train"]["counts"])

    workers, threads = plan_concurrency(len(config.members), config.max_concurrency)
    logger.info("Training %s members, %s at a time with %s thread(s) each", len(config.members), workers, threads)
    trained = _train_members(config, splits.train, schema, workers, threads, workspace)

    ensemble = steps.vote(trained, splits.validation or splits.train, schema, config.voting,
                          config.threshold_objective, config.random_state, config.validation, config.folds)
    title = f"Members vs ensemble: {Path(config.data).name}, target {config.target!r}"
    results = steps.evaluate(ensemble, splits.test, title)
    extra = {"data": {"source": config.data, "fingerprint": loaded.table.fingerprint, "rows": loaded.table.n_rows,
                      "profile": profile}, "parameters": config.model_dump(mode="json"),
             "code_version": code_version()}
    version = steps.save(ensemble, config.store, results, extra, title, [splits.train, splits.validation])
    logger.info("Saved model version %s", version)
    return {"version": version, "results": results, "profile": profile, "flow_run_id": str(flow_run.id),
            "test_split": splits.test.model_dump()}


def _train_members(config: TrainConfig, train_split, schema, workers: int, threads: int, workspace: str) -> list:
    """Run the train-member tasks in a sliding window of `workers`, costliest first.

    Each member may use `threads` cores, so the members running side by side never ask
    for more cores than there are; starting the slow ones first keeps the run from ending
    with one slow member alone on its share. Thread limits are process-wide, so the
    limit is also held here, around all of them, and restored once at the end.
    """
    logger = get_run_logger()
    folds = config.folds if config.validation == "out_of_fold" else None
    waiting = [(i, config.members[i]) for i in longest_first(config.members, folds)]
    running, trained = {}, {}
    with threadpool_limits(limits=threads):
        while waiting or running:
            while waiting and len(running) < workers:
                position, spec = waiting.pop(0)
                future = steps.train_member.submit(spec, train_split, schema, config.random_state, threads, workspace,
                                                   config.folds if config.validation == "out_of_fold" else None)
                running[future] = position
            future = next(as_completed(list(running)))
            member = future.result()
            trained[running.pop(future)] = member
            logger.info("Member %s/%s done: %s (%.1f s)", len(trained), len(config.members), member.spec.name,
                        member.seconds)
    return [trained[position] for position in range(len(config.members))]


def main(argv: list[str] | None = None) -> int:
    """`python flows/train.py DATA --target COL [...]`: the CLI's train command, in this process."""
    from flows.cli import main as cli_main

    return cli_main(["train", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
