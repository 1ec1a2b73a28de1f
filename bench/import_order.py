"""What a flow command pays to import skops, before or after the flow's modules.

skops builds its lists of trusted types when imported, looking each scipy function up in every module loaded
then; a flow command imports the flow (Prefect, the store, the reports) and needs skops to save or read model
files. Each run is a fresh process that imports both, in one order or the other, and reports the seconds of
each import and their sum; the two orders alternate, `PAIRS` pairs, and the pairs' ratio of the sums is
the median of the pairs' ratios. Run from the repository root, with nothing else heavy on the machine::

    .venv/bin/python -m bench.import_order

Results go to `bench/results/import_order.json` and `import_order.md`.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys

from bench.scale import RESULTS, ROOT, stamp, write_markdown

PAIRS = 7
TIMED = """
import json, time
started = time.perf_counter()
import {first}
middle = time.perf_counter()
import {second}
ended = time.perf_counter()
print(json.dumps([middle - started, ended - middle]))
"""
FLOW, SKOPS = "imbalance_flows.flows.train", "skops.io"
ORDERS = {"skops first": (SKOPS, FLOW), "flow first": (FLOW, SKOPS)}


def one(order: str) -> dict:
    first, second = ORDERS[order]
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    done = subprocess.run([sys.executable, "-c", TIMED.format(first=first, second=second)], env=env,
                          capture_output=True, text=True, check=True, cwd=ROOT)
    seconds = json.loads(done.stdout.strip().splitlines()[-1])
    times = dict(zip((first, second), seconds))
    return {"skops": times[SKOPS], "flow": times[FLOW], "both": sum(seconds)}


def main() -> int:
    runs = {order: [] for order in ORDERS}
    for _ in range(PAIRS):
        for order in ORDERS:
            runs[order].append(one(order))
            print(order, {key: round(value, 2) for key, value in runs[order][-1].items()}, flush=True)
    ratio = statistics.median(a["both"] / b["both"] for a, b in zip(runs["skops first"], runs["flow first"]))
    report = {**stamp("bench.import_order", []), "pairs": PAIRS, "ratio": round(ratio, 3),
              "median": {order: {key: round(statistics.median(run[key] for run in each), 2)
                                 for key in ("skops", "flow", "both")} for order, each in runs.items()}}
    (RESULTS / "import_order.json").write_text(json.dumps(report, indent=1))
    lines = [f"Seconds of each import in a fresh process (the median of {PAIRS} runs, the two orders alternating).",
             "", "| order | skops | the flow's modules | both |", "|---|---:|---:|---:|"]
    lines += [f"| {order} | {m['skops']:.2f} | {m['flow']:.2f} | {m['both']:.2f} |"
              for order, m in report["median"].items()]
    lines += ["", f"Both imports, skops first against the flow's modules first: {ratio:.2f} × (the median of the "
              f"{PAIRS} pairs' ratios)."]
    write_markdown("import_order", "Importing skops before or after the flow's modules", report, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
