"""The store's versions as users name and manage them: a directory, a version name or `champion`;
listing, promoting by hand, and pruning old versions."""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timezone
from pathlib import Path

from imbalance_flows.tasks.disk import remove_leftovers
from imbalance_flows.tasks.errors import InputError, preview
from imbalance_flows.tasks.integrity import VERSION_NAME
from imbalance_flows.tasks.store import champion, promote, read_manifest, record_decision, store_lock


def resolve_version(store: str | os.PathLike, model: str | os.PathLike) -> Path:
    """The directory of a model named as users name it: a version's directory, a version name, or `champion`."""
    if str(model) == "champion":
        path = champion(store)
        if path is None:
            raise InputError("`champion` needs a promoted model", f"{str(store)!r} has no champion yet",
                             "Run the retrain flow once (it promotes its first model), or "
                             "`imbalance-flows models promote VERSION`, or pass a version.")
        return path
    candidate = Path(model)
    if (candidate / "manifest.json").is_file():
        return candidate
    if VERSION_NAME.fullmatch(str(model)) and ".." not in str(model):
        named = Path(store) / "versions" / str(model)
        if (named / "manifest.json").is_file():
            return named
    known = [entry["name"] for entry in list_versions(store)][-5:]
    raise InputError("MODEL must be a saved version's directory, a version name in the store, or 'champion'",
                     f"{str(model)!r} is none of these (store {str(store)!r})",
                     f"Recent versions: {preview(known)}; `imbalance-flows models list --store DIR` lists them all.")


def _current(store: str | os.PathLike) -> Path | None:
    """The champion, or None when the pointer is missing or unreadable (so that promoting can repair it)."""
    try:
        return champion(store)
    except InputError:
        return None


def list_versions(store: str | os.PathLike) -> list[dict]:
    """Every complete version of the store, oldest first: name, date, data, headline metrics, champion or not."""
    root = Path(store) / "versions"
    current = _current(store)
    rows = []
    for path in sorted(root.iterdir()) if root.is_dir() else []:
        try:
            manifest = read_manifest(path)
        except InputError:
            continue  # not a version (or one of another format): not listed
        ensemble = manifest.get("metrics", {}).get("ensemble", {})
        rows.append({"name": path.name, "path": str(path), "created": manifest.get("created"),
                     "data": manifest.get("data", {}).get("source"), "target": manifest["schema"]["target"],
                     "balanced_accuracy": ensemble.get("balanced_accuracy"), "g_mean": ensemble.get("g_mean"),
                     "champion": current is not None and path.name == current.name,
                     "order": (manifest.get("created") or "", path.stat().st_mtime_ns)})
    return sorted(rows, key=lambda row: row.pop("order"))


def promote_by_hand(store: str | os.PathLike, model: str | os.PathLike) -> dict:
    """Make a version the champion, atomically and under the store's lock, recorded as a decision."""
    version = resolve_version(store, model)
    if version.resolve().parent != (Path(store) / "versions").resolve():
        raise InputError("only a version of this store can be promoted", f"{str(version)!r} is not under "
                         f"{str(Path(store) / 'versions')!r}", "Pass a version name from `models list`.")
    with store_lock(store):
        before = _current(store)  # a broken pointer is replaced, not an obstacle
        decision = {"time": datetime.now(timezone.utc).isoformat(timespec="seconds"), "metric": None,
                    "margin": None, "promoted": True, "reason": "promoted by hand", "challenger": str(version),
                    "champion": str(before) if before else None, "judged_rows": None, "holdout_rows": None,
                    "excluded_champion_rows": None, "challenger_metrics": None, "champion_metrics": None}
        decision["record"] = str(record_decision(store, decision))
        promote(store, version)
    return decision


def prune(store: str | os.PathLike, keep: int) -> list[str]:
    """Delete all but the newest `keep` versions (never the champion) and the run workspace; return what went."""
    if keep < 0:
        raise InputError("--keep must be 0 or more", f"it is {keep}", "Use e.g. --keep 5.")
    with store_lock(store):  # no promotion can pick a version while it is being deleted
        champion(store)  # an unreadable pointer is refused here: pruning could otherwise delete the champion
        others = [v for v in list_versions(store) if not v["champion"]]
        doomed = others[:max(0, len(others) - keep)]
        for version in doomed:
            shutil.rmtree(version["path"])
        removed = [version["name"] for version in doomed] + remove_leftovers(store)
        workspace = Path(store) / ".work"
        if workspace.is_dir():
            shutil.rmtree(workspace)
            removed.append(".work")
    return removed
