"""Tables on disk: CSV or Parquet files (local paths, fsspec URLs, globs, folders of Parquet files) read in,
and the run's workspace copies (its splits) written as Arrow IPC streams, addressed by their content.

A table may be *partitioned*: several Parquet files read as one, in order (`TableRef.parts`).
Its rows are addressed by position across the files, and the functions below read and write
it file by file (with `map_parts`, on the workers of a Dask cluster), so that no process
ever holds it whole.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
from pydantic import BaseModel

from imbalance_flows.tasks import storage
from imbalance_flows.tasks.cores import available_cores
from imbalance_flows.tasks.data.schema import repeated_names, row_hashes
from imbalance_flows.tasks.disk import is_local as _is_local
from imbalance_flows.tasks.disk import room_to_write
from imbalance_flows.tasks.errors import DataWarning, InputError
from imbalance_flows.tasks.handover import Handovers
from imbalance_flows.tasks.sealing import signing

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
COMPRESSIONS = (".gz", ".bz2", ".xz", ".zst", ".zip")  # a CSV compressed as data.csv.gz is read as it is
# Rows read and worked on at a time. A chunk's working memory (its floats, hashes, predictions) is freed and taken
# again by the next one: memory a process has not touched before costs the most on some machines, and smaller chunks
# touch less of it. Hashing the 1M-row table took 0.5 s in chunks of 100,000 against 3.1–4.3 s in chunks of 500,000
# (bench/results/chunk_rows.md).
CHUNK_ROWS = 100_000
# The workspace's own tables: Arrow IPC streams, a batch of CHUNK_ROWS rows at a time, read back memory-mapped.
# Against Parquet, 8M rows × 30 float32 took about half the time to write and a quarter to read back whole
# (bench/results/workspace_format.md). A stream, not an IPC file: a split of a Parquet file whose text columns
# are dictionary-encoded row group by row group holds a different dictionary in each batch, which only a stream
# may.
WRITTEN = ".arrows"


class TableRef(BaseModel):
    """A table on disk: where it is, what it holds, and a fingerprint of its content."""

    path: str
    fingerprint: str
    n_rows: int
    parts: list[str] = []  # a partitioned table: its Parquet files, in order (path is then their folder or glob)
    part_rows: list[int] = []  # the rows of each part
    kept: bool = False  # held in the memory of the process that read it (`keep`), written nowhere

    def files(self) -> list[str]:
        return self.parts or [self.path]

    def starts(self) -> list[int]:
        """The position of each file's first row."""
        return [0] + list(itertools.accumulate(self.part_rows))[:-1] if self.parts else [0]


def local_map(function, items, **shared) -> list:
    """`function(item, **shared)` for each item, here, in order: how partitions are handled without a cluster."""
    return [function(item, **shared) for item in items]


def file_format(path: str) -> str:
    """"csv" or "parquet", from the file's extension."""
    name = path.split("?")[0].lower()
    if name.endswith(COMPRESSIONS):
        name = os.path.splitext(name)[0]
        if name.endswith(".csv"):
            return "csv"
    suffix = os.path.splitext(name)[1]
    if suffix not in FORMATS:
        raise InputError(
            "the data file must be CSV or Parquet",
            f"{path!r} ends in {suffix or 'no extension'!r}",
            f"Use one of {sorted(FORMATS)} as the file extension (a CSV may be compressed: .csv.gz).",
        )
    return FORMATS[suffix]


def entries(folder: str) -> list[tuple[str, bool]] | None:
    """A folder's entries (a path or URL of each, whether it is a file), leaving out hidden ones (`.`, `_`), or
    None when `folder` is not a folder (here or under an object store's prefix)."""
    if _is_local(folder):
        local = folder.removeprefix("file://")
        if not os.path.isdir(local):
            return None
        return [(os.path.join(local, entry.name), entry.is_file()) for entry in os.scandir(local)
                if not entry.name.startswith((".", "_"))]
    return storage.entries(folder)


def is_parquet_folder(path: str) -> bool:
    """A folder of Parquet files (a partitioned table), here or under an object store's prefix; not a folder of
    class folders of images."""
    return _parquet_only(entries(str(path)))


def _parquet_only(entries) -> bool:
    return bool(entries) and all(is_file and name.endswith((".parquet", ".pq")) for name, is_file in entries)


def partitioned(path: str) -> list[str] | None:
    """The Parquet files of a partitioned table (a folder of them, or a glob matching several), local ones as
    absolute paths (Dask workers have their own working directories), on an object store as URLs; else None
    (one file is read whole, as before)."""
    found = entries(str(path))
    folder = _parquet_only(found)
    if found is not None and not folder:
        return None  # a folder of images, whatever its name holds
    if not folder and not any(char in str(path) for char in "*?["):
        return None  # one file
    files = expand(path)
    if len(files) < 2 or any(file_format(file) != "parquet" for file in files):
        return None
    return [os.path.abspath(file.removeprefix("file://")) if _is_local(file) else file for file in files]


def expand(path: str) -> list[str]:
    """The files a path names: itself, the files its glob (*, ? or [) matches, or the Parquet files of a folder,
    sorted."""
    path = str(path)
    if is_parquet_folder(path):
        return sorted(name for name, is_file in entries(path) if is_file)
    if not any(char in path for char in "*?["):
        file_format(path)
        local = path.removeprefix("file://")
        if _is_local(path) and not os.path.isfile(local):
            raise InputError(
                "the data file must exist", f"{path!r} was not found",
                f"Check the path (the working directory is {os.getcwd()!r}).",
            )
        return [path]
    filesystem, _ = storage.filesystem(path)
    protocol = path.split("://")[0] + "://" if "://" in path else ""
    files = sorted(protocol + match if protocol and "://" not in match else match for match in filesystem.glob(path))
    if not files:
        raise InputError("a data glob must match at least one file", f"{path!r} matches none",
                         "Check the pattern, e.g. data/part-*.parquet.")
    for file in files:
        file_format(file)
    return files


def read_file(path: str, missing: list[str] = ()) -> pd.DataFrame:
    """Read a CSV or Parquet file, a local path or an fsspec URL, or every file a glob matches; in CSV, `missing`
    are text that means a missing value in any column (see `read_csv`)."""
    frames = [read_one(file, missing) for file in expand(path)]
    frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    if frame.empty:
        raise InputError("the data must have rows", f"{path!r} has none", "Point to a file with data.")
    return frame


# What pandas reads as missing by default. In a column of numbers these still are missing; in a column of text
# they are values ("NA" is Namibia's code, "None" a category): only an empty field is missing there.
NA_MARKERS = frozenset(["#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
                        "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"])


def read_csv(source, missing: list[str] = (), **options) -> pd.DataFrame:
    """`pd.read_csv` with text kept as text: only an empty field is missing, and the user's `missing` markers
    (see `NA_MARKERS` and `numbers_found`)."""
    return pd.read_csv(source, keep_default_na=False, na_values=["", *missing], **options)


def read_one(path: str, missing: list[str] = ()) -> pd.DataFrame:
    """One CSV or Parquet file, refused clearly when it is empty or unreadable."""
    fmt = file_format(path)
    check_not_empty(path)
    try:
        frame = read_csv(path, missing) if fmt == "csv" else read_parquet_file(path)
    except InputError:  # a column the product does not read (see `arrow_frame`)
        raise
    except FileNotFoundError as error:
        raise InputError("the data file must exist", f"{path!r} was not found", "Check the URL.") from error
    except Exception as error:  # Parsers raise many types; all mean the same to the user.
        raise unreadable(path, fmt, error) from error
    if fmt == "csv":
        frame = numbers_found(check_header(path, frame))
    return frame


def numbers_found(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns of numbers whose missing values are written as markers ("NA", "null", ...) read as numbers, the
    markers missing; a column of text keeps them as values. Numbers written with a decimal comma are refused."""
    for name in frame.columns:
        column = frame[name]
        if column.dtype != object and not isinstance(column.dtype, pd.StringDtype):
            continue
        distinct = pd.Series(pd.unique(column.dropna()), dtype=object)
        if distinct.empty:
            continue
        text = distinct.astype(str).str.strip()
        marker = text.isin(NA_MARKERS)
        numbers = pd.to_numeric(text[~marker], errors="coerce")
        if marker.any() and numbers.notna().all():  # every value a number or a marker: numbers, some missing
            frame[name] = pd.to_numeric(column.where(~column.astype(str).str.strip().isin(NA_MARKERS)))
        elif (text.str.fullmatch(r"[+-]?\d+(?:,\d+)?") | marker).all() and text.str.contains(",").any():
            written = text[text.str.contains(",")]
            example, others = written.iloc[0], len(written) - 1
            raise InputError("numbers must be written with a decimal point", f"column {name!r} holds {example!r}"
                             + (f" and {others} other value{'s' if others > 1 else ''} with a comma" if others else ""),
                             f"Write them as {example.replace(',', '.')!r} (in pandas: "
                             f"df[{name!r}].str.replace(',', '.').astype(float)), and save the file again.")
    return frame


def check_not_empty(path: str) -> None:
    """Refuse a local file of 0 bytes (its parser would only say it has no columns)."""
    if _is_local(path) and os.path.getsize(path.removeprefix("file://")) == 0:
        raise InputError("the data file must not be empty", f"{path!r} has 0 bytes", "Point to a file with data.")


def unreadable(path: str, fmt: str, error: Exception) -> InputError:
    """The product's error for a file its parser could not read."""
    if isinstance(error, UnicodeDecodeError):
        return InputError("a CSV file must be UTF-8 text", f"{path!r} has {_bad_byte(path, error)}",
                          "Save it as UTF-8 (for a latin-1 file: iconv -f latin1 -t utf-8 in.csv > out.csv).")
    reason = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
    return InputError(f"the data file must be readable as {fmt.upper()}", f"{path!r} is not ({reason})",
                      "Check that the file is complete and that its extension matches its content.")


def _bad_byte(path: str, error: UnicodeDecodeError) -> str:
    """Where a file stops being UTF-8: the first bad byte and its line."""
    import fsspec

    with fsspec.open(path, "rb", compression="infer") as handle:
        data = handle.read()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as first:
        line = data[:first.start].count(b"\n") + 1
        return f"byte 0x{data[first.start]:02x} on line {line}"
    return f"a byte that is not UTF-8 ({error.reason})"


def check_header(path: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Refuse a CSV whose header repeats a name (pandas would rename the copy `a.1`), leaves one out or is not
    comma-separated; a first column without a name that numbers the rows (a saved index) is dropped, told."""
    import csv

    import fsspec

    # utf-8-sig: a byte-order mark (Excel writes one) is not part of the first name, as pandas reads it.
    with fsspec.open(path, "rt", compression="infer", encoding="utf-8-sig", newline="") as handle:
        header = next(csv.reader(handle), [])
    unnamed = [position for position, name in enumerate(header) if not name.strip()]
    if unnamed == [0] and len(header) == frame.shape[1] and _numbers_rows(frame.iloc[:, 0]):
        warnings.warn(f"The first column of {path!r} has no name and numbers the rows: a saved index, left out "
                      "(write the file with index=False to leave it out there).", DataWarning, stacklevel=2)
        frame = frame.iloc[:, 1:]
    elif unnamed:
        raise InputError("every column needs a name in the header",
                         f"column{'s' if len(unnamed) > 1 else ''} {', '.join(str(p + 1) for p in unnamed[:8])} of {path!r} "
                         f"{'have' if len(unnamed) > 1 else 'has'} none", "Name it in the header's first line, or "
                         "drop it (a saved index: write the file with index=False).")
    repeated = repeated_names(header)
    if len(repeated):
        raise InputError("column names must be unique",
                         f"{repeated.index[0]!r} appears {int(repeated.iloc[0])} times in the header of {path!r}",
                         "Rename or drop the copies.")
    if frame.shape[1] == 1 and any(sep in str(frame.columns[0]) for sep in (";", "\t", "|")):
        sep = next(sep for sep in (";", "\t", "|") if sep in str(frame.columns[0]))
        raise InputError("a CSV file must be comma-separated",
                         f"the header of {path!r} is one column holding {sep!r}: {str(frame.columns[0])[:80]!r}",
                         f"Save it with commas, e.g. pd.read_csv(path, sep={sep!r}).to_csv(new_path, index=False).")
    return frame


def _numbers_rows(column: pd.Series) -> bool:
    """Whether a column is 0, 1, 2, ... or 1, 2, 3, ...: a row number."""
    if not pd.api.types.is_integer_dtype(column) or column.empty:
        return False
    values = column.to_numpy()
    return int(values[0]) in (0, 1) and bool((values[1:] - values[:-1] == 1).all())


# From this many values a table's columns are hashed side by side on the cores (`fingerprint`).
PARALLEL_HASH_VALUES = 1 << 20


def fingerprint(frame: pd.DataFrame) -> str:
    """A content hash of a table (values, column names and dtypes; not the index).

    A column of plain NumPy values (numbers, booleans, dates) is hashed as its bytes, about five times as fast
    as pandas' per-value hashes (10M rows × 30 floats: 0.85 s against 4.4 s, by hand); any other column (text,
    categories, nullable types) by pandas' hashes of its values. Each column is hashed on its own, a large table's
    side by side on the cores (hashlib lets go of the interpreter while it hashes: 10M rows × 31 columns took
    0.42 s on two cores against 0.79 s in one thread, by hand), and the table's hash is that of theirs in order.
    """
    header = repr([len(frame), *((str(c), str(t)) for c, t in frame.dtypes.items())]).encode()
    columns = [column for _, column in frame.items()]
    workers = min(available_cores(), len(columns)) if frame.size >= PARALLEL_HASH_VALUES else 1
    if workers > 1:
        with ThreadPoolExecutor(workers) as pool:
            digests = list(pool.map(_column_digest, columns))
    else:
        digests = [_column_digest(column) for column in columns]
    return hashlib.sha256(header + b"".join(digests)).hexdigest()[:16]


def _column_digest(column: pd.Series) -> bytes:
    if isinstance(column.dtype, np.dtype) and column.dtype.kind in "biufcmM":
        return hashlib.sha256(np.ascontiguousarray(column.to_numpy()).data).digest()
    return hashlib.sha256(pd.util.hash_pandas_object(column, index=False).to_numpy().tobytes()).digest()


def dictionary_columns(schema) -> list[str]:
    """The columns of a pyarrow schema worth dictionary-encoding in Parquet: all but floating-point ones.

    Dictionary encoding helps repeated values (text, categories, small integers); on measured
    floats, which rarely repeat, pyarrow builds each dictionary only to give it up: on 10M rows of
    30 float32 columns, writing took 8.79 s with it and 3.62 s without, reading back 4.09 s and 1.99 s
    (bench/results/hot_paths.md).
    """
    import pyarrow as pa

    return [field.name for field in schema if not pa.types.is_floating(field.type)]


def write_table(frame: pd.DataFrame, workspace: str, name: str) -> TableRef:
    """Write a table under `workspace` (an Arrow IPC stream, `WRITTEN`), addressed by its content; complete or
    absent (see `storage.local_target`)."""
    digest = fingerprint(frame)
    path = f"{workspace.rstrip('/')}/tables/{name}-{digest}{WRITTEN}"
    _write_frame(frame, None, path)
    return TableRef(path=path, fingerprint=digest, n_rows=len(frame))


def _write_frame(frame: pd.DataFrame, rows, path: str) -> None:
    """Write `frame`, or its rows at positions `rows`, to `path` unless it is there already (content-addressed);
    complete or absent (see `storage.local_target`)."""
    if storage.exists(path) and not signing():  # with a store key, never a table someone else may have left there
        return
    if _is_local(path):
        os.makedirs(os.path.dirname(storage.local(path)), exist_ok=True)
    size = int(frame.memory_usage(deep=True).sum()) * (1 if rows is None else len(rows)) // max(len(frame), 1)
    with room_to_write(storage.local(path), size), storage.local_target(path) as staging:
        _write_stream(frame, staging, rows)


# Tables read into memory and handed by one step to the next of the same run (`keep`), instead of being written
# to the workspace and read back: a loaded file, which its split reads three times (labels, row fingerprints,
# the splits' rows). On 10M rows writing the copy alone took about 5 s.
_KEPT = Handovers(limit=2)  # should a run end before its split let go, the oldest go first


def keep(frame: pd.DataFrame, name: str) -> TableRef:
    """Hold `frame` in this process for the next step (`kept`), and refer to it as a table, content-addressed as
    `write_table` addresses one; `let_go` frees it."""
    digest = fingerprint(frame)
    ref = TableRef(path=f"memory:{name}-{digest}", fingerprint=digest, n_rows=len(frame), kept=True)
    _KEPT.put(ref.path, frame)
    return ref


def kept(ref: TableRef) -> pd.DataFrame:
    """The table `keep` holds for `ref`."""
    frame = _KEPT.get(ref.path)
    if frame is None:
        raise InputError("a loaded table is split by the process that loaded it", f"{ref.path!r} is not held here",
                         "Call the load and split steps in one process, as the training flow does.")
    return frame


def let_go(ref: TableRef) -> None:
    _KEPT.take(ref.path)


@contextlib.contextmanager
def parquet_file(path: str, **options):
    """A Parquet file opened for reading row group by row group, here or on an object store."""
    import pyarrow.parquet as pq

    if _is_local(path):
        with pq.ParquetFile(storage.local(path), **options) as parquet:
            yield parquet
        return
    fs, inner = storage.filesystem(path)
    with fs.open(inner, "rb") as handle, pq.ParquetFile(handle, **options) as parquet:
        yield parquet


def _write_stream(frame: pd.DataFrame, path: str, rows=None) -> None:
    """`frame` (or its rows at positions `rows`) as an Arrow IPC stream (`WRITTEN`), converted and written
    CHUNK_ROWS rows at a time (a batch each), so that the table is not held twice."""
    import pyarrow as pa

    schema = pa.Schema.from_pandas(frame, preserve_index=False)  # the whole table's types (and pandas' metadata)
    count = len(frame) if rows is None else len(rows)
    with pa.ipc.new_stream(path, schema) as writer:
        for start in range(0, max(count, 1), CHUNK_ROWS):
            chunk = (frame.iloc[start:start + CHUNK_ROWS] if rows is None
                     else frame.iloc[rows[start:start + CHUNK_ROWS]])
            writer.write_table(pa.Table.from_pandas(chunk, schema=schema, preserve_index=False))


def _written(path: str) -> bool:
    """Whether a file is one of the workspace's own tables (`WRITTEN`), not a user's Parquet file."""
    return path.split("?")[0].endswith(WRITTEN)


@contextlib.contextmanager
def stream_batches(path: str):
    """The schema and batches of a table the workspace wrote (`WRITTEN`), each batch checked as it is read:
    memory-mapped here (a batch's columns are the file's own bytes, mapped until the last of them is let go, even
    after the file is closed), streamed through the storage layer's file system from an object store."""
    import pyarrow as pa

    def checked(reader):
        for batch in reader:
            batch.validate()
            yield batch

    if _is_local(path):
        with pa.memory_map(storage.local(path)) as source:
            reader = pa.ipc.open_stream(source)
            yield reader.schema, checked(reader)
        return
    fs, inner = storage.filesystem(path)
    with fs.open(inner, "rb") as handle:
        reader = pa.ipc.open_stream(handle)
        yield reader.schema, checked(reader)


def arrow_frame(table, path: str, whole: bool = False) -> pd.DataFrame:
    """An Arrow table (or record batch) of a user's Parquet file as pandas: decimal columns read as numbers
    (float64); columns of lists, structs or maps refused, naming the first. A `whole` file's table is converted
    column by column, each Arrow column let go as it is converted (it is not used after), so that the file is not
    held twice."""
    import pyarrow as pa

    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    repeated = repeated_names(table.schema.names)
    if len(repeated):
        raise InputError("column names must be unique", f"{repeated.index[0]!r} names {int(repeated.iloc[0])} "
                         f"columns of {path!r}", "Rename or drop the copies, and write the file again.")
    for position, field in enumerate(table.schema):
        if pa.types.is_nested(field.type):
            raise InputError("every column must hold one value per row (a number, text, a date or a boolean)",
                             f"{field.name!r} of {path!r} holds {field.type} values",
                             "Flatten it into columns of their own, or write the file without it.")
        if pa.types.is_decimal(field.type):
            table = table.set_column(position, field.name, table.column(position).cast(pa.float64()))
    return table.to_pandas(split_blocks=True, self_destruct=True) if whole else table.to_pandas()


def read_parquet_file(path: str) -> pd.DataFrame:
    """A user's Parquet file (see `arrow_frame`), here or on an object store, read whole (its columns on threads)
    without pre-buffering, which would hold the whole compressed file beside the table. Read in batches instead,
    it took several times as long, with a higher peak (bench/results/read_table.md)."""
    with parquet_file(path, pre_buffer=False, buffer_size=1 << 22) as parquet:
        table = parquet.read()
    return arrow_frame(table, path, whole=True)


def read_written(path: str, columns: list[str] | None = None) -> pd.DataFrame:
    """A table written by `write_table` or `write_parts` (or its `columns`), here or through the storage layer's
    file system (so that its options, such as an endpoint given in `storage_options`, apply); a Parquet file is
    read as such, without pre-buffering."""
    import pyarrow as pa

    path = str(path)
    if not _written(path):
        with parquet_file(path, pre_buffer=False, buffer_size=1 << 22) as parquet:
            return parquet.read(columns=columns).to_pandas()
    with stream_batches(path) as (schema, batches):
        table = pa.Table.from_batches(list(batches), schema)
    return (table.select(columns) if columns is not None else table).to_pandas()


def read_table(ref: TableRef) -> pd.DataFrame:
    """Read a table written by `write_table` (or a partitioned one, all its files, as `arrow_frame` reads them)."""
    if not ref.parts:
        return read_written(ref.path)
    return pd.concat([_read_part(file) for file in ref.parts], ignore_index=True)


def read_column(ref: TableRef, name: str) -> pd.Series:
    """One column of a table written by `write_table` or a partitioned one (the labels, say), without reading the
    others."""
    if ref.kept:
        return kept(ref)[name]
    if ref.parts:
        columns = [_read_part(file, [name])[name] for file in ref.parts]
    else:
        columns = [read_written(ref.path, columns=[name])[name]]
    return columns[0] if len(columns) == 1 else pd.concat(columns, ignore_index=True)


def _read_part(file: str, columns: list[str] | None = None) -> pd.DataFrame:
    """One file of a partitioned table, or some of its columns: a user's Parquet file, read as every user's file is
    (`arrow_frame`: decimals as numbers), or a part the workspace wrote (`write_parts`)."""
    if _written(file):
        return read_written(file, columns)
    with parquet_file(file) as parquet:
        return arrow_frame(parquet.read(columns=columns), file)


def write_parts(ref: TableRef, parts: dict, workspace: str, map_parts=local_map) -> dict:
    """Write some rows of a table written by `write_table` as new tables, one per name: `parts` maps a name to
    sorted row positions. Read and written one row group at a time, so a large table is never held whole; a
    partitioned table gives partitioned parts, one file per source file, written by `map_parts` (on Dask workers).

    Each part is addressed by the source's fingerprint and its rows: the same rows of the same
    content are the same table, as `write_table`'s content address makes them.
    """

    out, jobs = _addressed(ref, parts, workspace)
    if ref.kept:  # a table in this process's memory: each part written from it, not read from a file
        frame = kept(ref)
        for path, rows in jobs[0].items():
            _write_frame(frame, rows, path)
        return out
    map_parts(_write_rows, list(zip(ref.files(), jobs, ref.part_rows or [None])))
    return out


def part_refs(ref: TableRef, parts: dict, workspace: str) -> dict:
    """The tables `write_parts` would write for these arguments, by name, without writing them."""
    return _addressed(ref, parts, workspace)[0]


def _addressed(ref: TableRef, parts: dict, workspace: str) -> tuple[dict, list]:
    """`write_parts`' tables by name, and per source file {destination: its rows there}."""
    out, jobs = {}, [{} for _ in ref.files()]
    bounds = ref.starts() + [ref.n_rows]
    for name, rows in parts.items():
        rows = np.asarray(rows, dtype=np.int64)
        digest = hashlib.sha256(ref.fingerprint.encode() + name.encode() + rows.tobytes()).hexdigest()[:16]
        if not ref.parts:
            path = f"{workspace.rstrip('/')}/tables/{name}-{digest}{WRITTEN}"
            out[name] = TableRef(path=path, fingerprint=digest, n_rows=len(rows))
            jobs[0][path] = rows
            continue
        folder, files, counts = f"{workspace.rstrip('/')}/tables/{name}-{digest}", [], []
        for index, (start, end) in enumerate(zip(bounds, bounds[1:])):
            within = between(rows, start, end)
            if len(within):
                files.append(f"{folder}/part-{index:05d}{WRITTEN}")
                counts.append(len(within))
                jobs[index][files[-1]] = within
        out[name] = TableRef(path=folder, fingerprint=digest, n_rows=len(rows), parts=files, part_rows=counts)
    return out, jobs


def between(rows, start: int, end: int):
    """The sorted positions `rows` that fall in [start, end), counted from `start` (a file's or row group's own)."""

    return rows[np.searchsorted(rows, start):np.searchsorted(rows, end)] - start


def _write_rows(job: tuple[str, dict, int | None]) -> None:
    """Write rows of one file (a user's Parquet file of `rows` rows, if known, or a table the workspace wrote) to
    new tables (`WRITTEN`), `{destination: sorted positions}`, each complete or absent."""
    import pyarrow as pa

    source, wanted, rows_expected = job
    pending = {path: rows for path, rows in wanted.items() if not storage.exists(path)}  # else written by an
    if not pending:                                                                        # earlier run
        return
    with _pieces(source) as (schema, count, size, pieces), contextlib.ExitStack() as staged:
        if rows_expected is not None and count != rows_expected:
            raise InputError("the files of a partitioned table must not change while it is trained on",
                             f"{source!r} held {rows_expected} rows when loaded and {count} now",
                             "Train on a copy, or write new files beside the old ones between runs.")
        stagings = {}
        for path in pending:
            if _is_local(path):
                os.makedirs(os.path.dirname(storage.local(path)), exist_ok=True)
            stagings[path] = staged.enter_context(storage.local_target(path))  # renamed or uploaded once written
        first = storage.local(next(iter(pending)))
        needed = sum(size * len(rows) // max(count, 1) for rows in pending.values()) if count is not None else size
        with room_to_write(first, needed):  # rows not known before reading: at most the whole source
            opened = {path: pa.ipc.new_stream(stagings[path], schema) for path in pending}
            try:
                start = 0
                for table in pieces:
                    end = start + len(table)
                    for path, rows in pending.items():
                        taken = between(rows, start, end)
                        if len(taken):
                            opened[path].write_table(table.take(pa.array(taken)), max_chunksize=CHUNK_ROWS)
                    start = end
            finally:
                for writer in opened.values():
                    writer.close()


@contextlib.contextmanager
def _pieces(source: str):
    """A file's schema, rows, bytes as Arrow and its rows in order, a piece at a time: a user's Parquet file row
    group by row group, a table the workspace wrote batch by batch (its rows are not known before it is read)."""
    import pyarrow as pa

    if _written(source):
        with stream_batches(source) as (schema, batches):
            yield schema, None, storage.size(source), (pa.Table.from_batches([batch]) for batch in batches)
        return
    with parquet_file(source) as parquet:
        metadata = parquet.metadata
        size = sum(metadata.row_group(group).total_byte_size for group in range(metadata.num_row_groups))
        yield (parquet.schema_arrow, metadata.num_rows, size,
               (parquet.read_row_group(group) for group in range(parquet.num_row_groups)))


def read_chunks(ref: TableRef, rows: int = CHUNK_ROWS):
    """A table written by `write_table`, `rows` rows at a time (DataFrames), so that a large one is never held whole."""
    for file in ref.files():
        yield from file_chunks(file, rows)


def file_chunks(file: str, rows: int = CHUNK_ROWS):
    """One file, `rows` rows at a time: a table the workspace wrote batch by batch, a user's Parquet file without
    pre-buffering (which keeps every column chunk read)."""
    if _written(file):
        with stream_batches(file) as (_, batches):
            for batch in batches:
                for start in range(0, batch.num_rows, rows):
                    yield arrow_frame(batch.slice(start, rows), file)
        return
    with parquet_file(file, pre_buffer=False, buffer_size=1 << 22) as parquet:
        for batch in parquet.iter_batches(batch_size=rows):
            yield arrow_frame(batch, file)


def table_row_hashes(ref: TableRef, schema, map_parts=local_map):
    """Every row's fingerprint (`schema.row_hashes`: copies of a row share it), read chunk by chunk; a partitioned
    table's file by file, by `map_parts`."""
    if ref.kept:
        frame = kept(ref)
        return np.concatenate([row_hashes(frame.iloc[start:start + CHUNK_ROWS], schema)
                               for start in range(0, max(len(frame), 1), CHUNK_ROWS)])
    if not ref.parts:
        return np.concatenate([row_hashes(chunk, schema) for chunk in read_chunks(ref)])
    return np.concatenate(map_parts(_hashes_of, ref.parts, schema=schema))


def _hashes_of(file: str, schema) -> np.ndarray:
    return np.concatenate([row_hashes(chunk, schema) for chunk in file_chunks(file)])


def read_rows(ref: TableRef, rows, map_parts=local_map) -> pd.DataFrame:
    """The rows at these sorted positions of a table written by `write_table`, read one row group at a time,
    so that taking a sample of a large table never holds all of it; the index is 0 … len(rows) − 1.
    A partitioned table is read file by file, by `map_parts`."""

    rows = np.asarray(rows, dtype=np.int64)
    if not ref.parts:
        return _rows_of((ref.path, rows))
    bounds = ref.starts() + [ref.n_rows]
    jobs = [(file, between(rows, start, end))
            for file, start, end in zip(ref.parts, bounds, bounds[1:])]
    frames = map_parts(_rows_of, [job for job in jobs if len(job[1])] or jobs[:1])
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]


def _rows_of(job: tuple[str, object]) -> pd.DataFrame:
    """The rows at sorted positions of one file, read one batch (of a table the workspace wrote) or row group (of a
    user's Parquet file) at a time."""
    import pyarrow as pa

    path, rows = job
    if _written(path):
        with stream_batches(path) as (schema, batches):
            parts, start = [], 0
            for batch in batches:
                wanted = between(rows, start, start + batch.num_rows)
                start += batch.num_rows
                if len(wanted):
                    parts.append(batch.take(pa.array(wanted)))
        return pa.Table.from_batches(parts, schema).to_pandas()
    with parquet_file(path) as parquet:
        if len(rows) == parquet.metadata.num_rows:
            return arrow_frame(parquet.read(), path)
        parts, start = [], 0
        for group in range(parquet.num_row_groups):
            end = start + parquet.metadata.row_group(group).num_rows
            wanted = between(rows, start, end)
            if len(wanted):
                parts.append(parquet.read_row_group(group).take(pa.array(wanted)))
            start = end
        schema = parquet.schema_arrow
    return arrow_frame(pa.concat_tables(parts) if parts else schema.empty_table(), path)
