"""imbalance-flows: voting ensembles for class-imbalanced data, trained, scheduled and served as Prefect flows.

    from imbalance_flows import default_ensemble, VotingEnsemble, load_model

The names are imported on first use, so that `import imbalance_flows` (and the command
line's help and errors) stay fast: scikit-learn and friends load only when needed.
"""

from __future__ import annotations

import importlib

__all__ = ["AugmentSpec", "InputError", "MemberSpec", "VotingEnsemble", "default_ensemble", "default_members",
           "load_model"]

_HOMES = {"AugmentSpec": "imbalance_flows.tasks.model.spec", "MemberSpec": "imbalance_flows.tasks.model.spec",
          "InputError": "imbalance_flows.tasks.errors", "VotingEnsemble": "imbalance_flows.tasks.model.ensemble",
          "default_ensemble": "imbalance_flows.tasks.model.ensemble", "default_members": "imbalance_flows.tasks.model.spec",
          "load_model": "imbalance_flows.tasks.store.model_store"}


def __getattr__(name: str):
    if name == "__version__":
        from importlib.metadata import version

        return version("imbalance-flows")
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'imbalance_flows' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
