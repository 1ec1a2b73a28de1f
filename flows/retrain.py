"""Champion/challenger retraining: train on the latest data, promote only a better model.

    python flows/retrain.py DATA --target COL [--store models] [--metric g_mean] [--margin 0.01]

The challenger is trained by the training flow (as a subflow) on the latest data. Both
are judged on its untouched test split, less the rows the champion was trained on
(growing data holds them), under the store's lock. The champion pointer moves only at
the very end, atomically, and only when the challenger beats the current champion by
`margin` on `metric`; a failed or killed retrain leaves it as it was.
"""

from __future__ import annotations

from prefect import flow
from prefect.artifacts import create_markdown_artifact
from prefect.logging import get_run_logger

from imbalance_flows.flows import steps
from imbalance_flows.flows.config import RetrainConfig
from imbalance_flows.flows.train import train
from imbalance_flows.tasks import storage
from imbalance_flows.tasks.data.tables import TableRef
from imbalance_flows.tasks.evaluation.metrics import SUMMARY
from imbalance_flows.tasks.evaluation.report import data_uri
from imbalance_flows.tasks.store.champion import decay_files


def _table(decision: dict) -> str:
    rows = [f"| {m} | {_fmt(decision['challenger_metrics'].get(m))} | {_fmt((decision['champion_metrics'] or {}).get(m))} |"
            for m in SUMMARY]
    verdict = "promoted" if decision["promoted"] else "not promoted"
    comparison = decision.get("comparison") or {}
    interval = ([f"Paired comparison on the same {comparison['rows']} rows: challenger − champion "
                 f"{comparison['difference']:+.4f}; between {comparison['low']:+.4f} and {comparison['high']:+.4f} "
                 f"in {2 * comparison['confidence'] - 1:.0%} of the draws of a paired bootstrap (at least "
                 f"{comparison['low']:+.4f} with {comparison['confidence']:.0%} confidence).", ""]
                if comparison.get("difference") is not None else [])
    return "\n".join([f"**Challenger {verdict}** on {decision['metric']}: {decision['reason']}.", "", *interval,
                      f"Challenger: `{storage.name(decision['challenger'])}`; champion before: "
                      f"`{storage.name(decision['champion']) if decision['champion'] else 'none'}`", "",
                      f"Judged on {decision['judged_rows']} holdout rows neither was trained on"
                      + (f" ({decision['excluded_champion_rows']} of {decision['holdout_rows']} left out: the "
                         "champion's training rows)." if decision["excluded_champion_rows"] else "."), "",
                      "| metric (fresh holdout) | challenger | champion |", "|---|---:|---:|", *rows])


def _fmt(value) -> str:
    return "–" if value is None else f"{value:.4f}"


@flow(name="retrain", log_prints=True)
def retrain(config: RetrainConfig) -> dict:
    """Train a challenger; promote it only if it beats the champion on fresh rows neither was trained on."""
    logger = get_run_logger()
    trained = train(config.train)
    decision = steps.judge(config.train.store, trained["version"], TableRef.model_validate(trained["test_split"]),
                     config.metric, config.margin, config.min_rows_per_class, config.confidence)
    create_markdown_artifact(key="champion-challenger", markdown=_table(decision),
                             description="Champion/challenger decision")
    table, plot = decay_files(config.train.store, config.train.model)
    create_markdown_artifact(key="champion-decay", description="The champion's score on each fresh labelled batch",
                             markdown=storage.read_text(table) + "\n\n"
                             f"![decay]({data_uri(storage.read_bytes(plot))})")
    logger.info("%s (decision %s, judged on %s rows): %s", "Promoted" if decision["promoted"] else "Kept the champion",
                decision["sequence"], decision["judged_rows"], decision["reason"])
    return decision


if __name__ == "__main__":
    from imbalance_flows.flows.guard import exit_now
    from imbalance_flows.flows.options import main

    exit_now(main("retrain", retrain))
