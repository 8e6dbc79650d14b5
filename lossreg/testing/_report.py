"""What ``check_loss`` reports: the report of a passed checklist, and the error of a failed check."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CheckReport", "LossCheckError", "fail"]


class LossCheckError(AssertionError):
    """A loss failed one of ``check_loss``'s checks; the message names the loss, the check and the numbers."""


@dataclass(frozen=True)
class CheckReport:
    """What ``check_loss`` checked and measured (every listed check passed)."""

    name: str
    checks: tuple[str, ...]
    value: float  # the Keras Loss's value on the inputs (float32)
    reference_value: float | None  # mean of the reference's values, when a reference was given
    max_gradient_error: float | None  # largest |autodiff - finite difference| seen, when a reference was given
    loss_before: float | None  # training: the loss before and after `train_steps` steps
    loss_after: float | None


def fail(name: str, check: str, message: str) -> LossCheckError:
    """The error of loss ``name`` failing ``check``: ``check_loss('name') failed the 'check' check: message``."""
    return LossCheckError(f"check_loss({name!r}) failed the {check!r} check: {message}")
