"""The networks behind `+gan`: a conditional VAE and a conditional WGAN-GP, for coded rows or images.

Used only by `generative.GenerativeAugmenter`, while a member is fitted; nothing here is
saved. Every random draw (batches, noise) comes from the caller's NumPy generator and
every layer has a seeded initialiser, so the same rows and seed give the same model,
even with other members training in threads beside it.
"""

from __future__ import annotations

import numpy as np

from imbalance_flows.tasks.learners.keras_members import configure_threads, keras_module

HIDDEN = 128  # units of the dense layers
VALUE_SCALE = 0.1  # the VAE's noise on a coded number (TVAE starts its learnt scale here)
PENALTY = 10.0  # WGAN-GP's gradient penalty weight
TAU = 0.2  # Gumbel-softmax temperature of generated choices (as CTGAN)
LOG_EVERY = 50  # steps between recorded losses


class ConditionalGenerator:
    """A generative model of coded rows given their class.

    Parameters
    ----------
    model : {"vae", "gan"}
    spans : list of generative.Span
        The coded row's parts: numbers in [-1, 1] ("value") and one-hot choices ("choice").
    width : int
        Length of a coded row.
    n_classes : int
    image_shape : tuple of int or None
        (height, width, channels) for images: convolutional networks, outputs in [-1, 1].
    latent_dim, learning_rate, threads, seed
    """

    def __init__(self, model: str, spans, width: int, n_classes: int, image_shape=None, latent_dim: int = 16,
                 learning_rate: float = 1e-3, threads: int = 1, seed: int = 0):
        self.keras = keras_module()
        configure_threads(threads)
        self.model, self.spans, self.width, self.n_classes = model, spans, width, n_classes
        self.image_shape, self.latent_dim, self.learning_rate = image_shape, latent_dim, learning_rate
        self._seed = seed
        self.decoder = self._decoder()
        self.encoder = self._encoder(2 * latent_dim if model == "vae" else 1)

    # -- networks ------------------------------------------------------------------------

    def _init(self):
        self._seed += 1
        return self.keras.initializers.GlorotUniform(seed=self._seed)

    def _dense(self, x, units, activation="relu"):
        layer = self.keras.layers.Dense(units, kernel_initializer=self._init())(x)
        if activation == "leaky":
            return self.keras.layers.LeakyReLU(0.2)(layer)
        return self.keras.layers.Activation(activation)(layer) if activation else layer

    def _decoder(self):
        """(noise, class) → a raw coded row (activated by `_activate`) or an image in [-1, 1]."""
        layers = self.keras.layers
        noise, cond = layers.Input((self.latent_dim,)), layers.Input((self.n_classes,))
        x = layers.Concatenate()([noise, cond])
        if self.image_shape is None:
            x = self._dense(self._dense(x, HIDDEN), HIDDEN)
            return self.keras.Model([noise, cond], self._dense(x, self.width, None))
        height, width, channels = self.image_shape
        small = (-(-height // 4), -(-width // 4))
        x = layers.Reshape((*small, 32))(self._dense(x, small[0] * small[1] * 32))
        for filters in (32, 16):
            x = layers.Conv2DTranspose(filters, 3, strides=2, padding="same", activation="relu",
                                       kernel_initializer=self._init())(x)
        x = layers.Conv2D(channels, 3, padding="same", activation="tanh", kernel_initializer=self._init())(x)
        x = layers.Cropping2D(((0, 4 * small[0] - height), (0, 4 * small[1] - width)))(x)
        return self.keras.Model([noise, cond], x)

    def _encoder(self, outputs: int):
        """(coded row or image, class) → the VAE's mean and log-variance, or the critic's score."""
        layers = self.keras.layers
        shape = (self.width,) if self.image_shape is None else tuple(self.image_shape)
        rows, cond = layers.Input(shape), layers.Input((self.n_classes,))
        activation = "leaky" if self.model == "gan" else "relu"
        if self.image_shape is None:
            x = layers.Concatenate()([rows, cond])
        else:
            x = rows
            for filters in (16, 32):
                x = layers.Conv2D(filters, 3, strides=2, padding="same", kernel_initializer=self._init())(x)
                x = layers.LeakyReLU(0.2)(x) if activation == "leaky" else layers.Activation("relu")(x)
            x = layers.Concatenate()([layers.Flatten()(x), cond])
        x = self._dense(self._dense(x, HIDDEN, activation), HIDDEN, activation)
        return self.keras.Model([rows, cond], self._dense(x, outputs, None))

    def _activate(self, raw, uniform=None):
        """Numbers through tanh; choices through softmax (or Gumbel-softmax when `uniform` noise is given)."""
        import tensorflow as tf

        if self.image_shape is not None:
            return raw
        parts = []
        for span in self.spans:
            part = raw[:, span.start:span.start + span.width]
            if span.kind == "value":
                parts.append(tf.tanh(part))
            else:
                if uniform is not None:
                    gumbel = -tf.math.log(-tf.math.log(uniform[:, span.start:span.start + span.width] + 1e-20) + 1e-20)
                    part = (part + gumbel) / TAU
                parts.append(tf.nn.softmax(part))
        return tf.concat(parts, axis=1)

    # -- training ------------------------------------------------------------------------

    def fit(self, coded: np.ndarray, positions: np.ndarray, steps: int, batch_size: int,
            rng: np.random.RandomState) -> list[float]:
        """Train for `steps` class-balanced batches; return the loss every LOG_EVERY steps."""
        import tensorflow as tf

        coded = np.asarray(coded, dtype=np.float32)
        by_class = [np.flatnonzero(positions == k) for k in range(self.n_classes)]
        present = [k for k, rows in enumerate(by_class) if len(rows)]
        eye = np.eye(self.n_classes, dtype=np.float32)
        step = tf.function(self._vae_step if self.model == "vae" else self._gan_step, reduce_retracing=True)
        optimisers = self._optimisers()
        for optimiser, network in zip(optimisers, self._trained_by()):
            optimiser.build(network)  # variables made here, not inside the traced step
        losses, recent = [], []
        for number in range(steps):
            classes = rng.choice(present, size=batch_size)
            rows = np.array([by_class[k][rng.randint(len(by_class[k]))] for k in classes])
            noise = self._noise(batch_size, rng)
            loss = step(coded[rows], eye[classes], *noise, *optimisers)
            recent.append(float(loss))
            if not np.isfinite(recent[-1]):
                losses.append(recent[-1])
                break
            if (number + 1) % LOG_EVERY == 0 or number + 1 == steps:
                losses.append(float(np.mean(recent)))
                recent = []
        return losses

    def _optimisers(self):
        adam = self.keras.optimizers.Adam
        if self.model == "vae":
            return (adam(self.learning_rate),)
        return adam(self.learning_rate, beta_1=0.5, beta_2=0.9), adam(self.learning_rate, beta_1=0.5, beta_2=0.9)

    def _trained_by(self) -> list:
        """The weights each optimiser updates, in the order of `_optimisers`."""
        if self.model == "vae":
            return [self.encoder.trainable_variables + self.decoder.trainable_variables]
        return [self.encoder.trainable_variables, self.decoder.trainable_variables]

    def _noise(self, n: int, rng: np.random.RandomState) -> tuple:
        latent = rng.standard_normal((n, self.latent_dim)).astype(np.float32)
        if self.model == "vae":
            return (latent,)
        uniform = rng.random_sample((n, self.width)).astype(np.float32)
        return latent, uniform, rng.random_sample((n, 1)).astype(np.float32)

    def _reconstruction(self, real, raw):
        import tensorflow as tf

        if self.image_shape is not None:
            return tf.reduce_sum(tf.square(real - raw), axis=[1, 2, 3]) / (2 * VALUE_SCALE ** 2)
        loss = 0.0
        for span in self.spans:
            target = real[:, span.start:span.start + span.width]
            part = raw[:, span.start:span.start + span.width]
            if span.kind == "value":
                loss += tf.reduce_sum(tf.square(target - tf.tanh(part)), axis=1) / (2 * VALUE_SCALE ** 2)
            else:
                loss += -tf.reduce_sum(target * tf.nn.log_softmax(part), axis=1)
        return loss

    def _vae_step(self, real, cond, eps, optimiser):
        import tensorflow as tf

        with tf.GradientTape() as tape:
            stats = self.encoder([real, cond], training=True)
            mean, log_var = stats[:, :self.latent_dim], tf.clip_by_value(stats[:, self.latent_dim:], -10, 10)
            raw = self.decoder([mean + tf.exp(0.5 * log_var) * eps, cond], training=True)
            divergence = -0.5 * tf.reduce_sum(1 + log_var - tf.square(mean) - tf.exp(log_var), axis=1)
            loss = tf.reduce_mean(self._reconstruction(real, raw) + divergence)
        weights = self.encoder.trainable_variables + self.decoder.trainable_variables
        optimiser.apply_gradients(zip(tape.gradient(loss, weights), weights))
        return loss

    def _gan_step(self, real, cond, latent, uniform, mix, critic_optimiser, generator_optimiser):
        import tensorflow as tf

        critic, generator = self.encoder, self.decoder
        fake = self._activate(generator([latent, cond], training=True), uniform)
        with tf.GradientTape() as tape:
            shape = [-1] + [1] * (len(real.shape) - 1)
            between = tf.reshape(mix, shape) * real + (1 - tf.reshape(mix, shape)) * fake
            with tf.GradientTape() as inner:
                inner.watch(between)
                score = critic([between, cond], training=True)
            slopes = tf.norm(tf.reshape(inner.gradient(score, between), [tf.shape(real)[0], -1]) + 1e-12, axis=1)
            critic_loss = (tf.reduce_mean(critic([fake, cond], training=True))
                           - tf.reduce_mean(critic([real, cond], training=True))
                           + PENALTY * tf.reduce_mean(tf.square(slopes - 1)))
        critic_optimiser.apply_gradients(zip(tape.gradient(critic_loss, critic.trainable_variables),
                                             critic.trainable_variables))
        with tf.GradientTape() as tape:
            fake = self._activate(generator([latent, cond], training=True), uniform)
            generator_loss = -tf.reduce_mean(critic([fake, cond], training=True))
        generator_optimiser.apply_gradients(zip(tape.gradient(generator_loss, generator.trainable_variables),
                                                generator.trainable_variables))
        return critic_loss

    # -- drawing -------------------------------------------------------------------------

    def sample(self, positions: np.ndarray, rng: np.random.RandomState, like: np.ndarray | None = None) -> np.ndarray:
        """Coded rows (or images) of the given class positions; choices as probabilities.

        With `like` (one coded real row of the same class per row asked for), the VAE
        draws each row's code from the encoder's posterior of that real row rather than
        from the prior: new rows stay near their class, where the prior's samples can
        fall between classes. The GAN has no encoder and always draws from its prior.
        """
        eye = np.eye(self.n_classes, dtype=np.float32)
        out = []
        for start in range(0, len(positions), 1024):
            classes = positions[start:start + 1024]
            latent = rng.standard_normal((len(classes), self.latent_dim)).astype(np.float32)
            if like is not None and self.model == "vae":
                stats = np.asarray(self.encoder([like[start:start + 1024], eye[classes]], training=False))
                log_var = np.clip(stats[:, self.latent_dim:], -10, 10)
                latent = stats[:, :self.latent_dim] + np.exp(0.5 * log_var) * latent
            raw = self.decoder([latent, eye[classes]], training=False)
            out.append(np.asarray(self._activate(raw)))
        return np.concatenate(out) if out else np.zeros((0, self.width), np.float32)
