"""The flows from a command line: `imbalance-flows train|retrain|predict …` and `python flows/<flow>.py …`.

Choices and help come from the flows' pydantic models (`flows.config`), so the command
line, a config file and the UI's Run form accept the same values. Bad input ends in one
`error:` line (the rule, the value, a way out) and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import typing
from pathlib import Path

EPILOG = "Errors name the rule, the value that broke it and a way out; the exit status is then 2."
FLOWS = {
    "train": ("train an ensemble and save it as a new model version",
              "Run the training flow: load, split, stratify, train the members in parallel, vote, evaluate and save. "
              "Prints the members-vs-ensemble report and, on its last line, the saved version."),
    "retrain": ("train a challenger and promote it only if it beats the champion",
                "Run the retrain flow: train on the latest data (a path, URL or glob), score challenger and champion "
                "on fresh holdout rows neither was trained on, promote the challenger if it wins by --margin."),
    "predict": ("score a file with a saved model",
                "Write the predicted label, one probability column per class and the model version."),
}


def _field(model, name: str) -> dict:
    """argparse keywords for a pydantic field: its help, and its choices when it is a Literal."""
    field = model.model_fields[name]
    keywords = {"help": field.description or ""}
    if typing.get_origin(field.annotation) is typing.Literal:
        keywords["choices"] = list(typing.get_args(field.annotation))
    return keywords


def add_options(command: str, parser: argparse.ArgumentParser) -> None:
    """The options of one flow's command."""
    from imbalance_flows.flows.config import PredictConfig, RetrainConfig

    if command == "predict":
        parser.add_argument("model", help="a saved version's directory, a version name, or 'champion'")
        parser.add_argument("data", help=_field(PredictConfig, "data")["help"])
        parser.add_argument("--out", required=True, help=_field(PredictConfig, "out")["help"])
        parser.add_argument("--store", default="models", help=_field(PredictConfig, "store")["help"])
        parser.add_argument("--chunk-rows", type=int, default=50_000, help=_field(PredictConfig, "chunk_rows")["help"])
        parser.add_argument("--unknown-categories", default="error", **_field(PredictConfig, "unknown_categories"))
        parser.add_argument("--passthrough", action="append", metavar="COL", default=[],
                            **_field(PredictConfig, "passthrough"))
        return
    _training_options(parser)
    if command == "retrain":
        parser.add_argument("--metric", default="balanced_accuracy", **_field(RetrainConfig, "metric"))
        parser.add_argument("--margin", type=float, default=0.0, **_field(RetrainConfig, "margin"))
        parser.add_argument("--min-rows-per-class", type=int, default=10,
                            **_field(RetrainConfig, "min_rows_per_class"))


def _training_options(parser: argparse.ArgumentParser) -> None:
    from imbalance_flows.flows.config import TrainConfig

    parser.add_argument("data", nargs="?", help="CSV or Parquet file (local path, fsspec URL or glob), or a "
                                                "folder of class folders of images (ROOT/<class>/*.png|jpg)")
    parser.add_argument("--target", **_field(TrainConfig, "target"))
    parser.add_argument("--member", action="append", metavar="SAMPLER[@RATIO][+AUGMENT]:LEARNER",
                        help="a member, repeatable (e.g. --member smote:hgb --member random_under@0.5:rf); "
                             "default: the built-in recipe")
    parser.add_argument("--config", metavar="FILE", help="YAML or JSON file with the training flow's parameters")
    parser.add_argument("--store", **_field(TrainConfig, "store"))
    for name in ("voting", "threshold_objective", "validation"):
        parser.add_argument(f"--{name.replace('_', '-')}", **_field(TrainConfig, name))
    for name, kind in (("test_size", float), ("validation_size", float), ("folds", int), ("random_state", int),
                       ("max_concurrency", int)):
        parser.add_argument(f"--{name.replace('_', '-')}", type=kind, **_field(TrainConfig, name))
    parser.add_argument("--dask-address", metavar="ADDRESS", **_field(TrainConfig, "dask_address"))
    parser.add_argument("--id-column", action="append", metavar="COL", dest="id_columns",
                        **_field(TrainConfig, "id_columns"))
    parser.add_argument("--drop", action="append", metavar="COL", dest="drop_columns",
                        **_field(TrainConfig, "drop_columns"))
    parser.add_argument("--image-size", metavar="HEIGHTxWIDTH", help="images: resize all to this size, e.g. 28x28")
    parser.add_argument("--image-channels", type=int, choices=[1, 3], help="images: convert all to grey (1) or RGB (3)")
    parser.add_argument("--image-column", metavar="COL", help="tables of images: the column of PNG/JPEG bytes")


def read_config(path: str) -> dict:
    """A YAML or JSON file of parameters, refused clearly when it is missing, unreadable or not a mapping."""
    from imbalance_flows.tasks.errors import InputError

    if not os.path.isfile(path):
        raise InputError("the config file must exist", f"{path!r} was not found", "Check the path.")
    text = Path(path).read_text()
    if not path.endswith((".yaml", ".yml", ".json")):
        raise InputError("the config file must be YAML or JSON", f"{path!r}", "Name it .yaml, .yml or .json.")
    try:
        if path.endswith(".json"):
            config = json.loads(text)
        else:
            import yaml

            config = yaml.safe_load(text)
    except Exception as error:  # JSON and YAML parsers raise their own types; all mean a syntax error
        reason = " ".join(str(error).split())[:200]  # YAML's messages span lines
        raise InputError("the config file must parse", f"{path!r} does not ({reason})", "Fix its syntax.") from error
    if not isinstance(config, dict):
        raise InputError("the config file must hold a mapping of parameters", f"{path!r} holds {type(config).__name__}",
                         "Write one `name: value` per parameter, e.g. `target: class`.")
    return config


def train_config(args):
    """The training flow's parameters from --config, then the command line on top."""
    from imbalance_flows.flows.config import TrainConfig
    from imbalance_flows.tasks.errors import InputError
    from imbalance_flows.tasks.spec import MemberSpec

    config = read_config(args.config) if args.config else {}
    unknown = sorted(set(config) - set(TrainConfig.model_fields))
    if unknown:
        from imbalance_flows.tasks.learners import close_names

        raise InputError("the keys of a config file must be parameters of the training flow",
                         f"{args.config!r} has {unknown}",
                         close_names(unknown, TrainConfig.model_fields) + "`imbalance-flows train --help` lists them.")
    names = ("data", "target", "store", "voting", "threshold_objective", "validation", "test_size",
             "validation_size", "folds", "random_state", "max_concurrency", "dask_address", "id_columns",
             "drop_columns")
    config.update({name: getattr(args, name) for name in names if getattr(args, name) is not None})
    if args.member:
        config["members"] = [MemberSpec.parse(text) for text in args.member]
    if args.image_size or args.image_channels or args.image_column:
        from imbalance_flows.tasks.images import parse_size

        config["images"] = {**config.get("images", {}), **{key: value for key, value in (
            ("size", parse_size(args.image_size) if args.image_size else None), ("channels", args.image_channels),
            ("column", args.image_column)) if value is not None}}
    for required, where in (("data", "DATA"), ("target", "--target COL")):
        if required not in config:
            raise InputError(f"training needs {required!r}", "none was given",
                             f"Pass it on the command line ({where}) or in --config.")
    return TrainConfig.model_validate(config)


def config(command: str, args):
    """The flow's parameters from the command line, validated before anything heavy is imported."""
    from imbalance_flows.flows.config import PredictConfig, RetrainConfig

    if command == "train":
        return train_config(args)
    if command == "retrain":
        return RetrainConfig(train=train_config(args), metric=args.metric, margin=args.margin,
                             min_rows_per_class=args.min_rows_per_class)
    return PredictConfig(data=args.data, out=args.out, store=args.store, version=args.model,
                         chunk_rows=args.chunk_rows, unknown_categories=args.unknown_categories,
                         passthrough=args.passthrough)


def run(command: str, load_flow, args) -> int:
    """Run the flow `load_flow()` returns with the command line's parameters, and print what it produced."""
    parameters = config(command, args)
    # Prefect retries a request to an unreachable API 5 times, with backoff: minutes per request. A run
    # whose server went away then takes a very long time to fail; three tries (seconds) end it clearly.
    os.environ.setdefault("PREFECT_CLIENT_MAX_RETRIES", "3")
    flow = load_flow()
    _input_errors_once()
    result = flow(parameters)
    if command == "train":
        from imbalance_flows.tasks.report import tables
        from imbalance_flows.tasks.store import champion

        print()
        print(tables(result["results"], "test"))
        print()
        if champion(parameters.store) is None:
            print(f"No champion in {parameters.store!r} yet: `imbalance-flows models promote "
                  f"{Path(result['version']).name} --store {parameters.store}` makes this version the one "
                  "`predict champion` scores with.")
        print(result["version"])
    elif command == "retrain":
        print(f"{'Promoted' if result['promoted'] else 'Not promoted'}: {result['reason']} "
              f"(judged on {result['judged_rows']} rows)")
        print(result["challenger"])
    else:
        print(f"Scored {result['rows']} rows with {result['version']} into {result['out']}")
    return 0


def guarded(call) -> int:
    """Call `call()`; a broken rule becomes one `error:` line on stderr and exit status 2, never a traceback;
    SIGTERM or Ctrl-C ends the command within seconds (see `_stop_now`)."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    for name in ("prefect.flow_runs", "prefect.task_runs"):
        logging.getLogger(name).addFilter(_NoTracebackForInputErrors())
    previous = _stop_on_signals()
    try:
        return guarded_call(call)
    except BaseException as error:
        signum = _stop_signal(error)
        if signum is None:
            raise
        _stop_now(signum)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 2  # pragma: no cover - _stop_now does not return


def guarded_call(call) -> int:
    """`guarded`'s error handling: a broken rule becomes one `error:` line and exit status 2; a Prefect API that
    went away during the run, one `error:` line and exit status 1."""
    from pydantic import ValidationError

    from imbalance_flows.tasks.errors import InputError

    try:
        return call()
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
    except ValidationError as error:
        for problem in error.errors():
            where = ".".join(str(part) for part in problem["loc"]) or "config"
            cause = problem.get("ctx", {}).get("error")
            if isinstance(cause, InputError):  # a validator's own error says the rest
                print(f"error: {where}: {cause}", file=sys.stderr)
                continue
            given = repr(problem.get("input"))
            given = given if len(given) <= 80 else given[:77] + "..."
            print(f"error: {where}: {problem['msg'].removeprefix('Value error, ')}: got {given}. "
                  "Fix it in the config file or on the command line (--help describes each parameter).",
                  file=sys.stderr)
    except Exception as error:
        lost = _api_lost(error)
        if lost is None:
            raise
        where = os.environ.get("PREFECT_API_URL", "the temporary server")
        print(f"error: the Prefect API ({where}) must stay reachable while a run lasts: it went away ({lost}). "
              "Versions saved before are kept, nothing half-written is. Start the server again (or unset "
              "PREFECT_API_URL to run with a temporary one) and run the same command again: members already "
              "trained are reused.", file=sys.stderr)
        return 1
    return 2


def _api_lost(error: BaseException | None) -> str | None:
    """How the connection to the Prefect API broke, if that is what `error` (or what caused it) is."""
    import httpx

    seen = 0
    while error is not None and seen < 10:
        if isinstance(error, httpx.TransportError):
            return f"{type(error).__name__}: {str(error)[:120] or 'no answer'}"
        error, seen = error.__cause__ or error.__context__, seen + 1
    return None


class Stopped(BaseException):
    """A run told to stop by SIGTERM or Ctrl-C (SIGINT); a BaseException, like KeyboardInterrupt."""

    def __init__(self, signum: int):
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum


def _raise_stopped(signum, frame):
    raise Stopped(signum)


def _stop_on_signals() -> dict:
    """Turn SIGTERM and SIGINT into `Stopped` (the main thread only); return the handlers they had."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    previous = {}
    for signum in (signal.SIGTERM, signal.SIGINT):
        previous[signum] = signal.signal(signum, _raise_stopped)
    return previous


def _stop_signal(error: BaseException | None) -> int | None:
    """The signal that stopped the command, if `error` (or what caused it) says one did."""
    seen = 0
    while error is not None and seen < 10:
        if isinstance(error, Stopped):
            return error.signum
        if isinstance(error, KeyboardInterrupt):
            return signal.SIGINT
        if type(error).__name__ == "TerminationSignal" and isinstance(getattr(error, "signal", None), int):
            return error.signal  # Prefect's own SIGTERM handler, active while a flow runs
        error, seen = error.__cause__ or error.__context__, seen + 1
    return None


STOP_GRACE_S = 10  # at most this long to stop the temporary Prefect server and flush the run's logs


def _stop_now(signum: int) -> None:
    """End the process at once, as a stopped command must: the flow run is already marked crashed by
    Prefect's engine; member threads still fitting are abandoned (their files are written atomically),
    and the temporary Prefect server is stopped. Exit status 128 + the signal, as a shell reports it."""
    code = 128 + signum
    for each in (signal.SIGTERM, signal.SIGINT):  # a second Ctrl-C ends it without waiting
        signal.signal(each, lambda *_: os._exit(code))
    name = signal.Signals(signum).name
    print(f"error: the run was stopped by {name}: its flow run is marked crashed, the model store is as it was. "
          "Run the same command again to go on (members already trained are reused).", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    watchdog = threading.Timer(STOP_GRACE_S, lambda: os._exit(code))
    watchdog.daemon = True
    watchdog.start()
    import atexit

    atexit._run_exitfuncs()  # Prefect's temporary server stops here; joining the member threads does not
    os._exit(code)


def _input_errors_once() -> None:
    """A broken rule inside a run is printed once, as the `error:` line, not also by each failed task and flow;
    and the command's own output ends the terminal's, not the temporary server's shutdown line.

    Only the terminal's handler is filtered: the run's logs in the UI keep the failure.
    """
    for handler in [*logging.getLogger().handlers, *logging.getLogger("prefect").handlers]:
        if type(handler).__name__ == "APILogHandler":
            continue
        if not any(isinstance(existing, _InputErrorsToTheErrorLine) for existing in handler.filters):
            handler.addFilter(_InputErrorsToTheErrorLine())


class _InputErrorsToTheErrorLine(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        from imbalance_flows.tasks.errors import InputError

        if record.exc_info and isinstance(record.exc_info[1], InputError):
            return False
        message = record.getMessage()
        # A failed run's own lines repeat the error; the temporary server's last word would follow the
        # command's own last line (the version saved).
        failed = message.startswith(("Finished in state Failed", "Task run failed with exception: InputError",
                                     "Encountered exception during execution: InputError"))
        return not (failed and "InputError" in message) and not message.startswith("Stopping temporary server")


class _NoTracebackForInputErrors(logging.Filter):
    """Prefect logs a failed run with its traceback; for a broken rule the message says it all."""

    def filter(self, record: logging.LogRecord) -> bool:
        from imbalance_flows.tasks.errors import InputError

        if record.exc_info and (isinstance(record.exc_info[1], InputError) or _api_lost(record.exc_info[1])):
            record.exc_info, record.exc_text = None, None  # the error line says it all
        return True


def main(command: str, flow, argv: list[str] | None = None) -> int:
    """`python flows/<command>.py …`: `flow` in this process, with the same options as `imbalance-flows`."""
    description = FLOWS[command][1]
    parser = argparse.ArgumentParser(prog=f"python flows/{command}.py", description=description, epilog=EPILOG)
    add_options(command, parser)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    return guarded(lambda: run(command, lambda: flow, args))
