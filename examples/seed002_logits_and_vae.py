"""Seed 002: train on logits, predict probabilities; and a VAE whose loss reads the encoder's tensors.

1. The seed's convolutional autoencoder ends in a *linear* layer (then a bilinear resize, here a
   ``keras.layers.Resizing`` instead of a ``Lambda``) and trains on those logits with ``sigmoid_bce``,
   the logits-safe binary cross-entropy. ``lossreg.inference_model(ae, activation="sigmoid")`` is the
   seed's ``inference_model``: the same weights with a sigmoid on top, for plotting and prediction.
2. The seed's second question, "how do I use several outputs in a custom loss, like the KL divergence of
   a VAE": the encoder's ``z_mean`` and ``z_log_var`` layers are wired into ``vae_kl`` by name with
   ``lossreg.attach``, beside the reconstruction loss. Sampling is a small serializable layer (no
   ``Lambda``), and the trained model saves and reloads without ``custom_objects``.
3. The same VAE with a KL weight that changes during training, as spec data on the ``kl`` term: a linear
   warm-up after a delay (KL annealing: the decoder learns to reconstruct before the KL term pulls the
   posterior to the prior, against posterior collapse), or cyclical annealing (Fu et al. 2019: the warm-up
   repeated ``cycles`` times, each cycle rising for ``ratio`` of its length, then holding 1). The weight is
   logged as ``kl_weight`` (per batch, the batch's own weight; per epoch, the latest batch's), and equals
   ``lossreg.schedule_value(weight, optimizer.iterations)``.

Run: ``python examples/seed002_logits_and_vae.py``.
"""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np

import lossreg


@keras.saving.register_keras_serializable(package="lossreg_examples")
class Sampling(keras.layers.Layer):
    """The reparameterisation trick: ``z = z_mean + exp(z_log_var / 2) * eps``, ``eps ~ N(0, I)``.

    Draws ``z`` in training; returns ``z_mean`` otherwise, so that ``predict`` and ``evaluate`` give
    deterministic reconstructions (the posterior mean).
    """

    def __init__(self, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        z_mean, z_log_var = inputs
        if not training:
            return z_mean
        eps = keras.random.normal(keras.ops.shape(z_mean), seed=self.seed_generator)
        return z_mean + keras.ops.exp(0.5 * z_log_var) * eps

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape[0]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "seed": self.seed}


def synthetic_images(samples: int = 64, size: int = 12, seed: int = 0) -> np.ndarray:
    """Binary images ``(samples, size, size, 1)``, each one filled rectangle at a random place."""
    rng = np.random.default_rng(seed)
    images = np.zeros((samples, size, size, 1), "float32")
    for image in images:
        r0, c0 = rng.integers(0, size // 2, 2)
        r1, c1 = rng.integers(size // 2 + 1, size + 1, 2)
        image[r0:r1, c0:c1] = 1.0
    return images


def build_autoencoder(size: int = 12, latent: int = 16, seed: int = 0) -> keras.Model:
    """The seed's convolutional encoder and decoder; the last layer is linear: the model returns logits."""
    keras.utils.set_random_seed(seed)
    enc_in = keras.Input((size, size, 1), name="enc_in")
    x = keras.layers.Conv2D(8, 3)(enc_in)
    x = keras.layers.LeakyReLU()(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(16, 3)(x)
    x = keras.layers.LeakyReLU()(x)
    z = keras.layers.Dense(latent, name="z")(keras.layers.Flatten()(x))
    half = size // 2
    x = keras.layers.Dense(half * half * 8)(z)
    x = keras.layers.LeakyReLU()(x)
    x = keras.layers.Reshape((half, half, 8))(x)
    x = keras.layers.Conv2D(16, 3, padding="same")(x)
    x = keras.layers.LeakyReLU()(x)
    x = keras.layers.UpSampling2D()(x)
    x = keras.layers.Conv2D(1, 3, activation="linear")(x)  # (size - 2, size - 2, 1)
    logits = keras.layers.Resizing(size, size, interpolation="bilinear", name="logits")(x)  # the seed's resize
    return keras.Model(enc_in, logits, name="ae")


def build_vae(size: int = 12, latent: int = 2, hidden: int = 32, seed: int = 0) -> tuple[keras.Model, keras.Model]:
    """A dense VAE: ``z_mean`` and ``z_log_var`` layers, ``Sampling``, and a decoder to logits.

    Returns the VAE (image -> ``{"recon": logits}``) and its decoder (latent -> logits), which share weights.
    """
    keras.utils.set_random_seed(seed)
    latent_in = keras.Input((latent,), name="latent")
    d = keras.layers.Dense(hidden, activation="relu")(latent_in)
    d = keras.layers.Dense(size * size)(d)
    decoder = keras.Model(latent_in, keras.layers.Reshape((size, size, 1))(d), name="decoder")

    image = keras.Input((size, size, 1), name="image")
    h = keras.layers.Dense(hidden, activation="relu")(keras.layers.Flatten()(image))
    z_mean = keras.layers.Dense(latent, name="z_mean")(h)
    z_log_var = keras.layers.Dense(latent, name="z_log_var")(h)
    z = Sampling(seed=seed, name="sampling")([z_mean, z_log_var])
    return keras.Model(image, {"recon": decoder(z)}, name="vae"), decoder


def vae_spec(size: int) -> dict[str, Any]:
    """Reconstruction plus KL, the negative ELBO per sample.

    ``sigmoid_bce`` is a mean over pixels, so its weight ``size * size`` makes it the per-image sum of the
    ELBO; ``vae_kl`` reads the two encoder layers by name, and needs no target.
    """
    return {
        "recon": {"loss": "sigmoid_bce", "weight": float(size * size)},
        "kl": {"loss": "vae_kl", "inputs": {"z_mean": "z_mean", "z_log_var": "z_log_var"}},
    }


def kl_warmup(total_steps: int) -> dict[str, Any]:
    """KL weight 0 for the first eighth of training, then rising linearly to 1 over the next half, then 1."""
    return {"schedule": "linear", "start": 0.0, "end": 1.0, "steps": total_steps // 2, "delay": total_steps // 8}


def kl_cyclical(total_steps: int, cycles: int = 4) -> dict[str, Any]:
    """Fu et al. 2019's cyclical annealing: ``cycles`` cycles over training, each rising 0 -> 1 for its first half."""
    return {"schedule": "cyclical", "start": 0.0, "end": 1.0, "steps": total_steps, "cycles": cycles, "ratio": 0.5}


def annealed_vae_spec(size: int, kl_weight: dict[str, Any]) -> dict[str, Any]:
    """:func:`vae_spec` with a changing weight on the KL term (a schedule, as spec data)."""
    spec = vae_spec(size)
    spec["kl"]["weight"] = kl_weight
    return spec


class WeightLog(keras.callbacks.Callback):
    """Records ``logs[key]`` after every batch, and the optimizer's iteration count after every epoch."""

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key
        self.per_batch: list[float] = []
        self.iterations: list[int] = []

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        self.per_batch.append(float(logs[self.key]))

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        self.iterations.append(int(keras.ops.convert_to_numpy(self.model.optimizer.iterations)))


def train_kl_schedule(
    kl_weight: dict[str, Any], samples: int = 64, size: int = 12, batch_size: int = 16, epochs: int = 3
) -> dict[str, Any]:
    """Train the VAE with ``kl_weight`` (a schedule) on the ``kl`` term; return what was logged and the model.

    ``kl_weight`` per batch comes from a callback, per epoch from ``History``, after training from ``evaluate``
    (which does not advance the step: it uses the weight of the last training step).
    """
    x = synthetic_images(samples, size)
    vae, _ = build_vae(size)
    train = lossreg.attach(vae, annealed_vae_spec(size, kl_weight))
    train.compile(optimizer=keras.optimizers.Adam(3e-3))
    log = WeightLog("kl_weight")
    history = train.fit(
        x, {"recon": x}, batch_size=batch_size, epochs=epochs, shuffle=False, verbose=0, callbacks=[log]
    )
    return {
        "x": x,
        "vae": vae,
        "train": train,
        "history": history.history,
        "per_batch_weight": log.per_batch,
        "iterations_per_epoch": log.iterations,
        "evaluate": train.evaluate(x, {"recon": x}, batch_size=samples, verbose=0, return_dict=True),
    }


def main(samples: int = 64, size: int = 12, batch_size: int = 16, epochs: int = 3, verbose: int = 0) -> dict[str, Any]:
    """Train the autoencoder on logits and the VAE with ``attach``; return the models, data and results."""
    x = synthetic_images(samples, size)

    # 1. Train on logits, predict probabilities with the same weights.
    ae = build_autoencoder(size)
    ae.compile(optimizer=keras.optimizers.Adam(3e-3), loss=lossreg.get("sigmoid_bce"))
    ae_history = ae.fit(x, x, batch_size=batch_size, epochs=epochs, shuffle=False, verbose=verbose)
    ae_probabilities = lossreg.inference_model(ae, activation="sigmoid")

    # 2. A VAE: reconstruction on the "recon" output, KL on the z_mean / z_log_var layers.
    vae, decoder = build_vae(size)
    train = lossreg.attach(vae, vae_spec(size))
    train.compile(optimizer=keras.optimizers.Adam(3e-3))
    vae_history = train.fit(x, {"recon": x}, batch_size=batch_size, epochs=epochs, shuffle=False, verbose=verbose)
    generator = lossreg.inference_model(decoder, activation="sigmoid")  # latent -> images, shared weights

    return {
        "x": x,
        "ae": ae,
        "ae_probabilities": ae_probabilities,
        "ae_history": ae_history.history,
        "ae_evaluate": ae.evaluate(x, x, batch_size=samples, verbose=0, return_dict=True),
        "vae": vae,
        "vae_train": train,
        "generator": generator,
        "vae_history": vae_history.history,
        "vae_evaluate": train.evaluate(x, {"recon": x}, batch_size=samples, verbose=0, return_dict=True),
    }


def _ascii(image: np.ndarray) -> list[str]:
    return ["".join("#" if v > 0.5 else "." for v in row) for row in image[..., 0]]


if __name__ == "__main__":
    result = main(epochs=20, verbose=0)
    print(
        "Autoencoder trained on logits with sigmoid_bce, loss every 5 epochs:",
        " -> ".join(f"{v:.4f}" for v in result["ae_history"]["loss"][::5]),
    )
    probabilities = result["ae_probabilities"].predict(result["x"][:1], verbose=0)
    print(f"inference_model(activation='sigmoid') outputs in [{probabilities.min():.3f}, {probabilities.max():.3f}]")
    print("  input          reconstruction")
    for a, b in zip(_ascii(result["x"][0]), _ascii(probabilities[0]), strict=True):
        print(f"  {a}   {b}")
    print("VAE trained with lossreg.attach(vae, " + repr(vae_spec(result["x"].shape[1])) + "), every 5 epochs:")
    for key, values in result["vae_history"].items():
        print(f"  {key:20s} " + " -> ".join(f"{v:.3f}" for v in values[::5]))
    samples = result["generator"].predict(np.random.default_rng(1).normal(size=(2, 2)), verbose=0)
    print("two images generated from z ~ N(0, I):")
    for a, b in zip(_ascii(samples[0]), _ascii(samples[1]), strict=True):
        print(f"  {a}   {b}")
    total = 20 * 4  # 20 epochs of 64 samples in batches of 16
    for title, weight in (("KL warm-up", kl_warmup(total)), ("cyclical KL annealing", kl_cyclical(total))):
        run = train_kl_schedule(weight, epochs=20)
        print(f"{title}: the 'kl' term's weight {weight}; per epoch (History):")
        for key in ("kl_weight", "kl_loss", "recon_loss"):
            print(f"  {key:12s} " + " ".join(f"{v:.2f}" for v in run["history"][key]))
        steps = run["iterations_per_epoch"]
        expected = [lossreg.schedule_value(weight, t) for t in steps]
        print(f"  lossreg.schedule_value(weight, optimizer.iterations) at {steps[0]}, {steps[1]}, ..., {steps[-1]}:")
        print("  " + " " * 13 + " ".join(f"{v:.2f}" for v in expected))
