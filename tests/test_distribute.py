"""Two devices train as one: ``resolve``, ``attach`` and ``LossLayer`` under each distribution Keras 3 offers.

TensorFlow: ``tf.distribute.MirroredStrategy`` over two logical CPUs. JAX: ``keras.distribution.DataParallel``
over two host devices. Each engine runs ``scripts/distribute_train.py`` in a fresh process (its devices are set
before the engine starts), which trains every case two SGD steps on one device and on two; here, per-term logs,
total loss and weights must agree within 1e-5, and the two-device run must really have split the batch. Weights
that change during training (a schedule, uncertainty weighting, dwa; through attach and LossLayer) train longer:
their logged ``<term>_weight``, learned log-variance and step counter must agree too, the step counter must be the
optimizer's count, and the logged weight the schedule at that count; saved partway and reloaded, epoch-counted
weights continue as without the reload, on either layout.
PyTorch: Keras 3 has no distribution backend for torch; the last test shows what a torch user gets.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import keras
import numpy as np
import pytest
from on_backend import BACKEND, only_on

import lossreg

SCRIPT = Path(__file__).with_name("scripts") / "distribute_train.py"
TOLERANCE = 1e-5  # absolute, on every logged figure and every weight
#: the same two weighted losses written three ways: the paths must train alike
SAME_LOSSES = ("attach", "layer", "attach+layer")


class Changing(NamedTuple):
    """What a case with changing weights trains and how its weights are computed (as the script builds it)."""

    epochs: int  # epochs trained, two steps each
    scheduled: str  # the scheduled term's log label
    unit: str  # what its schedule counts: "step" or "epoch"
    schedule: Callable[[float], float]  # its value at a count (an entry's constant weight folded in)
    uncertain: str  # the uncertainty-weighted term's label
    dwa: dict[str, float]  # the dwa terms' labels and their constant factors


#: weights that change during training, through attach and LossLayer (linear 0.2 -> 1.0 over 4 is 0.2 + 0.2 t)
CHANGING = {
    "attach_changing": Changing(
        2, "pairs_band_masked_softmax_ce", "step", lambda t: 2.0 * (0.2 + 0.2 * min(t, 4)), "mask", {}
    ),
    "layer_changing": Changing(
        2,
        "pairs_band_masked_softmax_ce",
        "step",
        lambda t: 0.5 * (1.0 + np.cos(np.pi * min(t / 6, 1.0))),
        "pairs_softmax_ce",
        {},
    ),
    "attach_epochs_changing": Changing(
        4,
        "pairs_band_masked_softmax_ce",
        "epoch",
        lambda t: 2.0 * (0.2 + 0.2 * min(t, 4)),
        "mask_bce",
        {"pairs_softmax_ce": 2.0, "mask_mse_bce": 1.0},
    ),
}

#: the case the script also trains with a save and reload (in new scopes) after its third epoch
RESUMED = "attach_epochs_changing"


class CaseFailed(RuntimeError):
    """A case raised inside the training script (its message and traceback are the script's)."""


def train_in_fresh_process(*cases: str) -> dict[str, Any]:
    """``cases``, each trained on one device and on two, in one fresh process of this run's engine."""
    env = {**os.environ, "KERAS_BACKEND": BACKEND}
    if BACKEND == "jax":
        env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=2".strip()
    done = subprocess.run([sys.executable, str(SCRIPT), *cases], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def runs() -> dict[str, Any]:
    """Every case with constant weights, in one fresh process."""
    return train_in_fresh_process("resolve", *SAME_LOSSES)


@pytest.fixture(scope="module")
def changing_runs() -> dict[str, Any]:
    """The cases with changing weights, in a process of their own: their learned log-variance makes one more
    trainable number (507, not 506), and TensorFlow keys the shape of a collective all-reduce by its instance
    number for the whole process, so a later MirroredStrategy all-reducing another size in the same process
    fails ("Shape mismatch in the collective instance 100") whatever the model."""
    return train_in_fresh_process(*CHANGING)


def result(runs: dict[str, Any], case: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The single-device and the two-device run of ``case``; :class:`CaseFailed` if the script's case raised."""
    if "error" in runs[case]:
        raise CaseFailed(f"{runs[case]['error']}\n{runs[case]['traceback']}")
    return runs[case]["single"], runs[case]["distributed"]


def assert_trained_alike(expected: dict[str, Any], actual: dict[str, Any], *, trainable_only: bool = False) -> None:
    """Per-term logs, total loss (fit and evaluate) and every weight (or every trainable one) agree."""
    assert sorted(actual["history"]) == sorted(expected["history"])
    for key, values in expected["history"].items():
        np.testing.assert_allclose(actual["history"][key], values, rtol=0, atol=TOLERANCE, err_msg=key)
    assert sorted(actual["evaluate"]) == sorted(expected["evaluate"])
    for key, value in expected["evaluate"].items():
        np.testing.assert_allclose(actual["evaluate"][key], value, rtol=0, atol=TOLERANCE, err_msg=f"evaluate {key}")
    paths = expected["trainable"] if trainable_only else sorted(expected["weights"])
    assert (actual["trainable"] if trainable_only else sorted(actual["weights"])) == paths
    for path in paths:
        np.testing.assert_allclose(
            np.array(actual["weights"][path]), expected["weights"][path], rtol=0, atol=TOLERANCE, err_msg=path
        )


def layout(run: dict[str, Any]) -> tuple[int, list[int], list[int]]:
    """How many devices ran the training step, the batch rows each saw, and how many devices hold a variable."""
    return len(run["step_devices"]), run["step_rows"], run["variable_devices"]


def check_case(runs: dict[str, Any], case: str) -> None:
    single, distributed = result(runs, case)
    # the single run kept the whole batch of 4 on one device; the distributed one split it 2 + 2 over two,
    # with every trainable variable on both devices
    assert single["device_count"] == distributed["device_count"] == 2
    assert layout(single) == (1, [4], [1])
    assert layout(distributed) == (2, [2], [2])
    # both started from the same weights, and training moved them (by far more than the tolerance)
    assert sorted(single["initial_weights"]) == sorted(single["weights"]) == sorted(distributed["initial_weights"])
    for path, value in single["initial_weights"].items():
        np.testing.assert_array_equal(np.array(distributed["initial_weights"][path]), value, err_msg=path)
    moved = max(np.abs(np.array(single["weights"][p]) - single["initial_weights"][p]).max() for p in single["weights"])
    assert moved > 100 * TOLERANCE
    assert_trained_alike(single, distributed)
    # the logged total is the sum of the weighted terms (a term's weighted figure when its weight is not 1)
    history = distributed["history"]
    terms = {k.removesuffix("_weighted_loss") + "_loss": k for k in history if k.endswith("_weighted_loss")}
    parts = [terms.get(k, k) for k in history if k.endswith("_loss") and not k.endswith("_weighted_loss")]
    np.testing.assert_allclose(history["loss"][0], sum(history[k][0] for k in parts), rtol=0, atol=TOLERANCE)
    if case in SAME_LOSSES[1:]:  # the same losses through LossLayer train as through attach
        attached, _ = result(runs, "attach")
        assert_trained_alike(attached, single, trainable_only=True)


@only_on("tensorflow", why="tf.distribute.MirroredStrategy is TensorFlow's")
@pytest.mark.parametrize("case", ["resolve", *SAME_LOSSES])
def test_mirrored_strategy_trains_as_one_device(runs, case):
    check_case(runs, case)


@only_on("jax", why="keras.distribution.DataParallel runs on JAX (XLA SPMD over the global batch)")
@pytest.mark.parametrize("case", ["resolve", *SAME_LOSSES])
def test_data_parallel_trains_as_one_device(runs, case):
    check_case(runs, case)


def state(weights: dict[str, Any], name: str) -> Any:
    """The one variable called ``name`` (``step``, ``<term>_log_variance``), whatever scope its path has."""
    (value,) = [v for path, v in weights.items() if path.split("/")[-1] == name]
    return value


def dwa(ratios: list[float], temperature: float = 2.0) -> np.ndarray:
    """Dynamic weight average (Liu, Johns & Davison 2019): ``K exp(r_k / T) / sum_i exp(r_i / T)``."""
    e = np.exp(np.asarray(ratios, dtype="float64") / temperature)
    return len(ratios) * e / e.sum()


def check_changing(runs: dict[str, Any], case: str) -> None:
    """A case with changing weights: trained alike on one device and two (the logged ``<term>_weight``, the
    learned log-variance, dwa's state and the step and epoch counters included), and on either layout the step
    counter is the optimizer's count, the logged weights follow their formulas."""
    check_case(runs, case)
    single, distributed = result(runs, case)
    epochs, term, unit, schedule, uncertain, dwa_terms = CHANGING[case]
    counts = [2 * e if unit == "step" else e for e in range(1, epochs + 1)]  # the count at the end of each epoch
    for run in (single, distributed):
        # the trainable weights moved (check_case's guard also sees the counters, which always move)
        moved = [np.abs(np.array(run["weights"][p]) - run["initial_weights"][p]).max() for p in run["trainable"]]
        assert max(moved) > 100 * TOLERANCE
        # one step counter, advanced once per training step on either layout: it is the optimizer's count
        assert run["counters"] == {"steps": [2.0 * epochs], "iterations": 2 * epochs}
        assert state(run["weights"], "step") == 2.0 * epochs
        if unit == "epoch":
            assert state(run["weights"], "epoch") == epochs
        # the weight logged after each epoch is the schedule at the count then; evaluate reads the final count
        np.testing.assert_allclose(run["history"][f"{term}_weight"], [schedule(t) for t in counts], rtol=0, atol=1e-6)
        np.testing.assert_allclose(run["evaluate"][f"{term}_weight"], schedule(counts[-1]), rtol=0, atol=1e-6)
        # the learned log-variance s moved from 0 and is what evaluate's weight exp(-s) reads
        s = state(run["weights"], f"{uncertain}_log_variance")
        assert abs(s) > 100 * TOLERANCE
        np.testing.assert_allclose(run["evaluate"][f"{uncertain}_weight"], np.exp(-s), rtol=1e-6)
        # dwa: 1 for two epochs, then the formula on the logged per-epoch losses of the two epochs before
        losses = {t: run["history"][f"{t}_loss"] for t in dwa_terms}
        for t, factor in dwa_terms.items():
            np.testing.assert_allclose(run["history"][f"{t}_weight"][:2], [factor] * 2, rtol=0, atol=1e-7, err_msg=t)
        for e in range(3, epochs + 1):
            expected = dwa([losses[t][e - 2] / losses[t][e - 3] for t in dwa_terms])
            for (t, factor), w in zip(dwa_terms.items(), expected, strict=True):
                logged = run["history"][f"{t}_weight"][e - 1]
                np.testing.assert_allclose(logged, factor * w, rtol=1e-5, err_msg=f"{t} epoch {e}")
                assert abs(w - 1.0) > 1e-4  # the weights moved
        assert ("resumed" in run) == (case == RESUMED)
        if case == RESUMED:  # saved after the third epoch, reloaded in a new scope: the fourth as without the reload
            for key, values in run["resumed"]["history"].items():
                np.testing.assert_allclose(values, run["history"][key][-1:], rtol=0, atol=TOLERANCE, err_msg=key)
            assert sorted(run["resumed"]["weights"]) == sorted(run["weights"])
            for path, value in run["weights"].items():
                np.testing.assert_allclose(run["resumed"]["weights"][path], value, rtol=0, atol=TOLERANCE, err_msg=path)


@only_on("tensorflow", why="tf.distribute.MirroredStrategy is TensorFlow's")
@pytest.mark.parametrize("case", CHANGING)
def test_mirrored_strategy_changing_weights_as_one_device(changing_runs, case):
    check_changing(changing_runs, case)


@only_on("jax", why="keras.distribution.DataParallel runs on JAX (XLA SPMD over the global batch)")
@pytest.mark.parametrize("case", CHANGING)
def test_data_parallel_changing_weights_as_one_device(changing_runs, case):
    check_changing(changing_runs, case)


class _Rows(keras.layers.Layer):
    """Identity; records the rows and the device of each batch it sees (torch's fit is eager)."""

    def __init__(self, record: Callable[[tuple[int, str]], None], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.record = record  # a function: a list attribute would be copied by Keras' attribute tracking

    def call(self, x: Any) -> Any:
        if str(x.device) != "meta":  # Keras' symbolic build runs on torch's shape-only device
            self.record((int(x.shape[0]), str(x.device)))
        return x


@only_on("torch", why="what Keras 3 offers PyTorch users for distribution")
def test_torch_fit_has_no_distribution():
    """Keras has no torch distribution backend: a DataParallel is accepted and ignored, fit runs on one device."""
    with pytest.raises(AttributeError, match="list_devices"):  # device discovery: no torch backend behind it
        keras.distribution.list_devices()

    def train(scope: Any) -> tuple[list[tuple[int, str]], list[float], list[np.ndarray]]:
        seen: list[tuple[int, str]] = []
        with scope:
            keras.utils.set_random_seed(1)
            inp = keras.Input((3,))
            model = keras.Model(inp, keras.layers.Dense(2, activation="sigmoid")(_Rows(seen.append)(inp)))
            model.compile(optimizer=keras.optimizers.SGD(0.1), loss=lossreg.resolve({"loss": "bce", "weight": 0.5}))
            seen.clear()
            x = np.linspace(-1.0, 1.0, 24, dtype="float32").reshape(8, 3)
            history = model.fit(x, np.full((8, 2), 0.3, "float32"), batch_size=4, shuffle=False, verbose=0)
        return seen, history.history["loss"], model.get_weights()

    alone = train(contextlib.nullcontext())
    data_parallel = keras.distribution.DataParallel(devices=["cpu:0", "cpu:1"])  # accepted: names are not checked
    spread = train(data_parallel.scope())
    # each SGD step saw the whole batch of 4 on the one CPU device, exactly as without the distribution
    assert alone[0] == spread[0] == [(4, "cpu"), (4, "cpu")]
    assert spread[1] == alone[1]
    for a, b in zip(alone[2], spread[2], strict=True):
        np.testing.assert_array_equal(a, b)
