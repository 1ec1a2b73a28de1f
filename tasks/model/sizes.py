"""How training adapts to the size of the training split: the rows a member fits on, the rows that judge it.

Up to `LARGE_ROWS` training rows, every member fits on every row and every row judges
the members (out of fold). Above it, two rules keep the cost of training flat in the rows
(chosen with bench/scale.py; docs/concepts/size-rule.md states them):

- the members are judged on a *judging sample*: a stratified sample of `JUDGE_ROWS` rows
  in the split's class shares, grown until it holds `MIN_JUDGED` rows of the rarest class,
  at most `MAX_JUDGED_SHARE` of each class. Weights, calibration, threshold and prior power
  come from it. Judging rows are never fit rows, so every member predicts them itself: one
  fit per member, no refit and no out-of-bag votes. Each class gives up its judging rows first;
- a member fits on a *class-capped sample* of the rest, at most about `FIT_ROWS` rows: each
  class keeps all its rows up to a quota, and a uniform sample of the quota beyond it, the
  quota as large as `FIT_ROWS` allows. Members that see the classes as they are (no
  sampler, or class weights) weigh each kept row by its class's rows / kept rows, so that
  every class counts as much as in the whole split; resampling members rebalance anyway.

With holdout validation, no training row judges (the fit sample draws on every row), and a
validation split of more than `LARGE_ROWS` rows judges by a sample drawn by the judging
sample's rule from its own rows, without the share's bound (`holdout_rows`).

Pure numpy: both the flow's member tasks and `VotingEnsemble.fit` plan with it, from the
labels alone, so that every member and the vote agree on the rows without passing them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LARGE_ROWS = 300_000  # training rows above which the rules below apply
# Between these and LARGE_ROWS training rows ("medium" data), validation="auto" judges the members on a held-out
# split and the default recipe's plain member is class-weighted histogram boosting: one fit each, where cross-fitting
# boosting or growing a full forest on every row costs 3 to 10 × (bench/results/medium_levers.md).
MEDIUM_ROWS = 50_000
# A member fits on about this many rows at most (measured at 1M and 10M rows: bench/results/scale.md).
FIT_ROWS = 250_000
JUDGE_ROWS = 100_000  # rows that judge the members, in the split's class shares ...
MIN_JUDGED = 2_000  # ... with at least this many rows of the rarest class ...
# ... and at most this share of any class's training rows: the rest is left to fit on (one fold of five, as
# cross-fitting holds out on small data).
MAX_JUDGED_SHARE = 0.2


# A holdout validation split holds at least this many rows of every class, or "auto" judges out of fold and an asked-for
# holdout is warned about: the members' weights, the decision threshold and the calibration are set from them, and
# one or two rows of a class set them by chance.
MIN_HELD_OUT = 5


def judged_on_holdout(validation: str, rows: int, validation_size: float) -> bool:
    """Whether members are judged on a held-out split: "holdout", or "auto" where the training rows the holdout
    would leave of the `rows` fit is given are medium (`is_medium`) and the split holds MIN_HELD_OUT rows of every
    class (`plan.holdout_split` tells); "out_of_fold" never."""
    if validation != "auto":
        return validation == "holdout"
    return is_medium(int(rows * (1 - validation_size)))


def is_medium(rows: int) -> bool:
    """Whether `rows` training rows are medium data: more than MEDIUM_ROWS, at most LARGE_ROWS."""
    return MEDIUM_ROWS < rows <= LARGE_ROWS


@dataclass(frozen=True)
class RowPlan:
    """Positions (sorted) in the training rows; None means every row."""

    n_rows: int
    fit: np.ndarray | None = None  # the rows members fit on
    weight: np.ndarray | None = None  # per fit row: its class's rows / kept rows (restores class totals)
    judge: np.ndarray | None = None  # the rows that judge the members
    totals: dict | None = None  # training rows per class code, where the plan samples them (None: count them)

    @property
    def large(self) -> bool:
        return self.fit is not None or self.judge is not None

    def fit_rows(self) -> np.ndarray:
        return np.arange(self.n_rows) if self.fit is None else self.fit

    def judge_rows(self) -> np.ndarray:
        return np.arange(self.n_rows) if self.judge is None else self.judge

    def needed(self) -> np.ndarray:
        """Every row a member reads: its fit rows and the judging rows (with holdout validation, none)."""
        if self.fit is not None and self.judge is None:
            return self.fit
        return self._marked(self.fit_rows(), self.judge_rows(), True)

    def unjudged(self) -> np.ndarray:
        """Every training row but the judging rows: what a learner that learns on every row fits on."""
        return self.fit_rows() if self.judge is None else self._marked(np.arange(self.n_rows), self.judge, False)

    def _marked(self, rows: np.ndarray, others: np.ndarray, keep: bool) -> np.ndarray:
        """The sorted positions of `rows` with (`keep`) or without `others`: marked on a mask of every row, not sorted
        (numpy's set functions sort a million positions)."""
        marked = np.zeros(self.n_rows, dtype=bool)
        marked[rows] = True
        marked[others] = keep
        return np.flatnonzero(marked)

    def within(self, rows: np.ndarray) -> "RowPlan":
        """The same plan in positions of `rows` (sorted, holding every fit and judging row): for a member that
        reads only those rows."""
        def local(positions):
            return None if positions is None else np.searchsorted(rows, positions)
        return RowPlan(len(rows), local(self.fit), self.weight, local(self.judge), self.totals)

    def describe(self) -> str:
        if not self.large:
            return f"members fit on all {self.n_rows} training rows and are judged on all of them, out of fold"
        return (f"{self.n_rows} training rows: members fit on a class-capped sample of {len(self.fit_rows())} rows "
                f"and are judged on a stratified sample of {len(self.judge_rows())}")


def plan_rows(codes: np.ndarray, random_state: int = 0, judged: bool = True) -> RowPlan:
    """The rows members fit on and are judged on, for training rows with these class codes (non-negative integers,
    as `encode_labels` gives them; see module doc). Without `judged` (holdout validation), no row judges."""
    codes = np.asarray(codes)
    n = len(codes)
    if not is_large(n):
        return RowPlan(n)
    rng = np.random.default_rng(random_state)
    classes, counts = class_counts(codes)
    share = judge_share(counts, MAX_JUDGED_SHARE) if judged else 0.0
    # At least one row of a class is left to fit on.
    wanted = [min(judged_rows(count, share), count - 1) if judged else 0 for count in counts]
    quota = class_quota(counts - np.asarray(wanted), FIT_ROWS)
    fit, weight, judge = [], [], []
    for label, count, n_judged in zip(classes, counts, wanted):
        rows = np.flatnonzero(codes == label)
        # One draw in random order: its first rows judge, the next ones are fitted on.
        drawn = rows[rng.choice(count, min(count, n_judged + quota), replace=False)]
        judge.append(np.sort(drawn[:n_judged]))
        kept = np.sort(drawn[n_judged:])
        fit.append(kept)
        weight.append(np.full(len(kept), count / len(kept)))
    fit, weight = np.concatenate(fit), np.concatenate(weight)
    order = np.argsort(fit, kind="stable")
    totals = {int(label): int(count) for label, count in zip(classes, counts)}
    return RowPlan(n, fit[order], weight[order], np.sort(np.concatenate(judge)) if judged else None, totals)


def class_counts(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The class codes present and their rows: counted, not sorted (`np.unique` sorts every label)."""
    counts = np.bincount(codes)
    classes = np.flatnonzero(counts)
    return classes, counts[classes]


def judge_share(counts: np.ndarray, most: float = 1.0) -> float:
    """The share of each class's rows that judge the members: JUDGE_ROWS rows in all, grown until the rarest
    class has MIN_JUDGED, at most `most`."""
    counts = np.asarray(counts)
    return float(min(most, max(JUDGE_ROWS / counts.sum(), MIN_JUDGED / counts.min())))


def judged_rows(count: int, share: float) -> int:
    """Judging rows of a class of `count` rows (at least 2, at most all)."""
    return int(min(count, max(2, round(count * share))))


def holdout_rows(codes: np.ndarray, random_state: int = 0) -> np.ndarray | None:
    """The rows of a validation split (with these class codes) that judge the members: None (every row) up to
    `LARGE_ROWS` rows; above, a stratified sample drawn by the rule of the training rows' judging sample (module
    doc), so that holdout validation on a large table reads about 100,000 rows of it (more where the rarest class
    needs them), not all."""
    codes = np.asarray(codes)
    if not is_large(len(codes)):
        return None
    rng = np.random.default_rng(random_state)
    classes, counts = class_counts(codes)
    share = judge_share(counts)
    picked = [rng.choice(np.flatnonzero(codes == label), judged_rows(count, share), replace=False)
              for label, count in zip(classes, counts)]
    return np.sort(np.concatenate(picked))


def is_large(rows: int) -> bool:
    """Whether this many training rows get the large-data rules (and the default recipe for large data)."""
    return rows > LARGE_ROWS


def class_quota(counts: np.ndarray, total: int) -> int:
    """The largest per-class quota q with sum(min(count, q)) ≤ `total` (at least 1)."""
    ordered = np.sort(np.asarray(counts))
    below = 0  # rows of the classes kept whole so far
    for position, count in enumerate(ordered):
        left = len(ordered) - position  # classes not kept whole, sharing what remains
        quota = (total - below) // left
        if count > quota:
            return max(1, int(quota))
        below += count
    return int(ordered[-1])
