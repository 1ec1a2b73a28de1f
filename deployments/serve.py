"""Serve the train, retrain and predict deployments from one process, for a single machine.

    imbalance-flows serve [--data tasks/bundled/hpc.parquet --target class] [--cron "0 3 * * 1"]
                          [--timezone Europe/Berlin] [--store models] [--model default]

Needs a Prefect server (`prefect server start`) and PREFECT_API_URL pointing at it. Runs
started from the UI or `prefect deployment run` are picked up within seconds; the retrain
deployment also runs on its cron schedule, and whenever a scored batch drifted (the predict
flow's `imbalance-flows.drift.detected` event). The deployments are those of `prefect.yaml`
beside this file (names, descriptions, tags, schedules, parameters): one definition for
both ways of deploying; the options here override its data, target, store, model and schedule.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from importlib.resources import files

import yaml


def definitions() -> dict:
    """The deployments of prefect.yaml, by name."""
    text = files("imbalance_flows.deployments").joinpath("prefect.yaml").read_text()
    return {deployment["name"]: deployment for deployment in yaml.safe_load(text)["deployments"]}



def data_path(path: str) -> str:
    """A data path of prefect.yaml: tasks/bundled/... lies in a checkout, and inside the package when installed."""
    if os.path.exists(path) or not path.startswith("tasks/bundled/"):
        return path
    return str(files("imbalance_flows.tasks.bundled").joinpath(path.removeprefix("tasks/bundled/")))


def add_options(parser: argparse.ArgumentParser) -> None:
    """serve's options, with prefect.yaml's values as their defaults."""
    train = definitions()["train"]["parameters"]["config"]
    (schedule,) = definitions()["retrain"]["schedules"]
    parser.add_argument("--data", default=data_path(train["data"]), help="default data of the three deployments")
    parser.add_argument("--target", default=train["target"], help="default target column")
    parser.add_argument("--store", default=train["store"], help="model store directory")
    parser.add_argument("--model", default=train["model"], metavar="NAME",
                        help="the model's name in the store: trained, retrained and scored with (its champion)")
    parser.add_argument("--cron", default=schedule["cron"], help=f"retrain schedule (default {schedule['cron']!r})")
    parser.add_argument("--timezone", default=schedule.get("timezone", "UTC"),
                        help="time zone of the schedule, e.g. Europe/Berlin")


def _flow(entrypoint: str):
    """The flow object of a prefect.yaml entrypoint, a module path such as imbalance_flows.flows.train:train."""
    module, name = entrypoint.split(":")
    return getattr(importlib.import_module(module), name)


def build(data: str, target: str, store: str, cron: str, timezone: str = "UTC", model: str = "default") -> list:
    """The deployments of prefect.yaml, their defaults filled in for the UI's Run form."""
    from prefect.events import DeploymentEventTrigger

    from imbalance_flows.flows.config import PredictConfig, RetrainConfig, TrainConfig

    configs = {"train": TrainConfig, "retrain": RetrainConfig, "predict": PredictConfig}
    common = {"data": data_path(data), "target": target, "store": store, "model": model}
    deployments = []
    for name, definition in definitions().items():
        config = dict(definition["parameters"]["config"])
        if name == "retrain":
            config["train"] = {**config["train"], **common}
        elif name == "predict":
            config.update({key: value for key, value in common.items() if key in configs[name].model_fields},
                          version=model)
        else:
            config.update({key: value for key, value in common.items() if key in configs[name].model_fields})
        schedules = [schedule(cron, timezone)] if definition.get("schedules") else None
        # A retrain answers drift of its own model's versions only (several models may be served side by side).
        triggers = [DeploymentEventTrigger(**{**{key: value for key, value in trigger.items() if key != "type"},
                                              "match": {**trigger.get("match", {}),
                                                        "imbalance-flows.model-name": model}})
                    for trigger in definition.get("triggers", [])]
        deployments.append(_flow(definition["entrypoint"]).to_deployment(
            name=name, description=definition["description"], tags=definition.get("tags"), schedules=schedules,
            triggers=triggers or None,
            # None values stay out: the form shows those fields empty, and their default applies.
            parameters={"config": configs[name].model_validate(config).model_dump(mode="json", exclude_none=True)}))
    return deployments


def schedule(cron: str, timezone: str):
    """Prefect's cron schedule, or the rule it breaks."""
    from prefect.schedules import Cron

    from imbalance_flows.tasks.errors import InputError

    try:
        return Cron(cron, timezone=timezone)
    except ValueError as error:
        raise InputError("the retrain schedule must be a cron expression (minute hour day month weekday)",
                         f"--cron is {cron!r} ({error})", "Write e.g. --cron '0 3 * * 1' (Mondays at 03:00).") from None


def serve(**options) -> None:
    """Register the deployments and run their flows as they are triggered or scheduled."""
    from prefect import serve as prefect_serve

    prefect_serve(*build(**options))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_options(parser)
    args = parser.parse_args(argv)
    serve(data=args.data, target=args.target, store=args.store, cron=args.cron, timezone=args.timezone,
          model=args.model)


if __name__ == "__main__":
    sys.exit(main())
