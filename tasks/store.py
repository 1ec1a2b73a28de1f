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
file: skops restores only the types listed in `TRUSTED_TYPES`, and Keras networks load
in safe mode (no Lambda layers, no custom code).
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import shutil
import subprocess
import uuid
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import skops.io as sio

import pandas as pd

from tasks.data import Schema, row_hashes
from tasks.errors import InputError
from tasks.members import MemberSpec
from tasks.vote import VotingEnsemble

FORMAT_VERSION = 1
TRAINING_ROWS = "training_rows.npy"
# Types a saved member may contain beyond skops' own defaults. Anything else is refused.
TRUSTED_TYPES = [
    "functools.partial",
    "imblearn.pipeline.Pipeline",
    "numpy.dtype",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.tree._tree.Tree",
    "sklearn.utils.validation.check_array",
    "tasks.keras_images.KerasCNN",  # Keras members without their networks, saved apart as .keras (dump_member)
    "tasks.keras_images.KerasTransfer",
    "tasks.keras_members.KerasMLP",
    "tasks.prepare.LinearPrep",
    "tasks.prepare.TablePrep",
]


def _network_path(path: Path) -> Path:
    return path.with_suffix(".keras")


def dump_member(pipeline, path: str | os.PathLike) -> list[Path]:
    """Write a fitted member: its pipeline with skops, a Keras network beside it as `.keras`.

    Each file is written under a temporary name and renamed into place, the network
    first, so a member's `.skops` file never exists without its network. Returns the
    files written.
    """
    from tasks.keras_members import KerasClassifier, save_network

    path = Path(path)
    written = []
    learner = pipeline.steps[-1][1]
    if isinstance(learner, KerasClassifier):
        network = _network_path(path)
        staging = network.with_name(f"{network.stem}.{os.getpid()}.{uuid.uuid4().hex[:6]}.keras")
        save_network(learner, staging)
        os.replace(staging, network)
        written.append(network)
        # skops cannot hold a Keras model: save a shallow copy of the pipeline whose learner lacks it.
        stripped = copy.copy(learner)
        stripped.__dict__.pop("model_", None)
        pipeline = copy.copy(pipeline)
        pipeline.steps = [*pipeline.steps[:-1], (pipeline.steps[-1][0], stripped)]
    staging = path.with_name(f"{path.name}.{os.getpid()}.{uuid.uuid4().hex[:6]}.tmp")
    sio.dump(pipeline, staging)
    os.replace(staging, path)
    return [path, *written]


def load_member(path: str | os.PathLike):
    """Load a member written by `dump_member`, refusing any type outside `TRUSTED_TYPES`."""
    path = Path(path)
    untrusted = set(sio.get_untrusted_types(file=path)) - set(TRUSTED_TYPES)
    if untrusted:
        raise InputError("a saved member may hold only trusted types", f"{str(path)!r} holds {sorted(untrusted)}",
                         "Do not load files from unknown sources; retrain the model.")
    pipeline = sio.load(path, trusted=TRUSTED_TYPES)
    learner = pipeline.steps[-1][1]
    if type(learner).__module__.startswith("tasks.keras_"):
        from tasks.keras_members import load_network

        learner.model_ = load_network(_network_path(path))
    return pipeline


def code_version() -> str:
    """The package version, plus the git commit when running from a checkout."""
    from tasks import __version__

    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
                                cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"{__version__}+{commit}" if commit else __version__


def new_version_name() -> str:
    """Sortable by time, unique without coordination."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


def save_model(ensemble: VotingEnsemble, store: str | os.PathLike, metrics: dict | None = None,
               extra: dict | None = None, files: dict[str, bytes | str] | None = None,
               training_rows: pd.DataFrame | None = None) -> Path:
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
    training_rows : DataFrame
        The rows the ensemble was trained on (features and target). A fingerprint of each
        is kept, so that a later challenger can judge this version on rows it never saw.
    """
    root = Path(store)
    staging = root / ".staging" / uuid.uuid4().hex
    (staging / "members").mkdir(parents=True)
    try:
        member_files = []
        for i, member in enumerate(ensemble.members_):
            name = f"members/{i:02d}.skops"
            dump_member(member, staging / name)
            member_files.append(name)
        manifest = {
            "format_version": FORMAT_VERSION,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "code_version": code_version(),
            "schema": ensemble.schema_.model_dump(),
            "ensemble": {key: _plain(value) for key, value in ensemble.get_params().items() if key != "members"},
            "threshold": ensemble.threshold_,
            "class_prior": ensemble.class_prior_.tolist(),
            "positive_class": _plain(ensemble.positive_class_),
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
            np.save(staging / TRAINING_ROWS, row_hashes(training_rows, ensemble.schema_), allow_pickle=False)
            manifest["training_rows"] = {"file": TRAINING_ROWS, "rows": len(training_rows)}
        _write_json(staging / "manifest.json", manifest)
        for name, content in (files or {}).items():
            mode = "wb" if isinstance(content, bytes) else "w"
            with open(staging / name, mode) as handle:
                handle.write(content)
        (root / "versions").mkdir(parents=True, exist_ok=True)
        final = root / "versions" / new_version_name()
        os.replace(staging, final)
        return final
    finally:
        shutil.rmtree(staging, ignore_errors=True)


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
    if manifest.get("format_version") != FORMAT_VERSION:
        raise InputError(f"this version of imbalance-flows reads model format {FORMAT_VERSION}",
                         f"{str(version_dir)!r} has format {manifest.get('format_version')!r}",
                         "Load it with the imbalance-flows version that saved it, or retrain.")
    return manifest


def load_model(version_dir: str | os.PathLike) -> VotingEnsemble:
    """Load a saved ensemble; refuses any type outside skops' defaults and `TRUSTED_TYPES`.

    Keras networks load with safe mode on; TensorFlow is imported only when the version has one.
    """
    version_dir = Path(version_dir)
    manifest = read_manifest(version_dir)
    ensemble = VotingEnsemble(members=[m["spec"] for m in manifest["members"]], **manifest["ensemble"])
    members = []
    for entry in manifest["members"]:
        members.append(load_member(version_dir / entry["file"]))
    schema = Schema.model_validate(manifest["schema"])
    ensemble.schema_ = schema
    ensemble.classes_ = np.asarray(schema.classes)
    ensemble.specs_ = [MemberSpec.model_validate(m["spec"]) for m in manifest["members"]]
    ensemble.members_ = members
    ensemble.weights_ = np.asarray([m["weight"] for m in manifest["members"]])
    ensemble.validation_scores_ = [m["validation"] for m in manifest["members"]]
    ensemble.threshold_ = manifest["threshold"]
    ensemble.class_prior_ = np.asarray(manifest["class_prior"])
    ensemble.positive_class_ = manifest["positive_class"]
    ensemble.n_features_in_ = len(schema.columns)
    if not schema.positional:
        ensemble.feature_names_in_ = np.asarray(schema.names, dtype=object)
    return ensemble


def champion(store: str | os.PathLike) -> Path | None:
    """The promoted version's directory, or None before the first promotion."""
    pointer = Path(store) / "champion"
    if not pointer.is_file():
        return None
    return Path(store) / "versions" / pointer.read_text().strip()


def promote(store: str | os.PathLike, version_dir: str | os.PathLike) -> None:
    """Point the champion at a saved version, atomically."""
    version_dir = Path(version_dir)
    read_manifest(version_dir)
    pointer = Path(store) / "champion"
    staging = pointer.with_name(f".champion.{uuid.uuid4().hex}")
    staging.write_text(version_dir.name + "\n")
    os.replace(staging, pointer)


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


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value
