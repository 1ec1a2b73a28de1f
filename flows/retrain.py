"""Champion/challenger retraining: train on the latest data, promote only a better model.

    python flows/retrain.py DATA --target COL [--store models] [--metric g_mean] [--margin 0.01]

The challenger is trained by the training flow (as a subflow) on the latest data; its
untouched test split is the fresh holdout on which the champion is scored too. The
champion pointer moves only at the very end, atomically, and only when the challenger
beats the champion by `margin` on `metric`; a failed or killed retrain leaves it as it was.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

if __package__ in (None, ""):  # `python flows/retrain.py` puts flows/ first on the path, not the project.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger
from pydantic import BaseModel, Field

from flows.train import TrainConfig, train
from tasks.data import TableRef, read_table
from tasks.errors import InputError
from tasks.evaluate import SUMMARY
from tasks.evaluate import evaluate as score
from tasks.store import champion, load_model, promote

Metric = Literal["balanced_accuracy", "g_mean", "macro_f1", "mcc", "roc_auc", "average_precision"]


class RetrainConfig(BaseModel):
    """Parameters of a retraining run."""

    train: TrainConfig = Field(description="How to train the challenger (data may be a glob of partitions).")
    metric: Metric = Field("balanced_accuracy", description="The metric on the fresh holdout that decides.")
    margin: float = Field(0.0, ge=0, le=1, description="How much the challenger must beat the champion by.")


@task(name="score-champion", cache_policy=NO_CACHE)
def score_champion(champion_dir: str, holdout: TableRef) -> dict | None:
    """The champion's metrics on the challenger's holdout, or None if it cannot score that data."""
    model = load_model(champion_dir)
    frame = read_table(holdout)
    target = model.schema_.target
    if target not in frame.columns:
        get_run_logger().warning("The champion's target %r is not in the new data", target)
        return None
    try:
        probas = model.member_probas(frame)  # once, for the vote and the probabilities
        predicted = model.vote(probas)
        proba = model.average(probas) if model.voting != "hard" else None
    except InputError as error:
        get_run_logger().warning("The champion cannot score the new data: %s", error)
        return None
    return score(frame[target].to_numpy(), predicted, proba, model.classes_)


def decide(challenger: float | None, incumbent: float | None, margin: float) -> tuple[bool, str]:
    """Promote when there is no champion, when it cannot be scored, or when the challenger wins by `margin`."""
    if incumbent is None:
        return True, "no comparable champion"
    if challenger is None:
        return False, "the challenger has no value for the metric"
    if challenger >= incumbent + margin:
        return True, f"challenger {challenger:.4f} ≥ champion {incumbent:.4f} + margin {margin}"
    return False, f"challenger {challenger:.4f} < champion {incumbent:.4f} + margin {margin}"


@task(name="record-decision", cache_policy=NO_CACHE)
def record_decision(store: str, decision: dict) -> str:
    """Keep the decision in the store (decisions/<time>.json), then move the champion if promoted."""
    folder = Path(store) / "decisions"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:6]}.json"
    staging = folder / f".{path.name}.tmp"
    staging.write_text(json.dumps(decision, indent=2))
    os.replace(staging, path)
    if decision["promoted"]:
        promote(store, decision["challenger"])
    return str(path)


def _table(decision: dict) -> str:
    rows = [f"| {m} | {_fmt(decision['challenger_metrics'].get(m))} | {_fmt((decision['champion_metrics'] or {}).get(m))} |"
            for m in SUMMARY]
    verdict = "promoted" if decision["promoted"] else "not promoted"
    return "\n".join([f"**Challenger {verdict}** on {decision['metric']}: {decision['reason']}.", "",
                      f"Challenger: `{Path(decision['challenger']).name}`; champion before: "
                      f"`{Path(decision['champion']).name if decision['champion'] else 'none'}`", "",
                      "| metric (fresh holdout) | challenger | champion |", "|---|---:|---:|", *rows])


def _fmt(value) -> str:
    return "–" if value is None else f"{value:.4f}"


@flow(name="retrain", log_prints=True)
def retrain(config: RetrainConfig) -> dict:
    """Train a challenger; promote it only if it beats the champion on the same fresh holdout."""
    logger = get_run_logger()
    store = config.train.store
    incumbent = champion(store)
    trained = train(config.train)
    challenger_metrics = {m: trained["results"]["ensemble"][m] for m in SUMMARY}
    champion_metrics = None
    if incumbent is not None:
        full = score_champion(str(incumbent), TableRef.model_validate(trained["test_split"]))
        champion_metrics = None if full is None else {m: full[m] for m in SUMMARY}
    promoted, reason = decide(challenger_metrics[config.metric],
                              None if champion_metrics is None else champion_metrics[config.metric], config.margin)
    decision = {"time": datetime.now(timezone.utc).isoformat(timespec="seconds"), "metric": config.metric,
                "margin": config.margin, "promoted": promoted, "reason": reason,
                "challenger": trained["version"], "champion": str(incumbent) if incumbent else None,
                "challenger_metrics": challenger_metrics, "champion_metrics": champion_metrics}
    decision["record"] = record_decision(store, decision)
    create_markdown_artifact(key="champion-challenger", markdown=_table(decision),
                             description="Champion/challenger decision")
    logger.info("%s: %s", "Promoted" if promoted else "Kept the champion", reason)
    return decision


if __name__ == "__main__":
    from flows.cli import main

    sys.exit(main(["retrain", *sys.argv[1:]]))
