"""Tiny hand-built tables and small fast ensembles shared by the unit tests."""

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from imbalance_flows.tasks.model.ensemble import VotingEnsemble

# Two members that fit in well under a second: one weighting, one over-sampling.
FAST_MEMBERS = [
    {"sampler": "class_weight", "learner": "logreg"},
    {"sampler": "random_over", "learner": "hgb", "learner_params": {"max_iter": 30}},
]


def mixed_table(counts=(40, 12), seed=0) -> pd.DataFrame:
    """Two numeric features, one categorical, and a string label; class i has counts[i] rows.

    The classes are separable but overlap, so every learner gets something right and something wrong.
    """
    rng = np.random.default_rng(seed)
    parts = []
    for code, n in enumerate(counts):
        parts.append(pd.DataFrame({
            "num": rng.normal(loc=1.5 * code, size=n),
            "size": rng.uniform(0, 10, size=n),
            "colour": rng.choice(["red", "blue"] if code == 0 else ["blue", "green"], size=n),
            "label": f"class{code}" if len(counts) > 2 else ("common", "rare")[code],
        }))
    return pd.concat(parts, ignore_index=True).sample(frac=1.0, random_state=seed).reset_index(drop=True)


@pytest.fixture(scope="session", autouse=True)
def one_thread_per_library():
    """Tiny data gains nothing from OpenMP or BLAS threads; on a busy machine they cost ~10 ms a call."""
    with threadpool_limits(limits=1):
        yield


@pytest.fixture
def fast_members() -> list[dict]:
    """A fresh copy of the two fast members."""
    return [dict(member) for member in FAST_MEMBERS]


@pytest.fixture(scope="session")
def binary_table() -> pd.DataFrame:
    """52 rows: 40 'common', 12 'rare'."""
    return mixed_table((40, 12))


@pytest.fixture(scope="session")
def fitted_binary(binary_table) -> VotingEnsemble:
    """A weighted ensemble fitted on `binary_table` (shared: do not refit or mutate it)."""
    X, y = binary_table.drop(columns="label"), binary_table["label"]
    return VotingEnsemble(members=FAST_MEMBERS, random_state=0).fit(X, y)


@pytest.fixture(scope="session")
def fitted_multiclass() -> VotingEnsemble:
    """A weighted ensemble fitted on three classes of 30, 15 and 8 rows (shared: do not mutate it)."""
    table = mixed_table((30, 15, 8), seed=1)
    return VotingEnsemble(members=FAST_MEMBERS, random_state=0).fit(
        table.drop(columns="label"), table["label"])
