"""Serve the train, retrain and predict deployments from one process, for a single machine.

    python deployments/serve.py [--data tasks/bundled/hpc.parquet --target class] [--cron "0 3 * * 1"]
                                [--timezone Europe/Berlin] [--store models]

Needs a Prefect server (`prefect server start`) and PREFECT_API_URL pointing at it. Runs
started from the UI or `prefect deployment run` are picked up within seconds; the retrain
deployment also runs on its cron schedule.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # `python deployments/serve.py` puts deployments/ first on the path.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DEFAULT_DATA = "tasks/bundled/hpc.parquet"
DEFAULT_TARGET = "class"
WEEKLY = "0 3 * * 1"  # Mondays at 03:00


def build(data: str = DEFAULT_DATA, target: str = DEFAULT_TARGET, store: str = "models", cron: str = WEEKLY,
          timezone: str = "UTC") -> list:
    """The three deployments, with their defaults filled in for the UI's Run form."""
    from prefect.schedules import Cron

    from flows.predict import PredictConfig, predict
    from flows.retrain import RetrainConfig, retrain
    from flows.train import TrainConfig, train

    train_config = TrainConfig(data=data, target=target, store=store)
    return [
        train.to_deployment(
            name="train", parameters={"config": train_config.model_dump(mode="json")}, tags=["imbalance-flows"],
            description="Train a voting ensemble on a table and save it as a new model version."),
        retrain.to_deployment(
            name="retrain", schedule=Cron(cron, timezone=timezone), tags=["imbalance-flows"],
            parameters={"config": RetrainConfig(train=train_config).model_dump(mode="json")},
            description="Train a challenger on the latest data; promote it only if it beats the champion."),
        predict.to_deployment(
            name="predict", tags=["imbalance-flows"],
            parameters={"config": PredictConfig(data=data, out="scores.parquet", store=store).model_dump(mode="json")},
            description="Score a file with the champion (or a named version) into Parquet."),
    ]


def serve(**options) -> None:
    """Register the deployments and run their flows as they are triggered or scheduled."""
    from prefect import serve as prefect_serve

    prefect_serve(*build(**options))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DEFAULT_DATA, help="default data of the three deployments")
    parser.add_argument("--target", default=DEFAULT_TARGET, help="default target column")
    parser.add_argument("--store", default="models", help="model store directory")
    parser.add_argument("--cron", default=WEEKLY, help="retrain schedule (cron; default weekly, Monday 03:00)")
    parser.add_argument("--timezone", default="UTC", help="time zone of the schedule, e.g. Europe/Berlin")
    args = parser.parse_args(argv)
    serve(data=args.data, target=args.target, store=args.store, cron=args.cron, timezone=args.timezone)


if __name__ == "__main__":
    main()
