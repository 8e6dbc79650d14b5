"""Seed 000: a multi-input, multi-output model, its per-output losses and weights, fed by a generator or a PyDataset.

The seed's Keras 2 code compiles ``loss=[mse, mse], loss_weights=[0.1, 1]`` and feeds
``yield [x1, x2], [label1, label2]`` from a generator (one ``x`` per input, one ``y`` per output, one loss
per output). Here the same model is trained twice:

- from a Python generator yielding tuples, with the spec in **list form** (one entry per output, in order);
- from a ``keras.utils.PyDataset`` giving dicts, with the spec in **dict form** (keyed by output name).

Both feeds are backend-neutral (NumPy batches): the example runs as it is on TensorFlow, JAX and PyTorch
(``KERAS_BACKEND=jax python examples/seed000_multi_io.py``).

``lossreg.resolve`` folds each weight into its output's loss, so ``compile`` needs no ``loss_weights``;
Keras logs ``maxpool_loss`` (weight 0.1 applied), ``conv3_loss`` and their sum ``loss``.

Run: ``python examples/seed000_multi_io.py``.
"""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np

import lossreg

# The seed's weights: 0.1 for the pooled feature map, 1 for the final map.
LIST_SPEC = [{"loss": "mse", "weight": 0.1}, "mse"]
DICT_SPEC = {"maxpool": {"loss": "mse", "weight": 0.1}, "conv3": "mse"}


def build_model(size: int = 16, seed: int = 0) -> keras.Model:
    """Two image inputs (3 and 4 channels) -> two outputs: a pooled feature map and a 5-channel map."""
    keras.utils.set_random_seed(seed)
    img = keras.Input((size, size, 3), name="img")
    img2 = keras.Input((size, size, 4), name="img2")
    x = keras.layers.Concatenate()([img, img2])
    x = keras.layers.Conv2D(8, 3, activation="relu", name="conv1")(x)
    x = keras.layers.Conv2D(8, 3, activation="relu", name="conv2")(x)
    maxpool = keras.layers.MaxPooling2D(pool_size=4, strides=4, padding="same", name="maxpool")(x)
    conv3 = keras.layers.Conv2D(5, 1, name="conv3")(maxpool)
    return keras.Model([img, img2], [maxpool, conv3], name="seed000")


def synthetic_data(model: keras.Model, samples: int = 32, seed: int = 0) -> tuple[list[Any], list[Any]]:
    """Random images and targets shaped like the model's inputs and outputs (as the seed's ``np.random.rand``)."""
    rng = np.random.default_rng(seed)
    x = [rng.uniform(size=(samples, *t.shape[1:])).astype("float32") for t in model.inputs]
    y = [rng.uniform(size=(samples, *t.shape[1:])).astype("float32") for t in model.outputs]
    return x, y


def batches(x: list[Any], y: list[Any], batch_size: int):
    """The seed's generator, ``yield (x1, x2), (label1, label2)`` forever, cycling over the data.

    Tuples, not the seed's lists: on TensorFlow, Keras 3 turns a generator into
    ``tf.data.Dataset.from_generator``, whose signature cannot hold Python lists ("`output_signature` must
    contain objects that are subclass of `tf.TypeSpec` but found <class 'list'>", tensorflow/tensorflow#38032).
    """
    samples = len(x[0])
    while True:
        for start in range(0, samples - batch_size + 1, batch_size):
            part = slice(start, start + batch_size)
            yield tuple(a[part] for a in x), tuple(b[part] for b in y)


class DictBatches(keras.utils.PyDataset):
    """Batches of dicts keyed by input and output names, in order: the backend-neutral stand-in for
    ``tf.data.Dataset.from_tensor_slices((x_dict, y_dict)).batch(batch_size)``."""

    def __init__(self, x: dict[str, Any], y: dict[str, Any], batch_size: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.x, self.y, self.batch_size = x, y, batch_size

    def __len__(self) -> int:
        return len(next(iter(self.x.values()))) // self.batch_size

    def __getitem__(self, index: int) -> tuple[dict[str, Any], dict[str, Any]]:
        part = slice(index * self.batch_size, (index + 1) * self.batch_size)
        return {k: v[part] for k, v in self.x.items()}, {k: v[part] for k, v in self.y.items()}


def main(size: int = 16, samples: int = 32, batch_size: int = 8, epochs: int = 3, verbose: int = 0) -> dict[str, Any]:
    """Train from a generator (list spec) and from a PyDataset (dict spec); return models, data and results."""
    x, y = synthetic_data(build_model(size), samples)
    steps = samples // batch_size

    # 1. A Python generator of lists; the spec as a list, one entry per output in order.
    list_model = build_model(size)
    list_model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=lossreg.resolve(LIST_SPEC, model=list_model))
    generator_history = list_model.fit(
        batches(x, y, batch_size), steps_per_epoch=steps, epochs=epochs, shuffle=False, verbose=verbose
    )  # a generator yields batches in its own order: shuffle=False says so (Keras warns otherwise)

    # 2. A PyDataset of dicts keyed by input and output names; the spec as a dict keyed by output name.
    dict_model = build_model(size)
    dict_model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=lossreg.resolve(DICT_SPEC, model=dict_model))
    x_dict = dict(zip(["img", "img2"], x, strict=True))
    y_dict = dict(zip(["maxpool", "conv3"], y, strict=True))
    dataset = DictBatches(x_dict, y_dict, batch_size)  # `steps` batches an epoch, in order (shuffle=False)
    dataset_history = dict_model.fit(dataset, epochs=epochs, shuffle=False, verbose=verbose)

    return {
        "list_model": list_model,
        "dict_model": dict_model,
        "x": x,
        "y": y,
        "generator_history": generator_history.history,
        "dataset_history": dataset_history.history,
        "list_evaluate": list_model.evaluate(x, y, batch_size=samples, verbose=0, return_dict=True),
        "dict_evaluate": dict_model.evaluate(x_dict, y_dict, batch_size=samples, verbose=0, return_dict=True),
    }


def _show(title: str, history: dict[str, list[float]], final: dict[str, float]) -> None:
    print(title)
    for key, values in history.items():
        print(f"  {key:12s} " + " -> ".join(f"{v:.4f}" for v in values) + f"   (evaluate: {final[key]:.4f})")


if __name__ == "__main__":
    result = main(verbose=1)
    _show("Generator + list spec " + repr(LIST_SPEC), result["generator_history"], result["list_evaluate"])
    _show("PyDataset + dict spec " + repr(DICT_SPEC), result["dataset_history"], result["dict_evaluate"])
    print("loss = maxpool_loss + conv3_loss, the 0.1 weight already folded into maxpool_loss.")
    same = result["generator_history"] == result["dataset_history"]
    print(f"Same start weights and batches: the two runs are {'identical' if same else 'DIFFERENT'}.")
