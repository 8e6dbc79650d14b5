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
from lossreg.registry._dense import class_weight_vector, keep_mask, masked_values, zero_ignored
from lossreg.registry._ops import ops, promote

__all__ = ["sigmoid_bce", "sigmoid_cross_entropy", "sigmoid_focal", "softmax_ce", "sparse_softmax_ce"]

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


def softmax_ce(
    y_true: Tensor,
    y_pred: Tensor,
    *,
    label_smoothing: float = 0.0,
    ignore_class: int | None = None,
    class_weights: list[float] | None = None,
    mask: Tensor | None = None,
) -> Tensor:
    r"""Softmax cross-entropy on logits over the last axis, one value per sample (or pixel).

    Formula:
        .. math:: \ell = -\sum_c w_c\,\tilde y_c \log \operatorname{softmax}(x)_c,\quad
                  \tilde y = (1 - s)\, y + s / C

    with :math:`w_c = 1` without ``class_weights``. Equals
    ``tf.nn.softmax_cross_entropy_with_logits(labels=w * ỹ, logits=x)``.

    Normalizer:
        Keras' mean over every value (sample or pixel); with ``ignore_class`` or ``mask``, the mean over the kept
        values only (ignored ones are 0 and carry Keras' mask, as ``SparseCategoricalCrossentropy(ignore_class)``
        does; MMSegmentation's ``avg_non_ignore``), and 0 when nothing is kept. ``class_weights`` scale each value
        and leave the count alone (Keras' ``class_weight``, not PyTorch's division by the weights' sum).

    Args:
        y_true: one-hot (or soft) targets ``y``, shaped ``(batch, ..., C)``.
        y_pred: logits ``x``, shaped like ``y_true``.
        label_smoothing: ``s`` in [0, 1]; mixes the one-hot targets with the uniform distribution.
        ignore_class: a channel ``k`` in [0, C): pixels labelled ``k`` are ignored (their logits may be anything,
            NaN included). For class ids with an ignore value such as 255, use ``sparse_softmax_ce``.
        class_weights: ``w``, one non-negative weight per class.
        mask: (optional tensor) 0 where a pixel is ignored, shaped ``(batch, ...)``.

    Returns:
        The loss per sample (and position), shaped ``(batch, ...)``: ``y_pred``'s shape without the class axis.

    Raises:
        ValueError: ``label_smoothing`` is outside [0, 1].

    Conventions:
        ``label_smoothing=s`` makes the same targets :math:`(1 - s)\,y + s / C` as Keras'
        ``categorical_crossentropy(label_smoothing=s)`` and PyTorch's ``cross_entropy(label_smoothing=s)``: the
        same values for the same ``s``. ``class_weights`` scale each value and Keras' mean still divides by the
        number of values; PyTorch's ``cross_entropy(weight=w)`` with ``reduction="mean"`` divides by the sum of the
        targets' weights instead, so the two means differ unless every weight is 1.

    Numerics:
        Computed from the log-softmax of the logits: the value and the gradient stay finite at logits of
        :math:`\pm 10^4` in float32, and for float16 inputs (computed in float32) and under ``mixed_float16``. A
        confidently wrong class costs about the logit gap (:math:`2 \cdot 10^4` at :math:`\pm 10^4`), not inf.

        Ignored pixels' logits are replaced by 0 before the math, so a NaN or inf there reaches neither the value
        nor the gradient.

    Reference:
        ``tf.nn.softmax_cross_entropy_with_logits`` and ``keras.losses.categorical_crossentropy(from_logits=True)``
        (the values); Szegedy et al. "Rethinking the Inception Architecture for Computer Vision", CVPR 2016
        (label smoothing).

    Examples:
        >>> import numpy as np
        >>> from keras import ops
        >>> y = np.array([[0.0, 1.0], [1.0, 0.0]])
        >>> logits = np.array([[0.0, 0.0], [3.0, 0.0]])
        >>> print(ops.convert_to_numpy(softmax_ce(y, logits)).round(4))   # log 2, log(1 + e^-3)
        [0.6931 0.0486]
        >>> print(ops.convert_to_numpy(softmax_ce(y, logits, label_smoothing=0.2)).round(4))   # targets 0.9, 0.1
        [0.6931 0.3486]
        >>> print(ops.convert_to_numpy(softmax_ce(y, logits, ignore_class=0)).round(4))   # the class-0 row ignored
        [0.6931 0.    ]

        As a registered loss, reduced over the batch by Keras (over the kept rows with ``ignore_class``):

        >>> import lossreg
        >>> round(float(lossreg.get("softmax_ce")([[0.0, 1.0]], [[0.0, 0.0]])), 4)
        0.6931
        >>> round(float(lossreg.get("softmax_ce", ignore_class=0)(y, logits)), 4)   # one row kept: log 2
        0.6931
    """
    _check_softmax_ce(label_smoothing)
    y_true, y_pred = promote(y_true, y_pred)
    keep = keep_mask(y_true, "one_hot", ignore_class=ignore_class, mask=mask, loss="softmax_ce")
    y_pred = zero_ignored(y_pred, keep)  # one-hot targets are finite (pre-flight refuses NaN): only the logits
    if label_smoothing:
        classes = ops.cast(ops.shape(y_pred)[-1], y_pred.dtype)
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / classes
    weights = class_weight_vector(class_weights, y_pred.shape[-1], y_pred.dtype, "softmax_ce")
    if weights is not None:
        y_true = y_true * weights
    return masked_values(ops.categorical_crossentropy(y_true, y_pred, from_logits=True, axis=-1), keep)


register("softmax_ce", validate=_check_softmax_ce, shapes=_CLASSES, targets="one_hot", from_logits=True)(softmax_ce)


def class_ids(y_true: Tensor, y_pred: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor | None]:
    """Class ids ``(batch, ...)`` for logits ``(batch, ..., C)``: ids ``(batch, ..., 1)`` squeezed, as Keras takes
    them, and a mask shaped like those ids squeezed with them (it would otherwise broadcast against the ids)."""
    y_true = ops.convert_to_tensor(y_true)
    if len(y_true.shape) == len(y_pred.shape) and y_true.shape[-1] == 1:
        y_true = ops.squeeze(y_true, axis=-1)
        mask = None if mask is None else ops.convert_to_tensor(mask)
        if mask is not None and len(mask.shape) == len(y_pred.shape) and mask.shape[-1] == 1:
            mask = ops.squeeze(mask, axis=-1)
    return y_true, mask


def sparse_softmax_ce(
    y_true: Tensor,
    y_pred: Tensor,
    *,
    ignore_class: int | None = None,
    class_weights: list[float] | None = None,
    mask: Tensor | None = None,
) -> Tensor:
    r"""Softmax cross-entropy on logits against integer class ids, one value per sample (or pixel).

    Formula:
        .. math:: \ell = -w_{t} \log \operatorname{softmax}(x)_{t}

    for the class id :math:`t` (:math:`w_t = 1` without ``class_weights``). Equals
    ``tf.nn.sparse_softmax_cross_entropy_with_logits(labels=t, logits=x)``, and with ``ignore_class``
    ``keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=...)``.

    Normalizer:
        Keras' mean over every value (sample or pixel); with ``ignore_class`` or ``mask``, the mean over the kept
        values only (ignored ones are 0 and carry Keras' mask, exactly as Keras' ``ignore_class``), and 0 when
        nothing is kept. ``class_weights`` scale each value and leave the count alone (Keras' ``class_weight``).

    Args:
        y_true: class ids ``t`` in [0, C), shaped ``(batch, ...)`` (or ``(batch, ..., 1)``).
        y_pred: logits ``x``, shaped ``(batch, ..., C)``.
        ignore_class: a class id whose pixels are ignored; any integer, e.g. 255 or -1 (their logits may be
            anything, NaN included).
        class_weights: ``w``, one non-negative weight per class.
        mask: (optional tensor) 0 where a pixel is ignored, shaped like ``y_true``.

    Returns:
        The loss per sample (and position), shaped ``(batch, ...)``.

    Conventions:
        ``ignore_class`` is Keras' (``SparseCategoricalCrossentropy(ignore_class=...)``: the mean over the kept
        pixels); PyTorch's ``cross_entropy(ignore_index=...)`` averages over the kept pixels too, but with
        ``weight=w`` divides by the sum of their weights instead of their number (``class_weights`` here leave the
        count alone).

    Numerics:
        Computed from the log-softmax of the logits: the value and the gradient stay finite at logits of
        :math:`\pm 10^4` in float32, for float16 inputs (computed in float32) and under ``mixed_float16``.
        Ignored pixels' ids and logits are replaced by 0 before the math, so a NaN logit or an id such as 255
        there reaches neither the value nor the gradient.

    Reference:
        ``tf.nn.sparse_softmax_cross_entropy_with_logits``; ``keras.losses.SparseCategoricalCrossentropy``
        (``from_logits=True``, ``ignore_class``).

    Examples:
        >>> import numpy as np
        >>> from keras import ops
        >>> ids = np.array([1, 255])
        >>> logits = np.array([[0.0, 0.0], [np.nan, 0.0]])
        >>> print(ops.convert_to_numpy(sparse_softmax_ce(ids, logits, ignore_class=255)).round(4))
        [0.6931 0.    ]

        As a registered loss, reduced by Keras over the kept pixels:

        >>> import lossreg
        >>> round(float(lossreg.get("sparse_softmax_ce", ignore_class=255)(ids, logits)), 4)
        0.6931
    """
    y_pred = promote(y_pred)[0]
    y_true, mask = class_ids(y_true, y_pred, mask)
    keep = keep_mask(y_true, "class_ids", ignore_class=ignore_class, mask=mask, loss="sparse_softmax_ce")
    ids = ops.cast(zero_ignored(y_true, keep), "int32")
    y_pred = zero_ignored(y_pred, keep)
    log_probs = ops.log_softmax(y_pred, axis=-1)
    ce = -ops.squeeze(ops.take_along_axis(log_probs, ops.expand_dims(ids, -1), axis=-1), axis=-1)
    weights = class_weight_vector(class_weights, y_pred.shape[-1], y_pred.dtype, "sparse_softmax_ce")
    if weights is not None:
        ce = ce * ops.take(weights, ids)
    return masked_values(ce, keep)


register(
    "sparse_softmax_ce",
    shapes={"y_true": "batch ...", "y_pred": "batch ... classes"},
    targets="class_ids",
    from_logits=True,
)(sparse_softmax_ce)


# -- sigmoid_bce --------------------------------------------------------------------------------------------


def _check_sigmoid_bce(label_smoothing: float, pos_weight: float) -> None:
    _checks.fraction("label_smoothing", label_smoothing)
    _checks.positive("pos_weight", pos_weight)


def sigmoid_bce(
    y_true: Tensor,
    y_pred: Tensor,
    *,
    label_smoothing: float = 0.0,
    pos_weight: float = 1.0,
    ignore_class: int | None = None,
    class_weights: list[float] | None = None,
    mask: Tensor | None = None,
) -> Tensor:
    r"""Sigmoid (binary) cross-entropy on logits, one value per element.

    Formula:
        .. math:: \ell = -q\,\tilde z \log \sigma(x) - (1 - \tilde z) \log(1 - \sigma(x)),\quad
                  \tilde z = (1 - s)\, z + s / 2

    the value of ``tf.nn.weighted_cross_entropy_with_logits(ỹ, x, q)``, and with ``pos_weight=1`` of
    ``tf.nn.sigmoid_cross_entropy_with_logits(ỹ, x)``, computed with softplus so that it neither overflows
    nor cancels (see ``sigmoid_cross_entropy``). With ``class_weights``, each element's value is multiplied by
    the weight :math:`w_c` of its channel ``c`` (the last axis).

    Normalizer:
        Keras' mean over every element; with ``ignore_class`` or ``mask``, the mean over the kept elements only
        (ignored ones are 0 and carry Keras' mask, as Keras' ``SparseCategoricalCrossentropy(ignore_class)``
        does; MMSegmentation's ``avg_non_ignore``), and 0 when nothing in the batch is kept (an image with
        nothing kept simply adds no elements). ``class_weights`` scale each element by its channel's weight and
        leave the count alone (Keras' ``class_weight``, not PyTorch's division by the weights' sum). A per-pixel
        ``sample_weight`` map ``(batch, ...)`` weighs elements in Keras' reduction as usual.

    Args:
        y_true: targets ``z`` in [0, 1], shaped like ``y_pred``; elements equal to ``ignore_class`` are ignored.
        y_pred: logits ``x``, shaped ``(batch, ...)``.
        label_smoothing: ``s`` in [0, 1]; pulls targets towards 0.5 (as Keras does).
        pos_weight: ``q`` > 0; weights the positive targets (``q > 1`` raises recall).
        ignore_class: a target value (e.g. 255 or -1) whose elements are ignored: they enter neither the value
            nor the gradient (their logits may be anything, NaN included).
        class_weights: ``w``, one non-negative weight per channel (the last axis).
        mask: (optional tensor) 0 where an element is ignored, shaped like ``y_true`` or like it without the last
            axis (a per-pixel mask over the channels).

    Returns:
        The loss per element, shaped like ``y_pred``.

    Raises:
        ValueError: ``label_smoothing`` is outside [0, 1] or ``pos_weight`` is not > 0.

    Conventions:
        ``label_smoothing=s`` pulls both labels towards 0.5, :math:`(1 - s)\,z + s/2`, exactly as Keras'
        ``binary_crossentropy(label_smoothing=s)`` (the same values for the same ``s``); PyTorch's
        ``BCEWithLogitsLoss`` has no label smoothing. ``pos_weight=q`` is TensorFlow's ``pos_weight`` of
        ``weighted_cross_entropy_with_logits`` and PyTorch's ``BCEWithLogitsLoss(pos_weight=q)``: it multiplies
        the positive term only.

    Numerics:
        Computed with softplus, :math:`\max(x, 0) + \log(1 + e^{-|x|})`: the value and the gradient stay finite
        at logits of :math:`\pm 10^4` in float32, for float16 inputs (computed in float32) and under
        ``mixed_float16``, also with ``pos_weight`` and ``label_smoothing``. TensorFlow's formula for
        ``pos_weight`` :math:`\ne 1` cancels for confident negatives; the softplus form keeps full relative
        precision there (see ``sigmoid_cross_entropy``). At a logit of exactly 0 the gradient is
        :math:`\sigma(0) - z` (the max and abs are written as ``where`` on :math:`x \ge 0`, whose gradient
        does not split at 0).

    Reference:
        ``tf.nn.weighted_cross_entropy_with_logits``, ``tf.nn.sigmoid_cross_entropy_with_logits`` and
        ``torch.nn.BCEWithLogitsLoss(pos_weight=...)`` (the values); Szegedy et al., CVPR 2016 (label smoothing).

    Examples:
        >>> import numpy as np
        >>> from keras import ops
        >>> z = np.array([[1.0, 0.0]])
        >>> x = np.array([[0.0, 0.0]])
        >>> print(ops.convert_to_numpy(sigmoid_bce(z, x)).round(4))   # log 2 each
        [[0.6931 0.6931]]
        >>> print(ops.convert_to_numpy(sigmoid_bce(z, x, pos_weight=2.0)).round(4))   # the positive counts twice
        [[1.3863 0.6931]]
        >>> print(ops.convert_to_numpy(sigmoid_bce(z, x, class_weights=[1.0, 3.0])).round(4))   # channel 1 x 3
        [[0.6931 2.0794]]
        >>> masks = np.array([[1.0, 255.0]])   # 255: an unlabelled pixel, its logit NaN
        >>> print(ops.convert_to_numpy(sigmoid_bce(masks, np.array([[0.0, np.nan]]), ignore_class=255)).round(4))
        [[0.6931 0.    ]]

        As a registered loss, reduced by Keras (over the kept elements with ``ignore_class`` or ``mask``):

        >>> import lossreg
        >>> loss = lossreg.get("sigmoid_bce")
        >>> round(float(loss([[1.0, 0.0]], [[0.0, 0.0]])), 4)
        0.6931
        >>> loss = lossreg.get("sigmoid_bce", ignore_class=255)
        >>> round(float(loss([[1.0, 255.0, 0.0, 255.0]], [[0.0, 9.0, 0.0, -9.0]])), 4)   # two kept: log 2
        0.6931
    """
    _check_sigmoid_bce(label_smoothing, pos_weight)
    y_true, y_pred = promote(y_true, y_pred)
    keep = keep_mask(y_true, "unit", ignore_class=ignore_class, mask=mask, loss="sigmoid_bce")
    y_true, y_pred = zero_ignored(y_true, keep), zero_ignored(y_pred, keep)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    values = sigmoid_cross_entropy(y_true, y_pred, pos_weight)
    weights = class_weight_vector(class_weights, y_pred.shape[-1], y_pred.dtype, "sigmoid_bce")
    if weights is not None:
        values = values * weights
    return masked_values(values, keep)


register("sigmoid_bce", validate=_check_sigmoid_bce, shapes=_ELEMENTS, targets="unit", from_logits=True)(sigmoid_bce)


# -- sigmoid_focal ------------------------------------------------------------------------------------------


def _check_sigmoid_focal(alpha: float | None, gamma: float) -> None:
    if alpha is not None:
        _checks.fraction("alpha", alpha)
    _checks.focal_gamma("gamma", gamma)


def sigmoid_focal(
    y_true: Tensor,
    y_pred: Tensor,
    *,
    alpha: float | None = 0.25,
    gamma: float = 2.0,
    ignore_class: int | None = None,
    class_weights: list[float] | None = None,
    mask: Tensor | None = None,
) -> Tensor:
    r"""Sigmoid focal loss on logits (Lin et al., 2017), one value per element.

    Formula:
        .. math:: \ell = \alpha_t\,(1 - p_t)^\gamma\,\mathrm{BCE}(z, x),\quad p = \sigma(x),\;
                  p_t = z p + (1 - z)(1 - p),\; \alpha_t = z\alpha + (1 - z)(1 - \alpha)

    :math:`1 - p_t` is computed as :math:`z\,\sigma(-x) + (1 - z)\,\sigma(x)` so it keeps its precision
    for confident predictions, and the modulating factor has a finite gradient for any ``gamma >= 0``. With
    ``class_weights``, each element's value is multiplied by the weight :math:`w_c` of its channel ``c`` (the last
    axis), on top of :math:`\alpha_t`.

    Normalizer:
        Keras' mean over every element (as torchvision's ``reduction="mean"``, not the detection practice of
        dividing by the number of positives); with ``ignore_class`` or ``mask``, the mean over the kept elements
        only (ignored ones are 0 and carry Keras' mask, as Keras' ``SparseCategoricalCrossentropy(ignore_class)``
        does), and 0 when nothing in the batch is kept. ``class_weights`` scale each element by its channel's
        weight and leave the count alone (Keras' ``class_weight``). A per-pixel ``sample_weight`` map weighs
        elements in Keras' reduction as usual.

    Args:
        y_true: targets ``z`` in [0, 1], shaped like ``y_pred``; elements equal to ``ignore_class`` are ignored.
        y_pred: logits ``x``, shaped ``(batch, ...)``.
        alpha: weight of the positive class in [0, 1]; ``None`` disables the balancing.
        gamma: focusing parameter in [0, 100]; 0 gives (alpha-balanced) cross-entropy. Beyond 100 the float32
            factor ``(1 - p_t)**gamma`` of a prediction at chance leaves the normal range (at 1e9 the loss is 0).
        ignore_class: a target value (e.g. 255 or -1) whose elements are ignored: they enter neither the value
            nor the gradient (their logits may be anything, NaN included).
        class_weights: ``w``, one non-negative weight per channel (the last axis).
        mask: (optional tensor) 0 where an element is ignored, shaped like ``y_true`` or like it without the last
            axis (a per-pixel mask over the channels).

    Returns:
        The loss per element, shaped like ``y_pred``.

    Raises:
        ValueError: ``alpha`` is outside [0, 1] or ``gamma`` outside [0, 100].

    Conventions:
        The normaliser is Keras' mean over every element, as torchvision's ``sigmoid_focal_loss(reduction="mean")``.
        RetinaNet (Lin et al.) and the detection libraries following it sum the loss over all anchors and divide by
        the number of positive (foreground) anchors: that equals this loss's mean times the number of elements over
        the number of positives, so with few positives it is much larger, and a learning rate tuned for one
        normaliser does not carry over to the other. ``alpha`` weighs the positives (:math:`\alpha_t = \alpha` for
        :math:`z = 1`, :math:`1 - \alpha` for :math:`z = 0`), as in the paper and torchvision; ``alpha=None``
        leaves both at 1. Keras' ``binary_focal_crossentropy`` applies ``alpha`` only with
        ``apply_class_balancing=True``: ``binary_focal_crossentropy(apply_class_balancing=True, alpha=a, gamma=g,
        from_logits=True)`` is the mean over the last axis of this loss with the same ``alpha`` and ``gamma``.

    Numerics:
        The modulating factor :math:`(1 - p_t)^\gamma` is computed with a double ``where``: for ``gamma < 1`` its
        gradient :math:`\gamma (1 - p_t)^{\gamma - 1}` is never evaluated where :math:`1 - p_t` is exactly 0
        (the textbook expression gives :math:`\infty \cdot 0` = NaN there), so the gradient stays finite for any
        ``gamma >= 0``. :math:`1 - p_t` is :math:`z\,\sigma(-x) + (1 - z)\,\sigma(x)`, not :math:`1 - p_t`
        computed from :math:`p_t`, so it keeps its precision for confident predictions.

        Value and gradient stay finite at logits of :math:`\pm 10^4` in float32 (``gamma`` 0, 0.5 and 2), for
        float16 inputs (computed in float32) and under ``mixed_float16``. ``gamma`` is capped at 100: beyond it the
        float32 factor of a prediction at chance, :math:`0.5^\gamma`, leaves the normal range.

    Reference:
        Lin, Goyal, Girshick, He, Dollár. "Focal Loss for Dense Object Detection", ICCV 2017;
        ``torchvision.ops.sigmoid_focal_loss`` (the values, with ``reduction="none"``).

    Examples:
        >>> import numpy as np
        >>> from keras import ops
        >>> z = np.array([[1.0, 0.0]])
        >>> x = np.array([[0.0, -2.0]])
        >>> print(ops.convert_to_numpy(sigmoid_focal(z, x, alpha=None, gamma=0.0)).round(4))   # plain BCE
        [[0.6931 0.1269]]
        >>> print(ops.convert_to_numpy(sigmoid_focal(z, x)).round(4))   # 0.25 * 0.5² * log 2, 0.75 * σ(-2)² * BCE
        [[0.0433 0.0014]]
        >>> print(ops.convert_to_numpy(sigmoid_focal(z, x, mask=np.array([[1.0, 0.0]]))).round(4))   # 2nd left out
        [[0.0433 0.    ]]

        As a registered loss, reduced by Keras:

        >>> import lossreg
        >>> loss = lossreg.get("sigmoid_focal", alpha=None, gamma=0.0)
        >>> round(float(loss([[1.0]], [[0.0]])), 4)
        0.6931
    """
    _check_sigmoid_focal(alpha, gamma)
    y_true, y_pred = promote(y_true, y_pred)
    keep = keep_mask(y_true, "unit", ignore_class=ignore_class, mask=mask, loss="sigmoid_focal")
    y_true, y_pred = zero_ignored(y_true, keep), zero_ignored(y_pred, keep)
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
    weights = class_weight_vector(class_weights, y_pred.shape[-1], y_pred.dtype, "sigmoid_focal")
    if weights is not None:
        ce = ce * weights
    return masked_values(ce, keep)


register(
    "sigmoid_focal",
    validate=_check_sigmoid_focal,
    shapes=_ELEMENTS,
    targets="unit",
    from_logits=True,
)(sigmoid_focal)
