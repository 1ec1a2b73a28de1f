"""The model store in a bucket of a real S3 API server: the promises of the store on disk, without rename or locks."""

import json
import os
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

from imbalance_flows.tasks import storage
from imbalance_flows.tasks.errors import InputError
from imbalance_flows.tasks.store import model_store as store_module
from imbalance_flows.tasks.store.champion import decisions
from imbalance_flows.tasks.store.lease import lease
from imbalance_flows.tasks.store.model_store import (
    champion,
    load_model,
    promote,
    read_manifest,
    remove_leftovers,
    save_model,
)
from imbalance_flows.tasks.store.versions import (
    list_versions,
    promote_by_hand,
    prune,
    resolve_version,
)
from tests.unit.test_champion import race_retrains, table  # noqa: F401  (the module's table fixture)


def s3():
    import s3fs

    return s3fs.S3FileSystem()


def test_a_version_in_a_bucket_loads_with_identical_predictions_and_nothing_is_written_here(
        fitted_binary, binary_table, bucket, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = f"{bucket}/store"
    X = binary_table.drop(columns="label")

    version = save_model(fitted_binary, store, metrics={"ensemble": {"balanced_accuracy": 0.5}},
                         training_rows=binary_table)

    assert isinstance(version, str) and version.startswith(f"{store}/versions/")
    assert os.listdir(tmp_path) == []  # no folder named `s3:`, nothing else either
    names = storage.files(version)
    assert "manifest.json" in names and "members/00.skops" in names and "training_rows.npy" in names
    np.testing.assert_array_equal(load_model(version).predict_proba(X), fitted_binary.predict_proba(X))
    assert read_manifest(version)["metrics"]["ensemble"]["balanced_accuracy"] == 0.5


def test_the_champion_moves_only_on_promotion_and_versions_list_promote_and_prune_in_the_bucket(
        fitted_binary, bucket):
    store = f"{bucket}/store"
    first, second = save_model(fitted_binary, store), save_model(fitted_binary, store)
    assert champion(store) is None

    promote(store, first)
    assert champion(store) == first
    assert [row["champion"] for row in list_versions(store)] == [True, False]
    decision = promote_by_hand(store, storage.name(second))
    assert decision["sequence"] == 1 and champion(store) == second == resolve_version(store, "champion")
    assert [d["challenger"] for d in decisions(store)] == [second]

    removed = prune(store, keep=0)
    assert removed == [storage.name(first)]
    assert [row["name"] for row in list_versions(store)] == [storage.name(second)]
    assert not storage.files(first)  # every object of the pruned version is gone
    load_model(champion(store))


def test_a_version_of_another_store_cannot_be_promoted(fitted_binary, bucket):
    elsewhere = save_model(fitted_binary, f"{bucket}/other")
    with pytest.raises(InputError, match="only a version of this store can be promoted"):
        promote_by_hand(f"{bucket}/store", elsewhere)


KILLED_SAVE = """
import os, signal, sys
import s3fs
from imbalance_flows.tasks.store.model_store import save_model
from tests.unit.conftest import FAST_MEMBERS, mixed_table
from imbalance_flows.tasks.model.ensemble import VotingEnsemble

table = mixed_table((40, 12))
model = VotingEnsemble(members=FAST_MEMBERS, validation="holdout", random_state=0)
model.fit(table.drop(columns="label"), table["label"])
uploaded, put = [], s3fs.S3FileSystem.put_file

def put_then_die(self, local, remote, **kwargs):
    put(self, local, remote, **kwargs)
    uploaded.append(remote)
    if len(uploaded) == int(sys.argv[2]):
        os.kill(os.getpid(), signal.SIGKILL)  # the machine goes away in the middle of the upload

s3fs.S3FileSystem.put_file = put_then_die
save_model(model, sys.argv[1], training_rows=table)
"""


# Killed once the first object is up, and once all but the manifest are (its signature the last of them).
@pytest.mark.parametrize("objects", [1, 4])
def test_a_save_killed_in_the_middle_of_its_upload_leaves_no_version_and_a_loadable_champion(
        fitted_binary, binary_table, bucket, objects, monkeypatch):
    store = f"{bucket}/store"
    monkeypatch.setenv("IMBALANCE_FLOWS_STORE_KEY", "k")  # signed: manifest.sig goes up just before the manifest
    champion_before = save_model(fitted_binary, store)
    promote(store, champion_before)

    killed = subprocess.run([sys.executable, "-c", textwrap.dedent(KILLED_SAVE), store, str(objects)],
                            capture_output=True, text=True, timeout=300, cwd=os.getcwd(),
                            env={**os.environ, "PYTHONPATH": os.getcwd()})

    assert killed.returncode == -9, killed.stderr[-2000:]
    assert [row["name"] for row in list_versions(store)] == [storage.name(champion_before)]
    assert champion(store) == champion_before
    X = binary_table.drop(columns="label")
    np.testing.assert_array_equal(load_model(champion(store)).predict_proba(X), fitted_binary.predict_proba(X))
    # What the dead writer left is no version, and is cleaned once old enough to be nobody's upload in progress.
    (left,) = [name for name in storage.names(f"{store}/versions") if name != storage.name(champion_before)]
    objects_left = storage.files(f"{store}/versions/{left}")
    assert len(objects_left) == objects and "manifest.json" not in objects_left
    assert remove_leftovers(store) == []
    monkeypatch.setattr(store_module, "LEFTOVER_AGE_S", 0)
    assert len(remove_leftovers(store)) == 1
    assert storage.names(f"{store}/versions") == [storage.name(champion_before)]


def test_a_member_object_changed_in_the_bucket_is_refused(fitted_binary, bucket):
    version = save_model(fitted_binary, f"{bucket}/store")
    key = f"{version.removeprefix('s3://')}/members/00.skops"
    data = s3().cat_file(key)
    s3().pipe_file(key, data[:-1] + bytes([data[-1] ^ 1]))

    with pytest.raises(InputError, match="files must be as they were saved"):
        load_model(version)


def test_a_key_that_would_land_outside_the_version_is_refused(fitted_binary, bucket, tmp_path):
    import boto3

    version = save_model(fitted_binary, f"{bucket}/store")
    bucket_name, prefix = version.removeprefix("s3://").split("/", 1)
    boto3.client("s3").put_object(Bucket=bucket_name, Key=f"{prefix}/members/../../../escaped", Body=b"x")

    with pytest.raises(InputError, match="names only files inside its own folder"):
        load_model(version)


def test_racing_retrains_on_the_bucket_leave_one_history_and_the_best_challenger_as_champion(table, bucket):  # noqa: F811
    store = f"{bucket}/store"
    old, challengers = race_retrains(table, store)

    assert champion(store) == challengers[1]
    recorded = decisions(store)
    assert [d["sequence"] for d in recorded] == [1, 2]
    assert recorded[1]["champion"] == (str(old) if not recorded[0]["promoted"] else recorded[0]["challenger"])
    assert not storage.exists(f"{store}/.lock")  # released


def test_the_lease_waits_for_a_live_holder_and_takes_over_from_a_dead_one(bucket, monkeypatch):
    from imbalance_flows.tasks.store import lease as lease_module

    monkeypatch.setattr(lease_module, "LEASE_S", 1.5)
    path = f"{bucket}/store/.lock"
    alive, renewals = threading.Event(), []

    def live_holder():  # renews its lease, as a holder's thread does, on no clock but its own
        while not alive.wait(0.3):
            storage.write_bytes(path, json.dumps({"holder": "alive", "renewed": len(renewals)}))
            renewals.append(1)

    storage.write_bytes(path, json.dumps({"holder": "alive"}))
    renewing = threading.Thread(target=live_holder)
    renewing.start()
    try:
        with pytest.raises(InputError, match="the store's lock must be free"):
            with lease(path, wait_s=4):
                pass
    finally:
        alive.set()
        renewing.join()

    stale = lease_module._tag(path)  # the holder died: its lease stays as it was
    storage.write_bytes(path, json.dumps({"holder": "dead"}))
    assert not lease_module._put(path, b"{}", stale)  # a takeover of what is no longer there is refused
    with lease(path, wait_s=10) as held:
        assert lease_module._holder(path) == held.holder
    assert not storage.exists(path)  # released


def test_a_holder_that_lost_its_lease_takes_no_decision_and_leaves_the_new_lease_alone(bucket, monkeypatch):
    from imbalance_flows.tasks.store import lease as lease_module

    monkeypatch.setattr(lease_module, "RENEW_S", 0.2)
    path = f"{bucket}/store/.lock"
    with lease(path) as held:
        held.confirm()  # still ours
        storage.write_bytes(path, json.dumps({"holder": "another"}))  # taken over, as after a long network outage
        deadline = time.monotonic() + 60  # the next renewal finds it out, however loaded the machine
        with pytest.raises(InputError, match="the lock was lost: another writer holds"):
            while time.monotonic() < deadline:
                held.confirm()
                time.sleep(0.1)
    assert lease_module._holder(path) == "another"  # the release did not delete the new holder's lease


def test_of_two_writers_exactly_one_creates_an_object(bucket):
    path = f"{bucket}/race"
    results, start = [], threading.Barrier(8)

    def write(index):
        start.wait()
        results.append(storage.create(path, str(index)))

    threads = [threading.Thread(target=write, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 7 + [True]


def test_an_unknown_scheme_is_refused_and_never_becomes_a_local_path(fitted_binary, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match=r"scheme 'bogus' is none.*s3://"):
        save_model(fitted_binary, "bogus://bucket/store")
    assert os.listdir(tmp_path) == []


def test_a_cloud_scheme_without_its_extra_is_refused_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "gcsfs", None)  # as if not installed
    with pytest.raises(InputError, match=r"gs:// storage needs the 'gcs' extra.*imbalance-flows\[gcs\]"):
        storage.check("gs://bucket/store", "the store")


def test_storage_options_say_what_the_environment_does_not(bucket, s3_server, monkeypatch):
    import fsspec.config

    monkeypatch.setattr(fsspec.config, "conf", {})
    storage.configure({"s3": {"endpoint_url": "http://127.0.0.1:9", "config_kwargs": {
        "retries": {"max_attempts": 1}, "connect_timeout": 2}}})  # nothing listens there
    with pytest.raises(InputError, match="the store must be a folder that can be written"):
        storage.writable(f"{bucket}/store", "the store must be a folder that can be written", "Check it.")
    with pytest.raises(InputError, match=r"storage must be reachable with the credentials given: .*Check the bucket"):
        list_versions(f"{bucket}/store")

    monkeypatch.delenv("AWS_ENDPOINT_URL")
    fsspec.config.conf.clear()
    storage.configure({"s3": {"endpoint_url": s3_server}})
    storage.writable(f"{bucket}/store", "the store must be a folder that can be written", "Check it.")
    storage.write_bytes(f"{bucket}/store/x", b"1")
    assert storage.read_bytes(f"{bucket}/store/x") == b"1"


def test_a_folder_of_class_folders_of_images_in_a_bucket_reads_and_scores_as_a_local_one(bucket, tmp_path):
    import s3fs
    from PIL import Image

    from imbalance_flows.tasks.data.images import (
        is_image_folder,
        iter_image_chunks,
        read_data,
    )

    local = tmp_path / "images"
    for label, count, value in (("red", 5, 200), ("yellow", 2, 90)):
        (local / label).mkdir(parents=True)
        for index in range(count):
            Image.new("L", (4, 3), value + index).save(local / label / f"{index}.png")
    (local / "notes.txt").write_text("not an image")
    s3fs.S3FileSystem().put(f"{local}/", f"{bucket.removeprefix('s3://')}/images/", recursive=True)
    remote = f"{bucket}/images"

    assert is_image_folder(remote) and not is_image_folder(f"{bucket}/images/red/0.png")
    here, here_info = read_data(str(local), "light")
    there, there_info = read_data(remote, "light")
    assert there.equals(here) and there_info == here_info and len(there) == 7
    chunks = list(iter_image_chunks(remote, 4, there_info))
    assert [len(chunk) for chunk in chunks] == [4, 3] and chunks[0]["path"].iloc[0] == "red/0.png"
