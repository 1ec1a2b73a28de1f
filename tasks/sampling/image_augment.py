"""Synthetic minority images made with Keras preprocessing layers.

The augmenter is an imbalanced-learn over-sampler, like the tabular one: inside a
member's pipeline it acts only while the member is fitted, on the training split,
after any resampling (so `random_under@0.5+image:keras_cnn` first cuts the
majority, then grows the minority classes with transformed copies of their own
images). TensorFlow is imported only when it runs.
"""

from __future__ import annotations

import numpy as np
from imblearn.over_sampling.base import BaseOverSampler
from sklearn.utils import check_random_state

from imbalance_flows.tasks.errors import InputError
from imbalance_flows.tasks.sampling import IMAGE_TRANSFORMS
from imbalance_flows.tasks.sampling.resample import over_targets

TRANSFORMS = IMAGE_TRANSFORMS


class ImageAugmenter(BaseOverSampler):
    """Grow the smaller classes with randomly transformed copies of their images.

    Parameters
    ----------
    transforms : tuple of str, default=("rotation", "translation", "zoom", "contrast")
        Any of "flip" (left-right), "rotation" (± factor × 180°), "translation" and
        "zoom" (± factor of the height and width), "contrast" (× 1 ± factor). Choose
        those that keep the class: a mirrored digit is no longer a digit.
    factor : float, default=0.1
    ratio : float, default=1.0
        Grow every class to at least `ratio` × the largest class of the rows received.
    image_shape : tuple of int
        (height, width, channels) of the flattened rows.
    random_state : int or None
    """

    _parameter_constraints = {**BaseOverSampler._parameter_constraints}
    method = "image"  # as TabularAugmenter's `method`, for logs

    def __init__(self, transforms=("rotation", "translation", "zoom", "contrast"), factor=0.1, ratio=1.0,
                 image_shape=None, random_state=None):
        super().__init__(sampling_strategy="auto")
        self.transforms = transforms
        self.factor = factor
        self.ratio = ratio
        self.image_shape = image_shape
        self.random_state = random_state

    def _layers(self, seed: int):
        from imbalance_flows.tasks.learners.keras_members import keras_module

        keras = keras_module()
        layers, f = keras.layers, float(self.factor)
        make = {
            "flip": lambda: layers.RandomFlip("horizontal", seed=seed),
            "rotation": lambda: layers.RandomRotation(f / 2, fill_mode="nearest", seed=seed + 1),
            "translation": lambda: layers.RandomTranslation(f, f, fill_mode="nearest", seed=seed + 2),
            "zoom": lambda: layers.RandomZoom(f, f, fill_mode="nearest", seed=seed + 3),
            "contrast": lambda: layers.RandomContrast(f, value_range=(0, 255), seed=seed + 4),
        }
        return [make[name]() for name in self.transforms]

    def _check(self, n_features: int):
        unknown = [t for t in self.transforms if t not in TRANSFORMS]
        if unknown or not self.transforms:
            raise InputError(f"image transforms must be among {', '.join(TRANSFORMS)}",
                             f"got {list(self.transforms)!r}", "Use e.g. transforms: [rotation, zoom].")
        if self.image_shape is None or int(np.prod(self.image_shape)) != n_features:
            raise InputError("image augmentation needs rows of image pixels",
                             f"rows have {n_features} values, images are {self.image_shape}",
                             "Use +jitter or +mixup on tables; load images from class folders.")

    def _fit_resample(self, X, y):
        X, y = np.asarray(X, dtype=np.float32), np.asarray(y)
        self._check(X.shape[1])
        rng = check_random_state(self.random_state)
        layers = self._layers(int(rng.randint(2**31 - 1)))
        labels, counts = np.unique(y, return_counts=True)
        wanted = over_targets(dict(zip(labels.tolist(), counts.tolist())), self.ratio)
        new_rows, new_labels = [X], [y]
        for label, n_have in zip(labels.tolist(), counts.tolist()):
            n_new = wanted[label] - n_have
            if n_new <= 0:
                continue
            rows = X[y == label][rng.randint(n_have, size=n_new)]
            new_rows.append(self._transform(layers, rows))
            new_labels.append(np.full(n_new, label, dtype=y.dtype))
        return np.vstack(new_rows), np.concatenate(new_labels)

    def _transform(self, layers, rows: np.ndarray) -> np.ndarray:
        out = []
        for start in range(0, len(rows), 512):
            images = rows[start:start + 512].reshape(-1, *self.image_shape)
            for layer in layers:
                images = layer(images, training=True)
            out.append(np.clip(np.asarray(images), 0, 255).reshape(len(images), -1))
        return np.vstack(out)
