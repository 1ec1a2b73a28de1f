"""The `imbalance-flows` command: train, retrain, predict, report, strategies and serve.

Only the chosen command's options are built, and heavy modules are imported only by the
command that needs them, so `--help` and input errors answer at once.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from imbalance_flows.flows.guard import guarded
from imbalance_flows.flows.options import ADDRESS, EPILOG, FLOWS, add_options, run
from imbalance_flows.tasks import storage

COMMANDS = {
    **{name: summary for name, (summary, _) in FLOWS.items()},
    "report": "print a saved model's report",
    "models": "the store's models and versions: list, show, diff, promote, tag, describe, prune",
    "strategies": "list the resampling strategies and learners with their parameters",
    "serve": "serve the train, retrain and predict deployments (needs a server)",
    "serve-model": "answer POST /predict over HTTP with the champion (or a version), following new champions",
}


def _parser(command: str | None) -> argparse.ArgumentParser:
    """The parser, with the options of `command` (the one about to run) filled in."""
    parser = argparse.ArgumentParser(
        prog="imbalance-flows", epilog=EPILOG,
        description="Train, score and inspect voting ensembles for class-imbalanced data, as Prefect flows.")
    parser.add_argument("--version", action="store_true", dest="show_version",
                        help="print the installed version and exit")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, summary in COMMANDS.items():
        description = FLOWS[name][1] if name in FLOWS else None
        sub = commands.add_parser(name, help=summary, description=description, epilog=EPILOG)
        if name == command:
            _options(name, sub)
    return parser


def _options(command: str, parser: argparse.ArgumentParser) -> None:
    if command in FLOWS:
        add_options(command, parser)
    elif command == "report":
        parser.add_argument("model", help=ADDRESS)
        parser.add_argument("--store", default="models", help="model store, for a name, 'champion' or a version name")
        parser.add_argument("--examples", type=int, metavar="N", help="also print, per class, the N test rows the "
                            "ensemble got wrong, the most confident mistakes first")
    elif command == "models":
        from imbalance_flows.models_command import add_options as add_models_options

        add_models_options(parser, EPILOG)
    elif command == "serve-model":
        parser.description = ("Score rows sent as JSON: POST /predict {\"rows\": [{column: value, ...}]} answers "
                              "labels and calibrated probabilities; GET /model lists the columns; GET /health. "
                              "Serving 'champion', a newly promoted one is picked up without a restart.")
        parser.add_argument("model", nargs="?", default="champion",
                            help="'champion' (default) or a model's name: its champion, followed; or NAME@VERSION, "
                                 "a version name or a version's directory")
        parser.add_argument("--store", default="models", help="model store directory or URL (default: models)")
        parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
        parser.add_argument("--port", type=int, default=8000, help="port to listen on (default: 8000)")
        parser.add_argument("--max-mib", type=float, default=10.0, metavar="MIB",
                            help="largest request body accepted, in MiB (default: 10)")
    elif command == "serve":
        from imbalance_flows.deployments.serve import add_options as add_serve_options

        parser.epilog = "Set PREFECT_API_URL to a running `prefect server start`."
        add_serve_options(parser)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((word for word in argv if not word.startswith("-")), None)
    args = _parser(command if command in COMMANDS else None).parse_args(argv)
    if args.show_version:
        print(_version())
        return 0
    if args.command is None:
        _parser(None).print_help(sys.stderr)
        return 2
    if args.command in FLOWS:
        return guarded(lambda: run(args.command, lambda: _flow(args.command), args), runs_a_flow=True)
    return guarded(lambda: {"report": _report, "strategies": _strategies, "serve": _serve,
                            "serve-model": _serve_model, "models": _models}[args.command](args))


def entry() -> None:
    """The console script and `python -m imbalance_flows`: `main`, then the process ends at once (`exit_now`).
    Output read by a command that stops reading early (`imbalance-flows strategies | head`) ends it quietly."""
    from imbalance_flows.flows.guard import exit_now

    try:
        code = main()
    except BrokenPipeError:  # the reader went away: nothing more can be said to it, and no traceback is due
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 1
    exit_now(code)


def _flow(command: str):
    """The flow a command runs, imported only then (Prefect takes a second or two to import)."""
    import importlib

    return getattr(importlib.import_module(f"imbalance_flows.flows.{command}"), command)


def _version() -> str:
    from importlib.metadata import version

    return f"imbalance-flows {version('imbalance-flows')}"


def _serve_model(args) -> int:
    import math

    from imbalance_flows.tasks.errors import InputError
    from imbalance_flows.tasks.serving.online import serve

    if not 0 <= args.port <= 65535:
        raise InputError("--port must be a TCP port, 0 to 65535", f"it is {args.port}", "Use e.g. --port 8000.")
    if not (math.isfinite(args.max_mib) and args.max_mib > 0):
        raise InputError("--max-mib must be a positive number of MiB", f"it is {args.max_mib}",
                         "Use e.g. --max-mib 10 (the default).")
    _check_port_free(args.host, args.port)
    serve(args.store, args.model, args.host, args.port, max(int(args.max_mib * 2**20), 1))
    return 0


def _check_port_free(host: str, port: int) -> None:
    """Refuse a port something already listens on, before the model is loaded (uvicorn would end with its own
    message and status 3)."""
    import errno
    import socket

    from imbalance_flows.tasks.errors import InputError

    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            probe.bind((host, port))
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise InputError("serve-model needs a free port", f"{host}:{port} is in use",
                             "Pick another with --port, or stop what listens there.") from None
        # Any other problem (an address not of this machine, ...) is uvicorn's to report, as before.


def _serve(args) -> int:
    from imbalance_flows.deployments.serve import serve
    from imbalance_flows.tasks.errors import InputError

    if not os.environ.get("PREFECT_API_URL"):
        raise InputError("serving needs a running Prefect server", "PREFECT_API_URL is not set",
                         "Start one with `prefect server start` and set "
                         "PREFECT_API_URL=http://127.0.0.1:4200/api.")
    serve(data=args.data, target=args.target, store=args.store, cron=args.cron, timezone=args.timezone,
          model=args.model)
    return 0


def _models(args) -> int:
    from imbalance_flows.models_command import run as run_models

    return run_models(args)


def _report(args) -> int:
    from imbalance_flows.tasks.store.model_store import read_manifest
    from imbalance_flows.tasks.store.versions import resolve_version

    if args.examples is not None and args.examples < 1:  # before anything is printed
        from imbalance_flows.tasks.errors import InputError

        raise InputError("--examples must be at least 1", f"got {args.examples}", "Give e.g. --examples 5.")
    version = resolve_version(args.store, args.model)
    manifest = read_manifest(version)
    try:
        _print_report(version, manifest)
    except (KeyError, TypeError, ValueError, AttributeError) as error:  # a damaged manifest's missing or odd parts
        from imbalance_flows.tasks.errors import InputError

        if isinstance(error, InputError):
            raise
        raise InputError("a model's manifest.json must describe the model as it was saved",
                         f"{str(version)!r}: {type(error).__name__}: {str(error)[:120]}",
                         "The version is damaged: retrain, or use another version.") from None
    if args.examples is not None:
        _print_examples(version, args.examples)
    return 0


def _print_report(version, manifest: dict) -> None:
    from imbalance_flows.tasks.evaluation.report import tables

    print(f"Model {storage.name(Path(version).resolve() if storage.is_local(version) else version)}: trained {manifest['created']} on "
          f"{manifest.get('data', {}).get('source', '?')} (target {manifest['schema']['target']!r}), "
          f"code {manifest['code_version']}")
    calibration = (manifest.get("calibration") or {}).get("method", "none")
    print(f"Voting: {manifest['ensemble']['voting']}; probabilities calibrated: {calibration}; "
          + (f"threshold {manifest['threshold']:.4f} on P({manifest['positive_class']}), tuned for "
             f"{manifest.get('objective', manifest['ensemble'].get('threshold_objective'))}"
             if manifest["threshold"] is not None else f"class prior power {manifest.get('prior_power', 0.5)}"))
    if manifest.get("cost_matrix") is not None:
        print(f"Costs, cost[true][predicted] over {manifest['schema']['classes']}: {manifest['cost_matrix']}")
    for member in manifest["members"]:
        print(f"  weight {member['weight']:.3f}  {member['name']}")
    if manifest.get("metrics"):
        print()
        print(tables(manifest["metrics"], "test"))


def _print_examples(version: Path | str, limit: int) -> None:
    import json

    from imbalance_flows.tasks import storage
    from imbalance_flows.tasks.errors import InputError
    from imbalance_flows.tasks.evaluation.examples import markdown

    if limit < 1:
        raise InputError("--examples must be at least 1", f"got {limit}", "Give e.g. --examples 5.")
    path = storage.join(version, "examples.json")
    if not storage.exists(path):
        raise InputError("the version must keep its test examples to print them", f"{storage.name(version)} has no "
                         "examples.json (saved before the report kept examples)", "Retrain to get them.")
    examples = json.loads(storage.read_bytes(path))
    print()
    print(markdown(examples, limit=min(limit, examples["per_class"])))
    if storage.exists(storage.join(version, "examples.png")):
        print(f"\nThe misclassified images: {storage.join(version, 'examples.png')}")


def _strategies(args) -> int:
    from imbalance_flows.tasks.learners.registry import LEARNERS
    from imbalance_flows.tasks.model.spec import RECIPES, AugmentSpec
    from imbalance_flows.tasks.sampling.resample import STRATEGIES

    print("Resampling strategies (SAMPLER in --member SAMPLER:LEARNER):")
    for strategy in STRATEGIES.values():
        print(f"  {strategy.name:<18} {strategy.kind:<9} {strategy.summary}")
        for name, text in strategy.params.items():
            print(f"  {'':<18} {'':<9}   {name}: {text}")
    print("\nAugmentation (+AUGMENT): jitter (noise scaled to each feature's spread), "
          "mixup (blend two rows of a class); image (images only: Keras preprocessing layers, by default "
          "rotation, translation, zoom and contrast; flip on request); gan (tables and images: rows drawn "
          "from a conditional generative model trained on the member's training rows).")
    for name, field in AugmentSpec.model_fields.items():
        if name != "method":
            print(f"  {name:<18} {field.description} Default: {field.default!r}.")
    print("\nLearners (LEARNER):")
    for learner in LEARNERS.values():
        missing = f" Not installed here: pip install 'imbalance-flows[{learner.extra}]'." if learner.missing() else ""
        print(f"  {learner.name:<18} {learner.summary}{missing}")
    print("\n@RATIO sets how far to rebalance: 1 (= auto) fully; 0.5 brings smaller classes to half the largest.")
    print("\nRecipes (--recipe NAME):")
    for name, (summary, members) in RECIPES.items():
        print(f"  {name:<18} {' '.join(members)}: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
