"""Bug 1: every path (compile with resolve, attach, LossLayer, RegisteredLoss) honours Keras' mask as Keras' own loss.

The tagger: ``Embedding(mask_zero=True)`` + LSTM + ``TimeDistributed(Dense)``; padded steps (word id 0) carry a
mask that Keras' ``Loss.__call__`` turns into a mean over the valid steps only.
"""

import warnings

import keras
import numpy as np
import pytest

import lossreg

V, T, C, B = 20, 7, 5, 4
LENGTHS = [7, 4, 2, 5]


def tagger(seed=0):
    keras.utils.set_random_seed(seed)
    words = keras.Input((T,), dtype="int32", name="words")
    h = keras.layers.Embedding(V, 8, mask_zero=True)(words)
    h = keras.layers.LSTM(8, return_sequences=True)(h)
    return words, keras.layers.TimeDistributed(keras.layers.Dense(C), name="tags")(h)


def data():
    rng = np.random.default_rng(0)
    x = rng.integers(1, V, (B, T)).astype("int32")
    for i, n in enumerate(LENGTHS):
        x[i, n:] = 0
    y = np.eye(C, dtype="float32")[rng.integers(0, C, (B, T))]
    y[x == 0] = 0.0  # no tag on padding: an unmasked mean is the masked one times valid / total steps
    return x, y


def on_every_step(row_weight):
    """Each row's weight on every one of its steps, (batch, T), for Keras' own loss: Keras documents a (batch, 1)
    weight, but on torch its ``apply_mask`` multiplies it by the (batch, T) mask in place (``sample_weight *=
    float_mask``), which torch cannot broadcast; the same weight spelt out per step gives the same value."""
    return np.repeat(row_weight[:, None], T, axis=1)


KERAS_LOSS = keras.losses.CategoricalCrossentropy(from_logits=True)


def keras_model():
    model = keras.Model(*tagger())
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss=KERAS_LOSS)
    return model


def attached_model():
    train = lossreg.attach(keras.Model(*tagger()), {"tags": "softmax_ce"})
    train.compile(optimizer=keras.optimizers.SGD(0.5))
    return train


def layer_model():
    words, logits = tagger()
    target = keras.Input((T, C), name="target")
    out = lossreg.LossLayer("softmax_ce", name="tags_loss")([target, logits])
    model = keras.Model([words, target], out)
    model.compile(optimizer=keras.optimizers.SGD(0.5))
    return model


def masked_mean(model, x, y):
    """Keras' rule by hand: the mean of the per-step cross-entropy over the valid (unpadded) steps."""
    logits = keras.ops.convert_to_numpy(keras.Model(model.inputs[0], model.get_layer("tags").output)(x))
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    ce = -(y * logp).sum(-1)
    valid = x != 0
    return float(ce[valid].mean()), float(ce.mean())


def test_the_tagger_is_masked_and_keras_and_resolve_agree():
    x, y = data()
    model = keras_model()
    expected, unmasked = masked_mean(model, x, y)
    np.testing.assert_allclose(unmasked, expected * (x != 0).mean(), rtol=1e-5)  # the mask matters here
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), expected, rtol=1e-5)
    model.compile(optimizer="sgd", loss=lossreg.resolve("softmax_ce"))
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), expected, rtol=1e-5)


@pytest.mark.parametrize("path", ["attach", "layer"])
def test_attach_and_loss_layer_give_keras_masked_value_and_training_step(path):
    x, y = data()
    reference = keras_model()
    expected = reference.evaluate(x, y, verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "will destroy the mask information"
        model = attached_model() if path == "attach" else layer_model()
    inputs, targets = (x, {"tags": y}) if path == "attach" else ([x, y], None)
    logs = model.evaluate(inputs, targets, verbose=0, return_dict=True)
    np.testing.assert_allclose(logs["loss"], expected, rtol=1e-6)
    np.testing.assert_allclose(logs["tags_loss"], expected, rtol=1e-6)
    reference.train_on_batch(x, y)
    model.train_on_batch(inputs, targets)
    for got, want in zip(model.trainable_weights, reference.trainable_weights, strict=True):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(got), keras.ops.convert_to_numpy(want), atol=1e-6)


def test_loss_layer_passes_the_mask_of_y_pred_on():
    words, logits = tagger()
    out = lossreg.LossLayer("softmax_ce")([keras.Input((T, C)), logits])
    x, y = data()
    logits_now = keras.Model(words, logits)(x)
    passed = lossreg.LossLayer("softmax_ce")([y, logits_now])
    assert out.shape == logits.shape
    mask = getattr(passed, "_keras_mask", None)
    assert mask is not None and np.array_equal(keras.ops.convert_to_numpy(mask), x != 0)


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "none"])
def test_registered_loss_on_masked_predictions_equals_keras_with_a_per_row_weight(reduction):
    x, y = data()
    words, logits = tagger()
    y_pred = keras.Model(words, logits)(x)
    assert getattr(y_pred, "_keras_mask", None) is not None
    weight = np.array([1.0, 0.5, 2.0, 0.0], "float32")
    ours = lossreg.RegisteredLoss([{"loss": "softmax_ce"}], reduction=reduction)
    theirs = keras.losses.CategoricalCrossentropy(from_logits=True, reduction=reduction)
    for got, want in [
        (ours(y, y_pred), theirs(y, y_pred)),
        (ours(y, y_pred, weight), theirs(y, y_pred, on_every_step(weight))),  # for Keras: per step
    ]:
        np.testing.assert_allclose(keras.ops.convert_to_numpy(got), keras.ops.convert_to_numpy(want), rtol=1e-6)


def test_attach_weights_whole_rows_of_masked_steps_like_keras_with_the_row_weight_on_each_step():
    x, y = data()
    weight = np.array([1.0, 0.5, 2.0, 0.0], "float32")
    expected = keras_model().evaluate(x, y, sample_weight=on_every_step(weight), verbose=0)
    logs = attached_model().evaluate(x, {"tags": y}, sample_weight=weight, verbose=0, return_dict=True)
    np.testing.assert_allclose(logs["tags_loss"], expected, rtol=1e-6)


def test_a_loss_layer_called_on_a_dict_reads_the_mask_of_y_pred():
    x, y = data()
    expected = keras_model().evaluate(x, y, verbose=0)
    words, logits = tagger()
    target = keras.Input((T, C), name="target")
    out = lossreg.LossLayer("softmax_ce", weight=2.0, name="tags_loss")({"y_true": target, "y_pred": logits})
    model = keras.Model([words, target], out)
    model.compile(optimizer="sgd")
    logs = model.evaluate([x, y], verbose=0, return_dict=True)
    np.testing.assert_allclose(logs["tags_loss"], expected, rtol=1e-6)
    np.testing.assert_allclose(logs["tags_weighted_loss"], 2 * expected, rtol=1e-6)


def test_a_per_step_and_a_per_sample_term_on_masked_steps_average_each_sample_over_its_kept_steps():
    x, y = data()
    words, logits = tagger()
    y_pred = keras.Model(words, logits)(x)
    loss = lossreg.RegisteredLoss([{"loss": "softmax_ce"}, {"loss": "sigmoid_dice", "weight": 0.5}])
    raw = keras.ops.convert_to_numpy(y_pred)
    logp = raw - np.log(np.exp(raw).sum(-1, keepdims=True))
    ce = -(y * logp).sum(-1)
    kept = x != 0
    per_step = (ce * kept).sum(-1) / kept.sum(-1)
    dice = keras.ops.convert_to_numpy(lossreg.RegisteredLoss([{"loss": "sigmoid_dice"}], reduction="none")(y, raw))
    value = float(keras.ops.convert_to_numpy(loss(y, y_pred)))  # y_pred is a model's output: torch tracks grads
    np.testing.assert_allclose(value, float(np.mean(per_step + 0.5 * dice)), rtol=1e-6)


# -- Keras' mask (padding) and ignore_class (unlabelled steps) together: sparse_softmax_ce against Keras ----------

IGNORE = 255
SPARSE = {"loss": "sparse_softmax_ce", "params": {"ignore_class": IGNORE}}


def sparse_data():
    """Word ids padded with 0 (Keras' mask) and tag ids with some unpadded steps unlabelled (255, ignore_class); the
    padded steps hold real tag ids, so only Keras' mask leaves them out."""
    x, _ = data()
    rng = np.random.default_rng(1)
    tags = rng.integers(0, C, (B, T))
    tags[(rng.random((B, T)) < 0.3) & (x != 0)] = IGNORE
    tags[0, 0] = IGNORE  # at least one unlabelled step that is not padding
    return x, tags


def sparse_keras_model():
    model = keras.Model(*tagger())
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=IGNORE)
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss=loss)
    return model


def kept_mean(model, x, tags, weights=None):
    """By hand: the cross-entropy's mean over the steps that are neither padding nor unlabelled (Keras' masked mean:
    weights scale the kept steps' terms, the count is the kept steps')."""
    logits = keras.ops.convert_to_numpy(keras.Model(model.inputs[0], model.get_layer("tags").output)(x))
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    kept = (x != 0) & (tags != IGNORE)
    ce = -np.take_along_axis(logp, np.where(kept, tags, 0)[..., None], axis=-1)[..., 0]
    weights = np.ones(ce.shape) if weights is None else weights
    return float((weights * ce)[kept].sum() / kept.sum()), kept


def test_padding_and_ignore_class_together_are_both_left_out_as_keras_leaves_them():
    x, tags = sparse_data()
    reference = sparse_keras_model()
    expected, kept = kept_mean(reference, x, tags)
    assert 0 < kept.sum() < ((x != 0).sum()) < x.size  # both masks leave steps out
    np.testing.assert_allclose(reference.evaluate(x, tags, verbose=0), expected, rtol=1e-5)
    model = keras.Model(*tagger())
    model.compile(loss=lossreg.resolve(SPARSE))
    np.testing.assert_allclose(model.evaluate(x, tags, verbose=0), expected, rtol=1e-5)
    # a per-step weight map: the same kept steps weighted, still over their count
    weights = np.random.default_rng(2).uniform(0.5, 2.0, (B, T)).astype("float32")
    want, _ = kept_mean(reference, x, tags, weights)
    for m in (reference, model):
        np.testing.assert_allclose(m.evaluate(x, tags, sample_weight=weights, verbose=0), want, rtol=1e-5)


def sparse_attached_model():
    train = lossreg.attach(keras.Model(*tagger()), {"tags": SPARSE})
    train.compile(optimizer=keras.optimizers.SGD(0.5))
    return train


def sparse_layer_model():
    words, logits = tagger()
    target = keras.Input((T,), dtype="int32", name="target")
    out = lossreg.LossLayer([SPARSE], name="tags_loss")([target, logits])
    model = keras.Model([words, target], out)
    model.compile(optimizer=keras.optimizers.SGD(0.5))
    return model


@pytest.mark.parametrize("path", ["attach", "layer"])
def test_attach_and_loss_layer_leave_out_padding_and_ignore_class_as_keras_does(path):
    x, tags = sparse_data()
    reference = sparse_keras_model()
    expected = reference.evaluate(x, tags, verbose=0)
    np.testing.assert_allclose(expected, kept_mean(reference, x, tags)[0], rtol=1e-5)
    model = sparse_attached_model() if path == "attach" else sparse_layer_model()
    inputs, targets = (x, {"tags": tags}) if path == "attach" else ([x, tags], None)
    logs = model.evaluate(inputs, targets, verbose=0, return_dict=True)
    np.testing.assert_allclose(logs["tags_loss"], expected, rtol=1e-6)
    reference.train_on_batch(x, tags)
    model.train_on_batch(inputs, targets)
    for got, want in zip(model.trainable_weights, reference.trainable_weights, strict=True):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(got), keras.ops.convert_to_numpy(want), atol=1e-6)


def test_a_fully_ignored_batch_of_padded_and_unlabelled_steps_gives_0_like_keras():
    """Every step padding or unlabelled: Keras gives 0; so does sparse_softmax_ce on every path."""
    x, _ = data()
    tags = np.full((B, T), IGNORE)
    assert sparse_keras_model().evaluate(x, tags, verbose=0) == 0.0
    model = keras.Model(*tagger())
    model.compile(loss=lossreg.resolve(SPARSE))
    assert model.evaluate(x, tags, verbose=0) == 0.0
    assert sparse_attached_model().evaluate(x, {"tags": tags}, verbose=0, return_dict=True)["tags_loss"] == 0.0
