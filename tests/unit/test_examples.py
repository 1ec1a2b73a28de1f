"""tasks.examples: the test rows a model got wrong, per class, the most confident mistakes first."""

import json

import numpy as np
import pandas as pd

from imbalance_flows.tasks.data.schema import ImageInfo, infer_schema, pixel_names
from imbalance_flows.tasks.evaluation.examples import (
    contact_sheet,
    markdown,
    wrong_examples,
)
from imbalance_flows.tasks.evaluation.report import report_files

FRAME = pd.DataFrame({
    "claim": ["c1", "c2", "c3", "c4", "c5", "c6"],
    "amount": [10.0, 900.0, 15.0, 870.0, np.nan, 20.0],
    "region": ["north", "south", "north", "south", "east", "north"],
    "label": ["ok", "fraud", "ok", "fraud", "fraud", "ok"],
})
PREDICTED = np.array(["ok", "ok", "fraud", "fraud", "ok", "fraud"])
PROBA = np.array([[.1, .9], [.3, .7], [.6, .4], [.8, .2], [.1, .9], [.55, .45]])  # columns: fraud, ok


def schema():
    found = infer_schema(FRAME.drop(columns=["label", "claim"]), FRAME["label"], "label")
    found.id_columns = ["claim"]
    return found


def test_mistakes_are_listed_per_true_class_the_most_confident_first():
    found = wrong_examples(FRAME, PREDICTED, PROBA, schema(), per_class=10)

    fraud, ok = found["classes"]["fraud"], found["classes"]["ok"]
    assert (fraud["support"], fraud["wrong"], ok["support"], ok["wrong"]) == (3, 2, 3, 2)
    # Frauds predicted ok: row 4 with P(ok) 0.9 comes before row 1 with 0.7.
    assert [e["row"] for e in fraud["examples"]] == [4, 1]
    assert fraud["examples"][0] == {"row": 4, "true": "fraud", "predicted": "ok", "p_predicted": 0.9, "p_true": 0.1,
                                    "ids": {"claim": "c5"}, "features": {"amount": None, "region": "east"}}
    assert [e["row"] for e in ok["examples"]] == [2, 5]  # P(fraud) 0.6, then 0.55
    json.dumps(found)  # kept as a plain JSON file


def test_per_class_limits_the_examples_but_not_the_count():
    found = wrong_examples(FRAME, PREDICTED, PROBA, schema(), per_class=1)
    assert len(found["classes"]["fraud"]["examples"]) == 1 and found["classes"]["fraud"]["wrong"] == 2


def test_without_probabilities_mistakes_keep_the_rows_order():
    found = wrong_examples(FRAME, PREDICTED, None, schema())
    assert [e["row"] for e in found["classes"]["fraud"]["examples"]] == [1, 4]
    assert found["classes"]["fraud"]["examples"][0]["p_predicted"] is None


def test_the_markdown_shows_a_table_per_class_with_ids_and_features():
    text = markdown(wrong_examples(FRAME, PREDICTED, PROBA, schema()), limit=1)
    assert "**fraud**: 2 of 3 test rows predicted as another class." in text
    assert "| test row | claim | predicted | P(predicted) | P(fraud) | amount | region |" in text
    assert "| 4 | c5 | ok | 0.900 | 0.100 | – | east |" in text
    assert "| 1 |" not in text  # limit=1: only the most confident mistake


def test_a_class_with_no_mistakes_says_so():
    found = wrong_examples(FRAME, FRAME["label"].to_numpy(), PROBA, schema())
    assert "**ok**: 0 of 3 test rows predicted as another class; none to show." in markdown(found)


def test_images_get_a_contact_sheet_and_no_pixels_in_the_file():
    rng = np.random.default_rng(0)
    names = pixel_names(4, 4, 1)
    frame = pd.DataFrame(rng.integers(0, 255, size=(6, 16)), columns=names).assign(label=FRAME["label"])
    image_schema = infer_schema(frame.drop(columns="label"), frame["label"], "label")
    assert image_schema.image == ImageInfo(height=4, width=4, channels=1)

    found = wrong_examples(frame, PREDICTED, PROBA, image_schema)
    sheet = contact_sheet(found, frame, image_schema)

    assert found["image"] and found["features"] == [] and found["classes"]["fraud"]["examples"][0]["features"] == {}
    assert sheet.startswith(b"\x89PNG")
    assert contact_sheet(wrong_examples(FRAME, PREDICTED, PROBA, schema()), FRAME, schema()) is None
    files = report_files({"ensemble": _result()}, "# report", examples=found, sheet=sheet)
    assert files["examples.png"] == sheet and "![misclassified test images](examples.png)" in files["report.md"]


def _result():
    from imbalance_flows.tasks.evaluation.metrics import evaluate

    return evaluate(FRAME["label"], PREDICTED, PROBA, ["fraud", "ok"])


def test_every_kind_of_column_keeps_the_value_its_cell_holds():
    rows = 8
    frame = pd.DataFrame({
        "small": np.linspace(0.1, 0.8, rows).astype(np.float32),
        "count": np.arange(rows, dtype=np.int64),
        "flag": np.arange(rows) % 2 == 0,
        "text": pd.Series(["a", None, "b", "c", "a", None, "b", "c"], dtype="str"),
        "kind": pd.Categorical(["x", "y", None, "x", "y", "x", None, "y"]),
        "objects": pd.Series([1, "one", None, 2.5, True, "two", 3, None], dtype=object),
        "gap": [1.0, np.nan, np.inf, 4.0, 5.0, -np.inf, 7.0, 8.0],
        "label": ["rare", "common"] * 4,
    })
    found = infer_schema(frame.drop(columns="label"), frame["label"], "label")
    predicted = np.array(["common", "rare"] * 4)  # every row wrong

    classes = wrong_examples(frame, predicted, None, found, per_class=rows)["classes"]

    for entry in classes.values():
        for example in entry["examples"]:
            cells = {name: frame[name].iloc[example["row"]] for name in found.names}
            expected = {name: None if isinstance(value, float) and not np.isfinite(value) or value is None
                        or value is pd.NA else value.item() if isinstance(value, np.generic) else value
                        for name, value in cells.items()}
            assert example["features"] == expected
            assert all(type(value) in (float, int, bool, str, type(None)) for value in example["features"].values())
    json.dumps(classes)
