"""The parameter rules of the built-in losses, each written once.

A loss runs its rules both when a spec is resolved (``loss_factory(fn, validate=...)``, where the
``ValueError`` becomes a ``LossSpecError`` at the spec path) and when it is called directly on tensors.
The comparisons are written so that NaN fails every rule.
"""

from __future__ import annotations

from lossreg.registry._params import MAX_FOCAL_GAMMA, Range

__all__ = ["focal_gamma", "fraction", "non_negative", "positive"]

_FOCAL_GAMMA = Range(0.0, MAX_FOCAL_GAMMA)


def fraction(name: str, value: float) -> None:
    """Raise ``ValueError`` unless ``0 <= value <= 1``."""
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"`{name}` must be in [0, 1], received {name}={value!r}.")


def non_negative(name: str, value: float) -> None:
    """Raise ``ValueError`` unless ``value >= 0``."""
    if not value >= 0:
        raise ValueError(f"`{name}` must be >= 0, received {name}={value!r}.")


def positive(name: str, value: float) -> None:
    """Raise ``ValueError`` unless ``value > 0``."""
    if not value > 0:
        raise ValueError(f"`{name}` must be > 0, received {name}={value!r}.")


def focal_gamma(name: str, value: float) -> None:
    """Raise ``ValueError`` unless ``0 <= value <= MAX_FOCAL_GAMMA`` (why: ``lossreg.registry._params``)."""
    problem = _FOCAL_GAMMA.problem(name, value)
    if problem:
        raise ValueError(problem)
