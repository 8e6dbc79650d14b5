"""Finding tensors in a Keras model by name: its outputs and its layers' outputs."""

from __future__ import annotations

from typing import Any

from lossreg._errors import LossSpecError, did_you_mean

__all__ = ["layer_outputs", "output_tensors", "tap_names", "tensor_by_name"]


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


def _called_outputs(layer: Any) -> list[Any]:
    """The tensors that calling ``layer`` gave in the model's graph, flattened.

    Not ``layer.output``: a nested model's ``output`` is its own inner graph's, which the outer model cannot
    compute. Raises ``ValueError`` when the layer was called more than once (or never).
    """
    nodes = getattr(layer, "_inbound_nodes", None)
    if nodes is None:  # not a Keras 3 operation: fall back to the public attribute
        output = layer.output
        return [output] if hasattr(output, "shape") else list(output)
    if len(nodes) != 1:
        raise ValueError(f"layer {layer.name!r} was called {len(nodes)} times")
    return list(nodes[0].output_tensors)


def _output_names(layer: Any, count: int) -> list[str]:
    """Names for the outputs of a multi-output layer: a nested model's output names, else positions."""
    import keras

    if isinstance(layer, keras.Model):
        try:
            inner = layer.output
        except (AttributeError, ValueError):
            inner = None
        if isinstance(inner, dict):
            names = [str(k) for k in keras.tree.flatten({k: k for k in inner})]  # the order calling flattens in
        else:
            names = list(getattr(layer, "output_names", None) or [])
        if len(names) == count:
            return names
    return [str(i) for i in range(count)]


def layer_outputs(layer: Any) -> dict[str, Any]:
    """A layer's output tensors in the model's graph by tap name: ``{"name": t}`` for one output, else
    ``{"name/z_mean": t, ...}`` (a nested model's output names) or ``{"name/0": t, ...}`` (positions)."""
    outputs = _called_outputs(layer)
    if len(outputs) == 1:
        return {layer.name: outputs[0]}
    return {f"{layer.name}/{n}": t for n, t in zip(_output_names(layer, len(outputs)), outputs, strict=True)}


def tap_names(model: Any) -> tuple[list[str], list[str]]:
    """The names a spec may refer to: outputs first, then layer outputs (``layer`` or ``layer/output``)."""
    outputs = list(output_tensors(model))
    layers: list[str] = []
    for layer in model.layers:
        try:
            names = list(layer_outputs(layer))
        except (AttributeError, ValueError):
            names = [layer.name]  # used several times: named, so that the error can say why it cannot be tapped
        layers.extend(n for n in names if n not in outputs)
    return outputs, layers


def tensor_by_name(model: Any, name: str) -> Any:
    """The symbolic tensor called ``name``: a model output, a layer's output, or ``layer/output`` for one
    output of a multi-output layer (a nested model's output name, or a position)."""
    outputs = output_tensors(model)
    if name in outputs:
        return outputs[name]
    layer_name = name.split("/", 1)[0]
    for layer in model.layers:
        if layer.name != layer_name:
            continue
        try:
            tensors = layer_outputs(layer)
        except (AttributeError, ValueError) as exc:
            raise LossSpecError(
                f"Layer {layer_name!r} is used more than once in the model (or never), so its output is "
                "ambiguous. Wrap the use you mean in a layer of its own, e.g. keras.layers.Identity(name=...)."
            ) from exc
        if name in tensors:
            return tensors[name]
        if name == layer_name:
            raise LossSpecError(
                f"Layer {name!r} has {len(tensors)} outputs, so the name does not say which tensor is meant: "
                f"name one of {', '.join(map(repr, tensors))} (or give it a layer of its own, e.g. "
                f"keras.layers.Identity(name='z_mean'))."
            )
        raise LossSpecError(
            f"{name!r} is not an output of layer {layer_name!r}.{did_you_mean(name, tensors)} Its outputs are: "
            f"{', '.join(map(repr, tensors))} (only a nested model's outputs can be reached from outside it)."
        )
    raise KeyError(name)
