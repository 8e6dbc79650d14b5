"""The two plugin distributions' losses (lossreg-segmentation, lossreg-generative): input recipes and cases.

Their float64 references live in the plugins themselves (``lossreg_segmentation.reference``,
``lossreg_generative.reference``), one per loss, shared with the plugins' own suites (plugins/*/tests, which also
run their conformance checks); here they feed test_numerics' matrix, with the recipes and extreme configurations.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from lossreg_generative import reference as generative
from lossreg_segmentation import reference as segmentation

from ._numpy import one_hot, softmax
from ._record import Extreme, Reference, Shape
from .builtin import class_id_inputs

# ---- segmentation: overlap losses over (batch, *spatial, classes)


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


def _sparse_segmentation_extremes(name: str) -> tuple[Extreme, ...]:
    """The class-id forms (softmax over the channels): class ids taken from the one-hot regimes."""
    return (
        Extreme({}, "categorical", pulls=name == "sparse_dice_bce"),
        Extreme({"from_logits": False}, "categorical_probs"),
    )


# ---- generative: GAN generator and discriminator losses on logits


def gan_inputs(rng: np.random.Generator, shape: Shape, params: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The generator's fake logits (``y_pred``) and the discriminator's real and fake logits, N(0, 2²)."""
    return {k: rng.normal(0.0, 2.0, shape) for k in ("y_pred", "real_logits", "fake_logits")}


_GAN_EXTREMES = {"ns_gan_discriminator": (Extreme({}, "gan_d"), Extreme({"label_smoothing": 0.1}, "gan_d"))}

PLUGIN_REFERENCES = (
    *(
        Reference(name, fn, segmentation_inputs, extremes=_segmentation_extremes(name))
        for name, fn in segmentation.REFERENCES.items()
    ),
    *(
        Reference(name, fn, class_id_inputs, extremes=_sparse_segmentation_extremes(name))
        for name, fn in segmentation.SPARSE_REFERENCES.items()
    ),
    *(
        Reference(name, fn, gan_inputs, extremes=(Extreme({}, "gan_g"),))
        for name, fn in generative.REFERENCES.items()
        if name.endswith("_generator")
    ),
    *(
        Reference(
            name,
            fn,
            gan_inputs,
            extras=("real_logits", "fake_logits"),
            extremes=_GAN_EXTREMES.get(name, (Extreme({}, "gan_d"),)),
        )
        for name, fn in generative.REFERENCES.items()
        if name.endswith("_discriminator")
    ),
)
