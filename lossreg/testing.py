"""Conformance checks for registered losses: what a loss or plugin author calls in their own tests.

``check_loss(name, reference=...)`` puts one registered loss through the checklist every lossreg loss
passes, and raises ``LossCheckError`` (an ``AssertionError``, so pytest shows it as a failure) naming the
check that failed and what it saw:

0. **inputs** — when the loss declares what it accepts (``shapes``, ``targets``, ``from_logits``; see
   ``lossreg.register``), the test inputs fit the declaration: a declaration that refuses valid inputs fails
   here, naming the mismatch. Losses that declare nothing skip it.
1. **value** — the loss function gives one value per sample (or per element: leading batch axis), equal
   to ``reference`` (a float64 NumPy function you write independently) within ``rtol``/``atol``; the
   ``keras.losses.Loss`` from ``lossreg.get`` gives their mean.
2. **gradient** — the gradient with respect to ``y_pred`` and every extra exists and is finite, and,
   with a reference, matches the reference's central finite differences (float64) at a few coordinates.
3. **extreme** — value and gradient stay finite at extreme inputs (logits of ±1e4 by default, or
   probabilities of exactly 0 and 1) in every dtype of ``dtypes`` (float32 and float16 by default).
4. **serialization** — ``keras.losses.serialize`` gives JSON-able config; ``deserialize`` of it gives a loss
   with the same config and the same value.
5. **training** — a tiny model whose outputs have the inputs' shapes, compiled with ``jit_compile=True``,
   lowers the loss over ``train_steps`` steps. A loss without extras is trained with
   ``compile(loss=lossreg.get(...))``; a loss with extras with ``lossreg.attach`` (one model output per
   extra, wired through ``inputs``), the way users train such losses.
6. **docs** — the factory has a docstring (``lossreg show`` prints it).

Example:
    >>> import numpy as np
    >>> from lossreg.testing import check_loss
    >>> def bce(y_true, y_pred, pos_weight=1.0):  # float64 reference: log-loss on logits
    ...     return pos_weight * y_true * np.logaddexp(0, -y_pred) + (1 - y_true) * np.logaddexp(0, y_pred)
    >>> report = check_loss("sigmoid_bce", reference=bce, params={"pos_weight": 2.0}, train=False)
    >>> report.checks
    ('inputs', 'value', 'gradient', 'extreme', 'serialization', 'docs')
"""

from __future__ import annotations

import inspect
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from lossreg._registry import REGISTRY

__all__ = ["CheckReport", "LossCheckError", "check_loss"]

Reference = Callable[..., Any]


class LossCheckError(AssertionError):
    """A loss failed one of ``check_loss``'s checks; the message names the loss, the check and the numbers."""


@dataclass(frozen=True)
class CheckReport:
    """What ``check_loss`` checked and measured (every listed check passed)."""

    name: str
    checks: tuple[str, ...]
    value: float  # the Keras Loss's value on the inputs (float32)
    reference_value: float | None  # mean of the reference's values, when a reference was given
    max_gradient_error: float | None  # largest |autodiff - finite difference| seen, when a reference was given
    loss_before: float | None  # training: the loss before and after `train_steps` steps
    loss_after: float | None


def _fail(name: str, check: str, message: str) -> LossCheckError:
    return LossCheckError(f"check_loss({name!r}) failed the {check!r} check: {message}")


def _prepare(name: str, inputs: Any, extras: Sequence[str], seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    if inputs is None:
        given: dict[str, Any] = {}
    elif isinstance(inputs, Mapping):
        given = dict(inputs)
    elif isinstance(inputs, list | tuple) and len(inputs) == 2:
        given = {"y_true": inputs[0], "y_pred": inputs[1]}
    else:
        raise TypeError(
            f"check_loss({name!r}): `inputs` must be a mapping {{'y_true': ..., 'y_pred': ..., <extra>: ...}} or a "
            f"pair (y_true, y_pred); received {type(inputs).__name__}."
        )
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
    return {k: v.astype("float64") if np.issubdtype(v.dtype, np.floating) else v for k, v in data.items()}


def _cast(data: Mapping[str, np.ndarray], dtype: str) -> dict[str, np.ndarray]:
    return {k: v.astype(dtype) if np.issubdtype(v.dtype, np.floating) else v for k, v in data.items()}


def _loss_args(data: Mapping[str, Any], extras: Sequence[str]) -> tuple[Any, Any]:
    """``(y_true, y_pred)`` as a ``keras.losses.Loss`` takes them: a dict ``y_pred`` when there are extras."""
    if extras:
        return data["y_true"], {"y_pred": data["y_pred"], **{e: data[e] for e in extras}}
    return data["y_true"], data["y_pred"]


def _fn_with_grads(
    fn: Callable[..., Any], data: Mapping[str, np.ndarray], extras: Sequence[str]
) -> tuple[np.ndarray, dict[str, np.ndarray | None]]:
    from lossreg._backend import value_and_grad

    watched = [k for k in ("y_pred", *extras) if np.issubdtype(data[k].dtype, np.floating)]

    def call(y_true: Any, y_pred: Any, **tensors: Any) -> Any:
        return fn(y_true, y_pred, **{e: tensors[e] for e in extras})

    return value_and_grad(call, data, watched)


def _finite_differences(
    reference: Reference, data: Mapping[str, np.ndarray], params: Mapping[str, Any], key: str, rng: Any, n: int = 6
) -> tuple[np.ndarray, np.ndarray]:
    """Central differences of ``sum(reference)`` w.r.t. ``data[key]`` at ``n`` random coordinates."""

    def total(values: Mapping[str, np.ndarray]) -> float:
        return float(np.sum(_call_reference(reference, values, params)))

    flat_size = data[key].size
    coords = rng.choice(flat_size, size=min(n, flat_size), replace=False)
    estimates = []
    for c in coords:
        x0 = data[key].reshape(-1)[c]
        h = 1e-6 * max(1.0, abs(float(x0)))
        values = []
        for step in (h, -h):
            bumped = {k: v.copy() for k, v in data.items()}
            bumped[key].reshape(-1)[c] = x0 + step
            values.append(total(bumped))
        estimates.append((values[0] - values[1]) / (2 * h))
    return coords, np.asarray(estimates)


def _call_reference(reference: Reference, data: Mapping[str, np.ndarray], params: Mapping[str, Any]) -> np.ndarray:
    extras = {k: v for k, v in data.items() if k not in ("y_true", "y_pred")}
    return np.asarray(reference(data["y_true"], data["y_pred"], **extras, **params), dtype="float64")


def _extreme_inputs(data: Mapping[str, np.ndarray], extreme: Any, extras: Sequence[str]) -> list[dict[str, np.ndarray]]:
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


def _check_finite(name: str, check: str, what: str, value: Any) -> None:
    if value is not None and not np.all(np.isfinite(np.asarray(value, dtype="float64"))):
        raise _fail(name, check, f"{what} is not finite: {np.asarray(value)!r}.")


def _heads(data: Mapping[str, np.ndarray], keys: Sequence[str], activation: Any, seed: int) -> tuple[Any, dict]:
    import keras

    inp = keras.Input((3,), name="x")
    outputs = {}
    for i, key in enumerate(keys):
        shape = tuple(data[key].shape[1:])
        init = keras.initializers.GlorotUniform(seed=seed + i)
        h = keras.layers.Dense(max(1, math.prod(shape)), kernel_initializer=init, name=f"{key}_d")(inp)
        h = keras.layers.Reshape(shape or (), name=f"{key}_r")(h) if len(shape) != 1 else h
        act = activation.get(key) if isinstance(activation, Mapping) else (activation if key == "y_pred" else None)
        outputs[key] = keras.layers.Activation(act or "linear", name=key)(h)
    return inp, outputs


def _train(
    name: str,
    params: Mapping[str, Any],
    data: Mapping[str, np.ndarray],
    extras: Sequence[str],
    uses_y_pred: bool,
    activation: Any,
    steps: int,
    learning_rate: float,
    seed: int,
) -> tuple[float, float]:
    import keras

    from lossreg.keras._loss import get

    batch = data["y_pred"].shape[0]
    x = np.random.default_rng(seed + 1).normal(size=(batch, 3)).astype("float32")
    y_true = _cast(data, "float32")["y_true"]
    heads = [*(["y_pred"] if uses_y_pred else []), *extras]
    inp, outputs = _heads(data, heads, activation, seed)
    model = keras.Model(inp, outputs if extras else outputs["y_pred"])
    loss = get(name, **params)

    def current() -> float:
        predicted = model(x)
        tensors = dict(predicted) if extras else {"y_pred": predicted}
        tensors.setdefault("y_pred", np.zeros_like(data["y_pred"], dtype="float32"))  # a loss that ignores it
        return float(loss(*_loss_args({"y_true": y_true, **tensors}, extras)))

    before = current()
    optimizer = keras.optimizers.Adam(learning_rate)
    if extras:
        from lossreg.keras._attach import attach

        entry = {"loss": name, "params": dict(params), "inputs": {e: e for e in extras}}
        if uses_y_pred:
            train = attach(model, {"y_pred": entry})
            train.compile(optimizer=optimizer, jit_compile=True)
            train.fit(x, {"y_pred": y_true}, batch_size=batch, epochs=steps, verbose=0, shuffle=False)
        else:  # the loss reads only its extras: an entry with no target
            train = attach(model, {"check": entry})
            train.compile(optimizer=optimizer, jit_compile=True)
            train.fit(x, batch_size=batch, epochs=steps, verbose=0, shuffle=False)
    else:
        model.compile(optimizer=optimizer, loss=loss, jit_compile=True)
        model.fit(x, y_true, batch_size=batch, epochs=steps, verbose=0, shuffle=False)
    return before, current()


def check_loss(
    name: str,
    reference: Reference | None = None,
    *,
    inputs: Mapping[str, Any] | tuple[Any, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    rtol: float = 1e-5,
    atol: float = 1e-6,
    gradient_rtol: float = 1e-3,
    gradient_atol: float = 1e-4,
    extreme: bool | Literal["logits", "probabilities"] | Mapping[str, Any] = True,
    dtypes: Sequence[str] = ("float32", "float16"),
    serialization: bool = True,
    train: bool = True,
    train_steps: int = 15,
    learning_rate: float = 0.05,
    activation: str | Mapping[str, str] | None = None,
    seed: int = 0,
) -> CheckReport:
    r"""Check that registered loss ``name`` is sound; raise ``LossCheckError`` at the first failed check.

    Args:
        name: a registered loss name (plugin losses included).
        reference: an independent float64 NumPy implementation, called as
            ``reference(y_true, y_pred, **extras, **params)`` with NumPy arrays; it returns what the loss
            function returns (per-sample or per-element values, same shape). Without one, only the
            soundness checks run.
        inputs: ``{"y_true": ..., "y_pred": ..., <extra>: ...}`` or ``(y_true, y_pred)``. Missing ones are
            drawn at random: ``y_pred`` and extras standard normal, shaped ``(4, 6)`` (extras like
            ``y_pred``), ``y_true`` 0/1 like ``y_pred``.
        params: the loss's parameters, passed to the factory and to ``reference``.
        rtol, atol: tolerance of the value check (float32 against float64).
        gradient_rtol, gradient_atol: tolerance of autodiff against finite differences.
        extreme: ``True``/``"logits"`` sets ``y_pred`` and float extras to ±1e4; ``"probabilities"`` sets
            ``y_pred`` to exactly 0 and 1; a mapping gives the extreme inputs yourself; ``False`` skips.
        dtypes: float dtypes the extreme check runs in.
        serialization: run the serialization round trip.
        train: run the training check (it builds and trains a small Keras model with XLA).
        train_steps, learning_rate: Adam steps (full batch) and learning rate of the training check.
        activation: activation on the tiny model's ``y_pred`` head (e.g. ``"sigmoid"`` for a loss on
            probabilities), or a mapping from ``"y_pred"``/extra names to activations.
        seed: seeds the random inputs and the model's initial weights.

    Returns:
        A ``CheckReport`` of the checks run and the numbers measured.

    Raises:
        LossCheckError: naming the loss, the failed check and the offending numbers.
        LossSpecError: for an unknown loss or invalid ``params`` (as ``lossreg.get`` would).
    """
    params = dict(params or {})
    fn = REGISTRY.build(name, params, path=f"check_loss({name!r})")
    extras = REGISTRY.extras(name)
    data = _prepare(name, inputs, extras, seed)
    checks: list[str] = []
    batch = data["y_pred"].shape[0]

    # 0. declared inputs
    import keras  # Keras first: lossreg's adapters register their classes when Keras is imported

    if REGISTRY.expects(name) is not None:
        from lossreg._errors import LossInputError

        try:
            REGISTRY.input_check(name, params)(_cast(data, "float32"))
        except LossInputError as exc:
            raise _fail(
                name,
                "inputs",
                f"its declared inputs refuse the test inputs: {exc} Fix the declaration (shapes, targets, "
                "from_logits), or pass inputs= that a user would give it.",
            ) from exc
        checks.append("inputs")

    # 1. value

    out, grads = _fn_with_grads(fn, _cast(data, "float32"), extras)
    if out.ndim == 0 or out.shape[0] != batch:
        raise _fail(
            name,
            "value",
            f"the loss function returned shape {out.shape} for a batch of {batch}; a loss function returns "
            "per-sample or per-element values with the batch axis first, and Keras reduces them.",
        )
    _check_finite(name, "value", "the value", out)
    from lossreg.keras._loss import get

    keras_loss = get(name, **params)
    value = float(keras_loss(*_loss_args(_cast(data, "float32"), extras)))
    if not math.isclose(value, float(np.mean(out.astype("float64"))), rel_tol=1e-5, abs_tol=1e-6):
        raise _fail(
            name,
            "value",
            f"lossreg.get({name!r}) gives {value}, but the mean of the function's values is {float(np.mean(out))}.",
        )
    reference_value = None
    if reference is not None:
        expected = _call_reference(reference, data, params)
        if expected.shape != out.shape:
            raise _fail(
                name,
                "value",
                f"the reference returned shape {expected.shape} but the loss returned {out.shape}; return the same "
                "per-sample (or per-element) values from both.",
            )
        if not np.allclose(out, expected, rtol=rtol, atol=atol):
            worst = np.unravel_index(np.argmax(np.abs(out - expected)), out.shape)
            raise _fail(
                name,
                "value",
                f"loss {out[worst]!r} != reference {expected[worst]!r} at index {tuple(map(int, worst))} "
                f"(rtol={rtol}, atol={atol}).\nloss:      {out!r}\nreference: {expected!r}",
            )
        reference_value = float(np.mean(expected))
    checks.append("value")

    # 2. gradient
    for key, grad in grads.items():
        _check_finite(name, "gradient", f"the gradient w.r.t. {key!r}", grad)
    if all(g is None for g in grads.values()):
        raise _fail(name, "gradient", f"no gradient flows to any of {list(grads)}; is the loss differentiable?")
    max_error = None
    if reference is not None:
        rng = np.random.default_rng(seed + 2)
        max_error = 0.0
        for key, grad in grads.items():
            coords, numeric = _finite_differences(reference, data, params, key, rng)
            if grad is None:
                if np.any(np.abs(numeric) > gradient_atol):
                    raise _fail(
                        name,
                        "gradient",
                        f"no gradient flows to {key!r}, but the reference depends on it "
                        f"(finite differences {numeric!r}).",
                    )
                continue
            autodiff = grad.reshape(-1)[coords].astype("float64")
            error = np.abs(autodiff - numeric)
            max_error = max(max_error, float(error.max()))
            if np.any(error > gradient_atol + gradient_rtol * np.abs(numeric)):
                raise _fail(
                    name,
                    "gradient",
                    f"d loss / d {key} by autodiff {autodiff!r} differs from the reference's finite differences "
                    f"{numeric!r} at flat indices {coords.tolist()} (rtol={gradient_rtol}, atol={gradient_atol}).",
                )
    checks.append("gradient")

    # 3. extreme inputs
    if extreme is not False:
        for case in _extreme_inputs(data, extreme, extras):
            for dtype in dtypes:
                values, case_grads = _fn_with_grads(fn, _cast(case, dtype), extras)
                shown = {k: v.reshape(-1)[:4].tolist() for k, v in case.items() if k != "y_true"}
                _check_finite(name, "extreme", f"the value in {dtype} at {shown}", values)
                for key, grad in case_grads.items():
                    _check_finite(name, "extreme", f"the gradient w.r.t. {key!r} in {dtype} at {shown}", grad)
        checks.append("extreme")

    # 4. serialization
    if serialization:
        import keras

        config = keras.losses.serialize(keras_loss)
        try:
            text = json.dumps(config)
        except TypeError as exc:
            raise _fail(name, "serialization", f"the config is not JSON: {exc}. Config: {config!r}") from exc
        again = keras.losses.deserialize(json.loads(text))
        if type(again) is not type(keras_loss) or again.get_config() != keras_loss.get_config():
            raise _fail(
                name,
                "serialization",
                f"round trip changed the loss: {keras_loss.get_config()!r} -> "
                f"{getattr(again, 'get_config', lambda: again)()!r}.",
            )
        again_value = float(again(*_loss_args(_cast(data, "float32"), extras)))
        if not math.isclose(again_value, value, rel_tol=1e-6, abs_tol=1e-7):
            raise _fail(name, "serialization", f"the deserialized loss gives {again_value}, the original {value}.")
        checks.append("serialization")

    # 5. training
    before = after = None
    if train:
        uses_y_pred = grads.get("y_pred") is not None
        before, after = _train(name, params, data, extras, uses_y_pred, activation, train_steps, learning_rate, seed)
        if not (math.isfinite(after) and after < before):
            raise _fail(
                name,
                "training",
                f"{train_steps} Adam steps (learning rate {learning_rate}, jit_compile=True) on a tiny model took "
                f"the loss from {before} to {after}; it should go down.",
            )
        checks.append("training")

    # 6. docs
    if not (inspect.getdoc(REGISTRY.factory(name)) or "").strip():
        raise _fail(name, "docs", "the factory has no docstring; document the loss with its formula and a reference.")
    checks.append("docs")

    return CheckReport(name, tuple(checks), value, reference_value, max_error, before, after)
