"""What the spec rules need to know of a model: its output names and the names of the tensors it can tap.

A ``ModelView`` is plain data, so the rules import no Keras and can be tested with a hand-made view;
``ModelView.of(model)`` reads one from a Keras model through ``lossreg.keras._graph``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lossreg._errors import LossSpecError

__all__ = ["ModelView"]


def _no_note(name: str) -> str | None:
    return None


@dataclass(frozen=True)
class ModelView:
    """A model's output names (in order) and its other tap names (``layer`` or ``layer/output``).

    ``explain(name)`` may say why a name that looks like a tap cannot be read (a layer with several outputs,
    a layer used twice); ``None`` means it has nothing to add.
    """

    outputs: tuple[str, ...]
    layers: tuple[str, ...] = ()
    explain: Callable[[str], str | None] = _no_note

    @classmethod
    def of(cls, model: Any) -> ModelView:
        """The view of a functional or Sequential Keras model (raises ``LossSpecError`` for one without outputs)."""
        from lossreg.keras._graph import tap_names, tensor_by_name

        outputs, layers = tap_names(model)

        def explain(name: str) -> str | None:
            try:
                tensor_by_name(model, name)
            except KeyError:
                return None
            except LossSpecError as exc:
                return str(exc)
            return None

        return cls(tuple(outputs), tuple(layers), explain)
