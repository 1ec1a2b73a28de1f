"""Tables on disk: CSV or Parquet files (local paths, fsspec URLs, globs) read in, and the run's
workspace copies written as Parquet, addressed by their content."""

from __future__ import annotations

import hashlib
import os
import uuid

import pandas as pd
from pydantic import BaseModel

from imbalance_flows.tasks.errors import InputError

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
class TableRef(BaseModel):
    """A table on disk: where it is, what it holds, and a fingerprint of its content."""

    path: str
    fingerprint: str
    n_rows: int


def file_format(path: str) -> str:
    """"csv" or "parquet", from the file's extension."""
    suffix = os.path.splitext(path.split("?")[0])[1].lower()
    if suffix not in FORMATS:
        raise InputError(
            "the data file must be CSV or Parquet",
            f"{path!r} ends in {suffix or 'no extension'!r}",
            f"Use one of {sorted(FORMATS)} as the file extension.",
        )
    return FORMATS[suffix]


def _is_local(path: str) -> bool:
    return "://" not in path or path.startswith("file://")


def expand(path: str) -> list[str]:
    """The files a path names: itself, or (with *, ? or [) the files its glob matches, sorted."""
    path = str(path)
    if not any(char in path for char in "*?["):
        file_format(path)
        local = path.removeprefix("file://")
        if _is_local(path) and not os.path.isfile(local):
            raise InputError(
                "the data file must exist", f"{path!r} was not found",
                f"Check the path (the working directory is {os.getcwd()!r}).",
            )
        return [path]
    import fsspec

    filesystem, _ = fsspec.core.url_to_fs(path)
    protocol = path.split("://")[0] + "://" if "://" in path else ""
    files = sorted(protocol + match if protocol and "://" not in match else match for match in filesystem.glob(path))
    if not files:
        raise InputError("a data glob must match at least one file", f"{path!r} matches none",
                         "Check the pattern, e.g. data/part-*.parquet.")
    for file in files:
        file_format(file)
    return files


def read_file(path: str) -> pd.DataFrame:
    """Read a CSV or Parquet file, a local path or an fsspec URL, or every file a glob matches."""
    frames = [_read_one(file) for file in expand(path)]
    frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    if frame.empty:
        raise InputError("the data must have rows", f"{path!r} has none", "Point to a file with data.")
    return frame


def _read_one(path: str) -> pd.DataFrame:
    fmt = file_format(path)
    try:
        return pd.read_csv(path) if fmt == "csv" else pd.read_parquet(path)
    except FileNotFoundError as error:
        raise InputError("the data file must exist", f"{path!r} was not found", "Check the URL.") from error
    except Exception as error:  # Parsers raise many types; all mean the same to the user.
        reason = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
        raise InputError(
            f"the data file must be readable as {fmt.upper()}", f"{path!r} is not ({reason})",
            "Check that the file is complete and that its extension matches its content.",
        ) from error


def fingerprint(frame: pd.DataFrame) -> str:
    """A content hash of a table (values, column names and dtypes)."""
    digest = hashlib.sha256()
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    digest.update(repr([(str(c), str(t)) for c, t in frame.dtypes.items()]).encode())
    return digest.hexdigest()[:16]


def write_table(frame: pd.DataFrame, workspace: str, name: str) -> TableRef:
    """Write a table as Parquet under `workspace`, addressed by its content."""
    digest = fingerprint(frame)
    path = f"{workspace.rstrip('/')}/tables/{name}-{digest}.parquet"
    if _is_local(path):
        local = path.removeprefix("file://")
        if not os.path.exists(local):
            os.makedirs(os.path.dirname(local), exist_ok=True)
            staging = f"{local}.{uuid.uuid4().hex}.tmp"
            frame.to_parquet(staging, index=False)
            os.replace(staging, local)
    else:
        frame.to_parquet(path, index=False)
    return TableRef(path=path, fingerprint=digest, n_rows=len(frame))


def read_table(ref: TableRef) -> pd.DataFrame:
    """Read a table written by `write_table`."""
    return pd.read_parquet(ref.path)
