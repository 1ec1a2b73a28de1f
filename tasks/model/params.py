"""The ensemble's parameter rules, as data: checked once, at the top of `VotingEnsemble.fit`, and read by the
flows' parameter models for their form's bounds, so Python, the command line and the UI refuse the same values
the same way (scikit-learn's `_parameter_constraints`, with the product's error).

Cheap to import: no scientific library (the command line validates its parameters before importing any).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

from imbalance_flows.tasks.errors import InputError
from imbalance_flows.tasks.model.choices import (
    Calibration,
    Objective,
    UnknownCategories,
    Validation,
    Voting,
    names,
)


@dataclass(frozen=True)
class Options:
    """One of some strings."""

    allowed: tuple[str, ...]

    def accepts(self, value) -> bool:
        return isinstance(value, str) and value in self.allowed

    def describe(self) -> str:
        if len(self.allowed) == 1:
            return repr(self.allowed[0])
        return f"one of {', '.join(repr(option) for option in self.allowed)}"


@dataclass(frozen=True)
class Interval:
    """A number between bounds; `whole` for whole numbers only. `lower_open`/`upper_open` leave a bound out."""

    lower: float | None
    upper: float | None
    whole: bool = False
    lower_open: bool = False
    upper_open: bool = False

    def accepts(self, value) -> bool:
        kind = numbers.Integral if self.whole else numbers.Real
        if isinstance(value, bool) or not isinstance(value, kind) or value != value:  # NaN is no number
            return False
        if self.lower is not None and (value <= self.lower if self.lower_open else value < self.lower):
            return False
        return self.upper is None or (value < self.upper if self.upper_open else value <= self.upper)

    def describe(self) -> str:
        kind = "a whole number" if self.whole else "a number"
        low = None if self.lower is None else f"{'>' if self.lower_open else '≥'} {self.lower:g}"
        high = None if self.upper is None else f"{'<' if self.upper_open else '≤'} {self.upper:g}"
        return " ".join([kind, " and ".join(part for part in (low, high) if part)]).strip()

    def field(self) -> dict:
        """The bounds as pydantic's Field keywords (the UI's form and the server enforce them)."""
        bounds = {}
        if self.lower is not None:
            bounds["gt" if self.lower_open else "ge"] = self.lower
        if self.upper is not None:
            bounds["lt" if self.upper_open else "le"] = self.upper
        return bounds


@dataclass(frozen=True)
class Kind:
    """A value of some Python types (`describe`: how a message names them)."""

    types: tuple[type, ...]
    text: str

    def accepts(self, value) -> bool:
        return isinstance(value, self.types) and not (bool not in self.types and isinstance(value, bool))

    def describe(self) -> str:
        return self.text


class _Jobs:
    """A count of jobs as scikit-learn counts them: a positive whole number, or a negative one counted from the
    cores (-1 every core); never 0."""

    def accepts(self, value) -> bool:
        return Interval(None, None, whole=True).accepts(value) and value != 0

    def describe(self) -> str:
        return "a whole number other than 0"


class _RandomState:
    """None, a whole number from 0 to 2**32 − 1, or a numpy RandomState (checked without importing numpy)."""

    def accepts(self, value) -> bool:
        if value is None or type(value).__name__ == "RandomState":
            return True
        return Interval(0, 2**32 - 1, whole=True).accepts(value)

    def describe(self) -> str:
        return "None, a whole number from 0 to 4294967295, or a numpy RandomState"


NONE = Kind((type(None),), "None")
SEED_MAX = 2**32 - 1
VALIDATION_SIZE = Interval(0, 0.5, lower_open=True)
FOLDS = Interval(2, 20, whole=True)

# Each parameter: the rules it may meet (any one), and what to do about a value that meets none. (`costs` are
# checked where they are read, by `costs.cost_matrix`, which knows the classes.)
CONSTRAINTS: dict[str, tuple[tuple, str]] = {
    "members": ((NONE, Kind((list, tuple), "a list of members")),
                "Leave members=None for the default recipe, or give specs such as 'random_under:rf'."),
    "voting": ((Options(names(Voting)),), "'weighted' (the default) weighs the members on rows they did not see."),
    "threshold_objective": ((Options(names(Objective)),), "'auto' tunes for the G-mean, or for cost with costs."),
    "validation": ((Options(names(Validation)),), "Use auto (the default: a holdout for medium data, out of fold "
                   "otherwise), out_of_fold, or holdout with a validation_size."),
    "validation_size": ((VALIDATION_SIZE,), "Hold out e.g. 0.2 of each class."),
    "folds": ((FOLDS,), "Use the default 5, or 3 to cross-fit faster."),
    "random_state": ((_RandomState(),), "Use e.g. random_state=0 for reproducible fits."),
    "n_jobs": ((NONE, _Jobs()),
               "None is one member at a time (or a joblib context's count), -1 every core, -2 all but one."),
    "class_prior_power": ((Options(("auto",)), Interval(0, 1)),
                          "Use 'auto', or 0 (the plain most likely class) to 1 (full correction for frequency)."),
    "unknown_categories": ((Options(names(UnknownCategories)),), "'ignore' scores them as missing."),
    "calibration": ((Options(names(Calibration)),), "'sigmoid' (Platt) is the default."),
    "allow_slow_samplers": ((Kind((bool,), "True or False"),), "Pass True or False."),
}


def check_params(params: dict) -> None:
    """Refuse the first parameter that meets none of its rules, and the combinations that cannot work, with the
    rule, the value and a way out (an `InputError`): the same words from Python, the command line, a config
    file and the UI."""
    check_values(params)
    check_together(params.get("threshold_objective"), params.get("costs"))


def check_values(params: dict) -> None:
    """Refuse the first parameter that meets none of its rules (parameters without rules pass)."""
    for name, value in params.items():
        if name not in CONSTRAINTS:
            continue
        rules, hint = CONSTRAINTS[name]
        if not any(rule.accepts(value) for rule in rules):
            allowed = " or ".join(rule.describe() for rule in rules)
            raise InputError(f"{name} must be {allowed}", f"it is {value!r}", hint)


def check_together(threshold_objective, costs) -> None:
    """The rules between parameters: a cost objective needs costs."""
    if threshold_objective == "cost" and costs is None:
        raise InputError("threshold_objective='cost' needs costs", "no costs were given",
                         "Give costs (--cost-fn 100 --cost-fp 1, or costs: in the config file), or choose "
                         "another objective.")


def parse_priors(text: str) -> dict[str, float]:
    """'yes=0.1,no=0.9' as {'yes': 0.1, 'no': 0.9}; the classes and sums are checked against the model."""
    priors = {}
    for part in text.replace(" ", ",").split(","):
        if not part:
            continue
        label, sep, share = part.rpartition("=")
        try:
            priors[label] = float(share)
        except ValueError:
            label = ""
        if not sep or not label:
            raise InputError("adjust_priors is 'estimated' or shares written CLASS=SHARE,CLASS=SHARE",
                             f"got {text!r}", "Write e.g. --adjust-priors estimated or --adjust-priors yes=0.1,no=0.9.")
    return priors
