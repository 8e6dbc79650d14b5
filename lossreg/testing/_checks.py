"""``check_loss``'s checklist, one function per item: inputs, value, gradient, extreme, serialization, docs.

(The training check, which builds a Keras model, is in ``_training``.) Each raises ``LossCheckError`` through
``fail`` naming the loss, the check and the numbers.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._report import fail
from ._subject import Reference, Subject, call_reference, cast, check_finite, loss_args, values_and_grads

__all__ = ["Measured", "check_docs", "check_extreme", "check_gradient", "check_inputs", "check_serialization"]
__all__ += ["check_value"]


@dataclass(frozen=True)
class Measured:
    """What the value check computed and the later checks reuse."""

    values: np.ndarray  # the loss function's values on the float32 inputs
    grads: dict[str, np.ndarray | None]  # their gradients w.r.t. y_pred and the float extras
    keras_loss: Any  # lossreg.get(name, **params)
    value: float  # keras_loss on the float32 inputs
    reference_value: float | None
    #: where the values count: the Keras mask the loss function attached to them (``ignore_class``, ``mask``:
    #: ``lossreg.masked_values``), as a bool array shaped like ``values``; ``None`` when it attached none
    kept: np.ndarray | None = None

    def mean(self, weighted: np.ndarray) -> float:
        """``weighted`` (the values, weighted) summed over the kept values' count: Keras' masked mean."""
        count = self.values.size if self.kept is None else int(np.sum(self.kept))
        return float(np.sum(weighted) / count) if count else 0.0


def check_inputs(subject: Subject) -> bool:
    """0. The loss's declared inputs accept the test inputs; False (skipped) when it declares nothing."""
    import lossreg

    if lossreg.describe(subject.name).expects is None:
        return False
    try:
        subject.input_check(cast(subject.data, "float32"))
    except lossreg.LossInputError as exc:
        raise fail(
            subject.name,
            "inputs",
            f"its declared inputs refuse the test inputs: {exc} Fix the declaration (shapes, targets, "
            "from_logits), or pass inputs= that a user would give it.",
        ) from exc
    return True


def check_value(subject: Subject, reference: Reference | None, rtol: float, atol: float) -> Measured:
    """1. Per-sample values, batch axis first, finite; the Keras Loss gives their mean; they equal the reference."""
    import lossreg

    name, batch, data32 = subject.name, subject.batch, cast(subject.data, "float32")
    out, grads = values_and_grads(subject, data32)
    if out.ndim == 0 or out.shape[0] != batch:
        raise fail(
            name,
            "value",
            f"the loss function returned shape {out.shape} for a batch of {batch}; a loss function returns "
            "per-sample or per-element values with the batch axis first, and Keras reduces them.",
        )
    check_finite(name, "value", "the value", out)
    kept = _attached_mask(subject, data32, out.shape)
    keras_loss = lossreg.get(name, **subject.params)
    value = float(keras_loss(*loss_args(data32, subject.extras)))
    measured = Measured(out, grads, keras_loss, value, None, kept)
    mean = measured.mean(out.astype("float64"))
    if not math.isclose(value, mean, rel_tol=1e-5, abs_tol=1e-6):
        over = "" if kept is None else f" over the {int(kept.sum())} it keeps (its Keras mask)"
        raise fail(
            name,
            "value",
            f"lossreg.get({name!r}) gives {value}, but the mean of the function's values{over} is {mean}.",
        )
    if reference is None:
        return measured
    expected = _compare_reference(subject, reference, out, rtol, atol)
    return dataclasses.replace(measured, reference_value=measured.mean(expected))


def _attached_mask(subject: Subject, data: Mapping[str, np.ndarray], shape: tuple[int, ...]) -> np.ndarray | None:
    """The Keras mask the loss function attached to its values on ``data`` (bool, shaped like them), or ``None``."""
    import keras

    from lossreg.keras._engine import keras_mask

    tensors = {k: keras.ops.convert_to_tensor(v) for k, v in data.items()}
    out = subject.fn(tensors["y_true"], tensors["y_pred"], **{e: tensors[e] for e in subject.extras})
    mask = keras_mask(out)
    if mask is None:
        return None
    return np.broadcast_to(np.asarray(keras.ops.convert_to_numpy(mask), dtype=bool), shape)


def _compare_reference(subject: Subject, reference: Reference, out: np.ndarray, rtol: float, atol: float) -> np.ndarray:
    """The reference's values equal the loss's (same shape, within rtol/atol); the reference's values."""
    expected = call_reference(reference, subject.data, subject.params)
    if expected.shape != out.shape:
        raise fail(
            subject.name,
            "value",
            f"the reference returned shape {expected.shape} but the loss returned {out.shape}; return the same "
            "per-sample (or per-element) values from both.",
        )
    if not np.allclose(out, expected, rtol=rtol, atol=atol):
        worst = np.unravel_index(np.argmax(np.abs(out - expected)), out.shape)
        raise fail(
            subject.name,
            "value",
            f"loss {out[worst]!r} != reference {expected[worst]!r} at index {tuple(map(int, worst))} "
            f"(rtol={rtol}, atol={atol}).\nloss:      {out!r}\nreference: {expected!r}",
        )
    return expected


def check_gradient(
    subject: Subject, measured: Measured, reference: Reference | None, rtol: float, atol: float, seed: int
) -> float | None:
    """2. Finite gradients that flow somewhere; with a reference, equal to its central finite differences."""
    name = subject.name
    for key, grad in measured.grads.items():
        check_finite(name, "gradient", f"the gradient w.r.t. {key!r}", grad)
    # an exactly-zero gradient at random inputs flows nowhere: JAX gives zeros where TF and PyTorch give None
    grads = {k: g if g is not None and np.any(g != 0) else None for k, g in measured.grads.items()}
    if all(g is None for g in grads.values()):
        raise fail(name, "gradient", f"no gradient flows to any of {list(grads)}; is the loss differentiable?")
    if reference is None:
        return None
    rng = np.random.default_rng(seed + 2)
    max_error = 0.0
    for key, grad in grads.items():
        coords, numeric = _finite_differences(reference, subject, key, rng)
        if grad is None:
            if np.any(np.abs(numeric) > atol):
                raise fail(
                    name,
                    "gradient",
                    f"no gradient flows to {key!r}, but the reference depends on it (finite differences {numeric!r}).",
                )
            continue
        autodiff = grad.reshape(-1)[coords].astype("float64")
        error = np.abs(autodiff - numeric)
        max_error = max(max_error, float(error.max()))
        if np.any(error > atol + rtol * np.abs(numeric)):
            raise fail(
                name,
                "gradient",
                f"d loss / d {key} by autodiff {autodiff!r} differs from the reference's finite differences "
                f"{numeric!r} at flat indices {coords.tolist()} (rtol={rtol}, atol={atol}).",
            )
    return max_error


def _finite_differences(
    reference: Reference, subject: Subject, key: str, rng: Any, n: int = 6
) -> tuple[np.ndarray, np.ndarray]:
    """Central differences of ``sum(reference)`` w.r.t. ``data[key]`` at ``n`` random coordinates."""
    data, params = subject.data, subject.params
    flat_size = data[key].size
    coords = rng.choice(flat_size, size=min(n, flat_size), replace=False)
    estimates = []
    for c in coords:
        x0 = data[key].reshape(-1)[c]
        h = 1e-6 * max(1.0, abs(float(x0)))
        totals = []
        for step in (h, -h):
            bumped = {k: v.copy() for k, v in data.items()}
            bumped[key].reshape(-1)[c] = x0 + step
            totals.append(float(np.sum(call_reference(reference, bumped, params))))
        estimates.append((totals[0] - totals[1]) / (2 * h))
    return coords, np.asarray(estimates)


def check_extreme(subject: Subject, extreme: Any, dtypes: Sequence[str]) -> None:
    """3. Value and gradients finite at extreme inputs, in every dtype of ``dtypes``."""
    for case in _extreme_inputs(subject.data, extreme, subject.extras):
        for dtype in dtypes:
            values, grads = values_and_grads(subject, cast(case, dtype))
            shown = {k: v.reshape(-1)[:4].tolist() for k, v in case.items() if k != "y_true"}
            check_finite(subject.name, "extreme", f"the value in {dtype} at {shown}", values)
            for key, grad in grads.items():
                check_finite(subject.name, "extreme", f"the gradient w.r.t. {key!r} in {dtype} at {shown}", grad)


def _extreme_inputs(data: Mapping[str, np.ndarray], extreme: Any, extras: Sequence[str]) -> list[dict[str, np.ndarray]]:
    """The given extreme inputs; or ±1e4 logits (y_pred and float extras), or probabilities 0 and 1, both ways."""
    if isinstance(extreme, Mapping):
        return [{**data, **{k: np.asarray(v, "float64") for k, v in extreme.items()}}]
    sign = np.where(np.indices(data["y_pred"].shape).sum(axis=0) % 2 == 0, 1.0, -1.0)
    cases = []
    for s in (sign, -sign):
        if extreme == "probabilities":
            cases.append({**data, "y_pred": (s + 1.0) / 2.0})
        else:
            case = dict(data)
            for key in ("y_pred", *extras):
                if np.issubdtype(data[key].dtype, np.floating):
                    pattern = s if data[key].shape == s.shape else np.where(np.arange(data[key].size) % 2, 1.0, -1.0)
                    case[key] = 1e4 * pattern.reshape(data[key].shape)
            cases.append(case)
    return cases


def check_serialization(subject: Subject, measured: Measured) -> None:
    """4. ``keras.losses.serialize`` gives JSON; ``deserialize`` gives the same config and the same value."""
    import keras

    name, keras_loss = subject.name, measured.keras_loss
    config = keras.losses.serialize(keras_loss)
    try:
        text = json.dumps(config)
    except TypeError as exc:
        raise fail(name, "serialization", f"the config is not JSON: {exc}. Config: {config!r}") from exc
    again = keras.losses.deserialize(json.loads(text))
    if type(again) is not type(keras_loss) or again.get_config() != keras_loss.get_config():
        raise fail(
            name,
            "serialization",
            f"round trip changed the loss: {keras_loss.get_config()!r} -> "
            f"{getattr(again, 'get_config', lambda: again)()!r}.",
        )
    again_value = float(again(*loss_args(cast(subject.data, "float32"), subject.extras)))
    if not math.isclose(again_value, measured.value, rel_tol=1e-6, abs_tol=1e-7):
        raise fail(name, "serialization", f"the deserialized loss gives {again_value}, the original {measured.value}.")


def check_docs(subject: Subject) -> None:
    """6. The factory has a docstring (``lossreg show`` prints it)."""
    import lossreg

    if not lossreg.describe(subject.name).doc.strip():
        raise fail(
            subject.name, "docs", "the factory has no docstring; document the loss with its formula and a reference."
        )
