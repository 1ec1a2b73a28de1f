"""Keras members: small data, few epochs. Flow tests here use the session's Prefect server (tests/conftest.py)."""

import numpy as np
import pandas as pd
import pytest

from tests.conftest import BUNDLED

FEW_EPOCHS = {"epochs": 4, "patience": 2}


@pytest.fixture(scope="session")
def churn_600() -> tuple[pd.DataFrame, pd.Series]:
    """600 rows of the bundled churn table: binary, numeric and categorical features."""
    frame = pd.read_parquet(BUNDLED / "churn.parquet").sample(600, random_state=1).reset_index(drop=True)
    return frame.drop(columns="churn"), frame["churn"]


@pytest.fixture(scope="session")
def blobs() -> tuple[np.ndarray, np.ndarray]:
    """Three well separated, imbalanced classes (200/60/20 rows) in 4 numeric features."""
    rng = np.random.default_rng(0)
    sizes = (200, 60, 20)
    X = np.vstack([rng.normal(loc=3 * k, size=(n, 4)) for k, n in enumerate(sizes)])
    y = np.repeat(np.arange(3), sizes)
    return X, y


@pytest.fixture(scope="session")
def digits_folder(tmp_path_factory):
    """scikit-learn's digits as class folders of PNGs, digits 3, 8, 9 rare (20 images each)."""
    from imbalance_flows.tasks.bundled.make_digits import make_digits

    root = tmp_path_factory.mktemp("digits")
    make_digits(root, rare=(3, 8, 9), keep=20)
    return root
