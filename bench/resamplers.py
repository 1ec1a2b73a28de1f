"""Every resampling strategy at 1M rows, through the product: trained, or refused before it starts.

    python -m bench.resamplers [ROWS]        # default 1,000,000

For each strategy of the registry, `imbalance-flows train DATA --target y --member STRATEGY:hgb
--validation holdout` on the synthetic table of bench/scale.py (30 float32 features, 1.5 %
rare), against a running Prefect server, one after another. Holdout validation runs the
sampler once (out-of-fold judging would refit the member, and resample again). Above the size
rule's threshold a member resamples its class-capped sample of about 250,000 rows; a strategy
estimated to take more than 5 minutes on it is refused before any training.
Measured: wall time and peak memory of the command, the test split's balanced accuracy, or
the refusal. Writes bench/results/resamplers.{json,md}.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from bench.scale import PYTHON, data_path, measured_run, stamp, start_server

RESULTS = Path(__file__).parent / "results"


def strategies() -> list[str]:
    from imbalance_flows.tasks.sampling.resample import STRATEGIES

    return [name for name in STRATEGIES if name not in ("none", "class_weight")]


def one(name: str, data: str, env: dict) -> dict:
    store = tempfile.mkdtemp(prefix="resamplers-")
    command = [str(Path(PYTHON).parent / "imbalance-flows"), "train", data, "--target", "y", "--store", store,
               "--member", f"{name}:hgb", "--validation", "holdout"]
    try:
        seconds, peak, text, code = measured_run(command, env)
        row = {"seconds": round(seconds, 1), "peak_gib": round(peak / 2**30, 2)}
        if code == 0:
            version = Path(text.strip().splitlines()[-1])
            metrics = json.loads((version / "manifest.json").read_text())["metrics"]["ensemble"]
            return {**row, "outcome": "trained", "balanced_accuracy": round(metrics["balanced_accuracy"], 4)}
        errors = [line for line in text.splitlines() if line.startswith("error:")]
        return {**row, "outcome": "refused" if "refused before it starts" in text else "failed",
                "message": (errors[-1] if errors else text.strip().splitlines()[-1])[:400]}
    finally:
        shutil.rmtree(store, ignore_errors=True)


def run(rows: int) -> dict:
    data = str(data_path(rows))
    home = tempfile.mkdtemp(prefix="resamplers-prefect-")
    env = {**os.environ, "PREFECT_HOME": home, "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PYTHONWARNINGS": "ignore"}
    server, url = start_server(home)
    env["PREFECT_API_URL"] = url
    results = {}
    try:
        for name in strategies():
            results[name] = one(name, data, env)
            print(name, results[name], flush=True)
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(home, ignore_errors=True)
    return {"rows": rows, "results": results}


def write(report: dict) -> None:
    report = {**stamp("bench.resamplers", sys.argv[1:]),
              **report}
    (RESULTS / "resamplers.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = ["# Every resampling strategy at 1M rows, through the product", "",
             f"`{report['command']}` on {report['machine']}, {report['date']}: `imbalance-flows train` on "
             f"{report['rows']:,} rows × 30 float32 features (1.5 % rare), one member `STRATEGY:hgb`, holdout "
             "validation, a running Prefect server. Wall time and peak memory of the command.", "",
             "| strategy | outcome | wall time | peak memory | balanced accuracy / why refused |",
             "|---|---|---:|---:|---|"]
    for name, row in report["results"].items():
        detail = f"{row['balanced_accuracy']:.4f}" if row["outcome"] == "trained" else row["message"].replace(
            "|", "/")
        lines.append(f"| `{name}` | {row['outcome']} | {row['seconds']:.0f} s | {row['peak_gib']} GiB | {detail} |")
    (RESULTS / "resamplers.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main(argv: list[str]) -> int:
    write(run(int(argv[0]) if argv else 1_000_000))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
