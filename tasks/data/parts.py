"""A table in several Parquet files (a partitioned table): each file read, checked and described where it
lies (on a Dask worker), and the descriptions merged, so that the table is checked as a whole, and its
schema inferred from every row, without any process holding it whole.

A file may hold one class only, or a column with no value: those rules are about the whole
table, and are checked on the merged descriptions. The table's fingerprint is made from the
files' content fingerprints, in order.
"""

from __future__ import annotations

import hashlib

import pandas as pd

from imbalance_flows.tasks.data.schema import Column, Schema, infer_schema
from imbalance_flows.tasks.data.splits import (
    check_label_types,
    identifier_like,
    set_aside,
    split_target,
)
from imbalance_flows.tasks.data.tables import TableRef, fingerprint, read_one
from imbalance_flows.tasks.errors import InputError, preview


def describe_part(file: str, target: str, id_columns=(), drop_columns=()) -> dict:
    """One file of a partitioned table, checked as a part: its rows, content fingerprint, schema, empty columns
    and identifier-like columns."""
    frame = set_aside(read_one(file), target, id_columns, drop_columns)
    if frame.empty:  # writers of partitioned tables leave empty files; they hold nothing to train on
        return {"file": file, "rows": 0}
    X, y = split_target(frame, target, part=True)
    return {"file": file, "rows": len(frame), "fingerprint": fingerprint(frame),
            "schema": infer_schema(X, y, target).model_dump(mode="json"), "label_type": str(y.dtype),
            "empty": [str(name) for name in X.columns if X[name].isna().all()], "identifiers": identifier_like(X)}


def merge_parts(parts: list[dict], path: str, target: str) -> tuple[TableRef, Schema, list[str]]:
    """The partitioned table, its schema, and the columns that look like identifiers in every file."""
    parts = [part for part in parts if part["rows"]]
    if not parts:
        raise InputError("the data must have rows", f"the files of {path!r} have none", "Point to files with data.")
    schemas = [Schema.model_validate(part["schema"]) for part in parts]
    first = parts[0]
    for part, schema in zip(parts, schemas):
        if schema.names != schemas[0].names:
            raise InputError("every file of a partitioned table must have the same columns, in the same order",
                             f"{part['file']!r} has {preview(schema.names)}, {first['file']!r} has "
                             f"{preview(schemas[0].names)}", "Write the files with one schema.")
    columns = []
    for position, name in enumerate(schemas[0].names):
        kinds = {schema.columns[position].kind: part["file"] for part, schema in zip(parts, schemas)
                 if name not in part["empty"]}
        if not kinds:
            rows = sum(part["rows"] for part in parts)
            raise InputError("a feature must have at least one value", f"{name!r} is empty (all NaN) in {rows} rows",
                             "Drop the column.")
        if len(kinds) > 1:
            raise InputError("a column must have one type in every file of a partitioned table",
                             f"{name!r} is " + " but ".join(f"{kind} in {file!r}" for kind, file in kinds.items()),
                             "Convert it to one type in every file.")
        kind = next(iter(kinds))
        categories = sorted({value for schema in schemas for value in schema.columns[position].categories})
        columns.append(Column(name=name, kind=kind, categories=categories if kind == "categorical" else []))
    types = {part["label_type"]: part["file"] for part in parts}
    if len(types) > 1:  # 1 and 1.0 and True would be one class in some places and two in others
        raise InputError("the target must have one type in every file of a partitioned table",
                         f"{target!r} is " + " but ".join(f"{kind} in {file!r}" for kind, file in types.items()),
                         "Write the files with one schema (e.g. the labels as text in all of them).")
    labels = {value for schema in schemas for value in schema.classes}
    check_label_types(pd.Series(list(labels), name=target, dtype=object))
    classes = sorted(labels, key=lambda c: (str(type(c)), c))
    if len(classes) < 2:
        raise InputError("the target needs at least two classes", f"{target!r} holds only {preview(classes)} in "
                         f"all {len(parts)} files", "Check the --target column, or add rows of the other classes.")
    schema = Schema(target=target, columns=columns, classes=classes, image=schemas[0].image)
    digest = hashlib.sha256("".join(part["fingerprint"] for part in parts).encode()).hexdigest()[:16]
    table = TableRef(path=path, fingerprint=digest, n_rows=sum(part["rows"] for part in parts),
                     parts=[part["file"] for part in parts], part_rows=[part["rows"] for part in parts])
    identifiers = [name for name in parts[0]["identifiers"] if all(name in part["identifiers"] for part in parts)]
    return table, schema, identifiers
