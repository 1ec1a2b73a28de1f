"""How fast a training run stops when told: SIGTERM and SIGINT (Ctrl-C) during member training.

    .venv/bin/python -m bench.stop [--repeats 3] [--trees 4000]

Starts `imbalance-flows train` on the bundled churn table with two forest members of
`--trees` trees each (minutes of fitting), waits until its members are training, sends the
signal to the command alone (as `kill` or a terminal's Ctrl-C would) and records:
  seconds    from the signal to the command's exit;
  exit       its exit status (128 + the signal);
  children   processes it had started (the temporary Prefect server) still alive after it;
  fit_s      for scale, the seconds the same members take to fit when left alone (once).
Results go to bench/results/stop.json and bench/results/stop.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLI = str(Path(sys.executable).with_name("imbalance-flows"))
RESULTS = ROOT / "bench" / "results"


def _config(folder: Path, trees: int) -> Path:
    path = folder / "forests.yaml"
    path.write_text("members:\n" + "".join(
        f"  - {{sampler: {sampler}, learner: rf, learner_params: {{n_estimators: {trees}}}}}\n"
        for sampler in ("none", "random_over")))
    return path


def _children(pid: int) -> list[int]:
    found, frontier = [], [pid]
    while frontier:
        listed = subprocess.run(["pgrep", "-P", str(frontier.pop())], capture_output=True, text=True).stdout.split()
        found += [int(p) for p in listed]
        frontier += [int(p) for p in listed]
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _run(trees: int, sig: int | None) -> dict:
    """One training run, stopped by `sig` once its members train (None: left to finish)."""
    folder = Path(tempfile.mkdtemp(prefix="bench-stop-"))
    env = {**os.environ, "PREFECT_HOME": str(folder / "prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    log = folder / "run.log"
    process = subprocess.Popen([CLI, "train", str(ROOT / "tasks" / "bundled" / "churn.parquet"), "--target", "churn",
                                "--config", str(_config(folder, trees)), "--store", str(folder / "store")],
                               env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    while "Training 2 members" not in log.read_text():
        if process.poll() is not None:
            raise RuntimeError(log.read_text()[-2000:])
        time.sleep(0.2)
    started = time.monotonic()
    if sig is None:
        process.wait()
        return {"fit_s": round(time.monotonic() - started, 1)}
    time.sleep(3)  # well inside the fits
    children = _children(process.pid)
    told = time.monotonic()
    os.kill(process.pid, sig)
    process.wait()
    took = time.monotonic() - told
    time.sleep(1)
    left = [pid for pid in children if _alive(pid)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    return {"seconds": round(took, 2), "exit": process.returncode, "children_left": len(left)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--trees", type=int, default=4000)
    args = parser.parse_args()
    runs = {signal.Signals(sig).name: [_run(args.trees, sig) for _ in range(args.repeats)]
            for sig in (signal.SIGTERM, signal.SIGINT)}
    fit = _run(args.trees, None)["fit_s"]
    result = {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "date": date.today().isoformat(),
              "command": f".venv/bin/python -m bench.stop --repeats {args.repeats} --trees {args.trees}",
              "trees": args.trees, "fit_s": fit, "runs": runs}
    (RESULTS / "stop.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [f"# Stopping a training run ({result['date']}, {result['machine']})", "",
             f"`{result['command']}`", "",
             f"Two forest members of {args.trees} trees on the bundled churn table; left alone, they take "
             f"{fit} s to fit after training starts. The signal is sent 3 s into their fits.", "",
             "| signal | median seconds to exit | runs (s) | exit status | child processes left |",
             "|---|---:|---|---:|---:|"]
    for name, rows in runs.items():
        lines.append(f"| {name} | {statistics.median(r['seconds'] for r in rows):.1f} | "
                     f"{', '.join(str(r['seconds']) for r in rows)} | {rows[0]['exit']} | "
                     f"{sum(r['children_left'] for r in rows)} |")
    (RESULTS / "stop.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
