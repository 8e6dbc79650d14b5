"""Compatibility alias: ``lossreg check``'s checker lives in ``lossreg.spec._check``."""

from lossreg.spec._check import CheckResult, check_spec, describe_model

__all__ = ["CheckResult", "check_spec", "describe_model"]
