"""One fitting plan, executed by `VotingEnsemble.fit` and by the training flow alike.

    check (the parameters: `params.check_params`) → plan (`plan_fit`: the recipe sized, the
    validation chosen, the rows planned) → check the plan against the data (`check_plan`: rows
    per class, members, costs) → fit the members (`FitPlan.fit_member`) → combine (the vote).

`VotingEnsemble.fit` runs these steps in threads; the flow runs the same functions in its
Prefect tasks, which add logs, artifacts and progress. The plan comes from the parameters,
the schema and the training rows' class codes alone, so a member's task rebuilds the very
plan the flow checked from the labels it reads (cheaply: no member is built), and nothing
large travels between tasks.

Holdout validation: `holdout_split` holds out a stratified share of the rows it is given.
The flow gives it the rows left after the test split, as a user gives `fit` the rows that
are not their test rows: both then train on the same rows and judge on the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from imbalance_flows.tasks.data import tables
from imbalance_flows.tasks.data.schema import Schema, coerce
from imbalance_flows.tasks.data.splits import (
    check_rows_per_class,
    plain,
    stratified_indices,
)
from imbalance_flows.tasks.errors import InputError
from imbalance_flows.tasks.handover import Handovers
from imbalance_flows.tasks.learners.registry import LEARNERS
from imbalance_flows.tasks.model.costs import cost_matrix
from imbalance_flows.tasks.model.fitting import (
    encode_labels,
    few_rows,
    fit_member,
    fit_out_of_fold,
    member_work,
)
from imbalance_flows.tasks.model.members import check_member
from imbalance_flows.tasks.model.sizes import (
    MIN_HELD_OUT,
    RowPlan,
    holdout_rows,
    plan_rows,
)
from imbalance_flows.tasks.model.spec import MemberSpec, default_members


def member_specs(members, rows: int | None = None) -> list[MemberSpec]:
    """The members as specs: `members` as given (MemberSpec, dicts of their fields, or strings such as
    'random_under:rf'), or the default recipe for `rows` training rows where `members` is None. What cannot be
    read is refused with the product's error, naming the member."""
    specs = default_members(rows) if members is None else [_spec(m, i) for i, m in enumerate(members)]
    if not specs:
        raise InputError("an ensemble needs at least one member", "the member list is empty",
                         "Leave members=None for the default recipe.")
    return specs


def _spec(member, position: int) -> MemberSpec:
    from pydantic import ValidationError

    if isinstance(member, MemberSpec):
        return member
    try:
        return MemberSpec.parse(member) if isinstance(member, str) else MemberSpec.model_validate(member)
    except ValidationError as error:
        first = error.errors()[0]
        cause = (first.get("ctx") or {}).get("error")
        if isinstance(cause, InputError):  # the spec's own rule, with its value and hint
            raise cause from None
        where = ".".join(str(part) for part in first["loc"]) or "the member"
        reason = str(first["msg"]).removeprefix("Value error, ")
        raise InputError(f"members[{position}] must be a member spec", f"{where}: {reason} (got {member!r})",
                         "Give members as MemberSpec, dicts or strings such as 'random_under:rf'; "
                         "`imbalance-flows strategies` lists the samplers and learners.") from None


def holdout_split(labels, validation_size: float, seed: int, where: str = "", groups=None,
                  auto: bool = False) -> tuple[np.ndarray, np.ndarray] | None:
    """Positions of the training rows and of the held-out validation rows: `validation_size` of each class, the
    copies of a row (one of `groups`, see `stratified_indices`) on one side. With `auto` (validation="auto"), None
    where the split would hold fewer than MIN_HELD_OUT rows of a class: the members are judged out of fold then."""
    labels = np.asarray(labels)
    train, validation = stratified_indices(labels, [validation_size], seed, where, groups)
    if auto and int(pd.Series(labels[validation]).value_counts().min()) < MIN_HELD_OUT:
        return None
    return train, validation


def short_holdout(held: np.ndarray, labels: np.ndarray, validation_size: float) -> str | None:
    """What to tell of a holdout split whose rows' labels are `held` (of the training rows' `labels`) where it holds
    fewer than MIN_HELD_OUT rows of a class; None where it holds enough. As scikit-learn's stratified folds warn of a
    class with fewer rows than folds, the fit goes on."""
    counts = pd.Series(held).value_counts()
    if int(counts.min()) >= MIN_HELD_OUT:
        return None
    label = counts.idxmin()
    return (f"With holdout validation, class {plain(label)!r} has {int(counts.min())} of its "
            f"{int(np.sum(np.asarray(labels) == label))} training rows in the validation split "
            f"(validation_size={validation_size:g}): the members' weights, the threshold and the calibration are set "
            f"from fewer than {MIN_HELD_OUT} rows of it. Raise validation_size, or judge on every training row with "
            "validation='out_of_fold' (--validation out_of_fold).")


@dataclass(frozen=True)
class FitPlan:
    """How the members are fitted on some training rows and judged (see the module doc)."""

    specs: tuple[MemberSpec, ...]  # the recipe, sized for the training rows
    schema: Schema
    seed: int
    folds: int | None  # out of fold: the cross-fitting folds; holdout: None
    rows: RowPlan  # positions in the training rows: the rows members fit on and (out of fold) judge on
    counts: tuple[int, ...]  # training rows per class code
    fit_counts: tuple[int, ...]  # rows members fit on per class code (on large data, of the class-capped sample)

    def works(self) -> list[float]:
        """Each member's estimated seconds of fitting with one thread (`fitting.member_work`): how `run_members`
        orders the members and plans how many fit at once."""
        counts = {code: n for code, n in enumerate(self.fit_counts) if n}
        folds = None if self.rows.large else self.folds  # large data: judged on rows no member fits, one fit each
        return [member_work(spec, counts, len(self.schema.columns), folds) for spec in self.specs]

    @property
    def one_at_a_time(self) -> bool:
        """Members fitted one after another, each with every core, on training rows this few (`fitting.few_rows`):
        what `run_members` plans then, in `VotingEnsemble.fit` and in the training flow alike."""
        return few_rows(sum(self.fit_counts), len(self.schema.columns))

    @property
    def out_of_fold(self) -> bool:
        return self.folds is not None

    def fit_member(self, spec: MemberSpec, X: pd.DataFrame, y: pd.Series, threads: int = 1,
                   watch: Callable | None = None, rows: RowPlan | None = None):
        """Fit one member on the training rows `X`, `y` as planned: its pipeline, the seconds it took and, out of
        fold, its probabilities of the judging rows (None with holdout). `rows` is the plan's `rows` in positions
        of `X` where `X` holds only some of the training rows (`RowPlan.within`)."""
        rows = rows or self.rows
        if self.out_of_fold:
            return fit_out_of_fold(spec, X, y, self.schema, self.seed, threads, self.folds, watch=watch, plan=rows)
        pipeline, seconds = fit_member(spec, X, y, self.schema, self.seed, threads, watch=watch, plan=rows)
        return pipeline, seconds, None

    def judging_rows(self) -> np.ndarray:
        """Out of fold: the positions of the training rows whose out-of-fold probabilities judge the members."""
        return self.rows.judge_rows()

    def judged_validation(self, codes: np.ndarray) -> np.ndarray | None:
        """Holdout: the positions of the validation rows (with these class codes) that judge the members; None:
        every one (see `judged_validation`)."""
        return judged_validation(codes, self.seed)


def judged_validation(codes: np.ndarray, seed: int) -> np.ndarray | None:
    """The positions of the validation rows (with these class codes) that judge the members with holdout
    validation; None: every one (a large split: the size rule's stratified sample, `sizes.holdout_rows`)."""
    return holdout_rows(codes, seed)


def plan_fit(members, schema: Schema, codes: np.ndarray, *, seed: int, validation: str, folds: int,
             rows: RowPlan | None = None) -> FitPlan:
    """The plan for training rows with these class `codes` (positions in `schema.classes`), from the ensemble's
    (checked) parameters `members`, `validation` and `folds`; `rows`: their `plan_rows`, where the caller has it.
    Cheap: reads no features, builds no member."""
    codes = np.asarray(codes)
    out_of_fold = validation == "out_of_fold"
    if rows is None:
        rows = plan_rows(codes, seed, judged=out_of_fold)  # with holdout, judged on the validation split
    counts = np.bincount(codes, minlength=len(schema.classes))
    fitted = counts if rows.fit is None else np.bincount(codes[rows.fit], minlength=len(schema.classes))
    return FitPlan(specs=tuple(member_specs(members, len(codes))), schema=schema, seed=seed,
                   folds=folds if out_of_fold else None, rows=rows, counts=tuple(int(n) for n in counts),
                   fit_counts=tuple(int(n) for n in fitted))


def check_plan(plan: FitPlan, costs=None, allow_slow_samplers: bool = False, where: str = "",
               totals: dict | None = None) -> list[tuple[MemberSpec, float]]:
    """Refuse, before any member fits, a plan the training rows cannot carry: out of fold, a class with fewer
    than two rows; a member that cannot be fitted on them (`members.check_member`); costs that do not fit the
    classes. Returns the members whose samplers are estimated to be slow, with their seconds, where
    `allow_slow_samplers` lets them run (the caller warns)."""
    classes = np.asarray(plan.schema.classes)
    if plan.out_of_fold:
        labels = np.repeat(classes, np.minimum(plan.counts, 2))  # enough to tell a class with fewer than two
        check_rows_per_class(labels, 2, "out-of-fold validation", where, totals)
    counts = dict(enumerate(plan.counts))
    slow = []
    for spec in plan.specs:
        seconds = check_member(spec, plan.schema, counts, allow_slow_samplers)
        if seconds is not None:
            slow.append((spec, seconds))
    rarer = min(range(len(classes)), key=lambda i: (plan.counts[i], i))
    cost_matrix(costs, classes, classes[rarer])  # refused now, not after the members fitted
    return slow


def describe_slow(spec: MemberSpec, seconds: float, rows: int) -> str:
    """The warning for a slow sampler that `allow_slow_samplers` lets run."""
    return (f"member {spec.name}: its sampler is estimated to take about {seconds / 60:.0f} minutes on {rows} rows "
            "(allowed by allow_slow_samplers)")


# The plan over tables by reference: what the training flow's tasks read (a member its rows, the vote its
# judging rows), each rebuilding the plan from the labels alone.

# A training split's class codes and row plan, by the split's content address, for the next step of the run in
# this process: the flow's check (`stratify`), each member and the vote plan the same split (a member on a Dask
# worker plans it again). On 8M rows each plan took about 0.17 s (by hand), most of it on the run's critical path.
_PLANNED = Handovers(limit=2)


def table_plan(members, train: tables.TableRef, schema: Schema, *, seed: int, validation: str, folds: int,
               labels: pd.Series | None = None) -> FitPlan:
    """`plan_fit` for the training split `train`, from its labels alone (`labels`: where the caller has read
    them); the same plan for the same split, labels, seed and validation, read and drawn once in a process
    (`_PLANNED`: its arrays are read-only)."""
    judged = validation == "out_of_fold"
    key = repr((train.path, train.fingerprint, list(schema.classes), schema.target, seed, judged))
    held = _PLANNED.get(key)
    if held is None:
        codes = encode_labels(tables.read_column(train, schema.target) if labels is None else labels, schema)
        held = (codes, plan_rows(codes, seed, judged=judged))
        for array in (codes, held[1].fit, held[1].weight, held[1].judge):
            if array is not None:
                array.flags.writeable = False
        _PLANNED.put(key, held)
    codes, rows = held
    return plan_fit(members, schema, codes, seed=seed, validation=validation, folds=folds, rows=rows)


def forget_plans() -> None:
    """Let go of the plans `table_plan` keeps (a run's end: 8 bytes a training row)."""
    _PLANNED.clear()


def _frame(ref: tables.TableRef, schema: Schema) -> tuple[pd.DataFrame, pd.Series]:
    frame = tables.read_table(ref)
    return coerce(frame, schema, keep_float32=True), frame[schema.target]


def member_plan(spec: MemberSpec, train: tables.TableRef, schema: Schema, random_state: int,
                folds: int | None) -> FitPlan:
    """The fitting plan of one member, from the training split's labels alone (`plan.plan_fit`): every member and
    the vote rebuild the plan the flow checked, and agree on it."""
    return table_plan([spec], train, schema, seed=random_state,
                      validation="holdout" if folds is None else "out_of_fold", folds=folds or 0)


def member_rows(plan: FitPlan, train: tables.TableRef):
    """The training rows a member reads, their labels, and the plan's rows in positions of them: every row, or on
    large data only its fit and judging rows (a learner that learns on every row reads every row)."""
    if not plan.rows.large or any(LEARNERS[spec.learner].every_row for spec in plan.specs):
        X, y = _frame(train, plan.schema)
        return X, y, plan.rows
    needed = plan.rows.needed()
    frame = tables.read_rows(train, needed)
    return coerce(frame, plan.schema, keep_float32=True), frame[plan.schema.target], plan.rows.within(needed)


def judging_labels(rows: tables.TableRef, schema: Schema, specs: list[MemberSpec], random_state: int,
                   folds: int) -> pd.Series:
    """The labels of the training rows that judge the members out of fold (all of them, or the size plan's sample)."""
    labels = tables.read_column(rows, schema.target)
    plan = table_plan(specs, rows, schema, seed=random_state, validation="out_of_fold", folds=folds, labels=labels)
    return labels.iloc[plan.judging_rows()]


def validation_rows(rows: tables.TableRef, schema: Schema, random_state: int) -> tuple[pd.DataFrame, pd.Series]:
    """The validation rows that judge the members: all of them, or the size rule's stratified sample of a large
    split, read alone (`tables.read_rows`: row group by row group, file by file; a file on an object store is
    read whole)."""
    judged = judged_validation(encode_labels(tables.read_column(rows, schema.target), schema), random_state)
    if judged is None:
        return _frame(rows, schema)
    frame = tables.read_rows(rows, judged)
    return coerce(frame, schema, keep_float32=True), frame[schema.target]
