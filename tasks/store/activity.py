"""Runs that use a store's workspace or read one of its versions say so, so that `models prune` never deletes
either under them.

A training run writes a marker, `<workspace>/.running/<run>`; a process loading a version writes
`<store>/.reading/<version>@<host>-<pid>-<id>`. Each is rewritten every `RENEW_S` while it lasts and
removed when it ends. A marker not rewritten for `STALE_S` belongs to a process that was killed, and is
ignored. Works wherever the store is (a folder, a bucket); a store that cannot be written (read-only, for
scoring) is read unmarked.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import uuid
from pathlib import Path

from imbalance_flows.tasks import storage
from imbalance_flows.tasks.store.integrity import store_of

FOLDER = ".running"
READING = ".reading"
RENEW_S = 20.0
STALE_S = 120.0


@contextlib.contextmanager
def using(workspace: str, run: str, folder: str = FOLDER, required: bool = True):
    """Mark `workspace` as used by `run` for the duration of the block; when not `required`, a marker that cannot
    be written (a read-only store) is left out."""
    marker = storage.join(workspace, folder, run)
    try:
        if storage.is_local(marker):
            Path(storage.local(marker)).parent.mkdir(parents=True, exist_ok=True)
        storage.write_bytes(marker, f"{time.time():.0f}\n")
        marked = True
    except OSError:
        if required:
            raise
        marked = False
    if not marked:
        yield
        return
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


@contextlib.contextmanager
def reading(version_dir: str | os.PathLike):
    """Mark a store's version as being read by this process for the duration of the block."""
    store = store_of(str(version_dir))
    if store is None:  # a version folder outside any store: nothing prunes it
        yield
        return
    mark = f"{storage.name(str(version_dir))}@{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    with using(store, mark, folder=READING, required=False):
        yield


def versions_read(store: str | os.PathLike) -> set[str]:
    """The versions of `store` a live process is reading."""
    return {mark.split("@")[0] for mark in runs_using(str(store), READING)}


def _ages(folder: str) -> dict[str, float]:
    """Seconds since each marker in `folder` was last rewritten."""
    if not storage.exists(folder):
        return {}
    now = time.time()
    return {name: now - changed for name, changed in storage.listing(folder).items()}


def runs_using(workspace: str, folder: str = FOLDER) -> list[str]:
    """The runs whose marker in `workspace` (under `folder`) was rewritten within the last `STALE_S` seconds."""
    return [name for name, age in _ages(storage.join(workspace, folder)).items() if age < STALE_S]


def remove_stale(store: str | os.PathLike) -> list[str]:
    """Delete the reading markers of processes that were killed (not rewritten for `STALE_S`)."""
    folder = storage.join(str(store), READING)
    stale = [name for name, age in _ages(folder).items() if age >= STALE_S]
    for name in stale:
        with contextlib.suppress(OSError):
            storage.remove(storage.join(folder, name))
    return stale
