"""The command line with data, store and scores in a bucket of a real S3 API server: nothing written locally."""

import os

import pandas as pd
import pytest

from tests.e2e.conftest import run_cli


@pytest.fixture
def staged(bucket, churn_small) -> str:
    """The small churn table in the bucket, as Parquet."""
    url = f"{bucket}/data/churn.parquet"
    pd.read_csv(churn_small).to_parquet(url, index=False)
    return url


def test_train_promote_predict_and_report_with_everything_in_the_bucket(staged, bucket, prefect_api, tmp_path):
    store = f"{bucket}/store"

    # The flows run against the session's Prefect server: a temporary server per command is tested elsewhere.
    trained = run_cli("train", staged, "--target", "churn", "--store", store, "--member", "class_weight:logreg",
                      "--member", "random_under:rf", api_url=prefect_api, cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr[-3000:]
    version = trained.stdout.strip().splitlines()[-1]
    assert version.startswith(f"{store}/versions/")
    name = version.rsplit("/", 1)[-1]

    promoted = run_cli("models", "promote", name, "--store", store, cwd=tmp_path)
    assert promoted.returncode == 0, promoted.stderr[-2000:]
    listed = run_cli("models", "list", "--store", store, cwd=tmp_path)
    assert f"* {name}" in listed.stdout

    scores = f"{bucket}/scores/churn.parquet"
    predicted = run_cli("predict", "champion", staged, "--store", store, "--out", scores, api_url=prefect_api,
                        cwd=tmp_path)
    assert predicted.returncode == 0, predicted.stderr[-3000:]
    scored = pd.read_parquet(scores)
    assert len(scored) == 1500 and {"predicted_churn", "proba_yes", "model_version"} <= set(scored.columns)
    assert set(scored["model_version"]) == {name}
    assert pd.read_json(f"{bucket}/scores/churn.drift.json", typ="series")["rows"] == 1500

    report = run_cli("report", "champion", "--store", store, "--examples", "2", cwd=tmp_path)
    assert report.returncode == 0 and f"Model {name}" in report.stdout, report.stderr[-2000:]

    retrained = run_cli("retrain", staged, "--target", "churn", "--store", store, "--member", "class_weight:logreg",
                        api_url=prefect_api, cwd=tmp_path)
    assert retrained.returncode == 0, retrained.stderr[-3000:]
    assert "judged on" in retrained.stdout
    assert os.listdir(tmp_path) == []  # nothing under a look-alike local name (`s3:`), nothing at all


def test_a_bucket_without_the_s3_extra_is_refused_naming_the_extra(tmp_path, churn_small):
    blocked = tmp_path / "blocked"
    blocked.mkdir()
    (blocked / "s3fs.py").write_text("raise ImportError('s3fs is not installed')\n")  # as if it were not
    result = run_cli("train", churn_small, "--target", "churn", "--store", "s3://bucket/store", cwd=tmp_path,
                     env={"PYTHONPATH": str(blocked)})

    assert result.returncode != 0
    assert "s3:// storage needs the 's3' extra" in result.stderr and 'imbalance-flows[s3]' in result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(os.listdir(tmp_path)) == ["blocked"]


def test_an_unknown_scheme_is_an_error_line_not_a_local_folder(tmp_path, churn_small):
    result = run_cli("predict", "champion", churn_small, "--store", "bogus://bucket/store", "--out", "out.parquet",
                     cwd=tmp_path)

    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "scheme 'bogus' is none" in result.stderr
    assert os.listdir(tmp_path) == []
