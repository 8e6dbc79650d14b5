"""The built-in losses as public pure functions: ``lossreg.losses.<name>(y_true, y_pred, **params)``.

Each function called directly gives exactly the per-sample (or per-element) values of the registered loss
with the same parameters (``RegisteredLoss(..., reduction=None)``), and ``lossreg.get``'s mean of them; a
bad parameter raises ``ValueError`` from a direct call and ``LossSpecError`` at the spec path from a spec,
with the same message.

Dtypes (Keras 3.15; docs/backends.md): float16 inputs are computed in float32 on every backend; float64 inputs
give float64 on TensorFlow and torch, and float32 on JAX unless ``JAX_ENABLE_X64=1`` (without it JAX holds no float64
array: ``jnp.asarray`` truncates float64 inputs to float32). A float64 dtype is not always float64 precision: where
Keras computes an op in float32 and casts back (``FLOAT64_IN_FLOAT32``), the value is right to float32 only.
"""

from __future__ import annotations

import inspect
import math
import re
import subprocess
import sys

import numpy as np
import pytest
from keras import ops
from on_backend import BACKEND
from references import REFERENCES

import lossreg
import lossreg.losses
from lossreg import LossSpecError, RegisteredLoss

RNG = np.random.default_rng(9)
F32 = "float32"


def _classes(shape: tuple[int, ...], classes: int) -> tuple[np.ndarray, np.ndarray]:
    y = np.eye(classes, dtype=F32)[RNG.integers(0, classes, shape)]
    return y, (RNG.normal(size=(*shape, classes)) * 4).astype(F32)


def _elements(shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    return RNG.integers(0, 2, shape).astype(F32), (RNG.normal(size=shape) * 4).astype(F32)


def _inputs(name: str, params: dict) -> tuple[np.ndarray | None, np.ndarray | None, dict[str, np.ndarray]]:
    """``y_true``, ``y_pred`` and the extra tensors for one call of loss ``name``."""
    if name == "softmax_ce":
        return (*_classes((4, 3), 5), {})
    if name == "sparse_softmax_ce":  # class ids, 255 ignored where the case asks for it
        y, x = _classes((4, 3), 5)
        ids = np.argmax(y, -1)
        if params.get("ignore_class") is not None:
            ids[0, :2] = params["ignore_class"]
        return ids, x, {}
    if name == "sparse_band_masked_softmax_ce":
        y, x = _classes((2, 4, 4), 3)
        ids = np.argmax(y, -1)
        if params.get("ignore_class") is not None:
            ids[1, 0] = params["ignore_class"]
        return ids, x, {}
    if name == "band_masked_softmax_ce":
        y, x = _classes((2, 4, 4), 3)
        if not params.get("from_logits", True):
            x = ops.convert_to_numpy(ops.softmax(x, axis=-1))
        return y, x, {}
    if name == "vae_kl":
        z = RNG.normal(size=(4, 3)).astype(F32)
        return None, None, {"z_mean": z, "z_log_var": (RNG.normal(size=(4, 3)) * 3).astype(F32)}
    y, x = _elements((4, 6))
    if name == "mse_bce":
        x = x if params.get("from_logits") else 1 / (1 + np.exp(-x))
        return y, x, {"aux": RNG.normal(size=(4, 6)).astype(F32)}
    return y, x, {}


CASES = [
    ("softmax_ce", {}),
    ("softmax_ce", {"label_smoothing": 0.1}),
    ("softmax_ce", {"ignore_class": 2, "class_weights": [1.0, 0.5, 2.0, 1.0, 0.0]}),
    ("sparse_softmax_ce", {}),
    ("sparse_softmax_ce", {"ignore_class": 255, "class_weights": [1.0, 0.5, 2.0, 1.0, 3.0]}),
    ("sparse_band_masked_softmax_ce", {}),
    ("sparse_band_masked_softmax_ce", {"ignore_class": -1, "lower": 1, "upper": 1}),
    ("sigmoid_bce", {}),
    ("sigmoid_bce", {"label_smoothing": 0.2, "pos_weight": 3.0}),
    ("sigmoid_focal", {}),
    ("sigmoid_focal", {"alpha": None, "gamma": 0.5}),
    ("sigmoid_dice", {}),
    ("sigmoid_dice", {"smooth": 0.01}),
    ("band_masked_softmax_ce", {}),
    ("band_masked_softmax_ce", {"lower": 1, "upper": 1, "include_diagonal": True, "normalize": "band"}),
    ("band_masked_softmax_ce", {"from_logits": False}),
    ("mse_bce", {}),
    ("mse_bce", {"mse_weight": 0.5, "bce_weight": 2.0, "from_logits": True}),
    ("vae_kl", {}),
    ("vae_kl", {"beta": 0.5}),
]

#: one bad value per parameter rule, and the message both ways of calling the loss give
BAD = [
    ("softmax_ce", {"label_smoothing": 1.5}, "`label_smoothing` must be in [0, 1], received label_smoothing=1.5."),
    ("sigmoid_bce", {"label_smoothing": -0.1}, "`label_smoothing` must be in [0, 1], received label_smoothing=-0.1."),
    ("sigmoid_bce", {"pos_weight": 0.0}, "`pos_weight` must be > 0, received pos_weight=0.0."),
    ("sigmoid_focal", {"alpha": 2.0}, "`alpha` must be in [0, 1], received alpha=2.0."),
    ("sigmoid_focal", {"gamma": -1.0}, "`gamma` must be in [0, 100], received gamma=-1.0."),
    ("sigmoid_dice", {"smooth": 0.0}, "`smooth` must be > 0, received smooth=0.0."),
    (
        "band_masked_softmax_ce",
        {"normalize": "pairs"},
        "`normalize` must be 'all' or 'band', received normalize='pairs'.",
    ),
    ("mse_bce", {"mse_weight": -1.0}, "`mse_weight` must be >= 0, received mse_weight=-1.0."),
    ("mse_bce", {"bce_weight": -2.0}, "`bce_weight` must be >= 0, received bce_weight=-2.0."),
    ("vae_kl", {"beta": -0.5}, "`beta` must be >= 0, received beta=-0.5."),
    (
        "sparse_softmax_ce",
        {"class_weights": [1.0, -1.0, 1.0, 1.0, 1.0]},
        "Invalid 'class_weights' for loss 'sparse_softmax_ce': expected weights >= 0 and at most the largest float32 "
        "(3.403e+38); element 1 is -1.0. Give 0 to leave a class out, never a negative or non-finite weight.",
    ),
    (
        "sparse_band_masked_softmax_ce",
        {"normalize": "pairs"},
        "`normalize` must be 'all' or 'band', received normalize='pairs'.",
    ),
]


def _builtins() -> set[str]:
    return {name for name in lossreg.names() if lossreg.describe(name).source == "lossreg"}


def test_lossreg_losses_exports_every_builtin_and_only_them():
    assert set(lossreg.losses.__all__) == _builtins()
    for name in lossreg.losses.__all__:
        assert callable(getattr(lossreg.losses, name))


def test_every_builtin_has_a_case_and_every_rule_a_bad_value():
    assert {name for name, _ in CASES} == _builtins()
    assert {name for name, _, _ in BAD} == _builtins()  # every built-in checks at least one parameter


@pytest.mark.parametrize("name", sorted(_builtins()))
def test_function_signature_matches_the_registered_loss(name):
    """Keyword-only parameters with defaults are the spec's parameters, those without are the extras."""
    fn = getattr(lossreg.losses, name)
    info = lossreg.describe(name)
    kw = [p for p in inspect.signature(fn).parameters.values() if p.kind is p.KEYWORD_ONLY]
    params = {p.name: p.default for p in kw if p.default is not p.empty and p.name not in lossreg.DENSE_INPUTS}
    assert params == {k: p.default for k, p in info.params.items()}
    assert tuple(p.name for p in kw if p.default is p.empty) == info.extras
    assert tuple(p.name for p in kw if p.name in lossreg.DENSE_INPUTS) == info.dense_inputs
    assert inspect.getdoc(fn).splitlines()[0] == info.summary


@pytest.mark.parametrize(("name", "params"), CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_direct_call_equals_the_registered_loss(name, params):
    y_true, y_pred, extras = _inputs(name, params)
    direct = ops.convert_to_numpy(getattr(lossreg.losses, name)(y_true, y_pred, **params, **extras))

    given = {**({} if y_pred is None else {"y_pred": y_pred}), **extras} if extras else y_pred
    target = {} if y_true is None else y_true  # a loss that needs no target (vae_kl) is called with {}
    unreduced = RegisteredLoss([{"loss": name, "params": params}], reduction=None)
    registered = ops.convert_to_numpy(unreduced(target, given))
    assert direct.dtype == registered.dtype == np.float32
    assert direct.shape == registered.shape
    np.testing.assert_array_equal(direct, registered)

    mean = float(lossreg.get(name, **params)(target, given))
    kept = direct.size  # Keras' mean: over every value, or over the kept ones when a target value is ignored
    if params.get("ignore_class") is not None:
        kind = lossreg.describe(name).expects.targets
        kept = int(np.sum(ops.convert_to_numpy(lossreg.keep_mask(y_true, kind, ignore_class=params["ignore_class"]))))
    assert mean == pytest.approx(float(np.sum(direct.astype("float64"))) / kept, rel=1e-6)


def _jax_x64() -> bool:
    import jax

    return bool(jax.config.jax_enable_x64)


#: JAX without JAX_ENABLE_X64 holds no float64 array: float64 inputs are truncated to float32 and computed in it
JAX_FLOAT32 = BACKEND == "jax" and not _jax_x64()
#: what float64 inputs give: float64, except on JAX without x64 (the test ids say which: ...-float64-float32)
FLOAT64_GIVES = "float32" if JAX_FLOAT32 else "float64"
WHY = {
    "float16": "float16 inputs are computed in float32 (every backend)",
    "float32": "float32 in, float32 out",
    "float64": "JAX without JAX_ENABLE_X64=1 truncates float64 inputs to float32"
    if JAX_FLOAT32
    else f"float64 in, float64 out ({BACKEND})",
}


def _call_in(name: str, dtype: str) -> tuple[np.ndarray, dict[str, np.ndarray | None]]:
    """Loss ``name`` (default parameters) called directly on its inputs cast to ``dtype``: (values, the inputs)."""
    y_true, y_pred, extras = _inputs(name, {})
    given = {"y_true": y_true, "y_pred": y_pred, **extras}
    cast = {k: None if v is None else v.astype(dtype) for k, v in given.items()}
    fn = getattr(lossreg.losses, name)
    value = ops.convert_to_numpy(fn(cast["y_true"], cast["y_pred"], **{k: cast[k] for k in extras}))
    return value, cast


@pytest.mark.parametrize(
    ("dtype", "expected"), [("float16", "float32"), ("float32", "float32"), ("float64", FLOAT64_GIVES)]
)
@pytest.mark.parametrize("name", sorted(_builtins()))
def test_direct_call_computes_in_at_least_float32(name, dtype, expected):
    value, _ = _call_in(name, dtype)
    assert value.dtype == expected, WHY[dtype]
    assert np.all(np.isfinite(value))


def _precision_param(name: str, dtype: str) -> object:
    return pytest.param(name, dtype, id=f"{name}-{dtype}")


@pytest.mark.parametrize(
    ("name", "dtype"),
    [_precision_param(name, dtype) for name in sorted(_builtins()) for dtype in ("float16", "float32", "float64")],
)
def test_direct_call_is_right_to_the_precision_it_computes_in(name, dtype):
    """The values equal the float64 reference on the inputs the loss sees, to the precision of the result's dtype.

    The loss sees its inputs rounded to ``dtype`` (float16 exactly widened to float32; on JAX without x64, float64
    truncated to float32). A float64 result is right to 1e-12 (xfail where Keras computes it in float32:
    ``FLOAT64_IN_FLOAT32``); a float32 one to float32 rounding, 1e-5 relative or 1e-6 absolute for values near 0.
    """
    value, cast = _call_in(name, dtype)
    seen = {
        k: None if v is None else v.astype(value.dtype if dtype == "float64" else dtype).astype("float64")
        for k, v in cast.items()
    }
    expected = REFERENCES[name](seen)
    assert value.shape == expected.shape
    rtol, atol = (1e-12, 1e-14) if value.dtype == np.float64 else (1e-5, 1e-6)
    np.testing.assert_allclose(value.astype("float64"), expected, rtol=rtol, atol=atol, err_msg=WHY[dtype])


@pytest.mark.parametrize(("name", "bad", "message"), BAD, ids=[f"{n}-{next(iter(b))}" for n, b, _ in BAD])
def test_a_bad_parameter_raises_value_error_when_called_directly(name, bad, message):
    y_true, y_pred, extras = _inputs(name, {})
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$") as info:
        getattr(lossreg.losses, name)(y_true, y_pred, **bad, **extras)
    assert type(info.value) is ValueError


@pytest.fixture(scope="module")
def tagged_model():
    """Outputs for every built-in's tensors: ``out`` (y_pred), ``aux``, ``z_mean``, ``z_log_var``."""
    keras = pytest.importorskip("keras")
    x = keras.Input((4,), name="x")
    outputs = {name: keras.layers.Dense(6 if name in ("out", "aux") else 3, name=name)(x) for name in TENSORS}
    return keras.Model(x, outputs)


TENSORS = ("out", "aux", "z_mean", "z_log_var")


def _spec(name: str, params: dict) -> tuple[str, dict]:
    """A one-entry spec for loss ``name`` with ``params``, its extras wired to ``tagged_model``'s outputs."""
    extras = lossreg.describe(name).extras
    key = "kl" if name == "vae_kl" else "out"  # vae_kl needs no target, so no output of its own
    entry = {"loss": name, "params": params, **({"inputs": {e: e for e in extras}} if extras else {})}
    return key, {key: entry}


@pytest.mark.parametrize(("name", "bad", "message"), BAD, ids=[f"{n}-{next(iter(b))}" for n, b, _ in BAD])
def test_the_same_bad_parameter_in_a_spec_is_a_loss_spec_error_at_its_path(name, bad, message, tagged_model):
    """Through ``resolve`` (losses that ``compile`` can take) and ``attach`` (every loss)."""
    key, spec = _spec(name, bad)
    path = f"spec[{key!r}]"
    expected = f"{path}: Invalid parameters for loss {name!r}: {message}"
    param = next(iter(bad))
    if param in ("class_weights", "ignore_class"):  # lossreg's one rule for them, at the parameter's own path
        path = f"{path}['params'][{param!r}]"
        expected = f"{path}: {message}"
    if name.endswith("band_masked_softmax_ce"):  # the Literal type hint refuses it first, at the parameter's own path
        path = f"{path}['params']['normalize']"
        expected = (
            f"{path}: Invalid value for parameter 'normalize' of loss {name!r}. Expected Literal['all', 'band'], "
            "received str 'pairs'."
        )
    ways = [lambda: lossreg.attach(tagged_model, spec)]
    if not lossreg.describe(name).extras:
        ways.append(lambda: lossreg.resolve(spec))
    for way in ways:
        with pytest.raises(LossSpecError, match="^" + re.escape(expected) + "$") as info:
            way()
        assert info.value.path == path
        assert (
            name.endswith("band_masked_softmax_ce")
            or param == "class_weights"
            or isinstance(info.value.__cause__, ValueError)
        )


@pytest.mark.parametrize("value", [math.nan, -math.nan])
@pytest.mark.parametrize(
    ("name", "param"), [(n, next(iter(b))) for n, b, _ in BAD if not n.endswith("band_masked_softmax_ce")]
)
def test_nan_breaks_every_numeric_rule_when_called_directly(name, param, value):
    """A spec never gets here (its float check refuses NaN), but a direct call can pass one."""
    y_true, y_pred, extras = _inputs(name, {})
    with pytest.raises(ValueError, match=f"`{param}` must be|^Invalid {param!r} for loss {name!r}"):
        getattr(lossreg.losses, name)(y_true, y_pred, **{param: value}, **extras)


def test_lossreg_losses_is_reachable_after_import_lossreg_without_keras():
    """``import lossreg`` alone gives ``lossreg.losses.softmax_ce`` (it used to drop the attribute), and neither
    that import nor reading the functions imports Keras or TensorFlow."""
    code = (
        "import sys, lossreg; fns = [getattr(lossreg.losses, n) for n in lossreg.losses.__all__]; "
        "print(len(fns), sorted(m for m in ('keras', 'tensorflow') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.split("\n")[0] == f"{len(lossreg.losses.__all__)} []"
