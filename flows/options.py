"""The flows from a command line: `imbalance-flows train|retrain|predict …` and `python flows/<flow>.py …`.

Choices and help come from the flows' pydantic models (`flows.config`), so the command
line, a config file and the UI's Run form accept the same values. Bad input ends in one
`error:` line (the rule, the value, a way out) and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import typing

from imbalance_flows.flows import temporary_server
from imbalance_flows.flows.guard import check_prefect_home, guarded, input_errors_once

ADDRESS = ("a model's name (its champion), NAME@VERSION, 'champion' (the default model's), a version name, or a "
           "version's directory")
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
    """argparse keywords for a pydantic field: its help, and its choices when it is a Literal (shown in the help;
    a parameter of the estimator is then checked by its rule, in the same words as from Python and the UI)."""
    from imbalance_flows.tasks.model.params import CONSTRAINTS

    field = model.model_fields[name]
    keywords = {"help": field.description or ""}
    if typing.get_origin(field.annotation) is typing.Literal:
        choices = [str(choice) for choice in typing.get_args(field.annotation)]
        if name in CONSTRAINTS:
            keywords["metavar"] = "{" + ",".join(choices) + "}"
        else:
            keywords["choices"] = choices
    return keywords


def add_options(command: str, parser: argparse.ArgumentParser) -> None:
    """The options of one flow's command."""
    from imbalance_flows.flows.config import PredictConfig, RetrainConfig

    if command == "predict":
        parser.add_argument("model", help=ADDRESS)
        parser.add_argument("data", help=_field(PredictConfig, "data")["help"])
        parser.add_argument("--out", required=True, help=_field(PredictConfig, "out")["help"])
        parser.add_argument("--store", default="models", help=_field(PredictConfig, "store")["help"])
        parser.add_argument("--chunk-rows", type=int, default=50_000, help=_field(PredictConfig, "chunk_rows")["help"])
        parser.add_argument("--unknown-categories", default="ignore", **_field(PredictConfig, "unknown_categories"))
        parser.add_argument("--passthrough", action="append", metavar="COL", default=[],
                            **_field(PredictConfig, "passthrough"))
        parser.add_argument("--adjust-priors", metavar="estimated|CLASS=SHARE,...",
                            help=_field(PredictConfig, "adjust_priors")["help"])
        parser.add_argument("--drift-psi-limit", type=float, default=0.25,
                            help=_field(PredictConfig, "drift_psi_limit")["help"])
        parser.add_argument("--drift-share-limit", type=float, default=0.5,
                            help=_field(PredictConfig, "drift_share_limit")["help"])
        return
    _training_options(parser)
    if command == "retrain":
        parser.add_argument("--metric", default="balanced_accuracy", **_field(RetrainConfig, "metric"))
        parser.add_argument("--margin", type=float, default=0.0, **_field(RetrainConfig, "margin"))
        parser.add_argument("--confidence", type=float, default=0.95, **_field(RetrainConfig, "confidence"))
        parser.add_argument("--min-rows-per-class", type=int, default=10,
                            **_field(RetrainConfig, "min_rows_per_class"))


def _training_options(parser: argparse.ArgumentParser) -> None:
    from imbalance_flows.flows.config import TrainConfig

    parser.add_argument("data", nargs="?", metavar="DATA",
                        help="required (here or as data: in --config): CSV or Parquet file (local path, fsspec URL "
                             "or glob), or a folder of class folders of images (ROOT/<class>/*.png|jpg)")
    target = _field(TrainConfig, "target")
    parser.add_argument("--target", metavar="COL", **{**target, "help": "required (here or as target: in --config): "
                                                                         + target["help"]})
    parser.add_argument("--member", action="append", metavar="SAMPLER[@RATIO][+AUGMENT]:LEARNER",
                        help="a member, repeatable (e.g. --member smote:hgb --member random_under@0.5:rf); "
                             "default: the built-in recipe")
    parser.add_argument("--recipe", metavar="NAME", help="a named list of members instead of --member: "
                        "default, plain-over-under (`imbalance-flows strategies` describes them)")
    parser.add_argument("--config", metavar="FILE", help="YAML or JSON file with the training flow's parameters")
    parser.add_argument("--store", **_field(TrainConfig, "store"))
    parser.add_argument("--model", metavar="NAME", **_field(TrainConfig, "model"))
    for name in ("voting", "threshold_objective", "validation", "calibration"):
        parser.add_argument(f"--{name.replace('_', '-')}", **_field(TrainConfig, name))
    parser.add_argument("--cost-fn", type=float, metavar="COST", help="two classes: what a missed case of the rarer "
                        "class costs (with --cost-fp; several classes: a costs matrix in --config)")
    parser.add_argument("--cost-fp", type=float, metavar="COST", help="two classes: what a false alarm costs")
    for name, kind in (("test_size", float), ("validation_size", float), ("folds", int), ("random_state", int),
                       ("max_concurrency", int)):
        parser.add_argument(f"--{name.replace('_', '-')}", type=kind, **_field(TrainConfig, name))
    parser.add_argument("--dask-address", metavar="ADDRESS", **_field(TrainConfig, "dask_address"))
    parser.add_argument("--id-column", action="append", metavar="COL", dest="id_columns",
                        **_field(TrainConfig, "id_columns"))
    parser.add_argument("--drop", action="append", metavar="COL", dest="drop_columns",
                        **_field(TrainConfig, "drop_columns"))
    parser.add_argument("--missing-value", action="append", metavar="TEXT", dest="missing_values",
                        **_field(TrainConfig, "missing_values"))
    parser.add_argument("--image-size", metavar="HEIGHTxWIDTH", help="images: resize all to this size, e.g. 28x28")
    parser.add_argument("--image-channels", type=int, choices=[1, 3], help="images: convert all to grey (1) or RGB (3)")
    parser.add_argument("--image-column", metavar="COL", help="tables of images: the column of PNG/JPEG bytes")
    parser.add_argument("--allow-slow-samplers", action="store_true", default=None,
                        help=_field(TrainConfig, "allow_slow_samplers")["help"])


def read_config(path: str) -> dict:
    """A YAML or JSON file of parameters, refused clearly when it is missing, unreadable or not a mapping."""
    from imbalance_flows.tasks import storage
    from imbalance_flows.tasks.errors import InputError

    storage.check(path, "--config")
    if not storage.is_file(path):
        what = "is a folder" if storage.is_dir(path) else "is not a file" if storage.exists(path) else "was not found"
        raise InputError("the config file must exist", f"{path!r} {what}", "Check the path.")
    text = storage.read_text(path)
    if not path.endswith((".yaml", ".yml", ".json")):
        raise InputError("the config file must be YAML or JSON", f"{path!r}", "Name it .yaml, .yml or .json.")
    try:
        if path.endswith(".json"):
            config = json.loads(text, object_pairs_hook=_one_of_each)
        else:
            config = _yaml(text)
    except InputError as error:
        raise InputError(error.rule, f"{path!r} {error.value}", error.hint) from None
    except Exception as error:  # JSON and YAML parsers raise their own types; all mean a syntax error
        reason = " ".join(str(error).split())[:200]  # YAML's messages span lines
        raise InputError("the config file must parse", f"{path!r} does not ({reason})", "Fix its syntax.") from error
    if not isinstance(config, dict):
        raise InputError("the config file must hold a mapping of parameters", f"{path!r} holds {type(config).__name__}",
                         "Write one `name: value` per parameter, e.g. `target: class`.")
    return config


def _one_of_each(pairs: list) -> dict:
    """A mapping of a config file, whose keys must each be given once (a parser keeps the last one, silently)."""
    from imbalance_flows.tasks.errors import InputError

    keys = [key for key, _ in pairs]
    repeated = next((key for key in keys if keys.count(key) > 1), None)
    if repeated is not None:
        raise InputError("each key of a config file is given once", f"gives {repeated!r} {keys.count(repeated)} "
                         "times", "Keep the one you mean and delete the others.")
    return dict(pairs)


def _yaml(text: str):
    """YAML's safe reading, every mapping's keys each given once (`_one_of_each`)."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def mapping(loader, node):
        # The keys written in this mapping, each once; keys merged in from an anchor (`<<: *base`) may be overridden.
        _one_of_each([(loader.construct_object(key, deep=True), None) for key, _ in node.value
                      if key.tag != "tag:yaml.org,2002:merge"])
        loader.flatten_mapping(node)
        return dict(loader.construct_pairs(node, deep=True))  # the merged keys first: the written ones win

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    return yaml.load(text, Loader=Loader)  # noqa: S506 (a SafeLoader)


def train_config(args):
    """The training flow's parameters from --config, then the command line on top."""
    from imbalance_flows.flows.config import TrainConfig
    from imbalance_flows.tasks.errors import InputError
    from imbalance_flows.tasks.model.spec import MemberSpec

    config = read_config(args.config) if args.config else {}
    unknown = sorted(set(config) - set(TrainConfig.model_fields))
    if unknown:
        from imbalance_flows.tasks.learners.registry import close_names

        raise InputError("the keys of a config file must be parameters of the training flow",
                         f"{args.config!r} has {unknown}",
                         close_names(unknown, TrainConfig.model_fields) + "`imbalance-flows train --help` lists them.")
    names = ("data", "target", "store", "model", "voting", "threshold_objective", "validation", "calibration", "test_size",
             "validation_size", "folds", "random_state", "max_concurrency", "dask_address", "id_columns",
             "drop_columns", "missing_values", "allow_slow_samplers")
    config.update({name: getattr(args, name) for name in names if getattr(args, name) is not None})
    if (args.cost_fn is None) != (args.cost_fp is None):
        raise InputError("--cost-fn and --cost-fp go together", f"only --cost-{'fn' if args.cost_fp is None else 'fp'} "
                         "was given", "Give both, e.g. --cost-fn 100 --cost-fp 1.")
    if args.cost_fn is not None:
        config["costs"] = {"fn": args.cost_fn, "fp": args.cost_fp}
    if args.member and args.recipe:
        raise InputError("--recipe and --member are two ways to name the members", "both were given",
                         "Give one: --recipe NAME, or --member ... for each member.")
    if args.recipe:
        config["recipe"] = args.recipe
        config.pop("members", None)  # a config file's members give way to the command line's recipe
    if args.member:
        config["members"] = [MemberSpec.parse(text) for text in args.member]
        config.pop("recipe", None)  # a config file's recipe gives way to the command line's members
    if args.image_size or args.image_channels or args.image_column:
        from imbalance_flows.tasks.data.images import parse_size

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
                             confidence=args.confidence, min_rows_per_class=args.min_rows_per_class)
    return PredictConfig(data=args.data, out=args.out, store=args.store, version=args.model,
                         chunk_rows=args.chunk_rows, unknown_categories=args.unknown_categories,
                         passthrough=args.passthrough, adjust_priors=args.adjust_priors,
                         drift_psi_limit=args.drift_psi_limit, drift_share_limit=args.drift_share_limit)


def check_before_start(command: str, parameters) -> None:
    """What can be refused before Prefect starts (a temporary server takes seconds): a data file that is missing,
    a target that is none of its columns, a model address that names nothing. The flow checks all again."""
    from imbalance_flows.tasks.data.images import is_image_folder
    from imbalance_flows.tasks.data.tables import expand

    if command == "predict":
        from imbalance_flows.tasks.store.versions import resolve_version

        resolve_version(parameters.store, parameters.version)
        if not is_image_folder(parameters.data):
            expand(parameters.data)
        return
    config = parameters.train if command == "retrain" else parameters
    if is_image_folder(config.data):
        return
    columns = _columns(expand(config.data)[0])
    if columns is not None and config.target not in columns:
        from imbalance_flows.tasks.data.splits import missing_target

        raise missing_target(config.target, columns)


def _columns(file: str) -> list[str] | None:
    """A data file's column names from its header or schema alone; None when it cannot be read so (the flow then
    says why)."""
    from imbalance_flows.tasks.data.tables import (
        check_header,
        file_format,
        parquet_file,
        read_csv,
    )
    from imbalance_flows.tasks.errors import InputError

    try:
        if file_format(file) == "parquet":
            with parquet_file(file) as parquet:
                return list(parquet.schema_arrow.names)
        # A few rows, so that the header's own rules (one separator, a saved index) are judged as loading does.
        return [str(name) for name in check_header(file, read_csv(file, nrows=5)).columns]
    except InputError:
        raise
    except Exception:  # unreadable in any way: the load step's error names it
        return None


def run(command: str, load_flow, args) -> int:
    """Run the flow `load_flow()` returns with the command line's parameters, and print what it produced."""
    parameters = config(command, args)
    # Prefect retries a request to an unreachable API 5 times, with backoff: minutes per request. A run
    # whose server went away then takes a very long time to fail; three tries (seconds) end it clearly.
    os.environ.setdefault("PREFECT_CLIENT_MAX_RETRIES", "3")
    check_before_start(command, parameters)
    check_prefect_home()
    temporary_server.start()  # where Prefect would start one: now, on another core, while the flow imports
    # Every flow saves or reads model files. skops builds its lists of trusted types at import by looking each
    # scipy function up in every module loaded: imported before the flow's modules (Prefect's), it looks through
    # fewer (a second or so less on a 2-core machine).
    import skops.io  # noqa: F401
    flow = load_flow()
    input_errors_once()
    temporary_server.wait()
    result = flow(parameters)
    if command == "train":
        from imbalance_flows.tasks.evaluation.report import tables
        from imbalance_flows.tasks.store.model_store import champion

        print()
        print(tables(result["results"], "test"))
        print()
        if champion(parameters.store, parameters.model) is None:
            name = parameters.model
            print(f"No champion of {name!r} in {parameters.store!r} yet: `imbalance-flows models promote "
                  f"{result['version'].rstrip('/').rsplit('/', 1)[-1]} --store {shlex.quote(parameters.store)}` makes this version "
                  f"the one `predict {'champion' if name == 'default' else name}` scores with.")
        print(result["version"])
    elif command == "retrain":
        print(f"{'Promoted' if result['promoted'] else 'Not promoted'}: {result['reason']} "
              f"(judged on {result['judged_rows']} rows)")
        print(result["challenger"])
    else:
        print(f"Scored {result['rows']} rows with {result['version']} into {result['out']}")
        for name, found in result["unseen_categories"].items():
            print(f"  {name!r}: {found['rows']} rows held categories unseen in training, scored as missing "
                  f"(e.g. {', '.join(list(found['values'])[:5])})")
        if result["priors"]:
            print("Scores adjusted to class priors " + ", ".join(f"{k} {v:.4f}" for k, v in result["priors"].items()))
        if result["drift"]:
            print(f"{result['drift']['verdict']} ({result['drift_file']})")
    return 0


def main(command: str, flow, argv: list[str] | None = None) -> int:
    """`python flows/<command>.py …`: `flow` in this process, with the same options as `imbalance-flows`."""
    description = FLOWS[command][1]
    parser = argparse.ArgumentParser(prog=f"python flows/{command}.py", description=description, epilog=EPILOG)
    add_options(command, parser)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    return guarded(lambda: run(command, lambda: flow, args), runs_a_flow=True)
