"""Row fingerprints, as the training flow's split takes them, against the way they were taken before.

Every row of a loaded table is fingerprinted (`imbalance_flows.tasks.data.schema.row_hashes`) so that copies
of a row stay on one side of the splits, and a saved version keeps its training rows' fingerprints. They are
pandas' `hash_pandas_object` of the rows as the members see them (numbers as float64, then the label as text):

- `pandas`: what the split did before: the chunk's features converted to a float64 table, the label added as a
  column, and pandas' hash of that table (each column hashed whole, through temporary arrays);
- `block by block`: what it does now: the same values, each column's numbers converted and hashed a block of
  rows at a time in place, the blocks small enough to stay in the processor's cache.

On the synthetic tables of `bench/scale.py` (1M and 10M rows × 30 float32 features), chunk by chunk as the split
reads them (`tables.CHUNK_ROWS` rows); the two ways alternate `ROUNDS` times, the median kept; the fingerprints
are checked equal. Needs the cached tables of `bench/scale.py`. Run from the repository root, nothing else heavy
on the machine::

    .venv/bin/python -m bench.row_fingerprints

Results go to `bench/results/row_fingerprints.json` and `row_fingerprints.md`.
"""

from __future__ import annotations

import json
import statistics
import sys
import time

import numpy as np

from bench.scale import RESULTS, data_path, stamp, write_markdown

SIZES = (1_000_000, 10_000_000)
ROUNDS = 3


def pandas_way(frame, schema) -> np.ndarray:
    """The fingerprints as the split took them before: pandas' hash of the coerced table with the label."""
    import pandas as pd

    from imbalance_flows.tasks.data.schema import as_text, coerce

    canonical = coerce(frame[schema.names], schema).assign(
        **{"\0target": as_text(frame[schema.target], missing="").to_numpy()})
    return pd.util.hash_pandas_object(canonical, index=False).to_numpy(dtype=np.uint64)


def chunked(hashes, frame, schema) -> np.ndarray:
    from imbalance_flows.tasks.data.tables import CHUNK_ROWS

    return np.concatenate([hashes(frame.iloc[start:start + CHUNK_ROWS], schema)
                           for start in range(0, len(frame), CHUNK_ROWS)])


def measure(rows: int) -> dict:
    import pandas as pd

    from imbalance_flows.tasks.data.schema import infer_schema, row_hashes

    frame = pd.read_parquet(data_path(rows))
    schema = infer_schema(frame.drop(columns="y"), frame["y"], "y")
    seconds = {"pandas": [], "block by block": []}
    results = {}
    for _ in range(ROUNDS):
        for name, hashes in (("pandas", pandas_way), ("block by block", row_hashes)):
            started = time.perf_counter()
            results[name] = chunked(hashes, frame, schema)
            seconds[name].append(round(time.perf_counter() - started, 2))
    equal = bool(np.array_equal(results["pandas"], results["block by block"]))
    if not equal:
        raise SystemExit(f"the fingerprints differ at {rows} rows")
    out = {"rows": rows, "seconds": seconds, "equal": equal,
           **{f"{name}_s": statistics.median(each) for name, each in seconds.items()}}
    out["ratio"] = round(out["block by block_s"] / out["pandas_s"], 2)
    print(out, flush=True)
    return out


def main(argv: list[str]) -> int:
    sizes = [int(arg) for arg in argv] or list(SIZES)
    report = {**stamp("bench.row_fingerprints", argv), "results": [measure(rows) for rows in sizes]}
    (RESULTS / "row_fingerprints.json").write_text(json.dumps(report, indent=1))
    lines = ["| rows | pandas s | block by block s | ratio | equal |", "|---:|---:|---:|---:|---|",
             *[f"| {r['rows']:,} | {r['pandas_s']} | {r['block by block_s']} | {r['ratio']:.2f} × | "
               f"{'yes' if r['equal'] else 'no'} |" for r in report["results"]],
             "", f"Median of {ROUNDS} alternating runs each, chunk by chunk as the split reads the table."]
    write_markdown("row_fingerprints", "Row fingerprints: block by block against pandas' hash of the table", report,
                   lines)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
