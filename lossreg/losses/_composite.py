r"""Losses that combine several quantities of a model, taking extra tensors besides ``y_pred``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lossreg._ops import ops, promote, reduce_non_batch
from lossreg._registry import register

__all__ = ["mse_bce"]

Tensor = Any


@register(
    "mse_bce",
    extras=("aux",),
    shapes={"y_true": "batch ...", "y_pred": "batch ...", "aux": "batch ..."},
    targets="unit",
    from_logits="from_logits",
)
def mse_bce(mse_weight: float = 1.0, bce_weight: float = 1.0, from_logits: bool = False) -> Callable[..., Tensor]:
    r"""MSE of an intermediate tensor plus BCE of the prediction, against one target, one value per sample.

    Seed 004's combined loss: a decoder's intermediate layer (``aux``) and its final sigmoid output
    (``y_pred``) are both pulled towards the same mask ``y_true``.

    Formula:
        .. math:: \ell = w_m\,\mathrm{mean}\big((y - a)^2\big)
                  + w_b\,\mathrm{mean}\big(-y\log p - (1 - y)\log(1 - p)\big)

    with means over the non-batch axes, ``a`` the ``aux`` tensor and ``p`` the prediction (probabilities
    clipped to ``[1e-7, 1 - 1e-7]`` as Keras does, or logits with ``from_logits=True``).

    Args:
        mse_weight: ``w_m`` >= 0, weight of the MSE of ``aux``.
        bce_weight: ``w_b`` >= 0, weight of the BCE of ``y_pred``.
        from_logits: whether ``y_pred`` holds logits rather than probabilities.

    Extras:
        aux: the intermediate tensor, shaped like ``y_true``.

    Example:
        >>> import lossreg
        >>> loss = lossreg.get("mse_bce")
        >>> round(float(loss([[1.0]], {"y_pred": [[0.5]], "aux": [[0.0]]})), 4)   # 1 + log 2
        1.6931
    """
    for name, value in (("mse_weight", mse_weight), ("bce_weight", bce_weight)):
        if value < 0:
            raise ValueError(f"`{name}` must be >= 0, received {name}={value!r}.")

    def loss(y_true: Tensor, y_pred: Tensor, *, aux: Tensor) -> Tensor:
        y_true, y_pred, aux = promote(y_true, y_pred, aux)
        mse = reduce_non_batch(ops.square(y_true - aux))
        bce = reduce_non_batch(ops.binary_crossentropy(y_true, y_pred, from_logits=from_logits))
        return mse_weight * mse + bce_weight * bce

    return loss
