"""``check_loss``'s training check: a tiny model trained with the loss (XLA) lowers it."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from lossreg._backend import jit_in_seconds

from ._report import fail
from ._subject import Subject, cast, loss_args

__all__ = ["check_training"]


def check_training(
    subject: Subject, uses_y_pred: bool, activation: Any, steps: int, learning_rate: float, seed: int
) -> tuple[float, float]:
    """5. ``steps`` full-batch Adam steps on a tiny model whose outputs have the inputs' shapes lower the loss."""
    before, after = _train(subject, uses_y_pred, activation, steps, learning_rate, seed)
    if not (math.isfinite(after) and after < before):
        raise fail(
            subject.name,
            "training",
            f"{steps} Adam steps (learning rate {learning_rate}, jit_compile={jit_in_seconds()}) on a tiny model took "
            f"the loss from {before} to {after}; it should go down.",
        )
    return before, after


def _heads(data: Mapping[str, np.ndarray], keys: Sequence[str], activation: Any, seed: int) -> tuple[Any, dict]:
    """An input ``x`` of 3 features and one Dense head per key, shaped like ``data[key]``'s samples."""
    import keras

    inp = keras.Input((3,), name="x")
    outputs = {}
    for i, key in enumerate(keys):
        shape = tuple(data[key].shape[1:])
        init = keras.initializers.GlorotUniform(seed=seed + i)
        h = keras.layers.Dense(max(1, math.prod(shape)), kernel_initializer=init, name=f"{key}_d")(inp)
        h = keras.layers.Reshape(shape or (), name=f"{key}_r")(h) if len(shape) != 1 else h
        act = activation.get(key) if isinstance(activation, Mapping) else (activation if key == "y_pred" else None)
        outputs[key] = keras.layers.Activation(act or "linear", name=key)(h)
    return inp, outputs


def _fit(subject: Subject, model: Any, loss: Any, x: np.ndarray, y_true: np.ndarray, fit: Mapping[str, Any]) -> None:
    """Train the way users train the loss: ``compile(loss=lossreg.get(...))``, or ``lossreg.attach`` for extras.

    ``fit``: ``optimizer``, ``epochs`` (full-batch steps) and ``uses_y_pred`` (whether the loss reads ``y_pred``).
    """
    import lossreg

    optimizer, steps, batch = fit["optimizer"], fit["epochs"], x.shape[0]
    jit = jit_in_seconds()  # compiled as users train, where compiling takes seconds (not torch.compile's minutes)
    if not subject.extras:
        model.compile(optimizer=optimizer, loss=loss, jit_compile=jit)
        model.fit(x, y_true, batch_size=batch, epochs=steps, verbose=0, shuffle=False)
        return
    entry = {"loss": subject.name, "params": dict(subject.params), "inputs": {e: e for e in subject.extras}}
    if fit["uses_y_pred"]:
        train = lossreg.attach(model, {"y_pred": entry})
        train.compile(optimizer=optimizer, jit_compile=jit)
        train.fit(x, {"y_pred": y_true}, batch_size=batch, epochs=steps, verbose=0, shuffle=False)
    else:  # the loss reads only its extras: an entry with no target
        train = lossreg.attach(model, {"check": entry})
        train.compile(optimizer=optimizer, jit_compile=jit)
        train.fit(x, batch_size=batch, epochs=steps, verbose=0, shuffle=False)


def _train(
    subject: Subject, uses_y_pred: bool, activation: Any, steps: int, learning_rate: float, seed: int
) -> tuple[float, float]:
    """The Keras Loss's value on the model's outputs before and after training."""
    import keras

    import lossreg

    data, extras = subject.data, subject.extras
    x = np.random.default_rng(seed + 1).normal(size=(subject.batch, 3)).astype("float32")
    y_true = cast(data, "float32")["y_true"]
    inp, outputs = _heads(data, [*(["y_pred"] if uses_y_pred else []), *extras], activation, seed)
    model = keras.Model(inp, outputs if extras else outputs["y_pred"])
    loss = lossreg.get(subject.name, **subject.params)

    def current() -> float:
        predicted = model.predict_on_batch(x)  # values only: no autograd graph (PyTorch), no tracing
        tensors = dict(predicted) if extras else {"y_pred": predicted}
        tensors.setdefault("y_pred", np.zeros_like(data["y_pred"], dtype="float32"))  # a loss that ignores it
        return float(loss(*loss_args({"y_true": y_true, **tensors}, extras)))

    before = current()
    fit = {"optimizer": keras.optimizers.Adam(learning_rate), "epochs": steps, "uses_y_pred": uses_y_pred}
    _fit(subject, model, loss, x, y_true, fit)
    return before, current()
