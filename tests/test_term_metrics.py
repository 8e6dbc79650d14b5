"""Per-term figures under ``compile(loss=lossreg.resolve(spec))``: ``lossreg.term_metrics``.

Each term's figure must equal the term computed on its own (an independent NumPy reference), and an output's
``<output>_loss`` must equal the sum of its weighted terms, in ``fit`` and in ``evaluate``, before and after a
save/reload with ``safe_mode=True``.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

import lossreg

SPEC = {"a": {"loss": ["softmax_ce", {"loss": "mse", "weight": 0.5}]}, "b": "mse"}


def _model() -> keras.Model:
    inp = keras.Input((4,))
    return keras.Model(inp, {"a": keras.layers.Dense(3, name="a")(inp), "b": keras.layers.Dense(1, name="b")(inp)})


def _data() -> tuple[np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 4)).astype("float32")
    y = {"a": np.eye(3, dtype="float32")[rng.integers(0, 3, 16)], "b": rng.normal(size=(16, 1)).astype("float32")}
    return x, y


def _softmax_ce(y: np.ndarray, logits: np.ndarray) -> float:
    logits = logits.astype("float64")
    log_p = logits - logits.max(-1, keepdims=True)
    log_p = log_p - np.log(np.exp(log_p).sum(-1, keepdims=True))
    return float(np.mean(-(y * log_p).sum(-1)))


def test_names_follow_attach_labels() -> None:
    assert [m.name for m in lossreg.term_metrics({"loss": ["mse", {"loss": "mae", "weight": 0.5}]})] == [
        "mse_loss",
        "mae_loss",
        "mae_weighted_loss",
    ]
    found = lossreg.term_metrics(SPEC)
    assert {k: [m.name for m in v] for k, v in found.items()} == {
        "a": ["softmax_ce_loss", "mse_loss", "mse_weighted_loss"],
        "b": [],  # one term: Keras already logs it as b_loss
    }
    assert [[m.name for m in v] for v in lossreg.term_metrics(["mse", {"loss": ["mse", "mse"]}])] == [
        [],
        ["mse_loss", "mse_2_loss"],
    ]


def test_figures_equal_each_term_and_sum_to_the_output_loss() -> None:
    model = _model()
    model.compile(optimizer="sgd", loss=lossreg.resolve(SPEC), metrics=lossreg.term_metrics(SPEC))
    x, y = _data()
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    pred = {k: keras.ops.convert_to_numpy(v) for k, v in model(x).items()}
    assert logs["a_softmax_ce_loss"] == pytest.approx(_softmax_ce(y["a"], pred["a"]), rel=1e-5)
    mse = float(np.mean((pred["a"].astype("float64") - y["a"]) ** 2))
    assert logs["a_mse_loss"] == pytest.approx(mse, rel=1e-5)
    assert logs["a_mse_weighted_loss"] == pytest.approx(0.5 * mse, rel=1e-5)
    assert logs["a_loss"] == pytest.approx(logs["a_softmax_ce_loss"] + logs["a_mse_weighted_loss"], rel=1e-6)
    history = model.fit(x, y, batch_size=16, epochs=1, verbose=0).history  # one step: figures before the update
    assert history["a_loss"][0] == pytest.approx(logs["a_loss"], rel=1e-6)
    assert history["a_mse_weighted_loss"][0] == pytest.approx(logs["a_mse_weighted_loss"], rel=1e-6)


def test_saved_and_reloaded_with_safe_mode(tmp_path) -> None:
    model = _model()
    model.compile(optimizer="sgd", loss=lossreg.resolve(SPEC), metrics=lossreg.term_metrics(SPEC))
    x, y = _data()
    before = model.evaluate(x, y, verbose=0, return_dict=True)
    model.save(tmp_path / "m.keras")
    after = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True).evaluate(x, y, verbose=0, return_dict=True)
    assert after == pytest.approx(before, rel=1e-6)


def test_sample_weights_reach_weighted_metrics() -> None:
    model = _model()
    spec = {"a": {"loss": ["softmax_ce", "mse"]}, "b": "mse"}
    model.compile(optimizer="sgd", loss=lossreg.resolve(spec), weighted_metrics=lossreg.term_metrics(spec))
    x, y = _data()
    weights = np.linspace(0.0, 2.0, 16).astype("float32")
    logs = model.evaluate(x, y, sample_weight={"a": weights, "b": weights}, verbose=0, return_dict=True)
    assert logs["a_loss"] == pytest.approx(logs["a_softmax_ce_loss"] + logs["a_mse_loss"], rel=1e-6)
    pred = keras.ops.convert_to_numpy(model(x)["a"]).astype("float64")
    per_sample = ((pred - y["a"]) ** 2).mean(-1)
    assert logs["a_mse_loss"] == pytest.approx(float(np.mean(per_sample * weights)), rel=1e-5)


def test_what_resolve_refuses_term_metrics_refuses_alike() -> None:
    spec = {"loss": ["mse", {"loss": "mae", "weight": {"schedule": "linear", "steps": 10}}]}
    with pytest.raises(lossreg.LossSpecError) as resolved:
        lossreg.resolve(spec)
    with pytest.raises(lossreg.LossSpecError) as metrics:
        lossreg.term_metrics(spec)
    assert str(metrics.value) == str(resolved.value)
    assert metrics.value.path == "spec['loss'][1]['weight']"
    with pytest.raises(lossreg.LossSpecError, match=r"TermMetric\(name='x'\)\[0\]\['weight'\]"):
        lossreg.TermMetric("mse", weight=-1.0, name="x")
