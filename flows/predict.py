"""Batch scoring: the champion (or a named version) scores a file into Parquet or CSV, chunk by chunk.

    python flows/predict.py champion DATA --store models --out scores.parquet
"""

from __future__ import annotations

import json
import os

from prefect import flow
from prefect.artifacts import create_markdown_artifact
from prefect.logging import get_run_logger

from imbalance_flows.flows import steps
from imbalance_flows.flows.config import PredictConfig
from imbalance_flows.tasks import storage
from imbalance_flows.tasks.evaluation.report import data_uri
from imbalance_flows.tasks.monitoring import drift
from imbalance_flows.tasks.store.integrity import model_of
from imbalance_flows.tasks.store.model_store import read_manifest
from imbalance_flows.tasks.store.versions import resolve_version

DRIFT_EVENT = "imbalance-flows.drift.detected"


@flow(name="predict", log_prints=True)
def predict(config: PredictConfig) -> dict:
    """Score a file with a saved model; per-class probabilities, the label and the model version."""
    storage.configure(config.storage_options)
    model_dir = resolve_version(config.store, config.version)
    scored = steps.score(str(model_dir), config.data, config.out, config.chunk_rows, config.unknown_categories,
                         config.passthrough, config.adjust_priors, (config.drift_psi_limit, config.drift_share_limit))
    rows, unseen, report = scored["rows"], scored["unseen_categories"], scored["drift"]
    logger = get_run_logger()
    logger.info("Scored %s rows with %s into %s", rows, storage.name(model_dir), config.out)
    drift_file = None
    if report is None:
        logger.info("No drift measured: model %s keeps no picture of its training split (saved before drift "
                    "was measured, or without its training rows)", storage.name(model_dir))
    else:
        drift_file = write_drift(config.out, report)
        (logger.warning if report["drift"] else logger.info)("%s (%s)", report["verdict"], drift_file)
        if report["drift"]:
            announce_drift(storage.name(model_dir), config, report, model_of(read_manifest(model_dir)))
        create_markdown_artifact(key="drift", description="Drift and class priors against the training split",
                                 markdown=drift.markdown(report) + (
                                     f"\n\n![PSI per feature]({data_uri(drift.psi_png(report))})"
                                     if report["features"] else ""))
    lines = [f"| `{name}` | {found['rows']} | {', '.join(f'`{v}` ({n})' for v, n in found['values'].items())} |"
             for name, found in unseen.items()]
    table = ("\n\nCategories unseen in training, scored as missing:\n\n| column | rows | values (rows) |\n"
             "|---|---:|---|\n" + "\n".join(lines)) if lines else ""
    create_markdown_artifact(key="batch-scoring", description="Batch scoring",
                             markdown=f"Scored **{rows}** rows of `{config.data}` with model `{storage.name(model_dir)}` "
                                      f"into `{config.out}`.{table}")
    return {"rows": rows, "out": config.out, "version": str(model_dir), "unseen_categories": unseen,
            "drift": report, "drift_file": drift_file, "priors": scored["priors"]}


def announce_drift(version: str, config: PredictConfig, report: dict, model: str = "default") -> None:
    """The event a retrain deployment's trigger waits for (see deployments/prefect.yaml): the version and its model,
    and the batch that drifted (`data`)."""
    from prefect.events import emit_event

    emit_event(event=DRIFT_EVENT, resource={"prefect.resource.id": f"imbalance-flows.model.{version}",
                                            "prefect.resource.name": version, "imbalance-flows.store": config.store,
                                            "imbalance-flows.model-name": model},
               payload={"data": config.data, "verdict": report["verdict"], "rows": report["rows"],
                        "drifted_features": {name: report["features"][name]["psi"]
                                             for name in report["drifted_features"]},
                        "shifted_classes": {label: report["classes"][label] for label in report["shifted_classes"]}})


def write_drift(out: str, report: dict) -> str:
    """The drift report as JSON beside the scores: scores.parquet → scores.drift.json."""
    return str(storage.write_bytes(os.path.splitext(out)[0] + ".drift.json", json.dumps(report, indent=1)))


if __name__ == "__main__":
    from imbalance_flows.flows.guard import exit_now
    from imbalance_flows.flows.options import main

    exit_now(main("predict", predict))
