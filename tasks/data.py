"""Load a table, describe its columns, and split it by class without losing rare classes."""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel

from tasks.errors import InputError, preview

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
MISSING_CATEGORY = "(missing)"


class Column(BaseModel):
    """One feature: its name, whether it is numeric or categorical, and the categories seen."""

    name: str
    kind: Literal["numeric", "categorical"]
    categories: list[str] = []


class ImageInfo(BaseModel):
    """The shape of the images whose pixels the feature columns hold, row by row (see tasks.images)."""

    height: int
    width: int
    channels: int

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.height, self.width, self.channels


PIXEL_PATTERN = re.compile(r"px_(\d+)_(\d+)_(\d+)")


def pixel_names(height: int, width: int, channels: int) -> list[str]:
    """Column names of an image's pixels, row by row: px_<row>_<column>_<channel>."""
    return [f"px_{r}_{c}_{k}" for r in range(height) for c in range(width) for k in range(channels)]


def image_info_from_columns(names: list[str]) -> ImageInfo | None:
    """The image shape that columns named by `pixel_names` stand for, or None for other tables."""
    match = PIXEL_PATTERN.fullmatch(str(names[-1])) if len(names) else None
    if match is None:
        return None
    info = ImageInfo(height=int(match[1]) + 1, width=int(match[2]) + 1, channels=int(match[3]) + 1)
    return info if [str(n) for n in names] == pixel_names(*info.shape) else None


class Schema(BaseModel):
    """What a model was trained on: the target, the feature columns and the classes."""

    target: str
    columns: list[Column]
    classes: list[str | int | float | bool]
    positional: bool = False  # fitted on an array: columns are named x0, x1, ... by position
    image: ImageInfo | None = None  # set when the columns are the pixels of images of this shape

    @property
    def names(self) -> list[str]:
        return [column.name for column in self.columns]

    @property
    def categorical(self) -> list[str]:
        return [column.name for column in self.columns if column.kind == "categorical"]


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


def split_target(frame: pd.DataFrame, target: str) -> tuple[pd.DataFrame, pd.Series]:
    """Separate features from the target and check both."""
    if target not in frame.columns:
        raise InputError(
            "the target column must exist", f"{target!r} is not among the columns {preview(frame.columns)}",
            "Pass the name of the column that holds the class labels with --target.",
        )
    y = frame[target]
    check_labels(y)
    X = frame.drop(columns=[target])
    if X.shape[1] == 0:
        raise InputError("the data must have features", "only the target column was found", "Add feature columns.")
    check_features(X)
    return X, y


def check_labels(y: pd.Series) -> None:
    """Labels must be present and of at least two classes."""
    empty = y.isna() | (y.astype(str).str.strip() == "")
    if empty.any():
        rows = preview(np.flatnonzero(empty.to_numpy()).tolist(), limit=5)
        raise InputError(
            "every row needs a class label", f"{int(empty.sum())} rows of {y.name!r} are empty or NaN (rows {rows})",
            "Drop those rows or fill in their labels.",
        )
    classes = pd.unique(y)
    if len(classes) < 2:
        raise InputError(
            "the target needs at least two classes", f"{y.name!r} holds only {preview(classes.tolist())}",
            "Check the --target column, or add rows of the other classes.",
        )


def column_kind(series: pd.Series) -> str:
    """Numbers and booleans are numeric; strings, categories and objects are categorical."""
    if pd.api.types.is_bool_dtype(series) or (pd.api.types.is_numeric_dtype(series)
                                              and not pd.api.types.is_complex_dtype(series)):
        return "numeric"
    if isinstance(series.dtype, pd.CategoricalDtype) or pd.api.types.is_object_dtype(series) \
            or pd.api.types.is_string_dtype(series):
        return "categorical"
    raise InputError(
        "features must be numeric, boolean or categorical", f"{series.name!r} has dtype {series.dtype}",
        "Convert it (e.g. a date into year, month and weekday columns) or drop it.",
    )


def check_features(X: pd.DataFrame) -> None:
    """Reject features that no model can learn from: all missing, or infinite values."""
    for name in X.columns:
        if X[name].isna().all():
            raise InputError(
                "a feature must have at least one value", f"{name!r} is empty (all NaN) in {len(X)} rows",
                "Drop the column.",
            )
    check_finite(X)


def check_finite(X: pd.DataFrame) -> None:
    """Numeric features may be missing (NaN) but not infinite."""
    for name in X.columns:
        column = X[name]
        if column_kind(column) == "numeric" and not pd.api.types.is_bool_dtype(column):
            infinite = np.isinf(column.to_numpy(dtype=float, na_value=np.nan))
            if infinite.any():
                raise InputError(
                    "numeric features must be finite", f"{name!r} has {int(infinite.sum())} infinite values",
                    "Replace them with NaN (they are then imputed) or with a large finite value.",
                )


def infer_schema(X: pd.DataFrame, y: pd.Series, target: str | None = None) -> Schema:
    """Describe the features and classes of a training table."""
    columns = []
    for name in X.columns:
        kind = column_kind(X[name])
        categories = sorted(set(_as_text(X[name]).dropna())) if kind == "categorical" else []
        columns.append(Column(name=str(name), kind=kind, categories=categories))
    classes = sorted(pd.unique(y).tolist(), key=lambda c: (str(type(c)), c))
    return Schema(target=str(target if target is not None else (y.name or "target")), columns=columns,
                  classes=classes, image=image_info_from_columns(list(X.columns)))


def _as_text(series: pd.Series) -> pd.Series:
    """Values as Python strings, missing ones as None.

    Text columns convert each distinct value once; mixed ones value by value, since values
    that are equal but print differently (1, 1.0, True) must keep their own text.
    """
    if pd.api.types.infer_dtype(series, skipna=True) not in ("string", "empty"):
        return series.astype(object).where(series.notna(), None).map(lambda v: v if v is None else str(v))
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    text = np.array([str(value) for value in uniques] + [None], dtype=object)  # code -1 (missing) → None
    return pd.Series(text[codes], index=series.index, name=series.name, dtype=object)


def coerce(X: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """Give every column the type the members expect: floats, or text with a missing marker."""
    # Columns already held as numbers become floats in one block (wide tables have hundreds).
    ready = [c.name for c in schema.columns if c.kind == "numeric" and (
        pd.api.types.is_bool_dtype(X[c.name]) or pd.api.types.is_numeric_dtype(X[c.name]))]
    block = pd.DataFrame(X[ready].to_numpy(dtype=float, na_value=np.nan), columns=ready, index=X.index)
    out = {}
    for column in schema.columns:
        values = X[column.name]
        if column.name in block:
            continue
        if column.kind == "numeric":
            numbers = pd.to_numeric(values, errors="coerce").astype(float)
            bad = numbers.isna() & values.notna()
            if bad.any():
                raise InputError(f"numeric feature {column.name!r} must hold numbers",
                                 f"found {preview(values[bad].unique()[:5].tolist(), 5)}",
                                 "Fix or blank out those values (blanks are imputed).")
            out[column.name] = numbers
        else:
            out[column.name] = _as_text(values).fillna(MISSING_CATEGORY).astype(object)
    return pd.concat([block, pd.DataFrame(out, index=X.index)], axis=1)[schema.names]


def row_hashes(frame: pd.DataFrame, schema: Schema) -> np.ndarray:
    """One 64-bit fingerprint per row of features and label, the same whatever file the row came from.

    Values are hashed as the members see them (numbers as floats, categories as text),
    so a row read from a larger CSV, where a column's type may have widened, still matches.
    """
    features = coerce(frame[schema.names], schema)
    canonical = features.assign(**{"\0target": _as_text(frame[schema.target]).fillna("").to_numpy()})
    return pd.util.hash_pandas_object(canonical, index=False).to_numpy(dtype=np.uint64)


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


def _sorted_labels(y: np.ndarray) -> list:
    return sorted(pd.unique(y), key=lambda c: (str(type(c)), c))


def check_rows_per_class(y, needed: int, purpose: str) -> None:
    """Every class must have at least `needed` rows for `purpose`; the first short class is named."""
    y = np.asarray(y)
    for label in _sorted_labels(y):
        count = int(np.sum(y == label))
        if count < needed:
            raise InputError(f"each class needs at least {needed} rows for {purpose}",
                             f"class {_plain(label)!r} has {count}",
                             "Collect more rows of it, merge it into a related class, or drop its rows.")


def stratified_indices(y, fractions: list[float], random_state: int = 0) -> list[np.ndarray]:
    """Split row positions by class: the rest first, then one part per fraction.

    Every class appears in every part (at least one row each), so a rare class is
    never missing from validation or test. Rows are shuffled with `random_state`.
    """
    y = np.asarray(y)
    rng = np.random.default_rng(random_state)
    parts: list[list[np.ndarray]] = [[] for _ in range(len(fractions) + 1)]
    needed = len(fractions) + 1
    check_rows_per_class(y, needed, f"a stratified {needed}-way split")
    for label in _sorted_labels(y):
        rows = rng.permutation(np.flatnonzero(y == label))
        sizes = [max(1, int(round(len(rows) * f))) for f in fractions]
        while sum(sizes) > len(rows) - 1:  # Keep at least one row for training.
            sizes[int(np.argmax(sizes))] -= 1
        start = len(rows) - sum(sizes)
        parts[0].append(rows[:start])
        for i, size in enumerate(sizes, start=1):
            parts[i].append(rows[start:start + size])
            start += size
    return [np.sort(np.concatenate(part)) for part in parts]


def check_split_sizes(test_size: float, validation_size: float) -> None:
    """The test and validation shares must leave data for training (validation_size 0: no validation split)."""
    shares = [("test_size", test_size)] + ([("validation_size", validation_size)] if validation_size else [])
    for name, value in shares:
        if not 0 < value < 1:
            raise InputError(f"{name} must lie strictly between 0 and 1", f"it is {value}", "Use e.g. 0.2.")
    if test_size + validation_size >= 0.9:
        raise InputError(
            "test_size + validation_size must stay below 0.9 to leave rows for training",
            f"they add up to {test_size + validation_size:.2f}", "Lower one of them.",
        )


def class_profile(y) -> dict:
    """Class counts and shares, the imbalance ratio and balanced class weights."""
    counts = pd.Series(np.asarray(y)).value_counts()
    counts = counts.sort_values(ascending=False, kind="stable")
    n, k = int(counts.sum()), len(counts)
    return {
        "counts": {_plain(c): int(v) for c, v in counts.items()},
        "shares": {_plain(c): round(v / n, 4) for c, v in counts.items()},
        "imbalance_ratio": round(float(counts.max() / counts.min()), 2),
        "minority": _plain(counts.index[-1]),
        "majority": _plain(counts.index[0]),
        "class_weight": {_plain(c): round(n / (k * v), 4) for c, v in counts.items()},
    }


def _plain(value):
    """NumPy scalars to plain Python, so profiles and manifests serialise as JSON."""
    return value.item() if isinstance(value, np.generic) else value
