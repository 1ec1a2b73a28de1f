"""tasks.store: versions appear complete or not at all, load as saved, and the champion moves atomically."""

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import skops.io
from imblearn.pipeline import Pipeline
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import LogisticRegression

from imbalance_flows.tasks.errors import InputError
from imbalance_flows.tasks.store import model_store as store_module
from imbalance_flows.tasks.store.model_store import (
    champion,
    load_model,
    promote,
    read_manifest,
    save_model,
)


class Doubler(TransformerMixin, BaseEstimator):
    """A harmless custom transformer: skops must still refuse to load a type it does not know."""

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return np.asarray(X) * 2


def rewrite_digests(version) -> None:
    """Record the current files' SHA-256 in the manifest, as someone editing a version by hand could."""
    from imbalance_flows.tasks.store.integrity import file_digests

    manifest = json.loads((version / "manifest.json").read_text())
    (version / "manifest.json").write_text(json.dumps({**manifest, "files": file_digests(version)}))


def only_version(store) -> str:
    (name,) = os.listdir(store / "versions")
    return name


def test_a_saved_version_loads_with_identical_predictions(fitted_binary, binary_table, tmp_path):
    X = binary_table.drop(columns="label")

    loaded = load_model(save_model(fitted_binary, tmp_path))

    np.testing.assert_array_equal(loaded.predict_proba(X), fitted_binary.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), fitted_binary.predict(X))
    assert (loaded.threshold_, loaded.positive_class_) == (fitted_binary.threshold_, fitted_binary.positive_class_)
    assert loaded.get_params()["voting"] == fitted_binary.voting
    assert [s.name for s in loaded.specs_] == [s.name for s in fitted_binary.specs_]


def test_a_version_holds_manifest_members_and_report_files(fitted_binary, tmp_path):
    version = save_model(fitted_binary, tmp_path, metrics={"ensemble": {"macro_f1": 0.5}},
                         extra={"data": {"fingerprint": "abc"}}, files={"report.md": "# hi\n", "plot.png": b"\x89PNG"})

    assert version.parent == tmp_path / "versions"
    assert sorted(os.listdir(version)) == ["manifest.json", "members", "plot.png", "report.md"]
    assert sorted(os.listdir(version / "members")) == ["00.skops", "01.skops"]
    manifest = read_manifest(version)
    assert manifest["metrics"] == {"ensemble": {"macro_f1": 0.5}} and manifest["data"] == {"fingerprint": "abc"}
    assert [m["file"] for m in manifest["members"]] == ["members/00.skops", "members/01.skops"]
    assert sum(m["weight"] for m in manifest["members"]) == pytest.approx(1.0)
    assert os.listdir(tmp_path / ".staging") == []  # nothing half-written is left behind


def test_a_crash_while_saving_leaves_no_version_and_keeps_the_champion(fitted_binary, binary_table, tmp_path,
                                                                        monkeypatch):
    earlier = save_model(fitted_binary, tmp_path)
    promote(tmp_path, earlier)
    pointer = (tmp_path / "champion").read_text()
    real_dump, calls = skops.io.dump, []

    def dump_then_crash(obj, file, **kwargs):
        calls.append(file)
        if len(calls) == 2:
            raise OSError("disk full")
        return real_dump(obj, file, **kwargs)

    monkeypatch.setattr(skops.io, "dump", dump_then_crash)
    with pytest.raises(OSError, match="disk full"):
        save_model(fitted_binary, tmp_path)

    assert os.listdir(tmp_path / "versions") == [earlier.name]
    assert os.listdir(tmp_path / ".staging") == []
    assert (tmp_path / "champion").read_text() == pointer
    assert champion(tmp_path) == earlier
    X = binary_table.drop(columns="label")
    np.testing.assert_array_equal(load_model(earlier).predict_proba(X), fitted_binary.predict_proba(X))


def test_champion_is_none_until_a_version_is_promoted(fitted_binary, tmp_path):
    version = save_model(fitted_binary, tmp_path)

    assert champion(tmp_path) is None
    promote(tmp_path, version)
    assert champion(tmp_path) == version
    assert (tmp_path / "champion").read_text() == version.name + "\n"


def test_promote_replaces_the_pointer_in_one_rename(fitted_binary, tmp_path, monkeypatch):
    first, second = save_model(fitted_binary, tmp_path), save_model(fitted_binary, tmp_path)
    promote(tmp_path, first)
    renames = []

    def recording_replace(source, target):
        renames.append((os.path.dirname(source), open(source).read(), (tmp_path / "champion").read_text()))
        real_replace(source, target)

    real_replace = os.replace
    monkeypatch.setattr(store_module.os, "replace", recording_replace)
    promote(tmp_path, second)

    # The new name is written in full beside the pointer first; until the rename the old one stands.
    assert renames == [(str(tmp_path), second.name + "\n", first.name + "\n")]
    assert champion(tmp_path) == second
    assert sorted(os.listdir(tmp_path)) == [".staging", "champion", "versions"]


def test_a_failed_promotion_keeps_the_old_champion(fitted_binary, tmp_path, monkeypatch):
    first, second = save_model(fitted_binary, tmp_path), save_model(fitted_binary, tmp_path)
    promote(tmp_path, first)

    def crash(source, target):
        raise OSError("power cut")

    monkeypatch.setattr(store_module.os, "replace", crash)
    with pytest.raises(OSError, match="power cut"):
        promote(tmp_path, second)

    assert champion(tmp_path) == first


def test_promote_refuses_a_directory_that_is_not_a_version(fitted_binary, tmp_path):
    version = save_model(fitted_binary, tmp_path)
    promote(tmp_path, version)

    with pytest.raises(InputError, match="has no manifest.json"):
        promote(tmp_path, tmp_path / "versions" / "nonsense")

    assert champion(tmp_path) == version


def test_load_refuses_a_member_holding_an_untrusted_type(fitted_binary, tmp_path):
    version = save_model(fitted_binary, tmp_path)
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20, 2)), np.repeat([0, 1], 10)
    steps = [("prepare", Doubler()), ("resample", "passthrough"), ("augment", "passthrough"),
             ("encode", "passthrough"), ("learn", LogisticRegression())]
    skops.io.dump(Pipeline(steps).fit(X, y), version / "members" / "01.skops")
    rewrite_digests(version)  # a writer who also rewrites the manifest: the check of what it holds still stands

    with pytest.raises(InputError, match="a saved member holds only what its learner saves") as caught:
        load_model(version)

    assert "Doubler" in caught.value.value and "01.skops" in caught.value.value
    assert caught.value.hint.startswith("The file was changed after it was saved")


def test_load_refuses_a_manifest_of_another_format(fitted_binary, tmp_path):
    version = save_model(fitted_binary, tmp_path)
    manifest = json.loads((version / "manifest.json").read_text())
    (version / "manifest.json").write_text(json.dumps({**manifest, "format_version": 99}))

    with pytest.raises(InputError, match="reads model formats 1, 2, 3: .* has format 99"):
        load_model(version)


def test_a_copied_version_directory_loads_anywhere(fitted_binary, binary_table, tmp_path):
    version = save_model(fitted_binary, tmp_path / "store")
    moved = shutil.copytree(version, tmp_path / "elsewhere")

    X = binary_table.drop(columns="label")
    np.testing.assert_array_equal(load_model(moved).predict(X), fitted_binary.predict(X))


FORMAT_1 = Path(__file__).parent / "data" / "format1_model"


def test_a_model_saved_before_the_package_had_one_name_still_loads_and_predicts_the_same():
    """Format 1 named the project's types tasks.*; they are read under imbalance_flows.tasks.*."""
    import pandas as pd

    from tests.unit.conftest import mixed_table

    table = mixed_table((40, 12))
    expected = pd.read_csv(FORMAT_1.parent / "format1_expected.csv")

    loaded = load_model(FORMAT_1)

    assert read_manifest(FORMAT_1)["format_version"] == 1
    proba = loaded.predict_proba(table.drop(columns="label"))
    np.testing.assert_allclose(proba, expected[[f"proba_{c}" for c in loaded.classes_]].to_numpy(), atol=1e-9)
    assert loaded.predict(table.drop(columns="label")).tolist() == expected["predicted"].tolist()


FORMAT_2 = Path(__file__).parent / "data" / "format2_model"


def test_a_model_saved_before_tasks_had_rooms_still_loads_and_predicts_the_same():
    """Format 2 named the project's types by the flat modules of tasks/ (imbalance_flows.tasks.prepare, ...,
    imbalance_flows.tasks.boosters); they are read under today's names. Saved by the code of that time, with a
    forest, a linear model and a LightGBM member."""
    import pandas as pd

    from tests.unit.conftest import mixed_table

    table = mixed_table((40, 12))
    expected = pd.read_csv(FORMAT_2.parent / "format2_expected.csv")

    loaded = load_model(FORMAT_2)

    assert read_manifest(FORMAT_2)["format_version"] == 2
    assert [spec.learner for spec in loaded.specs_] == ["rf", "logreg", "lgbm"]
    proba = loaded.predict_proba(table.drop(columns="label"))
    np.testing.assert_allclose(proba, expected[[f"proba_{c}" for c in loaded.classes_]].to_numpy(), atol=1e-9)
    assert loaded.predict(table.drop(columns="label")).tolist() == expected["predicted"].tolist()


def test_trusted_types_are_derived_from_the_classes_and_name_the_package():
    from imbalance_flows.tasks.store.member_files import trusted_types

    trusted = trusted_types()
    assert {"imbalance_flows.tasks.model.prepare.LinearPrep", "imbalance_flows.tasks.model.prepare.TablePrep",
            "imbalance_flows.tasks.learners.keras_members.KerasMLP", "imbalance_flows.tasks.learners.keras_images.KerasCNN",
            "imbalance_flows.tasks.learners.keras_images.KerasTransfer", "sklearn.tree._tree.Tree"} <= set(trusted)
    assert not [name for name in trusted if name.startswith("tasks.")]


def test_a_new_version_is_written_in_the_current_format(fitted_binary, tmp_path):
    from imbalance_flows.tasks.store.member_files import FORMAT_VERSION

    assert read_manifest(save_model(fitted_binary, tmp_path))["format_version"] == FORMAT_VERSION == 3


def test_a_version_records_the_sha256_of_every_file_and_refuses_a_changed_one(fitted_binary, tmp_path):
    version = save_model(fitted_binary, tmp_path, files={"report.md": "# hi\n"})
    recorded = read_manifest(version)["files"]
    assert sorted(recorded) == ["members/00.skops", "members/01.skops", "report.md"]
    assert all(len(value) == 64 for value in recorded.values())

    with open(version / "members" / "00.skops", "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(InputError, match=r"a saved version's files must be as they were saved: .*00\.skops' has "
                                         r"changed \(its SHA-256 differs from the manifest's\)"):
        load_model(version)


@pytest.mark.parametrize("plant, message", [
    (lambda v: (v / "members" / "model.pkl").write_bytes(b"cos\nsystem\n"),
     r"members/ holds only the files it was saved with: .* also holds \['members/model.pkl'\]"),
    (lambda v: _edit_manifest(v, lambda m: m["members"][0].update(file="/etc/passwd")),
     r"a saved version names only files inside its own folder: .* names '/etc/passwd'"),
    (lambda v: _edit_manifest(v, lambda m: m["members"][0].update(file="../../outside.skops")),
     r"names '../../outside.skops'"),
    (lambda v: _swap_for_link(v / "members" / "01.skops"), r"a saved version holds no symbolic links: .*01\.skops"),
], ids=["a-dropped-pickle", "absolute-member-path", "member-path-with-dotdot", "member-file-a-link"])
def test_files_outside_the_version_or_not_its_own_are_refused_before_anything_is_read(fitted_binary, tmp_path,
                                                                                      plant, message):
    version = save_model(fitted_binary, tmp_path / "store")
    plant(version)
    with pytest.raises(InputError, match=message):
        load_model(version)


def _edit_manifest(version, change) -> None:
    manifest = json.loads((version / "manifest.json").read_text())
    change(manifest)
    (version / "manifest.json").write_text(json.dumps(manifest))


def _swap_for_link(path) -> None:
    target = path.with_name("elsewhere.bin")
    path.rename(target)
    path.symlink_to(target)


@pytest.mark.parametrize("pointer", ["../../etc", "/etc/passwd", "v1/../../x", ""])
def test_a_champion_pointer_that_is_not_a_version_name_is_refused(tmp_path, pointer):
    (tmp_path / "champion").write_text(pointer + "\n")
    with pytest.raises(InputError, match="a version is named by letters, digits"):
        champion(tmp_path)


def test_a_version_name_with_dotdot_is_not_looked_up_in_the_store(fitted_binary, tmp_path):
    from imbalance_flows.tasks.store.versions import resolve_version

    save_model(fitted_binary, tmp_path)
    with pytest.raises(InputError, match="is none of these"):
        resolve_version(tmp_path, "..")


def test_with_a_store_key_versions_are_signed_and_unsigned_or_resigned_ones_refused(fitted_binary, tmp_path,
                                                                                     monkeypatch):
    monkeypatch.setenv("IMBALANCE_FLOWS_STORE_KEY", "s3cret")
    signed = save_model(fitted_binary, tmp_path)
    load_model(signed)  # written with the key: loads

    monkeypatch.delenv("IMBALANCE_FLOWS_STORE_KEY")
    with pytest.raises(InputError, match=r"a signed store is read only with IMBALANCE_FLOWS_STORE_KEY set: .* holds "
                                         r"\.signed"):
        load_model(signed)  # without the key nothing could be checked: refused, not trusted
    with pytest.raises(InputError, match="a signed store is written only with IMBALANCE_FLOWS_STORE_KEY set"):
        save_model(fitted_binary, tmp_path)
    elsewhere = save_model(fitted_binary, tmp_path / "elsewhere")  # someone without the key plants a version
    unsigned = tmp_path / "versions" / elsewhere.name
    elsewhere.rename(unsigned)
    rewrite_digests(signed)  # and edits a signed version's manifest
    monkeypatch.setenv("IMBALANCE_FLOWS_STORE_KEY", "s3cret")

    with pytest.raises(InputError, match="with IMBALANCE_FLOWS_STORE_KEY set, a version must be signed with that "
                                         "key: .* is unsigned"):
        load_model(unsigned)
    with pytest.raises(InputError, match="is signed with another key"):
        load_model(signed)


def test_with_a_store_key_the_champion_pointer_is_signed_and_a_moved_or_unsigned_one_refused(fitted_binary,
                                                                                              tmp_path, monkeypatch):
    monkeypatch.setenv("IMBALANCE_FLOWS_STORE_KEY", "s3cret")
    old, new = save_model(fitted_binary, tmp_path), save_model(fitted_binary, tmp_path)
    promote(tmp_path, new)
    assert champion(tmp_path) == new
    pointer = tmp_path / "champion"
    pointer.write_text(pointer.read_text().replace(new.name, old.name))  # rolled back without the key
    with pytest.raises(InputError, match="the champion pointer must be signed with that key: .* signed with another "
                                         "key, or edited"):
        champion(tmp_path)
    pointer.write_text(old.name + "\n")
    with pytest.raises(InputError, match="the champion pointer must be signed with that key: .* is unsigned"):
        champion(tmp_path)


def test_with_a_store_key_a_version_without_file_digests_is_refused(fitted_binary, tmp_path, monkeypatch):
    import json

    from imbalance_flows.tasks.store.integrity import sign

    monkeypatch.setenv("IMBALANCE_FLOWS_STORE_KEY", "s3cret")
    version = save_model(fitted_binary, tmp_path)
    manifest = json.loads((version / "manifest.json").read_text())
    (version / "manifest.json").write_text(json.dumps({k: v for k, v in manifest.items() if k != "files"}))
    sign(version)  # even signed: its signature would vouch for the manifest, not for the members
    with pytest.raises(InputError, match="a version must record its files' digests"):
        load_model(version)


def test_with_a_store_key_a_folder_without_a_manifest_is_refused_clearly(tmp_path, monkeypatch):
    monkeypatch.setenv("IMBALANCE_FLOWS_STORE_KEY", "s3cret")
    (tmp_path / "pruned").mkdir()
    with pytest.raises(InputError, match="MODEL must be a saved model version's directory"):
        load_model(tmp_path / "pruned")


def test_training_rows_in_chunks_keep_the_same_fingerprints_and_picture_as_whole():
    import pandas as pd

    from imbalance_flows.tasks.data.schema import infer_schema, row_hashes
    from imbalance_flows.tasks.monitoring.drift import reference
    from imbalance_flows.tasks.store.model_store import summarise_rows

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=5_000).astype(np.float32), "c": rng.choice(list("abc"), 5_000),
                          "label": np.where(rng.random(5_000) < 0.05, "rare", "common")})
    schema = infer_schema(frame[["x", "c"]], frame["label"], "label")
    chunks = [frame.iloc[start:start + 700] for start in range(0, len(frame), 700)]
    hashes, picture = summarise_rows(chunks, schema)
    assert np.array_equal(hashes, row_hashes(frame, schema))
    assert picture == reference(frame[["x", "c"]], frame["label"], schema)
    # Held to a sample of 1,000 rows: the bins come from the sample, the row count and class shares from every row.
    hashes, sampled = summarise_rows(chunks, schema, sample_rows=1_000)
    assert len(hashes) == 5_000 and sampled["rows"] == 5_000
    assert sampled["class_shares"] == picture["class_shares"]
    assert np.allclose(sampled["features"]["x"]["edges"], picture["features"]["x"]["edges"], atol=0.15)
    # The total known: the sample's positions are drawn first, each chunk gives its own.
    hashes, drawn = summarise_rows(iter(chunks), schema, sample_rows=1_000, total=5_000)
    assert np.array_equal(hashes, row_hashes(frame, schema)) and drawn["rows"] == 5_000
    assert drawn["class_shares"] == picture["class_shares"]
    assert np.allclose(drawn["features"]["x"]["edges"], picture["features"]["x"]["edges"], atol=0.15)


@pytest.mark.parametrize("sample_rows", [10_000, 1_000])  # every row, or a sample of them
def test_written_tables_give_the_picture_of_their_rows_read_in_chunks_from_labels_and_the_sample_alone(
        sample_rows, tmp_path):
    import pandas as pd

    from imbalance_flows.tasks.data import tables
    from imbalance_flows.tasks.data.schema import infer_schema, row_hashes
    from imbalance_flows.tasks.store.model_store import summarise_rows, summarise_tables

    rng = np.random.default_rng(1)
    n = 5_000
    frame = pd.DataFrame({"x": rng.normal(size=n), "c": rng.choice(["a", "b", None], n),
                          "label": np.where(rng.random(n) < 0.05, "rare", "common")})
    frame.loc[::9, "x"] = np.nan
    schema = infer_schema(frame[["x", "c"]], frame["label"], "label")
    refs = [tables.write_table(frame.iloc[:3_700].reset_index(drop=True), str(tmp_path), "train"),
            tables.write_table(frame.iloc[3_700:].reset_index(drop=True), str(tmp_path), "validation")]
    known = row_hashes(frame, schema)

    hashes, picture = summarise_tables(refs, schema, known, sample_rows=sample_rows)
    chunks = (chunk for ref in refs for chunk in tables.read_chunks(ref, rows=600))
    expected_hashes, expected = summarise_rows(chunks, schema, sample_rows=sample_rows, total=n, known=known)

    assert np.array_equal(hashes, expected_hashes) and picture == expected
    with pytest.raises(InputError, match="one per training row"):
        summarise_tables(refs, schema, known[:-1])


def test_a_version_keeps_the_same_fingerprints_and_picture_from_written_tables_with_or_without_known_hashes(
        fitted_binary, binary_table, tmp_path):
    from imbalance_flows.tasks.data import tables
    from imbalance_flows.tasks.data.schema import row_hashes

    refs = [tables.write_table(binary_table.iloc[:150].reset_index(drop=True), str(tmp_path / "work"), "train"),
            tables.write_table(binary_table.iloc[150:].reset_index(drop=True), str(tmp_path / "work"), "validation")]
    known = row_hashes(binary_table, fitted_binary.schema_)

    versions = [save_model(fitted_binary, tmp_path / "store", training_rows=binary_table),
                save_model(fitted_binary, tmp_path / "store", training_rows=refs),
                save_model(fitted_binary, tmp_path / "store", training_rows=refs, training_hashes=known)]

    manifests = [json.loads((Path(v) / "manifest.json").read_text()) for v in versions]
    assert manifests[0]["reference"] == manifests[1]["reference"] == manifests[2]["reference"]
    for version in versions:
        assert np.array_equal(np.load(Path(version) / "training_rows.npy"), known)


def test_a_member_is_copied_from_the_file_it_was_loaded_from_while_that_file_is_unchanged(fitted_binary, binary_table,
                                                                                        tmp_path):
    from imbalance_flows.tasks.store.member_files import dump_member, member_source

    X = binary_table.drop(columns="label")
    files = [tmp_path / "work" / f"{i}.skops" for i in range(len(fitted_binary.members_))]
    for member, path in zip(fitted_binary.members_, files):
        path.parent.mkdir(exist_ok=True)
        dump_member(member, path)
    sources = [member_source(path) for path in files]
    # The last file is replaced after its stamp was taken (by another member): that member is written anew.
    dump_member(fitted_binary.members_[0], files[-1])

    version = save_model(fitted_binary, tmp_path / "store", member_sources=sources)

    saved = [version / "members" / f"{i:02d}.skops" for i in range(len(files))]
    for path, copy in zip(files[:-1], saved[:-1]):
        assert copy.read_bytes() == path.read_bytes()
        assert copy.stat().st_ino != path.stat().st_ino  # a copy, not a link into the workspace
    assert saved[-1].read_bytes() != files[-1].read_bytes()
    np.testing.assert_array_equal(load_model(version).predict_proba(X), fitted_binary.predict_proba(X))
    assert sorted(os.listdir(version / "members")) == [path.name for path in saved]  # nothing left half-copied


def test_a_member_file_removed_after_its_stamp_was_taken_is_written_from_the_loaded_member(fitted_binary, binary_table,
                                                                                          tmp_path):
    from imbalance_flows.tasks.store.member_files import dump_member, member_source

    path = tmp_path / "0.skops"
    dump_member(fitted_binary.members_[0], path)
    source = member_source(path)
    path.unlink()
    sources = [source] + [None] * (len(fitted_binary.members_) - 1)

    version = save_model(fitted_binary, tmp_path / "store", member_sources=sources)

    X = binary_table.drop(columns="label")
    np.testing.assert_array_equal(load_model(version).predict_proba(X), fitted_binary.predict_proba(X))


def _member_files(folder, network: bool):
    """A member's two files as `dump_member` names them (their bytes do not matter to copying)."""
    folder.mkdir()
    (folder / "m.skops").write_bytes(b"pipeline")
    if network:
        (folder / "m.keras").write_bytes(b"network")
    return folder / "m.skops"


def test_copying_a_member_copies_its_network_first_and_refuses_any_file_changed_since_its_stamp(tmp_path):
    from imbalance_flows.tasks.store.member_files import copy_member, member_source

    path = _member_files(tmp_path / "work", network=True)
    (tmp_path / "a").mkdir()
    assert copy_member(member_source(path), tmp_path / "a" / "00.skops") == [tmp_path / "a" / "00.skops",
                                                                              tmp_path / "a" / "00.keras"]
    assert (tmp_path / "a" / "00.keras").read_bytes() == b"network"

    source = member_source(path)
    (tmp_path / "work" / "m.keras").write_bytes(b"another")  # the network changed: nothing is copied
    (tmp_path / "b").mkdir()
    assert copy_member(source, tmp_path / "b" / "00.skops") is None
    assert list((tmp_path / "b").iterdir()) == []


def test_copying_a_member_without_a_network_refuses_one_that_appeared_since_its_stamp(tmp_path):
    from imbalance_flows.tasks.store.member_files import copy_member, member_source

    path = _member_files(tmp_path / "work", network=False)
    source = member_source(path)
    (tmp_path / "work" / "m.keras").write_bytes(b"network")  # the loaded member had none: its files changed
    (tmp_path / "out").mkdir()

    assert copy_member(source, tmp_path / "out" / "00.skops") is None
    assert list((tmp_path / "out").iterdir()) == []


def test_copying_a_member_refuses_a_file_touched_back_to_its_old_modification_time(tmp_path):
    from imbalance_flows.tasks.store.member_files import copy_member, member_source

    path = _member_files(tmp_path / "work", network=False)
    source = member_source(path)
    before = path.stat()
    path.write_bytes(b"pipelinf")  # same size, written in place ...
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # ... and its modification time set back
    (tmp_path / "out").mkdir()

    assert copy_member(source, tmp_path / "out" / "00.skops") is None


def test_save_model_refuses_member_sources_that_do_not_match_the_members(fitted_binary, tmp_path):
    with pytest.raises(InputError, match="one source"):
        save_model(fitted_binary, tmp_path, member_sources=[None])


def test_in_a_signed_store_a_member_swapped_after_its_check_is_never_loaded(fitted_binary, binary_table, tmp_path,
                                                                             monkeypatch):
    """Each file is read once into a private folder, checked there and loaded from there."""
    import shutil

    from imbalance_flows.tasks.store import model_store

    monkeypatch.setenv("IMBALANCE_FLOWS_STORE_KEY", "s3cret")
    version = save_model(fitted_binary, tmp_path)
    intruder = tmp_path / "intruder.skops"
    shutil.copy(version / "members" / "00.skops", intruder)
    checked = model_store.check_files

    def swap_after_the_check(folder, manifest):
        checked(folder, manifest)
        (version / "members" / "00.skops").write_bytes(b"swapped in after the check")  # in the store, not the copy

    monkeypatch.setattr(model_store, "check_files", swap_after_the_check)
    model = load_model(version)  # what was checked is what is loaded: the swap is never read
    X = binary_table.drop(columns="label")
    np.testing.assert_array_equal(model.predict_proba(X), fitted_binary.predict_proba(X))
    monkeypatch.setattr(model_store, "check_files", checked)
    with pytest.raises(InputError, match=rf"files must be as they were saved: '{version}/members/00.skops' has changed"):
        load_model(version)  # the next load sees the swap, and names the file where it lies


def test_with_a_store_key_decisions_are_sealed_and_an_edited_one_refused_and_a_damaged_one_skipped(
        fitted_binary, tmp_path, monkeypatch):
    from imbalance_flows.tasks.store.model_store import decisions, record_decision

    record_decision(tmp_path, {"reason": "no key yet"})
    (tmp_path / "decisions" / "000002-20260101T000000Z.json").write_text("[]")  # a damaged record
    assert [d["reason"] for d in decisions(tmp_path)] == ["no key yet"]  # skipped, the others still read

    monkeypatch.setenv("IMBALANCE_FLOWS_STORE_KEY", "s3cret")
    (tmp_path / "decisions" / "000002-20260101T000000Z.json").unlink()
    (tmp_path / "decisions").joinpath(next(p.name for p in (tmp_path / "decisions").iterdir())).unlink()
    path = Path(record_decision(tmp_path, {"reason": "promoted", "promoted": True}))
    assert path.with_name(path.name + ".sig").is_file()
    assert decisions(tmp_path)[0]["reason"] == "promoted"
    path.write_text(path.read_text().replace("promoted", "kept"))  # someone without the key rewrites history
    with pytest.raises(InputError, match="a decision record must be sealed with that key: .* sealed with another key"):
        decisions(tmp_path)


def test_a_member_written_here_is_handed_back_once_while_its_files_are_unchanged(fitted_binary, tmp_path):
    """The vote takes the members its run has just written from memory (`written_member`), not from their files;
    a changed file, a second take or another path reads the file instead (None)."""
    import os

    from imbalance_flows.tasks.store.member_files import dump_member, written_member

    member = fitted_binary.members_[0]
    path = tmp_path / "00.skops"
    dump_member(member, path)
    assert written_member(path) is None  # not asked to: a Dask worker keeps nothing
    dump_member(member, path, hand_over=True)
    assert written_member(path) is member
    assert written_member(path) is None  # given once
    dump_member(member, path, hand_over=True)
    os.utime(path, ns=(1, 1))  # touched after writing: whatever is there now is read from the file
    assert written_member(path) is None
    dump_member(member, path, hand_over=True)
    assert written_member(tmp_path / "01.skops") is None
    assert written_member(str(path)) is member
