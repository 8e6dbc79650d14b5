r"""Float64 NumPy references of the GAN losses: each documented formula, written once, in NumPy.

The one reference of each loss, independent of ``keras.ops``: this plugin's tests check the losses against it
(``lossreg.testing.check_loss``) and so does lossreg's numerics matrix. It imports only NumPy and stays finite at
logits of :math:`\pm 10^4` (:math:`-\log \sigma(f) = \mathrm{softplus}(-f)` through ``logaddexp``).

Each function is called as the loss is, ``fn(y_true, y_pred, **extras, **params)`` with the loss's defaults, and
returns one float64 value per sample: the mean over the non-batch axes. Generator losses read the fake logits
:math:`f` as ``y_pred`` and ignore ``y_true``; discriminator losses read ``real_logits`` :math:`r` and
``fake_logits`` :math:`f` and ignore both ``y_true`` and ``y_pred`` (pass ``None``).

Examples:

>>> import numpy as np
>>> hinge_gan_discriminator(None, None, real_logits=np.array([[2.0], [0.0]]), fake_logits=np.array([[-2.0], [0.5]]))
array([0. , 2.5])
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = [
    "REFERENCES",
    "hinge_gan_discriminator",
    "hinge_gan_generator",
    "ls_gan_discriminator",
    "ls_gan_generator",
    "ns_gan_discriminator",
    "ns_gan_generator",
]


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


def _mean(x: np.ndarray) -> np.ndarray:
    """The per-sample mean over every non-batch axis."""
    return np.mean(x, axis=tuple(range(1, x.ndim)))


def ns_gan_generator(y_true: Any, y_pred: np.ndarray) -> np.ndarray:
    """``-log sigmoid(f)`` (Goodfellow et al. 2014), as ``softplus(-f)``."""
    return _mean(_softplus(-y_pred))


def hinge_gan_generator(y_true: Any, y_pred: np.ndarray) -> np.ndarray:
    """``-f`` (Lim & Ye 2017)."""
    return _mean(-y_pred)


def ls_gan_generator(y_true: Any, y_pred: np.ndarray, target: float = 1.0) -> np.ndarray:
    """``(f - c)² / 2`` (Mao et al. 2017)."""
    return _mean(0.5 * (y_pred - target) ** 2)


def ns_gan_discriminator(
    y_true: Any, y_pred: Any, real_logits: np.ndarray, fake_logits: np.ndarray, label_smoothing: float = 0.0
) -> np.ndarray:
    """``(1 - s) softplus(-r) + s softplus(r)`` averaged, plus ``softplus(f)`` averaged (one-sided smoothing)."""
    s, r, f = label_smoothing, real_logits, fake_logits
    return _mean((1 - s) * _softplus(-r) + s * _softplus(r)) + _mean(_softplus(f))


def hinge_gan_discriminator(
    y_true: Any, y_pred: Any, real_logits: np.ndarray, fake_logits: np.ndarray, margin: float = 1.0
) -> np.ndarray:
    """``max(0, m - r)`` averaged plus ``max(0, m + f)`` averaged."""
    r, f = real_logits, fake_logits
    return _mean(np.maximum(margin - r, 0.0)) + _mean(np.maximum(margin + f, 0.0))


def ls_gan_discriminator(
    y_true: Any,
    y_pred: Any,
    real_logits: np.ndarray,
    fake_logits: np.ndarray,
    real_target: float = 1.0,
    fake_target: float = 0.0,
) -> np.ndarray:
    """``(r - b)² / 2`` averaged plus ``(f - a)² / 2`` averaged."""
    r, f = real_logits, fake_logits
    return _mean(0.5 * (r - real_target) ** 2) + _mean(0.5 * (f - fake_target) ** 2)


#: the reference of each loss, by its registered name
REFERENCES: dict[str, Callable[..., np.ndarray]] = {
    "ns_gan_generator": ns_gan_generator,
    "hinge_gan_generator": hinge_gan_generator,
    "ls_gan_generator": ls_gan_generator,
    "ns_gan_discriminator": ns_gan_discriminator,
    "hinge_gan_discriminator": hinge_gan_discriminator,
    "ls_gan_discriminator": ls_gan_discriminator,
}
