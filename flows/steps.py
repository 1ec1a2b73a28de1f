"""The Prefect tasks of all three flows: thin wrappers that add retries, caching, logs and artifacts.

Each task reads and writes tables by reference (Parquet paths in the run's
workspace), so the same flow runs on threads, processes or Dask workers.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import io
import os
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger
from pydantic import BaseModel

from imbalance_flows.flows.cluster import parts_mapper
from imbalance_flows.flows.member_cache import (
    REFERENCE,
    member_digest,
    member_key,
    member_path,
    out_of_fold_path,
)
from imbalance_flows.tasks import storage
from imbalance_flows.tasks.data import tables
from imbalance_flows.tasks.data.images import read_data
from imbalance_flows.tasks.data.options import ImageOptions
from imbalance_flows.tasks.data.parts import describe_part, merge_parts
from imbalance_flows.tasks.data.schema import Schema, infer_schema
from imbalance_flows.tasks.data.splits import (
    MOST_COPIES,
    check_split_sizes,
    class_profile,
    constant_columns,
    copies_kept_together,
    count_distinct,
    identifier_like,
    numbers_as_text,
    numbers_as_text_warning,
    set_aside,
    split_target,
    stratified_indices,
)
from imbalance_flows.tasks.errors import DataWarning, InputError
from imbalance_flows.tasks.evaluation.report import (
    artifact_markdown,
    class_balance_markdown,
)
from imbalance_flows.tasks.model.ensemble import LopsidedDecisionWarning, VotingEnsemble
from imbalance_flows.tasks.model.plan import (
    check_plan,
    describe_slow,
    holdout_split,
    judging_labels,
    member_plan,
    member_rows,
    short_holdout,
    table_plan,
    validation_rows,
)
from imbalance_flows.tasks.model.sizes import judged_on_holdout
from imbalance_flows.tasks.model.spec import MemberSpec
from imbalance_flows.tasks.monitoring import drift
from imbalance_flows.tasks.sampling.resample import run_sampler
from imbalance_flows.tasks.sealing import check_seal, seal
from imbalance_flows.tasks.serving.scoring import count_rows, score_with_model
from imbalance_flows.tasks.store import champion as champion_challenger
from imbalance_flows.tasks.store.member_files import (
    dump_member,
    load_member,
    member_source,
    native_files,
    written_member,
)
from imbalance_flows.tasks.store.model_store import save_model


class Loaded(BaseModel):
    """A loaded table (held in memory for the split, or a partitioned table where it lies) and its schema."""

    table: tables.TableRef
    table_schema: Schema


class Splits(BaseModel):
    """The three stratified splits, by reference."""

    train: tables.TableRef
    validation: tables.TableRef | None  # None: members are judged out of fold on the training rows
    test: tables.TableRef
    # The fingerprints (`schema.row_hashes`) of the training rows, then of the validation rows, as the split found
    # them: a .npy file beside the tables, which the save reuses instead of hashing those rows again.
    fingerprints: str | None = None


class TrainedMember(BaseModel):
    """A fitted member saved in the workspace."""

    spec: MemberSpec
    path: str
    seconds: float
    out_of_fold: str | None = None  # .npy of its out-of-fold probabilities of the training rows
    run: str | None = None  # the flow run that fitted it (a later run reuses it from the cache)


def _io_trouble(task, task_run, state) -> bool:
    """Retry I/O trouble (a network file system, an object store), never a broken rule or a bug:
    the same input would break it again. A full disk is a broken rule (InputError): it stays full."""
    error = state.result(raise_on_failure=False)
    return isinstance(error, OSError) and not isinstance(error, InputError)


# I/O steps retry twice, after 2 then 8 seconds.
IO_RETRIES = {"retries": 2, "retry_delay_seconds": [2, 8], "retry_condition_fn": _io_trouble}


@contextlib.contextmanager
def data_warnings_logged():
    """What reading the data told (`DataWarning`: a saved index left out, ...) logged as the run's warnings, once
    each; other warnings pass on as they came."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataWarning)
        yield
    told = []
    for warning in caught:
        if not issubclass(warning.category, DataWarning):
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
        elif str(warning.message) not in told:
            told.append(str(warning.message))
            get_run_logger().warning("%s", warning.message)


@task(name="load", cache_policy=NO_CACHE, **IO_RETRIES)
def load(path: str, target: str, workspace: str, images: ImageOptions | None = None, id_columns: list[str] = (),
         drop_columns: list[str] = (), dask_address: str | None = None, missing_values: list[str] = ()) -> Loaded:
    """Read CSV, Parquet or images and check target and features; the table is held in this process's memory for
    `split` (`tables.keep`), which writes the splits to the workspace.

    A partitioned table (a folder of Parquet files, or a glob matching several) is checked file
    by file where it lies, on the Dask cluster of `dask_address` if there is one, and not copied.
    """
    files = tables.partitioned(path) if images is None or images.column is None else None
    if files and not any(_holds_bytes(file) for file in files[:1]):
        return _load_parts(path, files, target, id_columns, drop_columns, dask_address)
    with data_warnings_logged():
        frame, image = read_data(path, target, images, list(missing_values))
    frame = set_aside(frame, target, id_columns, drop_columns)
    X, y = split_target(frame, target)
    for name in identifier_like(X):
        get_run_logger().warning("Column %r holds a different value in every row: it looks like an identifier and "
                                 "is trained on as a feature. Mark it with --id-column %s (id_columns), or leave it "
                                 "out with --drop %s.", name, name, name)
    for name, (distinct, held) in ({} if image else numbers_as_text(X)).items():
        get_run_logger().warning("%s", numbers_as_text_warning(name, distinct, held))
    for name in [] if image else constant_columns(X):
        get_run_logger().warning("Column %r holds one value in every row: no member can learn from it. Leave it out "
                                 "with --drop %s.", name, name)
    schema = infer_schema(X, y, target)
    schema.id_columns, schema.dropped = list(id_columns), list(drop_columns)
    schema.missing_values = list(missing_values)  # scoring reads its CSV the same way
    ref = tables.keep(frame, "data")  # split from memory by the next step: not copied to the workspace
    what = f"images of {image.height}×{image.width}×{image.channels}" if image else f"× {X.shape[1]} features"
    get_run_logger().info("Loaded %s rows %s from %s (%s classes)", len(frame), what, path, len(schema.classes))
    return Loaded(table=ref, table_schema=schema)


def _holds_bytes(file: str) -> bool:
    """A Parquet file with a column of bytes (images, say): read whole, as image tables are."""
    import pyarrow as pa

    with tables.parquet_file(file) as parquet:
        return any(pa.types.is_binary(field.type) or pa.types.is_large_binary(field.type)
                   for field in parquet.schema_arrow)


def _load_parts(path: str, files: list[str], target: str, id_columns, drop_columns, dask_address) -> Loaded:
    logger = get_run_logger()
    with parts_mapper(dask_address) as map_parts:
        described = map_parts(describe_part, files, target=target, id_columns=list(id_columns),
                              drop_columns=list(drop_columns))
    table, schema, identifiers = merge_parts(described, path, target)
    for name in identifiers:
        logger.warning("Column %r holds a different value in every row: it looks like an identifier and is trained "
                       "on as a feature. Mark it with --id-column %s (id_columns), or leave it out with --drop %s.",
                       name, name, name)
    schema.id_columns, schema.dropped = list(id_columns), list(drop_columns)
    where = f"on the Dask cluster at {dask_address}" if dask_address else "here"
    logger.info("Loaded %s rows × %s features from %s Parquet files of %s, checked file by file %s (%s classes)",
                table.n_rows, len(schema.columns), len(table.parts), path, where, len(schema.classes))
    return Loaded(table=table, table_schema=schema)


@task(name="split", cache_policy=NO_CACHE)
def split(loaded: Loaded, validation: str, validation_size: float, test_size: float, random_state: int,
          workspace: str, dask_address: str | None = None) -> Splits:
    """Stratified train / validation / test split (no validation split where members are judged out of fold);
    every class appears in each.

    The test split first; then, from the rows left, the validation split where `validation` asks for one ("auto":
    where the rows left are medium data, `sizes.judged_on_holdout`), exactly as `VotingEnsemble.fit` decides and
    holds it out of the rows it is given (`plan.holdout_split`), so that fitting the estimator on the rows outside
    the test split trains the same model. A partitioned table's splits are partitioned too, each file's rows written
    where it lies (on the cluster)."""
    check_split_sizes(test_size, validation_size)
    try:
        return _split(loaded, validation, validation_size, test_size, random_state, workspace, dask_address)
    finally:
        tables.let_go(loaded.table)  # a loaded table held in memory is not needed after its split


def _split(loaded: Loaded, validation: str, validation_size: float, test_size: float, random_state: int,
           workspace: str, dask_address: str | None) -> Splits:
    labels = tables.read_column(loaded.table, loaded.table_schema.target).to_numpy()

    def parts(groups=None) -> dict:
        (train, test), held_out = stratified_indices(labels, [test_size], random_state, " in the file", groups), None
        split = None
        if judged_on_holdout(validation, len(train), validation_size):
            split = holdout_split(labels[train], validation_size, random_state, " in the file",
                                  None if groups is None else groups[train], auto=validation == "auto")
        if split is not None:
            train, held_out = train[split[0]], train[split[1]]
        return {name: rows for name, rows in (("train", train), ("validation", held_out), ("test", test))
                if rows is not None}

    with parts_mapper(dask_address if loaded.table.parts else None) as map_parts, ThreadPoolExecutor(1) as pool:
        # A table held in memory: the splits drawn as if no row were a copy of another are written while the rows
        # are hashed, and kept where none is (as in most tables of measured numbers): the same splits, since
        # without copies the fingerprints change nothing (design notes: "Loading and splitting").
        try:
            plain = parts() if loaded.table.kept else None
        except InputError:  # refused again below, once the copies are counted, with what they change
            plain = None
        early = None if plain is None else _EarlyWrite(pool, loaded.table, plain, workspace)
        try:
            copies = tables.table_row_hashes(loaded.table, loaded.table_schema, map_parts)
            distinct = count_distinct(copies)
            repeated = len(copies) - distinct
            if repeated and copies_kept_together(len(copies), distinct):
                get_run_logger().warning("%s rows are copies of other rows (the same features and label): each "
                                         "row's copies are kept on one side of the splits, so that no copy of a "
                                         "training row is tested on. Remove them from the data if they are not real "
                                         "repeats.", repeated)
            elif repeated:
                get_run_logger().info("%s of the %s rows are copies of other rows (the same features and label): "
                                      "more than %.0f %%, as where the features take few values, so the rows are "
                                      "split one by one, copies on both sides.", repeated, len(copies),
                                      100 * MOST_COPIES)
            # No copies: the same split, without sorting the fingerprints again.
            chosen = parts(copies) if repeated else plain or parts()
            if "validation" in chosen:  # a validation split too small to judge on
                told = short_holdout(labels[chosen["validation"]],
                                     labels[np.concatenate([chosen["train"], chosen["validation"]])], validation_size)
                if told:
                    get_run_logger().warning("%s", told)
            written = None
            if early is not None and _same_rows(chosen, plain):
                written = early.result()
            elif early is not None:  # copies kept on one side: not these splits
                early.discard()
        except BaseException:  # refused or stopped: nothing of the split is left behind
            if early is not None:
                early.discard()
            raise
        if written is None:
            written = tables.write_parts(loaded.table, chosen, workspace, map_parts)  # row group by row group
        fingerprints = storage.join(storage.parent(written["train"].path),
                                    f"fingerprints-{written['train'].fingerprint}.npy")
        fitted = chosen["train"] if "validation" not in chosen else np.concatenate([chosen["train"],
                                                                                    chosen["validation"]])
        _write_array(fingerprints, copies[fitted])
    return Splits(train=written["train"], validation=written.get("validation"), test=written["test"],
                  fingerprints=fingerprints)


class _EarlyWrite:
    """Splits of a table held in memory written on a thread of `pool` while the caller goes on (`_split`):
    `result()` waits for their tables; `discard()` waits, then removes the files this write made (not those that
    were there already, another run's)."""

    def __init__(self, pool: ThreadPoolExecutor, table: tables.TableRef, parts: dict, workspace: str):
        self.fresh = []
        self.future = pool.submit(self._write, table, parts, workspace)

    def _write(self, table: tables.TableRef, parts: dict, workspace: str) -> dict:
        # On the thread too: the splits' addresses hash their rows (tens of milliseconds on millions of rows).
        self.fresh = [ref.path for ref in tables.part_refs(table, parts, workspace).values()
                      if not storage.exists(ref.path)]
        return tables.write_parts(table, parts, workspace)

    def result(self) -> dict:
        return self.future.result()

    def discard(self) -> None:
        concurrent.futures.wait([self.future])
        for path in self.fresh:
            storage.remove(path)


def _same_rows(parts: dict, others: dict) -> bool:
    return parts.keys() == others.keys() and all(np.array_equal(parts[name], others[name]) for name in parts)


def _write_array(path: str, values: np.ndarray) -> None:
    """An array as .npy (no pickles), written whole through the storage layer: a full disk names the path and
    the room."""
    buffer = io.BytesIO()
    np.save(buffer, values, allow_pickle=False)
    storage.write_bytes(path, buffer.getvalue())


@task(name="stratify", cache_policy=NO_CACHE)
def stratify(splits: Splits, schema: Schema, members: list[MemberSpec], params: dict
             ) -> tuple[dict, list[float], bool]:
    """Class counts, shares, imbalance ratio and class weights; check the fitting plan (`plan.check_plan`: rows
    per class, every member, the costs) against the training split, before any member fits. Returns the splits'
    class profiles, the members' estimated work (`FitPlan.works`) and whether they fit one after another
    (`FitPlan.one_at_a_time`), which plan how many fit at once.

    `params` are the ensemble's (`TrainConfig.ensemble_params`).
    """
    labels = {name: tables.read_column(getattr(splits, name), schema.target)
              for name in ("train", "validation", "test") if getattr(splits, name) is not None}
    profiles = {name: class_profile(rows) for name, rows in labels.items()}
    totals = {label: sum(profile["counts"].get(label, 0) for profile in profiles.values()) for label in schema.classes}
    plan = table_plan(members, splits.train, schema, seed=params["random_state"], validation=params["validation"],
                      folds=params["folds"], labels=labels["train"])
    for spec, seconds in check_plan(plan, params["costs"], params["allow_slow_samplers"], " in the training split",
                                    totals):
        get_run_logger().warning(describe_slow(spec, seconds, splits.train.n_rows))
    create_markdown_artifact(key="class-balance", description="Class counts per split",
                             markdown=class_balance_markdown(profiles, schema.classes))
    return profiles, plan.works(), plan.one_at_a_time


def _counts(labels, classes: list | None = None) -> dict:
    """Rows per class, by class name (members learn class codes: positions in `classes`)."""
    values, counts = np.unique(labels, return_counts=True)
    names = [classes[code] if classes is not None and 0 <= code < len(classes) else code for code in values.tolist()]
    return dict(zip(names, counts.tolist()))


@task(name="resample", cache_policy=NO_CACHE)
def resample(sampler, rows, labels, classes: list | None = None):
    """Resample a member's training rows (inside its fit, so never validation or test)."""
    before = _counts(labels, classes)
    rows, labels = run_sampler(sampler, rows, labels)
    get_run_logger().info("%s: %s → %s", type(sampler).__name__, before, _counts(labels, classes))
    return rows, labels


@task(name="augment", cache_policy=NO_CACHE)
def augment(augmenter, rows, labels, classes: list | None = None):
    """Add synthetic minority rows to a member's training rows."""
    before = _counts(labels, classes)
    rows, labels = run_sampler(augmenter, rows, labels)
    get_run_logger().info("%s: %s → %s", augmenter.method, before, _counts(labels, classes))
    return rows, labels


SAMPLING = {"resample": resample, "augment": augment}


@task(name="train-member", cache_key_fn=member_key, persist_result=True, result_serializer=REFERENCE,
      task_run_name="train {spec.name}")
def train_member(spec: MemberSpec, train: tables.TableRef, schema: Schema, random_state: int,
                 threads: int, workspace: str, folds: int | None = None, hand_over: bool = False) -> dict:
    """Fit one member on the training split; its resampling and augmentation show as subtasks.

    With `folds`, it also predicts every training row out of fold (see `fit_out_of_fold`). With `hand_over`
    (run in the flow's own process), the fitted member is kept in memory for the vote (`written_member`).
    """
    plan = member_plan(spec, train, schema, random_state, folds)
    X, y, rows = member_rows(plan, train)
    path = member_path(workspace, member_digest(spec, train, random_state, folds))
    if storage.is_local(path):
        os.makedirs(os.path.dirname(storage.local(path)), exist_ok=True)
    def watch(step: str, sampler, rows, labels):
        # Each sampling step is a subtask carrying the member's name; it logs class names, not codes.
        return SAMPLING[step].with_options(task_run_name=f"{step} {spec.name}")(sampler, rows, labels, schema.classes)

    pipeline, seconds, proba = plan.fit_member(spec, X, y, threads, watch, rows)
    out_of_fold = None
    if proba is not None:
        out_of_fold = out_of_fold_path(path)
        _write_array(out_of_fold, proba)
    for written in [*dump_member(pipeline, path, hand_over), *([out_of_fold] if out_of_fold else [])]:
        seal(str(written))  # with a store key: the next run reuses it only if unchanged
    from prefect.runtime import flow_run

    return TrainedMember(spec=spec, path=path, seconds=seconds, out_of_fold=out_of_fold,
                         run=str(flow_run.id) if flow_run.id else None).model_dump(mode="json")


@task(name="vote", cache_policy=NO_CACHE)
def vote(members: list[dict], rows: tables.TableRef, schema: Schema, params: dict) -> VotingEnsemble:
    """Combine the members; rows they did not see set their weights, calibration and decision threshold.

    `members` are train-member results (references to their files); `rows` is the validation
    split (holdout), or the training split the members' out-of-fold probabilities were
    computed for (out_of_fold); `params` are the ensemble's (`TrainConfig.ensemble_params`).
    """
    members = [TrainedMember.model_validate(member) for member in members]
    for member in members:
        for path in (member.path, member.out_of_fold):
            if path is not None and not storage.exists(path):
                raise InputError("a reused (cached) member's files must still exist", f"{path!r} is gone",
                                 "Retrain it: run again with PREFECT_TASKS_REFRESH_CACHE=true.")
    for member in members:  # with a store key, a member reused from the workspace must be as this key sealed it
        for path in (member.path, *native_files(member.path), member.out_of_fold):
            if path is not None:
                check_seal(path)
    sources = [member_source(member.path) for member in members]  # taken before the files are read
    fitted = [written_member(member.path) or load_member(member.path) for member in members]  # fitted here: kept
    specs = [m.spec for m in members]
    ensemble = VotingEnsemble(members=specs, **params)
    validation = ensemble.validation
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LopsidedDecisionWarning)  # logged below, once
        if validation == "out_of_fold":  # the members' own predictions of these rows: only the labels are read
            y_rows = judging_labels(rows, schema, specs, ensemble.random_state, ensemble.folds)
            probas = [np.load(io.BytesIO(storage.read_bytes(m.out_of_fold))) for m in members]
            ensemble.combine_out_of_fold(fitted, specs, schema, y_rows, probas)
        else:
            X_rows, y_rows = validation_rows(rows, schema, ensemble.random_state)
            ensemble.combine(fitted, specs, schema, X_rows, y_rows)
    ensemble.member_sources_ = sources  # the version saved copies these files instead of writing the members again
    logger = get_run_logger()
    how = "out of fold" if validation == "out_of_fold" else "validation split"
    if len(y_rows) < rows.n_rows:
        how += f", a stratified sample of the {rows.n_rows} {'training' if how == 'out of fold' else 'validation'} rows"
    logger.info("Weights and threshold from %s rows the members did not see (%s)", len(y_rows), how)
    for member, weight in zip(members, ensemble.weights_):
        logger.info("weight %.3f  %s", weight, member.spec.name)
    if ensemble.threshold_ is not None:
        logger.info("threshold %.3f on the %s-calibrated P(%s), tuned for %s", ensemble.threshold_,
                    ensemble.calibration, ensemble.positive_class_, ensemble.objective_)
    if ensemble.lopsided_:
        logger.warning("%s%s", ensemble.lopsided_[0].upper(), ensemble.lopsided_[1:])
    return ensemble


@task(name="evaluate", cache_policy=NO_CACHE)
def evaluate(ensemble: VotingEnsemble, test: tables.TableRef, title: str, examples: int = 10,
             dask_address: str | None = None) -> dict:
    """Score every member and the ensemble on the untouched test split; keep up to `examples` test rows per
    class that the ensemble got wrong, the most confident mistakes first (and, for images, a sheet of them).
    The split is scored part by part: in chunks, or file by file on the Dask cluster of `dask_address`.

    Returns {"results": metrics per model, "examples": ..., "sheet": PNG bytes or None, "confusion": the
    ensemble's confusion matrix as PNG}.
    """
    from imbalance_flows.tasks.evaluation.examples import (
        markdown,
        scored_file,
        scored_rows,
    )
    from imbalance_flows.tasks.evaluation.report import (
        data_uri,
        ensemble_confusion_png,
        split_results,
    )

    frame = tables.read_table(test) if ensemble.schema_.image else None  # the sheet draws wrong images from rows
    if frame is not None:
        scored = [scored_rows(frame, ensemble, examples)]
    elif test.parts:
        with parts_mapper(dask_address) as map_parts:
            scored = map_parts(scored_file, test.parts, ensemble=ensemble, per_class=examples)
    else:
        scored = [scored_rows(chunk, ensemble, examples) for chunk in tables.read_chunks(test)]
    evaluated = split_results(ensemble, scored, frame)
    evaluated["confusion"] = ensemble_confusion_png(evaluated["results"])  # drawn once: the UI's and the version's
    create_markdown_artifact(key="members-vs-ensemble",
                             markdown=artifact_markdown(evaluated["results"], title, evaluated["confusion"]),
                             description="Per-class metrics of every member and the ensemble, test split")
    sheet = evaluated["sheet"]
    text = markdown(evaluated["examples"]) + (f"\n\n![misclassified test images]({data_uri(sheet)})" if sheet else "")
    create_markdown_artifact(key="misclassified-examples", markdown=text,
                             description="Test examples the ensemble got wrong, per class")
    return evaluated


@task(name="save", cache_policy=NO_CACHE, **IO_RETRIES)
def save(ensemble: VotingEnsemble, store: str, results: dict, extra: dict, header: str,
         trained_on: list[tables.TableRef | None] = (), examples: dict | None = None, model: str = "default",
         fingerprints: str | None = None) -> str:
    """Write a version of `model` (complete or absent) with its report and its training rows' fingerprints (those
    the split found, `Splits.fingerprints`, where given: then only the labels and the drift picture's sample of
    the rows are read, `model_store.summarise_tables`)."""
    from imbalance_flows.tasks.evaluation.report import report_files

    refs = [ref for ref in trained_on if ref is not None]
    known = np.load(io.BytesIO(storage.read_bytes(fingerprints)), allow_pickle=False) if fingerprints else None
    files = report_files(results, header, **(examples or {}))
    return str(save_model(ensemble, store, metrics=results, extra=extra, files=files, training_rows=refs or None,
                          training_hashes=known, member_sources=getattr(ensemble, "member_sources_", None),
                          model=model))


@task(name="judge", cache_policy=NO_CACHE)
def judge(store: str, challenger: str, holdout: tables.TableRef, metric: str, margin: float,
          min_rows_per_class: int, confidence: float = 0.95) -> dict:
    """Score challenger and champion on holdout rows neither was trained on, chunk by chunk; promote under the
    store's lock when the challenger is better with `confidence` (`champion.judge`)."""
    return champion_challenger.judge(store, challenger, tables.read_chunks(holdout), metric, margin,
                                     min_rows_per_class, confidence)


@task(name="score", cache_policy=NO_CACHE, **IO_RETRIES)
def score(model_dir: str, data: str, out: str, chunk_rows: int, unknown_categories: str,
          passthrough: list[str] = (), adjust_priors: str | None = None, limits: tuple[float, float] = (
              drift.PSI_LIMIT, drift.SHARE_CHANGE_LIMIT)) -> dict:
    """Score every chunk of the data with the model (`score.score_with_model`), with a progress artifact; log the
    class priors the scores were adjusted to and the categories never seen in training."""
    from imbalance_flows.flows.progress import Progress

    progress = Progress("scoring-progress", "Rows scored", count_rows(data))
    with data_warnings_logged():
        result = score_with_model(model_dir, data, out, chunk_rows, unknown_categories, list(passthrough),
                                  adjust_priors, limits, on_chunk=progress.update)
    progress.finish(result["rows"])
    logger = get_run_logger()
    if result["priors"] is not None:
        logger.info("Scores adjusted to class priors %s", ", ".join(
            f"{label} {share:.4f}" for label, share in result["priors"].items()))
    for line in result.pop("unseen_lines"):
        logger.warning("Categories unseen in training, scored as missing: %s", line)
    return result


__all__ = ["Loaded", "Splits", "TrainedMember", "augment", "evaluate", "judge", "load", "resample", "save", "score",
           "split", "stratify", "train_member", "vote"]
