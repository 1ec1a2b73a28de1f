"""The workspace's own tables: Arrow IPC streams against the Parquet files they were before.

The training flow writes its splits to the workspace, and its steps read them back: a member its training rows
(whole, or on large data only the rows its plan fits on), the evaluation the test split chunk by chunk, the save
the training rows for their picture. On the synthetic tables of `bench/scale.py` (1M and 10M rows × 30 float32
features and an integer label), the flow's training split (80 %, stratified) written from the loaded table and
read back each way the flow reads it:

- `parquet`: how the workspace was written before: Parquet, floats not dictionary-encoded, a row group of
  `tables.CHUNK_ROWS` rows at a time; read back as the flow read it (whole without pre-buffering, in chunks of
  `CHUNK_ROWS` rows, rows at sorted positions row group by row group);
- `arrow`: how it is written now (`tables._write_stream`, an Arrow IPC stream of `CHUNK_ROWS`-row batches) and
  read back by the same functions (`read_written`, `file_chunks`, `read_rows`: memory-mapped).

`write` is the split's rows taken from the loaded table and written; `whole` the table read into pandas;
`chunks` every chunk converted to pandas in turn; `sample` 10 % of the rows at sorted positions. The formats
alternate `ROUNDS` times; the median is kept. Needs the cached tables of `bench/scale.py`. Run from the
repository root, nothing else heavy on the machine::

    .venv/bin/python -m bench.workspace_format

Results go to `bench/results/workspace_format.json` and `workspace_format.md`.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import tempfile
import time

import numpy as np

from bench.scale import RESULTS, data_path, stamp, write_markdown

SIZES = (1_000_000, 10_000_000)
ROUNDS = 3
STEPS = ("write", "whole", "chunks", "sample")


def write_parquet(frame, path: str, rows) -> None:
    """The workspace's writer before: Parquet, dictionary-encoding only the columns that are not floating-point,
    a row group of CHUNK_ROWS rows at a time."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from imbalance_flows.tasks.data.tables import CHUNK_ROWS

    keep = [str(name) for name, dtype in frame.dtypes.items() if not pd.api.types.is_float_dtype(dtype)]
    schema = pa.Schema.from_pandas(frame, preserve_index=False)
    with pq.ParquetWriter(path, schema, use_dictionary=keep) as writer:
        for start in range(0, len(rows), CHUNK_ROWS):
            chunk = frame.iloc[rows[start:start + CHUNK_ROWS]]
            writer.write_table(pa.Table.from_pandas(chunk, schema=schema, preserve_index=False))


def timed(work) -> float:
    started = time.perf_counter()
    work()
    return round(time.perf_counter() - started, 3)


def measure(rows: int) -> dict:
    import pandas as pd

    from imbalance_flows.tasks.data import tables
    from imbalance_flows.tasks.data.splits import stratified_indices

    frame = pd.read_parquet(data_path(rows))
    train, _ = stratified_indices(frame["y"].to_numpy(), [0.2], 0, " in the file")
    train = np.sort(train)
    sample = np.sort(np.random.default_rng(0).choice(len(train), len(train) // 10, replace=False))
    folder = tempfile.mkdtemp(prefix="workspace-format-")
    paths = {"parquet": os.path.join(folder, "train.parquet"), "arrow": os.path.join(folder, "train" + tables.WRITTEN)}
    writers = {"parquet": write_parquet, "arrow": tables._write_stream}
    seconds = {name: {step: [] for step in STEPS} for name in paths}
    try:
        for _ in range(ROUNDS):
            for name, path in paths.items():
                ref = tables.TableRef(path=path, fingerprint="-", n_rows=len(train))
                steps = seconds[name]
                steps["write"].append(timed(lambda: writers[name](frame, path, train)))
                steps["whole"].append(timed(lambda: tables.read_written(path)))
                steps["chunks"].append(timed(lambda: sum(len(chunk) for chunk in tables.read_chunks(ref))))
                steps["sample"].append(timed(lambda: tables.read_rows(ref, sample)))
        same = tables.read_written(paths["arrow"]).equals(tables.read_written(paths["parquet"]))
        if not same:
            raise SystemExit(f"the two formats read back differently at {rows} rows")
        sizes = {name: os.path.getsize(path) for name, path in paths.items()}
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    out = {"rows": rows, "train_rows": len(train), "seconds": seconds, "bytes": sizes, "same": same,
           **{f"{name}_{step}_s": statistics.median(seconds[name][step]) for name in paths for step in STEPS}}
    for step in STEPS:
        out[f"{step}_ratio"] = round(out[f"arrow_{step}_s"] / out[f"parquet_{step}_s"], 2)
    print(out, flush=True)
    return out


def main(argv: list[str]) -> int:
    sizes = [int(arg) for arg in argv] or list(SIZES)
    report = {**stamp("bench.workspace_format", argv), "rounds": ROUNDS,
              "results": [measure(rows) for rows in sizes]}
    (RESULTS / "workspace_format.json").write_text(json.dumps(report, indent=1))
    lines = ["| training rows | step | Parquet s | Arrow stream s | ratio |", "|---:|---|---:|---:|---:|"]
    for r in report["results"]:
        lines += [f"| {r['train_rows']:,} | {step} | {r[f'parquet_{step}_s']:.2f} | {r[f'arrow_{step}_s']:.2f} | "
                  f"{r[f'{step}_ratio']:.2f} × |" for step in STEPS]
    lines += ["", "Files: " + "; ".join(f"{r['train_rows']:,} rows, Parquet {r['bytes']['parquet'] / 2**20:.0f} MiB, "
                                        f"Arrow {r['bytes']['arrow'] / 2**20:.0f} MiB" for r in report["results"]),
              "", f"Median of {ROUNDS} alternating runs each; both read back equal."]
    write_markdown("workspace_format", "The workspace's tables: Arrow IPC streams against Parquet", report, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
