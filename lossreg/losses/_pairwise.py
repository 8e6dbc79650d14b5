r"""Losses over pairwise (``n x n``) predictions, such as adjacency matrices of graphs."""

from __future__ import annotations

import typing
from typing import Any, Literal

from lossreg.registry import register
from lossreg.registry._ops import divide_no_nan, ops, promote

__all__ = ["band_mask", "band_masked_softmax_ce"]

Tensor = Any
Normalize = Literal["all", "band"]
_NORMALIZE_CHOICES = typing.get_args(Normalize)


def band_mask(rows: Any, cols: Any, lower: int, upper: int, include_diagonal: bool) -> Tensor:
    """Boolean ``(rows, cols)`` mask of the band kept by ``tf.linalg.band_part(x, lower, upper)``.

    Static sizes (Python ints) give a constant built once with NumPy, so a traced graph holds no mask ops;
    dynamic sizes (tensors) build it with ``keras.ops``.
    """
    import numpy as np  # here, not at module level: `import lossreg` stays light

    static = isinstance(rows, int) and isinstance(cols, int)
    xp: Any = np if static else ops
    i = xp.arange(rows)[:, None]
    j = xp.arange(cols)[None, :]
    keep = xp.ones((rows, cols), dtype="bool")
    if lower >= 0:
        keep = xp.logical_and(keep, i - j <= lower)
    if upper >= 0:
        keep = xp.logical_and(keep, j - i <= upper)
    if not include_diagonal:
        keep = xp.logical_and(keep, xp.not_equal(i, j))
    return ops.convert_to_tensor(keep) if static else keep


def _check_band_masked_softmax_ce(normalize: str) -> None:
    # a spec's value is already checked against the Literal hint; this guards direct calls with the same choices
    if normalize not in _NORMALIZE_CHOICES:
        allowed = " or ".join(map(repr, _NORMALIZE_CHOICES))
        raise ValueError(f"`normalize` must be {allowed}, received normalize={normalize!r}.")


def band_masked_softmax_ce(
    y_true: Tensor,
    y_pred: Tensor,
    *,
    lower: int = 0,
    upper: int = -1,
    include_diagonal: bool = False,
    from_logits: bool = True,
    normalize: Normalize = "all",
) -> Tensor:
    r"""Softmax cross-entropy per ``(i, j)`` pair of an ``n x n`` prediction, kept only inside a band.

    ``y_pred`` is shaped ``(batch, n, n, C)`` (logits, or probabilities with ``from_logits=False``) and
    ``y_true`` is one-hot of the same shape. The result is the per-pair loss, shaped ``(batch, n, n)``:

    Formula:
        .. math:: \ell_{bij} = m_{ij}\, s \cdot \mathrm{CE}(y_{bij}, x_{bij}),\quad
                  m_{ij} = [\,(l < 0 \lor i - j \le l) \land (u < 0 \lor j - i \le u)
                  \land (d \lor i \ne j)\,]

    with :math:`s = 1` for ``normalize="all"`` (the mean runs over all ``n*n`` pairs) and
    :math:`s = n^2 / \sum m` for ``normalize="band"`` (the mean runs over the kept pairs). The defaults
    reproduce ``tf.reduce_mean(band_part(ce, 0, -1) - band_part(ce, 0, 0))`` (strict upper triangle),
    but mask the per-pair values once with ``where``: a non-finite value outside the band never leaks NaN into
    the loss (the subtraction gives ``inf - inf``), and its gradient stays finite for finite or ``-inf`` logits
    there. (A NaN or ``+inf`` prediction outside the band makes that pair's own gradient NaN, as in any op.)

    Args:
        y_true: one-hot targets ``y``, shaped ``(batch, n, n, C)``.
        y_pred: logits ``x`` (or probabilities with ``from_logits=False``), shaped like ``y_true``.
        lower: sub-diagonals kept, as in ``tf.linalg.band_part`` (-1 keeps all).
        upper: super-diagonals kept, as in ``tf.linalg.band_part`` (-1 keeps all).
        include_diagonal: keep the diagonal ``i == j``.
        from_logits: whether ``y_pred`` holds logits (True) or probabilities.
        normalize: ``"all"`` averages over all ``n*n`` pairs, ``"band"`` over the kept ones.

    Returns:
        The loss per pair, shaped ``(batch, n, n)``, 0 outside the band.

    Raises:
        ValueError: ``normalize`` is neither ``"all"`` nor ``"band"``.

    Example:
        >>> import numpy as np
        >>> from keras import ops
        >>> y = np.eye(2)[np.zeros((1, 2, 2), int)]              # (1, 2, 2, 2), class 0 everywhere
        >>> logits = np.zeros((1, 2, 2, 2))                      # log 2 on every pair
        >>> print(ops.convert_to_numpy(band_masked_softmax_ce(y, logits)).round(4))   # strict upper triangle
        [[[0.     0.6931]
          [0.     0.    ]]]
        >>> print(ops.convert_to_numpy(band_masked_softmax_ce(y, logits, normalize="band")).round(4))   # x 4 / 1
        [[[0.     2.7726]
          [0.     0.    ]]]

        As a registered loss, reduced by Keras:

        >>> import lossreg
        >>> y = np.eye(2, dtype="float32")[np.zeros((1, 3, 3), int)]    # (1, 3, 3, 2), class 0
        >>> loss = lossreg.get("band_masked_softmax_ce", normalize="band")
        >>> round(float(loss(y, np.zeros((1, 3, 3, 2), "float32"))), 4)  # log 2 on every kept pair
        0.6931
    """
    _check_band_masked_softmax_ce(normalize)
    y_true, y_pred = promote(y_true, y_pred)  # shapes: checked against the declaration before this runs
    rows, cols = y_pred.shape[1], y_pred.shape[2]
    if rows is None or cols is None:
        rows, cols = ops.shape(y_pred)[1], ops.shape(y_pred)[2]
    keep = band_mask(rows, cols, lower, upper, include_diagonal)
    # One mask, on the (batch, n, n) result: no second pass over the (batch, n, n, C) inputs. A `where`
    # (not band_part subtraction) keeps an inf there out of the value; the gradient of a masked-out pair is
    # 0 * (softmax - y), finite for any finite or -inf logits (masking logits with -inf is fine).
    ce = ops.categorical_crossentropy(y_true, y_pred, from_logits=from_logits, axis=-1)
    masked = ops.where(keep, ce, ops.zeros_like(ce))
    if normalize == "band":
        kept = ops.sum(ops.cast(keep, ce.dtype))
        total = ops.cast(rows * cols, ce.dtype)
        masked = masked * divide_no_nan(total, kept)
    return masked


register(
    "band_masked_softmax_ce",
    validate=_check_band_masked_softmax_ce,
    shapes={"y_true": "batch n n classes", "y_pred": "batch n n classes"},
    targets="one_hot",
    from_logits="from_logits",
)(band_masked_softmax_ce)
