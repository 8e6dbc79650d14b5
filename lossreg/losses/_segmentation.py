r"""Overlap losses for segmentation masks, on logits."""

from __future__ import annotations

from typing import Any

from lossreg.losses import _checks
from lossreg.registry import register
from lossreg.registry._dense import keep_mask, masked_values, zero_ignored
from lossreg.registry._ops import ops, promote, reduce_non_batch

__all__ = ["sigmoid_dice"]

Tensor = Any


def _check_sigmoid_dice(smooth: float) -> None:
    _checks.positive("smooth", smooth)


def _per_element(weight: Tensor, like: Tensor) -> Tensor:
    """``weight`` (shaped like ``like`` or like it without trailing axes) cast to ``like``'s dtype, with trailing
    axes of size 1 added so that it broadcasts over ``like`` (a per-pixel map over the channels)."""
    weight = ops.cast(weight, like.dtype)
    while len(weight.shape) < len(like.shape):
        weight = ops.expand_dims(weight, -1)
    return weight


def sigmoid_dice(
    y_true: Tensor,
    y_pred: Tensor,
    *,
    smooth: float = 1.0,
    ignore_class: int | None = None,
    mask: Tensor | None = None,
    sample_weight: Tensor | None = None,
) -> Tensor:
    r"""Soft Dice loss on ``sigmoid(logits)``, one value per sample (over all non-batch axes).

    Formula:
        .. math:: \ell = 1 - \frac{2 \sum v\,p\,y + s}{\sum v\,p + \sum v\,y + s},\quad p = \sigma(x)

    with :math:`v = k\,\omega`: :math:`k` is 1 where an element is kept and 0 where it is ignored
    (``ignore_class``, ``mask``), :math:`\omega` the per-pixel ``sample_weight`` map (1 without one).

    Normalizer:
        One value per sample, its sums running over the sample's kept elements only (weighted by the
        ``sample_weight`` map when Keras passes one); Keras' mean over the samples. An ignored element leaves
        every sum (its logit may be anything, NaN included). A sample with nothing kept is 0 and carries Keras'
        mask, so it leaves the batch mean; a fully ignored batch gives 0. A sample whose kept elements all have
        weight 0 gives :math:`1 - s / s = 0` but still counts in the mean (Keras: a zero weight is no mask under
        the default reduction). No ``class_weights``: the sums pool every non-batch axis, channels included, so
        there is one overlap per sample and no per-class term to weigh (weigh channels or pixels with a
        ``sample_weight`` map shaped like the targets instead).

    Args:
        y_true: the mask ``y`` in [0, 1], shaped like ``y_pred``; elements equal to ``ignore_class`` are ignored.
        y_pred: logits ``x``, shaped ``(batch, ...)``.
        smooth: ``s`` > 0; keeps the ratio defined for empty masks and smooths the gradient.
        ignore_class: a target value (e.g. 255 or -1) whose elements are ignored.
        mask: (optional tensor) 0 where an element is ignored, shaped like ``y_true`` or like it without the last
            axis.
        sample_weight: (optional tensor) ``ω``, a per-element weight map applied inside the sums, shaped like
            ``y_true`` or like it without the last axis. Keras' ``sample_weight`` of ``fit`` or of the loss call
            reaches it when it is such a map (``(batch, H, W)``); a per-sample weight ``(batch,)`` weighs the
            per-sample values in Keras' reduction instead.

    Returns:
        The loss per sample, shaped ``(batch,)``.

    Raises:
        ValueError: ``smooth`` is not > 0.

    Conventions:
        The same ratio as MONAI's ``DiceLoss`` and segmentation_models_pytorch's ``soft_dice_score``:
        :math:`(2\sum p y + s) / (\sum p + \sum y + s)` with ``smooth`` added once to each side, so
        ``smooth=s`` here is ``smooth_nr=smooth_dr=s`` in MONAI and ``smooth=s`` in smp. What differs is what the
        sums run over: here every non-batch axis of one sample (one Dice per image); MONAI's ``DiceLoss`` one Dice
        per image and channel (the same for one channel); smp's ``DiceLoss(mode="binary")`` one Dice over the
        whole batch (the same for a batch of one), and 0 where the batch's targets are empty. The defaults differ
        too: ``smooth=1`` here, 1e-5 in MONAI, 0 in smp (its denominator clamped to at least 1e-7). Keras' ``dice``
        has no smooth: :math:`1 - 2\sum p y / (\sum p + \sum y + 10^{-7})` on probabilities, so an empty mask
        predicted empty costs 1 there and 0 here.

    Numerics:
        On logits of :math:`\pm 10^4` the value is finite and the gradient exactly 0 (``sigmoid'`` underflows to 0,
        not to NaN), in float32 and float16 inputs (computed in float32), and a step under ``mixed_float16`` stays
        finite. Ignored elements are zeroed before the sigmoid, so a NaN logit there reaches neither the value nor
        the gradient.

    Reference:
        Milletari, Navab, Ahmadi. "V-Net", 3DV 2016 (the soft Dice coefficient); ``monai.losses.DiceLoss``
        (``sigmoid=True``).

    Examples:
        >>> import numpy as np
        >>> from keras import ops
        >>> y = np.array([[1.0, 0.0], [0.0, 0.0]])
        >>> x = np.array([[0.0, 0.0], [-20.0, -20.0]])
        >>> print(ops.convert_to_numpy(sigmoid_dice(y, x)).round(4))   # 1 - (2*0.5 + 1) / (1 + 1 + 1); empty masks: 0
        [0.3333 0.    ]
        >>> y = np.array([[1.0, 255.0], [255.0, 255.0]])      # 255: unlabelled; the second image has nothing left
        >>> x = np.array([[0.0, np.nan], [5.0, 5.0]])
        >>> print(ops.convert_to_numpy(sigmoid_dice(y, x, ignore_class=255)).round(4))   # 1 - (1 + 1) / (0.5 + 1 + 1)
        [0.2 0. ]

        As a registered loss, reduced by Keras (an image with nothing kept leaves the mean):

        >>> import lossreg
        >>> loss = lossreg.get("sigmoid_dice", smooth=1.0)
        >>> round(float(loss([[1.0, 0.0]], [[0.0, 0.0]])), 4)   # 1 - (2*0.5 + 1) / (1 + 1 + 1)
        0.3333
        >>> round(float(lossreg.get("sigmoid_dice", ignore_class=255)(y, x)), 4)
        0.2
    """
    _check_sigmoid_dice(smooth)
    y_true, y_pred = promote(y_true, y_pred)
    keep = keep_mask(y_true, "unit", ignore_class=ignore_class, mask=mask, loss="sigmoid_dice")
    y_true, y_pred = zero_ignored(y_true, keep), zero_ignored(y_pred, keep)
    probs = ops.sigmoid(y_pred)
    weight = None if keep is None else _per_element(keep, probs)
    if sample_weight is not None:
        weighted = _per_element(sample_weight, probs)
        weight = weighted if weight is None else weight * weighted
    # v p and v y: an ignored (or zero-weight) element leaves every sum (its sigmoid(0) = 0.5 would not)
    weighted_probs = probs if weight is None else probs * weight
    weighted_true = y_true if weight is None else y_true * weight
    intersection = reduce_non_batch(weighted_probs * y_true, "sum")
    total = reduce_non_batch(weighted_probs, "sum") + reduce_non_batch(weighted_true, "sum")
    dice = 1.0 - (2.0 * intersection + smooth) / (total + smooth)
    if keep is None:
        return dice
    return masked_values(dice, reduce_non_batch(keep, "any"))  # a sample with nothing kept: 0, out of the mean


register(
    "sigmoid_dice",
    validate=_check_sigmoid_dice,
    shapes={"y_true": "batch ...", "y_pred": "batch ..."},
    targets="unit",
    from_logits=True,
)(sigmoid_dice)
