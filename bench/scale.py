"""Scaling curve and orchestration overhead: the training flow and the default model against the peers practitioners pick first.

Synthetic tables of N rows × 30 float32 features, about 1.5 % of them in the rare class:
`make_classification(n_samples=N, n_features=30, n_informative=10, weights=[0.99, 0.01], flip_y=0.01,
random_state=0)`, written to Parquet once (cached in bench/results/scale-cache/, not committed). At
each size, one after another in one run, each in its own process (its peak memory is the largest
total RSS of its process tree, sampled every 0.2 s), three times each up to 1M rows (every model once a
round; the median time is kept) and once at 10M:

- `flow (server)`: `imbalance-flows train data.parquet --target y` against a running `prefect server`
  started by this script on 127.0.0.1;
- `flow (CLI)`: the same command with no server: Prefect starts its temporary one (its time counts),
  measured, as every model is, once the running server is idle again (`quiet`),
  its database kept between runs in one PREFECT_HOME, created first by a trivial flow (a machine's
  first run ever creates it: about 9 s more, once);
- `default model`: what a user of the estimator runs: read the file, the flow's stratified split,
  `default_ensemble().fit`, then `predict` on the test split (which asks only the members that vote); the goals
  against the peers (their time, the front) judge this one;
- `direct` (the flow's work without orchestration): the same as direct calls: read the file, the flow's
  stratified split, `default_ensemble().fit`, every member's probabilities on the test split (the flow's report
  shows each member), the vote and the flow's metrics; the flow's time goal judges against this one;
- Prefect's floor (once per run, the median of three): a flow of `FLOOR_TASKS` empty tasks in a process of its
  own against the same server: Prefect's import and the API calls of a run and its task runs, what any flow
  pays before its work; with `direct`, it bounds how close the flow can come to the direct calls;
- the peers a practitioner picks first: `BalancedRandomForest` (`n_jobs=-1`), `BalancedBagging`
  (imbalanced-learn's, its defaults, `n_jobs=-1`), `RUS + HGB` (RandomUnderSampler then
  HistGradientBoosting), `LightGBM` (`class_weight="balanced"`) and `XGBoost` (balanced sample weights),
  each read, fitted and scored on the flow's split.

Then, with no server running, at 100k and 1M rows, where the default model's time and LightGBM's are
within a few per cent of each other (the machine's drift between rounds), the two run one after the other
in `PAIRS` pairs; that goal is judged on the median of the pairs' ratios (the rounds' ratio printed beside it).
At 10M rows, where each model runs once, the flow against the running server and the direct calls also run one
after the other in `FLOW_PAIRS` pairs, and the flow's time goal is judged on the median of their ratios.

Balanced accuracy is on the flow's test split (20 %, stratified, seed 0) for every model. Run from
the repository root, with nothing else heavy on the machine::

    .venv/bin/python -m bench.scale                 # 10k, 100k, 1M and 10M rows
    .venv/bin/python -m bench.scale 10000 100000    # some sizes only (the results keep the others)

Results go to `bench/results/scale.json`, `scale.md` and the log-log plot `scale.png`; the goals of
the size rule's page (docs/concepts/size-rule.md) print PASS or FAIL.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
CACHE = RESULTS / "scale-cache"
ROOT = HERE.parent
PYTHON = sys.executable
SIZES = (10_000, 100_000, 1_000_000, 10_000_000)
DEFAULT = "default model"  # fit + predict, as the estimator's users call it: judged against the peers
# Sizes where the default model's time is also measured in pairs of runs against LightGBM's (the goals compare
# them there within a few per cent, the machine's noise between rounds): PAIRS pairs, each the two one after the
# other, the median of the pairs' ratios kept.
PAIRED, PAIRS = (100_000, 1_000_000), 5
# Where each model runs once (10M rows), the flow against a running server and the direct calls also run one after
# the other in FLOW_PAIRS pairs, and the flow's time goal is judged on the median of the pairs' ratios: one run of
# each differed from the next by as much as the goal allows (the flow through the command line, more work, once
# ran faster than the flow against the server in the same round).
FLOW_PAIRS = 3
PEERS = ("BalancedRandomForest", "BalancedBagging", "RUS + HGB", "LightGBM", "XGBoost")
TEST_SIZE, SEED = 0.2, 0
BYTES_PER_ROW = 30 * 4  # the features as float32: "the data" the memory goal is measured against


def data_path(rows: int) -> Path:
    """The synthetic table of `rows` rows, written once."""
    path = CACHE / f"synthetic-{rows}.parquet"
    if not path.exists():
        import numpy as np
        import pandas as pd
        from sklearn.datasets import make_classification

        CACHE.mkdir(parents=True, exist_ok=True)
        X, y = make_classification(n_samples=rows, n_features=30, n_informative=10, weights=[0.99, 0.01],
                                   flip_y=0.01, random_state=0)
        frame = pd.DataFrame(X.astype(np.float32), columns=[f"x{i}" for i in range(30)])
        frame["y"] = y
        del X
        staging = path.with_suffix(".partial")
        frame.to_parquet(staging, index=False)
        os.replace(staging, path)
    return path


def _split(path: Path):
    """The flow's own stratified train / test split of the file (`steps.split`, validation out of fold)."""
    import pandas as pd

    from imbalance_flows.tasks.data.splits import stratified_indices

    frame = pd.read_parquet(path)
    X, y = frame.drop(columns="y"), frame["y"].to_numpy()
    train, test = stratified_indices(y, [TEST_SIZE], SEED, " in the file")
    return X.iloc[train], y[train], X.iloc[test], y[test]


def peer(name: str, y_train) -> tuple[object, dict]:
    """One of the `PEERS`, unfitted, and its fit parameters: balanced class weights, as row weights for XGBoost
    (XGBClassifier has no class_weight; it takes class codes 0 … k − 1 as labels)."""
    if name == "BalancedRandomForest":
        from imblearn.ensemble import BalancedRandomForestClassifier
        return BalancedRandomForestClassifier(n_estimators=100, sampling_strategy="all", replacement=True,
                                              bootstrap=False, n_jobs=-1, random_state=0), {}
    if name == "RUS + HGB":
        from imblearn.pipeline import make_pipeline
        from imblearn.under_sampling import RandomUnderSampler
        from sklearn.ensemble import HistGradientBoostingClassifier
        return make_pipeline(RandomUnderSampler(random_state=0), HistGradientBoostingClassifier(random_state=0)), {}
    if name == "LightGBM":
        from lightgbm import LGBMClassifier
        return LGBMClassifier(class_weight="balanced", random_state=0, verbose=-1), {}
    if name == "XGBoost":
        from sklearn.utils.class_weight import compute_sample_weight
        from xgboost import XGBClassifier
        return (XGBClassifier(random_state=0, n_jobs=os.cpu_count()),
                {"sample_weight": compute_sample_weight("balanced", y_train)})
    if name == "BalancedBagging":
        from imblearn.ensemble import BalancedBaggingClassifier
        return BalancedBaggingClassifier(n_jobs=-1, random_state=0), {}
    raise SystemExit(f"unknown model {name!r}")


def baseline(name: str, path: Path) -> dict:
    """One comparison model read, fitted and scored on the flow's split (run in its own process)."""
    from sklearn.metrics import balanced_accuracy_score

    X_train, y_train, X_test, y_test = _split(path)
    if name == "direct":
        from imbalance_flows import default_ensemble
        from imbalance_flows.tasks.evaluation.metrics import evaluate
        model = default_ensemble(random_state=SEED).fit(X_train, y_train)
        probas = model.member_probas(X_test)
        predicted, proba = model.scored(probas)
        metrics = evaluate(y_test, predicted, proba, model.classes_, None)
        return {"balanced_accuracy": metrics["balanced_accuracy"]}
    if name == "default model":
        from imbalance_flows import default_ensemble
        model, fit_params = default_ensemble(random_state=SEED), {}
    else:
        model, fit_params = peer(name, y_train)
    model.fit(X_train, y_train, **fit_params)
    return {"balanced_accuracy": float(balanced_accuracy_score(y_test, model.predict(X_test)))}


def timed(work) -> float:
    """Wall seconds `work()` took, rounded to the hundredth."""
    started = time.perf_counter()
    work()
    return round(time.perf_counter() - started, 2)


def stamp(module: str, argv: list[str]) -> dict:
    """Where and when a benchmark ran, and the command that runs it again."""
    import platform
    from datetime import date

    return {"machine": f"{platform.node()}: {os.cpu_count()} cores, "
                       f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB",
            "date": date.today().isoformat(), "command": f"python -m {module} " + " ".join(argv)}


def write_markdown(name: str, title: str, report: dict, lines: list[str]) -> None:
    """Write and print bench/results/NAME.md: the title, where and when it ran (`stamp`), how to run it again, `lines`."""
    text = "\n".join([f"# {title}", "", f"Run {report['date']} on {report['machine']}. Reproduce:", "",
                      f"    .venv/bin/{report['command']}", "", *lines]) + "\n"
    (RESULTS / f"{name}.md").write_text(text)
    print(text)


def _tree_rss(process) -> int:
    total = 0
    for proc in [process, *process.children(recursive=True)]:
        try:
            total += proc.memory_info().rss
        except Exception:  # a child that just ended
            pass
    return total


def measured(command: list[str], env: dict) -> tuple[float, int, str]:
    """Run a command; its wall seconds, the peak RSS of its process tree and its standard output."""
    seconds, peak, text, code = measured_run(command, env)
    if code:
        raise RuntimeError(f"{' '.join(command)} failed ({code}):\n{text[-3000:]}")
    return seconds, peak, text


def measured_run(command: list[str], env: dict) -> tuple[float, int, str, int]:
    """`measured`, for a command that may fail: also its exit status."""
    import psutil

    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        watched, peak = psutil.Process(process.pid), 0
        while process.poll() is None:
            peak = max(peak, _tree_rss(watched))
            time.sleep(0.2)
        seconds = time.perf_counter() - started
        out.seek(0)
        text = out.read()
    return seconds, peak, text, process.returncode


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(home: str) -> tuple[subprocess.Popen, str]:
    """A `prefect server` on 127.0.0.1 with its own PREFECT_HOME; returns it and its API URL."""
    import urllib.request

    port = _free_port()
    env = {**os.environ, "PREFECT_HOME": home, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    server = subprocess.Popen([str(Path(PYTHON).parent / "prefect"), "server", "start", "--host", "127.0.0.1",
                               "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/api"
    deadline = time.time() + 180
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url + "/health", timeout=2)
            return server, url
        except Exception:
            time.sleep(1)
    server.kill()
    raise RuntimeError("the Prefect server did not answer within 180 s")


def flow_run(path: Path, env: dict) -> dict:
    """The training flow through the command line; its time, peak memory and the saved model's test metrics."""
    store = tempfile.mkdtemp(prefix="scale-store-")
    try:
        seconds, peak, text = measured([str(Path(PYTHON).parent / "imbalance-flows"), "train", str(path),
                                        "--target", "y", "--store", store], env)
        version = sorted((Path(store) / "versions").iterdir())[-1]
        manifest = json.loads((version / "manifest.json").read_text())
        members = [entry["spec"]["sampler"] + ":" + entry["spec"]["learner"] for entry in manifest["members"]]
        return {"seconds": seconds, "peak_bytes": peak, "members": members,
                "balanced_accuracy": manifest["metrics"]["ensemble"]["balanced_accuracy"]}
    finally:
        shutil.rmtree(store, ignore_errors=True)


def model_run(name: str, path: Path, env: dict) -> dict:
    seconds, peak, text = measured([PYTHON, "-m", "bench.scale", "--model", name, str(path)], env)
    result = json.loads(text.strip().splitlines()[-1])
    return {"seconds": seconds, "peak_bytes": peak, **result}


WARM_UP = "from prefect import flow\n@flow\ndef warm_up():\n    pass\nwarm_up()"
FLOOR_TASKS = 10  # about as many task runs as the training flow makes (load, split, stratify, members, vote, ...)
FLOOR = ("from prefect import flow, task\n@task\ndef step():\n    pass\n@flow\ndef floor():\n"
         f"    for _ in range({FLOOR_TASKS}):\n        step()\nfloor()")


def quiet(server: subprocess.Popen, idle_s: float = 2.0, at_most_s: float = 60.0) -> None:
    """Wait until the running Prefect server has done what the last run left it (its services take in the run's
    events and logs for some seconds after it ends): no more than 0.1 s of its CPU in `idle_s`. Without it, that
    work fell on the next model's run (the command line's run, after the flow against the server)."""
    import psutil

    process, deadline = psutil.Process(server.pid), time.monotonic() + at_most_s

    def cpu() -> float:
        total = 0.0
        for each in [process, *process.children(recursive=True)]:
            try:
                times = each.cpu_times()
                total += times.user + times.system
            except psutil.Error:  # a child that just ended
                pass
        return total

    while time.monotonic() < deadline:
        before = cpu()
        time.sleep(idle_s)
        if cpu() - before < 0.1:
            return


def rounds(rows: int) -> int:
    """How many times each model runs at this size: three up to 1M rows, where a run takes seconds and the
    machine's noise is as large as the differences the goals judge; once at 10M."""
    return 3 if rows <= 1_000_000 else 1


def median_run(runs: list[dict]) -> dict:
    """A model's runs as one: its median seconds (and every run's), its largest peak memory; its balanced
    accuracy is the same in every run (the same seed)."""
    seconds = sorted(run["seconds"] for run in runs)
    return {**runs[0], "seconds": seconds[len(seconds) // 2], "seconds_each": [run["seconds"] for run in runs],
            "peak_bytes": max(run["peak_bytes"] for run in runs)}


def run(sizes: list[int]) -> dict:
    report_path = RESULTS / "scale.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else {"sizes": {}}
    env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", ""),
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PYTHONWARNINGS": "ignore"}
    env = {key: value for key, value in env.items() if value != ""}
    home = tempfile.mkdtemp(prefix="scale-prefect-")
    server, url = start_server(home)
    # The command line's temporary server keeps its database in PREFECT_HOME, as a user's does between runs:
    # one trivial flow creates it first (on a fresh machine the first run pays that once, about 9 s).
    without = {**env, "PREFECT_HOME": tempfile.mkdtemp(prefix="scale-ephemeral-")}
    without.pop("PREFECT_API_URL", None)
    try:
        measured([PYTHON, "-c", WARM_UP], without)
        with_server = {**env, "PREFECT_HOME": home, "PREFECT_API_URL": url}
        floors = [measured([PYTHON, "-c", FLOOR], with_server)[0] for _ in range(3)]
        report["floor"] = {"seconds": sorted(floors)[1], "tasks": FLOOR_TASKS}
        print("Prefect's floor", report["floor"], flush=True)
        for rows in sizes:
            path = data_path(rows)
            runs = {}
            for _ in range(rounds(rows)):  # each model once a round, so that the machine's drift meets all alike
                for name in ["flow (server)", "flow (CLI)", "direct", DEFAULT, *PEERS]:
                    quiet(server)
                    result = (flow_run(path, with_server) if name == "flow (server)" else flow_run(path, without)
                              if name == "flow (CLI)" else model_run(name, path, env))
                    runs.setdefault(name, []).append(result)
                    print(rows, name, result, flush=True)
            results = {name: median_run(each) for name, each in runs.items()}
            report["sizes"][str(rows)] = {"data_bytes": rows * BYTES_PER_ROW, "rounds": rounds(rows),
                                          "results": results}
            report.update(date=time.strftime("%Y-%m-%d"), command=".venv/bin/python -m bench.scale",
                          machine=f"{os.cpu_count()}-core {platform.machine()}, Python {platform.python_version()}")
            report_path.write_text(json.dumps(report, indent=1))
        for rows in sizes:
            if rounds(rows) == 1:
                report["sizes"][str(rows)]["flow_pairs"] = flow_pairs(rows, server, with_server, env)
                report_path.write_text(json.dumps(report, indent=1))
    finally:
        server.terminate()
        server.wait(timeout=30)
    for rows in sizes:  # with no server running: the direct calls need none
        if rows in PAIRED:
            report["sizes"][str(rows)]["pairs"] = pairs(rows, env)
            report_path.write_text(json.dumps(report, indent=1))
    return report


def pairs(rows: int, env: dict) -> dict:
    """The default model and LightGBM run one after the other `PAIRS` times: each pair's seconds and the median of
    the pairs' ratios (a ratio within a pair is taken minutes apart at most, where the machine's speed drifts)."""
    path, seconds = data_path(rows), []
    for _ in range(PAIRS):
        seconds.append([model_run(name, path, env)["seconds"] for name in (DEFAULT, "LightGBM")])
        print(rows, "pair", seconds[-1], flush=True)
    ratios = sorted(model / lightgbm for model, lightgbm in seconds)
    return {"models": [DEFAULT, "LightGBM"], "seconds": seconds, "ratio": ratios[len(ratios) // 2]}


def flow_pairs(rows: int, server: subprocess.Popen, with_server: dict, env: dict) -> dict:
    """The flow against the running server and the direct calls one after the other `FLOW_PAIRS` times: each
    pair's seconds and the median of the pairs' ratios."""
    path, seconds = data_path(rows), []
    for _ in range(FLOW_PAIRS):
        pair = []
        for name in ("flow (server)", "direct"):
            quiet(server)
            pair.append(round((flow_run(path, with_server) if name == "flow (server)"
                               else model_run(name, path, env))["seconds"], 2))
        seconds.append(pair)
        print(rows, "flow pair", pair, flush=True)
    ratios = sorted(flow / direct for flow, direct in seconds)
    return {"models": ["flow (server)", "direct"], "seconds": seconds, "ratio": ratios[len(ratios) // 2]}


def goals(report: dict) -> list[tuple[str, bool | None, str]]:
    """The goals of the size rule's page (docs/concepts/size-rule.md): (goal, passed, the figures)."""
    sizes = report["sizes"]
    out = []

    def get(rows, name):
        return sizes.get(str(rows), {}).get("results", {}).get(name)

    for rows in sorted(map(int, sizes)):
        direct, model, label = get(rows, "direct"), get(rows, DEFAULT), f"{rows:,} rows"
        if not direct or not model:
            continue
        # On the front: no peer both faster and at least as good as the default model.
        better = [name for name in PEERS if get(rows, name) and get(rows, name)["seconds"] < model["seconds"]
                  and get(rows, name)["balanced_accuracy"] >= model["balanced_accuracy"]]
        out.append((f"{label}: no peer both faster and at least as good", not better,
                    "dominated by " + ", ".join(better) if better else "none"))
        peers = [get(rows, name) for name in ("BalancedRandomForest", "LightGBM") if get(rows, name)]
        if peers:
            delta = model["balanced_accuracy"] - max(peer["balanced_accuracy"] for peer in peers)
            out.append((f"{label}: balanced accuracy ≥ max(BalancedRandomForest, LightGBM) − 0.002", delta >= -0.002,
                        f"{delta:+.4f}"))
        lightgbm = get(rows, "LightGBM")
        limit = 1.0 if rows >= 1_000_000 else 2.0 if rows >= 100_000 else None
        if lightgbm and limit:
            ratio = model["seconds"] / lightgbm["seconds"]
            paired = sizes[str(rows)].get("pairs")
            figures = f"{ratio:.2f} × in the rounds"
            if paired:  # judged on the pairs where they were run
                figures = f"{paired['ratio']:.2f} × the median of {len(paired['seconds'])} pairs; {figures}"
                ratio = paired["ratio"]
            out.append((f"{label}: default model time (fit + predict) ≤ {limit:.1f} × LightGBM's", ratio <= limit,
                        figures))
        server, cli = get(rows, "flow (server)"), get(rows, "flow (CLI)")
        if server and rows >= 100_000:
            ratio = server["seconds"] / direct["seconds"]
            judged, paired = f"{ratio:.2f} ×", sizes[str(rows)].get("flow_pairs")
            if paired:  # judged on the pairs where they were run
                judged = (f"{paired['ratio']:.2f} × the median of {len(paired['seconds'])} pairs "
                          f"({', '.join(f'{a / b:.2f}' for a, b in paired['seconds'])}); {ratio:.2f} × in the round")
                ratio = paired["ratio"]
            floor = report.get("floor")
            least = (f"; Prefect's own floor, a flow of {floor['tasks']} empty tasks in a process of its own, "
                     f"{floor['seconds']:.1f} s, puts the least the flow can take at about "
                     f"{(direct['seconds'] + floor['seconds']) / direct['seconds']:.2f} ×" if floor else "")
            out.append((f"{label}: flow (server) time ≤ 1.10 × the same work as direct calls", ratio <= 1.10,
                        f"{judged}{least}"))
        if server and cli:
            extra = cli["seconds"] - server["seconds"]
            out.append((f"{label}: the command line's fixed cost ≤ 5 s over a running server", extra <= 5,
                        f"{extra:+.1f} s"))
    flow = get(10_000_000, "flow (server)")
    if flow:
        memory = flow["peak_bytes"] / sizes["10000000"]["data_bytes"]
        out.append(("10M rows: flow peak memory ≤ 4 × the data", memory <= 4, f"{memory:.1f} ×"))
        if get(1_000_000, "flow (server)"):
            growth = flow["seconds"] / get(1_000_000, "flow (server)")["seconds"]
            out.append(("1M → 10M rows: flow time grows at most linearly (≤ 10 ×)", growth <= 10, f"{growth:.1f} ×"))
    return out


def write(report: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted(report["sizes"], key=int)
    names = list(dict.fromkeys(name for rows in sizes for name in report["sizes"][rows]["results"]))
    figure, axis = plt.subplots(figsize=(6.5, 4.2))
    for name in names:
        points = [(int(rows), report["sizes"][rows]["results"][name]["seconds"]) for rows in sizes
                  if name in report["sizes"][rows]["results"]]
        axis.plot(*zip(*points), marker="o", label=name)
    axis.set(xscale="log", yscale="log", xlabel="rows (30 float32 features, 1.5 % rare)", ylabel="wall seconds",
             title="Training time against rows (fit, predict, evaluate)")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(RESULTS / "scale.png", dpi=110)
    lines = ["# Scaling: the training flow and the default model against the peers practitioners pick first", "",
             f"Run {report['date']} on {report['machine']}. Reproduce:", "", f"    {report['command']}", "",
             "Wall seconds (the median of three runs, each model once a round, up to 1M rows; one run at 10M), "
             "peak memory of the process tree (GiB, the largest of the runs) and balanced accuracy on the flow's test "
             "split. "
             "Each model reads the Parquet file itself; the flows' times include Prefect's.", "",
             "| rows | model | seconds | peak GiB | balanced accuracy |", "|---:|---|---:|---:|---:|"]
    for rows in sizes:
        for name, result in report["sizes"][rows]["results"].items():
            lines.append(f"| {int(rows):,} | {name} | {result['seconds']:.1f} | {result['peak_bytes'] / 2**30:.2f} | "
                         f"{result['balanced_accuracy']:.4f} |")
    lines += ["", "Goals:", ""]
    for goal, passed, figures in goals(report):
        lines.append(f"- {'PASS' if passed else 'FAIL'}: {goal} ({figures})")
    lines += ["", "![time against rows](scale.png)"]
    (RESULTS / "scale.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main(argv: list[str]) -> int:
    if argv[:1] == ["--model"]:
        print(json.dumps(baseline(argv[1], Path(argv[2]))))
        return 0
    sizes = [int(value) for value in argv] or list(SIZES)
    write(run(sizes))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
