"""The champion online: `imbalance-flows serve-model` as a real uvicorn server on 127.0.0.1, asked over HTTP."""

import json
import socket
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from imbalance_flows.tasks.store.model_store import champion, promote
from tests.e2e.conftest import ROOT, run_cli, start, stop, wait_for

CLI = str(Path(sys.executable).with_name("imbalance-flows"))


@pytest.fixture(scope="module")
def store(churn_small, prefect_api, tmp_path_factory):
    """A store with two versions of the model `churn`, the first of them its champion (trained against the
    session's Prefect server: no temporary server for each)."""
    store = tmp_path_factory.mktemp("online") / "models"
    for member in ("class_weight:logreg", "random_under:rf"):
        result = run_cli("train", churn_small, "--target", "churn", "--member", member, "--store", store,
                         "--model", "churn", api_url=prefect_api)
        assert result.returncode == 0, result.stderr[-3000:]
    first, second = sorted((store / "versions").iterdir())
    promote(store, first)
    return store, first, second


@pytest.fixture(scope="module")
def served(store, tmp_path_factory):
    folder, first, _ = store
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = open(tmp_path_factory.mktemp("serve-model") / "server.log", "w")
    server = start([CLI, "serve-model", "churn", "--store", folder, "--port", port, "--max-mib", "1"], cwd=ROOT,
                   stdout=log, stderr=subprocess.STDOUT)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)

    def healthy():
        try:
            return client.get("/health").json()
        except httpx.HTTPError:
            assert server.poll() is None, Path(log.name).read_text()[-3000:]
            return None

    assert wait_for(healthy, timeout=120, what="serve-model")["version"] == first.name
    yield client, Path(log.name)
    stop(server, grace=10)
    log.close()


def rows(churn_small, count: int) -> list[dict]:
    frame = pd.read_csv(churn_small).drop(columns="churn").head(count)
    return json.loads(frame.to_json(orient="records"))


def test_rows_get_labels_and_calibrated_probabilities_from_the_champion(served, store, churn_small):
    client, _ = served
    described = client.get("/model").json()
    assert described["model"] == "churn" and described["version"] == store[1].name
    assert described["target"] == "churn" and described["classes"] == ["no", "yes"]
    sent = rows(churn_small, 50)
    assert [column["name"] for column in described["columns"]] == list(sent[0])

    answer = client.post("/predict", json={"rows": sent})

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["version"] == store[1].name and len(body["predictions"]) == 50
    from imbalance_flows import load_model

    expected = load_model(store[1]).predict_proba(pd.read_csv(churn_small).drop(columns="churn").head(50))
    got = [[p["probabilities"]["no"], p["probabilities"]["yes"]] for p in body["predictions"]]
    np.testing.assert_allclose(got, expected, atol=1e-9)  # what predict_proba gives in-process
    assert client.post("/predict", json=sent[:3]).status_code == 200  # the list of rows alone


@pytest.mark.parametrize("change, status, message", [
    (lambda row: {k: v for k, v in row.items() if k != "account_length"}, 422, r"row 1 has no \['account_length'\]"),
    (lambda row: {**row, "account_length": "long"}, 422, r"column 'account_length' holds numbers: row 1 has 'long'"),
    (lambda row: {**row, "account_length": [1, 2]}, 422, r"column 'account_length' holds numbers"),
    (lambda row: {**row, "international_plan": {"a": 1}}, 422, r"column 'international_plan' holds categories"),
    (lambda row: {**row, "account_length": 10 ** 400}, 422, r"within ±3.4e\+38 .*: row 1 has a 401-digit integer in "
                                                             r"'account_length'"),
])
def test_a_row_that_does_not_fit_the_schema_is_a_422_naming_the_column(served, churn_small, change, status, message):
    import re

    client, _ = served
    sent = rows(churn_small, 3)
    sent[1] = change(sent[1])
    answer = client.post("/predict", json={"rows": sent})
    assert answer.status_code == status and re.search(message, answer.json()["error"]), answer.text


def test_malformed_and_oversized_bodies_are_refused_and_unseen_categories_are_scored_and_logged(served, churn_small):
    client, log = served
    assert client.post("/predict", content=b"{not json", headers={"content-type": "application/json"}
                       ).status_code == 422
    for empty in ({"rows": []}, []):
        answer = client.post("/predict", json=empty)
        assert answer.status_code == 422 and "got no rows" in answer.json()["error"], answer.text
    big = client.post("/predict", content=b"[" + b" " * (2 * 2**20) + b"]",
                      headers={"content-type": "application/json"})
    assert big.status_code == 413 and "at most 1.0 MiB" in big.json()["error"]
    sent = rows(churn_small, 2)
    sent[0]["international_plan"] = "lifetime"
    assert client.post("/predict", json={"rows": sent}).status_code == 200
    assert wait_for(lambda: "lifetime" in log.read_text(), timeout=10, what="the unseen category in the log")


def test_a_champion_promoted_while_requests_run_is_served_after_with_no_request_failed(served, store, churn_small):
    client, _ = served
    folder, first, second = store
    sent = {"rows": rows(churn_small, 5)}
    failures, versions, stop_asking = [], [], threading.Event()

    def ask():
        while not stop_asking.is_set():
            answer = client.post("/predict", json=sent)
            (versions if answer.status_code == 200 else failures).append(
                answer.json()["version"] if answer.status_code == 200 else answer.text)

    askers = [threading.Thread(target=ask) for _ in range(2)]
    for thread in askers:
        thread.start()
    try:
        promote(folder, second)  # the champion of `churn`, which the service follows
        assert champion(folder, "churn") == second and champion(folder) is None
        wait_for(lambda: versions and versions[-1] == second.name, timeout=30, what="the new champion served")
    finally:
        stop_asking.set()
        for thread in askers:
            thread.join()
    assert failures == []
    assert versions[-1] == second.name and client.get("/health").json()["version"] == second.name
