"""Float64 NumPy building blocks of the references, stable at logits of ±1e4 (logaddexp, never exp of a big number)."""

from __future__ import annotations

import numpy as np

#: Keras clips probabilities to [eps, 1 - eps] with eps = keras.config.epsilon() = 1e-7, in float32: the bounds it
#: really uses are these float32 numbers (1 - 1e-7 rounds to 1 - 1.19e-7, a 1 % difference in -log(1 - p)).
EPS_LO, EPS_HI = float(np.float32(1e-7)), float(np.float32(1.0 - 1e-7))


def log_sigmoid(x: np.ndarray) -> np.ndarray:
    """log(sigmoid(x)) = -softplus(-x), without overflow."""
    return -np.logaddexp(0.0, -x)


def log_softmax(x: np.ndarray) -> np.ndarray:
    m = np.max(x, axis=-1, keepdims=True)
    return x - m - np.log(np.sum(np.exp(x - m), axis=-1, keepdims=True))


def softmax(x: np.ndarray) -> np.ndarray:
    return np.exp(log_softmax(x))


def non_batch(x: np.ndarray) -> tuple[int, ...]:
    return tuple(range(1, x.ndim))


def bce_logits(z: np.ndarray, x: np.ndarray, pos_weight: float = 1.0) -> np.ndarray:
    """-(q z log σ(x) + (1 - z) log(1 - σ(x))), with log(1 - σ(x)) = log σ(-x)."""
    return -(pos_weight * z * log_sigmoid(x) + (1.0 - z) * log_sigmoid(-x))


def bce_probabilities(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Binary cross-entropy on probabilities clipped as Keras clips them."""
    p = np.clip(p, EPS_LO, EPS_HI)
    return -(y * np.log(p) + (1.0 - y) * np.log(1.0 - p))


# ---- input recipes' building blocks


def one_hot(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """One-hot rows over the last axis of ``shape``."""
    return np.eye(shape[-1])[rng.integers(0, shape[-1], shape[:-1])]


def probability_rows(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Rows of a softmax, bounded away from 0 and 1 (the clip at 1e-7 stays inactive)."""
    e = np.exp(rng.normal(0.0, 1.0, shape))
    return e / e.sum(-1, keepdims=True)
