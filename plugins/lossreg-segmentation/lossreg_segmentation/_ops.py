"""``keras.ops`` imported on first use, so loading this plugin (``lossreg show``) does not import TensorFlow."""

from __future__ import annotations

from typing import Any

__all__ = ["ops", "promote"]


class _LazyOps:
    def __getattr__(self, name: str) -> Any:
        from keras import ops as keras_ops

        value = getattr(keras_ops, name)
        setattr(self, name, value)
        return value


ops: Any = _LazyOps()


def promote(*tensors: Any) -> tuple[Any, ...]:
    """Tensors of one float dtype, at least float32: half-precision inputs are computed in float32."""
    from keras.backend import standardize_dtype

    converted = [ops.convert_to_tensor(t) for t in tensors]
    target = "float64" if any(standardize_dtype(t.dtype) == "float64" for t in converted) else "float32"
    return tuple(ops.cast(t, target) for t in converted)
