r"""Losses over pairwise (``n x n``) predictions, such as adjacency matrices of graphs."""

from __future__ import annotations

import typing
from typing import Any, Literal

from lossreg.losses._classification import class_ids
from lossreg.registry import register
from lossreg.registry._dense import class_weight_vector, keep_mask, masked_values, zero_ignored
from lossreg.registry._ops import divide_no_nan, ops, promote

__all__ = ["band_mask", "band_masked_softmax_ce", "sparse_band_masked_softmax_ce"]

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
    ignore_class: int | None = None,
    class_weights: list[float] | None = None,
    mask: Tensor | None = None,
) -> Tensor:
    r"""Softmax cross-entropy per ``(i, j)`` pair of an ``n x n`` prediction, kept only inside a band.

    ``y_pred`` is shaped ``(batch, n, n, C)`` (logits, or probabilities with ``from_logits=False``) and
    ``y_true`` is one-hot of the same shape. The result is the per-pair loss, shaped ``(batch, n, n)``:

    Formula:
        .. math:: \ell_{bij} = m_{ij}\, s \cdot \mathrm{CE}_w(y_{bij}, x_{bij}),\quad
                  m_{ij} = [\,(l < 0 \lor i - j \le l) \land (u < 0 \lor j - i \le u)
                  \land (d \lor i \ne j)\,],\quad
                  \mathrm{CE}_w(y, x) = -\sum_c w_c\, y_c \log \operatorname{softmax}(x)_c

    with :math:`w_c = 1` without ``class_weights``, :math:`s = 1` for ``normalize="all"`` (the mean runs over all
    ``n*n`` pairs) and :math:`s = n^2 / \sum m` for ``normalize="band"`` (the mean runs over the kept pairs). The
    defaults reproduce ``tf.reduce_mean(band_part(ce, 0, -1) - band_part(ce, 0, 0))`` (strict upper triangle),
    but mask the per-pair values once with ``where``: a non-finite value outside the band never leaks NaN into
    the loss (the subtraction gives ``inf - inf``), and its gradient stays finite for finite or ``-inf`` logits
    there. (A NaN or ``+inf`` prediction outside the band makes that pair's own gradient NaN, as in any op; at an
    *ignored* pair, ``ignore_class`` or ``mask``, it reaches neither value nor gradient.)

    Normalizer:
        ``normalize="all"`` (the default): Keras' mean over all ``n*n`` pairs of every sample, pairs outside the
        band counting 0 (the band's sum over ``n*n``); ``normalize="band"``: the mean over the pairs in the band
        (values scaled by :math:`n^2 / \sum m`). With ``ignore_class`` or ``mask``, an ignored pair is 0 and
        leaves the count (it carries Keras' mask, as ``SparseCategoricalCrossentropy(ignore_class)`` does):
        ``"all"`` averages over the kept pairs, in the band or not (those outside count 0), ``"band"`` over the
        kept pairs in the band (values scaled by the batch's kept pairs over its kept pairs in the band, which is
        :math:`n^2 / \sum m` when nothing is ignored: the same values, sums and means as without ``ignore_class``
        and ``mask``). Nothing kept (in the band, for ``"band"``) in the batch: 0. ``class_weights`` scale each
        pair's CE by its class's weight and leave the count alone (Keras' ``class_weight``).

    Args:
        y_true: one-hot targets ``y``, shaped ``(batch, n, n, C)``.
        y_pred: logits ``x`` (or probabilities with ``from_logits=False``), shaped like ``y_true``.
        lower: sub-diagonals kept, as in ``tf.linalg.band_part`` (-1 keeps all).
        upper: super-diagonals kept, as in ``tf.linalg.band_part`` (-1 keeps all).
        include_diagonal: keep the diagonal ``i == j``.
        from_logits: whether ``y_pred`` holds logits (True) or probabilities.
        normalize: ``"all"`` averages over all ``n*n`` pairs, ``"band"`` over the kept ones.
        ignore_class: a channel ``k`` in [0, C): pairs labelled ``k`` are ignored (their predictions may be
            anything, NaN included). For class ids with an ignore value such as 255, use
            ``sparse_band_masked_softmax_ce``.
        class_weights: ``w``, one non-negative weight per class.
        mask: (optional tensor) 0 where a pair is ignored, shaped ``(batch, n, n)``.

    Returns:
        The loss per pair, shaped ``(batch, n, n)``, 0 outside the band and at ignored pairs.

    Raises:
        ValueError: ``normalize`` is neither ``"all"`` nor ``"band"``.

    Numerics:
        On logits (the default), the per-pair cross-entropy comes from the log-softmax: value and gradient stay
        finite at logits of :math:`\pm 10^4` in float32, for float16 inputs (computed in float32) and under
        ``mixed_float16``. The band is applied to the per-pair values with ``where``, not by subtracting
        two ``band_part`` results, so an inf outside the band never becomes ``inf - inf``.

        With ``from_logits=False`` the probabilities are clipped to :math:`[10^{-7}, 1 - 10^{-7}]`, as Keras does:
        a confidently wrong probability costs :math:`-\log 10^{-7} \approx 16.1`, not inf, and at exactly 0 or 1
        the clip passes no gradient. The probabilities are normalised over the classes first
        (Keras' rule), so a pair whose probabilities are all 0 is not a distribution (0 / 0): give such pairs a
        ``mask`` of 0.

    Reference:
        Seed 003's ``tf.reduce_mean(band_part(ce, 0, -1) - band_part(ce, 0, 0))`` (the defaults), with
        ``tf.linalg.band_part`` (the band) and ``tf.nn.softmax_cross_entropy_with_logits`` (the per-pair values).

    Examples:
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
        >>> print(ops.convert_to_numpy(band_masked_softmax_ce(y, logits, class_weights=[3.0, 1.0])).round(4))
        [[[0.     2.0794]
          [0.     0.    ]]]

        As a registered loss, reduced by Keras:

        >>> import lossreg
        >>> y = np.eye(2, dtype="float32")[np.zeros((1, 3, 3), int)]    # (1, 3, 3, 2), class 0
        >>> loss = lossreg.get("band_masked_softmax_ce", normalize="band")
        >>> round(float(loss(y, np.zeros((1, 3, 3, 2), "float32"))), 4)  # log 2 on every kept pair
        0.6931
        >>> pairs = np.ones((1, 3, 3), "float32")
        >>> pairs[0, 0, 1] = 0                                           # ignore one of the 3 pairs of the band
        >>> loss = lossreg.get("band_masked_softmax_ce", normalize="band")
        >>> round(float(loss(y, {"y_pred": np.zeros((1, 3, 3, 2), "float32"), "mask": pairs})), 4)
        0.6931
    """
    _check_band_masked_softmax_ce(normalize)
    y_true, y_pred = promote(y_true, y_pred)  # shapes: checked against the declaration before this runs
    keep = keep_mask(y_true, "one_hot", ignore_class=ignore_class, mask=mask, loss="band_masked_softmax_ce")
    band = {"lower": lower, "upper": upper, "include_diagonal": include_diagonal}
    return _band_ce(y_true, y_pred, keep, band, from_logits, normalize, class_weights, "band_masked_softmax_ce")


def sparse_band_masked_softmax_ce(
    y_true: Tensor,
    y_pred: Tensor,
    *,
    lower: int = 0,
    upper: int = -1,
    include_diagonal: bool = False,
    from_logits: bool = True,
    normalize: Normalize = "all",
    ignore_class: int | None = None,
    class_weights: list[float] | None = None,
    mask: Tensor | None = None,
) -> Tensor:
    r"""``band_masked_softmax_ce`` against integer class ids per ``(i, j)`` pair, kept only inside a band.

    Formula:
        .. math:: \ell_{bij} = m_{ij}\, s \cdot (-w_t \log \operatorname{softmax}(x_{bij})_t)

    for the class id :math:`t = t_{bij}`: ``band_masked_softmax_ce`` of the one-hot targets of ``t`` (the same
    band :math:`m`, scale :math:`s` and weights :math:`w`), computed by the same code.

    Normalizer:
        As ``band_masked_softmax_ce``: ``normalize="all"`` is Keras' mean over all ``n*n`` pairs (0 outside the
        band), ``"band"`` the mean over the pairs in the band. With ``ignore_class`` (any integer, e.g. 255 or -1)
        or ``mask``, an ignored pair is 0 and carries Keras' mask: ``"all"`` averages over the kept pairs,
        ``"band"`` over the kept pairs in the band (values scaled by kept / kept in the band, as
        ``band_masked_softmax_ce``). Nothing kept in the batch: 0. ``class_weights`` scale each pair's CE by its
        class's weight and leave the count alone (Keras' ``class_weight``).

    Args:
        y_true: class ids ``t`` in [0, C), shaped ``(batch, n, n)`` (or ``(batch, n, n, 1)``).
        y_pred: logits ``x`` (or probabilities with ``from_logits=False``), shaped ``(batch, n, n, C)``.
        lower, upper, include_diagonal, from_logits, normalize: the band and the normaliser, as in
            ``band_masked_softmax_ce``.
        ignore_class: a class id whose pairs are ignored; any integer, e.g. 255 or -1 (their predictions may be
            anything, NaN included).
        class_weights: ``w``, one non-negative weight per class.
        mask: (optional tensor) 0 where a pair is ignored, shaped ``(batch, n, n)``.

    Returns:
        The loss per pair, shaped ``(batch, n, n)``, 0 outside the band and at ignored pairs.

    Raises:
        ValueError: ``normalize`` is neither ``"all"`` nor ``"band"``.

    Numerics:
        As ``band_masked_softmax_ce`` (the same code on the one-hot ids): finite value and gradient at logits of
        :math:`\pm 10^4`; ignored pairs' ids and predictions are replaced before the math, so an id such as 255 or
        a NaN prediction there reaches neither the value nor the gradient.

    Reference:
        ``tf.nn.sparse_softmax_cross_entropy_with_logits`` per pair, in the band of ``band_masked_softmax_ce``.

    Examples:
        >>> import numpy as np
        >>> from keras import ops
        >>> ids = np.array([[[0, 255], [0, 0]]])                 # (1, 2, 2): the one pair of the band is unlabelled
        >>> logits = np.zeros((1, 2, 2, 2))
        >>> print(ops.convert_to_numpy(sparse_band_masked_softmax_ce(ids, logits, include_diagonal=True,
        ...                                                          ignore_class=255)).round(4))
        [[[0.6931 0.    ]
          [0.     0.6931]]]

        As a registered loss, reduced by Keras over the kept pairs (three, two of them in the band):

        >>> import lossreg
        >>> loss = lossreg.get("sparse_band_masked_softmax_ce", include_diagonal=True, ignore_class=255)
        >>> round(float(loss(ids, logits)), 4)   # 2 log 2 / 3
        0.4621
    """
    _check_band_masked_softmax_ce(normalize)
    y_pred = promote(y_pred)[0]
    y_true, mask = class_ids(y_true, y_pred, mask)  # (batch, n, n, 1) ids too, as Keras takes them
    keep = keep_mask(y_true, "class_ids", ignore_class=ignore_class, mask=mask, loss="sparse_band_masked_softmax_ce")
    ids = ops.cast(zero_ignored(y_true, keep), "int32")
    one_hot = ops.one_hot(ids, y_pred.shape[-1] or ops.shape(y_pred)[-1], dtype=y_pred.dtype)
    band = {"lower": lower, "upper": upper, "include_diagonal": include_diagonal}
    return _band_ce(one_hot, y_pred, keep, band, from_logits, normalize, class_weights, "sparse_band_masked_softmax_ce")


def _band_ce(
    y_true: Tensor,
    y_pred: Tensor,
    keep: Tensor | None,
    band_params: dict[str, Any],
    from_logits: bool,
    normalize: str,
    class_weights: list[float] | None,
    loss: str,
) -> Tensor:
    """The band loss of one-hot ``y_true`` (both public losses compute here), ignoring the pairs where ``keep``
    (``(batch, n, n)``, or ``None``: nothing can be ignored) is False; ``band_params``: lower, upper,
    include_diagonal."""
    rows, cols = y_pred.shape[1], y_pred.shape[2]
    if rows is None or cols is None:
        rows, cols = ops.shape(y_pred)[1], ops.shape(y_pred)[2]
    band = band_mask(rows, cols, **band_params)
    if keep is not None:  # ignored pairs' inputs zeroed first: a NaN or inf there reaches neither value nor gradient
        y_pred = zero_ignored(y_pred, keep)  # one-hot targets are finite (pre-flight refuses NaN): only the logits
        if not from_logits:  # probabilities of 1 (uniform after normalising) rather than 0 / 0
            y_pred = y_pred + ops.cast(ops.expand_dims(ops.logical_not(keep), -1), y_pred.dtype)
    weights = class_weight_vector(class_weights, y_pred.shape[-1], y_pred.dtype, loss)
    if weights is not None:
        y_true = y_true * weights
    # One mask, on the (batch, n, n) result: no second pass over the (batch, n, n, C) inputs for the band. A
    # `where` (not band_part subtraction) keeps an inf there out of the value; the gradient of a masked-out pair
    # is 0 * (softmax - y), finite for any finite or -inf logits (masking logits with -inf is fine).
    ce = ops.categorical_crossentropy(y_true, y_pred, from_logits=from_logits, axis=-1)
    masked = ops.where(band, ce, ops.zeros_like(ce))
    if keep is not None:  # Keras' mask: the mean runs over the kept pairs
        if normalize == "band":  # scaled by kept / kept-in-band (of the batch): the mean is over the kept band pairs
            in_band = ops.sum(ops.cast(ops.logical_and(keep, band), ce.dtype))
            masked = masked * divide_no_nan(ops.sum(ops.cast(keep, ce.dtype)), in_band)
        return masked_values(masked, keep)
    if normalize == "band":
        kept = ops.sum(ops.cast(band, ce.dtype))
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
register(
    "sparse_band_masked_softmax_ce",
    validate=_check_band_masked_softmax_ce,
    shapes={"y_true": "batch n n", "y_pred": "batch n n classes"},
    targets="class_ids",
    from_logits="from_logits",
)(sparse_band_masked_softmax_ce)
