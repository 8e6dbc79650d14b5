"""Keras' own loss names on dense targets: ``ignore_class`` and per-pixel ``sample_weight`` maps.

``sparse_categorical_crossentropy`` takes Keras' ``ignore_class``: typed ``int | None`` and checked by lossreg's one
standard rule (``standard_param_problem``); the pre-flight check lets the ignored value lie outside
``[0, classes)`` (255, -1) while still refusing other class ids out of range. Through ``lossreg.get``,
``lossreg.resolve`` and ``compile``/``evaluate``/``fit`` the values equal Keras' own
``SparseCategoricalCrossentropy(ignore_class=...)`` and a float64 NumPy reference of its normaliser: the mean over
kept pixels.

Keras' per-element losses (``binary_crossentropy`` on ``(batch, H, W, 1)`` gives ``(batch, H, W)`` values) take a
``(batch, H, W)`` weight map in Keras' reduction, equal to Keras' own loss objects. Keras' ``dice`` and ``tversky``
reduce to one value per sample (or per batch), so a per-pixel map cannot weigh their pixels afterwards: that is a
``LossInputError`` naming the loss and the fix (lossreg's overlap losses apply the map inside their sums).
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

import lossreg
from lossreg import LossInputError, LossSpecError

rng = np.random.default_rng(1212)
N, H, W, C = 4, 5, 5, 3
X = rng.normal(size=(N, H, W, 2)).astype("float32")
LOGITS = rng.normal(0, 2, (N, H, W, C)).astype("float32")
PROBS = np.exp(LOGITS) / np.exp(LOGITS).sum(-1, keepdims=True)
IDS = rng.integers(0, C, (N, H, W))
IGNORED = rng.uniform(size=(N, H, W)) < 0.3
IGNORED[0] = True  # an image with every pixel ignored
WEIGHT_MAP = rng.uniform(0.0, 2.0, (N, H, W)).astype("float32")
SCE = "sparse_categorical_crossentropy"


def labels(ignore: int, dtype: str = "int32") -> np.ndarray:
    return np.where(IGNORED, ignore, IDS).astype(dtype)


def value(x) -> float:
    return float(keras.ops.convert_to_numpy(x))


def kept_mean(weights: np.ndarray | None = None) -> float:
    """float64 reference: -log softmax at the target, weighted, summed over kept pixels / the number kept (Keras'
    ``sum_over_batch_size`` with the ignore mask: ignored pixels leave the count, zero weights stay in it)."""
    logits = LOGITS.astype("float64")
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    ce = -np.take_along_axis(log_p, IDS[..., None], -1)[..., 0]
    w = np.ones_like(ce) if weights is None else weights.astype("float64")
    keep = ~IGNORED
    return float((ce * w)[keep].sum() / keep.sum())


# -- ignore_class: its type and its one rule ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "bad, says",
    [
        (2.5, "Invalid value for parameter 'ignore_class' of loss 'sparse_categorical_crossentropy'. Expected "
              "int | None, received float 2.5."),
        (True, "Invalid value for parameter 'ignore_class' of loss 'sparse_categorical_crossentropy'. Expected "
               "int | None, received bool True."),
        ("255", "Invalid value for parameter 'ignore_class' of loss 'sparse_categorical_crossentropy'. Expected "
                "int | None, received str '255'."),
        (2**40, "Invalid 'ignore_class' for loss 'sparse_categorical_crossentropy': expected an integer that fits "
                "int32 (e.g. 255, or -1); received 1099511627776."),
    ],
)  # fmt: skip
def test_ignore_class_is_an_int_or_none_checked_at_its_own_path(bad, says):
    for call, path in [
        (lambda: lossreg.get(SCE, ignore_class=bad), f"lossreg.get({SCE!r}, ignore_class=...)"),
        (lambda: lossreg.resolve({"o": {"loss": SCE, "params": {"ignore_class": bad}}}),
         "spec['o']['params']['ignore_class']"),
    ]:  # fmt: skip
        with pytest.raises(LossSpecError) as info:
            call()
        assert info.value.path == path
        assert str(info.value) == f"{path}: {says}"


def test_describe_types_ignore_class():
    param = lossreg.describe(SCE).params["ignore_class"]
    assert (param.annotation, param.default) == ("int | None", None)


# -- ignore_class outside [0, classes): accepted, Keras' own value -------------------------------------------------
@pytest.mark.parametrize("dtype", ["int32", "float32"])
@pytest.mark.parametrize("ignore", [255, -1, 0])
def test_get_equals_keras_own_loss_and_the_mean_over_kept_pixels(ignore, dtype):
    y = labels(ignore, dtype)
    if ignore == 0:  # ignoring a real class: the pixels labelled 0 leave the mean too
        y = np.where(IGNORED | (IDS == 0), 0, IDS).astype(dtype)
    for from_logits, y_pred in [(True, LOGITS), (False, PROBS)]:
        ours = value(lossreg.get(SCE, from_logits=from_logits, ignore_class=ignore)(y, y_pred))
        keras_own = keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits, ignore_class=ignore)
        assert ours == pytest.approx(value(keras_own(y, y_pred)), rel=1e-6, abs=0)
    if ignore != 0:
        assert ours == pytest.approx(kept_mean(), rel=1e-5)
        weighted = value(lossreg.get(SCE, from_logits=True, ignore_class=ignore)(y, LOGITS, sample_weight=WEIGHT_MAP))
        assert weighted == pytest.approx(kept_mean(WEIGHT_MAP), rel=1e-5)


def test_without_ignore_class_255_is_still_refused_and_with_it_other_ids_out_of_range_are():
    expects = f"{SCE} expects class ids in [0, 3)"
    shaped = "for predictions shaped (4, 5, 5, 3); received ids in"
    with pytest.raises(LossInputError) as info:
        lossreg.get(SCE, from_logits=True)(labels(255), LOGITS)
    assert str(info.value) == f"lossreg.get({SCE!r}): {expects} {shaped} [0, 255]."
    y = labels(255)
    y[1, 0, 0] = C + 4  # neither a class nor the ignored value
    with pytest.raises(LossInputError) as info:
        lossreg.get(SCE, from_logits=True, ignore_class=255)(y, LOGITS)
    assert str(info.value) == f"lossreg.get({SCE!r}): {expects} (or 255, the ignore_class) {shaped} [0, 7]."
    y = labels(-1)
    y[1, 0, 0] = -2
    with pytest.raises(LossInputError) as info:
        lossreg.get(SCE, from_logits=True, ignore_class=-1)(y, LOGITS)
    assert str(info.value) == f"lossreg.get({SCE!r}): {expects} (or -1, the ignore_class) {shaped} [-2, 2]."


def _model() -> keras.Model:
    keras.utils.set_random_seed(12)
    x = keras.Input((H, W, 2))
    return keras.Model(x, keras.layers.Dense(C)(x))


def _train(loss, y, sample_weight=None) -> tuple[float, float, list[float], np.ndarray]:
    model = _model()
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=loss)
    plain = model.evaluate(X, y, batch_size=2, verbose=0)
    weighted = model.evaluate(X, y, sample_weight=WEIGHT_MAP, batch_size=2, verbose=0)
    history = model.fit(X, y, sample_weight=sample_weight, batch_size=2, epochs=2, shuffle=False, verbose=0)
    return plain, weighted, history.history["loss"], model.get_weights()[0]


@pytest.mark.parametrize("ignore", [255, -1])
def test_compile_evaluate_and_fit_equal_keras_own_loss(ignore):
    """Two steps of fit with a per-pixel weight map: the same losses and the same kernel as Keras' own loss."""
    y = labels(ignore)
    spec = {"loss": SCE, "params": {"from_logits": True, "ignore_class": ignore}}
    ours = _train(lossreg.resolve(spec), y, WEIGHT_MAP)
    keras_own = _train(keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=ignore), y, WEIGHT_MAP)
    assert ours[:2] == pytest.approx(keras_own[:2], rel=1e-6, abs=0)
    assert ours[2] == pytest.approx(keras_own[2], rel=1e-6, abs=0)
    np.testing.assert_allclose(ours[3], keras_own[3], rtol=1e-6, atol=1e-7)
    assert not np.allclose(ours[3], _model().get_weights()[0])  # it trained


def test_the_first_batch_check_accepts_the_ignored_value_and_attach_trains_as_keras_own_loss():
    """``fit`` on an attached model checks the first batch by default: 255 passes it when it is the ignore_class
    (and fails it when it is not), and the training equals Keras' own loss compiled on the same model."""
    y = labels(255)
    model = _model()
    model.compile(optimizer="sgd", loss=lossreg.resolve({"loss": SCE, "params": {"from_logits": True}}))
    with pytest.raises(LossInputError, match=r"expects class ids in \[0, 3\)"):
        lossreg.check_first_batch(model, X, y)
    spec = {"loss": SCE, "params": {"from_logits": True, "ignore_class": 255}}
    model.compile(optimizer="sgd", loss=lossreg.resolve(spec))
    assert lossreg.check_first_batch(model, X, y) is True

    inner = _model()
    train = lossreg.attach(inner, {inner.output_names[0]: spec})
    train.compile(optimizer=keras.optimizers.SGD(0.1))
    history = train.fit(X, y, batch_size=2, epochs=2, shuffle=False, verbose=0).history["loss"]
    own = _model()
    own.compile(
        optimizer=keras.optimizers.SGD(0.1), loss=keras.losses.SparseCategoricalCrossentropy(True, ignore_class=255)
    )
    expected = own.fit(X, y, batch_size=2, epochs=2, shuffle=False, verbose=0).history["loss"]
    assert history == pytest.approx(expected, rel=1e-6, abs=0)
    np.testing.assert_allclose(inner.get_weights()[0], own.get_weights()[0], rtol=1e-6, atol=1e-7)


# -- per-pixel weight maps on Keras' per-element losses ------------------------------------------------------------
BINARY = (rng.uniform(size=(N, H, W, 1)) < 0.4).astype("float32")
UNIT = rng.uniform(0.05, 0.95, (N, H, W, 1)).astype("float32")
ONE_HOT = np.eye(C, dtype="float32")[IDS]
MAPS = {"(batch, H, W)": WEIGHT_MAP, "(batch, H, W, 1)": WEIGHT_MAP[..., None]}
# (name, params, Keras' class, y_true, y_pred)
PER_ELEMENT = [
    ("binary_crossentropy", {}, keras.losses.BinaryCrossentropy, BINARY, UNIT),
    ("bce", {"label_smoothing": 0.1}, keras.losses.BinaryCrossentropy, BINARY, UNIT),
    ("binary_focal_crossentropy", {"gamma": 2.0}, keras.losses.BinaryFocalCrossentropy, BINARY, UNIT),
    ("categorical_crossentropy", {"from_logits": True}, keras.losses.CategoricalCrossentropy, ONE_HOT, LOGITS),
    (SCE, {"from_logits": True}, keras.losses.SparseCategoricalCrossentropy, IDS.astype("int32"), LOGITS),
    (SCE, {"from_logits": True, "ignore_class": 255}, keras.losses.SparseCategoricalCrossentropy, labels(255), LOGITS),
]


@pytest.mark.parametrize("shape", sorted(MAPS))
@pytest.mark.parametrize(
    "name, params, keras_class, y_true, y_pred", PER_ELEMENT, ids=[f"{c[0]}-{c[1]}" for c in PER_ELEMENT]
)
def test_a_per_pixel_map_weighs_keras_per_element_losses_as_keras_does(
    name, params, keras_class, y_true, y_pred, shape
):
    weights = MAPS[shape]
    ours = value(lossreg.get(name, **params)(y_true, y_pred, sample_weight=weights))
    expected = value(keras_class(**params)(y_true, y_pred, sample_weight=weights))
    assert ours == pytest.approx(expected, rel=1e-6, abs=0)
    unweighted = value(keras_class(**params)(y_true, y_pred))
    assert expected != pytest.approx(unweighted, rel=1e-3)  # the map took effect


def test_the_map_weighs_each_pixel_float64_reference():
    """binary_crossentropy: mean over (batch, H, W) of w * BCE (Keras' sum_over_batch_size), in float64."""
    p, z = UNIT[..., 0].astype("float64"), BINARY[..., 0].astype("float64")
    bce = -(z * np.log(p) + (1 - z) * np.log(1 - p))
    expected = float(np.mean(WEIGHT_MAP.astype("float64") * bce))
    ours = value(lossreg.get("binary_crossentropy")(BINARY, UNIT, sample_weight=WEIGHT_MAP))
    assert ours == pytest.approx(expected, rel=1e-5)


# -- Keras' dice and tversky reduce before any weight: a per-pixel map cannot apply -------------------------------
FIXES = ("soft_dice", "soft_tversky", "sparse_")  # lossreg-segmentation's overlap losses: the map inside their sums
OVERLAP = [
    ("dice", {}),
    ("dice", {"axis": [1, 2, 3]}),
    ("tversky", {"alpha": 0.7, "beta": 0.3}),
    ("tversky", {"axis": [1, 2, 3]}),
]


def _refusal(error: LossInputError, name: str, shape: tuple[int, ...]) -> None:
    """The error names the loss, the map and the fix (a per-sample weight, or a loss weighing pixels inside)."""
    text = str(error)
    assert f"Loss {name!r} returns one value per" in text, text
    assert f"sample_weight shaped {shape}" in text and "per-sample weight (batch,)" in text, text
    assert all(fix in text for fix in FIXES), text


@pytest.mark.parametrize("name, params", OVERLAP, ids=[f"{n}-{p}" for n, p in OVERLAP])
def test_a_per_pixel_map_on_keras_overlap_losses_is_a_loss_input_error_naming_the_fix(name, params):
    with pytest.raises(LossInputError) as info:
        lossreg.get(name, **params)(BINARY, UNIT, sample_weight=WEIGHT_MAP)
    _refusal(info.value, name, (N, H, W))


def test_a_per_pixel_map_on_keras_dice_in_evaluate_is_the_same_error():
    x = keras.Input((H, W, 2))
    model = keras.Model(x, keras.layers.Dense(1, activation="sigmoid")(x))
    model.compile(loss=lossreg.resolve({"loss": "dice", "params": {"axis": [1, 2, 3]}}))
    with pytest.raises(LossInputError) as info:
        model.evaluate(X, BINARY, sample_weight=WEIGHT_MAP, batch_size=2, verbose=0)
    _refusal(info.value, "dice", (2, H, W))  # one batch of 2


@pytest.mark.parametrize("name", ["soft_dice", "sparse_soft_dice", "soft_tversky", "sparse_soft_tversky"])
def test_the_losses_the_error_names_take_a_per_pixel_map_inside_their_sums(name):
    """The fix the error gives exists: these take ``sample_weight`` (``lossreg show``'s optional tensors), and the
    map weighs pixels (a map of ones changes nothing, one keeping two rows of each image changes the value)."""
    assert "sample_weight" in lossreg.describe(name).dense_inputs
    loss = lossreg.get(name, from_logits=False)
    y = IDS.astype("int32") if name.startswith("sparse_") else BINARY
    p = PROBS if name.startswith("sparse_") else UNIT
    plain = value(loss(y, p))
    assert value(loss(y, p, sample_weight=np.ones((N, H, W), "float32"))) == pytest.approx(plain, rel=1e-5)
    top_rows = np.zeros((N, H, W), "float32")
    top_rows[:, :2] = 1.0  # only the first two rows of each image count
    assert value(loss(y, p, sample_weight=top_rows)) != pytest.approx(plain, rel=1e-2)


@pytest.mark.parametrize("name, params", OVERLAP[1::2], ids=[f"{n}-{p}" for n, p in OVERLAP[1::2]])
def test_keras_overlap_losses_take_per_sample_weights_as_keras_does(name, params):
    """What stays: a per-sample weight (batch,) weighs each image's value, equal to Keras' own class."""
    keras_class = {"dice": keras.losses.Dice, "tversky": keras.losses.Tversky}[name]
    weights = np.array([0.0, 0.5, 1.0, 2.0], "float32")
    ours = value(lossreg.get(name, **params)(BINARY, UNIT, sample_weight=weights))
    expected = value(keras_class(**{**params, "axis": (1, 2, 3)})(BINARY, UNIT, sample_weight=weights))
    assert ours == pytest.approx(expected, rel=1e-6, abs=0)
    per_sample = keras.ops.convert_to_numpy(getattr(keras.losses, name)(BINARY, UNIT, axis=(1, 2, 3)))
    assert ours == pytest.approx(float(np.mean(weights * per_sample)), rel=1e-6)
