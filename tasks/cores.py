"""Sharing the cores: how many members run at once, with how many threads each."""

from __future__ import annotations

import contextvars
import os
import sys
import threading
from typing import Callable, TypeVar

from threadpoolctl import ThreadpoolController

from imbalance_flows.tasks.errors import InputError

T = TypeVar("T")
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


def on_own_thread(work: Callable[[], T]) -> T:
    """`work()`, run on a thread of its own that ends with it: its result, or its exception raised here.

    OpenMP (scikit-learn's boosting, LightGBM, XGBoost) keeps a team of worker threads for each
    thread that starts parallel work, for as long as that thread lives. Once the teams of live
    threads hold more threads than there are cores, every team stops spinning between its short
    steps, and boosting fits and scores 1.5 to 2.5 × slower: a fit after a prediction in the same
    process, or a task after another on a pool's other thread (bench/results/openmp_teams.md).
    Work run here leaves no team behind. It runs in a copy of the caller's context variables (a
    Prefect run's context: a task called by `work` belongs to the caller's run); settings local to a
    thread (thread limits, scikit-learn's and joblib's configuration) are the new thread's own:
    `work` sets what it needs.
    """
    outcome: dict = {}
    context = contextvars.copy_context()

    def run():
        try:
            outcome["result"] = work()
        except BaseException as error:  # handed to the caller, raised there
            outcome["error"] = error

    thread = threading.Thread(target=context.run, args=(run,), name="own-thread", daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


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
