"""Keras members for images: a small convolutional network, and transfer from a user's model.

Rows arrive flattened (one pixel value per column, see imbalance_flows.tasks.data.images); each network
starts with a Reshape to (height, width, channels), so these members take the same
2-D input as every other member and vote with, say, a forest on the same pixels.
"""

from __future__ import annotations

import numpy as np

from imbalance_flows.tasks.errors import InputError
from imbalance_flows.tasks.learners.keras_members import KerasClassifier, load_network


def _common(self, loss, focal_gamma, epochs, batch_size, learning_rate, validation_fraction, patience, class_weight,
            random_state, threads, verbose):
    self.loss, self.focal_gamma, self.epochs, self.batch_size = loss, focal_gamma, epochs, batch_size
    self.learning_rate, self.validation_fraction, self.patience = learning_rate, validation_fraction, patience
    self.class_weight, self.random_state, self.threads, self.verbose = class_weight, random_state, threads, verbose


def _check_shape(image_shape, n_features: int, learner: str):
    if image_shape is None or int(np.prod(image_shape)) != n_features:
        raise InputError(f"{learner} needs rows of image pixels", f"rows have {n_features} values, "
                         f"the image shape is {image_shape}", "Load images from class folders or an image column.")
    return tuple(int(v) for v in image_shape)


class KerasCNN(KerasClassifier):
    """A small convolutional network: (conv 3×3 → max-pool) per entry of `filters`, global pooling, head.

    Pixels are normalised per channel with the training rows' statistics. The other
    parameters are those of `tasks.learners.keras_members.KerasMLP`.

    Parameters
    ----------
    image_shape : tuple of int
        (height, width, channels); the member's builder sets it from the schema.
    filters : tuple of int, default=(16, 32)
    dropout : float, default=0.2
    """

    def __init__(self, image_shape=None, filters=(16, 32), dropout=0.2, loss="crossentropy", focal_gamma=2.0,
                 epochs=20, batch_size=64, learning_rate=2e-3, validation_fraction=0.1, patience=5,
                 class_weight=None, random_state=0, threads=1, verbose=0):
        self.image_shape = image_shape
        self.filters = filters
        self.dropout = dropout
        _common(self, loss, focal_gamma, epochs, batch_size, learning_rate, validation_fraction, patience,
                class_weight, random_state, threads, verbose)

    def _network(self, keras, X_fit, n_outputs):
        shape = _check_shape(self.image_shape, X_fit.shape[1], "keras_cnn")
        seed = int(self.random_state)
        images = X_fit.reshape(-1, *shape)
        inputs = keras.Input(shape=(X_fit.shape[1],), name="pixels")
        hidden = keras.layers.Reshape(shape, name="image")(inputs)
        hidden = keras.layers.Normalization(axis=-1, mean=images.mean(axis=(0, 1, 2)),
                                            variance=images.var(axis=(0, 1, 2)), name="normalise")(hidden)
        height, width = shape[:2]
        for i, count in enumerate(self.filters):
            hidden = keras.layers.Conv2D(int(count), 3, padding="same", activation="relu", name=f"conv_{i}",
                                         kernel_initializer=keras.initializers.GlorotUniform(seed=seed + i + 1))(hidden)
            if min(height, width) >= 4:
                hidden = keras.layers.MaxPooling2D(2, name=f"pool_{i}")(hidden)
                height, width = height // 2, width // 2
        hidden = keras.layers.GlobalAveragePooling2D(name="pool")(hidden)
        if self.dropout:
            hidden = keras.layers.Dropout(self.dropout, seed=seed, name="dropout")(hidden)
        return inputs, hidden


class KerasTransfer(KerasClassifier):
    """A user's `.keras` model as a frozen feature extractor, with a new head trained here.

    The file is loaded with safe mode on (no Lambda layers or custom code) and never
    downloaded from anywhere. Its input must take the member's images (height, width,
    channels) or flattened rows of the same size; it receives pixel values 0–255 as
    loaded, so any scaling belongs inside it (a Rescaling layer). Its output, flattened,
    feeds the head. The fitted member's `.keras` file holds the whole network, base
    included: the user's file is not needed to predict.

    Parameters
    ----------
    base_model : str
        Path to a `.keras` file.
    image_shape : tuple of int
        Set from the schema by the member's builder.
    head_units : int, default=64
        Width of the new hidden layer (0: none, straight to the output).
    dropout : float, default=0.2
    fine_tune_layers : int, default=0
        Transfer learning's second half: once the head is trained, the top
        `fine_tune_layers` layers of the base that hold weights are unfrozen and the whole
        is trained on at `fine_tune_learning_rate`, with the same early stopping. 0 keeps
        the base frozen throughout. Batch normalisation in the base keeps its statistics.
    fine_tune_learning_rate : float, default=None
        None: a tenth of `learning_rate`.
    fine_tune_epochs : int, default=None
        None: as many as `epochs`.
    """

    def __init__(self, base_model=None, image_shape=None, head_units=64, dropout=0.2, loss="crossentropy",
                 focal_gamma=2.0, epochs=20, batch_size=64, learning_rate=1e-3, validation_fraction=0.1, patience=5,
                 class_weight=None, random_state=0, threads=1, verbose=0, fine_tune_layers=0,
                 fine_tune_learning_rate=None, fine_tune_epochs=None):
        self.base_model = base_model
        self.image_shape = image_shape
        self.head_units = head_units
        self.dropout = dropout
        self.fine_tune_layers = fine_tune_layers
        self.fine_tune_learning_rate = fine_tune_learning_rate
        self.fine_tune_epochs = fine_tune_epochs
        _common(self, loss, focal_gamma, epochs, batch_size, learning_rate, validation_fraction, patience,
                class_weight, random_state, threads, verbose)

    def _network(self, keras, X_fit, n_outputs):
        if not self.base_model:
            raise InputError("keras_transfer needs a base model file", "learner_params has no base_model",
                             "Set learner_params: {base_model: path/to/model.keras}.")
        base = load_network(self.base_model)
        if len(base.inputs) != 1:
            raise InputError("a base model must take one input", f"{self.base_model!r} takes {len(base.inputs)}",
                             "Save a model with a single image input.")
        wanted = tuple(base.inputs[0].shape[1:])
        if None in wanted or int(np.prod(wanted)) != X_fit.shape[1]:
            raise InputError("a base model's input must match the images",
                             f"{self.base_model!r} takes {wanted}, the images are {self.image_shape}",
                             "Load the images with the size the model expects (CLI: --image-size HEIGHTxWIDTH).")
        base.trainable = False
        self._base = base  # for the fine-tuning phase (not kept: the fitted network holds it)
        seed = int(self.random_state)
        inputs = keras.Input(shape=(X_fit.shape[1],), name="pixels")
        features = base(keras.layers.Reshape(wanted, name="image")(inputs), training=False)
        if len(features.shape) > 2:
            features = keras.layers.Flatten(name="flatten")(features)
        hidden = features
        if self.head_units:
            hidden = keras.layers.Dense(int(self.head_units), activation="relu", name="head",
                                        kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 1))(hidden)
        if self.dropout:
            hidden = keras.layers.Dropout(self.dropout, seed=seed, name="dropout")(hidden)
        return inputs, hidden

    def _check_params(self):
        super()._check_params()
        layers = self.fine_tune_layers
        if not isinstance(layers, int) or isinstance(layers, bool) or layers < 0:
            raise InputError("keras_transfer's `fine_tune_layers` must be a whole number ≥ 0", f"it is {layers!r}",
                             "Use 0 to keep the base frozen, or e.g. 2 to fine-tune its top two layers.")
        for name in ("fine_tune_learning_rate", "fine_tune_epochs"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0
                                      or (name == "fine_tune_epochs" and not isinstance(value, int))):
                raise InputError(f"keras_transfer's `{name}` must be a positive number", f"it is {value!r}",
                                 "Leave it out for the default.")

    def _fine_tune(self, keras, model, binary: bool) -> int:
        base = self.__dict__.pop("_base")
        if not self.fine_tune_layers:
            return 0
        weighted = [layer for layer in base.layers if layer.weights]
        base.trainable = True
        for layer in weighted[:max(len(weighted) - self.fine_tune_layers, 0)]:
            layer.trainable = False
        for layer in base.layers:  # batch normalisation keeps the statistics the base was trained with
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.trainable = False
        rate = self.fine_tune_learning_rate or self.learning_rate / 10
        model.compile(optimizer=keras.optimizers.Adam(rate), loss=self._loss(keras, binary))
        return int(self.fine_tune_epochs or self.epochs)
