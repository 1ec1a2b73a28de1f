"""Reports for people: members-vs-ensemble tables and confusion-matrix plots."""

from __future__ import annotations

import base64
import json

from imbalance_flows.tasks.evaluation.metrics import CALIBRATION, FEW_TEST_ROWS, SUMMARY

ENSEMBLE = "ensemble"


def _cell(value) -> str:
    return "–" if value is None else f"{value:.3f}"


def summary_table(results: dict[str, dict], narrow: bool = False) -> str:
    """One row per model, the overall metrics as columns, then the probabilities' calibration and the cost (Markdown).

    `narrow`: the scores in one table and the calibration and cost in a second, for a page too narrow for ten
    columns (the Prefect UI's artifacts)."""
    costs = ["cost_per_row"] if any("cost_per_row" in r for r in results.values()) else []
    groups = [list(SUMMARY), [*CALIBRATION, *costs]] if narrow else [[*SUMMARY, *CALIBRATION, *costs]]
    lines = []
    for columns in groups:
        lines += ["| model | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns),
                  *[f"| `{name}` | " + " | ".join(_cell(r.get(m)) for m in columns) + " |" for name, r in results.items()],
                  ""]
    note = (f"{', '.join(CALIBRATION)}{' and cost_per_row' if costs else ''}: smaller is better; the ensemble's "
            "probabilities are calibrated, the members' are their own.")
    return "\n".join([*lines, note])


def per_class_table(results: dict[str, dict], metric: str) -> str:
    """One row per model, one column per class, for one per-class metric (Markdown)."""
    classes = next(iter(results.values()))["classes"]
    header = "| model | " + " | ".join(f"{c} (n={next(iter(results.values()))['per_class'][str(c)]['support']})"
                                      for c in classes) + " |"
    rule = "|---|" + "---:|" * len(classes)
    rows = [f"| `{name}` | " + " | ".join(_cell(r["per_class"][str(c)][metric]) for c in classes) + " |"
            for name, r in results.items()]
    return "\n".join([header, rule, *rows])


def tables(results: dict[str, dict], split: str, narrow: bool = False) -> str:
    """The full members-vs-ensemble comparison as Markdown, with how far the test rows can be trusted (`narrow`:
    see `summary_table`)."""
    n = next(iter(results.values()))["n_rows"]
    parts = [f"### Overall, {split} split ({n} rows)", summary_table(results, narrow), *uncertainty(results)]
    for metric in ("recall", "precision", "f1"):
        parts += [f"### {metric.capitalize()} per class, {split} split", per_class_table(results, metric)]
    return "\n\n".join(parts)


def uncertainty(results: dict[str, dict]) -> list[str]:
    """Intervals of the ensemble's balanced accuracy and recalls, and a flag on classes with few test rows."""
    result = results.get(ENSEMBLE) or next(iter(results.values()))
    lines = []
    interval = result.get("balanced_accuracy_interval")
    if interval:
        recalls = "; ".join(f"{label} {_cell(c['recall'])} [{_cell(c['recall_interval'][0])}–"
                            f"{_cell(c['recall_interval'][1])}]" for label, c in result["per_class"].items()
                            if c.get("recall_interval"))
        lines.append(f"95 % intervals: balanced accuracy {_cell(result['balanced_accuracy'])} "
                     f"[{_cell(interval[0])}–{_cell(interval[1])}] (stratified bootstrap of the test rows); "
                     f"recall per class (Wilson): {recalls}.")
    few = result.get("few_rows_classes") or []
    if few:
        counts = ", ".join(f"{label!r} has {result['per_class'][label]['support']}" for label in few)
        lines.append(f"**Few test rows:** {counts} (fewer than {FEW_TEST_ROWS}): the figures of "
                     f"{'this class' if len(few) == 1 else 'these classes'}, and any ranking of the models on "
                     f"them, rest on few rows; see the intervals.")
    return lines


# matplotlib's "Blues" colour map (ColorBrewer's nine blues, evenly spaced from 0 to 1), the confusion matrix's
# shading. The matrix is drawn by Pillow: importing matplotlib alone took about half a second of every training
# run, for this one picture.
BLUES = ((247, 251, 255), (222, 235, 247), (198, 219, 239), (158, 202, 225), (107, 174, 214), (66, 146, 198),
         (33, 113, 181), (8, 81, 156), (8, 48, 107))
CELL, GAP = 60, 8  # a cell's side (at least: wider for long counts), the space around labels, in pixels


def _blue(share: float) -> tuple[int, ...]:
    """The colour of `share` (0 … 1) on `BLUES`, interpolated linearly between its two nearest blues."""
    at = min(max(share, 0.0), 1.0) * (len(BLUES) - 1)
    low = min(int(at), len(BLUES) - 2)
    return tuple(round(a + (b - a) * (at - low)) for a, b in zip(BLUES[low], BLUES[low + 1]))


def _text_image(text: str, font, fill=(0, 0, 0)):
    """`text` alone on a transparent image of its own size (to be rotated and pasted)."""
    from PIL import Image, ImageDraw

    left, top, right, bottom = font.getbbox(text)
    image = Image.new("RGBA", (max(right - left, 1), max(bottom - top, 1)), (0, 0, 0, 0))
    ImageDraw.Draw(image).text((-left, -top), text, font=font, fill=fill)
    return image


def confusion_png(result: dict, title: str) -> bytes:
    """A confusion matrix (rows: true class) as PNG, with counts and row-normalised shading."""
    import io

    import numpy as np
    from PIL import Image, ImageDraw, ImageFont

    matrix = np.asarray(result["confusion_matrix"])
    labels = [str(c) for c in result["classes"]]
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    font, small = ImageFont.load_default(size=15), ImageFont.load_default(size=13)
    true_label = _text_image("true", font).rotate(90, expand=True)
    row_labels = [_text_image(label, small) for label in labels]
    column_labels = [_text_image(label, small).rotate(90, expand=True) for label in labels]
    heading, predicted = _text_image(title, font), _text_image("predicted", font)
    cell = max(CELL, 2 * GAP + max(round(small.getlength(str(count))) for count in matrix.ravel()))
    left = GAP + true_label.width + GAP + max(image.width for image in row_labels) + GAP
    top = GAP + heading.height + 2 * GAP
    side = cell * len(labels)
    width = max(left + side, heading.width + 2 * GAP) + GAP
    height = top + side + GAP + max(image.height for image in column_labels) + GAP + predicted.height + GAP
    picture = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(picture)
    for i in range(len(labels)):
        for j in range(len(labels)):
            x, y = left + j * cell, top + i * cell
            draw.rectangle((x, y, x + cell - 1, y + cell - 1), fill=_blue(float(shares[i, j])))
            draw.text((x + cell / 2, y + cell / 2), str(matrix[i, j]), font=small, anchor="mm",
                      fill="white" if shares[i, j] > 0.5 else "black")
        label = row_labels[i]
        picture.paste(label, (left - GAP - label.width, top + i * cell + (cell - label.height) // 2), label)
        label = column_labels[i]
        picture.paste(label, (left + i * cell + (cell - label.width) // 2, top + side + GAP), label)
    draw.rectangle((left - 1, top - 1, left + side, top + side), outline=(0, 0, 0))
    picture.paste(heading, ((width - heading.width) // 2, GAP), heading)
    picture.paste(true_label, (GAP, top + (side - true_label.height) // 2), true_label)
    picture.paste(predicted, (left + (side - predicted.width) // 2, height - GAP - predicted.height), predicted)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def ensemble_confusion_png(results: dict[str, dict]) -> bytes:
    """The ensemble's confusion matrix on the test split, as the report and the Prefect UI show it."""
    return confusion_png(results[ENSEMBLE], "ensemble, test split")


def report_files(results: dict[str, dict], header: str, examples: dict | None = None,
                 sheet: bytes | None = None, confusion: bytes | None = None) -> dict[str, bytes | str]:
    """The files a model version keeps: report.json, report.md and its confusion-matrix plot (`confusion`, where
    already drawn by `ensemble_confusion_png`); with `examples` (see `imbalance_flows.tasks.evaluation.examples`),
    examples.json, their tables in report.md and, for images, examples.png."""
    png = confusion or ensemble_confusion_png(results)
    parts = [header, tables(results, "test"), "### Confusion matrix, ensemble",
             "![confusion matrix](confusion_matrix.png)"]
    files = {"report.json": json.dumps(results, indent=2), "confusion_matrix.png": png}
    if examples is not None:
        from imbalance_flows.tasks.evaluation.examples import markdown

        parts.append(markdown(examples))
        files["examples.json"] = json.dumps(examples, indent=1)
    if sheet is not None:
        parts.append("![misclassified test images](examples.png)")
        files["examples.png"] = sheet
    files["report.md"] = "\n\n".join(parts) + "\n"
    return files


def artifact_markdown(results: dict[str, dict], header: str, confusion: bytes | None = None) -> str:
    """The same report for the Prefect UI, with the plot (`confusion`, where already drawn) embedded as a data URI."""
    png = confusion or ensemble_confusion_png(results)
    return "\n\n".join([header, tables(results, "test", narrow=True), "### Confusion matrix, ensemble",
                        f"![confusion matrix]({data_uri(png)})"])


def class_balance_markdown(profiles: dict, classes: list) -> str:
    """The splits' class counts (`data.class_profile` of each split, by name) as Markdown: share and balanced
    weight in the training split, counts in every split, and the training split's imbalance ratio."""
    names = [name for name in ("train", "validation", "test") if name in profiles]
    rows = "\n".join(f"| {label} | {profiles['train']['shares'][label]:.1%} | "
                     + " | ".join(str(profiles[name]["counts"][label]) for name in names)
                     + f" | {profiles['train']['class_weight'][label]:.2f} |" for label in classes)
    return (f"Imbalance ratio (train): **{profiles['train']['imbalance_ratio']}**\n\n"
            f"| class | share | {' | '.join(names)} | balanced weight |\n|---|---:|" + "---:|" * len(names)
            + "---:|\n" + rows)


def split_results(ensemble, scored: list[dict], frame=None) -> dict:
    """What scoring a split part by part (`scored_rows`, `scored_file`) tells: every member's and the ensemble's
    metrics (`evaluate.evaluate`, keyed by member name and `report.ENSEMBLE`), the examples it got wrong, and
    for images (`frame`: the split's rows) a contact sheet of them.

    Returns {"results": ..., "examples": ..., "sheet": PNG bytes or None}.
    """
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    from imbalance_flows.tasks.cores import available_cores
    from imbalance_flows.tasks.evaluation.examples import contact_sheet, merge_examples
    from imbalance_flows.tasks.evaluation.metrics import evaluate

    y = np.concatenate([part["y"] for part in scored])
    probas = [np.concatenate([part["probas"][i] for part in scored]) for i in range(len(ensemble.specs_))]
    proba = None if scored[0]["proba"] is None else np.concatenate([part["proba"] for part in scored])
    predicted = np.concatenate([part["predicted"] for part in scored])
    classes, costs = ensemble.classes_, ensemble.cost_matrix_
    scored_by = {**{spec.name: (classes[member.argmax(1)], member) for spec, member in zip(ensemble.specs_, probas)},
                 ENSEMBLE: (predicted, proba)}
    # Side by side on the cores: on millions of rows most of a model's metrics is numpy's sorting and counting,
    # which lets go of the interpreter.
    with ThreadPoolExecutor(max_workers=min(available_cores(), len(scored_by))) as pool:
        results = dict(zip(scored_by, pool.map(lambda scores: evaluate(y, *scores, classes, costs),
                                               scored_by.values())))
    found = merge_examples([part["examples"] for part in scored])
    sheet = contact_sheet(found, frame, ensemble.schema_) if frame is not None else None
    return {"results": results, "examples": found, "sheet": sheet}
