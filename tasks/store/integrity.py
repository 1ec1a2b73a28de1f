"""What a saved version may hold: files inside it, as they were saved.

A store may be shared (a network drive, object storage), so a version is read as if
anyone could have edited it: every file it names must lie inside the version's folder
(no absolute paths, no `..`, no symbolic links), the champion pointer must name a
version and nothing else, and each file must have the SHA-256 the manifest recorded when
the version was written. Each check refuses, with the product's error, before the file
is read.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from imbalance_flows.tasks import storage
from imbalance_flows.tasks.errors import InputError, preview
from imbalance_flows.tasks.sealing import STORE_KEY, store_key

VERSION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
# A store holds models by name; versions saved before models had names belong to this one.
DEFAULT_MODEL = "default"
# A letter first: a model's name is never mistaken for a version's (they start with the date).
MODEL_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")


def check_model_name(name: str, where: str = "the model's name") -> str:
    """A model's name: a letter, then up to 63 letters, digits, `_` or `-` (`champion` is the default model's
    champion's address, not a name)."""
    if not isinstance(name, str) or not MODEL_NAME.fullmatch(name) or name == "champion":
        raise InputError("a model is named by a letter, then up to 63 letters, digits, '_' or '-' ('champion' "
                         "is taken)", f"{where} is {str(name)[:80]!r}", "Use a name such as churn or fraud-eu.")
    return name


def model_of(manifest: dict) -> str:
    """The model a version belongs to (versions saved before models had names: the default one)."""
    return manifest.get("model") or DEFAULT_MODEL


def check_version_name(name: str, where: str) -> str:
    """A version name as the store writes them: letters, digits, `.`, `_`, `-`; never a path."""
    if not VERSION_NAME.fullmatch(name) or ".." in name:
        raise InputError("a version is named by letters, digits, '.', '_' and '-' only, never a path",
                         f"{where} holds {name[:80]!r}",
                         "Point it at a version listed by `imbalance-flows models list`, or retrain.")
    return name


def inside(version_dir: str | os.PathLike, relative: str) -> Path | str:
    """The path of a file a manifest names, refused unless it is a plain file inside the version's folder (on an
    object store: a key under the version's prefix)."""
    parts = Path(relative).parts
    if Path(relative).is_absolute() or not parts or ".." in parts or "\\" in relative or "//" in relative:
        raise InputError("a saved version names only files inside its own folder",
                         f"{storage.join(version_dir, MANIFEST)!r} names {relative!r}",
                         "Retrain; do not load this version.")
    if not storage.is_local(version_dir):
        return storage.join(version_dir, *parts)
    root = Path(storage.local(version_dir))
    path = root / relative
    for step in [root / Path(*parts[:i]) for i in range(1, len(parts) + 1)]:
        if step.is_symlink():
            raise InputError("a saved version holds no symbolic links", f"{str(step)!r} is one",
                             "Retrain; do not load this version.")
    return path


class _MemberEntry(BaseModel):
    model_config = ConfigDict(extra="allow")

    file: str
    spec: dict
    weight: float
    validation: dict


class _Manifest(BaseModel):
    """The parts of a manifest that loading a version reads, with their types (formats 1 to 3)."""

    model_config = ConfigDict(extra="allow")

    format_version: int
    schema_: dict = Field(alias="schema")
    ensemble: dict
    threshold: float | None
    class_prior: list[float]
    positive_class: Any = None
    members: list[_MemberEntry] = Field(min_length=1)
    files: dict[str, str] | None = None
    metrics: dict = {}
    created: str | None = None
    model: str | None = Field(None, pattern=MODEL_NAME.pattern + "$")


def check_manifest_shape(manifest, path: str) -> None:
    """Refuse a manifest whose parts are missing or of the wrong type (a list, members that are text, ...) before
    anything reads them; the error names the first such part."""
    if not isinstance(manifest, dict):
        raise InputError("a model's manifest.json must hold a mapping", f"{path!r} holds a {type(manifest).__name__}",
                         "The version is damaged: retrain, or use another version.")
    try:
        _Manifest.model_validate(manifest)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the manifest"
        raise InputError("a model's manifest.json must have the parts the product writes",
                         f"{path!r}: {where}: {first['msg']}",
                         "The version is damaged: retrain, or use another version.") from None


def check_no_links(version_dir: str | os.PathLike) -> None:
    """Refuse a local version reached through a link: the version's folder, the store's versions/ folder above it,
    or its manifest (the files it names are checked by `inside`). A link could point anywhere outside the store."""
    if not storage.is_local(version_dir):
        return
    root = Path(storage.local(version_dir))
    steps = [root, root / MANIFEST] + ([root.parent] if root.parent.name == "versions" else [])
    for step in steps:
        if step.is_symlink():
            raise InputError("a saved version holds no symbolic links", f"{str(step)!r} is one",
                             "Copy the version into the store instead of linking it, or retrain.")


def digest(path: Path) -> str:
    """The SHA-256 of a file, read in blocks."""
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def file_digests(folder: str | os.PathLike) -> dict[str, str]:
    """The SHA-256 of every file of a version being written, by its path inside the folder (the manifest aside)."""
    folder = Path(folder)
    return {path.relative_to(folder).as_posix(): digest(path) for path in sorted(folder.rglob("*"))
            if path.is_file() and path.name not in (MANIFEST, SIGNATURE)}


def _key() -> bytes | None:
    return store_key()


SIGNED_MARKER = ".signed"  # in a store whose versions are signed: readers and writers without the key are refused


def store_of(version_dir: str | os.PathLike) -> str | None:
    """The store a version lies in (`<store>/versions/<name>`), or None for a version folder elsewhere."""
    parent = storage.parent(str(version_dir).rstrip("/"))
    return storage.parent(parent) if storage.name(parent) == "versions" else None


def check_store_key(store: str | os.PathLike | None, writing: bool = False) -> None:
    """A store marked signed is read and written only with its key set: without it nothing could be checked."""
    if store is None or _key() is not None or not storage.is_file(storage.join(store, SIGNED_MARKER)):
        return
    raise InputError(f"a signed store is {'written' if writing else 'read'} only with {STORE_KEY} set",
                     f"{str(store)!r} holds {SIGNED_MARKER}: its versions are signed", f"Set {STORE_KEY} to the "
                     "store's key (a reader without it could not tell a tampered version from a good one).")


def mark_signed(store: str | os.PathLike) -> None:
    """With a store key set, say in the store that its versions are signed (`check_store_key`)."""
    if _key() is not None and not storage.is_file(storage.join(store, SIGNED_MARKER)):
        storage.write_bytes(storage.join(store, SIGNED_MARKER), f"Versions here are signed; set {STORE_KEY}.\n")


def _pointer_signature(key: bytes, name: str, model: str) -> str:
    # The default model's pointer signs the version alone (as stores written before models had names do);
    # another model's signs the model too, so that one model's pointer copied over another's is refused.
    signed = name if model == DEFAULT_MODEL else f"{model}@{name}"
    return f"hmac-sha256 {hmac.new(key, signed.encode(), hashlib.sha256).hexdigest()}"


def signed_pointer(name: str, model: str = DEFAULT_MODEL) -> str:
    """A champion pointer's text: the version's name and, with a store key, its signature."""
    key = _key()
    return name + "\n" + (_pointer_signature(key, name, model) + "\n" if key else "")


def pointed_name(text: str, where: str, model: str = DEFAULT_MODEL) -> str:
    """The version a champion pointer names; with a store key set, refused unless signed with that key (a
    pointer moved back to an older version by someone without the key is then refused, not followed)."""
    lines = text.strip().splitlines() or [""]
    name = check_version_name(lines[0].strip(), where)
    key = _key()
    if key is not None:
        expected = _pointer_signature(key, name, model)
        if len(lines) < 2 or not hmac.compare_digest(lines[1].strip(), expected):
            raise InputError(f"with {STORE_KEY} set, the champion pointer must be signed with that key",
                             f"{where} is {'unsigned' if len(lines) < 2 else 'signed with another key, or edited'}",
                             "Promote the version again with the key set: `imbalance-flows models promote VERSION`.")
    return name


@contextlib.contextmanager
def private_copy(version_dir: str | os.PathLike):
    """A local version's files, each read once, in a folder only this process writes: what is then checked is
    exactly what is loaded (a file swapped in the version after its check is never read)."""
    root = Path(version_dir)
    with tempfile.TemporaryDirectory(prefix="imbalance-flows-checked-") as folder:
        for path in sorted(root.rglob("*")):
            if path.is_symlink():
                raise InputError("a saved version holds no symbolic links", f"{str(path)!r} is one",
                                 "Retrain; do not load this version.")
            target = Path(folder) / path.relative_to(root)
            if path.is_dir():
                target.mkdir(parents=True, exist_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(path.read_bytes())
        yield Path(folder)


def sign(version_dir: str | os.PathLike) -> None:
    """With a store key set, sign the manifest (HMAC-SHA256) beside it; it records every file's SHA-256."""
    key = _key()
    if key is not None:
        manifest = (Path(version_dir) / MANIFEST).read_bytes()
        (Path(version_dir) / SIGNATURE).write_text(hmac.new(key, manifest, hashlib.sha256).hexdigest() + "\n")


def check_signature(version_dir: str | os.PathLike) -> None:
    """With a store key set, refuse a version whose manifest is unsigned or signed with another key."""
    key = _key()
    if key is None:
        return
    root = Path(version_dir)
    signature = inside(root, SIGNATURE)
    expected = hmac.new(key, (root / MANIFEST).read_bytes(), hashlib.sha256).hexdigest()
    if not signature.is_file() or not hmac.compare_digest(signature.read_text().strip(), expected):
        state = "signed with another key, or its manifest was edited" if signature.is_file() else "unsigned"
        raise InputError(f"with {STORE_KEY} set, a version must be signed with that key", f"{str(root)!r} is {state}",
                         "Load only versions written by someone holding the store's key, or retrain.")


def check_files(version_dir: str | os.PathLike, manifest: dict) -> None:
    """Refuse a version whose files changed since it was saved, or whose members/ holds a file it never wrote.

    Versions saved before digests were recorded (no `files` in the manifest) are checked for
    paths only.
    """
    root = Path(version_dir)
    recorded = manifest.get("files")
    named = [entry["file"] for entry in manifest["members"]]
    for relative in named:
        inside(root, relative)
    if recorded is None:
        if _key() is not None:  # a signature vouches for the manifest; only digests extend it to the files
            raise InputError(f"with {STORE_KEY} set, a version must record its files' digests",
                             f"{str(root)!r} was saved before digests were recorded",
                             "Retrain it with the key set, or load it without the key.")
        return
    for relative, expected in recorded.items():
        path = inside(root, relative)
        if not path.is_file():
            raise InputError("a saved version must have every file it was saved with",
                             f"{str(path)!r} is missing", "Restore the version from a backup, or retrain.")
        if digest(path) != expected:
            raise InputError("a saved version's files must be as they were saved",
                             f"{str(path)!r} has changed (its SHA-256 differs from the manifest's)",
                             "Do not edit saved versions; restore it from a backup, or retrain.")
    members = root / "members"
    unknown = [path.relative_to(root).as_posix() for path in sorted(members.rglob("*"))
               if members.is_dir() and (path.is_file() or path.is_symlink())
               and path.relative_to(root).as_posix() not in recorded]
    if unknown:
        raise InputError("a saved version's members/ holds only the files it was saved with",
                         f"{str(root)!r} also holds {preview(unknown)}",
                         "Remove them (they are not part of the model), or retrain.")
