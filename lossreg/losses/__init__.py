"""The built-in losses, one module per family; importing this package registers them all."""

from lossreg.losses import _classification, _composite, _keras_builtin, _latent, _pairwise, _segmentation

__all__: list[str] = []

del _classification, _composite, _keras_builtin, _latent, _pairwise, _segmentation
