"""The store's lock on an object store: a lease object with a deadline.

Object stores have no file locks, so a store in a bucket is locked by an object, `<store>/.lock`,
naming its holder and a deadline. It is taken with a conditional write that only succeeds where
no such object exists (S3's `If-None-Match: *`, decided by the server: of two writers racing,
exactly one wins). The holder renews the deadline while it works; a holder that died (SIGKILL,
a lost machine) stops renewing, and once its deadline has passed the next writer replaces the
lease, again conditionally: on S3 only if the object is still the stale one it read
(`If-Match` on its ETag), so two writers cannot both take over a dead holder's lease.

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

LEASE_S = 120.0  # a lease not renewed for this long belongs to a holder that is gone
RENEW_S = 20.0  # how often a holder renews it
POLL_S = 0.5  # how often a writer waiting for the lease looks again
_LOCAL = threading.Lock()  # the fallback's existence check and write, one thread at a time


def _tag(path: str) -> str | None:
    """What tells this version of the lease object from any other: its ETag on S3, a digest of its content
    elsewhere; None when there is no lease."""
    fs, inner = storage.filesystem(path)
    try:
        if storage.scheme(path) in ("s3", "s3a"):
            return fs.info(inner, refresh=True)["ETag"]
        return hashlib.sha256(storage.read_bytes(path)).hexdigest()
    except FileNotFoundError:
        return None


def _put(path: str, body: bytes, tag: str | None) -> bool:
    """Write the lease if it is still the object of ETag `tag` (None: only if there is none); False if not."""
    if tag is None:
        return storage.create(path, body)
    fs, inner = storage.filesystem(path)
    if storage.scheme(path) not in ("s3", "s3a"):
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


def _body(holder: str) -> bytes:
    return json.dumps({"holder": holder, "until": time.time() + LEASE_S}).encode()


def _read(path: str) -> dict | None:
    try:
        held = json.loads(storage.read_bytes(path))
        return held if isinstance(held, dict) and isinstance(held.get("until"), (int, float)) else {"until": 0}
    except FileNotFoundError:
        return None
    except ValueError:  # an unreadable lease holds nothing
        return {"until": 0}


@contextlib.contextmanager
def lease(path: str, wait_s: float = 3600.0):
    """Hold the lease object at `path` for the block; wait up to `wait_s` for a live holder to finish."""
    holder = f"{os.uname().nodename}~{os.getpid()}-{uuid.uuid4().hex[:8]}"
    waited = time.monotonic()
    while True:
        if _put(path, _body(holder), None):
            break
        tag = _tag(path)
        held = _read(path)
        if held is not None and held["until"] < time.time() and _put(path, _body(holder), tag):
            break  # its holder is gone: taken over
        if time.monotonic() - waited > wait_s:
            raise InputError("the store's lock must be free to take a decision",
                             f"{path!r} has been held by {held and held.get('holder')!r} for over {wait_s:.0f} s",
                             f"Wait for that run to end; a lock not renewed expires after {LEASE_S:.0f} s.")
        time.sleep(POLL_S)
    stop = threading.Event()
    renewer = threading.Thread(target=_renew, args=(path, holder, stop), daemon=True, name="store-lease")
    renewer.start()
    try:
        yield
    finally:
        stop.set()
        renewer.join()
        with contextlib.suppress(OSError):
            held = _read(path)
            if held is not None and held.get("holder") == holder:
                storage.remove(path)


def _renew(path: str, holder: str, stop: threading.Event) -> None:
    """Push the deadline on while the holder works, as long as the lease is still its own."""
    while not stop.wait(RENEW_S):
        with contextlib.suppress(OSError):
            tag = _tag(path)
            held = _read(path)
            if held is None or held.get("holder") != holder or not _put(path, _body(holder), tag):
                return
