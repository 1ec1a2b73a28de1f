"""Data, store and scores in a bucket against the same on local disk: train and predict at 1M rows.

    python -m bench.object_storage [--rows 1000000] [--repeats 3]

The synthetic table of `bench.scale` (N rows × 30 float32 features, about 1.5 % rare) is trained on
with `imbalance-flows train DATA --target y --store STORE` and scored with `imbalance-flows predict
VERSION DATA --out OUT --store STORE`, against a running `prefect server`, once with everything on
local disk and once with everything in a bucket of an S3 API server (moto's, in its own process on
127.0.0.1, as the tests use; an S3 service elsewhere adds its network's latency and bandwidth).
The two places alternate, `repeats` times each, each training into a new store (no member is reused
from an earlier run's cache); each command's wall time and the peak memory of its process tree are
taken, and the medians compared as a ratio (bucket / disk).
Writes bench/results/object_storage.{json,md}.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench.scale import (
    RESULTS,
    _free_port,
    data_path,
    measured,
    stamp,
    start_server,
    write_markdown,
)

CLI = str(Path(sys.executable).with_name("imbalance-flows"))


@contextlib.contextmanager
def s3_server():
    """An S3 API server (moto's) on 127.0.0.1 in its own process; yields the variables that point clients at it."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p",
                               str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the S3 API server did not start") from None
                time.sleep(0.2)
        yield {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1",
               "AWS_ENDPOINT_URL": url}
    finally:
        server.terminate()
        server.wait(timeout=60)


def _places(rows: int, env: dict, work: str) -> dict:
    """Where each mode keeps data, store and scores; the bucket's copy of the data uploaded once."""
    import s3fs

    local = data_path(rows)
    fs = s3fs.S3FileSystem(endpoint_url=env["AWS_ENDPOINT_URL"], key=env["AWS_ACCESS_KEY_ID"],
                           secret=env["AWS_SECRET_ACCESS_KEY"])
    fs.mkdir("bench")
    fs.put_file(str(local), f"bench/data/{local.name}")
    return {"disk": {"data": str(local), "store": os.path.join(work, "store"), "out": os.path.join(work, "scores.parquet")},
            "bucket": {"data": f"s3://bench/data/{local.name}", "store": "s3://bench/store",
                       "out": "s3://bench/scores/scores.parquet"}}


def run(rows: int, repeats: int) -> dict:
    work = tempfile.mkdtemp(prefix="object-storage-")
    server, url = start_server(os.path.join(work, "prefect"))
    try:
        with s3_server() as s3_env:
            env = {**os.environ, **s3_env, "PREFECT_API_URL": url, "PREFECT_HOME": os.path.join(work, "prefect"),
                   "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "OMP_WAIT_POLICY": "PASSIVE"}
            places = _places(rows, env, work)
            times = {mode: {"train": [], "predict": [], "train_peak": [], "predict_peak": []} for mode in places}
            for repeat in range(repeats):
                for mode in (("disk", "bucket") if repeat % 2 == 0 else ("bucket", "disk")):
                    place = places[mode]
                    store = f"{place['store']}-{repeat}"  # a new store each time: no member reused from a cache
                    seconds, peak, text = measured([CLI, "train", place["data"], "--target", "y", "--store", store],
                                                   env)
                    version = text.strip().splitlines()[-1]
                    times[mode]["train"].append(seconds)
                    times[mode]["train_peak"].append(peak)
                    seconds, peak, _ = measured([CLI, "predict", version, place["data"], "--out", place["out"],
                                                 "--store", store], env)
                    times[mode]["predict"].append(seconds)
                    times[mode]["predict_peak"].append(peak)
                    print(f"{mode} #{repeat + 1}: train {times[mode]['train'][-1]:.1f} s, predict {seconds:.1f} s",
                          flush=True)
    finally:
        server.terminate()
        server.wait(timeout=60)
        shutil.rmtree(work, ignore_errors=True)
    medians = {mode: {key: statistics.median(values) for key, values in found.items()} for mode, found in times.items()}
    return {"rows": rows, "repeats": repeats, "runs": times, "medians": medians,
            "ratio": {step: round(medians["bucket"][step] / medians["disk"][step], 2) for step in ("train", "predict")}}


def write(result: dict, argv: list[str]) -> None:
    result = {**stamp("bench.object_storage", argv), **result}
    (RESULTS / "object_storage.json").write_text(json.dumps(result, indent=2) + "\n")
    medians = result["medians"]
    lines = [f"{result['rows']:,} rows × 30 float32 features, {result['repeats']} runs of each, alternating; "
             "medians. `disk`: data, store and scores on local disk; `bucket`: all three in a bucket of an S3 "
             "API server on 127.0.0.1 (moto's). Peak: the largest total RSS of the command's process tree.", "",
             "| step | disk | bucket | bucket / disk | peak, disk | peak, bucket |", "|---|---:|---:|---:|---:|---:|"]
    for step in ("train", "predict"):
        lines.append(f"| {step} | {medians['disk'][step]:.1f} s | {medians['bucket'][step]:.1f} s | "
                     f"{result['ratio'][step]:.2f} × | {medians['disk'][step + '_peak'] / 2**30:.2f} GiB | "
                     f"{medians['bucket'][step + '_peak'] / 2**30:.2f} GiB |")
    write_markdown("object_storage", "Data, store and scores in a bucket against local disk", result, lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    write(run(args.rows, args.repeats), argv)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
