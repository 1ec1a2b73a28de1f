"""Sharing the cores: how many members run at once, with how many threads each."""

from __future__ import annotations

import os
import sys
import threading

from threadpoolctl import ThreadpoolController

from imbalance_flows.tasks.errors import InputError

_controllers: dict = {}  # finding the thread pools reads the process's memory map: do it once per set of modules
_controllers_lock = threading.Lock()


def limit_threads(threads: int):
    """A context in which native thread pools (BLAS, OpenMP) use at most `threads` threads."""
    key = len(sys.modules)  # an import since the last look may have loaded a library with its own pool
    with _controllers_lock:
        controller = _controllers.get(key)
        if controller is None:
            _controllers.clear()
            controller = _controllers[key] = ThreadpoolController()
    return controller.limit(limits=threads)


def available_cores() -> int:
    """Cores this process may use (affinity-aware where the platform tells)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity call.
        return os.cpu_count() or 1


def plan_concurrency(n_members: int, max_concurrency: int | None = None, cores: int | None = None) -> tuple[int, int]:
    """How many members to fit at once, and how many threads each may use.

    Each of scikit-learn's boosting and forest learners would take every core on its own;
    running several side by side without a limit makes all of them slower. So the cores
    (`cores`, default: those this process may use) are divided: `workers` × `threads`
    never exceeds them.

    `max_concurrency` follows scikit-learn's `n_jobs`: None or −1 every core, −2 all but
    one, and so on; a positive number caps the members fitted at once.
    """
    cores = cores or available_cores()
    if max_concurrency == 0 or isinstance(max_concurrency, bool):
        raise InputError("n_jobs must be a positive number of members at once, or negative for cores counted from "
                         "the last", f"it is {max_concurrency!r}", "Use None or -1 for every core, or e.g. 2.")
    if max_concurrency is not None and max_concurrency < 0:
        max_concurrency = max(1, cores + 1 + max_concurrency)
    workers = max(1, min(n_members, max_concurrency or cores, cores))
    return workers, max(1, cores // workers)
