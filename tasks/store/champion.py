"""Champion and challenger, judged fairly: on rows neither was trained on, one promotion at a time.

Data that grows over time holds the rows the champion was trained on; scoring the
champion on them flatters it (a forest all but memorises its training rows), and a
better challenger would then never be promoted. So every saved version keeps a
fingerprint of each row it was trained on (`training_rows.npy`, see `imbalance_flows.tasks.data.schema.row_hashes`),
and the challenger's untouched test split is cut down to the rows that are not
among the champion's.

Two retrains that finish together must not both promote, the worse one last: the
comparison, the decision record and the pointer move all happen under the store's
lock, against the champion as it is at that moment.
"""

from __future__ import annotations

import io
import logging
import os
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from imbalance_flows.tasks import storage
from imbalance_flows.tasks.data.checks import UnseenCategoryWarning
from imbalance_flows.tasks.data.schema import Schema, row_hashes
from imbalance_flows.tasks.data.splits import (
    copies_kept_together,
    count_distinct,
    plain,
)
from imbalance_flows.tasks.errors import InputError, preview
from imbalance_flows.tasks.evaluation.compare import paired_difference
from imbalance_flows.tasks.evaluation.figures import png, subplots
from imbalance_flows.tasks.evaluation.metrics import SUMMARY
from imbalance_flows.tasks.evaluation.metrics import evaluate as score
from imbalance_flows.tasks.store.integrity import DEFAULT_MODEL, inside, model_of
from imbalance_flows.tasks.store.model_store import (
    TRAINING_ROWS,
    champion,
    decisions,
    load_model,
    promote,
    read_manifest,
    record_decision,
    store_lock,
)

METRICS = SUMMARY


def training_rows(version_dir: str | os.PathLike) -> np.ndarray | None:
    """The fingerprints of the rows a saved version was trained on, or None if it kept none."""
    path = inside(version_dir, TRAINING_ROWS)
    if not storage.is_file(path):
        return None
    return np.load(path if storage.is_local(path) else io.BytesIO(storage.read_bytes(path)), allow_pickle=False)


def unseen_rows(frame: pd.DataFrame, version_dir: str | os.PathLike,
                schema: Schema | None = None) -> tuple[pd.DataFrame, int | None]:
    """The rows of `frame` that the version was not trained on, and how many were dropped (None: unknown).

    Rows are fingerprinted with the version's own schema (its columns, in its order, as it
    coerced them), so added, reordered or retyped columns in newer data still match.
    """
    seen = fingerprints(version_dir)
    if seen is None:
        return frame, None
    if schema is None:
        schema = Schema.model_validate(read_manifest(version_dir)["schema"])
    return unseen_in(frame, seen, schema)


def fingerprints(version_dir: str | os.PathLike) -> np.ndarray | None:
    """A version's training-row fingerprints, sorted for `unseen_in`; None if it kept none."""
    seen = training_rows(version_dir)
    return None if seen is None else np.sort(seen)


def unseen_in(frame: pd.DataFrame, seen: np.ndarray | None, schema: Schema) -> tuple[pd.DataFrame, int | None]:
    """`unseen_rows` against fingerprints already read and sorted (`fingerprints`): each chunk of a large holdout
    is looked up in them, and they are sorted once."""
    known = seen_in(frame, seen, schema)
    return (frame, None) if known is None else (frame[~known], int(known.sum()))


def seen_in(frame: pd.DataFrame, seen: np.ndarray | None, schema: Schema) -> np.ndarray | None:
    """Which rows of `frame` are copies of a version's training rows (its sorted fingerprints `seen`); None where it
    kept none, or cannot read these columns (it cannot score them either)."""
    return None if seen is None else known_in(hashes_of(frame, schema), seen)


def hashes_of(frame: pd.DataFrame, schema: Schema) -> np.ndarray | None:
    """The rows' fingerprints as a version with this schema reads them (`row_hashes`); None if it cannot."""
    try:
        return row_hashes(frame, schema)
    except (InputError, KeyError):
        return None


def known_in(hashes: np.ndarray | None, seen: np.ndarray | None) -> np.ndarray | None:
    """Which of these fingerprints are among the sorted `seen`; None where either is unknown."""
    if hashes is None or seen is None:
        return None
    if not len(seen):
        return np.zeros(len(hashes), dtype=bool)
    return seen[np.minimum(np.searchsorted(seen, hashes), len(seen) - 1)] == hashes


def metrics_of(model, frame: pd.DataFrame) -> dict | None:
    """A model's summary metrics on labelled rows, or None when it cannot score them."""
    scores = Scores(model)
    scores.add(frame)
    return None if scores.error else scores.metrics(frame[model.schema_.target].to_numpy())


class Scores:
    """A model's votes and probabilities of labelled rows, gathered chunk by chunk, and its summary metrics on all
    of them; the first chunk it cannot score ends it, with the reason (`error`)."""

    def __init__(self, model):
        self.model, self.error = model, None
        self.predicted, self.probas = [], []
        # Fresh data brings categories neither model saw: both score them as missing, so they are still compared.
        model.set_params(unknown_categories="ignore")

    def add(self, frame: pd.DataFrame) -> None:
        if self.error is not None or not len(frame):  # (a chunk of the champion's own rows leaves none)
            return
        target = self.model.schema_.target
        if target not in frame.columns:
            self.error = f"its target {target!r} is not among the columns"
            return
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UnseenCategoryWarning)
                probas = self.model.member_probas(frame, voting_only=True)  # once, for the vote and probabilities
            predicted, proba = self.model.scored(probas)
            self.predicted.append(predicted)
            if proba is not None:
                self.probas.append(proba)
        except InputError as error:
            self.error = str(error)

    def keep(self, rows: np.ndarray) -> None:
        """Keep only these rows (a mask over every row added, in order)."""
        if self.error is None and self.predicted:
            self.predicted = [np.concatenate(self.predicted)[rows]]
            self.probas = [np.concatenate(self.probas)[rows]] if self.probas else []

    def votes(self) -> tuple[np.ndarray, np.ndarray | None]:
        """The votes and probabilities (None for hard voting) of every row added, in order."""
        return np.concatenate(self.predicted), np.concatenate(self.probas) if self.probas else None

    def metrics(self, labels: np.ndarray, costs: np.ndarray | None = None) -> dict | None:
        """The summary metrics (and the cost per row, with `costs`), given the labels of every row added (in order);
        None if it could not score them."""
        if self.error is not None or not self.predicted:
            return None
        votes, proba = self.votes()
        full = score(labels, votes, proba, self.model.classes_, costs)
        return {name: full[name] for name in METRICS + (("cost_per_row",) if costs is not None else ())}


def check_decision_metric(metric: str, model) -> np.ndarray | None:
    """The cost matrix a `cost_per_row` decision counts with (the challenger's costs); refused without costs."""
    if metric != "cost_per_row":
        return None
    if getattr(model, "cost_matrix_", None) is None:
        raise InputError("cost_per_row decides only between models trained with costs",
                         "the challenger was trained without costs",
                         "Train with --cost-fn and --cost-fp (or costs in the config), or decide on another metric.")
    return np.asarray(model.cost_matrix_, dtype=float)


def decide(comparison: dict | None, metric: str, margin: float) -> tuple[bool, str]:
    """Promote when there is no comparable champion, or when the challenger is better than the champion by more
    than `margin` with the comparison's confidence (its lower bound, see `compare.paired_difference`); a tie,
    or a difference within the rows' noise, keeps the champion."""
    if comparison is None:
        return True, "no comparable champion"
    if comparison["difference"] is None:
        return False, f"the challenger and the champion cannot both be scored on {metric}"
    said = (f"challenger − champion on {metric}: {comparison['difference']:+.4f}, at least "
            f"{comparison['low']:+.4f} with {comparison['confidence']:.0%} confidence ({comparison['rows']} rows)")
    if comparison["low"] > margin:
        return True, f"{said} > margin {margin}: better"
    return False, f"{said} ≤ margin {margin}: not shown better, the champion stays"


def other_problem(champion_model, challenger_model) -> str | None:
    """What makes the challenger a model of another task than the champion's (another target, or other classes),
    in words; None where both predict the same classes of the same target."""
    old, new = champion_model.schema_, challenger_model.schema_
    if old.target != new.target:
        return f"the target {new.target!r} where the champion predicts {old.target!r}"
    if [plain(c) for c in old.classes] != [plain(c) for c in new.classes]:
        return (f"the classes {preview([plain(c) for c in new.classes])} where the champion predicts "
                f"{preview([plain(c) for c in old.classes])}")
    return None


def check_judging_rows(labels: pd.Series, classes, needed: int, holdout_rows: int, excluded: int | None) -> None:
    """Refuse a comparison that rests on too few rows of some class."""
    counts = labels.value_counts()
    short = {plain(label): int(counts.get(label, 0)) for label in classes
             if counts.get(label, 0) < needed}
    if short:
        dropped = f"; {excluded} of the {holdout_rows} holdout rows were the champion's training rows" if excluded else ""
        raise InputError(f"champion and challenger are judged on rows neither was trained on, at least {needed} "
                         "of every class",
                         f"{len(labels)} such rows remain, with {short}{dropped}",
                         "Retrain when more fresh labelled rows have arrived, or lower min_rows_per_class.")


def judge(store: str | os.PathLike, challenger_dir: str | os.PathLike, holdout, metric: str,
          margin: float = 0.0, min_rows_per_class: int = 10, confidence: float = 0.95) -> dict:
    """Compare the challenger with the current champion on fresh rows; promote it if it wins; record why.

    Parameters
    ----------
    store : path
        The model store holding both versions.
    challenger_dir : path
        The challenger's saved version; `holdout` is its untouched test split.
    holdout : DataFrame, or an iterable of DataFrames
        Labelled rows the challenger was not trained on, whole or chunk by chunk (read under
        the lock; of each chunk only its judged rows' labels, votes and probabilities are kept).
        Rows the champion was trained on are left out, so both are judged on rows neither has seen; a holdout
        whose rows are mostly copies of each other (few-valued features) is judged on every row.
    metric, margin, confidence : str, float, float
        The challenger is promoted if it beats the champion on `metric` by more than `margin` with
        `confidence`: a paired bootstrap of the difference on the same rows (`compare.paired_difference`);
        its `1 − confidence` quantile must exceed `margin`. `cost_per_row` (smaller is better) uses the
        challenger's costs.
    min_rows_per_class : int
        Fewer rows of some class left to judge on is refused with an `InputError` (once every chunk
        is read), as is a challenger that cannot score its holdout or has none of it left.

    Returns
    -------
    dict
        The decision as recorded under <store>/decisions, with its `sequence` number there.
    """
    challenger_dir = storage.location(challenger_dir)
    chunks = [holdout] if isinstance(holdout, pd.DataFrame) else holdout
    model = model_of(read_manifest(challenger_dir))  # judged against its own model's champion
    with store_lock(store) as confirm:
        incumbent = champion(store, model)
        challenger = Scores(load_model(challenger_dir))
        defending = None if incumbent is None else Scores(load_model(incumbent))
        seen = {version: fingerprints(version) for version in (incumbent, challenger_dir) if version is not None}
        holdout_rows, labels, by_champion, by_challenger, unread, own = 0, [], [], [], incumbent is None, []
        # Both versions read the rows alike (the usual case: the same columns): each chunk is hashed once.
        same_reading = defending is not None and defending.model.schema_ == challenger.model.schema_
        for rows in chunks:
            holdout_rows += len(rows)
            hashes = hashes_of(rows, challenger.model.schema_)
            if incumbent is not None:
                known = (known_in(hashes, seen[incumbent]) if same_reading
                         else seen_in(rows, seen[incumbent], defending.model.schema_))
                unread = unread or known is None
                by_champion.append(np.zeros(len(rows), dtype=bool) if known is None else known)
            # Duplicate rows in the data can put copies of the challenger's own training rows in its holdout.
            known = known_in(hashes, seen[challenger_dir])
            by_challenger.append(np.zeros(len(rows), dtype=bool) if known is None else known)
            own.append(hashes)
            challenger.add(rows)
            if challenger.error is not None:
                raise InputError("the challenger must be able to score its own holdout rows", challenger.error,
                                 "Judge it on its own test split (the retrain flow's), with its target column.")
            labels.append(rows[challenger.model.schema_.target].to_numpy(copy=True))  # not a view of the chunk
            if defending is not None:
                defending.add(rows)
        labels = np.concatenate(labels) if labels else np.array([], dtype=object)
        champion_seen = np.concatenate(by_champion) if by_champion else np.zeros(holdout_rows, dtype=bool)
        fresh = ~(np.concatenate(by_challenger) if by_challenger else np.zeros(0, dtype=bool)) & ~champion_seen
        excluded = None if unread else int(champion_seen.sum())
        # A holdout of few distinct rows, mostly copies of each other (few-valued features: the split took such a
        # table row by row, `splits.copies_kept_together`), holds few rows no model has seen: every row is judged.
        every_row = bool(own) and all(hashes is not None for hashes in own) and not copies_kept_together(
            holdout_rows, count_distinct(np.concatenate(own)))
        if every_row:
            excluded = 0 if excluded is not None else None
        else:
            labels = labels[fresh]
            for scores in (challenger, defending):
                if scores is not None:
                    scores.keep(fresh)
        if incumbent is not None:
            check_judging_rows(pd.Series(labels), challenger.model.classes_, min_rows_per_class, holdout_rows,
                               excluded)
        if not len(labels):
            raise InputError("a challenger is judged on rows it was not trained on", f"none of the {holdout_rows} "
                             "holdout rows is such a row", "Retrain when fresh labelled rows have arrived.")
        costs = check_decision_metric(metric, challenger.model)
        challenger_metrics = challenger.metrics(labels, costs)
        champion_metrics = None if defending is None else defending.metrics(labels, costs)
        champion_error = None if defending is None else defending.error
        comparison = None if champion_metrics is None else paired_difference(
            labels, challenger.votes(), defending.votes(), challenger.model.classes_, metric, confidence, costs)
        promoted, reason = decide(comparison, metric, margin)
        if champion_error:
            reason = f"{reason}: the champion cannot score the new data ({champion_error})"
        other = None if defending is None else other_problem(defending.model, challenger.model)
        if other:  # data pointed at by mistake, or another task under this model's name: never promoted by itself
            promoted, reason = False, (f"the challenger predicts {other}, so it is no successor and the champion "
                                       "stays: train it under a model name of its own (--model), or promote it by "
                                       "hand (`imbalance-flows models promote`) if it is to replace the champion")
        decision = {"time": datetime.now(timezone.utc).isoformat(timespec="seconds"), "model": model, "metric": metric,
                    "margin": margin, "confidence": confidence, "comparison": comparison, "promoted": promoted, "reason": reason, "challenger": str(challenger_dir),
                    "champion": str(incumbent) if incumbent else None, "judged_rows": int(len(labels)),
                    "holdout_rows": holdout_rows, "excluded_champion_rows": excluded,
                    "copies_judged": bool(every_row),
                    "challenger_metrics": challenger_metrics, "champion_metrics": champion_metrics,
                    "champion_error": champion_error}
        confirm()
        decision["record"] = str(record_decision(store, decision))
        if promoted:
            confirm()
            promote(store, challenger_dir)
        try:  # a report of the decisions: it never stands in the way of one
            write_decay(store, model)
        except (OSError, ValueError) as error:
            logging.getLogger(__name__).warning("The champion's decay table was not updated: %s", error)
    return decision


def decay_rows(records: list[dict]) -> list[dict]:
    """Per decision: how the champion of the time scored on that fresh labelled batch, beside its challenger."""
    return [{"sequence": d.get("sequence"), "time": d.get("time"), "metric": d.get("metric"),
             "champion": storage.name(d["champion"]) if d.get("champion") else None,
             "champion_score": (d.get("champion_metrics") or {}).get(d.get("metric")),
             "challenger": storage.name(d["challenger"]) if d.get("challenger") else None,
             "challenger_score": (d.get("challenger_metrics") or {}).get(d.get("metric")),
             "promoted": bool(d.get("promoted")), "judged_rows": d.get("judged_rows")}
            for d in records if d.get("metric")]  # records from before decisions held their metrics are left out


def decay_markdown(rows: list[dict]) -> str:
    def fmt(value):
        return "–" if value is None else f"{value:.4f}"

    lines = ["| # | time | metric | champion | champion's score | challenger's score | promoted | rows |",
             "|---:|---|---|---|---:|---:|---|---:|"]
    lines += [f"| {r['sequence']} | {r['time']} | {r['metric']} | `{r['champion'] or 'none'}` | "
              f"{fmt(r['champion_score'])} | {fmt(r['challenger_score'])} | {'yes' if r['promoted'] else 'no'} | "
              f"{r['judged_rows']} |" for r in rows]
    return "\n".join(lines)


def decay_png(rows: list[dict]) -> bytes:
    """The champion's score on each fresh batch over the decisions, the challengers' beside it."""
    figure, axes = subplots(figsize=(6, 3.2))
    steps = [r["sequence"] for r in rows]
    axes.plot(steps, [np.nan if r["champion_score"] is None else r["champion_score"] for r in rows], "o-",
              label="champion on the fresh batch")
    axes.plot(steps, [np.nan if r["challenger_score"] is None else r["challenger_score"] for r in rows], "x",
              label="challenger")
    axes.set_xlabel("decision")
    axes.xaxis.get_major_locator().set_params(integer=True)  # decisions are counted, never halved
    axes.set_ylabel(rows[-1]["metric"] if rows else "")
    axes.legend(loc="lower left", fontsize=8)
    figure.tight_layout()
    return png(figure)


def decay_files(store: str | os.PathLike, model: str = DEFAULT_MODEL) -> tuple[str, str]:
    """A model's decay table and plot: decisions/decay.md and decay.png for the default model,
    decisions/decay-<model>.md and .png for the others."""
    stem = storage.join(store, "decisions", "decay" if model == DEFAULT_MODEL else f"decay-{model}")
    return stem + ".md", stem + ".png"


def write_decay(store: str | os.PathLike, model: str = DEFAULT_MODEL) -> Path | str:
    """The model's champion's decay over its recorded decisions (`decay_files`; written under the lock)."""
    table, plot = decay_files(store, model)
    rows = decay_rows(decisions(store, model))
    storage.write_bytes(plot, decay_png(rows))
    return storage.write_bytes(table, f"# The champion of {model!r} on each fresh batch\n\n" + decay_markdown(rows)
                               + "\n")


__all__ = ["decay_files", "decay_markdown", "decay_rows", "decide", "decisions", "fingerprints", "judge", "metrics_of",
           "training_rows", "unseen_in", "unseen_rows"]
