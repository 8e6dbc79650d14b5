"""The built-in losses inside Keras: serialization round trips, a saved model reloaded in a fresh process, training.

Issue 2, golden-value suite (e) and (f):
(e) ``serialize_keras_object`` / ``deserialize_keras_object`` and ``get_config`` / ``from_config`` give a loss of
    equal value; a model compiled with ``lossreg.resolve`` over several built-ins, saved to ``.keras``, loads in a
    fresh ``python -c "import lossreg, keras; keras.models.load_model(path)"`` (safe mode, no ``custom_objects``)
    and evaluates to the same losses;
(f) a tiny model compiled with ``lossreg.resolve()`` lowers each built-in loss over a few steps, in graph mode and
    with ``jit_compile=True`` where that is XLA, on TensorFlow and JAX (``mse_bce``, which needs the extra ``aux``
    tensor that ``compile(loss=...)`` cannot pass, is trained by a model whose ``compute_loss`` hands it
    ``{"y_pred": ..., "aux": ...}``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
from on_backend import BACKEND, only_on

import lossreg

GOLDEN = json.loads((Path(__file__).parent / "golden" / "golden_values.json").read_text(encoding="utf-8"))
#: one golden case per distinct (loss, params): the inputs to evaluate round-tripped losses on
CONFIGS = list({(c["loss"], json.dumps(c["params"], sort_keys=True)): c for c in GOLDEN["cases"]}.values())


def call(loss: Any, inputs: dict[str, Any]) -> float:
    arrays = {k: np.asarray(v, "float32") for k, v in inputs.items()}
    extras = {k: v for k, v in arrays.items() if k not in ("y_true", "y_pred")}
    return float(loss(arrays["y_true"], {"y_pred": arrays["y_pred"], **extras} if extras else arrays["y_pred"]))


# ----------------------------------------------------------------------------------------------------------------
# (e) serialization


@pytest.mark.parametrize("case", CONFIGS, ids=[c["id"] for c in CONFIGS])
def test_e_serialize_round_trip(case):
    loss = lossreg.get(case["loss"], **case["params"])
    before = call(loss, case["inputs"])

    serialized = keras.saving.serialize_keras_object(loss)
    assert serialized["registered_name"] == "lossreg>RegisteredLoss"
    serialized = json.loads(json.dumps(serialized))  # what a .keras file holds: plain JSON
    restored = keras.saving.deserialize_keras_object(serialized)
    assert type(restored) is type(loss) and restored.name == loss.name
    assert restored.terms == loss.terms
    assert call(restored, case["inputs"]) == before

    from_config = type(loss).from_config(json.loads(json.dumps(loss.get_config())))
    assert from_config.get_config() == loss.get_config()
    assert call(from_config, case["inputs"]) == before


def test_e_weighted_terms_and_reduction_round_trip():
    spec = {
        "loss": [
            {"loss": "sigmoid_bce", "params": {"pos_weight": 2.0, "label_smoothing": 0.05}, "weight": 0.5},
            {"loss": "sigmoid_focal", "params": {"alpha": None, "gamma": 1.5}, "weight": 2.0},
        ]
    }
    loss = lossreg.resolve(spec)
    case = next(c for c in GOLDEN["cases"] if c["loss"] == "sigmoid_bce" and len(c["values"]) > 1)
    y, x = np.float32(case["inputs"]["y_true"]), np.float32(case["inputs"]["y_pred"])
    expected = 0.5 * lossreg.get("sigmoid_bce", pos_weight=2.0, label_smoothing=0.05)(y, x) + 2.0 * lossreg.get(
        "sigmoid_focal", alpha=None, gamma=1.5
    )(y, x)
    np.testing.assert_allclose(float(loss(y, x)), float(expected), rtol=1e-6)
    restored = keras.saving.deserialize_keras_object(json.loads(json.dumps(keras.saving.serialize_keras_object(loss))))
    assert restored.name == loss.name == "0.5x_sigmoid_bce_plus_2x_sigmoid_focal"
    assert float(restored(y, x)) == float(loss(y, x))

    summed = lossreg.RegisteredLoss([{"loss": "softmax_ce"}], reduction="sum", name="ce_sum")
    again = lossreg.RegisteredLoss.from_config(summed.get_config())
    assert (again.reduction, again.name) == ("sum", "ce_sum")


def test_e_sum_of_a_per_element_and_a_per_sample_term():
    case = next(c for c in GOLDEN["cases"] if c["loss"] == "sigmoid_bce" and not c["params"] and len(c["values"]) > 1)
    y, x = np.float32(case["inputs"]["y_true"]), np.float32(case["inputs"]["y_pred"])
    loss = lossreg.resolve({"loss": ["sigmoid_bce", {"loss": "sigmoid_dice", "weight": 0.5}]})
    expected = float(lossreg.get("sigmoid_bce")(y, x)) + 0.5 * float(lossreg.get("sigmoid_dice")(y, x))
    assert float(loss(y, x)) == pytest.approx(expected, rel=1e-6)


def joint_model() -> keras.Model:
    """One output per built-in that compile() can take, plus a Keras name."""
    inputs = keras.Input((6,), name="features")
    hidden = keras.layers.Dense(8, activation="tanh")(inputs)
    pairs = keras.layers.Reshape((3, 3, 2), name="pairs")(keras.layers.Dense(18)(hidden))
    outputs = {
        "cls": keras.layers.Dense(3, name="cls")(hidden),
        "mask": keras.layers.Dense(4, name="mask")(hidden),
        "dice": keras.layers.Dense(4, name="dice")(hidden),
        "pairs": pairs,
        "reg": keras.layers.Dense(2, name="reg")(hidden),
    }
    return keras.Model(inputs, outputs)


JOINT_SPEC = {
    "cls": {"loss": "softmax_ce", "params": {"label_smoothing": 0.1}},
    "mask": {
        "loss": [
            {"loss": "sigmoid_bce", "params": {"pos_weight": 2.0}},
            {"loss": "sigmoid_focal", "params": {"alpha": None, "gamma": 1.5}, "weight": 0.5},
        ]
    },
    "dice": {"loss": "sigmoid_dice", "params": {"smooth": 0.5}},
    "pairs": {"loss": "band_masked_softmax_ce", "params": {"lower": 1, "normalize": "band"}, "weight": 2.0},
    "reg": "mse",
}


def joint_data(n: int = 8) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(11)
    x = rng.normal(size=(n, 6)).astype("float32")
    y = {
        "cls": np.eye(3, dtype="float32")[rng.integers(0, 3, n)],
        "mask": rng.integers(0, 2, (n, 4)).astype("float32"),
        "dice": rng.integers(0, 2, (n, 4)).astype("float32"),
        "pairs": np.eye(2, dtype="float32")[rng.integers(0, 2, (n, 3, 3))],
        "reg": rng.normal(size=(n, 2)).astype("float32"),
    }
    return x, y


def test_e_saved_model_loads_in_a_fresh_process(tmp_path):
    keras.utils.set_random_seed(1)
    model = joint_model()
    model.compile(optimizer="adam", loss=lossreg.resolve(JOINT_SPEC, model=model))
    x, y = joint_data()
    model.fit(x, y, epochs=1, verbose=0)
    expected = model.evaluate(x, y, verbose=0, return_dict=True)
    path = tmp_path / "joint.keras"
    model.save(path)
    np.savez(tmp_path / "data.npz", x=x, **{f"y_{k}": v for k, v in y.items()})

    code = (
        "import json, sys, numpy as np, lossreg, keras\n"
        "model = keras.models.load_model(sys.argv[1])\n"
        "data = np.load(sys.argv[2])\n"
        "y = {k[2:]: data[k] for k in data.files if k.startswith('y_')}\n"
        "print(json.dumps(model.evaluate(data['x'], y, verbose=0, return_dict=True)))\n"
    )
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TF_ENABLE_ONEDNN_OPTS="0", KERAS_BACKEND=BACKEND)
    result = subprocess.run(
        [sys.executable, "-c", code, str(path), str(tmp_path / "data.npz")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    reloaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(reloaded) == set(expected)
    assert {k for k in expected if k.endswith("_loss")} == {f"{k}_loss" for k in JOINT_SPEC}
    for key, value in expected.items():
        assert reloaded[key] == pytest.approx(value, rel=1e-6), key


# ----------------------------------------------------------------------------------------------------------------
# (f) it trains


def tiny_problem(name: str) -> tuple[keras.Model, np.ndarray, np.ndarray]:
    """A one-layer model whose output fits the loss, on 16 samples with a learnable target."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(16, 4)).astype("float32")
    inputs = keras.Input((4,))
    if name in ("softmax_ce",):
        y = np.eye(3, dtype="float32")[np.argmax(x[:, :3], axis=1)]
        outputs = keras.layers.Dense(3)(inputs)
    elif name == "band_masked_softmax_ce":
        y = np.eye(2, dtype="float32")[(x[:, :1, None] + np.zeros((1, 3, 3)) > 0).astype(int)]
        outputs = keras.layers.Reshape((3, 3, 2))(keras.layers.Dense(18)(inputs))
    else:  # sigmoid losses: targets are the signs of the inputs
        y = (x > 0).astype("float32")
        outputs = keras.layers.Dense(4)(inputs)
    return keras.Model(inputs, outputs), x, y


class AuxModel(keras.Model):
    """Seed 004's shape: an intermediate tensor ``aux`` and a sigmoid output, both pulled towards the target."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden = keras.layers.Dense(4)
        self.head = keras.layers.Dense(4, activation="sigmoid")
        self.mse_bce = lossreg.get("mse_bce", mse_weight=0.5)

    def call(self, x: Any) -> dict[str, Any]:
        aux = self.hidden(x)
        return {"y_pred": self.head(aux), "aux": aux}

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        return self.mse_bce(y, y_pred, sample_weight=sample_weight)


XLA = only_on("tensorflow", "jax", why="jit_compile=True is XLA; on torch it is torch.compile (minutes a model)")


@pytest.mark.parametrize("jit_compile", [pytest.param(False, id="graph"), pytest.param(True, id="xla", marks=XLA)])
@pytest.mark.parametrize(
    "name", ["softmax_ce", "sigmoid_bce", "sigmoid_focal", "sigmoid_dice", "band_masked_softmax_ce", "mse_bce"]
)
def test_f_it_trains(name, jit_compile):
    keras.utils.set_random_seed(0)
    if name == "mse_bce":
        rng = np.random.default_rng(5)
        x = rng.normal(size=(16, 4)).astype("float32")
        y = (x > 0).astype("float32")
        model = AuxModel()
        model.compile(optimizer=keras.optimizers.Adam(0.05), jit_compile=jit_compile)
    else:
        model, x, y = tiny_problem(name)
        model.compile(optimizer=keras.optimizers.Adam(0.05), loss=lossreg.resolve(name), jit_compile=jit_compile)
    assert model.jit_compile is jit_compile
    history = model.fit(x, y, batch_size=8, epochs=6, verbose=0, shuffle=False).history["loss"]
    assert np.all(np.isfinite(history))
    assert history[-1] < 0.9 * history[0], history
