"""The term engine: one weighted sum of registered losses, for ``RegisteredLoss``, ``attach`` and ``LossLayer``.

A :class:`BoundTerm` is one spec term built once: its label, weight, loss function, extras, pre-flight
check and spec path. The engine turns bound terms and tensors into values (:func:`weighted_values`), and
values into one number the way Keras' ``Loss.__call__`` does (:func:`reduce`): Keras' mask on ``y_pred``
and sample weights, then the reduction. The shells only say where tensors come from and where the result
goes; replica arithmetic is :func:`per_replica`, per-term logging is :mod:`lossreg.keras._logging`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import keras

from lossreg._backend import replicas
from lossreg._errors import LossInputError
from lossreg.keras._logging import safe_label
from lossreg.registry import REGISTRY, Expects, LossDef
from lossreg.registry._expects import same_rank
from lossreg.registry._ops import divide_no_nan, element_count, reduce_non_batch
from lossreg.spec import Changing, extras_not_passed

__all__ = [
    "BoundTerm",
    "bind",
    "dense_weight",
    "float_dtype",
    "keras_mask",
    "loss_value",
    "per_replica",
    "preflight",
    "reduce",
    "term_labels",
    "weighted_values",
]


@dataclass(frozen=True)
class BoundTerm:
    """One term of a loss, built once: what it computes, how it is weighted, checked, named and logged."""

    loss: str
    params: Mapping[str, Any]
    weight: float
    path: str | None
    label: str
    fn: Callable[..., Any] = field(repr=False)
    extras: tuple[str, ...]
    check: Callable[[Mapping[str, Any]], None] = field(repr=False)
    expects: Expects | None = field(repr=False)
    #: a weight that changes during training (its state: ``lossreg.keras._weights.TermWeights``); ``weight`` is 1 then
    varies: Changing | None = None
    #: the optional dense tensors the loss takes (``mask``, ``sample_weight``; see ``lossreg.DENSE_INPUTS``)
    dense_inputs: tuple[str, ...] = ()


def bind(
    loss: str,
    params: Mapping[str, Any] | None = None,
    weight: float = 1.0,
    *,
    path: str | None = None,
    label: str | None = None,
    loss_def: LossDef | None = None,
    varies: Changing | None = None,
) -> BoundTerm:
    """Build the term ``weight * loss(**params)``: its function, extras and pre-flight check, once.

    ``loss_def`` is the loss as the spec's names rule looked it up (``ParsedSpec.loss_defs``); without it the
    registry is asked here. Either way a term costs one registry lookup.
    """
    params = dict(params or {})
    found = loss_def if loss_def is not None else REGISTRY.lookup(loss, path=path)
    return BoundTerm(
        loss=loss,
        params=params,
        weight=float(weight),
        path=path,
        label=safe_label(label if label is not None else loss),
        fn=found.bind(params, path),
        extras=found.extras,
        check=found.input_check(params),
        expects=found.expects,
        varies=varies,
        dense_inputs=found.dense_inputs,
    )


def term_labels(base: str, losses: Sequence[str]) -> list[str]:
    """Log labels: ``base`` for one term, else ``base_<loss>`` (``_2``, ``_3`` for repeats), made name-safe."""
    labels: list[str] = []
    seen: dict[str, int] = {}
    for loss in losses:
        label = base if len(losses) == 1 else f"{base}_{loss}"
        seen[label] = seen.get(label, 0) + 1
        labels.append(safe_label(label if seen[label] == 1 else f"{label}_{seen[label]}"))
    return labels


def keras_mask(tensor: Any) -> Any:
    """The mask Keras attached to ``tensor`` (``Embedding(mask_zero=True)`` and the layers after it), or ``None``.

    Keras has no public reader: it keeps the mask as the tensor's ``_keras_mask`` attribute, or in a table
    for backends whose tensors refuse attributes; ``keras.src.backend.get_keras_mask`` reads both.
    """
    if tensor is None:
        return None
    try:
        from keras.src.backend import get_keras_mask
    except ImportError:  # pragma: no cover - a Keras that moved it: the attribute is where it always was
        return getattr(tensor, "_keras_mask", None)
    return get_keras_mask(tensor)


def preflight(terms: Sequence[BoundTerm], y_true: Any, y_pred: Any, *, name: str) -> tuple[Any, Any]:
    """Bring the targets to the predictions' rank (Keras' rule) and check both against every term's declaration."""
    single = terms[0].path if len(terms) == 1 else None
    if isinstance(y_true, str):
        raise LossInputError(
            f"{name} received the string {y_true!r} as its targets, not a tensor: Keras passes the keys of a dict "
            "`y` when the model's output is a single tensor. Pass y as the array itself (or give the model dict "
            "outputs).",
            path=single,
        )
    given = dict(y_pred) if isinstance(y_pred, Mapping) else {"y_pred": y_pred}
    tensors = {k: keras.ops.convert_to_tensor(v) for k, v in given.items() if v is not None}
    has_target = y_true is not None and not (isinstance(y_true, Mapping) and not y_true)
    if has_target:
        tensors["y_true"] = keras.ops.convert_to_tensor(y_true)
        if "y_pred" in tensors:
            tensors["y_true"], tensors["y_pred"] = same_rank(tensors["y_true"], tensors["y_pred"])
    for term in terms:
        try:
            term.check(tensors)
        except LossInputError as exc:
            raise LossInputError(str(exc), path=term.path) from None
    y_true = tensors["y_true"] if has_target else y_true
    if isinstance(y_pred, Mapping):
        return y_true, {k: tensors.get(k, v) for k, v in y_pred.items()}
    return y_true, tensors.get("y_pred", y_pred)


def _row_mean(values: Any, mask: Any) -> Any:
    """One value per sample: the mean over every axis but the first, over the unmasked entries only."""
    if mask is None or len(values.shape) < 2:
        return reduce_non_batch(values)
    weights = keras.ops.cast(mask, values.dtype)
    axes = tuple(range(1, len(values.shape)))
    return divide_no_nan(keras.ops.sum(values * weights, axis=axes), keras.ops.sum(weights, axis=axes))


def _add(total: Any, total_mask: Any, value: Any, value_mask: Any) -> tuple[Any, Any]:
    """Sum two terms and their masks; a per-sample and a per-element term are both made per-sample means first.

    Adding a ``(batch,)`` tensor to a ``(batch, k)`` one would broadcast over the wrong axis (or fail). Each
    term's own mask (e.g. ``ignore_class``) then makes its mean one over its kept entries.
    """
    if len(total.shape) != len(value.shape):
        return _row_mean(total, total_mask) + _row_mean(value, value_mask), None
    return total + value, _both(total_mask, value_mask)


def _both(mask: Any, other: Any) -> Any:
    """Where both masks keep an entry (``None`` keeps every entry)."""
    if mask is None or other is None:
        return other if mask is None else mask
    return keras.ops.logical_and(keras.ops.cast(mask, "bool"), keras.ops.cast(other, "bool"))


def weight_map(sample_weight: Any) -> bool:
    """Whether ``sample_weight`` is a per-element (per-pixel) map: rank > 2, or rank 2 and not ``(batch, 1)``."""
    if sample_weight is None:
        return False
    shape = tuple(keras.ops.shape(sample_weight))
    return len(shape) > 2 or (len(shape) == 2 and shape[-1] != 1)


def dense_weight(terms: Sequence[BoundTerm], sample_weight: Any) -> bool:
    """Whether ``sample_weight`` is a per-element (per-pixel) map that a term applies inside its own sums.

    Such a term (an overlap loss taking ``sample_weight``) returns one value per sample with the weights already
    in it; the other terms' values are weighted element by element before the sum, and the reduction weighs
    nothing again. A per-sample weight ``(batch,)`` or ``(batch, 1)`` is never dense.
    """
    return weight_map(sample_weight) and any("sample_weight" in t.dense_inputs for t in terms)


def check_weight_map(term: BoundTerm, value: Any, weights: Any) -> None:
    """Refuse a per-pixel map for a term whose values have fewer axes than it (and that does not take the map
    inside its sums): a loss that already reduced its pixels (Keras' ``dice``/``tversky``: one value per sample
    or per batch) cannot be weighted pixel by pixel afterwards; Keras would scale it by the map's mean, or fail
    to broadcast. A trailing axis of 1 on the map is Keras' ``(batch, H, W, 1)`` form of a ``(batch, H, W)`` map."""
    rank, map_rank = len(value.shape), len(weights.shape)
    if rank >= map_rank or (rank == map_rank - 1 and weights.shape[-1] == 1):
        return
    per = {0: "one value per batch", 1: "one value per sample"}.get(rank, f"values shaped {tuple(value.shape)}")
    raise LossInputError(
        f"Loss {term.loss!r} returns {per}, so the per-pixel sample_weight shaped {tuple(weights.shape)} cannot "
        "weigh its pixels (its pixels are summed before any weight applies). Pass a per-sample weight (batch,) for "
        "it, or use a loss that applies per-pixel weights inside its sums (lossreg-segmentation's soft_dice, "
        "soft_tversky, jaccard and their sparse_ forms; `lossreg show NAME` lists sample_weight under 'optional "
        "tensors').",
        path=term.path,
    )


def _weigh_elements(value: Any, sample_weight: Any) -> Any:
    """``value`` times a per-element weight map, the map broadcast over the value's trailing axes."""
    weight = keras.ops.cast(sample_weight, value.dtype)
    while len(weight.shape) < len(value.shape):
        weight = keras.ops.expand_dims(weight, -1)
    return value * weight


def weighted_values(
    terms: Iterable[BoundTerm],
    y_true: Any,
    y_pred: Any,
    *,
    weighted: bool = True,
    mask: Any = None,
    sample_weight: Any = None,
    pixel_weights: Any = None,
) -> tuple[Any, Any]:
    """``sum(weight * loss(y_true, y_pred, **extras))`` per sample or per element, unreduced, and its mask.

    ``y_pred`` is a tensor or a dict ``{"y_pred": tensor, "<extra>": tensor}``; ``y_true`` may be ``None`` or
    ``{}`` for losses that need no target; ``weighted=False`` leaves the weights out (to log a term as it
    is). The mask is the one a loss attached to its values (as Keras'
    sparse cross-entropy does for ``ignore_class``) and ``mask`` (Keras' mask on ``y_pred``) where it lines up
    with a term's values, or ``None``. ``sample_weight`` is a dense weight map (``dense_weight``): passed to the
    terms that take it, multiplied into the others' values. ``pixel_weights``: a per-pixel map given with the
    call (``weight_map``), for which every term not taking it inside must return per-element values
    (``check_weight_map``). An optional ``"mask"`` tensor in ``y_pred`` goes to the terms that take one.
    """
    given: dict[str, Any] = {}
    if isinstance(y_pred, Mapping):
        given = {k: v for k, v in y_pred.items() if k != "y_pred"}
        y_pred = y_pred.get("y_pred")
    if isinstance(y_true, Mapping) and not y_true:
        y_true = None  # a loss that needs no target (e.g. vae_kl) is called with y_true={}
    terms = tuple(terms)
    if "mask" in given and not any("mask" in t.dense_inputs or "mask" in t.extras for t in terms):
        takers = ", ".join(repr(t.loss) for t in terms)
        raise LossInputError(
            f"A 'mask' tensor was passed, but no loss here takes one ({takers}). Losses that take a mask list it "
            "under 'optional tensors' in `lossreg show NAME`; or give the elements to ignore a sample weight of 0."
        )
    total: Any = None
    total_mask: Any = None
    for term in terms:
        missing = [e for e in term.extras if e not in given]
        if missing:
            raise LossInputError(extras_not_passed(term.loss, missing), path=term.path)
        kwargs = {e: given[e] for e in term.extras}
        if "mask" in term.dense_inputs and given.get("mask") is not None:
            kwargs["mask"] = given["mask"]
        inside = sample_weight is not None and "sample_weight" in term.dense_inputs
        if inside:
            kwargs["sample_weight"] = sample_weight
        try:
            value = term.fn(y_true, y_pred, **kwargs)
        except LossInputError as exc:  # raised by the loss itself (e.g. class_weights of the wrong length)
            if exc.path:
                raise
            raise LossInputError(str(exc), path=term.path) from None
        if pixel_weights is not None and not inside:
            check_weight_map(term, value, pixel_weights)
        value_mask = _both(
            keras_mask(value), mask if mask is not None and len(mask.shape) == len(value.shape) else None
        )
        if sample_weight is not None and not inside:
            value = _weigh_elements(value, sample_weight)
        value = value if term.weight == 1.0 or not weighted else value * term.weight
        total, total_mask = (value, value_mask) if total is None else _add(total, total_mask, value, value_mask)
    return total, total_mask


def loss_value(
    terms: Sequence[BoundTerm],
    y_true: Any,
    y_pred: Any,
    sample_weight: Any = None,
    *,
    reduction: str | None = "sum_over_batch_size",
    dtype: Any = "float32",
    name: str,
    mask: Any = None,
    weighted: bool = True,
    scale: bool = False,
) -> Any:
    """The terms' weighted sum on one batch, as Keras' ``Loss.__call__`` computes a loss (before replicas).

    Pre-flight, then inputs converted to ``dtype``, then the values, weighted by ``sample_weight`` and by the
    mask: ``mask`` if given, else the one Keras attached to ``y_pred`` (``Embedding(mask_zero=True)``),
    combined with the one the loss attached to its values, as Keras does.
    """
    if mask is None:
        mask = keras_mask(y_pred.get("y_pred") if isinstance(y_pred, Mapping) else y_pred)
    y_true, y_pred = preflight(terms, y_true, y_pred, name=name)

    def convert(x: Any) -> Any:
        return keras.ops.convert_to_tensor(x, dtype=dtype)

    y_true, y_pred = (keras.tree.map_structure(convert, t) for t in (y_true, y_pred))
    dense = pixels = None
    if weight_map(sample_weight):
        pixels = convert(sample_weight)
    if dense_weight(terms, sample_weight):  # a weight map applied inside the terms' sums: not again when reducing
        dense, sample_weight = pixels, None
    values, values_mask = weighted_values(
        terms, y_true, y_pred, weighted=weighted, mask=mask, sample_weight=dense, pixel_weights=pixels
    )
    if values_mask is None and mask is not None and len(mask.shape) > len(values.shape):
        # per-sample values (a per-sample term, or terms of mixed ranks made per-sample over the kept steps):
        # a sample counts when any of its steps is kept
        values_mask = keras.ops.any(keras.ops.cast(mask, "bool"), axis=tuple(range(len(values.shape), len(mask.shape))))
    elif values_mask is None:
        values_mask = mask
    return reduce(convert(values), sample_weight, values_mask, reduction, scale=scale)


def _rows(weight: Any, values: Any) -> Any:
    """A sample weight shaped to weigh ``values``: a per-sample weight ``(batch,)`` or ``(batch, 1)`` whole rows, and
    a per-pixel map shaped like per-element values without their last (class) axis every class of its pixel."""
    rank = len(values.shape)
    if len(weight.shape) == 2 and weight.shape[-1] == 1 and rank != 2:
        weight = keras.ops.squeeze(weight, axis=-1)
    if len(weight.shape) == 1 and rank > 1:
        return keras.ops.reshape(weight, (-1,) + (1,) * (rank - 1))
    if 1 < len(weight.shape) == rank - 1 and all(
        w is None or v is None or w == v for w, v in zip(weight.shape, values.shape[:-1], strict=True)
    ):
        return keras.ops.expand_dims(weight, -1)  # (batch, H, W) over (batch, H, W, C)
    return weight


def reduce(
    values: Any, sample_weight: Any = None, mask: Any = None, reduction: str | None = None, *, scale: bool = False
) -> Any:
    """Weight, mask and reduce per-sample or per-element values as Keras' ``Loss.__call__`` does.

    ``scale=True`` divides a mean by the number of replicas, as Keras scales a ``Loss``'s mean.

    The arithmetic is Keras' own (``reduce_weighted_values``), in the same order, so a masked mean equals
    Keras' to the bit: valid entries weigh ``total / valid``, padded ones 0. One difference: a per-sample
    weight ``(batch,)`` on per-element values ``(batch, d, ...)`` weights each sample's rows (Keras would
    broadcast it over the last axis, or fail); ``"mean_with_sample_weight"`` then divides
    by the weights' sum over the values they weight (a per-sample weight once per value of its sample), so a
    per-sample weight and the same weight spread over its sample's elements give one mean.
    """
    dtype = values.dtype
    if reduction is None or reduction == "none":
        reduction = "none"
    if sample_weight is not None:
        sample_weight = keras.ops.convert_to_tensor(sample_weight, dtype=dtype)
        sample_weight = _rows(sample_weight, values)
    if mask is not None:
        mask = keras.ops.cast(mask, "bool")
        if reduction in ("mean", "sum_over_batch_size"):
            total = keras.ops.cast(element_count(mask, dtype=dtype), dtype)
            valid = keras.ops.sum(keras.ops.cast(mask, dtype))
            float_mask = keras.ops.cast(mask, dtype) * divide_no_nan(total, valid)  # a product: no full-size select
        else:
            float_mask = keras.ops.cast(mask, dtype)
        if sample_weight is not None:
            float_mask, sample_weight = same_rank(float_mask, sample_weight)
            sample_weight = sample_weight * float_mask
        else:
            sample_weight = float_mask
    if sample_weight is not None:
        values, sample_weight = same_rank(values, keras.ops.cast(sample_weight, dtype))
        values = values * sample_weight
    if reduction == "none" or tuple(values.shape) in ((), (0,)):
        return values
    loss = keras.ops.sum(values)
    if reduction == "sum":
        return loss
    if reduction == "mean_with_sample_weight" and sample_weight is not None:
        # the weights' sum over the values they weight: a per-sample weight counts once per value of its sample
        loss = divide_no_nan(loss, keras.ops.sum(keras.ops.cast(sample_weight, dtype) * keras.ops.ones_like(values)))
    else:
        count = element_count(values)
        # a static, non-zero count divides with one op; otherwise Keras' divide_no_nan (an empty batch gives 0)
        loss = loss / count if isinstance(count, float) and count else divide_no_nan(loss, keras.ops.cast(count, dtype))
    return per_replica(loss) if scale else loss


def float_dtype() -> str:
    """The dtype losses are computed in: Keras' float type, but float32 under half precision.

    Keras would sum per-element float16 values in float16, which overflows past 65504.
    """
    floatx = keras.backend.floatx()
    return "float32" if floatx in ("float16", "bfloat16") else floatx


def per_replica(value: Any) -> Any:
    """``value`` divided by the number of replicas the batch is split over (1 off ``tf.distribute``).

    Under ``tf.distribute`` each replica sees its share of the batch and Keras sums the replicas' gradients,
    so a per-replica mean enters the total divided by the count, as Keras scales a ``Loss``'s mean.
    """
    count = replicas()
    return value if count == 1 else value * keras.ops.cast(1.0 / count, value.dtype)
