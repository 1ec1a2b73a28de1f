"""`imbalance-flows models ACTION`: a store's models and their versions from the command line.

A store holds models by name (`train --model churn`), each with its versions, its champion, a
description and tags on its versions. Versions are addressed as everywhere: a model's name (its
champion), NAME@VERSION, a version name, a version's directory, or `champion` (the default model's).
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from imbalance_flows.tasks import storage

ACTIONS = {
    "list": "every version, per model: created, data, rows, voting members, key metrics and tags; * marks the "
            "champion",
    "show": "one version whole: its model, data, parameters, members and weights, threshold, costs, metrics per "
            "class",
    "diff": "two versions side by side: data, parameters, members and weights, metrics overall and per class",
    "promote": "make a version its model's champion (recorded as a decision, like a retrain's)",
    "tag": "add tags to a version (or take them off with --remove)",
    "describe": "set a model's description",
    "prune": "delete all but the newest --keep versions of each model (never a champion) and the run workspace",
}
ADDRESS = ("a model's name (its champion), NAME@VERSION, 'champion' (the default model's), a version name or a "
           "version's directory")
# What `list`, `show` and `diff` put first: the metrics users compare versions by.
KEY_METRICS = ("balanced_accuracy", "g_mean", "average_precision")


def add_options(parser: argparse.ArgumentParser, epilog: str) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, summary in ACTIONS.items():
        action = actions.add_parser(name, help=summary, description=summary, epilog=epilog)
        action.add_argument("--store", default="models", help="model store directory or URL (default: models)")
        if name in ("list", "prune"):
            action.add_argument("--model", metavar="NAME", help="this model's versions only (default: every model)")
        if name in ("show", "promote", "tag"):
            action.add_argument("version", metavar="VERSION", help=ADDRESS)
        if name == "diff":
            action.add_argument("first", metavar="A", help=ADDRESS)
            action.add_argument("second", metavar="B", help="the version to compare with A, addressed the same way")
        if name == "tag":
            action.add_argument("tags", metavar="TAG", nargs="+", help="a word: a letter, then letters, digits, _ or -")
            action.add_argument("--remove", action="store_true", help="take these tags off instead")
        if name == "describe":
            action.add_argument("model", metavar="NAME", help="the model's name (default: the default model)")
            action.add_argument("text", metavar="TEXT", help="what the model is for, in a sentence or two")
        if name == "prune":
            action.add_argument("--keep", type=int, required=True, help="versions of each model to keep besides "
                                                                        "its champion")
            action.add_argument("--dry-run", action="store_true", help="say what would be removed, remove nothing")


def run(args) -> int:
    return {"list": _list, "show": _show, "diff": _diff, "promote": _promote, "tag": _tag, "describe": _describe,
            "prune": _prune}[args.action](args)


def _list(args) -> int:
    from imbalance_flows.tasks.store import versions

    rows = versions.list_versions(args.store, args.model)
    if not rows:
        which = f" of {args.model!r}" if args.model else ""
        print(f"No versions{which} in {args.store!r} yet: `imbalance-flows train DATA --target COL "
              f"--store {shlex.quote(args.store)}{' --model ' + args.model if args.model else ''}`.")
        return 0
    for model in sorted({row["model"] for row in rows}):
        card = versions.card(args.store, model)
        print(f"{model}" + (f": {card['description']}" if card["description"] else ""))
        for row in rows:
            if row["model"] != model:
                continue
            metrics = "  ".join(f"{_short(name)} {row[name]:.3f}" for name in KEY_METRICS if row.get(name) is not None)
            tags = card["tags"].get(row["name"])
            print(f"  {'*' if row['champion'] else ' '} {row['name']}  {row['created']}  {row['data']} "
                  f"(target {row['target']!r}, {_count(row['rows'])} rows)  {metrics}  voting: "
                  f"{', '.join(row['members'])}" + (f"  [{', '.join(tags)}]" if tags else ""))
    return 0


def _short(metric: str) -> str:
    return {"balanced_accuracy": "bal.acc", "g_mean": "G-mean", "average_precision": "AP"}.get(metric, metric)


def _count(value) -> str:
    return "?" if value is None else f"{value:,}"


def _promote(args) -> int:
    from imbalance_flows.tasks.store import versions

    decision = versions.promote_by_hand(args.store, args.version)
    if not decision["promoted"]:
        print(f"{storage.name(decision['challenger'])} is already the champion of {decision['model']!r}: "
              "nothing changed")
        return 0
    print(f"Promoted {storage.name(decision['challenger'])} to champion of {decision['model']!r} (champion before: "
          f"{storage.name(decision['champion']) if decision['champion'] else 'none'}); decision {decision['sequence']}")
    return 0


def _tag(args) -> int:
    from imbalance_flows.tasks.store import versions

    name, tags = versions.tag(args.store, args.version, args.tags, remove=args.remove)
    print(f"{name}: {', '.join(tags) if tags else 'no tags'}")
    return 0


def _describe(args) -> int:
    from imbalance_flows.tasks.store import versions

    versions.describe(args.store, args.model, args.text)
    print(f"{args.model}: {args.text.strip()}")
    return 0


def _prune(args) -> int:
    from imbalance_flows.tasks.store import versions
    from imbalance_flows.tasks.store.activity import runs_using

    removed = versions.prune(args.store, args.keep, dry_run=args.dry_run, model=args.model)
    gone = [name for name in removed if name != ".work"]
    print(f"{'Would remove' if args.dry_run else 'Removed'} {len(gone)} version{'' if len(gone) == 1 else 's'}"
          f"{': ' + ', '.join(gone) if gone else ''}"
          + ("; and the run workspace (.work)" if ".work" in removed else ""))
    if ".work" not in removed and runs_using(storage.join(args.store, ".work")):
        print("Kept .work: a training run is using it (prune again once it has ended).")
    return 0


def described(store, address) -> tuple[dict, dict, dict]:
    """A version's manifest, what tells it apart (model, data, parameters, members and weights) and its test
    metrics (overall, then per class), each by line name, as `show` and `diff` print them."""
    from imbalance_flows.tasks.store import versions
    from imbalance_flows.tasks.store.integrity import model_of
    from imbalance_flows.tasks.store.model_store import champion, read_manifest

    path = versions.resolve_version(store, address)
    manifest = read_manifest(path)
    model = model_of(manifest)
    name = storage.name(Path(path).resolve() if storage.is_local(path) else path)
    ours = versions.inside_store(store, path)  # a directory elsewhere has no champion or tags here
    current = champion(store, model) if ours else None
    tags = versions.card(store, model)["tags"].get(name) if ours else None
    data, params = manifest.get("data") or {}, manifest["ensemble"]
    threshold = (f"{manifest['threshold']:.4f} on P({manifest['positive_class']}), tuned for "
                 f"{manifest.get('objective') or params.get('threshold_objective')}"
                 if manifest["threshold"] is not None else f"none (class prior power {manifest.get('prior_power')})")
    about = {
        "version": name,
        "model": model + (" (champion)" if current is not None and storage.name(current) == name else ""),
        "tags": ", ".join(tags) if tags else "none",
        "created": str(manifest.get("created")),
        "code": str(manifest.get("code_version")),
        "data": str(data.get("source", "?")),
        "fingerprint": str(data.get("fingerprint", "?"))[:16],
        "rows": _count(data.get("rows")),
        "target": repr(manifest["schema"].get("target")),
        "classes": ", ".join(map(str, manifest["schema"].get("classes", []))),
        "voting": str(params.get("voting")),
        "calibration": str((manifest.get("calibration") or {}).get("method", "none")),
        "validation": str(params.get("validation")),
        "threshold": threshold,
        "costs": "none" if manifest.get("cost_matrix") is None else str(manifest["cost_matrix"]),
        "random_state": str(params.get("random_state")),
        **{f"member {member['name']}": f"weight {member['weight']:.3f}" for member in manifest["members"]},
    }
    ensemble = (manifest.get("metrics") or {}).get("ensemble") or {}
    scores = {metric: _number(value) for metric, value in ensemble.items() if _number(value)}
    for label, per_class in (ensemble.get("per_class") or {}).items():
        scores.update({f"{label}: {metric}": _number(value) for metric, value in (per_class or {}).items()
                       if _number(value)})
    return manifest, about, scores


def _number(value) -> str:
    """A metric as `show` and `diff` print it; empty for what is not one number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return ""
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _show(args) -> int:
    from imbalance_flows.tasks.evaluation.report import tables

    manifest, about, _ = described(args.store, args.version)
    width = max(len(key) for key in about)
    for key, value in about.items():
        print(f"{key:<{width}}  {value}")
    if manifest.get("metrics"):
        print()
        print(tables(manifest["metrics"], "test"))
    return 0


def _diff(args) -> int:
    _, about_a, scores_a = described(args.store, args.first)
    _, about_b, scores_b = described(args.store, args.second)
    first, second = {**about_a, **scores_a}, {**about_b, **scores_b}
    keys = list(first) + [key for key in second if key not in first]
    width = max(len(key) for key in keys)
    column = min(40, max(12, *(len(first.get(key, "–")) for key in keys)))
    print(f"{'':<{width}}   {'A':<{column}}  B")
    for key in keys:
        a, b = first.get(key, "–"), second.get(key, "–")
        print(f"{key:<{width}} {' ' if a == b else '≠'} {_fit(a, column):<{column}}  {b}")
    return 0


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"
