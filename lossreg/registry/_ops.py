"""Backend-neutral tensor helpers for loss functions, importing Keras only when first used.

``ops`` stands for ``keras.ops``: loss modules write ``ops.softmax(...)`` at module level without
importing Keras (and so TensorFlow) when lossreg is imported, so listing losses stays fast.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

__all__ = ["divide_no_nan", "element_count", "ops", "promote", "reduce_non_batch"]


class _LazyKerasOps:
    """Attribute access forwards to ``keras.ops``, importing it on first use."""

    def __getattr__(self, name: str) -> Any:
        from keras import ops as keras_ops

        value = getattr(keras_ops, name)
        setattr(self, name, value)
        return value


ops: Any = _LazyKerasOps()


def promote(*tensors: Any) -> tuple[Any, ...]:
    """Convert to tensors of one float dtype, at least float32 (losses are computed in float32 under
    half precision, as Keras recommends for mixed precision)."""
    from keras.backend import standardize_dtype

    converted = [ops.convert_to_tensor(t) for t in tensors]
    target = "float64" if any(standardize_dtype(t.dtype) == "float64" for t in converted) else "float32"
    return tuple(ops.cast(t, target) for t in converted)


def reduce_non_batch(x: Any, reducer: str = "mean") -> Any:
    """Reduce every axis but the first, giving one value per sample.

    The mean is the sum over the count: ``keras.ops.mean`` of float64 computes in float32 on PyTorch and on
    JAX (Keras 3.15), which would silently lower a float64 loss's precision.
    """
    axes = tuple(range(1, len(x.shape)))
    if not axes:
        return x
    if reducer != "mean":
        return getattr(ops, reducer)(x, axis=axes)
    return ops.sum(x, axis=axes) / element_count(x, axes)


def element_count(x: Any, axes: Sequence[int] | None = None, dtype: Any = None) -> Any:
    """How many elements ``x`` has over ``axes`` (every axis by default): a Python float when those axes are
    static (no ops: eager PyTorch pays for each one), else a tensor of ``dtype`` (default ``x``'s)."""
    axes = range(len(x.shape)) if axes is None else axes
    dims = [x.shape[a] for a in axes]
    if all(isinstance(d, int) for d in dims):
        return float(math.prod(dims))
    return ops.cast(ops.prod(ops.convert_to_tensor([ops.shape(x)[a] for a in axes], "int32")), dtype or x.dtype)


def divide_no_nan(x: Any, y: Any) -> Any:
    """``x / y``, and 0 where ``y`` is 0, in the inputs' dtype on every backend.

    ``keras.ops.divide_no_nan`` returns float32 for float64 scalars on PyTorch (Keras 3.15: ``torch.where``
    with a Python 0 promotes to the default dtype), which would silently lower a float64 loss to float32.
    """
    zero = ops.zeros_like(y)
    nonzero = ops.not_equal(y, zero)
    return ops.where(nonzero, x / ops.where(nonzero, y, ops.ones_like(y)), zero)
