r"""Float64 NumPy references of the segmentation losses: each documented formula, written once, in NumPy.

The one reference of each loss, independent of ``keras.ops``: this plugin's tests check the losses against it
(``lossreg.testing.check_loss`` and the dense-target tests) and so does lossreg's numerics matrix. It imports only
NumPy and stays finite at logits of :math:`\pm 10^4` (log-sigmoid through ``logaddexp``, log-softmax shifted by the
maximum).

Each function takes ``y_true`` and ``y_pred`` shaped ``(batch, ..., C)`` (the ``sparse_`` ones class ids
``(batch, ...)``) and the loss's parameters, with the loss's defaults, and returns one float64 value per sample, as
the loss does. With :math:`p` the probabilities, :math:`TP = \sum w\,p\,y`, :math:`FP = \sum w\,p\,(1 - y)`,
:math:`FN = \sum w\,(1 - p)\,y` over the kept elements of the spatial axes (per class) or of every non-batch axis
(``per_class=False``), :math:`w` the pixel's sample weight (1 without one).

Ignored elements are not weighted by 0 here but left out: each sum runs over the kept elements only, selected with
a boolean index, sample by sample and class by class — another way of writing the normaliser than the loss's
weights, so the two check each other. :func:`kept_images` says which images keep anything, :func:`batch_mean` is
the mean over them (Keras' reduction of a masked per-sample loss).

Examples:

>>> import numpy as np
>>> y = np.array([[[1.0], [0.0]]])  # one sample, two pixels, one channel
>>> soft_dice(y, y, from_logits=False)  # a perfect prediction
array([0.])
>>> jaccard(y, np.array([[[0.5], [0.5]]]), from_logits=False)  # 1 - (0.5 + 1) / (0.5 + 0.5 + 0.5 + 1)
array([0.4])
>>> y = np.array([[[1.0], [255.0]]])  # the second pixel ignored: 1 - (1 + 1) / (1 + 0.5 + 1)
>>> soft_dice(y, np.array([[[0.5], [np.nan]]]), from_logits=False, ignore_class=255)
array([0.2])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

__all__ = [
    "REFERENCES",
    "SPARSE_REFERENCES",
    "batch_mean",
    "dice_bce",
    "focal_tversky",
    "jaccard",
    "kept_images",
    "soft_dice",
    "soft_tversky",
    "sparse_dice_bce",
    "sparse_focal_tversky",
    "sparse_jaccard",
    "sparse_soft_dice",
    "sparse_soft_tversky",
]

#: Keras clips probabilities to [eps, 1 - eps] with eps = 1e-7 in float32: the bounds it really uses are these
#: float32 numbers (1 - 1e-7 rounds to 1 - 1.19e-7, a 1 % difference in -log(1 - p)).
EPS_LO, EPS_HI = float(np.float32(1e-7)), float(np.float32(1.0 - 1e-7))

Index = Callable[[float, float, float], float]


def _log_sigmoid(x: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0.0, -x)


def _log_softmax(x: np.ndarray) -> np.ndarray:
    m = np.max(x, axis=-1, keepdims=True)
    return x - m - np.log(np.sum(np.exp(x - m), axis=-1, keepdims=True))


def _probabilities(y_pred: np.ndarray, from_logits: bool, activation: str) -> tuple[np.ndarray, np.ndarray]:
    """``p`` and ``1 - p`` everywhere (NaN at NaN logits: those elements are never selected)."""
    with np.errstate(all="ignore"):
        if not from_logits:
            return y_pred, 1.0 - y_pred
        if activation == "sigmoid":
            return np.exp(_log_sigmoid(y_pred)), np.exp(_log_sigmoid(-y_pred))
        p = np.exp(_log_softmax(y_pred))
        return p, 1.0 - p


def _per_pixel(tensor: np.ndarray | None, y_pred: np.ndarray) -> np.ndarray | None:
    if tensor is None:
        return None
    tensor = np.asarray(tensor, dtype="float64")
    return tensor[..., 0] if tensor.ndim == y_pred.ndim else tensor


def _selection(
    y_true: np.ndarray, y_pred: np.ndarray, activation: str, ignore_class: int | None, mask: np.ndarray | None
) -> tuple[np.ndarray, list[int]]:
    """Which elements count (bool, ``y_pred``'s shape) and which channels do."""
    keep = np.ones(y_pred.shape, dtype=bool)
    channels = list(range(y_pred.shape[-1]))
    if ignore_class is not None:
        if activation == "softmax":  # a channel: its labelled pixels and the channel itself leave
            keep &= (y_true[..., ignore_class] != 1)[..., None]
            channels.remove(ignore_class)
        else:  # a target value, element by element
            keep &= y_true != ignore_class
    pixel_mask = _per_pixel(mask, y_pred)
    if pixel_mask is not None:
        keep &= (pixel_mask != 0)[..., None]
    return keep, channels


def _pixel_weights(sample_weight: np.ndarray | None, y_pred: np.ndarray) -> np.ndarray:
    weight = _per_pixel(sample_weight, y_pred)
    return np.ones(y_pred.shape) if weight is None else np.broadcast_to(weight[..., None], y_pred.shape)


def _overlap(
    index: Index,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    from_logits: bool,
    activation: str,
    per_class: bool,
    class_weights: Sequence[float] | None,
    ignore_class: int | None,
    mask: np.ndarray | None,
    sample_weight: np.ndarray | None,
) -> np.ndarray:
    """``index(TP, FP, FN)`` per class over the kept elements, averaged over the classes that keep any (weighted),
    or pooled over every kept element; 0 for an image that keeps nothing."""
    y_true, y_pred = np.asarray(y_true, "float64"), np.asarray(y_pred, "float64")
    keep, channels = _selection(y_true, y_pred, activation, ignore_class, mask)
    p, q = _probabilities(y_pred, from_logits, activation)
    w = _pixel_weights(sample_weight, y_pred)
    cw = np.ones(y_pred.shape[-1]) if class_weights is None else np.asarray(class_weights, "float64")

    def counts(b: int, cs: list[int]) -> tuple[float, float, float] | None:
        sel = keep[b][..., cs]
        if not sel.any():
            return None
        yy, pp, qq, ww = (a[b][..., cs][sel] for a in (y_true, p, q, w))
        return float(np.sum(ww * pp * yy)), float(np.sum(ww * pp * (1 - yy))), float(np.sum(ww * qq * yy))

    out = np.zeros(y_pred.shape[0])
    for b in range(y_pred.shape[0]):
        if not per_class:
            found = counts(b, channels)
            out[b] = 0.0 if found is None else index(*found)
            continue
        values, weights = [], []
        for c in channels:
            found = counts(b, [c])
            if found is not None:  # a class with nothing kept leaves the average
                values.append(index(*found))
                weights.append(cw[c])
        total = float(np.sum(weights))
        out[b] = float(np.dot(values, weights)) / total if total > 0 else 0.0
    return out


def kept_images(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    activation: str = "sigmoid",
    ignore_class: int | None = None,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """Whether each image keeps any element (the others leave the batch mean)."""
    keep, channels = _selection(np.asarray(y_true, "float64"), np.asarray(y_pred), activation, ignore_class, mask)
    return keep[..., channels].reshape(keep.shape[0], -1).any(axis=1)


def batch_mean(values: np.ndarray, kept: np.ndarray) -> float:
    """The mean of per-image values over the images that keep something; 0 when none does."""
    return float(np.mean(values[kept])) if kept.any() else 0.0


def _dice(s: float) -> Index:
    return lambda tp, fp, fn: 1.0 - (2 * tp + s) / (2 * tp + fp + fn + s)


def _tversky(alpha: float, beta: float, s: float, gamma: float = 1.0) -> Index:
    return lambda tp, fp, fn: max(1.0 - (tp + s) / (tp + alpha * fp + beta * fn + s), 0.0) ** gamma


def soft_dice(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    smooth: float = 1.0,
    from_logits: bool = True,
    activation: str = "sigmoid",
    per_class: bool = True,
    class_weights: Sequence[float] | None = None,
    ignore_class: int | None = None,
    mask: np.ndarray | None = None,
    sample_weight: np.ndarray | None = None,
) -> np.ndarray:
    """``1 - (2 TP + s) / (2 TP + FP + FN + s)`` (Milletari et al. 2016), averaged over classes unless pooled."""
    return _overlap(
        _dice(smooth), y_true, y_pred, from_logits, activation, per_class, class_weights, ignore_class, mask,
        sample_weight,
    )  # fmt: skip


def jaccard(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    smooth: float = 1.0,
    from_logits: bool = True,
    activation: str = "sigmoid",
    per_class: bool = True,
    class_weights: Sequence[float] | None = None,
    ignore_class: int | None = None,
    mask: np.ndarray | None = None,
    sample_weight: np.ndarray | None = None,
) -> np.ndarray:
    """``1 - (TP + s) / (TP + FP + FN + s)`` (Rahman & Wang 2016), averaged over classes unless pooled."""
    index = _tversky(1.0, 1.0, smooth)
    return _overlap(
        index, y_true, y_pred, from_logits, activation, per_class, class_weights, ignore_class, mask, sample_weight
    )


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
    ignore_class: int | None = None,
    mask: np.ndarray | None = None,
    sample_weight: np.ndarray | None = None,
) -> np.ndarray:
    """``1 - TI`` with ``TI = (TP + s) / (TP + a FP + b FN + s)`` (Salehi et al. 2017)."""
    index = _tversky(alpha, beta, smooth)
    return _overlap(
        index, y_true, y_pred, from_logits, activation, per_class, class_weights, ignore_class, mask, sample_weight
    )


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
    ignore_class: int | None = None,
    mask: np.ndarray | None = None,
    sample_weight: np.ndarray | None = None,
) -> np.ndarray:
    """``(1 - TI)^gamma`` (Abraham & Khan 2019); ``1 - TI`` held at >= 0 where it rounds below 0."""
    index = _tversky(alpha, beta, smooth, gamma)
    return _overlap(
        index, y_true, y_pred, from_logits, activation, per_class, class_weights, ignore_class, mask, sample_weight
    )


def _cross_entropy(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    from_logits: bool,
    activation: str,
    class_weights: Sequence[float] | None,
    ignore_class: int | None,
    mask: np.ndarray | None,
    sample_weight: np.ndarray | None,
) -> np.ndarray:
    """Each image's mean cross-entropy over its kept elements (sigmoid: pixels x channels; softmax: pixels), each
    element's times its pixel's sample weight and its class's weight; 0 for an image that keeps nothing."""
    y, x = np.asarray(y_true, "float64"), np.asarray(y_pred, "float64")
    keep, _ = _selection(y, x, activation, ignore_class, mask)
    w = _pixel_weights(sample_weight, x)
    cw = np.ones(x.shape[-1]) if class_weights is None else np.asarray(class_weights, "float64")
    with np.errstate(all="ignore"):  # NaN logits at ignored elements: never selected
        if activation == "sigmoid":
            if from_logits:
                ce = -(y * _log_sigmoid(x) + (1.0 - y) * _log_sigmoid(-x))
            else:
                p = np.clip(x, EPS_LO, EPS_HI)
                ce = -(y * np.log(p) + (1.0 - y) * np.log(1.0 - p))
            ce = ce * cw
        else:
            log_p = _log_softmax(x) if from_logits else np.log(np.clip(x, EPS_LO, 1.0))
            ce = -np.sum(cw * y * log_p, axis=-1)
            keep, w = keep[..., 0], w[..., 0]  # per pixel
    out = np.zeros(x.shape[0])
    for b in range(x.shape[0]):
        if keep[b].any():
            out[b] = np.sum(w[b][keep[b]] * ce[b][keep[b]]) / np.count_nonzero(keep[b])
    return out


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
    ignore_class: int | None = None,
    mask: np.ndarray | None = None,
    sample_weight: np.ndarray | None = None,
) -> np.ndarray:
    """``w_b CE + w_d Dice``: sigmoid BCE averaged over the kept elements, or softmax CE over the kept pixels.

    On probabilities the cross-entropy clips them to ``[EPS_LO, EPS_HI]`` (sigmoid) or ``[EPS_LO, 1]`` (softmax).
    """
    dense = (from_logits, activation, class_weights, ignore_class, mask, sample_weight)
    ce = _cross_entropy(y_true, y_pred, *dense)
    dice = soft_dice(y_true, y_pred, smooth, from_logits, activation, per_class, *dense[2:])
    return bce_weight * ce + dice_weight * dice


# -- the sparse forms: the one-hot (softmax) references on the one-hot ids ------------------------------------------


def _one_hot_ids(
    y_true: np.ndarray, y_pred: np.ndarray, ignore_class: int | None, mask: np.ndarray | None
) -> tuple[np.ndarray, int | None, np.ndarray | None]:
    """One-hot targets (a row of zeros for an id outside [0, C)), the channel to ignore, the mask of kept pixels."""
    ids = np.asarray(y_true)
    if ids.ndim == np.ndim(y_pred) and ids.shape[-1] == 1:
        ids = ids[..., 0]
    classes = np.shape(y_pred)[-1]
    one_hot = (ids[..., None] == np.arange(classes)).astype("float64")
    if ignore_class is None:
        return one_hot, None, mask
    kept = ids != ignore_class
    if mask is not None:
        kept &= _per_pixel(mask, np.asarray(y_pred)) != 0
    return one_hot, (ignore_class if 0 <= ignore_class < classes else None), kept.astype("float64")


def _sparse(dense: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    def reference(
        y_true: np.ndarray,
        y_pred: np.ndarray,
        *,
        ignore_class: int | None = None,
        mask: np.ndarray | None = None,
        **params: object,
    ) -> np.ndarray:
        one_hot, channel, kept = _one_hot_ids(y_true, y_pred, ignore_class, mask)
        return dense(one_hot, y_pred, activation="softmax", ignore_class=channel, mask=kept, **params)

    reference.__name__ = f"sparse_{dense.__name__}"
    reference.__doc__ = f"``{dense.__name__}`` (softmax) on the one-hot class ids; ignored ids leave every sum."
    return reference


sparse_soft_dice = _sparse(soft_dice)
sparse_jaccard = _sparse(jaccard)
sparse_soft_tversky = _sparse(soft_tversky)
sparse_focal_tversky = _sparse(focal_tversky)
sparse_dice_bce = _sparse(dice_bce)

#: the reference of each loss on one-hot targets or masks, by its registered name
REFERENCES: dict[str, Callable[..., np.ndarray]] = {
    "soft_dice": soft_dice,
    "jaccard": jaccard,
    "soft_tversky": soft_tversky,
    "focal_tversky": focal_tversky,
    "dice_bce": dice_bce,
}
#: the reference of each class-id (``sparse_``) loss, by its registered name: they take class ids, not masks
SPARSE_REFERENCES: dict[str, Callable[..., np.ndarray]] = {
    "sparse_soft_dice": sparse_soft_dice,
    "sparse_jaccard": sparse_jaccard,
    "sparse_soft_tversky": sparse_soft_tversky,
    "sparse_focal_tversky": sparse_focal_tversky,
    "sparse_dice_bce": sparse_dice_bce,
}
