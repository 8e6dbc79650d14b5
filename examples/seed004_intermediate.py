"""Seed 004: one loss over the target, an intermediate layer and the output.

The loss: ``mse(target, deconv1) + bce(target, output)``.

The seed's workaround feeds the target as a model input, computes the loss in a ``Lambda`` layer, clears the
private ``model._losses`` and ``add_loss``-es the Lambda's output, with a separate "predict" model. Two
lossreg ways, the same loss (``mse_bce``: ``mse(y_true, aux) + bce(y_true, y_pred)``):

1. ``lossreg.attach``: the spec names the intermediate layer; targets are passed to ``fit`` as usual, the
   seed's plain ``yield images, masks`` generator works unchanged, and the model itself stays the
   prediction model::

       {"complex": {"loss": "mse_bce", "on": "output", "inputs": {"aux": "deconv1"}}}

2. The seed's hand-built style, kept but made clean: the target is a model input and
   ``lossreg.LossLayer("mse_bce", name="complex_loss")([target, deconv1, output])`` adds the loss (no
   ``Lambda``, no private attributes, serializable), logged as ``complex_loss``.

Run: ``python examples/seed004_intermediate.py``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np

import lossreg

SPEC = {"complex": {"loss": "mse_bce", "on": "output", "inputs": {"aux": "deconv1"}}}


def _layers(image: Any) -> tuple[Any, Any]:
    """The seed's network: two strided conv branches, concatenated, a transposed conv back up, a sigmoid map."""
    branch1 = keras.layers.Conv2D(8, 3, strides=4, padding="same", activation="relu", name="branch1")(image)
    branch2 = keras.layers.Conv2D(8, 3, strides=4, padding="same", activation="relu", name="branch2")(image)
    concat1 = keras.layers.Concatenate(name="concat1")([branch1, branch2])
    deconv1 = keras.layers.Conv2DTranspose(1, 3, strides=4, padding="same", activation="relu", name="deconv1")(concat1)
    output = keras.layers.Conv2D(1, 1, activation="sigmoid", name="output")(deconv1)
    return deconv1, output


def build_model(size: int = 16, seed: int = 0) -> keras.Model:
    """The plain model (image -> mask): what ``attach`` trains and what predicts."""
    keras.utils.set_random_seed(seed)
    image = keras.Input((size, size, 3), name="image")
    _, output = _layers(image)
    return keras.Model(image, output, name="seed004")


def build_loss_layer_model(size: int = 16, seed: int = 0) -> tuple[keras.Model, keras.Model]:
    """The seed's "train" model (image and target in, loss added by a LossLayer) and its "predict" model.

    Built from the same seed as :func:`build_model`, its layers start with the same weights.
    """
    keras.utils.set_random_seed(seed)
    image = keras.Input((size, size, 3), name="image")
    target = keras.Input((size, size, 1), name="target")
    deconv1, output = _layers(image)
    passed_on = lossreg.LossLayer("mse_bce", name="complex_loss")([target, deconv1, output])
    return keras.Model([image, target], passed_on, name="seed004_train"), keras.Model(image, output, name="predict")


def fake_data_generator(samples: int, size: int = 16, seed: int = 0) -> Iterator[tuple[Any, Any]]:
    """The seed's generator: ``yield images, masks`` (new random batches forever)."""
    rng = np.random.default_rng(seed)
    while True:
        images = rng.uniform(size=(samples, size, size, 3)).astype("float32")
        masks = rng.uniform(size=(samples, size, size, 1)).astype("float32")
        yield images, masks


def fake_data_generator_2(samples: int, size: int = 16, seed: int = 0) -> Iterator[tuple[dict[str, Any]]]:
    """For the LossLayer model: the target is an input, so ``yield ({"image": ..., "target": ...},)``, no ``y``."""
    for images, masks in fake_data_generator(samples, size, seed):
        yield ({"image": images, "target": masks},)


def _fit_args(steps: int, epochs: int) -> dict[str, Any]:
    return {"steps_per_epoch": steps, "epochs": epochs, "validation_steps": 2, "shuffle": False}


def _eval_batch(batch_size: int, size: int) -> tuple[Any, Any]:
    """The batch both ways are evaluated on (a seed of its own, unseen in training)."""
    return next(fake_data_generator(2 * batch_size, size, seed=2))


def train_attached(size: int = 16, batch_size: int = 8, steps: int = 5, epochs: int = 2, verbose: int = 0) -> dict:
    """Way 1, ``attach``: the spec wires deconv1 in; the target is passed the normal way."""
    model = build_model(size)
    attached = lossreg.attach(model, SPEC)
    attached.compile(optimizer=keras.optimizers.Adam(1e-3))
    attach_history = attached.fit(
        fake_data_generator(batch_size, size),
        validation_data=fake_data_generator(batch_size, size, seed=1),
        verbose=verbose,
        **_fit_args(steps, epochs),
    )
    images, masks = _eval_batch(batch_size, size)
    return {
        "model": model,
        "attached": attached,
        "images": images,
        "masks": masks,
        "attach_history": attach_history.history,
        "attach_evaluate": attached.evaluate(images, masks, batch_size=len(images), verbose=0, return_dict=True),
    }


def train_with_loss_layer(
    size: int = 16, batch_size: int = 8, steps: int = 5, epochs: int = 2, verbose: int = 0
) -> dict[str, Any]:
    """Way 2, ``LossLayer``: the target as an input, the loss added inside the graph."""
    train_model, predict_model = build_loss_layer_model(size)
    train_model.compile(optimizer=keras.optimizers.Adam(1e-3))  # the loss comes from the layer
    loss_layer_history = train_model.fit(
        fake_data_generator_2(batch_size, size),
        validation_data=fake_data_generator_2(batch_size, size, seed=1),
        verbose=verbose,
        **_fit_args(steps, epochs),
    )
    images, masks = _eval_batch(batch_size, size)
    return {
        "train_model": train_model,
        "predict_model": predict_model,
        "images": images,
        "masks": masks,
        "loss_layer_history": loss_layer_history.history,
        "loss_layer_evaluate": train_model.evaluate(
            {"image": images, "target": masks}, batch_size=len(images), verbose=0, return_dict=True
        ),
    }


def main(size: int = 16, batch_size: int = 8, steps: int = 5, epochs: int = 2, verbose: int = 0) -> dict[str, Any]:
    """Train both ways from the same start on the same batches; return models, a batch and the results."""
    return {
        **train_attached(size, batch_size, steps, epochs, verbose),
        **train_with_loss_layer(size, batch_size, steps, epochs, verbose),
    }


if __name__ == "__main__":
    result = main(verbose=0)
    for name in ("attach", "loss_layer"):
        print(f"{name}:")
        for key, values in result[f"{name}_history"].items():
            print(f"  {key:20s} " + " -> ".join(f"{v:.4f}" for v in values))
    a, b = result["attach_evaluate"]["loss"], result["loss_layer_evaluate"]["loss"]
    print(f"evaluate on a fresh batch: attach {a:.6f}, LossLayer {b:.6f} (same start, same batches).")
    masks = result["model"].predict(result["images"][:1], verbose=0)
    print(f"prediction (the plain model, no target needed): {masks.shape}, in [{masks.min():.3f}, {masks.max():.3f}]")
