"""The retrain flow on data that grows: the champion is judged on rows it never saw, so a better challenger wins."""

from pathlib import Path

import pandas as pd
import pytest

from imbalance_flows.flows.config import RetrainConfig, TrainConfig
from imbalance_flows.flows.retrain import retrain
from imbalance_flows.tasks.model.spec import default_members
from imbalance_flows.tasks.store.champion import decisions, metrics_of
from imbalance_flows.tasks.store.model_store import champion, load_model


def test_a_retrain_on_grown_data_judges_on_unseen_rows_and_promotes_only_a_challenger_shown_better(bundled, tmp_path):
    churn = pd.read_parquet(bundled / "churn.parquet")
    first, grown = tmp_path / "first.parquet", tmp_path / "grown.parquet"
    churn.iloc[:4000].to_parquet(first)
    churn.to_parquet(grown)  # rows 0–4,999: the champion's 4,000 and 1,000 new ones
    store = tmp_path / "models"

    def run(data):
        return retrain(RetrainConfig(train=TrainConfig(data=str(data), target="churn", store=str(store),
                                                       members=default_members())))

    assert run(first)["promoted"]
    incumbent = champion(store)
    decision = run(grown)

    holdout = decision["holdout_rows"]
    assert holdout == 1000 and decision["excluded_champion_rows"] > 200  # many holdout rows trained the champion
    assert decision["judged_rows"] == holdout - decision["excluded_champion_rows"]
    # On its own training rows the champion looks far better than on the unseen rows it is judged on.
    flattering = metrics_of(load_model(incumbent), churn.iloc[:4000])["balanced_accuracy"]
    assert decision["champion_metrics"]["balanced_accuracy"] < flattering - 0.05
    comparison = decision["comparison"]  # the same rows for both: the difference, and how sure it is
    assert comparison["rows"] == decision["judged_rows"] and comparison["low"] <= comparison["difference"]
    assert comparison["difference"] == pytest.approx(decision["challenger_metrics"]["balanced_accuracy"]
                                                     - decision["champion_metrics"]["balanced_accuracy"])
    assert decision["promoted"] == (comparison["low"] > 0), decision["reason"]
    assert champion(store) == (Path(decision["challenger"]) if decision["promoted"] else incumbent)
    assert [d["sequence"] for d in decisions(store)] == [1, 2]
    # The champion's score on each fresh batch, kept as a table and a plot beside the decisions.
    decay = (store / "decisions" / "decay.md").read_text()
    assert f"| 2 | {decision['time']} | balanced_accuracy | `{incumbent.name}` | " \
           f"{decision['champion_metrics']['balanced_accuracy']:.4f} |" in decay
    assert "| 1 |" in decay and "| `none` | – |" in decay
    assert (store / "decisions" / "decay.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [d["sequence"] for d in decisions(store)] == [1, 2]  # the decay files are not decisions


def test_two_named_models_in_one_store_retrain_against_their_own_champions(bundled, tmp_path):
    from imbalance_flows.tasks.model.spec import MemberSpec
    from imbalance_flows.tasks.store.versions import list_versions, resolve_version

    store, cheap = tmp_path / "models", [MemberSpec.parse("class_weight:logreg")]
    churn = bundled / "churn.parquet"
    hpc = bundled / "hpc.parquet"

    def run(data, target, model):
        return retrain(RetrainConfig(train=TrainConfig(data=str(data), target=target, store=str(store), model=model,
                                                       members=cheap)))

    assert run(churn, "churn", "churn")["promoted"]
    assert run(hpc, "class", "hpc")["promoted"]  # its own first champion: churn's is no rival
    again = run(churn, "churn", "churn")  # the same data again: the tie keeps churn's champion
    assert not again["promoted"] and again["model"] == "churn"
    assert again["champion"] == str(champion(store, "churn"))
    assert {row["model"] for row in list_versions(store)} == {"churn", "hpc"}
    assert resolve_version(store, "hpc") == champion(store, "hpc") != champion(store, "churn")
    assert champion(store) is None  # nothing was trained as the default model
    assert [d["model"] for d in decisions(store)] == ["churn", "hpc", "churn"]
    assert "| 2 |" not in (store / "decisions" / "decay-churn.md").read_text()  # hpc's decision is not churn's


def test_a_labelled_batch_added_to_a_growing_folder_drifts_and_the_retrain_trains_on_it_too(bundled, tmp_path):
    import json

    from imbalance_flows.flows.config import PredictConfig
    from imbalance_flows.flows.predict import predict
    from imbalance_flows.tasks.model.spec import MemberSpec

    churn = pd.read_parquet(bundled / "churn.parquet")
    folder, store = tmp_path / "labelled", tmp_path / "models"
    folder.mkdir()
    churn.iloc[:3000].to_parquet(folder / "batch-0001.parquet")
    config = RetrainConfig(train=TrainConfig(data=str(folder), target="churn", store=str(store),
                                             members=[MemberSpec.parse("class_weight:logreg")]))
    assert retrain(config)["promoted"]
    first = json.loads((champion(store) / "manifest.json").read_text())["data"]["rows"]
    assert first == 3000

    batch = churn.iloc[3000:4000].assign(total_day_minutes=lambda f: f["total_day_minutes"] * 1.5)
    batch.to_parquet(folder / "batch-0002.parquet")  # a new labelled batch lands in the folder
    scored = predict(PredictConfig(data=str(folder / "batch-0002.parquet"), out=str(tmp_path / "scores.parquet"),
                                   store=str(store)))
    assert scored["drift"]["drifted_features"] == ["total_day_minutes"]
    decision = retrain(config)  # what the drift event starts: the same parameters, the folder grown
    trained = json.loads((Path(decision["challenger"]) / "manifest.json").read_text())["data"]["rows"]
    assert trained == 4000 > first
    assert decision["judged_rows"] > 0
