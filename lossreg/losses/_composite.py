r"""Losses that combine several quantities of a model, taking extra tensors besides ``y_pred``."""

from __future__ import annotations

from typing import Any

from lossreg.losses import _checks
from lossreg.registry import register
from lossreg.registry._ops import ops, promote, reduce_non_batch

__all__ = ["mse_bce"]

Tensor = Any


def _check_mse_bce(mse_weight: float, bce_weight: float) -> None:
    _checks.non_negative("mse_weight", mse_weight)
    _checks.non_negative("bce_weight", bce_weight)


def mse_bce(
    y_true: Tensor,
    y_pred: Tensor,
    *,
    mse_weight: float = 1.0,
    bce_weight: float = 1.0,
    from_logits: bool = False,
    aux: Tensor,
) -> Tensor:
    r"""MSE of an intermediate tensor plus BCE of the prediction, against one target, one value per sample.

    Seed 004's combined loss: a decoder's intermediate layer (``aux``) and its final sigmoid output
    (``y_pred``) are both pulled towards the same mask ``y_true``.

    Formula:
        .. math:: \ell = w_m\,\mathrm{mean}\big((y - a)^2\big)
                  + w_b\,\mathrm{mean}\big(-y\log p - (1 - y)\log(1 - p)\big)

    with means over the non-batch axes, ``a`` the ``aux`` tensor and ``p`` the prediction (probabilities
    clipped to ``[1e-7, 1 - 1e-7]`` as Keras does, or logits with ``from_logits=True``).

    Args:
        y_true: the target ``y`` in [0, 1], shaped ``(batch, ...)``.
        y_pred: the prediction ``p`` (probabilities, or logits with ``from_logits=True``), shaped like ``y_true``.
        mse_weight: ``w_m`` >= 0, weight of the MSE of ``aux``.
        bce_weight: ``w_b`` >= 0, weight of the BCE of ``y_pred``.
        from_logits: whether ``y_pred`` holds logits rather than probabilities.
        aux: (extra tensor) the intermediate tensor ``a``, shaped like ``y_true``.

    Returns:
        The loss per sample, shaped ``(batch,)``.

    Raises:
        ValueError: ``mse_weight`` or ``bce_weight`` is negative.

    Numerics:
        With ``from_logits=True`` the BCE is computed from the logits (Keras' ``binary_crossentropy`` on logits):
        value and gradient stay finite at logits of :math:`\pm 10^4`. With ``from_logits=False`` the probabilities
        are clipped to :math:`[10^{-7}, 1 - 10^{-7}]`, as Keras does: a confidently wrong probability costs
        :math:`-\log 10^{-7} \approx 16.1`, not inf, and at exactly 0 or 1 the clip passes no gradient to the BCE
        term (the MSE term of ``aux`` keeps its gradient). Finite for float16 inputs (computed in float32) and under
        ``mixed_float16``.

    Reference:
        Seed 004's combined loss (``mse(y, aux) + bce(y, y_pred)``, once written with a ``Lambda`` layer and
        ``model._losses``); the terms are ``keras.losses.mean_squared_error`` and
        ``keras.losses.binary_crossentropy``, averaged over every non-batch axis.

    Examples:
        >>> import numpy as np
        >>> from keras import ops
        >>> y = np.array([[1.0, 0.0]])
        >>> p = np.array([[0.5, 0.5]])
        >>> print(ops.convert_to_numpy(mse_bce(y, p, aux=np.array([[0.0, 0.0]]))).round(4))   # 0.5 + log 2
        [1.1931]
        >>> print(ops.convert_to_numpy(mse_bce(y, p, mse_weight=0.0, aux=np.array([[0.0, 0.0]]))).round(4))
        [0.6931]

        As a registered loss, the extra tensor is passed with ``y_pred`` in a dict:

        >>> import lossreg
        >>> loss = lossreg.get("mse_bce")
        >>> round(float(loss([[1.0]], {"y_pred": [[0.5]], "aux": [[0.0]]})), 4)   # 1 + log 2
        1.6931
    """
    _check_mse_bce(mse_weight, bce_weight)
    y_true, y_pred, aux = promote(y_true, y_pred, aux)
    mse = reduce_non_batch(ops.square(y_true - aux))
    bce = reduce_non_batch(ops.binary_crossentropy(y_true, y_pred, from_logits=from_logits))
    return mse_weight * mse + bce_weight * bce


register(
    "mse_bce",
    validate=_check_mse_bce,
    shapes={"y_true": "batch ...", "y_pred": "batch ...", "aux": "batch ..."},
    targets="unit",
    from_logits="from_logits",
)(mse_bce)
