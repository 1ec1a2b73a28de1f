"""Batch scoring: the champion (or a named version) scores a file into Parquet or CSV, chunk by chunk.

    python flows/predict.py champion DATA --store models --out scores.parquet
"""

from __future__ import annotations

import sys

from prefect import flow
from prefect.artifacts import create_markdown_artifact
from prefect.logging import get_run_logger

from imbalance_flows.flows import steps
from imbalance_flows.flows.config import PredictConfig
from imbalance_flows.tasks.versions import resolve_version


@flow(name="predict", log_prints=True)
def predict(config: PredictConfig) -> dict:
    """Score a file with a saved model; per-class probabilities, the label and the model version."""
    model_dir = resolve_version(config.store, config.version)
    rows = steps.score(str(model_dir), config.data, config.out, config.chunk_rows, config.unknown_categories,
                       config.passthrough)
    get_run_logger().info("Scored %s rows with %s into %s", rows, model_dir.name, config.out)
    create_markdown_artifact(key="batch-scoring", description="Batch scoring",
                             markdown=f"Scored **{rows}** rows of `{config.data}` with model `{model_dir.name}` "
                                      f"into `{config.out}`.")
    return {"rows": rows, "out": config.out, "version": str(model_dir)}


if __name__ == "__main__":
    from imbalance_flows.flows.options import main

    sys.exit(main("predict", predict))
