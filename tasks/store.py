"""The model store: versioned model directories, complete or absent, and a champion pointer.

    <store>/versions/<version>/manifest.json    schema, classes, members, weights, metrics, provenance
                              members/NN.skops  each member's fitted pipeline (skops: no pickle)
                              members/NN.keras  a Keras member's network (Keras's native format)
                              training_rows.npy  a fingerprint of every row it was trained on
                              report.json, report.md, *.png
    <store>/champion                            the promoted version's name (moves only on promotion)
    <store>/decisions/NNNNNN-<time>.json        champion/challenger decisions, numbered in order
    <store>/.lock                               held while a decision is taken and the pointer moved

A version is written under <store>/.staging and renamed into place when complete, so
a crash leaves either the whole version or nothing. Loading never runs code from a
file: skops restores only the types listed in `trusted_types()`, and Keras networks load
in safe mode (no Lambda layers, no custom code).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from imbalance_flows.tasks.disk import replace_with, room_to_write, staging_name
from imbalance_flows.tasks.errors import InputError
from imbalance_flows.tasks.integrity import check_files, check_signature, check_version_name, file_digests, inside, sign
from imbalance_flows.tasks.member_files import (
    FORMAT_VERSION,
    READABLE_FORMATS,
    MemberSource,
    copy_member,
    dump_member,
    load_member,
)

if TYPE_CHECKING:  # imported where used: reading manifests and moving the pointer stay cheap (`models list`)
    import pandas as pd

    from imbalance_flows.tasks.vote import VotingEnsemble

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
                   total: int | None = None):
    """One fingerprint per training row, and the drift picture of the rows (`drift.reference`), chunk by chunk.

    The picture's bins and shares come from a uniform sample of at most `sample_rows` rows
    (all of them when there are fewer), its class shares and row count from every row: a
    large training split is never held whole. With the rows' `total` known, the sample's
    positions are drawn first and each chunk gives only its own; otherwise what is held is
    thinned to a sample whenever it passes twice `sample_rows`.
    Returns (hashes, picture or None without labels).
    """
    import pandas as pd

    from imbalance_flows.tasks.drift import label_counts, reference
    from imbalance_flows.tasks.schema import row_hashes
    from imbalance_flows.tasks.tables import between

    rng = np.random.default_rng(random_state)
    drawn = np.sort(rng.choice(total, sample_rows, replace=False)) if total and total > sample_rows else None
    hashes, sample, labels, seen = [], [], [], 0
    for chunk in chunks:
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
    hashes = np.concatenate(hashes) if hashes else np.zeros(0, dtype=np.uint64)
    if not labels:
        return hashes, None
    rows = pd.concat(sample, ignore_index=True)
    if len(rows) > sample_rows:
        rows = rows.iloc[np.sort(rng.choice(len(rows), sample_rows, replace=False))]
    picture = reference(rows[[name for name in schema.names if name in rows.columns]], rows[schema.target], schema)
    counts = pd.concat(labels).groupby(level=0).sum()
    picture["rows"] = int(seen)
    picture["class_shares"] = {str(label): float(counts.get(str(label), 0)) / max(seen, 1)
                               for label in schema.classes}
    return hashes, picture


def new_version_name() -> str:
    """Sortable by time, unique without coordination."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


def save_model(ensemble: VotingEnsemble, store: str | os.PathLike, metrics: dict | None = None,
               extra: dict | None = None, files: dict[str, bytes | str] | None = None,
               training_rows: pd.DataFrame | None = None, training_row_count: int | None = None,
               member_sources: list[MemberSource | None] | None = None) -> Path:
    """Write a fitted ensemble as a new version; return its directory.

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
    training_rows : DataFrame or iterable of DataFrame
        The rows the ensemble was trained on (features and target), whole or in chunks. A
        fingerprint of each is kept, so that a later challenger can judge this version on
        rows it never saw, and their picture for drift (see `summarise_rows`).
    training_row_count : int
        How many rows `training_rows` gives in all, when it is chunks (the drift sample is then drawn
        without holding more than it).
    member_sources : list of MemberSource or None
        Per member, the files it was loaded from (`member_files.member_source`): copied while unchanged,
        instead of writing the member again.
    """
    root = Path(store)
    staging = root / ".staging" / staging_name()
    try:
        with room_to_write(staging):
            return _write_version(ensemble, root, staging, metrics, extra, files, training_rows, training_row_count,
                                  member_sources)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _write_version(ensemble: VotingEnsemble, root: Path, staging: Path, metrics, extra, files,
                   training_rows, training_row_count: int | None = None, member_sources=None) -> Path:
    """`save_model`'s writing: everything into `staging`, then one rename into versions/."""
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

        chunks = [training_rows] if isinstance(training_rows, pd.DataFrame) else training_rows
        hashes, picture = summarise_rows(chunks, ensemble.schema_, total=training_row_count)
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
    (root / "versions").mkdir(parents=True, exist_ok=True)
    final = root / "versions" / new_version_name()
    os.replace(staging, final)
    return final


def read_manifest(version_dir: str | os.PathLike) -> dict:
    """The manifest of a saved version, with a clear error when it is not one."""
    path = Path(version_dir) / "manifest.json"
    if not path.is_file():
        raise InputError("MODEL must be a saved model version's directory", f"{str(version_dir)!r} has no manifest.json",
                         "Pass the directory printed on the last line of `imbalance-flows train`.")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise InputError("a model's manifest.json must be valid JSON", f"{str(path)!r} is not ({error})",
                         "The version is damaged: retrain, or use another version.") from error
    if manifest.get("format_version") not in READABLE_FORMATS:
        raise InputError(f"this version of imbalance-flows reads model formats {', '.join(map(str, READABLE_FORMATS))}",
                         f"{str(version_dir)!r} has format {manifest.get('format_version')!r}",
                         "Load it with the imbalance-flows version that saved it, or retrain.")
    return manifest


def load_model(version_dir: str | os.PathLike) -> VotingEnsemble:
    """Load a saved ensemble; refuses any type outside skops' defaults and `trusted_types()`.

    Keras networks load with safe mode on; TensorFlow is imported only when the version has one.
    """
    version_dir = Path(version_dir)
    manifest = read_manifest(version_dir)
    check_signature(version_dir)
    check_files(version_dir, manifest)
    members = [load_member(inside(version_dir, entry["file"]), manifest["format_version"])
               for entry in manifest["members"]]
    from imbalance_flows.tasks.vote import VotingEnsemble

    return VotingEnsemble.from_manifest(manifest, members)


def champion(store: str | os.PathLike) -> Path | None:
    """The promoted version's directory, or None before the first promotion."""
    pointer = Path(store) / "champion"
    if not pointer.is_file():
        return None
    if pointer.is_symlink():
        raise InputError("the champion pointer is a plain file naming a version", f"{str(pointer)!r} is a link",
                         "Promote a version again with `imbalance-flows models promote VERSION`.")
    name = check_version_name(pointer.read_text(errors="replace").strip(), f"{str(pointer)!r}")
    return Path(store) / "versions" / name


def promote(store: str | os.PathLike, version_dir: str | os.PathLike) -> None:
    """Point the champion at a saved version, atomically."""
    version_dir = Path(version_dir)
    read_manifest(version_dir)
    replace_with(Path(store) / "champion", version_dir.name + "\n")


def record_decision(store: str | os.PathLike, decision: dict) -> Path:
    """Write the decision as decisions/<sequence>-<time>.json; called under the store's lock, so the order holds."""
    folder = Path(store) / "decisions"
    folder.mkdir(parents=True, exist_ok=True)
    numbers = [int(path.name[:6]) for path in folder.glob("*.json") if NUMBERED.match(path.name)]
    decision["sequence"] = max(numbers, default=0) + 1
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return replace_with(folder / f"{decision['sequence']:06d}-{stamp}.json", json.dumps(decision, indent=2))


def decisions(store: str | os.PathLike) -> list[dict]:
    """The recorded decisions, in the order they were taken."""
    folder = Path(store) / "decisions"
    if not folder.is_dir():
        return []
    # Decisions recorded before they were numbered are named by their time alone: they came first.
    paths = sorted(folder.glob("[0-9]*.json"), key=lambda path: (bool(NUMBERED.match(path.name)), path.name))
    return [json.loads(path.read_text()) for path in paths]


@contextlib.contextmanager
def store_lock(store: str | os.PathLike):
    """Hold the store's lock (an exclusive lock on <store>/.lock) for the duration of the block.

    Processes on one machine, or on a file system with working POSIX locks, take their
    decisions one at a time; the lock is released when the holder ends, even by SIGKILL.
    """
    import fcntl

    Path(store).mkdir(parents=True, exist_ok=True)
    with open(Path(store) / ".lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


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
