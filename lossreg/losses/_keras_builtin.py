"""Keras' own built-in loss names (``mse``, ``categorical_crossentropy``, …) in lossreg's registry.

Their names and signatures are data (``lossreg.registry._keras_names``), so listing, describing and checking
them imports no Keras; Keras is imported the first time one of them is called.
"""

from __future__ import annotations

from lossreg.registry import KERAS_LOSS_NAMES, REGISTRY
from lossreg.registry._keras_names import keras_loss_defs

__all__ = ["KERAS_LOSS_NAMES"]

for _loss_def in keras_loss_defs():
    REGISTRY.add(_loss_def)
