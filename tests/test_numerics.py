"""Numerical safety of every built-in and plugin loss (issue 5): finite and right at extreme inputs.

The matrix: every loss in ``lossreg.names()`` with a reference (every lossreg built-in and every loss of the two
plugins: tests/test_references.py), in the configurations (each reference's ``extremes``) that change the
arithmetic (label smoothing, ``pos_weight``, focal ``gamma``, logits or probabilities, sigmoid or softmax,
band normalisation, ...), times the input regimes

- logits: all ``-1e4``, all ``+1e4``, ``±1e4`` agreeing with the targets, disagreeing with them, mixed
  (half agreeing, half not) and all 0;
- probabilities (``from_logits=False``): exactly 0 and 1, agreeing and disagreeing with the targets (and all
  0 / all 1 for per-element sigmoid probabilities);
- ``vae_kl``: ``z_mean = ±1e4``, ``z_log_var = +1e4``, ``z_log_var = -1e4``, both mixed, all 0;
- GAN discriminators: real and fake logits at ``±1e4`` both ways, mixed, 0;

times float32 and float16 inputs. For each, through ``lossreg.get(name, **params)`` (a Keras ``Loss``), the value
and its gradient (``lossreg.testing.value_and_grad``: the backend's own autodiff, on every backend) with respect to
``y_pred`` and every extra tensor are finite; the value equals the loss's float64 NumPy
reference (tests/references/, written with ``logaddexp``, so it is exact at ``±1e4``: a loss that returned 0, or
saturated to a wrong constant, fails); and where a confident wrong prediction still has a gradient
(every cross-entropy on logits, the GAN losses, overlap losses on probabilities), it points towards the target.

Besides: a tiny functional model per loss family trained one step under the ``mixed_float16`` policy
(float16 Dense outputs at ``±1e4``), and a ``RegisteredLoss(dtype="float16")`` whose reduction must not overflow.

Which cases run where: every case of the three matrices below (extremes, the 0..1e4 sweep, ignored elements) on
TensorFlow, the reference backend; on JAX and PyTorch a covering sample (``on_backend.covering``, deterministic): every
loss configuration at least once, every loss in float32 and in float16, and every input regime of every input kind
(and every way of ignoring elements) in both dtypes. What a backend can get wrong here is how it evaluates a loss's
ops at ±1e4, 0, NaN and inf in a dtype (its kernels, its autodiff of ``where``/``logaddexp``, its float16
promotion): those are the aspects the sample covers; the combinations' math is the reference backend's to prove.

Issue 12: the same regimes with ignored elements (``ignore_class`` 255, -1 or a channel, and ``mask`` tensors) for
the core losses and their sparse forms, float32 and float16: the value is the reference's mean over the kept
elements (each loss's ``Normalizer:``), gradients are finite, exactly 0 at ignored elements (which hold NaN and
±inf logits), and still pull kept elements towards their targets.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import pytest
from keras import ops
from on_backend import covering
from references import REFERENCES, Reference, covered
from references.builtin import LOG_VAR_LIMIT, counted, keras_mean

import lossreg
from lossreg.testing import value_and_grad

BIG = 1e4  # exactly representable in float16 (max 65504)
B = 2  # batch of the eager matrix


# ----------------------------------------------------------------------------------------------------------------
# input regimes

BINARY_Y = np.array([[[1, 0], [0, 1], [1, 0]], [[0, 0], [1, 1], [0, 1]]], float)  # (batch, pixels, channels)
CLASSES = 3
CATEGORICAL_LABELS = np.array([[0, 1, 2], [2, 0, 1]])  # (batch, pixels)
PAIR_LABELS = np.arange(B * 3 * 3).reshape(B, 3, 3) % CLASSES  # (batch, n, n)
LOGIT_REGIMES = ("all_neg", "all_pos", "agree", "disagree", "mixed", "zero")
BINARY_PROB_REGIMES = ("agree", "disagree", "all_0", "all_1")
ONEHOT_PROB_REGIMES = ("agree", "disagree", "mixed")
LATENT_REGIMES = ("mean_pm", "log_var_pos", "log_var_neg", "mixed", "zero")
GENERATOR_REGIMES = ("all_neg", "all_pos", "mixed", "zero")
DISCRIMINATOR_REGIMES = ("all_neg", "all_pos", "agree", "disagree", "mixed", "zero")


def alternating(shape: tuple[int, ...]) -> np.ndarray:
    """True on every other element (in C order): the "agree" half of a mixed regime."""
    return (np.arange(int(np.prod(shape))) % 2 == 0).reshape(shape)


def binary_logits(y: np.ndarray, regime: str) -> tuple[np.ndarray, np.ndarray]:
    """(logits, direction): direction is +1 where raising the logit moves towards the target, 0 where it is right."""
    toward = 2 * y - 1
    agree = {"agree": np.ones(y.shape, bool), "disagree": np.zeros(y.shape, bool), "mixed": alternating(y.shape)}
    if regime in agree:
        x = BIG * np.where(agree[regime], toward, -toward)
        return x, np.where(agree[regime], 0.0, toward)
    x = {"all_neg": -BIG, "all_pos": BIG, "zero": 0.0}[regime] * np.ones(y.shape)
    return x, np.where(np.sign(x) == toward, 0.0, toward)


def onehot_logits(labels: np.ndarray, regime: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(one-hot targets, logits, direction) for class labels: a confidently wrong row has +1e4 on the next class."""
    y = np.eye(CLASSES)[labels]
    wrong = np.eye(CLASSES)[(labels + 1) % CLASSES]
    agree = {"agree": np.ones(labels.shape, bool), "disagree": np.zeros(labels.shape, bool)}
    agree["mixed"] = alternating(labels.shape)
    if regime in agree:
        row_agrees = agree[regime][..., None]
        x = BIG * np.where(row_agrees, 2 * y - 1, 2 * wrong - 1)
        return y, x, np.where(row_agrees, 0.0, y - wrong)
    x = {"all_neg": -BIG, "all_pos": BIG, "zero": 0.0}[regime] * np.ones(y.shape)
    return y, x, y - (1.0 - y) / (CLASSES - 1)  # a uniform prediction: raise the target, lower the others


def binary_probs(y: np.ndarray, regime: str) -> tuple[np.ndarray, np.ndarray]:
    p = {"agree": y, "disagree": 1 - y, "all_0": np.zeros(y.shape), "all_1": np.ones(y.shape)}[regime]
    return p, np.where(p == y, 0.0, 2 * y - 1)


def onehot_probs(labels: np.ndarray, regime: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y, _, toward = onehot_logits(labels, regime)
    wrong = np.eye(CLASSES)[(labels + 1) % CLASSES]
    agree = {"agree": np.ones(labels.shape, bool), "disagree": np.zeros(labels.shape, bool)}
    agree["mixed"] = alternating(labels.shape)
    return y, np.where(agree[regime][..., None], y, wrong), toward


def latent(regime: str) -> dict[str, np.ndarray]:
    sign = np.where(alternating((B, 4)), 1.0, -1.0)
    zeros = np.zeros((B, 4))
    mean, log_var = {
        "mean_pm": (BIG * sign, zeros),
        "log_var_pos": (zeros, BIG + zeros),
        "log_var_neg": (zeros, -BIG + zeros),
        "mixed": (BIG * sign, -BIG * sign[:, ::-1]),
        "zero": (zeros, zeros),
    }[regime]
    return {"z_mean": mean, "z_log_var": log_var}


# ----------------------------------------------------------------------------------------------------------------
# the configurations


@dataclass(frozen=True)
class Config:
    """One loss configuration (a reference's ``Extreme``): how to feed it and what it must equal."""

    name: str
    params: dict[str, Any]
    kind: str  # binary | categorical | pairs | binary_probs | categorical_probs | pair_probs | latent | gan_g | gan_d
    reference: Reference
    #: whether a confidently wrong prediction still has a gradient pulling it towards the target
    pulls: bool = True

    @property
    def extras(self) -> tuple[str, ...]:
        return self.reference.extras

    @property
    def id(self) -> str:
        params = ",".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.name}({params})"


#: every extreme configuration of every loss in lossreg.names() ∩ the references (plugins' included)
CONFIGS = [
    Config(ref.name, extreme.params, extreme.kind, ref, extreme.pulls)
    for ref in covered(lossreg.names())
    for extreme in ref.extremes
]

REGIMES = {
    "binary": LOGIT_REGIMES,
    "categorical": LOGIT_REGIMES,
    "pairs": LOGIT_REGIMES,
    "binary_probs": BINARY_PROB_REGIMES,
    "categorical_probs": ONEHOT_PROB_REGIMES,
    "pair_probs": ONEHOT_PROB_REGIMES,
    "latent": LATENT_REGIMES,
    "gan_g": GENERATOR_REGIMES,
    "gan_d": DISCRIMINATOR_REGIMES,
}


@dataclass
class Inputs:
    """Arrays for one (configuration, regime): what the loss receives and the expected per-sample values."""

    y_true: Any
    tensors: dict[str, np.ndarray]  # y_pred and/or extras: everything differentiated
    toward: dict[str, np.ndarray]  # per differentiated tensor: +1 / -1 where the gradient must pull, else 0
    expected: np.ndarray


def make_inputs(config: Config, regime: str) -> Inputs:
    kind, ref, params = config.kind, config.reference, config.params
    if kind in ("binary", "binary_probs"):
        y = BINARY_Y
        x, toward = binary_logits(y, regime) if kind == "binary" else binary_probs(y, regime)
        tensors = {"y_pred": x}
        if "aux" in config.extras:  # the regression intermediate sits at the same extremes
            tensors["aux"] = x
        return Inputs(y, tensors, {"y_pred": toward}, ref({"y_true": y, **tensors}, params))
    if kind in ("categorical", "pairs", "categorical_probs", "pair_probs"):
        labels = PAIR_LABELS if kind.startswith("pair") else CATEGORICAL_LABELS
        y, x, toward = onehot_logits(labels, regime) if "probs" not in kind else onehot_probs(labels, regime)
        if takes_class_ids(config.name):  # the sparse forms: the same rows, as class ids
            y = labels.astype(float)
        return Inputs(y, {"y_pred": x}, {"y_pred": toward}, ref({"y_true": y, "y_pred": x}, params))
    if kind == "latent":
        tensors = latent(regime)
        return Inputs({}, tensors, {}, ref(tensors, params))
    if kind == "gan_g":
        sign = np.where(alternating((B, 3)), 1.0, -1.0)
        f = {"all_neg": -BIG, "all_pos": BIG, "mixed": BIG * sign, "zero": 0.0}[regime] * np.ones((B, 3))
        toward = np.ones(f.shape) if regime == "all_neg" else np.zeros(f.shape)  # D rejects every fake: pull up
        return Inputs(np.zeros((B, 1)), {"y_pred": f}, {"y_pred": toward}, ref({"y_pred": f}, params))
    assert kind == "gan_d"
    sign = np.where(alternating((B, 3)), 1.0, -1.0)
    real, fake = {
        "all_neg": (-BIG, -BIG),
        "all_pos": (BIG, BIG),
        "agree": (BIG, -BIG),
        "disagree": (-BIG, BIG),
        "mixed": (BIG * sign, BIG * sign[:, ::-1]),
        "zero": (0.0, 0.0),
    }[regime]
    r, f = real * np.ones((B, 3)), fake * np.ones((B, 3))
    toward = {"real_logits": np.where(r < 0, 1.0, 0.0), "fake_logits": np.where(f > 0, -1.0, 0.0)}
    return Inputs({}, {"real_logits": r, "fake_logits": f}, toward, ref({"real_logits": r, "fake_logits": f}, params))


def takes_class_ids(name: str) -> bool:
    """Whether the loss declares class-id targets (``sparse_softmax_ce``...): its categorical and pair regimes are
    the one-hot ones' labels."""
    expects = lossreg.describe(name).expects
    return expects is not None and expects.targets == "class_ids"


DTYPES = ("float32", "float16")
MATRIX = covering(
    [
        pytest.param(config, regime, dtype, id=f"{config.id}-{regime}-{dtype}")
        for config in CONFIGS
        for regime in REGIMES[config.kind]
        for dtype in DTYPES
    ],
    lambda config, regime, dtype: config.id,  # every loss and option that changes the arithmetic
    lambda config, regime, dtype: (config.name, dtype),  # every loss in both dtypes
    lambda config, regime, dtype: (config.kind, regime, dtype),  # every regime of every input kind, both dtypes
)


def call_loss(loss: Any, y_true: Any, tensors: dict[str, Any]) -> Any:
    """A Keras ``Loss`` call; extras ride in ``y_pred={"y_pred": ..., extra: ...}``."""
    y_pred = tensors if set(tensors) != {"y_pred"} else tensors["y_pred"]
    return loss(y_true, y_pred)


def value_and_gradients(loss: Any, inputs: Inputs, dtype: str) -> tuple[np.ndarray, dict[str, np.ndarray | None]]:
    """The loss's value on ``dtype`` tensors and its gradient with respect to each of them, as NumPy.

    Taken by the backend's own autodiff (``lossreg.testing.value_and_grad``): ``tf.GradientTape``, ``jax.grad`` or
    ``torch.autograd``. A gradient is ``None`` where no gradient flows (TensorFlow and torch tell; JAX gives zeros,
    which the pull checks below still catch where a gradient must exist).
    """
    tensors = {k: np.asarray(v, dtype) for k, v in inputs.tensors.items()}
    if isinstance(inputs.y_true, dict):  # a loss that reads no target (vae_kl, a GAN discriminator) is given {}
        return value_and_grad(lambda **given: call_loss(loss, inputs.y_true, given), tensors, list(tensors))
    fed = {"y_true": np.asarray(inputs.y_true, dtype), **tensors}
    return value_and_grad(lambda y_true, **given: call_loss(loss, y_true, given), fed, list(tensors))


def tensor(x: Any, dtype: str = "float32") -> Any:
    """``x`` as a backend tensor of ``dtype`` (what a model hands a loss)."""
    return ops.convert_to_tensor(np.asarray(x, dtype))


def assert_finite(what: str, array: Any) -> None:
    array = np.asarray(array, np.float64)
    assert np.all(np.isfinite(array)), f"{what} is not finite: {array}"


# ----------------------------------------------------------------------------------------------------------------
# the matrix


@pytest.mark.parametrize(("config", "regime", "dtype"), MATRIX)
def test_finite_and_right_at_extremes(config, regime, dtype):
    inputs = make_inputs(config, regime)
    loss = lossreg.get(config.name, **config.params)
    value, grads = value_and_gradients(loss, inputs, dtype)

    assert_finite(f"{config.id} value", value)
    for key, grad in grads.items():
        assert grad is not None, f"no gradient flows to {key}"
        assert grad.dtype == dtype
        assert_finite(f"{config.id} d/d{key}", grad)

    # the right value, not just a finite one: half-precision inputs (exact here) are computed in float32
    assert value.dtype == "float32"
    expected = float(np.mean(inputs.expected))
    assert_finite("the float64 reference", expected)
    assert float(value) == pytest.approx(expected, rel=2e-6, abs=1e-6), f"{config.id} at {regime}"

    if config.pulls:  # a confident wrong prediction is pulled back, and nothing is pushed the wrong way
        for key, toward in inputs.toward.items():
            pull = np.asarray(grads[key], np.float64) * toward
            assert np.all(pull <= 0), f"{config.id}: d/d{key} pushes away from the target: {grads[key]}"
            if regime in ("disagree", "all_neg") and np.any(toward):
                assert np.sum(pull) < 0, f"{config.id}: no gradient towards the target at {regime}: {grads[key]}"


#: magnitudes between 0 and 1e4 where float16/float32 exp, sigmoid and softplus change regime: exp overflows
#: float16 past 11, sigmoid rounds to 1 in float32 past 17, exp overflows float32 past 88, exp(-x) is denormal past 87
#: and 0 past 104
SWEEP = (1.0, 11.0, 12.0, 17.0, 30.0, 88.0, 89.0, 104.0, 110.0, 1e3)
LOGIT_CONFIGS = [c for c in CONFIGS if c.kind in ("binary", "categorical", "pairs", "gan_g", "gan_d")]
SWEEP_MATRIX = covering(
    [pytest.param(config, dtype, id=f"{config.id}-{dtype}") for config in LOGIT_CONFIGS for dtype in DTYPES],
    lambda config, dtype: config.id,  # every loss and option
    lambda config, dtype: (config.name, dtype),  # every loss in both dtypes
    lambda config, dtype: (config.kind, dtype),  # every input kind in both dtypes
)


@pytest.mark.parametrize(("config", "dtype"), SWEEP_MATRIX)
def test_finite_and_right_between_0_and_1e4(config, dtype):
    """The "mixed" regime (half agreeing, half not) scaled to magnitudes inside [-1e4, 1e4]."""
    for magnitude in SWEEP:
        inputs = make_inputs(config, "mixed")
        # the numbers the loss sees (rounded to dtype), as float64 for the reference
        tensors = {k: (v * (magnitude / BIG)).astype(dtype).astype("float64") for k, v in inputs.tensors.items()}
        y = inputs.y_true
        expected = config.reference({"y_true": y, **tensors}, config.params)
        scaled = Inputs(y, tensors, {}, expected)
        value, grads = value_and_gradients(lossreg.get(config.name, **config.params), scaled, dtype)
        assert_finite(f"{config.id} value at ±{magnitude}", value)
        for key, grad in grads.items():
            assert_finite(f"{config.id} d/d{key} at ±{magnitude}", grad)
        # the overlap losses compute 1 - TI as one fraction, so nothing cancels: abs only for values near 0
        assert float(value) == pytest.approx(float(np.mean(expected)), rel=2e-6, abs=1e-7), magnitude


def reference_gradient(config: Config, inputs: Inputs, key: str, h: float = 1e-5) -> np.ndarray:
    """Central differences of the float64 reference's batch mean with respect to ``inputs.tensors[key]``."""
    base = {} if isinstance(inputs.y_true, dict) else {"y_true": inputs.y_true}
    grad = np.zeros(inputs.tensors[key].shape)
    for index in np.ndindex(grad.shape):
        sides = []
        for step in (h, -h):
            tensors = {k: v.copy() for k, v in inputs.tensors.items()}
            tensors[key][index] += step
            sides.append(np.mean(config.reference({**base, **tensors}, config.params)))
        grad[index] = (sides[0] - sides[1]) / (2 * h)
    return grad


@pytest.mark.parametrize(
    "config",
    [pytest.param(c, id=c.id) for c in LOGIT_CONFIGS],
)
def test_gradient_at_zero_logits(config):
    """At logits of exactly 0 (a zero-initialised head gives them) the gradient is the reference's, not a kink's."""
    inputs = make_inputs(config, "zero")
    _, grads = value_and_gradients(lossreg.get(config.name, **config.params), inputs, "float32")
    for key, grad in grads.items():
        assert grad is not None, f"no gradient flows to {key}"
        np.testing.assert_allclose(grad, reference_gradient(config, inputs, key), rtol=1e-4, atol=1e-7, err_msg=key)


def test_matrix_finds_a_wrong_loss():
    """The value check is a real one: the reference tells a loss that returns 0 from the real one."""
    config = next(c for c in CONFIGS if c.name == "softmax_ce" and not c.params)
    inputs = make_inputs(config, "disagree")
    assert float(np.mean(inputs.expected)) == pytest.approx(2 * BIG)  # log-likelihood of a class at -1e4 vs +1e4


# ----------------------------------------------------------------------------------------------------------------
# answers known in closed form at the extremes


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_closed_form_values_at_1e4(dtype):
    def value(name: str, y: Any, x: Any, **params: Any) -> float:
        return float(ops.convert_to_numpy(lossreg.get(name, **params)(tensor(y, dtype), tensor(x, dtype))))

    assert value("sigmoid_bce", [[1.0]], [[BIG]]) == 0.0
    assert value("sigmoid_bce", [[0.0]], [[BIG]]) == BIG
    assert value("sigmoid_bce", [[1.0]], [[-BIG]], pos_weight=3.0) == 3 * BIG
    assert value("sigmoid_bce", [[0.0]], [[-BIG]], label_smoothing=0.2) == pytest.approx(0.1 * BIG)
    # focal at a confident wrong prediction: (1 - p_t)^gamma = 1, so alpha_t * BCE for every gamma
    for gamma in (0.0, 0.5, 2.0):
        assert value("sigmoid_focal", [[1.0, 0.0]], [[-BIG, BIG]], gamma=gamma) == pytest.approx(0.5 * BIG)
        assert value("sigmoid_focal", [[1.0, 0.0]], [[BIG, -BIG]], gamma=gamma) == 0.0
    assert value("softmax_ce", [[0.0, 1.0, 0.0]], [[BIG, -BIG, -BIG]]) == 2 * BIG
    assert value("softmax_ce", [[0.0, 1.0, 0.0]], [[BIG, BIG, BIG]]) == pytest.approx(np.log(3.0))
    assert value("sigmoid_dice", [[1.0, 0.0]], [[-BIG, BIG]]) == pytest.approx(1.0 - 1.0 / 3.0)
    assert value("soft_dice", [[[1.0], [0.0]]], [[[-BIG], [BIG]]]) == pytest.approx(1.0 - 1.0 / 3.0)
    assert value("dice_bce", [[[1.0], [0.0]]], [[[-BIG], [BIG]]]) == pytest.approx(BIG + 1.0 - 1.0 / 3.0)
    assert value("ns_gan_generator", [[0.0]], [[-BIG]]) == BIG
    assert value("ls_gan_generator", [[0.0]], [[-BIG]]) == pytest.approx(0.5 * (BIG + 1) ** 2, rel=1e-7)


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_vae_kl_beyond_the_exp_limit(dtype):
    """Past log σ² = L the exp is continued linearly: finite, continuous, and the gradient still lowers log σ²."""
    loss = lossreg.get("vae_kl")
    v = np.array([[BIG, LOG_VAR_LIMIT, 0.0, -BIG]], dtype)
    mu = np.array([[0.0, 0.0, BIG, 0.0]], dtype)
    value, grads = value_and_grad(lambda **z: loss({}, z), {"z_mean": mu, "z_log_var": v}, ["z_mean", "z_log_var"])
    d_mu, d_v = grads["z_mean"], grads["z_log_var"]
    e_limit = np.exp(LOG_VAR_LIMIT)
    per_latent = [1 + BIG - e_limit * (1 + BIG - LOG_VAR_LIMIT), 1 + LOG_VAR_LIMIT - e_limit, -(BIG**2), 1 - BIG]
    expected = -0.5 * sum(per_latent)
    assert float(value) == pytest.approx(expected, rel=1e-6)
    # d/dv = (exp(min(v, L)) - 1) / 2: exp(L) - 1 over the limit (pulling log σ² down), -1/2 at σ² -> 0; at v = L
    # exactly: test_vae_kl_gradient_at_the_limit
    rtol = 1e-3 if dtype == "float16" else 1e-6
    away_from_l = [0, 2, 3]
    np.testing.assert_allclose(np.asarray(d_v, np.float64)[:, away_from_l], [[(e_limit - 1) / 2, 0.0, -0.5]], rtol=rtol)
    np.testing.assert_allclose(np.asarray(d_mu, np.float64), [[0.0, 0.0, BIG, 0.0]], rtol=rtol)
    # continuous at the limit: just below and just above agree to first order
    below, above = (
        float(ops.convert_to_numpy(loss({}, {"z_mean": tensor([[0.0]]), "z_log_var": tensor([[LOG_VAR_LIMIT + d]])})))
        for d in (-1e-3, 1e-3)
    )
    slope = (e_limit - 1) / 2
    assert above - below == pytest.approx(2e-3 * slope, rel=1e-2)


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_vae_kl_gradient_at_the_limit(dtype):
    """At log σ² = L exactly both pieces have slope exp(L): d/dv = (exp(L) - 1) / 2, as on either side."""
    loss = lossreg.get("vae_kl")
    inputs = {"z_mean": np.zeros((1, 1), dtype), "z_log_var": np.full((1, 1), LOG_VAR_LIMIT, dtype)}
    _, grads = value_and_grad(lambda **z: loss({}, z), inputs, ["z_log_var"])
    rtol = 1e-3 if dtype == "float16" else 1e-6
    np.testing.assert_allclose(
        np.asarray(grads["z_log_var"], np.float64), [[(np.exp(LOG_VAR_LIMIT) - 1) / 2]], rtol=rtol
    )


def test_float16_loss_dtype():
    """A ``RegisteredLoss(dtype="float16")`` on eight confidently wrong logits: mean 1e4, sum 8e4 > 65504."""
    loss = lossreg.RegisteredLoss([{"loss": "sigmoid_bce"}], dtype="float16")
    inputs = {"y_true": np.ones((2, 4), "float16"), "y_pred": np.full((2, 4), -BIG, "float16")}
    value, grads = value_and_grad(loss, inputs, ["y_pred"])
    assert value.dtype == "float16"
    assert float(value) == BIG
    np.testing.assert_array_equal(np.asarray(grads["y_pred"], np.float64), np.full((2, 4), -1 / 8))


# ----------------------------------------------------------------------------------------------------------------
# mixed precision: float16 Dense outputs at ±1e4, one training step


@pytest.fixture
def mixed_float16() -> Iterator[None]:
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


ROWS = 4  # batch of the models: input row b is the b-th unit vector, so Dense row b is the kernel's row b


def logit_head(x: Any, name: str, logits: np.ndarray) -> tuple[Any, Any]:
    """A float16 Dense whose outputs on the unit-vector batch are exactly ``logits`` (±1e4), reshaped like them."""
    dense = keras.layers.Dense(int(np.prod(logits.shape[1:])), name=f"{name}_dense")
    out = dense(x)
    if logits.ndim > 2:
        out = keras.layers.Reshape(logits.shape[1:], name=name)(out)
    dense.set_weights([logits.reshape(ROWS, -1).astype("float32"), np.zeros(dense.units, "float32")])
    return out, dense


def tile_rows(a: np.ndarray) -> np.ndarray:
    return np.concatenate([a] * (ROWS // a.shape[0]), axis=0)


def test_mixed_float16_one_training_step(mixed_float16):
    """One model, a head per compilable loss family, compiled with lossreg.resolve and trained one step.

    The heads compute in float16 (their outputs are float16 at exactly ±1e4); each loss is computed in float32. The
    default loss scale (2**15) leaves every scaled gradient inside float16, so the step is applied: each loss is
    finite and right, and the weights are finite and moved towards the targets.
    """
    families = {  # output name -> (config, regime)
        "softmax": (next(c for c in CONFIGS if c.name == "softmax_ce" and not c.params), "mixed"),
        "focal": (next(c for c in CONFIGS if c.name == "sigmoid_focal" and c.params == {"gamma": 0.5}), "mixed"),
        "pairs": (next(c for c in CONFIGS if c.name == "band_masked_softmax_ce"), "mixed"),
        "dice": (next(c for c in CONFIGS if c.name == "sigmoid_dice"), "mixed"),
        "seg": (next(c for c in CONFIGS if c.name == "dice_bce" and c.kind == "categorical"), "mixed"),
        "gan": (next(c for c in CONFIGS if c.name == "ns_gan_generator"), "all_neg"),
    }
    inputs = {key: make_inputs(config, regime) for key, (config, regime) in families.items()}
    x_in = keras.Input((ROWS,), name="x")
    outputs, denses = {}, {}
    for key, data in inputs.items():
        outputs[key], denses[key] = logit_head(x_in, key, tile_rows(data.tensors["y_pred"]))
    model = keras.Model(x_in, outputs)
    assert all(out.dtype == "float16" for out in model.outputs)
    spec = {key: {"loss": config.name, "params": config.params} for key, (config, _) in families.items()}
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0), loss=lossreg.resolve(spec, model=model))

    targets = {key: tile_rows(np.asarray(data.y_true, "float32")) for key, data in inputs.items()}
    logs = model.train_on_batch(np.eye(ROWS, dtype="float32"), targets, return_dict=True)

    for key, data in inputs.items():
        assert_finite(f"{key}_loss", logs[f"{key}_loss"])
        expected = float(np.mean(np.concatenate([data.expected] * (ROWS // B))))
        assert logs[f"{key}_loss"] == pytest.approx(expected, rel=1e-5, abs=1e-6), key
    assert logs["loss"] == pytest.approx(sum(logs[f"{key}_loss"] for key in inputs), rel=1e-6)
    for key, dense in denses.items():
        for weight in dense.get_weights():
            assert_finite(f"{key} weights", weight)
        bias_step = dense.get_weights()[1].reshape(inputs[key].tensors["y_pred"].shape[1:])
        toward = np.sum(tile_rows(inputs[key].toward["y_pred"]), axis=0)
        # the bias moved by -lr * sum of the gradients: towards the targets wherever a wrong row pulls
        if families[key][0].pulls:
            assert np.all(bias_step * toward >= 0) and np.sum(bias_step * toward) > 0, (key, bias_step)


@dataclass
class ExtrasModel:
    """A model whose float16 heads give vae_kl and mse_bce (through LossLayer) their inputs at ±1e4."""

    model: keras.Model
    x: np.ndarray
    y: np.ndarray
    kl_expected: float
    rec_expected: float


def extras_model() -> ExtrasModel:
    latent_data = latent("mixed")
    bce = make_inputs(next(c for c in CONFIGS if c.name == "mse_bce" and c.params), "mixed")
    x_in = keras.Input((ROWS,), name="x")
    target = keras.Input(BINARY_Y.shape[1:], name="target")
    z_mean, _ = logit_head(x_in, "z_mean", tile_rows(latent_data["z_mean"]))
    z_log_var, _ = logit_head(x_in, "z_log_var", tile_rows(latent_data["z_log_var"]))
    logits, _ = logit_head(x_in, "logits", tile_rows(bce.tensors["y_pred"]))
    aux, _ = logit_head(x_in, "aux", tile_rows(bce.tensors["aux"]))
    kl = lossreg.LossLayer("vae_kl", name="kl")([z_mean, z_log_var])
    out = lossreg.LossLayer("mse_bce", params={"from_logits": True}, name="rec")([target, aux, logits])
    model = keras.Model([x_in, target], [out, kl])
    model.compile(optimizer="sgd")
    kl_expected = float(np.mean(REFERENCES["vae_kl"](latent_data)))
    x, y = np.eye(ROWS, dtype="float32"), tile_rows(BINARY_Y.astype("float32"))
    return ExtrasModel(model, x, y, kl_expected, float(np.mean(bce.expected)))


def test_mixed_float16_losses_with_extra_tensors(mixed_float16):
    """vae_kl and mse_bce (extras: z_mean, z_log_var, aux) through LossLayer on float16 heads at ±1e4.

    train_on_batch gives a finite, right total loss and finite weights. The gradients on the float16 heads are finite
    without loss scaling (taken by the backend's own autodiff through ``model.stateless_call``): vae_kl's
    d/d log σ² is at most (exp(L) - 1) / 2 per element. Each term's own log: the test below.
    """
    m = extras_model()
    model = m.model
    weights = {f"w{i}": ops.convert_to_numpy(w) for i, w in enumerate(model.trainable_variables)}
    fixed = [ops.convert_to_numpy(w) for w in model.non_trainable_variables]

    def total_loss(**trainable: Any) -> Any:  # the sum of the layers' add_loss values, as a function of the weights
        variables = [trainable[f"w{i}"] for i in range(len(trainable))]
        *_, losses = model.stateless_call(variables, fixed, [m.x, m.y], training=True, return_losses=True)
        assert len(losses) == 2  # kl and rec
        return losses[0] + losses[1]

    total, grads = value_and_grad(total_loss, weights, list(weights))
    assert float(total) == pytest.approx(m.kl_expected + m.rec_expected, rel=1e-5)
    for key, grad in grads.items():
        assert grad is not None, f"no gradient flows to {key}"
        assert_finite("gradient under mixed_float16", grad)

    logs = model.train_on_batch([m.x, m.y], return_dict=True)
    assert logs["loss"] == pytest.approx(m.kl_expected + m.rec_expected, rel=1e-5)
    for weight in model.get_weights():
        assert_finite("weights", weight)


def test_mixed_float16_losses_with_extra_tensors_logs_each_term(mixed_float16):
    """fit logs each LossLayer's own value (kl_loss, rec_loss), right at ±1e4 under mixed_float16.

    One epoch of one batch: History holds that step's figures (per-batch figures, as train_on_batch returns,
    are NaN inside a compiled JAX step: docs/backends.md).
    """
    m = extras_model()
    history = m.model.fit([m.x, m.y], batch_size=len(m.x), epochs=1, verbose=0).history
    logs = {key: values[0] for key, values in history.items()}
    assert logs["kl_loss"] == pytest.approx(m.kl_expected, rel=1e-5)
    assert logs["rec_loss"] == pytest.approx(m.rec_expected, rel=1e-5)
    assert logs["loss"] == pytest.approx(logs["kl_loss"] + logs["rec_loss"], rel=1e-6)


# ----------------------------------------------------------------------------------------------------------------
# issue 12: the matrix with ignored elements (NaN and ±inf logits there), float32 and float16

#: (loss, params, how elements are ignored): every core loss and option that changes the arithmetic
IGNORED_CONFIGS = [
    ("sigmoid_bce", {"ignore_class": 255}, "value"),
    ("sigmoid_bce", {"ignore_class": -1, "pos_weight": 3.0, "class_weights": [0.5, 2.0]}, "value"),
    ("sigmoid_bce", {"label_smoothing": 0.2}, "mask"),
    ("sigmoid_focal", {"ignore_class": 255, "gamma": 0.5}, "value"),
    ("sigmoid_focal", {"alpha": None, "gamma": 2.0, "class_weights": [2.0, 1.0]}, "mask"),
    ("sigmoid_dice", {"ignore_class": 255}, "value"),
    ("sigmoid_dice", {}, "mask"),
    ("softmax_ce", {"ignore_class": 2, "class_weights": [1.0, 2.0, 0.5]}, "channel"),
    ("softmax_ce", {"label_smoothing": 0.1}, "mask"),
    ("sparse_softmax_ce", {"ignore_class": 255}, "value"),
    ("sparse_softmax_ce", {"ignore_class": -1, "class_weights": [1.0, 2.0, 0.5]}, "value"),
    ("band_masked_softmax_ce", {"ignore_class": 2, "normalize": "band", "lower": 1, "upper": 1}, "channel"),
    ("band_masked_softmax_ce", {"class_weights": [1.0, 2.0, 0.5]}, "mask"),
    ("sparse_band_masked_softmax_ce", {"ignore_class": 255}, "value"),
    ("sparse_band_masked_softmax_ce", {"normalize": "band", "include_diagonal": True}, "mask"),
]
#: where elements are ignored: every third element (pixel, pair) in C order, never the whole batch
BAD_LOGITS = (np.nan, np.inf, -np.inf)


def ignored_inputs(name: str, params: dict[str, Any], how: str, regime: str) -> tuple[Inputs, np.ndarray, dict]:
    """The regime's inputs (test_numerics' own, for the loss's kind) with every third element ignored: its target set
    to ``ignore_class`` (``how="value"``), labelled with the ignored channel (``"channel"``: its logits then pull
    towards another class, so the regime stays the same elsewhere) or 0 in a mask (``"mask"``); NaN, +inf and
    -inf logits at the ignored elements. Returns the inputs, the kept elements and the Keras call's extra inputs."""
    kind = "binary" if name.startswith("sigmoid") else ("pairs" if "band" in name else "categorical")
    config = Config(name, params, kind, REFERENCES[name])
    base = make_inputs(config, regime)
    y, x = np.array(base.y_true, float), np.array(base.tensors["y_pred"], float)
    site = y.shape if kind == "binary" or takes_class_ids(name) else y.shape[:-1]
    ignored = (np.arange(int(np.prod(site))) % 3 == 1).reshape(site)
    extra: dict[str, np.ndarray] = {}
    if how == "value":
        y = np.where(ignored, float(params["ignore_class"]), y)
    elif how == "channel":
        y = np.where(ignored[..., None], np.eye(CLASSES)[params["ignore_class"]], y)
    else:
        extra["mask"] = (~ignored).astype(float)
    bad = np.resize(np.array(BAD_LOGITS), ignored.sum())
    x_site = x if kind == "binary" else x.reshape(*site, -1)
    x_site[ignored] = bad if kind == "binary" else bad[:, None]
    toward = {"y_pred": np.where(ignored if kind == "binary" else ignored[..., None], 0.0, base.toward["y_pred"])}
    clean = np.where(ignored if kind == "binary" else ignored[..., None], 0.0, x)
    values = REFERENCES[name]({"y_true": y, "y_pred": clean, **extra}, params)
    expected = keras_mean(values, counted(name, {"y_true": y, **extra}, params))
    return Inputs(y, {"y_pred": x}, toward, np.asarray(expected)), ~ignored, extra


def _params_id(params: dict[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in params.items())


IGNORED_MATRIX = covering(
    [
        pytest.param(name, params, how, regime, dtype, id=f"{name}({_params_id(params)})-{how}-{regime}-{dtype}")
        for name, params, how in IGNORED_CONFIGS
        for regime in LOGIT_REGIMES
        for dtype in DTYPES
    ],
    lambda name, params, how, regime, dtype: (name, _params_id(params), how),  # every configuration
    lambda name, params, how, regime, dtype: (name, dtype),  # every loss in both dtypes
    lambda name, params, how, regime, dtype: (how, regime, dtype),  # every way of ignoring, every regime, both dtypes
)


@pytest.mark.parametrize(("name", "params", "how", "regime", "dtype"), IGNORED_MATRIX)
def test_finite_and_right_at_extremes_with_ignored_elements(name, params, how, regime, dtype):
    inputs, kept, extra = ignored_inputs(name, params, how, regime)
    loss = lossreg.get(name, **params)
    fed = {"y_true": np.asarray(inputs.y_true, "int32" if takes_class_ids(name) else dtype)}
    fed["y_pred"] = np.asarray(inputs.tensors["y_pred"], dtype)
    fed.update({k: np.asarray(v, dtype) for k, v in extra.items()})

    def fn(y_true: Any, y_pred: Any, mask: Any = None) -> Any:
        return loss(y_true, y_pred if mask is None else {"y_pred": y_pred, "mask": mask})

    value, grads = value_and_grad(fn, fed, ["y_pred"])
    grad = grads["y_pred"]
    assert_finite(f"{name} value", value)
    assert grad is not None and grad.dtype == dtype
    assert_finite(f"{name} d/dy_pred", grad)
    ignored_grad = grad[~kept]
    assert np.all(ignored_grad == 0), f"{name}: gradient at ignored elements: {ignored_grad}"
    assert value.dtype == "float32"
    expected = float(inputs.expected)
    assert float(value) == pytest.approx(expected, rel=2e-6, abs=1e-6), f"{name} at {regime}"
    if name != "sigmoid_dice":  # an overlap term on saturated logits has no pull (Extreme.pulls=False)
        pull = np.asarray(grad, np.float64) * inputs.toward["y_pred"]
        assert np.all(pull <= 0), f"{name}: pushes a kept element away from its target: {grad}"
        if regime in ("disagree", "all_neg") and np.any(inputs.toward["y_pred"]):
            assert np.sum(pull) < 0, f"{name}: no gradient towards the target at {regime}"
