"""OpenMP's teams of worker threads: a fit after a prediction in the same process.

OpenMP keeps a team of worker threads for each thread that starts parallel work, for as long as that
thread lives. This measures, each part in a fresh process, one after another:

- `scikit-learn alone`: HistGradientBoosting (100 iterations, 250,000 × 30 normal float32 features)
  fitted on a new thread, then on the main thread, then on a new thread again (the main thread's team
  is alive by then);
- `the product`: `VotingEnsemble(members=["none:hgb"])` fitted on bench/scale.py's 1M-row table's
  800,000 training rows, asked for the test split's predictions, fitted again, three times over.
  Every fit and large scoring runs on a thread of its own that ends with it
  (`imbalance_flows.tasks.cores.on_own_thread`), so no team outlives its work.

Run from the repository root, alone on the machine::

    .venv/bin/python -m bench.openmp_teams

Results go to `bench/results/openmp_teams.json` and `openmp_teams.md`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading

from bench.scale import RESULTS, ROOT, stamp, timed, write_markdown


def _on_new_thread(work) -> float:
    seconds = []
    thread = threading.Thread(target=lambda: seconds.append(timed(work)))
    thread.start()
    thread.join()
    return seconds[0]


def sklearn_alone() -> dict:
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(250_000, 30)).astype(np.float32)
    y = (X[:, 0] + rng.normal(size=len(X)) > 2.3).astype(int)

    def fit():
        HistGradientBoostingClassifier(early_stopping=False, random_state=0).fit(X, y)

    return {"new thread, first": _on_new_thread(fit), "main thread": timed(fit),
            "new thread, after the main thread's": _on_new_thread(fit)}


def product() -> dict:
    import warnings

    from bench.scale import _split, data_path
    from imbalance_flows import VotingEnsemble

    warnings.filterwarnings("ignore")
    X_train, y_train, X_test, _ = _split(data_path(1_000_000))
    fits, predictions = [], []
    for _ in range(3):
        model = VotingEnsemble(members=["none:hgb"], random_state=0)
        fits.append(timed(lambda: model.fit(X_train, y_train)))
        predictions.append(timed(lambda: model.predict(X_test)))
    return {"fits": fits, "predictions": predictions}


def main(argv: list[str]) -> int:
    if argv[:1] == ["--one"]:
        print(json.dumps(sklearn_alone() if argv[1] == "sklearn" else product()))
        return 0
    report = stamp("bench.openmp_teams", argv)
    for part in ("sklearn", "product"):
        done = subprocess.run([sys.executable, "-m", "bench.openmp_teams", "--one", part], cwd=ROOT,
                              capture_output=True, text=True, check=True)
        report[part] = json.loads(done.stdout.strip().splitlines()[-1])
        print(part, report[part], flush=True)
    (RESULTS / "openmp_teams.json").write_text(json.dumps(report, indent=1) + "\n")
    alone, mine = report["sklearn"], report["product"]
    write_markdown("openmp_teams", "OpenMP's teams: a fit after a prediction in the same process", report, [
        "Each part in a fresh process. Seconds.", "",
        "| scikit-learn's HistGradientBoosting (250k × 30, 100 iterations) | fit s |", "|---|---:|",
        *[f"| {where} | {seconds} |" for where, seconds in alone.items()], "",
        "| the product, `none:hgb` on 800k rows, fit then predict 200k rows, three times | fit s | predict s |",
        "|---|---:|---:|",
        *[f"| round {i + 1} | {fit} | {predict} |" for i, (fit, predict) in
          enumerate(zip(mine["fits"], mine["predictions"]))]])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
