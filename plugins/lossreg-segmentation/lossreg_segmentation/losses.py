r"""Overlap losses for segmentation: soft Dice, Jaccard, Tversky, focal Tversky and Dice + cross-entropy.

Every loss takes ``y_true`` (masks or one-hot maps in [0, 1]) and ``y_pred`` shaped ``(batch, ..., C)``,
channels last, and returns one value per sample; its ``sparse_`` form takes class ids ``(batch, ...)`` instead of
one-hot maps. The common options:

- ``from_logits`` (default ``True``): ``y_pred`` holds logits and ``activation`` turns them into
  probabilities — ``"sigmoid"`` per channel (binary or multi-label masks) or ``"softmax"`` over the channel
  axis (one-hot classes); with ``from_logits=False`` it holds probabilities already. ``activation`` also says
  what the targets are (masks or one-hot), with or without logits; the ``sparse_`` forms are softmax forms.
- ``per_class`` (default ``True``): the overlap is computed per channel over the spatial axes, then averaged
  over channels with ``class_weights`` (default: equal) — the "macro" average, so a small class counts as
  much as a large one. With ``per_class=False`` all channels are pooled into one overlap per sample
  ("micro").
- ``smooth`` (> 0) is added to numerator and denominator, so empty masks give a finite value (0 when the
  prediction is empty too) and the gradient stays finite.
- Dense targets (lossreg's contract, ``lossreg.keep_mask``): ``ignore_class`` and the optional ``mask`` tensor
  leave pixels out of every sum, and Keras' per-pixel ``sample_weight`` map weights each pixel inside the sums.

With :math:`p` the probabilities, :math:`y` the targets and :math:`\omega` the weight of each element (1, or 0
where ignored, times the pixel's sample weight), the sums over the reduced axes are the soft counts
:math:`TP = \sum \omega\,p\,y`, :math:`FP = \sum \omega\,p\,(1 - y)`, :math:`FN = \sum \omega\,(1 - p)\,y`.

Each loss is computed as :math:`1 - \text{index}` written over one fraction (e.g. Tversky's
:math:`(\alpha\,FP + \beta\,FN) / (TP + \alpha\,FP + \beta\,FN + s)`), so a near-perfect prediction keeps
its small loss instead of cancelling to 0 in float32.

The pure functions here (``soft_dice``, ``sparse_soft_dice``, ...) are plain ``keras.ops`` code usable on their
own; the ``*_factory`` functions derived from them by ``lossreg.loss_factory`` are what the ``lossreg.losses``
entry points name. ``ops`` is ``keras.ops`` imported on first use, so loading this module (``lossreg show``,
``lossreg check``) does not import TensorFlow.
"""

from __future__ import annotations

import numbers
import textwrap
from collections.abc import Callable
from typing import Any, Literal, NamedTuple

from lossreg import (
    LossInputError,
    class_weight_vector,
    keep_mask,
    loss_factory,
    masked_values,
    ops,
    promote,
    zero_ignored,
)

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
    "sparse_dice_bce",
    "sparse_dice_bce_factory",
    "sparse_focal_tversky",
    "sparse_focal_tversky_factory",
    "sparse_jaccard",
    "sparse_jaccard_factory",
    "sparse_soft_dice",
    "sparse_soft_dice_factory",
    "sparse_soft_tversky",
    "sparse_soft_tversky_factory",
]

Tensor = Any
Activation = Literal["sigmoid", "softmax"]
_EPSILON = 1e-7  # probabilities are clipped to [eps, 1 - eps] in the cross-entropy, as Keras does


# -- the normaliser, written once: each docstring's `Normalizer:` section (lossreg show prints it) -----------------

_IGNORED_DENSE = (
    "Ignored elements: where the optional ``mask`` (shaped ``(batch, ...)``) is 0, and with ``ignore_class``: for "
    '``activation="softmax"`` (one-hot targets) ``ignore_class`` is a channel k in [0, C): the pixels labelled k are '
    "ignored and channel k leaves every sum and the class average (it could only be penalised for false "
    'positives); for ``"sigmoid"`` (masks) it is a target value such as 255 or -1 (0 and 1 are labels, refused): '
    "the elements holding it are ignored, per channel."
)
_IGNORED_SPARSE = (
    "Ignored pixels: where the class id equals ``ignore_class`` (any integer, e.g. 255 or -1; an id in [0, C) also "
    "takes its channel out of every sum and the class average, as the one-hot form does) or the optional ``mask`` "
    "(shaped like the ids) is 0. The loss equals the one-hot form (softmax) on the one-hot ids with that mask."
)
_SUMS = (
    "Ignored elements are zeroed before the math (their logits may be NaN or ±inf: they reach neither the value "
    "nor the gradient) and leave every sum (TP, FP, FN) of their image. A class with nothing left in an image (all "
    "its elements ignored) leaves that image's class average (with ``smooth`` its value would be 0: it is not "
    "counted as a perfect class); a class that is merely absent from the kept targets still counts. An image with "
    "nothing left is 0 and leaves the batch mean (its value carries Keras' mask), so a fully ignored batch gives "
    "0 with finite gradients. ``sample_weight``, Keras' per-pixel map ``(batch, ...)``, multiplies each pixel "
    "inside the soft counts (TP = Σ w p y, FP = Σ w p (1 - y), FN = Σ w (1 - p) y); a pixel of weight 0 adds "
    "nothing to the sums like an ignored one (but its logits must be finite: mark NaN with a mask), and an image "
    "whose weights are all 0 is 0 and still counts in the "
    "batch mean (Keras' rule: zero weights count, masks do not). ``class_weights`` w weigh the class average, "
    "Σ_c w_c ℓ_c / Σ_c w_c over the classes that keep something (0 if those weights are all 0). The batch "
    "mean is Keras' reduction of the per-image values, over the images with something kept."
)
_CROSS_ENTROPY = (
    "The cross-entropy term is each image's mean over its kept elements (pixels × channels for sigmoid, pixels for "
    "softmax), each element's cross-entropy times its pixel's sample weight and its class's weight (w_c for sigmoid "
    "channels, -Σ_c w_c y_c log p_c for softmax): weights scale the terms and leave the count alone (Keras' "
    "class_weight), so in this mean a pixel of weight 0 still counts and a masked one does not (Keras' rule); 0 for "
    "an image with nothing kept."
)


# -- the numerics and the conventions: each docstring's `Numerics:` and `Conventions:` sections ---------------------

_OVERLAP_NUMERICS = (
    "Each loss is computed as 1 - index written over one fraction (Dice: (FP + FN) / (2 TP + FP + FN + s)), so a "
    "near-perfect prediction keeps its small loss instead of cancelling to 0 in float32. On sigmoid logits 1 - p is "
    "σ(-x), exact where p rounds to 1 (past logit 17 in float32), so the false negatives of a near-perfect "
    "prediction do not vanish.",
    "On logits of ±1e4 the value is finite and the gradient exactly 0 (σ' and the softmax Jacobian underflow to 0, "
    "not to NaN), in float32 and for float16 inputs (computed in float32); on probabilities of exactly 0 and 1 the "
    "value and the gradient are finite. A ratio whose denominator is 0 (a class or an image with nothing kept) is "
    "0 through a double ``where``, with a finite gradient.",
)
_POWER_NUMERICS = (
    "(1 - TI)^γ is computed with a double ``where``: its gradient γ (1 - TI)^(γ - 1) is never evaluated at a "
    "perfect prediction (1 - TI = 0, where it is inf for γ < 1), so the gradient stays finite for any γ > 0.",
)
_CROSS_ENTROPY_NUMERICS = (
    "The cross-entropy term on logits is computed without overflow (softplus for sigmoid, log-softmax for softmax): "
    "finite value and gradient at logits of ±1e4, where it still pulls while the overlap term's gradient has "
    "underflowed to 0. On probabilities (``from_logits=False``) they are clipped to [1e-7, 1 - 1e-7] in the "
    "cross-entropy, as Keras does: a confidently wrong probability costs -log(1e-7) ≈ 16.1, not inf, and at exactly "
    "0 or 1 the clip passes no gradient to the cross-entropy term (the Dice term keeps one).",
)
_DICE_CONVENTIONS = (
    "For the same ``smooth`` the ratio is the same as MONAI's and segmentation_models_pytorch's (smp): "
    "(2 Σ p y + s) / (Σ p + Σ y + s), ``smooth`` added once to each side. So ``smooth=s`` here is "
    "``DiceLoss(smooth_nr=s, smooth_dr=s)`` in MONAI and ``soft_dice_score(..., smooth=s)`` in smp. What differs "
    "is what the sums run over and the defaults: MONAI's ``DiceLoss`` takes one Dice per image and channel, as "
    "``per_class=True`` does here, and averages them (smooth 1e-5 by default); smp's ``DiceLoss`` sums over the "
    "batch and the pixels, one Dice per class for the whole batch, and sets the loss of a class without target "
    "pixels in the batch to 0 while still counting it in the mean (smooth 0 by default, the denominator clamped to "
    "at least 1e-7). lossreg's default ``smooth=1`` is large next to a small mask's pixel counts: pass a smaller "
    "one to match a reference.",
    "Keras' ``dice`` has no smooth: 1 - 2 Σ p y / (Σ p + Σ y + 1e-7) on probabilities, so an empty mask predicted "
    "empty costs 1 there and 0 here.",
)
_JACCARD_CONVENTIONS = (
    "MONAI computes its Jaccard loss as ``DiceLoss(jaccard=True)``: 1 - (2 TP + s_nr) / (2 (Σ p + Σ y - TP) + s_dr)"
    " = 1 - (TP + s_nr/2) / (TP + FP + FN + s_dr/2), so its smooth counts half, relative to lossreg's: MONAI's "
    "``smooth_nr=smooth_dr=s`` equals ``jaccard`` with ``smooth=s/2`` here (and this loss's ``smooth=s`` is "
    "MONAI's 2s). segmentation_models_pytorch's ``soft_jaccard_score(..., smooth=s)`` is (TP + s) / (Σ p + Σ y - TP"
    " + s): the same as here for the same ``smooth``.",
)
_TVERSKY_CONVENTIONS = (
    "``alpha`` weighs the false positives and ``beta`` the false negatives, as in Salehi et al. and "
    "segmentation_models_pytorch's ``soft_tversky_score(..., alpha, beta, smooth=s)``, which is the same ratio "
    "(TP + s) / (TP + α FP + β FN + s) for the same ``smooth``. With alpha = beta = 0.5 the Tversky ratio is "
    "(2 TP + 2s) / (2 TP + FP + FN + 2s): ``soft_tversky(alpha=0.5, beta=0.5, smooth=s)`` equals "
    "``soft_dice(smooth=2s)``, the smooth counting twice relative to the Dice loss's. alpha = beta = 1 gives "
    "``jaccard`` with the same ``smooth``.",
)
_FOCAL_TVERSKY_CONVENTIONS = (
    "Abraham and Khan write the index with α on the false negatives and β on the false positives, and the power as "
    "1/γ' with γ' = 4/3: their α = 0.7, β = 0.3, γ' = 4/3 are ``alpha=0.3, beta=0.7, gamma=0.75`` here (the "
    "defaults), where ``alpha`` weighs the false positives as in Salehi et al.'s Tversky loss. The smooth: as "
    "``soft_tversky``.",
)
_SPARSE_CONVENTIONS = (
    "The class ids are made one-hot and the one-hot (softmax) form computes the loss: its conventions hold "
    "(``smooth`` as MONAI's and segmentation_models_pytorch's, see the one-hot form's page). ``ignore_class`` is any "
    "integer, as PyTorch's ``ignore_index`` and Keras' ``ignore_class``.",
)


def _fill(*paragraphs: str) -> str:
    """Paragraphs as the body of a docstring section (indented 8, the first line's indent already in place)."""
    filled = [textwrap.fill(p, 108, break_on_hyphens=False) for p in paragraphs]
    return textwrap.indent("\n\n".join(filled), " " * 8).lstrip()


def _normalizer(*parts: str) -> str:
    return textwrap.indent(textwrap.fill(" ".join(parts), 108, break_on_hyphens=False), " " * 8).lstrip()


def _documented(
    *parts: str, numerics: tuple[str, ...] = (), conventions: tuple[str, ...] = ()
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Put the shared texts in the function's docstring: the normaliser (``parts``, one paragraph) in place of
    ``<NORMALIZER>``, ``numerics`` and ``conventions`` (paragraphs) in place of ``<NUMERICS>`` and
    ``<CONVENTIONS>``."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        doc = (fn.__doc__ or "").replace("<NORMALIZER>", _normalizer(*parts))
        doc = doc.replace("<NUMERICS>", _fill(*numerics)).replace("<CONVENTIONS>", _fill(*conventions))
        fn.__doc__ = doc
        return fn

    return decorate


# -- checks of the parameters ------------------------------------------------------------------------------------


def _check_options(
    smooth: float,
    per_class: bool,
    class_weights: list[float] | None,
    activation: str = "softmax",
    ignore_class: int | None = None,
) -> None:
    """The common parameters' rules (``class_weights`` and ``ignore_class`` themselves are checked by lossreg)."""
    if not smooth > 0:
        raise ValueError(f"`smooth` must be > 0 (it keeps empty masks finite), received smooth={smooth!r}.")
    if activation not in ("sigmoid", "softmax"):
        raise ValueError(f"`activation` must be 'sigmoid' or 'softmax', received activation={activation!r}.")
    if class_weights is not None and not per_class:
        raise ValueError("`class_weights` weigh the per-class average: set per_class=True or drop class_weights.")
    if not isinstance(ignore_class, numbers.Integral) or isinstance(ignore_class, bool):
        return  # None, or not an integer: lossreg's one rule for ignore_class says what is wrong (keep_mask)
    if activation == "sigmoid" and ignore_class in (0, 1):
        raise ValueError(
            f'With activation="sigmoid" ignore_class is a target value that marks ignored elements, such as 255 or '
            f"-1; received ignore_class={ignore_class!r}, which is a label (0 or 1) of the masks. Mark ignored "
            "elements with another value, or pass a mask tensor."
        )
    if activation == "softmax" and ignore_class < 0:
        raise ValueError(
            f'With activation="softmax" (one-hot targets) ignore_class names a channel in [0, C) whose pixels are '
            f"ignored; received ignore_class={ignore_class!r}. For class ids with an ignore value such as 255 or "
            "-1, use the sparse_ form of the loss (e.g. sparse_soft_dice)."
        )


def _check_tversky(alpha: float, beta: float) -> None:
    if alpha < 0 or beta < 0 or alpha + beta <= 0:
        raise ValueError(f"`alpha` and `beta` must be >= 0 and not both 0, received alpha={alpha!r}, beta={beta!r}.")


def _check_gamma(gamma: float) -> None:
    if not gamma > 0:
        raise ValueError(f"`gamma` must be > 0, received gamma={gamma!r}.")


def _check_term_weights(bce_weight: float, dice_weight: float) -> None:
    for name, value in (("bce_weight", bce_weight), ("dice_weight", dice_weight)):
        if value < 0:
            raise ValueError(f"`{name}` must be >= 0, received {name}={value!r}.")


def _validate(**params: Any) -> None:
    """Every loss's parameter rules, as ``validate=`` of its factory (which passes it every parameter by name).

    A dense form (it has ``activation``) checks ``ignore_class`` against the activation; a ``sparse_`` form takes
    any integer id. ``class_weights`` and ``ignore_class`` themselves are checked by lossreg, once for every loss.
    """
    dense = "activation" in params
    _check_options(
        params["smooth"],
        params["per_class"],
        params["class_weights"],
        params.get("activation", "softmax"),
        params.get("ignore_class") if dense else None,
    )
    if "alpha" in params:
        _check_tversky(params["alpha"], params["beta"])
    if "gamma" in params:
        _check_gamma(params["gamma"])
    if "bce_weight" in params:
        _check_term_weights(params["bce_weight"], params["dice_weight"])


# -- the inputs: targets, probabilities and the weight of every element ---------------------------------------------


class _Inputs(NamedTuple):
    """The inputs of an overlap loss after the ignored elements are taken out.

    ``y_true`` (one-hot or masks) and ``y_pred`` are 0 at ignored elements; ``keep`` is 1 where an element counts
    and 0 where it is ignored, of ``y_pred``'s rank (its last axis 1 for per-pixel ignoring); ``channels`` is
    ``(C,)``, 0 for the ignored channel of one-hot targets; ``weight`` is the sample-weight map of ``y_pred``'s rank
    (last axis 1). Each is ``None`` when it would be all ones.
    """

    y_true: Tensor
    y_pred: Tensor
    keep: Tensor | None
    channels: Tensor | None
    weight: Tensor | None

    def element_weight(self) -> Tensor | None:
        """``ω`` of the kept pixels (or elements): 1, or 0 where ignored, times the pixel's sample weight. The
        ignored channel is taken out of the per-class sums instead (``_soft_counts``), a ``(C,)`` product."""
        return _product(self.keep, self.weight)


def _product(a: Tensor | None, b: Tensor | None) -> Tensor | None:
    if a is None or b is None:
        return b if a is None else a
    return a * b


def _to_rank(x: Tensor, rank: int) -> Tensor:
    while len(x.shape) < rank:
        x = ops.expand_dims(x, -1)
    return x


def _check_rank(loss: str, y_pred: Tensor) -> None:
    if len(y_pred.shape) < 2:
        raise LossInputError(
            f"{loss} expects predictions shaped (batch, ..., channels); received shape {tuple(y_pred.shape)}. "
            "Add a channel axis (e.g. shape (batch, H, W, 1) for one binary mask)."
        )


def _per_pixel(loss: str, what: str, tensor: Tensor, y_pred: Tensor) -> Tensor:
    """A per-pixel tensor (``mask`` or ``sample_weight``) as ``(batch, ...)``: a trailing axis of 1 is squeezed."""
    tensor = ops.convert_to_tensor(tensor)
    rank = len(y_pred.shape)
    if len(tensor.shape) == rank and tensor.shape[-1] == 1:
        tensor = ops.squeeze(tensor, axis=-1)
    if len(tensor.shape) != rank - 1:
        raise LossInputError(
            f"{loss} expects `{what}` shaped like the predictions without their channel axis, (batch, ...) = "
            f"{tuple(y_pred.shape)[:-1]}, one value per pixel; received shape {tuple(tensor.shape)}."
            + (" A per-sample weight (batch,) is Keras' sample_weight of the reduction." if what != "mask" else "")
        )
    return tensor


def _dense_inputs(
    loss: str,
    y_true: Tensor,
    y_pred: Tensor,
    *,
    activation: str,
    ignore_class: int | None,
    mask: Tensor | None,
    sample_weight: Tensor | None,
) -> _Inputs:
    """One-hot targets (softmax) or masks (sigmoid) with the ignored elements taken out (``lossreg.keep_mask``)."""
    y_true, y_pred = promote(y_true, y_pred)
    _check_rank(loss, y_pred)
    rank, dtype = len(y_pred.shape), y_pred.dtype
    targets = "one_hot" if activation == "softmax" else "unit"
    if mask is not None:
        mask = _per_pixel(loss, "mask", mask, y_pred)
    keep = keep_mask(y_true, targets, ignore_class=ignore_class, mask=mask, loss=loss)
    # before any math: NaN or ±inf logits (and targets such as 255) at ignored elements become 0, so softmax over
    # a pixel's channels and every gradient stay finite; the elements then weigh 0 in every sum. One-hot targets
    # are finite (pre-flight refuses NaN) and weigh 0 there already: only the logits need the `where`.
    y_pred = zero_ignored(y_pred, keep)
    if targets == "unit":
        y_true = zero_ignored(y_true, keep)
    channels = None
    if targets == "one_hot" and ignore_class is not None:  # in [0, C): keep_mask checked it
        channels = ops.cast(ops.not_equal(ops.arange(ops.shape(y_pred)[-1]), ignore_class), dtype)
    weight = None
    if sample_weight is not None:
        weight = _to_rank(ops.cast(_per_pixel(loss, "sample_weight", sample_weight, y_pred), dtype), rank)
    keep = None if keep is None else _to_rank(ops.cast(keep, dtype), rank)
    return _Inputs(y_true, y_pred, keep, channels, weight)


def _sparse_inputs(
    loss: str,
    y_true: Tensor,
    y_pred: Tensor,
    *,
    ignore_class: int | None,
    mask: Tensor | None,
    sample_weight: Tensor | None,
) -> _Inputs:
    """Class ids made one-hot (ignored ids zeroed first), then the one-hot (softmax) path with their keep as mask."""
    y_pred = promote(y_pred)[0]
    _check_rank(loss, y_pred)
    ids = ops.convert_to_tensor(y_true)
    if len(ids.shape) == len(y_pred.shape) and ids.shape[-1] == 1:
        ids = ops.squeeze(ids, axis=-1)  # (batch, ..., 1) ids, as Keras takes them
    classes = y_pred.shape[-1]
    if classes is None:
        raise LossInputError(f"{loss} needs the predictions' channel axis to have a known size to one-hot the ids.")
    if mask is not None:
        mask = _per_pixel(loss, "mask", mask, y_pred)
    keep = keep_mask(ids, "class_ids", ignore_class=ignore_class, mask=mask, loss=loss)
    one_hot = ops.one_hot(ops.cast(zero_ignored(ids, keep), "int32"), classes, dtype=y_pred.dtype)
    channel = ignore_class if ignore_class is not None and 0 <= ignore_class < classes else None
    return _dense_inputs(
        loss,
        one_hot,
        y_pred,
        activation="softmax",
        ignore_class=channel,
        mask=None if keep is None else ops.cast(keep, y_pred.dtype),
        sample_weight=sample_weight,
    )


# -- the shared math -----------------------------------------------------------------------------------------------


def _probabilities(y_pred: Tensor, from_logits: bool, activation: str) -> tuple[Tensor, Tensor]:
    """The probabilities ``p`` and ``1 - p``; on sigmoid logits ``1 - p`` is ``sigmoid(-x)``, exact where ``p``
    rounds to 1 (past logit 17 in float32), so a near-perfect prediction's false negatives do not vanish."""
    if not from_logits:
        return y_pred, 1.0 - y_pred
    if activation == "sigmoid":
        return ops.sigmoid(y_pred), ops.sigmoid(-y_pred)
    probs = ops.softmax(y_pred, axis=-1)
    return probs, 1.0 - probs


def _axes(x: Tensor, per_class: bool) -> tuple[int, ...]:
    """The summed axes: spatial (per class) or every non-batch axis (pooled)."""
    rank = len(x.shape)
    return tuple(range(1, rank - 1)) if per_class else tuple(range(1, rank))


def _sum(x: Tensor, axes: tuple[int, ...]) -> Tensor:
    return ops.sum(x, axis=axes) if axes else x


def _safe_ratio(numerator: Tensor, denominator: Tensor) -> Tensor:
    """``numerator / denominator``, 0 where the denominator is 0, with finite gradients there (double ``where``)."""
    positive = denominator > 0
    safe = ops.where(positive, denominator, ops.ones_like(denominator))
    return ops.where(positive, numerator / safe, ops.zeros_like(numerator))


def _soft_counts(inputs: _Inputs, probs: tuple[Tensor, Tensor], per_class: bool) -> tuple[Tensor, Tensor, Tensor]:
    """Soft TP, FP and FN per sample (and per channel with ``per_class``), each element weighted by ``ω``.

    The sums run over the spatial axes first, per channel; the ignored channel's sums are then zeroed and, pooled,
    the channels summed: the same as weighting each element by its channel's 0/1, on ``(batch, C)`` sums.
    """
    p, complement = probs
    y = inputs.y_true
    omega = inputs.element_weight()
    if omega is not None:
        p, complement = p * omega, complement * omega
    axes = _axes(p, per_class=True)
    counts = _sum(p * y, axes), _sum(p * (1.0 - y), axes), _sum(complement * y, axes)
    if inputs.channels is not None:
        counts = tuple(count * inputs.channels for count in counts)
    if not per_class:
        counts = tuple(ops.sum(count, axis=-1) for count in counts)
    return counts  # type: ignore[return-value]


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


def _kept(inputs: _Inputs, per_class: bool) -> Tensor | None:
    """1 where a class (per_class: ``(batch, C)``, or ``(batch, 1)`` for a per-pixel keep) or an image (pooled:
    ``(batch,)``) keeps an element, else 0; ``None`` when nothing is ignored."""
    if inputs.keep is None:  # (the ignored channel comes with ignore_class, and so with a keep)
        return None
    axes = _axes(inputs.keep, per_class=True)
    kept = ops.max(inputs.keep, axis=axes) if axes else inputs.keep
    if inputs.channels is not None:
        kept = kept * inputs.channels
    return kept if per_class else ops.max(kept, axis=-1)


def _per_sample(
    loss: str, inputs: _Inputs, values: Tensor, per_class: bool, class_weights: list[float] | None
) -> Tensor:
    """One value per sample: the class average over the classes that keep something (weighted by
    ``class_weights``), or the pooled value; masked (``lossreg.masked_values``) where the image keeps nothing."""
    kept = _kept(inputs, per_class)
    if per_class:
        weights = class_weight_vector(class_weights, values.shape[-1], values.dtype, loss)
        if weights is None and kept is None:
            values = ops.mean(values, axis=-1)
        else:
            weights = _product(kept, weights) * ops.ones_like(values)
            values = _safe_ratio(ops.sum(values * weights, axis=-1), ops.sum(weights, axis=-1))
        kept = None if kept is None else ops.max(kept, axis=-1)
    return values if kept is None else masked_values(values, kept > 0)


def _overlap(
    loss: str,
    inputs: _Inputs,
    index: Callable[[Tensor, Tensor, Tensor], Tensor],
    *,
    from_logits: bool,
    activation: str,
    per_class: bool,
    class_weights: list[float] | None,
) -> Tensor:
    """The overlap loss ``index(TP, FP, FN)`` per class or pooled, as one value per sample."""
    tp, fp, fn = _soft_counts(inputs, _probabilities(inputs.y_pred, from_logits, activation), per_class)
    return _per_sample(loss, inputs, index(tp, fp, fn), per_class, class_weights)


def _dice_index(smooth: float) -> Callable[[Tensor, Tensor, Tensor], Tensor]:
    return lambda tp, fp, fn: _mismatch(tp, fp, fn, smooth, tp_weight=2.0)


def _jaccard_index(smooth: float) -> Callable[[Tensor, Tensor, Tensor], Tensor]:
    return lambda tp, fp, fn: _mismatch(tp, fp, fn, smooth)


def _tversky_index(alpha: float, beta: float, smooth: float) -> Callable[[Tensor, Tensor, Tensor], Tensor]:
    return lambda tp, fp, fn: _mismatch(tp, fp, fn, smooth, alpha=alpha, beta=beta)


def _focal_tversky_index(
    alpha: float, beta: float, gamma: float, smooth: float
) -> Callable[[Tensor, Tensor, Tensor], Tensor]:
    return lambda tp, fp, fn: _power(ops.maximum(_mismatch(tp, fp, fn, smooth, alpha=alpha, beta=beta), 0.0), gamma)


def _cross_entropy(
    loss: str, inputs: _Inputs, from_logits: bool, activation: str, class_weights: list[float] | None
) -> Tensor:
    """Per-sample cross-entropy matching the activation (binary per element, or categorical per pixel): the mean
    over the kept elements, each weighted by its pixel's sample weight and its class's weight."""
    y_true, y_pred = inputs.y_true, inputs.y_pred
    weights = class_weight_vector(class_weights, y_pred.shape[-1], y_pred.dtype, loss)
    if activation == "sigmoid":
        if from_logits:  # max(x, 0) - x y + log(1 + exp(-|x|)): no overflow at any logit
            # written with `where` on x >= 0 (as TensorFlow does): relu/abs would give a wrong gradient at x = 0
            nonneg = y_pred >= 0
            relu = ops.where(nonneg, y_pred, ops.zeros_like(y_pred))
            ce = relu - y_pred * y_true + ops.log1p(ops.exp(ops.where(nonneg, -y_pred, y_pred)))
        else:
            p = ops.clip(y_pred, _EPSILON, 1.0 - _EPSILON)
            ce = -(y_true * ops.log(p) + (1.0 - y_true) * ops.log(1.0 - p))
        if weights is not None:
            ce = ce * weights
    else:
        targets = y_true if weights is None else y_true * weights
        log_p = ops.log_softmax(y_pred, axis=-1) if from_logits else ops.log(ops.clip(y_pred, _EPSILON, 1.0))
        ce = -ops.sum(targets * log_p, axis=-1, keepdims=True)  # (batch, ..., 1): per pixel
    axes = tuple(range(1, len(ce.shape)))
    weighted = ce if inputs.weight is None else ce * inputs.weight
    if inputs.keep is None:
        return ops.mean(weighted, axis=axes)
    return _safe_ratio(ops.sum(weighted * inputs.keep, axis=axes), ops.sum(inputs.keep * ops.ones_like(ce), axis=axes))


def _dice_bce(
    loss: str,
    inputs: _Inputs,
    *,
    bce_weight: float,
    dice_weight: float,
    smooth: float,
    from_logits: bool,
    activation: str,
    per_class: bool,
    class_weights: list[float] | None,
) -> Tensor:
    ce = _cross_entropy(loss, inputs, from_logits, activation, class_weights)
    dice = _overlap(
        loss,
        inputs,
        _dice_index(smooth),
        from_logits=from_logits,
        activation=activation,
        per_class=per_class,
        class_weights=class_weights,
    )
    # arithmetic drops the Dice term's Keras mask: attach the images' mask again (both terms are 0 where an image
    # keeps nothing, so the value there stays 0)
    total = bce_weight * ce + dice_weight * dice
    kept = _kept(inputs, per_class=False)
    return total if kept is None else masked_values(total, kept > 0)


#: what every loss here accepts, read by lossreg's pre-flight check (shapes are checked before TensorFlow runs)
_ACCEPTS: dict[str, Any] = {
    "shapes": {"y_true": "batch ... channels", "y_pred": "batch ... channels"},
    "targets": "unit",
    "from_logits": "from_logits",
}
#: the sparse forms: class ids shaped like the predictions without their channel axis
_ACCEPTS_IDS: dict[str, Any] = {
    "shapes": {"y_true": "batch ...", "y_pred": "batch ... channels"},
    "targets": "class_ids",
    "from_logits": "from_logits",
}


# -- the losses: one-hot targets (softmax) or masks (sigmoid) ------------------------------------------------------


@_documented(_IGNORED_DENSE, _SUMS, numerics=_OVERLAP_NUMERICS, conventions=_DICE_CONVENTIONS)
def soft_dice(
    y_true: Tensor,
    y_pred: Tensor,
    *,
    smooth: float = 1.0,
    from_logits: bool = True,
    activation: Activation = "sigmoid",
    per_class: bool = True,
    class_weights: list[float] | None = None,
    ignore_class: int | None = None,
    mask: Tensor | None = None,
    sample_weight: Tensor | None = None,
) -> Tensor:
    r"""Soft Dice loss, one value per sample.

    Formula:
        .. math:: \ell = 1 - \frac{2\,TP + s}{2\,TP + FP + FN + s}
                  = 1 - \frac{2 \sum \omega\,p\,y + s}{\sum \omega\,p + \sum \omega\,y + s}

    per class (then averaged with ``class_weights``) or pooled over all channels; :math:`\omega` is 0 at ignored
    elements and the pixel's sample weight elsewhere.

    Normalizer:
        <NORMALIZER>

    Args:
        y_true: targets in [0, 1] (masks for sigmoid, one-hot for softmax), shaped like ``y_pred``.
        y_pred: logits (or probabilities with ``from_logits=False``), shaped ``(batch, ..., C)``.
        smooth: ``s`` > 0.
        from_logits: whether ``y_pred`` holds logits.
        activation: ``"sigmoid"`` (masks) or ``"softmax"`` (one-hot, over channels), applied to logits.
        per_class: Dice per channel then averaged (True), or one pooled Dice (False).
        class_weights: one non-negative weight per channel for the average (``per_class`` only).
        ignore_class: softmax: a channel k whose pixels are ignored; sigmoid: a target value (e.g. 255) whose
            elements are ignored.
        mask: (optional tensor) 0 where a pixel is ignored, shaped ``(batch, ...)``.
        sample_weight: (optional tensor) Keras' per-pixel weight map ``(batch, ...)``, applied inside the sums.

    Returns:
        The loss per sample, shaped ``(batch,)``.

    Conventions:
        <CONVENTIONS>

    Numerics:
        <NUMERICS>

    Reference:
        Milletari, Navab, Ahmadi. "V-Net: Fully Convolutional Neural Networks for Volumetric Medical Image
        Segmentation", 3DV 2016 (the soft Dice coefficient); ``monai.losses.DiceLoss``.

    Examples:
        >>> import numpy as np
        >>> y = np.array([[[1.0], [0.0]]])                   # (batch 1, 2 pixels, 1 channel)
        >>> p = np.array([[[0.5], [0.5]]])
        >>> round(float(soft_dice(y, p, from_logits=False)[0]), 4)   # 1 - (2*0.5 + 1) / (1 + 1 + 1)
        0.3333
        >>> y = np.array([[[1.0], [255.0]]])                 # the second pixel ignored: 1 - (1 + 1) / (1 + 0.5 + 1)
        >>> round(float(soft_dice(y, p, from_logits=False, ignore_class=255)[0]), 4)
        0.2
        >>> round(float(soft_dice(y[:, :1], p[:, :1], from_logits=False, sample_weight=[[2.0]])[0]), 4)
        0.25
    """
    _check_options(smooth, per_class, class_weights, activation, ignore_class)
    inputs = _dense_inputs(
        "soft_dice", y_true, y_pred, activation=activation, ignore_class=ignore_class, mask=mask,
        sample_weight=sample_weight,
    )  # fmt: skip
    return _overlap(
        "soft_dice", inputs, _dice_index(smooth), from_logits=from_logits, activation=activation,
        per_class=per_class, class_weights=class_weights,
    )  # fmt: skip


soft_dice_factory = loss_factory(soft_dice, validate=_validate, **_ACCEPTS)


@_documented(_IGNORED_DENSE, _SUMS, numerics=_OVERLAP_NUMERICS, conventions=_JACCARD_CONVENTIONS)
def jaccard(
    y_true: Tensor,
    y_pred: Tensor,
    *,
    smooth: float = 1.0,
    from_logits: bool = True,
    activation: Activation = "sigmoid",
    per_class: bool = True,
    class_weights: list[float] | None = None,
    ignore_class: int | None = None,
    mask: Tensor | None = None,
    sample_weight: Tensor | None = None,
) -> Tensor:
    r"""Soft Jaccard (intersection-over-union) loss, one value per sample.

    Formula:
        .. math:: \ell = 1 - \frac{TP + s}{TP + FP + FN + s}
                  = 1 - \frac{\sum \omega\,p\,y + s}{\sum \omega\,p + \sum \omega\,y - \sum \omega\,p\,y + s}

    per class (then averaged with ``class_weights``) or pooled over all channels; :math:`\omega` is 0 at ignored
    elements and the pixel's sample weight elsewhere.

    Normalizer:
        <NORMALIZER>

    Args:
        y_true: targets in [0, 1] (masks for sigmoid, one-hot for softmax), shaped like ``y_pred``.
        y_pred: logits (or probabilities with ``from_logits=False``), shaped ``(batch, ..., C)``.
        smooth: ``s`` > 0.
        from_logits: whether ``y_pred`` holds logits.
        activation: ``"sigmoid"`` (masks) or ``"softmax"`` (one-hot, over channels), applied to logits.
        per_class: IoU per channel then averaged (True), or one pooled IoU (False).
        class_weights: one non-negative weight per channel for the average (``per_class`` only).
        ignore_class: softmax: a channel k whose pixels are ignored; sigmoid: a target value (e.g. 255) whose
            elements are ignored.
        mask: (optional tensor) 0 where a pixel is ignored, shaped ``(batch, ...)``.
        sample_weight: (optional tensor) Keras' per-pixel weight map ``(batch, ...)``, applied inside the sums.

    Returns:
        The loss per sample, shaped ``(batch,)``.

    Conventions:
        <CONVENTIONS>

    Numerics:
        <NUMERICS>

    Reference:
        Rahman, Wang. "Optimizing Intersection-Over-Union in Deep Neural Networks for Image Segmentation",
        ISVC 2016; ``segmentation_models`` ``JaccardLoss``.

    Examples:
        >>> import numpy as np
        >>> y = np.array([[[1.0], [0.0]]])
        >>> p = np.array([[[0.5], [0.5]]])
        >>> round(float(jaccard(y, p, from_logits=False)[0]), 4)   # 1 - (0.5 + 1) / (1 + 1 - 0.5 + 1)
        0.4
        >>> round(float(jaccard(y, p, from_logits=False, mask=[[1.0, 0.0]])[0]), 4)   # 1 - 1.5 / 2
        0.25
    """
    _check_options(smooth, per_class, class_weights, activation, ignore_class)
    inputs = _dense_inputs(
        "jaccard", y_true, y_pred, activation=activation, ignore_class=ignore_class, mask=mask,
        sample_weight=sample_weight,
    )  # fmt: skip
    return _overlap(
        "jaccard", inputs, _jaccard_index(smooth), from_logits=from_logits, activation=activation,
        per_class=per_class, class_weights=class_weights,
    )  # fmt: skip


jaccard_factory = loss_factory(jaccard, validate=_validate, **_ACCEPTS)


@_documented(_IGNORED_DENSE, _SUMS, numerics=_OVERLAP_NUMERICS, conventions=_TVERSKY_CONVENTIONS)
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
    ignore_class: int | None = None,
    mask: Tensor | None = None,
    sample_weight: Tensor | None = None,
) -> Tensor:
    r"""Tversky loss: Dice with separate weights on false positives and false negatives, one value per sample.

    Formula:
        .. math:: \ell = 1 - TI,\qquad TI = \frac{TP + s}{TP + \alpha\,FP + \beta\,FN + s}

    ``alpha = beta = 0.5`` gives the soft Dice loss with twice the ``smooth`` and ``alpha = beta = 1`` the
    Jaccard loss (see Conventions); ``beta > alpha`` penalises missed foreground more (higher recall), as for small
    lesions.

    Normalizer:
        <NORMALIZER>

    Args:
        y_true: targets in [0, 1] (masks for sigmoid, one-hot for softmax), shaped like ``y_pred``.
        y_pred: logits (or probabilities with ``from_logits=False``), shaped ``(batch, ..., C)``.
        alpha: weight of false positives, >= 0.
        beta: weight of false negatives, >= 0.
        smooth: ``s`` > 0.
        from_logits: whether ``y_pred`` holds logits.
        activation: ``"sigmoid"`` (masks) or ``"softmax"`` (one-hot, over channels), applied to logits.
        per_class: index per channel then averaged (True), or one pooled index (False).
        class_weights: one non-negative weight per channel for the average (``per_class`` only).
        ignore_class: softmax: a channel k whose pixels are ignored; sigmoid: a target value (e.g. 255) whose
            elements are ignored.
        mask: (optional tensor) 0 where a pixel is ignored, shaped ``(batch, ...)``.
        sample_weight: (optional tensor) Keras' per-pixel weight map ``(batch, ...)``, applied inside the sums.

    Returns:
        The loss per sample, shaped ``(batch,)``.

    Conventions:
        <CONVENTIONS>

    Numerics:
        <NUMERICS>

    Reference:
        Salehi, Erdogmus, Gholipour. "Tversky loss function for image segmentation using 3D fully
        convolutional deep networks", MLMI 2017 (``alpha`` on FP, ``beta`` on FN, as here).

    Examples:
        >>> import numpy as np
        >>> y = np.array([[[1.0], [0.0]]])
        >>> p = np.array([[[0.5], [0.5]]])
        >>> round(float(soft_tversky(y, p, alpha=0.3, beta=0.7, from_logits=False)[0]), 4)  # 1 - 1.5 / 2
        0.25
    """
    _check_options(smooth, per_class, class_weights, activation, ignore_class)
    _check_tversky(alpha, beta)
    inputs = _dense_inputs(
        "soft_tversky", y_true, y_pred, activation=activation, ignore_class=ignore_class, mask=mask,
        sample_weight=sample_weight,
    )  # fmt: skip
    return _overlap(
        "soft_tversky", inputs, _tversky_index(alpha, beta, smooth), from_logits=from_logits,
        activation=activation, per_class=per_class, class_weights=class_weights,
    )  # fmt: skip


soft_tversky_factory = loss_factory(soft_tversky, validate=_validate, **_ACCEPTS)


@_documented(
    _IGNORED_DENSE,
    _SUMS,
    numerics=_OVERLAP_NUMERICS + _POWER_NUMERICS,
    conventions=_FOCAL_TVERSKY_CONVENTIONS,
)
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
    ignore_class: int | None = None,
    mask: Tensor | None = None,
    sample_weight: Tensor | None = None,
) -> Tensor:
    r"""Focal Tversky loss: the Tversky loss raised to a power, one value per sample.

    Formula:
        .. math:: \ell = (1 - TI)^{\gamma},\qquad TI = \frac{TP + s}{TP + \alpha\,FP + \beta\,FN + s}

    per class, then averaged with ``class_weights``. ``gamma < 1`` focuses training on the classes (or
    samples) that are still poorly segmented; ``gamma = 1`` is the Tversky loss. The power has a finite
    gradient at a perfect prediction for any ``gamma > 0``.

    Normalizer:
        <NORMALIZER>

    Args:
        y_true: targets in [0, 1] (masks for sigmoid, one-hot for softmax), shaped like ``y_pred``.
        y_pred: logits (or probabilities with ``from_logits=False``), shaped ``(batch, ..., C)``.
        alpha: weight of false positives, >= 0.
        beta: weight of false negatives, >= 0.
        gamma: exponent > 0. Abraham and Khan write :math:`(1 - TI)^{1/\gamma'}` with
            :math:`\gamma' = 4/3`; the default ``gamma = 0.75`` is that exponent.
        smooth: ``s`` > 0.
        from_logits: whether ``y_pred`` holds logits.
        activation: ``"sigmoid"`` (masks) or ``"softmax"`` (one-hot, over channels), applied to logits.
        per_class: per channel then averaged (True), or one pooled index (False).
        class_weights: one non-negative weight per channel for the average (``per_class`` only).
        ignore_class: softmax: a channel k whose pixels are ignored; sigmoid: a target value (e.g. 255) whose
            elements are ignored.
        mask: (optional tensor) 0 where a pixel is ignored, shaped ``(batch, ...)``.
        sample_weight: (optional tensor) Keras' per-pixel weight map ``(batch, ...)``, applied inside the sums.

    Returns:
        The loss per sample, shaped ``(batch,)``.

    Conventions:
        <CONVENTIONS>

    Numerics:
        <NUMERICS>

    Reference:
        Abraham, Khan. "A Novel Focal Tversky Loss Function with Improved Attention U-Net for Lesion
        Segmentation", ISBI 2019 (their alpha = 0.7 weighs FN, i.e. this ``beta``).

    Examples:
        >>> import numpy as np
        >>> y = np.array([[[1.0], [0.0]]])
        >>> p = np.array([[[0.5], [0.5]]])
        >>> round(float(focal_tversky(y, p, gamma=0.5, from_logits=False)[0]), 4)   # (1 - 1.5 / 2) ** 0.5
        0.5
    """
    _check_options(smooth, per_class, class_weights, activation, ignore_class)
    _check_tversky(alpha, beta)
    _check_gamma(gamma)
    inputs = _dense_inputs(
        "focal_tversky", y_true, y_pred, activation=activation, ignore_class=ignore_class, mask=mask,
        sample_weight=sample_weight,
    )  # fmt: skip
    return _overlap(
        "focal_tversky", inputs, _focal_tversky_index(alpha, beta, gamma, smooth), from_logits=from_logits,
        activation=activation, per_class=per_class, class_weights=class_weights,
    )  # fmt: skip


focal_tversky_factory = loss_factory(focal_tversky, validate=_validate, **_ACCEPTS)


@_documented(
    _IGNORED_DENSE,
    _SUMS,
    _CROSS_ENTROPY,
    numerics=_OVERLAP_NUMERICS + _CROSS_ENTROPY_NUMERICS,
    conventions=_DICE_CONVENTIONS,
)
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
    ignore_class: int | None = None,
    mask: Tensor | None = None,
    sample_weight: Tensor | None = None,
) -> Tensor:
    r"""Weighted cross-entropy plus soft Dice loss, one value per sample.

    The Data Science Bowl 2018 winners' combination (seed 004): cross-entropy for per-pixel accuracy and
    well-behaved gradients early on, Dice for the overlap the metric rewards.

    Formula:
        .. math:: \ell = w_b\,\mathrm{mean}\big(\mathrm{CE}(y, p)\big) + w_d\,\Big(1 - \frac{2\,TP + s}
                  {2\,TP + FP + FN + s}\Big)

    where CE is the binary cross-entropy per element for ``activation="sigmoid"`` and the categorical
    cross-entropy per pixel for ``"softmax"`` (mean over the kept elements of the image; on logits in the
    overflow-free form, on probabilities clipped to :math:`[10^{-7}, 1 - 10^{-7}]`). ``class_weights`` weigh
    the Dice average and each class's cross-entropy.

    Normalizer:
        <NORMALIZER>

    Args:
        y_true: targets in [0, 1] (masks for sigmoid, one-hot for softmax), shaped like ``y_pred``.
        y_pred: logits (or probabilities with ``from_logits=False``), shaped ``(batch, ..., C)``.
        bce_weight: ``w_b`` >= 0.
        dice_weight: ``w_d`` >= 0.
        smooth: ``s`` > 0.
        from_logits: whether ``y_pred`` holds logits.
        activation: ``"sigmoid"`` (binary CE, masks) or ``"softmax"`` (categorical CE, one-hot), applied to logits.
        per_class: Dice per channel then averaged (True), or one pooled Dice (False).
        class_weights: one non-negative weight per channel, for the Dice average and the cross-entropy
            (``per_class`` only).
        ignore_class: softmax: a channel k whose pixels are ignored; sigmoid: a target value (e.g. 255) whose
            elements are ignored.
        mask: (optional tensor) 0 where a pixel is ignored, shaped ``(batch, ...)``.
        sample_weight: (optional tensor) Keras' per-pixel weight map ``(batch, ...)``, applied inside the sums
            and to each pixel's cross-entropy.

    Returns:
        The loss per sample, shaped ``(batch,)``.

    Conventions:
        <CONVENTIONS>

    Numerics:
        <NUMERICS>

    Reference:
        Seferbekov et al. (team "topcoders"), 1st place of the 2018 Data Science Bowl,
        https://github.com/selimsef/dsb2018_topcoders (``bce_dice_loss``).

    Examples:
        >>> import numpy as np
        >>> y = np.array([[[1.0], [0.0]]])
        >>> p = np.array([[[0.5], [0.5]]])
        >>> round(float(dice_bce(y, p, from_logits=False)[0]), 4)   # log 2 + 1/3
        1.0265
        >>> round(float(dice_bce(y, p, from_logits=False, mask=[[1.0, 0.0]])[0]), 4)   # log 2 + 1/5
        0.8931
    """
    _check_options(smooth, per_class, class_weights, activation, ignore_class)
    _check_term_weights(bce_weight, dice_weight)
    inputs = _dense_inputs(
        "dice_bce", y_true, y_pred, activation=activation, ignore_class=ignore_class, mask=mask,
        sample_weight=sample_weight,
    )  # fmt: skip
    return _dice_bce(
        "dice_bce", inputs, bce_weight=bce_weight, dice_weight=dice_weight, smooth=smooth, from_logits=from_logits,
        activation=activation, per_class=per_class, class_weights=class_weights,
    )  # fmt: skip


dice_bce_factory = loss_factory(dice_bce, validate=_validate, **_ACCEPTS)


# -- the sparse forms: class ids (batch, ...) against predictions (batch, ..., C), softmax ---------------------------


@_documented(_IGNORED_SPARSE, _SUMS, numerics=_OVERLAP_NUMERICS, conventions=_SPARSE_CONVENTIONS)
def sparse_soft_dice(
    y_true: Tensor,
    y_pred: Tensor,
    *,
    smooth: float = 1.0,
    from_logits: bool = True,
    per_class: bool = True,
    class_weights: list[float] | None = None,
    ignore_class: int | None = None,
    mask: Tensor | None = None,
    sample_weight: Tensor | None = None,
) -> Tensor:
    r"""Soft Dice loss against integer class ids (softmax over channels), one value per sample.

    Formula:
        .. math:: \ell = 1 - \frac{2\,TP + s}{2\,TP + FP + FN + s}

    of ``soft_dice`` with ``activation="softmax"`` on :math:`y = \mathrm{onehot}(t)`, the class ids made one-hot
    (the ignored ones first set to 0).

    Normalizer:
        <NORMALIZER>

    Args:
        y_true: class ids ``t`` in [0, C) (or ``ignore_class``), shaped ``(batch, ...)`` (or ``(batch, ..., 1)``).
        y_pred: logits (or softmax probabilities with ``from_logits=False``), shaped ``(batch, ..., C)``.
        smooth: ``s`` > 0.
        from_logits: whether ``y_pred`` holds logits.
        per_class: Dice per channel then averaged (True), or one pooled Dice (False).
        class_weights: one non-negative weight per channel for the average (``per_class`` only).
        ignore_class: a class id whose pixels are ignored: any integer, e.g. 255 or -1.
        mask: (optional tensor) 0 where a pixel is ignored, shaped like the ids.
        sample_weight: (optional tensor) Keras' per-pixel weight map, shaped like the ids, applied inside the sums.

    Returns:
        The loss per sample, shaped ``(batch,)``.

    Conventions:
        <CONVENTIONS>

    Numerics:
        <NUMERICS>

    Reference:
        Milletari, Navab, Ahmadi, 3DV 2016 (see ``soft_dice``).

    Examples:
        >>> import numpy as np
        >>> ids = np.array([[1, 255]])                            # (batch 1, 2 pixels): the second ignored
        >>> p = np.array([[[0.25, 0.75], [np.nan, np.nan]]])      # (1, 2, 2) probabilities
        >>> # class 0: 1 - 1 / (0.25 + 1) = 0.2; class 1: 1 - (1.5 + 1) / (0.75 + 1 + 1) = 0.0909
        >>> round(float(sparse_soft_dice(ids, p, from_logits=False, ignore_class=255)[0]), 4)
        0.1455
    """
    _check_options(smooth, per_class, class_weights)
    inputs = _sparse_inputs(
        "sparse_soft_dice", y_true, y_pred, ignore_class=ignore_class, mask=mask, sample_weight=sample_weight
    )
    return _overlap(
        "sparse_soft_dice", inputs, _dice_index(smooth), from_logits=from_logits, activation="softmax",
        per_class=per_class, class_weights=class_weights,
    )  # fmt: skip


sparse_soft_dice_factory = loss_factory(sparse_soft_dice, validate=_validate, **_ACCEPTS_IDS)


@_documented(_IGNORED_SPARSE, _SUMS, numerics=_OVERLAP_NUMERICS, conventions=_SPARSE_CONVENTIONS)
def sparse_jaccard(
    y_true: Tensor,
    y_pred: Tensor,
    *,
    smooth: float = 1.0,
    from_logits: bool = True,
    per_class: bool = True,
    class_weights: list[float] | None = None,
    ignore_class: int | None = None,
    mask: Tensor | None = None,
    sample_weight: Tensor | None = None,
) -> Tensor:
    r"""Soft Jaccard (IoU) loss against integer class ids (softmax over channels), one value per sample.

    Formula:
        .. math:: \ell = 1 - \frac{TP + s}{TP + FP + FN + s}

    of ``jaccard`` with ``activation="softmax"`` on the one-hot ids.

    Normalizer:
        <NORMALIZER>

    Args:
        y_true: class ids in [0, C) (or ``ignore_class``), shaped ``(batch, ...)`` (or ``(batch, ..., 1)``).
        y_pred: logits (or softmax probabilities with ``from_logits=False``), shaped ``(batch, ..., C)``.
        smooth: ``s`` > 0.
        from_logits: whether ``y_pred`` holds logits.
        per_class: IoU per channel then averaged (True), or one pooled IoU (False).
        class_weights: one non-negative weight per channel for the average (``per_class`` only).
        ignore_class: a class id whose pixels are ignored: any integer, e.g. 255 or -1.
        mask: (optional tensor) 0 where a pixel is ignored, shaped like the ids.
        sample_weight: (optional tensor) Keras' per-pixel weight map, shaped like the ids, applied inside the sums.

    Returns:
        The loss per sample, shaped ``(batch,)``.

    Conventions:
        <CONVENTIONS>

    Numerics:
        <NUMERICS>

    Reference:
        Rahman, Wang, ISVC 2016 (see ``jaccard``).

    Examples:
        >>> import numpy as np
        >>> ids = np.array([[1, 0]])
        >>> p = np.array([[[0.5, 0.5], [0.5, 0.5]]])
        >>> round(float(sparse_jaccard(ids, p, from_logits=False)[0]), 4)   # each class: 1 - 1.5 / 2.5
        0.4
    """
    _check_options(smooth, per_class, class_weights)
    inputs = _sparse_inputs(
        "sparse_jaccard", y_true, y_pred, ignore_class=ignore_class, mask=mask, sample_weight=sample_weight
    )
    return _overlap(
        "sparse_jaccard", inputs, _jaccard_index(smooth), from_logits=from_logits, activation="softmax",
        per_class=per_class, class_weights=class_weights,
    )  # fmt: skip


sparse_jaccard_factory = loss_factory(sparse_jaccard, validate=_validate, **_ACCEPTS_IDS)


@_documented(_IGNORED_SPARSE, _SUMS, numerics=_OVERLAP_NUMERICS, conventions=_SPARSE_CONVENTIONS)
def sparse_soft_tversky(
    y_true: Tensor,
    y_pred: Tensor,
    *,
    alpha: float = 0.5,
    beta: float = 0.5,
    smooth: float = 1.0,
    from_logits: bool = True,
    per_class: bool = True,
    class_weights: list[float] | None = None,
    ignore_class: int | None = None,
    mask: Tensor | None = None,
    sample_weight: Tensor | None = None,
) -> Tensor:
    r"""Tversky loss against integer class ids (softmax over channels), one value per sample.

    Formula:
        .. math:: \ell = 1 - TI,\qquad TI = \frac{TP + s}{TP + \alpha\,FP + \beta\,FN + s}

    of ``soft_tversky`` with ``activation="softmax"`` on the one-hot ids.

    Normalizer:
        <NORMALIZER>

    Args:
        y_true: class ids in [0, C) (or ``ignore_class``), shaped ``(batch, ...)`` (or ``(batch, ..., 1)``).
        y_pred: logits (or softmax probabilities with ``from_logits=False``), shaped ``(batch, ..., C)``.
        alpha: weight of false positives, >= 0.
        beta: weight of false negatives, >= 0.
        smooth: ``s`` > 0.
        from_logits: whether ``y_pred`` holds logits.
        per_class: index per channel then averaged (True), or one pooled index (False).
        class_weights: one non-negative weight per channel for the average (``per_class`` only).
        ignore_class: a class id whose pixels are ignored: any integer, e.g. 255 or -1.
        mask: (optional tensor) 0 where a pixel is ignored, shaped like the ids.
        sample_weight: (optional tensor) Keras' per-pixel weight map, shaped like the ids, applied inside the sums.

    Returns:
        The loss per sample, shaped ``(batch,)``.

    Conventions:
        <CONVENTIONS>

    Numerics:
        <NUMERICS>

    Reference:
        Salehi, Erdogmus, Gholipour, MLMI 2017 (see ``soft_tversky``).

    Examples:
        >>> import numpy as np
        >>> ids = np.array([[1, 0]])
        >>> p = np.array([[[0.5, 0.5], [0.5, 0.5]]])
        >>> round(float(sparse_soft_tversky(ids, p, alpha=0.3, beta=0.7, from_logits=False)[0]), 4)   # 1 - 1.5/2
        0.25
    """
    _check_options(smooth, per_class, class_weights)
    _check_tversky(alpha, beta)
    inputs = _sparse_inputs(
        "sparse_soft_tversky", y_true, y_pred, ignore_class=ignore_class, mask=mask, sample_weight=sample_weight
    )
    return _overlap(
        "sparse_soft_tversky", inputs, _tversky_index(alpha, beta, smooth), from_logits=from_logits,
        activation="softmax", per_class=per_class, class_weights=class_weights,
    )  # fmt: skip


sparse_soft_tversky_factory = loss_factory(sparse_soft_tversky, validate=_validate, **_ACCEPTS_IDS)


@_documented(
    _IGNORED_SPARSE,
    _SUMS,
    numerics=_OVERLAP_NUMERICS + _POWER_NUMERICS,
    conventions=_SPARSE_CONVENTIONS,
)
def sparse_focal_tversky(
    y_true: Tensor,
    y_pred: Tensor,
    *,
    alpha: float = 0.3,
    beta: float = 0.7,
    gamma: float = 0.75,
    smooth: float = 1.0,
    from_logits: bool = True,
    per_class: bool = True,
    class_weights: list[float] | None = None,
    ignore_class: int | None = None,
    mask: Tensor | None = None,
    sample_weight: Tensor | None = None,
) -> Tensor:
    r"""Focal Tversky loss against integer class ids (softmax over channels), one value per sample.

    Formula:
        .. math:: \ell = (1 - TI)^{\gamma},\qquad TI = \frac{TP + s}{TP + \alpha\,FP + \beta\,FN + s}

    of ``focal_tversky`` with ``activation="softmax"`` on the one-hot ids.

    Normalizer:
        <NORMALIZER>

    Args:
        y_true: class ids in [0, C) (or ``ignore_class``), shaped ``(batch, ...)`` (or ``(batch, ..., 1)``).
        y_pred: logits (or softmax probabilities with ``from_logits=False``), shaped ``(batch, ..., C)``.
        alpha: weight of false positives, >= 0.
        beta: weight of false negatives, >= 0.
        gamma: exponent > 0.
        smooth: ``s`` > 0.
        from_logits: whether ``y_pred`` holds logits.
        per_class: per channel then averaged (True), or one pooled index (False).
        class_weights: one non-negative weight per channel for the average (``per_class`` only).
        ignore_class: a class id whose pixels are ignored: any integer, e.g. 255 or -1.
        mask: (optional tensor) 0 where a pixel is ignored, shaped like the ids.
        sample_weight: (optional tensor) Keras' per-pixel weight map, shaped like the ids, applied inside the sums.

    Returns:
        The loss per sample, shaped ``(batch,)``.

    Conventions:
        <CONVENTIONS>

    Numerics:
        <NUMERICS>

    Reference:
        Abraham, Khan, ISBI 2019 (see ``focal_tversky``).

    Examples:
        >>> import numpy as np
        >>> ids = np.array([[1, 0]])
        >>> p = np.array([[[0.5, 0.5], [0.5, 0.5]]])
        >>> round(float(sparse_focal_tversky(ids, p, gamma=0.5, from_logits=False)[0]), 4)   # (1 - 1.5/2) ** 0.5
        0.5
    """
    _check_options(smooth, per_class, class_weights)
    _check_tversky(alpha, beta)
    _check_gamma(gamma)
    inputs = _sparse_inputs(
        "sparse_focal_tversky", y_true, y_pred, ignore_class=ignore_class, mask=mask, sample_weight=sample_weight
    )
    return _overlap(
        "sparse_focal_tversky", inputs, _focal_tversky_index(alpha, beta, gamma, smooth), from_logits=from_logits,
        activation="softmax", per_class=per_class, class_weights=class_weights,
    )  # fmt: skip


sparse_focal_tversky_factory = loss_factory(sparse_focal_tversky, validate=_validate, **_ACCEPTS_IDS)


@_documented(
    _IGNORED_SPARSE,
    _SUMS,
    _CROSS_ENTROPY,
    numerics=_OVERLAP_NUMERICS + _CROSS_ENTROPY_NUMERICS,
    conventions=_SPARSE_CONVENTIONS,
)
def sparse_dice_bce(
    y_true: Tensor,
    y_pred: Tensor,
    *,
    bce_weight: float = 1.0,
    dice_weight: float = 1.0,
    smooth: float = 1.0,
    from_logits: bool = True,
    per_class: bool = True,
    class_weights: list[float] | None = None,
    ignore_class: int | None = None,
    mask: Tensor | None = None,
    sample_weight: Tensor | None = None,
) -> Tensor:
    r"""Weighted softmax cross-entropy plus soft Dice loss against integer class ids, one value per sample.

    Formula:
        .. math:: \ell = w_b\,\mathrm{mean}\big(-w_t \log \operatorname{softmax}(x)_t\big) + w_d\,\Big(1 -
                  \frac{2\,TP + s}{2\,TP + FP + FN + s}\Big)

    of ``dice_bce`` with ``activation="softmax"`` on the one-hot ids (the cross-entropy of ``sparse_softmax_ce``,
    averaged over each image's kept pixels).

    Normalizer:
        <NORMALIZER>

    Args:
        y_true: class ids ``t`` in [0, C) (or ``ignore_class``), shaped ``(batch, ...)`` (or ``(batch, ..., 1)``).
        y_pred: logits (or softmax probabilities with ``from_logits=False``), shaped ``(batch, ..., C)``.
        bce_weight: ``w_b`` >= 0.
        dice_weight: ``w_d`` >= 0.
        smooth: ``s`` > 0.
        from_logits: whether ``y_pred`` holds logits.
        per_class: Dice per channel then averaged (True), or one pooled Dice (False).
        class_weights: one non-negative weight per channel, for the Dice average and the cross-entropy
            (``per_class`` only).
        ignore_class: a class id whose pixels are ignored: any integer, e.g. 255 or -1.
        mask: (optional tensor) 0 where a pixel is ignored, shaped like the ids.
        sample_weight: (optional tensor) Keras' per-pixel weight map, shaped like the ids, applied inside the sums
            and to each pixel's cross-entropy.

    Returns:
        The loss per sample, shaped ``(batch,)``.

    Conventions:
        <CONVENTIONS>

    Numerics:
        <NUMERICS>

    Reference:
        Seferbekov et al., 2018 Data Science Bowl (see ``dice_bce``).

    Examples:
        >>> import numpy as np
        >>> ids = np.array([[1, 255]])
        >>> logits = np.array([[[0.0, 0.0], [np.nan, 0.0]]])
        >>> # log 2 + mean over classes of Dice: class 0: 1 - 1 / 1.5, class 1: 1 - 2 / 2.5
        >>> round(float(sparse_dice_bce(ids, logits, ignore_class=255)[0]), 4)
        0.9598
    """
    _check_options(smooth, per_class, class_weights)
    _check_term_weights(bce_weight, dice_weight)
    inputs = _sparse_inputs(
        "sparse_dice_bce", y_true, y_pred, ignore_class=ignore_class, mask=mask, sample_weight=sample_weight
    )
    return _dice_bce(
        "sparse_dice_bce", inputs, bce_weight=bce_weight, dice_weight=dice_weight, smooth=smooth,
        from_logits=from_logits, activation="softmax", per_class=per_class, class_weights=class_weights,
    )  # fmt: skip


sparse_dice_bce_factory = loss_factory(sparse_dice_bce, validate=_validate, **_ACCEPTS_IDS)
