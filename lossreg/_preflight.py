"""Compatibility: input declarations moved to ``lossreg.registry._expects``; this module goes away."""

from lossreg.registry._expects import Expects, Targets, check_inputs, same_rank

__all__ = ["Expects", "Targets", "check_inputs", "same_rank"]
