"""Runs that use a store's workspace say so, so that `models prune` never deletes it under them.

A training run writes a marker, `<workspace>/.running/<run>`, and rewrites it every `RENEW_S` while it
lasts; it removes it when it ends. A marker not rewritten for `STALE_S` belongs to a run that was
killed, and is ignored. Works wherever the workspace is (a folder, a bucket).
"""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path

from imbalance_flows.tasks import storage

FOLDER = ".running"
RENEW_S = 20.0
STALE_S = 120.0


@contextlib.contextmanager
def using(workspace: str, run: str):
    """Mark `workspace` as used by `run` for the duration of the block."""
    marker = storage.join(workspace, FOLDER, run)
    if storage.is_local(marker):
        Path(storage.local(marker)).parent.mkdir(parents=True, exist_ok=True)
    storage.write_bytes(marker, f"{time.time():.0f}\n")
    stop = threading.Event()

    def renew():
        while not stop.wait(RENEW_S):
            with contextlib.suppress(Exception):  # a renewal missed is caught up by the next one
                storage.write_bytes(marker, f"{time.time():.0f}\n")

    thread = threading.Thread(target=renew, name="workspace-in-use", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)
        with contextlib.suppress(Exception):
            storage.remove(marker)


def runs_using(workspace: str) -> list[str]:
    """The runs whose marker in `workspace` was rewritten within the last `STALE_S` seconds."""
    folder = storage.join(workspace, FOLDER)
    if not storage.exists(folder):
        return []
    now = time.time()
    return [name for name, changed in storage.listing(folder).items() if now - changed < STALE_S]
