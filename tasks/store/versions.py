"""The store's versions as users name and manage them: a directory, a version name or `champion`;
listing, promoting by hand, and pruning old versions."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

from imbalance_flows.tasks import storage
from imbalance_flows.tasks.errors import InputError, preview
from imbalance_flows.tasks.store.activity import runs_using
from imbalance_flows.tasks.store.integrity import (
    MANIFEST,
    VERSION_NAME,
    check_store_key,
)
from imbalance_flows.tasks.store.model_store import (
    champion,
    promote,
    read_manifest,
    record_decision,
    remove_leftovers,
    store_lock,
)


def resolve_version(store: str | os.PathLike, model: str | os.PathLike) -> Path | str:
    """The directory of a model named as users name it: a version's directory, a version name, or `champion`."""
    if str(model) == "champion":
        path = champion(store)
        if path is None:
            raise InputError("`champion` needs a promoted model", f"{str(store)!r} has no champion yet",
                             "Run the retrain flow once (it promotes its first model), or "
                             "`imbalance-flows models promote VERSION`, or pass a version.")
        return path
    storage.check(model, "MODEL")
    if storage.is_file(storage.join(model, MANIFEST)):
        return storage.location(model)
    if VERSION_NAME.fullmatch(str(model)) and ".." not in str(model):
        named = storage.join(store, "versions", str(model))
        if storage.is_file(storage.join(named, MANIFEST)):
            return storage.location(named)
    known = [entry["name"] for entry in list_versions(store)][-5:]
    raise InputError("MODEL must be a saved version's directory, a version name in the store, or 'champion'",
                     f"{str(model)!r} is none of these (store {str(store)!r})",
                     f"Recent versions: {preview(known)}; `imbalance-flows models list --store DIR` lists them all.")


def _current(store: str | os.PathLike) -> Path | str | None:
    """The champion, or None when the pointer is missing or unreadable (so that promoting can repair it)."""
    try:
        return champion(store)
    except InputError:
        return None


def list_versions(store: str | os.PathLike) -> list[dict]:
    """Every complete version of the store, oldest first: name, date, data, headline metrics, champion or not."""
    check_store_key(store)  # a signed store without its key: said once, not as versions silently left out
    root = storage.join(storage.check(store, "the store"), "versions")
    current = _current(store)
    rows = []
    for name in storage.names(root):
        path = storage.join(root, name)
        try:
            manifest = read_manifest(path)  # a version without one is being written, or was abandoned
        except InputError:
            continue  # not a version (or one of another format): not listed
        ensemble = manifest.get("metrics", {}).get("ensemble", {})
        members = [entry.get("name") or "?" for entry in manifest["members"] if entry.get("weight", 0) > 0]
        rows.append({"name": name, "path": path, "created": manifest.get("created"),
                     "data": manifest.get("data", {}).get("source"), "target": manifest["schema"].get("target"),
                     "rows": manifest.get("data", {}).get("rows"), "members": members,
                     "balanced_accuracy": ensemble.get("balanced_accuracy"), "g_mean": ensemble.get("g_mean"),
                     "champion": current is not None and name == storage.name(current),
                     "order": (manifest.get("created") or "", manifest.get("created_ns") or 0,
                               storage.modified(storage.join(path, MANIFEST)))})
    return sorted(rows, key=lambda row: row.pop("order"))


def promote_by_hand(store: str | os.PathLike, model: str | os.PathLike) -> dict:
    """Make a version the champion, atomically and under the store's lock, recorded as a decision."""
    version = resolve_version(store, model)
    versions = storage.join(store, "versions")
    same = (Path(version).resolve().parent == Path(versions).resolve() if storage.is_local(version)
            and storage.is_local(versions) else storage.parent(version).rstrip("/") == versions.rstrip("/"))
    if not same:
        raise InputError("only a version of this store can be promoted", f"{str(version)!r} is not under "
                         f"{versions!r}", "Pass a version name from `models list`.")
    with store_lock(store) as confirm:
        before = _current(store)  # a broken pointer is replaced, not an obstacle
        decision = {"time": datetime.now(timezone.utc).isoformat(timespec="seconds"), "metric": None,
                    "margin": None, "promoted": True, "reason": "promoted by hand", "challenger": str(version),
                    "champion": str(before) if before else None, "judged_rows": None, "holdout_rows": None,
                    "excluded_champion_rows": None, "challenger_metrics": None, "champion_metrics": None}
        confirm()
        decision["record"] = str(record_decision(store, decision))
        confirm()
        promote(store, version)
    return decision


def prune(store: str | os.PathLike, keep: int, dry_run: bool = False) -> list[str]:
    """Delete all but the newest `keep` versions (never the champion) and the run workspace (never while a run
    uses it); return what went, or with `dry_run` what would go, deleting nothing."""
    if keep < 0:
        raise InputError("--keep must be 0 or more", f"it is {keep}", "Use e.g. --keep 5.")
    if dry_run:
        doomed, workspace = _doomed(store, keep)
        return [version["name"] for version in doomed] + ([".work"] if workspace else [])
    with store_lock(store) as confirm:  # no promotion can pick a version while it is being deleted
        doomed, workspace = _doomed(store, keep)
        for version in doomed:  # its manifest first: a version half deleted is no version
            confirm()
            storage.remove(storage.join(version["path"], MANIFEST))
            storage.remove(version["path"], recursive=True)
        removed = [version["name"] for version in doomed] + remove_leftovers(store)
        if workspace:
            storage.remove(workspace, recursive=True)
            removed.append(".work")
    return removed


def _doomed(store: str | os.PathLike, keep: int) -> tuple[list[dict], str | None]:
    """What a prune removes: all but the newest `keep` versions besides the champion, and the run workspace
    unless it is missing or a run uses it (None then)."""
    champion(store)  # an unreadable pointer is refused here: pruning could otherwise delete the champion
    others = [v for v in list_versions(store) if not v["champion"]]
    workspace = storage.join(store, ".work")
    kept = not storage.exists(workspace) or runs_using(workspace)  # never under a running run
    return others[:max(0, len(others) - keep)], None if kept else workspace
