"""Writing to disk: a full disk or a folder that cannot be written becomes the product's error, not a traceback.

Light: no pandas, so the store and the command line can use it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import uuid

from imbalance_flows.tasks.errors import InputError


def is_local(path: str) -> bool:
    """A path on this machine (not an fsspec URL such as s3://)."""
    return "://" not in path or path.startswith("file://")


def _megabytes(size: int) -> str:
    return f"{size / 2**20:.1f} MB"


@contextlib.contextmanager
def room_to_write(path: str | os.PathLike, needed: int | None = None):
    """Turn a full disk (or quota) while writing `path` into the product's error, naming the path and the room."""
    try:
        yield
    except OSError as error:
        if error.errno not in (errno.ENOSPC, errno.EDQUOT):
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
