"""lossreg-segmentation: every loss through lossreg.testing.check_loss against its float64 NumPy reference
(lossreg_segmentation.reference), cross-checked against the formulas written out in NumPy (and in raw TensorFlow
where TensorFlow is the backend), plus its registration through the entry points.

check_loss (which trains and compiles) is the costly part: its two matrices (loss x variant) run every case on
TensorFlow, the reference backend, and on JAX and PyTorch a covering sample (``on_backend.covering``, tests/): every
loss and every variant at least once. The losses share their overlap arithmetic and differ in a few ops each, the
variants in which ops run (sigmoid or softmax, logits or probabilities, class weights, ignored elements): each op
path runs on every backend; the sparse forms, each its own loss, all run everywhere."""

from __future__ import annotations

import doctest
import importlib.metadata

import keras
import lossreg_segmentation.losses
import lossreg_segmentation.reference
import numpy as np
import pytest
from lossreg_segmentation.reference import REFERENCES, SPARSE_REFERENCES
from on_backend import covering

import lossreg
from lossreg import LossInputError, LossSpecError
from lossreg.registry import static_metadata
from lossreg.testing import check_loss, value_and_grad

BACKEND = keras.backend.backend()
#: a raw TensorFlow golden reference: TensorFlow ops on TensorFlow tensors
RAW_TF = pytest.mark.skipif(
    BACKEND != "tensorflow",
    reason="raw TensorFlow golden reference (the NumPy cross-check runs everywhere): "
    f"runs on tensorflow, this run is on {BACKEND}",
)

RNG = np.random.default_rng(7)
NAMES = ("soft_dice", "jaccard", "soft_tversky", "focal_tversky", "dice_bce")
SPARSE = tuple(f"sparse_{name}" for name in NAMES)


MULTILABEL = {"y_true": (RNG.random((3, 4, 4, 2)) < 0.4) * 1.0, "y_pred": RNG.normal(size=(3, 4, 4, 2)) * 2}
ONE_HOT = {"y_true": np.eye(3)[RNG.integers(0, 3, (2, 5, 5))], "y_pred": RNG.normal(size=(2, 5, 5, 3)) * 2}
PROBS = {"y_true": (RNG.random((3, 6, 1)) < 0.5) * 1.0, "y_pred": RNG.uniform(0.05, 0.95, (3, 6, 1))}

VARIANTS = {
    "logits-sigmoid-per-class": ({}, MULTILABEL, {}),
    "logits-softmax-pooled": ({"activation": "softmax", "per_class": False}, ONE_HOT, {"train": False}),
    "probabilities-weighted": (
        {"from_logits": False, "class_weights": [3.0]},
        PROBS,
        {"extreme": "probabilities", "activation": "sigmoid", "train": False},
    ),
    "logits-softmax-class-weights": (
        {"activation": "softmax", "class_weights": [1.0, 0.0, 2.0]},
        ONE_HOT,
        {"train": False},
    ),
}
EXTRA_PARAMS = {
    "soft_dice": {"smooth": 0.5},
    "jaccard": {},
    "soft_tversky": {"alpha": 0.2, "beta": 0.8},
    "focal_tversky": {"gamma": 1.5},
    "dice_bce": {"bce_weight": 0.7, "dice_weight": 0.3},
}


@pytest.mark.parametrize(
    ("name", "variant"),
    covering(
        [pytest.param(n, v, id=f"{n}-{v}") for n in NAMES for v in VARIANTS],
        lambda name, variant: name,
        lambda name, variant: variant,
    ),
)
def test_conforms(name, variant):
    params, inputs, kwargs = VARIANTS[variant]
    params = {**params, **(EXTRA_PARAMS[name] if variant != "logits-sigmoid-per-class" else {})}
    kwargs = {"dense_targets": _targets(params), **kwargs}
    report = check_loss(name, reference=REFERENCES[name], inputs=inputs, params=params, **kwargs)
    assert report.value == pytest.approx(report.reference_value, rel=1e-5)


def _targets(params):
    """What the targets are: one-hot labels under activation="softmax" (the declaration says "unit", for sigmoid)."""
    return "one_hot" if params.get("activation") == "softmax" else None


# dense targets: ignored elements (each image keeps some, so Keras' mean equals the checklist's), and class ids
IGNORED_255 = {
    "y_true": np.where(RNG.random((3, 4, 4, 2)) < 0.25, 255.0, MULTILABEL["y_true"]),
    "y_pred": MULTILABEL["y_pred"],
}
IGNORED_CHANNEL = {"y_true": ONE_HOT["y_true"], "y_pred": ONE_HOT["y_pred"]}
IDS = {"y_true": np.where(RNG.random((2, 5, 5)) < 0.2, 255, RNG.integers(0, 3, (2, 5, 5))), "y_pred": ONE_HOT["y_pred"]}
DENSE_VARIANTS = {
    "sigmoid-ignore-255-class-weights": ({"ignore_class": 255, "class_weights": [1.0, 3.0]}, IGNORED_255),
    "softmax-ignore-channel-pooled": (
        {"activation": "softmax", "ignore_class": 1, "per_class": False},
        IGNORED_CHANNEL,
    ),
}


@pytest.mark.parametrize(
    ("name", "variant"),
    covering(
        [pytest.param(n, v, id=f"{n}-{v}") for n in NAMES for v in DENSE_VARIANTS],
        lambda name, variant: name,
        lambda name, variant: variant,
    ),
)
def test_conforms_with_ignored_elements(name, variant):
    params, inputs = DENSE_VARIANTS[variant]
    params = {**params, **EXTRA_PARAMS[name]}
    report = check_loss(
        name, reference=REFERENCES[name], inputs=inputs, params=params, train=False, dense_targets=_targets(params)
    )
    assert report.value == pytest.approx(report.reference_value, rel=1e-5)


@pytest.mark.parametrize("name", SPARSE)
def test_sparse_forms_conform_on_class_ids(name):
    params = {"ignore_class": 255, "class_weights": [1.0, 0.5, 2.0], **EXTRA_PARAMS[name.removeprefix("sparse_")]}
    train = name in ("sparse_soft_dice", "sparse_dice_bce")  # Keras' fit on integer class ids, with 255s
    report = check_loss(name, reference=SPARSE_REFERENCES[name], inputs=IDS, params=params, train=train)
    assert report.value == pytest.approx(report.reference_value, rel=1e-5)
    assert "inputs" in report.checks  # the declaration (class ids, 255 ignored) accepts them


# -- cross-checks against the formulas (NumPy; raw TensorFlow on TensorFlow) and between the losses ------------


def _value(name, inputs, **params):
    return keras.ops.convert_to_numpy(lossreg.get(name, **params).call(inputs["y_true"], inputs["y_pred"]))


def test_dice_bce_equals_sigmoid_and_softmax_cross_entropy_plus_dice():
    y, x = MULTILABEL["y_true"], MULTILABEL["y_pred"]
    p = 1 / (1 + np.exp(-x))
    dice = 1 - (2 * np.sum(p * y, (1, 2)) + 1) / (np.sum(p + y, (1, 2)) + 1)
    bce = np.mean(np.logaddexp(0, x) - y * x, (1, 2, 3))  # sigmoid cross-entropy on logits
    expected = 0.4 * bce + 0.6 * np.mean(dice, -1)
    np.testing.assert_allclose(_value("dice_bce", MULTILABEL, bce_weight=0.4, dice_weight=0.6), expected, rtol=1e-5)

    y, x = ONE_HOT["y_true"], ONE_HOT["y_pred"]
    log_p = x - np.log(np.sum(np.exp(x), -1, keepdims=True))
    p = np.exp(log_p)
    dice = 1 - (2 * np.sum(p * y, (1, 2, 3)) + 1) / (np.sum(p + y, (1, 2, 3)) + 1)
    cce = np.mean(-np.sum(y * log_p, -1), (1, 2))
    got = _value("dice_bce", ONE_HOT, activation="softmax", per_class=False)
    np.testing.assert_allclose(got, cce + dice, rtol=1e-5)


@RAW_TF
def test_dice_bce_equals_raw_tensorflow_sigmoid_and_softmax_cross_entropy_plus_dice():
    import tensorflow as tf

    y, x = (tf.constant(MULTILABEL[k], tf.float32) for k in ("y_true", "y_pred"))
    p = tf.sigmoid(x)
    dice = 1 - (2 * tf.reduce_sum(p * y, [1, 2]) + 1) / (tf.reduce_sum(p + y, [1, 2]) + 1)
    bce = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=x), [1, 2, 3])
    expected = 0.4 * bce + 0.6 * tf.reduce_mean(dice, -1)
    np.testing.assert_allclose(_value("dice_bce", MULTILABEL, bce_weight=0.4, dice_weight=0.6), expected, rtol=1e-5)

    y, x = (tf.constant(ONE_HOT[k], tf.float32) for k in ("y_true", "y_pred"))
    p = tf.nn.softmax(x)
    dice = 1 - (2 * tf.reduce_sum(p * y, [1, 2, 3]) + 1) / (tf.reduce_sum(p + y, [1, 2, 3]) + 1)
    cce = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=y, logits=x), [1, 2])
    got = _value("dice_bce", ONE_HOT, activation="softmax", per_class=False)
    np.testing.assert_allclose(got, cce + dice, rtol=1e-5)


def test_tversky_specialises_to_dice_and_jaccard():
    for inputs in (MULTILABEL, PROBS):
        kw = {"from_logits": inputs is MULTILABEL}
        # (TP + s/2) / (TP + FP/2 + FN/2 + s/2) is Dice's (2 TP + s) / (2 TP + FP + FN + s)
        np.testing.assert_allclose(
            _value("soft_tversky", inputs, alpha=0.5, beta=0.5, smooth=0.5, **kw),
            _value("soft_dice", inputs, smooth=1.0, **kw),
            rtol=1e-6,
        )
        np.testing.assert_allclose(
            _value("soft_tversky", inputs, alpha=1.0, beta=1.0, **kw), _value("jaccard", inputs, **kw), rtol=1e-6
        )
        np.testing.assert_allclose(
            _value("focal_tversky", inputs, alpha=0.2, beta=0.8, gamma=1.0, **kw),
            _value("soft_tversky", inputs, alpha=0.2, beta=0.8, **kw),
            rtol=1e-6,
        )


def test_perfect_prediction_gives_zero_and_a_finite_focal_gradient():
    y = np.zeros((2, 3, 3, 2))
    y[:, :2] = 1.0
    logits = np.where(y > 0, 50.0, -50.0).astype("float32")
    loss = lossreg.get("focal_tversky", smooth=1e-6, gamma=0.5)
    value, grads = value_and_grad(lambda y_pred: loss.call(y, y_pred), {"y_pred": logits}, ["y_pred"])
    np.testing.assert_allclose(value, 0.0, atol=1e-6)
    assert grads["y_pred"] is not None and np.all(np.isfinite(grads["y_pred"]))


def _mismatch_reference(y_true, y_pred, alpha=1.0, beta=1.0, gamma=1.0, tp_weight=1.0, smooth=1.0):
    """1 - (w TP + s) / (w TP + a FP + b FN + s) rearranged to (a FP + b FN) / (...), with 1 - p = sigmoid(-x):
    float64 values that stay exact where 1 - sigmoid(x) itself rounds (logits past ~30)."""
    p, q = 1 / (1 + np.exp(-y_pred)), 1 / (1 + np.exp(y_pred))
    axes = tuple(range(1, p.ndim - 1))
    tp, fp, fn = (p * y_true).sum(axes), (p * (1 - y_true)).sum(axes), (q * y_true).sum(axes)
    return (((alpha * fp + beta * fn) / (tp_weight * tp + alpha * fp + beta * fn + smooth)) ** gamma).mean(-1)


NEAR_PERFECT = {  # loss: (its parameters, the same loss in _mismatch_reference's terms)
    "focal_tversky": ({"gamma": 0.1}, {"alpha": 0.3, "beta": 0.7, "gamma": 0.1}),
    "soft_tversky": ({"alpha": 0.2, "beta": 0.8}, {"alpha": 0.2, "beta": 0.8}),
    "soft_dice": ({}, {"tp_weight": 2.0}),
    "jaccard": ({}, {}),
}


@pytest.mark.parametrize("magnitude", [17.0, 30.0])
def test_a_near_perfect_prediction_keeps_its_small_loss_in_float32(magnitude):
    """Past logit 17 sigmoid rounds to 1 in float32: 1 - TI must not cancel to 0, nor FN vanish."""
    y = np.zeros((2, 4, 3, 2))
    y[0, :2], y[1, :, :1] = 1.0, 1.0
    x = np.where(y > 0, magnitude, -magnitude)
    inputs = {"y_true": y.astype("float32"), "y_pred": x.astype("float32")}
    for name, (params, terms) in NEAR_PERFECT.items():
        expected = _mismatch_reference(y, x, **terms)
        if magnitude == 17.0:  # where the papers' formula is still exact in float64, the two references agree
            np.testing.assert_allclose(expected, REFERENCES[name](y, x, **params), rtol=1e-6, err_msg=name)
        assert np.all(expected > 0)
        np.testing.assert_allclose(_value(name, inputs, **params), expected, rtol=1e-5, err_msg=name)


def test_empty_masks_are_finite_and_zero_when_the_prediction_is_empty_too():
    y = np.zeros((1, 4, 4, 1))
    for name in NAMES[:4]:
        np.testing.assert_allclose(_value(name, {"y_true": y, "y_pred": np.zeros_like(y)}, from_logits=False), 0.0)


# -- bad parameters and inputs -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"smooth": 0.0}, "`smooth` must be > 0"),
        ({"activation": "relu"}, "Expected Literal"),
        ({"per_class": False, "class_weights": [1.0]}, "set per_class=True"),
        # class_weights and ignore_class themselves: lossreg's one rule for every loss
        ({"class_weights": [-1.0, 2.0]}, "Invalid 'class_weights' for loss 'soft_dice': expected weights >= 0"),
        ({"class_weights": [0.0, 0.0]}, "at least one positive weight"),
        ({"class_weights": "abc"}, r"Expected list\[float\] \| None, received str"),
        ({"ignore_class": 2.5}, r"Expected int \| None, received float"),
        # the activation's reading of ignore_class: a target value for masks, a channel for one-hot targets
        ({"ignore_class": 1}, r"ignore_class=1, which is a label \(0 or 1\) of the masks"),
        ({"ignore_class": 255, "activation": "softmax"}, None),  # a channel: checked against C when called
        ({"ignore_class": -1, "activation": "softmax"}, "use the sparse_ form"),
    ],
)
def test_bad_parameters_raise_spec_errors(params, match):
    if match is None:
        lossreg.get("soft_dice", **params)
        return
    with pytest.raises(LossSpecError, match=match):
        lossreg.get("soft_dice", **params)


def test_sparse_forms_take_any_integer_ignore_class_and_refuse_class_weights_without_per_class():
    for ignore_class in (255, -1, 0):
        lossreg.get("sparse_soft_dice", ignore_class=ignore_class)
    with pytest.raises(LossSpecError, match="set per_class=True"):
        lossreg.get("sparse_jaccard", per_class=False, class_weights=[1.0, 2.0])
    with pytest.raises(LossSpecError, match="Loss 'sparse_soft_dice' has no parameter 'activation'"):
        lossreg.get("sparse_soft_dice", activation="softmax")


def test_bad_tversky_and_focal_parameters():
    with pytest.raises(LossSpecError, match="`alpha` and `beta` must be >= 0"):
        lossreg.get("soft_tversky", alpha=-0.1)
    with pytest.raises(LossSpecError, match="`gamma` must be > 0"):
        lossreg.get("focal_tversky", gamma=0.0)
    with pytest.raises(LossSpecError, match="`bce_weight` must be >= 0"):
        lossreg.get("dice_bce", bce_weight=-1.0)


def test_class_weights_must_match_the_channels_and_inputs_need_a_channel_axis():
    with pytest.raises(LossInputError, match="2 class_weights but the predictions have 3 channels"):
        lossreg.get("jaccard", class_weights=[1.0, 2.0]).call(ONE_HOT["y_true"], ONE_HOT["y_pred"])
    with pytest.raises(LossInputError, match=r"shaped \(batch, \.\.\., channels\)"):
        lossreg.get("soft_dice").call(np.ones(3), np.ones(3))


# -- packaging ---------------------------------------------------------------------------------------------


def test_docstring_examples_run():
    for module in (lossreg_segmentation.losses, lossreg_segmentation.reference):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.attempted >= 5 and result.failed == 0


def test_entry_points_register_every_loss_with_matching_static_metadata():
    eps = {
        ep.name: ep
        for ep in importlib.metadata.entry_points(group="lossreg.losses")
        if ep.dist.name == "lossreg-segmentation"
    }
    assert set(eps) == set(NAMES) | set(SPARSE)
    assert set(REFERENCES) == set(NAMES) and set(SPARSE_REFERENCES) == set(SPARSE)  # one reference per loss
    for name, ep in eps.items():
        info = lossreg.describe(name)
        assert info.source == "lossreg-segmentation"
        assert "Formula:" in info.doc and "Reference:" in info.doc and "Normalizer:" in info.doc
        assert "leaves the batch mean" in info.normalizer and "<NORMALIZER>" not in info.doc
        summary, extras = static_metadata(ep.value)
        assert (summary, extras) == (info.summary, ())  # what `lossreg list` shows without importing = the truth
        assert lossreg.describe(f"lossreg-segmentation:{name}").params == info.params
