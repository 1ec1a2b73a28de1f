"""Rows per chunk: every row's fingerprint of the 1M-row table, read and hashed chunk by chunk.

The training flow fingerprints every row it splits (`tasks.data.tables.table_row_hashes`, copies of a row on one side),
scores its test split and fingerprints the training rows it saves chunk by chunk (`tables.read_chunks`). A chunk's
working memory (its floats, its hashes) is freed and taken again by the next chunk; memory a process has not touched
before is the slow part on some machines (`bench/hot_paths.py`, "fresh memory"), and smaller chunks touch less of it.
Each chunk size runs in its own process, one after the other, twice, on the cached 1M-row table of `bench/scale.py`.
Run from the repository root, nothing else heavy on the machine::

    .venv/bin/python -m bench.chunk_rows

Results go to `bench/results/chunk_rows.json` and `chunk_rows.md`.
"""

from __future__ import annotations

import json
import sys

from bench.scale import PYTHON, RESULTS, data_path, measured, stamp, write_markdown

SIZES = (500_000, 100_000)
ROUNDS = 2
ONE = """
import sys, time
import numpy as np
import pyarrow.parquet as pq
from imbalance_flows.tasks.data import tables
from imbalance_flows.tasks.data.schema import infer_schema, row_hashes
path, rows = sys.argv[1], int(sys.argv[2])
head = pq.ParquetFile(path).read_row_group(0).slice(0, 1000).to_pandas()
schema = infer_schema(head.drop(columns="y"), head["y"], "y")
started = time.perf_counter()
hashes = np.concatenate([row_hashes(chunk, schema) for chunk in tables.file_chunks(path, rows)])
print(round(time.perf_counter() - started, 2), len(hashes))
"""


def main(argv: list[str]) -> int:
    import os

    path = data_path(1_000_000)
    runs = []
    for round_ in range(ROUNDS):
        for rows in SIZES:
            seconds, peak, text = measured([PYTHON, "-c", ONE, str(path), str(rows)], dict(os.environ))
            hashed, count = text.split()[-2:]
            runs.append({"chunk_rows": rows, "round": round_ + 1, "hash_s": float(hashed), "process_s": round(seconds, 2),
                         "peak_mib": round(peak / 2**20), "rows": int(count)})
            print(runs[-1], flush=True)
    report = {**stamp("bench.chunk_rows", argv), "runs": runs}
    (RESULTS / "chunk_rows.json").write_text(json.dumps(report, indent=1))
    lines = ["Fingerprints of the 1,000,000 rows, read and hashed in chunks; each run in a fresh process.", "",
             "| rows per chunk | round | hashing s | process s | peak MiB |", "|---:|---:|---:|---:|---:|",
             *[f"| {r['chunk_rows']:,} | {r['round']} | {r['hash_s']} | {r['process_s']} | {r['peak_mib']} |"
               for r in runs]]
    write_markdown("chunk_rows", "Rows per chunk", report, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
