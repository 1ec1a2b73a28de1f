"""The store key, and seals on the files a run leaves in its workspace for the next run to reuse.

With `IMBALANCE_FLOWS_STORE_KEY` set, versions are signed (`tasks.store.integrity`), and every
decision record, and every fitted member and out-of-fold file a run writes in its workspace, gets a
seal beside it,
`<file>.sig`: the HMAC-SHA256 of its bytes. A later run reuses such a file only if its seal
matches, so a member planted or replaced in the workspace by someone without the key is refused
instead of being signed into a new version; a table in the workspace is written again rather
than reused.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from imbalance_flows.tasks import storage
from imbalance_flows.tasks.errors import InputError

STORE_KEY = "IMBALANCE_FLOWS_STORE_KEY"  # set it to sign every manifest written, and to refuse unsigned ones


def store_key() -> bytes | None:
    key = os.environ.get(STORE_KEY)
    return key.encode() if key else None


def signing() -> bool:
    """Whether a store key is set: versions are then signed when written and checked when read."""
    return store_key() is not None


def _mac(data: bytes) -> str:
    return hmac.new(store_key(), data, hashlib.sha256).hexdigest()


def seal(path: str) -> None:
    """With a store key set, write `<path>.sig`, the HMAC of the file's bytes."""
    if signing():
        storage.write_bytes(path + ".sig", _mac(storage.read_bytes(path)) + "\n")


WORKSPACE_HINT = "Delete the workspace (imbalance-flows models prune) and run again: it is refitted."


def check_seal(path: str, what: str = "a file reused from the run workspace", hint: str = WORKSPACE_HINT,
               data: bytes | None = None) -> None:
    """With a store key set, refuse a file whose seal is missing or does not match its bytes (`data`, when they
    were read already)."""
    if not signing():
        return
    seal_path = path + ".sig"
    found = storage.read_text(seal_path).strip() if storage.is_file(seal_path) else None
    if found is None or not hmac.compare_digest(found, _mac(storage.read_bytes(path) if data is None else data)):
        raise InputError(f"with {STORE_KEY} set, {what} must be sealed with that key",
                         f"{path!r} is {'unsealed' if found is None else 'sealed with another key, or changed'}",
                         hint)


def sealed_json(path: str, what: str, hint: str):
    """A small JSON file of the store (a decision record, a model's card), read once and its seal checked on those
    bytes; None when it is not JSON."""
    import json

    data = storage.read_bytes(path)
    check_seal(path, what, hint, data)
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return None
