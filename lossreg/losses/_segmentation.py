r"""Overlap losses for segmentation masks, on logits."""

from __future__ import annotations

from typing import Any

from lossreg.losses import _checks
from lossreg.registry import register
from lossreg.registry._ops import ops, promote, reduce_non_batch

__all__ = ["sigmoid_dice"]

Tensor = Any


def _check_sigmoid_dice(smooth: float) -> None:
    _checks.positive("smooth", smooth)


def sigmoid_dice(y_true: Tensor, y_pred: Tensor, *, smooth: float = 1.0) -> Tensor:
    r"""Soft Dice loss on ``sigmoid(logits)``, one value per sample (over all non-batch axes).

    Formula:
        .. math:: \ell = 1 - \frac{2 \sum p\,y + s}{\sum p + \sum y + s},\quad p = \sigma(x)

    Args:
        y_true: the mask ``y`` in [0, 1], shaped like ``y_pred``.
        y_pred: logits ``x``, shaped ``(batch, ...)``.
        smooth: ``s`` > 0; keeps the ratio defined for empty masks and smooths the gradient.

    Returns:
        The loss per sample, shaped ``(batch,)``.

    Raises:
        ValueError: ``smooth`` is not > 0.

    Reference:
        Milletari, Navab, Ahmadi. "V-Net", 3DV 2016 (the soft Dice coefficient).

    Example:
        >>> import numpy as np
        >>> from keras import ops
        >>> y = np.array([[1.0, 0.0], [0.0, 0.0]])
        >>> x = np.array([[0.0, 0.0], [-20.0, -20.0]])
        >>> print(ops.convert_to_numpy(sigmoid_dice(y, x)).round(4))   # 1 - (2*0.5 + 1) / (1 + 1 + 1); empty masks: 0
        [0.3333 0.    ]

        As a registered loss, reduced by Keras:

        >>> import lossreg
        >>> loss = lossreg.get("sigmoid_dice", smooth=1.0)
        >>> round(float(loss([[1.0, 0.0]], [[0.0, 0.0]])), 4)   # 1 - (2*0.5 + 1) / (1 + 1 + 1)
        0.3333
    """
    _check_sigmoid_dice(smooth)
    y_true, y_pred = promote(y_true, y_pred)
    probs = ops.sigmoid(y_pred)
    intersection = reduce_non_batch(probs * y_true, "sum")
    total = reduce_non_batch(probs, "sum") + reduce_non_batch(y_true, "sum")
    return 1.0 - (2.0 * intersection + smooth) / (total + smooth)


register(
    "sigmoid_dice",
    validate=_check_sigmoid_dice,
    shapes={"y_true": "batch ...", "y_pred": "batch ..."},
    targets="unit",
    from_logits=True,
)(sigmoid_dice)
