"""The champion online: requests per second and latency of `imbalance-flows serve-model`, against scoring the same
rows in-process (`predict_proba`), side by side in one run.

A churn model (the default recipe on the bundled table) is trained once into a store under bench/results; the
server runs as users run it (one uvicorn process on 127.0.0.1) and one client sends requests one after another:
1 row and 1,000 rows a request. Run from the repository root, nothing else heavy on the machine::

    .venv/bin/python -m bench.serve_model

Results go to `bench/results/serve_model.json` and `serve_model.md`.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.scale import RESULTS, ROOT, stamp, write_markdown

CLI = str(Path(sys.executable).with_name("imbalance-flows"))
SIZES = {1: 400, 1000: 40}  # rows a request: requests sent


def _train(store: Path) -> None:
    subprocess.run([CLI, "train", str(ROOT / "tasks" / "bundled" / "churn.parquet"), "--target", "churn",
                    "--store", str(store)], check=True, capture_output=True)
    version = next((store / "versions").iterdir())
    subprocess.run([CLI, "models", "promote", version.name, "--store", str(store)], check=True, capture_output=True)


def _percentiles(seconds: list[float]) -> dict:
    ms = np.asarray(seconds) * 1000
    return {"p50_ms": round(float(np.percentile(ms, 50)), 2), "p99_ms": round(float(np.percentile(ms, 99)), 2),
            "per_second": round(float(len(ms) / (ms.sum() / 1000)), 1)}


def threads_or_not(model, frame) -> list[dict]:
    """`predict_proba` of a few sizes with joblib's threads (what a forest asks for) and in one thread, alternating:
    where `VotingEnsemble.SEQUENTIAL_BELOW` should lie."""
    import joblib
    import pandas as pd

    from imbalance_flows.tasks.model import ensemble, fitting

    rows = []
    bigger = pd.concat([frame] * 8, ignore_index=True)
    saved, ensemble.SEQUENTIAL_BELOW = ensemble.SEQUENTIAL_BELOW, 0  # the product's choice off: asked explicitly
    # Every batch scored in this thread, under the joblib setting asked for (the product scores large ones on a
    # thread of its own, which a caller's joblib setting does not reach).
    own_thread, fitting.on_own_thread = fitting.on_own_thread, lambda work: work()
    try:
        for size, repeats in ((1, 40), (1000, 20), (5000, 10), (20000, 5), (40000, 3)):
            batch = bigger.head(size)
            model.predict_proba(batch)
            threaded, single = [], []
            for _ in range(repeats):
                started = time.perf_counter()
                model.predict_proba(batch)
                threaded.append(time.perf_counter() - started)
                with joblib.parallel_config(backend="sequential"):
                    started = time.perf_counter()
                    model.predict_proba(batch)
                    single.append(time.perf_counter() - started)
            rows.append({"rows": size, "threads_ms": round(float(np.median(threaded)) * 1000, 1),
                         "one_thread_ms": round(float(np.median(single)) * 1000, 1)})
            print(rows[-1], flush=True)
    finally:
        ensemble.SEQUENTIAL_BELOW, fitting.on_own_thread = saved, own_thread
    return rows


def main(argv: list[str]) -> None:
    import httpx
    import pandas as pd

    from imbalance_flows import load_model
    from imbalance_flows.tasks.store.model_store import champion

    folder = Path(tempfile.mkdtemp(prefix="serve-model-"))
    store = folder / "models"
    _train(store)
    frame = pd.read_parquet(ROOT / "tasks" / "bundled" / "churn.parquet").drop(columns="churn")
    model = load_model(champion(store))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen([CLI, "serve-model", "--store", str(store), "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
    report = {**stamp("bench.serve_model", argv), "model": "default recipe on tasks/bundled/churn.parquet",
              "results": []}
    try:
        for _ in range(600):
            try:
                client.get("/health")
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        for rows, count in SIZES.items():
            batch = frame.head(rows)
            body = {"rows": json.loads(batch.to_json(orient="records"))}
            client.post("/predict", json=body).raise_for_status()  # warm
            model.predict_proba(batch)
            http, local = [], []
            for _ in range(count):  # alternating, so that the machine's drift touches both alike
                started = time.perf_counter()
                client.post("/predict", json=body).raise_for_status()
                http.append(time.perf_counter() - started)
                started = time.perf_counter()
                model.predict_proba(batch)
                local.append(time.perf_counter() - started)
            over_http, in_process = _percentiles(http), _percentiles(local)
            report["results"].append({"rows": rows, "requests": count, "http": over_http, "in_process": in_process,
                                      "p50_ratio": round(over_http["p50_ms"] / in_process["p50_ms"], 2)})
            print(report["results"][-1], flush=True)
        report["threads"] = threads_or_not(model, frame)
    finally:
        server.terminate()
        server.wait(timeout=30)
    (RESULTS / "serve_model.json").write_text(json.dumps(report, indent=2) + "\n")
    write_markdown("serve_model", "The champion online", report, [
        f"One client, requests one after another, to one `serve-model` process on 127.0.0.1; the model: {report['model']}.",
        "", "| rows a request | requests | HTTP p50 | HTTP p99 | HTTP requests/s | in-process p50 | p50 ratio |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        *[f"| {r['rows']} | {r['requests']} | {r['http']['p50_ms']} ms | {r['http']['p99_ms']} ms | "
          f"{r['http']['per_second']} | {r['in_process']['p50_ms']} ms | {r['p50_ratio']}× |" for r in report["results"]],
        "", "## One thread or joblib's threads", "",
        "`predict_proba` of the same model, medians; the product scores in one thread below "
        "`SEQUENTIAL_BELOW` rows (tasks/model/ensemble.py).", "",
        "| rows | joblib's threads | one thread |", "|---:|---:|---:|",
        *[f"| {r['rows']} | {r['threads_ms']} ms | {r['one_thread_ms']} ms |" for r in report["threads"]]])


if __name__ == "__main__":
    main(sys.argv[1:])
