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
import copy
import io
import json
import os
import re
import shutil
import subprocess
import uuid
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from imbalance_flows.tasks.disk import room_to_write, staging_name, temporary
from imbalance_flows.tasks.errors import InputError
from imbalance_flows.tasks.integrity import check_files, check_signature, check_version_name, file_digests, inside, sign
from imbalance_flows.tasks.trees import check_trees

if TYPE_CHECKING:  # imported where used: reading manifests and moving the pointer stay cheap (`models list`)
    import pandas as pd

    from imbalance_flows.tasks.vote import VotingEnsemble

# Format 2: the project's types are named imbalance_flows.tasks.*; format 1 (before the package had
# one import name) named them tasks.*, and is read by renaming them (see `_renamed`).
FORMAT_VERSION = 2
READABLE_FORMATS = (1, 2)
TRAINING_ROWS = "training_rows.npy"
NUMBERED = re.compile(r"\d{6}-")  # decisions/NNNNNN-<time>.json


def trusted_types() -> list[str]:
    """The types a saved member may contain beyond skops' own defaults; anything else is refused.

    Derived from the classes themselves, so a moved or renamed class cannot leave a stale
    name behind. Keras members are saved without their networks (those are `.keras` files
    beside them, see `dump_member`), so only the project's wrapper classes appear here.
    """
    import functools

    from imblearn.pipeline import Pipeline
    from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
    from sklearn.tree._tree import Tree
    from sklearn.utils.validation import check_array

    from imbalance_flows.tasks import keras_images  # noqa: F401  (defines the image learners' classes)
    from imbalance_flows.tasks.keras_members import KerasClassifier
    from imbalance_flows.tasks.prepare import LinearPrep, TablePrep

    def subclasses(cls) -> list:
        return [sub for child in cls.__subclasses__() for sub in (child, *subclasses(child))]

    classes = [functools.partial, np.dtype, Pipeline, TreePredictor, Tree, check_array, LinearPrep, TablePrep,
               *subclasses(KerasClassifier)]
    return sorted({f"{cls.__module__}.{cls.__qualname__}" for cls in classes})


def _network_path(path: Path) -> Path:
    return path.with_suffix(".keras")


def dump_member(pipeline, path: str | os.PathLike) -> list[Path]:
    """Write a fitted member: its pipeline with skops, a Keras network beside it as `.keras`.

    Each file is written under a temporary name and renamed into place, the network
    first, so a member's `.skops` file never exists without its network. Returns the
    files written.
    """
    from imbalance_flows.tasks.keras_members import KerasClassifier, save_network

    path = Path(path)
    written = []
    learner = pipeline.steps[-1][1]
    if isinstance(learner, KerasClassifier):
        network = _network_path(path)
        staging = temporary(network, ".keras")
        try:
            with room_to_write(network):
                save_network(learner, staging)
            os.replace(staging, network)
        finally:
            staging.unlink(missing_ok=True)
        written.append(network)
        # skops cannot hold a Keras model: save a shallow copy of the pipeline whose learner lacks it.
        stripped = copy.copy(learner)
        stripped.__dict__.pop("model_", None)
        pipeline = copy.copy(pipeline)
        pipeline.steps = [*pipeline.steps[:-1], (pipeline.steps[-1][0], stripped)]
    staging = temporary(path)
    import skops.io as sio

    try:
        with room_to_write(path):
            sio.dump(pipeline, staging)
        os.replace(staging, path)
    finally:
        staging.unlink(missing_ok=True)
    return [path, *written]


def load_member(path: str | os.PathLike, format_version: int = FORMAT_VERSION):
    """Load a member written by `dump_member`, refusing any type outside `trusted_types()`."""
    import skops.io as sio

    from imbalance_flows.tasks.keras_members import KerasClassifier

    path = Path(path)
    trusted = trusted_types()
    try:
        data = path.read_bytes()
        if format_version == 1:
            data = _renamed(data)
        untrusted = set(sio.get_untrusted_types(data=data)) - set(trusted)
        pipeline = None if untrusted else sio.loads(data, trusted=trusted)
    except (zipfile.BadZipFile, ValueError, KeyError, TypeError, AttributeError) as error:  # not skops' zip
        raise InputError("a saved member must be a skops file", f"{str(path)!r} is not one ({type(error).__name__})",
                         "Do not load files from unknown sources; retrain the model.") from error
    if untrusted:
        raise InputError("a saved member may hold only trusted types", f"{str(path)!r} holds {sorted(untrusted)}",
                         "Do not load files from unknown sources; retrain the model.")
    from imblearn.pipeline import Pipeline

    if not isinstance(pipeline, Pipeline) or not pipeline.steps:
        raise InputError("a saved member must hold a member's pipeline",
                         f"{str(path)!r} holds a {type(pipeline).__name__}", "Do not load files from unknown sources; retrain the model.")
    check_trees(pipeline, str(path))
    learner = pipeline.steps[-1][1]
    if isinstance(learner, KerasClassifier):
        from imbalance_flows.tasks.keras_members import load_network

        network = _network_path(path)
        if network.is_symlink():
            raise InputError("a saved version holds no symbolic links", f"{str(network)!r} is one",
                             "Retrain; do not load this version.")
        learner.model_ = load_network(network)
    return pipeline


def _renamed(data: bytes) -> bytes:
    """A format-1 member file with the project's types under today's names (tasks.* → imbalance_flows.tasks.*)."""
    def rename(node):
        if isinstance(node, dict):
            module = node.get("__module__")
            if isinstance(module, str) and (module == "tasks" or module.startswith("tasks.")):
                node["__module__"] = "imbalance_flows." + module
            for value in node.values():
                rename(value)
        elif isinstance(node, list):
            for value in node:
                rename(value)

    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename == "schema.json":
                schema = json.loads(content)
                rename(schema)
                content = json.dumps(schema).encode()
            target.writestr(item, content)
    return out.getvalue()


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
    staging = root / ".staging" / staging_name()
    try:
        with room_to_write(staging):
            return _write_version(ensemble, root, staging, metrics, extra, files, training_rows)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _write_version(ensemble: VotingEnsemble, root: Path, staging: Path, metrics, extra, files,
                   training_rows) -> Path:
    """`save_model`'s writing: everything into `staging`, then one rename into versions/."""
    (staging / "members").mkdir(parents=True)
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
        "ensemble": {key: _parameter(value) for key, value in ensemble.get_params().items() if key != "members"},
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
        from imbalance_flows.tasks.schema import row_hashes

        np.save(staging / TRAINING_ROWS, row_hashes(training_rows, ensemble.schema_), allow_pickle=False)
        manifest["training_rows"] = {"file": TRAINING_ROWS, "rows": len(training_rows)}
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
    pointer = Path(store) / "champion"
    staging = temporary(pointer)
    staging.write_text(version_dir.name + "\n")
    os.replace(staging, pointer)


def record_decision(store: str | os.PathLike, decision: dict) -> Path:
    """Write the decision as decisions/<sequence>-<time>.json; called under the store's lock, so the order holds."""
    folder = Path(store) / "decisions"
    folder.mkdir(parents=True, exist_ok=True)
    numbers = [int(path.name[:6]) for path in folder.glob("*.json") if NUMBERED.match(path.name)]
    decision["sequence"] = max(numbers, default=0) + 1
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = folder / f"{decision['sequence']:06d}-{stamp}.json"
    staging = temporary(path)
    staging.write_text(json.dumps(decision, indent=2))
    os.replace(staging, path)
    return path


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
    return _plain(value)


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value
