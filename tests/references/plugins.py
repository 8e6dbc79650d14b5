"""The two plugin distributions' losses (lossreg-segmentation, lossreg-generative): float64 references and recipes.

Their conformance runs live in each plugin's own tests (plugins/*/tests); here they feed test_numerics' matrix.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ._numpy import (
    EPS_LO,
    bce_logits,
    bce_probabilities,
    log_softmax,
    non_batch,
    one_hot,
    per_sample_mean,
    sigmoid,
    softmax,
    softplus,
)
from ._record import Extreme, Reference, Shape

# ---- segmentation: overlap losses over (batch, *spatial, classes)


def _probabilities(x: np.ndarray, from_logits: bool, activation: str) -> np.ndarray:
    if not from_logits:
        return x
    return sigmoid(x) if activation == "sigmoid" else softmax(x)


def _counts(y: np.ndarray, x: np.ndarray, from_logits: bool, activation: str, per_class: bool) -> tuple[Any, Any, Any]:
    """Soft TP, FP, FN per sample (and per class unless pooled): sums over the spatial (and class) axes."""
    p = _probabilities(x, from_logits, activation)
    axes = tuple(range(1, x.ndim - 1)) if per_class else non_batch(x)
    return np.sum(p * y, axis=axes), np.sum(p * (1 - y), axis=axes), np.sum((1 - p) * y, axis=axes)


def _over_classes(values: np.ndarray, per_class: bool, class_weights: Any) -> np.ndarray:
    if not per_class:
        return values
    w = np.ones(values.shape[-1]) if class_weights is None else np.asarray(class_weights, float)
    return np.sum(values * w, axis=-1) / np.sum(w)


def _tversky(y, x, alpha, beta, smooth, from_logits, activation, per_class):
    tp, fp, fn = _counts(y, x, from_logits, activation, per_class)
    return (tp + smooth) / (tp + alpha * fp + beta * fn + smooth)


def soft_dice(y, x, smooth=1.0, from_logits=True, activation="sigmoid", per_class=True, class_weights=None):
    """1 - (2 TP + s) / (2 TP + FP + FN + s), averaged over classes (weighted) unless pooled."""
    tp, fp, fn = _counts(y, x, from_logits, activation, per_class)
    return _over_classes(1.0 - (2 * tp + smooth) / (2 * tp + fp + fn + smooth), per_class, class_weights)


def jaccard(y, x, smooth=1.0, from_logits=True, activation="sigmoid", per_class=True, class_weights=None):
    tp, fp, fn = _counts(y, x, from_logits, activation, per_class)
    return _over_classes(1.0 - (tp + smooth) / (tp + fp + fn + smooth), per_class, class_weights)


def soft_tversky(
    y, x, alpha=0.5, beta=0.5, smooth=1.0, from_logits=True, activation="sigmoid", per_class=True, class_weights=None
):
    ti = _tversky(y, x, alpha, beta, smooth, from_logits, activation, per_class)
    return _over_classes(1.0 - ti, per_class, class_weights)


def focal_tversky(
    y,
    x,
    alpha=0.3,
    beta=0.7,
    gamma=0.75,
    smooth=1.0,
    from_logits=True,
    activation="sigmoid",
    per_class=True,
    class_weights=None,
):
    ti = _tversky(y, x, alpha, beta, smooth, from_logits, activation, per_class)
    return _over_classes(np.maximum(1.0 - ti, 0.0) ** gamma, per_class, class_weights)


def dice_bce(
    y,
    x,
    bce_weight=1.0,
    dice_weight=1.0,
    smooth=1.0,
    from_logits=True,
    activation="sigmoid",
    per_class=True,
    class_weights=None,
):
    """w_b CE + w_d Dice: sigmoid BCE averaged over every element, or softmax CE averaged over the spatial axes."""
    if activation == "sigmoid":
        ce = np.mean(bce_logits(y, x) if from_logits else bce_probabilities(y, x), axis=non_batch(x))
    else:
        log_p = log_softmax(x) if from_logits else np.log(np.clip(x, EPS_LO, 1.0))
        ce = np.mean(-np.sum(y * log_p, axis=-1), axis=tuple(range(1, x.ndim - 1)))
    dice = soft_dice(y, x, smooth, from_logits, activation, per_class, class_weights)
    return bce_weight * ce + dice_weight * dice


def segmentation_inputs(rng: np.random.Generator, shape: Shape, params: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Masks (one-hot for softmax, multi-label for sigmoid) and logits N(0, 2²) or probabilities."""
    from_logits = params.get("from_logits", True)
    if params.get("activation", "sigmoid") == "softmax":
        y_true = one_hot(rng, shape)
        y_pred = rng.normal(0.0, 2.0, shape) if from_logits else softmax(rng.normal(0.0, 1.0, shape))
    else:
        y_true = (rng.random(shape) < 0.4) * 1.0
        y_pred = rng.normal(0.0, 2.0, shape) if from_logits else rng.uniform(0.05, 0.95, shape)
    return {"y_true": y_true, "y_pred": y_pred}


def _segmentation_extremes(name: str) -> tuple[Extreme, ...]:
    configs = []
    for from_logits in (True, False):
        for activation in ("sigmoid", "softmax"):
            kind = ("binary" if activation == "sigmoid" else "categorical") + ("" if from_logits else "_probs")
            # an overlap term on saturated logits has no gradient (sigmoid'(±1e4) = 0); dice_bce's cross-entropy
            # still pulls, and on probabilities the overlap itself does
            pulls = name == "dice_bce" or not from_logits
            configs.append(Extreme({"from_logits": from_logits, "activation": activation}, kind, pulls))
    return tuple(configs)


# ---- generative: GAN generator and discriminator losses on logits


def ns_gan_generator(y_true: Any, f: np.ndarray) -> np.ndarray:
    return per_sample_mean(softplus(-f))


def hinge_gan_generator(y_true: Any, f: np.ndarray) -> np.ndarray:
    return per_sample_mean(-f)


def ls_gan_generator(y_true: Any, f: np.ndarray, target: float = 1.0) -> np.ndarray:
    return per_sample_mean(0.5 * (f - target) ** 2)


def ns_gan_discriminator(y_true: Any, y_pred: Any, real_logits: Any, fake_logits: Any, label_smoothing=0.0):
    s, r, f = label_smoothing, real_logits, fake_logits
    return per_sample_mean((1 - s) * softplus(-r) + s * softplus(r)) + per_sample_mean(softplus(f))


def hinge_gan_discriminator(y_true: Any, y_pred: Any, real_logits: Any, fake_logits: Any, margin=1.0):
    r, f = real_logits, fake_logits
    return per_sample_mean(np.maximum(margin - r, 0.0)) + per_sample_mean(np.maximum(margin + f, 0.0))


def ls_gan_discriminator(
    y_true: Any, y_pred: Any, real_logits: Any, fake_logits: Any, real_target=1.0, fake_target=0.0
):
    r, f = real_logits, fake_logits
    return per_sample_mean(0.5 * (r - real_target) ** 2) + per_sample_mean(0.5 * (f - fake_target) ** 2)


def gan_inputs(rng: np.random.Generator, shape: Shape, params: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The generator's fake logits (``y_pred``) and the discriminator's real and fake logits, N(0, 2²)."""
    return {k: rng.normal(0.0, 2.0, shape) for k in ("y_pred", "real_logits", "fake_logits")}


_D = ("real_logits", "fake_logits")

PLUGIN_REFERENCES = (
    *(
        Reference(fn.__name__, fn, segmentation_inputs, extremes=_segmentation_extremes(fn.__name__))
        for fn in (soft_dice, jaccard, soft_tversky, focal_tversky, dice_bce)
    ),
    Reference("ns_gan_generator", ns_gan_generator, gan_inputs, extremes=(Extreme({}, "gan_g"),)),
    Reference("hinge_gan_generator", hinge_gan_generator, gan_inputs, extremes=(Extreme({}, "gan_g"),)),
    Reference("ls_gan_generator", ls_gan_generator, gan_inputs, extremes=(Extreme({}, "gan_g"),)),
    Reference(
        "ns_gan_discriminator",
        ns_gan_discriminator,
        gan_inputs,
        extras=_D,
        extremes=(Extreme({}, "gan_d"), Extreme({"label_smoothing": 0.1}, "gan_d")),
    ),
    Reference(
        "hinge_gan_discriminator", hinge_gan_discriminator, gan_inputs, extras=_D, extremes=(Extreme({}, "gan_d"),)
    ),
    Reference("ls_gan_discriminator", ls_gan_discriminator, gan_inputs, extras=_D, extremes=(Extreme({}, "gan_d"),)),
)
