"""lossreg-generative: every GAN loss through lossreg.testing.check_loss against its float64 NumPy reference
(lossreg_generative.reference), cross-checked against cross-entropy written out in NumPy (and in raw TensorFlow where
TensorFlow is the backend), plus how the discriminator losses are wired into a model."""

from __future__ import annotations

import doctest
import importlib.metadata

import keras
import lossreg_generative.losses
import numpy as np
import pytest
from lossreg_generative import reference

import lossreg
from lossreg import LossSpecError
from lossreg.registry import static_metadata
from lossreg.testing import check_loss

BACKEND = keras.backend.backend()
#: a raw TensorFlow golden reference: TensorFlow ops on TensorFlow tensors
RAW_TF = pytest.mark.skipif(
    BACKEND != "tensorflow",
    reason="raw TensorFlow golden reference (the NumPy cross-check runs everywhere): "
    f"runs on tensorflow, this run is on {BACKEND}",
)

RNG = np.random.default_rng(11)
GENERATORS = ("ns_gan_generator", "hinge_gan_generator", "ls_gan_generator")
DISCRIMINATORS = ("ns_gan_discriminator", "hinge_gan_discriminator", "ls_gan_discriminator")

SCALAR = RNG.normal(size=(5, 1)) * 2  # one logit per sample
PATCH = RNG.normal(size=(2, 3, 3, 1)) * 2  # a PatchGAN's logits
CASES = [  # (loss, parameters, inputs); each is checked against reference.REFERENCES[loss]
    ("ns_gan_generator", {}, {"y_pred": SCALAR}),
    ("ns_gan_generator", {}, {"y_pred": PATCH}),
    ("hinge_gan_generator", {}, {"y_pred": SCALAR}),
    ("ls_gan_generator", {"target": 0.5}, {"y_pred": PATCH}),
    ("ns_gan_discriminator", {}, {"real_logits": SCALAR, "fake_logits": SCALAR[::-1] - 1}),
    ("ns_gan_discriminator", {"label_smoothing": 0.1}, {"real_logits": PATCH}),
    ("hinge_gan_discriminator", {"margin": 0.5}, {"real_logits": SCALAR}),
    ("ls_gan_discriminator", {"real_target": 1.0, "fake_target": -1.0}, {"fake_logits": PATCH}),
]


@pytest.mark.parametrize(("name", "params", "inputs"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_conforms(name, params, inputs):
    shape = next(iter(inputs.values())).shape
    full = {"y_pred": RNG.normal(size=shape), "y_true": np.zeros(shape), **inputs}
    if name in DISCRIMINATORS:
        full.setdefault("real_logits", RNG.normal(size=shape))
        full.setdefault("fake_logits", RNG.normal(size=shape))
    report = check_loss(name, reference=reference.REFERENCES[name], params=params, inputs=full)
    assert report.value == pytest.approx(report.reference_value, rel=1e-5)
    assert report.loss_after < report.loss_before


def test_non_saturating_losses_equal_sigmoid_cross_entropy():
    real, fake = SCALAR.astype("float32"), (SCALAR[::-1] - 1).astype("float32")

    def bce(labels, logits):  # sigmoid cross-entropy on logits, float64
        logits = logits.astype("float64")
        return np.logaddexp(0, logits) - labels * logits

    d_expected = np.mean(bce(1, real) + bce(0, fake), axis=1)
    d = lossreg.get("ns_gan_discriminator")
    d_value = d.call(None, {"y_pred": fake, "real_logits": real, "fake_logits": fake})
    np.testing.assert_allclose(keras.ops.convert_to_numpy(d_value), d_expected, rtol=1e-6)
    g_value = lossreg.get("ns_gan_generator").call(None, fake)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(g_value), np.mean(bce(1, fake), axis=1), rtol=1e-6)


@RAW_TF
def test_non_saturating_losses_equal_raw_tensorflow_cross_entropy():
    import tensorflow as tf

    real, fake = tf.constant(SCALAR, tf.float32), tf.constant(SCALAR[::-1] - 1, tf.float32)
    bce = tf.nn.sigmoid_cross_entropy_with_logits
    d_expected = tf.reduce_mean(bce(tf.ones_like(real), real) + bce(tf.zeros_like(fake), fake), axis=1)
    d = lossreg.get("ns_gan_discriminator")
    np.testing.assert_allclose(
        d.call(None, {"y_pred": fake, "real_logits": real, "fake_logits": fake}), d_expected, 1e-6
    )
    g_expected = tf.reduce_mean(bce(tf.ones_like(fake), fake), axis=1)
    np.testing.assert_allclose(lossreg.get("ns_gan_generator").call(None, fake), g_expected, rtol=1e-6)


def test_discriminator_losses_train_from_a_layer_pair_with_loss_layer():
    """The natural GAN shape: D applied to a real and a fake batch; the loss reads both logits as extras."""
    real_in, fake_in = keras.Input((4,), name="real"), keras.Input((4,), name="fake")
    critic = keras.layers.Dense(1, kernel_initializer="zeros", name="critic")  # loss 2 at first, not 0 by luck
    real_logits, fake_logits = critic(real_in), critic(fake_in)
    value = lossreg.LossLayer("hinge_gan_discriminator", name="d_loss")([real_logits, fake_logits])
    model = keras.Model([real_in, fake_in], value)
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    real = RNG.normal(1.0, 0.1, (16, 4)).astype("float32")
    fake = RNG.normal(-1.0, 0.1, (16, 4)).astype("float32")
    w, b = (keras.ops.convert_to_numpy(v) for v in critic.weights)
    expected = reference.hinge_gan_discriminator(None, None, real @ w + b, fake @ w + b).mean()
    logs = model.evaluate([real, fake], verbose=0, return_dict=True)
    assert logs["loss"] == pytest.approx(expected, rel=1e-5)
    history = model.fit([real, fake], epochs=5, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_extras_are_declared_and_required():
    for name in DISCRIMINATORS:
        assert lossreg.describe(name).extras == ("real_logits", "fake_logits")
        with pytest.raises(LossSpecError, match="needs the extra tensor"):
            lossreg.resolve(name)  # compile(loss=...) cannot pass extras: it says so and how to wire them
    for name in GENERATORS:
        assert lossreg.describe(name).extras == ()


def test_bad_parameters_raise_spec_errors():
    with pytest.raises(LossSpecError, match=r"`label_smoothing` must be in \[0, 1\)"):
        lossreg.get("ns_gan_discriminator", label_smoothing=1.0)
    with pytest.raises(LossSpecError, match="`margin` must be > 0"):
        lossreg.get("hinge_gan_discriminator", margin=0.0)
    with pytest.raises(LossSpecError, match="must differ"):
        lossreg.get("ls_gan_discriminator", real_target=0.0, fake_target=0.0)


def test_docstring_examples_run():
    result = doctest.testmod(lossreg_generative.losses)
    assert result.attempted >= 6 and result.failed == 0


def test_entry_points_and_static_metadata():
    eps = {
        ep.name: ep
        for ep in importlib.metadata.entry_points(group="lossreg.losses")
        if ep.dist.name == "lossreg-generative"
    }
    assert set(eps) == set(GENERATORS + DISCRIMINATORS) == set(reference.REFERENCES)  # one reference per loss
    for name, ep in eps.items():
        info = lossreg.describe(name)
        assert info.source == "lossreg-generative"
        assert "Formula:" in info.doc and "Reference:" in info.doc
        assert static_metadata(ep.value) == (info.summary, info.extras)
