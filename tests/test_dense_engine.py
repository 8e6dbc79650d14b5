"""Dense targets through the engine: the optional ``mask`` tensor, per-pixel weight maps, standard parameters, the
stated normaliser, NaN targets and the first batch's value check in ``fit``.

References are float64 NumPy written here; losses are reached through lossreg's public API only.
"""

from __future__ import annotations

import re
import subprocess
import sys

import keras
import numpy as np
import pytest
from on_backend import BACKEND

import lossreg
from lossreg import LossInputError, LossSpecError
from lossreg.registry import REGISTRY

RNG = np.random.default_rng(12)
F32 = "float32"


def log_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype("float64")
    m = x.max(-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(-1, keepdims=True))


def ce(ids: np.ndarray, x: np.ndarray) -> np.ndarray:
    """-log softmax(x)[id] per pixel, float64."""
    return -np.take_along_axis(log_softmax(x), ids[..., None], -1)[..., 0]


def segmentation(batch=2, size=4, classes=3):
    ids = RNG.integers(0, classes, (batch, size, size))
    x = (RNG.normal(size=(batch, size, size, classes)) * 2).astype(F32)
    return ids, x


@pytest.fixture(scope="module", autouse=True)
def test_losses():
    """This module's losses, registered for its tests and forgotten afterwards (``lossreg list`` stays as shipped)."""
    lossreg.register("test_dense_weighted_mae")(weighted_mean_error)
    lossreg.register("test_dense_logit_mean")(logit_mean)
    yield
    REGISTRY.remove("test_dense_weighted_mae")
    REGISTRY.remove("test_dense_logit_mean")


# -- a loss that applies a per-pixel weight map inside its own sums (what overlap losses do) ----------------------


def weighted_mean_error(y_true, y_pred, *, sample_weight=None):
    """Per-sample weighted mean absolute error: sum(w |y - p|) / sum(w) over the non-batch axes.

    Normalizer:
        The batch mean of per-sample values; a per-pixel weight map weighs each sample's pixels inside its sum.
    """
    y_true, y_pred = lossreg.promote(y_true, y_pred)
    ops = lossreg.ops
    error = ops.abs(y_true - y_pred)
    w = ops.ones_like(error) if sample_weight is None else ops.cast(sample_weight, error.dtype)
    axes = tuple(range(1, len(error.shape)))
    return ops.sum(w * error, axis=axes) / ops.sum(w, axis=axes)


def test_the_reserved_dense_inputs_are_neither_parameters_nor_extras():
    info = lossreg.describe("test_dense_weighted_mae")
    assert info.params == {} and info.extras == () and info.dense_inputs == ("sample_weight",)
    assert "sample_weight (Keras' per-pixel weight map" in str(info)
    assert "normalizer:" in str(info) and info.normalizer.endswith("weighs each sample's pixels inside its sum.")
    sparse = lossreg.describe("sparse_softmax_ce")
    assert sparse.dense_inputs == ("mask",) and set(sparse.params) == {"ignore_class", "class_weights"}
    assert sparse.normalizer.startswith("Keras' mean over every value")


def test_a_reserved_name_without_the_default_none_is_refused():
    def bad(y_true, y_pred, *, mask=0.5):
        return y_pred

    with pytest.raises(TypeError, match=r"'mask' is lossreg's optional mask tensor.*default None"):
        lossreg.loss_factory(bad)


def test_a_pixel_weight_map_goes_inside_a_loss_that_takes_it_and_is_not_applied_again():
    y = RNG.uniform(size=(3, 4, 5)).astype(F32)
    p = RNG.uniform(size=(3, 4, 5)).astype(F32)
    w = RNG.uniform(0.1, 2.0, size=(3, 4, 5)).astype(F32)
    w[1] = 0.0  # a sample weighted 0 everywhere: 0/0 in the loss itself, so keep it out of the check
    w[1, 0, 0] = 1.0
    per_sample = (w * np.abs(y - p)).sum((1, 2)) / w.sum((1, 2))
    got = float(lossreg.get("test_dense_weighted_mae")(y, p, sample_weight=w))
    assert got == pytest.approx(per_sample.mean(), rel=1e-5)
    # a per-sample weight (batch,) is Keras' own, applied after the loss
    s = np.array([0.5, 1.0, 2.0], F32)
    unweighted = np.abs(y - p).mean((1, 2))
    assert float(lossreg.get("test_dense_weighted_mae")(y, p, sample_weight=s)) == pytest.approx(
        (s * unweighted).mean(), rel=1e-5
    )


def logit_mean(y_true, y_pred, *, sample_weight=None):
    """Per-sample weighted mean over pixels of the mean logit: sum(w mean_c(x)) / sum(w).

    Normalizer:
        The batch mean of per-sample values.
    """
    ops = lossreg.ops
    y_pred = lossreg.promote(y_pred)[0]
    m = ops.mean(y_pred, axis=-1)
    w = ops.ones_like(m) if sample_weight is None else ops.cast(sample_weight, m.dtype)
    return ops.sum(w * m, axis=(1, 2)) / ops.sum(w, axis=(1, 2))


def test_a_pixel_weight_map_weighs_every_term_of_an_entry_once():
    """Two terms on one output: the map inside ``test_dense_logit_mean`` (one value per sample), and multiplied into
    ``sparse_softmax_ce``'s per-pixel values (Keras' rule, sum over the count); each sample's sum, then the mean."""
    ids, x = segmentation(2, 4, 3)
    w = RNG.uniform(0.1, 2.0, size=(2, 4, 4)).astype(F32)
    loss = lossreg.resolve({"out": {"loss": [{"loss": "test_dense_logit_mean"}, {"loss": "sparse_softmax_ce"}]}})
    value = float(loss["out"](ids, x, sample_weight=w))
    inside = (w * x.astype("float64").mean(-1)).sum((1, 2)) / w.sum((1, 2))
    outside = (w * ce(ids, x)).mean((1, 2))
    assert value == pytest.approx((inside + outside).mean(), rel=1e-5)
    ce_only = float(lossreg.get("sparse_softmax_ce")(ids, x, sample_weight=w))
    assert ce_only == pytest.approx((w * ce(ids, x)).mean(), rel=1e-5)  # Keras: sum(w v) / count


# -- the optional mask tensor ------------------------------------------------------------------------------------


def test_a_mask_tensor_ignores_what_ignore_class_ignores():
    ids, x = segmentation()
    keep = RNG.uniform(size=ids.shape) > 0.3
    marked = np.where(keep, ids, 255)
    x_nan = x.copy()
    x_nan[~keep] = np.nan
    expected = ce(ids, x)[keep].mean()
    by_value = float(lossreg.get("sparse_softmax_ce", ignore_class=255)(marked, x_nan))
    by_mask = float(lossreg.get("sparse_softmax_ce")(ids, {"y_pred": x_nan, "mask": keep.astype(F32)}))
    assert by_value == pytest.approx(expected, rel=1e-5)
    assert by_mask == pytest.approx(expected, rel=1e-5)


def test_a_mask_given_to_losses_that_take_none_is_refused():
    ids, x = segmentation()
    with pytest.raises(LossInputError, match=r"A 'mask' tensor was passed, but no loss here takes one"):
        lossreg.get("categorical_crossentropy", from_logits=True)(np.eye(3)[ids], {"y_pred": x, "mask": ids * 0})


def _tagger():
    keras.utils.set_random_seed(3)
    inputs = keras.Input((4, 4, 2), name="image")
    keep = keras.Input((4, 4), name="keep")
    logits = keras.layers.Conv2D(3, 1, name="logits")(inputs)
    return inputs, keep, logits


def test_the_mask_wired_by_attach_and_given_to_a_loss_layer_equals_the_reference():
    ids, _ = segmentation()
    image = RNG.normal(size=(2, 4, 4, 2)).astype(F32)
    keep = (RNG.uniform(size=ids.shape) > 0.4).astype(F32)

    inputs, keep_in, logits = _tagger()
    model = keras.Model([inputs, keep_in], {"logits": logits, "keep": keras.layers.Identity(name="keep_out")(keep_in)})
    train = lossreg.attach(model, {"logits": {"loss": "sparse_softmax_ce", "inputs": {"mask": "keep_out"}}})
    train.compile(optimizer="sgd")
    x = keras.ops.convert_to_numpy(model([image, keep])["logits"])
    expected = ce(ids, x)[keep > 0].mean()
    got = train.evaluate([image, keep], {"logits": ids}, verbose=0, return_dict=True)
    assert got["loss"] == pytest.approx(expected, rel=1e-5)

    inputs, keep_in, logits = _tagger()
    target = keras.Input((4, 4), name="target", dtype="int32")
    out = lossreg.LossLayer("sparse_softmax_ce", name="seg_loss")({"y_true": target, "y_pred": logits, "mask": keep_in})
    layer_model = keras.Model([inputs, keep_in, target], out)
    layer_model.compile(optimizer="sgd")
    x = keras.ops.convert_to_numpy(keras.Model([inputs, keep_in, target], logits)([image, keep, ids]))
    got = layer_model.evaluate([image, keep, ids], verbose=0, return_dict=True)
    assert got["loss"] == pytest.approx(ce(ids, x)[keep > 0].mean(), rel=1e-5)


def test_a_spec_wiring_a_mask_to_a_loss_without_one_names_the_path():
    inputs, keep_in, logits = _tagger()
    model = keras.Model([inputs, keep_in], {"logits": logits, "keep": keras.layers.Identity(name="keep_out")(keep_in)})
    with pytest.raises(LossSpecError, match=r"spec\['logits'\]\['inputs'\]\['mask'\]: Extra 'mask' is not taken"):
        lossreg.attach(model, {"logits": {"loss": "categorical_crossentropy", "inputs": {"mask": "keep_out"}}})


# -- standard parameters: one rule for every loss, at the parameter's path, the same message on direct calls -----


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ([1.0, -1.0, 2.0], "element 1 is -1.0"),
        ([1.0, float("nan"), 2.0], "Expected list[float] | None"),  # the type rule refuses NaN first
        ([0.0, 0.0, 0.0], "all are 0"),
        ([], "non-empty list"),
        ("abc", "Expected list[float] | None, received str"),
        ([1.0, 3e38 * 10], "element 1 is 3e+39"),  # finite, but inf in float32
    ],
)
def test_bad_class_weights_are_refused_at_their_path_and_on_direct_calls(value, problem):
    with pytest.raises(LossSpecError) as info:
        lossreg.resolve({"seg": {"loss": "sparse_softmax_ce", "params": {"class_weights": value}}})
    assert info.value.path in ("spec['seg']['params']['class_weights']",)
    assert problem in str(info.value)
    if isinstance(value, list) and value and "Expected" not in problem:
        ids, x = segmentation()
        with pytest.raises(ValueError, match=re.escape(problem)) as direct:
            lossreg.losses.sparse_softmax_ce(ids, x, class_weights=value)
        assert str(direct.value) in str(info.value)


def test_class_weights_of_the_wrong_length_are_an_input_error_naming_the_loss():
    ids, x = segmentation(classes=3)
    with pytest.raises(LossInputError, match=r"sparse_softmax_ce got 2 class_weights but the predictions have 3"):
        lossreg.get("sparse_softmax_ce", class_weights=[1.0, 2.0])(ids, x)
    # where it was asked for, as every other input error: the call, or the spec path
    spec = {"seg": {"loss": "sparse_softmax_ce", "params": {"class_weights": [1.0, 2.0]}}}
    with pytest.raises(LossInputError) as info:
        lossreg.resolve(spec)["seg"](ids, x)
    assert str(info.value).startswith("spec['seg']: sparse_softmax_ce got 2 class_weights"), str(info.value)
    assert info.value.path == "spec['seg']"


@pytest.mark.parametrize("value", [True, 2.5, "255", 2**40])
def test_an_ignore_class_that_is_no_int32_is_refused(value):
    with pytest.raises(LossSpecError) as info:
        lossreg.get("sparse_softmax_ce", ignore_class=value)
    assert "ignore_class" in info.value.path


def test_class_weights_scale_values_and_keep_keras_count():
    ids, x = segmentation(classes=3)
    weights = [0.5, 2.0, 1.0]
    ignored = ids.copy()
    ignored[0, 0] = 255
    keep = ignored != 255
    expected = (np.array(weights)[ids] * ce(ids, x))[keep].mean()
    got = float(lossreg.get("sparse_softmax_ce", ignore_class=255, class_weights=weights)(ignored, x))
    assert got == pytest.approx(expected, rel=1e-5)
    onehot = float(lossreg.get("softmax_ce", class_weights=weights)(np.eye(3, dtype=F32)[ids], x))
    assert onehot == pytest.approx((np.array(weights)[ids] * ce(ids, x)).mean(), rel=1e-5)


# -- targets: NaN refused, ignore values outside [0, 1] or [0, classes) accepted ---------------------------------


def test_nan_targets_are_refused_naming_the_first():
    y = RNG.integers(0, 2, (2, 5)).astype(F32)
    y[1, 3] = np.nan
    with pytest.raises(LossInputError, match=r"sigmoid_bce expects finite targets .* nan at index \(1, 3\)"):
        lossreg.get("sigmoid_bce")(y, np.zeros((2, 5), F32))


def test_a_one_hot_ignore_class_outside_the_channels_says_to_use_the_sparse_form():
    ids, x = segmentation(classes=3)
    with pytest.raises(LossInputError, match=r"one-hot targets have 3 channels.*sparse_ form"):
        lossreg.get("softmax_ce", ignore_class=255)(np.eye(3, dtype=F32)[ids], x)


# -- the stated normaliser, in `lossreg show` ---------------------------------------------------------------------


def test_lossreg_show_prints_the_normalizer_and_the_optional_tensors():
    shown = subprocess.run(
        [sys.executable, "-m", "lossreg", "show", "sparse_softmax_ce"], capture_output=True, text=True, check=True
    ).stdout
    assert "normalizer:\n  Keras' mean over every value" in shown
    assert "optional tensors: mask" in shown


# -- the first batch's value check in fit -------------------------------------------------------------------------


def _sigmoid_model(final=None):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6,))
    out = keras.layers.Dense(3, name="out")(inputs)
    if final:
        out = keras.layers.Activation(final, name="probs")(out)
    return keras.Model(inputs, out)


X = RNG.normal(size=(40, 6)).astype(F32)
MASKS_255 = (RNG.uniform(size=(40, 3)) > 0.5).astype(F32) * 255.0


def test_fit_refuses_a_0_255_mask_before_the_first_step_and_trains_nothing():
    train = lossreg.attach(_sigmoid_model(), {"out": "sigmoid_bce"})
    train.compile(optimizer="sgd")
    before = [keras.ops.convert_to_numpy(w) for w in train.inference_model.weights]
    refused = r"^spec\['out'\]: sigmoid_bce expects targets .* \[0, 255\].*ignore_class"
    with pytest.raises(LossInputError, match=refused):
        train.fit(X, MASKS_255, epochs=1, batch_size=8, verbose=0)
    after = [keras.ops.convert_to_numpy(w) for w in train.inference_model.weights]
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))
    assert int(train.optimizer.iterations) == 0
    history = train.fit(X, MASKS_255 / 255.0, epochs=1, batch_size=8, verbose=0)  # the fix: trains
    assert np.isfinite(history.history["loss"][0])
    train.fit(X, MASKS_255, epochs=1, batch_size=8, verbose=0, check_first_batch=False)  # switched off: Keras trains


def test_fit_refuses_probabilities_given_to_a_loss_on_logits():
    train = lossreg.attach(_sigmoid_model("softmax"), {"probs": "softmax_ce"})
    train.compile(optimizer="sgd")
    with pytest.raises(LossInputError, match=r"softmax_ce expects logits, but the first batch's predictions are"):
        train.fit(X, np.eye(3, dtype=F32)[RNG.integers(0, 3, 40)], verbose=0)


def test_fit_refuses_logits_given_to_a_loss_on_probabilities():
    train = lossreg.attach(_sigmoid_model(), {"out": "binary_crossentropy"})
    train.compile(optimizer="sgd")
    with pytest.raises(LossInputError, match=r"binary_crossentropy expects predictions .* probabilities"):
        train.fit(X, MASKS_255 / 255.0, verbose=0)


def test_the_first_batch_of_a_dataset_and_a_py_dataset_is_checked():
    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return X[8 * i : 8 * i + 8], MASKS_255[8 * i : 8 * i + 8]

    train = lossreg.attach(_sigmoid_model(), {"out": "sigmoid_bce"})
    train.compile(optimizer="sgd")
    with pytest.raises(LossInputError, match=r"\[0, 255\]"):
        train.fit(Batches(), verbose=0)
    if BACKEND == "tensorflow":
        import tensorflow as tf

        with pytest.raises(LossInputError, match=r"\[0, 255\]"):
            train.fit(tf.data.Dataset.from_tensor_slices((X, MASKS_255)).batch(8), verbose=0)


def test_a_generator_is_not_read_twice():
    def batches():
        for i in range(5):
            yield X[8 * i : 8 * i + 8], MASKS_255[8 * i : 8 * i + 8] / 255.0

    train = lossreg.attach(_sigmoid_model(), {"out": "sigmoid_bce"})
    train.compile(optimizer="sgd")
    train.fit(batches(), epochs=1, steps_per_epoch=5, verbose=0, shuffle=False)
    assert int(train.optimizer.iterations) == 5  # all five batches trained: none consumed by the check
    assert lossreg.check_first_batch(train, batches()) is False


def test_check_first_batch_for_a_model_compiled_with_resolve():
    model = _sigmoid_model()
    model.compile(optimizer="sgd", loss=lossreg.resolve({"out": "sigmoid_bce"}))
    with pytest.raises(LossInputError, match=r"^spec\['out'\]: sigmoid_bce expects targets .* \[0, 255\]"):
        lossreg.check_first_batch(model, X, MASKS_255)
    assert lossreg.check_first_batch(model, X, MASKS_255 / 255.0) is True

    keras.utils.set_random_seed(0)
    inputs = keras.Input((6,))
    heads = {"a": keras.layers.Dense(3, name="a")(inputs), "b": keras.layers.Dense(2, name="b")(inputs)}
    two = keras.Model(inputs, heads)
    two.compile(optimizer="sgd", loss=lossreg.resolve({"a": "sigmoid_bce", "b": "sparse_softmax_ce"}))
    ids = RNG.integers(0, 2, 40)
    assert lossreg.check_first_batch(two, X, {"a": MASKS_255 / 255.0, "b": ids}) is True
    with pytest.raises(LossInputError, match=r"^spec\['b'\]: sparse_softmax_ce expects class ids in \[0, 2\)"):
        lossreg.check_first_batch(two, X, {"a": MASKS_255 / 255.0, "b": ids + 1})


def test_a_pixel_map_weighs_every_class_of_its_pixel_even_when_width_equals_classes():
    """(batch, H, W) over per-element values (batch, H, W, C) with W == C: broadcast over C, never aligned with it."""
    z = RNG.integers(0, 2, (2, 3, 4, 4)).astype(F32)
    x = (RNG.normal(size=(2, 3, 4, 4)) * 2).astype(F32)
    w = RNG.uniform(0.0, 2.0, (2, 3, 4)).astype(F32)
    bce = np.maximum(x, 0) - x * z + np.log1p(np.exp(-np.abs(x.astype("float64"))))
    got = float(lossreg.get("sigmoid_bce")(z, x, sample_weight=w))
    assert got == pytest.approx((w[..., None] * bce).mean(), rel=1e-5)
