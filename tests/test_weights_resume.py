"""Changing weights resume where they were saved: schedules at the saved step, learned weights at their saved values.

Each case trains ``K`` steps (or epochs) here, is saved as ``.keras``, then ``scripts/resume_weights.py`` loads it
in a fresh process of the same engine with ``keras.saving.load_model(path, safe_mode=True)`` (``import lossreg``,
no ``custom_objects``) and trains one more epoch. The weight logged then must be the schedule at ``K + 1``
(computed here in NumPy), not at 1; the state right after loading must equal the state saved (the step counter,
the learned log-variance, dwa's weights and last losses, the optimizer's iteration count and moments); dwa must
continue from the saved losses. The file ``keras.callbacks.ModelCheckpoint`` writes after the last epoch holds the
same state as ``model.save`` after training. A saved file whose config was edited to hold an invalid schedule is
refused on load with a ``LossSpecError`` naming the spec path. One related check runs here, in process: every
variable has its own path (two owners of changing weights in one model).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
from on_backend import BACKEND

import lossreg

SCRIPT = Path(__file__).with_name("scripts") / "resume_weights.py"
K = 3  # steps (epochs for the epoch case) trained before saving


def linear(start: float, end: float, steps: int, delay: int = 0) -> Callable[[float], float]:
    return lambda t: start + (end - start) * float(np.clip((t - delay) / steps, 0.0, 1.0))


def cosine(start: float, end: float, steps: int) -> Callable[[float], float]:
    return lambda t: end + (start - end) * 0.5 * (1.0 + np.cos(np.pi * float(np.clip(t / steps, 0.0, 1.0))))


def dwa(ratios: list[float], temperature: float) -> np.ndarray:
    """Dynamic weight average (Liu, Johns & Davison 2019): ``K exp(r_k / T) / sum_i exp(r_i / T)``."""
    e = np.exp(np.asarray(ratios, dtype="float64") / temperature)
    return len(ratios) * e / e.sum()


#: the spec weights and their NumPy references
LINEAR = {"schedule": "linear", "start": 0.2, "end": 1.0, "steps": 8}
LINEAR_REF = linear(0.2, 1.0, 8)
COSINE = {"schedule": "cosine", "start": 1.0, "end": 0.0, "steps": 6}
COSINE_REF = cosine(1.0, 0.0, 6)
EPOCHS = {"schedule": "linear", "start": 0.1, "end": 1.0, "steps": 5, "unit": "epoch"}
EPOCHS_REF = linear(0.1, 1.0, 5)
UNCERTAINTY = {"learned": "uncertainty"}
DWA = {"learned": "dwa", "temperature": 2.0}


def _data(rng: np.random.Generator, rows: int, *shapes: tuple[int, ...]) -> list[np.ndarray]:
    return [rng.normal(size=(rows, *shape)).astype("float32") for shape in shapes]


def _heads(names: str) -> tuple[Any, dict[str, Any]]:
    keras.utils.set_random_seed(3)
    inp = keras.Input((3,), name="x")
    hidden = keras.layers.Dense(4, activation="tanh", name="hidden")(inp)
    return inp, {n: keras.layers.Dense(2, name=n)(hidden) for n in names}


def case_attach_steps() -> tuple[keras.Model, dict[str, Any], int]:
    """attach, two outputs: ``a`` on a step-counted linear schedule, ``b`` with uncertainty weighting."""
    inp, outs = _heads("ab")
    train = lossreg.attach(
        keras.Model(inp, outs), {"a": {"loss": "mse", "weight": LINEAR}, "b": {"loss": "mae", "weight": UNCERTAINTY}}
    )
    train.compile(optimizer=keras.optimizers.Adam(0.05))
    x, ya, yb = _data(np.random.default_rng(0), 4, (3,), (2,), (2,))
    return train, {"x": x, "y.a": ya, "y.b": yb}, 4


def case_layer_steps() -> tuple[keras.Model, dict[str, Any], int]:
    """A LossLayer with two terms: a step-counted cosine schedule and uncertainty weighting."""
    keras.utils.set_random_seed(3)
    inp, target = keras.Input((3,), name="x"), keras.Input((2,), name="t")
    out = keras.layers.Dense(2, name="out")(keras.layers.Dense(4, activation="tanh", name="hidden")(inp))
    terms = [{"loss": "mse", "weight": COSINE}, {"loss": "mae", "weight": UNCERTAINTY}]
    out = lossreg.LossLayer(terms, name="fit_loss")([target, out])
    model = keras.Model([inp, target], out)
    model.compile(optimizer=keras.optimizers.Adam(0.05))
    x, t = _data(np.random.default_rng(1), 4, (3,), (2,))
    return model, {"x.x": x, "x.t": t}, 4


def case_attach_epochs() -> tuple[keras.Model, dict[str, Any], int]:
    """attach, three outputs: ``a`` on an epoch-counted schedule, ``b`` and ``c`` weighted by dwa (two steps an
    epoch)."""
    inp, outs = _heads("abc")
    spec = {
        "a": {"loss": "mse", "weight": EPOCHS},
        "b": {"loss": "mse", "weight": DWA},
        "c": {"loss": "mae", "weight": DWA},
    }
    train = lossreg.attach(keras.Model(inp, outs), spec)
    train.compile(optimizer=keras.optimizers.Adam(0.05))
    x, ya, yb, yc = _data(np.random.default_rng(2), 8, (3,), (2,), (2,), (2,))
    return train, {"x": x, "y.a": ya, "y.b": yb, "y.c": 3.0 * yc}, 4


CASES = {"attach_steps": case_attach_steps, "layer_steps": case_layer_steps, "attach_epochs": case_attach_epochs}
#: each case's learned state, by variable name
LEARNED = {
    "attach_steps": ["b_log_variance"],
    "layer_steps": ["fit_mae_log_variance"],
    "attach_epochs": ["epoch", "b_dwa_weight", "b_dwa_last_loss", "c_dwa_weight", "c_dwa_last_loss"],
}
#: each case's scheduled terms (by log label) and their references; every epoch of the step cases is one step
SCHEDULED = {
    "attach_steps": {"a": LINEAR_REF},
    "layer_steps": {"fit_mse": COSINE_REF},
    "attach_epochs": {"a": EPOCHS_REF},
}


def values(variables: Any) -> dict[str, np.ndarray]:
    """``{variable path: value}``; the paths must be unique for the comparison to see every variable."""
    out = {v.path: keras.ops.convert_to_numpy(v) for v in variables}
    assert len(out) == len(variables), sorted(v.path for v in variables)
    return out


def state(variables: dict[str, Any], name: str) -> Any:
    """The one variable called ``name`` (``step``, ``<term>_log_variance``), whatever scope its path has."""
    (value,) = [v for path, v in variables.items() if path.split("/")[-1] == name]
    return value


def split(data: dict[str, Any], part: str) -> Any:
    if part in data:
        return data[part]
    return {k.split(".", 1)[1]: v for k, v in data.items() if k.startswith(f"{part}.")} or None


def tamper(source: Path, target: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    """Copy a ``.keras`` file with its ``config.json`` edited."""
    with zipfile.ZipFile(source) as saved:
        files = {name: saved.read(name) for name in saved.namelist()}
    config = json.loads(files["config.json"])
    edit(config)
    files["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(target, "w") as out:
        for name, content in files.items():
            out.writestr(name, content)


def _bad_attach_schedule(config: dict[str, Any]) -> None:
    config["config"]["spec"]["a"]["loss"][0]["weight"] = {"schedule": "linear", "steps": -5}


def _bad_layer_schedule(config: dict[str, Any]) -> None:
    (layer,) = [c for c in config["config"]["layers"] if c["class_name"] == "LossLayer"]
    layer["config"]["loss"][0]["weight"] = {"schedule": "cosine", "steps": 0}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """Per case: what training here logged and held when saved, and what the fresh process reported."""
    folder = tmp_path_factory.mktemp("resume")
    saved: dict[str, dict[str, Any]] = {}
    for case, build in CASES.items():
        model, data, batch = build()
        checkpoint = keras.callbacks.ModelCheckpoint(folder / f"{case}.checkpoint.keras")  # after each epoch
        history = model.fit(
            split(data, "x"),
            split(data, "y"),
            batch_size=batch,
            epochs=K,
            shuffle=False,
            verbose=0,
            callbacks=[checkpoint],
        )
        saved[case] = {
            "history": history.history,
            "variables": values(model.variables),
            "optimizer": values(model.optimizer.variables),
            "iterations": int(keras.ops.convert_to_numpy(model.optimizer.iterations)),
        }
        model.save(folder / f"{case}.keras")
        np.savez(folder / f"{case}.npz", batch=batch, **data)
    tamper(folder / "attach_steps.keras", folder / "attach_steps.tampered.keras", _bad_attach_schedule)
    tamper(folder / "layer_steps.keras", folder / "layer_steps.tampered.keras", _bad_layer_schedule)
    env = {**os.environ, "KERAS_BACKEND": BACKEND}
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(folder)], capture_output=True, text=True, env=env, timeout=600
    )
    assert done.returncode == 0, done.stderr[-4000:]
    resumed = json.loads(done.stdout.strip().splitlines()[-1])
    return {case: (saved[case.split(".")[0]], resumed[case]) for case in resumed}


def result(runs: dict[str, Any], case: str) -> tuple[dict[str, Any], dict[str, Any]]:
    before, after = runs[case]
    if "failed" in after:
        pytest.fail(f"the fresh process failed on {case}: {after['failed']}\n{after['traceback']}")
    return before, after


def steps_per_epoch(case: str) -> int:
    return 2 if case.startswith("attach_epochs") else 1  # 8 samples in batches of 4, else 4 in one


@pytest.mark.parametrize(
    "case", [*CASES, "attach_steps.checkpoint", "layer_steps.checkpoint", "attach_epochs.checkpoint"]
)
def test_state_after_loading_is_the_saved_state(runs, case):
    """Every variable of the model (step counter, log-variance, dwa state, the model's weights) and of the optimizer
    (iteration count, moments) is what it was when saved; then training counts on from there. The same for the
    file ``keras.callbacks.ModelCheckpoint`` wrote after the last epoch: it holds the state at the end of training
    (dwa's weights and last losses of that epoch included: lossreg's epoch counter runs before the user's callbacks)."""
    before, after = result(runs, case)
    # LossLayer's logged running means are not saved (they restart with every fit; LossLayer.save_own_variables)
    running = {f"{name}_{part}" for name in before["history"] for part in ("total", "count")}
    saved = {path: value for path, value in before["variables"].items() if path.split("/")[-1] not in running}
    assert {"step", *LEARNED[case.split(".")[0]]} <= {path.split("/")[-1] for path in saved}
    assert sorted(p for p in after["loaded"] if p.split("/")[-1] not in running) == sorted(saved)
    for path, value in saved.items():
        np.testing.assert_array_equal(np.asarray(after["loaded"][path], "float32"), value, err_msg=path)
    assert sorted(after["optimizer_loaded"]) == sorted(before["optimizer"])
    for path, value in before["optimizer"].items():
        np.testing.assert_array_equal(np.asarray(after["optimizer_loaded"][path]), value, err_msg=f"optimizer {path}")
    k = K * steps_per_epoch(case)
    assert before["iterations"] == after["iterations_loaded"] == k
    assert after["steps_loaded"] == [float(k)]
    assert after["iterations"] == k + steps_per_epoch(case)
    assert after["steps"] == [float(after["iterations"])]


@pytest.mark.parametrize("case", list(CASES))
def test_schedule_continues_at_the_saved_step(runs, case):
    """The weight logged after the epoch trained on reload is the schedule at the optimizer's count then
    (``K + 1`` steps, or epoch ``K + 1``), not at 1; before saving it followed the schedule from 1."""
    before, after = result(runs, case)
    for label, schedule in SCHEDULED[case].items():
        logged = before["history"][f"{label}_weight"]
        np.testing.assert_allclose(logged, [schedule(t) for t in range(1, K + 1)], rtol=0, atol=1e-6, err_msg=label)
        resumed = after["history"][f"{label}_weight"]
        np.testing.assert_allclose(resumed, [schedule(K + 1)], rtol=0, atol=1e-6, err_msg=label)
        assert abs(schedule(K + 1) - schedule(1)) > 0.1  # restarting the count would be seen


@pytest.mark.parametrize(("case", "label"), [("attach_steps", "b"), ("layer_steps", "fit_mae")])
def test_uncertainty_continues_from_the_saved_log_variance(runs, case, label):
    """The first step after loading weighs the term by ``exp(-s)`` with ``s`` the saved log-variance (it had moved
    away from its initial 0), and the optimizer trains ``s`` on from there."""
    before, after = result(runs, case)
    s = float(state(before["variables"], f"{label}_log_variance"))
    assert abs(s) > 1e-2
    np.testing.assert_allclose(after["history"][f"{label}_weight"], [np.exp(-s)], rtol=1e-6)
    assert state(after["variables"], f"{label}_log_variance") != pytest.approx(s, abs=1e-4)


def test_dwa_continues_from_the_saved_losses(runs):
    """dwa's weights follow its formula from the logged per-epoch losses across the reload: epoch ``K + 1`` (after
    loading) uses ``L(K) / L(K - 1)`` from before saving; after it, the weights use ``L(K + 1) / L(K)``, the first
    from after loading and the second saved as the last losses."""
    before, after = result(runs, "attach_epochs")
    losses = {t: before["history"][f"{t}_loss"] + after["history"][f"{t}_loss"] for t in "bc"}  # epochs 1..K+1
    expected = {e: dwa([losses[t][e - 2] / losses[t][e - 3] for t in "bc"], 2.0) for e in range(3, K + 3)}
    for i, t in enumerate("bc"):
        np.testing.assert_allclose(before["history"][f"{t}_weight"][:2], [1.0, 1.0], rtol=0, atol=1e-7)
        np.testing.assert_allclose(
            before["history"][f"{t}_weight"][2:], [expected[e][i] for e in range(3, K + 1)], rtol=1e-5
        )
        np.testing.assert_allclose(after["history"][f"{t}_weight"], [expected[K + 1][i]], rtol=1e-5, err_msg=t)
        np.testing.assert_allclose(state(after["variables"], f"{t}_dwa_weight"), expected[K + 2][i], rtol=1e-5)
        np.testing.assert_allclose(state(after["variables"], f"{t}_dwa_last_loss"), losses[t][K], rtol=1e-6)
    assert abs(expected[K + 1][0] - 1.0) > 1e-3  # dwa restarted (weights 1) would be seen


@pytest.mark.parametrize(
    ("case", "path"),
    [
        ("attach_steps", "spec['a']['loss'][0]['weight']['steps']"),
        ("layer_steps", "LossLayer(name='fit_loss')['loss'][0]['weight']['steps']"),
    ],
)
def test_tampered_schedule_is_refused_on_load(runs, case, path):
    """A saved config edited to hold an invalid schedule fails to load, with the spec path of the bad value."""
    _, after = runs[f"{case}.tampered"]
    assert after.get("error") == "LossSpecError", after
    assert after["path"] == path
    assert after["message"].startswith(f"{path}: Expected a whole number >= 1")


def test_each_owner_of_changing_weights_has_its_own_variable_paths():
    """attach and a LossLayer of its model, both with a schedule: every variable's path is unique, as Keras'
    path-keyed state needs (``get_state_tree`` refuses a model with a path twice)."""
    keras.utils.set_random_seed(3)
    inp, target = keras.Input((3,), name="x"), keras.Input((2,), name="t")
    hidden = keras.layers.Dense(4, name="hidden")(inp)
    a = keras.layers.Dense(2, name="a")(hidden)
    b = lossreg.LossLayer("mse", weight=COSINE, name="b_loss")([target, keras.layers.Dense(2, name="b")(hidden)])
    train = lossreg.attach(keras.Model([inp, target], {"a": a, "b": b}), {"a": {"loss": "mse", "weight": LINEAR}})
    paths = [v.path for v in train.variables]
    assert "step" in [p.split("/")[-1] for p in paths]
    assert len(set(paths)) == len(paths), sorted(paths)
    train.compile(optimizer="sgd")
    tree = train.get_state_tree()  # ValueError when a path is there twice
    held = [*keras.tree.flatten(tree["trainable_variables"]), *keras.tree.flatten(tree["non_trainable_variables"])]
    assert len(held) == len(paths)
