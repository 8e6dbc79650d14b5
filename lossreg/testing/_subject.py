"""The loss under check: its function, extras and test inputs, built once; and the numerics every check shares."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lossreg.registry import REGISTRY  # the kit's only registry seam: build a loss function, read its extras

from ._report import fail

__all__ = ["Reference", "Subject", "call_reference", "cast", "check_finite", "loss_args", "values_and_grads"]

Reference = Callable[..., Any]


@dataclass(frozen=True)
class Subject:
    """One registered loss with its parameters, built function and float64 test inputs."""

    name: str
    params: dict[str, Any]
    fn: Callable[..., Any]
    extras: tuple[str, ...]
    data: dict[str, np.ndarray]
    #: the loss's pre-flight check of its declared inputs (a no-op when it declares nothing)
    input_check: Callable[[Mapping[str, Any]], None]

    @classmethod
    def build(cls, name: str, params: Mapping[str, Any] | None, inputs: Any, seed: int) -> Subject:
        """Build loss ``name`` (``LossSpecError`` for an unknown name or bad params) and its test inputs."""
        params = dict(params or {})
        loss_def = REGISTRY.lookup(name, path=f"check_loss({name!r})")
        fn = loss_def.bind(params, f"check_loss({name!r})")
        extras = tuple(loss_def.extras)
        return cls(name, params, fn, extras, _prepare(name, inputs, extras, seed), loss_def.input_check(params))

    @property
    def batch(self) -> int:
        return int(self.data["y_pred"].shape[0])


def _given(name: str, inputs: Any) -> dict[str, Any]:
    if inputs is None:
        return {}
    if isinstance(inputs, Mapping):
        return dict(inputs)
    if isinstance(inputs, list | tuple) and len(inputs) == 2:
        return {"y_true": inputs[0], "y_pred": inputs[1]}
    raise TypeError(
        f"check_loss({name!r}): `inputs` must be a mapping {{'y_true': ..., 'y_pred': ..., <extra>: ...}} or a "
        f"pair (y_true, y_pred); received {type(inputs).__name__}."
    )


def _prepare(name: str, inputs: Any, extras: Sequence[str], seed: int) -> dict[str, np.ndarray]:
    """The given inputs, the missing ones drawn at random; floats as float64."""
    rng = np.random.default_rng(seed)
    given = _given(name, inputs)
    unknown = sorted(set(given) - {"y_true", "y_pred", *extras})
    if unknown:
        raise TypeError(
            f"check_loss({name!r}): unknown input(s) {unknown}. The loss takes 'y_true', 'y_pred'"
            + (f" and the extras {list(extras)}" if extras else " and no extras")
            + "."
        )
    y_pred = np.asarray(given["y_pred"]) if "y_pred" in given else rng.normal(size=(4, 6))
    data = {"y_pred": y_pred}
    data["y_true"] = np.asarray(given["y_true"]) if "y_true" in given else (rng.random(y_pred.shape) < 0.5) * 1.0
    for extra in extras:
        data[extra] = np.asarray(given[extra]) if extra in given else rng.normal(size=y_pred.shape)
    return cast(data, "float64")


def cast(data: Mapping[str, np.ndarray], dtype: str) -> dict[str, np.ndarray]:
    """``data`` with its float arrays cast to ``dtype`` (integer class ids stay as they are)."""
    return {k: v.astype(dtype) if np.issubdtype(v.dtype, np.floating) else v for k, v in data.items()}


def loss_args(data: Mapping[str, Any], extras: Sequence[str]) -> tuple[Any, Any]:
    """``(y_true, y_pred)`` as a ``keras.losses.Loss`` takes them: a dict ``y_pred`` when there are extras."""
    if extras:
        return data["y_true"], {"y_pred": data["y_pred"], **{e: data[e] for e in extras}}
    return data["y_true"], data["y_pred"]


def values_and_grads(
    subject: Subject, data: Mapping[str, np.ndarray]
) -> tuple[np.ndarray, dict[str, np.ndarray | None]]:
    """The loss function's values on ``data`` and their gradients w.r.t. ``y_pred`` and every float extra."""
    from lossreg._backend import value_and_grad

    extras = subject.extras
    watched = [k for k in ("y_pred", *extras) if np.issubdtype(data[k].dtype, np.floating)]

    def call(y_true: Any, y_pred: Any, **tensors: Any) -> Any:
        return subject.fn(y_true, y_pred, **{e: tensors[e] for e in extras})

    return value_and_grad(call, data, watched)


def call_reference(reference: Reference, data: Mapping[str, np.ndarray], params: Mapping[str, Any]) -> np.ndarray:
    """``reference(y_true, y_pred, **extras, **params)`` as a float64 array."""
    extras = {k: v for k, v in data.items() if k not in ("y_true", "y_pred")}
    return np.asarray(reference(data["y_true"], data["y_pred"], **extras, **params), dtype="float64")


def check_finite(name: str, check: str, what: str, value: Any) -> None:
    """Fail ``check`` when ``value`` (unless None) holds a NaN or an infinity."""
    if value is not None and not np.all(np.isfinite(np.asarray(value, dtype="float64"))):
        raise fail(name, check, f"{what} is not finite: {np.asarray(value)!r}.")
