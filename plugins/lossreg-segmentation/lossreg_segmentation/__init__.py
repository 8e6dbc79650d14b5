"""lossreg-segmentation: overlap losses for segmentation as lossreg plugins.

Installing this distribution registers ``soft_dice``, ``jaccard``, ``soft_tversky``, ``focal_tversky`` and
``dice_bce`` (one-hot targets or masks) and their class-id forms ``sparse_soft_dice``, ``sparse_jaccard``,
``sparse_soft_tversky``, ``sparse_focal_tversky`` and ``sparse_dice_bce`` with lossreg through the
``lossreg.losses`` entry-point group; the pure ``keras.ops`` functions are importable from here too.
"""

from lossreg_segmentation.losses import (
    dice_bce,
    focal_tversky,
    jaccard,
    soft_dice,
    soft_tversky,
    sparse_dice_bce,
    sparse_focal_tversky,
    sparse_jaccard,
    sparse_soft_dice,
    sparse_soft_tversky,
)

__all__ = [
    "dice_bce",
    "focal_tversky",
    "jaccard",
    "soft_dice",
    "soft_tversky",
    "sparse_dice_bce",
    "sparse_focal_tversky",
    "sparse_jaccard",
    "sparse_soft_dice",
    "sparse_soft_tversky",
]
__version__ = "0.2.0"
