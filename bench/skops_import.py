"""Importing skops.io where PyTorch is installed: skops' own import against the project's (`member_files.skops_io`).

Every process that saves or loads a member imports skops.io (the flow's, each Dask worker's, `predict`'s).
On import skops lists scikit-learn's estimators by importing every scikit-learn module, and one of them
imports PyTorch where it is installed. Each way runs in a fresh process, alternately, `ROUNDS` times;
printed: the median wall seconds of the import and the median peak memory of the process, and whether
PyTorch ended up imported. Without PyTorch installed both ways are the same. Run from the repository
root, nothing else heavy on the machine::

    .venv/bin/python -m bench.skops_import

Results go to `bench/results/skops_import.json` and `skops_import.md`.
"""

from __future__ import annotations

import importlib.util
import json
import statistics
import subprocess
import sys

from bench.scale import RESULTS, stamp, write_markdown

ROUNDS = 5
WAYS = {
    "skops' own import (`import skops.io`)": "import skops.io",
    "the project's (`member_files.skops_io()`)":
        "from imbalance_flows.tasks.member_files import skops_io; skops_io()",
}
PROBE = """
import resource, sys, time
import numpy, pandas, sklearn  # imported before, as in a flow
started = time.perf_counter()
{load}
seconds = time.perf_counter() - started
print(seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "torch" in sys.modules)
"""


def main(argv: list[str]) -> int:
    runs = {name: [] for name in WAYS}
    for _ in range(ROUNDS):
        for name, load in WAYS.items():
            out = subprocess.run([sys.executable, "-c", PROBE.format(load=load)], capture_output=True, text=True,
                                 check=True).stdout.split()
            runs[name].append((float(out[0]), int(out[1]), out[2] == "True"))
    torch = importlib.util.find_spec("torch")
    version = "not installed" if torch is None else __import__("torch").__version__
    results = [{"way": name, "seconds": round(statistics.median(r[0] for r in rows), 2),
                "peak_gib": round(statistics.median(r[1] for r in rows) / 2**30, 2),
                "imports_pytorch": all(r[2] for r in rows)} for name, rows in runs.items()]
    for row in results:
        print(row, flush=True)
    report = {**stamp("bench.skops_import", argv), "pytorch": version, "rounds": ROUNDS, "results": results}
    (RESULTS / "skops_import.json").write_text(json.dumps(report, indent=1))
    lines = [f"PyTorch {version}; medians of {ROUNDS} fresh processes each, alternating.", "",
             "| import | seconds | peak GiB of the process | PyTorch imported |", "|---|---:|---:|---|",
             *[f"| {r['way']} | {r['seconds']} | {r['peak_gib']} | {'yes' if r['imports_pytorch'] else 'no'} |"
               for r in results]]
    write_markdown("skops_import", "Importing skops.io where PyTorch is installed", report, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
