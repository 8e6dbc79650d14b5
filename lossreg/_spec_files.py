"""Compatibility alias: spec files are read by ``lossreg.spec._files``."""

from lossreg.spec._files import MAX_BYTES, load

__all__ = ["MAX_BYTES", "load"]
