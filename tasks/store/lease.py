"""The store's lock on an object store: a lease object that its holder keeps renewing.

Object stores have no file locks, so a store in a bucket is locked by an object, `<store>/.lock`,
naming its holder. It is taken with a conditional write that only succeeds where no such object
exists (S3's `If-None-Match: *`, decided by the server: of two writers racing, exactly one wins).
The holder rewrites it every `RENEW_S`, conditionally on it still being the object it wrote
(`If-Match` on its ETag), so its ETag keeps changing while the holder lives. A writer waiting for
the lease watches the ETag on its own monotonic clock: one that has not changed for `LEASE_S`
belongs to a holder that is gone (SIGKILL, a lost machine), and is replaced, again only if it is
still the object watched, so two writers cannot both take it over, and no clock of another
machine is trusted. The holder checks, before each step that changes the store, that the lease
is still its own (`Held.confirm`); the release deletes it only if it is still its own.

Elsewhere the lease is taken with the back end's own exclusive create (fsspec's `mode="create"`),
and a dead holder's lease is replaced after comparing its content, which one process's threads
do in turn but two machines could race on: on such back ends, let one scheduler retrain at a time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import time
import uuid

from imbalance_flows.tasks import storage
from imbalance_flows.tasks.errors import InputError

LEASE_S = 120.0  # a lease whose ETag has not changed for this long belongs to a holder that is gone
RENEW_S = 20.0  # how often a holder renews it
POLL_S = 0.5  # how often a writer waiting for the lease looks again
_LOCAL = threading.Lock()  # the fallback's comparison and write, one thread at a time


def _s3(path: str) -> bool:
    return storage.scheme(path) in ("s3", "s3a")


def _tag(path: str) -> str | None:
    """What tells this version of the lease object from any other: its ETag on S3, a digest of its content
    elsewhere; None when there is no lease."""
    fs, inner = storage.filesystem(path)
    try:
        if _s3(path):
            return fs.info(inner, refresh=True)["ETag"]
        return hashlib.sha256(storage.read_bytes(path)).hexdigest()
    except FileNotFoundError:
        return None


def _put(path: str, body: bytes, tag: str | None) -> bool:
    """Write the lease if it is still the object of ETag `tag` (None: only if there is none); False if not."""
    if tag is None:
        return storage.create(path, body)
    fs, inner = storage.filesystem(path)
    if not _s3(path):
        with _LOCAL:
            if _tag(path) != tag:
                return False
            fs.pipe_file(inner, body)
            return True
    bucket, key, _ = fs.split_path(inner)
    try:
        fs.call_s3("put_object", Bucket=bucket, Key=key, Body=body, IfMatch=tag)
    except (OSError, FileNotFoundError) as error:
        if storage.refused_condition(error) or isinstance(error, FileNotFoundError):
            return False
        raise
    finally:
        fs.invalidate_cache(inner)
    return True


def _delete(path: str, tag: str) -> None:
    """Delete the lease if it is still the object of ETag `tag`."""
    fs, inner = storage.filesystem(path)
    if not _s3(path):
        with _LOCAL:
            if _tag(path) == tag:
                storage.remove(path)
        return
    bucket, key, _ = fs.split_path(inner)
    with contextlib.suppress(OSError, FileNotFoundError):  # changed or gone meanwhile: not ours to delete
        fs.call_s3("delete_object", Bucket=bucket, Key=key, IfMatch=tag)
    fs.invalidate_cache(inner)


def _body(holder: str) -> bytes:
    """The lease's content: whose it is, and when it was last renewed (so that each renewal changes its ETag)."""
    return json.dumps({"holder": holder, "renewed": time.time()}).encode()


def _holder(path: str) -> str | None:
    try:
        held = json.loads(storage.read_bytes(path))
    except FileNotFoundError:
        return None
    except ValueError:  # unreadable: nobody's
        return ""
    return str(held.get("holder", "")) if isinstance(held, dict) else ""


class Held:
    """The lease while it is held: renewed in a thread; `confirm` before a step that changes the store."""

    def __init__(self, path: str, holder: str):
        self.path, self.holder = path, holder
        self.tag = _tag(path)
        self.lost: str | None = None
        self._stop = threading.Event()
        self._renewer = threading.Thread(target=self._renew, daemon=True, name="store-lease")
        self._renewer.start()


    def _renew(self) -> None:
        """Rewrite the lease every RENEW_S while it is ours; a failed try (the network) is tried again until the
        lease would look abandoned, and a refused one is ours still if the lease names us (a retried request)."""
        last = time.monotonic()
        while not self._stop.wait(RENEW_S):
            try:
                if _put(self.path, _body(self.holder), self.tag) or _holder(self.path) == self.holder:
                    self.tag, last = _tag(self.path), time.monotonic()
                else:
                    self.lost = f"another writer holds {self.path!r} now"
                    return
            except Exception as error:  # the network or the credentials: tried again at the next turn
                if time.monotonic() - last > LEASE_S - RENEW_S:
                    self.lost = f"it could not be renewed for {LEASE_S - RENEW_S:.0f} s ({type(error).__name__})"
                    return

    def confirm(self) -> None:
        """Refuse to go on once the lease is no longer ours: another writer may be changing the store."""
        if self.lost is not None:
            raise InputError("a decision is taken only while the store's lock is held", f"the lock was lost: {self.lost}",
                             "Nothing was recorded or promoted; run the retrain (or the command) again.")

    def release(self) -> None:
        self._stop.set()
        self._renewer.join()
        if self.lost is None and self.tag is not None:
            with contextlib.suppress(Exception):  # a lease left behind expires on its own
                _delete(self.path, self.tag)


@contextlib.contextmanager
def lease(path: str, wait_s: float = 3600.0):
    """Hold the lease object at `path` for the block (yields a `Held`); wait up to `wait_s` for its holder to end."""
    holder = f"{os.uname().nodename}~{os.getpid()}-{uuid.uuid4().hex[:8]}"
    body = _body(holder)
    started, watched, since = time.monotonic(), None, time.monotonic()
    while True:
        if _put(path, body, None):
            break
        tag = _tag(path)
        if tag != watched:  # renewed (or replaced) since the last look: its holder lives
            watched, since = tag, time.monotonic()
        elif tag is not None and time.monotonic() - since > LEASE_S and _put(path, body, tag):
            break  # unchanged for LEASE_S on this machine's clock: its holder is gone, and it is taken over
        if time.monotonic() - started > wait_s:
            raise InputError("the store's lock must be free to take a decision",
                             f"{path!r} has been held by {_holder(path)!r} for over {wait_s:.0f} s",
                             f"Wait for that run to end; a lock not renewed for {LEASE_S:.0f} s is taken over.")
        time.sleep(POLL_S)
    held = Held(path, holder)
    try:
        yield held
    finally:
        held.release()
