"""The names of the ensemble's choices, one place for each: the estimator, the flows' parameters, the UI's
dropdowns and the command line's choices all read them here. Cheap to import: no scientific library."""

from __future__ import annotations

from typing import Literal, get_args

Voting = Literal["hard", "soft", "weighted"]
Objective = Literal["auto", "balanced_accuracy", "f1", "g_mean", "cost", "none"]
Calibration = Literal["sigmoid", "isotonic", "temperature", "none"]
Validation = Literal["auto", "out_of_fold", "holdout"]
UnknownCategories = Literal["error", "ignore"]


def names(choice) -> tuple[str, ...]:
    """The values a choice allows, e.g. names(Voting) == ("hard", "soft", "weighted")."""
    return get_args(choice)
