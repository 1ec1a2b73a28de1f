"""What Prefect's temporary server costs a command-line run: its own CPU, starting and through the run.

`imbalance-flows train` on the synthetic tables of `bench/scale.py` (1M and 10M rows by default), with no
Prefect API named, so that the command starts Prefect's temporary server (`flows/temporary_server.py`), its
database created first by a trivial flow as in `bench/scale.py`. While the command runs, its process tree is
sampled every 0.1 s: the server's CPU seconds (user + system) when it first answers its health check (its
start-up: Prefect's server imports and its app) and at its last sample before the command ends (the rest: the
run's API calls, events and logs), the command's own CPU seconds, and the run's wall seconds. On a 2-core
machine, the server's CPU is taken from the flow: its start-up from the command's own imports, the rest from
the flow's work. Run from the repository root, with nothing else heavy on the machine::

    .venv/bin/python -m bench.temporary_server            # 1M and 10M rows
    .venv/bin/python -m bench.temporary_server 1000000    # some sizes only

Results go to `bench/results/temporary_server.json` and `temporary_server.md`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench.scale import (
    PYTHON,
    RESULTS,
    ROOT,
    WARM_UP,
    data_path,
    measured,
    stamp,
    write_markdown,
)

SIZES = (1_000_000, 10_000_000)
SERVER_APP = "prefect.server.api.server:create_app"


def _cpu(process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def _answers(process) -> bool:
    """Whether the temporary server (this process) answers its health check."""
    line = process.cmdline()
    url = f"http://127.0.0.1:{line[line.index('--port') + 1]}/api/health"
    try:
        with urllib.request.urlopen(url, timeout=0.5) as answer:
            return answer.status == 200
    except OSError:
        return False


def one_run(rows: int, env: dict) -> dict:
    """One `imbalance-flows train` on the table of `rows` rows, its temporary server watched."""
    import psutil

    store = tempfile.mkdtemp(prefix="temporary-server-store-")
    command = [str(Path(PYTHON).parent / "imbalance-flows"), "train", str(data_path(rows)), "--target", "y",
               "--store", store]
    server, started_cpu, last_cpu, own_cpu = None, None, None, 0.0
    try:
        started = time.perf_counter()
        with tempfile.TemporaryFile("w+") as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
            watched = psutil.Process(process.pid)
            while process.poll() is None:
                try:
                    own_cpu = _cpu(watched)
                    if server is None:
                        server = next((child for child in watched.children(recursive=True)
                                       if SERVER_APP in " ".join(child.cmdline())), None)
                    if server is not None:
                        last_cpu = _cpu(server)
                        if started_cpu is None and _answers(server):
                            started_cpu = last_cpu
                except psutil.Error:  # a process that just ended
                    pass
                time.sleep(0.1)
            seconds = time.perf_counter() - started
            if process.returncode:
                out.seek(0)
                raise RuntimeError(f"{' '.join(command)} failed:\n{out.read()[-3000:]}")
    finally:
        shutil.rmtree(store, ignore_errors=True)
    if started_cpu is None:
        raise RuntimeError("the command started no temporary server (is a Prefect API named?)")
    return {"rows": rows, "seconds": round(seconds, 1), "command_cpu_seconds": round(own_cpu, 1),
            "server_start_cpu_seconds": round(started_cpu, 1),
            "server_run_cpu_seconds": round(last_cpu - started_cpu, 1)}


def main(argv: list[str]) -> int:
    sizes = [int(value) for value in argv] or list(SIZES)
    home = tempfile.mkdtemp(prefix="temporary-server-home-")
    env = {**os.environ, "PREFECT_HOME": home, "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PYTHONWARNINGS": "ignore"}
    env.pop("PREFECT_API_URL", None)
    try:
        measured([PYTHON, "-c", WARM_UP], env)  # the temporary server's database, kept as a user's is
        runs = []
        for rows in sizes:
            runs.append(one_run(rows, env))
            print(runs[-1], flush=True)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    report = {**stamp("bench.temporary_server", argv), "runs": runs}
    (RESULTS / "temporary_server.json").write_text(json.dumps(report, indent=1))
    lines = ["`imbalance-flows train` on `bench/scale.py`'s synthetic tables with no Prefect API named (the command "
             "starts Prefect's temporary server), one run per size. CPU seconds are user + system.", "",
             "| rows | run s | command CPU s | server CPU s, start-up | server CPU s, through the run |",
             "|---:|---:|---:|---:|---:|"]
    lines += [f"| {run['rows']:,} | {run['seconds']} | {run['command_cpu_seconds']} | "
              f"{run['server_start_cpu_seconds']} | {run['server_run_cpu_seconds']} |" for run in runs]
    write_markdown("temporary_server", "What Prefect's temporary server costs a command-line run", report, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
