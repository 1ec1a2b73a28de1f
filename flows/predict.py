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
    scored = steps.score(str(model_dir), config.data, config.out, config.chunk_rows, config.unknown_categories,
                         config.passthrough)
    rows, unseen = scored["rows"], scored["unseen_categories"]
    get_run_logger().info("Scored %s rows with %s into %s", rows, model_dir.name, config.out)
    lines = [f"| `{name}` | {found['rows']} | {', '.join(f'`{v}` ({n})' for v, n in found['values'].items())} |"
             for name, found in unseen.items()]
    table = ("\n\nCategories unseen in training, scored as missing:\n\n| column | rows | values (rows) |\n"
             "|---|---:|---|\n" + "\n".join(lines)) if lines else ""
    create_markdown_artifact(key="batch-scoring", description="Batch scoring",
                             markdown=f"Scored **{rows}** rows of `{config.data}` with model `{model_dir.name}` "
                                      f"into `{config.out}`.{table}")
    return {"rows": rows, "out": config.out, "version": str(model_dir), "unseen_categories": unseen}


if __name__ == "__main__":
    from imbalance_flows.flows.options import main

    sys.exit(main("predict", predict))
