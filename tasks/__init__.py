"""imbalance-flows' steps as plain functions and classes, usable without Prefect.

The Prefect tasks that wrap them live in `tasks.steps`.
"""

from tasks.errors import InputError
from tasks.members import AugmentSpec, MemberSpec
from tasks.vote import VotingEnsemble, default_ensemble, default_members

__version__ = "0.1.0"
__all__ = ["AugmentSpec", "InputError", "MemberSpec", "VotingEnsemble", "default_ensemble", "default_members"]
