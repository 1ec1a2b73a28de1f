"""Batch scoring: the champion (or a named version) scores a file into Parquet or CSV, chunk by chunk.

    python flows/predict.py champion DATA --store models --out scores.parquet
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Literal

if __package__ in (None, ""):  # `python flows/predict.py` puts flows/ first on the path, not the project.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger
from pydantic import BaseModel, Field

from tasks.errors import InputError
from tasks.score import score_file
from tasks.store import champion, load_model


class PredictConfig(BaseModel):
    """Parameters of one batch-scoring run."""

    data: str = Field(description="CSV or Parquet to score: a path, an fsspec URL, or a glob of partitions.")
    out: str = Field(description="Output file, .parquet or .csv; written only when complete.")
    store: str = Field("models", description="Model store directory.")
    version: str = Field("champion", description="'champion', a version name under <store>/versions, or a path.")
    chunk_rows: int = Field(50_000, ge=1, description="Rows read and scored at a time.")
    unknown_categories: Literal["error", "ignore"] = Field(
        "error", description="Categories unseen in training: refuse, or treat as missing.")


def resolve_version(store: str, version: str) -> Path:
    """The directory of the model to score with."""
    if version == "champion":
        path = champion(store)
        if path is None:
            raise InputError("scoring with the champion needs a promoted model", f"{store!r} has no champion yet",
                             "Run the retrain flow once (it promotes its first model), or pass a version.")
        return path
    candidate = Path(version)
    return candidate if candidate.is_dir() else Path(store) / "versions" / version


@task(name="score", cache_policy=NO_CACHE)
def score(model_dir: str, data: str, out: str, chunk_rows: int, unknown_categories: str) -> int:
    """Load the model once and score every chunk of the data."""
    model = load_model(model_dir)
    model.set_params(unknown_categories=unknown_categories)
    return score_file(model, data, out, version=Path(model_dir).name, chunk_rows=chunk_rows)


@flow(name="predict", log_prints=True)
def predict(config: PredictConfig) -> dict:
    """Score a file with a saved model; per-class probabilities, the label and the model version."""
    model_dir = resolve_version(config.store, config.version)
    rows = score(str(model_dir), config.data, config.out, config.chunk_rows, config.unknown_categories)
    get_run_logger().info("Scored %s rows with %s into %s", rows, model_dir.name, config.out)
    create_markdown_artifact(key="batch-scoring", description="Batch scoring",
                             markdown=f"Scored **{rows}** rows of `{config.data}` with model `{model_dir.name}` "
                                      f"into `{config.out}`.")
    return {"rows": rows, "out": config.out, "version": str(model_dir)}


if __name__ == "__main__":
    from flows.cli import main

    sys.exit(main(["predict", *sys.argv[1:]]))
