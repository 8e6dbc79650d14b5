"""Every lossreg built-in through ``lossreg.testing.check_loss``, against float64 NumPy references written here."""

from __future__ import annotations

import numpy as np
import pytest

import lossreg
from lossreg._registry import REGISTRY
from lossreg.testing import LossCheckError, check_loss

RNG = np.random.default_rng(20240601)


def _softplus(x):
    return np.logaddexp(0.0, x)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _log_softmax(x):
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def softmax_ce(y_true, y_pred, label_smoothing=0.0):
    y = y_true * (1 - label_smoothing) + label_smoothing / y_true.shape[-1]
    return -(y * _log_softmax(y_pred)).sum(axis=-1)


def sigmoid_bce(y_true, y_pred, label_smoothing=0.0, pos_weight=1.0):
    z = y_true * (1 - label_smoothing) + label_smoothing / 2
    return pos_weight * z * _softplus(-y_pred) + (1 - z) * _softplus(y_pred)


def sigmoid_focal(y_true, y_pred, alpha=0.25, gamma=2.0):
    p = _sigmoid(y_pred)
    p_t = y_true * p + (1 - y_true) * (1 - p)
    weight = 1.0 if alpha is None else y_true * alpha + (1 - y_true) * (1 - alpha)
    return weight * (1 - p_t) ** gamma * sigmoid_bce(y_true, y_pred)


def sigmoid_dice(y_true, y_pred, smooth=1.0):
    p = _sigmoid(y_pred)
    axes = tuple(range(1, y_pred.ndim))
    return 1 - (2 * (p * y_true).sum(axes) + smooth) / (p.sum(axes) + y_true.sum(axes) + smooth)


def band_masked_softmax_ce(y_true, y_pred, lower=0, upper=-1, include_diagonal=False, normalize="all"):
    n = y_pred.shape[1]
    ce = -(y_true * _log_softmax(y_pred)).sum(axis=-1)  # (batch, n, n)
    band = np.ones((n, n))
    if lower >= 0:
        band = np.triu(band, -lower)  # keeps j >= i - lower
    if upper >= 0:
        band = np.tril(band, upper)  # keeps j <= i + upper
    if not include_diagonal:
        band = band * (1 - np.eye(n))
    scale = n * n / band.sum() if normalize == "band" else 1.0
    return ce * band * scale


def mse_bce(y_true, y_pred, aux, mse_weight=1.0, bce_weight=1.0, from_logits=False):
    if from_logits:
        bce = sigmoid_bce(y_true, y_pred)
    else:
        p = np.clip(y_pred, 1e-7, 1 - 1e-7)
        bce = -(y_true * np.log(p) + (1 - y_true) * np.log(1 - p))
    return mse_weight * ((y_true - aux) ** 2).mean(axis=-1) + bce_weight * bce.mean(axis=-1)


def vae_kl(y_true, y_pred, z_mean, z_log_var, beta=1.0):
    return -0.5 * beta * (1 + z_log_var - z_mean**2 - np.exp(z_log_var)).sum(axis=-1)


def _one_hot(shape, classes):
    return np.eye(classes)[RNG.integers(0, classes, shape)]


def _binary(shape):
    return (RNG.random(shape) < 0.5) * 1.0


PAIRS = {"y_true": _one_hot((2, 4, 4), 3), "y_pred": RNG.normal(size=(2, 4, 4, 3)) * 2}
PROBS = {"y_true": _binary((3, 5)), "y_pred": RNG.uniform(0.05, 0.95, (3, 5)), "aux": RNG.normal(size=(3, 5))}

# (loss, reference, check_loss keyword arguments); every lossreg built-in appears at least once.
CASES = [
    ("softmax_ce", softmax_ce, {"inputs": {"y_true": _one_hot((4,), 5), "y_pred": RNG.normal(size=(4, 5)) * 3}}),
    (
        "softmax_ce",
        softmax_ce,
        {
            "params": {"label_smoothing": 0.2},
            "inputs": {"y_true": _one_hot((1,), 4), "y_pred": RNG.normal(size=(1, 4))},
        },
    ),
    ("sigmoid_bce", sigmoid_bce, {}),
    ("sigmoid_bce", sigmoid_bce, {"params": {"label_smoothing": 0.1, "pos_weight": 3.0}, "train": False}),
    ("sigmoid_focal", sigmoid_focal, {}),
    ("sigmoid_focal", sigmoid_focal, {"params": {"alpha": None, "gamma": 0.5}, "train": False}),
    (
        "sigmoid_dice",
        sigmoid_dice,
        {"inputs": {"y_true": _binary((3, 4, 4, 1)), "y_pred": RNG.normal(size=(3, 4, 4, 1))}},
    ),
    ("band_masked_softmax_ce", band_masked_softmax_ce, {"inputs": PAIRS}),
    (
        "band_masked_softmax_ce",
        band_masked_softmax_ce,
        {"inputs": PAIRS, "params": {"lower": 1, "upper": 1, "include_diagonal": True, "normalize": "band"}},
    ),
    ("mse_bce", mse_bce, {"inputs": PROBS, "extreme": "probabilities", "activation": "sigmoid"}),
    ("mse_bce", mse_bce, {"params": {"from_logits": True, "mse_weight": 0.5}, "train": False}),
    (
        "vae_kl",
        vae_kl,
        {
            "params": {"beta": 0.5},
            "inputs": {"z_mean": RNG.normal(size=(4, 3)), "z_log_var": RNG.normal(size=(4, 3)) * 0.5},
            # Log-variances of ±1e4 are no VAE's: exp(1e4) overflows every float, and the gradient exp(z_log_var)
            # of a float16 input overflows float16 above log(65504) ≈ 11. So: means of ±1e4, log-variances ±10.
            "extreme": {"z_mean": np.full((4, 3), 1e4) * [1, -1, 1], "z_log_var": np.full((4, 3), 10.0) * [1, -1, 1]},
        },
    ),
]


def test_every_lossreg_builtin_has_a_case():
    builtins = {name for name in lossreg.names() if REGISTRY.entry(name).source == "lossreg"}
    assert builtins == {name for name, _, _ in CASES}


@pytest.mark.parametrize(("name", "reference", "kwargs"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_builtin_conforms(name, reference, kwargs):
    report = check_loss(name, reference=reference, **kwargs)
    assert report.reference_value is not None and report.value == pytest.approx(report.reference_value, rel=1e-5)
    if kwargs.get("train", True):
        assert report.loss_after < report.loss_before


def test_check_loss_checks_the_declaration_against_real_inputs():
    assert check_loss("sigmoid_bce", reference=sigmoid_bce, train=False).checks[0] == "inputs"

    @lossreg.register("test_conformance_misdeclared", shapes={"y_true": "batch n n", "y_pred": "batch n n"})
    def misdeclared():
        """Element-wise BCE on logits, declared as if it only took n x n maps (a wrong declaration)."""
        return REGISTRY.build("sigmoid_bce")  # the built-in's own function: only the declaration is wrong

    try:
        with pytest.raises(LossCheckError, match=r"'inputs' check.*shaped \(batch, n, n\).*received shape \(4, 6\)"):
            check_loss("test_conformance_misdeclared", reference=sigmoid_bce, train=False)
        report = check_loss(
            "test_conformance_misdeclared",
            reference=sigmoid_bce,
            inputs={"y_true": np.eye(3)[None].repeat(2, 0), "y_pred": np.linspace(-3, 3, 18).reshape(2, 3, 3)},
            train=False,
        )
        assert report.checks[0] == "inputs"
    finally:
        REGISTRY.remove("test_conformance_misdeclared")


def test_check_loss_catches_a_wrong_reference():
    with pytest.raises(LossCheckError, match=r"'value' check.*loss .* != reference"):
        check_loss("sigmoid_bce", reference=lambda y, x: sigmoid_bce(y, x) * 1.01, train=False)


def test_check_loss_catches_a_wrong_gradient():
    """A loss whose forward value is right but whose gradient is cut must fail the gradient check."""

    @lossreg.register("test_conformance_stopped", override=True)
    def stopped():
        """BCE on logits with the gradient stopped (a deliberately broken loss)."""
        from keras import ops

        def loss(y_true, y_pred):
            y_pred = ops.stop_gradient(ops.convert_to_tensor(y_pred, "float32"))
            return ops.relu(y_pred) - y_pred * y_true + ops.log1p(ops.exp(-ops.abs(y_pred)))

        return loss

    try:
        with pytest.raises(LossCheckError, match=r"'gradient' check.*no gradient flows"):
            check_loss("test_conformance_stopped", reference=sigmoid_bce, train=False)
    finally:
        REGISTRY.remove("test_conformance_stopped")


def test_check_loss_catches_overflow_at_extreme_logits():
    @lossreg.register("test_conformance_naive", override=True)
    def naive():
        """BCE on logits written the naive way: log(1 + exp(x)) overflows for large logits."""
        from keras import ops

        def loss(y_true, y_pred):
            y_pred = ops.convert_to_tensor(y_pred, "float32")
            return ops.log(1.0 + ops.exp(y_pred)) - y_pred * y_true

        return loss

    try:
        with pytest.raises(LossCheckError, match=r"'extreme' check.*not finite"):
            check_loss("test_conformance_naive", reference=sigmoid_bce, train=False)
    finally:
        REGISTRY.remove("test_conformance_naive")
