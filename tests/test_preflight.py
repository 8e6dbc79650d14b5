"""Shape, dtype and value pre-flight: each loss declares what it accepts; a mismatch is a LossInputError that
names the loss, the expected and the received shape (or values), before the backend meets the tensors.

Expected values are float64 NumPy (tests/references/), held to raw TensorFlow where TensorFlow is the backend."""

from __future__ import annotations

import re

import keras
import numpy as np
import pytest
from on_backend import BACKEND, RAW_TF, only_on
from references import REFERENCES

import lossreg
from lossreg.registry import REGISTRY

BUILTINS = sorted(n for n in lossreg.names() if lossreg.describe(n).source == "lossreg")
PLUGINS = sorted(n for n in lossreg.names() if lossreg.describe(n).source.startswith("lossreg-") and ":" not in n)


def declared_tensors(name):
    return set(lossreg.describe(name).expects.shapes)


@pytest.mark.parametrize("name", BUILTINS + PLUGINS)
def test_every_builtin_and_plugin_loss_declares_its_input_shapes(name):
    expects = lossreg.describe(name).expects
    assert expects is not None and expects.shapes, name
    # every tensor the loss reads has a pattern: predictions, or its extras for a loss that needs no target
    assert declared_tensors(name) >= (set(lossreg.describe(name).extras) or {"y_pred"})


# one input of the wrong rank per loss: (tensors, the tensor that is wrong, its received shape)
f32 = np.float32


def wrong_rank_case(name):
    info = lossreg.describe(name)
    if name == "vae_kl":
        return {"z_mean": np.zeros((2, 3, 1), f32), "z_log_var": np.zeros((2, 3, 1), f32)}, "(2, 3, 1)"
    if "real_logits" in info.extras:
        return {"real_logits": np.zeros((), f32), "fake_logits": np.zeros((), f32)}, "()"
    pattern = info.expects.shapes["y_pred"]
    fixed = [t for t in pattern if t != "..."]
    rank = len(fixed) - 1 if "..." in pattern else len(fixed) + 1
    shape = (2,) * rank if rank else ()
    tensors = {"y_pred": np.zeros(shape, f32)}
    if "aux" in info.extras:
        tensors["aux"] = np.zeros(shape, f32)
    text = "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"
    return tensors, text


@pytest.mark.parametrize("name", [n for n in BUILTINS + PLUGINS if n not in ("sigmoid_bce", "sigmoid_focal")])
def test_a_tensor_of_the_wrong_rank_names_the_loss_the_pattern_and_the_shape(name):
    tensors, received = wrong_rank_case(name)
    y_pred = tensors if len(tensors) > 1 or "y_pred" not in tensors else tensors["y_pred"]
    y_true = {} if "y_pred" not in tensors or name.endswith("generator") else np.zeros(np.shape(tensors["y_pred"]))
    if lossreg.describe(name).expects.targets == "class_ids":  # ids: the predictions' shape without the class axis
        y_true = np.zeros(np.shape(tensors["y_pred"])[:-1])
    with pytest.raises(lossreg.LossInputError) as info:
        lossreg.get(name)(y_true, y_pred)
    message = str(info.value)
    assert message.startswith(f"lossreg.get({name!r}): {name} expects ")
    assert "shaped (" in message and f"received shape {received}" in message


def sparse_softmax_ce(ids, logits):
    """-log softmax(logits)[id] per row (tf.nn.sparse_softmax_cross_entropy_with_logits), float64."""
    return REFERENCES["softmax_ce"].fn(np.eye(logits.shape[-1])[ids], np.asarray(logits, "float64"))


@RAW_TF
def test_the_numpy_references_equal_raw_tensorflow():
    import tensorflow as tf

    rng = np.random.default_rng(1)
    logits, ids = rng.normal(0, 2, (6, 4)), rng.integers(0, 4, 6)
    labels = rng.integers(0, 2, (6, 4)).astype("float64")
    np.testing.assert_allclose(
        REFERENCES["sigmoid_bce"].fn(labels, logits),
        tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.constant(labels), logits=tf.constant(logits)),
        rtol=1e-12,
    )
    one_hot = np.eye(4)[ids]
    np.testing.assert_allclose(
        REFERENCES["softmax_ce"].fn(one_hot, logits),
        tf.nn.softmax_cross_entropy_with_logits(labels=tf.constant(one_hot), logits=tf.constant(logits)),
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        sparse_softmax_ce(ids, logits),
        tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.constant(ids), logits=tf.constant(logits)),
        rtol=1e-12,
    )


def test_elementwise_losses_accept_any_rank_and_keras_rank_rule_applies():
    """(batch,) targets against (batch, 1) predictions are brought to the same rank, as Keras' losses do;
    without it, sigmoid_bce would broadcast to (batch, batch) and give a silently wrong value."""
    logits = np.array([[2.0], [-1.0], [0.5]], f32)
    labels = np.array([1.0, 0.0, 0.0], f32)
    expected = np.mean(REFERENCES["sigmoid_bce"].fn(labels[:, None].astype("float64"), logits.astype("float64")))
    for loss in (lossreg.get("sigmoid_bce"), lossreg.get("sigmoid_focal", alpha=None, gamma=0.0)):
        np.testing.assert_allclose(float(loss(labels, logits)), float(expected), rtol=1e-6)
        np.testing.assert_allclose(float(loss(labels[:, None], logits[:, 0])), float(expected), rtol=1e-6)


@pytest.mark.parametrize("name", ["softmax_ce", "categorical_crossentropy", "band_masked_softmax_ce"])
def test_integer_class_ids_for_a_one_hot_loss_get_the_fix(name):
    y_pred = np.zeros((2, 3, 3, 4) if name.startswith("band") else (2, 4), f32)
    ids = np.zeros(y_pred.shape[:-1], np.int64)
    with pytest.raises(lossreg.LossInputError, match="received integer class ids") as info:
        lossreg.get(name)(ids, y_pred)
    assert "keras.ops.one_hot(labels, 4)" in str(info.value)
    assert "sparse_categorical_crossentropy" in str(info.value)
    # the same labels one-hot encoded, even as integers, are accepted and give the reference value
    one_hot = np.eye(4, dtype=np.int64)[ids]
    if name == "softmax_ce":
        expected = np.mean(REFERENCES["softmax_ce"].fn(one_hot.astype("float64"), y_pred.astype("float64")))
        np.testing.assert_allclose(float(lossreg.get(name)(one_hot, y_pred)), float(expected), rtol=1e-6)


SPARSE = "sparse_categorical_crossentropy"


@pytest.mark.parametrize(
    "labels, match",
    [
        (np.eye(3, dtype=f32)[[0, 1, 2, 1]], r"received targets shaped \(4, 3\), like one-hot labels.*np\.argmax"),
        (
            np.array([1, 2, 3, 1]),
            r"class ids in \[0, 3\) for predictions shaped \(4, 3\); received ids in \[1, 3\]\. "
            r"They look 1-based: subtract 1\.",
        ),
        (np.array([0, -1, 2, 1]), r"class ids in \[0, 3\).*received ids in \[-1, 2\]\.$"),
        (np.array([0.0, 0.5, 2.0, 1.0], f32), r"expects integer class ids; received the value 0\.5\."),
    ],
    ids=["one-hot", "1-based", "negative", "fractional"],
)
def test_sparse_class_ids_are_checked_for_shape_range_and_integrality(labels, match):
    with pytest.raises(lossreg.LossInputError, match=match):
        lossreg.get(SPARSE, from_logits=True)(labels, np.zeros((4, 3), f32))


def test_sparse_class_ids_accept_what_keras_accepts_with_keras_values():
    logits = np.random.default_rng(0).normal(size=(4, 3)).astype(f32)
    ids = np.array([0, 1, 2, 1])
    expected = float(np.mean(sparse_softmax_ce(ids, logits)))
    loss = lossreg.get(SPARSE, from_logits=True)
    for labels in (ids, ids[:, None], ids.astype(f32)):  # (batch,), (batch, 1) and float ids, as Keras takes
        np.testing.assert_allclose(float(loss(labels, logits)), expected, rtol=1e-6)
    ignored = lossreg.get(SPARSE, from_logits=True, ignore_class=-1)(np.array([0, -1, 2, 1]), logits)
    kept = sparse_softmax_ce(ids[[0, 2, 3]], logits[[0, 2, 3]])
    np.testing.assert_allclose(float(ignored), float(np.sum(kept)) / 3, rtol=1e-6)  # Keras: mean of kept
    with pytest.raises(lossreg.LossInputError, match=r"y_true shaped \(2, 5, 4\).*without their class axis"):
        loss(np.zeros((2, 5, 4)), np.zeros((2, 5, 5, 3), f32))


def test_labels_of_the_wrong_depth_name_both_shapes():
    with pytest.raises(lossreg.LossInputError) as info:
        lossreg.get("softmax_ce")(np.eye(5, dtype=f32)[[0, 1]], np.zeros((2, 10), f32))
    message = str(info.value)
    assert "agree on 'classes'" in message
    assert "y_true shaped (2, 5)" in message and "y_pred shaped (2, 10)" in message
    assert "wrong depth" in message


def test_shapes_are_checked_against_each_other_across_extras():
    with pytest.raises(lossreg.LossInputError, match=r"z_mean shaped \(2, 3\) and z_log_var shaped \(2, 4\)"):
        lossreg.get("vae_kl")({}, {"z_mean": np.zeros((2, 3), f32), "z_log_var": np.zeros((2, 4), f32)})
    with pytest.raises(lossreg.LossInputError, match=r"agree on the axes '\.\.\.'.*aux shaped \(2, 5\)"):
        lossreg.get("mse_bce")(np.zeros((2, 4), f32), {"y_pred": np.full((2, 4), 0.5, f32), "aux": np.zeros((2, 5))})


@pytest.mark.parametrize(
    "name, params",
    [
        ("binary_crossentropy", {}),
        ("categorical_crossentropy", {}),
        ("band_masked_softmax_ce", {"from_logits": False}),
        ("mse_bce", {}),
        ("lossreg-segmentation:soft_dice", {"from_logits": False}),
    ],
)
def test_probabilities_outside_0_1_without_from_logits_say_they_look_like_logits(name, params):
    shape = (2, 3, 3, 2) if name.startswith("band") else (2, 2)
    y_true = np.zeros(shape, f32)
    y_true[..., 0] = 1.0
    logits = np.where(y_true > 0, 3.0, -2.0).astype(f32)
    y_pred = {"y_pred": logits, "aux": y_true} if name == "mse_bce" else logits
    with pytest.raises(lossreg.LossInputError) as info:
        lossreg.get(name, **params)(y_true, y_pred)
    message = str(info.value)
    assert "to be probabilities in [0, 1]; received values in [-2, 3]" in message
    assert "from_logits" in message
    # probabilities exactly 0 and 1 are fine, and so are the same logits with from_logits=True
    probs = {"y_pred": y_true, "aux": y_true} if name == "mse_bce" else y_true
    assert np.isfinite(float(lossreg.get(name, **params)(y_true, probs)))
    logit_params = {**params, "from_logits": True}
    assert np.isfinite(float(lossreg.get(name, **logit_params)(y_true, y_pred)))


def test_targets_outside_0_1_for_a_mask_loss_suggest_scaling():
    masks = np.array([[0.0, 255.0], [255.0, 0.0]], f32)
    with pytest.raises(lossreg.LossInputError, match=r"in \[0, 1\].*received values in \[0, 255\].*divide by 255"):
        lossreg.get("sigmoid_bce")(masks, np.zeros((2, 2), f32))
    np.testing.assert_allclose(
        float(lossreg.get("sigmoid_bce")(masks / 255, np.zeros((2, 2), f32))), np.log(2.0), rtol=1e-6
    )


def two_class_model():
    inputs = keras.Input((3,))
    return keras.Model(inputs, keras.layers.Dense(4, name="out")(inputs))


def test_in_fit_the_error_names_the_spec_path_not_a_tensorflow_shape_error():
    model = two_class_model()
    model.compile(optimizer="sgd", loss=lossreg.resolve({"out": {"loss": "softmax_ce", "weight": 2.0}}))
    x = np.zeros((8, 3), f32)
    with pytest.raises(lossreg.LossInputError) as info:
        model.fit(x, np.zeros((8,), np.int32), verbose=0)  # class ids, traced in graph mode
    assert str(info.value).startswith("spec['out']: softmax_ce expects one-hot labels")
    history = model.fit(x, np.eye(4, dtype=f32)[np.zeros(8, int)], verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_a_dict_y_for_a_single_output_model_gets_a_fix_not_a_dtype_error():
    """Keras hands the dict's key (a string) to the loss here; Keras' own losses fail with 'Expected float32'."""
    model = two_class_model()
    model.compile(optimizer="sgd", loss=lossreg.resolve({"out": "softmax_ce"}))
    with pytest.raises(lossreg.LossInputError, match=r"^spec\['out'\]: softmax_ce received the string 'out'"):
        model.fit(np.zeros((8, 3), f32), {"out": np.eye(4, dtype=f32)[np.zeros(8, int)]}, verbose=0)


def eager_mask_model():
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2, name="mask")(inputs))
    train = lossreg.attach(model, {"mask": {"loss": [{"loss": "sigmoid_bce"}, {"loss": "mse", "weight": 0.5}]}})
    train.compile(optimizer="sgd", run_eagerly=True)
    return train


@only_on(
    "tensorflow",
    "jax",
    why="PyTorch reads values only outside autograd: a training step's targets are not checked (no host copy a step)",
)
def test_attach_reports_bad_values_in_an_eager_fit_at_the_term_path():
    train = eager_mask_model()
    masks = np.full((4, 2), 255.0, f32)
    with pytest.raises(lossreg.LossInputError, match=r"^spec\['mask'\]\['loss'\]\[0\]: sigmoid_bce expects targets"):
        train.fit(np.zeros((4, 3), f32), {"mask": masks}, verbose=0)
    if BACKEND == "jax":  # Keras' JAX trainer takes the variables out of the model during fit and puts them back at
        # the end of the epoch: a fit that raised leaves them empty ("'NoneType' object is not callable")
        train = eager_mask_model()
    history = train.fit(np.zeros((4, 3), f32), {"mask": masks / 255}, verbose=0)
    np.testing.assert_allclose(history.history["mask_sigmoid_bce_loss"][0], np.log(2.0), rtol=1e-5)


def test_attach_reports_a_wrong_rank_at_wiring_time_with_the_entry():
    inputs = keras.Input((3,))
    z_mean = keras.layers.Dense(2, name="z_mean")(inputs)
    flat = keras.layers.Dense(2, name="flat")(inputs)
    z_log_var = keras.layers.Reshape((2, 1), name="z_log_var")(flat)
    model = keras.Model(inputs, [z_mean, z_log_var])
    spec = {"kl": {"loss": "vae_kl", "inputs": {"z_mean": "z_mean", "z_log_var": "z_log_var"}}}
    with pytest.raises(lossreg.LossInputError, match=re.escape("spec['kl']")) as info:
        lossreg.attach(model, spec)
    assert "vae_kl expects 'z_log_var' shaped (batch, latent) (rank 2); received shape (None, 2, 1)" in str(info.value)


def test_a_user_loss_declares_its_inputs_at_registration():
    @lossreg.register(
        "test_pairwise_l1", shapes={"y_true": "batch n n", "y_pred": "batch n n"}, from_logits=False, override=True
    )
    def pairwise_l1():
        """Mean absolute difference of two n x n maps."""
        return lambda y_true, y_pred: keras.ops.mean(keras.ops.abs(y_true - y_pred), axis=(1, 2))

    try:
        loss = lossreg.get("test_pairwise_l1")
        value = loss(np.zeros((2, 3, 3), f32), np.full((2, 3, 3), 0.25, f32))
        np.testing.assert_allclose(float(value), 0.25)
        # a word repeated in one pattern: that tensor's own axes disagree (not "y_pred and y_pred")
        with pytest.raises(lossreg.LossInputError) as info:
            loss(np.zeros((2, 3, 3), f32), np.zeros((2, 3, 4), f32))
        assert "its axes named 'n' must have the same size; received shape (2, 3, 4)" in str(info.value)
        assert "y_pred and y_pred" not in str(info.value)
        with pytest.raises(lossreg.LossInputError, match=r"agree on 'n'.*y_true shaped \(2, 4, 4\)"):
            loss(np.zeros((2, 4, 4), f32), np.zeros((2, 3, 3), f32))
        assert "y_pred: probabilities in [0, 1]" in str(lossreg.describe("test_pairwise_l1"))
    finally:
        REGISTRY.remove("test_pairwise_l1")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"shapes": {"y_pred": "batch ... ... classes"}}, r"'\.\.\.' appears twice"),
        ({"shapes": {"y_pred": "batch (n)"}}, r"bad axis '\(n\)'"),
        ({"shapes": {"logits": "batch"}}, r"'logits' is not one of its tensors \(y_true, y_pred\)"),
        ({"shapes": "batch n"}, "expected a mapping"),
        ({"targets": "binary"}, "Invalid targets 'binary'"),
        ({"from_logits": 1}, "Invalid from_logits 1"),
    ],
)
def test_a_malformed_declaration_fails_at_registration(kwargs, match):
    def declared(y_true, y_pred):
        """A loss whose declaration is wrong."""
        return y_pred - y_true

    with pytest.raises(lossreg.LossSpecError, match=match):
        lossreg.register("test_bad_declaration", **kwargs)(declared)
    assert "test_bad_declaration" not in lossreg.names()


def test_values_are_not_checked_inside_a_training_step_but_are_in_a_direct_call():
    """Values are read only where reading them is free: never in a traced graph (TensorFlow, JAX), which gets no
    extra ops for the check; on PyTorch, whose ``fit`` runs eagerly, not inside autograd (a training step's
    prediction tracks gradients) nor under ``torch.no_grad`` (evaluation and prediction steps)."""
    loss = lossreg.get("binary_crossentropy")
    labels, logits = np.array([[1.0], [0.0]], f32), np.array([[3.0], [-2.0]], f32)  # logits, not probabilities
    if BACKEND == "tensorflow":
        import tensorflow as tf

        spec = tf.TensorSpec((None, 1))
        steps = [tf.function(lambda t, p: loss(t, p)).get_concrete_function(spec, spec)]
    elif BACKEND == "jax":
        import jax

        steps = [jax.jit(lambda t, p: loss(t, p))]
    else:
        import torch

        def training(t, p):
            return loss(t, torch.tensor(p, requires_grad=True))

        def evaluation(t, p):
            with torch.no_grad():
                return loss(t, p)

        steps = [training, evaluation]
    for step in steps:
        assert np.isfinite(float(keras.ops.convert_to_numpy(step(labels, logits))))  # no value check in the step
    with pytest.raises(lossreg.LossInputError, match=r"received values in \[-2, 3\]"):
        loss(labels, logits)  # the same call, direct
