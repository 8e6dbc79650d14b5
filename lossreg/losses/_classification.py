r"""Logits-safe classification losses: softmax and sigmoid cross-entropy, focal loss.

Train on logits, predict with the matching activation (``lossreg.inference_model``): these losses take
raw logits and stay finite, value and gradient, at logits of :math:`\pm 10^4` in float32 and float16
(half-precision inputs are computed in float32). Each returns per-element or per-sample values; the
Keras ``Loss`` that lossreg builds from them reduces (mean over everything by default).
"""

from __future__ import annotations

from typing import Any

from lossreg.losses import _checks
from lossreg.registry import register
from lossreg.registry._ops import ops, promote

__all__ = ["sigmoid_bce", "sigmoid_cross_entropy", "sigmoid_focal", "softmax_ce"]

Tensor = Any
_CLASSES = {"y_true": "batch ... classes", "y_pred": "batch ... classes"}
_ELEMENTS = {"y_true": "batch ...", "y_pred": "batch ..."}


def sigmoid_cross_entropy(labels: Tensor, logits: Tensor, pos_weight: float = 1.0) -> Tensor:
    r"""Per-element (weighted) sigmoid cross-entropy on logits, without overflow or cancellation.

    .. math:: \ell = q\,z\,\operatorname{softplus}(-x) + (1 - z)\,\operatorname{softplus}(x),\quad
              \operatorname{softplus}(x) = \max(x, 0) + \log(1 + e^{-|x|})

    the value of ``tf.nn.weighted_cross_entropy_with_logits``; for :math:`q = 1` it is computed exactly as
    ``tf.nn.sigmoid_cross_entropy_with_logits`` does, :math:`\max(x, 0) - x z + \log(1 + e^{-|x|})`.
    For :math:`q \ne 1`, TensorFlow's form :math:`(1 - z)\,x + (1 + (q - 1) z)(\log(1 + e^{-|x|}) + \max(-x, 0))`
    cancels for confident negatives (:math:`z = 0`, :math:`x \ll 0`: :math:`-|x| + |x| + \text{tiny}`), losing
    the value and gradient to rounding; the softplus form keeps full relative precision.
    """
    # max(x, 0), max(-x, 0) and -|x| as `where`s on x >= 0, as TensorFlow writes them: relu and abs have a
    # zero (or split) gradient at x = 0, which would give d/dx 0 instead of sigmoid(0) - z at a logit of exactly 0.
    nonneg = logits >= 0
    zero = ops.zeros_like(logits)
    log1p_exp = ops.log1p(ops.exp(ops.where(nonneg, -logits, logits)))
    if pos_weight == 1.0:
        return ops.where(nonneg, logits, zero) - logits * labels + log1p_exp
    positive = pos_weight * labels * (ops.where(nonneg, zero, -logits) + log1p_exp)
    return positive + (1.0 - labels) * (ops.where(nonneg, logits, zero) + log1p_exp)


# -- softmax_ce ---------------------------------------------------------------------------------------------


def _check_softmax_ce(label_smoothing: float) -> None:
    _checks.fraction("label_smoothing", label_smoothing)


def softmax_ce(y_true: Tensor, y_pred: Tensor, *, label_smoothing: float = 0.0) -> Tensor:
    r"""Softmax cross-entropy on logits over the last axis, one value per sample.

    Formula:
        .. math:: \ell = -\sum_c \tilde y_c \log \operatorname{softmax}(x)_c,\quad
                  \tilde y = (1 - s)\, y + s / C

    Equals ``tf.nn.softmax_cross_entropy_with_logits(labels=ỹ, logits=x)``.

    Args:
        y_true: one-hot (or soft) targets ``y``, shaped ``(batch, ..., C)``.
        y_pred: logits ``x``, shaped like ``y_true``.
        label_smoothing: ``s`` in [0, 1]; mixes the one-hot targets with the uniform distribution.

    Returns:
        The loss per sample (and position), shaped ``(batch, ...)``: ``y_pred``'s shape without the class axis.

    Raises:
        ValueError: ``label_smoothing`` is outside [0, 1].

    Example:
        >>> import numpy as np
        >>> from keras import ops
        >>> y = np.array([[0.0, 1.0], [1.0, 0.0]])
        >>> logits = np.array([[0.0, 0.0], [3.0, 0.0]])
        >>> print(ops.convert_to_numpy(softmax_ce(y, logits)).round(4))   # log 2, log(1 + e^-3)
        [0.6931 0.0486]
        >>> print(ops.convert_to_numpy(softmax_ce(y, logits, label_smoothing=0.2)).round(4))   # targets 0.9, 0.1
        [0.6931 0.3486]

        As a registered loss, reduced over the batch by Keras:

        >>> import lossreg
        >>> loss = lossreg.get("softmax_ce")
        >>> round(float(loss([[0.0, 1.0]], [[0.0, 0.0]])), 4)
        0.6931
    """
    _check_softmax_ce(label_smoothing)
    y_true, y_pred = promote(y_true, y_pred)
    if label_smoothing:
        classes = ops.cast(ops.shape(y_pred)[-1], y_pred.dtype)
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / classes
    return ops.categorical_crossentropy(y_true, y_pred, from_logits=True, axis=-1)


register("softmax_ce", validate=_check_softmax_ce, shapes=_CLASSES, targets="one_hot", from_logits=True)(softmax_ce)


# -- sigmoid_bce --------------------------------------------------------------------------------------------


def _check_sigmoid_bce(label_smoothing: float, pos_weight: float) -> None:
    _checks.fraction("label_smoothing", label_smoothing)
    _checks.positive("pos_weight", pos_weight)


def sigmoid_bce(y_true: Tensor, y_pred: Tensor, *, label_smoothing: float = 0.0, pos_weight: float = 1.0) -> Tensor:
    r"""Sigmoid (binary) cross-entropy on logits, one value per element.

    Formula:
        .. math:: \ell = -q\,\tilde z \log \sigma(x) - (1 - \tilde z) \log(1 - \sigma(x)),\quad
                  \tilde z = (1 - s)\, z + s / 2

    the value of ``tf.nn.weighted_cross_entropy_with_logits(ỹ, x, q)``, and with ``pos_weight=1`` of
    ``tf.nn.sigmoid_cross_entropy_with_logits(ỹ, x)``, computed with softplus so that it neither overflows
    nor cancels (see ``sigmoid_cross_entropy``).

    Args:
        y_true: targets ``z`` in [0, 1], shaped like ``y_pred``.
        y_pred: logits ``x``, shaped ``(batch, ...)``.
        label_smoothing: ``s`` in [0, 1]; pulls targets towards 0.5 (as Keras does).
        pos_weight: ``q`` > 0; weights the positive targets (``q > 1`` raises recall).

    Returns:
        The loss per element, shaped like ``y_pred``.

    Raises:
        ValueError: ``label_smoothing`` is outside [0, 1] or ``pos_weight`` is not > 0.

    Example:
        >>> import numpy as np
        >>> from keras import ops
        >>> z = np.array([[1.0, 0.0]])
        >>> x = np.array([[0.0, 0.0]])
        >>> print(ops.convert_to_numpy(sigmoid_bce(z, x)).round(4))   # log 2 each
        [[0.6931 0.6931]]
        >>> print(ops.convert_to_numpy(sigmoid_bce(z, x, pos_weight=2.0)).round(4))   # the positive counts twice
        [[1.3863 0.6931]]

        As a registered loss, reduced by Keras:

        >>> import lossreg
        >>> loss = lossreg.get("sigmoid_bce")
        >>> round(float(loss([[1.0, 0.0]], [[0.0, 0.0]])), 4)
        0.6931
    """
    _check_sigmoid_bce(label_smoothing, pos_weight)
    y_true, y_pred = promote(y_true, y_pred)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    return sigmoid_cross_entropy(y_true, y_pred, pos_weight)


register("sigmoid_bce", validate=_check_sigmoid_bce, shapes=_ELEMENTS, targets="unit", from_logits=True)(sigmoid_bce)


# -- sigmoid_focal ------------------------------------------------------------------------------------------


def _check_sigmoid_focal(alpha: float | None, gamma: float) -> None:
    if alpha is not None:
        _checks.fraction("alpha", alpha)
    _checks.focal_gamma("gamma", gamma)


def sigmoid_focal(y_true: Tensor, y_pred: Tensor, *, alpha: float | None = 0.25, gamma: float = 2.0) -> Tensor:
    r"""Sigmoid focal loss on logits (Lin et al., 2017), one value per element.

    Formula:
        .. math:: \ell = \alpha_t\,(1 - p_t)^\gamma\,\mathrm{BCE}(z, x),\quad p = \sigma(x),\;
                  p_t = z p + (1 - z)(1 - p),\; \alpha_t = z\alpha + (1 - z)(1 - \alpha)

    :math:`1 - p_t` is computed as :math:`z\,\sigma(-x) + (1 - z)\,\sigma(x)` so it keeps its precision
    for confident predictions, and the modulating factor has a finite gradient for any ``gamma >= 0``.

    Args:
        y_true: targets ``z`` in [0, 1], shaped like ``y_pred``.
        y_pred: logits ``x``, shaped ``(batch, ...)``.
        alpha: weight of the positive class in [0, 1]; ``None`` disables the balancing.
        gamma: focusing parameter in [0, 100]; 0 gives (alpha-balanced) cross-entropy. Beyond 100 the float32
            factor ``(1 - p_t)**gamma`` of a prediction at chance leaves the normal range (at 1e9 the loss is 0).

    Returns:
        The loss per element, shaped like ``y_pred``.

    Raises:
        ValueError: ``alpha`` is outside [0, 1] or ``gamma`` outside [0, 100].

    Reference:
        Lin, Goyal, Girshick, He, Dollár. "Focal Loss for Dense Object Detection", ICCV 2017;
        ``torchvision.ops.sigmoid_focal_loss``.

    Example:
        >>> import numpy as np
        >>> from keras import ops
        >>> z = np.array([[1.0, 0.0]])
        >>> x = np.array([[0.0, -2.0]])
        >>> print(ops.convert_to_numpy(sigmoid_focal(z, x, alpha=None, gamma=0.0)).round(4))   # plain BCE
        [[0.6931 0.1269]]
        >>> print(ops.convert_to_numpy(sigmoid_focal(z, x)).round(4))   # 0.25 * 0.5² * log 2, 0.75 * σ(-2)² * BCE
        [[0.0433 0.0014]]

        As a registered loss, reduced by Keras:

        >>> import lossreg
        >>> loss = lossreg.get("sigmoid_focal", alpha=None, gamma=0.0)
        >>> round(float(loss([[1.0]], [[0.0]])), 4)
        0.6931
    """
    _check_sigmoid_focal(alpha, gamma)
    y_true, y_pred = promote(y_true, y_pred)
    ce = sigmoid_cross_entropy(y_true, y_pred)
    if gamma:
        one_minus_pt = y_true * ops.sigmoid(-y_pred) + (1.0 - y_true) * ops.sigmoid(y_pred)
        positive = one_minus_pt > 0
        # double where: pow's gradient gamma * u^(gamma - 1) is never evaluated at u = 0 (inf for gamma < 1,
        # and inf * 0 = NaN), so the gradient stays finite; `power` rather than exp(gamma * log(u)), which
        # loses ~|gamma log u| ulps for confident predictions
        safe = ops.where(positive, one_minus_pt, ops.ones_like(one_minus_pt))
        ce = ce * ops.where(positive, ops.power(safe, gamma), ops.zeros_like(safe))
    if alpha is not None:
        ce = (y_true * alpha + (1.0 - y_true) * (1.0 - alpha)) * ce
    return ce


register(
    "sigmoid_focal",
    validate=_check_sigmoid_focal,
    shapes=_ELEMENTS,
    targets="unit",
    from_logits=True,
)(sigmoid_focal)
