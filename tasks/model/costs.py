"""Costs as a decision-maker states them: what each kind of mistake costs.

`costs` is either the two numbers of a two-class problem -- the cost of a false negative (a
missed case of the rarer class) and of a false positive (a false alarm) -- or a matrix
``cost[true class][predicted class]`` over the classes in sorted order (the ensemble's
``classes_``). With costs, the ensemble decides for the smallest expected cost.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from imbalance_flows.tasks.errors import InputError


class MissCosts(BaseModel):
    """Two classes: what a missed case of the rarer class and a false alarm cost."""

    model_config = ConfigDict(extra="forbid")

    fn: float = Field(ge=0, allow_inf_nan=False, description="Cost of a false negative: a case of the rarer "
                                                                "class predicted as the other.")
    fp: float = Field(ge=0, allow_inf_nan=False, description="Cost of a false positive: a row of the commoner "
                                                                "class predicted as the rarer one.")


Costs = MissCosts | list[list[float]]


def cost_matrix(costs, classes, positive_class=None) -> np.ndarray | None:
    """`costs` (None, fn/fp, or a matrix) as a matrix cost[true][predicted] in the order of `classes`.

    `positive_class` is the rarer class, which fn and fp refer to (two classes only).
    """
    if costs is None:
        return None
    k = len(classes)
    if isinstance(costs, MissCosts):
        costs = costs.model_dump()
    if isinstance(costs, dict):
        fn, fp = check_miss_costs(costs)
        if k != 2:
            raise InputError("fn and fp costs are for two classes", f"the data has {k} classes "
                             f"({', '.join(map(str, classes))})",
                             "Give a matrix cost[true][predicted], one row and one column per class in sorted order.")
        positive = int(np.flatnonzero(np.asarray(classes) == positive_class)[0])
        matrix = np.zeros((2, 2))
        matrix[positive, 1 - positive], matrix[1 - positive, positive] = fn, fp
    else:
        try:
            given = np.asarray(costs)
            if given.dtype.kind not in "iuf":  # text and booleans are no costs (numpy would read them as numbers)
                raise TypeError(f"it holds {given.dtype}")
            matrix = given.astype(float)
        except (TypeError, ValueError) as error:
            raise InputError("a cost matrix must hold numbers", f"got {costs!r}"[:200],
                             "Write cost[true][predicted] as rows of numbers, e.g. [[0, 1], [100, 0]].") from error
        if matrix.shape != (k, k):
            raise InputError("a cost matrix needs one row and one column per class",
                             f"shape {matrix.shape} for {k} classes ({', '.join(map(str, classes))})",
                             "Order rows (true class) and columns (predicted class) as the sorted classes.")
        if not np.isfinite(matrix).all() or (matrix < 0).any():
            raise InputError("costs must be finite and not negative", f"got {matrix.tolist()}",
                             "Give each mistake's cost as a number ≥ 0.")
    if np.allclose(matrix, matrix[:, :1]):
        raise InputError("costs must make some predictions dearer than others",
                         f"every prediction costs the same for each true class: {matrix.tolist()}",
                         "Give mistakes a higher cost than correct predictions, e.g. fn=100, fp=1.")
    return matrix


def check_miss_costs(costs: dict) -> tuple[float, float]:
    """The fn and fp of costs given by name, each a finite number ≥ 0."""
    if set(costs) != {"fn", "fp"}:
        raise InputError("costs given by name must be exactly fn and fp", f"got {sorted(costs)}",
                         "Write e.g. costs={'fn': 100, 'fp': 1}, or a matrix cost[true][predicted].")
    return _number(costs["fn"], "fn"), _number(costs["fp"], "fp")


def _number(value, name: str) -> float:
    try:
        if isinstance(value, (bool, np.bool_, str, bytes)):  # True is no cost, nor is text (float() reads both)
            raise TypeError(type(value).__name__)
        value = float(value)
    except (TypeError, ValueError) as error:
        raise InputError(f"the {name} cost must be a number", f"got {value!r}", "Give e.g. 100.") from error
    if not np.isfinite(value) or value < 0:
        raise InputError(f"the {name} cost must be finite and not negative", f"got {value}", "Give e.g. 100.")
    return value


def cheapest(proba: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """The class codes of least expected cost under the probabilities, row by row."""
    return (np.asarray(proba) @ matrix).argmin(axis=1)


def cost_per_row(codes: np.ndarray, votes: np.ndarray, matrix: np.ndarray) -> float:
    """The mean cost of the decisions `votes` for rows of true classes `codes`."""
    return float(matrix[codes, votes].mean()) if len(codes) else 0.0
