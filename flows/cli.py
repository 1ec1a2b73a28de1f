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
    train.add_argument("data", nargs="?", help="CSV or Parquet file (local path or fsspec URL)")
    train.add_argument("--target", help="column that holds the class labels")
    train.add_argument("--member", action="append", metavar="SAMPLER[@RATIO][+AUGMENT]:LEARNER",
                       help="a member, repeatable (e.g. --member smote:hgb --member random_under@0.5:rf); "
                            "default: the built-in recipe")
    train.add_argument("--config", metavar="FILE", help="YAML or JSON file with the flow's parameters")
    train.add_argument("--store", help="model store directory (default: models)")
    train.add_argument("--voting", choices=["hard", "soft", "weighted"])
    train.add_argument("--threshold-objective", choices=["balanced_accuracy", "f1", "g_mean", "none"])
    train.add_argument("--random-state", type=int)
    train.add_argument("--max-concurrency", type=int, help="members trained at once (default: one per core)")

    predict = commands.add_parser("predict", help="score a file with a saved model", epilog=EPILOG,
                                  description="Write the predicted label and one probability column per class.")
    predict.add_argument("model", help="a saved version's directory")
    predict.add_argument("data", help="CSV or Parquet file to score")
    predict.add_argument("--out", required=True, help="output file; .csv or .parquet")
    predict.add_argument("--unknown-categories", choices=["error", "ignore"], default="error",
                         help="categories unseen in training: refuse (default) or treat as missing")

    report = commands.add_parser("report", help="print a saved model's report", epilog=EPILOG)
    report.add_argument("model", help="a saved version's directory")

    commands.add_parser("strategies", help="list the resampling strategies and learners with their parameters")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    args = _parser().parse_args(argv)
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    from pydantic import ValidationError

    from tasks.errors import InputError

    for name in ("prefect.flow_runs", "prefect.task_runs"):
        logging.getLogger(name).addFilter(_NoTracebackForInputErrors())
    try:
        return {"train": _train, "predict": _predict, "report": _report, "strategies": _strategies}[args.command](args)
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


def _train(args) -> int:
    from flows.train import TrainConfig, train
    from tasks.members import MemberSpec
    from tasks.report import tables

    config = _read_config(args.config) if args.config else {}
    overrides = {"data": args.data, "target": args.target, "store": args.store, "voting": args.voting,
                 "threshold_objective": args.threshold_objective, "random_state": args.random_state,
                 "max_concurrency": args.max_concurrency}
    config.update({key: value for key, value in overrides.items() if value is not None})
    if args.member:
        config["members"] = [MemberSpec.parse(text) for text in args.member]
    for required in ("data", "target"):
        if required not in config:
            from tasks.errors import InputError

            raise InputError(f"training needs {required!r}", "none was given",
                             f"Pass it on the command line ({'DATA' if required == 'data' else '--target COL'}) "
                             "or in --config.")
    result = train(TrainConfig.model_validate(config))
    print()
    print(tables(result["results"], "test"))
    print()
    print(result["version"])
    return 0


def _predict(args) -> int:
    import pandas as pd

    from tasks.data import read_file
    from tasks.errors import InputError
    from tasks.store import load_model

    if not args.out.endswith((".csv", ".parquet")):
        raise InputError("--out must end in .csv or .parquet", f"it is {args.out!r}", "Pick one of the two.")
    model = load_model(args.model)
    model.set_params(unknown_categories=args.unknown_categories)
    frame = read_file(args.data)
    out = pd.DataFrame({f"predicted_{model.schema_.target}": model.predict(frame)})
    if model.voting != "hard":
        for label, column in zip(model.classes_, model.predict_proba(frame).T):
            out[f"proba_{label}"] = column
    out.to_csv(args.out, index=False) if args.out.endswith(".csv") else out.to_parquet(args.out, index=False)
    print(f"Scored {len(out)} rows with {args.model} into {args.out}")
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
          "mixup (blend two rows of a class).")
    print("\nLearners (LEARNER):")
    for name, text in LEARNER_SUMMARY.items():
        print(f"  {name:<18} {text}")
    print("\n@RATIO sets how far to rebalance: 1 (= auto) fully; 0.5 brings smaller classes to half the largest.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
