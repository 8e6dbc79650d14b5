"""Finding tensors in a Keras model by name: its outputs and its layers' outputs."""

from __future__ import annotations

from typing import Any

from lossreg._errors import LossSpecError

__all__ = ["output_tensors", "tap_names", "tensor_by_name"]


def output_tensors(model: Any) -> dict[str, Any]:
    """The model's outputs by the names ``fit(x, y)`` uses for ``y``: dict keys, or output layer names."""
    try:
        out = model.output
    except (AttributeError, ValueError) as exc:
        raise LossSpecError(
            f"Model {getattr(model, 'name', model)!r} has no symbolic outputs (is it a subclassed model that "
            "was never called, or unbuilt?). Use a functional or Sequential model, or build it on a keras.Input."
        ) from exc
    if isinstance(out, dict):
        return dict(out)
    outs = list(out) if isinstance(out, list | tuple) else [out]
    names = list(getattr(model, "output_names", None) or [])
    if len(names) != len(outs):
        names = [t._keras_history.operation.name for t in outs]
    return dict(zip(names, outs, strict=True))


def tap_names(model: Any) -> tuple[list[str], list[str]]:
    """The names a spec may refer to: outputs first, then layers whose output is one tensor."""
    outputs = list(output_tensors(model))
    layers = [layer.name for layer in model.layers if layer.name not in outputs]
    return outputs, layers


def tensor_by_name(model: Any, name: str) -> Any:
    """The symbolic tensor called ``name``: a model output, else the output of the layer of that name."""
    outputs = output_tensors(model)
    if name in outputs:
        return outputs[name]
    for layer in model.layers:
        if layer.name == name:
            try:
                tensor = layer.output
            except (AttributeError, ValueError) as exc:
                raise LossSpecError(
                    f"Layer {name!r} is used more than once in the model (or never), so its output is ambiguous. "
                    "Wrap the use you mean in a layer of its own, e.g. keras.layers.Identity(name=...)."
                ) from exc
            if not hasattr(tensor, "shape"):
                count = len(tensor) if isinstance(tensor, list | tuple | dict) else "several"
                raise LossSpecError(
                    f"Layer {name!r} has {count} outputs, so the name does not say which tensor is meant. Name "
                    "the one you want with a layer of its own, e.g. "
                    f"keras.layers.Identity(name='z_mean')({name}(x)[0])."
                )
            return tensor
    raise KeyError(name)
