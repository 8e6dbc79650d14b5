"""lossreg's registry as functions: ``register``, ``names``, ``describe`` (re-exported by ``lossreg``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, TypeVar

from lossreg.registry._lossdef import LossInfo
from lossreg.registry._table import REGISTRY

__all__ = ["describe", "names", "register"]

F = TypeVar("F", bound=Callable[..., Any])


def register(
    name: str,
    *,
    extras: Iterable[str] = (),
    override: bool = False,
    shapes: Mapping[str, str] | None = None,
    targets: Literal["one_hot", "unit", "class_ids"] | None = None,
    from_logits: bool | str | None = None,
    validate: Callable[..., object] | None = None,
) -> Callable[[F], F]:
    """Register a loss under ``name``: a pure loss function (the one way to write one) or a factory.

    A *loss function* ``fn(y_true, y_pred, *, param=default, ..., extra)`` returns per-sample or
    per-element values (Keras reduces them); its keyword-only parameters with defaults are the parameters a
    spec may give (their type hints are checked against specs), those without defaults the extra tensors it
    takes. It is told from a factory by its first two parameters, positional and without defaults
    (``y_true, y_pred``; a factory's parameters have defaults or are keyword-only), and it is returned
    unchanged, so it stays callable on tensors. A *factory* (the older way, still supported) takes keyword
    parameters and returns ``fn(y_true, y_pred, **extras)``; ``lossreg.loss_factory(fn)`` makes one from a
    loss function.

    ``shapes``, ``targets`` and ``from_logits`` declare what the loss accepts: every call is checked
    against them before TensorFlow sees the tensors, with an error naming the loss, the expected and the
    received shape (or values).

    Args:
        name: the loss name used in specs, e.g. ``"my_loss"``.
        extras: for a factory, the names of the additional model tensors its loss takes as keyword
            arguments (by default the factory's ``extras`` attribute, which ``lossreg.loss_factory`` sets,
            like the three below). A loss function's extras are read from its signature; give them here
            too (the same) only when ``shapes`` names one, as declarations are checked when ``register`` is
            called.
        override: replace an existing registration of ``name`` instead of raising.
        shapes: a shape pattern per tensor (``"y_true"``, ``"y_pred"`` or an extra), e.g.
            ``{"y_true": "batch ... classes", "y_pred": "batch ... classes"}``: a word is one axis whose
            size must agree across tensors, ``...`` any number of axes (the same in every tensor), a number an
            axis of that size.
        targets: ``"one_hot"`` (labels over the last axis in [0, 1]; integer class ids are refused with a
            fix), ``"unit"`` (targets in [0, 1]) or ``"class_ids"`` (integer ids in ``[0, classes)``, one
            axis fewer than ``y_pred``); values are checked on eager calls.
        from_logits: ``True`` if ``y_pred`` holds logits, ``False`` for probabilities (checked to lie in
            [0, 1] on eager calls), or the name of the loss's boolean parameter that says so.
        validate: for a loss function, called as ``validate(**params)`` with the parameters it names when a
            spec is resolved; a ``ValueError`` it raises becomes a ``LossSpecError`` at the spec path.

    Raises:
        LossSpecError: an invalid or taken name, invalid extras or declarations.
        TypeError: a loss function of the wrong shape (say a positional third parameter), or ``validate``
            given with a factory.

    Examples:
        >>> import lossreg
        >>> @lossreg.register("scaled_abs", override=True)
        ... def scaled_abs(y_true, y_pred, *, scale: float = 1.0):
        ...     '''Scaled absolute error: scale * |y_true - y_pred|.'''
        ...     return scale * abs(y_true - y_pred)
        >>> "scaled_abs" in lossreg.names(), scaled_abs(1.0, 4.0, scale=2.0)
        (True, 6.0)
    """
    return REGISTRY.register(
        name,
        extras=extras,
        override=override,
        shapes=shapes,
        targets=targets,
        from_logits=from_logits,
        validate=validate,
    )


def names() -> list[str]:
    """Sorted names of every registered loss: lossreg's, Keras' built-in names and plugins'."""
    return REGISTRY.names()


def describe(name: str) -> LossInfo:
    """Summary, docstring, parameters with defaults, extras and source of a registered loss.

    Examples:
        >>> import lossreg
        >>> lossreg.describe("sigmoid_focal").params["gamma"].default
        2.0
    """
    return REGISTRY.describe(name)
