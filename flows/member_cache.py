"""The cache of fitted members between runs: a member is refitted only when what it learns from changed.

Prefect's cache keeps only a reference to the member's files in the run's workspace (a skops
file, checked like a saved model), as plain JSON: reading it imports no class and runs no code.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import uuid
from pathlib import Path

from prefect.serializers import JSONSerializer

from imbalance_flows.tasks import storage
from imbalance_flows.tasks.data import tables
from imbalance_flows.tasks.model.spec import MemberSpec
from imbalance_flows.tasks.store.model_store import code_version


def member_key(context, parameters: dict) -> str:
    """A member is reused when its training rows, spec, seed, code and workspace are the same.

    The workspace is part of the key so that a reused member's file is the one in this
    run's workspace, never another store's.
    """
    digest = member_digest(parameters["spec"], parameters["train"], parameters["random_state"],
                            parameters.get("folds"))
    workspace = parameters["workspace"]
    place = hashlib.sha256((os.path.abspath(workspace) if storage.is_local(workspace) else workspace).encode()
                           ).hexdigest()[:12]
    path = member_path(parameters["workspace"], digest)
    folds = parameters.get("folds")
    files = [path] if folds is None else [path, out_of_fold_path(path)]
    key = f"{digest}-{place}"
    if not _plain_reference(key):
        # Prefect rebuilds a record's serializer from the record itself: one that is not our plain JSON
        # (an edited file asking for pickle) is never read, and the member is refitted instead.
        logging.getLogger(__name__).warning("The cached record %s is not a plain JSON reference: refitting the "
                                            "member instead of reading it.", key)
        return f"{key}-refit-{uuid.uuid4().hex}"
    if not all(storage.exists(file) for file in files) and _cached(key):
        # Its files are gone (the store or its workspace was deleted): a cache miss, so the member is refitted,
        # to the same files, which the cached reference then names again.
        return f"{key}-refit-{uuid.uuid4().hex}"
    return key


def _plain_reference(key: str) -> bool:
    """Whether a member's record in Prefect's local result storage, if there is one, asks only for plain JSON."""
    from prefect.settings import PREFECT_LOCAL_STORAGE_PATH

    path = Path(PREFECT_LOCAL_STORAGE_PATH.value()) / key
    if not path.is_file():
        return True
    try:
        serializer = json.loads(path.read_text())["metadata"]["serializer"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return serializer == REFERENCE.model_dump(mode="json")


def _cached(key: str) -> bool:
    """Whether Prefect's result store holds a result under `key`."""
    from prefect.results import get_result_store

    try:
        return get_result_store().exists(key)
    except Exception:  # a result store that cannot tell: the files' absence alone decides
        return True


def member_digest(spec: MemberSpec, train: tables.TableRef, random_state: int, folds: int | None = None) -> str:
    payload = json.dumps([spec.model_dump(mode="json"), train.fingerprint, random_state, folds, code_version()])
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


def out_of_fold_path(member_path: str) -> str:
    return member_path.removesuffix(".skops") + ".oof.npy"


# The cache keeps only a reference to the member's files, as plain JSON: decoding it imports no
# class and runs no code (Prefect's default, a cloudpickle, would run whatever a changed file holds).
REFERENCE = JSONSerializer(object_encoder=None, object_decoder=None)


def member_path(workspace: str, key: str) -> str:
    return storage.join(workspace, "members", f"{key}.skops")
