r"""lossreg's built-in losses: float64 references from each loss's documented formula (its docstring, not its code),
their input recipes and the cases every suite runs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ._numpy import (
    EPS_HI,
    EPS_LO,
    bce_logits,
    bce_probabilities,
    log_sigmoid,
    log_softmax,
    non_batch,
    one_hot,
    probability_rows,
)
from ._record import Conformance, Extreme, Reference, Shape

# ---- formulas


def softmax_ce(y: np.ndarray, x: np.ndarray, label_smoothing: float = 0.0) -> np.ndarray:
    """-sum_c ỹ_c log softmax(x)_c with ỹ = (1 - s) y + s / C; one value per sample (last axis reduced)."""
    y = y * (1.0 - label_smoothing) + label_smoothing / y.shape[-1]
    return -np.sum(y * log_softmax(x), axis=-1)


def sigmoid_bce(z: np.ndarray, x: np.ndarray, label_smoothing: float = 0.0, pos_weight: float = 1.0) -> np.ndarray:
    z = z * (1.0 - label_smoothing) + 0.5 * label_smoothing
    return bce_logits(z, x, pos_weight)


def sigmoid_focal(z: np.ndarray, x: np.ndarray, alpha: float | None = 0.25, gamma: float = 2.0) -> np.ndarray:
    """alpha_t (1 - p_t)^gamma BCE, p = σ(x), p_t = z p + (1 - z)(1 - p), alpha_t = z α + (1 - z)(1 - α)."""
    p = np.exp(log_sigmoid(x))
    p_t = z * p + (1.0 - z) * (1.0 - p)
    loss = (1.0 - p_t) ** gamma * bce_logits(z, x)
    if alpha is not None:
        loss = (z * alpha + (1.0 - z) * (1.0 - alpha)) * loss
    return loss


def sigmoid_dice(y: np.ndarray, x: np.ndarray, smooth: float = 1.0) -> np.ndarray:
    """1 - (2 Σ p y + s) / (Σ p + Σ y + s) per sample, p = σ(x), sums over every non-batch axis."""
    p = np.exp(log_sigmoid(x))
    axes = non_batch(x)
    return 1.0 - (2.0 * np.sum(p * y, axis=axes) + smooth) / (np.sum(p, axis=axes) + np.sum(y, axis=axes) + smooth)


def band_masked_softmax_ce(
    y: np.ndarray,
    x: np.ndarray,
    lower: int = 0,
    upper: int = -1,
    include_diagonal: bool = False,
    from_logits: bool = True,
    normalize: str = "all",
) -> np.ndarray:
    """Per-pair CE, times the band mask m_ij (and n² / Σm for normalize="band"); shape (batch, n, n)."""
    if from_logits:
        ce = -np.sum(y * log_softmax(x), axis=-1)
    else:
        p = np.clip(x / np.sum(x, axis=-1, keepdims=True), EPS_LO, EPS_HI)
        ce = -np.sum(y * np.log(p), axis=-1)
    n = x.shape[1]
    i, j = np.indices((n, n))
    keep = np.ones((n, n), bool)
    if lower >= 0:
        keep &= i - j <= lower
    if upper >= 0:
        keep &= j - i <= upper
    if not include_diagonal:
        keep &= i != j
    out = np.where(keep, ce, 0.0)
    if normalize == "band":
        out = out * (n * n / keep.sum()) if keep.any() else out
    return out


def mse_bce(
    y: np.ndarray,
    x: np.ndarray,
    aux: np.ndarray,
    mse_weight: float = 1.0,
    bce_weight: float = 1.0,
    from_logits: bool = False,
) -> np.ndarray:
    """w_m mean((y - a)²) + w_b mean(BCE(y, p)) per sample; probabilities clipped as Keras clips them."""
    axes = non_batch(y)
    mse = np.mean((y - aux) ** 2, axis=axes)
    bce = bce_logits(y, x) if from_logits else bce_probabilities(y, x)
    return mse_weight * mse + bce_weight * np.mean(bce, axis=axes)


#: log σ² above which vae_kl continues exp linearly (the constant its docstring states)
LOG_VAR_LIMIT = 10.0


def vae_kl(y: Any, x: Any, z_mean: np.ndarray, z_log_var: np.ndarray, beta: float = 1.0) -> np.ndarray:
    """-β/2 Σ (1 + v - μ² - e^v) per sample, with e^v continued linearly past v = LOG_VAR_LIMIT."""
    v, limit = z_log_var, LOG_VAR_LIMIT
    var = np.where(v > limit, np.exp(limit) * (1.0 + v - limit), np.exp(np.minimum(v, limit)))
    return -0.5 * beta * np.sum(1.0 + v - z_mean**2 - var, axis=-1)


# ---- input recipes (the draw order is part of the committed golden values: keep it)


def categorical_inputs(rng: np.random.Generator, shape: Shape, params: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """One-hot targets; logits N(0, 3²), or softmax rows for ``from_logits=False``."""
    y_true = one_hot(rng, shape)
    y_pred = rng.normal(0.0, 3.0, shape) if params.get("from_logits", True) else probability_rows(rng, shape)
    return {"y_true": y_true, "y_pred": y_pred}


def binary_inputs(rng: np.random.Generator, shape: Shape, params: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """0/1 targets, logits N(0, 3²)."""
    return {"y_true": rng.integers(0, 2, shape).astype(float), "y_pred": rng.normal(0.0, 3.0, shape)}


def mse_bce_inputs(rng: np.random.Generator, shape: Shape, params: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Soft targets in [0, 1], a sigmoid output (or logits N(0, 2²)), an intermediate tensor N(0.5, 0.5²)."""
    y_pred = rng.normal(0.0, 2.0, shape) if params.get("from_logits") else rng.uniform(0.02, 0.98, shape)
    return {"y_true": rng.uniform(0.0, 1.0, shape), "y_pred": y_pred, "aux": rng.normal(0.5, 0.5, shape)}


def latent_inputs(rng: np.random.Generator, shape: Shape, params: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """A VAE encoder's z_mean N(0, 1) and z_log_var N(0, 0.5²), shaped (batch, latent)."""
    return {"z_mean": rng.normal(0.0, 1.0, shape), "z_log_var": rng.normal(0.0, 0.5, shape)}


# ---- the table

BAND = {"lower": 1, "upper": 1, "include_diagonal": True, "normalize": "band"}
#: Log-variances of ±1e4 are no VAE's: exp(1e4) overflows every float, and the gradient exp(z_log_var) of a float16
#: input overflows float16 above log(65504) ≈ 11. So check_loss's extreme check: means of ±1e4, log-variances ±10.
VAE_EXTREME = {"z_mean": np.full((4, 3), 1e4) * [1, -1, 1], "z_log_var": np.full((4, 3), 10.0) * [1, -1, 1]}

BUILTIN_REFERENCES = (
    Reference(
        "softmax_ce",
        softmax_ce,
        categorical_inputs,
        golden=(
            ({}, ((1, 5), (4, 3), (2, 3, 6))),
            ({"label_smoothing": 0.1}, ((1, 5), (4, 3))),
            ({"label_smoothing": 0.35}, ((3, 7),)),
        ),
        conformance=(Conformance({}, (4, 5)), Conformance({"label_smoothing": 0.2}, (1, 4))),
        extremes=(Extreme({}, "categorical"), Extreme({"label_smoothing": 0.1}, "categorical")),
        tf_extremes=(("logits", {}), ("logits", {"label_smoothing": 0.1})),
    ),
    Reference(
        "sigmoid_bce",
        sigmoid_bce,
        binary_inputs,
        golden=(
            ({}, ((1, 6), (3, 2, 4))),
            ({"label_smoothing": 0.2}, ((1, 6), (4, 5))),
            ({"pos_weight": 3.0}, ((1, 6), (4, 5))),
            ({"label_smoothing": 0.1, "pos_weight": 0.5}, ((3, 2, 4),)),
        ),
        conformance=(
            Conformance({}, (4, 6)),
            Conformance({"label_smoothing": 0.1, "pos_weight": 3.0}, (4, 6), {"train": False}),
        ),
        extremes=(
            Extreme({}, "binary"),
            Extreme({"pos_weight": 3.0}, "binary"),
            Extreme({"label_smoothing": 0.2, "pos_weight": 0.5}, "binary"),
        ),
        tf_extremes=(("logits", {}), ("logits", {"label_smoothing": 0.1, "pos_weight": 1.5})),
    ),
    Reference(
        "sigmoid_focal",
        sigmoid_focal,
        binary_inputs,
        golden=(
            ({}, ((1, 6), (3, 2, 4))),
            ({"alpha": None, "gamma": 0.0}, ((4, 5),)),
            ({"alpha": 0.5, "gamma": 0.5}, ((1, 6), (4, 5))),
            ({"alpha": 0.75, "gamma": 3.0}, ((4, 5),)),
            ({"alpha": None, "gamma": 1.0}, ((3, 2, 4),)),
        ),
        conformance=(Conformance({}, (4, 6)), Conformance({"alpha": None, "gamma": 0.5}, (4, 6), {"train": False})),
        extremes=(
            Extreme({"gamma": 0.0}, "binary"),
            Extreme({"gamma": 0.5}, "binary"),
            Extreme({"gamma": 2.0}, "binary"),
            Extreme({"alpha": None, "gamma": 0.5}, "binary"),
        ),
        tf_extremes=(
            ("logits", {}),
            ("logits", {"alpha": 0.5, "gamma": 0.5}),
            ("logits", {"alpha": None, "gamma": 0.0}),
        ),
    ),
    Reference(
        "sigmoid_dice",
        sigmoid_dice,
        binary_inputs,
        golden=(
            ({}, ((1, 4, 4, 1), (3, 5))),
            ({"smooth": 1e-3}, ((1, 4, 4, 1), (3, 5))),
            ({"smooth": 10.0}, ((2, 3, 3, 2),)),
        ),
        conformance=(Conformance({}, (3, 4, 4, 1)),),
        extremes=(Extreme({}, "binary", pulls=False),),
        tf_extremes=(("logits", {}), ("logits", {"smooth": 1e-3})),
    ),
    Reference(
        "band_masked_softmax_ce",
        band_masked_softmax_ce,
        categorical_inputs,
        golden=(
            ({}, ((1, 4, 4, 3), (3, 5, 5, 4))),
            ({"lower": 1, "upper": 1}, ((1, 4, 4, 3), (2, 5, 5, 2))),
            ({"lower": -1, "upper": 0, "include_diagonal": True}, ((2, 4, 4, 3),)),
            ({"lower": -1, "upper": -1}, ((2, 3, 3, 4),)),
            ({"upper": 2, "include_diagonal": True, "normalize": "band"}, ((1, 5, 5, 3),)),
            ({"normalize": "band"}, ((3, 4, 4, 2),)),
            ({"from_logits": False}, ((1, 4, 4, 3), (2, 4, 4, 3))),
            ({"from_logits": False, "lower": 2, "normalize": "band"}, ((2, 5, 5, 3),)),
        ),
        conformance=(Conformance({}, (2, 4, 4, 3)), Conformance(BAND, (2, 4, 4, 3))),
        extremes=(
            Extreme({}, "pairs"),
            Extreme({"lower": 1, "upper": 1, "normalize": "band"}, "pairs"),
            # probabilities exactly 0 and 1 are clipped to [eps, 1 - eps], where the clip passes no gradient (as Keras)
            Extreme({"from_logits": False}, "pair_probs", pulls=False),
            Extreme({"from_logits": False, "include_diagonal": True, "normalize": "band"}, "pair_probs", pulls=False),
        ),
        tf_extremes=(
            ("logits", {}),
            ("logits", BAND),
            ("probabilities", {"from_logits": False}),
            ("probabilities", {"from_logits": False, "lower": -1, "include_diagonal": True, "normalize": "band"}),
        ),
    ),
    Reference(
        "mse_bce",
        mse_bce,
        mse_bce_inputs,
        extras=("aux",),
        golden=(
            ({}, ((1, 6), (3, 4, 4, 1))),
            ({"mse_weight": 0.5, "bce_weight": 2.0}, ((1, 6), (4, 5))),
            ({"from_logits": True}, ((1, 6), (3, 4, 4, 1))),
            ({"mse_weight": 0.0, "bce_weight": 0.25, "from_logits": True}, ((4, 5),)),
        ),
        conformance=(
            Conformance({}, (3, 5), {"extreme": "probabilities", "activation": "sigmoid"}),
            Conformance({"from_logits": True, "mse_weight": 0.5}, (4, 6), {"train": False}),
        ),
        extremes=(Extreme({"from_logits": True}, "binary"), Extreme({}, "binary_probs", pulls=False)),
        tf_extremes=(
            ("logits", {"from_logits": True}),
            ("probabilities", {}),
            ("probabilities", {"mse_weight": 0.5, "bce_weight": 2.0}),
        ),
    ),
    Reference(
        "vae_kl",
        vae_kl,
        latent_inputs,
        extras=("z_mean", "z_log_var"),
        # no golden values: it reads neither y_true nor y_pred, which the golden suite's raw-TF comparison feeds
        conformance=(Conformance({"beta": 0.5}, (4, 3), {"extreme": VAE_EXTREME}),),
        extremes=(Extreme({}, "latent"), Extreme({"beta": 4.0}, "latent")),
    ),
)
