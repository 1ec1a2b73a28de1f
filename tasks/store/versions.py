"""The store's models and versions as users name and manage them: addresses (a model's name, NAME@VERSION,
`champion`, a version name, a directory); listing, promoting by hand, tagging and pruning."""

from __future__ import annotations

import json
import os
import shlex
from datetime import datetime, timezone
from pathlib import Path

from imbalance_flows.tasks import storage
from imbalance_flows.tasks.errors import InputError, preview
from imbalance_flows.tasks.sealing import seal, sealed_json
from imbalance_flows.tasks.store.activity import remove_stale, runs_using, versions_read
from imbalance_flows.tasks.store.integrity import (
    DEFAULT_MODEL,
    MANIFEST,
    MODEL_NAME,
    VERSION_NAME,
    check_model_name,
    check_store_key,
    model_of,
)
from imbalance_flows.tasks.store.model_store import (
    champion,
    check_version,
    promote,
    read_manifest,
    record_decision,
    remove_leftovers,
    store_lock,
)

CARD = "card.json"
ADDRESSES = "a model's name (its champion), NAME@VERSION, 'champion' (the default model's), a version name, or a " \
            "version's directory"


def resolve_version(store: str | os.PathLike, model: str | os.PathLike) -> Path | str:
    """The directory of a version named as users name it (`ADDRESSES`)."""
    address = str(model)
    if address == "champion":
        return _champion_of(store, DEFAULT_MODEL)
    storage.check(address, "MODEL")
    if storage.is_file(storage.join(address, MANIFEST)):
        return storage.location(address)
    name, at, version = address.partition("@")
    if at and MODEL_NAME.fullmatch(name):
        path = _named_version(store, version)
        if path is None:
            raise InputError("NAME@VERSION must name a version in the store", f"{store!r} has no version "
                             f"{version!r}", f"`imbalance-flows models list --model {name} --store {shlex.quote(str(store))}` lists "
                             "the model's versions.")
        belongs = model_of(read_manifest(path))
        if belongs != name:
            raise InputError("NAME@VERSION must name a version of that model", f"{version!r} is a version of "
                             f"{belongs!r}, not of {name!r}", f"Use {belongs}@{version}.")
        return path
    path = _named_version(store, address)
    if path is not None:
        return path
    if MODEL_NAME.fullmatch(address):
        path = champion(store, address)  # one pointer read: serve-model asks every 2 s
        if path is not None:
            return path
        if address == DEFAULT_MODEL or address in model_names(store):
            return _champion_of(store, address)
    known = [entry["name"] for entry in list_versions(store)][-5:]
    raise InputError(f"MODEL must be {ADDRESSES}", f"{address!r} is none of these (store {str(store)!r})",
                     f"Models: {preview(model_names(store))}; recent versions: {preview(known)}; "
                     "`imbalance-flows models list --store DIR` lists them all.")


def followed_model(store: str | os.PathLike, address: str | os.PathLike) -> str | None:
    """The model whose champion `address` names (`champion`, or a model's name), or None for a fixed version."""
    address = str(address)
    if address == "champion":
        return DEFAULT_MODEL
    if not MODEL_NAME.fullmatch(address) or storage.is_file(storage.join(address, MANIFEST)):
        return None
    return address if _named_version(store, address) is None else None


def _named_version(store: str | os.PathLike, name: str) -> Path | str | None:
    """The directory of the store's version `name`, or None when it has none of that name."""
    if not VERSION_NAME.fullmatch(name) or ".." in name:
        return None
    path = storage.join(store, "versions", name)
    return storage.location(path) if storage.is_file(storage.join(path, MANIFEST)) else None


def _champion_of(store: str | os.PathLike, model: str) -> Path | str:
    path = champion(store, model)
    if path is None:
        raise InputError("a model's name (or 'champion') needs a promoted version",
                         f"{str(store)!r} has no champion of {model!r} yet",
                         "Run the retrain flow once (it promotes its first model), or "
                         "`imbalance-flows models promote VERSION`, or pass a version.")
    return path


def model_names(store: str | os.PathLike) -> list[str]:
    """The models of the store: those with versions, and those with a champion or a card."""
    names = {row["model"] for row in list_versions(store)}
    if storage.is_file(storage.join(store, "champion")):
        names.add(DEFAULT_MODEL)
    names.update(name for name in storage.names(storage.join(store, "models")) if MODEL_NAME.fullmatch(name))
    return sorted(names)


def card(store: str | os.PathLike, model: str) -> dict:
    """A model's description and its versions' tags ({"description": str, "tags": {version: [tag, ...]}})."""
    path = storage.join(store, "models", check_model_name(model), CARD)
    if not storage.is_file(path):
        return {"description": "", "tags": {}}
    found = sealed_json(path, "a model's card", "Restore it from a backup, or delete it (it holds the description "
                                                "and tags only).")
    if not (isinstance(found, dict) and isinstance(found.get("description", ""), str)
            and isinstance(found.get("tags", {}), dict)
            and all(isinstance(tags, list) and all(isinstance(tag, str) for tag in tags)
                    for tags in found.get("tags", {}).values())):
        raise InputError("a model's card.json holds its description and its versions' tags", f"{path!r} does not",
                         "Delete it and describe and tag the model again.")
    return {"description": found.get("description", ""), "tags": found.get("tags", {})}


def _write_card(store: str | os.PathLike, model: str, content: dict) -> None:
    folder = storage.join(store, "models", model)
    if storage.is_local(folder):
        os.makedirs(storage.local(folder), exist_ok=True)
    path = storage.write_bytes(storage.join(folder, CARD), json.dumps(content, indent=2, sort_keys=True))
    seal(str(path))


def describe(store: str | os.PathLike, model: str, text: str) -> dict:
    """Set a model's description (under the store's lock)."""
    check_model_name(model)
    with store_lock(store) as confirm:
        content = card(store, model)
        content["description"] = text.strip()
        confirm()
        _write_card(store, model, content)
    return content


TAG = MODEL_NAME  # a tag is a word, as a model's name is


def tag(store: str | os.PathLike, address: str, tags: list[str], remove: bool = False) -> tuple[str, list[str]]:
    """Add (or remove) tags on a version; return the version's name and its tags now."""
    for word in tags:
        if not TAG.fullmatch(word):
            raise InputError("a tag is a letter, then up to 63 letters, digits, '_' or '-'", f"got {word[:80]!r}",
                             "Use tags such as candidate or reviewed-2026-12.")
    version = resolve_version(store, address)
    model, name = model_of(read_manifest(version)), storage.name(version)
    with store_lock(store) as confirm:
        content = card(store, model)
        now = content["tags"].get(name, [])
        now = [t for t in now if t not in tags] if remove else now + [t for t in tags if t not in now]
        if now:
            content["tags"][name] = now
        else:
            content["tags"].pop(name, None)
        confirm()
        _write_card(store, model, content)
    return name, now


def _current(store: str | os.PathLike, model: str = DEFAULT_MODEL) -> Path | str | None:
    """The model's champion, or None when the pointer is missing or unreadable (so that promoting can repair it)."""
    try:
        return champion(store, model)
    except InputError:
        return None


def list_versions(store: str | os.PathLike, model: str | None = None) -> list[dict]:
    """Every complete version of the store (of `model` only, when given), oldest first: its model, name, date,
    data, rows, voting members, headline metrics, champion or not."""
    check_store_key(store)  # a signed store without its key: said once, not as versions silently left out
    root = storage.join(storage.check(store, "the store"), "versions")
    current: dict[str, Path | str | None] = {}
    rows = []
    for name in storage.names(root):
        path = storage.join(root, name)
        try:
            manifest = read_manifest(path)  # a version without one is being written, or was abandoned
        except InputError:
            continue  # not a version (or one of another format): not listed
        belongs = model_of(manifest)
        if model is not None and belongs != model:
            continue
        if belongs not in current:
            current[belongs] = _current(store, belongs)
        ensemble = manifest.get("metrics", {}).get("ensemble", {})
        members = [entry.get("name") or "?" for entry in manifest["members"] if entry.get("weight", 0) > 0]
        rows.append({"model": belongs, "name": name, "path": path, "created": manifest.get("created"),
                     "data": manifest.get("data", {}).get("source"), "target": manifest["schema"].get("target"),
                     "rows": manifest.get("data", {}).get("rows"), "members": members,
                     "balanced_accuracy": ensemble.get("balanced_accuracy"), "g_mean": ensemble.get("g_mean"),
                     "average_precision": ensemble.get("average_precision"),
                     "champion": current[belongs] is not None and name == storage.name(current[belongs]),
                     "order": (manifest.get("created") or "", manifest.get("created_ns") or 0,
                               storage.modified(storage.join(path, MANIFEST)))})
    return sorted(rows, key=lambda row: row.pop("order"))


def promote_by_hand(store: str | os.PathLike, model: str | os.PathLike) -> dict:
    """Make a version its model's champion, atomically and under the store's lock, recorded as a decision."""
    version = resolve_version(store, model)
    name = model_of(read_manifest(version))
    if not inside_store(store, version):
        raise InputError("only a version of this store can be promoted", f"{str(version)!r} is not under "
                         f"{storage.join(store, 'versions')!r}", "Pass a version name from `models list`.")
    check_version(version)  # a version whose files changed or went, or whose signature fails, never serves
    with store_lock(store) as confirm:
        before = _current(store, name)  # a broken pointer is replaced, not an obstacle
        if before is not None and storage.name(before) == storage.name(version):
            return {"model": name, "promoted": False, "reason": "already the champion", "challenger": str(version),
                    "champion": str(before), "sequence": None}  # nothing changes, nothing is recorded
        decision = {"time": datetime.now(timezone.utc).isoformat(timespec="seconds"), "model": name, "metric": None,
                    "margin": None, "promoted": True, "reason": "promoted by hand", "challenger": str(version),
                    "champion": str(before) if before else None, "judged_rows": None, "holdout_rows": None,
                    "excluded_champion_rows": None, "challenger_metrics": None, "champion_metrics": None}
        confirm()
        decision["record"] = str(record_decision(store, decision))
        confirm()
        promote(store, version)
    return decision


def inside_store(store: str | os.PathLike, version: str | os.PathLike) -> bool:
    """Whether a version's directory is one of the store's versions (not a copy elsewhere)."""
    versions = storage.join(store, "versions")
    if storage.is_local(version) and storage.is_local(versions):
        return Path(storage.local(version)).resolve().parent == Path(storage.local(versions)).resolve()
    return storage.parent(version).rstrip("/") == versions.rstrip("/")


def prune(store: str | os.PathLike, keep: int, dry_run: bool = False, model: str | None = None) -> list[str]:
    """Delete all but the newest `keep` versions of each model (of `model` only, when given), never a champion,
    and the run workspace (never while a run uses it); return what went, or with `dry_run` what would go,
    deleting nothing."""
    if keep < 0:
        raise InputError("--keep must be 0 or more", f"it is {keep}", "Use e.g. --keep 5.")
    if dry_run:
        doomed, workspace = _doomed(store, keep, model)
        return [version["name"] for version in doomed] + ([".work"] if workspace else [])
    with store_lock(store) as confirm:  # no promotion can pick a version while it is being deleted
        doomed, workspace = _doomed(store, keep, model)
        for version in doomed:  # its manifest first: a version half deleted is no version
            confirm()
            storage.remove(storage.join(version["path"], MANIFEST))
            storage.remove(version["path"], recursive=True)
        removed = [version["name"] for version in doomed] + remove_leftovers(store)
        remove_stale(store)  # markers of readers that were killed: not versions, not counted
        if workspace:
            storage.remove(workspace, recursive=True)
            removed.append(".work")
    return removed


def _doomed(store: str | os.PathLike, keep: int, model: str | None = None) -> tuple[list[dict], str | None]:
    """What a prune removes: of each model (or of `model`), all but its newest `keep` versions besides its
    champion, and none a live process is reading; and the run workspace unless it is missing or a run uses it
    (None then)."""
    found = list_versions(store, model)
    read = versions_read(store)  # a version a live process is loading stays
    doomed = []
    for name in sorted({row["model"] for row in found}):
        champion(store, name)  # an unreadable pointer is refused here: pruning could otherwise delete the champion
        others = [v for v in found if v["model"] == name and not v["champion"]]
        doomed += [v for v in others[:max(0, len(others) - keep)] if v["name"] not in read]
    workspace = storage.join(store, ".work")
    kept = not storage.exists(workspace) or runs_using(workspace)  # never under a running run
    return doomed, None if kept else workspace
