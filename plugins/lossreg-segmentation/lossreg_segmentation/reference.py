r"""Float64 NumPy references of the segmentation losses: each documented formula, written once, in NumPy.

The one reference of each loss, independent of ``keras.ops``: this plugin's tests check the losses against it
(``lossreg.testing.check_loss``) and so does lossreg's numerics matrix. It imports only NumPy and stays finite at
logits of :math:`\pm 10^4` (log-sigmoid through ``logaddexp``, log-softmax shifted by the maximum).

Each function takes ``y_true`` and ``y_pred`` shaped ``(batch, ..., C)`` and the loss's parameters, with the
loss's defaults, and returns one float64 value per sample, as the loss does. With :math:`p` the probabilities,
:math:`TP = \sum p\,y`, :math:`FP = \sum p\,(1 - y)`, :math:`FN = \sum (1 - p)\,y` over the spatial axes
(per class) or over every non-batch axis (``per_class=False``).

Example:

>>> import numpy as np
>>> y = np.array([[[1.0], [0.0]]])  # one sample, two pixels, one channel
>>> soft_dice(y, y, from_logits=False)  # a perfect prediction
array([0.])
>>> jaccard(y, np.array([[[0.5], [0.5]]]), from_logits=False)  # 1 - (0.5 + 1) / (0.5 + 0.5 + 0.5 + 1)
array([0.4])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

__all__ = ["REFERENCES", "dice_bce", "focal_tversky", "jaccard", "soft_dice", "soft_tversky"]

#: Keras clips probabilities to [eps, 1 - eps] with eps = 1e-7 in float32: the bounds it really uses are these
#: float32 numbers (1 - 1e-7 rounds to 1 - 1.19e-7, a 1 % difference in -log(1 - p)).
EPS_LO, EPS_HI = float(np.float32(1e-7)), float(np.float32(1.0 - 1e-7))


def _log_sigmoid(x: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0.0, -x)


def _log_softmax(x: np.ndarray) -> np.ndarray:
    m = np.max(x, axis=-1, keepdims=True)
    return x - m - np.log(np.sum(np.exp(x - m), axis=-1, keepdims=True))


def _probabilities(y_pred: np.ndarray, from_logits: bool, activation: str) -> np.ndarray:
    if not from_logits:
        return y_pred
    return np.exp(_log_sigmoid(y_pred) if activation == "sigmoid" else _log_softmax(y_pred))


def _spatial(x: np.ndarray) -> tuple[int, ...]:
    return tuple(range(1, x.ndim - 1))


def _counts(
    y_true: np.ndarray, y_pred: np.ndarray, from_logits: bool, activation: str, per_class: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Soft TP, FP, FN per sample (and per class unless pooled)."""
    p = _probabilities(y_pred, from_logits, activation)
    axes = _spatial(p) if per_class else tuple(range(1, p.ndim))
    return np.sum(p * y_true, axis=axes), np.sum(p * (1 - y_true), axis=axes), np.sum((1 - p) * y_true, axis=axes)


def _over_classes(values: np.ndarray, per_class: bool, class_weights: Sequence[float] | None) -> np.ndarray:
    """The (weighted) mean over classes of per-class values; pooled values as they are."""
    if not per_class:
        return values
    w = np.ones(values.shape[-1]) if class_weights is None else np.asarray(class_weights, float)
    return np.sum(values * w, axis=-1) / np.sum(w)


def _tversky_index(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    alpha: float,
    beta: float,
    smooth: float,
    from_logits: bool,
    activation: str,
    per_class: bool,
) -> np.ndarray:
    tp, fp, fn = _counts(y_true, y_pred, from_logits, activation, per_class)
    return (tp + smooth) / (tp + alpha * fp + beta * fn + smooth)


def soft_dice(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    smooth: float = 1.0,
    from_logits: bool = True,
    activation: str = "sigmoid",
    per_class: bool = True,
    class_weights: Sequence[float] | None = None,
) -> np.ndarray:
    """``1 - (2 TP + s) / (2 TP + FP + FN + s)`` (Milletari et al. 2016), averaged over classes unless pooled."""
    tp, fp, fn = _counts(y_true, y_pred, from_logits, activation, per_class)
    return _over_classes(1.0 - (2 * tp + smooth) / (2 * tp + fp + fn + smooth), per_class, class_weights)


def jaccard(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    smooth: float = 1.0,
    from_logits: bool = True,
    activation: str = "sigmoid",
    per_class: bool = True,
    class_weights: Sequence[float] | None = None,
) -> np.ndarray:
    """``1 - (TP + s) / (TP + FP + FN + s)`` (Rahman & Wang 2016), averaged over classes unless pooled."""
    tp, fp, fn = _counts(y_true, y_pred, from_logits, activation, per_class)
    return _over_classes(1.0 - (tp + smooth) / (tp + fp + fn + smooth), per_class, class_weights)


def soft_tversky(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    alpha: float = 0.5,
    beta: float = 0.5,
    smooth: float = 1.0,
    from_logits: bool = True,
    activation: str = "sigmoid",
    per_class: bool = True,
    class_weights: Sequence[float] | None = None,
) -> np.ndarray:
    """``1 - TI`` with ``TI = (TP + s) / (TP + a FP + b FN + s)`` (Salehi et al. 2017)."""
    ti = _tversky_index(y_true, y_pred, alpha, beta, smooth, from_logits, activation, per_class)
    return _over_classes(1.0 - ti, per_class, class_weights)


def focal_tversky(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    alpha: float = 0.3,
    beta: float = 0.7,
    gamma: float = 0.75,
    smooth: float = 1.0,
    from_logits: bool = True,
    activation: str = "sigmoid",
    per_class: bool = True,
    class_weights: Sequence[float] | None = None,
) -> np.ndarray:
    """``(1 - TI)^gamma`` (Abraham & Khan 2019); ``1 - TI`` held at >= 0 where it rounds below 0."""
    ti = _tversky_index(y_true, y_pred, alpha, beta, smooth, from_logits, activation, per_class)
    return _over_classes(np.maximum(1.0 - ti, 0.0) ** gamma, per_class, class_weights)


def dice_bce(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    bce_weight: float = 1.0,
    dice_weight: float = 1.0,
    smooth: float = 1.0,
    from_logits: bool = True,
    activation: str = "sigmoid",
    per_class: bool = True,
    class_weights: Sequence[float] | None = None,
) -> np.ndarray:
    """``w_b CE + w_d Dice``: sigmoid BCE averaged over every element, or softmax CE averaged over the spatial axes.

    On probabilities the cross-entropy clips them to ``[EPS_LO, EPS_HI]`` (sigmoid) or ``[EPS_LO, 1]`` (softmax).
    """
    y, x = y_true, y_pred
    if activation == "sigmoid":
        if from_logits:
            ce = -(y * _log_sigmoid(x) + (1.0 - y) * _log_sigmoid(-x))
        else:
            p = np.clip(x, EPS_LO, EPS_HI)
            ce = -(y * np.log(p) + (1.0 - y) * np.log(1.0 - p))
        ce = np.mean(ce, axis=tuple(range(1, x.ndim)))
    else:
        log_p = _log_softmax(x) if from_logits else np.log(np.clip(x, EPS_LO, 1.0))
        ce = np.mean(-np.sum(y * log_p, axis=-1), axis=_spatial(x))
    dice = soft_dice(y, x, smooth, from_logits, activation, per_class, class_weights)
    return bce_weight * ce + dice_weight * dice


#: the reference of each loss, by its registered name
REFERENCES: dict[str, Callable[..., np.ndarray]] = {
    "soft_dice": soft_dice,
    "jaccard": jaccard,
    "soft_tversky": soft_tversky,
    "focal_tversky": focal_tversky,
    "dice_bce": dice_bce,
}
