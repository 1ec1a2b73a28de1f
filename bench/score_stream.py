"""Scoring a large table: the saved ensemble, chunk by chunk, against BalancedRandomForest's `predict`.

    python -m bench.score_stream [ROWS]        # default 10,000,000

Both models are fitted on the 1M-row synthetic table of bench/scale.py (its training split;
the ensemble with `default_ensemble`, which sizes itself). Then each scores the ROWS-row
table in its own process, one after another:

- `predict`: `imbalance-flows predict VERSION DATA --out scores.parquet --passthrough y` (the
  scoring flow, its temporary Prefect server included, its database created first as in
  `bench/scale.py`), 200,000 rows at a time, written to Parquet;
- `score_file`: the same scoring as a direct call, without Prefect;
- `BalancedRandomForest`: the table read whole, `predict_proba`, the scores written to Parquet.

Measured: wall time, time per million rows, peak memory of the process tree. Writes
bench/results/score_stream.{json,md}.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from bench.scale import PYTHON, WARM_UP, _split, data_path, measured, stamp

RESULTS = Path(__file__).parent / "results"
TRAIN_ROWS = 1_000_000
CHUNK_ROWS = 200_000


def fit(folder: Path) -> None:
    """Fit both models on the 1M table's training split; save the ensemble as a model version, the forest with
    joblib (scikit-learn's own way; the product's store never loads pickles)."""
    import joblib
    from imblearn.ensemble import BalancedRandomForestClassifier

    from imbalance_flows import default_ensemble
    from imbalance_flows.tasks.store.model_store import save_model

    X_train, y_train, _, _ = _split(data_path(TRAIN_ROWS))
    ensemble = default_ensemble(random_state=0).fit(X_train, y_train)
    version = save_model(ensemble, folder / "store")
    (folder / "version").write_text(str(version))
    forest = BalancedRandomForestClassifier(n_estimators=100, sampling_strategy="all", replacement=True,
                                            bootstrap=False, n_jobs=-1, random_state=0).fit(X_train, y_train)
    joblib.dump(forest, folder / "forest.joblib")


def score_direct(version: str, data: str, out: str) -> None:
    from imbalance_flows.tasks.serving.scoring import score_file
    from imbalance_flows.tasks.store.model_store import load_model

    score_file(load_model(version), data, out, version=Path(version).name, chunk_rows=CHUNK_ROWS, passthrough=["y"])


def score_forest(forest: str, data: str, out: str) -> None:
    import joblib
    import pandas as pd

    model = joblib.load(forest)
    frame = pd.read_parquet(data)
    proba = model.predict_proba(frame.drop(columns="y"))
    pd.DataFrame(proba, columns=[f"p_{label}" for label in model.classes_]).assign(
        predicted=model.classes_[proba.argmax(1)]).to_parquet(out, index=False)


def run(rows: int) -> dict:
    data = str(data_path(rows))
    folder = Path(tempfile.mkdtemp(prefix="score-stream-"))
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "PREFECT_HOME": str(folder / "prefect"),
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    try:
        measured([PYTHON, "-c", WARM_UP], env)  # the temporary server's database, kept between runs as a user's is
        seconds, _, _ = measured([PYTHON, "-m", "bench.score_stream", "--fit", str(folder)], env)
        print(f"fitted both models in {seconds:.0f} s", flush=True)
        version = (folder / "version").read_text()
        commands = {
            "predict": [str(Path(PYTHON).parent / "imbalance-flows"), "predict", version, data, "--out",
                        str(folder / "predict.parquet"), "--chunk-rows", str(CHUNK_ROWS), "--passthrough", "y"],
            "score_file": [PYTHON, "-m", "bench.score_stream", "--direct", version, data,
                           str(folder / "direct.parquet")],
            "BalancedRandomForest": [PYTHON, "-m", "bench.score_stream", "--forest", str(folder / "forest.joblib"),
                                     data, str(folder / "forest.parquet")],
        }
        results = {}
        for name, command in commands.items():
            seconds, peak, _ = measured(command, env)
            results[name] = {"seconds": round(seconds, 1), "per_million_rows_s": round(seconds / rows * 1e6, 2),
                             "peak_gib": round(peak / 2**30, 2)}
            print(name, results[name], flush=True)
        return {"rows": rows, "data_gib": round(rows * 30 * 4 / 2**30, 2), "chunk_rows": CHUNK_ROWS,
                "results": results}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def write(report: dict) -> None:
    report = {**stamp("bench.score_stream", sys.argv[1:]),
              **report}
    (RESULTS / "score_stream.json").write_text(json.dumps(report, indent=2) + "\n")
    results, forest = report["results"], report["results"]["BalancedRandomForest"]
    lines = ["# Scoring a large table, chunk by chunk", "",
             f"`{report['command']}` on {report['machine']}, {report['date']}: {report['rows']:,} rows × 30 "
             f"float32 features ({report['data_gib']} GiB in memory), scored by models fitted on 800k rows.", "",
             "| scorer | wall time | per million rows | × BalancedRandomForest | peak memory |",
             "|---|---:|---:|---:|---:|"]
    for name, result in results.items():
        lines.append(f"| {name} | {result['seconds']:.0f} s | {result['per_million_rows_s']} s | "
                     f"{result['seconds'] / forest['seconds']:.2f} | {result['peak_gib']} GiB |")
    fast = results["score_file"]["seconds"] <= forest["seconds"]
    flat = results["score_file"]["peak_gib"] < report["data_gib"]
    lines += ["", f"- **{'PASS' if fast else 'FAIL'}**: the ensemble scores at least as fast per row as "
              "BalancedRandomForest's `predict_proba` (direct calls).",
              f"- **{'PASS' if flat else 'FAIL'}**: its peak memory stays below the table's size (it reads "
              f"{report['chunk_rows']:,} rows at a time).", ""]
    (RESULTS / "score_stream.md").write_text("\n".join(lines))
    print("\n".join(lines))


def main(argv: list[str]) -> int:
    if argv[:1] == ["--fit"]:
        fit(Path(argv[1]))
    elif argv[:1] == ["--direct"]:
        score_direct(*argv[1:4])
    elif argv[:1] == ["--forest"]:
        score_forest(*argv[1:4])
    else:
        write(run(int(argv[0]) if argv else 10_000_000))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
