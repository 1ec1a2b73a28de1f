"""Hostile model files: each is planted in a saved version, refused with the product's error, and runs nothing.

The attacker here can also rewrite the manifest's SHA-256 digests (a shared store without a
key), so each file must be refused by what it holds, not only because it changed.
"""

import io
import json
import os
import pickle
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pandas as pd
import pytest
import skops.io as sio

from imbalance_flows import VotingEnsemble, load_model
from imbalance_flows.cli import main as cli
from imbalance_flows.tasks.errors import InputError
from imbalance_flows.tasks.store.member_files import trusted_types
from imbalance_flows.tasks.store.model_store import save_model
from tests.unit.test_store import rewrite_digests


class Payload:
    """Unpickling this runs a shell command that creates the marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.fixture(scope="module")
def trees_version(tmp_path_factory):
    """A saved version whose members are a random forest and a histogram-boosting model."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(160, 4)), columns=list("abcd"))
    y = pd.Series(np.where(X["a"] + rng.normal(scale=0.5, size=160) > 0.8, "rare", "common"))
    members = [{"sampler": "none", "learner": "rf", "learner_params": {"n_estimators": 5}},
               {"sampler": "random_over", "learner": "hgb", "learner_params": {"max_iter": 5}}]
    ensemble = VotingEnsemble(members=members, random_state=0).fit(X, y)
    return save_model(ensemble, tmp_path_factory.mktemp("store")), X


def planted(trees_version, tmp_path, name: str, content: bytes):
    """A copy of the version with members/<name> replaced by `content` and digests rewritten to match."""
    import shutil

    source, _ = trees_version
    version = tmp_path / source.name
    shutil.copytree(source, version)
    (version / "members" / name).write_bytes(content)
    rewrite_digests(version)
    return version


def skops_naming(trees_version, function: str) -> bytes:
    """The version's forest member with a reference to `function` ("module.name") planted among the forest's
    fields."""
    module = function.rsplit(".", 1)[0]
    buffer = io.BytesIO()
    stand_in = {"os.system": os.system, "builtins.eval": eval, "subprocess.Popen": subprocess.Popen}
    sio.dump({"payload": stand_in[function]}, buffer)
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as source:
        payload = json.loads(source.read("schema.json"))["content"]["payload"]
    payload["__module__"] = module
    out = io.BytesIO()
    with zipfile.ZipFile(trees_version[0] / "members" / "00.skops") as source, zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename == "schema.json":
                schema = json.loads(content)
                learner = schema["content"]["content"]["steps"]["content"][-1]["content"][1]
                learner["content"]["content"]["payload"] = payload
                content = json.dumps(schema).encode()
            target.writestr(item, content)
    return out.getvalue()


@pytest.mark.parametrize("function", ["os.system", "builtins.eval", "subprocess.Popen"])
def test_a_member_naming_a_dangerous_function_is_refused(trees_version, tmp_path, function):
    version = planted(trees_version, tmp_path, "00.skops", skops_naming(trees_version, function))

    with pytest.raises(InputError, match="a saved member holds only what its learner saves") as caught:
        load_model(version)

    assert function in caught.value.value


def test_a_pickle_in_place_of_a_member_is_refused_and_runs_nothing(trees_version, tmp_path):
    marker = tmp_path / "ran"
    version = planted(trees_version, tmp_path, "00.skops", pickle.dumps(Payload(marker)))

    with pytest.raises(InputError, match="a saved member must be a skops file") as caught:
        load_model(version)

    assert "00.skops" in caught.value.value
    assert not marker.exists()


def test_a_pickle_dropped_beside_the_members_is_refused_and_runs_nothing(trees_version, tmp_path):
    import shutil

    marker = tmp_path / "ran"
    source, _ = trees_version
    version = tmp_path / source.name
    shutil.copytree(source, version)
    (version / "members" / "02.pkl").write_bytes(pickle.dumps(Payload(marker)))

    with pytest.raises(InputError, match="members/ holds only the files it was saved with"):
        load_model(version)
    rewrite_digests(version)  # listed in the manifest, it is still no member: nothing reads it
    assert load_model(version) is not None
    assert not marker.exists()


def _edited(trees_version, tmp_path, name: str, edit) -> object:
    """The version with one member loaded, edited by `edit(pipeline)` and saved back."""
    source, _ = trees_version
    pipeline = sio.load(source / "members" / name, trusted=trusted_types())
    edit(pipeline.steps[-1][1])
    buffer = io.BytesIO()
    sio.dump(pipeline, buffer)
    return planted(trees_version, tmp_path, name, buffer.getvalue())


def _tree_state(forest, change):
    tree = forest.estimators_[0].tree_
    state = tree.__getstate__()
    change(state["nodes"])
    tree.__setstate__(state)


def _predictor(boosting, change):
    change(boosting._predictors[0][0].nodes)


HOSTILE_TREES = {
    "forest-child-out-of-range": ("00.skops", lambda f: _tree_state(f, lambda n: n["left_child"].__setitem__(0, 10**6)),
                                  "node 0 has left child 1000000"),
    "forest-child-points-back": ("00.skops", lambda f: _tree_state(f, lambda n: n["right_child"].__setitem__(0, 0)),
                                 "node 0 has right child 0"),
    "forest-feature-out-of-range": ("00.skops", lambda f: _tree_state(f, lambda n: n["feature"].__setitem__(0, 40)),
                                    "node 0 splits on feature 40 of 4"),
    "forest-threshold-nan": ("00.skops", lambda f: _tree_state(f, lambda n: n["threshold"].__setitem__(0, np.nan)),
                             "node 0 has threshold nan"),
    "boosting-child-out-of-range": ("01.skops", lambda b: _predictor(b, lambda n: n["left"].__setitem__(0, 70000)),
                                    "node 0 has left child 70000"),
    "boosting-feature-out-of-range": ("01.skops",
                                      lambda b: _predictor(b, lambda n: n["feature_idx"].__setitem__(0, 99)),
                                      "node 0 splits on feature 99 of 4"),
    "boosting-category-set-missing": ("01.skops", lambda b: _predictor(b, lambda n: (
                                          n["is_categorical"].__setitem__(0, 1), n["bitset_idx"].__setitem__(0, 5))),
                                      "node 0 splits on feature 0 by category, which is not categorical"),
    "boosting-category-split-on-a-number": ("01.skops", lambda b: _predictor(b, lambda n: (
                                                n["is_categorical"].__setitem__(0, 1),
                                                n["bitset_idx"].__setitem__(0, 0))),
                                            "by category, which is not categorical"),
}


@pytest.mark.parametrize("case", HOSTILE_TREES)
def test_a_tree_edited_to_read_out_of_bounds_is_refused_before_it_predicts(trees_version, tmp_path, case):
    name, edit, problem = HOSTILE_TREES[case]
    version = _edited(trees_version, tmp_path, name, edit)

    with pytest.raises(InputError, match="a saved member's trees must be well formed") as caught:
        load_model(version)

    assert problem in caught.value.value and name in caught.value.value


def test_the_out_of_range_tree_would_crash_the_process_without_the_check(trees_version, tmp_path, capsys):
    # What the check prevents: the same file, loaded by skops alone, kills the interpreter when it predicts.
    version = _edited(trees_version, tmp_path, "00.skops", HOSTILE_TREES["forest-child-out-of-range"][1])
    _, X = trees_version
    X.to_csv(tmp_path / "rows.csv", index=False)
    script = textwrap.dedent(f"""
        import pandas as pd, skops.io as sio
        from imbalance_flows.tasks.store.member_files import trusted_types
        pipeline = sio.load({str(version / "members" / "00.skops")!r}, trusted=trusted_types())
        pipeline.steps[-1][1].estimators_[0].predict_proba(pd.read_csv({str(tmp_path / "rows.csv")!r}).to_numpy())
    """)
    crashed = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert crashed.returncode < 0  # killed by a signal (SIGSEGV or SIGBUS)

    code = cli(["predict", str(version), str(tmp_path / "rows.csv"), "--out", str(tmp_path / "scores.csv")])
    assert code == 2 and "error: a saved member's trees must be well formed" in capsys.readouterr().err
    assert not (tmp_path / "scores.csv").exists()


def test_a_skops_file_of_trusted_types_that_is_no_pipeline_is_refused(trees_version, tmp_path):
    buffer = io.BytesIO()
    sio.dump({"rows": np.zeros(3)}, buffer)
    version = planted(trees_version, tmp_path, "01.skops", buffer.getvalue())

    with pytest.raises(InputError, match="a saved member must hold a member's pipeline") as caught:
        load_model(version)

    assert "holds a dict" in caught.value.value


def _nan_values(boosting):
    boosting._predictors[0][0].nodes["value"][:] = np.nan  # every node of the first tree: no numbers


def test_a_member_whose_trees_vote_nan_fails_scoring_with_an_error_and_writes_nothing(trees_version, tmp_path):
    version = _edited(trees_version, tmp_path, "01.skops", _nan_values)  # the member that votes (weight 1)
    _, X = trees_version
    X.to_csv(tmp_path / "rows.csv", index=False)

    # A process of its own, as a user runs it (and with its own Prefect logging: in-process runs share one console).
    done = subprocess.run([sys.executable, "-m", "imbalance_flows", "predict", str(version), str(tmp_path / "rows.csv"),
                           "--out", str(tmp_path / "scores.csv")], capture_output=True, text=True, timeout=300)

    assert done.returncode == 2 and "error: a model's probabilities must be numbers from 0 to 1 that sum to 1 in " \
                                    "every row: member random_over:hgb gives [nan, nan] for row 0" in done.stderr
    assert not (tmp_path / "scores.csv").exists()
    with pytest.raises(InputError, match="member random_over:hgb gives"):
        load_model(version).predict(X)


def _manifest(change):
    def edit(version):
        manifest = json.loads((version / "manifest.json").read_text())
        (version / "manifest.json").write_text(json.dumps(change(manifest)))
    return edit


def _write(name: str, text: str):
    return lambda version: (version / name).write_text(text)


def _linked(name: str):
    """`name` (a file or folder of the version, or the version itself for '.') moved out and linked back."""
    def edit(version):
        import shutil

        path = version / name if name != "." else version
        outside = version.parent.parent / f"outside-{path.name}"
        shutil.move(path, outside)
        path.symlink_to(outside)
    return edit


MALFORMED = {
    "manifest-a-list": (_write("manifest.json", "[]"), r"must hold a mapping: .* holds a list"),
    "manifest-nested-5000-deep": (_write("manifest.json", "[" * 5000 + "]" * 5000), r"must be valid JSON: .*nested"),
    "manifest-without-schema": (_manifest(lambda m: {k: v for k, v in m.items() if k != "schema"}),
                                r"must have the parts the product writes: .*: schema: Field required"),
    "manifest-without-members": (_manifest(lambda m: {k: v for k, v in m.items() if k != "members"}),
                                 r"members: Field required"),
    "members-as-text": (_manifest(lambda m: {**m, "members": "x"}), r"members: Input should be a valid list"),
    "member-weight-as-text": (_manifest(lambda m: {**m, "members": [{**e, "weight": "heavy"} for e in m["members"]]}),
                              r"members\.0\.weight: Input should be a valid number"),
    "schema-as-a-list": (_manifest(lambda m: {**m, "schema": [1, 2]}), r"schema: Input should be a valid dictionary"),
    "schema-without-classes": (_manifest(lambda m: {**m, "schema": {"target": "y"}}),
                               r"must describe the model as it was saved: .*ValidationError"),
    "class-prior-as-text": (_manifest(lambda m: {**m, "class_prior": "half"}), r"class_prior: Input should be"),
    # Manifests edited into a model no fit writes (in a store without a key, nothing signs them).
    "classes-swapped": (_manifest(lambda m: {**m, "schema": {**m["schema"], "classes": m["schema"]["classes"][::-1]}}),
                        r"must describe a model as fitting writes it: its classes .* are not in the order fitting "
                        r"sorts them"),
    "classes-repeated": (_manifest(lambda m: {**m, "schema": {**m["schema"], "classes": ["a", "a"]}}),
                         r"its classes \['a', 'a'\] are not two or more distinct ones"),
    "a-third-class": (_manifest(lambda m: {**m, "schema": {**m["schema"], "classes": ["a", "b", "c"]},
                                           "class_prior": [0.5, 0.3, 0.2], "positive_class": None, "threshold": None,
                                           "calibration": None}), r"its members predict the class codes \[0, 1\] where it has 3 classes"),
    "positive-class-unknown": (_manifest(lambda m: {**m, "positive_class": "nobody"}),
                               r"its positive class 'nobody' is not among its classes"),
    "threshold-above-one": (_manifest(lambda m: {**m, "threshold": 2.0}), r"its threshold 2.0 is not a probability"),
    "weights-all-zero": (_manifest(lambda m: {**m, "members": [{**e, "weight": 0} for e in m["members"]]}),
                         r"its member weights \[0.0, .* are not one share ≥ 0 per member, some above 0"),
    "weights-negative": (_manifest(lambda m: {**m, "members": [{**e, "weight": -5} for e in m["members"]]}),
                         r"its member weights"),
    "class-prior-short": (_manifest(lambda m: {**m, "class_prior": [1.0]}),
                          r"its class prior \[1.0\] is not one share per class"),
    "calibration-intercepts-short": (_manifest(lambda m: {**m, "calibration": {"method": "sigmoid", "slope": 1.0,
                                                                                 "intercepts": [0.0]}}),
                                     r"its calibration has 1 intercepts for 2 classes"),
    "calibration-unknown": (_manifest(lambda m: {**m, "calibration": {"method": "magic"}}),
                            r"its calibration method 'magic' is none the product fits"),
    "cost-matrix-3x3": (_manifest(lambda m: {**m, "cost_matrix": [[0, 1, 1], [1, 0, 1], [1, 1, 0]]}),
                        r"its cost matrix of shape \(3, 3\) is not 2 × 2 finite costs"),
    "member-files-swapped": (_manifest(lambda m: {**m, "members": [{**m["members"][0], "file": m["members"][1]["file"]},
                                                                  {**m["members"][1], "file": m["members"][0]["file"]}]}),
                             r"member none:rf names the learner 'rf', whose file holds a HistGradientBoosting"),
    "voting-unknown": (_manifest(lambda m: {**m, "ensemble": {**m["ensemble"], "voting": "loud"}}),
                       r"must describe a model as fitting writes it: voting must be .*\(it is 'loud'\)"),
    "version-linked-from-outside": (_linked("."), r"holds no symbolic links: .* is one"),
    "manifest-linked-from-outside": (_linked("manifest.json"), r"holds no symbolic links: .*manifest.json' is one"),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_a_malformed_or_linked_version_is_refused_with_the_products_error(trees_version, tmp_path, case):
    import shutil

    change, message = MALFORMED[case]
    source, _ = trees_version
    version = tmp_path / "store" / "versions" / source.name
    shutil.copytree(source, version)
    change(version)
    with pytest.raises(InputError, match=message):
        load_model(version)


# What only the members' files can tell (which classes they predict, which learner a file holds) is checked when
# the version loads; promotion builds no member.
NEEDS_MEMBERS = {"a-third-class", "member-files-swapped"}


@pytest.mark.parametrize("case", [case for case in MALFORMED if case not in NEEDS_MEMBERS])
def test_a_malformed_version_is_never_promoted_by_hand(trees_version, tmp_path, case):
    """A version that would be refused when loaded is refused before it becomes the champion: the champion it
    would replace keeps serving."""
    import shutil

    from imbalance_flows.tasks.store.model_store import champion
    from imbalance_flows.tasks.store.versions import promote_by_hand

    change, message = MALFORMED[case]
    source, _ = trees_version
    store = tmp_path / "store"
    shutil.copytree(source, store / "versions" / "20260101T000000Z-aaaaaa")
    promote_by_hand(store, "20260101T000000Z-aaaaaa")
    version = store / "versions" / source.name
    shutil.copytree(source, version)
    change(version)
    with pytest.raises(InputError, match=message):
        promote_by_hand(store, source.name)
    assert champion(store) == store / "versions" / "20260101T000000Z-aaaaaa"


def test_a_version_is_promoted_where_its_learners_libraries_are_not_installed(trees_version, tmp_path, monkeypatch):
    """Promotion reads the manifest, not the members: a machine without a member's extra still promotes it."""
    import shutil

    from imbalance_flows.tasks.learners.registry import LEARNERS
    from imbalance_flows.tasks.store.model_store import champion
    from imbalance_flows.tasks.store.versions import promote_by_hand

    source, _ = trees_version
    store = tmp_path / "store"
    shutil.copytree(source, store / "versions" / source.name)
    monkeypatch.setattr(type(LEARNERS["rf"]), "missing", lambda entry: [f"{entry.name}-library"])
    assert promote_by_hand(store, source.name)["promoted"]
    assert champion(store) == store / "versions" / source.name


def test_one_damaged_version_stops_neither_the_list_nor_a_prune(trees_version, tmp_path):
    import shutil

    from imbalance_flows.tasks.store.versions import list_versions, prune

    source, _ = trees_version
    store = tmp_path / "store"
    for name in ("20260101T000000Z-aaaaaa", "20260102T000000Z-bbbbbb", "20260103T000000Z-cccccc"):
        shutil.copytree(source, store / "versions" / name)
    (store / "versions" / "20260102T000000Z-bbbbbb" / "manifest.json").write_text("[]")
    (store / "versions" / "20260103T000000Z-cccccc" / "manifest.json").write_text('{"format_version": 3}')

    assert [row["name"] for row in list_versions(store)] == ["20260101T000000Z-aaaaaa"]
    assert prune(store, keep=0) == ["20260101T000000Z-aaaaaa"]  # the damaged ones are no versions: left alone
    assert cli(["models", "list", "--store", str(store)]) == 0
    version = store / "versions" / "20260104T000000Z-dddddd"
    shutil.copytree(source, version)
    manifest = json.loads((version / "manifest.json").read_text())
    (version / "manifest.json").write_text(json.dumps({k: v for k, v in manifest.items() if k != "code_version"}))
    assert cli(["report", str(version)]) == 2  # what the report reads and the loader does not: one error line too


def test_trees_held_in_an_object_array_or_nested_past_any_member_are_refused(trees_version):
    from types import SimpleNamespace

    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.pipeline import Pipeline

    from imbalance_flows.tasks.store.trees import MAX_DEPTH, check_trees

    _, X = trees_version
    boosting = GradientBoostingClassifier(n_estimators=3, random_state=0).fit(X, (X["a"] > 0.5).astype(int))
    _tree_state(SimpleNamespace(estimators_=[boosting.estimators_[1, 0]]),  # an object array of trees
                lambda nodes: nodes["left_child"].__setitem__(0, 10**6))
    with pytest.raises(InputError, match="trees must be well formed: .*node 0 has left child 1000000"):
        check_trees(Pipeline([("learn", boosting)]), "member.skops")

    nested = boosting
    for _ in range(MAX_DEPTH):  # a forest wrapped in pipelines, deeper than any member the product writes
        nested = Pipeline([("inner", nested)])
    with pytest.raises(InputError, match=f"nests its parts at most {MAX_DEPTH} levels deep"):
        check_trees(nested, "member.skops")


def _swapped(step: str, make):
    """An edit of a member's pipeline: `step` replaced by make(pipeline)."""
    def edit(pipeline):
        pipeline.steps = [(name, make(pipeline) if name == step else value) for name, value in pipeline.steps]
        return pipeline
    return edit


def _boosting(pipeline):
    from sklearn.ensemble import GradientBoostingClassifier

    rng = np.random.default_rng(0)
    return GradientBoostingClassifier(n_estimators=2).fit(rng.normal(size=(40, 4)), np.repeat([0, 1], 20))


def _in_pipelines(levels: int):
    def make(pipeline):
        from sklearn.pipeline import Pipeline

        nested = pipeline.steps[-1][1]
        for _ in range(levels):
            nested = Pipeline([("inner", nested)])
        return nested
    return make


def _with_a_tree(pipeline):
    from sklearn.tree import DecisionTreeClassifier

    learner = pipeline.steps[-1][1]
    learner.spare_ = DecisionTreeClassifier().fit(np.eye(4), [0, 1, 0, 1])
    return learner


def _trees_in_an_object_array(pipeline):
    forest = pipeline.steps[-1][1]
    trees = np.empty(len(forest.estimators_), dtype=object)
    trees[:] = forest.estimators_
    forest.estimators_ = trees
    return forest


def _one_hot(pipeline):
    from imbalance_flows.tasks.model.prepare import LinearPrep

    return LinearPrep(n_numeric=4, sizes=[]).fit(np.zeros((3, 4)))


def _schema_edit(change):
    """An edit of a member file's schema.json text."""
    def edit(data: bytes) -> bytes:
        out = io.BytesIO()
        with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
            for item in source.infolist():
                content = source.read(item.filename)
                target.writestr(item, change(content) if item.filename == "schema.json" else content)
        return out.getvalue()
    return edit


def _nest_5000(text: bytes) -> bytes:
    schema = json.loads(text)
    schema["content"]["content"]["deep"] = "@DEEP@"
    return json.dumps(schema).encode().replace(b'"@DEEP@"', b"[" * 5000 + b"]" * 5000)


# What a member file holds, in a place the product never puts it: name -> (member, edit of the pipeline or of the
# file's bytes, what the refusal says).
HOSTILE_GRAPHS = {
    "boosting-in-a-forests-place": ("00.skops", _swapped("learn", _boosting),
                                    "step 'learn' holds sklearn.ensemble._gb.GradientBoostingClassifier"),
    "forest-inside-a-pipeline": ("00.skops", _swapped("learn", _in_pipelines(1)),
                                 "step 'learn' holds sklearn.pipeline.Pipeline"),
    "forest-inside-25-pipelines": ("00.skops", _swapped("learn", _in_pipelines(25)), "nests at most 128 levels"),
    "a-tree-inside-histogram-boosting": ("01.skops", _swapped("learn", _with_a_tree),
                                         "the learner hgb holds sklearn.tree._classes.DecisionTreeClassifier"),
    "trees-in-an-object-array": ("00.skops", _swapped("learn", _trees_in_an_object_array),
                                 "the learner rf holds ndarray of objects"),
    "one-hot-encoding-for-a-forest": ("00.skops", _swapped("encode", _one_hot),
                                      "step 'encode' of a rf member holds imbalance_flows.tasks.model.prepare.LinearPrep"),
    "a-step-missing": ("00.skops", lambda pipeline: setattr(pipeline, "steps", pipeline.steps[:1] + pipeline.steps[2:]),
                       "has ['prepare', 'augment', 'encode', 'learn']"),
    "schema-nested-5000-deep": ("00.skops", _schema_edit(_nest_5000), "nests at most 128 levels"),
    "schema-not-json": ("00.skops", _schema_edit(lambda text: text[:-10]), "schema must be JSON"),
}


@pytest.mark.parametrize("case", HOSTILE_GRAPHS)
def test_a_member_holding_what_its_learner_never_saves_is_refused_before_anything_is_built(trees_version, tmp_path,
                                                                                           case, monkeypatch):
    name, edit, problem = HOSTILE_GRAPHS[case]
    source, _ = trees_version
    data = (source / "members" / name).read_bytes()
    if edit.__name__ == "edit" and edit.__qualname__.startswith("_schema_edit"):
        content = edit(data)
    else:
        pipeline = sio.load(source / "members" / name, trusted=trusted_types())
        edit(pipeline)
        buffer = io.BytesIO()
        sio.dump(pipeline, buffer)
        content = buffer.getvalue()
    version = planted(trees_version, tmp_path, name, content)

    loads = sio.loads

    def build(data, *args, **kwargs):  # the other member builds as usual
        assert data != content, "skops was asked to build the hostile file"
        return loads(data, *args, **kwargs)

    monkeypatch.setattr(sio, "loads", build)
    with pytest.raises(InputError, match="saved member") as caught:
        load_model(version)

    assert problem in str(caught.value) and name in caught.value.value


def test_an_array_declaring_more_than_its_file_holds_is_refused_before_it_is_allocated(trees_version, tmp_path):
    source, _ = trees_version
    original = (source / "members" / "00.skops").read_bytes()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(original)) as archive, zipfile.ZipFile(out, "w") as target:
        grown = False
        for item in archive.infolist():
            content = archive.read(item.filename)
            if item.filename.endswith(".npy") and not grown:
                array = np.load(io.BytesIO(content), allow_pickle=False)
                header = io.BytesIO()
                np.lib.format.write_array_header_1_0(header, {"descr": np.lib.format.dtype_to_descr(array.dtype),
                                                              "fortran_order": False, "shape": (300_000_000,)})
                content = header.getvalue() + array.tobytes()  # 1.4 GiB declared, a few bytes held
                grown = True
            target.writestr(item, content)
    assert grown
    version = planted(trees_version, tmp_path, "00.skops", out.getvalue())

    with pytest.raises(InputError, match=r"a saved member's arrays must fit in the file that holds them: .*declares "
                                         r"\(300000000,\)"):
        load_model(version)


@pytest.fixture(scope="module")
def linear_version(tmp_path_factory):
    """A saved version whose one member is a logistic regression on 4 features."""
    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.normal(size=(160, 4)), columns=list("abcd"))
    y = pd.Series(np.where(X["a"] + rng.normal(scale=0.5, size=160) > 0.8, "rare", "common"))
    ensemble = VotingEnsemble(members=[{"sampler": "class_weight", "learner": "logreg"}], random_state=0).fit(X, y)
    return save_model(ensemble, tmp_path_factory.mktemp("store")), X


def _set(name, value):
    return lambda learner: setattr(learner, name, value(getattr(learner, name)))


HOSTILE_COEFFICIENTS = {
    "one-row-too-many": (_set("coef_", lambda c: np.vstack([c, c])), "coef_ of shape (2, 4), not (1, 4)"),
    "one-feature-short": (_set("coef_", lambda c: c[:, :3]), "coef_ of shape (1, 3), not (1, 4)"),
    "intercept-of-another-shape": (_set("intercept_", lambda i: np.zeros(3)), "intercept_ of shape (3,), not (1,)"),
    "not-a-number": (_set("coef_", lambda c: np.full_like(c, np.nan)), "not finite numbers"),
}


@pytest.mark.parametrize("case", HOSTILE_COEFFICIENTS)
def test_coefficients_that_do_not_fit_the_features_and_classes_are_refused(linear_version, tmp_path, case):
    edit, problem = HOSTILE_COEFFICIENTS[case]
    version = _edited(linear_version, tmp_path, "00.skops", edit)

    with pytest.raises(InputError, match="a saved member's coefficients must fit its features and classes") as caught:
        load_model(version)

    assert problem in caught.value.value
