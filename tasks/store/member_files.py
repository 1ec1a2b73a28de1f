"""A member on disk: its fitted pipeline as a skops file, a learner's own model file beside it.

A learner that keeps its fitted model in its library's format (`learners.NativeModel`: a Keras
network as `.keras`, a LightGBM, XGBoost or CatBoost model as text) writes it beside the
member's skops file, which then holds the learner without it.

Loading never runs code from a file: the file's object graph is checked against what the registry's
learners save, class by class and place by place (`imbalance_flows.tasks.store.graph`); skops restores
only the types `trusted_types()` lists (derived from the registry's learners and the classes themselves);
every scikit-learn tree and linear model is checked before it can predict
(`imbalance_flows.tasks.store.trees`); a native model file is checked by its learner before its library
reads it (Keras in safe mode: no Lambda layers, no custom code; the boosters' trees one by one). Members
saved in format 1 (before the package had one import name) are read by renaming their types.
"""

from __future__ import annotations

import copy
import io
import json
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from imbalance_flows.tasks import storage
from imbalance_flows.tasks.disk import room_to_write, temporary
from imbalance_flows.tasks.errors import InputError
from imbalance_flows.tasks.handover import Handovers
from imbalance_flows.tasks.store.graph import check_member_graph
from imbalance_flows.tasks.store.trees import check_linear, check_trees

# Format 3: the project's types are named by the rooms of tasks/ (imbalance_flows.tasks.model.prepare.TablePrep).
# Format 2 named them by the flat modules before (imbalance_flows.tasks.prepare.TablePrep), format 1 (before the
# package had one import name) tasks.*; both are read by renaming their types (see `_renamed`).
FORMAT_VERSION = 3
READABLE_FORMATS = (1, 2, 3)
# Where each module of format 2 lives in format 3 (the modules whose classes a saved member may hold, and the
# rest, so that no older name is left unread).
MOVED_MODULES = {
    "tables": "data.tables", "parts": "data.parts", "schema": "data.schema", "checks": "data.checks",
    "images": "data.images", "data": "data.splits", "spec": "model.spec", "params": "model.params",
    "choices": "model.choices", "plan": "model.plan", "members": "model.members", "train": "model.fitting",
    "vote": "model.ensemble", "calibrate": "model.calibrate", "costs": "model.costs", "weights": "model.weights",
    "sizes": "model.sizes", "prepare": "model.prepare", "learners": "learners.registry",
    "boosters": "learners.boosters", "keras_members": "learners.keras_members",
    "keras_images": "learners.keras_images", "resample": "sampling.resample", "augment": "sampling.augment",
    "image_augment": "sampling.image_augment", "generative": "sampling.generative",
    "keras_generative": "sampling.keras_generative", "store": "store.model_store", "versions": "store.versions",
    "champion": "store.champion", "member_files": "store.member_files", "integrity": "store.integrity",
    "lease": "store.lease", "trees": "store.trees", "evaluate": "evaluation.metrics",
    "report": "evaluation.report", "examples": "evaluation.examples", "figures": "evaluation.figures",
    "drift": "monitoring.drift", "score": "serving.scoring",
}


def trusted_types() -> list[str]:
    """The types a saved member may contain beyond skops' own defaults; anything else is refused.

    Derived from the classes themselves, so a moved or renamed class cannot leave a stale
    name behind: the pipeline's steps, and the learner classes of the registry's entries
    (`Learner.types`). A learner with a native model file is saved without its model, so only
    its own class appears here, never its library's.
    """
    import functools

    from imblearn.pipeline import Pipeline
    from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
    from sklearn.tree._tree import Tree
    from sklearn.utils.validation import check_array

    from imbalance_flows.tasks.learners.registry import learner_types
    from imbalance_flows.tasks.model.prepare import LinearPrep, TablePrep

    classes = [functools.partial, np.dtype, Pipeline, TreePredictor, Tree, check_array, LinearPrep, TablePrep,
               *learner_types()]
    return sorted({f"{cls.__module__}.{cls.__qualname__}" for cls in classes})


def _native_paths(path: Path) -> list[Path]:
    """Where a member's native model file may be: one name per suffix the registry's learners write."""
    from imbalance_flows.tasks.learners.registry import native_suffixes

    return [path.with_suffix(suffix) for suffix in native_suffixes()]


def native_files(path: str) -> list[str]:
    """The native model files that lie beside a member's skops file (here or in a bucket)."""
    from imbalance_flows.tasks.learners.registry import native_suffixes

    beside = [storage.join(storage.parent(path), Path(storage.name(path)).with_suffix(suffix).name)
              for suffix in native_suffixes()]
    return [file for file in beside if storage.exists(file)]


def dump_member(pipeline, path: str | os.PathLike, hand_over: bool = False) -> list[Path]:
    """Write a fitted member: its pipeline with skops, a native model file beside it (`learners.NativeModel`).

    Each file is written under a temporary name and renamed into place, the model file
    first, so a member's `.skops` file never exists without its model. Returns the
    files written. With `hand_over` (a member its process votes with next), the pipeline is also kept for
    `written_member`.
    """
    if not storage.is_local(path):  # written here, then uploaded as objects: the model file first, as below
        with tempfile.TemporaryDirectory(prefix="imbalance-flows-member-") as folder:
            files = _dump_here(pipeline, Path(folder, storage.name(path)))
            fs, inner = storage.filesystem(str(path))
            for file in files[::-1]:
                fs.put_file(str(file), f"{inner.rsplit('/', 1)[0]}/{file.name}")
        return [storage.join(storage.parent(path), file.name) for file in files]
    files = _dump_here(pipeline, Path(storage.local(path)))
    if hand_over:
        _hand_over(files[0], pipeline)
    return files


# Members this process has just written, by their skops file: {path: (`_stamps` once written, the pipeline)}.
# `written_member` gives one back, once, while its files are unchanged: read again, it would be the same.
_WRITTEN = Handovers(limit=16)  # the members of a run waiting for its vote


def _stamps(path: Path) -> tuple:
    return (_stamp(path), *map(_stamp, _native_paths(path)))


def _hand_over(path: Path, pipeline) -> None:
    _WRITTEN.put(str(path), (_stamps(path), pipeline))


def written_member(path: str | os.PathLike):
    """The fitted pipeline this process wrote to `path` with `dump_member`, where none of its files changed since
    (else None: load it with `load_member`); given once. A run's vote takes its members so, instead of reading
    back what it has just written (a forest of 100,000 rows took about half a second to load)."""
    if not storage.is_local(path):
        return None
    path = Path(storage.local(path))
    kept = _WRITTEN.take(str(path))
    if kept is None or kept[0] != _stamps(path):
        return None
    return kept[1]


def _dump_here(pipeline, path: Path) -> list[Path]:
    from imbalance_flows.tasks.learners.registry import NativeModel

    written = []
    learner = pipeline.steps[-1][1]
    if isinstance(learner, NativeModel):
        native = path.with_suffix(learner.suffix)
        staging = temporary(native, learner.suffix)
        try:
            with room_to_write(native):
                learner.save_native(staging)
            os.replace(staging, native)
        finally:
            staging.unlink(missing_ok=True)
        written.append(native)
        # skops holds the learner without its model: save a shallow copy of the pipeline whose learner lacks it.
        stripped = copy.copy(learner)
        stripped.__dict__.pop("model_", None)
        pipeline = copy.copy(pipeline)
        pipeline.steps = [*pipeline.steps[:-1], (pipeline.steps[-1][0], stripped)]
    staging = temporary(path)
    import skops.io as sio
    from skops.io.exceptions import UnsupportedTypeException

    try:
        with room_to_write(path):
            try:
                sio.dump(pipeline, staging)
            except (RecursionError, UnsupportedTypeException, TypeError) as error:  # skops cannot write some objects
                learner = pipeline.steps[-1][1]
                raise InputError("a fitted member must be one skops can save",
                                 f"{type(learner).__name__} with these parameters holds what it cannot "
                                 f"({type(error).__name__}: {str(error)[:200]})",
                                 "Leave the parameter that adds an object (such as HistGradientBoosting's scoring) "
                                 "at its default.") from None
        os.replace(staging, path)
    finally:
        staging.unlink(missing_ok=True)
    return [path, *written]


def _stamp(path: Path) -> tuple[int, ...] | None:
    """What changes when a file is written, replaced or touched: its device, inode, size, modification and change
    times (the change time cannot be set back). None where the file is absent."""
    try:
        status = path.stat()
    except FileNotFoundError:
        return None
    return status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns


@dataclass(frozen=True)
class MemberSource:
    """A member's files as they were just before it was loaded (`member_source`): a version being saved copies
    them while they are unchanged instead of writing the member again (`copy_member`)."""

    path: str
    stamps: tuple  # `_stamp` of the skops file, then of each of `_native_paths` (None where absent)


def member_source(path: str | os.PathLike) -> MemberSource:
    """Take a member's files' stamps; do it before loading the member, so that the stamps vouch for what was read.
    A member on an object store has none: a version saving it writes it again."""
    if not storage.is_local(path):
        return MemberSource(str(path), (None,))
    path = Path(path)
    return MemberSource(str(path), (_stamp(path), *map(_stamp, _native_paths(path))))


def copy_member(source: MemberSource, path: str | os.PathLike) -> list[Path] | None:
    """Copy a member's files (`dump_member`'s names) to `path`, into a version's staging folder: the files the
    loaded member came from, byte for byte. None, leaving nothing behind, where a file changed (or appeared,
    or went) since `source` was taken, or could not be read: write the member with `dump_member` then."""
    path = Path(path)
    origin = Path(source.path)
    natives = list(zip(_native_paths(origin), _native_paths(path), source.stamps[1:]))
    if len(natives) != len(source.stamps) - 1:
        return None
    pairs = [*natives, (origin, path, source.stamps[0])]  # the model file first, as `dump_member` writes

    def unchanged() -> bool:
        return all(_stamp(file) == stamp for file, _, stamp in pairs)

    written, copied = [], False
    try:
        if source.stamps[0] is None or not unchanged():
            return None
        for file, target, stamp in pairs:
            if stamp is None:  # no such model file, and still none (checked above)
                continue
            written.append(target)
            with room_to_write(target, stamp[2]):
                shutil.copyfile(file, target)
        copied = unchanged()  # none written to while it was copied
    except OSError:  # unreadable or gone meanwhile: the member in memory is written instead
        pass
    finally:
        if not copied:
            for target in written:
                target.unlink(missing_ok=True)
    return written[::-1] if copied else None


def load_member(path: str | os.PathLike, format_version: int = FORMAT_VERSION):
    """Load a member written by `dump_member`, refusing any type outside `trusted_types()`."""
    import skops.io as sio
    from skops.io.exceptions import UntrustedTypesFoundException

    from imbalance_flows.tasks.learners.registry import NativeModel

    if not storage.is_local(path):  # a run's workspace on an object store: read here, checked the same way
        with tempfile.TemporaryDirectory(prefix="imbalance-flows-member-") as folder:
            copy = Path(folder, storage.name(path))
            copy.write_bytes(storage.read_bytes(path))
            for native in _native_paths(copy):
                remote = storage.join(storage.parent(path), native.name)
                if storage.exists(remote):
                    native.write_bytes(storage.read_bytes(remote))
            return load_member(copy, format_version)
    path = Path(path)
    trusted = trusted_types()
    try:
        data = path.read_bytes()
        if format_version < FORMAT_VERSION:
            data = _renamed(data, format_version)
        check_array_sizes(data, str(path))
        check_member_graph(data, str(path))  # which classes where, before skops builds any of them
        try:  # skops checks every type against `trusted` before it builds anything
            pipeline, untrusted = sio.loads(data, trusted=trusted), set()
        except UntrustedTypesFoundException:  # which types, for the message
            pipeline = None
            untrusted = set(sio.get_untrusted_types(data=data)) - set(trusted) or {"a type skops refused"}
    except InputError:  # arrays larger than their file (`check_array_sizes`)
        raise
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
    check_linear(learner, str(path))
    if isinstance(learner, NativeModel):
        native = path.with_suffix(learner.suffix)
        if native.is_symlink():
            raise InputError("a saved version holds no symbolic links", f"{str(native)!r} is one",
                             "Retrain; do not load this version.")
        if not native.is_file():
            raise InputError("a member's model file must exist", f"{str(native)!r} was not found",
                             "The saved model is incomplete: retrain it.")
        learner.load_native(native)
    return pipeline


def check_array_sizes(data: bytes, path: str) -> None:
    """Refuse a member whose arrays declare more bytes than their entries of the file hold, before numpy allocates
    them (a small file could otherwise ask for gigabytes), or more than all the members the product writes."""
    import io

    import numpy as np

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        total = 0
        for entry in archive.infolist():
            if not entry.filename.endswith(".npy"):
                continue
            with archive.open(entry) as handle:
                version = np.lib.format.read_magic(handle)
                reader = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                          else np.lib.format.read_array_header_2_0)
                shape, _, dtype = reader(handle, max_header_size=10_000)
                header = handle.tell()
            declared = int(np.prod(shape, dtype=np.int64)) * (dtype.itemsize if not dtype.hasobject else 0)
            total += declared
            if declared > entry.file_size - header or total > MAX_ARRAY_BYTES:
                raise InputError("a saved member's arrays must fit in the file that holds them",
                                 f"{path!r}: {entry.filename} declares {shape} of {dtype} "
                                 f"({declared / 2**20:.1f} MiB) in an entry of {entry.file_size / 2**20:.1f} MiB",
                                 "The file was changed after it was saved: retrain, or restore the version.")


MAX_ARRAY_BYTES = 8 * 2**30  # all of a member's arrays together; the largest forests write far less


def _current(module: str, format_version: int) -> str:
    """A module's name in a member file of `format_version`, as it is named today."""
    if format_version == 1 and (module == "tasks" or module.startswith("tasks.")):
        module = "imbalance_flows." + module  # format 1 → 2
    prefix, _, name = module.rpartition(".")
    if prefix == "imbalance_flows.tasks" and name in MOVED_MODULES:  # format 2 → 3
        module = f"{prefix}.{MOVED_MODULES[name]}"
    return module


def _renamed(data: bytes, format_version: int) -> bytes:
    """A member file of an older format with the project's types under today's names."""
    def rename(node):
        if isinstance(node, dict):
            module = node.get("__module__")
            if isinstance(module, str):
                node["__module__"] = _current(module, format_version)
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
