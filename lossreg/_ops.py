"""Compatibility: the lazy ``keras.ops`` moved to ``lossreg.registry._ops``; this module goes away."""

from lossreg.registry._ops import ops, promote, reduce_non_batch

__all__ = ["ops", "promote", "reduce_non_batch"]
