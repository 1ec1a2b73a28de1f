"""A `.keras` network planted in a saved version with a Lambda layer is refused, and its code never runs."""

import numpy as np
import pandas as pd
import pytest

from imbalance_flows import VotingEnsemble, load_model
from imbalance_flows.tasks.errors import InputError
from imbalance_flows.tasks.store.model_store import save_model
from tests.keras.conftest import FEW_EPOCHS
from tests.unit.test_store import rewrite_digests


def test_a_network_with_a_lambda_layer_is_refused_and_runs_nothing(tmp_path):
    from imbalance_flows.tasks.learners.keras_members import keras_module

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(120, 3)), columns=list("abc"))
    y = np.where(X["a"] > 0.8, "rare", "common")
    members = [{"sampler": "class_weight", "learner": "keras_mlp", "learner_params": FEW_EPOCHS}]
    # Held-out judging rows: the network fits once (not once per fold and once more); only its file matters here.
    ensemble = VotingEnsemble(members=members, random_state=0, validation="holdout").fit(X, y)
    version = save_model(ensemble, tmp_path / "store")
    network = next((version / "members").glob("*.keras"))

    keras = keras_module()
    marker = tmp_path / "ran"
    inputs = keras.Input(shape=(3,))
    # Loading this layer without safe mode would run its code: here, create the marker file.
    command = f"touch {marker}"
    payload = keras.layers.Lambda(lambda x: x + 0 * len(__import__("os").popen(command).read()))
    hidden = payload(inputs)
    keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(hidden)).save(network)
    rewrite_digests(version)  # an editor who also rewrote the manifest: the network itself is refused
    marker.unlink()  # building the layer ran it once; loading must not

    with pytest.raises(InputError, match="a Keras model file must be a valid .keras archive that loads in safe mode"):
        load_model(version)
    assert not marker.exists()
