"""The five seed examples in examples/: each runs, trains, and logs losses that equal the math done by hand.

Every reference is computed here in float64 NumPy from the models' own predictions (or tapped layers) on one
batch, and compared with ``evaluate()``: each logged term, its weighted form, and ``loss`` as the weighted sum.
The NumPy references are held to raw TensorFlow (the golden references) where TensorFlow is the backend.
Weights that change (issue 11): the logged ``<term>_weight`` equals the schedule at the optimizer's step count
(``lossreg.schedule_value``, itself held to the formulas written here, Fu et al.'s cyclical code included), and
learned uncertainty weights move from 1 towards ``1 / L``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from on_backend import RAW_TF
from references import REFERENCES

import lossreg

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
RTOL = 1e-5


def load(name: str):
    """Import ``examples/<name>.py`` by path (examples/ is not a package); once per process."""
    module_name = f"lossreg_example_{name}"
    if module_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(module_name, EXAMPLES / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    return sys.modules[module_name]


def f64(t):
    return np.asarray(keras.ops.convert_to_numpy(t), "float64")


def mse(y_true, y_pred):
    return float(np.mean(np.square(f64(y_true) - f64(y_pred))))


def softmax_ce(labels, logits):
    """Per-position -sum(labels * log_softmax(logits)) over the last axis (tf.nn.softmax_cross_entropy_with_logits)."""
    return REFERENCES["softmax_ce"].fn(f64(labels), f64(logits))


def sigmoid_bce(labels, logits):
    """The mean of tf.nn.sigmoid_cross_entropy_with_logits."""
    return float(np.mean(REFERENCES["sigmoid_bce"].fn(f64(labels), f64(logits))))


def clipped_bce(y_true, probabilities):
    """Keras' binary cross-entropy on probabilities: clipped to [1e-7, 1 - 1e-7]."""
    y, p = f64(y_true), np.clip(f64(probabilities), 1e-7, 1 - 1e-7)
    return float(np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p))))


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-f64(x)))


def softmax(x):
    x = f64(x)
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def strictly_upper(ce):
    """The pairs above the diagonal of the last two axes: tf.linalg.band_part(ce, 0, -1) - band_part(ce, 0, 0)."""
    return np.triu(ce, 1)


def vae_kl(z_mean, z_log_var):
    """mean over the batch of -1/2 sum(1 + log var - mean^2 - var)."""
    m, v = f64(z_mean), f64(z_log_var)
    return float(np.mean(-0.5 * np.sum(1 + v - np.square(m) - np.exp(v), axis=1)))


def close(actual, expected, what=""):
    np.testing.assert_allclose(actual, expected, rtol=RTOL, err_msg=what)


def decreased(history):
    return history["loss"][-1] < history["loss"][0]


@RAW_TF
def test_the_numpy_references_equal_raw_tensorflow():
    """The golden references these tests were first written in: raw TensorFlow float64 ops on the same arrays."""
    import tensorflow as tf

    rng = np.random.default_rng(3)
    logits = rng.normal(0, 3, (4, 5, 5, 3))
    labels = np.eye(3)[rng.integers(0, 3, (4, 5, 5))]
    binary, probabilities = rng.uniform(size=(4, 6)), rng.uniform(size=(4, 6))
    probabilities[0, :2] = 0.0, 1.0  # the clip at work
    z_mean, z_log_var = rng.normal(size=(4, 2)), rng.normal(size=(4, 2))
    t = tf.constant
    ce = tf.nn.softmax_cross_entropy_with_logits(labels=t(labels), logits=t(logits))
    np.testing.assert_allclose(softmax_ce(labels, logits), ce, rtol=1e-12)
    band = tf.linalg.band_part(ce, 0, -1) - tf.linalg.band_part(ce, 0, 0)
    np.testing.assert_allclose(strictly_upper(softmax_ce(labels, logits)), band, rtol=1e-12)
    np.testing.assert_allclose(softmax(logits), tf.nn.softmax(t(logits)), rtol=1e-12)
    x = logits[..., 0].reshape(4, -1)[:, :6]
    bce = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=t(binary), logits=t(x)))
    np.testing.assert_allclose(sigmoid_bce(binary, x), float(bce), rtol=1e-12)
    np.testing.assert_allclose(sigmoid(x), tf.sigmoid(t(x)), rtol=1e-12)
    p = tf.clip_by_value(t(probabilities), 1e-7, 1 - 1e-7)
    clipped = tf.reduce_mean(-(t(binary) * tf.math.log(p) + (1 - t(binary)) * tf.math.log(1 - p)))
    np.testing.assert_allclose(clipped_bce(binary, probabilities), float(clipped), rtol=1e-12)
    np.testing.assert_allclose(
        mse(binary, probabilities), float(tf.reduce_mean(tf.square(t(binary) - t(probabilities))))
    )
    m, v = t(z_mean), t(z_log_var)
    kl = tf.reduce_mean(-0.5 * tf.reduce_sum(1 + v - tf.square(m) - tf.exp(v), axis=1))
    np.testing.assert_allclose(vae_kl(z_mean, z_log_var), float(kl), rtol=1e-12)


# --- seed 000: multi-input / multi-output, generator and PyDataset, list and dict specs


@pytest.fixture(scope="module")
def seed000():
    return load("seed000_multi_io").main(size=16, samples=16, batch_size=4, epochs=2)


def test_seed000_logs_each_weighted_output_loss_and_their_sum(seed000):
    x, y = seed000["x"], seed000["y"]
    for model_key, logs in (("list_model", seed000["list_evaluate"]), ("dict_model", seed000["dict_evaluate"])):
        maxpool, conv3 = seed000[model_key].predict(x, batch_size=len(x[0]), verbose=0)
        assert set(logs) == {"loss", "maxpool_loss", "conv3_loss"}
        # the spec's weight 0.1 is folded into maxpool's loss, as the seed's loss_weights=[0.1, 1]
        close(logs["maxpool_loss"], 0.1 * mse(y[0], maxpool), model_key)
        close(logs["conv3_loss"], mse(y[1], conv3), model_key)
        close(logs["loss"], 0.1 * mse(y[0], maxpool) + mse(y[1], conv3), model_key)


def test_seed000_generator_and_py_dataset_both_train_and_list_and_dict_specs_agree(seed000):
    generator, dataset = seed000["generator_history"], seed000["dataset_history"]
    assert decreased(generator) and decreased(dataset)
    # same initial weights and the same batches in the same order: list spec + generator == dict spec + PyDataset
    assert generator.keys() == dataset.keys() == {"loss", "maxpool_loss", "conv3_loss"}
    for key in generator:
        np.testing.assert_allclose(dataset[key], generator[key], rtol=RTOL, err_msg=key)
    # and on identical weights the two compiled specs give identical figures
    list_model, dict_model = seed000["list_model"], seed000["dict_model"]
    dict_model.set_weights(list_model.get_weights())
    x, y = seed000["x"], seed000["y"]
    as_dicts = dict_model.evaluate(
        {"img": x[0], "img2": x[1]}, {"maxpool": y[0], "conv3": y[1]}, batch_size=len(x[0]), verbose=0, return_dict=True
    )
    for key, value in seed000["list_evaluate"].items():
        close(as_dicts[key], value, key)


# --- seed 001: dict inputs / outputs, image + time series


@pytest.fixture(scope="module")
def seed001():
    # 4 epochs: the first RMSprop steps can overshoot from a start (each backend draws its own initial weights)
    return load("seed001_dict_io").main(samples=16, size=8, steps=8, batch_size=8, epochs=4)


def test_seed001_dict_model_losses_match_mse_and_softmax_ce_for_any_series_length(seed001):
    model = seed001["model"]
    assert decreased(seed001["history"])
    assert seed001["x_short"]["ts_input"].shape[1] != seed001["x"]["ts_input"].shape[1]
    for x, y, logs in (
        (seed001["x"], seed001["y"], seed001["evaluate"]),
        (seed001["x_short"], seed001["y_short"], seed001["evaluate_short"]),
    ):
        pred = model.predict(x, verbose=0)
        score = mse(y["score_output"], pred["score_output"])
        classes = float(np.mean(softmax_ce(y["class_output"], pred["class_output"])))
        assert set(logs) == {"loss", "score_output_loss", "class_output_loss"}
        close(logs["score_output_loss"], score)
        close(logs["class_output_loss"], classes)
        close(logs["loss"], score + classes)


def test_seed001_predictor_gives_class_probabilities_and_the_raw_score(seed001):
    logits = seed001["model"].predict(seed001["x"], verbose=0)
    predicted = seed001["predictor"].predict(seed001["x"], verbose=0)
    np.testing.assert_allclose(predicted["class_output"], softmax(logits["class_output"]), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(predicted["score_output"], logits["score_output"])


@pytest.fixture(scope="module")
def seed001_uncertainty():
    return load("seed001_dict_io").train_uncertainty(samples=32, size=8, steps=8, batch_size=8, epochs=10)


def test_seed001_uncertainty_weights_start_at_one_and_move_towards_one_over_each_loss(seed001_uncertainty):
    run = seed001_uncertainty
    train, x, y = run["train"], run["x"], run["y"]
    names = ("score_output", "class_output")
    assert set(run["log_variances"]) == set(names)
    # the log-variances are trainable variables of the training model, trained by its optimizer
    trainable = {id(v) for v in train.trainable_weights}
    assert all(id(v) in trainable for v in train.term_weights.weights if v.name.endswith("_log_variance"))
    before = run["evaluate_before"]
    for name in names:  # s = 0 before training: weight 1, and the term is L + 0
        close(before[f"{name}_weight"], 1.0, name)
        close(before[f"{name}_weighted_loss"], before[f"{name}_loss"], name)
    after = run["evaluate"]
    pred = train.inference_model.predict(x, verbose=0)
    losses = {
        "score_output": mse(y["score_output"], pred["score_output"]),
        "class_output": float(np.mean(softmax_ce(y["class_output"], pred["class_output"]))),
    }
    total = 0.0
    for name in names:
        s, weight, loss = run["log_variances"][name], run["weights"][name], losses[name]
        close(after[f"{name}_loss"], loss, name)
        close(after[f"{name}_weight"], np.exp(-s), name)  # the weight logged is exp(-s) of the saved variable
        close(after[f"{name}_weighted_loss"], np.exp(-s) * loss + s, name)  # exp(-s) L + s
        total += np.exp(-s) * loss + s
        # moved from 1 towards the optimum 1 / L of exp(-s) L + s: in that direction, and closer (in log terms)
        assert np.sign(weight - 1.0) == np.sign(1.0 / loss - 1.0), (name, weight, loss)
        assert abs(np.log(weight) - np.log(1.0 / loss)) < abs(np.log(1.0 / loss)), (name, weight, loss)
    close(after["loss"], total)
    # seed 001's two heads: the 5-class cross-entropy is the larger loss and gets the smaller weight
    assert losses["class_output"] > 1.0 > losses["score_output"]
    assert run["weights"]["class_output"] < 1.0 < run["weights"]["score_output"]


# --- seed 002: logits autoencoder + inference model; VAE with vae_kl


@pytest.fixture(scope="module")
def seed002():
    return load("seed002_logits_and_vae").main(samples=32, size=12, batch_size=16, epochs=3)


def test_seed002_autoencoder_trains_on_logits_and_predicts_sigmoid_with_shared_weights(seed002):
    ae, probabilities, x = seed002["ae"], seed002["ae_probabilities"], seed002["x"]
    assert decreased(seed002["ae_history"])
    logits = ae.predict(x, verbose=0)
    close(seed002["ae_evaluate"]["loss"], sigmoid_bce(x, logits))
    np.testing.assert_allclose(probabilities.predict(x, verbose=0), sigmoid(logits), rtol=1e-6, atol=1e-7)
    assert len(probabilities.weights) == len(ae.weights)
    assert all(a is b for a, b in zip(probabilities.weights, ae.weights, strict=True))  # shared, not copied


def test_seed002_vae_logs_reconstruction_and_kl_matching_the_formulas(seed002):
    vae, x, logs = seed002["vae"], seed002["x"], seed002["vae_evaluate"]
    assert decreased(seed002["vae_history"])
    assert set(logs) == {"loss", "recon_loss", "recon_weighted_loss", "kl_loss"}
    taps = keras.Model(vae.input, [vae.get_layer("z_mean").output, vae.get_layer("z_log_var").output])
    kl = vae_kl(*taps.predict(x, verbose=0))
    recon = sigmoid_bce(x, vae.predict(x, verbose=0)["recon"])  # Sampling returns z_mean outside training
    pixels = x.shape[1] * x.shape[2]
    close(logs["kl_loss"], kl, "kl")
    close(logs["recon_loss"], recon, "recon")
    close(logs["recon_weighted_loss"], pixels * recon, "recon weighted")
    close(logs["loss"], pixels * recon + kl, "loss")


def test_seed002_sampling_layer_draws_in_training_and_the_vae_saves_and_reloads(seed002, tmp_path):
    sampling = seed002["vae"].get_layer("sampling")
    z_mean = np.full((20000, 2), 1.5, "float32")
    z_log_var = np.full((20000, 2), np.log(4.0), "float32")  # sigma = 2
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(sampling([z_mean, z_log_var], training=False)), z_mean)
    z = keras.ops.convert_to_numpy(sampling([z_mean, z_log_var], training=True))
    np.testing.assert_allclose(z.mean(0), 1.5, atol=0.1)
    np.testing.assert_allclose(z.std(0), 2.0, rtol=0.05)
    train, x = seed002["vae_train"], seed002["x"]
    path = tmp_path / "vae.keras"
    train.save(path)
    reloaded = keras.models.load_model(path)  # safe_mode=True, no custom_objects: Sampling is registered
    logs = reloaded.evaluate(x, {"recon": x}, batch_size=len(x), verbose=0, return_dict=True)
    for key, value in seed002["vae_evaluate"].items():
        np.testing.assert_allclose(logs[key], value, rtol=1e-6, err_msg=key)


# --- seed 002 with a changing KL weight: warm-up and cyclical annealing (issue 11)


def linear_warmup(t, start, end, steps, delay):
    """The linear schedule's formula: start + (end - start) * clip((t - delay) / steps, 0, 1)."""
    return start + (end - start) * np.clip((np.asarray(t, "float64") - delay) / steps, 0.0, 1.0)


def fu_cyclical(n_iter, start, stop, n_cycle, ratio):
    """Fu et al. 2019's released code (``frange_cycle_linear``), verbatim in NumPy: the weight at each iteration
    index 0 .. n_iter - 1 (training step t = index + 1)."""
    weights = np.ones(n_iter) * stop
    period = n_iter / n_cycle
    step = (stop - start) / (period * ratio)
    for c in range(n_cycle):
        v, i = start, 0
        while v <= stop and int(i + c * period) < n_iter:
            weights[int(i + c * period)] = v
            v += step
            i += 1
    return weights


KL_STEPS = 16  # 32 samples in batches of 8, 4 epochs


def kl_schedules():
    example = load("seed002_logits_and_vae")
    warmup, cyclical = example.kl_warmup(KL_STEPS), example.kl_cyclical(KL_STEPS, cycles=2)
    assert (warmup["steps"], warmup["delay"]) == (8, 2)
    t = np.arange(1, KL_STEPS + 1)
    return {
        "warmup": (warmup, linear_warmup(t, 0.0, 1.0, 8, 2)),
        "cyclical": (cyclical, fu_cyclical(KL_STEPS, 0.0, 1.0, 2, 0.5)),
    }


@pytest.fixture(scope="module", params=["warmup", "cyclical"])
def seed002_kl(request):
    weight, expected = kl_schedules()[request.param]
    run = load("seed002_logits_and_vae").train_kl_schedule(weight, samples=32, size=12, batch_size=8, epochs=4)
    return {**run, "weight": weight, "expected": expected}


def test_seed002_kl_schedule_values_are_the_formulas():
    """lossreg.schedule_value against the formulas: the warm-up's, and Fu et al.'s cyclical code."""
    for weight, expected in kl_schedules().values():
        values = [lossreg.schedule_value(weight, t) for t in range(1, KL_STEPS + 1)]
        np.testing.assert_allclose(values, expected, rtol=1e-6, atol=1e-7, err_msg=str(weight))
        assert lossreg.schedule_value(weight, 0) == 0.0  # before training: the start
    warmup, cyclical = (kl_schedules()[k][1] for k in ("warmup", "cyclical"))
    np.testing.assert_allclose(warmup[:3], [0.0, 0.0, 0.125])  # 0 during the delay (steps 1, 2), then rising
    np.testing.assert_allclose(cyclical[:9], [0.0, 0.25, 0.5, 0.75, 1.0, 1.0, 1.0, 1.0, 0.0])  # 2 cycles of 8


def test_seed002_kl_weight_logged_per_batch_and_per_epoch_is_the_schedule_at_the_step(seed002_kl):
    run, weight, expected = seed002_kl, seed002_kl["weight"], seed002_kl["expected"]
    # every batch's kl_weight is the schedule at that training step (t = 1, 2, ...)
    np.testing.assert_allclose(run["per_batch_weight"], expected, rtol=1e-6, atol=1e-7)
    # History's per-epoch kl_weight is the latest batch's: the schedule at the optimizer's iteration count
    assert run["iterations_per_epoch"] == [4, 8, 12, 16]
    at_iterations = [lossreg.schedule_value(weight, k) for k in run["iterations_per_epoch"]]
    np.testing.assert_allclose(run["history"]["kl_weight"], at_iterations, rtol=1e-6, atol=1e-7)
    assert len(set(np.round(run["per_batch_weight"], 6))) > 2  # the weight did change
    step = {v.name: v for v in run["train"].term_weights.weights}["step"]
    assert float(keras.ops.convert_to_numpy(step)) == KL_STEPS  # the model's own step counter
    assert int(keras.ops.convert_to_numpy(run["train"].optimizer.iterations)) == KL_STEPS


def test_seed002_kl_schedule_evaluates_with_the_last_steps_weight_and_reloads_at_that_step(seed002_kl, tmp_path):
    run, x = seed002_kl, seed002_kl["x"]
    logs, vae = run["evaluate"], run["vae"]
    assert set(logs) == {"loss", "recon_loss", "recon_weighted_loss", "kl_loss", "kl_weighted_loss", "kl_weight"}
    weight = lossreg.schedule_value(run["weight"], KL_STEPS)  # evaluate does not advance the step
    taps = keras.Model(vae.input, [vae.get_layer("z_mean").output, vae.get_layer("z_log_var").output])
    kl = vae_kl(*taps.predict(x, verbose=0))
    recon = sigmoid_bce(x, vae.predict(x, verbose=0)["recon"])
    pixels = x.shape[1] * x.shape[2]
    close(logs["kl_weight"], weight, "kl weight")
    close(logs["kl_loss"], kl, "kl")
    close(logs["kl_weighted_loss"], weight * kl, "kl weighted")
    close(logs["loss"], pixels * recon + weight * kl, "loss")
    path = tmp_path / "annealed_vae.keras"
    run["train"].save(path)
    reloaded = keras.models.load_model(path, safe_mode=True)  # the step is saved: the same weight, the same logs
    again = reloaded.evaluate(x, {"recon": x}, batch_size=len(x), verbose=0, return_dict=True)
    for key, value in logs.items():
        np.testing.assert_allclose(again[key], value, rtol=1e-6, err_msg=key)


# --- seed 003: the joint decoder, one joint entry vs per-output entries


@pytest.fixture(scope="module")
def seed003():
    return load("seed003_joint_decoder").main(samples=32, batch_size=16, epochs=2)


def seed003_reference(model, x, y):
    """The seed's TensorFlow loss: mean(ce(y1, out1)) + 2 * mean(band_part(ce2, 0, -1) - band_part(ce2, 0, 0))."""
    out_1, out_2 = model.predict(x, verbose=0)
    ce_1 = float(np.mean(softmax_ce(y["output_1"], out_1)))
    band = float(np.mean(strictly_upper(softmax_ce(y["output_2"], out_2))))
    return ce_1, band


def test_seed003_one_joint_entry_logs_both_terms_and_the_seeds_loss(seed003):
    x, y, logs = seed003["x"], seed003["y"], seed003["joint_evaluate"]
    assert decreased(seed003["joint_history"])
    assert set(logs) == {
        "loss",
        "joint_softmax_ce_loss",
        "joint_band_masked_softmax_ce_loss",
        "joint_band_masked_softmax_ce_weighted_loss",
    }
    ce_1, band = seed003_reference(seed003["joint"].inference_model, x, y)
    close(logs["joint_softmax_ce_loss"], ce_1)
    close(logs["joint_band_masked_softmax_ce_loss"], band)
    close(logs["joint_band_masked_softmax_ce_weighted_loss"], 2 * band)
    close(logs["loss"], ce_1 + 2 * band)


def test_seed003_per_output_entries_train_exactly_like_the_joint_entry(seed003):
    x, y, logs = seed003["x"], seed003["y"], seed003["per_output_evaluate"]
    assert set(logs) == {"loss", "output_1_loss", "output_2_loss", "output_2_weighted_loss"}
    ce_1, band = seed003_reference(seed003["per_output"].inference_model, x, y)
    close(logs["output_1_loss"], ce_1)
    close(logs["output_2_loss"], band)
    close(logs["output_2_weighted_loss"], 2 * band)
    close(logs["loss"], ce_1 + 2 * band)
    # same start, same batches: same losses every epoch and the same trained weights
    joint, per_output = seed003["joint_history"], seed003["per_output_history"]
    np.testing.assert_allclose(per_output["loss"], joint["loss"], rtol=RTOL)
    np.testing.assert_allclose(per_output["output_2_loss"], joint["joint_band_masked_softmax_ce_loss"], rtol=RTOL)
    for a, b in zip(
        seed003["joint"].inference_model.get_weights(), seed003["per_output"].inference_model.get_weights(), strict=True
    ):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)


# --- seed 004: target + intermediate layer, attach vs LossLayer


SEED004 = {"size": 16, "batch_size": 4, "steps": 3, "epochs": 2}


@pytest.fixture(scope="module")
def seed004_attach():
    return load("seed004_intermediate").train_attached(**SEED004)


@pytest.fixture(scope="module")
def seed004_layer():
    return load("seed004_intermediate").train_with_loss_layer(**SEED004)


def seed004_reference(image_input, deconv1, output, images, masks):
    """mean((target - deconv1)^2) + mean(bce(target, output)), from the model's own tensors."""
    taps = keras.Model(image_input, [deconv1, output])
    tapped_deconv1, tapped_output = taps.predict(images, verbose=0)
    return mse(masks, tapped_deconv1) + clipped_bce(masks, tapped_output)


def test_seed004_attach_wires_the_intermediate_layer_and_matches_the_formula(seed004_attach):
    model, images, masks = seed004_attach["model"], seed004_attach["images"], seed004_attach["masks"]
    logs, history = seed004_attach["attach_evaluate"], seed004_attach["attach_history"]
    assert set(history) == {"loss", "complex_loss", "val_loss", "val_complex_loss"}
    assert decreased(history)
    expected = seed004_reference(model.input, model.get_layer("deconv1").output, model.output, images, masks)
    assert set(logs) == {"loss", "complex_loss"}
    close(logs["complex_loss"], expected)
    close(logs["loss"], expected)


def test_seed004_loss_layer_model_matches_the_formula_and_has_no_lambda(seed004_layer):
    train_model, predict_model = seed004_layer["train_model"], seed004_layer["predict_model"]
    images, masks = seed004_layer["images"], seed004_layer["masks"]
    logs, history = seed004_layer["loss_layer_evaluate"], seed004_layer["loss_layer_history"]
    assert set(history) == {"loss", "complex_loss", "val_loss", "val_complex_loss"}
    assert decreased(history)
    assert not any(isinstance(layer, keras.layers.Lambda) for layer in train_model.layers)
    deconv1 = train_model.get_layer("deconv1").output
    expected = seed004_reference(predict_model.input, deconv1, predict_model.output, images, masks)
    close(logs["complex_loss"], expected)
    close(logs["loss"], expected)


def test_seed004_loss_layer_and_attach_give_the_same_loss_for_the_same_weights(seed004_attach, seed004_layer):
    example = load("seed004_intermediate")
    # trained from the same seed on the same batches: the same history and the same weights
    for key, values in seed004_attach["attach_history"].items():
        np.testing.assert_allclose(seed004_layer["loss_layer_history"][key], values, rtol=RTOL, err_msg=key)
    for a, b in zip(seed004_attach["model"].get_weights(), seed004_layer["predict_model"].get_weights(), strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
    # and a fresh LossLayer model given the attached model's trained weights reports the same figures
    fresh_train, fresh_predict = example.build_loss_layer_model(size=16, seed=7)
    fresh_predict.set_weights(seed004_attach["model"].get_weights())
    fresh_train.compile(optimizer="adam")
    images, masks = seed004_attach["images"], seed004_attach["masks"]
    logs = fresh_train.evaluate({"image": images, "target": masks}, batch_size=len(images), verbose=0, return_dict=True)
    for key, value in seed004_attach["attach_evaluate"].items():
        close(logs[key], value, key)
