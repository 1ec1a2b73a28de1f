"""What a model is trained on: the target, the feature columns (numeric or categorical) and the classes,
inferred from a table, and the values as the members see them."""

from __future__ import annotations

import re
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel

from imbalance_flows.tasks.errors import InputError, preview

MISSING_CATEGORY = "(missing)"


class Column(BaseModel):
    """One feature: its name, whether it is numeric or categorical, and the categories seen."""

    name: str
    kind: Literal["numeric", "categorical"]
    categories: list[str] = []


class ImageInfo(BaseModel):
    """The shape of the images whose pixels the feature columns hold, row by row (see imbalance_flows.tasks.data.images)."""

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
    id_columns: list[str] = []  # identifiers: not features; written first beside the scores, to join them back
    dropped: list[str] = []  # columns left out of training: ignored where they appear in data to score
    missing_values: list[str] = []  # CSV text read as a missing value in any column, besides an empty field

    @property
    def names(self) -> list[str]:
        return [column.name for column in self.columns]

    @property
    def categorical(self) -> list[str]:
        return [column.name for column in self.columns if column.kind == "categorical"]


def repeated_names(names) -> pd.Series:
    """The names given more than once among `names` (column names), with how many times, the most given first: empty
    where each is given once."""
    counts = pd.Series(list(names), dtype=object).value_counts()
    return counts[counts > 1]


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


def infer_schema(X: pd.DataFrame, y: pd.Series, target: str | None = None) -> Schema:
    """Describe the features and classes of a training table."""
    columns = []
    for name, column in X.items():
        kind = column_kind(column)
        categories = distinct_texts(column) if kind == "categorical" else []
        columns.append(Column(name=str(name), kind=kind, categories=categories))
    classes = sorted(pd.unique(y).tolist(), key=lambda c: (str(type(c)), c))
    if target is None:  # the labels' own name (0 is one; None and '' are none)
        target = "target" if y.name is None or y.name == "" else y.name
    return Schema(target=str(target), columns=columns, classes=classes,
                  image=image_info_from_columns(list(X.columns)))


def as_text(series: pd.Series, missing: str | None = None) -> pd.Series:
    """Values as Python strings, missing ones as `missing` (None by default).

    Text columns convert each distinct value once; mixed ones value by value, since values
    that are equal but print differently (1, 1.0, True) must keep their own text.
    """
    if series.dtype == object and pd.api.types.infer_dtype(series, skipna=False) == "string":
        return series  # strings only, none missing: their own texts already (no copy)
    coded = _coded_texts(series)
    if coded is None:
        return series.astype(object).where(series.notna(), None).map(lambda v: missing if v is None else str(v))
    codes, texts = coded
    text = np.array([*texts, missing], dtype=object)  # code -1: missing
    return pd.Series(text[codes], index=series.index, name=series.name, dtype=object)


def distinct_texts(series: pd.Series) -> list[str]:
    """The distinct texts of a column's values as `as_text` gives them, sorted, missing values left out; of a text
    column, from its distinct values alone."""
    if not _one_text_each(series):
        return sorted(set(as_text(series).dropna()))
    return sorted(_texts(pd.Series(pd.unique(series)).dropna(), series))


def _coded_texts(series: pd.Series) -> tuple[np.ndarray, list[str]] | None:
    """(each value's code, -1 where missing; the text of each code) where every distinct value prints one way,
    None where values must be converted one by one."""
    if not _one_text_each(series):
        return None
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    return codes, _texts(uniques, series)


def _plain(series: pd.Series) -> bool:
    """Integers or booleans of one numpy type."""
    return isinstance(series.dtype, np.dtype) and series.dtype.kind in "biu"


def _one_text_each(series: pd.Series) -> bool:
    """Every distinct value prints one way: strings, and integers and booleans of one numpy type (not floats: 0.0
    and -0.0 are one value but two texts)."""
    return _plain(series) or pd.api.types.infer_dtype(series, skipna=True) in ("string", "empty")


def _texts(values, series: pd.Series) -> list[str]:
    """The texts of distinct values of `series`; integers and booleans as Python objects first, as the value-by-value
    path converts them."""
    return [str(value) for value in (pd.Series(values).astype(object) if _plain(series) else values)]


SMALL_TABLE = 1_000_000  # values: where a copy of some columns before converting them costs little memory
EXACT_IN_FLOAT32 = {np.dtype(kind) for kind in ("float32", "bool", "int8", "uint8", "int16", "uint16")}


def coerce(X: pd.DataFrame, schema: Schema, keep_float32: bool = False) -> pd.DataFrame:
    """Give every column the type the members expect: floats, or text with a missing marker.

    With `keep_float32`, numbers that came as float32 stay float32 (half the memory; trees
    compute in float32 anyway) where every numeric column fits float32 exactly; otherwise,
    and for fingerprints, they become float64.
    """
    # Columns already held as numbers become floats in one block (wide tables have hundreds), one
    # array that the frame then holds as it is: on a large table filled column by column, so that
    # nothing is copied beyond the floats themselves.
    held = X.dtypes  # one lookup: a column at a time costs about 20 µs each
    ready = [c.name for c in schema.columns if c.kind == "numeric" and (
        pd.api.types.is_bool_dtype(held[c.name]) or pd.api.types.is_numeric_dtype(held[c.name]))]
    dtypes = {held[name] for name in ready}
    single = keep_float32 and np.dtype(np.float32) in dtypes and dtypes <= EXACT_IN_FLOAT32
    wanted = np.dtype(np.float32 if single else float)
    if dtypes <= {wanted}:
        # Already the floats the members take: the columns as they are (copy-on-write: no copy unless written),
        # where a copy of a large table is most of the time spent here.
        block = X[ready]
    else:
        if list(X.columns) == ready or len(X) * len(ready) <= SMALL_TABLE:
            # pandas converts a frame block by block (a column at a time costs about 0.1 ms each: 40 ms on a table
            # of 376 columns), into a new array, column-major as below; taking some columns copies them first.
            values = (X if list(X.columns) == ready else X[ready]).to_numpy(dtype=wanted, na_value=np.nan)
        else:
            values = np.empty((len(X), len(ready)), dtype=wanted, order="F")
            for position, name in enumerate(ready):
                values[:, position] = X[name].to_numpy(dtype=wanted, na_value=np.nan)
        block = pd.DataFrame(values, columns=ready, index=X.index, copy=False)
    if len(ready) == len(schema.columns):
        return block if ready == schema.names else block[schema.names]
    # Columns side by side as they are (one block each): stacking text columns into one block copies every value.
    out = {}
    for column in schema.columns:
        values = X[column.name]
        if column.name in block:
            continue
        if column.kind == "numeric":
            numbers = pd.to_numeric(values, errors="coerce").astype(float)
            bad = numbers.isna() & values.notna()
            if bad.any():  # blank text is a missing number, as in training
                bad &= values.astype(str).str.strip() != ""
            if bad.any():
                raise InputError(f"numeric feature {column.name!r} must hold numbers",
                                 f"found {preview(values[bad].unique()[:5].tolist(), 5)}",
                                 "Fix those values, or leave them blank (missing numbers are imputed).")
            out[column.name] = numbers
        else:
            out[column.name] = as_text(values, missing=MISSING_CATEGORY)
    return pd.concat([block, *(values.rename(name) for name, values in out.items())], axis=1)[schema.names]


def row_hashes(frame: pd.DataFrame, schema: Schema, labels: pd.Series | None = None) -> np.ndarray:
    """One 64-bit fingerprint per row of features and label (the target column, or `labels` given beside the
    features), the same whatever file the row came from.

    Values are hashed as the members see them (numbers as floats, categories as text),
    so a row read from a larger CSV, where a column's type may have widened, still matches.
    The fingerprints are pandas' `hash_pandas_object` of that table (numbers as float64, then the label as text,
    index left out), which saved versions keep: numbers are hashed here a block of rows at a time, in place, where
    pandas converts the table to float64 and hashes each whole column through temporary arrays
    (bench/results/row_fingerprints.md).
    """
    label_hashes = _label_hashes(frame[schema.target] if labels is None else labels)
    numbers = _plain_numbers(frame, schema)
    if numbers is None:  # numbers held as text or in extension types: coerced as the members' are
        features = coerce(frame[schema.names], schema)
        numbers = {column.name: features[column.name].to_numpy() for column in schema.columns
                   if column.kind == "numeric"}
        texts = {column.name: _hashed(features[column.name]) for column in schema.columns if column.kind != "numeric"}
    else:
        texts = {column.name: _hashed(as_text(frame[column.name], missing=MISSING_CATEGORY))
                 for column in schema.columns if column.kind != "numeric"}
    return _combined([numbers.get(name) for name in schema.names], [texts.get(name) for name in schema.names],
                     label_hashes, len(frame))


def _label_hashes(labels: pd.Series) -> np.ndarray:
    """pandas' hash of each label's text (missing: ""), each distinct label turned into text and hashed once."""
    if isinstance(labels.dtype, np.dtype) and labels.dtype.kind in "biu":  # each value prints one way
        codes, values = pd.factorize(labels.to_numpy())
        texts = as_text(pd.Series(values)).to_numpy()
    else:
        codes, texts = pd.factorize(as_text(labels, missing="").to_numpy())
    return _hashed(pd.Series(texts))[codes]


def _hashed(series: pd.Series) -> np.ndarray:
    """pandas' hash of each value of a column (`hash_pandas_object`, index left out)."""
    return pd.util.hash_pandas_object(series, index=False).to_numpy(dtype=np.uint64)


def _plain_numbers(frame: pd.DataFrame, schema: Schema) -> dict | None:
    """The numeric features' values as numpy arrays that become float64 by assignment, as `coerce` converts them
    (numbers and booleans of numpy types); None where any needs `coerce` (text, pandas' extension types)."""
    out = {}
    for column in schema.columns:
        if column.kind != "numeric":
            continue
        values = frame[column.name]
        if not isinstance(values.dtype, np.dtype) or values.dtype.kind not in "biuf":
            return None
        out[column.name] = values.to_numpy()
    return out


# Rows hashed at once by `_combined`: its three float64 / uint64 buffers stay in the processor's cache.
HASH_BLOCK = 1 << 15
_MIX = (np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB))
_NAN = np.array(np.nan).view(np.uint64)


def _combined(numbers: list, texts: list, label_hashes: np.ndarray, n_rows: int) -> np.ndarray:
    """Row fingerprints as `hash_pandas_object` of a table gives them (pandas' `combine_hash_arrays` of each
    column's hashes, the label's last): `numbers[i]` a column's values (float64 once assigned), or None where
    `texts[i]` holds its hashes already."""
    count = len(numbers) + 1
    out = np.empty(n_rows, dtype=np.uint64)
    values, scratch = np.empty(min(n_rows, HASH_BLOCK)), np.empty(min(n_rows, HASH_BLOCK), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for start in range(0, n_rows, HASH_BLOCK):
            stop = min(n_rows, start + HASH_BLOCK)
            block, mult = out[start:stop], np.uint64(1_000_003)
            block[:] = 0x345678
            for position, column in enumerate([*numbers, None]):
                if column is not None:
                    # As float64, -0.0 made 0.0 by adding 0.0 and every NaN given one bit pattern, as pandas does.
                    floats = np.add(column[start:stop], 0.0, out=values[:stop - start])
                    hashes = floats.view(np.uint64)
                    if column.dtype.kind == "f" and np.isnan(column[start:stop]).any():
                        hashes[np.isnan(floats)] = _NAN
                    _mix(hashes, scratch[:stop - start])
                else:
                    hashes = (texts[position] if position < len(numbers) else label_hashes)[start:stop]
                block ^= hashes
                block *= mult
                mult += np.uint64(82520 + 2 * (count - position))
            block += np.uint64(97531)
    return out


def _mix(hashes: np.ndarray, scratch: np.ndarray) -> None:
    """pandas' spreading of 64-bit values over 64-bit hashes (`hash_array`), in place."""
    for shift, factor in ((30, _MIX[0]), (27, _MIX[1]), (31, None)):
        np.right_shift(hashes, np.uint64(shift), out=scratch)
        hashes ^= scratch
        if factor is not None:
            hashes *= factor
