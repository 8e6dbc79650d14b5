"""Dense targets in the segmentation losses: ignore_class, the mask tensor, per-pixel sample_weight maps and
class_weights, against the float64 NumPy references (lossreg_segmentation.reference), through the public API only.

Every case holds an image with nothing kept (the batch mean must leave it out), NaN/±inf logits at ignored
elements (they must reach neither value nor gradient), and is checked on the pure functions (one value per image)
and through ``lossreg.get`` (Keras' reduction), ``compile``/``fit``/``evaluate`` and ``LossLayer``.

The three loss x form (x option) matrices run every case on TensorFlow, the reference backend; on JAX and PyTorch a
covering sample (``on_backend.covering``, tests/): every loss, every form of targets (sigmoid masks with 255,
one-hot with an ignored channel, class ids with 255 or an ignored id) and every option at least once, and for the
options' matrix every form with every option. A form decides which ops ignore the elements (a select on the ids, a
channel dropped, a mask), an option which reduction runs: each of those paths, with NaN and ±inf at the ignored
elements, runs on every backend; the losses share the overlap arithmetic, each loss runs there too."""

from __future__ import annotations

import subprocess
import sys

import keras
import lossreg_segmentation as seg
import numpy as np
import pytest
from lossreg_segmentation import reference as ref
from on_backend import covering

import lossreg
from lossreg import LossInputError
from lossreg.testing import value_and_grad

NAMES = ("soft_dice", "jaccard", "soft_tversky", "focal_tversky", "dice_bce")
PARAMS = {  # a non-default value of each loss's own parameters
    "soft_dice": {"smooth": 0.5},
    "jaccard": {},
    "soft_tversky": {"alpha": 0.2, "beta": 0.8},
    "focal_tversky": {"gamma": 0.6},
    "dice_bce": {"bce_weight": 0.7, "dice_weight": 0.4},
}
B, H, W, C = 4, 5, 6, 3
RNG = np.random.default_rng(12)
LOGITS = (RNG.normal(size=(B, H, W, C)) * 2).astype("float32")
MASK = (RNG.random((B, H, W)) < 0.8).astype("float32")
WEIGHTS = RNG.uniform(0.2, 2.0, (B, H, W)).astype("float32")
CLASS_WEIGHTS = [1.0, 2.5, 0.5]

# class ids with 255 at ~20 % of the pixels, image 3 entirely 255
IDS = np.where(RNG.random((B, H, W)) < 0.2, 255, RNG.integers(0, C, (B, H, W)))
IDS[3] = 255
# one-hot targets whose channel 0 is ignored: image 3 entirely labelled 0
LABELS = RNG.integers(0, C, (B, H, W))
LABELS[3] = 0
ONE_HOT = np.eye(C, dtype="float32")[LABELS]
# class ids whose id 1 is ignored (a channel too): image 3 entirely 1
IDS_1 = LABELS.copy()
IDS_1[3] = 1
# multi-label masks with 255 at ~20 % of the elements; image 3 entirely 255; channel 2 of image 0 entirely 255
MASKS = np.where(RNG.random((B, H, W, C)) < 0.2, 255.0, (RNG.random((B, H, W, C)) < 0.4) * 1.0).astype("float32")
MASKS[3] = 255.0
MASKS[0, ..., 2] = 255.0

# each form: (loss name of the form, targets, params that say what they are, where the elements are ignored)
FORMS = {
    "sigmoid-255": ("{}", MASKS, {"ignore_class": 255}, MASKS == 255),
    "softmax-channel-0": ("{}", ONE_HOT, {"activation": "softmax", "ignore_class": 0}, (LABELS == 0)[..., None]),
    "sparse-255": ("sparse_{}", IDS, {"ignore_class": 255}, (IDS == 255)[..., None]),
    "sparse-channel-1": ("sparse_{}", IDS_1, {"ignore_class": 1}, (IDS_1 == 1)[..., None]),
}
OPTIONS = {  # extra options on top of each form's ignore_class
    "ignore": {},
    "mask": {"mask": MASK},
    "sample-weight": {"sample_weight": WEIGHTS},
    "class-weights": {"class_weights": CLASS_WEIGHTS},
    "pooled": {"per_class": False},
    "all": {"mask": MASK, "sample_weight": WEIGHTS, "class_weights": CLASS_WEIGHTS},
    "probabilities": {"from_logits": False},
}


def _probabilities(form: str) -> np.ndarray:
    if form == "sigmoid-255":
        return (1 / (1 + np.exp(-LOGITS))).astype("float32")
    e = np.exp(LOGITS - LOGITS.max(-1, keepdims=True))
    return (e / e.sum(-1, keepdims=True)).astype("float32")


def _case(name: str, form: str, option: str):
    """(registered name, pure function, reference, y_true, y_pred, params, mask, sample weight, ignored)."""
    pattern, y_true, params, ignored = FORMS[form]
    loss = pattern.format(name)
    reference = ref.SPARSE_REFERENCES[loss] if loss.startswith("sparse_") else ref.REFERENCES[loss]
    extra = dict(OPTIONS[option])
    mask, weight = extra.pop("mask", None), extra.pop("sample_weight", None)
    y_pred = _probabilities(form) if option == "probabilities" else LOGITS
    return (
        loss,
        getattr(seg, loss),
        reference,
        y_true,
        y_pred,
        {**PARAMS[name], **params, **extra},
        mask,
        weight,
        ignored,
    )


def _kept(form: str, mask: np.ndarray | None) -> np.ndarray:
    """The images that keep an element, worked out from the inputs (not from the reference)."""
    ignored = np.broadcast_to(FORMS[form][3], (B, H, W, C))
    kept = ~ignored if mask is None else ~ignored & (mask[..., None] != 0)
    if form in ("softmax-channel-0", "sparse-channel-1"):  # the ignored channel
        kept = np.delete(kept, 0 if form == "softmax-channel-0" else 1, axis=-1)
    return kept.reshape(B, -1).any(axis=1)


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


def _spoiled(y_pred: np.ndarray, ignored: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """``y_pred`` with NaN, +inf and -inf cycling over the ignored elements (and the masked-out pixels)."""
    where = np.broadcast_to(ignored, y_pred.shape)
    if mask is not None:
        where = where | (mask[..., None] == 0)
    bad = np.resize(np.array([np.nan, np.inf, -np.inf], "float32"), y_pred.shape)
    return np.where(where, bad, y_pred).astype("float32"), where


# -- each option against the float64 reference ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "form", "option"),
    covering(
        [pytest.param(n, f, o, id=f"{n}-{f}-{o}") for n in NAMES for f in FORMS for o in OPTIONS],
        lambda name, form, option: name,
        lambda name, form, option: (form, option),
    ),
)
def test_each_option_matches_the_reference_per_image_and_through_keras(name, form, option):
    loss, fn, reference, y_true, y_pred, params, mask, weight, ignored = _case(name, form, option)
    spoiled, _ = _spoiled(y_pred, ignored, mask)
    expected = reference(y_true, spoiled.astype("float64"), mask=mask, sample_weight=weight, **params)
    assert expected[3] == 0.0 and np.all(np.isfinite(expected))
    got = _numpy(fn(y_true, spoiled, mask=mask, sample_weight=weight, **params))
    np.testing.assert_allclose(got, expected, rtol=2e-5, atol=1e-6)

    # lossreg.get: the mask in the y_pred dict, the map as Keras' sample_weight; the mean over the kept images
    kept = _kept(form, mask)
    assert not kept[3] and kept[:3].all()
    predictions = spoiled if mask is None else {"y_pred": spoiled, "mask": mask}
    value = lossreg.get(loss, **params)(y_true, predictions, sample_weight=weight)
    assert float(value) == pytest.approx(ref.batch_mean(expected, kept), rel=2e-5, abs=1e-6)


def test_a_class_with_nothing_left_leaves_the_class_average_and_an_absent_class_still_counts():
    y = np.array([[[1.0, 255.0], [0.0, 255.0]]])  # one image, two pixels; channel 1 entirely ignored
    p = np.array([[[0.5, 0.9], [0.5, 0.1]]])
    channel_0 = 1 - (2 * 0.5 + 1) / (0.5 + 0.5 + 1 + 1)  # Dice of channel 0 alone: 1/3
    got = seg.soft_dice(y, p, from_logits=False, ignore_class=255, class_weights=[1.0, 5.0])
    np.testing.assert_allclose(_numpy(got), [channel_0], rtol=1e-6)  # not (1/3 + 5 * 0) / 6
    # channel 1 absent from the kept targets (all 0) but kept: it counts, with its false positives
    y = np.array([[[1.0, 0.0], [0.0, 0.0]]])
    channel_1 = 1 - 1 / (0.9 + 0.1 + 1)
    got = seg.soft_dice(y, p, from_logits=False, ignore_class=255)
    np.testing.assert_allclose(_numpy(got), [(channel_0 + channel_1) / 2], rtol=1e-6)
    # one-hot: the ignored channel never counts, even where no pixel is labelled with it
    one_hot = np.array([[[1.0, 0.0], [1.0, 0.0]]])
    got = seg.soft_dice(one_hot, p, from_logits=False, activation="softmax", ignore_class=1)
    np.testing.assert_allclose(_numpy(got), [1 - (2 * 1.0 + 1) / (1.0 + 2.0 + 1)], rtol=1e-6)


def test_dice_bce_cross_entropy_is_keras_sparse_cross_entropy_with_ignore_class_and_class_weights_as_weights():
    ids, logits = IDS[:1], LOGITS[:1]  # one image: its mean over the kept pixels is Keras' batch mean
    keras_ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=255)
    weights = np.asarray(CLASS_WEIGHTS, "float32")[np.where(ids == 255, 0, ids)]
    for class_weights, sample_weight in ((None, None), (CLASS_WEIGHTS, weights)):
        got = seg.sparse_dice_bce(ids, logits, dice_weight=0.0, ignore_class=255, class_weights=class_weights)
        expected = keras_ce(ids, logits, sample_weight=sample_weight)
        np.testing.assert_allclose(_numpy(got), [float(expected)], rtol=1e-5)


# -- ignored elements reach neither the value nor the gradient ----------------------------------------------------

NAME_BY_FORM = covering(
    [pytest.param(n, f, id=f"{n}-{f}") for n in NAMES for f in FORMS],
    lambda name, form: name,
    lambda name, form: form,
)


@pytest.mark.parametrize(("name", "form"), NAME_BY_FORM)
def test_nan_and_inf_logits_at_ignored_elements_change_neither_value_nor_gradient(name, form):
    loss, _, _, y_true, _, params, _, _, ignored = _case(name, form, "mask")
    keras_loss = lossreg.get(loss, **params)

    def call(y_true, y_pred, mask):
        return keras_loss(y_true, {"y_pred": y_pred, "mask": mask})

    spoiled, where = _spoiled(LOGITS, ignored, MASK)
    finite = {"y_true": y_true, "y_pred": LOGITS, "mask": MASK}
    value, grads = value_and_grad(call, finite, ["y_pred"])
    spoiled_value, spoiled_grads = value_and_grad(call, {**finite, "y_pred": spoiled}, ["y_pred"])
    assert np.isfinite(value) and float(spoiled_value) == pytest.approx(float(value), rel=1e-6)
    grad, spoiled_grad = grads["y_pred"], spoiled_grads["y_pred"]
    assert np.all(np.isfinite(spoiled_grad)) and np.all(spoiled_grad[where] == 0.0)
    np.testing.assert_allclose(spoiled_grad, grad, rtol=1e-5, atol=1e-9)
    assert np.abs(grad[~where]).max() > 0  # the kept elements do pull


def _fully_ignored(form: str):
    _, y_true, params, _ = FORMS[form]
    if form == "sigmoid-255":
        return np.full_like(y_true, 255.0), params
    if form == "softmax-channel-0":
        return np.broadcast_to(np.eye(C, dtype="float32")[0], y_true.shape).copy(), params
    return np.full_like(y_true, params["ignore_class"]), params


@pytest.mark.parametrize(("name", "form"), NAME_BY_FORM)
def test_a_fully_ignored_batch_gives_zero_and_finite_gradients(name, form):
    pattern = FORMS[form][0]
    y_true, params = _fully_ignored(form)
    spoiled = np.resize(np.array([np.nan, np.inf, -np.inf], "float32"), LOGITS.shape)
    for option in ({}, {"class_weights": CLASS_WEIGHTS}, {"per_class": False}):
        keras_loss = lossreg.get(pattern.format(name), **PARAMS[name], **params, **option)
        for y_pred in (LOGITS, spoiled):
            value, grads = value_and_grad(keras_loss, {"y_true": y_true, "y_pred": y_pred}, ["y_pred"])
            assert float(value) == 0.0
            assert np.all(grads["y_pred"] == 0.0)
    # an all-zero mask with nothing else ignored
    keras_loss = lossreg.get(pattern.format(name), **PARAMS[name], **params)
    zero = np.zeros((B, H, W), "float32")
    value, grads = value_and_grad(
        lambda y_true, y_pred, mask: keras_loss(y_true, {"y_pred": y_pred, "mask": mask}),
        {"y_true": FORMS[form][1], "y_pred": spoiled, "mask": zero},
        ["y_pred"],
    )
    assert float(value) == 0.0 and np.all(grads["y_pred"] == 0.0)


# -- sample weights: maps inside the sums, per-sample weights in the reduction, a 0/1 map against the mask ----------


@pytest.mark.parametrize("name", NAMES[:4])
def test_a_zero_one_weight_map_equals_the_mask_per_image_and_under_the_sum_reduction(name):
    loss, fn, _, y_true, _, params, _, _, _ = _case(name, "sparse-255", "ignore")
    binary = (RNG.random((B, H, W)) < 0.7).astype("float32")
    binary[2] = 0.0  # image 2: nothing kept by the mask, every weight 0
    by_mask = _numpy(fn(y_true, LOGITS, mask=binary, **params))
    by_weight = _numpy(fn(y_true, LOGITS, sample_weight=binary, **params))
    np.testing.assert_allclose(by_weight, by_mask, rtol=1e-6, atol=1e-7)
    assert by_mask[2] == by_mask[3] == 0.0  # image 3 is all 255, image 2 all masked (or weighted 0): both 0
    for reduction, count in (("sum", 1), ("sum_over_batch_size", None)):
        keras_loss = lossreg.RegisteredLoss([{"loss": loss, "params": params}], reduction=reduction)
        masked = float(keras_loss(y_true, {"y_pred": LOGITS, "mask": binary}))
        weighted = float(keras_loss(y_true, LOGITS, sample_weight=binary))
        if count == 1:
            assert masked == pytest.approx(weighted, rel=1e-6) == pytest.approx(float(np.sum(by_mask)), rel=1e-6)
        else:  # Keras' default: a masked image leaves the mean, a zero-weighted one counts (Keras' own rule)
            assert masked == pytest.approx(float(np.mean(by_mask[:2])), rel=1e-6)
            assert weighted == pytest.approx(float(np.sum(by_mask[:3]) / 3), rel=1e-6)


def test_dice_bce_cross_entropy_counts_zero_weighted_pixels_and_not_masked_ones():
    _, fn, _, y_true, _, params, _, _, _ = _case("dice_bce", "sparse-255", "ignore")
    binary = (RNG.random((B, H, W)) < 0.7).astype("float32")
    dice_only, ce_only = {**params, "bce_weight": 0.0}, {**params, "dice_weight": 0.0}
    np.testing.assert_allclose(  # the Dice term: a 0/1 map is the mask
        _numpy(fn(y_true, LOGITS, sample_weight=binary, **dice_only)),
        _numpy(fn(y_true, LOGITS, mask=binary, **dice_only)),
        rtol=1e-6,
    )
    # the cross-entropy: the same sum over the weighted pixels, over the kept pixels' count (Keras' mean)
    kept = (IDS != 255).reshape(B, -1)
    by_mask = _numpy(fn(y_true, LOGITS, mask=binary, **ce_only)) * np.sum(kept & (binary.reshape(B, -1) > 0), 1)
    by_weight = _numpy(fn(y_true, LOGITS, sample_weight=binary, **ce_only)) * np.sum(kept, 1)
    np.testing.assert_allclose(by_weight, by_mask, rtol=1e-5)
    assert np.all(by_mask[:3] > 0)


def test_a_per_sample_weight_weighs_whole_images_in_the_reduction():
    loss, fn, _, y_true, _, params, _, _, _ = _case("focal_tversky", "sigmoid-255", "ignore")
    per_image = _numpy(fn(y_true, LOGITS, **params))
    weights = np.array([0.5, 2.0, 1.0, 3.0], "float32")
    got = float(lossreg.get(loss, **params)(y_true, LOGITS, sample_weight=weights))
    assert got == pytest.approx(float(np.sum(weights[:3] * per_image[:3]) / 3), rel=1e-6)


def _tiny_model(seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    features = keras.Input((H, W, 2))
    return keras.Model(features, keras.layers.Dense(C)(features))


@pytest.mark.parametrize(("name", "form"), [("soft_dice", "sigmoid-255"), ("dice_bce", "sparse-255")])
def test_fit_and_evaluate_hand_the_weight_map_to_the_loss(name, form):
    loss, _, reference, y_true, _, params, _, _, _ = _case(name, form, "class-weights")
    features = RNG.normal(size=(B, H, W, 2)).astype("float32")
    model = _tiny_model(3)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=lossreg.get(loss, **params))
    predictions = _numpy(model(features)).astype("float64")
    expected = ref.batch_mean(reference(y_true, predictions, sample_weight=WEIGHTS, **params), _kept(form, None))
    unweighted = ref.batch_mean(reference(y_true, predictions, **params), _kept(form, None))
    assert abs(expected - unweighted) > 1e-3  # the map matters here
    evaluated = model.evaluate(features, y_true, sample_weight=WEIGHTS, batch_size=B, verbose=0)
    assert evaluated == pytest.approx(expected, rel=1e-5)
    history = model.fit(features, y_true, sample_weight=WEIGHTS, batch_size=B, epochs=2, verbose=0).history["loss"]
    assert history[0] == pytest.approx(expected, rel=1e-5)  # the first step's loss, before its update
    assert history[1] < history[0]


def test_loss_layer_takes_the_mask_in_its_dict():
    loss, _, reference, y_true, _, params, _, _, _ = _case("jaccard", "sigmoid-255", "class-weights")
    features, target, mask = keras.Input((H, W, 2)), keras.Input((H, W, C)), keras.Input((H, W))
    logits = keras.layers.Dense(C)(features)
    out = lossreg.LossLayer(loss, params=params)({"y_true": target, "y_pred": logits, "mask": mask})
    model = keras.Model([features, target, mask], out)
    model.compile(optimizer="sgd")
    inputs = [RNG.normal(size=(B, H, W, 2)).astype("float32"), y_true, MASK]
    predictions = _numpy(model(inputs)).astype("float64")
    expected = ref.batch_mean(reference(y_true, predictions, mask=MASK, **params), _kept("sigmoid-255", MASK))
    evaluated = model.evaluate(inputs, batch_size=B, verbose=0, return_dict=True)
    assert evaluated["loss"] == pytest.approx(expected, rel=1e-5)


def test_attach_wires_the_mask_and_fit_hands_the_weight_map_to_a_sparse_form():
    loss, _, reference, y_true, _, params, _, _, _ = _case("focal_tversky", "sparse-255", "class-weights")
    keras.utils.set_random_seed(5)
    features, keep = keras.Input((H, W, 2), name="image"), keras.Input((H, W), name="keep")
    logits = keras.layers.Dense(C, name="logits")(features)
    model = keras.Model([features, keep], {"logits": logits, "keep": keras.layers.Identity(name="keep_out")(keep)})
    spec = {"logits": {"loss": loss, "params": params, "inputs": {"mask": "keep_out"}}}
    train = lossreg.attach(model, spec)
    train.compile(optimizer=keras.optimizers.SGD(0.1))
    inputs = [RNG.normal(size=(B, H, W, 2)).astype("float32"), MASK]
    predictions = _numpy(model(inputs)["logits"]).astype("float64")
    values = reference(y_true, predictions, mask=MASK, sample_weight=WEIGHTS, **params)
    expected = ref.batch_mean(values, _kept("sparse-255", MASK))
    got = train.evaluate(
        inputs, {"logits": y_true}, sample_weight={"logits": WEIGHTS}, batch_size=B, verbose=0, return_dict=True
    )
    assert got["loss"] == pytest.approx(expected, rel=1e-5)
    history = train.fit(
        inputs, {"logits": y_true}, sample_weight={"logits": WEIGHTS}, batch_size=B, epochs=2, verbose=0
    )
    assert history.history["loss"][0] == pytest.approx(expected, rel=1e-5)
    assert history.history["loss"][1] < history.history["loss"][0]


# -- the sparse forms are the one-hot forms on the one-hot ids ----------------------------------------------------


@pytest.mark.parametrize("from_logits", [True, False])
@pytest.mark.parametrize("name", NAMES)
def test_sparse_forms_equal_the_one_hot_forms_on_the_one_hot_ids(name, from_logits):
    sparse, dense = getattr(seg, f"sparse_{name}"), getattr(seg, name)
    y_pred = LOGITS if from_logits else _probabilities("sparse-255")
    common = {**PARAMS[name], "from_logits": from_logits, "class_weights": CLASS_WEIGHTS, "sample_weight": WEIGHTS}
    one_hot = np.eye(C, dtype="float32")[np.where(IDS == 255, 0, IDS)] * (IDS != 255)[..., None]
    np.testing.assert_allclose(
        _numpy(sparse(IDS, y_pred, ignore_class=255, mask=MASK, **common)),
        _numpy(dense(one_hot, y_pred, activation="softmax", mask=MASK * (IDS != 255), **common)),
        rtol=1e-6,
        atol=1e-7,
    )
    np.testing.assert_allclose(  # an id in [0, C): the one-hot form's ignored channel
        _numpy(sparse(LABELS[..., None], y_pred, ignore_class=2, **common)),  # (batch, ..., 1) ids too
        _numpy(dense(np.eye(C, dtype="float32")[LABELS], y_pred, activation="softmax", ignore_class=2, **common)),
        rtol=1e-6,
        atol=1e-7,
    )
    no_ignore = lossreg.get(f"sparse_{name}", **PARAMS[name])(LABELS, LOGITS)
    assert float(no_ignore) == pytest.approx(
        float(lossreg.get(name, activation="softmax", **PARAMS[name])(np.eye(C)[LABELS], LOGITS)), rel=1e-6
    )


# -- errors, and what `lossreg show` says ---------------------------------------------------------------------------


def test_clear_errors_for_dense_inputs():
    with pytest.raises(ValueError, match=r"Invalid 'class_weights' for loss 'soft_dice': expected weights >= 0"):
        seg.soft_dice(
            MASKS, LOGITS, ignore_class=255, class_weights=[1.0, -1.0, 1.0]
        )  # lossreg's rule, called directly
    with pytest.raises(ValueError, match=r"Invalid 'ignore_class' for loss 'sparse_jaccard': expected an integer"):
        seg.sparse_jaccard(IDS, LOGITS, ignore_class=2.5)
    with pytest.raises(LossInputError, match=r"ignore_class=3 but its one-hot targets have 3 channels"):
        lossreg.get("soft_dice", activation="softmax", ignore_class=3)(ONE_HOT, LOGITS)
    with pytest.raises(LossInputError, match=r"expects `mask` shaped like the predictions without their channel"):
        seg.jaccard(MASKS, LOGITS, ignore_class=255, mask=MASK[:, 0])
    with pytest.raises(LossInputError, match=r"expects `sample_weight` shaped like the predictions without"):
        seg.soft_dice(MASKS, LOGITS, ignore_class=255, sample_weight=np.ones((B, H, W, C)))
    with pytest.raises(LossInputError, match=r"class ids in \[0, 3\).*received ids in \[0, 255\]"):
        lossreg.get("sparse_soft_dice")(IDS, LOGITS)  # 255 without ignore_class=255
    with pytest.raises(LossInputError, match="pass ignore_class=255"):
        lossreg.get("soft_dice")(MASKS, LOGITS)
    with pytest.raises(LossInputError, match="2 class_weights but the predictions have 3 channels"):
        lossreg.get("sparse_dice_bce", class_weights=[1.0, 2.0])(LABELS, LOGITS)


def test_lossreg_show_lists_the_normalizer_of_a_sparse_form():
    shown = subprocess.run(
        [sys.executable, "-m", "lossreg", "show", "sparse_soft_dice"], capture_output=True, text=True, check=True
    ).stdout
    assert "optional tensors: mask, sample_weight" in shown and "normalizer:" in shown
    text = " ".join(shown.split())
    assert (
        "normalizer: Ignored pixels" in text
        and "Normalizer: Ignored pixels: where the class id equals ``ignore_class``" in text
    )
    assert "An image with nothing left is 0 and leaves the batch mean" in text
    assert "targets: integer class ids" in text
    info = lossreg.describe("sparse_soft_dice")  # the same section, as LossInfo.normalizer
    assert info.normalizer.startswith("Ignored pixels:") and "leaves the batch mean" in info.normalizer
    assert info.dense_inputs == ("mask", "sample_weight") and "ignore_class" in info.params
    assert "normalizer:" in str(info) and "optional tensors: mask" in str(info)
