"""Golden values of every built-in lossreg loss: against a float64 NumPy reference, against raw TensorFlow, gradients.

Issue 2, golden-value suite (a)-(d); issue 10, on every Keras backend. The cases (loss, parameters, shapes with batch
1 and batch > 1, inputs) come from ``tests/golden/golden_values.json``, written by ``tests/golden/make_golden.py``
from the float64 NumPy reference of each documented formula (tests/references/, each reference's ``golden`` cases);
the raw TensorFlow references below are written independently with ``tf.nn`` / ``tf.linalg`` / ``tf.math``, the
expressions each loss stands for.

Every check comes in two parts:

* backend-neutral, run on every backend (TensorFlow, JAX, PyTorch): lossreg's value, and its gradient through the
  backend's own autodiff (``lossreg.testing.value_and_grad``), against the committed float64 golden numbers or the
  float64 NumPy reference (for gradients: the reference's central differences, in float64);
* raw TensorFlow (``RAW_TF``): the same lossreg value or gradient against the raw TF expression, on TensorFlow
  only (elsewhere skipped, naming why), to the tighter tolerances two float32 computations of one formula allow.

(a) the raw loss function and ``lossreg.get(name, **params)(y_true, y_pred)`` equal the raw TF expression within
    1e-6 relative (float32); float64 stays float64 and float16 inputs are computed in float32;
(b) they equal the committed float64 golden numbers (1e-5 relative from float32, 1e-12 from float64);
(c) the gradient w.r.t. ``y_pred`` (and ``aux``) equals the float64 reference's and the raw TF expression's;
(d) value and gradient stay finite at logits of ±1e4 (float32 and float16), at probabilities exactly 0 and 1,
    and a non-finite logit outside the band of ``band_masked_softmax_ce`` does not leak into it.
Also: ``sample_weight`` through the Keras reduction, for a per-sample and a per-element loss.

(c)'s backend-neutral gradients (central differences of the NumPy reference, element by element: the costly part)
run every case on TensorFlow, the reference backend; on JAX and PyTorch a covering sample (``on_backend.covering``,
deterministic): every loss configuration (loss and parameters) in every dtype, and every loss with a batch of 1
and with more. The other backends' autodiff is what differs, and it differs per op (per loss and option), not per
shape of the same loss; the batch of 1 stays covered, as is where Keras' reductions squeeze.

float64, backend by backend (Keras 3.15; see FLOAT64 and float64_gives):

* TensorFlow: float64 in, float64 out, to 1e-12, for the loss functions and for ``Loss(dtype="float64")``.
* JAX: float64 only with ``JAX_ENABLE_X64=1``; without it JAX truncates float64 arrays to float32 as they are
  converted, so float64 inputs give float32 values and ``Loss`` results: checked as float32. With it, float64.
* PyTorch: float64 in, float64 out.
* Keras' ``ops.mean`` computes float64 in float32 on PyTorch and on JAX with x64 (Keras 3.15); lossreg's
  per-sample means are sums over the count, so float64 stays float64 there too (checked here to 1e-12).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
from on_backend import BACKEND, RAW_TF, covering, only_on
from references import REFERENCES, covered

import lossreg
from lossreg.testing import value_and_grad

if BACKEND == "tensorflow":  # the raw TF references run there only (RAW_TF): other backends never import TensorFlow
    import tensorflow as tf

GOLDEN = json.loads((Path(__file__).parent / "golden" / "golden_values.json").read_text(encoding="utf-8"))
CASES = GOLDEN["cases"]
#: the losses with golden values: lossreg.names() ∩ the references that list golden cases
GOLDEN_LOSSES = [ref.name for ref in covered(lossreg.names()) if ref.golden]
EPS = 1e-7  # keras.config.epsilon(): probabilities are clipped to [EPS, 1 - EPS]


def backend_dtype(dtype: str) -> str:
    """The dtype the backend makes of a NumPy array of ``dtype`` (JAX without x64 truncates float64 to float32)."""
    return keras.backend.standardize_dtype(keras.ops.convert_to_tensor(np.zeros(1, dtype)).dtype)


#: float64 inputs are computed in float64: on TensorFlow and PyTorch always, on JAX only with JAX_ENABLE_X64=1.
FLOAT64 = backend_dtype("float64") == "float64"


def float64_gives() -> tuple[str, float]:
    """What float64 inputs give on this backend: the dtype, and the relative tolerance against float64 numbers."""
    if not FLOAT64:  # JAX without x64: float32 throughout, checked as float32 (as the float32 cases of (b))
        return "float32", 1e-5
    return "float64", 1e-12


def by_case_and_dtype(cases: list[dict[str, Any]], dtypes: tuple[str, ...], gradient: bool = False) -> Any:
    """Parametrise ``case, dtype``; float64 gradients need x64 on JAX (NEEDS_X64). The gradients' matrix runs a
    covering sample off the reference backend (see the module's docstring)."""
    params = []
    for dtype in dtypes:
        for case in cases:
            marks = []
            if dtype == "float64" and gradient:
                marks.append(NEEDS_X64)
            params.append(pytest.param(case, dtype, id=f"{dtype}-{case['id']}", marks=marks))
    if gradient:
        params = covering(
            params,
            # every configuration (loss and parameters) in every dtype
            lambda case, dtype: (case["loss"], json.dumps(case["params"], sort_keys=True), dtype),
            lambda case, dtype: (case["loss"], batch_of(case) == 1, dtype),  # every loss, batch 1 and more
            what="gradient case",
        )
    return pytest.mark.parametrize("case, dtype", params)


def batch_of(case: dict[str, Any]) -> int:
    """The batch size of a golden case (its first input's first axis)."""
    return int(np.shape(next(iter(case["inputs"].values())))[0])


#: a float64 gradient needs float64: JAX without x64 truncates the inputs to exactly the float32 case's numbers
#: (what float64 inputs give there is asserted by test_a_float64_and_float16_inputs and (b))
NEEDS_X64 = pytest.mark.skipif(
    not FLOAT64, reason="JAX computes float32 unless JAX_ENABLE_X64=1: float64 inputs would repeat the float32 case"
)
#: JAX without x64 warns as Keras converts to the float64 a ``Loss(dtype="float64")`` asks for, then truncates
NO_X64_WARNING = pytest.mark.filterwarnings("ignore:Explicitly requested dtype float64:UserWarning")


# ----------------------------------------------------------------------------------------------------------------
# raw TensorFlow references: what each loss stands for, per sample / per element (before Keras reduces)


def tf_softmax_ce(y, x, label_smoothing=0.0):
    y = y * (1.0 - label_smoothing) + label_smoothing / y.shape[-1]
    return tf.nn.softmax_cross_entropy_with_logits(labels=y, logits=x)


def tf_sigmoid_bce(z, x, label_smoothing=0.0, pos_weight=1.0):
    z = z * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if pos_weight == 1.0:
        return tf.nn.sigmoid_cross_entropy_with_logits(labels=z, logits=x)
    return tf.nn.weighted_cross_entropy_with_logits(labels=z, logits=x, pos_weight=pos_weight)


def tf_sigmoid_focal(z, x, alpha=0.25, gamma=2.0):
    # 1 - p_t written with sigmoid(-x) for the positives, as the docstring says: 1 - sigmoid(x) would lose
    # all relative precision for confident positives (and make 1e-6 relative a test of rounding, not math).
    one_minus_pt = z * tf.math.sigmoid(-x) + (1.0 - z) * tf.math.sigmoid(x)
    loss = tf.math.pow(one_minus_pt, gamma) * tf.nn.sigmoid_cross_entropy_with_logits(labels=z, logits=x)
    if alpha is not None:
        loss = (z * alpha + (1.0 - z) * (1.0 - alpha)) * loss
    return loss


def tf_sigmoid_dice(y, x, smooth=1.0):
    p = tf.math.sigmoid(x)
    axes = list(range(1, len(x.shape)))
    inter = tf.reduce_sum(p * y, axis=axes)
    return 1.0 - (2.0 * inter + smooth) / (tf.reduce_sum(p, axis=axes) + tf.reduce_sum(y, axis=axes) + smooth)


def tf_pair_ce(y, x, from_logits=True):
    if from_logits:
        return tf.nn.softmax_cross_entropy_with_logits(labels=y, logits=x)
    p = tf.clip_by_value(x / tf.reduce_sum(x, axis=-1, keepdims=True), EPS, 1.0 - EPS)
    return -tf.reduce_sum(y * tf.math.log(p), axis=-1)


def tf_band_masked_softmax_ce(y, x, lower=0, upper=-1, include_diagonal=False, from_logits=True, normalize="all"):
    ce = tf_pair_ce(y, x, from_logits)
    kept = tf.linalg.band_part(ce, lower, upper)
    ones = tf.linalg.band_part(tf.ones_like(ce[0]), lower, upper)
    if not include_diagonal:
        kept = kept - tf.linalg.band_part(ce, 0, 0)
        ones = ones - tf.linalg.band_part(ones, 0, 0)
    if normalize == "band":
        kept = kept * (tf.cast(tf.size(ones), ones.dtype) / tf.reduce_sum(ones))
    return kept


def tf_mse_bce(y, x, aux, mse_weight=1.0, bce_weight=1.0, from_logits=False):
    axes = list(range(1, len(y.shape)))
    mse = tf.reduce_mean(tf.math.squared_difference(y, aux), axis=axes)
    if from_logits:
        bce = tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=x)
    else:
        p = tf.clip_by_value(x, EPS, 1.0 - EPS)
        bce = -(y * tf.math.log(p) + (1.0 - y) * tf.math.log(1.0 - p))
    return mse_weight * mse + bce_weight * tf.reduce_mean(bce, axis=axes)


TF_REFERENCES = {
    "softmax_ce": tf_softmax_ce,
    "sigmoid_bce": tf_sigmoid_bce,
    "sigmoid_focal": tf_sigmoid_focal,
    "sigmoid_dice": tf_sigmoid_dice,
    "band_masked_softmax_ce": tf_band_masked_softmax_ce,
    "mse_bce": tf_mse_bce,
}


def tf_values(case: dict[str, Any], inputs: dict[str, Any]) -> Any:
    """The raw TF expression of ``case`` on ``inputs`` (NumPy arrays or TF tensors, y_true, y_pred, extras)."""
    t = {k: tf.convert_to_tensor(v) for k, v in inputs.items()}
    extras = extras_of(t)
    return TF_REFERENCES[case["loss"]](t["y_true"], t["y_pred"], *extras.values(), **case["params"])


def tf_cancellation(case: dict[str, Any], inputs: dict[str, np.ndarray]) -> Any:
    """Absolute rounding error of the raw TF reference itself, where its formula cancels (else 0).

    ``tf.nn.weighted_cross_entropy_with_logits`` computes ``(1 - z) x + (1 + (q - 1) z)(log1p(e^-|x|) + max(-x, 0))``:
    for a confident negative (z = 0, x << 0) that is ``-|x| + (|x| + tiny)``, correct only to about one ulp of
    |x|. lossreg computes the same value as ``q z softplus(-x) + (1 - z) softplus(x)``, which does not cancel (and
    matches the float64 golden values element by element, see test_sigmoid_bce_pos_weight_keeps_precision), so
    against TF's form the comparison allows TF's own error: 2 ulps of ``|(1 - z) x|`` on top of 1e-6 relative.
    """
    if case["loss"] != "sigmoid_bce" or case["params"].get("pos_weight", 1.0) == 1.0:
        return 0.0
    s = case["params"].get("label_smoothing", 0.0)
    z = np.asarray(inputs["y_true"], np.float64) * (1 - s) + 0.5 * s
    x = np.asarray(inputs["y_pred"])
    return 2 * np.finfo(x.dtype).eps * np.abs((1 - z) * x.astype(np.float64))


# ----------------------------------------------------------------------------------------------------------------
# helpers: inputs are NumPy arrays; lossreg runs on backend tensors; results come back as NumPy


def arrays(case: dict[str, Any], dtype: str) -> dict[str, np.ndarray]:
    return {k: np.asarray(v, dtype) for k, v in case["inputs"].items()}


def extras_of(inputs: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in inputs.items() if k not in ("y_true", "y_pred")}


def wrt_of(inputs: dict[str, Any]) -> list[str]:
    """What gradients are taken with respect to: y_pred, and the extras (aux for mse_bce)."""
    return [k for k in inputs if k != "y_true"]


def loss_call(loss: Any) -> Any:
    """Call a Keras ``Loss`` as ``fn(y_true, y_pred, **extras)``: losses with extras get ``{"y_pred": p, ...}``."""

    def fn(y_true: Any, y_pred: Any, **extras: Any) -> Any:
        return loss(y_true, {"y_pred": y_pred, **extras} if extras else y_pred)

    return fn


def loss_function(name: str, params: dict[str, Any]) -> Any:
    """The raw loss function ``fn(y_true, y_pred, **extras)``: ``Loss.call`` gives the unreduced values."""
    call = lossreg.get(name, **params).call

    def fn(y_true: Any, y_pred: Any, **extras: Any) -> Any:
        return call(y_true, {"y_pred": y_pred, **extras} if extras else y_pred)

    return fn


def tensors(inputs: dict[str, np.ndarray]) -> dict[str, Any]:
    return {k: keras.ops.convert_to_tensor(v) for k, v in inputs.items()}


def values_of(case: dict[str, Any], inputs: dict[str, np.ndarray]) -> np.ndarray:
    """The raw loss function's values on backend tensors, as NumPy (no gradient: cheaper on JAX, op by op)."""
    fn = loss_function(case["loss"], case["params"])
    return keras.ops.convert_to_numpy(fn(**tensors(inputs)))


def loss_of(loss: Any, inputs: dict[str, np.ndarray]) -> np.ndarray:
    """A Keras ``Loss``'s value on backend tensors, as NumPy."""
    return keras.ops.convert_to_numpy(loss_call(loss)(**tensors(inputs)))


def raw(case: dict[str, Any], inputs: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The raw loss function's values, and the gradient of their sum, by the backend's autodiff."""
    return value_and_grad(loss_function(case["loss"], case["params"]), inputs, wrt_of(inputs))


def reduced(loss: Any, inputs: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """A Keras ``Loss``'s value and its gradient, by the backend's autodiff."""
    return value_and_grad(loss_call(loss), inputs, wrt_of(inputs))


def reference(case: dict[str, Any], inputs: dict[str, np.ndarray]) -> np.ndarray:
    """The float64 NumPy reference of ``case`` on ``inputs`` (taken exactly, in float64)."""
    return REFERENCES[case["loss"]]({k: np.asarray(v, np.float64) for k, v in inputs.items()}, case["params"])


def reference_gradient(case: dict[str, Any], inputs: dict[str, np.ndarray], key: str) -> np.ndarray:
    """d mean(reference) / d inputs[key], by central differences in float64, Richardson-extrapolated.

    Step h = 1e-3 max(min(|x|, |1 - x|), 1e-2): 0.1 % of the distance to 0 and to 1, where log p and log(1 - p)
    of a probability are singular (a probability of 0.02 or 0.98 moves by 2e-5), never below 1e-5 (logits are
    smooth on the scale of 1). The extrapolated difference (4 D(h/2) - D(h)) / 3 is then off by about 1e-12
    relative; the differences are summed value by value (values that do not depend on the
    coordinate cancel exactly), so rounding adds about 1e-16 |value| / h <= 1e-11 |value|. Both far below the
    float32 errors and the 1e-9 float64 tolerance of (c). (No input here sits at a clip or a band edge.)
    """
    x64 = {k: np.asarray(v, np.float64) for k, v in inputs.items()}
    base = x64[key]
    grad = np.empty_like(base)
    size = np.size(reference(case, x64))

    def central(idx: tuple[int, ...], h: float) -> float:
        hi, lo = base.copy(), base.copy()
        hi[idx] += h
        lo[idx] -= h
        change = reference(case, {**x64, key: hi}) - reference(case, {**x64, key: lo})
        return float(np.sum(change) / size / (hi[idx] - lo[idx]))

    for idx in np.ndindex(base.shape):
        x = float(base[idx])
        h = 1e-3 * max(min(abs(x), abs(1 - x)), 1e-2)
        grad[idx] = (4 * central(idx, h / 2) - central(idx, h)) / 3
    return grad


def assert_close(actual: Any, expected: Any, rtol: float, what: str, atol: Any = 0.0) -> None:
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    bound = rtol * np.abs(expected) + atol
    worst = np.max(np.abs(actual - expected) - bound, initial=-np.inf)
    assert worst <= 0, f"{what}: off by up to {worst:.3g} beyond {rtol} relative\n{actual}\n!=\n{expected}"


def assert_dtype(value: Any, dtype: str, what: str) -> None:
    got = keras.backend.standardize_dtype(value.dtype)
    assert got == dtype, f"{what}: dtype {got}, expected {dtype} (backend {BACKEND})"


def by_id(cases: list[dict[str, Any]]) -> Any:
    return pytest.mark.parametrize("case", cases, ids=[c["id"] for c in cases])


#: Element by element, an absolute term of 8 float32 ulps of 1 is allowed besides the relative one when float32 is
#: compared with float64: softmax cross-entropy (tf.nn.softmax_cross_entropy_with_logits, which lossreg must equal)
#: is computed as log(sum(exp(x - max))) - (x_y - max), a difference of O(1) numbers, so for a confident correct
#: pair (CE ~ 1e-4) float32 keeps only its absolute accuracy (~1e-7), e.g. 2e-4 relative. The reduced loss, what
#: training sees, is held to the relative tolerance alone.
F32_ATOL = 8 * np.finfo(np.float32).eps


# ----------------------------------------------------------------------------------------------------------------
# the table itself


def test_every_golden_loss_has_cases_with_batch_1_and_more_and_a_raw_tf_reference():
    for name in GOLDEN_LOSSES:
        batches = {np.asarray(c["inputs"]["y_pred"]).shape[0] for c in CASES if c["loss"] == name}
        assert 1 in batches and max(batches) > 1, f"{name}: golden batch sizes {sorted(batches)}"
        assert sum(c["loss"] == name for c in CASES) >= 4, name
    assert len(GOLDEN_LOSSES) >= 6 and {c["loss"] for c in CASES} == set(GOLDEN_LOSSES)
    assert set(TF_REFERENCES) == set(GOLDEN_LOSSES), "every golden loss needs a raw TF expression here"


def test_golden_values_are_the_scripts_reference_of_the_stored_inputs():
    """The committed numbers are make_golden.py's float64 reference of the committed inputs (no RNG involved), and
    the inputs are exactly representable in float32. Refresh both with `python tests/golden/make_golden.py`."""
    for case in CASES:
        inputs = {k: np.asarray(v, np.float64) for k, v in case["inputs"].items()}
        for value in inputs.values():
            np.testing.assert_array_equal(value.astype(np.float32).astype(np.float64), value)
        values = REFERENCES[case["loss"]](inputs, case["params"])
        np.testing.assert_allclose(values, case["values"], rtol=1e-13, atol=0, err_msg=case["id"])
        np.testing.assert_allclose(np.mean(values), case["loss_value"], rtol=1e-13, atol=0, err_msg=case["id"])


def test_golden_values_are_what_make_golden_writes_today():
    """The committed file is make_golden.py's output, byte for byte: the references, their golden cases and the
    recipes still give exactly the committed inputs and values (else: `python tests/golden/make_golden.py`)."""
    from golden import make_golden

    committed = (Path(__file__).parent / "golden" / "golden_values.json").read_text(encoding="utf-8")
    assert make_golden.dumps(make_golden.build()) == committed


def test_reference_gradient_is_the_derivative():
    """The float64 gradient reference of (c) against a derivative known in closed form: for sigmoid_bce,
    d mean(BCE) / dx = (sigmoid(x) - z) / N."""
    case = next(c for c in CASES if c["loss"] == "sigmoid_bce" and not c["params"] and len(c["values"]) > 1)
    inputs = arrays(case, "float64")
    z, x = inputs["y_true"], inputs["y_pred"]
    exact = (1 / (1 + np.exp(-x)) - z) / z.size
    got = reference_gradient(case, inputs, "y_pred")
    np.testing.assert_allclose(got, exact, rtol=1e-10, atol=1e-12 * np.max(np.abs(exact)))


# ----------------------------------------------------------------------------------------------------------------
# (a) float32 in, float32 out; equals the raw TensorFlow expression


@RAW_TF
@by_id(CASES)
def test_a_equals_raw_tensorflow_float32(case):
    inputs = arrays(case, "float32")
    expected = tf_values(case, inputs)
    values = values_of(case, inputs)
    assert values.dtype == np.float32
    slack = tf_cancellation(case, inputs)
    assert_close(values, expected, 1e-6, "per-element values vs raw TF", atol=slack)
    value = loss_of(lossreg.get(case["loss"], **case["params"]), inputs)
    assert_close(value, tf.reduce_mean(expected), 1e-6, "Loss vs tf.reduce_mean(raw TF)", atol=np.mean(slack))


def seed_expression(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Seed 003's loss, tf.reduce_mean(band_part(ce, 0, -1) - band_part(ce, 0, 0)), in float64 NumPy."""
    x, y = np.asarray(y_pred, np.float64), np.asarray(y_true, np.float64)
    log_softmax = x - np.max(x, -1, keepdims=True)
    log_softmax -= np.log(np.sum(np.exp(log_softmax), -1, keepdims=True))
    ce = -np.sum(y * log_softmax, -1)
    diagonal = np.eye(ce.shape[-1], dtype=bool)
    return float(np.mean(np.triu(ce) - np.where(diagonal, ce, 0.0)))


@by_id([c for c in CASES if c["loss"] == "band_masked_softmax_ce" and not c["params"]])
def test_a_band_defaults_are_the_seed_expression(case):
    """Seed 003's loss, verbatim, in float64 NumPy (np.triu is band_part(., 0, -1)); 1e-6, as in raw TF."""
    inputs = arrays(case, "float32")
    value = loss_of(lossreg.get("band_masked_softmax_ce"), inputs)
    seed = seed_expression(inputs["y_true"], inputs["y_pred"])
    assert_close(value, seed, 1e-6, "band_masked_softmax_ce defaults vs the seed's expression (NumPy)")


@RAW_TF
@by_id([c for c in CASES if c["loss"] == "band_masked_softmax_ce" and not c["params"]])
def test_a_band_defaults_are_the_seed_expression_in_raw_tensorflow(case):
    """Seed 003's loss, verbatim: tf.reduce_mean(band_part(ce, 0, -1) - band_part(ce, 0, 0))."""
    inputs = {k: tf.constant(v) for k, v in arrays(case, "float32").items()}
    ce = tf.nn.softmax_cross_entropy_with_logits(labels=inputs["y_true"], logits=inputs["y_pred"])
    seed = tf.reduce_mean(tf.linalg.band_part(ce, 0, -1) - tf.linalg.band_part(ce, 0, 0))
    value = lossreg.get("band_masked_softmax_ce")(inputs["y_true"], inputs["y_pred"])
    assert_close(value, seed, 1e-6, "band_masked_softmax_ce defaults vs the seed's expression")


F64_F16_CASES = [c for c in CASES if c["inputs"]["y_pred"] and np.asarray(c["inputs"]["y_pred"]).shape[0] > 1][::3]


@by_case_and_dtype(F64_F16_CASES, ("float64", "float16"))
def test_a_float64_and_float16_inputs(case, dtype):
    """float64 stays float64 where the backend computes float64 and matches the golden numbers to 1e-12 (see
    float64_gives); float16 inputs are computed in float32 and match the float64 reference of the same (float16)
    numbers."""
    inputs = arrays(case, dtype)
    values = values_of(case, inputs)
    if dtype == "float64":
        computed, rtol = float64_gives()
        assert values.dtype == computed
        atol = F32_ATOL if computed == "float32" else 0.0  # JAX without x64: float32, as in (b)
        np.testing.assert_allclose(values, case["values"], rtol=rtol, atol=atol, err_msg="float64 inputs")
    else:
        assert values.dtype == np.float32
        np.testing.assert_allclose(
            values, reference(case, inputs), rtol=1e-5, atol=F32_ATOL, err_msg="float16 inputs vs float64 reference"
        )


@RAW_TF
@by_id(F64_F16_CASES)
def test_a_float64_and_float16_inputs_equal_raw_tensorflow(case):
    """float64 matches raw TF to 1e-12; float16 inputs match raw TF on the same numbers in float32 to 1e-6."""
    inputs64 = arrays(case, "float64")
    values64 = values_of(case, inputs64)
    assert_close(values64, tf_values(case, inputs64), 1e-12, "float64 vs raw TF", tf_cancellation(case, inputs64))

    inputs16 = arrays(case, "float16")
    values16 = values_of(case, inputs16)
    upcast = {k: v.astype(np.float32) for k, v in inputs16.items()}
    assert_close(
        values16,
        tf_values(case, upcast),
        1e-6,
        "float16 inputs vs raw TF on the same numbers",
        tf_cancellation(case, upcast),
    )


# ----------------------------------------------------------------------------------------------------------------
# (b) equals the committed float64 NumPy golden numbers


@by_case_and_dtype(CASES, ("float32", "float64"))
def test_b_values_equal_golden_float64_reference(case, dtype):
    """The raw loss function, element by element (F32_ATOL says why float32 gets an absolute term)."""
    computed, rtol = float64_gives() if dtype == "float64" else ("float32", 1e-5)
    atol = F32_ATOL if computed == "float32" else 0.0
    values = values_of(case, arrays(case, dtype))
    assert values.dtype == computed, f"{dtype} inputs gave {values.dtype} values"
    np.testing.assert_allclose(values, case["values"], rtol=rtol, atol=atol, err_msg=f"{dtype} values")


@NO_X64_WARNING
@by_case_and_dtype(CASES, ("float32", "float64"))
def test_b_loss_equals_golden_float64_reference(case, dtype):
    """``Loss(dtype=dtype)`` returns that dtype (float32 on JAX without x64, see FLOAT64) and the golden mean."""
    computed, rtol = float64_gives() if dtype == "float64" else ("float32", 1e-5)
    loss = lossreg.RegisteredLoss([{"loss": case["loss"], "params": case["params"]}], dtype=dtype)
    value = loss_of(loss, arrays(case, dtype))
    assert value.dtype == computed, f"Loss(dtype={dtype!r}) gave {value.dtype}"
    assert_close(value, case["loss_value"], rtol, f"{dtype} Loss vs golden")


# ----------------------------------------------------------------------------------------------------------------
# (c) the gradient equals the float64 reference's, and the raw TensorFlow expression's


@by_case_and_dtype(CASES, ("float32", "float64"), gradient=True)
def test_c_gradient_equals_float64_reference(case, dtype):
    """Gradient of ``Loss(dtype=dtype)`` (the mean) w.r.t. y_pred (and aux), by the backend's autodiff, against
    the float64 reference's central differences.

    float32: entries are sums of a few float32 terms, each right to a few ulps: 1e-5 relative (as the values in
    (b)), plus a tenth of that of the largest entry (an entry that cancels to ~0, like softmax - y for a confident
    pair, has no meaningful relative error of its own). float64: 1e-9, the central differences' accuracy.
    """
    computed, rtol = ("float64", 1e-9) if dtype == "float64" else ("float32", 1e-5)
    inputs = arrays(case, dtype)
    loss = lossreg.RegisteredLoss([{"loss": case["loss"], "params": case["params"]}], dtype=dtype)
    _, grads = reduced(loss, inputs)
    for key, got in grads.items():
        assert got.dtype == computed, f"d loss / d {key}: {got.dtype}"
        want = reference_gradient(case, inputs, key)
        scale = np.max(np.abs(want))
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol / 10 * scale, err_msg=f"d loss / d {key}")


@RAW_TF
@by_id(CASES)
def test_c_gradient_equals_raw_tensorflow(case):
    inputs = arrays(case, "float32")
    _, ours = reduced(lossreg.get(case["loss"], **case["params"]), inputs)
    _, theirs = value_and_grad(lambda **t: tf.reduce_mean(tf_values(case, t)), inputs, wrt_of(inputs))
    for key, got in ours.items():
        want = theirs[key]
        # Gradients are sums of a few float32 terms whose order may differ between the fused TF kernels and the
        # keras.ops composition: compare with a relative tolerance of a few float32 ulps, scaled by the largest
        # entry (an entry that cancels to ~0 has no meaningful relative error of its own).
        scale = float(np.max(np.abs(want)))
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6 * scale, err_msg=f"d loss / d {key}")


@pytest.mark.parametrize("pos_weight", [3.0, 0.5])
def test_sigmoid_bce_pos_weight_keeps_precision(pos_weight):
    """Confident predictions with pos_weight != 1: value and gradient to float32 precision.

    The exact values: BCE = q softplus(-x) for z = 1 and softplus(x) for z = 0; d/dx = -q sigmoid(-x), sigmoid(x).
    (TensorFlow's weighted formula gets these only to ~1 ulp of |x| absolute: 1e-5 .. 1e3 relative here.)
    """
    x64 = np.array([[-4.0, -10.0, -20.0, -50.0, 4.0, 10.0, 20.0, 50.0]])
    z64 = np.array([[0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0]])
    expected = np.where(z64 == 1, pos_weight * np.logaddexp(0, -x64), np.logaddexp(0, x64))
    expected_grad = np.where(z64 == 1, -pos_weight / (1 + np.exp(x64)), 1 / (1 + np.exp(-x64)))
    fn = loss_function("sigmoid_bce", {"pos_weight": pos_weight})
    inputs = {"y_true": z64.astype(np.float32), "y_pred": x64.astype(np.float32)}
    values, grads = value_and_grad(fn, inputs, ["y_pred"])
    assert_close(values, expected, 1e-6, "value")
    assert_close(grads["y_pred"], expected_grad, 1e-6, "gradient")


# ----------------------------------------------------------------------------------------------------------------
# (d) finite value and gradient at extreme inputs

BIG = 1e4  # exactly representable in float16 (max 65504)

#: (loss, params): every configuration that takes logits, from the references' ``tf_extremes``.
LOGIT_CONFIGS = [
    (ref.name, params) for ref in covered(GOLDEN_LOSSES) for regime, params in ref.tf_extremes if regime == "logits"
]


def family(name: str) -> str:
    """The loss's input family, from its reference's numerics kinds: binary, categorical or pairs."""
    families = {"binary_probs": "binary", "categorical_probs": "categorical", "pair_probs": "pairs"}
    kinds = {families.get(extreme.kind, extreme.kind) for extreme in REFERENCES[name].extremes}
    assert len(kinds) == 1 and kinds <= {"binary", "categorical", "pairs"}, f"{name}: {kinds}"
    return kinds.pop()


def extreme_case(name: str, dtype: str) -> dict[str, np.ndarray]:
    """Logits of exactly ±1e4, confidently right and confidently wrong, batch 2 (extras at ±1e2).

    Sized so that the sum Keras forms in the Loss dtype stays below float16's 65504 (see
    test_float16_loss_reduces_in_float32_and_returns_float16).
    """
    if family(name) in ("categorical", "pairs"):
        shape = (2, 3) if family(name) == "categorical" else (2, 3, 3, 2)
        rows = int(np.prod(shape[:-1]))
        labels = np.arange(rows) % shape[-1]
        y_true = np.eye(shape[-1])[labels].reshape(shape)
        sign = np.where(np.arange(rows) % 3 == 0, -1.0, 1.0)[:, None]  # a third of the rows confidently wrong
        y_pred = (sign * BIG * (2 * np.eye(shape[-1])[labels] - 1)).reshape(shape)
        if family(name) == "pairs":  # at most one confidently wrong kept pair per sample
            y_pred = np.abs(y_pred) * (2 * y_true - 1)
            y_pred[:, 1, 2] *= -1  # inside both bands tested
    else:
        y_true = np.array([[1.0, 1.0, 0.0, 0.0], [0.0, 1.0, 1.0, 0.0]])
        y_pred = BIG * np.array([[1.0, -1.0, -1.0, 1.0], [1.0, 1.0, -1.0, -1.0]])
    inputs = {"y_true": y_true.astype(dtype), "y_pred": y_pred.astype(dtype)}
    for extra in REFERENCES[name].extras:  # mse_bce's aux
        inputs[extra] = (np.linspace(-BIG, BIG, 8).reshape(2, 4) / 100).astype(dtype)
    return inputs


def assert_finite(value: Any, grads: dict[str, Any], what: str) -> None:
    assert np.all(np.isfinite(np.asarray(value, np.float64))), f"{what}: value {value}"
    for key, g in grads.items():
        assert g is not None and np.all(np.isfinite(np.asarray(g, np.float64))), f"{what}: d / d {key} {g}"


LOGIT_IDS = [f"{n}-{json.dumps(p)}" for n, p in LOGIT_CONFIGS]


@pytest.mark.parametrize("name, params", LOGIT_CONFIGS, ids=LOGIT_IDS)
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_d_finite_at_logits_1e4(name, params, dtype):
    case = {"loss": name, "params": params}
    inputs = extreme_case(name, dtype)
    values, grads = raw(case, inputs)
    assert_finite(values, grads, f"raw {name} in {dtype}")

    # the right numbers, not just finite ones: the float64 reference of the same numbers, to 1e-6 as raw TF (at
    # ±1e4 the values are either ~1e4, or exp(-1e4) = 0 exactly in both float32 and float64)
    assert values.dtype == np.float32  # half precision is computed in float32
    assert_close(values, reference(case, inputs), 1e-6, "vs float64 reference at ±1e4")

    assert float(np.sum(values)) < 65504  # the inputs are sized so that the float16 reduction cannot overflow
    loss = lossreg.RegisteredLoss([{"loss": name, "params": params}], dtype=dtype)
    value, grads = reduced(loss, inputs)
    assert value.dtype == dtype
    assert_finite(value, grads, f"Loss(dtype={dtype}) {name}")
    assert all(g.dtype == dtype for g in grads.values())
    float16_rounding = 1e-3 if dtype == "float16" else 1e-6
    assert_close(value, np.mean(values, dtype=np.float64), float16_rounding, "Loss vs mean of raw values")


@RAW_TF
@pytest.mark.parametrize("name, params", LOGIT_CONFIGS, ids=LOGIT_IDS)
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_d_logits_1e4_equal_raw_tensorflow(name, params, dtype):
    """Raw TF on the same (float32) numbers, where raw TF is finite: 1e-6."""
    case = {"loss": name, "params": params}
    inputs = extreme_case(name, dtype)
    values = values_of(case, inputs)
    upcast = {k: v.astype(np.float32) for k, v in inputs.items()}
    assert_close(values, tf_values(case, upcast), 1e-6, "vs raw TF at ±1e4", tf_cancellation(case, upcast))


def textbook_focal(y_true: Any, y_pred: Any, gamma: float) -> Any:
    """Focal loss in plain keras.ops, (1 - p_t)^gamma BCE: no guard at 1 - p_t = 0."""
    ops = keras.ops
    one_minus_pt = y_true * ops.sigmoid(-y_pred) + (1.0 - y_true) * ops.sigmoid(y_pred)
    bce = ops.maximum(y_pred, 0.0) - y_pred * y_true + ops.log1p(ops.exp(-ops.abs(y_pred)))
    return ops.power(one_minus_pt, gamma) * bce


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_d_focal_gradient_where_the_plain_formula_is_nan(dtype):
    """(1 - p_t)^gamma with gamma < 1 has an infinite derivative at 1 - p_t = 0 (sigmoid(-1e4) == 0 in float32):
    the textbook expression's gradient is inf * 0 = NaN there (on this backend too), the loss's double `where`
    keeps it finite."""
    inputs = extreme_case("sigmoid_focal", dtype)
    upcast = {k: v.astype(np.float32) for k, v in inputs.items()}
    _, textbook_grads = value_and_grad(lambda y_true, y_pred: textbook_focal(y_true, y_pred, 0.5), upcast, ["y_pred"])
    assert np.isnan(textbook_grads["y_pred"]).any()  # the hazard is real on this backend
    values, grads = raw({"loss": "sigmoid_focal", "params": {"gamma": 0.5}}, inputs)
    assert_finite(values, grads, "sigmoid_focal gamma=0.5")


@RAW_TF
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_d_focal_gradient_where_the_raw_tensorflow_formula_is_nan(dtype):
    case = {"loss": "sigmoid_focal", "params": {"gamma": 0.5}}
    upcast = {k: v.astype(np.float32) for k, v in extreme_case("sigmoid_focal", dtype).items()}
    _, reference_grads = value_and_grad(lambda **t: tf_values(case, t), upcast, ["y_pred"])
    assert np.isnan(reference_grads["y_pred"]).any()


#: (loss, params): every configuration that takes probabilities, from the references' ``tf_extremes``.
PROBABILITY_CONFIGS = [
    (ref.name, params)
    for ref in covered(GOLDEN_LOSSES)
    for regime, params in ref.tf_extremes
    if regime == "probabilities"
]
PROBABILITY_IDS = [f"{n}-{json.dumps(p)}" for n, p in PROBABILITY_CONFIGS]


def probabilities_0_and_1(name: str, dtype: str) -> dict[str, np.ndarray]:
    if family(name) == "pairs":  # one-hot predictions, right on even pairs and wrong on odd ones
        labels = np.arange(2 * 3 * 3).reshape(2, 3, 3) % 3
        y_true = np.eye(3)[labels]
        y_pred = np.eye(3)[np.where(labels % 2 == 0, labels, (labels + 1) % 3)]
        inputs = {"y_true": y_true, "y_pred": y_pred}
    else:
        y_true = np.array([[1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.5, 1.0]])
        y_pred = np.array([[1.0, 0.0, 0.0, 1.0], [0.0, 1.0, 1.0, 0.0]])
        inputs = {"y_true": y_true, "y_pred": y_pred, **{extra: y_true for extra in REFERENCES[name].extras}}
    return {k: v.astype(dtype) for k, v in inputs.items()}


@pytest.mark.parametrize("name, params", PROBABILITY_CONFIGS, ids=PROBABILITY_IDS)
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_d_finite_at_probabilities_0_and_1(name, params, dtype):
    case = {"loss": name, "params": params}
    inputs = probabilities_0_and_1(name, dtype)
    values, grads = raw(case, inputs)
    assert_finite(values, grads, f"raw {name} in {dtype}")
    # the float64 reference clips at Keras' float32 bounds, so -log(clip) is the same number
    assert_close(values, reference(case, inputs), 1e-6, "vs float64 reference at probabilities 0 and 1")
    # a confidently wrong entry costs -log(1e-7) = 16.1 (probabilities are clipped), not inf
    assert np.max(values) > (16 if family(name) == "pairs" else 16 / 4)

    loss = lossreg.RegisteredLoss([{"loss": name, "params": params}], dtype=dtype)
    value, grads = reduced(loss, inputs)
    assert_finite(value, grads, f"Loss(dtype={dtype}) {name}")


@RAW_TF
@pytest.mark.parametrize("name, params", PROBABILITY_CONFIGS, ids=PROBABILITY_IDS)
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_d_probabilities_0_and_1_equal_raw_tensorflow(name, params, dtype):
    case = {"loss": name, "params": params}
    inputs = probabilities_0_and_1(name, dtype)
    values = values_of(case, inputs)
    upcast = {k: v.astype(np.float32) for k, v in inputs.items()}
    assert_close(values, tf_values(case, upcast), 1e-6, "vs raw TF at probabilities 0 and 1")


@only_on(
    "tensorflow",
    why="n unknown until run time exists only in a TensorFlow graph (tf.function with a None TensorSpec); JAX and "
    "torch trace with concrete shapes, so they always take the static-n path that every other test here runs",
)
def test_band_mask_with_dynamic_n_equals_the_static_constant_mask():
    """Static n builds the mask once with NumPy; n unknown until run time builds it with keras.ops: same values."""
    rng = np.random.default_rng(3)
    y_true = tf.constant(np.eye(3, dtype="float32")[rng.integers(0, 3, (2, 5, 5))])
    y_pred = tf.constant(rng.normal(size=(2, 5, 5, 3)).astype("float32"))
    for params in ({}, {"lower": 1, "upper": 2, "include_diagonal": True, "normalize": "band"}):
        loss = lossreg.get("band_masked_softmax_ce", **params)
        spec = tf.TensorSpec((None, None, None, 3))
        dynamic = tf.function(lambda t, p, loss=loss: loss(t, p)).get_concrete_function(spec, spec)
        assert float(dynamic(y_true, y_pred)) == pytest.approx(float(loss(y_true, y_pred)), rel=1e-6)


BAD_PAIRS = {  # (batch, i, j) outside the default band (strict upper triangle): the diagonal and below it
    "diagonal": (0, 1, 1),
    "below": (1, 2, 0),
}
BAND_CASE = next(c for c in CASES if c["loss"] == "band_masked_softmax_ce" and not c["params"] and len(c["values"]) > 1)


def dirty_band_inputs(where: str, bad: float) -> dict[str, np.ndarray]:
    inputs = arrays(BAND_CASE, "float32")
    inputs["y_pred"][BAD_PAIRS[where] + (0,)] = bad
    return inputs


@pytest.mark.parametrize("where", list(BAD_PAIRS))
@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan], ids=["+inf", "-inf", "nan"])
def test_d_non_finite_outside_the_band_does_not_leak(where, bad):
    loss = lossreg.get("band_masked_softmax_ce")
    clean_value, clean_grads = reduced(loss, arrays(BAND_CASE, "float32"))
    value, grads = reduced(loss, dirty_band_inputs(where, bad))
    assert float(value) == float(clean_value)  # the masked-out pair plays no part in the value, whatever it holds
    # ... nor in any other pair's gradient; its own is 0 * (softmax - y): 0 for -inf logits (masking with -inf
    # works), NaN for NaN/+inf, whose softmax is NaN (the price of masking once, on the per-pair values)
    grad, clean_grad = grads["y_pred"], clean_grads["y_pred"]
    others = np.ones(grad.shape[:3], bool)
    others[BAD_PAIRS[where]] = False
    np.testing.assert_array_equal(grad[others], clean_grad[others])
    if bad == -np.inf:
        np.testing.assert_array_equal(grad, clean_grad)
        assert np.all(grad[BAD_PAIRS[where]] == 0)


@RAW_TF
@pytest.mark.parametrize("where", list(BAD_PAIRS))
@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan], ids=["+inf", "-inf", "nan"])
def test_d_non_finite_outside_the_band_leaks_into_the_seeds_raw_tensorflow(where, bad):
    """The seed's subtraction form leaks a non-finite diagonal: band_part(ce, 0, -1) - band_part(ce, 0, 0) holds
    NaN - NaN there (band_part zeroes entries below the diagonal by selection, so those do not leak)."""
    dirty = {k: tf.constant(v) for k, v in dirty_band_inputs(where, bad).items()}
    value = loss_of(lossreg.get("band_masked_softmax_ce"), dirty_band_inputs(where, bad))
    ce = tf.nn.softmax_cross_entropy_with_logits(labels=dirty["y_true"], logits=dirty["y_pred"])
    subtraction = float(tf.reduce_mean(tf.linalg.band_part(ce, 0, -1) - tf.linalg.band_part(ce, 0, 0)))
    if where == "diagonal":
        assert np.isnan(subtraction)
    else:
        assert subtraction == pytest.approx(float(value), rel=1e-6)


@pytest.mark.parametrize("bad", [np.inf, np.nan], ids=["inf", "nan"])
def test_d_non_finite_probability_outside_the_band_does_not_leak(bad):
    case = next(c for c in CASES if c["loss"] == "band_masked_softmax_ce" and c["params"] == {"from_logits": False})
    clean = arrays(case, "float32")
    dirty = arrays(case, "float32")
    dirty["y_pred"][0, 2, 2, :] = bad  # the diagonal
    dirty["y_pred"][0, 3, 1, 0] = bad  # below it
    loss = lossreg.get("band_masked_softmax_ce", from_logits=False)
    clean_value, clean_grads = reduced(loss, clean)
    value, grads = reduced(loss, dirty)
    assert float(value) == float(clean_value)
    others = np.ones(grads["y_pred"].shape[:3], bool)
    others[0, 2, 2] = others[0, 3, 1] = False
    np.testing.assert_array_equal(grads["y_pred"][others], clean_grads["y_pred"][others])


def test_float16_loss_reduces_in_float32_and_returns_float16():
    """Keras would sum the 8 per-element values (1e4 each) in float16, past 65504; lossreg reduces in float32."""
    loss = lossreg.RegisteredLoss([{"loss": "sigmoid_bce"}], dtype="float16")
    z, x = np.ones((2, 4), "float16"), np.full((2, 4), -BIG, "float16")
    value = loss(keras.ops.convert_to_tensor(z), keras.ops.convert_to_tensor(x))
    assert_dtype(value, "float16", "Loss(dtype='float16')")
    expected = np.mean(REFERENCES["sigmoid_bce"]({"y_true": z, "y_pred": x.astype(np.float64)}))  # softplus(1e4)
    assert float(keras.ops.convert_to_numpy(value)) == float(np.float16(expected)) == BIG


@RAW_TF
def test_float16_loss_equals_raw_tensorflow():
    loss = lossreg.RegisteredLoss([{"loss": "sigmoid_bce"}], dtype="float16")
    value = loss(tf.ones((2, 4), "float16"), tf.fill((2, 4), tf.constant(-BIG, "float16")))
    expected = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(tf.ones((2, 4)), tf.fill((2, 4), -BIG)))
    assert float(value) == float(tf.cast(expected, tf.float16)) == BIG


# ----------------------------------------------------------------------------------------------------------------
# sample weights through the Loss (Keras reduction)

SMOOTHED_CE = next(
    c for c in CASES if c["loss"] == "softmax_ce" and c["params"] == {"label_smoothing": 0.1} and len(c["values"]) > 1
)
POS_WEIGHT_BCE = next(
    c for c in CASES if c["loss"] == "sigmoid_bce" and c["params"] == {"pos_weight": 3.0} and len(c["values"]) > 1
)


def weighted(loss: Any, inputs: dict[str, np.ndarray], weight: np.ndarray) -> np.ndarray:
    t = {k: keras.ops.convert_to_tensor(v) for k, v in inputs.items()}
    return keras.ops.convert_to_numpy(loss(t["y_true"], t["y_pred"], sample_weight=keras.ops.convert_to_tensor(weight)))


def test_sample_weight_per_sample_loss():
    """Against the float64 golden values: float32 vs float64, 1e-6 as raw TF."""
    inputs = arrays(SMOOTHED_CE, "float32")
    ce = np.asarray(SMOOTHED_CE["values"])
    w = np.array([0.0, 2.0, 0.5, 1.0][: ce.shape[0]], "float32")
    loss = lossreg.get("softmax_ce", label_smoothing=0.1)
    assert_close(weighted(loss, inputs, w), np.sum(ce * w) / ce.size, 1e-6, "weighted mean")
    assert float(weighted(loss, inputs, np.zeros_like(w))) == 0.0
    summed = lossreg.RegisteredLoss([{"loss": "softmax_ce", "params": {"label_smoothing": 0.1}}], reduction="sum")
    assert_close(weighted(summed, inputs, w), np.sum(ce * w), 1e-6, "sum")


@RAW_TF
def test_sample_weight_per_sample_loss_equals_raw_tensorflow():
    inputs = {k: tf.constant(v) for k, v in arrays(SMOOTHED_CE, "float32").items()}
    ce = tf_softmax_ce(inputs["y_true"], inputs["y_pred"], 0.1)
    w = tf.constant([0.0, 2.0, 0.5, 1.0][: ce.shape[0]])
    loss = lossreg.get("softmax_ce", label_smoothing=0.1)
    value = loss(inputs["y_true"], inputs["y_pred"], sample_weight=w)
    assert_close(value, tf.reduce_sum(ce * w) / tf.cast(tf.size(ce), tf.float32), 1e-6, "weighted mean")
    summed = lossreg.RegisteredLoss([{"loss": "softmax_ce", "params": {"label_smoothing": 0.1}}], reduction="sum")
    assert_close(summed(inputs["y_true"], inputs["y_pred"], sample_weight=w), tf.reduce_sum(ce * w), 1e-6, "sum")


def test_sample_weight_per_element_loss():
    """Element-wise weights (the loss's own shape) weight each element; the mean divides by batch * d. Against the
    float64 golden values: float32 vs float64, 1e-6 as raw TF."""
    inputs = arrays(POS_WEIGHT_BCE, "float32")
    bce = np.asarray(POS_WEIGHT_BCE["values"])
    w = (np.arange(bce.size, dtype="float32") % 3).reshape(bce.shape)
    value = weighted(lossreg.get("sigmoid_bce", pos_weight=3.0), inputs, w)
    assert_close(value, np.sum(bce * w) / bce.size, 1e-6, "per-element loss, per-element weights")


@RAW_TF
def test_sample_weight_per_element_loss_equals_raw_tensorflow():
    numpy_inputs = arrays(POS_WEIGHT_BCE, "float32")
    inputs = {k: tf.constant(v) for k, v in numpy_inputs.items()}
    bce = tf.nn.weighted_cross_entropy_with_logits(labels=inputs["y_true"], logits=inputs["y_pred"], pos_weight=3.0)
    w = tf.reshape(tf.range(tf.size(bce), dtype=tf.float32) % 3, bce.shape)
    value = lossreg.get("sigmoid_bce", pos_weight=3.0)(inputs["y_true"], inputs["y_pred"], sample_weight=w)
    expected = tf.reduce_sum(bce * w) / tf.cast(tf.size(bce), tf.float32)
    slack = np.sum(np.asarray(w) * tf_cancellation(POS_WEIGHT_BCE, numpy_inputs)) / np.size(bce)
    assert_close(value, expected, 1e-6, "per-element loss, per-element weights", atol=slack)


def row_weight_inputs(d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    z = rng.integers(0, 2, (4, d)).astype("float32")
    x = rng.normal(0.0, 2.0, (4, d)).astype("float32")
    return z, x, np.array([1.0, 0.0, 3.0, 0.25], "float32")


# Keras alone only broadcasts a (batch,) weight over (batch, 1) values; RegisteredLoss weights rows of any rank.
ROW_WEIGHT_DS = pytest.mark.parametrize(
    "d", [4, 5], ids=["batch==d (was silently wrong)", "batch!=d (was a shape error)"]
)


@ROW_WEIGHT_DS
def test_sample_weight_per_sample_weight_on_per_element_loss(d):
    """Against the float64 reference: float32 vs float64, 1e-6 as raw TF."""
    z, x, w = row_weight_inputs(d)
    value = weighted(lossreg.get("sigmoid_bce"), {"y_true": z, "y_pred": x}, w)
    bce = REFERENCES["sigmoid_bce"]({"y_true": z.astype(np.float64), "y_pred": x.astype(np.float64)})
    assert_close(value, np.sum(bce * w[:, None]) / bce.size, 1e-6, "row weights")


@RAW_TF
@ROW_WEIGHT_DS
def test_sample_weight_per_sample_weight_on_per_element_loss_equals_raw_tensorflow(d):
    z, x, w = (tf.constant(a) for a in row_weight_inputs(d))
    value = lossreg.get("sigmoid_bce")(z, x, sample_weight=w)
    bce = tf.nn.sigmoid_cross_entropy_with_logits(labels=z, logits=x)
    assert_close(value, tf.reduce_sum(bce * w[:, None]) / tf.cast(tf.size(bce), tf.float32), 1e-6, "row weights")
