"""What a Prefect flow costs before and after its work: the floor under the training flow's time.

Against a running Prefect server on 127.0.0.1 (its own PREFECT_HOME), each in a process of its own, one after
another, `ROUNDS` rounds:

- `python`: the interpreter alone (`-c pass`);
- `import prefect`: the interpreter and Prefect's import, nothing run;
- `flow`: the scale benchmark's floor (`bench.scale.FLOOR`: a flow of 10 empty tasks), timed inside in phases:
  the import, the flow's start (the call to its body's first line: the run created, its state set), its ten
  tasks, its end (its body's last line to the call's return) and the process's exit;
- `flow, heartbeats off`: the same flow with the flow engine's heartbeats turned off for this measurement only
  (`FlowRunEngine.heartbeat_seconds` None). Prefect 3.8.8's heartbeat thread sleeps in steps of 1 s and a
  flow called from synchronous code waits for it to end, so the end of the run waits for the current step.

Against the scale benchmark's committed "direct" times (`bench/results/scale.json`), the goal "the flow against a
running server at most 1.10 × the direct calls" leaves 0.10 × direct for everything the flow adds: the table says
how that compares with Prefect's import alone. Run from the repository root, nothing else heavy on the machine::

    .venv/bin/python -m bench.prefect_floor

Results go to `bench/results/prefect_floor.json` and `prefect_floor.md`.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import tempfile

from bench.scale import (
    FLOOR_TASKS,
    PYTHON,
    RESULTS,
    measured,
    quiet,
    stamp,
    start_server,
    write_markdown,
)

ROUNDS = 7
PHASED = f"""
import json, time
started = time.perf_counter()
from prefect import flow, task
imported = time.perf_counter()
HEARTBEATS_OFF = False
if HEARTBEATS_OFF:
    import prefect.flow_engine
    prefect.flow_engine.FlowRunEngine.heartbeat_seconds = property(lambda engine: None)
marks = {{}}

@task
def step():
    pass

@flow
def floor():
    marks["body"] = time.perf_counter()
    for _ in range({FLOOR_TASKS}):
        step()
    marks["tasks"] = time.perf_counter()

floor()
ended = time.perf_counter()
print(json.dumps({{"import": imported - started, "start": marks["body"] - imported,
                  "tasks": marks["tasks"] - marks["body"], "end": ended - marks["tasks"], "after": ended - started}}))
"""
COMMANDS = {"python": "pass", "import prefect": "import prefect", "flow": PHASED,
            "flow, heartbeats off": PHASED.replace("HEARTBEATS_OFF = False", "HEARTBEATS_OFF = True")}
PHASES = ("import", "start", "tasks", "end", "exit")


def run() -> dict:
    home = tempfile.mkdtemp(prefix="floor-prefect-")
    server, url = start_server(home)
    env = {**os.environ, "PREFECT_HOME": home, "PREFECT_API_URL": url, "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PYTHONWARNINGS": "ignore"}
    runs: dict[str, list[dict]] = {name: [] for name in COMMANDS}
    try:
        measured([PYTHON, "-c", PHASED], env)  # the server's first flow run creates what later ones reuse
        for _ in range(ROUNDS):
            for name, code in COMMANDS.items():
                quiet(server)
                seconds, _, text = measured([PYTHON, "-c", code], env)
                entry = {"seconds": seconds}
                if "flow" in name:
                    phases = json.loads([line for line in text.splitlines() if line.startswith("{")][-1])
                    entry.update({key: phases[key] for key in ("import", "start", "tasks", "end")},
                                 exit=seconds - phases["after"])
                runs[name].append(entry)
            print({name: round(entries[-1]["seconds"], 2) for name, entries in runs.items()}, flush=True)
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(home, ignore_errors=True)
    medians = {name: {key: statistics.median(entry[key] for entry in entries) for key in entries[0]}
               for name, entries in runs.items()}
    return {"rounds": ROUNDS, "tasks": FLOOR_TASKS, "runs": runs, "medians": medians}


def allowances(report: dict) -> list[dict]:
    """Per size of the committed scale benchmark: the direct calls' seconds, what 1.10 × leaves the flow, Prefect's
    import alone beyond the bare interpreter, and the floor's whole cost."""
    scale = json.loads((RESULTS / "scale.json").read_text())
    medians = report["medians"]
    imported = medians["import prefect"]["seconds"] - medians["python"]["seconds"]
    floor = medians["flow"]["seconds"] - medians["python"]["seconds"]
    out = []
    for rows, entry in sorted(scale["sizes"].items(), key=lambda item: int(item[0])):
        direct = entry.get("results", {}).get("direct", {}).get("seconds")
        if direct is None:
            continue
        out.append({"rows": int(rows), "direct_s": direct, "allowed_s": 0.1 * direct, "import_s": imported,
                    "floor_s": floor, "import_fits": imported <= 0.1 * direct,
                    "least_ratio": (direct + floor) / direct})
    return out


def main(argv: list[str]) -> int:
    report = {**stamp("bench.prefect_floor", argv), **run()}
    report["allowances"] = allowances(report)
    (RESULTS / "prefect_floor.json").write_text(json.dumps(report, indent=1))
    m = report["medians"]
    lines = [f"Medians of {report['rounds']} rounds, each command in a process of its own against a running "
             "server; seconds.", "",
             "| command | wall | " + " | ".join(PHASES) + " |", "|---|---:|" + "---:|" * len(PHASES),
             *[f"| {name} | {m[name]['seconds']:.2f} | " + " | ".join(
                 f"{m[name][key]:.2f}" if key in m[name] else "" for key in PHASES) + " |" for name in COMMANDS],
             "", "start: the call to the flow's first line; end: its last line to the call's return; exit: the "
             "call's return to the process's end.", "",
             f"Heartbeats cost the flow's end {m['flow']['end'] - m['flow, heartbeats off']['end']:.2f} s (the "
             "heartbeat thread's last step of 1 s, waited for).", "",
             "Against the scale benchmark's direct calls ([scale.md](scale.md)): what 1.10 × leaves the flow, and "
             "Prefect's import alone (beyond the bare interpreter):", "",
             "| rows | direct s | 0.10 × direct | Prefect's import | the floor | least flow / direct |",
             "|---:|---:|---:|---:|---:|---:|",
             *[f"| {a['rows']:,} | {a['direct_s']:.1f} | {a['allowed_s']:.2f} | {a['import_s']:.2f} | "
               f"{a['floor_s']:.2f} | {a['least_ratio']:.2f} × |" for a in report["allowances"]]]
    write_markdown("prefect_floor", "Prefect's floor under the training flow", report, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
