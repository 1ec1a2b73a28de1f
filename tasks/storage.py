"""One storage layer for every path the product takes: a local path, `file://`, or an fsspec URL
(`s3://`, `gs://`, `az://`, `abfs://`, `memory://`).

A URL is never turned into a local path. Local paths keep their file-system promises (a
write lands under a temporary name and is renamed into place); on an object store a single
object appears whole or not at all when its upload completes, which is the promise the
store builds on there (see `imbalance_flows.tasks.store.model_store`). Credentials come the standard
way of each back end (environment variables, profiles, instance roles); what they cannot
express goes to `configure` (the flows' `storage_options`).

Light: no pandas, so the store and the command line can use it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from imbalance_flows.tasks.disk import (
    is_local,
    replace_with,
    temporary,
    writable_folder,
)
from imbalance_flows.tasks.errors import InputError

# The cloud back ends are extras: the scheme, the package fsspec imports for it, and the extra that installs it.
EXTRAS = {"s3": ("s3fs", "s3"), "s3a": ("s3fs", "s3"), "gs": ("gcsfs", "gcs"), "gcs": ("gcsfs", "gcs"),
          "az": ("adlfs", "azure"), "abfs": ("adlfs", "azure"), "abfss": ("adlfs", "azure")}
BUILT_IN = ("file", "memory")


def scheme(path: str | os.PathLike) -> str | None:
    """The URL scheme of a path (`s3`, `memory`, …), or None for a plain local path."""
    text = str(path)
    return text.split("://", 1)[0].lower() if "://" in text else None




def local(path: str | os.PathLike) -> str:
    """A local path without its `file://`."""
    return str(path).removeprefix("file://")


def check(path: str | os.PathLike, what: str = "a path") -> str:
    """`path` if its scheme can be read and written here; otherwise the product's error naming the scheme and the
    extra that brings it."""
    found = scheme(path)
    if found is None or found in BUILT_IN:
        return str(path)
    if found in EXTRAS:
        package, extra = EXTRAS[found]
        try:
            __import__(package)
        except ImportError:
            raise InputError(f"{found}:// storage needs the '{extra}' extra", f"{what} is {str(path)!r} and "
                             f"{package} is not installed", f'Install it: pip install "imbalance-flows[{extra}]".'
                             ) from None
        return str(path)
    import fsspec

    if found not in fsspec.available_protocols():
        raise InputError("a path must be local or a URL of a known storage scheme",
                         f"{what} is {str(path)!r}, whose scheme {found!r} is none",
                         "Use a local path, or a URL starting with one of "
                         f"{', '.join(f'{name}://' for name in sorted({*BUILT_IN, *EXTRAS}))}.")
    return str(path)


def configure(options: dict[str, dict]) -> None:
    """Options per scheme for what credentials cannot say (an endpoint, a region, anonymous access), e.g.
    `{"s3": {"endpoint_url": "http://127.0.0.1:9000"}}`; they apply to every later URL of that scheme."""
    if not options:
        return
    import fsspec.config

    for name, values in options.items():  # fsspec merges them into each file system's arguments, and caches
        fsspec.config.conf.setdefault(name, {}).update(values)  # its instances by those


def filesystem(path: str):
    """The fsspec file system of a URL, and the path within it. Object stores are asked afresh each time (no
    cache of listings): other processes write the same store, and a version or a pointer must be seen when it is
    there."""
    import fsspec

    check(path)
    options = {"use_listings_cache": False} if scheme(path) in EXTRAS else {}
    return fsspec.core.url_to_fs(path, **options)


def _unreachable(error: Exception) -> bool:
    """An error of the storage service itself: missing or refused credentials, no network, a refused request."""
    module = type(error).__module__
    return isinstance(error, PermissionError) or module.startswith(("botocore", "aiobotocore", "google.auth",
                                                                     "azure.core", "aiohttp"))


def plainly(function):
    """Turn the storage service's own errors (credentials, network, permissions) for a URL into the product's error,
    naming the URL; the first argument of `function` is the path."""
    import functools

    @functools.wraps(function)
    def wrapper(path, *args, **kwargs):
        try:
            return function(path, *args, **kwargs)
        except InputError:
            raise
        except Exception as error:
            if is_local(path) or not _unreachable(error):
                raise
            reason = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
            raise InputError("storage must be reachable with the credentials given", f"{str(path)!r}: {reason}",
                             "Check the bucket's name, the network and the credentials (the AWS_* variables, a "
                             "profile, or storage_options).") from None

    return wrapper


def join(base: str | os.PathLike, *names: str) -> str:
    """`base/name/...`: a path or a URL, never collapsing a URL's `//`."""
    if is_local(base):
        return os.path.join(str(base), *names)
    return "/".join([str(base).rstrip("/"), *[name.strip("/") for name in names]])


def name(path: str | os.PathLike) -> str:
    """The last part of a path or URL."""
    return str(path).rstrip("/").rsplit("/", 1)[-1]


def parent(path: str | os.PathLike) -> str:
    """A path or URL without its last part."""
    if is_local(path):
        return os.path.dirname(str(path))
    return str(path).rstrip("/").rsplit("/", 1)[0]


def location(path: str | os.PathLike) -> Path | str:
    """How the store hands a place back: a `Path` on this machine, the URL itself elsewhere."""
    return Path(local(path)) if is_local(path) else str(path)


def _either(path: str | os.PathLike, here, there):
    """`here(local path)` for a path on this machine, `there(file system, path in it)` for a URL."""
    if is_local(path):
        return here(local(path))
    return there(*filesystem(str(path)))


@plainly
def exists(path: str | os.PathLike) -> bool:
    return _either(path, os.path.exists, lambda fs, inner: fs.exists(inner))


@plainly
def is_file(path: str | os.PathLike) -> bool:
    return _either(path, os.path.isfile, lambda fs, inner: fs.isfile(inner))


@plainly
def is_dir(path: str | os.PathLike) -> bool:
    return _either(path, os.path.isdir, lambda fs, inner: fs.isdir(inner))


@plainly
def read_bytes(path: str | os.PathLike) -> bytes:
    return _either(path, lambda here: Path(here).read_bytes(), lambda fs, inner: fs.cat_file(inner))


def read_text(path: str | os.PathLike) -> str:
    return read_bytes(path).decode("utf-8", errors="replace")


@plainly
def write_bytes(path: str | os.PathLike, content: bytes | str) -> Path | str:
    """Write `path` whole: locally under a temporary name renamed into place; on an object store as one object,
    which appears only once complete."""
    data = content.encode() if isinstance(content, str) else content
    if is_local(path):
        return replace_with(local(path), data)
    fs, inner = filesystem(str(path))
    fs.pipe_file(inner, data)
    return str(path)


@plainly
def create(path: str | os.PathLike, content: bytes | str) -> bool:
    """Write `path` only if nothing is there yet; False if something is. Locally with O_EXCL; on S3 with a
    conditional write (If-None-Match), which the server decides atomically."""
    data = content.encode() if isinstance(content, str) else content
    if is_local(path):
        try:
            handle = os.open(local(path), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        return True
    fs, inner = filesystem(str(path))
    try:
        fs.pipe_file(inner, data, mode="create")
    except FileExistsError:
        return False
    except FileNotFoundError:  # a write finds no key missing: the bucket is
        raise InputError("a store's bucket must exist", f"{str(path)!r} is in none",
                         "Create the bucket, or check its name.") from None
    except OSError as error:  # 412 Precondition Failed (or 409 on a racing conditional write)
        if refused_condition(error):
            return False
        raise
    return True


def refused_condition(error: Exception) -> bool:
    """A conditional write refused: S3's 412 Precondition Failed, or 409 for a conditional write racing another."""
    cause = error.__cause__ or error
    code = (getattr(cause, "response", None) or {}).get("Error", {}).get("Code")
    return code in ("PreconditionFailed", "ConditionalRequestConflict")


@plainly
def names(folder: str | os.PathLike) -> list[str]:
    """The names directly inside a folder (or under a URL's prefix), sorted; [] when there is none."""
    if is_local(folder):
        root = local(folder)
        return sorted(os.listdir(root)) if os.path.isdir(root) else []
    fs, inner = filesystem(str(folder))
    try:
        entries = fs.ls(inner, detail=False, refresh=True)
    except FileNotFoundError:
        return []
    return sorted(name(entry) for entry in entries if entry.rstrip("/") != inner.rstrip("/"))


@plainly
def entries(folder: str) -> list[tuple[str, bool]] | None:
    """The entries of a URL's prefix (the URL of each, whether it is a file), hidden ones (`.`, `_`) left out, or
    None when nothing lies under it."""
    fs, inner = filesystem(folder)
    try:
        found = fs.ls(inner, detail=True, refresh=True)
    except (FileNotFoundError, NotADirectoryError):
        return None
    found = [entry for entry in found if entry["name"].rstrip("/") != inner.rstrip("/")]  # a file lists itself
    if not found:
        return None
    return [(join(folder, name(entry["name"])), entry.get("type") == "file") for entry in found
            if not name(entry["name"]).startswith((".", "_"))]


def files(folder: str | os.PathLike) -> list[str]:
    """Every file under a folder (or a URL's prefix), as paths relative to it with `/`, sorted."""
    return sorted(listing(folder))


@plainly
def listing(folder: str | os.PathLike) -> dict[str, float]:
    """Every file under a folder (or a URL's prefix, in one listing), relative to it with `/`: when it was last
    written, in seconds since the epoch."""
    if is_local(folder):
        root = Path(local(folder))
        return {path.relative_to(root).as_posix(): path.lstat().st_mtime for path in root.rglob("*")
                if path.is_file()} if root.is_dir() else {}
    fs, inner = filesystem(str(folder))
    prefix = inner.rstrip("/") + "/"
    return {name[len(prefix):]: _timestamp(fs, name, info) for name, info in fs.find(prefix, detail=True).items()
            if name.startswith(prefix)}


def _timestamp(fs, name: str, info: dict) -> float:
    for key in ("LastModified", "mtime", "last_modified", "updated", "created"):
        value = info.get(key)
        if hasattr(value, "timestamp"):
            return value.timestamp()
        if isinstance(value, (int, float)):
            return float(value)
    return fs.modified(name).timestamp()


@plainly
def size(path: str | os.PathLike) -> int:
    """A file's size in bytes."""
    return _either(path, os.path.getsize, lambda fs, inner: fs.size(inner))


@plainly
def modified(path: str | os.PathLike) -> float:
    """When a file was last written, in seconds since the epoch."""
    return _either(path, lambda here: os.lstat(here).st_mtime, lambda fs, inner: fs.modified(inner).timestamp())


@plainly
def remove(path: str | os.PathLike, recursive: bool = False) -> None:
    """Delete a file, or a folder with everything under it; nothing there is not an error."""
    if is_local(path):
        target = Path(local(path))
        with contextlib.suppress(FileNotFoundError):  # what cannot be deleted is an error, not a silent leftover
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            else:
                target.unlink()
        return
    fs, inner = filesystem(str(path))
    with contextlib.suppress(FileNotFoundError):
        fs.rm(inner, recursive=recursive)


def upload(folder: str | os.PathLike, target: str, last: tuple[str, ...] = ()) -> None:
    """Copy a local folder's files to a URL's prefix, the names in `last` after all others, in that order."""
    relative = files(folder)
    ordered = [name for name in relative if name not in last] + [name for name in last if name in relative]
    fs, inner = filesystem(target)
    for name in ordered:
        fs.put_file(os.path.join(str(folder), name), f"{inner.rstrip('/')}/{name}")


@contextlib.contextmanager
def local_folder(folder: str | os.PathLike, check_key=None):
    """A folder as a local path: itself here; an object store's prefix copied to a temporary folder (removed
    afterwards), each key checked to land inside it (by `check_key(relative key)`, which raises, if given)."""
    if is_local(folder):
        yield local(folder)
        return
    fs, inner = filesystem(str(folder))
    with tempfile.TemporaryDirectory(prefix="imbalance-flows-folder-") as copy:
        for relative in files(folder):
            parts = relative.split("/")
            if check_key is not None:
                check_key(relative)
            if relative.startswith("/") or any(part in ("", ".", "..") for part in parts):
                raise InputError("a folder's keys must name places inside it", f"{str(folder)!r} holds {relative!r}",
                                 "Remove that key, or copy the folder's files elsewhere.")
            target = os.path.join(copy, *parts)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            fs.get_file(f"{inner.rstrip('/')}/{relative}", target)
        yield copy


@contextlib.contextmanager
def local_target(path: str | os.PathLike):
    """A local path to write a file to; on success it becomes `path` at once (renamed locally, uploaded as one
    object elsewhere), on failure nothing is left."""
    if is_local(path):
        staging = temporary(local(path))
        try:
            yield str(staging)
            os.replace(staging, local(path))
        finally:
            staging.unlink(missing_ok=True)
        return
    with tempfile.TemporaryDirectory(prefix="imbalance-flows-") as folder:
        staging = os.path.join(folder, name(path))
        yield staging
        fs, inner = filesystem(str(path))
        fs.put_file(staging, inner)


def writable(folder: str | os.PathLike, rule: str, hint: str) -> None:
    """Check, before any work, that files can be written under `folder` (created if need be), here or on an
    object store (a missing bucket, missing or wrong credentials); refuse clearly if not."""
    check(folder, "the folder")
    if is_local(folder):
        writable_folder(local(folder), rule, hint)
        return
    import uuid

    probe = join(folder, f".write-check.{uuid.uuid4().hex}")
    try:
        write_bytes(probe, b"ok")
        remove(probe)
    except Exception as error:  # each back end has its own errors for a missing bucket or a refused key
        reason = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
        raise InputError(rule, f"{str(folder)!r} is not ({reason})", hint) from None
