"""Batch scoring: a file in, labels and class probabilities out, a chunk at a time."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from imbalance_flows.tasks import storage
from imbalance_flows.tasks.data.checks import (
    UnseenCategoryWarning,
    unseen_categories,
    whole_numbers_as_trained,
)
from imbalance_flows.tasks.data.images import (
    PATH_COLUMN,
    is_image_folder,
    iter_image_chunks,
)
from imbalance_flows.tasks.data.schema import ImageInfo
from imbalance_flows.tasks.data.tables import (
    NA_MARKERS,
    arrow_frame,
    check_not_empty,
    dictionary_columns,
    expand,
    file_format,
    unreadable,
)
from imbalance_flows.tasks.disk import room_to_write, writable_folder
from imbalance_flows.tasks.errors import DataWarning, InputError, preview
from imbalance_flows.tasks.model.ensemble import VotingEnsemble
from imbalance_flows.tasks.store.integrity import MANIFEST

OUTPUT_FORMATS = (".csv", ".parquet")


def iter_chunks(path: str, chunk_rows: int, text_columns: list[str] = (),
                image: ImageInfo | None = None, missing: list[str] = ()) -> Iterator[pd.DataFrame]:
    """Read CSV or Parquet files (a path, URL or glob) `chunk_rows` rows at a time.

    `text_columns` (a model's categorical features) are read from CSV as text, as in
    training: guessed chunk by chunk, a code column with blanks would read as 1.0 in one
    chunk and 1 in the next. A local folder is read as images of shape `image` (see
    `imbalance_flows.tasks.data.images.iter_image_chunks`), with a `path` column.
    """
    if is_image_folder(path):
        yield from iter_image_chunks(path, chunk_rows, image)
        return
    for file in expand(path):
        fmt = file_format(file)
        check_not_empty(file)
        chunks = (_parquet_chunks(file, chunk_rows) if fmt == "parquet"
                  else _csv_chunks(file, chunk_rows, text_columns, missing))
        while True:
            try:
                chunk = next(chunks)
            except StopIteration:
                break
            except InputError:
                raise
            except Exception as error:  # the parsers' many types: a damaged or foreign file
                raise unreadable(file, fmt, error) from error
            yield chunk


def count_rows(path: str) -> int | None:
    """The rows scoring `path` will give, when cheap to know: Parquet's metadata, an image folder's files,
    an uncompressed local CSV's lines; None otherwise (remote or compressed CSV, or a file that does not
    read: scoring then says what is wrong with it)."""
    try:
        return _count_rows(path)
    except Exception:  # a missing, damaged or foreign file: any reader's error; scoring reports it properly
        return None


def _count_rows(path: str) -> int | None:
    from imbalance_flows.tasks.data.images import image_files

    if is_image_folder(path):
        return len(image_files(path))  # the files iter_image_chunks scores
    total = 0
    for file in expand(path):
        if file_format(file) == "parquet":
            import fsspec

            with fsspec.open(file, "rb") as handle:
                total += pq.ParquetFile(handle).metadata.num_rows
        elif file.endswith(".csv") and os.path.isfile(file.removeprefix("file://")):
            with open(file.removeprefix("file://"), "rb") as handle:
                lines = sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b""))
            total += max(lines - 1, 0)  # the header; a last line without a newline is off by one at most
        else:
            return None
    return total


# Read a Parquet file batch by batch without keeping what was read: with pyarrow's default pre-buffering,
# iter_batches held every column chunk read so far (1.4 GiB after 10M rows of 30 float32 features).
STREAMING = {"pre_buffer": False, "buffer_size": 1 << 22}


def _parquet_chunks(file: str, chunk_rows: int) -> Iterator[pd.DataFrame]:
    import fsspec

    with fsspec.open(file, "rb") as handle:
        for batch in pq.ParquetFile(handle, **STREAMING).iter_batches(batch_size=chunk_rows):
            yield arrow_frame(batch, file)


def _csv_chunks(file: str, chunk_rows: int, text_columns: list[str], markers: list[str] = ()) -> Iterator[pd.DataFrame]:
    """A CSV file's rows read as training read them: text columns as text, where only an empty field and the
    model's `markers` are missing; in the others, pandas' missing markers too (`NA_MARKERS`). A first column
    without a name is a saved index."""
    header = pd.read_csv(file, nrows=0).columns
    types = {name: str for name in text_columns if name in header}
    missing = {name: ["", *markers] if name in types else ["", *NA_MARKERS, *markers] for name in header}
    columns = list(header)
    if columns and str(columns[0]).startswith("Unnamed: 0"):
        warnings.warn(f"The first column of {file!r} has no name: a saved index, left out.", DataWarning, stacklevel=2)
        columns = columns[1:]
    yield from pd.read_csv(file, chunksize=chunk_rows, dtype=types, keep_default_na=False, na_values=missing,
                           usecols=columns)


def score_frame(model: VotingEnsemble, frame: pd.DataFrame, version: str | None = None,
                passthrough: list[str] = (), priors=None) -> pd.DataFrame:
    """The model's id columns and `passthrough` columns first, then the predicted label and one probability per class.

    With `priors` (class shares of the scored rows, in class order), probabilities and a
    cost-tuned model's decisions are adjusted to them (see `VotingEnsemble.vote`).
    """
    carried = [*[name for name in model.schema_.id_columns if name in frame.columns],
               *[name for name in passthrough if name not in model.schema_.id_columns]]
    missing = [name for name in carried if name not in frame.columns]
    if missing:
        raise InputError("passthrough columns must be columns of the data to score", f"{missing} are not",
                         "Check the spelling of --passthrough.")
    own = score_columns(model, version)
    clash = [name for name in carried if name in own]
    if clash:
        raise InputError("the scores' own columns cannot be carried beside them",
                         f"{preview(clash)} would be overwritten by the scores ({preview(own)})",
                         "Rename that column in the data to score (an id column: retrain with it renamed), or leave "
                         "it out of --passthrough.")
    features = frame.drop(columns=[name for name in passthrough if name not in model.schema_.names])
    probas = model.member_probas(features, voting_only=True)  # once, for the label and the probabilities
    out = frame[carried].copy()
    predicted, proba = model.scored(probas, priors)
    out[label_column(model)] = predicted
    if proba is not None:
        for name, column in zip(proba_columns(model), proba.T):
            out[name] = column
    if version is not None:
        out["model_version"] = version
    return out


def warn_missing_ids(model: VotingEnsemble, columns) -> None:
    """Tell when the data to score lacks the model's id columns: its scores then join back by position only."""
    absent = [name for name in model.schema_.id_columns if name not in columns]
    if absent:
        warnings.warn(f"The id column{'s' if len(absent) > 1 else ''} {preview(absent)} of the model "
                      f"{'are' if len(absent) > 1 else 'is'} not in the data to score: the scores hold none, so they "
                      "join back to the rows by position only.", DataWarning, stacklevel=3)


def score_columns(model: VotingEnsemble, version: str | None = None) -> list[str]:
    """The columns scoring writes: the predicted label, one probability per class (soft voting), the version."""
    proba = proba_columns(model) if model.voting != "hard" else []
    return [label_column(model), *proba, *(["model_version"] if version is not None else [])]


def label_column(model: VotingEnsemble) -> str:
    """The scores' column of predicted labels."""
    return f"predicted_{model.schema_.target}"


def proba_columns(model: VotingEnsemble) -> list[str]:
    """The scores' columns of probabilities, one per class in class order (soft voting)."""
    return [f"proba_{label}" for label in model.classes_]


def probabilities(model: VotingEnsemble, scored: pd.DataFrame):
    """The `proba_*` columns of scored rows as an array in class order, or None (hard voting)."""
    names = proba_columns(model)
    return scored[names].to_numpy(float) if all(name in scored.columns for name in names) else None


def tally_probabilities(model: VotingEnsemble, scored: pd.DataFrame, priors=None):
    """The calibrated probabilities as the model made them (before any prior adjustment), for the prior
    estimate of the drift report; None when the model has none calibrated."""
    from imbalance_flows.tasks.model.calibrate import adjust_proba

    proba = probabilities(model, scored)
    if proba is None or model.calibration_ is None:
        return None
    return proba if priors is None else adjust_proba(proba, priors, model.class_prior_)  # undo the adjustment


def estimated_priors(model: VotingEnsemble, data: str, chunk_rows: int, rows: int) -> np.ndarray:
    """The class priors of `data` by EM on the calibrated probabilities of its first `rows` rows."""
    from imbalance_flows.tasks.monitoring.drift import estimate_priors

    taken = []
    for chunk in iter_chunks(data, chunk_rows, model.schema_.categorical, model.schema_.image,
                             model.schema_.missing_values):
        if chunk.empty:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UnseenCategoryWarning)
            # Only the features: passthrough columns and an image folder's paths are not the model's business.
            features = chunk[[name for name in chunk.columns if name in set(model.schema_.names)]]
            taken.append(model.combined(model.member_probas(features, voting_only=True)))
        if sum(len(t) for t in taken) >= rows:
            break
    if not taken:
        raise InputError("the data to score must have rows", f"{data!r} has none", "Point to a file with data.")
    return estimate_priors(np.concatenate(taken)[:rows], model.class_prior_)


def _same_place(path: str) -> str:
    """A path or URL in one spelling: a local file's real path, a URL without a trailing slash."""
    return os.path.realpath(storage.local(path)) if storage.is_local(path) else str(path).rstrip("/")


def _check_output(out: str, data: str) -> None:
    """Refuse an output that is a folder, or that is (one of) the files being scored: writing it would replace
    the very data it is read from."""
    if storage.is_dir(out):
        raise InputError("the output must be a file", f"{out!r} is a folder",
                         "Name a file in it, e.g. --out " + storage.join(out, "scores.parquet") + ".")
    if storage.is_local(out):
        place = Path(_same_place(out)).parent
        version = next((folder for folder in (place, *place.parents)
                        if folder.parent.name == "versions" and (folder / MANIFEST).is_file()), None)
        if version is not None:  # a saved version holds only the files it was saved with
            raise InputError("the output must not be written into a saved model version",
                             f"--out {out!r} is inside {str(version)!r}",
                             "Write the scores outside the model store's versions, e.g. --out scores.parquet.")
    if is_image_folder(data):
        return
    try:
        inputs = {_same_place(file) for file in expand(data)}
    except InputError:
        return  # the data's own problem, reported when it is read
    if _same_place(out) in inputs:
        raise InputError("the output must not be the data being scored", f"--out {out!r} is {data!r}",
                         "Write the scores to another file; the data is left as it is.")


def score_file(model: VotingEnsemble, data: str, out: str, version: str | None = None,
               chunk_rows: int = 50_000, passthrough: list[str] = (), unseen: dict | None = None,
               on_chunk: Callable[[int], None] | None = None, priors=None, tally=None) -> int:
    """Score `data` into `out` (.csv or .parquet) chunk by chunk; returns the rows scored.

    The output appears only when complete: it is written beside its final name first.
    `unseen`, if given, gathers the rows of each category never seen in training, by column
    (they are scored as missing unless the model's `unknown_categories` is "error").
    `on_chunk(rows)` is called after each chunk with the rows scored so far. `priors`
    adjusts the scores to the scored rows' class shares (see `score_frame`); `tally`
    (a `drift.DriftTally`) counts each chunk for the drift report.
    """
    if not out.endswith(OUTPUT_FORMATS):
        raise InputError("the output file must end in .csv or .parquet", f"it is {out!r}", "Pick one of the two.")
    if chunk_rows < 1:
        raise InputError("chunk_rows must be at least 1", f"it is {chunk_rows}", "Use e.g. 50000.")
    if storage.is_local(out):
        writable_folder(os.path.dirname(os.path.abspath(storage.local(out))),
                        "the output's folder must be one that can be written",
                        "Choose another --out (a missing folder is created).")
    else:
        storage.writable(storage.parent(out), "the output's folder must be one that can be written",
                         "Choose another --out, in a bucket your credentials may write to.")
    _check_output(out, data)
    if is_image_folder(data):  # one row per image file, named by its path
        passthrough = [PATH_COLUMN, *passthrough]
    rows, writer = 0, None
    # The output appears whole or not at all: written here first, then renamed into place (or uploaded).
    with room_to_write(out), storage.local_target(out) as staging:
        try:
            for chunk in iter_chunks(data, chunk_rows, model.schema_.categorical, model.schema_.image,
                             model.schema_.missing_values):
                if chunk.empty:  # a header-only file
                    continue
                if rows == 0:
                    warn_missing_ids(model, chunk.columns)
                # Categories read as floats written as trained, once, for the report, the drift tally and the scores
                chunk = whole_numbers_as_trained(chunk, model.schema_)
                if unseen is not None:
                    for name, counts in unseen_categories(chunk, model.schema_).items():
                        unseen[name] = counts if name not in unseen else unseen[name].add(counts, fill_value=0)
                with warnings.catch_warnings():
                    if unseen is not None:  # gathered for the run's report, not a warning per chunk
                        warnings.simplefilter("ignore", UnseenCategoryWarning)
                    scored = score_frame(model, chunk, version, passthrough, priors)
                if tally is not None:
                    tally.update(chunk, tally_probabilities(model, scored, priors),
                                 scored[label_column(model)])
                if out.endswith(".csv"):
                    scored.to_csv(staging, mode="a", header=rows == 0, index=False)
                else:
                    table = pa.Table.from_pandas(scored, preserve_index=False)
                    writer = writer or pq.ParquetWriter(staging, table.schema,
                                                        use_dictionary=dictionary_columns(table.schema))
                    writer.write_table(table)
                rows += len(scored)
                if on_chunk is not None:
                    on_chunk(rows)
        finally:
            if writer is not None:
                writer.close()
        if rows == 0:
            raise InputError("the data to score must have rows", f"{data!r} has none", "Point to a file with data.")
    return rows


def score_with_model(model_dir: str, data: str, out: str, chunk_rows: int, unknown_categories: str = "ignore",
                     passthrough: list[str] = (), adjust_priors: str | None = None,
                     limits: tuple[float, float] | None = None, on_chunk: Callable | None = None) -> dict:
    """Load a saved version once and score every chunk of `data` into `out` (`score_file`): what the batch
    scoring flow does, without Prefect.

    With `adjust_priors` ("estimated", or shares written CLASS=SHARE,...), the probabilities are moved to those
    class priors. Categories never seen in training are counted; when the version keeps its picture of the
    training split, the data is compared with it (drift, `limits`: the PSI and class-share-change limits).

    Returns {"rows", "unseen_categories", "drift", "priors"} and "unseen_lines" (one line per column with
    unseen categories, for a log).
    """
    from imbalance_flows.tasks.data.checks import describe_unseen
    from imbalance_flows.tasks.monitoring import drift
    from imbalance_flows.tasks.store.model_store import load_model, read_manifest

    model = load_model(model_dir)
    model.set_params(unknown_categories=unknown_categories)
    priors = _priors(model, model_dir, data, chunk_rows, adjust_priors)
    reference = read_manifest(model_dir).get("reference")
    tally = drift.DriftTally(reference, model.classes_, model.class_prior_) if reference else None
    unseen = {}
    rows = score_file(model, data, out, version=storage.name(model_dir), chunk_rows=chunk_rows,
                      passthrough=list(passthrough), unseen=unseen, on_chunk=on_chunk, priors=priors, tally=tally)
    report = None if tally is None else drift.drift_report(
        tally, {name: int(counts.sum()) for name, counts in unseen.items()},
        *(limits or (drift.PSI_LIMIT, drift.SHARE_CHANGE_LIMIT)))
    return {"rows": rows, "unseen_categories": {name: {"rows": int(counts.sum()), "values": {
        str(value): int(n) for value, n in counts.sort_values(ascending=False).head(20).items()}}
        for name, counts in unseen.items()}, "drift": report,
        "priors": None if priors is None else dict(zip(map(str, model.classes_), map(float, priors))),
        "unseen_lines": [describe_unseen(name, counts) for name, counts in unseen.items()]}


def _priors(model: VotingEnsemble, model_dir: str, data: str, chunk_rows: int, adjust_priors: str | None):
    """The class priors the scores are adjusted to (in class order), or None; refused where the model cannot."""
    from imbalance_flows.tasks.monitoring import drift

    if not adjust_priors:
        return None
    if model.voting == "hard":
        raise InputError("adjusting to class priors needs a model that votes with probabilities",
                         f"{storage.name(model_dir)} votes hard (no probabilities to adjust)",
                         "Score without --adjust-priors, or train with --voting soft or weighted.")
    if adjust_priors == "estimated":
        if model.calibration_ is None:
            raise InputError("estimating the class priors needs calibrated probabilities",
                             f"{storage.name(model_dir)} was trained with calibration none (its probabilities come "
                             "from resampled members, not from the class shares)",
                             "Give the priors (--adjust-priors yes=0.1,no=0.9), or retrain with --calibration "
                             "sigmoid.")
        return estimated_priors(model, data, chunk_rows, drift.PRIOR_ROWS)
    from imbalance_flows.tasks.model.calibrate import check_priors
    from imbalance_flows.tasks.model.params import parse_priors

    return check_priors(parse_priors(adjust_priors), model.classes_)
