"""Keras' own loss checklist, run on the ``RegisteredLoss`` of the loss under check.

Keras tests each of its losses the same way (``keras/src/losses/losses_test.py``: unweighted, scalar weight,
per-sample weight, timestep weight, zero weight, and each reduction: sum, mean, none, mean_with_sample_weight).
Here every registered loss gets those checks, each against an expectation computed independently: the loss
function's own values (``Measured.values``, the function called directly) weighted and reduced in float64 NumPy,
the way ``keras.losses.Loss`` documents it.

Each check is a function ``(subject, measured, loss_of) -> None`` in ``KERAS_CHECKLIST``, under the name it fails
with; further invariants of the same kind (ignored classes, masks, class weights) are added as more entries.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ._report import fail
from ._subject import Subject, cast, check_finite, loss_args

__all__ = ["KERAS_CHECKLIST", "run_keras_checklist"]

#: a scalar sample weight (not 1, not 0)
SCALAR = 2.5


def _loss_of(subject: Subject, measured: Any) -> Callable[[str | None], Any]:
    """The loss under check as a ``RegisteredLoss`` with a given reduction (the one ``lossreg.get`` builds)."""
    from lossreg.keras import RegisteredLoss

    terms = [dict(t) for t in measured.keras_loss.terms]
    return lambda reduction: RegisteredLoss(terms, reduction=reduction)


def _call(subject: Subject, loss: Any, sample_weight: Any) -> np.ndarray:
    """``loss(y_true, y_pred, sample_weight)`` on the float32 test inputs, as float64 NumPy."""
    import keras

    y_true, y_pred = loss_args(cast(subject.data, "float32"), subject.extras)
    out = loss(y_true, y_pred, sample_weight=sample_weight)
    return np.asarray(keras.ops.convert_to_numpy(out), dtype="float64")


def _sample_weights(batch: int) -> np.ndarray:
    """Distinct positive per-sample weights (one of them 0: a dropped sample), float32."""
    weights = np.linspace(0.5, 2.0, batch)
    weights[-1] = 0.0 if batch > 1 else weights[-1]
    return weights.astype("float32")


def _element_weights(shape: tuple[int, ...]) -> np.ndarray:
    """Distinct non-negative per-element (timestep) weights shaped like the values, some 0, float32."""
    return (np.arange(math.prod(shape)).reshape(shape) % 5 * 0.5).astype("float32")


def _broadcast(weights: np.ndarray, values: np.ndarray) -> np.ndarray:
    """A per-sample weight ``(batch,)`` (or one shaped like the values) over the values, float64."""
    weights = weights.astype("float64")
    return np.broadcast_to(weights.reshape(weights.shape + (1,) * (values.ndim - weights.ndim)), values.shape)


def _expect(subject: Subject, check: str, got: Any, want: float, scale: float, how: str) -> None:
    """Fail ``check`` unless ``got`` (a scalar) equals ``want`` within float32 tolerance of ``scale``."""
    got_array = np.asarray(got, dtype="float64")
    if got_array.shape != ():
        raise fail(subject.name, check, f"the RegisteredLoss returned shape {got_array.shape}, not a scalar ({how}).")
    if not math.isclose(float(got_array), want, rel_tol=1e-5, abs_tol=1e-6 + 1e-5 * scale):
        raise fail(
            subject.name,
            check,
            f"the RegisteredLoss gives {float(got_array)!r}, but {how} is {want!r} "
            f"(per-sample values of the loss function: {subject.name}'s own, reduced in float64).",
        )


def check_unweighted(subject: Subject, measured: Any, loss_of: Callable[[str | None], Any]) -> None:
    """No sample weight: the mean of the loss function's values (``"sum_over_batch_size"``)."""
    values = measured.values.astype("float64")
    got = _call(subject, loss_of("sum_over_batch_size"), None)
    _expect(subject, "unweighted", got, float(np.mean(values)), float(np.mean(np.abs(values))), "their mean")


def check_scalar_weight(subject: Subject, measured: Any, loss_of: Callable[[str | None], Any]) -> None:
    """A scalar sample weight ``w``: ``w`` times the unweighted mean."""
    values = measured.values.astype("float64")
    got = _call(subject, loss_of("sum_over_batch_size"), np.float32(SCALAR))
    want = SCALAR * float(np.mean(values))
    _expect(subject, "scalar weight", got, want, SCALAR * float(np.mean(np.abs(values))), f"{SCALAR} x their mean")


def check_sample_weight(subject: Subject, measured: Any, loss_of: Callable[[str | None], Any]) -> None:
    """Per-sample weights ``(batch,)``: the weighted values' sum over the number of values (the batch size)."""
    _weighted_mean(subject, measured, loss_of("sum_over_batch_size"), "sample weight")


def check_reduction_mean(subject: Subject, measured: Any, loss_of: Callable[[str | None], Any]) -> None:
    """``reduction="mean"`` (Keras' other name for ``"sum_over_batch_size"``): the same weighted mean."""
    _weighted_mean(subject, measured, loss_of("mean"), "mean reduction")


def _weighted_mean(subject: Subject, measured: Any, loss: Any, check: str) -> None:
    values = measured.values.astype("float64")
    weights = _sample_weights(subject.batch)
    weighted = _broadcast(weights, values) * values
    got = _call(subject, loss, weights)
    how = f"the mean of the values weighted per sample by {weights.tolist()}"
    _expect(subject, check, got, float(np.mean(weighted)), float(np.mean(np.abs(weighted))), how)


def check_timestep_weight(subject: Subject, measured: Any, loss_of: Callable[[str | None], Any]) -> None:
    """Per-element (timestep) weights shaped like per-element values: their weighted mean; skipped (no-op) for
    per-sample values."""
    values = measured.values.astype("float64")
    if values.ndim < 2:
        return
    weights = _element_weights(values.shape)
    weighted = weights.astype("float64") * values
    got = _call(subject, loss_of("sum_over_batch_size"), weights)
    how = f"the mean of the values weighted per element by a {weights.shape} map"
    _expect(subject, "timestep weight", got, float(np.mean(weighted)), float(np.mean(np.abs(weighted))), how)


def check_zero_weight(subject: Subject, measured: Any, loss_of: Callable[[str | None], Any]) -> None:
    """All-zero sample weights: exactly 0, with finite gradients (never NaN)."""
    from lossreg._backend import value_and_grad

    loss = loss_of("sum_over_batch_size")
    data = cast(subject.data, "float32")
    zeros = np.zeros((subject.batch,), "float32")
    watched = [k for k in ("y_pred", *subject.extras) if np.issubdtype(data[k].dtype, np.floating)]

    def call(y_true: Any, y_pred: Any, **extras: Any) -> Any:
        return loss(*loss_args({"y_true": y_true, "y_pred": y_pred, **extras}, subject.extras), sample_weight=zeros)

    value, grads = value_and_grad(call, data, watched)
    if np.asarray(value).shape != () or float(value) != 0.0:
        raise fail(subject.name, "zero weight", f"with all sample weights 0 the RegisteredLoss gives {value!r}, not 0.")
    for key, grad in grads.items():
        check_finite(subject.name, "zero weight", f"with all sample weights 0, the gradient w.r.t. {key!r}", grad)


def check_reduction_sum(subject: Subject, measured: Any, loss_of: Callable[[str | None], Any]) -> None:
    """``reduction="sum"`` with per-sample weights: the weighted values' sum."""
    values = measured.values.astype("float64")
    weights = _sample_weights(subject.batch)
    weighted = _broadcast(weights, values) * values
    got = _call(subject, loss_of("sum"), weights)
    how = f"the sum of the values weighted per sample by {weights.tolist()}"
    _expect(subject, "sum reduction", got, float(np.sum(weighted)), float(np.sum(np.abs(weighted))), how)


def check_reduction_none(subject: Subject, measured: Any, loss_of: Callable[[str | None], Any]) -> None:
    """``reduction="none"`` with a scalar weight: the values unreduced, in their shape, times the weight."""
    values = measured.values.astype("float64")
    got = _call(subject, loss_of("none"), np.float32(SCALAR))
    if got.shape != values.shape:
        raise fail(
            subject.name,
            "none reduction",
            f"the RegisteredLoss returned shape {got.shape}; unreduced, it keeps the loss function's {values.shape}.",
        )
    want = SCALAR * values
    if not np.allclose(got, want, rtol=1e-5, atol=1e-6 + 1e-5 * float(np.mean(np.abs(want)))):
        raise fail(
            subject.name,
            "none reduction",
            f"the RegisteredLoss gives {got!r}, but {SCALAR} x the loss function's values is {want!r}.",
        )


def check_reduction_mean_with_sample_weight(
    subject: Subject, measured: Any, loss_of: Callable[[str | None], Any]
) -> None:
    """``reduction="mean_with_sample_weight"``: the weighted values' sum over the weights' sum (the weights as
    they weigh the values: a per-sample weight counts once per value of its sample), per-sample weights and, for
    per-element values, per-element ones."""
    values = measured.values.astype("float64")
    cases = [("per sample", _sample_weights(subject.batch))]
    if values.ndim >= 2:
        cases.append(("per element", _element_weights(values.shape)))
    loss = loss_of("mean_with_sample_weight")
    for kind, weights in cases:
        full = _broadcast(weights, values)
        want = float(np.sum(full * values) / np.sum(full))
        try:
            got = _call(subject, loss, weights)
        except Exception as exc:  # a backend's broadcasting error: the reduction refused a valid weight
            raise fail(
                subject.name,
                "mean_with_sample_weight reduction",
                f"weights {kind} {weights.shape} on values {values.shape} raised {type(exc).__name__}: "
                f"{str(exc)[:300]}",
            ) from exc
        how = f"the values weighted {kind} by {weights.tolist()}, summed, over the weights' sum"
        _expect(subject, "mean_with_sample_weight reduction", got, want, float(np.mean(np.abs(values))), how)


#: Keras' loss checklist, by the name each check fails with (and reports as passed)
KERAS_CHECKLIST: tuple[tuple[str, Callable[..., None]], ...] = (
    ("unweighted", check_unweighted),
    ("scalar weight", check_scalar_weight),
    ("sample weight", check_sample_weight),
    ("timestep weight", check_timestep_weight),
    ("zero weight", check_zero_weight),
    ("sum reduction", check_reduction_sum),
    ("mean reduction", check_reduction_mean),
    ("none reduction", check_reduction_none),
    ("mean_with_sample_weight reduction", check_reduction_mean_with_sample_weight),
)


def run_keras_checklist(subject: Subject, measured: Any) -> list[str]:
    """Run every check of ``KERAS_CHECKLIST``; the names of those that applied (``"timestep weight"`` only for
    per-element values)."""
    loss_of = _loss_of(subject, measured)
    ran = []
    for name, check in KERAS_CHECKLIST:
        if name == "timestep weight" and measured.values.ndim < 2:
            continue
        check(subject, measured, loss_of)
        ran.append(name)
    return ran
