"""What one member's fit costs, by learner and rows: the figures the member plan estimates work from.

Each table learner of the registry (`logreg`, `rf`, `hgb`, `lgbm`, `xgb`, `catboost`,
`keras_mlp`) is fitted by the product (`fitting.fit_member`, no sampler) with one thread on
5,000, 50,000 and 200,000 rows of bench/scale.py's 1M-row table (30 float32 features, about
1.5 % in the rare class: the first rows of its training split), and with two threads on
200,000 rows, one fit after another in one process, each on a thread of its own as the
product fits. A straight line through the one-thread seconds gives each learner's fixed
seconds and seconds per 100,000 rows; the two-thread fit its speed-up on two cores, and so
the share of its work that threads divide (Amdahl's law): the `work` of each learner in
`imbalance_flows.tasks.learners.registry`. A forest's trees use every core whatever it is
given (`Learner.every_core`): its two-thread fit is not measured.

Run from the repository root, alone on the machine::

    .venv/bin/python -m bench.member_work

Results go to `bench/results/member_work.json` and `member_work.md`.
"""

from __future__ import annotations

import json
import sys
import warnings

import numpy as np

from bench.scale import RESULTS, _split, data_path, stamp, write_markdown

LEARNERS = ("logreg", "rf", "hgb", "lgbm", "xgb", "catboost", "keras_mlp")
ROWS = (5_000, 50_000, 200_000)
SPEEDUP_ROWS = 200_000


def measure() -> dict:
    from imbalance_flows.tasks.data.schema import infer_schema
    from imbalance_flows.tasks.model.fitting import fit_member
    from imbalance_flows.tasks.model.spec import MemberSpec

    warnings.filterwarnings("ignore")
    X, y, _, _ = _split(data_path(1_000_000))
    y = X.assign(y=y)["y"]
    out = {}
    for learner in LEARNERS:
        spec = MemberSpec.parse(f"none:{learner}")
        seconds = {}
        for rows in ROWS:
            part, labels = X.iloc[:rows], y.iloc[:rows]
            schema = infer_schema(part, labels, "y")
            seconds[rows] = fit_member(spec, part, labels, schema, 0, threads=1)[1]
            print(learner, rows, "rows, 1 thread:", round(seconds[rows], 2), "s", flush=True)
        slope, fixed = np.polyfit(np.asarray(ROWS, float), [seconds[rows] for rows in ROWS], 1)
        out[learner] = {"one_thread": {str(rows): round(s, 3) for rows, s in seconds.items()},
                        "fixed_seconds": round(max(0.0, float(fixed)), 3),
                        "seconds_per_100k_rows": round(float(slope) * 1e5, 3)}
        if learner != "rf":
            part, labels = X.iloc[:SPEEDUP_ROWS], y.iloc[:SPEEDUP_ROWS]
            two = fit_member(spec, part, labels, infer_schema(part, labels, "y"), 0, threads=2)[1]
            speedup = seconds[SPEEDUP_ROWS] / two
            out[learner].update(two_threads=round(two, 3), speedup_two_threads=round(speedup, 2),
                                parallel_share=round(min(1.0, max(0.0, 2 * (1 - 1 / speedup))), 2))
        print(learner, out[learner], flush=True)
    return out


def main() -> int:
    report = {**stamp("bench.member_work", []), "learners": measure()}
    (RESULTS / "member_work.json").write_text(json.dumps(report, indent=1))
    lines = ["| learner | 5k rows | 50k rows | 200k rows | fixed s | s per 100k rows | 2 threads, 200k rows | "
             "share threads divide |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, row in report["learners"].items():
        one = row["one_thread"]
        two = (f"{row['two_threads']:.2f} s ({row['speedup_two_threads']:.2f} ×) | {row['parallel_share']:.2f}"
               if "two_threads" in row else "every core either way | –")
        lines.append(f"| `{name}` | {one['5000']:.2f} | {one['50000']:.2f} | {one['200000']:.2f} | "
                     f"{row['fixed_seconds']:.2f} | {row['seconds_per_100k_rows']:.2f} | {two} |")
    write_markdown("member_work", "What one member's fit costs, by learner and rows (one thread, seconds)", report, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
