"""Compatibility: ``loss_factory`` moved to ``lossreg.registry``; this module goes away."""

from lossreg.registry._authoring import loss_factory, ops, promote

__all__ = ["loss_factory", "ops", "promote"]
