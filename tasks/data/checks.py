"""What the ensemble accepts: tables and labels as scikit-learn passes them, and data to score that fits its schema."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import sparse

from imbalance_flows.tasks.data.schema import (
    Schema,
    as_text,
    distinct_texts,
    repeated_names,
)
from imbalance_flows.tasks.errors import InputError, preview


def has_names(X) -> bool:
    """Whether `X` names its columns: a DataFrame, or a table `as_frame` reads as one."""
    return isinstance(X, pd.DataFrame) or callable(getattr(X, "to_pandas", None))


def as_frame(X, names: list[str] | None = None) -> pd.DataFrame:
    """A DataFrame as it is, or an array with positional column names (or `names`, if they fit)."""
    if isinstance(X, pd.DataFrame):
        if isinstance(X.columns, pd.MultiIndex):
            raise InputError("column names must have one level",
                             f"X's columns are a MultiIndex of {X.columns.nlevels} levels "
                             f"(e.g. {X.columns[0]!r})" if len(X.columns) else "X's columns are a MultiIndex",
                             "Join the levels first, e.g. X.columns = ['_'.join(map(str, c)) for c in X.columns].")
        return unique_names(X.rename(columns=str))
    if sparse.issparse(X):
        raise InputError("X must be a dense table", f"it is a sparse {type(X).__name__} of shape {X.shape}",
                         "Convert it with X.toarray(), or pass a DataFrame.")
    if has_names(X):  # a pyarrow (or polars) table: its columns' types and names kept
        return as_frame(X.to_pandas())
    array = np.asarray(X)
    if array.dtype.kind == "S":  # numpy's byte strings as Python bytes, as a DataFrame's column holds them
        array = array.astype(object)
    if array.ndim != 2:
        raise InputError("X must be a table (2-D)", f"it has shape {array.shape}",
                         "Pass a DataFrame; reshape a single feature with X.reshape(-1, 1), a single row with "
                         "X.reshape(1, -1).")
    if names is None or len(names) != array.shape[1]:
        names = [f"x{i}" for i in range(array.shape[1])]
    return pd.DataFrame(array, columns=names)


def unique_names(X: pd.DataFrame) -> pd.DataFrame:
    """`X`, whose column names (as text) must each name one column."""
    if X.columns.is_unique:
        return X
    repeated = repeated_names(X.columns)
    raise InputError("column names must be unique",
                     f"{repeated.index[0]!r} names {int(repeated.iloc[0])} columns"
                     + (f" (and {len(repeated) - 1} more names repeat)" if len(repeated) > 1 else ""),
                     "Rename or drop the copies (names are compared as text: 1 and '1' are one name).")


def as_series(y) -> pd.Series:
    if isinstance(y, pd.Series):
        return _plain_labels(y.reset_index(drop=True).rename("target" if y.name is None else y.name))
    array = np.asarray(y)
    if array.ndim != 1:
        what = (f"it has shape {array.shape}" if array.ndim else "it is None" if y is None
                else f"it is a {type(y).__name__}")
        raise InputError("y must be one column of labels", what, "Pass a 1-D array or Series.")
    # numpy's byte strings as Python bytes, which the label check names (pandas holds no such type)
    return _plain_labels(pd.Series(array.astype(object) if array.dtype.kind == "S" else array, name="target"))


def _plain_labels(y: pd.Series) -> pd.Series:
    """Labels of a type the model's classes keep: half floats as floats (pandas indexes hold no float16), numpy's
    scalars among Python objects as the Python values they are (np.int64(1) as 1, np.True_ as True)."""
    if y.dtype == np.float16:
        return y.astype(np.float32)
    # numpy's scalars are looked for among the first labels (an array of them holds them throughout): millions of
    # text labels pay no pass.
    if y.dtype != object or not any(isinstance(value, np.generic) for value in y.iloc[:1000]):
        return y
    codes, distinct = pd.factorize(y)
    # Each distinct value converted once; an object array, so that pandas infers no new kind (1 stays 1 beside 2.5).
    values = np.empty(len(distinct) + 1, dtype=object)
    values[:-1] = [value.item() if isinstance(value, np.generic) else value for value in distinct]
    values[-1] = np.nan  # a missing label (code -1), refused later by the label check
    return pd.Series(values[codes], index=y.index, name=y.name, dtype=object)


def check_columns(X: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """The columns to score must be exactly the training features (the target may be present)."""
    names = schema.names
    missing = [n for n in names if n not in X.columns]
    ignored = {schema.target, *schema.id_columns, *schema.dropped}
    extra = [c for c in X.columns if c not in names and c not in ignored]
    if missing:
        raise InputError("the data to score must have every feature the model was trained on",
                         f"missing {preview(missing)}", "Add these columns (NaN is fine where a value is unknown).")
    if extra:
        raise InputError("the data to score must have only the model's features",
                         f"unexpected {preview(extra)}", f"Drop them, or copy them to the output with --passthrough; "
                                                         f"the model uses {preview(names)}.")
    return X[names]


class UnseenCategoryWarning(UserWarning):
    """Categories never seen in training were treated as missing."""


def unseen_categories(X: pd.DataFrame, schema: Schema) -> dict[str, pd.Series]:
    """For each categorical column, the rows of each value never seen in training (a value_counts Series)."""
    found = {}
    for column in schema.columns:
        if column.kind != "categorical" or column.name not in X.columns:
            continue
        if set(distinct_texts(X[column.name])) <= set(column.categories):  # the distinct values first: cheap
            continue
        values = as_text(X[column.name])
        unseen = values.notna() & ~values.isin(column.categories)
        if unseen.any():
            found[column.name] = values[unseen].value_counts()
    return found


def describe_unseen(name: str, counts: pd.Series) -> str:
    """'city': 3 rows of 2 new values ['Lyon', 'Nice']"""
    return f"{name!r}: {int(counts.sum())} rows of {len(counts)} new values {preview(sorted(counts.index), 5)}"


def whole_numbers_as_trained(X: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """Categories of whole numbers that arrive as floats (pandas turns a column of integers with a missing value
    into floats) written as training wrote them: 75000.0 is the category '75000' where that is known and
    '75000.0' is not."""
    changed = {}
    for column in schema.columns:
        values = X.get(column.name)
        if column.kind != "categorical" or values is None or not pd.api.types.is_float_dtype(values):
            continue
        known = set(column.categories)
        codes, distinct = pd.factorize(values)  # each distinct value looked at and written once, not each row
        texts = {value: str(int(value)) for value in distinct.astype(object) if float(value).is_integer()
                 and str(int(value)) in known and str(value) not in known}
        if texts:
            written = np.array([*(texts.get(value, str(value)) for value in distinct.astype(object)), None],
                               dtype=object)
            changed[column.name] = pd.Series(written[codes], index=values.index, name=values.name)
    return X.assign(**changed) if changed else X


def check_categories(X: pd.DataFrame, schema: Schema, unknown: str) -> pd.DataFrame:
    """Treat categories never seen in training as missing (unknown='ignore', with a warning), or refuse them."""
    X = whole_numbers_as_trained(X, schema)
    found = unseen_categories(X, schema)
    if not found:
        return X
    if unknown == "error":
        name, counts = next(iter(found.items()))
        known = next(column.categories for column in schema.columns if column.name == name)
        raise InputError(
            f"categorical feature {name!r} must hold categories seen in training",
            f"{preview(sorted(counts.index), 5)} are new (known: {preview(known, 5)})",
            "Fix the values, or score with unknown_categories='ignore' (CLI: --unknown-categories ignore) "
            "to treat them as missing.")
    warnings.warn("categories unseen in training are treated as missing: "
                  + "; ".join(describe_unseen(name, counts) for name, counts in found.items()),
                  UnseenCategoryWarning, stacklevel=3)
    X = X.copy()
    for name, counts in found.items():
        values = as_text(X[name])
        X[name] = values.where(~values.isin(counts.index), None)
    return X
