"""Load, split and stratify: a table's target and features checked, stratified splits that keep every
class, and the class profile that says how imbalanced the data is."""

from __future__ import annotations

import numpy as np
import pandas as pd

from imbalance_flows.tasks.data.schema import column_kind
from imbalance_flows.tasks.errors import LONGEST, InputError, preview, shown


def split_target(frame: pd.DataFrame, target: str, part: bool = False) -> tuple[pd.DataFrame, pd.Series]:
    """Separate features from the target and check both. A `part` of a table (one of its files) may hold one
    class only, or a feature with no value: the rules about the whole table are checked on the whole."""
    if target not in frame.columns:
        raise missing_target(target, frame.columns)
    y = frame[target]
    check_labels(y, min_classes=1 if part else 2)
    X = frame.drop(columns=[target])
    if X.shape[1] == 0:
        raise InputError("the data must have features", "only the target column was found", "Add feature columns.")
    check_features(X, allow_empty=part)
    return X, y


def missing_target(target: str, columns) -> InputError:
    """The error for a target that is none of the columns, with the closest names."""
    import difflib

    close = difflib.get_close_matches(str(target), [str(name) for name in columns], n=1) \
        if len(str(target)) <= LONGEST else []  # no name is that long, and difflib's time grows with it
    return InputError("the target column must exist", f"{shown(target)} is not among the columns {preview(columns)}",
                      (f"Did you mean {close[0]!r}? " if close else "")
                      + "Pass the name of the column that holds the class labels with --target.")


def check_labels(y: pd.Series, min_classes: int = 2) -> None:
    """Labels must be present and of at least two classes."""
    # One pass over the rows: each label's code among the distinct labels (missing: -1). Blank labels are found
    # among the distinct ones (a million rows hold a few classes), named as pandas names them (bytes decoded).
    codes, distinct = pd.factorize(y.array)
    distinct = pd.Series(distinct, name=y.name)
    blank = np.flatnonzero(distinct.astype(object).astype(str).str.strip() == "")
    empty = (codes < 0) | np.isin(codes, blank) if len(blank) else codes < 0
    if empty.any():
        rows = preview(np.flatnonzero(empty).tolist(), limit=5)
        raise InputError(
            "every row needs a class label", f"{int(empty.sum())} rows of {y.name!r} are empty or NaN (rows {rows})",
            "Drop those rows or fill in their labels.",
        )
    check_label_types(distinct)
    if len(distinct) < min_classes:
        raise InputError(
            "the target needs at least two classes", f"{y.name!r} holds only {preview(distinct.tolist())}",
            "Check the --target column, or add rows of the other classes.",
        )


def label_positions(labels, classes) -> np.ndarray:
    """Each label's position in `classes`, -1 where it is none of them (or missing): each distinct label looked up
    once (a million rows hold a few classes; looking up every row's text costs several times as much)."""
    values = labels.array if isinstance(labels, pd.Series) else np.asarray(labels)
    found, distinct = pd.factorize(values)
    return np.append(pd.Index(classes).get_indexer(distinct), -1)[found]


def _type_name(value) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, (int, np.integer)):
        return "int"
    if isinstance(value, (float, np.floating)):
        return "float"
    return "str" if isinstance(value, str) else type(value).__name__


def check_label_types(y: pd.Series) -> None:
    """Labels are all numbers, all booleans or all strings: mixed, `1` and `"1"` would be one class
    in some places and two in others, and `True` would equal `1`. `y`: the labels, or their distinct values."""
    if pd.api.types.is_string_dtype(y.dtype) and y.dtype != object:  # one type: only the spellings to check
        check_label_spellings(pd.unique(y.dropna()), y.name)
        return
    if y.dtype != object and not isinstance(y.dtype, pd.CategoricalDtype):
        if pd.api.types.is_bool_dtype(y.dtype) or (pd.api.types.is_numeric_dtype(y.dtype)
                                                   and not pd.api.types.is_complex_dtype(y.dtype)):
            return
        raise _not_labels(y.name, str(y.dtype), y.iloc[0] if len(y) else None)
    values = pd.unique(np.asarray(y, dtype=object))
    names = {value: _type_name(value) for value in values}
    kinds = {"number" if name in ("int", "float") else name for name in names.values()}
    other = [value for value, name in names.items() if name not in ("int", "float", "bool", "str")]
    if other:
        raise _not_labels(y.name, _type_name(other[0]), other[0])
    if len(kinds) > 1:
        examples = {name: value for value, name in reversed(list(names.items()))}
        raise InputError("the labels must all have one type (numbers, booleans or strings)",
                         f"{y.name!r} holds {', '.join(sorted(examples))} "
                         f"(e.g. {', '.join(repr(examples[name]) for name in sorted(examples))})",
                         "Convert the labels to one type first, e.g. y.astype(str).")
    check_label_spellings(values, y.name)


def _not_labels(name, kind: str, example) -> InputError:
    convert = "y.str.decode('utf-8')" if kind == "bytes" else "y.astype(str)"
    return InputError("class labels must be numbers, booleans or strings",
                      f"{name!r} holds {kind} values (e.g. {example!r})",
                      f"Convert them first, e.g. {convert}, or pick another --target column.")


def check_label_spellings(labels, name) -> None:
    """Text labels that differ only by case or surrounding spaces ('yes', 'Yes', 'yes ') are one class written
    several ways, not several classes."""
    spellings: dict[str, list[str]] = {}
    for label in labels:
        if isinstance(label, str):
            spellings.setdefault(label.strip().casefold(), []).append(label)
    clashes = [", ".join(repr(label) for label in sorted(found)[:-1]) + f" and {sorted(found)[-1]!r}"
               for found in spellings.values() if len(found) > 1]
    if clashes:
        raise InputError("class labels must differ by more than case or surrounding spaces",
                         f"{'; '.join(clashes[:3])} are labels of {name!r}",
                         "Write each class one way (e.g. df[target].str.strip().str.lower()), or rename one if they "
                         "are truly different classes.")


def check_features(X: pd.DataFrame, allow_empty: bool = False) -> None:
    """Reject features that no model can learn from: none, all missing, infinite or huge values, numbers mixed with
    text."""
    if not X.shape[1]:
        # the value as scikit-learn words it, which its estimator checks look for
        raise InputError("the data must have features",
                         f"found 0 feature(s) (shape={X.shape}) while a minimum of 1 is required",
                         "Pass at least one feature column.")
    empty = np.zeros(X.shape[1], dtype=bool) if allow_empty else _empty_columns(X)
    for position, (name, dtype) in enumerate(X.dtypes.items()):
        if empty[position]:
            raise InputError(
                "a feature must have at least one value", f"{name!r} is empty (all NaN) in {len(X)} rows",
                "Drop the column.",
            )
        # Text only: a categorical column's categories are the user's own (`.astype('category')` keeps codes such as
        # '00123' or 'unknown' as categories).
        if dtype == object or pd.api.types.is_string_dtype(dtype):
            check_numbers_hold_no_text(X.iloc[:, position])
    check_finite(X)


def _empty_columns(X: pd.DataFrame) -> np.ndarray:
    """Which columns have no value, by position: a value among the first rows settles a column without a pass over
    millions, and the first rows are looked at for every column at once (a wide table has hundreds)."""
    empty = ~X.iloc[:LOOK].notna().any().to_numpy()
    for position in np.flatnonzero(empty):
        empty[position] = bool(X.iloc[:, position].isna().all())
    return empty


LOOK = 1000  # rows looked at first, where a column's first values can settle a check
NUMBER_SHARE = 0.95  # a text column whose values are nearly all numbers is a numeric column with typos


def check_numbers_hold_no_text(column: pd.Series) -> None:
    """Refuse a column of numbers with a few text values ('n/a', '?'): it would silently become a category."""
    if column.dtype != object and not pd.api.types.is_string_dtype(column):
        return
    # A cheap look first, for millions of rows: the first LOOK values present (among the first 10 × LOOK rows where
    # they are there).
    first = column.iloc[:10 * LOOK].dropna()
    first = first if len(first) >= LOOK or len(column) <= 10 * LOOK else column.dropna()
    if _number_share(first.iloc[:LOOK]) < NUMBER_SHARE / 2:
        return  # mostly text: a categorical column
    present = _present(column)
    numbers = pd.to_numeric(present, errors="coerce")
    text = present[numbers.isna()]
    if len(present) >= 20 and len(text) and len(text) <= (1 - NUMBER_SHARE) * len(present):
        raise InputError("a column of numbers must hold only numbers",
                         f"{column.name!r} has {len(text)} values that are not "
                         f"({preview(pd.unique(text.astype(str)).tolist(), 5)})",
                         "Blank them out (missing numbers are imputed), or drop the column.")


def _number_share(values: pd.Series) -> float:
    """The share of `values` (none missing) that read as numbers: each distinct value read once (a categorical
    column holds a few, repeated)."""
    if not len(values):
        return 0.0
    try:
        counts = values.value_counts(dropna=False)
    except TypeError:  # values that cannot be hashed (lists, dicts): read one by one
        return float(pd.to_numeric(values, errors="coerce").notna().mean())
    numbers = pd.to_numeric(pd.Series(counts.index, dtype=object), errors="coerce").notna().to_numpy()
    return float(counts.to_numpy()[numbers].sum() / len(values))


FLOAT32_MAX = float(np.finfo(np.float32).max)


def check_finite(X: pd.DataFrame) -> None:
    """Numeric features may be missing (NaN) but not infinite."""
    for name, dtype in X.dtypes.items():
        # Integers and booleans are always finite and within float32's range (a uint64's largest is 1.8e19).
        if isinstance(dtype, np.dtype) and dtype.kind in "biu":
            continue
        column = X[name]
        if column_kind(column) == "numeric" and not pd.api.types.is_bool_dtype(column):
            # numpy's floats as they are (no copy); every finite float32 lies within its range.
            plain = column.dtype in (np.float32, np.float64)
            values = column.to_numpy() if plain else column.to_numpy(dtype=float, na_value=np.nan)
            infinite = np.isinf(values)
            if infinite.any():
                raise InputError(
                    "numeric features must be finite", f"{name!r} has {int(infinite.sum())} infinite values",
                    "Replace them with NaN (they are then imputed) or with a large finite value.",
                )
            if values.dtype == np.float32:
                continue
            huge = np.abs(values) > FLOAT32_MAX  # trees and networks compute in 32-bit floats
            if huge.any():
                raise InputError(
                    "numeric features must lie within ±3.4e+38 (32-bit floats)",
                    f"{name!r} has {int(huge.sum())} value{'s' if huge.sum() > 1 else ''} beyond "
                    f"(e.g. {values[huge][0]:.3g})", "Rescale the column (e.g. its logarithm) or clip it.",
                )


def _sorted_labels(y: np.ndarray) -> list:
    return sorted(pd.unique(y), key=lambda c: (str(type(c)), c))


def check_rows_per_class(y, needed: int, purpose: str, where: str = "", totals: dict | None = None) -> None:
    """Every class must have at least `needed` rows for `purpose`; the first short class is named.

    `where` says which rows were counted (" in the file", " in the training split"); `totals`,
    the rows of each class in the whole file, is quoted beside a split's count.
    """
    y = np.asarray(y)
    for label in _sorted_labels(y):
        count = int(np.sum(y == label))
        if count < needed:
            total = f" ({totals[label]} in the file)" if totals and label in totals else ""
            raise InputError(f"each class needs at least {needed} rows for {purpose}",
                             f"class {plain(label)!r} has {count}{where}{total}",
                             "Collect more rows of it, merge it into a related class, or drop its rows.")


def count_distinct(keys) -> int:
    """How many different values an array of integers (row fingerprints, positions) holds, by sorting a copy:
    numpy 2.4's `np.unique` without `return_*` takes about 100 × as long on 10M distinct fingerprints."""
    ordered = np.sort(np.asarray(keys).ravel())
    return int(np.count_nonzero(ordered[1:] != ordered[:-1])) + 1 if len(ordered) else 0


def stratified_indices(y, fractions: list[float], random_state: int = 0, where: str = "",
                       groups=None) -> list[np.ndarray]:
    """Split row positions by class: the rest first, then one part per fraction.

    Every class appears in every part (at least one row each), so a rare class is
    never missing from validation or test. Rows are shuffled with `random_state`.
    With `groups` (one key per row, such as `schema.row_hashes`: copies of a row share
    it), the rows of a group stay in one part: the split is drawn over one row of each
    group, and no part holds a copy of another part's row. Where most rows are copies
    (`copies_kept_together`), rows are split one by one instead.
    """
    y = np.asarray(y)
    if groups is not None and count_distinct(groups) < len(y):  # copies to keep together, perhaps
        _, first, inverse = np.unique(np.asarray(groups), return_index=True, return_inverse=True)
        if len(first) < len(y) and copies_kept_together(len(y), len(first)):
            parts = stratified_indices(y[first], fractions, random_state, " counting copies once" + where)
            part = np.zeros(len(first), dtype=np.int8)
            for i, rows in enumerate(parts):
                part[rows] = i
            return [np.flatnonzero(part[inverse.ravel()] == i) for i in range(len(parts))]
    rng = np.random.default_rng(random_state)
    needed = len(fractions) + 1
    check_rows_per_class(y, needed, f"a stratified {needed}-way split", where)
    part = np.zeros(len(y), dtype=np.int8)  # each row's part: read back in order, the parts need no sort
    for label in _sorted_labels(y):
        rows = rng.permutation(np.flatnonzero(y == label))
        sizes = [max(1, int(round(len(rows) * f))) for f in fractions]
        while sum(sizes) > len(rows) - 1:  # Keep at least one row for training.
            sizes[int(np.argmax(sizes))] -= 1
        start = len(rows) - sum(sizes)
        for i, size in enumerate(sizes, start=1):
            part[rows[start:start + size]] = i
            start += size
    return [np.flatnonzero(part == i) for i in range(needed)]


# At most this share of the rows may be copies of other rows for copies to be kept on one side of a split. A table
# whose rows are mostly copies holds few distinct rows (few-valued features): kept together, each distinct row with
# all its copies would fall on one side, and the test split would hold value combinations whose labels the training
# split never saw with them.
MOST_COPIES = 0.5


def copies_kept_together(rows: int, distinct: int) -> bool:
    """Whether a split of `rows` rows, `distinct` of them different, keeps each row's copies on one side."""
    return rows - distinct <= MOST_COPIES * rows


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
        "counts": {plain(c): int(v) for c, v in counts.items()},
        "shares": {plain(c): round(v / n, 4) for c, v in counts.items()},
        "imbalance_ratio": round(float(counts.max() / counts.min()), 2),
        "minority": plain(counts.index[-1]),
        "majority": plain(counts.index[0]),
        "class_weight": {plain(c): round(n / (k * v), 4) for c, v in counts.items()},
    }


def plain(value):
    """NumPy scalars to plain Python, so profiles and manifests serialise as JSON."""
    return value.item() if isinstance(value, np.generic) else value


def set_aside(frame: pd.DataFrame, target: str, id_columns=(), drop_columns=()) -> pd.DataFrame:
    """The table without its identifier and dropped columns, refusing names that are not columns or the target."""
    named = [*id_columns, *drop_columns]
    missing = [name for name in named if name not in frame.columns]
    if missing:
        raise InputError("id and dropped columns must be columns of the data", f"{preview(missing)} are not "
                         f"among {preview(list(frame.columns))}", "Check the spelling of --id-column and --drop.")
    if target in named:
        raise InputError("the target cannot be an id or dropped column", f"{target!r} is marked so",
                         "Remove it from --id-column / --drop.")
    return frame.drop(columns=named)


def constant_columns(X: pd.DataFrame, minimum_rows: int = 20) -> list[str]:
    """Columns holding one value in every row (missing values aside): no split or weight can use them."""
    if len(X) < minimum_rows:
        return []
    return [str(name) for name in X.columns if _one_value(X[name])]


def _one_value(column: pd.Series) -> bool:
    """Whether every value present is the same (and one is): for numbers, their least and largest are equal (no
    hashing of every value, as counting distinct ones does). NumPy's `fmin` and `fmax` pass over NaN without the
    mask pandas' `min` builds: 10M rows × 30 float32 columns took 0.13 s against 0.54 s (by hand)."""
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        if isinstance(column.dtype, np.dtype) and len(column):
            values = column.to_numpy()
            return bool(np.fmin.reduce(values) == np.fmax.reduce(values))  # all NaN: NaN, equal to nothing
        return bool(column.min() == column.max())  # NaN (nothing present) equals nothing
    present = column.dropna()
    return bool(len(present)) and bool((present == present.iloc[0]).all())


def numbers_as_text(X: pd.DataFrame) -> dict[str, tuple[int, str]]:
    """Columns that hold only numbers, as Python objects (as `astype(object)` or JSON leave them) or as text
    ('1.5', with blanks perhaps): such a column is categorical, so each holds as many categories as distinct
    numbers. Given per column: the distinct values and how the numbers are held ("objects" or "text")."""
    found = {}
    for name, dtype in X.dtypes.items():
        if dtype != object and not pd.api.types.is_string_dtype(dtype):
            continue
        column = X[name]
        kind = pd.api.types.infer_dtype(column, skipna=True)
        if dtype == object and kind in ("integer", "floating", "mixed-integer-float", "decimal"):
            found[str(name)] = (int(column.nunique()), "objects")
        elif kind in ("string", "mixed", "mixed-integer") and _all_numbers(column):
            found[str(name)] = (int(column.nunique()), "text")
    return found


def _all_numbers(column: pd.Series) -> bool:
    """Whether every value of a column of text (perhaps beside numbers) that is not missing or blank text reads as a
    finite number (some do). Codes written with leading zeros ('00123') and columns with booleans are not numbers.
    The first values present settle most columns without a pass over millions."""
    first = _present(column.iloc[:10 * LOOK])
    if not len(first) and len(column) > 10 * LOOK:
        first = _present(column)
    first = first.iloc[:LOOK]
    if not len(first) or _number_share(first) < 1.0 or any(isinstance(value, (bool, np.bool_)) for value in first) \
            or first.astype(str).str.match(r"\s*[+-]?0\d").any():
        return False
    numbers = pd.to_numeric(_present(column), errors="coerce")
    return bool(numbers.notna().all() and np.isfinite(numbers.to_numpy(dtype=float)).all())


def _present(values: pd.Series) -> pd.Series:
    """The values that are neither missing nor blank text."""
    values = values.dropna()
    return values[values.astype(str).str.strip() != ""]


def numbers_as_text_warning(name: str, distinct: int, held: str = "objects") -> str:
    if held == "text":
        return (f"Column {name!r} holds only numbers, some or all as text: it is treated as {distinct} "
                f"categor{'y' if distinct == 1 else 'ies'}, and a number unseen in training is scored as missing. "
                f"Convert it with pd.to_numeric(X[{name!r}], errors='coerce') to treat it as numbers (blanks become "
                "missing), or with .astype('category') to keep it as categories.")
    return (f"Column {name!r} holds numbers as Python objects: it is treated as {distinct} "
            f"categor{'y' if distinct == 1 else 'ies'}, and a number unseen in training is scored as missing. Convert "
            f"it with pd.to_numeric(X[{name!r}]) to treat it as numbers, or with .astype('category') to keep it as "
            "categories.")


def identifier_like(X: pd.DataFrame, minimum_rows: int = 20) -> list[str]:
    """Columns that look like identifiers: whole numbers or text, a different value in every row.

    Trained on, such a column is a category of as many levels as rows (or a meaningless
    number), and every new identifier is unseen at scoring time.
    """
    if len(X) < minimum_rows:
        return []
    found = []
    for name in X.columns:
        column = X[name]
        kind = pd.api.types.infer_dtype(column, skipna=False)
        if kind in ("integer", "string") and column.notna().all() and column.is_unique:
            found.append(str(name))
    return found
