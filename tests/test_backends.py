"""What differs between the backends, stated and checked: float64, LossLayer's logs, where values are checked.

Each test runs on every backend (the suite runs once per backend) and asserts what holds on the one it is on;
docs/backends.md says the same in words.
"""

from __future__ import annotations

import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from on_backend import BACKEND
from references.builtin import sigmoid_bce as sigmoid_bce_reference

import lossreg

RNG = np.random.default_rng(7)
Y = (RNG.uniform(size=(6, 4)) > 0.5).astype("float64")
LOGITS = RNG.normal(size=(6, 4)) * 3


def test_float64_in_float64_out_where_the_backend_computes_float64():
    """TensorFlow and PyTorch compute a float64 loss in float64; JAX computes float32 unless JAX_ENABLE_X64=1."""
    loss = lossreg.RegisteredLoss([{"loss": "sigmoid_bce"}], dtype="float64")
    expected = sigmoid_bce_reference(Y, LOGITS).mean()
    if BACKEND == "jax" and not os.environ.get("JAX_ENABLE_X64"):
        with pytest.warns(UserWarning, match="float64 .* not available"):  # JAX says so itself
            value = keras.ops.convert_to_numpy(loss(Y, LOGITS))
        assert value.dtype == np.float32  # JAX has no float64 arrays without x64: Keras' own losses too
        np.testing.assert_allclose(value, expected, rtol=1e-6)
    else:
        value = keras.ops.convert_to_numpy(loss(Y, LOGITS))
        assert value.dtype == np.float64
        np.testing.assert_allclose(value, expected, rtol=1e-13)


@pytest.mark.skipif(BACKEND != "jax", reason="JAX_ENABLE_X64 is JAX's switch: runs on jax")
def test_jax_with_x64_computes_float64():
    code = (
        "import numpy as np, keras, lossreg\n"
        "v = lossreg.RegisteredLoss([{'loss': 'sigmoid_bce'}], dtype='float64')(np.ones((2, 3)), np.zeros((2, 3)))\n"
        "v = keras.ops.convert_to_numpy(v); print(v.dtype, repr(float(v)))"
    )
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_ENABLE_X64": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    dtype, value = out.split()
    assert dtype == "float64" and float(value) == pytest.approx(np.log(2.0), rel=1e-15)


def _loss_layer_model() -> keras.Model:
    keras.utils.set_random_seed(3)
    x, target = keras.Input((5,), name="x"), keras.Input((4,), name="target")
    hidden = keras.layers.Dense(4, name="hidden")(x)
    out = keras.layers.Dense(4, activation="sigmoid", name="out")(hidden)
    out = lossreg.LossLayer("mse_bce", weight=2.0, name="joint_loss")([target, hidden, out])
    return keras.Model([x, target], out)


def test_loss_layer_logs_exact_epoch_figures_on_every_backend():
    """On every backend History and evaluate() give the term's mean over the epoch, equal to a direct call."""
    model = _loss_layer_model()
    model.compile(optimizer=keras.optimizers.SGD(0.0))  # weights stay put: every batch sees the same model
    x = RNG.normal(size=(8, 5)).astype("float32")
    t = RNG.uniform(size=(8, 4)).astype("float32")
    logs = model.fit([x, t], batch_size=4, epochs=1, verbose=0, shuffle=False).history
    hidden = keras.Model(model.inputs, model.get_layer("hidden").output).predict_on_batch([x, t])
    probs = model.predict_on_batch([x, t])
    direct = float(lossreg.get("mse_bce")(t, {"y_pred": probs, "aux": hidden}))
    assert logs["joint_loss"][0] == pytest.approx(direct, rel=1e-5)
    assert logs["joint_weighted_loss"][0] == pytest.approx(2 * direct, rel=1e-5)
    assert logs["loss"][0] == pytest.approx(2 * direct, rel=1e-5)
    evaluated = model.evaluate([x, t], batch_size=4, verbose=0, return_dict=True)
    assert evaluated["joint_loss"] == pytest.approx(direct, rel=1e-5)


def test_loss_layer_per_batch_figures_are_exact_except_inside_a_compiled_jax_step():
    """A JAX step gives metrics no layer state (keras-team/keras#21639): per batch the figure is NaN there."""

    seen: list[float] = []

    class Batches(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(float(logs["joint_loss"]))

    model = _loss_layer_model()
    model.compile(optimizer=keras.optimizers.SGD(0.0))
    x = RNG.normal(size=(8, 5)).astype("float32")
    t = RNG.uniform(size=(8, 4)).astype("float32")
    logs = model.fit([x, t], batch_size=4, epochs=1, verbose=0, shuffle=False, callbacks=[Batches()]).history
    assert len(seen) == 2
    if BACKEND == "jax":
        assert all(np.isnan(seen))
    else:  # the running mean after the last batch is the epoch's figure
        assert seen[-1] == pytest.approx(logs["joint_loss"][0], rel=1e-6)


def test_loss_layer_running_sums_are_not_saved(tmp_path):
    model = _loss_layer_model()
    model.compile(optimizer="sgd")
    x = RNG.normal(size=(4, 5)).astype("float32")
    t = RNG.uniform(size=(4, 4)).astype("float32")
    model.fit([x, t], verbose=0)
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    sums = [v for v in loaded.get_layer("joint_loss").non_trainable_variables]
    assert [float(keras.ops.convert_to_numpy(v)) for v in sums] == [0.0] * 4  # fresh, not the saved run's


def test_values_are_checked_in_direct_calls_on_every_backend():
    with pytest.raises(lossreg.LossInputError, match="sigmoid_bce expects targets"):
        lossreg.get("sigmoid_bce")(np.full((2, 3), 255.0, "float32"), np.zeros((2, 3), "float32"))


def test_values_are_not_read_inside_training_steps():
    """No host copy per step: compiled steps (TF, JAX) have no values; PyTorch's eager steps are not read."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    model.compile(optimizer="sgd", loss=lossreg.get("sigmoid_bce"))
    masks = np.full((4, 2), 255.0, "float32")
    history = model.fit(np.ones((4, 3), "float32"), masks, verbose=0).history
    assert np.isfinite(history["loss"][0])
