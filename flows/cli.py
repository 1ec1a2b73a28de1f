"""The `imbalance-flows` command: train, predict, report, strategies."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

EPILOG = "Errors name the rule, the value that broke it and a way out; the exit status is then 2."


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="imbalance-flows", epilog=EPILOG,
        description="Train, score and inspect voting ensembles for class-imbalanced data, as Prefect flows.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser(
        "train", help="train an ensemble and save it as a new model version", epilog=EPILOG,
        description="Run the training flow: load, split, stratify, train the members in parallel, vote, evaluate "
                    "and save. Prints the members-vs-ensemble report and, on its last line, the saved version.")
    _training_options(train)
    retrain = commands.add_parser(
        "retrain", help="train a challenger and promote it only if it beats the champion", epilog=EPILOG,
        description="Run the retrain flow: train on the latest data (a path, URL or glob), score challenger and "
                    "champion on the same fresh holdout, promote the challenger if it wins by --margin.")
    _training_options(retrain)
    retrain.add_argument("--metric", default="balanced_accuracy",
                         choices=["balanced_accuracy", "g_mean", "macro_f1", "mcc", "roc_auc", "average_precision"])
    retrain.add_argument("--margin", type=float, default=0.0, help="how much the challenger must win by")

    serve = commands.add_parser("serve", help="serve the train, retrain and predict deployments (needs a server)",
                                epilog="Set PREFECT_API_URL to a running `prefect server start`.")
    serve.add_argument("--data", default="tasks/bundled/hpc.parquet", help="default data of the deployments")
    serve.add_argument("--target", default="class", help="default target column")
    serve.add_argument("--store", default="models", help="model store directory")
    serve.add_argument("--cron", default="0 3 * * 1", help="retrain schedule (default weekly, Monday 03:00)")
    serve.add_argument("--timezone", default="UTC", help="time zone of the schedule, e.g. Europe/Berlin")

    predict = commands.add_parser("predict", help="score a file with a saved model", epilog=EPILOG,
                                  description="Write the predicted label, one probability column per class and "
                                              "the model version.")
    predict.add_argument("model", help="a saved version's directory, a version name, or 'champion'")
    predict.add_argument("data", help="CSV or Parquet file to score (a path, an fsspec URL or a glob)")
    predict.add_argument("--out", required=True, help="output file; .csv or .parquet")
    predict.add_argument("--store", default="models", help="model store, for 'champion' or a version name")
    predict.add_argument("--chunk-rows", type=int, default=50_000, help="rows scored at a time")
    predict.add_argument("--unknown-categories", choices=["error", "ignore"], default="error",
                         help="categories unseen in training: refuse (default) or treat as missing")

    report = commands.add_parser("report", help="print a saved model's report", epilog=EPILOG)
    report.add_argument("model", help="a saved version's directory")

    commands.add_parser("strategies", help="list the resampling strategies and learners with their parameters")
    return parser


def _training_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", nargs="?", help="CSV or Parquet file (local path, fsspec URL or glob), or a "
                                                "folder of class folders of images (ROOT/<class>/*.png|jpg)")
    parser.add_argument("--target", help="column that holds the class labels")
    parser.add_argument("--member", action="append", metavar="SAMPLER[@RATIO][+AUGMENT]:LEARNER",
                        help="a member, repeatable (e.g. --member smote:hgb --member random_under@0.5:rf); "
                             "default: the built-in recipe")
    parser.add_argument("--config", metavar="FILE", help="YAML or JSON file with the training flow's parameters")
    parser.add_argument("--store", help="model store directory (default: models)")
    parser.add_argument("--voting", choices=["hard", "soft", "weighted"])
    parser.add_argument("--threshold-objective", choices=["balanced_accuracy", "f1", "g_mean", "none"])
    parser.add_argument("--validation", choices=["out_of_fold", "holdout"],
                        help="weights and threshold from out-of-fold predictions of the training rows (default), "
                             "or from a held-out validation split")
    parser.add_argument("--random-state", type=int)
    parser.add_argument("--max-concurrency", type=int, help="members trained at once (default: one per core)")
    parser.add_argument("--dask-address", metavar="ADDRESS",
                        help="train the members on this Dask scheduler (e.g. tcp://10.0.0.5:8786); the store "
                             "must be on storage every worker can read")
    parser.add_argument("--image-size", metavar="HEIGHTxWIDTH", help="images: resize all to this size, e.g. 28x28")
    parser.add_argument("--image-channels", type=int, choices=[1, 3], help="images: convert all to grey (1) or RGB (3)")
    parser.add_argument("--image-column", metavar="COL", help="tables of images: the column of PNG/JPEG bytes")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    args = _parser().parse_args(argv)
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    if getattr(args, "dask_address", None):  # read when flows.train is imported, below
        os.environ["IMBALANCE_FLOWS_DASK_ADDRESS"] = args.dask_address
    from pydantic import ValidationError

    from tasks.errors import InputError

    for name in ("prefect.flow_runs", "prefect.task_runs"):
        logging.getLogger(name).addFilter(_NoTracebackForInputErrors())
    try:
        commands = {"train": _train, "retrain": _retrain, "serve": _serve, "predict": _predict, "report": _report,
                    "strategies": _strategies}
        return commands[args.command](args)
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
    except ValidationError as error:
        for problem in error.errors():
            where = ".".join(str(part) for part in problem["loc"]) or "config"
            print(f"error: {where}: {problem['msg'].removeprefix('Value error, ')}", file=sys.stderr)
    return 2


class _NoTracebackForInputErrors(logging.Filter):
    """Prefect logs a failed run with its traceback; for a broken rule the message says it all."""

    def filter(self, record: logging.LogRecord) -> bool:
        from tasks.errors import InputError

        if record.exc_info and isinstance(record.exc_info[1], InputError):
            record.exc_info, record.exc_text = None, None
        return True


def _read_config(path: str) -> dict:
    from tasks.errors import InputError

    if not os.path.isfile(path):
        raise InputError("the config file must exist", f"{path!r} was not found", "Check the path.")
    text = Path(path).read_text()
    try:
        if path.endswith((".yaml", ".yml")):
            import yaml

            config = yaml.safe_load(text)
        elif path.endswith(".json"):
            config = json.loads(text)
        else:
            raise InputError("the config file must be YAML or JSON", f"{path!r}", "Name it .yaml, .yml or .json.")
    except (ValueError, ImportError) as error:
        if isinstance(error, InputError):
            raise
        raise InputError("the config file must parse", f"{path!r} does not ({error})", "Fix its syntax.") from error
    if not isinstance(config, dict):
        raise InputError("the config file must hold a mapping of parameters", f"{path!r} holds {type(config).__name__}",
                         "Write one `name: value` per parameter, e.g. `target: class`.")
    return config


def _train_config(args):
    """The training flow's parameters from --config, then the command line on top."""
    from flows.train import TrainConfig
    from tasks.errors import InputError
    from tasks.members import MemberSpec

    config = _read_config(args.config) if args.config else {}
    overrides = {"data": args.data, "target": args.target, "store": args.store, "voting": args.voting,
                 "threshold_objective": args.threshold_objective, "validation": args.validation,
                 "random_state": args.random_state,
                 "max_concurrency": args.max_concurrency}
    config.update({key: value for key, value in overrides.items() if value is not None})
    if args.member:
        config["members"] = [MemberSpec.parse(text) for text in args.member]
    if args.image_size or args.image_channels or args.image_column:
        from tasks.images import parse_size

        config["images"] = {**config.get("images", {}), **{key: value for key, value in (
            ("size", parse_size(args.image_size) if args.image_size else None), ("channels", args.image_channels),
            ("column", args.image_column)) if value is not None}}
    for required, where in (("data", "DATA"), ("target", "--target COL")):
        if required not in config:
            raise InputError(f"training needs {required!r}", "none was given",
                             f"Pass it on the command line ({where}) or in --config.")
    return TrainConfig.model_validate(config)


def _train(args) -> int:
    from flows.train import train
    from tasks.report import tables

    result = train(_train_config(args))
    print()
    print(tables(result["results"], "test"))
    print()
    print(result["version"])
    return 0


def _retrain(args) -> int:
    from flows.retrain import RetrainConfig, retrain

    decision = retrain(RetrainConfig(train=_train_config(args), metric=args.metric, margin=args.margin))
    print(f"{'Promoted' if decision['promoted'] else 'Not promoted'}: {decision['reason']}")
    print(decision["challenger"])
    return 0


def _serve(args) -> int:
    from deployments.serve import serve

    if not os.environ.get("PREFECT_API_URL"):
        from tasks.errors import InputError

        raise InputError("serving needs a running Prefect server", "PREFECT_API_URL is not set",
                         "Start one with `prefect server start` and set "
                         "PREFECT_API_URL=http://127.0.0.1:4200/api.")
    serve(data=args.data, target=args.target, store=args.store, cron=args.cron, timezone=args.timezone)
    return 0


def _predict(args) -> int:
    from flows.predict import PredictConfig, predict

    result = predict(PredictConfig(data=args.data, out=args.out, store=args.store, version=args.model,
                                   chunk_rows=args.chunk_rows, unknown_categories=args.unknown_categories))
    print(f"Scored {result['rows']} rows with {result['version']} into {result['out']}")
    return 0


def _report(args) -> int:
    from tasks.report import tables
    from tasks.store import read_manifest

    manifest = read_manifest(args.model)
    print(f"Model {Path(args.model).resolve().name}: trained {manifest['created']} on "
          f"{manifest.get('data', {}).get('source', '?')} (target {manifest['schema']['target']!r}), "
          f"code {manifest['code_version']}")
    print(f"Voting: {manifest['ensemble']['voting']}; threshold: {manifest['threshold']} "
          f"on P({manifest['positive_class']})" if manifest["threshold"] is not None
          else f"Voting: {manifest['ensemble']['voting']}")
    for member in manifest["members"]:
        print(f"  weight {member['weight']:.3f}  {member['name']}")
    print()
    print(tables(manifest["metrics"], "test"))
    return 0


def _strategies(args) -> int:
    from tasks.members import LEARNER_SUMMARY
    from tasks.resample import STRATEGIES

    print("Resampling strategies (SAMPLER in --member SAMPLER:LEARNER):")
    for strategy in STRATEGIES.values():
        print(f"  {strategy.name:<18} {strategy.kind:<9} {strategy.summary}")
        for name, text in strategy.params.items():
            print(f"  {'':<18} {'':<9}   {name}: {text}")
    print("\nAugmentation (+AUGMENT): jitter (noise scaled to each feature's spread), "
          "mixup (blend two rows of a class); image (images only: Keras preprocessing layers, by default "
          "rotation, translation, zoom and contrast; flip on request).")
    print("\nLearners (LEARNER):")
    for name, text in LEARNER_SUMMARY.items():
        print(f"  {name:<18} {text}")
    print("\n@RATIO sets how far to rebalance: 1 (= auto) fully; 0.5 brings smaller classes to half the largest.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
