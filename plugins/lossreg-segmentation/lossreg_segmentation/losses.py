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

The pure functions here (``soft_dice``, ``jaccard``, ...) are plain ``keras.ops`` code usable on their own;
the ``*_factory`` functions are what the ``lossreg.losses`` entry points name.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from typing import Any, Literal

from lossreg import LossInputError
from lossreg_segmentation._ops import ops, promote

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


def _check_options(smooth: float, activation: str, per_class: bool, class_weights: Sequence[float] | None) -> None:
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


def _probabilities(y_pred: Tensor, from_logits: bool, activation: str) -> Tensor:
    if not from_logits:
        return y_pred
    return ops.sigmoid(y_pred) if activation == "sigmoid" else ops.softmax(y_pred, axis=-1)


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


def _soft_counts(y_true: Tensor, probs: Tensor, per_class: bool) -> tuple[Tensor, Tensor, Tensor]:
    """Soft TP, FP and FN per sample (and per channel with ``per_class``)."""
    rank = len(probs.shape)
    axes = tuple(range(1, rank - 1)) if per_class else tuple(range(1, rank))
    tp = _sum(probs * y_true, axes)
    fp = _sum(probs * (1.0 - y_true), axes)
    fn = _sum((1.0 - probs) * y_true, axes)
    return tp, fp, fn


def _average(loss: str, values: Tensor, per_class: bool, class_weights: Sequence[float] | None) -> Tensor:
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


def _power(x: Tensor, gamma: float) -> Tensor:
    """``x ** gamma`` for ``x >= 0`` with a finite gradient at 0 even for ``gamma < 1`` (double ``where``)."""
    positive = x > 0
    safe = ops.where(positive, x, ops.ones_like(x))
    return ops.where(positive, ops.exp(gamma * ops.log(safe)), ops.zeros_like(x))


def _documented_by(pure: Callable[..., Any]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Give a factory its loss's full docstring (its own first line stays what ``lossreg list`` reads)."""

    def decorate(factory: Callable[..., Any]) -> Callable[..., Any]:
        factory.__doc__ = pure.__doc__
        return factory

    return decorate


# -- the losses -------------------------------------------------------------------------------------------


def soft_dice(
    y_true: Tensor,
    y_pred: Tensor,
    *,
    smooth: float = 1.0,
    from_logits: bool = True,
    activation: Activation = "sigmoid",
    per_class: bool = True,
    class_weights: Sequence[float] | None = None,
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
    values = 1.0 - (2.0 * tp + smooth) / (2.0 * tp + fp + fn + smooth)
    return _average("soft_dice", values, per_class, class_weights)


@_documented_by(soft_dice)
def soft_dice_factory(
    smooth: float = 1.0,
    from_logits: bool = True,
    activation: Activation = "sigmoid",
    per_class: bool = True,
    class_weights: list[float] | None = None,
) -> Callable[[Tensor, Tensor], Tensor]:
    """Soft Dice loss, one value per sample."""
    _check_options(smooth, activation, per_class, class_weights)
    options = dict(smooth=smooth, from_logits=from_logits, activation=activation, per_class=per_class)

    def loss(y_true: Tensor, y_pred: Tensor) -> Tensor:
        return soft_dice(y_true, y_pred, class_weights=class_weights, **options)

    return loss


def jaccard(
    y_true: Tensor,
    y_pred: Tensor,
    *,
    smooth: float = 1.0,
    from_logits: bool = True,
    activation: Activation = "sigmoid",
    per_class: bool = True,
    class_weights: Sequence[float] | None = None,
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
    values = 1.0 - (tp + smooth) / (tp + fp + fn + smooth)
    return _average("jaccard", values, per_class, class_weights)


@_documented_by(jaccard)
def jaccard_factory(
    smooth: float = 1.0,
    from_logits: bool = True,
    activation: Activation = "sigmoid",
    per_class: bool = True,
    class_weights: list[float] | None = None,
) -> Callable[[Tensor, Tensor], Tensor]:
    """Soft Jaccard (intersection-over-union) loss, one value per sample."""
    _check_options(smooth, activation, per_class, class_weights)
    options = dict(smooth=smooth, from_logits=from_logits, activation=activation, per_class=per_class)

    def loss(y_true: Tensor, y_pred: Tensor) -> Tensor:
        return jaccard(y_true, y_pred, class_weights=class_weights, **options)

    return loss


def _check_tversky(alpha: float, beta: float) -> None:
    if alpha < 0 or beta < 0 or alpha + beta <= 0:
        raise ValueError(f"`alpha` and `beta` must be >= 0 and not both 0, received alpha={alpha!r}, beta={beta!r}.")


def _tversky_index(
    y_true: Tensor,
    y_pred: Tensor,
    alpha: float,
    beta: float,
    smooth: float,
    from_logits: bool,
    activation: str,
    per_class: bool,
) -> Tensor:
    tp, fp, fn = _soft_counts(y_true, _probabilities(y_pred, from_logits, activation), per_class)
    return (tp + smooth) / (tp + alpha * fp + beta * fn + smooth)


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
    class_weights: Sequence[float] | None = None,
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
    _check_options(smooth, activation, per_class, class_weights)
    _check_tversky(alpha, beta)
    y_true, y_pred = _prepare("soft_tversky", y_true, y_pred)
    index = _tversky_index(y_true, y_pred, alpha, beta, smooth, from_logits, activation, per_class)
    return _average("soft_tversky", 1.0 - index, per_class, class_weights)


@_documented_by(soft_tversky)
def soft_tversky_factory(
    alpha: float = 0.5,
    beta: float = 0.5,
    smooth: float = 1.0,
    from_logits: bool = True,
    activation: Activation = "sigmoid",
    per_class: bool = True,
    class_weights: list[float] | None = None,
) -> Callable[[Tensor, Tensor], Tensor]:
    """Tversky loss: Dice with separate weights on false positives and false negatives, one value per sample."""
    _check_options(smooth, activation, per_class, class_weights)
    _check_tversky(alpha, beta)
    options = dict(alpha=alpha, beta=beta, smooth=smooth, from_logits=from_logits, activation=activation)

    def loss(y_true: Tensor, y_pred: Tensor) -> Tensor:
        return soft_tversky(y_true, y_pred, per_class=per_class, class_weights=class_weights, **options)

    return loss


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
    class_weights: Sequence[float] | None = None,
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
    _check_options(smooth, activation, per_class, class_weights)
    _check_tversky(alpha, beta)
    if not gamma > 0:
        raise ValueError(f"`gamma` must be > 0, received gamma={gamma!r}.")
    y_true, y_pred = _prepare("focal_tversky", y_true, y_pred)
    index = _tversky_index(y_true, y_pred, alpha, beta, smooth, from_logits, activation, per_class)
    return _average("focal_tversky", _power(ops.maximum(1.0 - index, 0.0), gamma), per_class, class_weights)


@_documented_by(focal_tversky)
def focal_tversky_factory(
    alpha: float = 0.3,
    beta: float = 0.7,
    gamma: float = 0.75,
    smooth: float = 1.0,
    from_logits: bool = True,
    activation: Activation = "sigmoid",
    per_class: bool = True,
    class_weights: list[float] | None = None,
) -> Callable[[Tensor, Tensor], Tensor]:
    """Focal Tversky loss: the Tversky loss raised to a power, one value per sample."""
    _check_options(smooth, activation, per_class, class_weights)
    _check_tversky(alpha, beta)
    if not gamma > 0:
        raise ValueError(f"`gamma` must be > 0, received gamma={gamma!r}.")
    options = dict(alpha=alpha, beta=beta, gamma=gamma, smooth=smooth, from_logits=from_logits)

    def loss(y_true: Tensor, y_pred: Tensor) -> Tensor:
        return focal_tversky(
            y_true, y_pred, activation=activation, per_class=per_class, class_weights=class_weights, **options
        )

    return loss


def _cross_entropy(y_true: Tensor, y_pred: Tensor, from_logits: bool, activation: str) -> Tensor:
    """Per-sample mean cross-entropy matching the activation: binary per element, or categorical per pixel."""
    axes = tuple(range(1, len(y_pred.shape)))
    if activation == "sigmoid":
        if from_logits:  # max(x, 0) - x y + log(1 + exp(-|x|)): no overflow at any logit
            ce = ops.relu(y_pred) - y_pred * y_true + ops.log1p(ops.exp(-ops.abs(y_pred)))
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
    class_weights: Sequence[float] | None = None,
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
    _check_options(smooth, activation, per_class, class_weights)
    for name, value in (("bce_weight", bce_weight), ("dice_weight", dice_weight)):
        if value < 0:
            raise ValueError(f"`{name}` must be >= 0, received {name}={value!r}.")
    y_true, y_pred = _prepare("dice_bce", y_true, y_pred)
    ce = _cross_entropy(y_true, y_pred, from_logits, activation)
    tp, fp, fn = _soft_counts(y_true, _probabilities(y_pred, from_logits, activation), per_class)
    dice = _average("dice_bce", 1.0 - (2.0 * tp + smooth) / (2.0 * tp + fp + fn + smooth), per_class, class_weights)
    return bce_weight * ce + dice_weight * dice


@_documented_by(dice_bce)
def dice_bce_factory(
    bce_weight: float = 1.0,
    dice_weight: float = 1.0,
    smooth: float = 1.0,
    from_logits: bool = True,
    activation: Activation = "sigmoid",
    per_class: bool = True,
    class_weights: list[float] | None = None,
) -> Callable[[Tensor, Tensor], Tensor]:
    """Weighted cross-entropy plus soft Dice loss, one value per sample."""
    _check_options(smooth, activation, per_class, class_weights)
    for name, value in (("bce_weight", bce_weight), ("dice_weight", dice_weight)):
        if value < 0:
            raise ValueError(f"`{name}` must be >= 0, received {name}={value!r}.")
    options = dict(bce_weight=bce_weight, dice_weight=dice_weight, smooth=smooth, from_logits=from_logits)

    def loss(y_true: Tensor, y_pred: Tensor) -> Tensor:
        return dice_bce(
            y_true, y_pred, activation=activation, per_class=per_class, class_weights=class_weights, **options
        )

    return loss


# -- what each loss accepts (read by lossreg's pre-flight check: shapes are checked before TensorFlow runs) --

for _factory in (soft_dice_factory, jaccard_factory, soft_tversky_factory, focal_tversky_factory, dice_bce_factory):
    _factory.shapes = {"y_true": "batch ... channels", "y_pred": "batch ... channels"}  # type: ignore[attr-defined]
    _factory.targets = "unit"  # type: ignore[attr-defined]
    _factory.from_logits = "from_logits"  # type: ignore[attr-defined]
