r"""What ``lossreg.describe`` reads from a loss's docstring, and what every loss's docstring must hold.

The docs site has one page per registered loss, generated from ``LossInfo``, and ``lossreg show`` prints the same
parts: the sections are read once, at registration. Here: the sections of real docstrings, of a loss registered
with every section and of one with none; that every lossreg and plugin loss documents a formula, a normaliser
(where it takes dense inputs), references and an example; and the conventions the docstrings state about other
libraries, checked on values (the other library's formula, as its source writes it, in NumPy).
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np
import pytest
from lossreg_segmentation import losses as seg

import lossreg

PLAIN_LOSSES = [n for n in lossreg.names() if ":" not in n and lossreg.describe(n).source != "keras"]


def test_the_sections_of_a_real_docstring_are_read_into_their_fields():
    info = lossreg.describe("sigmoid_focal")
    assert info.formula.startswith(r"\ell = \alpha_t\,(1 - p_t)^\gamma\,\mathrm{BCE}(z, x)")
    assert info.formula.splitlines()[1].startswith(r"p_t = z p + (1 - z)(1 - p)")  # the TeX's second line, dedented
    assert info.notes.startswith(r":math:`1 - p_t` is computed as")  # the free text after the formula
    assert info.args["gamma"].startswith("focusing parameter in [0, 100]; 0 gives")
    assert info.args["gamma"].endswith("(at 1e9 the loss is 0).")  # its continuation lines, joined
    assert set(info.args) == {"y_true", "y_pred", "alpha", "gamma", "ignore_class", "class_weights", "mask"}
    assert info.returns == "The loss per element, shaped like ``y_pred``."
    assert info.raises == "ValueError: ``alpha`` is outside [0, 1] or ``gamma`` outside [0, 100]."
    assert info.references.startswith('Lin, Goyal, Girshick, He, Dollár. "Focal Loss for Dense Object Detection"')
    assert "number of positive (foreground) anchors" in info.conventions
    assert "double ``where``" in info.numerics and "\n\n" in info.numerics  # two paragraphs, kept
    assert info.examples.startswith(">>> import numpy as np\n>>> from keras import ops\n")
    assert info.normalizer.startswith("Keras' mean over every element") and "\n" not in info.normalizer
    # no section's text leaks into another, or into the notes
    assert "Normalizer" not in info.notes and "Args:" not in info.notes and ">>>" not in info.notes
    assert "formula:\n    \\ell = \\alpha_t" in str(info)


def test_args_listed_together_share_their_text():
    args = lossreg.describe("sparse_band_masked_softmax_ce").args
    shared = "the band and the normaliser, as in ``band_masked_softmax_ce``."
    assert [args[n] for n in ("lower", "upper", "include_diagonal", "from_logits", "normalize")] == [shared] * 5
    assert args["ignore_class"].startswith("a class id whose pairs are ignored")


def test_a_plugin_docstring_filled_from_shared_texts():
    info = lossreg.describe("jaccard")
    assert "smooth_nr=smooth_dr=s`` equals ``jaccard`` with ``smooth=s/2``" in " ".join(info.conventions.split())
    assert info.numerics.startswith("Each loss is computed as 1 - index written over one fraction")
    assert "per- pixel" not in info.normalizer and "per-pixel map" in info.normalizer  # no hyphen broken by wrapping
    assert info.formula.startswith(r"\ell = 1 - \frac{TP + s}{TP + FP + FN + s}")
    assert info.args["sample_weight"].startswith("(optional tensor) Keras' per-pixel weight map")


def _documented_loss(y_true, y_pred, *, scale: float = 1.0, offset: float = 0.0, mask=None):
    r"""Scaled absolute error, one value per element.

    Written for this test.

    Formula:
        .. math:: \ell = s\,|y - x|
                  + o

    with :math:`s` the scale.

    Normalizer:
        Keras' mean over every
        element.

    Conventions:
        As ``mae`` times ``scale``.

    Numerics:
        Finite everywhere.

        A second paragraph.

    Args:
        y_true: the targets ``y``.
        y_pred: the predictions ``x``, shaped
            like ``y_true``.
        scale (float): ``s``.
        offset, unused_name: ``o``.
        mask: (optional tensor) 0 where ignored.

    Returns:
        The loss per element.

    Raises:
        ValueError: never.

    References:
        Nobody, 2026.

    Examples:
        >>> 1 + 1
        2
    """
    return scale * keras.ops.abs(y_true - y_pred) + offset


def test_a_registered_loss_with_every_section(forget_loss: Callable[[str], None]):
    lossreg.register("test_documented_loss")(_documented_loss)
    forget_loss("test_documented_loss")
    info = lossreg.describe("test_documented_loss")
    assert info.summary == "Scaled absolute error, one value per element."
    assert info.formula == "\\ell = s\\,|y - x|\n+ o"
    assert info.notes == "Written for this test.\n\nwith :math:`s` the scale."
    assert info.normalizer == "Keras' mean over every element."
    assert info.conventions == "As ``mae`` times ``scale``."
    assert info.numerics == "Finite everywhere.\n\nA second paragraph."
    assert info.args == {
        "y_true": "the targets ``y``.",
        "y_pred": "the predictions ``x``, shaped like ``y_true``.",
        "scale": "``s``.",
        "offset": "``o``.",
        "unused_name": "``o``.",
        "mask": "(optional tensor) 0 where ignored.",
    }
    assert info.returns == "The loss per element."
    assert (info.raises, info.references) == ("ValueError: never.", "Nobody, 2026.")
    assert info.examples == ">>> 1 + 1\n2"
    assert info.dense_inputs == ("mask",)


def test_a_registered_loss_without_sections(forget_loss: Callable[[str], None]):
    @lossreg.register("test_undocumented_loss")
    def undocumented(y_true, y_pred, *, scale: float = 1.0):
        """Scaled squared error.

        Nothing else is written here: Formula: is not a heading in a sentence.
        """
        return scale * keras.ops.square(y_true - y_pred)

    forget_loss("test_undocumented_loss")
    info = lossreg.describe("test_undocumented_loss")
    assert info.summary == "Scaled squared error."
    assert info.notes == "Nothing else is written here: Formula: is not a heading in a sentence."
    for text in (info.formula, info.normalizer, info.returns, info.raises, info.references, info.numerics):
        assert text == ""
    assert (info.conventions, info.examples, info.args) == ("", "", {})
    assert "formula:" not in str(info)


@pytest.mark.parametrize("name", PLAIN_LOSSES)
def test_every_lossreg_and_plugin_loss_documents_its_page(name: str):
    info = lossreg.describe(name)
    assert info.formula, f"{name}: no 'Formula:' section with a '.. math::' directive"
    assert info.references, f"{name}: no 'Reference:' section"
    assert info.examples.startswith(">>>"), f"{name}: no doctest under 'Examples:'"
    assert info.numerics, f"{name}: no 'Numerics:' section"
    if info.dense_inputs:
        assert info.normalizer, f"{name} takes {info.dense_inputs}: its 'Normalizer:' must say what it averages over"
    documented = set(info.args)
    undocumented = [p for p in (*info.params, *info.extras, *info.dense_inputs) if p not in documented]
    assert not undocumented, f"{name}: no 'Args:' entry for {undocumented}"


def test_every_plugin_loss_is_found():
    sources = {lossreg.describe(n).source for n in PLAIN_LOSSES}
    assert sources == {"lossreg", "lossreg-segmentation", "lossreg-generative"}


# -- the conventions the docstrings state, on values --------------------------------------------------------------


def _values(x) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(x), dtype=np.float64)


@pytest.fixture
def probabilities() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(13)
    y = (rng.random((3, 5, 4, 2)) > 0.6).astype("float32")
    p = rng.random((3, 5, 4, 2)).astype("float32")
    return y, p


def _monai_dice(y: np.ndarray, p: np.ndarray, smooth: float, jaccard: bool) -> np.ndarray:
    """MONAI's ``DiceLoss(smooth_nr=smooth, smooth_dr=smooth, jaccard=...)``, reduction="none" then the mean over
    channels, as ``monai/losses/dice.py`` computes it (channels last here)."""
    axes = (1, 2)
    intersection = np.sum(y * p, axis=axes)
    denominator = np.sum(y, axis=axes) + np.sum(p, axis=axes)
    if jaccard:
        denominator = 2.0 * (denominator - intersection)
    return np.mean(1.0 - (2.0 * intersection + smooth) / (denominator + smooth), axis=-1)


def _smp_score(y: np.ndarray, p: np.ndarray, smooth: float, kind: str, alpha=0.5, beta=0.5) -> np.ndarray:
    """segmentation_models_pytorch's ``soft_dice_score``/``soft_jaccard_score``/``soft_tversky_score`` per image and
    channel (``dims`` the spatial axes), as ``losses/_functional.py`` writes them."""
    axes = (1, 2)
    intersection = np.sum(p * y, axis=axes)
    cardinality = np.sum(p + y, axis=axes)
    if kind == "dice":
        return (2.0 * intersection + smooth) / np.maximum(cardinality + smooth, 1e-7)
    if kind == "jaccard":
        return (intersection + smooth) / np.maximum(cardinality - intersection + smooth, 1e-7)
    fp, fn = np.sum(p * (1 - y), axis=axes), np.sum((1 - p) * y, axis=axes)
    return (intersection + smooth) / np.maximum(intersection + alpha * fp + beta * fn + smooth, 1e-7)


@pytest.mark.parametrize("smooth", [1e-5, 0.5, 2.0])
def test_dice_smooth_is_monai_s_and_smp_s(probabilities, smooth: float):
    y, p = probabilities
    ours = _values(seg.soft_dice(y, p, smooth=smooth, from_logits=False))
    np.testing.assert_allclose(ours, _monai_dice(y, p, smooth, jaccard=False), rtol=1e-5)
    np.testing.assert_allclose(ours, np.mean(1 - _smp_score(y, p, smooth, "dice"), axis=-1), rtol=1e-5)


@pytest.mark.parametrize("smooth", [1e-5, 0.5, 2.0])
def test_monai_jaccard_counts_smooth_half(probabilities, smooth: float):
    y, p = probabilities
    half = _values(seg.jaccard(y, p, smooth=smooth / 2, from_logits=False))
    np.testing.assert_allclose(half, _monai_dice(y, p, smooth, jaccard=True), rtol=1e-5)
    same = _values(seg.jaccard(y, p, smooth=smooth, from_logits=False))
    np.testing.assert_allclose(same, np.mean(1 - _smp_score(y, p, smooth, "jaccard"), axis=-1), rtol=1e-5)
    if smooth >= 0.5:  # the convention matters at these sizes (20 pixels per channel)
        assert not np.allclose(same, half, rtol=1e-3)


def test_tversky_at_one_half_is_dice_with_twice_the_smooth(probabilities):
    y, p = probabilities
    tversky = _values(seg.soft_tversky(y, p, alpha=0.5, beta=0.5, smooth=0.75, from_logits=False))
    np.testing.assert_allclose(tversky, _values(seg.soft_dice(y, p, smooth=1.5, from_logits=False)), rtol=1e-5)
    smp = np.mean(1 - _smp_score(y, p, 0.75, "tversky", alpha=0.3, beta=0.7), axis=-1)
    ours = _values(seg.soft_tversky(y, p, alpha=0.3, beta=0.7, smooth=0.75, from_logits=False))
    np.testing.assert_allclose(ours, smp, rtol=1e-5)


def test_sigmoid_focal_is_keras_binary_focal_with_class_balancing():
    z = np.array([[1.0, 0.0, 1.0, 0.0], [0.0, 0.0, 1.0, 1.0]], "float32")
    x = np.array([[0.3, -2.0, 4.0, 1.5], [-0.5, 3.0, -1.0, 0.0]], "float32")
    ours = _values(lossreg.losses.sigmoid_focal(z, x, alpha=0.4, gamma=1.5)).mean(axis=-1)
    theirs = keras.losses.binary_focal_crossentropy(
        z, x, apply_class_balancing=True, alpha=0.4, gamma=1.5, from_logits=True
    )
    np.testing.assert_allclose(ours, _values(theirs), rtol=1e-5)


def test_label_smoothing_is_keras_s():
    z = np.array([[1.0, 0.0, 1.0]], "float32")
    x = np.array([[0.3, -2.0, 4.0]], "float32")
    ours = _values(lossreg.losses.sigmoid_bce(z, x, label_smoothing=0.2)).mean(axis=-1)
    theirs = keras.losses.binary_crossentropy(z, x, from_logits=True, label_smoothing=0.2)
    np.testing.assert_allclose(ours, _values(theirs), rtol=1e-5)
    ours = _values(lossreg.losses.softmax_ce(z, x, label_smoothing=0.2))
    theirs = keras.losses.categorical_crossentropy(z, x, from_logits=True, label_smoothing=0.2)
    np.testing.assert_allclose(ours, _values(theirs), rtol=1e-5)


def test_vae_kl_is_the_keras_io_example_kl_term():
    rng = np.random.default_rng(3)
    mu, log_var = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    example = np.mean(np.sum(-0.5 * (1 + log_var - np.square(mu) - np.exp(log_var)), axis=1))
    per_sample = _values(lossreg.losses.vae_kl(None, None, z_mean=mu, z_log_var=log_var))
    assert per_sample.mean() == pytest.approx(example, rel=1e-5)  # Keras' reduction: the mean over the batch
