"""Reading a whole table: a Parquet file batch by batch, whole, or as pandas reads it; the workspace's copy.

bench/scale.py's 1M- and 10M-row tables (30 float32 features and the label, row groups of about
a million rows, as pandas writes them) are read into a DataFrame each way, each in a fresh process,
one after another:

- `batches` (how a user's file was read before): pyarrow's batches of 100,000 rows without
  pre-buffering, made into one table, then converted column by column;
- `whole` (`tables.read_parquet_file`, how a user's file is read now): the file read at once, its
  columns on pyarrow's threads, without pre-buffering, then converted column by column;
- `pandas`: `pd.read_parquet` (pre-buffering), how the workspace's tables were read before;
- `workspace` (`tables.read_written`, how they are read now): the table as the workspace holds it (an Arrow
  IPC stream of 100,000-row batches, `tables.write_table`), read memory-mapped.

Wall seconds and the process's peak resident memory. Run from the repository root, alone on the
machine::

    .venv/bin/python -m bench.read_table

Results go to `bench/results/read_table.json` and `read_table.md`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile

from bench.scale import PYTHON, RESULTS, ROOT, data_path, stamp, write_markdown

WAYS = ("batches", "whole", "pandas", "workspace")


def read(way: str, path: str) -> dict:
    import resource
    import time

    import pandas as pd
    import pyarrow as pa

    from imbalance_flows.tasks.data import tables

    started = time.perf_counter()
    if way == "batches":
        with tables.parquet_file(path, pre_buffer=False, buffer_size=1 << 22) as parquet:
            table = pa.Table.from_batches(list(parquet.iter_batches(batch_size=100_000)), schema=parquet.schema_arrow)
        frame = tables.arrow_frame(table, path, whole=True)
    elif way == "whole":
        frame = tables.read_parquet_file(path)
    elif way == "pandas":
        frame = pd.read_parquet(path)
    else:
        frame = tables.read_written(path)
    seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 2), "rows": len(frame),
            "peak_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)}


def main(argv: list[str]) -> int:
    if argv and argv[0] == "--way":
        print(json.dumps(read(argv[1], argv[2])))
        return 0
    if argv and argv[0] == "--write":  # in a process of its own: a child's peak memory counts its parent's
        import pandas as pd

        from imbalance_flows.tasks.data import tables

        print(tables.write_table(pd.read_parquet(argv[1]), argv[2], "data").path)
        return 0
    report = {**stamp("bench.read_table", []), "results": {}}
    lines = ["| rows | way | seconds | peak GiB |", "|---:|---|---:|---:|"]
    for rows in (1_000_000, 10_000_000):
        path = str(data_path(rows))
        with tempfile.TemporaryDirectory(prefix="read-table-") as folder:
            workspace = subprocess.run([PYTHON, "-m", "bench.read_table", "--write", path, folder], cwd=ROOT,
                                       capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
            for way in WAYS:
                file = workspace if way == "workspace" else path
                done = subprocess.run([PYTHON, "-m", "bench.read_table", "--way", way, file], cwd=ROOT,
                                      capture_output=True, text=True, check=True)
                result = json.loads(done.stdout.strip().splitlines()[-1])
                report["results"].setdefault(str(rows), {})[way] = result
                lines.append(f"| {rows:,} | {way} | {result['seconds']:.2f} | {result['peak_gib']:.2f} |")
                print(rows, way, result, flush=True)
    (RESULTS / "read_table.json").write_text(json.dumps(report, indent=1))
    write_markdown("read_table", "Reading a whole Parquet table", report, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
