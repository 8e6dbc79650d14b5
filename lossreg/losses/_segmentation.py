r"""Overlap losses for segmentation masks, on logits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lossreg._ops import ops, promote, reduce_non_batch
from lossreg._registry import register

__all__ = ["sigmoid_dice"]

Tensor = Any


@register("sigmoid_dice", shapes={"y_true": "batch ...", "y_pred": "batch ..."}, targets="unit", from_logits=True)
def sigmoid_dice(smooth: float = 1.0) -> Callable[[Tensor, Tensor], Tensor]:
    r"""Soft Dice loss on ``sigmoid(logits)``, one value per sample (over all non-batch axes).

    Formula:
        .. math:: \ell = 1 - \frac{2 \sum p\,y + s}{\sum p + \sum y + s},\quad p = \sigma(x)

    Args:
        smooth: ``s`` > 0; keeps the ratio defined for empty masks and smooths the gradient.

    Reference:
        Milletari, Navab, Ahmadi. "V-Net", 3DV 2016 (the soft Dice coefficient).

    Example:
        >>> import lossreg
        >>> loss = lossreg.get("sigmoid_dice", smooth=1.0)
        >>> round(float(loss([[1.0, 0.0]], [[0.0, 0.0]])), 4)   # 1 - (2*0.5 + 1) / (1 + 1 + 1)
        0.3333
    """
    if smooth <= 0:
        raise ValueError(f"`smooth` must be > 0, received smooth={smooth!r}.")

    def loss(y_true: Tensor, y_pred: Tensor) -> Tensor:
        y_true, y_pred = promote(y_true, y_pred)
        probs = ops.sigmoid(y_pred)
        intersection = reduce_non_batch(probs * y_true, "sum")
        total = reduce_non_batch(probs, "sum") + reduce_non_batch(y_true, "sum")
        return 1.0 - (2.0 * intersection + smooth) / (total + smooth)

    return loss
