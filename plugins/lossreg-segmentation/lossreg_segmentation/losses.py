r"""Overlap losses for segmentation: soft Dice, Jaccard, Tversky, focal Tversky and Dice + cross-entropy.

Every loss takes ``y_true`` (masks or one-hot maps in [0, 1]) and ``y_pred`` shaped ``(batch, ..., C)``,
channels last, and returns one value per sample. The common options:

- ``from_logits`` (default ``True``): ``y_pred`` holds logits and ``activation`` turns them into
  probabilities — ``"sigmoid"`` per channel (binary or multi-label masks) or ``"softmax"`` over the channel
  axis (one-hot classes); with ``from_logits=False`` it holds probabilities already.
- ``per_class`` (default ``True``): the overlap is computed per channel over the spatial axes, then averaged
  over channels with ``class_weights`` (default: equal) — the "macro" average, so a small class counts as
  much as a large one. With ``per_class=False`` all channels are pooled into one overlap per sample
  ("micro").
- ``smooth`` (> 0) is added to numerator and denominator, so empty masks give a finite value (0 when the
  prediction is empty too) and the gradient stays finite.

With :math:`p` the probabilities and :math:`y` the targets, the sums over the reduced axes are the soft
counts :math:`TP = \sum p\,y`, :math:`FP = \sum p\,(1 - y)`, :math:`FN = \sum (1 - p)\,y`.

Each loss is computed as :math:`1 - \text{index}` written over one fraction (e.g. Tversky's
:math:`(\alpha\,FP + \beta\,FN) / (TP + \alpha\,FP + \beta\,FN + s)`), so a near-perfect prediction keeps
its small loss instead of cancelling to 0 in float32.

The pure functions here (``soft_dice``, ``jaccard``, ...) are plain ``keras.ops`` code usable on their own;
the ``*_factory`` functions derived from them by ``lossreg.loss_factory`` are what the ``lossreg.losses``
entry points name. ``ops`` is ``keras.ops`` imported on first use, so loading this module (``lossreg show``,
``lossreg check``) does not import TensorFlow.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any, Literal

from lossreg import LossInputError, loss_factory, ops, promote

__all__ = [
    "dice_bce",
    "dice_bce_factory",
    "focal_tversky",
    "focal_tversky_factory",
    "jaccard",
    "jaccard_factory",
    "soft_dice",
    "soft_dice_factory",
    "soft_tversky",
    "soft_tversky_factory",
]

Tensor = Any
Activation = Literal["sigmoid", "softmax"]
_EPSILON = 1e-7  # probabilities are clipped to [eps, 1 - eps] in the cross-entropy, as Keras does


# -- shared pieces ----------------------------------------------------------------------------------------


def _check_options(smooth: float, activation: str, per_class: bool, class_weights: list[float] | None) -> None:
    if not smooth > 0:
        raise ValueError(f"`smooth` must be > 0 (it keeps empty masks finite), received smooth={smooth!r}.")
    if activation not in ("sigmoid", "softmax"):
        raise ValueError(f"`activation` must be 'sigmoid' or 'softmax', received activation={activation!r}.")
    if class_weights is not None:
        if not per_class:
            raise ValueError("`class_weights` weigh the per-class average: set per_class=True or drop class_weights.")
        if (
            isinstance(class_weights, str)
            or not isinstance(class_weights, Sequence)
            or not class_weights
            or not all(isinstance(w, numbers.Real) and not isinstance(w, bool) and w >= 0 for w in class_weights)
            or not sum(class_weights) > 0
        ):
            raise ValueError(
                "`class_weights` must be a non-empty list of non-negative numbers, one per channel, with a "
                f"positive sum; received class_weights={class_weights!r}."
            )


def _probabilities(y_pred: Tensor, from_logits: bool, activation: str) -> tuple[Tensor, Tensor]:
    """The probabilities ``p`` and ``1 - p``; on sigmoid logits ``1 - p`` is ``sigmoid(-x)``, exact where ``p``
    rounds to 1 (past logit 17 in float32), so a near-perfect prediction's false negatives do not vanish."""
    if not from_logits:
        return y_pred, 1.0 - y_pred
    if activation == "sigmoid":
        return ops.sigmoid(y_pred), ops.sigmoid(-y_pred)
    probs = ops.softmax(y_pred, axis=-1)
    return probs, 1.0 - probs


def _prepare(loss: str, y_true: Tensor, y_pred: Tensor) -> tuple[Tensor, Tensor]:
    y_true, y_pred = promote(y_true, y_pred)
    if len(y_pred.shape) < 2:
        raise LossInputError(
            f"{loss} expects predictions shaped (batch, ..., channels); received shape {tuple(y_pred.shape)}. "
            "Add a channel axis (e.g. shape (batch, H, W, 1) for one binary mask)."
        )
    return y_true, y_pred


def _sum(x: Tensor, axes: tuple[int, ...]) -> Tensor:
    return ops.sum(x, axis=axes) if axes else x


def _soft_counts(y_true: Tensor, probs: tuple[Tensor, Tensor], per_class: bool) -> tuple[Tensor, Tensor, Tensor]:
    """Soft TP, FP and FN per sample (and per channel with ``per_class``) from ``p`` and ``1 - p``."""
    p, complement = probs
    rank = len(p.shape)
    axes = tuple(range(1, rank - 1)) if per_class else tuple(range(1, rank))
    tp = _sum(p * y_true, axes)
    fp = _sum(p * (1.0 - y_true), axes)
    fn = _sum(complement * y_true, axes)
    return tp, fp, fn


def _average(loss: str, values: Tensor, per_class: bool, class_weights: list[float] | None) -> Tensor:
    """Per-sample values: the (weighted) mean over channels of per-class values."""
    if not per_class:
        return values
    if class_weights is None:
        return ops.mean(values, axis=-1)
    channels = values.shape[-1]
    if channels is not None and channels != len(class_weights):
        raise LossInputError(
            f"{loss} got {len(class_weights)} class_weights but the prediction has {channels} channels; give one "
            "weight per channel."
        )
    weights = ops.convert_to_tensor(list(class_weights), dtype=values.dtype)
    return ops.sum(values * weights, axis=-1) / ops.sum(weights)


def _mismatch(
    tp: Tensor, fp: Tensor, fn: Tensor, smooth: float, tp_weight: float = 1.0, alpha: float = 1.0, beta: float = 1.0
) -> Tensor:
    """``1 - (w TP + s) / (w TP + alpha FP + beta FN + s)`` computed as ``(alpha FP + beta FN) / (...)``.

    The same value without the subtraction, which cancels in float32 for a near-perfect prediction.
    """
    mismatch = alpha * fp + beta * fn
    return mismatch / (tp_weight * tp + alpha * fp + beta * fn + smooth)


def _power(x: Tensor, gamma: float) -> Tensor:
    """``x ** gamma`` for ``x >= 0`` with a finite gradient at 0 even for ``gamma < 1`` (double ``where``)."""
    positive = x > 0
    safe = ops.where(positive, x, ops.ones_like(x))
    return ops.where(positive, ops.exp(gamma * ops.log(safe)), ops.zeros_like(x))


def _check_tversky(
    alpha: float, beta: float, smooth: float, activation: str, per_class: bool, class_weights: list[float] | None
) -> None:
    _check_options(smooth, activation, per_class, class_weights)
    if alpha < 0 or beta < 0 or alpha + beta <= 0:
        raise ValueError(f"`alpha` and `beta` must be >= 0 and not both 0, received alpha={alpha!r}, beta={beta!r}.")


def _check_focal_tversky(
    alpha: float,
    beta: float,
    gamma: float,
    smooth: float,
    activation: str,
    per_class: bool,
    class_weights: list[float] | None,
) -> None:
    _check_tversky(alpha, beta, smooth, activation, per_class, class_weights)
    if not gamma > 0:
        raise ValueError(f"`gamma` must be > 0, received gamma={gamma!r}.")


def _check_dice_bce(
    bce_weight: float,
    dice_weight: float,
    smooth: float,
    activation: str,
    per_class: bool,
    class_weights: list[float] | None,
) -> None:
    _check_options(smooth, activation, per_class, class_weights)
    for name, value in (("bce_weight", bce_weight), ("dice_weight", dice_weight)):
        if value < 0:
            raise ValueError(f"`{name}` must be >= 0, received {name}={value!r}.")


#: what every loss here accepts, read by lossreg's pre-flight check (shapes are checked before TensorFlow runs)
_ACCEPTS: dict[str, Any] = {
    "shapes": {"y_true": "batch ... channels", "y_pred": "batch ... channels"},
    "targets": "unit",
    "from_logits": "from_logits",
}


# -- the losses -------------------------------------------------------------------------------------------


def soft_dice(
    y_true: Tensor,
    y_pred: Tensor,
    *,
    smooth: float = 1.0,
    from_logits: bool = True,
    activation: Activation = "sigmoid",
    per_class: bool = True,
    class_weights: list[float] | None = None,
) -> Tensor:
    r"""Soft Dice loss, one value per sample.

    Formula:
        .. math:: \ell = 1 - \frac{2\,TP + s}{2\,TP + FP + FN + s}
                  = 1 - \frac{2 \sum p\,y + s}{\sum p + \sum y + s}

    per class (then averaged with ``class_weights``) or pooled over all channels.

    Args:
        y_true: targets in [0, 1], shaped like ``y_pred``.
        y_pred: logits (or probabilities with ``from_logits=False``), shaped ``(batch, ..., C)``.
        smooth: ``s`` > 0.
        from_logits: whether ``y_pred`` holds logits.
        activation: ``"sigmoid"`` or ``"softmax"`` (over channels), applied to logits.
        per_class: Dice per channel then averaged (True), or one pooled Dice (False).
        class_weights: one non-negative weight per channel for the average (``per_class`` only).

    Returns:
        The loss per sample, shaped ``(batch,)``.

    Reference:
        Milletari, Navab, Ahmadi. "V-Net: Fully Convolutional Neural Networks for Volumetric Medical Image
        Segmentation", 3DV 2016 (the soft Dice coefficient); ``monai.losses.DiceLoss``.

    Example:
        >>> import numpy as np
        >>> y = np.array([[[1.0], [0.0]]])                   # (batch 1, 2 pixels, 1 channel)
        >>> p = np.array([[[0.5], [0.5]]])
        >>> round(float(soft_dice(y, p, from_logits=False)[0]), 4)   # 1 - (2*0.5 + 1) / (1 + 1 + 1)
        0.3333
    """
    _check_options(smooth, activation, per_class, class_weights)
    y_true, y_pred = _prepare("soft_dice", y_true, y_pred)
    tp, fp, fn = _soft_counts(y_true, _probabilities(y_pred, from_logits, activation), per_class)
    return _average("soft_dice", _mismatch(tp, fp, fn, smooth, tp_weight=2.0), per_class, class_weights)


soft_dice_factory = loss_factory(soft_dice, validate=_check_options, **_ACCEPTS)


def jaccard(
    y_true: Tensor,
    y_pred: Tensor,
    *,
    smooth: float = 1.0,
    from_logits: bool = True,
    activation: Activation = "sigmoid",
    per_class: bool = True,
    class_weights: list[float] | None = None,
) -> Tensor:
    r"""Soft Jaccard (intersection-over-union) loss, one value per sample.

    Formula:
        .. math:: \ell = 1 - \frac{TP + s}{TP + FP + FN + s}
                  = 1 - \frac{\sum p\,y + s}{\sum p + \sum y - \sum p\,y + s}

    per class (then averaged with ``class_weights``) or pooled over all channels.

    Args:
        y_true: targets in [0, 1], shaped like ``y_pred``.
        y_pred: logits (or probabilities with ``from_logits=False``), shaped ``(batch, ..., C)``.
        smooth: ``s`` > 0.
        from_logits: whether ``y_pred`` holds logits.
        activation: ``"sigmoid"`` or ``"softmax"`` (over channels), applied to logits.
        per_class: IoU per channel then averaged (True), or one pooled IoU (False).
        class_weights: one non-negative weight per channel for the average (``per_class`` only).

    Returns:
        The loss per sample, shaped ``(batch,)``.

    Reference:
        Rahman, Wang. "Optimizing Intersection-Over-Union in Deep Neural Networks for Image Segmentation",
        ISVC 2016; ``segmentation_models`` ``JaccardLoss``.

    Example:
        >>> import numpy as np
        >>> y = np.array([[[1.0], [0.0]]])
        >>> p = np.array([[[0.5], [0.5]]])
        >>> round(float(jaccard(y, p, from_logits=False)[0]), 4)   # 1 - (0.5 + 1) / (1 + 1 - 0.5 + 1)
        0.4
    """
    _check_options(smooth, activation, per_class, class_weights)
    y_true, y_pred = _prepare("jaccard", y_true, y_pred)
    tp, fp, fn = _soft_counts(y_true, _probabilities(y_pred, from_logits, activation), per_class)
    return _average("jaccard", _mismatch(tp, fp, fn, smooth), per_class, class_weights)


jaccard_factory = loss_factory(jaccard, validate=_check_options, **_ACCEPTS)


def soft_tversky(
    y_true: Tensor,
    y_pred: Tensor,
    *,
    alpha: float = 0.5,
    beta: float = 0.5,
    smooth: float = 1.0,
    from_logits: bool = True,
    activation: Activation = "sigmoid",
    per_class: bool = True,
    class_weights: list[float] | None = None,
) -> Tensor:
    r"""Tversky loss: Dice with separate weights on false positives and false negatives, one value per sample.

    Formula:
        .. math:: \ell = 1 - TI,\qquad TI = \frac{TP + s}{TP + \alpha\,FP + \beta\,FN + s}

    ``alpha = beta = 0.5`` gives the soft Dice loss (with ``smooth`` halved) and ``alpha = beta = 1`` the
    Jaccard loss; ``beta > alpha`` penalises missed foreground more (higher recall), as for small lesions.

    Args:
        y_true: targets in [0, 1], shaped like ``y_pred``.
        y_pred: logits (or probabilities with ``from_logits=False``), shaped ``(batch, ..., C)``.
        alpha: weight of false positives, >= 0.
        beta: weight of false negatives, >= 0.
        smooth: ``s`` > 0.
        from_logits: whether ``y_pred`` holds logits.
        activation: ``"sigmoid"`` or ``"softmax"`` (over channels), applied to logits.
        per_class: index per channel then averaged (True), or one pooled index (False).
        class_weights: one non-negative weight per channel for the average (``per_class`` only).

    Returns:
        The loss per sample, shaped ``(batch,)``.

    Reference:
        Salehi, Erdogmus, Gholipour. "Tversky loss function for image segmentation using 3D fully
        convolutional deep networks", MLMI 2017 (``alpha`` on FP, ``beta`` on FN, as here).

    Example:
        >>> import numpy as np
        >>> y = np.array([[[1.0], [0.0]]])
        >>> p = np.array([[[0.5], [0.5]]])
        >>> round(float(soft_tversky(y, p, alpha=0.3, beta=0.7, from_logits=False)[0]), 4)  # 1 - 1.5 / 2
        0.25
    """
    _check_tversky(alpha, beta, smooth, activation, per_class, class_weights)
    y_true, y_pred = _prepare("soft_tversky", y_true, y_pred)
    tp, fp, fn = _soft_counts(y_true, _probabilities(y_pred, from_logits, activation), per_class)
    values = _mismatch(tp, fp, fn, smooth, alpha=alpha, beta=beta)
    return _average("soft_tversky", values, per_class, class_weights)


soft_tversky_factory = loss_factory(soft_tversky, validate=_check_tversky, **_ACCEPTS)


def focal_tversky(
    y_true: Tensor,
    y_pred: Tensor,
    *,
    alpha: float = 0.3,
    beta: float = 0.7,
    gamma: float = 0.75,
    smooth: float = 1.0,
    from_logits: bool = True,
    activation: Activation = "sigmoid",
    per_class: bool = True,
    class_weights: list[float] | None = None,
) -> Tensor:
    r"""Focal Tversky loss: the Tversky loss raised to a power, one value per sample.

    Formula:
        .. math:: \ell = (1 - TI)^{\gamma},\qquad TI = \frac{TP + s}{TP + \alpha\,FP + \beta\,FN + s}

    per class, then averaged with ``class_weights``. ``gamma < 1`` focuses training on the classes (or
    samples) that are still poorly segmented; ``gamma = 1`` is the Tversky loss. The power has a finite
    gradient at a perfect prediction for any ``gamma > 0``.

    Args:
        y_true: targets in [0, 1], shaped like ``y_pred``.
        y_pred: logits (or probabilities with ``from_logits=False``), shaped ``(batch, ..., C)``.
        alpha: weight of false positives, >= 0.
        beta: weight of false negatives, >= 0.
        gamma: exponent > 0. Abraham and Khan write :math:`(1 - TI)^{1/\gamma'}` with
            :math:`\gamma' = 4/3`; the default ``gamma = 0.75`` is that exponent.
        smooth: ``s`` > 0.
        from_logits: whether ``y_pred`` holds logits.
        activation: ``"sigmoid"`` or ``"softmax"`` (over channels), applied to logits.
        per_class: per channel then averaged (True), or one pooled index (False).
        class_weights: one non-negative weight per channel for the average (``per_class`` only).

    Returns:
        The loss per sample, shaped ``(batch,)``.

    Reference:
        Abraham, Khan. "A Novel Focal Tversky Loss Function with Improved Attention U-Net for Lesion
        Segmentation", ISBI 2019 (their alpha = 0.7 weighs FN, i.e. this ``beta``).

    Example:
        >>> import numpy as np
        >>> y = np.array([[[1.0], [0.0]]])
        >>> p = np.array([[[0.5], [0.5]]])
        >>> round(float(focal_tversky(y, p, gamma=0.5, from_logits=False)[0]), 4)   # (1 - 1.5 / 2) ** 0.5
        0.5
    """
    _check_focal_tversky(alpha, beta, gamma, smooth, activation, per_class, class_weights)
    y_true, y_pred = _prepare("focal_tversky", y_true, y_pred)
    tp, fp, fn = _soft_counts(y_true, _probabilities(y_pred, from_logits, activation), per_class)
    values = _power(ops.maximum(_mismatch(tp, fp, fn, smooth, alpha=alpha, beta=beta), 0.0), gamma)
    return _average("focal_tversky", values, per_class, class_weights)


focal_tversky_factory = loss_factory(focal_tversky, validate=_check_focal_tversky, **_ACCEPTS)


def _cross_entropy(y_true: Tensor, y_pred: Tensor, from_logits: bool, activation: str) -> Tensor:
    """Per-sample mean cross-entropy matching the activation: binary per element, or categorical per pixel."""
    axes = tuple(range(1, len(y_pred.shape)))
    if activation == "sigmoid":
        if from_logits:  # max(x, 0) - x y + log(1 + exp(-|x|)): no overflow at any logit
            # written with `where` on x >= 0 (as TensorFlow does): relu/abs would give a wrong gradient at x = 0
            nonneg = y_pred >= 0
            relu = ops.where(nonneg, y_pred, ops.zeros_like(y_pred))
            ce = relu - y_pred * y_true + ops.log1p(ops.exp(ops.where(nonneg, -y_pred, y_pred)))
        else:
            p = ops.clip(y_pred, _EPSILON, 1.0 - _EPSILON)
            ce = -(y_true * ops.log(p) + (1.0 - y_true) * ops.log(1.0 - p))
        return ops.mean(ce, axis=axes)
    if from_logits:
        ce = -ops.sum(y_true * ops.log_softmax(y_pred, axis=-1), axis=-1)
    else:
        ce = -ops.sum(y_true * ops.log(ops.clip(y_pred, _EPSILON, 1.0)), axis=-1)
    return ops.mean(ce, axis=axes[:-1]) if len(axes) > 1 else ce


def dice_bce(
    y_true: Tensor,
    y_pred: Tensor,
    *,
    bce_weight: float = 1.0,
    dice_weight: float = 1.0,
    smooth: float = 1.0,
    from_logits: bool = True,
    activation: Activation = "sigmoid",
    per_class: bool = True,
    class_weights: list[float] | None = None,
) -> Tensor:
    r"""Weighted cross-entropy plus soft Dice loss, one value per sample.

    The Data Science Bowl 2018 winners' combination (seed 004): cross-entropy for per-pixel accuracy and
    well-behaved gradients early on, Dice for the overlap the metric rewards.

    Formula:
        .. math:: \ell = w_b\,\mathrm{mean}\big(\mathrm{CE}(y, p)\big) + w_d\,\Big(1 - \frac{2\,TP + s}
                  {2\,TP + FP + FN + s}\Big)

    where CE is the binary cross-entropy per element for ``activation="sigmoid"`` and the categorical
    cross-entropy per pixel for ``"softmax"`` (mean over the non-batch axes; on logits in the overflow-free
    form, on probabilities clipped to :math:`[10^{-7}, 1 - 10^{-7}]`). ``class_weights`` weigh the Dice
    average only.

    Args:
        y_true: targets in [0, 1], shaped like ``y_pred``.
        y_pred: logits (or probabilities with ``from_logits=False``), shaped ``(batch, ..., C)``.
        bce_weight: ``w_b`` >= 0.
        dice_weight: ``w_d`` >= 0.
        smooth: ``s`` > 0.
        from_logits: whether ``y_pred`` holds logits.
        activation: ``"sigmoid"`` (binary CE) or ``"softmax"`` (categorical CE), applied to logits.
        per_class: Dice per channel then averaged (True), or one pooled Dice (False).
        class_weights: one non-negative weight per channel for the Dice average (``per_class`` only).

    Returns:
        The loss per sample, shaped ``(batch,)``.

    Reference:
        Seferbekov et al. (team "topcoders"), 1st place of the 2018 Data Science Bowl,
        https://github.com/selimsef/dsb2018_topcoders (``bce_dice_loss``).

    Example:
        >>> import numpy as np
        >>> y = np.array([[[1.0], [0.0]]])
        >>> p = np.array([[[0.5], [0.5]]])
        >>> round(float(dice_bce(y, p, from_logits=False)[0]), 4)   # log 2 + 1/3
        1.0265
    """
    _check_dice_bce(bce_weight, dice_weight, smooth, activation, per_class, class_weights)
    y_true, y_pred = _prepare("dice_bce", y_true, y_pred)
    ce = _cross_entropy(y_true, y_pred, from_logits, activation)
    tp, fp, fn = _soft_counts(y_true, _probabilities(y_pred, from_logits, activation), per_class)
    dice = _average("dice_bce", _mismatch(tp, fp, fn, smooth, tp_weight=2.0), per_class, class_weights)
    return bce_weight * ce + dice_weight * dice


dice_bce_factory = loss_factory(dice_bce, validate=_check_dice_bce, **_ACCEPTS)
