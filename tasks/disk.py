"""Writing to disk: a full disk or a folder that cannot be written becomes the product's error, not a traceback.

Light: no pandas, so the store and the command line can use it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import socket
import time
import uuid
from pathlib import Path

from imbalance_flows.tasks.errors import InputError


def is_local(path: str | os.PathLike) -> bool:
    """A path on this machine: no URL scheme, or `file://` (`storage` builds on this module)."""
    return "://" not in str(path) or str(path).startswith("file://")


def _megabytes(size: int) -> str:
    return f"{size / 2**20:.1f} MB"


def out_of_room(error: OSError) -> bool:
    """A full disk or quota: by its errno, or by the short write numpy reports without one
    ("8000000 requested and 4096 written")."""
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    return error.errno is None and re.search(r"\d+ requested and \d+ written", str(error)) is not None


@contextlib.contextmanager
def room_to_write(path: str | os.PathLike, needed: int | None = None):
    """Turn a full disk (or quota) while writing `path` into the product's error, naming the path and the room."""
    try:
        yield
    except OSError as error:
        if not out_of_room(error):
            raise
        folder = os.path.dirname(os.path.abspath(path))
        while folder and not os.path.isdir(folder):
            folder = os.path.dirname(folder)
        free = shutil.disk_usage(folder).free
        size = f"about {_megabytes(needed)} to write, " if needed else ""
        raise InputError("the disk must have room for the files a run writes",
                         f"writing {str(path)!r} ran out of space ({size}{_megabytes(free)} free there)",
                         "Free some space, or point the store (or --out) at a disk with room.") from None


def writable_folder(folder: str | os.PathLike, rule: str, hint: str) -> None:
    """Create `folder` if need be and check that a file can be written in it; refuse clearly if not."""
    folder = str(folder)
    if not is_local(folder):
        return
    folder = folder.removeprefix("file://")
    probe = os.path.join(folder, f".write-check.{uuid.uuid4().hex}")
    try:
        with room_to_write(probe):
            os.makedirs(folder, exist_ok=True)
            with open(probe, "w") as handle:
                handle.write("ok")
    except OSError as error:
        raise InputError(rule, f"{folder!r} is not ({error.strerror or error})", hint) from None
    finally:
        with contextlib.suppress(OSError):
            os.remove(probe)


# Temporary files and folders are named after their writer (host and process), so that a later run can
# tell those of a writer that died (SIGKILL, power loss) from those of one still writing.
LEFTOVER_AGE_S = 24 * 3600  # another host's leftovers are removed once this old
_TAG = re.compile(r"(?P<host>[A-Za-z0-9-]+)~(?P<pid>\d+)-[0-9a-f]{6,}")


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname().split(".")[0]) or "host"


def temporary(final: str | os.PathLike, suffix: str = ".tmp") -> Path:
    """Where to write `final` before renaming it into place: a hidden name beside it that names its writer."""
    final = Path(final)
    return final.with_name(f".{final.name}.{_host()}~{os.getpid()}-{uuid.uuid4().hex[:8]}{suffix}")


def replace_with(path: str | os.PathLike, content: str | bytes) -> Path:
    """Write `content` to `path` all at once: into a `temporary` name beside it, then renamed into place."""
    path = Path(path)
    staging = temporary(path)
    try:
        with room_to_write(path, len(content)):  # a full disk: the product's error, and no staging file left
            staging.write_bytes(content) if isinstance(content, bytes) else staging.write_text(content)
        os.replace(staging, path)
    except BaseException:
        staging.unlink(missing_ok=True)
        raise
    return path


def staging_name() -> str:
    """A staging folder's name, naming its writer like `temporary`."""
    return f"{_host()}~{os.getpid()}-{uuid.uuid4().hex[:8]}"


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def abandoned(path: Path) -> bool:
    """Whether a temporary file or folder was left by a writer that is gone."""
    match = _TAG.search(path.name)
    if match is None:
        return False
    if match["host"] == _host():
        return not _running(int(match["pid"]))
    try:
        return time.time() - path.lstat().st_mtime > LEFTOVER_AGE_S
    except OSError:
        return False


def remove_leftovers(store: str | os.PathLike) -> list[str]:
    """Remove what writers that died left in a store (staging folders, temporary files); return what went."""
    root = Path(str(store).removeprefix("file://"))
    if not is_local(str(store)) or not root.is_dir():
        return []
    candidates = [*(root / ".staging").glob("*"), *root.glob(".*"), *(root / "decisions").glob(".*"),
                  *(root / ".work" / "tables").glob(".*"), *(root / ".work" / "tables").glob("*/.*"),
                  *(root / ".work" / "members").glob(".*")]
    removed = []
    for path in candidates:
        if abandoned(path):
            with contextlib.suppress(OSError):
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink()
                removed.append(path.relative_to(root).as_posix())
    return sorted(removed)

