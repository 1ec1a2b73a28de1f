"""How long the tests take: installing what they need on a clean clone, the quick lane (`-m "not slow"`) and the
full run, each the way the README runs it (`-n auto`: a worker per core, two to four; whole files per worker), one
after the other, nothing else heavy on the machine.

    .venv/bin/python -m bench.test_lanes [install|quick|full|first]

`install` clones the repository's last commit into a temporary folder, makes a fresh virtual environment there
and times the README's install (`pip install -e ".[test]" -c tests/constraints.txt`), as `.ci/run` does.
`first` does the same for the README's first command: the plain install (`pip install -e .`, no TensorFlow),
then the main job (`imbalance-flows train tasks/bundled/hpc.parquet --target class`) with a fresh HOME, each timed.
Results go to `bench/results/test_lanes.json` and `test_lanes.md`; the README and the contributing page quote
them from there.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.scale import RESULTS, ROOT, stamp, write_markdown

WORKERS = ["-n", "auto", "--dist", "loadfile"]  # the README's test command
LANES = {"quick": ["-m", "not slow"], "full": []}
INSTALL = ["-e", ".[test]", "-c", "tests/constraints.txt"]  # the README's install, pinned as the tests run
OUTCOMES = ("passed", "failed", "skipped", "xfailed", "xpassed", "error", "errors")


def run_lane(marker: list[str]) -> dict:
    """Run one lane; its wall time and the counts of pytest's last line."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--durations=0",
                           "--durations-min=0", *WORKERS, *marker], cwd=ROOT, capture_output=True, text=True)
    seconds = round(time.perf_counter() - started, 1)
    if done.returncode:  # what failed, for whoever runs it: the results keep only the counts
        print("\n".join(line for line in done.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))),
              flush=True)
    last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    counts = {outcome: int(number) for number, outcome in re.findall(r"(\d+) (\w+)", last) if outcome in OUTCOMES}
    # What the tests themselves took, summed over the workers: the time one worker alone would need, about.
    timed = re.findall(r"^([\d.]+)s (?:call|setup|teardown) +([^:\s]+)::", done.stdout, re.M)
    files: dict[str, float] = {}
    for found, file in timed:
        files[file] = files.get(file, 0.0) + float(found)
    # Per file, what its tests took: tests/conftest.py hands the slowest files out first (longest first).
    return {"seconds": seconds, "exit_status": done.returncode, "counts": counts, "summary": last,
            "test_seconds": round(sum(files.values()), 1),
            "file_seconds": {file: round(total, 1) for file, total in sorted(files.items(), key=lambda kv: -kv[1])}}


def time_install() -> dict:
    """Install the test extra into a fresh environment on a clean clone of the last commit, as `.ci/run` does."""
    with tempfile.TemporaryDirectory(prefix="imbalance-flows-install-") as folder:
        clone = Path(folder, "clone")
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
        python = clone / ".venv" / "bin" / "python"
        subprocess.run([sys.executable, "-m", "venv", str(clone / ".venv")], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--upgrade", "pip"], check=True)
        started = time.perf_counter()
        done = subprocess.run([str(python), "-m", "pip", "install", "--quiet", *INSTALL], cwd=clone,
                              capture_output=True, text=True)
        seconds = round(time.perf_counter() - started, 1)
    if done.returncode:
        print(done.stderr[-4000:], flush=True)
    return {"seconds": seconds, "exit_status": done.returncode, "command": f"pip install {' '.join(INSTALL)}"}


FIRST_JOB = ["train", "tasks/bundled/hpc.parquet", "--target", "class"]  # the README's main job


def time_first_command() -> dict:
    """The README's first command on a clean clone of the last commit, with a fresh HOME: its install and its
    main job, each timed."""
    import os

    with tempfile.TemporaryDirectory(prefix="imbalance-flows-first-") as folder:
        clone, home = Path(folder, "clone"), Path(folder, "home")
        home.mkdir()
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
        env = {**os.environ, "HOME": str(home)}
        env.pop("PREFECT_API_URL", None)
        env.pop("PREFECT_HOME", None)
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "venv", str(clone / ".venv")], check=True, env=env)
        installed = subprocess.run([str(clone / ".venv" / "bin" / "pip"), "install", "--quiet", "-e", "."],
                                   cwd=clone, env=env, capture_output=True, text=True)
        install_seconds = round(time.perf_counter() - started, 1)
        started = time.perf_counter()
        job = subprocess.run([str(clone / ".venv" / "bin" / "imbalance-flows"), *FIRST_JOB], cwd=clone, env=env,
                             capture_output=True, text=True)
        job_seconds = round(time.perf_counter() - started, 1)
    if installed.returncode or job.returncode:
        print((installed.stderr + job.stderr)[-4000:], flush=True)
    return {"seconds": round(install_seconds + job_seconds, 1), "install_seconds": install_seconds,
            "job_seconds": job_seconds, "exit_status": installed.returncode or job.returncode,
            "command": "pip install -e . && imbalance-flows " + " ".join(FIRST_JOB)}


def minutes(seconds: float) -> str:
    """`seconds` as the docs write a duration: 1 min 32 s."""
    whole = round(seconds)
    return f"{whole // 60} min {whole % 60} s" if whole >= 60 else f"{whole} s"


def quote_in_readme(lanes: dict) -> None:
    """The README's sentence on the lanes, rewritten with these durations (a test checks that it matches)."""
    readme = ROOT / "README.md"
    pattern = re.compile(r"(the quick lane took)\s+.+?\s+(and the full run)\s+.+?(\s+\(`python -m bench\.test_lanes`)",
                         re.S)
    text, found = pattern.subn(rf"\g<1> {lanes['quick']['duration']} \g<2> {lanes['full']['duration']}\g<3>",
                               readme.read_text())
    text, installed = re.subn(r"(a clean clone installs them in)\s+.+?\.", rf"\g<1> {lanes['install']['duration']}.",
                              text, count=1, flags=re.S)
    first = lanes.get("first")
    quoted = 1
    if first:
        text, quoted = re.subn(r"(From a fresh clone the first command took)\s+.+?(, install included)",
                               rf"\g<1> {first['duration']}\g<2>", text, count=1, flags=re.S)
        text, job = re.subn(r"(the main job\s+itself takes)\s+.+?(\s+on an idle)",
                            rf"\g<1> {minutes(first['job_seconds'])}\g<2>", text, count=1, flags=re.S)
        quoted = min(quoted, job)
    if found != 1 or installed != 1 or quoted != 1:
        raise SystemExit("README.md: the sentence on the test lanes was not found")
    readme.write_text(text)


def main(argv: list[str]) -> None:
    """Run the lanes named in `argv` (default: both); a lane not run keeps its last results."""
    known = ["install", *LANES, "first"]
    chosen = argv or known
    unknown = set(chosen) - set(known)
    if unknown:
        raise SystemExit(f"unknown lanes {sorted(unknown)}; known: {', '.join(known)}")
    path = RESULTS / "test_lanes.json"
    kept = json.loads(path.read_text())["lanes"] if path.is_file() and argv else {}
    report = {**stamp("bench.test_lanes", argv), "workers": " ".join(WORKERS), "lanes": {}}
    for name in known:
        if name not in chosen:
            if name in kept:
                report["lanes"][name] = kept[name]
            continue
        report["lanes"][name] = lane = (time_install() if name == "install" else time_first_command()
                                        if name == "first" else run_lane(LANES[name]))
        lane["duration"] = minutes(lane["seconds"])
        print(name, lane["duration"], lane.get("summary", lane.get("command")), flush=True)
    report["command"] = "python -m bench.test_lanes " + " ".join(report["lanes"])  # every part the results hold
    (RESULTS / "test_lanes.json").write_text(json.dumps(report, indent=2) + "\n")
    quote_in_readme(report["lanes"])
    install = report["lanes"]["install"]
    write_markdown("test_lanes", "The test lanes", report, [
        f"A clean clone's install, `{install['command']}` in a fresh virtual environment: {install['duration']}"
        f"{'' if install['exit_status'] == 0 else ' (failed)'}.", "",
        *([f"The README's first command on a clean clone with a fresh HOME, `{first['command']}`: "
           f"{first['duration']} ({minutes(first['install_seconds'])} to install, {minutes(first['job_seconds'])} "
           f"the main job){'' if first['exit_status'] == 0 else ' (failed)'}.", ""]
          if (first := report["lanes"].get("first")) else []),
        f"Both lanes run as `python -m pytest {report['workers']}` (the README's command), one after the other.", "",
        "| lane | time | the tests' own time, summed | outcome |", "|---|---|---|---|",
        *[f"| {name} | {lane['duration']} | {minutes(lane['test_seconds'])} | {lane['summary'].strip('= ')} |"
          for name, lane in report["lanes"].items() if name in LANES]])


if __name__ == "__main__":
    main(sys.argv[1:])
