"""Issue 12 for lossreg's core losses: ignored elements, masks, class weights and per-pixel weight maps.

``sigmoid_bce``, ``sigmoid_focal``, ``sigmoid_dice``, ``softmax_ce``, ``sparse_softmax_ce``,
``band_masked_softmax_ce`` and ``sparse_band_masked_softmax_ce``, through the public API only (``lossreg.get``,
``lossreg.resolve``, ``lossreg.LossLayer``, ``lossreg.attach`` and the functions of ``lossreg.losses``), against

* the committed float64 golden values (``dense_cases`` of tests/golden/golden_values.json, from the float64 NumPy
  references of tests/references/builtin.py): each function's values, and Keras' reduction of them (the mean over
  the kept elements, each loss's ``Normalizer:``), on every backend;
* float64 NumPy references written here, for per-pixel ``sample_weight`` maps and the normalisers;
* Keras' own ``SparseCategoricalCrossentropy(from_logits=True, ignore_class=...)`` (255 and -1, sample weights,
  reductions, and through ``resolve`` + ``fit``/``evaluate`` on a tiny model);
* raw TensorFlow expressions (``tf.nn.sigmoid_cross_entropy_with_logits``, ``tf.nn.softmax_cross_entropy_with_logits``,
  ``tf.linalg.band_part``), on TensorFlow only (``RAW_TF``);

and the invariants: NaN and ±inf logits at ignored elements change neither the value nor the gradient (the
backend's own autodiff, ``lossreg.testing.value_and_grad``), and a fully ignored batch gives 0 with finite gradients.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
from keras import ops
from on_backend import BACKEND, RAW_TF, only_on
from references import REFERENCES
from references.builtin import counted, keras_mean

import lossreg
from lossreg.losses import (
    band_masked_softmax_ce,
    sigmoid_bce,
    sigmoid_dice,
    sigmoid_focal,
    softmax_ce,
    sparse_band_masked_softmax_ce,
    sparse_softmax_ce,
)
from lossreg.testing import value_and_grad

if BACKEND == "tensorflow":  # raw TF references run there only (RAW_TF)
    import tensorflow as tf

GOLDEN = json.loads((Path(__file__).parent / "golden" / "golden_values.json").read_text(encoding="utf-8"))
DENSE = GOLDEN["dense_cases"]
FUNCTIONS = {
    "sigmoid_bce": sigmoid_bce,
    "sigmoid_focal": sigmoid_focal,
    "sigmoid_dice": sigmoid_dice,
    "softmax_ce": softmax_ce,
    "sparse_softmax_ce": sparse_softmax_ce,
    "band_masked_softmax_ce": band_masked_softmax_ce,
    "sparse_band_masked_softmax_ce": sparse_band_masked_softmax_ce,
}
SPARSE = ("sparse_softmax_ce", "sparse_band_masked_softmax_ce")
#: float32 against float64, element by element: softmax CE is a difference of O(1) numbers (see test_losses_golden)
F32_ATOL = 8 * float(np.finfo(np.float32).eps)
#: float64 inputs stay float64 (TensorFlow, PyTorch; JAX only with JAX_ENABLE_X64=1)
FLOAT64 = keras.backend.standardize_dtype(ops.convert_to_tensor(np.zeros(1)).dtype) == "float64"
#: float64 NumPy inputs against a float64 reference: 1e-12 where they stay float64, float32's 1e-5 on JAX without x64
RTOL64 = 1e-12 if FLOAT64 else 1e-5


def by_id(cases: list[dict[str, Any]]) -> Any:
    return pytest.mark.parametrize("case", cases, ids=[c["id"] for c in cases])


def arrays(case: dict[str, Any], dtype: str) -> dict[str, np.ndarray]:
    """The case's inputs: floats in ``dtype``, class ids as int32, masks as they are stored (0/1 floats)."""
    out = {k: np.asarray(v, dtype) for k, v in case["inputs"].items()}
    if case["loss"] in SPARSE:
        out["y_true"] = np.asarray(case["inputs"]["y_true"]).astype("int32")
    return out


def numpy(x: Any) -> np.ndarray:
    return np.asarray(ops.convert_to_numpy(x))


def keras_loss_value(name: str, params: dict[str, Any], inputs: dict[str, np.ndarray], **call: Any) -> float:
    """``lossreg.get(name, **params)`` on backend tensors; a ``mask`` rides in ``y_pred``, a ``sample_weight`` map is
    Keras' ``sample_weight``."""
    t = {k: ops.convert_to_tensor(v) for k, v in inputs.items()}
    y_pred = {"y_pred": t["y_pred"], "mask": t["mask"]} if "mask" in t else t["y_pred"]
    if "sample_weight" in t:
        call["sample_weight"] = t["sample_weight"]
    return float(numpy(lossreg.get(name, **params)(t["y_true"], y_pred, **call)))


def assert_close(actual: Any, expected: Any, rtol: float, what: str, atol: float = 0.0) -> None:
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, err_msg=what)


# ----------------------------------------------------------------------------------------------------------------
# the golden dense cases: values and Keras' reduction (the stated normaliser)


def test_dense_cases_cover_every_core_loss_and_option():
    """The table is not empty where it matters: each loss, each option, and a fully ignored image and batch."""
    losses = {c["loss"] for c in DENSE}
    assert losses == set(FUNCTIONS)
    for name in FUNCTIONS:
        own = [c for c in DENSE if c["loss"] == name]
        assert any(c["counted"] is not None for c in own), f"{name}: no case with ignored elements"
        assert any("class_weights" in c["params"] for c in own) or name == "sigmoid_dice", name
        assert any("mask" in c["inputs"] for c in own), f"{name}: no case with a mask tensor"
    assert any(c["counted"] is not None and not np.any(c["counted"]) for c in DENSE), "no fully ignored batch"
    assert any("sample_weight" in c["inputs"] for c in DENSE if c["loss"] == "sigmoid_dice")


def test_dense_cases_are_the_references_of_the_stored_inputs():
    """Committed numbers = the float64 references (tests/references/builtin.py) on the committed inputs; the values
    are 0 wherever the normaliser does not count them (ignored elements carry nothing)."""
    for case in DENSE:
        inputs = {k: np.asarray(v, np.float64) for k, v in case["inputs"].items()}
        values = REFERENCES[case["loss"]](inputs, case["params"])
        np.testing.assert_allclose(values, case["values"], rtol=1e-13, atol=0, err_msg=case["id"])
        keep = counted(case["loss"], inputs, case["params"])
        if keep is not None:
            assert np.all(np.asarray(case["values"])[~np.asarray(keep, bool)] == 0.0), case["id"]
            assert keras_mean(values, keep) == pytest.approx(case["loss_value"], rel=1e-13)


def call_function(case: dict[str, Any], inputs: dict[str, np.ndarray]) -> np.ndarray:
    extras = {k: ops.convert_to_tensor(v) for k, v in inputs.items() if k in ("mask", "sample_weight")}
    fn = FUNCTIONS[case["loss"]]
    return numpy(
        fn(ops.convert_to_tensor(inputs["y_true"]), ops.convert_to_tensor(inputs["y_pred"]), **extras, **case["params"])
    )


@by_id(DENSE)
def test_function_values_equal_the_golden_values_float32(case):
    values = call_function(case, arrays(case, "float32"))
    assert values.dtype == np.float32
    assert_close(values, case["values"], 1e-5, case["id"], atol=F32_ATOL)


@only_on(
    "tensorflow",
    "torch",
    why="float64 stays float64 on TensorFlow and PyTorch; JAX truncates float64 inputs to float32 unless "
    "JAX_ENABLE_X64=1 (checked as float32 by the test above)",
)
@by_id(DENSE)
def test_function_values_equal_the_golden_values_float64(case):
    values = call_function(case, arrays(case, "float64"))
    assert values.dtype == np.float64
    assert_close(values, case["values"], 1e-12, case["id"], atol=1e-14)


@by_id(DENSE)
def test_keras_reduction_is_the_stated_normaliser(case):
    """``lossreg.get(...)(y_true, y_pred)``: the mean over the kept values (``counted``), 0 when none is kept; a
    ``sample_weight`` map given to ``sigmoid_dice`` weighs inside its sums only."""
    value = keras_loss_value(case["loss"], case["params"], arrays(case, "float32"))
    assert value == pytest.approx(case["loss_value"], rel=1e-5, abs=1e-6), case["id"]


# ----------------------------------------------------------------------------------------------------------------
# per-pixel sample_weight maps, masks and class weights against float64 NumPy references written here


def np_softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


def np_bce(z: np.ndarray, x: np.ndarray) -> np.ndarray:
    return z * np_softplus(-x) + (1.0 - z) * np_softplus(x)


def np_focal(z: np.ndarray, x: np.ndarray, alpha: float, gamma: float) -> np.ndarray:
    p = 1.0 / (1.0 + np.exp(-x))
    one_minus_pt = z * (1.0 - p) + (1.0 - z) * p
    return (z * alpha + (1.0 - z) * (1.0 - alpha)) * one_minus_pt**gamma * np_bce(z, x)


def unit_inputs(seed: int, shape: tuple[int, ...] = (3, 4, 5, 2), ignore: float = 255.0) -> dict[str, np.ndarray]:
    """0/1 targets with about a quarter set to ``ignore``, logits N(0, 2²), a per-pixel map (batch, H, W) in [0, 2)."""
    rng = np.random.default_rng(seed)
    z = rng.integers(0, 2, shape).astype(float)
    z[rng.random(shape) < 0.25] = ignore
    return {
        "y_true": z,
        "y_pred": rng.normal(0.0, 2.0, shape),
        "weights": rng.uniform(0.0, 2.0, shape[:-1]),
        "mask": (rng.random(shape[:-1]) > 0.3).astype(float),
    }


def weighted_expected(name: str, ignore: int, weight: np.ndarray) -> tuple[dict[str, np.ndarray], float]:
    """Inputs (values (batch, H, W, C), weight ``weight``) and Σ_kept w ℓ / #kept: what Keras' ``ignore_class``
    gives a weighted sparse CE, with the channels' class weights inside ℓ."""
    d = unit_inputs(1, ignore=float(ignore))
    z, x = d["y_true"], d["y_pred"]
    keep = z != ignore
    cw = np.array([0.5, 3.0])
    zk, xk = np.where(keep, z, 0.0), np.where(keep, x, 0.0)
    ell = (np_bce(zk, xk) if name == "sigmoid_bce" else np_focal(zk, xk, 0.25, 2.0)) * cw
    w = weight.reshape(weight.shape + (1,) * (z.ndim - weight.ndim))
    expected = float(np.sum(np.where(keep, ell * w, 0.0)) / keep.sum())
    return {"y_true": z, "y_pred": x.astype("float32"), "sample_weight": weight}, expected


PER_ELEMENT = pytest.mark.parametrize("name", ["sigmoid_bce", "sigmoid_focal"])
IGNORES = pytest.mark.parametrize("ignore", [255, -1])


@PER_ELEMENT
@IGNORES
def test_per_element_losses_with_a_per_pixel_weight_map(name, ignore):
    """Values (batch, H, W, C), Keras' ``sample_weight`` (batch, H, W): each pixel's weight over its channels."""
    weight = np.random.default_rng(20).uniform(0.0, 2.0, (3, 4, 5))
    inputs, expected = weighted_expected(name, ignore, weight)
    value = keras_loss_value(name, {"ignore_class": ignore, "class_weights": [0.5, 3.0]}, inputs)
    assert value == pytest.approx(expected, rel=1e-5)


@PER_ELEMENT
@IGNORES
@pytest.mark.parametrize("shape", [(3, 4, 5, 2), (3,)], ids=["per_element", "per_sample"])
def test_per_element_losses_with_element_and_sample_weights(name, ignore, shape):
    """A weight per element (the values' shape) or per sample (batch,): Σ_kept w ℓ / #kept."""
    weight = np.random.default_rng(21).uniform(0.0, 2.0, shape)
    inputs, expected = weighted_expected(name, ignore, weight)
    value = keras_loss_value(name, {"ignore_class": ignore, "class_weights": [0.5, 3.0]}, inputs)
    assert value == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("name", ["sigmoid_bce", "sigmoid_focal"])
def test_per_pixel_mask_over_channels(name):
    """A mask (batch, H, W) ignores every channel of a pixel; with ignore_class too, both leave the mean."""
    d = unit_inputs(2)
    z, x, m = d["y_true"], d["y_pred"], d["mask"]
    keep = (z != 255) & (m[..., None] != 0)
    zk, xk = np.where(keep, z, 0.0), np.where(keep, x, 0.0)
    ell = np_bce(zk, xk) if name == "sigmoid_bce" else np_focal(zk, xk, 0.25, 2.0)
    expected = np.sum(np.where(keep, ell, 0.0)) / keep.sum()
    value = keras_loss_value(name, {"ignore_class": 255}, {"y_true": z, "y_pred": x.astype("float32"), "mask": m})
    assert value == pytest.approx(expected, rel=1e-5)
    # the function: 0 at every ignored element, the reference's value elsewhere
    values = numpy(FUNCTIONS[name](z, x, ignore_class=255, mask=m))
    np.testing.assert_allclose(values, np.where(keep, ell, 0.0), rtol=RTOL64, atol=1e-15 if FLOAT64 else 1e-6)


def np_dice(y: np.ndarray, x: np.ndarray, v: np.ndarray, smooth: float) -> np.ndarray:
    """1 - (2 Σ v p y + s) / (Σ v p + Σ v y + s) per sample."""
    p = 1.0 / (1.0 + np.exp(-x))
    axes = tuple(range(1, y.ndim))
    return 1.0 - (2.0 * np.sum(v * p * y, axis=axes) + smooth) / (
        np.sum(v * p, axis=axes) + np.sum(v * y, axis=axes) + smooth
    )


def test_sigmoid_dice_weight_map_inside_the_sums():
    """Keras' (batch, H, W) ``sample_weight`` reaches sigmoid_dice's sums (Σ w p y, Σ w p, Σ w y), not its reduction;
    ignored pixels leave every sum; a sample with nothing kept leaves the batch mean."""
    d = unit_inputs(3, shape=(3, 4, 5, 1))
    z, x, w = d["y_true"], d["y_pred"], d["weights"]
    z[2] = 255.0  # the third image: nothing labelled
    keep = z != 255
    v = keep * w[..., None]
    per_sample = np_dice(np.where(keep, z, 0.0), x, v, 1.0)
    expected = np.mean(per_sample[:2])
    value = keras_loss_value("sigmoid_dice", {"ignore_class": 255}, {"y_true": z, "y_pred": x, "sample_weight": w})
    assert value == pytest.approx(expected, rel=1e-5)
    # not the per-sample weighting Keras would apply to the values (a different number)
    outside = np.mean(np_dice(np.where(keep, z, 0.0), x, keep.astype(float), 1.0)[:2] * w[:2].mean(axis=(1, 2)))
    assert abs(value - outside) > 1e-3
    # the function with the map and the map through Keras agree
    values = numpy(sigmoid_dice(z, x, ignore_class=255, sample_weight=w))
    np.testing.assert_allclose(values, np.where([True, True, False], per_sample, 0.0), rtol=RTOL64)


def test_sigmoid_dice_weight_map_in_evaluate_and_fit():
    """``fit``/``evaluate``'s per-pixel ``sample_weight`` reaches sigmoid_dice's sums through compile(loss=resolve):
    evaluate gives the NumPy figure, and a step of SGD moves the weights (the gradient flows through the map)."""
    rng = np.random.default_rng(22)
    x = rng.normal(size=(4, 4, 4, 2)).astype("float32")
    y = rng.integers(0, 2, (4, 4, 4, 1)).astype("float32")
    y[rng.random(y.shape) < 0.25] = 255.0
    y[3] = 255.0  # nothing labelled in the last image
    w = rng.uniform(0.0, 2.0, (4, 4, 4)).astype("float32")
    keras.utils.set_random_seed(23)
    inp = keras.Input((4, 4, 2))
    model = keras.Model(inp, keras.layers.Dense(1, name="mask")(inp))
    spec = {"loss": "sigmoid_dice", "params": {"ignore_class": 255}}
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0), loss=lossreg.resolve(spec, model=model))
    logits = numpy(model(x)).astype(np.float64)
    keep = y != 255
    expected = np.mean(np_dice(np.where(keep, y, 0.0), logits, keep * w[..., None], 1.0)[:3])
    figure = model.evaluate(x, y, sample_weight=w, batch_size=4, verbose=0)
    assert figure == pytest.approx(expected, rel=1e-5)
    before = model.get_weights()[0].copy()
    model.fit(x, y, sample_weight=w, batch_size=4, epochs=1, verbose=0)
    after = model.get_weights()[0]
    assert np.all(np.isfinite(after)) and not np.allclose(after, before)


def test_sigmoid_dice_per_sample_weight_weighs_the_reduction():
    """A (batch,) sample weight is not a map: Keras weighs the per-sample values with it, as for any loss."""
    d = unit_inputs(4, shape=(3, 4, 5, 1))
    z, x = np.where(d["y_true"] == 255, 0.0, d["y_true"]), d["y_pred"]
    ws = np.array([1.0, 0.0, 3.0])
    expected = np.sum(np_dice(z, x, np.ones_like(z), 1.0) * ws) / 3
    assert keras_loss_value("sigmoid_dice", {}, {"y_true": z, "y_pred": x, "sample_weight": ws}) == pytest.approx(
        expected, rel=1e-5
    )


def test_band_normalisers_with_ignored_pairs():
    """normalize="all": mean over the kept pairs (outside the band counting 0); "band": over the kept pairs in the
    band; with nothing ignored, either equals the value without ignore_class (the defaults' value unchanged)."""
    rng = np.random.default_rng(5)
    ids = rng.integers(0, 3, (2, 5, 5))
    x = rng.normal(0.0, 2.0, (2, 5, 5, 3))
    ids_ignored = np.where(rng.random(ids.shape) < 0.3, 255, ids)
    keep = ids_ignored != 255
    ce = -np.take_along_axis(x - np.log(np.sum(np.exp(x), -1, keepdims=True)), ids[..., None], -1)[..., 0]
    i, j = np.indices((5, 5))
    band = (i - j <= 1) & (j - i <= 1)  # lower=1, upper=1, with the diagonal
    params = {"lower": 1, "upper": 1, "include_diagonal": True}
    y = np.eye(3)[ids]
    for normalize, counted_pairs in (("all", keep), ("band", keep & band)):
        expected = np.sum(np.where(band & keep, ce, 0.0)) / counted_pairs.sum()
        p = {**params, "normalize": normalize, "ignore_class": 255}
        got = keras_loss_value("sparse_band_masked_softmax_ce", p, {"y_true": ids_ignored, "y_pred": x})
        assert got == pytest.approx(expected, rel=1e-6), normalize
        got = keras_loss_value(
            "band_masked_softmax_ce", {**params, "normalize": normalize}, {"y_true": y, "y_pred": x, "mask": keep}
        )
        assert got == pytest.approx(expected, rel=1e-6), normalize
        # nothing ignored: the same value as without ignore_class
        plain = keras_loss_value(
            "band_masked_softmax_ce", {**params, "normalize": normalize}, {"y_true": y, "y_pred": x}
        )
        nothing = keras_loss_value(
            "sparse_band_masked_softmax_ce",
            {**params, "normalize": normalize, "ignore_class": 255},
            {"y_true": ids, "y_pred": x},
        )
        assert nothing == pytest.approx(plain, rel=1e-6), normalize
        expected_plain = np.sum(np.where(band, ce, 0.0)) / (ce.size if normalize == "all" else 2 * band.sum())
        assert plain == pytest.approx(expected_plain, rel=1e-6), normalize


def test_class_weights_scale_values_and_leave_the_count():
    """-Σ w_c y_c log p_c per element and Keras' count of kept elements (not PyTorch's Σ w of the targets)."""
    rng = np.random.default_rng(6)
    ids = rng.integers(0, 3, (4, 6))
    x = rng.normal(0.0, 2.0, (4, 6, 3))
    w = np.array([0.5, 2.0, 0.0])
    log_p = x - np.log(np.sum(np.exp(x), -1, keepdims=True))
    ce = -np.take_along_axis(log_p, ids[..., None], -1)[..., 0]
    expected = np.mean(w[ids] * ce)
    assert keras_loss_value("sparse_softmax_ce", {"class_weights": w.tolist()}, {"y_true": ids, "y_pred": x}) == (
        pytest.approx(expected, rel=1e-6)
    )
    assert keras_loss_value("softmax_ce", {"class_weights": w.tolist()}, {"y_true": np.eye(3)[ids], "y_pred": x}) == (
        pytest.approx(expected, rel=1e-6)
    )


# ----------------------------------------------------------------------------------------------------------------
# against Keras' own SparseCategoricalCrossentropy(from_logits=True, ignore_class=...)


def scce_inputs(ignore: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Ids (3, 4, 4) in [0, 3) with about a third ignored, the last image wholly; finite logits (Keras multiplies
    ignored logits by 0, which a NaN would survive); sample weights per sample and per pixel."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, 3, (3, 4, 4))
    ids = np.where(rng.random(ids.shape) < 1 / 3, ignore, ids)
    ids[2] = ignore
    x = rng.normal(0.0, 2.0, (3, 4, 4, 3)).astype("float32")
    weights = {
        "none": None,
        "per_sample": np.array([0.5, 2.0, 1.0], "float32"),
        "per_pixel": rng.uniform(0.0, 2.0, (3, 4, 4)).astype("float32"),
    }
    return ids.astype("int32"), x, weights


def keras_weight(sw: np.ndarray | None) -> dict[str, Any]:
    """Keras' ``sample_weight`` for its masked sparse CE: a per-sample weight spread over the pixels (batch, H, W),
    since Keras multiplies the weight into its (batch, H, W) mask in place (a (batch,) or (batch, 1, 1) weight is a
    shape error there, on PyTorch too); lossreg takes the (batch,) weight as it is."""
    if sw is None:
        return {}
    spread = np.broadcast_to(sw.reshape(-1, 1, 1), (3, 4, 4)) if sw.ndim == 1 else sw
    return {"sample_weight": ops.convert_to_tensor(np.ascontiguousarray(spread))}


@pytest.mark.parametrize("ignore", [255, -1])
@pytest.mark.parametrize("weighting", ["none", "per_sample", "per_pixel"])
@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum"])
def test_sparse_softmax_ce_equals_keras_sparse_categorical_crossentropy(ignore, weighting, reduction):
    ids, x, weights = scce_inputs(ignore)
    sw = weights[weighting]
    keras_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=ignore, reduction=reduction)
    ours = lossreg.RegisteredLoss(
        [{"loss": "sparse_softmax_ce", "params": {"ignore_class": ignore}}], reduction=reduction
    )
    call = {} if sw is None else {"sample_weight": ops.convert_to_tensor(sw)}
    t, p = ops.convert_to_tensor(ids), ops.convert_to_tensor(x)
    expected = float(numpy(keras_loss(t, p, **keras_weight(sw))))
    assert float(numpy(ours(t, p, **call))) == pytest.approx(expected, rel=1e-6)
    # with the ids (batch, H, W, 1), as Keras also takes them
    t1 = ops.convert_to_tensor(ids[..., None])
    assert float(numpy(ours(t1, p, **call))) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("name", SPARSE)
def test_class_ids_and_mask_with_a_trailing_axis_of_1(name):
    """Ids (batch, ..., 1), as Keras takes them, and a mask shaped like those ids: the same values as without the
    axis (the mask squeezed with the ids, not broadcast against them)."""
    rng = np.random.default_rng(19)
    ids = rng.integers(0, 3, (2, 4, 4)).astype("int32")
    x = rng.normal(0.0, 2.0, (2, 4, 4, 3)).astype("float32")
    m = (rng.random((2, 4, 4)) > 0.3).astype("float32")
    fn = FUNCTIONS[name]
    flat = numpy(fn(ids, x, mask=m, ignore_class=2))
    assert flat.shape == (2, 4, 4) and np.any(flat == 0) and np.any(flat > 0)
    np.testing.assert_array_equal(numpy(fn(ids[..., None], x, mask=m[..., None], ignore_class=2)), flat)
    np.testing.assert_array_equal(numpy(fn(ids[..., None], x, mask=m, ignore_class=2)), flat)


@pytest.mark.parametrize("channel", [0, 2])
def test_softmax_ce_one_hot_ignore_class_equals_keras_sparse(channel):
    """softmax_ce on one-hot targets with ignore_class=k (a channel) = Keras' sparse CE with ignore_class=k."""
    ids, x, weights = scce_inputs(255, seed=8)
    ids = np.where(ids == 255, channel, ids)
    keras_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=channel)
    for sw in weights.values():
        call = {} if sw is None else {"sample_weight": ops.convert_to_tensor(sw)}
        expected = float(numpy(keras_loss(ops.convert_to_tensor(ids), ops.convert_to_tensor(x), **keras_weight(sw))))
        y = ops.convert_to_tensor(np.eye(3, dtype="float32")[ids])
        got = float(numpy(lossreg.get("softmax_ce", ignore_class=channel)(y, ops.convert_to_tensor(x), **call)))
        assert got == pytest.approx(expected, rel=1e-6)


def pixel_model(seed: int) -> keras.Model:
    """(batch, 4, 4, 2) -> logits (batch, 4, 4, 3): a Dense over the channels, seeded."""
    keras.utils.set_random_seed(seed)
    inp = keras.Input((4, 4, 2))
    return keras.Model(inp, keras.layers.Dense(3, name="logits")(inp))


@pytest.mark.parametrize("ignore", [255, -1])
def test_fit_and_evaluate_equal_keras_sparse_categorical_crossentropy(ignore):
    """compile(loss=lossreg.resolve(...)) against compile(loss=SparseCategoricalCrossentropy(ignore_class=...)):
    the same evaluate figure and, after two SGD steps with per-pixel sample weights, the same weights."""
    ids, _, weights = scce_inputs(ignore, seed=9)
    x = np.random.default_rng(10).normal(size=(3, 4, 4, 2)).astype("float32")
    sw = weights["per_pixel"]
    models = {}
    for which, loss in (
        ("keras", keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=ignore)),
        ("lossreg", None),
    ):
        model = pixel_model(11)
        if loss is None:
            loss = lossreg.resolve({"loss": "sparse_softmax_ce", "params": {"ignore_class": ignore}}, model=model)
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.5), loss=loss)
        models[which] = model
    figures = {k: m.evaluate(x, ids, sample_weight=sw, batch_size=3, verbose=0) for k, m in models.items()}
    assert figures["lossreg"] == pytest.approx(figures["keras"], rel=1e-6)
    for model in models.values():
        model.fit(x, ids, sample_weight=sw, batch_size=3, epochs=2, verbose=0, shuffle=False)
    for ours, theirs in zip(models["lossreg"].get_weights(), models["keras"].get_weights(), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    assert not np.allclose(models["lossreg"].get_weights()[0], pixel_model(11).get_weights()[0])  # it trained


# ----------------------------------------------------------------------------------------------------------------
# masks as extra tensors: LossLayer and attach


def test_loss_layer_takes_a_mask_input():
    d = unit_inputs(12)
    z = np.where(d["y_true"] == 255, 0.0, d["y_true"]).astype("float32")
    x, m = d["y_pred"].astype("float32"), d["mask"].astype("float32")
    keep = np.broadcast_to(m[..., None] != 0, z.shape)
    expected = np.sum(np.where(keep, np_bce(z, x), 0.0)) / keep.sum()
    layer = lossreg.LossLayer("sigmoid_bce", name="masked_bce")
    out = layer(
        {"y_true": ops.convert_to_tensor(z), "y_pred": ops.convert_to_tensor(x), "mask": ops.convert_to_tensor(m)}
    )
    np.testing.assert_array_equal(numpy(out), x)  # the layer passes y_pred through
    assert float(numpy(layer.losses[0])) == pytest.approx(expected, rel=1e-5)


def test_attach_reads_a_mask_from_a_layer():
    """attach's ``"inputs": {"mask": "<layer>"}``: the mask is a model output, the mean runs over its kept pixels."""
    inp = keras.Input((4, 4, 2), name="x")
    logits = keras.layers.Dense(3, name="seg")(inp)
    valid = keras.layers.Lambda(lambda t: ops.cast(t[..., 0] > 0, "float32"), name="valid")(inp)
    model = keras.Model(inp, [logits, valid])
    train = lossreg.attach(model, {"seg": {"loss": "sparse_softmax_ce", "inputs": {"mask": "valid"}}})
    train.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0))
    rng = np.random.default_rng(13)
    x = rng.normal(size=(2, 4, 4, 2)).astype("float32")
    ids = rng.integers(0, 3, (2, 4, 4)).astype("int32")
    figure = train.evaluate(x, {"seg": ids}, batch_size=2, verbose=0, return_dict=True)["loss"]
    out = numpy(model(x)[0]).astype(np.float64)
    log_p = out - np.log(np.sum(np.exp(out), -1, keepdims=True))
    ce = -np.take_along_axis(log_p, ids[..., None], -1)[..., 0]
    keep = x[..., 0] > 0
    assert figure == pytest.approx(np.sum(ce[keep]) / keep.sum(), rel=1e-5)


# ----------------------------------------------------------------------------------------------------------------
# invariants: what sits at an ignored element reaches neither value nor gradient; a fully ignored batch is 0


def invariant_inputs(name: str, how: str, seed: int = 14) -> dict[str, np.ndarray]:
    """Inputs of ``name`` with about a third of the elements ignored (``how``: by ``ignore_class`` or by ``mask``),
    and ``keep``: where an element (pixel, pair) is kept, shaped like the loss's sites."""
    rng = np.random.default_rng(seed)
    if name in ("sigmoid_bce", "sigmoid_focal", "sigmoid_dice"):
        shape = (3, 4, 4, 2)
        y = rng.integers(0, 2, shape).astype("float32")
        site = shape
    else:
        shape = (2, 4, 4, 3) if "band" in name else (3, 5, 3)
        site = shape[:-1]
        y = rng.integers(0, 3, site)
    keep = rng.random(site) > 1 / 3
    keep.flat[0] = True
    out: dict[str, np.ndarray] = {"y_pred": rng.normal(0.0, 2.0, shape).astype("float32")}
    if how == "ignore_class":
        if name in SPARSE:
            y = np.where(keep, y, 255)
        elif name in ("softmax_ce", "band_masked_softmax_ce"):
            y = np.where(keep, np.where(y == 0, 1, y), 0)  # channel 0 marks the ignored elements
        else:
            y = np.where(keep, y, 255.0)
    else:
        out["mask"] = keep.astype("float32")
    if name in SPARSE:
        out["y_true"] = y.astype("int32")
    elif name in ("softmax_ce", "band_masked_softmax_ce"):
        out["y_true"] = np.eye(3, dtype="float32")[y]
    else:
        out["y_true"] = y.astype("float32")
    out["keep"] = keep
    return out


def ignore_params(name: str, how: str) -> dict[str, Any]:
    if how != "ignore_class":
        return {}
    return {"ignore_class": 0 if name in ("softmax_ce", "band_masked_softmax_ce") else 255}


INVARIANT_CONFIGS = [
    ("sigmoid_bce", {"pos_weight": 2.0, "label_smoothing": 0.1, "class_weights": [1.0, 3.0]}),
    ("sigmoid_focal", {"gamma": 0.5, "class_weights": [2.0, 1.0]}),
    ("sigmoid_dice", {}),
    ("softmax_ce", {"label_smoothing": 0.1, "class_weights": [1.0, 2.0, 0.5]}),
    ("sparse_softmax_ce", {"class_weights": [1.0, 2.0, 0.5]}),
    ("band_masked_softmax_ce", {"normalize": "band", "class_weights": [1.0, 2.0, 0.5]}),
    ("band_masked_softmax_ce", {"from_logits": False}),
    ("sparse_band_masked_softmax_ce", {"lower": 1, "include_diagonal": True}),
]
INVARIANTS = [
    pytest.param(name, params, how, id=f"{name}-{json.dumps(params)}-{how}")
    for name, params in INVARIANT_CONFIGS
    for how in ("ignore_class", "mask")
]


def loss_and_grad(name: str, params: dict[str, Any], inputs: dict[str, np.ndarray]) -> tuple[float, np.ndarray]:
    loss = lossreg.get(name, **params)
    fed = {k: v for k, v in inputs.items() if k != "keep"}

    def fn(y_true: Any, y_pred: Any, mask: Any = None) -> Any:
        return loss(y_true, y_pred if mask is None else {"y_pred": y_pred, "mask": mask})

    value, grads = value_and_grad(fn, fed, ["y_pred"])
    return float(value), np.asarray(grads["y_pred"])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf], ids=["nan", "+inf", "-inf"])
@pytest.mark.parametrize(("name", "params", "how"), INVARIANTS)
def test_non_finite_predictions_at_ignored_elements_change_nothing(name, params, how, bad):
    params = {**params, **ignore_params(name, how)}
    clean = invariant_inputs(name, how)
    if params.get("from_logits") is False:  # probabilities: softmax rows
        e = np.exp(clean["y_pred"])
        clean["y_pred"] = (e / e.sum(-1, keepdims=True)).astype("float32")
    dirty = {k: v.copy() for k, v in clean.items()}
    dirty["y_pred"][~clean["keep"]] = bad
    value, grad = loss_and_grad(name, params, clean)
    dirty_value, dirty_grad = loss_and_grad(name, params, dirty)
    assert np.isfinite(value) and value > 0
    assert dirty_value == value
    np.testing.assert_array_equal(dirty_grad, grad)
    assert np.all(grad[~clean["keep"]] == 0)  # an ignored element has no gradient at all


@pytest.mark.parametrize(("name", "params", "how"), INVARIANTS)
def test_fully_ignored_batch_is_zero_with_finite_gradients(name, params, how):
    params = {**params, **ignore_params(name, how)}
    inputs = invariant_inputs(name, how)
    nothing = {k: v.copy() for k, v in inputs.items()}
    if how == "mask":
        nothing["mask"][...] = 0.0
    elif name in SPARSE or name in ("sigmoid_bce", "sigmoid_focal", "sigmoid_dice"):
        nothing["y_true"][...] = 255
    else:
        nothing["y_true"][...] = np.eye(3, dtype="float32")[0]
    nothing["keep"][...] = False
    nothing["y_pred"][...] = np.nan  # and every prediction NaN: nothing of it may reach value or gradient
    value, grad = loss_and_grad(name, params, nothing)
    assert value == 0.0
    np.testing.assert_array_equal(grad, np.zeros_like(grad))


# ----------------------------------------------------------------------------------------------------------------
# stated normalisers, errors


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_every_core_loss_states_its_normaliser(name):
    text = lossreg.describe(name).normalizer
    assert "kept" in text and "0" in text and ("class_weights" in text or name == "sigmoid_dice"), text
    assert "Normalizer:" in (FUNCTIONS[name].__doc__ or "")


@pytest.mark.parametrize("name", ["sigmoid_bce", "sigmoid_focal", "softmax_ce", "sparse_softmax_ce"])
def test_class_weights_of_the_wrong_length_name_the_channels(name):
    one_hot = name == "softmax_ce"
    y = np.eye(3, dtype="float32")[[0, 1]] if one_hot else np.array([[0, 1, 1], [1, 0, 1]], "float32")
    if name == "sparse_softmax_ce":
        y = np.array([0, 2], "int32")
    x = np.zeros((2, 3), "float32")
    with pytest.raises(lossreg.LossInputError, match=r"2 class_weights but the predictions have 3 channels"):
        lossreg.get(name, class_weights=[1.0, 2.0])(y, x)


@pytest.mark.parametrize("name", ["sigmoid_bce", "sigmoid_focal", "band_masked_softmax_ce"])
def test_bad_class_weights_in_a_spec_are_a_spec_error(name):
    with pytest.raises(lossreg.LossSpecError, match="class_weights"):
        lossreg.resolve({"loss": name, "params": {"class_weights": [1.0, -2.0]}})


def test_one_hot_ignore_class_outside_the_channels_is_an_input_error():
    y = np.eye(3, dtype="float32")[np.zeros((1, 3, 3), int)]
    with pytest.raises(lossreg.LossInputError, match="sparse_"):
        lossreg.get("band_masked_softmax_ce", ignore_class=255)(y, np.zeros_like(y))


def test_sigmoid_dice_takes_no_class_weights():
    """Its sums pool the channels: there is no per-class term to weigh (Normalizer says so)."""
    with pytest.raises(lossreg.LossSpecError, match="class_weights"):
        lossreg.get("sigmoid_dice", class_weights=[1.0])


# ----------------------------------------------------------------------------------------------------------------
# raw TensorFlow references (TensorFlow only)


def tf_kept_mean(values: Any, keep: Any) -> Any:
    keep = tf.broadcast_to(
        tf.reshape(keep, tf.concat([tf.shape(keep), tf.ones(tf.rank(values) - tf.rank(keep), tf.int32)], 0)),
        tf.shape(values),
    )
    return tf.reduce_sum(tf.where(keep, values, 0.0)) / tf.reduce_sum(tf.cast(keep, values.dtype))


@RAW_TF
@pytest.mark.parametrize("ignore", [255, -1])
def test_sigmoid_bce_equals_raw_tensorflow(ignore):
    d = unit_inputs(15, ignore=float(ignore))
    z, x = tf.constant(d["y_true"], tf.float32), tf.constant(d["y_pred"], tf.float32)
    keep = tf.not_equal(z, float(ignore))
    w = tf.constant([2.0, 0.5])
    ce = tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.where(keep, z, 0.0), logits=tf.where(keep, x, 0.0)) * w
    expected = tf_kept_mean(ce, keep)
    got = lossreg.get("sigmoid_bce", ignore_class=ignore, class_weights=[2.0, 0.5])(z, x)
    assert float(got) == pytest.approx(float(expected), rel=1e-6)


@RAW_TF
def test_softmax_ce_class_weights_and_mask_equal_raw_tensorflow():
    rng = np.random.default_rng(16)
    y = tf.constant(np.eye(4, dtype="float32")[rng.integers(0, 4, (3, 5, 5))])
    x = tf.constant(rng.normal(0, 2, (3, 5, 5, 4)).astype("float32"))
    m = tf.constant(rng.random((3, 5, 5)) > 0.3)
    w = tf.constant([1.0, 0.5, 2.0, 0.0])
    ce = tf.nn.softmax_cross_entropy_with_logits(labels=y * w, logits=x)
    expected = tf_kept_mean(ce, m)
    got = lossreg.get("softmax_ce", class_weights=[1.0, 0.5, 2.0, 0.0])(
        y, {"y_pred": x, "mask": tf.cast(m, tf.float32)}
    )
    assert float(got) == pytest.approx(float(expected), rel=1e-6)


@RAW_TF
@pytest.mark.parametrize("normalize", ["all", "band"])
def test_band_losses_equal_raw_tensorflow_band_part(normalize):
    rng = np.random.default_rng(17)
    ids = rng.integers(0, 3, (2, 6, 6))
    ignored = np.where(rng.random(ids.shape) < 0.3, 255, ids)
    x = tf.constant(rng.normal(0, 2, (2, 6, 6, 3)).astype("float32"))
    keep = tf.constant(ignored != 255)
    w = tf.constant([0.5, 1.0, 2.0])
    ce = tf.nn.softmax_cross_entropy_with_logits(labels=tf.one_hot(ids, 3) * w, logits=x)
    in_band = tf.linalg.band_part(tf.ones((6, 6)), 2, 1) > 0  # lower=2, upper=1, diagonal included
    kept = tf.where(keep, tf.linalg.band_part(ce, 2, 1), 0.0)
    count = tf.logical_and(keep, in_band) if normalize == "band" else keep
    expected = tf.reduce_sum(kept) / tf.reduce_sum(tf.cast(count, tf.float32))
    params = {
        "lower": 2,
        "upper": 1,
        "include_diagonal": True,
        "normalize": normalize,
        "class_weights": [0.5, 1.0, 2.0],
    }
    got = lossreg.get("sparse_band_masked_softmax_ce", ignore_class=255, **params)(tf.constant(ignored), x)
    assert float(got) == pytest.approx(float(expected), rel=1e-6)
    y = tf.one_hot(ids, 3)
    got = lossreg.get("band_masked_softmax_ce", **params)(y, {"y_pred": x, "mask": tf.cast(keep, tf.float32)})
    assert float(got) == pytest.approx(float(expected), rel=1e-6)
