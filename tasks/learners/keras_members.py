"""Keras members: scikit-learn classifiers over small Keras 3 networks.

TensorFlow takes about 5 s to import, so nothing here imports it (or Keras, which
imports it) at module level: a run without Keras members never pays for it.

The estimators follow scikit-learn's conventions (`__init__` only stores arguments,
fitted attributes end in `_`, `predict_proba` returns one column per class in
`classes_`), so they vote beside scikit-learn members. Keras 3's own
`SKLearnClassifier` has no `predict_proba`, hence these wrappers.

Threads. TensorFlow's intra-op and inter-op thread pools belong to the process and
can be sized only before its runtime starts. Members fitted side by side run in
threads of one process, so they share those pools: `configure_threads` sizes them
once, from the first Keras member's share of the cores, and later members live with
that (a log line says so when they asked for another size). See bench/keras_parallel.py
for the measurements behind the defaults.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from pathlib import Path

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from imbalance_flows.tasks.errors import InputError
from imbalance_flows.tasks.narrow import row_sums

LOSSES = ("crossentropy", "focal")
logger = logging.getLogger(__name__)
_threads_lock = threading.Lock()
_import_lock = threading.Lock()
_threads_configured: tuple[int, int] | None = None


def keras_module():
    """Import Keras (and so TensorFlow) on first use, quietly."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import sys

    with _import_lock:  # one redirection of standard error at a time (members start side by side)
        if "keras" not in sys.modules:
            with _start_up_chatter_dropped():
                import keras  # noqa: F401
    return sys.modules["keras"]


# What TensorFlow's native code prints while it starts, before its log level applies: on CPUs where oneDNN's
# custom operations are on (AVX-512 BF16/FP16), absl writes its INFO lines to standard error before
# TF_CPP_MIN_LOG_LEVEL is read.
_CHATTER = (b"All log messages before absl::InitializeLog()", b"oneDNN custom operations are on")


@contextlib.contextmanager
def _start_up_chatter_dropped():
    """Standard error (the file descriptor, where native code writes) goes through a pipe while the block runs,
    then everything but TensorFlow's start-up lines is written on; other threads' output is delayed, not lost."""
    import sys

    try:
        sys.stderr.flush()
        saved = os.dup(2)
        read, write = os.pipe()
    except (OSError, ValueError):  # no standard error to redirect
        yield
        return
    os.dup2(write, 2)
    os.close(write)
    chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: chunks.extend(iter(lambda: os.read(read, 1 << 16), b"")), daemon=True)
    reader.start()
    try:
        yield
    finally:
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        reader.join()
        os.close(read)
        kept = [line for line in b"".join(chunks).splitlines(keepends=True)
                if not any(marker in line for marker in _CHATTER)]
        if kept:
            os.write(2, b"".join(kept))


def configure_threads(intra_op: int, inter_op: int | None = None) -> tuple[int, int]:
    """Size TensorFlow's thread pools for this process, once; return the sizes in force.

    A member asks for `intra_op` threads (its share of the cores); `inter_op` defaults
    to 1 because a small network's graph has little to run side by side, and every
    extra pool thread competes with the members beside it. 0 keeps TensorFlow's own
    choice (a pool as large as the machine, for each). Once TensorFlow has started
    its runtime the sizes cannot change: later calls return the sizes in force.
    """
    global _threads_configured
    intra_op = int(intra_op)
    inter_op = (1 if intra_op else 0) if inter_op is None else int(inter_op)
    with _threads_lock:
        if _threads_configured is None:
            keras_module()
            import tensorflow as tf

            try:
                tf.config.threading.set_intra_op_parallelism_threads(intra_op)
                tf.config.threading.set_inter_op_parallelism_threads(inter_op)
            except RuntimeError:  # The runtime was started before us (by the user's own code).
                logger.info("TensorFlow was already initialised; its thread pools keep their sizes")
            _threads_configured = (tf.config.threading.get_intra_op_parallelism_threads(),
                                   tf.config.threading.get_inter_op_parallelism_threads())
        elif _threads_configured[0] != intra_op:
            logger.info("TensorFlow's intra-op pool already has %s thread(s) in this process (0: its default); "
                        "a member asked for %s", _threads_configured[0], intra_op)
        return _threads_configured


def _dense(X) -> np.ndarray:
    return np.asarray(X.toarray() if sparse.issparse(X) else X, dtype=np.float32)


def stratified_holdout(y, fraction: float, random_state: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Row positions (fit, held out) with `fraction` of every class held out, or None.

    None when a class has fewer than 2 rows: early stopping then watches the training loss.
    """
    y = np.asarray(y)
    labels, counts = np.unique(y, return_counts=True)
    if fraction <= 0 or counts.min() < 2:
        return None
    rng = np.random.default_rng(random_state)
    held = []
    for label, count in zip(labels, counts):
        rows = rng.permutation(np.flatnonzero(y == label))
        held.append(rows[:min(count - 1, max(1, int(round(fraction * count))))])
    held = np.sort(np.concatenate(held))
    return np.setdiff1d(np.arange(len(y)), held), held


class KerasClassifier(ClassifierMixin, BaseEstimator):
    """What every Keras member shares: targets, losses, class weights, early stopping, predict_proba.

    Subclasses write `_network(keras, X_fit, n_outputs)`, which returns the layers from
    inputs to the last hidden layer. Two classes get one sigmoid unit and binary
    (focal) cross-entropy; more get a softmax and categorical (focal) cross-entropy.
    """

    suffix = ".keras"  # its network's file, beside the member's (see imbalance_flows.tasks.learners.registry.NativeModel)

    def save_native(self, path) -> None:
        """Write the fitted network in Keras's native format."""
        save_network(self, path)

    def load_native(self, path) -> None:
        """Load the network in safe mode: no code from the file runs."""
        self.model_ = load_network(path)

    def _network(self, keras, X_fit: np.ndarray, n_outputs: int):  # pragma: no cover - abstract
        raise NotImplementedError

    def _check_params(self):
        if self.loss not in LOSSES:
            raise InputError(f"a Keras member's loss must be one of {', '.join(LOSSES)}", f"it is {self.loss!r}",
                             "Use loss: focal in learner_params for focal loss, or leave the default.")
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InputError(f"a Keras member's `{name}` must be a positive integer", f"it is {value!r}",
                                 f"Use e.g. {30 if name == 'epochs' else 256}.")

    def _loss(self, keras, binary: bool):
        if self.loss == "focal":
            if binary:
                return keras.losses.BinaryFocalCrossentropy(gamma=self.focal_gamma)
            return keras.losses.CategoricalFocalCrossentropy(gamma=self.focal_gamma)
        return keras.losses.BinaryCrossentropy() if binary else keras.losses.SparseCategoricalCrossentropy()

    def _targets(self, positions: np.ndarray):
        """Targets in the form the loss wants: 0/1, class positions, or one-hot (multi-class focal)."""
        if len(self.classes_) == 2:
            return positions.astype(np.float32)
        if self.loss == "focal":
            return np.eye(len(self.classes_), dtype=np.float32)[positions]
        return positions

    # In a pipeline, the rows that stop training early are routed to the learner (see fit_member).
    __metadata_request__fit = {"X_val": True, "y_val": True}

    def fit(self, X, y, X_val=None, y_val=None):
        """Fit on rows `X` (2-D) and class codes `y`, stopping early on a held-out part.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_rows, n_features)
        y : array-like of shape (n_rows,)
        X_val, y_val : array-like, optional
            Rows that decide when to stop. Without them, `validation_fraction` of each
            class is held out of `X` (a member passes rows held out before any
            resampling, so that no copy of a training row decides the stop).
        """
        keras = keras_module()
        self._check_params()
        configure_threads(self.threads)
        X, y = _dense(X), np.asarray(y)
        self.classes_ = np.unique(y)
        if len(self.classes_) < 2:
            raise InputError("a Keras member needs rows of at least two classes",
                             f"it got only class {self.classes_.tolist()}", "Check the member's sampler.")
        self.n_features_in_ = X.shape[1]
        if X_val is None:
            split = stratified_holdout(y, self.validation_fraction, self.random_state)
            if split is not None:
                fit_rows, held = split
                X_val, y_val = X[held], y[held]
                X, y = X[fit_rows], y[fit_rows]
        positions = np.searchsorted(self.classes_, y)
        weights = None
        if self.class_weight is not None:
            weights = {i: float(self.class_weight.get(c, self.class_weight.get(int(c), 1.0)))
                       for i, c in enumerate(self.classes_.tolist())}

        binary = len(self.classes_) == 2
        inputs, hidden = self._network(keras, X, len(self.classes_))
        seed = int(self.random_state)
        outputs = keras.layers.Dense(1 if binary else len(self.classes_), name="output",
                                     activation="sigmoid" if binary else "softmax",
                                     kernel_initializer=keras.initializers.GlorotUniform(seed=seed))(hidden)
        model = keras.Model(inputs, outputs, name=type(self).__name__.lower())
        model.compile(optimizer=keras.optimizers.Adam(self.learning_rate), loss=self._loss(keras, binary))

        monitor, fit_kwargs = "loss", {}
        if X_val is not None:
            X_val, y_val = _dense(X_val), np.asarray(y_val)
            known = np.isin(y_val, self.classes_)
            X_val, y_val = X_val[known], np.searchsorted(self.classes_, y_val[known])
            if len(y_val):
                # The stopping loss is weighted like the training loss, or it would favour the majority.
                val_weights = (np.ones(len(y_val), np.float32) if weights is None
                               else np.array([weights[p] for p in y_val], np.float32))
                fit_kwargs["validation_data"] = (X_val, self._targets(y_val), val_weights)
                monitor = "val_loss"
        def train(epochs: int) -> dict:
            stop = keras.callbacks.EarlyStopping(monitor=monitor, patience=self.patience, restore_best_weights=True)
            history = model.fit(self._dataset(X, self._targets(positions), seed), epochs=epochs,
                                class_weight=weights, callbacks=[stop], verbose=self.verbose, shuffle=False,
                                **fit_kwargs)
            return {key: [float(v) for v in values] for key, values in history.history.items()}

        self.history_ = train(self.epochs)
        self.n_epochs_ = len(self.history_.get("loss", []))
        epochs = self._fine_tune(keras, model, binary)
        if epochs:  # a second phase, on more of the network at a lower learning rate
            self.fine_tune_history_ = train(epochs)
            self.n_epochs_ += len(self.fine_tune_history_.get("loss", []))
        self.model_ = model
        return self

    def _fine_tune(self, keras, model, binary: bool) -> int:
        """Prepare `model` for a second phase of training and return its epochs; 0: no second phase."""
        return 0

    def _dataset(self, X, targets, seed: int):
        """Batches reshuffled each epoch with a fixed seed: the same data gives the same network.

        Keras's own shuffling draws from TensorFlow's global seed, which members fitted
        in threads side by side would share; an op-level seed keeps each member's own.
        """
        import tensorflow as tf

        data = tf.data.Dataset.from_tensor_slices((X, targets))
        return data.shuffle(len(X), seed=seed, reshuffle_each_iteration=True).batch(self.batch_size)

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, one column per class in `classes_`."""
        check_is_fitted(self, "model_")
        X = _dense(X)
        # Eager calls in chunks: `model.predict` would trace a new function for every member.
        step = 4096
        scores = np.concatenate([np.asarray(self.model_(X[start:start + step], training=False), dtype=float)
                                 for start in range(0, max(len(X), 1), step)])
        if len(self.classes_) == 2:
            scores = np.column_stack([1 - scores[:, 0], scores[:, 0]])
        return scores / row_sums(scores)[:, None]

    def predict(self, X) -> np.ndarray:
        """The most probable class."""
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


class KerasMLP(KerasClassifier):
    """A dense network for tables, normalised with its training rows' statistics.

    Parameters
    ----------
    hidden_units : tuple of int, default=(64, 32)
    dropout : float, default=0.1
    loss : {"crossentropy", "focal"}, default="crossentropy"
        Focal loss (binary or categorical focal cross-entropy) down-weights the easy,
        mostly majority, rows.
    focal_gamma : float, default=2.0
    epochs : int, default=30
        At most; early stopping usually ends sooner.
    batch_size : int, default=256
    learning_rate : float, default=1e-3
    validation_fraction : float, default=0.1
        Share of each class held out for early stopping when `fit` gets no validation data.
    patience : int, default=5
    class_weight : dict, default=None
        Weight per class code (the `class_weight` strategy sets it).
    random_state : int, default=0
    threads : int, default=1
        TensorFlow threads this member asks for (see `configure_threads`).
    verbose : int, default=0
    """

    def __init__(self, hidden_units=(64, 32), dropout=0.1, loss="crossentropy", focal_gamma=2.0, epochs=30,
                 batch_size=256, learning_rate=1e-3, validation_fraction=0.1, patience=5, class_weight=None,
                 random_state=0, threads=1, verbose=0):
        self.hidden_units = hidden_units
        self.dropout = dropout
        self.loss = loss
        self.focal_gamma = focal_gamma
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.class_weight = class_weight
        self.random_state = random_state
        self.threads = threads
        self.verbose = verbose

    def _network(self, keras, X_fit, n_outputs):
        seed = int(self.random_state)
        inputs = keras.Input(shape=(X_fit.shape[1],), name="features")
        # Statistics of the rows this member is fitted on, and nothing else.
        hidden = keras.layers.Normalization(mean=X_fit.mean(axis=0), variance=X_fit.var(axis=0),
                                            name="normalise")(inputs)
        for i, units in enumerate(self.hidden_units):
            hidden = keras.layers.Dense(int(units), activation="relu", name=f"hidden_{i}",
                                        kernel_initializer=keras.initializers.GlorotUniform(seed=seed + i + 1))(hidden)
            if self.dropout:
                hidden = keras.layers.Dropout(self.dropout, seed=seed + i + 1, name=f"dropout_{i}")(hidden)
        return inputs, hidden


def save_network(estimator: KerasClassifier, path: str | os.PathLike) -> None:
    """Write a fitted Keras member's network in Keras's native `.keras` format."""
    estimator.model_.save(str(path), include_optimizer=False)


def load_network(path: str | os.PathLike):
    """Load a `.keras` file with safe mode on (no code from the file runs), for inference."""
    path = Path(path)
    if not path.is_file():
        raise InputError("a Keras member's network file must exist", f"{str(path)!r} was not found",
                         "The saved model is incomplete: retrain it.")
    keras = keras_module()
    try:
        return keras.models.load_model(path, compile=False, safe_mode=True)
    except Exception as error:  # Keras raises many types for a damaged or foreign file.
        reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
        raise InputError("a Keras model file must be a valid .keras archive that loads in safe mode",
                         f"{str(path)!r} does not ({reason})",
                         "Save it with model.save('name.keras') from Keras 3, without Lambda layers.") from error
