"""The built-in losses as typed pure functions of tensors, one module per family.

Each returns per-sample (or per-element) values and can be called directly, as Keras' and optax's losses
can: ``lossreg.losses.softmax_ce(y, logits, label_smoothing=0.1)``. Importing this package also registers
them (and Keras' own loss names) with lossreg, so ``lossreg.get("softmax_ce", label_smoothing=0.1)`` and
specs reach the same functions, reduced by Keras.
"""

from lossreg.losses import _keras_builtin
from lossreg.losses._classification import sigmoid_bce, sigmoid_focal, softmax_ce, sparse_softmax_ce
from lossreg.losses._composite import mse_bce
from lossreg.losses._latent import vae_kl
from lossreg.losses._pairwise import band_masked_softmax_ce, sparse_band_masked_softmax_ce
from lossreg.losses._segmentation import sigmoid_dice

__all__ = [
    "band_masked_softmax_ce",
    "mse_bce",
    "sigmoid_bce",
    "sigmoid_dice",
    "sigmoid_focal",
    "softmax_ce",
    "sparse_band_masked_softmax_ce",
    "sparse_softmax_ce",
    "vae_kl",
]

del _keras_builtin
