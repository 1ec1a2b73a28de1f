"""The training flow: load → split → stratify → members in parallel → vote → evaluate → save.

Run it in-process for debugging (an ephemeral Prefect API starts on its own):

    python flows/train.py tasks/bundled/hpc.parquet --target class
"""

from __future__ import annotations

import contextlib

from prefect import flow
from prefect.futures import wait
from prefect.logging import get_run_logger
from prefect.runtime import flow_run
from prefect.task_runners import ThreadPoolTaskRunner

from imbalance_flows.flows import steps
from imbalance_flows.flows.cluster import configure_storage
from imbalance_flows.flows.config import TrainConfig
from imbalance_flows.flows.guard import signals_deferred, stop_signal
from imbalance_flows.flows.progress import Progress
from imbalance_flows.tasks import storage
from imbalance_flows.tasks.model.fitting import (
    POLL_S,
    plan_concurrency,
    plan_members,
    run_members,
)
from imbalance_flows.tasks.model.plan import forget_plans
from imbalance_flows.tasks.model.sizes import is_large
from imbalance_flows.tasks.model.spec import sized_members
from imbalance_flows.tasks.store.activity import using
from imbalance_flows.tasks.store.model_store import code_version, remove_leftovers


class StoppableThreads(ThreadPoolTaskRunner):
    """Prefect's thread pool, except that a run being stopped (SIGTERM, Ctrl-C) does not wait for the threads
    still fitting members: the process is about to end, the flow run is marked crashed at once, and a member's
    files are written atomically, so nothing half-done is kept. Any other ending waits as Prefect's does."""

    def __exit__(self, exc_type, exc_value, traceback) -> None:
        stopped = exc_type is not None and (not issubclass(exc_type, Exception) or stop_signal(exc_value))
        if stopped and self._executor is not None:
            for event in self._cancel_events.values():
                event.set()
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
            _mark_crashed(list(self._cancel_events), f"the run was stopped ({exc_type.__name__})")
        super().__exit__(exc_type, exc_value, traceback)


def _mark_crashed(task_run_ids: list, message: str) -> None:
    """Mark the task runs still running crashed, so that none of them stays RUNNING in the UI for ever."""
    from prefect.client.orchestration import get_client
    from prefect.states import Crashed

    try:
        with get_client(sync_client=True) as client:
            for task_run_id in task_run_ids:
                with contextlib.suppress(Exception):  # a run that never reached the server
                    if not client.read_task_run(task_run_id).state.is_final():
                        client.set_task_run_state(task_run_id, Crashed(message=message), force=True)
    except Exception:  # the server itself may be what went away; the process ends anyway
        pass


@flow(name="train", log_prints=True, task_runner=StoppableThreads())
def train(config: TrainConfig) -> dict:
    """Train an imbalance-aware voting ensemble and save it as a new model version."""
    logger = get_run_logger()
    configure_storage(config.dask_address, config.storage_options)  # here, and on the run's Dask workers
    workspace = config.workspace or storage.join(config.store, ".work")
    for folder in {config.store, workspace}:
        storage.writable(folder, "the store must be a folder that can be written",
                         "Pass --store a folder you can write to (a missing one is created), or a bucket your "
                         "credentials may write to.")
    left = remove_leftovers(config.store)
    if left:
        logger.info("Removed %s temporary files left by runs that were killed: %s", len(left), ", ".join(left[:5]))
    with using(workspace, str(flow_run.id)):  # `models prune` leaves the workspace alone meanwhile
        try:
            return _train(config, workspace)
        finally:
            forget_plans()  # the training split's plan, which its steps shared


def _train(config: TrainConfig, workspace: str) -> dict:
    logger = get_run_logger()
    loaded = steps.load(config.data, config.target, workspace, config.images, config.id_columns,
                        config.drop_columns, config.dask_address, config.missing_values)
    schema = loaded.table_schema
    splits = steps.split(loaded, config.validation, config.validation_size, config.test_size, config.random_state,
                         workspace, config.dask_address)
    members = sized_members(config.members, splits.train.n_rows)
    if members != config.members:
        logger.info("%s training rows: the default recipe for %s data, %s", splits.train.n_rows,
                    "large" if is_large(splits.train.n_rows) else "medium", ", ".join(spec.name for spec in members))
    parameters = config.model_dump(mode="json")  # as given: a retrain sizes the default recipe and validation again
    validation = "out_of_fold" if splits.validation is None else "holdout"  # "auto" resolved by the split
    config = config.model_copy(update={"members": members, "validation": validation})
    profile, works, one_at_a_time = steps.stratify(splits, schema, config.members, config.ensemble_params())
    logger.info("Train split: %s; the balanced class weights this implies: %s", profile["train"]["counts"],
                {label: round(weight, 2) for label, weight in profile["train"]["class_weight"].items()})
    trained = _train_members(config, splits.train, schema, workspace, works, one_at_a_time)

    ensemble = steps.vote(trained, splits.validation or splits.train, schema, config.ensemble_params())
    title = f"Members vs ensemble: {storage.name(config.data)}, target {config.target!r}"
    evaluated = steps.evaluate(ensemble, splits.test, title, config.examples, config.dask_address)
    results = evaluated.pop("results")
    extra = {"data": {"source": config.data, "fingerprint": loaded.table.fingerprint, "rows": loaded.table.n_rows,
                      "profile": profile}, "parameters": parameters,
             "code_version": code_version()}
    version = steps.save(ensemble, config.store, results, extra, title, [splits.train, splits.validation],
                         evaluated, model=config.model, fingerprints=splits.fingerprints)
    logger.info("Saved model version %s", version)
    return {"version": version, "results": results, "profile": profile, "flow_run_id": str(flow_run.id),
            "test_split": splits.test.model_dump()}


@contextlib.contextmanager
def _member_runner(config: TrainConfig):
    """The task runner of the member tasks: the flow's own threads (None), or the Dask cluster of `dask_address`.

    Chosen per run, from the run's parameters, so a deployment's run can be sent to Dask from the UI.
    Prefect sends this process's settings with each task it hands to a worker; the API this run
    reports to is named in them (the temporary server of a run without one included), so that no
    worker starts a temporary Prefect server of its own. Workers on other machines need a Prefect
    server they can reach: start the flow with PREFECT_API_URL set to it.
    """
    if not config.dask_address:
        yield None
        return
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings
    from prefect_dask import DaskTaskRunner

    api = PREFECT_API_URL.value() or str(get_client(sync_client=True).api_url).rstrip("/")
    with temporary_settings({PREFECT_API_URL: api}), DaskTaskRunner(address=config.dask_address) as runner:
        yield runner


def _train_members(config: TrainConfig, train_split, schema, workspace: str, works: list[float],
                   one_at_a_time: bool = False) -> list:
    """One train-member task run per member, planned by `run_members` as `VotingEnsemble.fit` plans its threads:
    here, from the members' estimated `works` and the training rows (`plan_members`); on a Dask cluster, whose
    workers have cores of their own, as many at once as `max_concurrency` allows."""
    logger = get_run_logger()
    folds = config.folds if config.validation == "out_of_fold" else None
    if config.dask_address:
        workers, threads = plan_concurrency(len(config.members), config.max_concurrency)
    else:
        workers, threads = plan_members(config.members, works, config.max_concurrency, one_at_a_time=one_at_a_time)
    where = f"on the Dask cluster at {config.dask_address}" if config.dask_address else "here"
    why = ("" if workers > 1 or len(config.members) == 1 or config.dask_address else
           " (one after another finishes sooner on so few training rows)" if one_at_a_time else
           " (one after another is estimated to finish sooner: their work differs)")
    logger.info("Training %s members %s, %s at a time with %s thread(s) each%s", len(config.members), where, workers,
                threads, why)

    progress = Progress("member-progress", "Members trained", len(config.members))

    this_run = str(flow_run.id)

    def done(position, member, finished, total):
        trained = steps.TrainedMember.model_validate(member)  # the task returns a plain reference
        if trained.run == this_run:
            logger.info("Member %s/%s done: %s (%.1f s)", finished, total, trained.spec.name, trained.seconds)
        else:  # a cache hit: fitted by an earlier run on the same rows, with the same spec and code
            logger.info("Member %s/%s reused: %s, fitted by an earlier run on the same rows (it took %.1f s then)",
                        finished, total, trained.spec.name, trained.seconds)
        progress.update(finished)

    with _member_runner(config) as runner:
        def submit(spec, threads):
            parameters = {"spec": spec, "train": train_split, "schema": schema, "random_state": config.random_state,
                          "threads": threads, "workspace": workspace, "folds": folds,
                          "hand_over": runner is None}  # a Dask worker keeps nothing for a vote it does not hold
            if runner is None:
                return steps.train_member.submit(**parameters)
            return runner.submit(steps.train_member, parameters)

        return run_members(config.members, submit, works=works, plan=(workers, threads), wait_first=_first_done,
                           on_done=done)


def _first_done(futures: list):
    """The first of some Prefect futures to finish; a signal stops the wait within `POLL_S`, where it is safe."""
    with signals_deferred() as noted:
        while not noted:
            done = wait(futures, timeout=POLL_S).done
            if done:
                return next(future for future in futures if future in done)


if __name__ == "__main__":
    from imbalance_flows.flows.guard import exit_now
    from imbalance_flows.flows.options import main

    exit_now(main("train", train))
