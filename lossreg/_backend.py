"""The backend seam: the only lossreg module that names a Keras backend (TensorFlow, JAX, PyTorch).

Everything else computes with ``keras.ops`` and asks this module for the few things ``keras.ops`` does
not offer: a tensor's concrete values (for the pre-flight value checks), the number of replicas a batch is
split over (so that per-term figures are per-replica means), and value-and-gradient of a function (for the
conformance kit). Each import of a backend library happens inside the function that needs it, and only
when that backend is the active one, so lossreg never imports TensorFlow on another backend.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["backend", "jit_in_seconds", "replicas", "to_numpy", "value_and_grad", "values_are_cheap"]


def backend() -> str:
    """The active Keras backend's name: ``"tensorflow"``, ``"jax"``, ``"torch"`` or ``"numpy"``."""
    import keras

    return str(keras.backend.backend())


def to_numpy(tensor: Any) -> np.ndarray | None:
    """``tensor``'s values as a NumPy array when it has them (eager), else ``None`` (symbolic or traced).

    Symbolic tensors (``keras.KerasTensor``, a TensorFlow graph tensor inside ``tf.function``, a JAX tracer
    under ``jit``) have no values: the pre-flight value checks are skipped for them, never failed.
    """
    if isinstance(tensor, np.ndarray):
        return tensor
    if isinstance(tensor, int | float | bool | list | tuple):
        return np.asarray(tensor)
    import keras

    if isinstance(tensor, keras.KerasTensor):
        return None
    try:
        return np.asarray(keras.ops.convert_to_numpy(tensor))
    except Exception:  # each backend raises its own type for a symbolic or traced tensor: no values
        return None


def jit_in_seconds() -> bool:
    """Whether ``jit_compile=True`` compiles a small model in seconds here: XLA on TensorFlow and JAX, yes;
    on PyTorch it means ``torch.compile``, which took 76–250 s per model on a 2-core CPU, so no."""
    return backend() != "torch"


def values_are_cheap(tensors: Iterable[Any]) -> bool:
    """Whether the pre-flight may read these tensors' values: not inside a PyTorch training or evaluation step.

    TensorFlow and JAX compile ``fit``'s steps, where tensors have no values to read (:func:`to_numpy` gives
    ``None``). PyTorch runs them eagerly, so every step would copy its targets to the host: on PyTorch the
    values are read only outside autograd, i.e. not when a tensor is part of a graph being differentiated
    (a training step's prediction) nor under ``torch.no_grad`` (Keras' evaluation and prediction steps).
    """
    if backend() != "torch":
        return True
    import torch

    return torch.is_grad_enabled() and not any(bool(getattr(t, "requires_grad", False)) for t in tensors)


def replicas() -> int:
    """How many replicas the current batch is split over: ``tf.distribute``'s count on TensorFlow, else 1.

    Keras divides each replica's loss by this number before summing the replicas' gradients, so a value
    computed on one replica's share of the batch is that many times its logged (per-batch) figure.
    """
    if backend() != "tensorflow":
        return 1
    import tensorflow as tf

    return int(tf.distribute.get_strategy().num_replicas_in_sync)


def value_and_grad(
    fn: Callable[..., Any], inputs: Mapping[str, np.ndarray], wrt: Sequence[str]
) -> tuple[np.ndarray, dict[str, np.ndarray | None]]:
    """``fn(**inputs)`` as NumPy, and the gradient of its sum with respect to each of ``wrt``.

    The gradient is taken by the active backend's own autodiff (``tf.GradientTape``, ``jax.value_and_grad``,
    ``torch.autograd``), of the sum of ``fn``'s values cast to float32 (the sum's cotangent, 1, is exact in
    any dtype, so gradients keep the inputs' dtype and precision); ``None`` for an input the value does not
    depend on (TensorFlow and PyTorch tell; JAX gives zeros).

    Args:
        fn: a function of tensors, called as ``fn(**inputs)`` with backend tensors.
        inputs: NumPy arrays by argument name (their dtypes are kept).
        wrt: the names of the inputs to differentiate with respect to.

    Returns:
        ``(values, {name: gradient})``, NumPy arrays.

    Examples:
        >>> import numpy as np, keras
        >>> from lossreg.testing import value_and_grad
        >>> value, grads = value_and_grad(lambda x: keras.ops.square(x), {"x": np.array([1.0, -2.0])}, ["x"])
        >>> grads["x"].tolist()
        [2.0, -4.0]
    """
    name = backend()
    if name == "tensorflow":
        import tensorflow as tf

        tensors = {k: tf.constant(v) for k, v in inputs.items()}
        with tf.GradientTape() as tape:
            for key in wrt:
                tape.watch(tensors[key])
            out = fn(**tensors)
            total = tf.reduce_sum(tf.cast(out, "float32"))
        grads = tape.gradient(total, {k: tensors[k] for k in wrt})
        return np.asarray(out), {k: None if g is None else np.asarray(g) for k, g in grads.items()}
    if name == "jax":
        import jax
        import jax.numpy as jnp

        constants = {k: jnp.asarray(v) for k, v in inputs.items() if k not in wrt}

        def total_of(watched: dict[str, Any]) -> tuple[Any, Any]:
            out = fn(**constants, **watched)
            return jnp.sum(out.astype("float32")), out

        watched = {k: jnp.asarray(inputs[k]) for k in wrt}
        (_, out), grads = jax.value_and_grad(total_of, has_aux=True)(watched)
        return np.asarray(out), {k: np.asarray(g) for k, g in grads.items()}
    if name == "torch":
        import torch

        tensors = {k: torch.as_tensor(v) for k, v in inputs.items()}
        for key in wrt:
            tensors[key].requires_grad_(True)
        out = fn(**tensors)
        total = out.float().sum()
        leaves = [tensors[k] for k in wrt]
        grads = torch.autograd.grad(total, leaves, allow_unused=True) if total.requires_grad else [None] * len(wrt)
        return out.detach().cpu().numpy(), {
            k: None if g is None else g.detach().cpu().numpy() for k, g in zip(wrt, grads, strict=True)
        }
    raise NotImplementedError(f"lossreg cannot take gradients on the {name!r} backend; use tensorflow, jax or torch.")
