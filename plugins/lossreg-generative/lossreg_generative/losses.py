r"""GAN losses on discriminator logits: non-saturating, hinge and least squares.

Write :math:`r = D(x)` for the discriminator's logits on real samples and :math:`f = D(G(z))` on
generated ones (raw outputs, no sigmoid). Each loss returns one value per sample: the mean over any
non-batch axes (a PatchGAN's ``(batch, H, W, 1)`` logits give the mean over patches).

- Generator losses read the fake logits as ``y_pred``; ``y_true`` is ignored (pass anything shaped like
  the batch, e.g. zeros), so they work with ``compile(loss=...)`` on a combined ``D(G(z))`` model.
- Discriminator losses take both sides at once, as the extras ``real_logits`` and ``fake_logits``;
  ``y_true`` and ``y_pred`` are ignored. Wire them with ``lossreg.attach`` (``"inputs": {"real_logits":
  "<layer>", "fake_logits": "<layer>"}``) or ``lossreg.LossLayer(...)([real_logits, fake_logits])``.
  For the labelled form (one batch of logits with 1 = real, 0 = fake), the non-saturating discriminator
  loss is lossreg's built-in ``sigmoid_bce``.

The pure functions here are plain ``keras.ops`` code; the ``*_factory`` functions derived from them by
``lossreg.loss_factory`` are what the ``lossreg.losses`` entry points name. ``ops`` is ``keras.ops``
imported on first use, so loading this module (``lossreg show``, ``lossreg check``) does not import
TensorFlow.
"""

from __future__ import annotations

from typing import Any

from lossreg import loss_factory, ops, promote

__all__ = [
    "hinge_gan_discriminator",
    "hinge_gan_discriminator_factory",
    "hinge_gan_generator",
    "hinge_gan_generator_factory",
    "ls_gan_discriminator",
    "ls_gan_discriminator_factory",
    "ls_gan_generator",
    "ls_gan_generator_factory",
    "ns_gan_discriminator",
    "ns_gan_discriminator_factory",
    "ns_gan_generator",
    "ns_gan_generator_factory",
]

Tensor = Any


def _per_sample(x: Tensor) -> Tensor:
    axes = tuple(range(1, len(x.shape)))
    return ops.mean(x, axis=axes) if axes else x


def _softplus(x: Tensor) -> Tensor:
    """``log(1 + exp(x))`` without overflow: ``max(x, 0) + log1p(exp(-|x|))``, gradient σ(x) at every x.

    The max and -|x| are `where`s on x >= 0 (as TensorFlow writes them): relu/abs would give a wrong gradient
    at exactly x = 0 (0 on TensorFlow and PyTorch, -1/2 on JAX, instead of σ(0) = 1/2).
    """
    nonneg = x >= 0
    return ops.where(nonneg, x, ops.zeros_like(x)) + ops.log1p(ops.exp(ops.where(nonneg, -x, x)))


# what the losses accept, read by lossreg's pre-flight check (shapes are checked before TensorFlow runs)
_GENERATOR: dict[str, Any] = {"shapes": {"y_pred": "batch ..."}, "from_logits": True}
_DISCRIMINATOR: dict[str, Any] = {
    "shapes": {"real_logits": "batch ...", "fake_logits": "batch ..."},
    "from_logits": True,
}


# -- non-saturating (Goodfellow et al. 2014) ----------------------------------------------------------------


def ns_gan_generator(y_true: Tensor, y_pred: Tensor) -> Tensor:
    r"""Non-saturating GAN generator loss on the fake logits, one value per sample.

    Formula:
        .. math:: \ell_G = -\log \sigma(f) = \operatorname{softplus}(-f)

    It has the same fixed point as the minimax :math:`\log(1 - \sigma(f))` but strong gradients while the
    discriminator still rejects the samples.

    Args:
        y_true: ignored.
        y_pred: the discriminator's logits on generated samples, ``(batch, ...)``.

    Returns:
        The loss per sample, shaped ``(batch,)``.

    Numerics:
        Computed with softplus, :math:`\max(x, 0) + \log(1 + e^{-|x|})`: the value and the gradient stay finite at
        logits of :math:`\pm 10^4` in float32, for float16 inputs (computed in float32) and under
        ``mixed_float16``. Softplus's gradient is :math:`\sigma(x)` at every :math:`x`, 0 included (the max and
        :math:`|x|` are ``where`` on :math:`x \ge 0`, whose gradient does not split there).

    Reference:
        Goodfellow et al. "Generative Adversarial Nets", NeurIPS 2014, section 3;
        ``tfgan.losses.wargs.modified_generator_loss``.

    Examples:
        >>> round(float(ns_gan_generator(None, [[0.0]])[0]), 4)   # log 2
        0.6931
    """
    (f,) = promote(y_pred)
    return _per_sample(_softplus(-f))


ns_gan_generator_factory = loss_factory(ns_gan_generator, **_GENERATOR)


def ns_gan_discriminator(
    y_true: Tensor, y_pred: Tensor, *, real_logits: Tensor, fake_logits: Tensor, label_smoothing: float = 0.0
) -> Tensor:
    r"""Non-saturating (standard) GAN discriminator loss on real and fake logits, one value per sample.

    Formula:
        .. math:: \ell_D = -(1 - s)\log\sigma(r) - s\log(1 - \sigma(r)) - \log(1 - \sigma(f))
                  = (1 - s)\operatorname{softplus}(-r) + s\operatorname{softplus}(r) + \operatorname{softplus}(f)

    the binary cross-entropy of real logits against the label :math:`1 - s` and fake logits against 0.

    Args:
        y_true: ignored.
        y_pred: ignored.
        real_logits: the discriminator's logits on real samples, ``(batch, ...)``.
        fake_logits: its logits on generated samples, shaped like ``real_logits``.
        label_smoothing: one-sided label smoothing ``s`` in [0, 1) of the real label.

    Returns:
        The loss per sample, shaped ``(batch,)``.

    Conventions:
        ``label_smoothing=s`` is one-sided (Salimans et al.): only the real label becomes :math:`1 - s`, the fake
        one stays 0. Keras' ``binary_crossentropy(label_smoothing=s)`` (and lossreg's ``sigmoid_bce``) smooth both
        labels towards 0.5, :math:`(1 - s) z + s / 2`, so the same ``s`` there gives real labels :math:`1 - s/2`
        and fake labels :math:`s/2`. Salimans et al.'s real label 0.9 is ``label_smoothing=0.1`` here.

    Numerics:
        Computed with softplus, :math:`\max(x, 0) + \log(1 + e^{-|x|})`: the value and the gradient stay finite at
        logits of :math:`\pm 10^4` in float32, for float16 inputs (computed in float32) and under
        ``mixed_float16``. Softplus's gradient is :math:`\sigma(x)` at every :math:`x`, 0 included (the max and
        :math:`|x|` are ``where`` on :math:`x \ge 0`, whose gradient does not split there).

    Reference:
        Goodfellow et al. "Generative Adversarial Nets", NeurIPS 2014; one-sided label smoothing from
        Salimans et al. "Improved Techniques for Training GANs", NeurIPS 2016;
        ``tfgan.losses.wargs.modified_discriminator_loss``.

    Examples:
        >>> round(float(ns_gan_discriminator(None, None, real_logits=[[0.0]], fake_logits=[[0.0]])[0]), 4)
        1.3863
    """
    r, f = promote(real_logits, fake_logits)
    real_term = (
        _softplus(-r)
        if not label_smoothing
        else (1.0 - label_smoothing) * _softplus(-r) + (label_smoothing * _softplus(r))
    )
    return _per_sample(real_term) + _per_sample(_softplus(f))


def _check_label_smoothing(label_smoothing: float) -> None:
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"`label_smoothing` must be in [0, 1), received label_smoothing={label_smoothing!r}.")


ns_gan_discriminator_factory = loss_factory(ns_gan_discriminator, validate=_check_label_smoothing, **_DISCRIMINATOR)


# -- hinge (Lim & Ye 2017; Miyato et al. 2018) ---------------------------------------------------------------


def hinge_gan_generator(y_true: Tensor, y_pred: Tensor) -> Tensor:
    r"""Hinge GAN generator loss on the fake logits, one value per sample.

    Formula:
        .. math:: \ell_G = -f

    Args:
        y_true: ignored.
        y_pred: the discriminator's logits on generated samples, ``(batch, ...)``.

    Returns:
        The loss per sample, shaped ``(batch,)``.

    Reference:
        Lim, Ye. "Geometric GAN", arXiv:1705.02894, 2017; Miyato et al. "Spectral Normalization for Generative
        Adversarial Networks", ICLR 2018.

    Numerics:
        Linear in the logits: finite value and gradient (0 or :math:`\pm 1` per element, over the number of
        elements) at logits of :math:`\pm 10^4`, for float16 inputs (computed in float32) and under
        ``mixed_float16``.

    Examples:
        >>> float(hinge_gan_generator(None, [[0.5, 1.5]])[0])
        -1.0
    """
    (f,) = promote(y_pred)
    return _per_sample(-f)


hinge_gan_generator_factory = loss_factory(hinge_gan_generator, **_GENERATOR)


def hinge_gan_discriminator(
    y_true: Tensor, y_pred: Tensor, *, real_logits: Tensor, fake_logits: Tensor, margin: float = 1.0
) -> Tensor:
    r"""Hinge GAN discriminator loss on real and fake logits, one value per sample.

    Formula:
        .. math:: \ell_D = \max(0, m - r) + \max(0, m + f)

    Args:
        y_true: ignored.
        y_pred: ignored.
        real_logits: the discriminator's logits on real samples, ``(batch, ...)``.
        fake_logits: its logits on generated samples, shaped like ``real_logits``.
        margin: ``m`` > 0 (1 in the references).

    Returns:
        The loss per sample, shaped ``(batch,)``.

    Reference:
        Lim, Ye. "Geometric GAN", arXiv:1705.02894, 2017; Miyato et al. "Spectral Normalization for Generative
        Adversarial Networks", ICLR 2018.

    Numerics:
        Linear in the logits: finite value and gradient (0 or :math:`\pm 1` per element, over the number of
        elements) at logits of :math:`\pm 10^4`, for float16 inputs (computed in float32) and under
        ``mixed_float16``.

    Examples:
        >>> float(hinge_gan_discriminator(None, None, real_logits=[[0.5]], fake_logits=[[-2.0]])[0])
        0.5
    """
    r, f = promote(real_logits, fake_logits)
    return _per_sample(ops.relu(margin - r)) + _per_sample(ops.relu(margin + f))


def _check_margin(margin: float) -> None:
    if not margin > 0:
        raise ValueError(f"`margin` must be > 0, received margin={margin!r}.")


hinge_gan_discriminator_factory = loss_factory(hinge_gan_discriminator, validate=_check_margin, **_DISCRIMINATOR)


# -- least squares (Mao et al. 2017) ---------------------------------------------------------------------


def ls_gan_generator(y_true: Tensor, y_pred: Tensor, *, target: float = 1.0) -> Tensor:
    r"""Least-squares GAN generator loss on the fake outputs, one value per sample.

    Formula:
        .. math:: \ell_G = \tfrac12 (f - c)^2

    with :math:`f` the discriminator's raw (linear) output on generated samples.

    Args:
        y_true: ignored.
        y_pred: the discriminator's outputs on generated samples, ``(batch, ...)``.
        target: ``c``, the value the generator wants the discriminator to give its samples (1 in the
            paper's 0-1-1 coding).

    Returns:
        The loss per sample, shaped ``(batch,)``.

    Numerics:
        Quadratic in the outputs: the value and the gradient stay finite at outputs of :math:`\pm 10^4` (values up
        to :math:`5 \cdot 10^7`) in float32 and for float16 inputs (computed in float32). A mean above 65504 has no
        float16 value, so ``RegisteredLoss(..., dtype="float16")`` (which reduces in float32, then casts) gives inf
        there. Under ``mixed_float16`` Keras scales the loss by :math:`2^{15}` before the float16 backward pass; a
        gradient of order :math:`10^4` on a float16 output then overflows, and ``LossScaleOptimizer`` skips that
        step and lowers the scale, as designed: the loss and the weights stay finite.

    Reference:
        Mao et al. "Least Squares Generative Adversarial Networks", ICCV 2017 (the a = 0, b = c = 1 coding);
        ``tfgan.losses.wargs.least_squares_generator_loss``.

    Examples:
        >>> float(ls_gan_generator(None, [[0.0]])[0])   # 0.5 * (0 - 1)^2
        0.5
    """
    (f,) = promote(y_pred)
    return _per_sample(0.5 * ops.square(f - target))


ls_gan_generator_factory = loss_factory(ls_gan_generator, **_GENERATOR)


def ls_gan_discriminator(
    y_true: Tensor,
    y_pred: Tensor,
    *,
    real_logits: Tensor,
    fake_logits: Tensor,
    real_target: float = 1.0,
    fake_target: float = 0.0,
) -> Tensor:
    r"""Least-squares GAN discriminator loss on real and fake outputs, one value per sample.

    Formula:
        .. math:: \ell_D = \tfrac12 (r - b)^2 + \tfrac12 (f - a)^2

    with :math:`r, f` the discriminator's raw (linear) outputs on real and generated samples.

    Args:
        y_true: ignored.
        y_pred: ignored.
        real_logits: the discriminator's outputs on real samples, ``(batch, ...)``.
        fake_logits: its outputs on generated samples, shaped like ``real_logits``.
        real_target: ``b``, the target for real samples.
        fake_target: ``a``, the target for generated samples.

    Returns:
        The loss per sample, shaped ``(batch,)``.

    Numerics:
        Quadratic in the outputs: the value and the gradient stay finite at outputs of :math:`\pm 10^4` (values up
        to :math:`5 \cdot 10^7`) in float32 and for float16 inputs (computed in float32). A mean above 65504 has no
        float16 value, so ``RegisteredLoss(..., dtype="float16")`` (which reduces in float32, then casts) gives inf
        there. Under ``mixed_float16`` Keras scales the loss by :math:`2^{15}` before the float16 backward pass; a
        gradient of order :math:`10^4` on a float16 output then overflows, and ``LossScaleOptimizer`` skips that
        step and lowers the scale, as designed: the loss and the weights stay finite.

    Reference:
        Mao et al. "Least Squares Generative Adversarial Networks", ICCV 2017 (the a = 0, b = c = 1 coding);
        ``tfgan.losses.wargs.least_squares_discriminator_loss``.

    Examples:
        >>> float(ls_gan_discriminator(None, None, real_logits=[[0.0]], fake_logits=[[1.0]])[0])
        1.0
    """
    r, f = promote(real_logits, fake_logits)
    return _per_sample(0.5 * ops.square(r - real_target)) + _per_sample(0.5 * ops.square(f - fake_target))


def _check_targets(real_target: float, fake_target: float) -> None:
    if real_target == fake_target:
        raise ValueError(
            f"`real_target` and `fake_target` must differ (received both {real_target!r}); the discriminator "
            "would have nothing to tell apart."
        )


ls_gan_discriminator_factory = loss_factory(ls_gan_discriminator, validate=_check_targets, **_DISCRIMINATOR)
