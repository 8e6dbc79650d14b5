r"""Losses on latent variables, taken as extra tensors (variational auto-encoders)."""

from __future__ import annotations

import math
from typing import Any

from lossreg.losses import _checks
from lossreg.registry import register
from lossreg.registry._ops import ops, promote, reduce_non_batch

__all__ = ["vae_kl"]

Tensor = Any


def _check_vae_kl(beta: float) -> None:
    _checks.non_negative("beta", beta)


def vae_kl(y_true: Tensor, y_pred: Tensor, *, beta: float = 1.0, z_mean: Tensor, z_log_var: Tensor) -> Tensor:
    r"""KL divergence of a diagonal Gaussian posterior from the standard normal, one value per sample.

    Needs no target: it reads the encoder's ``z_mean`` and ``z_log_var`` tensors (extras), so it can
    stand alone in a spec or sit beside a reconstruction loss.

    Formula:
        .. math:: \ell = -\frac{\beta}{2} \sum_k \left(1 + \log\sigma_k^2 - \mu_k^2 - \sigma_k^2\right)

    Its batch mean is the usual VAE KL term. :math:`\sigma_k^2 = e^{\log\sigma_k^2}` is continued linearly past
    :math:`\log\sigma_k^2 = 10` (see Numerics).

    Args:
        y_true: unused (the loss needs no target); any value, e.g. ``None``.
        y_pred: unused; any value, e.g. ``None``.
        beta: weight of the KL term (β-VAE; 1 gives the standard VAE), >= 0.
        z_mean: (extra tensor) the posterior means ``μ``, shaped ``(batch, latent)``.
        z_log_var: (extra tensor) the posterior log-variances ``log σ²``, same shape.

    Returns:
        The loss per sample, shaped ``(batch,)``.

    Raises:
        ValueError: ``beta`` is negative.

    Conventions:
        With ``beta=1`` and Keras' mean over the batch this is the KL term of keras.io's VAE example,
        ``ops.mean(ops.sum(-0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var)), axis=1))``: summed
        over the latent axis, averaged over the batch (not averaged over the latent axis, which would divide it
        by the latent size), for :math:`\log\sigma^2 \le 10`.

    Numerics:
        For :math:`\log\sigma_k^2 > L = 10` the exp is continued linearly, :math:`\sigma_k^2 = e^{L}\,(1 +
        \log\sigma_k^2 - L)`, with the same value and slope at :math:`L`: ``exp`` overflows float32 past 88, and
        its gradient :math:`\tfrac12 e^{\log\sigma^2}` overflows float16 past about 11. So the value stays finite
        (e.g. at :math:`\log\sigma^2 = 10^4`) and the gradient with respect to :math:`\log\sigma^2`, at most
        :math:`\beta (e^{L} - 1) / 2 \approx 1.1 \cdot 10^4\,\beta` per element, stays finite in float16 too
        (for :math:`\beta \le 5`) while still pulling :math:`\log\sigma^2` down. Below :math:`L`
        (:math:`\sigma < 148`, far wider than any posterior near the prior's :math:`\sigma = 1`) nothing changes.
        The continuation is a double ``where``: ``exp`` only ever sees :math:`\min(\log\sigma^2, L)`, so the branch
        not taken overflows neither in value nor in gradient.

        Under ``mixed_float16`` Keras scales the loss by :math:`2^{15}` before the float16 backward pass; a gradient
        of order :math:`10^4` on a float16 output (past :math:`\log\sigma^2 \approx 10`) then overflows float16,
        and ``LossScaleOptimizer`` skips that step and lowers the scale, as designed: the loss and the weights stay
        finite, and the unscaled gradients are finite.

    Reference:
        Kingma, Welling. "Auto-Encoding Variational Bayes", ICLR 2014, appendix B;
        Higgins et al. "β-VAE", ICLR 2017.

    Examples:
        >>> import numpy as np
        >>> from keras import ops
        >>> mu = np.array([[1.0, 0.0], [0.0, 0.0]])
        >>> log_var = np.array([[0.0, 0.0], [0.0, 1.0]])
        >>> print(ops.convert_to_numpy(vae_kl(None, None, z_mean=mu, z_log_var=log_var)).round(4))   # μ²/2, (e - 2)/2
        [0.5    0.3591]
        >>> print(ops.convert_to_numpy(vae_kl(None, None, beta=2.0, z_mean=mu, z_log_var=log_var)).round(4))
        [1.     0.7183]
    """
    _check_vae_kl(beta)
    z_mean, z_log_var = promote(z_mean, z_log_var)
    # σ² = exp(log σ²) up to L, then exp(L) (1 + log σ² - L). A double `where`: exp only ever sees
    # min(log σ², L), so neither the value nor the gradient of the branch not taken overflows (0 * inf = NaN).
    # The min is a `where` too: ops.minimum splits its gradient at a tie (JAX, PyTorch) and returns float32
    # for float64 on PyTorch.
    limit = 10.0
    over = z_log_var > limit
    capped = ops.where(over, ops.full_like(z_log_var, limit), z_log_var)
    variance = ops.where(over, math.exp(limit) * (1.0 + z_log_var - limit), ops.exp(capped))
    terms = 1.0 + z_log_var - ops.square(z_mean) - variance
    return -0.5 * beta * reduce_non_batch(terms, "sum")


register("vae_kl", validate=_check_vae_kl, shapes={"z_mean": "batch latent", "z_log_var": "batch latent"})(vae_kl)
