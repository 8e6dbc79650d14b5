"""lossreg-generative: GAN losses on discriminator logits as lossreg plugins.

Installing this distribution registers the non-saturating, hinge and least-squares generator and
discriminator losses with lossreg through the ``lossreg.losses`` entry-point group; the pure
``keras.ops`` functions are importable from here too.
"""

from lossreg_generative.losses import (
    hinge_gan_discriminator,
    hinge_gan_generator,
    ls_gan_discriminator,
    ls_gan_generator,
    ns_gan_discriminator,
    ns_gan_generator,
)

__all__ = [
    "hinge_gan_discriminator",
    "hinge_gan_generator",
    "ls_gan_discriminator",
    "ls_gan_generator",
    "ns_gan_discriminator",
    "ns_gan_generator",
]
__version__ = "0.1.0"
