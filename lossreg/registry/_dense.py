r"""Dense targets for loss authors: which elements a loss keeps, and values that carry Keras' mask.

Every lossreg classification and segmentation loss (and any plugin loss written with these helpers) ignores
elements the same way, so one conformance check (``lossreg.testing.check_loss``) holds for all of them:

1. ``keep = keep_mask(y_true, targets, ignore_class=..., mask=...)``: ``True`` where an element counts. An
   element is ignored where its target equals ``ignore_class`` (Keras' name: a class id such as 255 for class-id
   targets, a channel for one-hot targets, a target value such as 255 or -1 for binary masks) or where the
   optional ``mask`` tensor is 0.
2. ``zero_ignored(x, keep)`` on the logits before the math: an ignored element's logits become 0, so a NaN or ±inf
   logit there (padding, an unlabelled border) reaches neither the value nor the gradient. Targets are finite
   (pre-flight refuses NaN targets); zero them too where an ignore value such as 255 would enter the formula.
3. a per-element loss returns ``masked_values(values, keep)``: 0 at ignored elements, with ``keep`` attached as
   the values' Keras mask, so Keras' reduction (and lossreg's) averages over the kept elements only — as Keras'
   ``SparseCategoricalCrossentropy(ignore_class=...)`` does. A loss with one value per sample (an overlap loss)
   leaves ignored elements out of its sums and returns ``masked_values(values, any_kept_per_sample)``: a sample
   with nothing left is 0 and leaves the batch mean.

Nothing here imports Keras until a helper is called.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from lossreg._errors import LossInputError
from lossreg.registry._expects import check_ignore_channel
from lossreg.registry._ops import ops
from lossreg.registry._params import check_standard_param

__all__ = ["class_weight_vector", "keep_mask", "masked_values", "zero_ignored"]

Tensor = Any
TargetKind = Literal["class_ids", "one_hot", "unit"]


def _expand_to(small: Tensor, rank: int) -> Tensor:
    """``small`` with trailing axes of size 1 added up to ``rank`` (a per-pixel map against per-channel values)."""
    while len(small.shape) < rank:
        small = ops.expand_dims(small, -1)
    return small


def keep_mask(
    y_true: Tensor,
    targets: TargetKind,
    *,
    ignore_class: int | None = None,
    mask: Tensor | None = None,
    loss: str = "the loss",
) -> Tensor | None:
    """Where the elements of ``y_true`` count: a boolean tensor, or ``None`` when nothing can be ignored.

    Args:
        y_true: the targets: class ids ``(batch, ...)``, one-hot labels ``(batch, ..., C)`` or values in [0, 1]
            ``(batch, ...)``.
        targets: ``"class_ids"``, ``"one_hot"`` or ``"unit"``: what ``y_true`` holds.
        ignore_class: the target value of ignored elements (class ids and unit targets: any integer, e.g. 255 or
            -1; one-hot targets: a channel in ``[0, C)``, whose labelled elements are ignored).
        mask: an optional tensor, 0 where an element is ignored, shaped like the result (or like it without the
            last axis for unit targets, a per-pixel mask over channels).
        loss: the loss's name, for errors.

    Returns:
        ``(batch, ...)``: shaped like ``y_true`` for class ids and unit targets, without the class axis for one-hot.

    Raises:
        ValueError: ``ignore_class`` is not an integer (or ``None``).
        LossInputError: a one-hot ``ignore_class`` outside the channels.

    Examples:
        >>> import numpy as np
        >>> from keras import ops
        >>> ops.convert_to_numpy(keep_mask(np.array([[0, 255, 2]]), "class_ids", ignore_class=255)).tolist()
        [[True, False, True]]
        >>> ops.convert_to_numpy(keep_mask(np.eye(3)[[[0, 1, 2]]], "one_hot", ignore_class=0)).tolist()
        [[False, True, True]]
    """
    check_standard_param(loss, "ignore_class", ignore_class)
    keep = None
    if ignore_class is not None:
        y_true = ops.convert_to_tensor(y_true)
        if targets == "one_hot":
            check_ignore_channel(loss, ignore_class, y_true.shape[-1])
            keep = ops.not_equal(ops.take(y_true, ignore_class, axis=-1), ops.ones((), y_true.dtype))
        else:
            keep = ops.not_equal(y_true, ops.cast(ignore_class, y_true.dtype))
    if mask is not None:
        mask = ops.not_equal(ops.convert_to_tensor(mask), 0)
        keep = mask if keep is None else ops.logical_and(keep, _expand_to(mask, len(keep.shape)))
    return keep


def zero_ignored(x: Tensor, keep: Tensor | None) -> Tensor:
    """``x`` with 0 at ignored elements (``keep`` broadcast over ``x``'s trailing axes, e.g. the class axis).

    A ``where`` on the inputs, before the loss's math: a NaN or ±inf there reaches neither the value nor the
    gradient (a ``where`` on the result alone would still give ``0 * NaN = NaN`` gradients).
    """
    if keep is None:
        return x
    x = ops.convert_to_tensor(x)
    return ops.where(_expand_to(keep, len(x.shape)), x, ops.zeros_like(x))


def masked_values(values: Tensor, keep: Tensor | None) -> Tensor:
    """``values`` with 0 where ``keep`` is False, carrying ``keep`` as their Keras mask (so the mean runs over kept
    elements, as Keras' ``ignore_class`` does); ``values`` unchanged when ``keep`` is ``None``."""
    if keep is None:
        return values
    from keras.src.backend import set_keras_mask

    keep = _expand_to(keep, len(values.shape))
    if tuple(keep.shape) != tuple(values.shape):
        keep = ops.broadcast_to(keep, ops.shape(values))
    result = ops.where(keep, values, ops.zeros_like(values))
    set_keras_mask(result, keep)
    return result


def class_weight_vector(class_weights: Sequence[float] | None, channels: int | None, dtype: Any, loss: str) -> Tensor:
    """``class_weights`` as a tensor of ``dtype``, after checking there is one per channel (``None`` if not given).

    Raises:
        ValueError: ``class_weights`` break the rule every loss's spec is checked against (non-empty, finite, >= 0,
            a positive sum), with the same message.
        LossInputError: the count differs from the predictions' channels.
    """
    check_standard_param(loss, "class_weights", class_weights)
    if class_weights is None:
        return None
    if channels is not None and channels != len(class_weights):
        raise LossInputError(
            f"{loss} got {len(class_weights)} class_weights but the predictions have {channels} channels (classes); "
            "give one weight per channel, in channel order."
        )
    return ops.convert_to_tensor([float(w) for w in class_weights], dtype=dtype)
