"""Every registered learner: fitted as a member, saved, and loaded back with the same probabilities; the boosters'
model files checked tree by tree before their library reads them."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from imbalance_flows.tasks.data.schema import ImageInfo, coerce, infer_schema
from imbalance_flows.tasks.errors import InputError
from imbalance_flows.tasks.learners.boosters import (
    check_catboost,
    check_lightgbm,
    check_xgboost,
)
from imbalance_flows.tasks.learners.registry import (
    LEARNERS,
    NativeModel,
    native_suffixes,
)
from imbalance_flows.tasks.model.fitting import fit_member
from imbalance_flows.tasks.model.spec import MemberSpec
from imbalance_flows.tasks.store.member_files import (
    dump_member,
    load_member,
    trusted_types,
)

# Small settings, so that every learner fits in about a second.
QUICK = {"rf": {"n_estimators": 5}, "hgb": {"max_iter": 5}, "lgbm": {"n_estimators": 5}, "xgb": {"n_estimators": 5},
         "catboost": {"iterations": 5}, "keras_mlp": {"epochs": 2}, "keras_cnn": {"epochs": 2},
         "keras_transfer": {"epochs": 2, "fine_tune_layers": 0}}
BOOSTERS = ("lgbm", "xgb", "catboost")


def _rows(classes: int = 2, images: bool = False, seed: int = 0):
    rng = np.random.default_rng(seed)
    counts = [60, 20, 20][:classes]
    y = pd.Series(np.repeat(["common", "rare", "odd"][:classes], counts), name="label")
    if images:
        X = pd.DataFrame(rng.integers(0, 255, size=(len(y), 16)).astype(float), columns=[f"p{i}" for i in range(16)])
        X.loc[y == "rare", "p5"] = 255.0
        schema = infer_schema(X, y, target="label").model_copy(update={"image": ImageInfo(height=4, width=4,
                                                                                          channels=1)})
    else:
        X = pd.DataFrame({"num": rng.normal(size=len(y)) + (y != "common"), "other": rng.normal(size=len(y)),
                          "colour": rng.choice(["red", "green", "blue"], size=len(y))})
        schema = infer_schema(X, y, target="label")
    return coerce(X, schema, keep_float32=True), y, schema


def _params(name: str, tmp_path) -> dict:
    params = dict(QUICK.get(name, {}))
    if name == "keras_transfer":
        from imbalance_flows.tasks.learners.keras_members import keras_module

        keras = keras_module()
        inputs = keras.Input(shape=(4, 4, 1))
        hidden = keras.layers.Conv2D(2, 3, activation="relu")(keras.layers.Rescaling(1 / 255)(inputs))
        keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(hidden)).save(tmp_path / "base.keras")
        params["base_model"] = str(tmp_path / "base.keras")
    return params


def _needs_extra(name: str):
    marks = [pytest.mark.skipif(bool(LEARNERS[name].missing()), reason=f"the {LEARNERS[name].extra} extra is "
                                                                        "not installed")]
    if LEARNERS[name].extra == "keras":
        marks.append(pytest.mark.slow)  # TensorFlow
    return pytest.param(name, marks=marks)


@pytest.mark.parametrize("name", [_needs_extra(name) for name in LEARNERS])
@pytest.mark.parametrize("classes", [2, 3])
def test_every_registered_learner_saves_and_loads_back_with_the_same_probabilities(name, classes, tmp_path):
    X, y, schema = _rows(classes, images=LEARNERS[name].images)
    spec = MemberSpec(sampler="class_weight", learner=name, learner_params=_params(name, tmp_path))

    pipeline, _ = fit_member(spec, X, y, schema, random_state=3)
    files = dump_member(pipeline, tmp_path / "00.skops")
    loaded = load_member(files[0])

    learner = pipeline.steps[-1][1]
    assert f"{type(learner).__module__}.{type(learner).__qualname__}" in trusted_types() or not LEARNERS[name].types
    assert [file.name for file in files] == (["00.skops", f"00{learner.suffix}"] if isinstance(learner, NativeModel)
                                             else ["00.skops"])
    np.testing.assert_allclose(loaded.predict_proba(X), pipeline.predict_proba(X), atol=1e-6)


def test_the_registry_names_each_native_suffix_once_and_no_learner_outside_it():
    suffixes = native_suffixes()
    assert len(set(suffixes)) == len(suffixes) and ".keras" in suffixes
    for name, learner in LEARNERS.items():
        assert (learner.extra is None) == (not learner.modules), name
        assert learner.out_of_bag is None or learner.out_of_bag({}) in (True, False)


@pytest.mark.parametrize("name", BOOSTERS)
def test_a_booster_without_its_library_names_the_extra_to_install(name, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    module = LEARNERS[name].modules[0]
    monkeypatch.setattr(importlib.util, "find_spec", lambda found, *a: None if found == module else real(found, *a))

    with pytest.raises(ValueError, match=rf"the {name} learner needs the `{module}` extra: member none:{name} asks "
                                         rf"for it and {module} is not installed\. Install it with pip install "
                                         rf"'imbalance-flows\[{module}\]'"):
        MemberSpec.parse(f"none:{name}")


@pytest.mark.parametrize("name, params, message", [
    ("lgbm", {"num_leafs": 7}, r"Did you mean 'num_leaves'"),
    ("xgb", {"max_dept": 3}, r"Did you mean 'max_depth'"),
    ("catboost", {"iteration": 3}, r"Did you mean 'iterations'"),
    ("catboost", {"thread_count": 8}, r"got \['thread_count'\]"),  # the member sets its threads
])
def test_a_boosters_misspelt_or_reserved_parameter_is_refused_when_the_spec_is_read(name, params, message):
    if LEARNERS[name].missing():
        pytest.skip(f"the {LEARNERS[name].extra} extra is not installed")
    with pytest.raises(ValueError, match=message):  # pydantic's ValidationError around the InputError
        MemberSpec(learner=name, learner_params=params)


@pytest.fixture(scope="module")
def booster_files(tmp_path_factory):
    """Each booster's saved model text, fitted on three classes with a categorical column, and the member's
    width and classes."""
    found = {}
    for name in BOOSTERS:
        if LEARNERS[name].missing():
            continue
        X, y, schema = _rows(3)
        pipeline, _ = fit_member(MemberSpec(learner=name, learner_params=QUICK[name]), X, y, schema)
        learner = pipeline.steps[-1][1]
        path = tmp_path_factory.mktemp(name) / f"m{learner.suffix}"
        learner.save_native(path)
        found[name] = (path.read_text(), learner.n_features_in_, len(learner.classes_))
    return found


def _lightgbm_edit(pattern: str, replacement: str):
    """An edit of the second tree, with tree_sizes made to match again (as a careful forger would)."""
    def edit(text: str) -> str:
        start = text.index("Tree=1\n")
        changed = re.sub(pattern, replacement, text[start:], count=1, flags=re.M)
        assert changed != text[start:]
        text = text[:start] + changed
        trees = text[text.index("Tree=0\n"):text.index("end of trees")]
        sizes = [len(block.encode()) for block in re.split(r"(?=Tree=\d+\n)", trees) if block]
        return re.sub(r"^tree_sizes=.*$", "tree_sizes=" + " ".join(map(str, sizes)), text, count=1, flags=re.M)
    return edit


def _json_edit(change):
    def edit(text: str) -> str:
        model = json.loads(text)
        change(model)
        return json.dumps(model)
    return edit


def _xgb_tree(model):
    return model["learner"]["gradient_booster"]["model"]["trees"][1]


def _set(node: dict, key: str, value):
    node[key] = value


HOSTILE = {
    "lightgbm-child-before-its-node": ("lgbm", _lightgbm_edit(r"^left_child=(\S+) (\S+)", r"left_child=\1 0"),
                                       "child split is not after it"),
    "lightgbm-leaf-out-of-range": ("lgbm", _lightgbm_edit(r"^right_child=(\S+)", r"right_child=-99"),
                                   "do not make one tree"),
    "lightgbm-feature-out-of-range": ("lgbm", _lightgbm_edit(r"^split_feature=(\S+)", r"split_feature=40"),
                                      "splits on feature 40 of 3"),
    "lightgbm-threshold-nan": ("lgbm", _lightgbm_edit(r"^threshold=(\S+)", r"threshold=nan"), "finite"),
    "lightgbm-unknown-line": ("lgbm", _lightgbm_edit(r"^shrinkage=", r"is_evil=1\nshrinkage="), "unexpected line"),
    "lightgbm-sizes-lie": ("lgbm", lambda text: re.sub(r"tree_sizes=(\d+)", lambda m: f"tree_sizes={int(m[1]) + 9}",
                                                       text, count=1), "tree_sizes do not match"),
    "lightgbm-other-width": ("lgbm", lambda text: text.replace("max_feature_idx=2", "max_feature_idx=9"),
                             "max_feature_idx='9', not 2"),
    "xgboost-child-before-its-node": ("xgb", _json_edit(lambda m: _xgb_tree(m)["left_children"].__setitem__(0, 0)),
                                      "node 0 has left child 0"),
    "xgboost-feature-out-of-range": ("xgb", _json_edit(lambda m: _xgb_tree(m)["split_indices"].__setitem__(0, 77)),
                                     "node 0 splits on feature 77 of 3"),
    "xgboost-arrays-short": ("xgb", _json_edit(lambda m: _xgb_tree(m)["right_children"].pop()),
                             "right_children is not"),
    "xgboost-other-booster": ("xgb", _json_edit(lambda m: _set(m["learner"]["gradient_booster"], "name", "gblinear")),
                              "only gbtree is loaded"),
    "catboost-feature-out-of-range": ("catboost", _json_edit(
        lambda m: m["oblivious_trees"][1]["splits"][0].__setitem__("float_feature_index", 12)),
        "split that is not on one of its float features' borders"),
    "catboost-leaf-values-short": ("catboost", _json_edit(lambda m: m["oblivious_trees"][0]["leaf_values"].pop()),
                                   "leaf_values is not"),
    "catboost-categorical": ("catboost", _json_edit(lambda m: m["features_info"].__setitem__("categorical_features",
                                                                                              [])),
                             "features other than numbers"),
    "not-json": ("xgb", lambda text: text[:50], "is not JSON"),
}
CHECKS = {"lgbm": check_lightgbm, "xgb": check_xgboost, "catboost": check_catboost}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_booster_model_edited_to_mislead_its_library_is_refused_before_it_loads(booster_files, case):
    name, edit, problem = HOSTILE[case]
    if name not in booster_files:
        pytest.skip(f"the {LEARNERS[name].extra} extra is not installed")
    text, width, classes = booster_files[name]
    CHECKS[name](text, width, classes)  # the file as saved passes

    with pytest.raises(InputError, match="model must be well formed") as caught:
        CHECKS[name](edit(text), width, classes)

    assert problem in caught.value.value


@pytest.mark.parametrize("name", BOOSTERS)
def test_a_loaded_booster_member_with_an_edited_model_file_is_refused(name, tmp_path):
    if LEARNERS[name].missing():
        pytest.skip(f"the {LEARNERS[name].extra} extra is not installed")
    X, y, schema = _rows(2)
    pipeline, _ = fit_member(MemberSpec(learner=name, learner_params=QUICK[name]), X, y, schema)
    skops, native = dump_member(pipeline, tmp_path / "00.skops")
    native.write_text(native.read_text()[: len(native.read_text()) // 10])  # cut inside its trees

    with pytest.raises(InputError, match=f"a saved .* model must be well formed: '{re.escape(str(native))}'"):
        load_member(skops)
    native.unlink()
    with pytest.raises(InputError, match="a member's model file must exist"):
        load_member(skops)


RECIPE_RUN = '''
import re, sys
from pathlib import Path

readme = Path(sys.argv[1]).read_text()
section = readme[readme.index("## Adding a learner"):]
entry, test = re.findall(r"```python\\n(.*?)```", section, flags=re.S)[:2]

# The entry, as the recipe writes it into tasks/learners/registry.py: its function and its place in the list.
from imbalance_flows.tasks.learners import registry as learners
namespace = vars(learners)
exec(entry.replace("    ...,\\n", ""), namespace)
learners.LEARNERS.update(namespace["LEARNERS"])  # the same dict object every other module imported

# Everything else reads the registry; the test, as the recipe writes it into tests/unit/test_members.py.
from sklearn.ensemble import ExtraTreesClassifier
from imbalance_flows.tasks.sampling.resample import class_weights
from imbalance_flows.tasks.model.spec import MemberSpec
from imbalance_flows.tasks.model.fitting import fit_member
from tests.unit.test_members import table_with_row_ids
exec(test, globals())
test_extra_trees_member_splits_category_codes_with_the_member_weights()

from tests.unit.test_learners import _rows
from imbalance_flows.tasks.store.member_files import dump_member, load_member
import numpy as np, tempfile
X, y, schema = _rows(3)
pipeline, _ = fit_member(MemberSpec.parse("class_weight:et"), X, y, schema)
with tempfile.TemporaryDirectory() as folder:
    files = dump_member(pipeline, Path(folder, "00.skops"))
    np.testing.assert_allclose(load_member(files[0]).predict_proba(X), pipeline.predict_proba(X))
print("recipe works")
'''


def test_the_contributing_pages_recipe_for_adding_a_learner_works_as_written():
    """docs/contributing.md's "Adding a learner", its two code blocks run as written, in a fresh interpreter."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", RECIPE_RUN, str(root / "docs" / "contributing.md")], cwd=root,
                          capture_output=True, text=True, timeout=300)

    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("recipe works")


def test_a_member_skops_cannot_write_is_refused_with_the_products_error(tmp_path):
    # HistGradientBoosting with a scoring other than its loss would keep a scorer that skops cannot write: refused
    # when the member is built, before it fits; anything else skops cannot write is refused when it is saved.
    X, y, schema = _rows(2)
    spec = MemberSpec(sampler="none", learner="hgb",
                      learner_params={"early_stopping": True, "scoring": "average_precision", "max_iter": 5})
    with pytest.raises(InputError, match="hgb's scoring must be 'loss'"):
        fit_member(spec, X, y, schema, random_state=3)

    pipeline, _ = fit_member(MemberSpec(sampler="none", learner="hgb", learner_params={"max_iter": 5}), X, y, schema)
    pipeline.steps[-1][1].spare_ = (row for row in [])  # a generator: skops cannot write it
    with pytest.raises(InputError, match="a fitted member must be one skops can save: HistGradientBoosting "):
        dump_member(pipeline, tmp_path / "00.skops")
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def test_boosting_finds_its_bins_without_the_row_weights_and_still_weighs_the_rows():
    from sklearn.ensemble import HistGradientBoostingClassifier

    from imbalance_flows.tasks.learners.histogram import HistGradientBoosting

    rng = np.random.default_rng(0)
    X = rng.normal(size=(3_000, 3))
    y = (X[:, 0] + rng.normal(size=3_000) > 1.5).astype(int)
    heavy = np.where(y == 1, 50.0, 1.0)
    params = {"max_iter": 20, "early_stopping": False, "random_state": 0}
    plain = HistGradientBoosting(**params).fit(X, y)
    weighted = HistGradientBoosting(**params).fit(X, y, sample_weight=heavy)
    theirs = HistGradientBoostingClassifier(**params).fit(X, y, sample_weight=heavy)
    for ours, unweighted, scikit in zip(weighted._bin_mapper.bin_thresholds_, plain._bin_mapper.bin_thresholds_,
                                        theirs._bin_mapper.bin_thresholds_):
        assert np.array_equal(ours, unweighted)  # the rows' own percentiles ...
        assert not np.array_equal(ours, scikit)  # ... where scikit-learn weighs them
    # The weights still weigh the rows: the rare class is predicted far more often.
    assert weighted.predict(X).mean() > 2 * plain.predict(X).mean()


def test_a_member_saved_with_scikit_learns_own_boosting_still_loads(tmp_path):
    from sklearn.ensemble import HistGradientBoostingClassifier

    X, y, schema = _rows(2)
    pipeline, _ = fit_member(MemberSpec(sampler="none", learner="hgb", learner_params={"max_iter": 5}), X, y, schema)
    ours = pipeline.steps[-1][1]
    before = HistGradientBoostingClassifier(**ours.get_params())  # as members were saved before
    pipeline.steps[-1] = ("learn", before.fit(pipeline[:-1].transform(X), y.map({"common": 0, "rare": 1})))
    dump_member(pipeline, tmp_path / "00.skops")
    loaded = load_member(tmp_path / "00.skops")
    assert type(loaded.steps[-1][1]) is HistGradientBoostingClassifier
    assert np.allclose(loaded.predict_proba(X), pipeline.predict_proba(X))
