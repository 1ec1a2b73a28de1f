"""Look at the examples: the test rows a model got wrong, the most confidently wrong first.

A confusion matrix says how often the rare class is missed; the examples say which cases
and why they may look like the others (a mislabelled row, a feature that is always
missing, a blurred image). For each true class, the test rows predicted as another class,
ordered by the probability the model gave the class it wrongly chose.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from imbalance_flows.tasks.data.schema import Schema, pixel_names
from imbalance_flows.tasks.data.tables import read_written
from imbalance_flows.tasks.evaluation.figures import png, subplots

MAX_FEATURES_SHOWN = 12  # columns of a table's examples in the Markdown report (all are kept in examples.json)


def wrong_examples(frame: pd.DataFrame, predicted, proba, schema: Schema, per_class: int = 10) -> dict:
    """Per true class, up to `per_class` test rows predicted wrongly, the most confident mistakes first.

    `frame` holds the test rows (features, target, and any id columns); `predicted` the model's
    labels and `proba` its probabilities in the order of `schema.classes` (None for hard voting:
    mistakes then keep the rows' order). Each example keeps the row's position in the test
    split, its id columns, true and predicted class, the probabilities of both, and (tables)
    its feature values; image pixels are left out of the file and drawn by `contact_sheet`.
    """
    classes = list(schema.classes)
    truth, predicted = frame[schema.target].to_numpy(), np.asarray(predicted)
    position = {str(label): i for i, label in enumerate(classes)}
    codes, votes = _positions(truth, position), _positions(predicted, position)
    shown = [] if schema.image else [name for name in schema.names if name in frame.columns]
    ids = [name for name in schema.id_columns if name in frame.columns]
    out = {"per_class": per_class, "image": schema.image is not None, "features": shown, "classes": {}}
    for code, label in enumerate(classes):
        wrong = np.flatnonzero((codes == code) & (votes != code))
        if proba is not None:
            confidence = np.asarray(proba)[wrong, votes[wrong]]
            wrong = wrong[np.argsort(-confidence, kind="stable")]
        rows, picked = [], wrong[:per_class]
        taken = frame.iloc[picked]  # the examples' rows at once: cell by cell, a wide table's took most of the time
        values = {name: taken[name].tolist() for name in dict.fromkeys([*ids, *shown])}
        for i, row in enumerate(picked):
            example = {"row": int(row), "true": _plain(label), "predicted": _plain(classes[votes[row]]),
                       "p_predicted": None if proba is None else float(proba[row][votes[row]]),
                       "p_true": None if proba is None else float(proba[row][code])}
            example["ids"] = {name: _plain(values[name][i]) for name in ids}
            example["features"] = {name: _plain(values[name][i]) for name in shown}
            rows.append(example)
        out["classes"][str(label)] = {"support": int((codes == code).sum()), "wrong": int(len(wrong)),
                                      "examples": rows}
    return out


def _positions(labels: np.ndarray, position: dict) -> np.ndarray:
    """Each label's class position, by its text (`position`: text → position). Labels of one numeric or boolean type
    are looked up once per distinct value; text and mixed labels (where 1 and True would be one value) one by one."""
    if labels.dtype == object:
        return np.array([position[str(label)] for label in labels], dtype=np.int64)
    inverse, uniques = pd.factorize(labels)
    return np.array([position[str(label)] for label in uniques], dtype=np.int64)[inverse]


def scored_rows(frame: pd.DataFrame, ensemble, per_class: int = 10) -> dict:
    """A part of a test split scored by a fitted `VotingEnsemble`: its labels, each member's probabilities, the
    ensemble's probabilities (None for hard voting) and votes, and the part's wrong examples (`wrong_examples`)."""
    schema = ensemble.schema_
    probas = ensemble.member_probas(frame.drop(columns=[schema.target]))
    predicted, proba = ensemble.scored(probas)
    return {"y": frame[schema.target].to_numpy(), "probas": probas, "proba": proba, "predicted": predicted,
            "examples": wrong_examples(frame, predicted, proba, schema, per_class)}


def scored_file(path: str, ensemble, per_class: int = 10) -> dict:
    """`scored_rows` of one file of a partitioned test split (run where the file lies)."""
    return scored_rows(read_written(path), ensemble, per_class)


def merge_examples(found: list[dict]) -> dict:
    """The wrong examples of consecutive parts of a test split, as `wrong_examples` finds them in the whole:
    rows numbered across the parts, the most confident mistakes first (ties in row order)."""
    out = {key: found[0][key] for key in ("per_class", "image", "features")}
    out["classes"], offset, offsets = {}, 0, []
    for part in found:
        offsets.append(offset)
        offset += sum(counts["support"] for counts in part["classes"].values())
    for label in found[0]["classes"]:
        examples = [dict(example, row=example["row"] + start) for part, start in zip(found, offsets)
                    for example in part["classes"][label]["examples"]]
        if examples and examples[0]["p_predicted"] is not None:
            examples.sort(key=lambda example: (-example["p_predicted"], example["row"]))
        out["classes"][label] = {"support": sum(part["classes"][label]["support"] for part in found),
                                 "wrong": sum(part["classes"][label]["wrong"] for part in found),
                                 "examples": examples[:out["per_class"]]}
    return out


def _plain(value):
    """A value as JSON keeps it: numpy scalars as Python ones, NaN as None."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def markdown(examples: dict, limit: int | None = None) -> str:
    """The examples as Markdown: one table per class (tables), or a count per class (images: see the sheet)."""
    parts = [f"### Test examples the ensemble got wrong, the most confident mistakes first "
             f"(up to {limit or examples['per_class']} per class)"]
    features = examples["features"][:MAX_FEATURES_SHOWN]
    more = len(examples["features"]) - len(features)
    for label, entry in examples["classes"].items():
        rows = entry["examples"][:limit]
        parts.append(f"**{label}**: {entry['wrong']} of {entry['support']} test rows predicted as another class"
                     + ("." if rows else "; none to show."))
        if not rows or examples["image"]:
            continue
        ids = list(rows[0]["ids"])
        header = ["test row", *ids, "predicted", "P(predicted)", f"P({label})", *features]
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for example in rows:
            cells = [example["row"], *example["ids"].values(), example["predicted"], _number(example["p_predicted"]),
                     _number(example["p_true"]), *(example["features"][name] for name in features)]
            lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
        parts.append("\n".join(lines))
    if more > 0:
        parts.append(f"{more} more feature columns are in examples.json.")
    return "\n\n".join(parts)


def _number(value) -> str:
    return "–" if value is None else f"{value:.3f}"


def _cell(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|")


def contact_sheet(examples: dict, frame: pd.DataFrame, schema: Schema) -> bytes | None:
    """Images only: a PNG of the misclassified test images, one row per true class, labelled true → predicted."""
    if schema.image is None:
        return None

    height, width, channels = schema.image.shape
    pixels = pixel_names(height, width, channels)
    classes = list(examples["classes"].items())
    columns = max([len(entry["examples"]) for _, entry in classes] + [1])
    figure, axes = subplots(len(classes), columns, figsize=(1.6 * columns + 0.4, 1.9 * len(classes)),
                                squeeze=False)
    for axis in axes.ravel():
        axis.axis("off")
    for i, (label, entry) in enumerate(classes):
        axes[i, 0].set_title(f"{label}: {entry['wrong']} of {entry['support']} wrong", loc="left", fontsize=8,
                             pad=14)
        for j, example in enumerate(entry["examples"]):
            image = frame[pixels].iloc[example["row"]].to_numpy(dtype=float).reshape(height, width, channels)
            image = np.clip(image, 0, 255).astype(np.uint8)
            axes[i, j].imshow(image[:, :, 0] if channels == 1 else image, cmap="gray" if channels == 1 else None,
                              vmin=0, vmax=255)
            probability = "" if example["p_predicted"] is None else f" ({example['p_predicted']:.2f})"
            axes[i, j].set_xlabel(f"{label} → {example['predicted']}{probability}", fontsize=7)
            axes[i, j].axis("on")
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
    figure.tight_layout()
    return png(figure)
