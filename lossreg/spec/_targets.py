"""The targets a loss expects, worked out from its declaration: what ``attach``'s dry run stands in for ``y_true``.

Pure shapes and dtype names (no Keras): ``attach`` (and so ``lossreg check --model``) builds a symbolic
target from them, so that a class-id loss is dry-run on ids shaped like the predictions without the class
axis, not on a copy of the predictions' shape.
"""

from __future__ import annotations

from typing import Any

from lossreg.registry import Expects

__all__ = ["target_like"]

Shape = tuple[int | None, ...]


def _bind(pattern: tuple[str, ...], shape: Shape) -> dict[str, Any] | None:
    """Axis words of ``pattern`` bound to the sizes of ``shape`` (``"..."`` to its axes); ``None`` if it cannot fit."""
    if "..." in pattern:
        at = pattern.index("...")
        before, after = pattern[:at], pattern[at + 1 :]
        if len(shape) < len(before) + len(after):
            return None
        middle = shape[len(before) : len(shape) - len(after)]
        pairs = list(zip(before, shape[: len(before)], strict=True))
        pairs += list(zip(after, shape[len(shape) - len(after) :], strict=True))
        bound: dict[str, Any] = {"...": middle}
    else:
        if len(shape) != len(pattern):
            return None
        pairs, bound = list(zip(pattern, shape, strict=True)), {}
    bound.update((word, size) for word, size in pairs if not word.isdigit())
    return bound


def _from_pattern(pattern: tuple[str, ...], bound: dict[str, Any]) -> Shape | None:
    shape: list[int | None] = []
    for token in pattern:
        if token == "...":
            shape.extend(bound["..."])
        elif token.isdigit():
            shape.append(int(token))
        elif token in bound:
            shape.append(bound[token])
        else:
            return None  # an axis only the targets have: its size cannot be known
    return tuple(shape)


def target_like(expects: Expects | None, pred_shape: Shape) -> tuple[Shape, str]:
    """The shape and dtype of targets that fit ``expects`` against predictions shaped ``pred_shape``.

    Class ids (``targets="class_ids"``) are integers, one axis fewer than the predictions; declared
    ``y_true``/``y_pred`` patterns bind axis words across the two; otherwise targets are shaped like the
    predictions (float32).
    """
    class_ids = expects is not None and expects.targets == "class_ids"
    dtype = "int32" if class_ids else "float32"
    fallback = pred_shape[:-1] if class_ids else pred_shape
    if expects is None or "y_true" not in expects.shapes or "y_pred" not in expects.shapes:
        return fallback, dtype
    bound = _bind(expects.shapes["y_pred"], pred_shape)
    if bound is None or ("..." in expects.shapes["y_true"] and "..." not in bound):
        return fallback, dtype
    shape = _from_pattern(expects.shapes["y_true"], bound)
    return (fallback if shape is None else shape), dtype
