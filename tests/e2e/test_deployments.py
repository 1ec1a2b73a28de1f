"""Deployments end to end against a real Prefect server: schedule, runs through the API, champion/challenger."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from imbalance_flows.tasks.store.champion import decisions
from imbalance_flows.tasks.store.model_store import champion, load_model
from tests.e2e.conftest import (
    ROOT,
    api_client,
    drifted_batches,
    prefect_server,
    run_deployment,
    serving_every_minute,
    start,
    stop,
    wait_for,
)

WEAK = [{"sampler": "none", "learner": "logreg"}]
STRONG = [{"sampler": "smote", "learner": "hgb", "sampling_strategy": 0.5}]


def retrain_config(served, members, **extra) -> dict:
    base = served["deployments"]["retrain"]["parameters"]["config"]
    return {**base, "train": {**base["train"], "members": members}, **extra}


def test_serve_registers_three_deployments_and_a_weekly_schedule(served):
    assert set(served["deployments"]) == {"train", "retrain", "predict"}
    schedules = served["deployments"]["retrain"]["schedules"]
    assert [(s["schedule"]["cron"], s["schedule"]["timezone"]) for s in schedules] == [("0 3 * * 1", "Europe/Berlin")]
    assert served["deployments"]["train"]["parameter_openapi_schema"]["properties"]["config"]


def test_champion_challenger_promotes_only_a_better_model(served):
    store = served["store"]
    assert run_deployment(served, "retrain", retrain_config(served, WEAK))["type"] == "COMPLETED"
    first = champion(store)
    assert first is not None  # the first retrain promotes

    assert run_deployment(served, "retrain", retrain_config(served, STRONG))["type"] == "COMPLETED"
    second = champion(store)
    assert second != first

    assert run_deployment(served, "retrain", retrain_config(served, WEAK))["type"] == "COMPLETED"
    assert champion(store) == second  # a worse challenger is not promoted
    recorded = decisions(store)
    assert [d["promoted"] for d in recorded] == [True, True, False]
    assert [d["sequence"] for d in recorded] == [1, 2, 3]
    assert all(d["challenger_metrics"]["balanced_accuracy"] is not None for d in recorded)
    assert recorded[2]["champion_metrics"]["balanced_accuracy"] > recorded[2]["challenger_metrics"]["balanced_accuracy"]


def test_a_schedule_makes_the_server_create_runs_that_serve_executes(tmp_path, churn_small):
    """Not only registered: the server's scheduler creates SCHEDULED runs, and `serve` runs one when it is due."""
    store = tmp_path / "models"
    with serving_every_minute(tmp_path / "home", churn_small, store) as (client, log):
        deployment = wait_for(lambda: (r := client.get("/deployments/name/retrain/retrain")).is_success and r.json(),
                              what="the retrain deployment")

        def runs(*states):
            found = client.post("/flow_runs/filter", json={"flow_runs": {
                "deployment_id": {"any_": [deployment["id"]]}, "state": {"type": {"any_": list(states)}}}}).json()
            return [run for run in found if run["auto_scheduled"]]

        scheduled = wait_for(lambda: runs("SCHEDULED"), timeout=180, what="the scheduler's runs")
        assert all(run["state"]["name"] == "Scheduled" for run in scheduled)
        done = wait_for(lambda: runs("COMPLETED", "FAILED", "CRASHED"), timeout=400, interval=0.5,
                        what="a scheduled run to be executed by serve")
        assert done[0]["state_type"] == "COMPLETED", log.read_text()[-3000:]
        assert champion(store) is not None


def test_predict_deployment_scores_with_the_champion(served, churn_small, tmp_path):
    import pandas as pd

    if champion(served["store"]) is None:
        assert run_deployment(served, "retrain", retrain_config(served, STRONG))["type"] == "COMPLETED"
    out = tmp_path / "scores.parquet"
    config = {**served["deployments"]["predict"]["parameters"]["config"], "out": str(out), "chunk_rows": 400}
    assert run_deployment(served, "predict", config)["type"] == "COMPLETED"
    scores = pd.read_parquet(out)
    assert len(scores) == len(pd.read_parquet(served["labelled"]))  # every batch of the folder
    assert set(scores["model_version"]) == {champion(served["store"]).name}


def test_a_drifted_batch_starts_a_retrain_and_a_steady_one_does_not(served, churn_small, tmp_path_factory):
    """predict emits imbalance-flows.drift.detected; the retrain deployment's trigger (prefect.yaml) acts on it."""
    client, retrain = served["client"], served["deployments"]["retrain"]
    assert [t["name"] for t in client.get(f"/automations/related-to/prefect.deployment.{retrain['id']}").json()] \
        == ["retrain on drift"]
    found = drifted_batches(served, churn_small, tmp_path_factory)
    folder = found["folder"]
    assert json.loads((folder / "drifted-scores.drift.json").read_text())["drifted_features"][0] == "total_day_minutes"
    assert not json.loads((folder / "steady-scores.drift.json").read_text())["drift"]
    assert found["retrain"]["state_type"] == "COMPLETED"
    # The retrain the drift started trained on the grown folder: the drifted batch's labelled rows too.
    record = next(d for d in reversed(decisions(served["store"])) if d.get("metric"))
    rows = {role: json.loads((Path(record[role]) / "manifest.json").read_text())["data"]["rows"]
            for role in ("challenger", "champion")}
    assert rows["challenger"] == 3000 and rows["champion"] == 1500
    time.sleep(5)
    assert len(found["started_by_automation"]()) == 1  # the steady batch, scored first, started none


def test_killed_retrain_leaves_the_champion_intact(served, churn_small, tmp_path):
    store = served["store"]
    if champion(store) is None:
        assert run_deployment(served, "retrain", retrain_config(served, STRONG))["type"] == "COMPLETED"
    before = champion(store)
    config = tmp_path / "slow.yaml"
    config.write_text("members:\n  - {sampler: none, learner: rf, learner_params: {n_estimators: 5000}}\n")
    process = subprocess.Popen(
        [sys.executable, "flows/retrain.py", str(churn_small), "--target", "churn", "--store", str(store),
         "--config", str(config)], cwd=ROOT, env={**os.environ, "PREFECT_API_URL": served["api"]},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    # The member's own log lines come when it has finished; the flow's line says its training began.
    wait_for(lambda: any(line and "Training 1 members" in line for line in iter(process.stderr.readline, "")),
             timeout=120, what="member training to start")
    time.sleep(1)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)

    assert champion(store) == before
    load_model(before).predict(__import__("pandas").read_csv(churn_small).head())


def test_prefect_yaml_deploys_to_a_process_pool_that_a_worker_runs(tmp_path, churn_small):
    """`prefect deploy --all` with deployments/prefect.yaml, then a run picked up by a process worker."""
    (tmp_path / "home").mkdir()
    with prefect_server(tmp_path / "home") as api:
        env = {**os.environ, "PREFECT_API_URL": api, "PREFECT_HOME": str(tmp_path / "home")}
        prefect = [str(Path(sys.executable).with_name("prefect")), "--no-prompt"]
        subprocess.run([*prefect, "work-pool", "create", "imbalance-flows", "--type", "process"], cwd=ROOT, env=env,
                       check=True, capture_output=True)
        subprocess.run([*prefect, "deploy", "--all", "--prefect-file", "deployments/prefect.yaml"], cwd=ROOT, env=env,
                       check=True, capture_output=True, timeout=300)
        client = api_client(api)
        retrain = client.get("/deployments/name/retrain/retrain").json()
        assert [(s["schedule"]["cron"], s["schedule"]["timezone"]) for s in retrain["schedules"]] == [("0 3 * * 1", "UTC")]
        assert retrain["work_pool_name"] == "imbalance-flows"

        # The worker asks for runs every PREFECT_WORKER_QUERY_SECONDS, 10 by default.
        worker = start([*prefect, "worker", "start", "--pool", "imbalance-flows"], cwd=ROOT,
                       env={**env, "PREFECT_WORKER_QUERY_SECONDS": "1"}, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        try:
            train = client.get("/deployments/name/train/train").json()
            config = {"data": str(churn_small), "target": "churn", "store": str(tmp_path / "store"),
                      "members": [{"sampler": "class_weight", "learner": "logreg"}]}
            run = client.post(f"/deployments/{train['id']}/create_flow_run", json={"parameters": {"config": config}})
            run = run.raise_for_status().json()
            state = wait_for(lambda: (s := client.get(f"/flow_runs/{run['id']}").json()["state"])["type"] in
                             ("COMPLETED", "FAILED", "CRASHED") and s, timeout=300, interval=0.5,
                             what="the worker's run")
            assert state["type"] == "COMPLETED"
            assert len(list((tmp_path / "store" / "versions").iterdir())) == 1
        finally:
            stop(worker)  # a worker may sit out SIGTERM while it polls; its run was checked: SIGKILL then
