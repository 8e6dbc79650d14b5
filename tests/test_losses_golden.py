"""Golden values of every built-in lossreg loss: against raw TensorFlow, against a float64 NumPy reference, gradients.

Issue 2, golden-value suite (a)-(d). The cases (loss, parameters, shapes with batch 1 and batch > 1, inputs) come
from ``tests/golden/golden_values.json``, written by ``tests/golden/make_golden.py`` from the float64 NumPy
reference of each documented formula (tests/references/, each reference's ``golden`` cases); the raw TensorFlow
references below are written independently with ``tf.nn`` / ``tf.linalg`` / ``tf.math``, the expressions each loss
stands for.

(a) ``lossreg.get(name, **params)(y_true, y_pred)`` equals the raw TF expression within 1e-6 relative (float32),
    and the raw loss function equals it element by element;
(b) it equals the committed float64 golden numbers (1e-5 relative from float32, 1e-12 from float64);
(c) its gradient w.r.t. ``y_pred`` (and ``aux``) equals the raw TF expression's gradient;
(d) value and gradient stay finite at logits of ±1e4 (float32 and float16), at probabilities exactly 0 and 1,
    and a non-finite logit outside the band of ``band_masked_softmax_ce`` does not leak into it.
Also: ``sample_weight`` through the Keras reduction, for a per-sample and a per-element loss.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorflow as tf
from references import REFERENCES, covered

import lossreg

GOLDEN = json.loads((Path(__file__).parent / "golden" / "golden_values.json").read_text(encoding="utf-8"))
CASES = GOLDEN["cases"]
#: the losses with golden values: lossreg.names() ∩ the references that list golden cases
GOLDEN_LOSSES = [ref.name for ref in covered(lossreg.names()) if ref.golden]
EPS = 1e-7  # keras.config.epsilon(): probabilities are clipped to [EPS, 1 - EPS]


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


# ----------------------------------------------------------------------------------------------------------------
# helpers


def tensors(case: dict[str, Any], dtype: str) -> dict[str, tf.Tensor]:
    return {k: tf.constant(np.asarray(v), dtype=dtype) for k, v in case["inputs"].items()}


def extras_of(inputs: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in inputs.items() if k not in ("y_true", "y_pred")}


def loss_value(loss: Any, inputs: dict[str, Any]) -> tf.Tensor:
    """Call a Keras ``Loss``; losses with extras get ``y_pred={"y_pred": p, <extra>: t}``."""
    extras = extras_of(inputs)
    y_pred = {"y_pred": inputs["y_pred"], **extras} if extras else inputs["y_pred"]
    return loss(inputs["y_true"], y_pred)


def loss_function(name: str, params: dict[str, Any]) -> Any:
    """The raw loss function ``fn(y_true, y_pred, **extras)``: ``Loss.call`` gives the unreduced values."""
    call = lossreg.get(name, **params).call

    def fn(y_true: Any, y_pred: Any, **extras: Any) -> Any:
        return call(y_true, {"y_pred": y_pred, **extras} if extras else y_pred)

    return fn


def raw_values(case: dict[str, Any], inputs: dict[str, Any]) -> tf.Tensor:
    fn = loss_function(case["loss"], case["params"])
    return fn(inputs["y_true"], inputs["y_pred"], **extras_of(inputs))


def tf_values(case: dict[str, Any], inputs: dict[str, Any]) -> tf.Tensor:
    extras = extras_of(inputs)
    return TF_REFERENCES[case["loss"]](inputs["y_true"], inputs["y_pred"], *extras.values(), **case["params"])


def assert_close(actual: Any, expected: Any, rtol: float, what: str, atol: Any = 0.0) -> None:
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    bound = rtol * np.abs(expected) + atol
    worst = np.max(np.abs(actual - expected) - bound, initial=-np.inf)
    assert worst <= 0, f"{what}: off by up to {worst:.3g} beyond {rtol} relative\n{actual}\n!=\n{expected}"


def tf_cancellation(case: dict[str, Any], inputs: dict[str, Any]) -> Any:
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
    x = np.asarray(inputs["y_pred"], np.float64)
    return 2 * np.finfo(inputs["y_pred"].dtype.as_numpy_dtype).eps * np.abs((1 - z) * x)


def by_id(cases: list[dict[str, Any]]) -> Any:
    return pytest.mark.parametrize("case", cases, ids=[c["id"] for c in cases])


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


# ----------------------------------------------------------------------------------------------------------------
# (a) equals the raw TensorFlow expression


@by_id(CASES)
def test_a_equals_raw_tensorflow_float32(case):
    inputs = tensors(case, "float32")
    reference = tf_values(case, inputs)
    values = raw_values(case, inputs)
    assert values.dtype == tf.float32
    slack = tf_cancellation(case, inputs)
    assert_close(values, reference, 1e-6, "per-element values vs raw TF", atol=slack)
    loss = lossreg.get(case["loss"], **case["params"])
    value = loss_value(loss, inputs)
    assert_close(value, tf.reduce_mean(reference), 1e-6, "Loss vs tf.reduce_mean(raw TF)", atol=np.mean(slack))


@by_id([c for c in CASES if c["loss"] == "band_masked_softmax_ce" and not c["params"]])
def test_a_band_defaults_are_the_seed_expression(case):
    """Seed 003's loss, verbatim: tf.reduce_mean(band_part(ce, 0, -1) - band_part(ce, 0, 0))."""
    inputs = tensors(case, "float32")
    ce = tf.nn.softmax_cross_entropy_with_logits(labels=inputs["y_true"], logits=inputs["y_pred"])
    seed = tf.reduce_mean(tf.linalg.band_part(ce, 0, -1) - tf.linalg.band_part(ce, 0, 0))
    value = lossreg.get("band_masked_softmax_ce")(inputs["y_true"], inputs["y_pred"])
    assert_close(value, seed, 1e-6, "band_masked_softmax_ce defaults vs the seed's expression")


@by_id([c for c in CASES if c["inputs"]["y_pred"] and np.asarray(c["inputs"]["y_pred"]).shape[0] > 1][::3])
def test_a_float64_and_float16_inputs(case):
    """float64 stays float64 (and matches raw TF to 1e-12); float16 inputs are computed in float32."""
    inputs64 = tensors(case, "float64")
    values64 = raw_values(case, inputs64)
    assert values64.dtype == tf.float64
    assert_close(
        values64, tf_values(case, inputs64), 1e-12, "float64 values vs raw TF", tf_cancellation(case, inputs64)
    )

    inputs16 = tensors(case, "float16")
    values16 = raw_values(case, inputs16)
    assert values16.dtype == tf.float32
    upcast = {k: tf.cast(v, tf.float32) for k, v in inputs16.items()}
    reference16 = tf_values(case, upcast)
    assert_close(
        values16, reference16, 1e-6, "float16 inputs vs raw TF on the same numbers", tf_cancellation(case, upcast)
    )


# ----------------------------------------------------------------------------------------------------------------
# (b) equals the committed float64 NumPy golden numbers


@by_id(CASES)
@pytest.mark.parametrize("dtype, rtol", [("float32", 1e-5), ("float64", 1e-12)])
def test_b_equals_golden_float64_reference(case, dtype, rtol):
    inputs = tensors(case, dtype)
    # Element by element, an absolute term of 8 float32 ulps of 1 is allowed besides the relative one: softmax
    # cross-entropy (tf.nn.softmax_cross_entropy_with_logits, which lossreg must equal) is computed as
    # log(sum(exp(x - max))) - (x_y - max), a difference of O(1) numbers, so for a confident correct pair
    # (CE ~ 1e-4) float32 keeps only its absolute accuracy (~1e-7), e.g. 2e-4 relative. The reduced loss
    # below, what training sees, is held to `rtol` with no absolute term.
    atol = 8 * np.finfo(np.float32).eps if dtype == "float32" else 0.0
    np.testing.assert_allclose(
        np.asarray(raw_values(case, inputs)), case["values"], rtol=rtol, atol=atol, err_msg=f"{dtype} values"
    )
    loss = lossreg.RegisteredLoss([{"loss": case["loss"], "params": case["params"]}], dtype=dtype)
    assert_close(loss_value(loss, inputs), case["loss_value"], rtol, f"{dtype} Loss vs float64 golden")


# ----------------------------------------------------------------------------------------------------------------
# (c) gradient equals the raw TensorFlow expression's gradient


@by_id(CASES)
def test_c_gradient_equals_raw_tensorflow(case):
    inputs = tensors(case, "float32")
    wrt = {k: v for k, v in inputs.items() if k != "y_true"}  # y_pred, and aux for mse_bce
    loss = lossreg.get(case["loss"], **case["params"])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(list(wrt.values()))
        ours = loss_value(loss, inputs)
        reference = tf.reduce_mean(tf_values(case, inputs))
    for key, tensor in wrt.items():
        got, want = tape.gradient(ours, tensor), tape.gradient(reference, tensor)
        # Gradients are sums of a few float32 terms whose order may differ between the fused TF kernels and the
        # keras.ops composition: compare with a relative tolerance of a few float32 ulps, scaled by the largest
        # entry (an entry that cancels to ~0 has no meaningful relative error of its own).
        scale = float(tf.reduce_max(tf.abs(want)))
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
    x = tf.constant(x64, tf.float32)
    fn = loss_function("sigmoid_bce", {"pos_weight": pos_weight})
    with tf.GradientTape() as tape:
        tape.watch(x)
        values = fn(tf.constant(z64, tf.float32), x)
    assert_close(values, expected, 1e-6, "value")
    assert_close(tape.gradient(values, x), expected_grad, 1e-6, "gradient")


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


def extreme_case(name: str, params: dict[str, Any], dtype: str) -> dict[str, tf.Tensor]:
    """Logits of exactly ±1e4, confidently right and confidently wrong, batch 2 (extras at ±1e2).

    Sized so that the sum Keras forms in the Loss dtype stays below float16's 65504 (see
    test_float16_loss_reduction_overflows).
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
    inputs = {"y_true": tf.constant(y_true, dtype), "y_pred": tf.constant(y_pred, dtype)}
    for extra in REFERENCES[name].extras:  # mse_bce's aux
        inputs[extra] = tf.constant(np.linspace(-BIG, BIG, 8).reshape(2, 4) / 100, dtype)
    return inputs


def value_and_grads(fn: Any, inputs: dict[str, tf.Tensor]) -> tuple[tf.Tensor, list[tf.Tensor]]:
    wrt = [v for k, v in inputs.items() if k != "y_true"]
    with tf.GradientTape() as tape:
        tape.watch(wrt)
        value = fn(inputs)
        total = tf.reduce_sum(tf.cast(value, tf.float32))
    return value, tape.gradient(total, wrt)


def assert_finite(value: Any, grads: list[Any], what: str) -> None:
    assert np.all(np.isfinite(np.asarray(value, np.float64))), f"{what}: value {value}"
    for g in grads:
        assert g is not None and np.all(np.isfinite(np.asarray(g, np.float64))), f"{what}: gradient {g}"


@pytest.mark.parametrize("name, params", LOGIT_CONFIGS, ids=[f"{n}-{json.dumps(p)}" for n, p in LOGIT_CONFIGS])
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_d_finite_at_logits_1e4(name, params, dtype):
    case = {"loss": name, "params": params}
    inputs = extreme_case(name, params, dtype)
    fn = loss_function(name, params)
    values, grads = value_and_grads(lambda t: fn(t["y_true"], t["y_pred"], **extras_of(t)), inputs)
    assert_finite(values, grads, f"raw {name} in {dtype}")

    # the right numbers, not just finite ones: raw TF on the same (float32) numbers, where raw TF is finite
    upcast = {k: tf.cast(v, tf.float32) for k, v in inputs.items()}
    assert values.dtype == tf.float32  # half precision is computed in float32
    assert_close(values, tf_values(case, upcast), 1e-6, "vs raw TF at ±1e4", tf_cancellation(case, upcast))

    assert float(tf.reduce_sum(values)) < 65504  # the inputs are sized so that the float16 reduction cannot overflow
    loss = lossreg.RegisteredLoss([{"loss": name, "params": params}], dtype=dtype)
    value, grads = value_and_grads(lambda t: loss_value(loss, t), inputs)
    assert value.dtype == dtype
    assert_finite(value, grads, f"Loss(dtype={dtype}) {name}")
    assert all(g.dtype == dtype for g in grads)
    float16_rounding = 1e-3 if dtype == "float16" else 1e-6
    assert_close(value, tf.reduce_mean(values), float16_rounding, "Loss vs mean of raw values")


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_d_focal_gradient_where_the_plain_formula_is_nan(dtype):
    """(1 - p_t)^gamma with gamma < 1 has an infinite derivative at 1 - p_t = 0 (sigmoid(-1e4) == 0 in float32):
    the textbook expression's gradient is inf * 0 = NaN there, the loss's double `where` keeps it finite."""
    case = {"loss": "sigmoid_focal", "params": {"gamma": 0.5}}
    inputs = extreme_case("sigmoid_focal", case["params"], dtype)
    upcast = {k: tf.cast(v, tf.float32) for k, v in inputs.items()}
    _, (reference_grad,) = value_and_grads(lambda t: tf_values(case, t), upcast)
    assert np.isnan(reference_grad.numpy()).any()
    fn = loss_function("sigmoid_focal", case["params"])
    values, grads = value_and_grads(lambda t: fn(t["y_true"], t["y_pred"]), inputs)
    assert_finite(values, grads, "sigmoid_focal gamma=0.5")


#: (loss, params): every configuration that takes probabilities, from the references' ``tf_extremes``.
PROBABILITY_CONFIGS = [
    (ref.name, params)
    for ref in covered(GOLDEN_LOSSES)
    for regime, params in ref.tf_extremes
    if regime == "probabilities"
]


@pytest.mark.parametrize(
    "name, params", PROBABILITY_CONFIGS, ids=[f"{n}-{json.dumps(p)}" for n, p in PROBABILITY_CONFIGS]
)
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_d_finite_at_probabilities_0_and_1(name, params, dtype):
    case = {"loss": name, "params": params}
    if family(name) == "pairs":  # one-hot predictions, right on even pairs and wrong on odd ones
        labels = np.arange(2 * 3 * 3).reshape(2, 3, 3) % 3
        y_true = np.eye(3)[labels]
        y_pred = np.eye(3)[np.where(labels % 2 == 0, labels, (labels + 1) % 3)]
        inputs = {"y_true": y_true, "y_pred": y_pred}
    else:
        y_true = np.array([[1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.5, 1.0]])
        y_pred = np.array([[1.0, 0.0, 0.0, 1.0], [0.0, 1.0, 1.0, 0.0]])
        inputs = {"y_true": y_true, "y_pred": y_pred, **{extra: y_true for extra in REFERENCES[name].extras}}
    inputs = {k: tf.constant(v, dtype) for k, v in inputs.items()}
    fn = loss_function(name, params)
    values, grads = value_and_grads(lambda t: fn(t["y_true"], t["y_pred"], **extras_of(t)), inputs)
    assert_finite(values, grads, f"raw {name} in {dtype}")
    upcast = {k: tf.cast(v, tf.float32) for k, v in inputs.items()}
    assert_close(values, tf_values(case, upcast), 1e-6, "vs raw TF at probabilities 0 and 1")
    # a confidently wrong entry costs -log(1e-7) = 16.1 (probabilities are clipped), not inf
    assert np.max(values) > (16 if family(name) == "pairs" else 16 / 4)

    loss = lossreg.RegisteredLoss([{"loss": name, "params": params}], dtype=dtype)
    value, grads = value_and_grads(lambda t: loss_value(loss, t), inputs)
    assert_finite(value, grads, f"Loss(dtype={dtype}) {name}")


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


@pytest.mark.parametrize("where", list(BAD_PAIRS))
@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan], ids=["+inf", "-inf", "nan"])
def test_d_non_finite_outside_the_band_does_not_leak(where, bad):
    case = next(c for c in CASES if c["loss"] == "band_masked_softmax_ce" and not c["params"] and len(c["values"]) > 1)
    clean = tensors(case, "float32")
    y_pred = np.array(case["inputs"]["y_pred"], np.float32)
    y_pred[BAD_PAIRS[where] + (0,)] = bad
    dirty = {"y_true": clean["y_true"], "y_pred": tf.constant(y_pred)}

    loss = lossreg.get("band_masked_softmax_ce")
    clean_value, (clean_grad,) = value_and_grads(lambda t: loss_value(loss, t), clean)
    value, (grad,) = value_and_grads(lambda t: loss_value(loss, t), dirty)
    assert float(value) == float(clean_value)  # the masked-out pair plays no part in the value, whatever it holds
    # ... nor in any other pair's gradient; its own is 0 * (softmax - y): 0 for -inf logits (masking with -inf
    # works), NaN for NaN/+inf, whose softmax is NaN (the price of masking once, on the per-pair values)
    others = np.ones(grad.shape[:3], bool)
    others[BAD_PAIRS[where]] = False
    np.testing.assert_array_equal(grad.numpy()[others], clean_grad.numpy()[others])
    if bad == -np.inf:
        np.testing.assert_array_equal(grad.numpy(), clean_grad.numpy())
        assert np.all(grad.numpy()[BAD_PAIRS[where]] == 0)

    # the seed's subtraction form leaks a non-finite diagonal: band_part(ce, 0, -1) - band_part(ce, 0, 0) holds
    # NaN - NaN there (band_part zeroes entries below the diagonal by selection, so those do not leak)
    ce = tf.nn.softmax_cross_entropy_with_logits(labels=dirty["y_true"], logits=dirty["y_pred"])
    subtraction = float(tf.reduce_mean(tf.linalg.band_part(ce, 0, -1) - tf.linalg.band_part(ce, 0, 0)))
    if where == "diagonal":
        assert np.isnan(subtraction)
    else:
        assert subtraction == pytest.approx(float(value), rel=1e-6)


@pytest.mark.parametrize("bad", [np.inf, np.nan], ids=["inf", "nan"])
def test_d_non_finite_probability_outside_the_band_does_not_leak(bad):
    case = next(c for c in CASES if c["loss"] == "band_masked_softmax_ce" and c["params"] == {"from_logits": False})
    clean = tensors(case, "float32")
    y_pred = np.array(case["inputs"]["y_pred"], np.float32)
    y_pred[0, 2, 2, :] = bad  # the diagonal
    y_pred[0, 3, 1, 0] = bad  # below it
    loss = lossreg.get("band_masked_softmax_ce", from_logits=False)
    clean_value, (clean_grad,) = value_and_grads(lambda t: loss_value(loss, t), clean)
    value, (grad,) = value_and_grads(
        lambda t: loss_value(loss, {"y_true": t["y_true"], "y_pred": t["y_pred"]}),
        {"y_true": clean["y_true"], "y_pred": tf.constant(y_pred)},
    )
    assert float(value) == float(clean_value)
    others = np.ones(grad.shape[:3], bool)
    others[0, 2, 2] = others[0, 3, 1] = False
    np.testing.assert_array_equal(grad.numpy()[others], clean_grad.numpy()[others])


def test_float16_loss_reduces_in_float32_and_returns_float16():
    """Keras would sum the 8 per-element values (1e4 each) in float16, past 65504; lossreg reduces in float32."""
    loss = lossreg.RegisteredLoss([{"loss": "sigmoid_bce"}], dtype="float16")
    value = loss(tf.ones((2, 4), "float16"), tf.fill((2, 4), tf.constant(-BIG, "float16")))
    assert value.dtype == tf.float16
    expected = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(tf.ones((2, 4)), tf.fill((2, 4), -BIG)))
    assert float(value) == float(tf.cast(expected, tf.float16)) == BIG


# ----------------------------------------------------------------------------------------------------------------
# sample weights through the Loss (Keras reduction)


def test_sample_weight_per_sample_loss():
    case = next(
        c
        for c in CASES
        if c["loss"] == "softmax_ce" and c["params"] == {"label_smoothing": 0.1} and len(c["values"]) > 1
    )
    inputs = tensors(case, "float32")
    ce = tf_softmax_ce(inputs["y_true"], inputs["y_pred"], 0.1)
    w = tf.constant([0.0, 2.0, 0.5, 1.0][: ce.shape[0]])
    loss = lossreg.get("softmax_ce", label_smoothing=0.1)
    value = loss(inputs["y_true"], inputs["y_pred"], sample_weight=w)
    assert_close(value, tf.reduce_sum(ce * w) / tf.cast(tf.size(ce), tf.float32), 1e-6, "weighted mean")
    zero = loss(inputs["y_true"], inputs["y_pred"], sample_weight=tf.zeros_like(w))
    assert float(zero) == 0.0
    summed = lossreg.RegisteredLoss([{"loss": "softmax_ce", "params": {"label_smoothing": 0.1}}], reduction="sum")
    assert_close(summed(inputs["y_true"], inputs["y_pred"], sample_weight=w), tf.reduce_sum(ce * w), 1e-6, "sum")


def test_sample_weight_per_element_loss():
    """Element-wise weights (the loss's own shape) weight each element; the mean divides by batch * d."""
    case = next(
        c for c in CASES if c["loss"] == "sigmoid_bce" and c["params"] == {"pos_weight": 3.0} and len(c["values"]) > 1
    )
    inputs = tensors(case, "float32")
    bce = tf.nn.weighted_cross_entropy_with_logits(labels=inputs["y_true"], logits=inputs["y_pred"], pos_weight=3.0)
    w = tf.reshape(tf.range(tf.size(bce), dtype=tf.float32) % 3, bce.shape)
    value = lossreg.get("sigmoid_bce", pos_weight=3.0)(inputs["y_true"], inputs["y_pred"], sample_weight=w)
    expected = tf.reduce_sum(bce * w) / tf.cast(tf.size(bce), tf.float32)
    slack = np.sum(np.asarray(w) * tf_cancellation(case, inputs)) / np.size(bce)
    assert_close(value, expected, 1e-6, "per-element loss, per-element weights", atol=slack)


# Keras alone only broadcasts a (batch,) weight over (batch, 1) values; RegisteredLoss weights rows of any rank.
@pytest.mark.parametrize("d", [4, 5], ids=["batch==d (was silently wrong)", "batch!=d (was a shape error)"])
def test_sample_weight_per_sample_weight_on_per_element_loss(d):
    rng = np.random.default_rng(3)
    z = tf.constant(rng.integers(0, 2, (4, d)), tf.float32)
    x = tf.constant(rng.normal(0.0, 2.0, (4, d)), tf.float32)
    w = tf.constant([1.0, 0.0, 3.0, 0.25])
    value = lossreg.get("sigmoid_bce")(z, x, sample_weight=w)
    bce = tf.nn.sigmoid_cross_entropy_with_logits(labels=z, logits=x)
    assert_close(value, tf.reduce_sum(bce * w[:, None]) / tf.cast(tf.size(bce), tf.float32), 1e-6, "row weights")
