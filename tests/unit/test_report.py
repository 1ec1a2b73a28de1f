"""tasks.report: members-vs-ensemble Markdown tables and the confusion-matrix plot."""

import json
import subprocess
import sys

from imbalance_flows.tasks.evaluation.metrics import evaluate
from imbalance_flows.tasks.evaluation.report import (
    ENSEMBLE,
    _blue,
    artifact_markdown,
    per_class_table,
    report_files,
    summary_table,
)

RESULTS = {
    "smote:hgb": evaluate([0, 0, 0, 0, 1, 1], [0, 0, 0, 1, 1, 0], None, [0, 1]),
    ENSEMBLE: evaluate([0, 0, 0, 0, 1, 1], [0, 0, 0, 0, 1, 1], [[.9, .1]] * 4 + [[.2, .8]] * 2, [0, 1]),
}


def test_summary_table_has_a_row_per_model_and_a_dash_for_missing_metrics():
    assert summary_table(RESULTS).splitlines() == [
        "| model | balanced_accuracy | g_mean | macro_f1 | mcc | roc_auc | average_precision | brier | log_loss "
        "| calibration_error |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        "| `smote:hgb` | 0.625 | 0.612 | 0.625 | 0.250 | – | – | – | – | – |",
        "| `ensemble` | 1.000 | 1.000 | 1.000 | 1.000 | 1.000 | 1.000 | 0.020 | 0.145 | 0.133 |",
        "",
        "brier, log_loss, calibration_error: smaller is better; the ensemble's probabilities are calibrated, the "
        "members' are their own.",
    ]


def test_the_uis_summary_puts_calibration_in_a_second_table_so_that_no_table_is_cut_off():
    tables = summary_table(RESULTS, narrow=True).split("\n\n")

    assert [table.splitlines()[0] for table in tables[:2]] == [
        "| model | balanced_accuracy | g_mean | macro_f1 | mcc | roc_auc | average_precision |",
        "| model | brier | log_loss | calibration_error |"]
    assert tables[1].splitlines()[3] == "| `ensemble` | 0.020 | 0.145 | 0.133 |"
    assert "| model | brier |" in artifact_markdown(RESULTS, "## Model")


def test_per_class_table_heads_each_class_with_its_support():
    assert per_class_table(RESULTS, "recall").splitlines() == [
        "| model | 0 (n=4) | 1 (n=2) |",
        "|---|---:|---:|",
        "| `smote:hgb` | 0.750 | 0.500 |",
        "| `ensemble` | 1.000 | 1.000 |",
    ]


def test_report_files_are_json_markdown_and_a_png():
    files = report_files(RESULTS, "## Model")

    assert sorted(files) == ["confusion_matrix.png", "report.json", "report.md"]
    assert json.loads(files["report.json"]) == json.loads(json.dumps(RESULTS))
    assert files["report.md"].startswith("## Model\n\n### Overall, test split (6 rows)")
    assert "![confusion matrix](confusion_matrix.png)" in files["report.md"]
    assert files["confusion_matrix.png"].startswith(b"\x89PNG\r\n\x1a\n")


def test_artifact_markdown_embeds_the_plot():
    assert "![confusion matrix](data:image/png;base64,iVBOR" in artifact_markdown(RESULTS, "## Model")


def test_the_report_flags_a_class_with_few_test_rows_and_gives_intervals():
    from imbalance_flows.tasks.evaluation.metrics import evaluate
    from imbalance_flows.tasks.evaluation.report import tables

    y_true = ["common"] * 60 + ["rare"] * 4
    y_pred = ["common"] * 58 + ["rare"] * 2 + ["rare"] * 3 + ["common"]
    result = evaluate(y_true, y_pred, None, ["common", "rare"])

    text = tables({"ensemble": result}, "test")

    assert "**Few test rows:** 'rare' has 4 (fewer than 30)" in text
    assert "balanced accuracy 0.858 [" in text and "(stratified bootstrap of the test rows)" in text
    assert "rare 0.750 [0.301–0.954]" in text  # Wilson interval of 3 of 4


def test_the_confusion_matrix_is_shaded_by_row_share_and_drawn_without_matplotlib():
    script = """
import io, json, sys
from PIL import Image
from imbalance_flows.tasks.evaluation.report import _blue, confusion_png
small = confusion_png({"confusion_matrix": [[9, 1], [0, 10]], "classes": ["no", "yes"]}, "test")
large = confusion_png({"confusion_matrix": [[123456789, 1], [0, 10]], "classes": ["no", "yes"]}, "test")
colours = {colour for _, colour in Image.open(io.BytesIO(small)).convert("RGB").getcolors(1 << 20)}
print(json.dumps({"matplotlib": "matplotlib" in sys.modules,
                  "shades": [_blue(share) in colours for share in (0.9, 0.1, 0.0, 1.0)],
                  "unused": _blue(0.5) in colours,
                  "widths": [Image.open(io.BytesIO(png)).width for png in (small, large)]}))
"""
    found = json.loads(subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                                      check=True).stdout)
    assert not found["matplotlib"]
    assert found["shades"] == [True] * 4 and not found["unused"]
    assert found["widths"][1] > found["widths"][0]  # cells widen to hold long counts
    assert _blue(0.0) == (247, 251, 255) and _blue(1.0) == (8, 48, 107) and _blue(0.0625) == (234, 243, 251)
