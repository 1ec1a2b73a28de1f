"""The model store: versioned model directories, complete or absent, and a champion pointer.

    <store>/versions/<version>/manifest.json    schema, classes, members, weights, metrics, provenance
                              members/NN.skops  each member's fitted pipeline (skops: no pickle)
                              members/NN.keras  a learner's own model file beside it (a Keras network; LightGBM, XGBoost or CatBoost trees)
                              training_rows.npy  a fingerprint of every row it was trained on
                              report.json, report.md, *.png
    <store>/champion                            the default model's promoted version (moves only on promotion)
    <store>/models/<name>/champion              another model's promoted version
    <store>/models/<name>/card.json             a model's description and its versions' tags
    <store>/decisions/NNNNNN-<time>.json        champion/challenger decisions, numbered in order
    <store>/.lock                               held while a decision is taken and the pointer moved

A store holds models by name: each version's manifest names its model (`default` when it names
none, as versions saved before models had names), and each model has its own champion.

A version is written under <store>/.staging and renamed into place when complete, so
a crash leaves either the whole version or nothing. Loading never runs code from a
file: skops restores only the types listed in `trusted_types()`, and Keras networks load
in safe mode (no Lambda layers, no custom code).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from imbalance_flows.tasks import storage
from imbalance_flows.tasks.disk import LEFTOVER_AGE_S, room_to_write, staging_name
from imbalance_flows.tasks.disk import remove_leftovers as remove_local_leftovers
from imbalance_flows.tasks.errors import InputError
from imbalance_flows.tasks.sealing import seal, sealed_json, signing
from imbalance_flows.tasks.store.integrity import (
    DEFAULT_MODEL,
    MANIFEST,
    SIGNATURE,
    check_files,
    check_manifest_shape,
    check_model_name,
    check_no_links,
    check_signature,
    check_store_key,
    file_digests,
    inside,
    mark_signed,
    model_of,
    pointed_name,
    private_copy,
    sign,
    signed_pointer,
    store_of,
)
from imbalance_flows.tasks.store.member_files import (
    FORMAT_VERSION,
    READABLE_FORMATS,
    MemberSource,
    copy_member,
    dump_member,
    load_member,
)

if TYPE_CHECKING:  # imported where used: reading manifests and moving the pointer stay cheap (`models list`)
    import pandas as pd

    from imbalance_flows.tasks.model.ensemble import VotingEnsemble

TRAINING_ROWS = "training_rows.npy"
NUMBERED = re.compile(r"\d{6}-")  # decisions/NNNNNN-<time>.json


def code_version() -> str:
    """The package version, plus the git commit when running from a checkout."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        __version__ = version("imbalance-flows")
    except PackageNotFoundError:  # run from a checkout that was never installed
        __version__ = "0+unknown"
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
                                cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"{__version__}+{commit}" if commit else __version__


# The drift picture's bins and shares come from at most this many training rows (its class shares from all):
# a bin's share then varies by about 0.07 percentage points, which moves PSI by about 1e-4, far below its
# limits (0.1, 0.25); a sample of 1M rows took 1.6 s of the save step.
REFERENCE_ROWS = 200_000


def summarise_rows(chunks, schema, sample_rows: int = REFERENCE_ROWS, random_state: int = 0,
                   total: int | None = None, known: np.ndarray | None = None):
    """One fingerprint per training row, and the drift picture of the rows (`drift.reference`), chunk by chunk.

    The picture's bins and shares come from a uniform sample of at most `sample_rows` rows
    (all of them when there are fewer), its class shares and row count from every row: a
    large training split is never held whole. With the rows' `total` known, the sample's
    positions are drawn first and each chunk gives only its own; otherwise what is held is
    thinned to a sample whenever it passes twice `sample_rows`.
    `known`: the rows' fingerprints where they are known already (the split found them), one per row in any
    order; the rows are then read for their picture only.
    Returns (hashes, picture or None without labels).
    """
    import pandas as pd

    from imbalance_flows.tasks.data.schema import row_hashes
    from imbalance_flows.tasks.data.tables import between
    from imbalance_flows.tasks.monitoring.drift import label_counts

    rng = np.random.default_rng(random_state)
    drawn = _sample_positions(rng, total, sample_rows)
    hashes, sample, labels, seen = [], [], [], 0
    for chunk in chunks:
        if known is None:
            hashes.append(row_hashes(chunk, schema))
        if schema.target in chunk.columns:
            labels.append(label_counts(chunk[schema.target]))
        start, seen = seen, seen + len(chunk)
        if drawn is not None:
            sample.append(chunk.iloc[between(drawn, start, seen)])
            continue
        sample.append(chunk)
        held = sum(len(part) for part in sample)
        if held > 2 * sample_rows:  # thin what is held to a uniform sample of the rows so far
            kept = pd.concat(sample, ignore_index=True)
            sample = [kept.iloc[np.sort(rng.choice(len(kept), sample_rows, replace=False))]]
    if known is not None:
        hashes = [_known_hashes(known, seen)]
    hashes = np.concatenate(hashes) if hashes else np.zeros(0, dtype=np.uint64)
    if not labels:
        return hashes, None
    rows = pd.concat(sample, ignore_index=True)
    if len(rows) > sample_rows:
        rows = rows.iloc[np.sort(rng.choice(len(rows), sample_rows, replace=False))]
    return hashes, _picture(rows, labels, seen, schema)


def summarise_tables(refs: list, schema, known: np.ndarray, sample_rows: int = REFERENCE_ROWS,
                     random_state: int = 0):
    """`summarise_rows` of tables the workspace wrote (`tables.TableRef`, their rows one table after another) whose
    fingerprints are `known`: the same result, from the labels read alone and the sample's rows read by position
    (the very sample `summarise_rows` draws), instead of every column of every row.

    Returns (hashes, picture).
    """
    import pandas as pd

    from imbalance_flows.tasks.data.tables import between, read_column, read_rows
    from imbalance_flows.tasks.monitoring.drift import label_counts

    total = sum(ref.n_rows for ref in refs)
    hashes = _known_hashes(known, total)
    drawn = _sample_positions(np.random.default_rng(random_state), total, sample_rows)
    drawn = np.arange(total) if drawn is None else drawn
    labels = [label_counts(read_column(ref, schema.target)) for ref in refs]
    starts = np.cumsum([0] + [ref.n_rows for ref in refs])
    parts = [read_rows(ref, between(drawn, start, start + ref.n_rows)) for ref, start in zip(refs, starts)]
    rows = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    return hashes, _picture(rows, labels, total, schema)


def _sample_positions(rng, total: int | None, sample_rows: int) -> np.ndarray | None:
    """The sorted positions of the drift picture's uniform sample of `total` rows (None: every row), one draw
    shared by `summarise_rows` and `summarise_tables`, so that both give the same picture."""
    return np.sort(rng.choice(total, sample_rows, replace=False)) if total and total > sample_rows else None


def _known_hashes(known, rows: int) -> np.ndarray:
    """Fingerprints the split found, checked to be one per training row."""
    from imbalance_flows.tasks.errors import InputError

    if len(known) != rows:
        raise InputError("the training rows' fingerprints must be one per training row",
                         f"{len(known)} for {rows} rows", "Run the training again.")
    return np.asarray(known, dtype=np.uint64)


def _picture(rows, labels: list, total: int, schema) -> dict:
    """The drift picture (`drift.reference`) of the sampled `rows`, with the row count and class shares of all
    `total` rows, whose labels were counted part by part (`labels`: `drift.label_counts` of each part)."""
    import pandas as pd

    from imbalance_flows.tasks.monitoring.drift import reference

    picture = reference(rows[[name for name in schema.names if name in rows.columns]], rows[schema.target], schema)
    counts = pd.concat(labels).groupby(level=0).sum()
    picture["rows"] = int(total)
    picture["class_shares"] = {str(label): float(counts.get(str(label), 0)) / max(total, 1)
                               for label in schema.classes}
    return picture


def new_version_name() -> str:
    """Sortable by time, unique without coordination."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


def save_model(ensemble: VotingEnsemble, store: str | os.PathLike, metrics: dict | None = None,
               extra: dict | None = None, files: dict[str, bytes | str] | None = None,
               training_rows: pd.DataFrame | None = None, training_row_count: int | None = None,
               member_sources: list[MemberSource | None] | None = None, model: str = DEFAULT_MODEL,
               training_hashes: np.ndarray | None = None) -> Path:
    """Write a fitted ensemble as a new version of the store's model `model`; return its directory.

    Parameters
    ----------
    ensemble : VotingEnsemble
        Fitted.
    store : path
        The store's root; created if absent.
    metrics : dict
        Evaluation results to keep in the manifest.
    extra : dict
        More provenance for the manifest (data fingerprint, parameters, ...).
    files : dict
        Report files to write beside the manifest, by file name.
    training_rows : DataFrame, iterable of DataFrame, or list of TableRef
        The rows the ensemble was trained on (features and target), whole or in chunks, or as tables the
        workspace wrote, one after another (with `training_hashes`, only their labels and the drift picture's
        sample are read: see `summarise_tables`). A
        fingerprint of each is kept, so that a later challenger can judge this version on
        rows it never saw, and their picture for drift (see `summarise_rows`).
    training_row_count : int
        How many rows `training_rows` gives in all, when it is chunks (the drift sample is then drawn
        without holding more than it).
    training_hashes : ndarray of uint64
        The fingerprints of `training_rows` where they are known already (`schema.row_hashes`, one per row):
        the rows are then read for their picture only.
    member_sources : list of MemberSource or None
        Per member, the files it was loaded from (`member_files.member_source`): copied while unchanged,
        instead of writing the member again.
    model : str
        The model the version belongs to (`default` when not named): each model has its own champion.
    """
    check_model_name(model)
    extra = {**(extra or {}), "model": model}
    root = storage.check(store, "the store")
    check_store_key(root, writing=True)
    final = storage.join(root, "versions", new_version_name())
    if storage.is_local(root):
        staging = Path(storage.local(root)) / ".staging" / staging_name()
    else:  # written here, then uploaded object by object, the manifest last (see `publish`)
        staging = Path(tempfile.mkdtemp(prefix="imbalance-flows-version-"))
    try:
        with room_to_write(staging):
            _write_version(ensemble, staging, metrics, extra, files, training_rows, training_row_count,
                           member_sources, training_hashes)
            publish(staging, final)
            mark_signed(root)
        return storage.location(final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def publish(staging: Path, final: str) -> None:
    """Make a complete version visible at `final`, all at once for its readers.

    On a file system, one rename of its folder. An object store has no rename: each file becomes an
    object, and the manifest is uploaded last (its signature just before it), so a version without a
    manifest is one being written, or abandoned by a writer that died, and every reader ignores it;
    `remove_leftovers` deletes those a day old.
    """
    if storage.is_local(final):
        Path(storage.local(final)).parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging, storage.local(final))
    else:
        storage.upload(staging, final, last=(SIGNATURE, MANIFEST))


def _write_version(ensemble: VotingEnsemble, staging: Path, metrics, extra, files,
                   training_rows, training_row_count: int | None = None, member_sources=None,
                   training_hashes=None) -> None:
    """`save_model`'s writing: everything into `staging`, signed; `publish` then makes it a version."""
    (staging / "members").mkdir(parents=True)
    member_files = []
    sources = member_sources or [None] * len(ensemble.members_)
    if len(sources) != len(ensemble.members_):
        raise InputError("member_sources must name one source (or None) per member",
                         f"got {len(sources)} for {len(ensemble.members_)} members",
                         "Pass the vote's `member_sources_`, or leave it out to write every member.")
    for i, (member, source) in enumerate(zip(ensemble.members_, sources)):
        name = f"members/{i:02d}.skops"
        if source is None or copy_member(source, staging / name) is None:
            dump_member(member, staging / name)
        member_files.append(name)
    manifest = {
        "format_version": FORMAT_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        # Orders versions saved within one second (an object store keeps times in whole seconds).
        "created_ns": time.time_ns(),
        "code_version": code_version(),
        "schema": ensemble.schema_.model_dump(),
        "ensemble": {key: _parameter(value) for key, value in ensemble.get_params().items() if key != "members"},
        "threshold": ensemble.threshold_,
        "class_prior": ensemble.class_prior_.tolist(),
        "positive_class": _plain(ensemble.positive_class_),
        "objective": ensemble.objective_,
        "calibration": ensemble.calibration_,
        "prior_power": ensemble.prior_power_,
        "cost_matrix": None if ensemble.cost_matrix_ is None else ensemble.cost_matrix_.tolist(),
        "members": [
            {"name": spec.name, "spec": spec.model_dump(), "file": file, "weight": float(weight),
             "validation": score}
            for spec, file, weight, score in zip(ensemble.specs_, member_files, ensemble.weights_,
                                                 ensemble.validation_scores_)
        ],
        "metrics": metrics or {},
        **(extra or {}),
    }
    if training_rows is not None:
        import pandas as pd

        from imbalance_flows.tasks.data.tables import TableRef, read_chunks

        refs = training_rows if isinstance(training_rows, list) and training_rows and all(
            isinstance(ref, TableRef) for ref in training_rows) else None
        if refs is not None and training_hashes is not None:
            hashes, picture = summarise_tables(refs, ensemble.schema_, training_hashes)
        else:
            if refs is not None:  # fingerprints to find: every row is read, chunk by chunk
                training_rows = (chunk for ref in refs for chunk in read_chunks(ref))
                training_row_count = sum(ref.n_rows for ref in refs)
            chunks = [training_rows] if isinstance(training_rows, pd.DataFrame) else training_rows
            hashes, picture = summarise_rows(chunks, ensemble.schema_, total=training_row_count,
                                             known=training_hashes)
        np.save(staging / TRAINING_ROWS, hashes, allow_pickle=False)
        manifest["training_rows"] = {"file": TRAINING_ROWS, "rows": len(hashes)}
        if picture is not None:  # what scoring compares each batch with (drift, priors)
            manifest["reference"] = picture
    for name, content in (files or {}).items():
        mode = "wb" if isinstance(content, bytes) else "w"
        with open(staging / name, mode) as handle:
            handle.write(content)
    manifest["files"] = file_digests(staging)  # checked on every load: a changed file is refused
    _write_json(staging / "manifest.json", manifest)
    sign(staging)


def read_manifest(version_dir: str | os.PathLike) -> dict:
    """The manifest of a saved version, with a clear error when it is not one."""
    path = storage.join(version_dir, MANIFEST)
    if not storage.is_file(path):
        raise InputError("MODEL must be a saved model version's directory", f"{str(version_dir)!r} has no manifest.json",
                         "Pass the directory printed on the last line of `imbalance-flows train`.")
    check_no_links(version_dir)
    check_store_key(store_of(version_dir))
    try:
        manifest = json.loads(storage.read_bytes(path))
    except (OSError, ValueError, RecursionError) as error:
        reason = "nested too deeply" if isinstance(error, RecursionError) else str(error)[:200]
        raise InputError("a model's manifest.json must be valid JSON", f"{str(path)!r} is not ({reason})",
                         "The version is damaged: retrain, or use another version.") from error
    format_version = manifest.get("format_version") if isinstance(manifest, dict) else None
    if isinstance(manifest, dict) and format_version not in READABLE_FORMATS:
        raise InputError(f"this version of imbalance-flows reads model formats {', '.join(map(str, READABLE_FORMATS))}",
                         f"{str(version_dir)!r} has format {format_version!r}",
                         "Load it with the imbalance-flows version that saved it, or retrain.")
    check_manifest_shape(manifest, str(path))
    return manifest


def load_model(version_dir: str | os.PathLike) -> VotingEnsemble:
    """Load a saved ensemble; refuses any type outside skops' defaults and `trusted_types()`.

    Keras networks load with safe mode on; TensorFlow is imported only when the version has one.
    A version on an object store is copied here first, each key checked to lie inside it, and
    then checked and loaded as a local one.
    """
    from imbalance_flows.tasks.store.activity import reading

    with reading(version_dir):  # `models prune` leaves it alone meanwhile
        return _load(version_dir)


def check_version(version_dir: str | os.PathLike) -> None:
    """What loading checks before it builds a member: where the version lies, its manifest's shape, the store's
    key, its signature, its files' digests and what its manifest says of the model (no member's library is needed,
    nor the memory of its model)."""
    from imbalance_flows.tasks.store.activity import reading

    with reading(version_dir):
        if not storage.is_local(version_dir):
            with fetched(str(version_dir)) as copy:
                _described(copy, _checked_manifest(copy))
            return
        local = Path(storage.local(version_dir))
        _described(local, _checked_manifest(local))


def _load(version_dir: str | os.PathLike) -> VotingEnsemble:
    if not storage.is_local(version_dir):
        with fetched(str(version_dir)) as copy:
            return _load(copy)
    version_dir = Path(storage.local(version_dir))
    read_manifest(version_dir)  # what is refused about the version where it lies: links, its shape, the store's key
    if signing():  # a signed store: checked and loaded from one read of each file
        with private_copy(version_dir) as copy:
            return _load_checked(copy, shown=version_dir)
    return _load_checked(version_dir)


def _load_checked(version_dir: Path, shown: Path | None = None) -> VotingEnsemble:
    """Check and load a local version; errors name it as `shown` (where it lies) when it is a private copy."""
    try:
        return _load_local(version_dir)
    except InputError as error:
        if shown is None:
            raise
        raise InputError(error.rule, error.value.replace(str(version_dir), str(shown)), error.hint) from None


def _checked_manifest(version_dir: Path) -> dict:
    """A local version's manifest, once its shape, signature and files' digests are checked."""
    manifest = read_manifest(version_dir)
    check_signature(version_dir)
    check_files(version_dir, manifest)
    return manifest


def _load_local(version_dir: Path) -> VotingEnsemble:
    manifest = _checked_manifest(version_dir)
    members = [load_member(inside(version_dir, entry["file"]), manifest["format_version"])
               for entry in manifest["members"]]
    return _described(version_dir, manifest, members)


def _described(version_dir: Path, manifest: dict, members: list | None = None) -> VotingEnsemble | None:
    """The ensemble a version's (checked) manifest describes around its loaded `members`; with None, the manifest
    alone is checked (`VotingEnsemble.check_manifest`: no member is built)."""
    from pydantic import ValidationError

    from imbalance_flows.tasks.model.ensemble import VotingEnsemble

    try:
        if members is None:
            return VotingEnsemble.check_manifest(manifest)
        return VotingEnsemble.from_manifest(manifest, members)
    except InputError:
        raise
    except (ValidationError, KeyError, TypeError, ValueError, IndexError) as error:  # what a damaged one raises
        reason = str(error).splitlines()[0][:200] or type(error).__name__
        raise InputError("a model's manifest.json must describe the model as it was saved",
                         f"{str(version_dir / MANIFEST)!r} does not ({type(error).__name__}: {reason})",
                         "The version is damaged: retrain, or use another version.") from error


@contextlib.contextmanager
def fetched(version_url: str):
    """A local copy of a version on an object store, in a temporary folder removed afterwards. Every object under
    the version's prefix is copied (so that `check_files` sees any it was not saved with), none whose key would
    land outside the folder."""
    read_manifest(version_url)  # not a version: the usual error, before anything is copied
    # A version's own rule for its file names (no `..`, absolute keys, doubled slashes or backslashes).
    with storage.local_folder(version_url, check_key=lambda relative: inside(version_url, relative)) as folder:
        yield Path(folder)


def champion_pointer(store: str | os.PathLike, model: str = DEFAULT_MODEL) -> str:
    """Where a model's champion pointer lies: <store>/champion for the default model (as before models had
    names), <store>/models/<name>/champion for the others."""
    if model == DEFAULT_MODEL:
        return storage.join(store, "champion")
    return storage.join(store, "models", check_model_name(model), "champion")


def champion(store: str | os.PathLike, model: str = DEFAULT_MODEL) -> Path | str | None:
    """The promoted version of `model`, or None before its first promotion."""
    pointer = champion_pointer(store, model)
    if not storage.is_file(pointer):
        return None
    if storage.is_local(pointer) and Path(storage.local(pointer)).is_symlink():
        raise InputError("the champion pointer is a plain file naming a version", f"{str(pointer)!r} is a link",
                         "Promote a version again with `imbalance-flows models promote VERSION`.")
    check_store_key(store)
    name = pointed_name(storage.read_text(pointer), f"{str(pointer)!r}", model)
    return storage.location(storage.join(store, "versions", name))


def promote(store: str | os.PathLike, version_dir: str | os.PathLike) -> None:
    """Point its model's champion at a saved version, atomically (a rename here; one object's upload on an
    object store)."""
    model = model_of(read_manifest(version_dir))
    pointer = champion_pointer(store, model)
    if storage.is_local(pointer):
        os.makedirs(os.path.dirname(storage.local(pointer)), exist_ok=True)
    storage.write_bytes(pointer, signed_pointer(storage.name(version_dir), model))


def record_decision(store: str | os.PathLike, decision: dict) -> Path | str:
    """Write the decision as decisions/<sequence>-<time>.json; called under the store's lock, so the order holds."""
    folder = storage.join(store, "decisions")
    if storage.is_local(folder):
        os.makedirs(storage.local(folder), exist_ok=True)
    numbers = [int(name[:6]) for name in storage.names(folder) if NUMBERED.match(name) and name.endswith(".json")]
    decision["sequence"] = max(numbers, default=0) + 1
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = storage.write_bytes(storage.join(folder, f"{decision['sequence']:06d}-{stamp}.json"),
                               json.dumps(decision, indent=2))
    seal(str(path))  # with a store key: a record edited by someone without it is refused when read
    return path


def decisions(store: str | os.PathLike, model: str | None = None) -> list[dict]:
    """The recorded decisions, in the order they were taken; those about `model` only, when given."""
    folder = storage.join(store, "decisions")
    # Decisions recorded before they were numbered are named by their time alone: they came first.
    found = sorted((name for name in storage.names(folder) if name[:1].isdigit() and name.endswith(".json")),
                   key=lambda name: (bool(NUMBERED.match(name)), name))
    records = []
    for name in found:
        path = storage.join(folder, name)
        record = sealed_json(path, "a decision record", "Restore it from a backup, or move it out of decisions/ (it "
                                                        "is the store's history, not a model).")
        if isinstance(record, dict):
            if model is None or (record.get("model") or DEFAULT_MODEL) == model:
                records.append(record)
        else:  # a damaged record is no decision: the others still count
            logging.getLogger(__name__).warning("Skipped %s: not a decision record", path)
    return records


@contextlib.contextmanager
def store_lock(store: str | os.PathLike):
    """Hold the store's lock for the duration of the block; yields `confirm()`, to call before each step that
    changes the store (it refuses to go on once a lease was lost).

    On a file system, an exclusive lock on <store>/.lock: processes on one machine, or on a file
    system with working POSIX locks, take their decisions one at a time; the lock is released when
    the holder ends, even by SIGKILL. An object store has no locks: there the lock is a lease
    object (`imbalance_flows.tasks.store.lease`).
    """
    if not storage.is_local(store):
        from imbalance_flows.tasks.store.lease import lease

        with lease(storage.join(store, ".lock")) as held:
            yield held.confirm
        return
    import fcntl

    lock = Path(storage.local(store)) / ".lock"
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
        handle = open(lock, "a")
    except OSError as error:  # a read-only file system, a folder of someone else's
        raise InputError("changing the store (promoting, pruning, tagging) needs it writable",
                         f"{str(lock)!r} cannot be written ({error.strerror or error})",
                         "Run it where the store can be written (scoring and reports need no write).") from error
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield lambda: None  # a file lock is held until released, or until its holder ends
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def remove_leftovers(store: str | os.PathLike) -> list[str]:
    """Remove what writers that died left in a store; return what went (`disk.remove_leftovers` on a file system).

    On an object store: the versions whose upload never finished (no manifest) more than a day after
    their last object was written; an upload still under way is younger.
    """
    if storage.is_local(store):
        return remove_local_leftovers(storage.local(store))
    versions = storage.join(store, "versions")
    written: dict[str, dict[str, float]] = {}  # per version: its objects and when each was written
    for relative, when in storage.listing(versions).items():
        name, _, rest = relative.partition("/")
        written.setdefault(name, {})[rest] = when
    removed = []
    for name, found in sorted(written.items()):
        if MANIFEST not in found and time.time() - max(found.values()) > LEFTOVER_AGE_S:
            storage.remove(storage.join(versions, name), recursive=True)
            removed.append(f"versions/{name}")
    return removed


def _write_json(path: Path, data) -> None:
    with open(path, "w") as handle:
        json.dump(data, handle, indent=2, default=_plain)


def _parameter(value):
    """An estimator parameter as the manifest keeps it; a RandomState (a seed drawn at fit) is kept as None."""
    if isinstance(value, np.random.RandomState):
        return None
    if hasattr(value, "model_dump"):  # costs given as MissCosts
        return value.model_dump()
    return _plain(value)


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value
