"""Training on data larger than any Dask worker's memory: a partitioned table on a local cluster.

    python -m bench.dask_scale [--files 40] [--rows-per-file 900000] [--worker-memory 1.5GiB] [--bucket]

A synthetic table of `files` Parquet files × `rows-per-file` rows × 30 float32 features with
a 1.5 % minority (the same concept in every file, each file its own rows) is trained on by
`imbalance-flows train FOLDER --target y --dask-address ...` against a local `dask scheduler`
and two `dask worker` processes, each limited to `worker-memory`, with a running Prefect
server. Loading (checking every file), splitting, the members' sampling, scoring the test
split and the training rows' fingerprints all go file by file; the members fit on the size
rule's sample. Measured: wall time, the peak memory of each worker and of the flow's own
process, whether a worker was killed or restarted, the test split's balanced accuracy.
With `--bucket`, the table and the store are in a bucket of an S3 API server (moto's, on 127.0.0.1)
that the workers read and write file by file.
Writes bench/results/dask_scale.{json,md} (dask_scale_bucket.* with --bucket); the data is cached in
bench/results/dask-cache/.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from bench.scale import _free_port, stamp, start_server

RESULTS = Path(__file__).parent / "results"
PYTHON = sys.executable
FEATURES = 30
MINORITY = 0.015


def concept(features: int = FEATURES):
    """The same rule in every file: a linear score on ten features, one interaction, and noise."""
    rng = np.random.default_rng(12345)
    weights = rng.normal(size=10).astype(np.float32)
    sample = rng.standard_normal((200_000, features), dtype=np.float32)
    score = sample[:, :10] @ weights + 0.8 * sample[:, 0] * sample[:, 1] + rng.normal(0, 1.0, len(sample))
    return weights, float(np.quantile(score, 1 - MINORITY))


def write_partitioned(folder: Path, files: int, rows_per_file: int, features: int = FEATURES) -> int:
    """`files` Parquet files of a binary table (label column `y`, 1 the minority); returns its bytes in memory."""
    import pandas as pd

    folder.mkdir(parents=True, exist_ok=True)
    weights, cut = concept(features)
    for index in range(files):
        path = folder / f"part-{index:05d}.parquet"
        if path.exists():
            continue
        rng = np.random.default_rng(index)
        X = rng.standard_normal((rows_per_file, features), dtype=np.float32)
        score = X[:, :10] @ weights + 0.8 * X[:, 0] * X[:, 1] + rng.normal(0, 1.0, rows_per_file)
        frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(features)])
        frame["y"] = (score > cut).astype(np.int8)
        frame.to_parquet(f"{path}.tmp", index=False, row_group_size=100_000)
        os.replace(f"{path}.tmp", path)
    return files * rows_per_file * (features * 4 + 1)


def _rss(pids: list[int]) -> dict[int, int]:
    import psutil

    out = {}
    for pid in pids:
        try:
            out[pid] = psutil.Process(pid).memory_info().rss
        except psutil.Error:
            pass
    return out


def _worker_pids(parent: int) -> list[int]:
    """The worker processes: `dask worker` runs the nannies, each nanny starts one worker process."""
    import psutil

    try:
        return [child.pid for child in psutil.Process(parent).children(recursive=True)
                if "resource_tracker" not in " ".join(child.cmdline())]
    except psutil.Error:
        return []


def run(files: int, rows_per_file: int, worker_memory: str, bucket: bool = False) -> dict:
    if not bucket:
        return _run(files, rows_per_file, worker_memory, {})
    import s3fs

    from bench.object_storage import s3_server

    with s3_server() as s3_env:
        os.environ.update(s3_env)  # this process reads the saved version's report from the bucket
        data = RESULTS / "dask-cache" / f"{files}x{rows_per_file}"
        write_partitioned(data, files, rows_per_file)
        started = time.perf_counter()
        s3fs.S3FileSystem().mkdir("bench")
        s3fs.S3FileSystem().put(f"{data}/", "bench/parts/", recursive=True)
        print(f"uploaded to the bucket in {time.perf_counter() - started:.0f} s", flush=True)
        return _run(files, rows_per_file, worker_memory, s3_env, "s3://bench/parts", "s3://bench/store")


def _run(files: int, rows_per_file: int, worker_memory: str, extra_env: dict, data_url: str | None = None,
         store_url: str | None = None) -> dict:
    from imbalance_flows.tasks import storage

    data = RESULTS / "dask-cache" / f"{files}x{rows_per_file}"
    started = time.perf_counter()
    nbytes = write_partitioned(data, files, rows_per_file)
    print(f"data: {files} files, {files * rows_per_file} rows, {nbytes / 2**30:.2f} GiB in memory "
          f"(written in {time.perf_counter() - started:.0f} s)", flush=True)
    home = tempfile.mkdtemp(prefix="dask-scale-")
    env = {**os.environ, **extra_env, "PREFECT_HOME": home, "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PYTHONWARNINGS": "ignore"}
    server, url = start_server(home)
    env["PREFECT_API_URL"] = url
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    dask = str(Path(PYTHON).with_name("dask"))
    logs = Path(home)
    scheduler = subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                  "--dashboard-address", ":0"], env=env, stdout=open(logs / "scheduler.log", "w"),
                                 stderr=subprocess.STDOUT)
    workers = subprocess.Popen([dask, "worker", address, "--nworkers", "2", "--nthreads", "1", "--memory-limit",
                                worker_memory, "--dashboard-address", ":0"], env=env,
                               stdout=open(logs / "workers.log", "w"), stderr=subprocess.STDOUT)
    store = store_url or str(Path(home) / "store")
    try:
        deadline = time.monotonic() + 120
        while (logs / "workers.log").read_text().count("Registered to") < 2:
            if time.monotonic() > deadline:
                raise RuntimeError("the Dask workers did not start")
            time.sleep(0.5)
        peaks: dict[int, int] = {}
        flow_peak = [0]
        done = threading.Event()
        command = [PYTHON, "-m", "imbalance_flows", "train", data_url or str(data), "--target", "y", "--store",
                   store, "--dask-address", address]
        started = time.perf_counter()
        flow = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

        def watch():
            while not done.is_set():
                for pid, rss in _rss(_worker_pids(workers.pid)).items():
                    peaks[pid] = max(peaks.get(pid, 0), rss)
                flow_peak[0] = max(flow_peak[0], sum(_rss([flow.pid]).values()))
                time.sleep(0.5)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        out, err = flow.communicate()
        seconds = time.perf_counter() - started
        done.set()
        watcher.join()
        log = (logs / "workers.log").read_text()
        restarted = sum(log.count(marker) for marker in ("Restarting worker", "exceeded 95% memory budget",
                                                         "Worker process still alive after"))
        if flow.returncode != 0:
            raise RuntimeError(f"the flow failed:\n{err[-4000:]}")
        version = out.strip().splitlines()[-1]
        report = json.loads(storage.read_bytes(storage.join(version, "report.json")))
        ensemble = report.get("ensemble", report)
        stages = [" | ".join(part.strip() for part in line.split("|")[::2]) for line in err.splitlines()
                  if "Finished in state" in line or "Loaded " in line]  # time | message
        return {"files": files, "rows": files * rows_per_file, "features": FEATURES,
                "data_at": data_url or "local disk", "store_at": store_url or "local disk",
                "data_gib": round(nbytes / 2**30, 2), "on_disk_gib": round(sum(
                    file.stat().st_size for file in data.iterdir()) / 2**30, 2),
                "workers": 2, "worker_memory_limit": worker_memory, "seconds": round(seconds, 1),
                "worker_peak_gib": sorted(round(peak / 2**30, 2) for peak in peaks.values()),
                "flow_process_peak_gib": round(flow_peak[0] / 2**30, 2), "workers_restarted_or_killed": restarted,
                "balanced_accuracy": round(ensemble["balanced_accuracy"], 4),
                "roc_auc": round(ensemble.get("roc_auc") or float("nan"), 4), "log": stages[-12:]}
    finally:
        for process in (workers, scheduler, server):
            process.terminate()
        for process in (workers, scheduler, server):
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
        shutil.rmtree(home, ignore_errors=True)


def write(result: dict, name: str = "dask_scale") -> None:
    result = {**stamp("bench.dask_scale", sys.argv[1:]),
              **result}
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    ok = result["workers_restarted_or_killed"] == 0 and max(result["worker_peak_gib"]) < result["data_gib"]
    lines = [
        "# A table larger than any worker, trained on a Dask cluster", "",
        f"`{result['command']}` on {result['machine']}, {result['date']}.", "",
        "| data | workers | wall time | peak memory per worker | flow process peak | workers restarted or killed "
        "| balanced accuracy | ROC-AUC |", "|---|---|---:|---|---:|---:|---:|---:|",
        f"| {result['files']} Parquet files, {result['rows']:,} rows × {result['features']} float32 = "
        f"{result['data_gib']} GiB in memory ({result['on_disk_gib']} GiB on disk) | {result['workers']} × "
        f"{result['worker_memory_limit']} | {result['seconds']:.0f} s | "
        f"{', '.join(f'{peak} GiB' for peak in result['worker_peak_gib'])} | {result['flow_process_peak_gib']} GiB | "
        f"{result['workers_restarted_or_killed']} | {result['balanced_accuracy']} | {result['roc_auc']} |", "",
        f"**{'PASS' if ok else 'FAIL'}**: trained and scored with no worker killed or restarted, every worker's "
        "peak below the data's size.", "",
    ]
    if result.get("data_at", "local disk") != "local disk":
        lines[2:2] = [f"Data at `{result['data_at']}`, store at `{result['store_at']}`: a bucket of an S3 API "
                      "server on 127.0.0.1 (moto's), read and written file by file by the workers.", ""]
    (RESULTS / f"{name}.md").write_text("\n".join(lines))
    print("\n".join(lines))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=40)
    parser.add_argument("--rows-per-file", type=int, default=900_000)
    parser.add_argument("--worker-memory", default="1.5GiB")
    parser.add_argument("--bucket", action="store_true", help="the table and the store in a bucket of a local S3 "
                        "API server (results: dask_scale_bucket.*)")
    args = parser.parse_args(argv)
    write(run(args.files, args.rows_per_file, args.worker_memory, args.bucket),
          "dask_scale_bucket" if args.bucket else "dask_scale")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
