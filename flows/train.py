"""The training flow: load → split → stratify → members in parallel → vote → evaluate → save.

Run it in-process for debugging (an ephemeral Prefect API starts on its own):

    python flows/train.py tasks/bundled/hpc.parquet --target class
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

from prefect import flow
from prefect.futures import as_completed
from prefect.logging import get_run_logger
from prefect.runtime import flow_run

from imbalance_flows.flows import steps
from imbalance_flows.flows.config import TrainConfig
from imbalance_flows.tasks.disk import remove_leftovers, writable_folder
from imbalance_flows.tasks.store import code_version
from imbalance_flows.tasks.train import plan_concurrency, run_members


@flow(name="train", log_prints=True)
def train(config: TrainConfig) -> dict:
    """Train an imbalance-aware voting ensemble and save it as a new model version."""
    logger = get_run_logger()
    workspace = config.workspace or os.path.join(config.store, ".work")
    for folder in {config.store, workspace}:
        writable_folder(folder, "the store must be a folder that can be written",
                        "Pass --store a folder you can write to (a missing one is created).")
    left = remove_leftovers(config.store)
    if left:
        logger.info("Removed %s temporary files left by runs that were killed: %s", len(left), ", ".join(left[:5]))
    loaded = steps.load(config.data, config.target, workspace, config.images, config.id_columns,
                        config.drop_columns)
    schema = loaded.table_schema
    holdout = config.validation == "holdout"
    splits = steps.split(loaded, config.validation_size if holdout else 0.0, config.test_size, config.random_state,
                         workspace)
    profile = steps.stratify(splits, schema, config.members, out_of_fold=not holdout)
    logger.info("Train split: %s", profile["train"]["counts"])
    trained = _train_members(config, splits.train, schema, workspace)

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


def _member_runner(config: TrainConfig):
    """The task runner of the member tasks: the flow's own threads, or the Dask cluster of `dask_address`.

    Chosen per run, from the run's parameters, so a deployment's run can be sent to Dask from the UI.
    """
    if not config.dask_address:
        return contextlib.nullcontext(None)
    from prefect_dask import DaskTaskRunner

    return DaskTaskRunner(address=config.dask_address)


def _train_members(config: TrainConfig, train_split, schema, workspace: str) -> list:
    """One train-member task run per member, planned by `run_members` as `VotingEnsemble.fit` plans its threads."""
    logger = get_run_logger()
    folds = config.folds if config.validation == "out_of_fold" else None
    workers, threads = plan_concurrency(len(config.members), config.max_concurrency)
    where = f"on the Dask cluster at {config.dask_address}" if config.dask_address else "here"
    logger.info("Training %s members %s, %s at a time with %s thread(s) each", len(config.members), where, workers,
                threads)

    def done(position, member, finished, total):
        trained = steps.TrainedMember.model_validate(member)  # the task returns a plain reference
        logger.info("Member %s/%s done: %s (%.1f s)", finished, total, trained.spec.name, trained.seconds)

    with _member_runner(config) as runner:
        def submit(spec, threads):
            parameters = {"spec": spec, "train": train_split, "schema": schema, "random_state": config.random_state,
                          "threads": threads, "workspace": workspace, "folds": folds}
            if runner is None:
                return steps.train_member.submit(**parameters)
            return runner.submit(steps.train_member, parameters)

        return run_members(config.members, submit, n_jobs=config.max_concurrency, folds=folds,
                           wait_first=lambda futures: next(as_completed(futures)), on_done=done)


if __name__ == "__main__":
    from imbalance_flows.flows.options import main

    sys.exit(main("train", train))
