"""lossreg.attach, LossLayer and inference_model: wiring, values against float64 NumPy (held to raw TensorFlow on
TensorFlow), logging, save/load, errors."""

import json
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from on_backend import RAW_TF
from references import REFERENCES

import lossreg
from lossreg.spec import ModelView

SPEC = {
    "adjacency": {"loss": "band_masked_softmax_ce", "weight": 2.0},
    "features": "softmax_ce",
    "recon": {"loss": "mse_bce", "on": "output", "inputs": {"aux": "deconv1"}},
}


def build(seed=0):
    keras.utils.set_random_seed(seed)
    inp = keras.Input((16,), name="x")
    h = keras.layers.Dense(32, activation="relu")(inp)
    features = keras.layers.Reshape((4, 3), name="features")(keras.layers.Dense(12)(h))
    adjacency = keras.layers.Reshape((4, 4, 2), name="adjacency")(keras.layers.Dense(32)(h))
    deconv1 = keras.layers.Dense(8, name="deconv1")(h)
    output = keras.layers.Dense(8, activation="sigmoid", name="output")(deconv1)
    return keras.Model(inp, {"features": features, "adjacency": adjacency, "output": output})


def data(n=32):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 16)).astype("float32")
    y = {
        "features": np.eye(3, dtype="float32")[rng.integers(0, 3, (n, 4))],
        "adjacency": np.eye(2, dtype="float32")[rng.integers(0, 2, (n, 4, 4))],
        "output": rng.uniform(size=(n, 8)).astype("float32"),
    }
    return x, y


def tapped(model, x):
    """The model's own features, adjacency, deconv1 and output on ``x``, as float64."""
    taps = keras.Model(model.input, [model.get_layer(n).output for n in ("features", "adjacency", "deconv1", "output")])
    return [t.astype("float64") for t in taps.predict(x, verbose=0)]


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, "float64")))


def clipped_bce(y, p):
    """Keras' binary cross-entropy on probabilities, clipped to [1e-7, 1 - 1e-7], element-wise."""
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def vae_kl(z_mean, z_log_var):
    """The batch mean of -1/2 sum(1 + log var - mean^2 - var)."""
    return np.mean(-0.5 * np.sum(1 + z_log_var - z_mean**2 - np.exp(z_log_var), axis=1))


def raw_terms(model, x, y):
    """The spec's terms computed in float64 NumPy on the model's own tensors."""
    features, adjacency, deconv1, output = tapped(model, x)
    y = {k: v.astype("float64") for k, v in y.items()}
    ce = REFERENCES["softmax_ce"].fn(y["adjacency"], adjacency)  # per pair, (batch, n, n)
    band = np.mean(np.triu(ce, 1))  # the strict upper triangle: band_part(ce, 0, -1) - band_part(ce, 0, 0)
    feat = np.mean(REFERENCES["softmax_ce"].fn(y["features"], features))
    recon = np.mean((y["output"] - deconv1) ** 2) + np.mean(clipped_bce(y["output"], output))
    return {"adjacency": float(band), "features": float(feat), "recon": float(recon)}


def raw_tf_terms(model, x, y):
    """The spec's terms computed with raw TensorFlow on the model's own tensors (the golden reference)."""
    import tensorflow as tf

    features, adjacency, deconv1, output = (tf.constant(t, tf.float64) for t in tapped(model, x))
    y = {k: tf.constant(v, tf.float64) for k, v in y.items()}
    ce = tf.nn.softmax_cross_entropy_with_logits(labels=y["adjacency"], logits=adjacency)
    band = tf.reduce_mean(tf.linalg.band_part(ce, 0, -1) - tf.linalg.band_part(ce, 0, 0))
    feat = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=y["features"], logits=features))
    p = tf.clip_by_value(output, 1e-7, 1 - 1e-7)
    bce = -(y["output"] * tf.math.log(p) + (1 - y["output"]) * tf.math.log(1 - p))
    recon = tf.reduce_mean(tf.square(y["output"] - deconv1)) + tf.reduce_mean(bce)
    return {"adjacency": float(band), "features": float(feat), "recon": float(recon)}


@RAW_TF
def test_the_numpy_terms_equal_raw_tensorflow():
    x, y = data()
    model = build()
    raw_tf = raw_tf_terms(model, x, y)
    for key, value in raw_terms(model, x, y).items():
        np.testing.assert_allclose(value, raw_tf[key], rtol=1e-12, err_msg=key)


def test_attach_logs_every_term_and_their_weighted_sum_matching_the_formulas():
    model = build()
    train = lossreg.attach(model, SPEC)
    train.compile(optimizer="adam")
    x, y = data()
    history = train.fit(x, y, batch_size=8, epochs=2, verbose=0)
    assert set(history.history) == {"loss", "adjacency_loss", "adjacency_weighted_loss", "features_loss", "recon_loss"}
    assert history.history["loss"][1] < history.history["loss"][0]
    logs = train.evaluate(x, y, batch_size=len(x), verbose=0, return_dict=True)
    raw = raw_terms(model, x, y)
    np.testing.assert_allclose(logs["adjacency_loss"], raw["adjacency"], rtol=1e-5)
    np.testing.assert_allclose(logs["adjacency_weighted_loss"], 2 * raw["adjacency"], rtol=1e-5)
    np.testing.assert_allclose(logs["features_loss"], raw["features"], rtol=1e-5)
    np.testing.assert_allclose(logs["recon_loss"], raw["recon"], rtol=1e-5)
    np.testing.assert_allclose(logs["loss"], 2 * raw["adjacency"] + raw["features"] + raw["recon"], rtol=1e-5)
    # the inference model is the user's model, untouched, sharing the trained weights
    assert train.inference_model is model
    assert set(model.predict(x, verbose=0)) == {"features", "adjacency", "output"}


def test_a_joint_entry_over_two_outputs_equals_the_two_entries():
    x, y = data()
    joint = lossreg.attach(
        build(),
        {
            "joint": {
                "loss": [
                    {"loss": "softmax_ce", "on": "features"},
                    {"loss": "band_masked_softmax_ce", "on": "adjacency", "weight": 2.0},
                ]
            }
        },
    )
    joint.compile(optimizer="sgd")
    logs = joint.evaluate(x, y, batch_size=len(x), verbose=0, return_dict=True)
    raw = raw_terms(joint.inference_model, x, y)
    assert set(logs) == {
        "loss",
        "joint_softmax_ce_loss",
        "joint_band_masked_softmax_ce_loss",
        "joint_band_masked_softmax_ce_weighted_loss",
    }
    np.testing.assert_allclose(logs["loss"], raw["features"] + 2 * raw["adjacency"], rtol=1e-5)


def test_per_output_attach_trains_exactly_like_compile_with_resolve():
    spec = {"features": "softmax_ce", "adjacency": {"loss": "band_masked_softmax_ce", "weight": 2.0}}
    x, y = data()
    y = {k: y[k] for k in ("features", "adjacency")}

    def two_outputs():
        m = build()
        return keras.Model(m.input, {"features": m.output["features"], "adjacency": m.output["adjacency"]})

    compiled = two_outputs()
    compiled.compile(optimizer=keras.optimizers.SGD(0.1), loss=lossreg.resolve(spec))
    h1 = compiled.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    attached_model = two_outputs()
    attached = lossreg.attach(attached_model, spec)
    attached.compile(optimizer=keras.optimizers.SGD(0.1))
    h2 = attached.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    np.testing.assert_allclose(h2.history["loss"], h1.history["loss"], rtol=1e-6)
    for a, b in zip(compiled.get_weights(), attached_model.get_weights(), strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-7)


def test_vae_kl_needs_no_target_and_matches_the_formula():
    keras.utils.set_random_seed(0)
    inp = keras.Input((6,))
    z_mean = keras.layers.Dense(2, name="z_mean")(inp)
    z_log_var = keras.layers.Dense(2, name="z_log_var")(inp)
    decoded = keras.layers.Dense(6, name="decoded")(keras.layers.Add()([z_mean, z_log_var]))
    model = keras.Model(inp, decoded)
    train = lossreg.attach(
        model,
        {
            "decoded": "mse",
            "kl": {"loss": "vae_kl", "params": {"beta": 0.5}, "inputs": {"z_mean": "z_mean", "z_log_var": "z_log_var"}},
        },
    )
    train.compile(optimizer="adam")
    x = np.random.default_rng(1).normal(size=(16, 6)).astype("float32")
    logs = train.evaluate(x, {"decoded": x}, batch_size=16, verbose=0, return_dict=True)
    m, lv = (keras.Model(inp, t).predict(x, verbose=0).astype("float64") for t in (z_mean, z_log_var))
    kl = 0.5 * vae_kl(m, lv)
    np.testing.assert_allclose(logs["kl_loss"], kl, rtol=1e-5)
    mse = np.mean((model.predict(x, verbose=0).astype("float64") - x) ** 2)
    np.testing.assert_allclose(logs["loss"], mse + kl, rtol=1e-5)


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        (  # the same message as resolve(spec, model=m) and `lossreg check` (tests/test_spec_rules.py)
            {"adjacancy": "band_masked_softmax_ce"},
            r"^spec\['adjacancy'\]: Unknown output 'adjacancy'\. Did you mean 'adjacency'\? The model's outputs are: ",
        ),
        ({"features": "band_masked_softmax_ce"}, r"spec\['features'\].*\(batch, n, n, classes\).*\(None, 4, 3\)"),
        ({"recon": {"loss": "mse_bce", "on": "output"}}, r"spec\['recon'\].*needs the extra tensor\(s\) 'aux'"),
        (
            {"recon": {"loss": "mse_bce", "on": "output", "inputs": {"aux": "deconv2"}}},
            r"\['inputs'\]\['aux'\]: Unknown layer or output 'deconv2'. Did you mean 'deconv1'\?.*outputs are: ",
        ),
        (
            {"recon": {"loss": "mse_bce", "on": "output", "inputs": {"aux": "deconv1", "z": "deconv1"}}},
            r"\['inputs'\]\['z'\]: Extra 'z' is not taken by any loss of this entry \('mse_bce' take\(s\) aux\)",
        ),
        ({"recon": {"loss": "mse", "on": "outptu"}}, r"\['on'\]: Unknown output 'outptu'. Did you mean 'output'\?"),
        ({"features": "softmax_ce", "adjacency": "mse_bse"}, r"Unknown loss 'mse_bse'. Did you mean 'mse_bce'"),
        ("softmax_ce", r"has 3 outputs .*say which one"),
        (
            {"output": {"loss": "mse", "inputs": {"aux": "deconv1"}}},
            r"Extra 'aux' is not taken by any loss of this entry",
        ),
    ],
)
def test_bad_wiring_is_caught_at_attach_time(spec, match):
    with pytest.raises(lossreg.LossSpecError, match=match):
        lossreg.attach(build(), spec)


def test_compile_refuses_a_second_loss_and_fit_names_a_missing_target():
    train = lossreg.attach(build(), SPEC)
    with pytest.raises(lossreg.LossSpecError, match="compile\\(\\) takes no `loss`"):
        train.compile(optimizer="adam", loss="mse")
    train.compile(optimizer="adam")
    x, y = data(8)
    del y["output"]
    with pytest.raises(lossreg.LossInputError, match="No target for 'output'"):
        train.fit(x, y, verbose=0)


def _fresh_process(code):
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_attached_model_saves_loads_in_a_fresh_process_and_continues_training(tmp_path):
    model = build()
    train = lossreg.attach(model, SPEC)
    train.compile(optimizer=keras.optimizers.Adam(1e-2))
    x, y = data()
    train.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    path = tmp_path / "attached.keras"
    train.save(path)
    np.savez(tmp_path / "data.npz", x=x, **y)
    before = train.evaluate(x, y, batch_size=32, verbose=0, return_dict=True)
    train.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    continued = train.evaluate(x, y, batch_size=32, verbose=0, return_dict=True)
    result = _fresh_process(f"""
        import json, numpy as np, keras, lossreg
        d = np.load({str(tmp_path / "data.npz")!r})
        x, y = d["x"], {{k: d[k] for k in ("features", "adjacency", "output")}}
        train = keras.models.load_model({str(path)!r})
        before = train.evaluate(x, y, batch_size=32, verbose=0, return_dict=True)
        train.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
        after = train.evaluate(x, y, batch_size=32, verbose=0, return_dict=True)
        print(json.dumps({{"type": type(train).__name__, "before": before, "after": after}}))
    """)
    assert result["type"] == "AttachedModel"
    for key, value in before.items():
        np.testing.assert_allclose(result["before"][key], value, rtol=1e-6, err_msg=key)
    for key, value in continued.items():
        np.testing.assert_allclose(result["after"][key], value, rtol=1e-4, err_msg=key)


def seed004_model():
    keras.utils.set_random_seed(0)
    image = keras.Input((8, 8, 3), name="image")
    target = keras.Input((8, 8, 1), name="target")
    deconv1 = keras.layers.Conv2D(1, 3, padding="same", activation="relu", name="deconv1")(image)
    output = keras.layers.Conv2D(1, 1, activation="sigmoid", name="output")(deconv1)
    passed_on = lossreg.LossLayer("mse_bce", name="complex_loss")([target, deconv1, output])
    return keras.Model([image, target], passed_on), keras.Model(image, [deconv1, output])


def test_loss_layer_adds_logs_and_reloads_in_a_fresh_process(tmp_path):
    model, taps = seed004_model()
    model.compile(optimizer="adam")
    rng = np.random.default_rng(0)
    x = {
        "image": rng.uniform(size=(8, 8, 8, 3)).astype("float32"),
        "target": rng.uniform(size=(8, 8, 8, 1)).astype("f4"),
    }
    history = model.fit(x, epochs=2, batch_size=4, verbose=0)
    assert set(history.history) == {"loss", "complex_loss"}
    logs = model.evaluate(x, batch_size=8, verbose=0, return_dict=True)
    deconv1, output = (t.astype("float64") for t in taps.predict(x["image"], verbose=0))
    target = x["target"].astype("float64")
    expected = np.mean((target - deconv1) ** 2) + np.mean(clipped_bce(target, output))
    np.testing.assert_allclose(logs["complex_loss"], float(expected), rtol=1e-5)
    np.testing.assert_allclose(logs["loss"], float(expected), rtol=1e-5)
    path = tmp_path / "seed004.keras"
    model.save(path)
    np.savez(tmp_path / "x.npz", **x)
    result = _fresh_process(f"""
        import json, numpy as np, keras, lossreg
        x = dict(np.load({str(tmp_path / "x.npz")!r}))
        model = keras.models.load_model({str(path)!r})
        print(json.dumps(model.evaluate(x, batch_size=8, verbose=0, return_dict=True)))
    """)
    np.testing.assert_allclose(result["loss"], logs["loss"], rtol=1e-6)
    np.testing.assert_allclose(result["complex_loss"], logs["complex_loss"], rtol=1e-6)


def test_loss_layer_accepts_a_dict_and_names_the_expected_inputs():
    t, a, p = (keras.Input((4,)) for _ in range(3))
    out = lossreg.LossLayer("mse_bce", params={"bce_weight": 0.5}, weight=3.0, name="mix")(
        {"y_true": t, "aux": a, "y_pred": p}
    )
    assert out.shape == (None, 4)
    with pytest.raises(lossreg.LossInputError, match=r"expects \[y_true, aux, y_pred\].*received 2 tensor"):
        lossreg.LossLayer("mse_bce")([t, p])
    layer = lossreg.LossLayer("mse_bce", params={"bce_weight": 0.5}, weight=3.0, name="mix")
    clone = lossreg.LossLayer.from_config(layer.get_config())
    assert [m.name for m in clone.term_trackers] == ["mix_loss", "mix_weighted_loss"]
    values = [np.full((2, 4), v, "float32") for v in (1.0, 0.0, 0.5)]
    clone(values)
    expected = 3.0 * (1.0 + 0.5 * np.log(2.0))
    np.testing.assert_allclose(float(clone.losses[0]), expected, rtol=1e-6)


def test_inference_model_applies_the_activation_and_shares_weights():
    keras.utils.set_random_seed(0)
    inp = keras.Input((5,))
    logits = keras.layers.Dense(3, name="logits")(inp)
    model = keras.Model(inp, logits)
    probs = lossreg.inference_model(model, activation="sigmoid")
    x = np.random.default_rng(0).normal(size=(4, 5)).astype("float32")
    model.compile(optimizer=keras.optimizers.SGD(0.5), loss=lossreg.get("sigmoid_bce"))
    model.fit(x, (x[:, :3] > 0).astype("float32"), epochs=2, verbose=0)  # the shared weights move
    np.testing.assert_allclose(probs.predict(x, verbose=0), sigmoid(model.predict(x, verbose=0)), rtol=1e-6)
    two = keras.Model(inp, {"a": logits, "b": keras.layers.Dense(2, name="b")(inp)})
    mixed = lossreg.inference_model(two, activation={"a": "sigmoid", "b": None})
    out = mixed.predict(x, verbose=0)
    np.testing.assert_allclose(out["b"], two.predict(x, verbose=0)["b"], rtol=1e-6)
    with pytest.raises(lossreg.LossSpecError, match="Unknown output 'c'"):
        lossreg.inference_model(two, activation={"c": "sigmoid"})


def test_a_multi_output_layer_is_refused_by_name_and_attached_models_give_their_inference_model():
    inp = keras.Input((4,))
    encoder_in = keras.Input((4,))
    encoder = keras.Model(
        encoder_in, [keras.layers.Dense(2)(encoder_in), keras.layers.Dense(2)(encoder_in)], name="encoder"
    )
    z_mean, z_log_var = encoder(inp)
    model = keras.Model(inp, keras.layers.Dense(4, name="decoded")(keras.layers.Add()([z_mean, z_log_var])))
    with pytest.raises(lossreg.LossSpecError, match=r"Layer 'encoder' has 2 outputs.*Identity"):
        lossreg.attach(model, {"kl": {"loss": "vae_kl", "inputs": {"z_mean": "encoder", "z_log_var": "encoder"}}})
    train = lossreg.attach(model, {"decoded": "mse"})
    probs = lossreg.inference_model(train, activation="sigmoid")
    x = np.zeros((2, 4), "float32")
    np.testing.assert_allclose(probs.predict(x, verbose=0), sigmoid(model.predict(x, verbose=0)), rtol=1e-6)


def nested_vae(seed=0):
    """keras.io's VAE layout: an encoder sub-model with two outputs, called inside the training model."""
    keras.utils.set_random_seed(seed)
    x = keras.Input((6,), name="x")
    hidden = keras.layers.Dense(8, activation="relu", name="hidden")(x)
    encoder = keras.Model(
        x,
        [keras.layers.Dense(2, name="z_mean")(hidden), keras.layers.Dense(2, name="z_log_var")(hidden)],
        name="encoder",
    )
    inputs = keras.Input((6,), name="inputs")
    z_mean, z_log_var = encoder(inputs)
    recon = keras.layers.Dense(6, name="recon")(keras.layers.Concatenate(name="code")([z_mean, z_log_var]))
    return keras.Model(inputs, recon, name="vae"), encoder


def test_a_nested_models_outputs_are_tapped_by_layer_slash_output_name(tmp_path):
    model, encoder = nested_vae()
    spec = {
        "recon": "mse",
        "kl": {
            "loss": "vae_kl",
            "weight": 0.5,
            "inputs": {"z_mean": "encoder/z_mean", "z_log_var": "encoder/z_log_var"},
        },
    }
    train = lossreg.attach(model, spec)
    train.compile(optimizer="sgd")
    x = np.random.default_rng(0).normal(size=(16, 6)).astype("float32")
    logs = train.evaluate(x, {"recon": x}, batch_size=16, verbose=0, return_dict=True)
    kl = vae_kl(*(t.astype("float64") for t in encoder.predict(x, verbose=0)))
    recon = np.mean((model.predict(x, verbose=0).astype("float64") - x) ** 2)
    np.testing.assert_allclose(logs["kl_loss"], float(kl), rtol=1e-5)
    np.testing.assert_allclose(logs["loss"], float(recon + 0.5 * kl), rtol=1e-5)

    path = tmp_path / "vae.keras"
    train.save(path)
    reloaded = keras.models.load_model(path)  # safe_mode: the spec and the nested taps come back
    again = reloaded.evaluate(x, {"recon": x}, batch_size=16, verbose=0, return_dict=True)
    np.testing.assert_allclose(again["loss"], logs["loss"], rtol=1e-6)


@pytest.mark.parametrize(
    "tap, match",
    [
        ("encoder", r"^spec\['kl'\]\['inputs'\]\['z_mean'\]: Layer 'encoder' has 2 outputs.*'encoder/z_mean'"),
        ("encoder/z_men", r"not an output of layer 'encoder'\. Did you mean 'encoder/z_mean'"),
        ("encodr/z_mean", r"Unknown layer or output 'encodr/z_mean'\. Did you mean 'encoder/z_mean'"),
    ],
)
def test_a_wrong_nested_tap_names_the_outputs_it_could_mean(tap, match):
    model, _ = nested_vae()
    spec = {"kl": {"loss": "vae_kl", "inputs": {"z_mean": tap, "z_log_var": "encoder/z_log_var"}}}
    with pytest.raises(lossreg.LossSpecError, match=match):
        lossreg.attach(model, spec)


def test_a_single_output_sub_model_and_a_multi_output_layer_are_tapped_in_the_outer_graph():
    """A nested model's own ``output`` lives in its inner graph; the tap is what calling it gave outside."""

    class Halves(keras.layers.Layer):
        def call(self, x):
            return x[:, :2], x[:, 2:]

    keras.utils.set_random_seed(1)
    inner_in = keras.Input((4,))
    block = keras.Model(inner_in, keras.layers.Dense(4, name="inner_dense")(inner_in), name="block")
    inputs = keras.Input((4,), name="inputs")
    low, high = Halves(name="halves")(block(inputs))
    output = keras.layers.Dense(2, activation="sigmoid", name="output")(keras.layers.Add(name="add")([low, high]))
    model = keras.Model(inputs, output)
    view = ModelView.of(model)
    assert (view.outputs, view.layers) == (("output",), ("inputs", "block", "halves/0", "halves/1", "add"))

    x = np.random.default_rng(1).uniform(size=(8, 4)).astype("float32")
    y = (x[:, :2] > 0.5).astype("float32")
    features = block.predict(x, verbose=0).astype("float64")
    bce = np.mean(clipped_bce(y, model.predict(x, verbose=0).astype("float64")))

    train = lossreg.attach(model, {"output": {"loss": "mse_bce", "inputs": {"aux": "halves/1"}}})
    train.compile(optimizer="sgd")
    logs = train.evaluate(x, {"output": y}, batch_size=8, verbose=0, return_dict=True)
    np.testing.assert_allclose(logs["loss"], float(np.mean((y - features[:, 2:]) ** 2) + bce), rtol=1e-5)

    train = lossreg.attach(model, {"features": {"loss": "mse", "on": "block"}})  # a single-output sub-model
    train.compile(optimizer="sgd")
    logs = train.evaluate(x, {"block": x}, batch_size=8, verbose=0, return_dict=True)
    np.testing.assert_allclose(logs["loss"], float(np.mean((features - x) ** 2)), rtol=1e-5)
