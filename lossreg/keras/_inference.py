"""``lossreg.inference_model``: train on logits, predict probabilities, with the same weights."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras

from lossreg._errors import LossSpecError, did_you_mean
from lossreg.keras._graph import output_tensors

__all__ = ["inference_model"]


def inference_model(model: keras.Model, activation: str | Mapping[str, str | None] = "sigmoid") -> keras.Model:
    """A model that shares ``model``'s weights and applies an activation to its outputs.

    Seeds 002 and 004: train on logits (with a logits-safe loss such as ``sigmoid_bce``), predict
    probabilities. The new model has the same inputs and output structure; nothing is copied.

    Args:
        model: the trained model (a functional or Sequential model, or the ``AttachedModel`` that
            trained it).
        activation: a Keras activation name for every output (``"sigmoid"``, ``"softmax"``), or a mapping
            from output name to activation (``None`` leaves that output as it is).

    Examples:
        >>> import keras, lossreg
        >>> inp = keras.Input((4,))
        >>> logits = keras.Model(inp, keras.layers.Dense(1, name="logits")(inp))
        >>> probs = lossreg.inference_model(logits, activation="sigmoid")
        >>> float(probs.predict(keras.ops.zeros((1, 4)), verbose=0).min()) >= 0.0
        True
    """
    model = getattr(model, "inference_model", model)  # an AttachedModel stands for the model it trains
    outputs = output_tensors(model)
    if isinstance(activation, Mapping):
        for key in activation:
            if key not in outputs:
                raise LossSpecError(
                    f"Unknown output {key!r}.{did_you_mean(key, outputs)} The model's outputs are: "
                    f"{', '.join(outputs)}."
                )
        chosen = {name: activation.get(name) for name in outputs}
    else:
        chosen = dict.fromkeys(outputs, activation)
    new = {}
    for name, tensor in outputs.items():
        act = chosen[name]
        if act is None:
            new[name] = tensor
            continue
        try:
            layer = keras.layers.Activation(act, name=f"{name}_{act}")
        except ValueError as exc:
            raise LossSpecError(f"Unknown activation {act!r} for output {name!r}: {exc}") from exc
        new[name] = layer(tensor)
    structure = model.output
    if isinstance(structure, dict):
        result: Any = new
    elif isinstance(structure, list | tuple):
        result = [new[name] for name in outputs]
    else:
        result = next(iter(new.values()))
    return keras.Model(model.input, result, name=f"{model.name}_inference")
