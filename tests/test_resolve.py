"""resolve() in use: a two-output model compiled from a dict spec trains and logs what the spec says."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from typing import Any

import keras
import numpy as np
import pytest
from on_backend import RAW_TF
from references import REFERENCES

import lossreg
from lossreg import LossSpecError

N, C, CLASSES, BATCH = 4, 2, 3, 8
SPEC = {
    "output_1": {"loss": "softmax_ce", "weight": 0.5},
    "output_2": {"loss": "band_masked_softmax_ce", "weight": 2.0},
}


def two_output_model() -> keras.Model:
    """Seed 003's shape: a class per sample and a (n, n, C) pairwise prediction."""
    inputs = keras.Input((5,), name="x")
    hidden = keras.layers.Dense(8, activation="tanh")(inputs)
    out_1 = keras.layers.Dense(CLASSES, name="output_1")(hidden)
    out_2 = keras.layers.Reshape((N, N, C), name="output_2")(keras.layers.Dense(N * N * C)(hidden))
    return keras.Model(inputs, {"output_1": out_1, "output_2": out_2})


def np_log_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype("float64")
    shifted = x - x.max(-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))


def np_softmax_ce(y: np.ndarray, logits: np.ndarray) -> float:
    return float(np.mean(-(y * np_log_softmax(logits)).sum(-1)))


def np_strict_upper_ce(y: np.ndarray, logits: np.ndarray) -> float:
    """Seed 003: per-pair CE kept where j > i, averaged over all n*n pairs and the batch."""
    per_pair = -(y * np_log_softmax(logits)).sum(-1)  # (batch, n, n)
    i, j = np.indices(per_pair.shape[1:])
    return float(np.mean(np.where(j > i, per_pair, 0.0)))


def data(rng: np.random.Generator):
    x = rng.normal(size=(BATCH, 5)).astype("float32")
    y1 = np.eye(CLASSES, dtype="float32")[rng.integers(0, CLASSES, size=BATCH)]
    y2 = np.eye(C, dtype="float32")[rng.integers(0, C, size=(BATCH, N, N))]
    return x, {"output_1": y1, "output_2": y2}


def test_a_dict_spec_compiles_fits_and_logs_the_weighted_sum():
    keras.utils.set_random_seed(3)
    model = two_output_model()
    losses = lossreg.resolve(SPEC, model=model)
    assert {k: v.name for k, v in losses.items()} == {
        "output_1": "0.5x_softmax_ce",
        "output_2": "2x_band_masked_softmax_ce",
    }
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss=losses)
    x, y = data(np.random.default_rng(4))
    pred = model.predict(x, verbose=0)
    out_1 = 0.5 * np_softmax_ce(y["output_1"], pred["output_1"])
    out_2 = 2.0 * np_strict_upper_ce(y["output_2"], pred["output_2"])

    history = model.fit(x, y, batch_size=BATCH, epochs=2, verbose=0).history
    assert set(history) == {"loss", "output_1_loss", "output_2_loss"}
    # One batch per epoch: epoch 1 logs the losses at the weights `pred` came from.
    np.testing.assert_allclose(history["output_1_loss"][0], out_1, rtol=1e-5)
    np.testing.assert_allclose(history["output_2_loss"][0], out_2, rtol=1e-5)
    np.testing.assert_allclose(history["loss"][0], out_1 + out_2, rtol=1e-5)
    assert history["loss"][1] < history["loss"][0]

    logged = model.evaluate(x, y, batch_size=BATCH, verbose=0, return_dict=True)
    pred = model.predict(x, verbose=0)
    after_1 = 0.5 * np_softmax_ce(y["output_1"], pred["output_1"])
    after_2 = 2.0 * np_strict_upper_ce(y["output_2"], pred["output_2"])
    np.testing.assert_allclose(
        [logged["output_1_loss"], logged["output_2_loss"], logged["loss"]],
        [after_1, after_2, after_1 + after_2],
        rtol=1e-5,
    )


def test_a_list_spec_compiles_a_list_output_model():
    inputs = keras.Input((2,))
    model = keras.Model(inputs, [keras.layers.Dense(1, name="a")(inputs), keras.layers.Dense(1, name="b")(inputs)])
    losses = lossreg.resolve(["mse", {"loss": "mae", "weight": 3.0}], model=model)
    model.compile(optimizer="sgd", loss=losses)
    x = np.ones((2, 2), "float32")
    y = [np.zeros((2, 1), "float32"), np.zeros((2, 1), "float32")]
    pred = model.predict(x, verbose=0)
    logged = model.evaluate(x, y, verbose=0, return_dict=True)
    expected = np.mean(pred[0].astype("float64") ** 2) + 3.0 * np.mean(np.abs(pred[1].astype("float64")))
    np.testing.assert_allclose(logged["loss"], expected, rtol=1e-5)


def test_output_names_are_checked_against_the_model():
    model = two_output_model()
    with pytest.raises(
        LossSpecError,
        match=r"^spec\['output_3'\]: Unknown output 'output_3'\. Did you mean 'output_[12]' or 'output_[12]'\?"
        r" The model's outputs are: output_1, output_2\.$",
    ):
        lossreg.resolve({"output_1": "softmax_ce", "output_3": "mse"}, model=model)
    with pytest.raises(
        LossSpecError, match=r"^spec\['Output_2'\]: Unknown output 'Output_2'\. Did you mean 'output_2'"
    ):
        lossreg.resolve({"Output_2": "softmax_ce"}, model=model)
    with pytest.raises(LossSpecError, match=r"^spec: This list gives 3 entries, but the model has 2 outputs"):
        lossreg.resolve(["softmax_ce", "mse", "mse"], model=model)
    assert len(lossreg.resolve(["softmax_ce", "mse"], model=model)) == 2


def test_resolve_and_get_work_before_keras_is_imported():
    """`import lossreg` then `lossreg.resolve(...)` in a fresh process, Keras never imported by the user."""
    code = (
        "import sys, lossreg\n"
        "assert 'keras' not in sys.modules\n"
        "print(lossreg.resolve({'loss': 'mse', 'weight': 2.0}).name, lossreg.get('mae').name)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["2x_mse", "mae"]


def band_weighted_mean_numpy(y, logits, w):
    """sum(band(ce) * w) / size, in float64 NumPy: the strict upper triangle of the per-pair cross-entropy."""
    ce = REFERENCES["softmax_ce"].fn(y.astype("float64"), logits.astype("float64"))
    masked = np.triu(ce, 1)
    return float(np.sum(masked * w[:, None, None]) / masked.size)


def band_weighted_mean_raw_tf(y, logits, w):
    """The same in raw TensorFlow (the golden reference)."""
    import tensorflow as tf

    ce = tf.nn.softmax_cross_entropy_with_logits(labels=y, logits=logits)
    masked = tf.linalg.band_part(ce, 0, -1) - tf.linalg.band_part(ce, 0, 0)
    return float(tf.reduce_sum(masked * w[:, None, None]) / tf.cast(tf.size(masked), tf.float32))


@pytest.mark.parametrize(
    "reference", [band_weighted_mean_numpy, pytest.param(band_weighted_mean_raw_tf, marks=RAW_TF)], ids=["numpy", "tf"]
)
def test_fit_and_evaluate_take_per_sample_weights_on_a_per_pair_loss(reference):
    """evaluate(sample_weight=(batch,)) on band_masked_softmax_ce, whose values are (batch, n, n)."""
    keras.utils.set_random_seed(0)
    inp = keras.Input((4,))
    out = keras.layers.Reshape((3, 3, 2), name="pairs")(keras.layers.Dense(18)(inp))
    model = keras.Model(inp, out)
    model.compile(optimizer="sgd", loss=lossreg.resolve("band_masked_softmax_ce"))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 4)).astype("float32")  # batch == n: a mis-broadcast weight would go unnoticed
    y = np.eye(2, dtype="float32")[rng.integers(0, 2, (3, 3, 3))]
    w = np.array([0.0, 1.0, 3.0], "float32")
    model.fit(x, y, sample_weight=w, epochs=1, verbose=0)
    value = model.evaluate(x, y, sample_weight=w, batch_size=3, verbose=0)
    np.testing.assert_allclose(value, reference(y, model.predict(x, verbose=0), w), rtol=1e-5)


# -- a saved config is untrusted input (issue 9, bug 2) ---------------------------------------------------------------
def _config(**term: Any) -> dict[str, Any]:
    return {"name": "x", "reduction": "sum_over_batch_size", "terms": [{"loss": "mse", "params": {}, **term}]}


BAD_SAVED_CONFIGS = [
    (_config(weight=-1), "terms[0]['weight']", "Invalid weight. Expected a finite, non-negative number, received -1."),
    (_config(weight=-1000), "terms[0]['weight']", "received -1000."),
    (_config(weight=float("nan")), "terms[0]['weight']", "received nan."),
    (_config(weight=float("inf")), "terms[0]['weight']", "received inf."),
    (_config(weight=True), "terms[0]['weight']", "Expected a non-negative number, received bool True."),
    ({**_config(), "terms": {"loss": "mse"}}, "terms", "expects a non-empty list of terms"),
    ({**_config(), "terms": 3}, "terms", "expects a non-empty list of terms"),
    ({**_config(), "terms": [{"weight": 1.0}]}, "terms[0]", "A loss term needs a 'loss' key"),
    (_config(params=[["delta", 1.0]]), "terms[0]['params']", "Expected a mapping of parameter names to values"),
    ({**_config(), "terms": [3]}, "terms[0]", "Expected a loss name or a mapping with a 'loss' key, received int 3."),
    (_config(on="out"), "terms[0]", "Unknown key 'on' in a loss term."),
    ({**_config(), "terms": [{"loss": "msee"}]}, "terms[0]", "Unknown loss 'msee'. Did you mean 'mse'"),
    ({"name": "x"}, "config", "A saved RegisteredLoss config needs 'terms'"),
]


@pytest.mark.parametrize(("config", "path", "message"), BAD_SAVED_CONFIGS)
def test_a_bad_saved_config_is_refused_naming_its_config_path(config, path, message):
    with pytest.raises(LossSpecError, match="^" + re.escape(f"{path}: ") + ".*" + re.escape(message)) as info:
        lossreg.RegisteredLoss.from_config(config)
    assert info.value.path == path
    with pytest.raises(LossSpecError, match="^" + re.escape(f"{path}: ")):
        keras.saving.deserialize_keras_object(
            {"module": None, "class_name": "lossreg>RegisteredLoss", "config": config}
        )


@pytest.mark.parametrize(
    "weight", [-1, -1000, float("nan"), float("inf"), True, {"schedule": "linear", "steps": 10}, {"learned": "dwa"}]
)
def test_a_tampered_keras_file_does_not_load_with_safe_mode(tmp_path, weight):
    """A saved loss's weight edited to a bad number, or to a changing weight (which a compiled loss cannot keep)."""
    inp = keras.Input((3,))
    model = keras.Model(inp, keras.layers.Dense(2)(inp))
    model.compile(optimizer="sgd", loss=lossreg.resolve({"loss": "mse", "weight": 2.0}))
    model.save(tmp_path / "good.keras")
    with zipfile.ZipFile(tmp_path / "good.keras") as good, zipfile.ZipFile(tmp_path / "bad.keras", "w") as bad:
        for item in good.infolist():
            data = good.read(item)
            if item.filename == "config.json":
                text = data.decode()
                assert text.count('"weight": 2.0') == 1
                data = text.replace('"weight": 2.0', f'"weight": {json.dumps(weight)}').encode()
            bad.writestr(item, data)
    keras.saving.load_model(tmp_path / "good.keras", safe_mode=True)
    with pytest.raises(LossSpecError, match=r"terms\[0\]\['weight'\]: Invalid weight"):
        keras.saving.load_model(tmp_path / "bad.keras", safe_mode=True)


# -- one registry lookup per term (issue 9) ------------------------------------------------------------------------


@pytest.fixture
def lookups(monkeypatch) -> list[str]:
    """The names asked of the registry, in order, while the test runs."""
    from lossreg.registry import Registry

    asked: list[str] = []
    real = Registry.lookup
    monkeypatch.setattr(Registry, "lookup", lambda self, name, **kw: asked.append(name) or real(self, name, **kw))
    return asked


def test_resolve_looks_each_term_up_once(lookups):
    spec = {"a": "softmax_ce", "b": {"loss": [{"loss": "sigmoid_focal"}, {"loss": "mse", "weight": 0.5}]}}
    losses = lossreg.resolve(spec)
    assert sorted(lookups) == ["mse", "sigmoid_focal", "softmax_ce"]
    assert {k: v.name for k, v in losses.items()} == {"a": "softmax_ce", "b": "sigmoid_focal_plus_0.5x_mse"}


def test_attach_and_loss_layer_look_each_term_up_once(lookups):
    inp = keras.Input((4,))
    hidden = keras.layers.Dense(4, name="hidden")(inp)
    out = keras.layers.Dense(4, name="out")(hidden)
    lossreg.attach(keras.Model(inp, out), {"out": {"loss": ["sigmoid_bce", "mse_bce"], "inputs": {"aux": "hidden"}}})
    assert lookups == ["sigmoid_bce", "mse_bce"]
    del lookups[:]
    lossreg.LossLayer(["sigmoid_bce", {"loss": "mse", "weight": 2.0}], name="two")
    assert lookups == ["sigmoid_bce", "mse"]
