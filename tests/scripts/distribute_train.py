"""Train lossreg models two SGD steps (more with changing weights) on one device and on two; print both runs as JSON.

The engine is the Keras backend (``KERAS_BACKEND``):

- ``tensorflow``: ``tf.distribute.OneDeviceStrategy`` against ``tf.distribute.MirroredStrategy`` over two
  logical CPUs;
- ``jax``: no distribution against ``keras.distribution.DataParallel`` over two host devices
  (``XLA_FLAGS=--xla_force_host_platform_device_count=2``).

Both need their devices configured before the engine initialises, hence a script run in a fresh process.

Usage: ``python distribute_train.py [case ...]``, cases ``resolve``, ``attach``, ``layer``, ``attach+layer``,
``attach_changing``, ``layer_changing``, ``attach_epochs_changing`` (default: all; on TensorFlow, run cases with
different numbers of trainable weights in separate processes, see ``test_distribute.changing_runs``). The last
stdout line is JSON: ``{case: {"single": run, "distributed": run}}``, or ``{case: {"error": ...}}`` when a case
raised; a run holds the per-epoch ``history``, the total loss from ``evaluate`` after training, the initial and
final ``weights``, and where the training step ran: the devices and per-device batch rows a probe layer saw when
the step was traced, and how many devices hold each variable. The ``*_changing`` cases have weights that change
during training (step and epoch schedules, a learned log-variance, dwa): they train ``EPOCHS[case]`` epochs, their
``weights`` are the training model's (the log-variance and the step and epoch counters included), and their run's
``counters`` hold each changing-weight owner's step counter and the optimizer's iteration count; a case in
``RESUME`` is trained again with a save and reload (``safe_mode=True``) partway, its run's ``resumed`` holds the
history after the reload and the final weights.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

BACKEND = os.environ.get("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # deterministic float sums on every CPU

if BACKEND == "jax":
    # before jax is first imported: the CPU platform reads it once
    if "--xla_force_host_platform_device_count" not in os.environ.get("XLA_FLAGS", ""):
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=2".strip()
    import jax
elif BACKEND == "tensorflow":
    import tensorflow as tf

    _cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(_cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
else:
    sys.exit(f"distribute_train.py runs on tensorflow or jax, not {BACKEND!r}: Keras 3 distributes only those.")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import lossreg  # noqa: E402

BATCH = 4  # 8 samples: two SGD steps of 4, split 2 + 2 over two devices
PAIRS = {"loss": [{"loss": "band_masked_softmax_ce"}, {"loss": "softmax_ce", "weight": 0.5}], "weight": 2.0}
MASK = {"loss": "mse_bce", "inputs": {"aux": "hidden_mask"}, "weight": 0.7}  # aux: an intermediate layer
#: a step schedule: 0.2 at step 0 to 1.0 at step 4 (folded into by an entry's constant weight)
LINEAR = {"schedule": "linear", "start": 0.2, "end": 1.0, "steps": 4}
#: a step schedule for a LossLayer: 1.0 at step 0 down to 0.0 at step 6
COSINE = {"schedule": "cosine", "start": 1.0, "end": 0.0, "steps": 6}
#: an epoch schedule: 0.2 at epoch 0 to 1.0 at epoch 4
BY_EPOCH = {"schedule": "linear", "start": 0.2, "end": 1.0, "steps": 4, "unit": "epoch"}
DWA = {"learned": "dwa", "temperature": 2.0}

#: what the probe saw each time a training step was traced: (devices holding the batch, rows per device)
SEEN: list[tuple[list[str], int]] = []


class Probe(keras.layers.Layer):
    """Identity on the model input; records how the batch is laid out when the step is traced."""

    def call(self, x: Any) -> Any:
        if BACKEND == "jax":
            if not isinstance(x, jax.core.Tracer):
                return x  # an eager call (attach's first-batch value check), not a traced step

            def record(sharding: Any) -> None:
                devices = sorted(str(d) for d in sharding.device_set)
                SEEN.append((devices, int(sharding.shard_shape(tuple(x.shape))[0])))

            jax.debug.inspect_array_sharding(x, callback=record)  # inside jit: the partitioner's layout
        else:
            context = tf.distribute.get_replica_context()
            if context is not None and not tf.executing_eagerly():  # one trace per replica, on its device
                SEEN.append(([context.replica_id_in_sync_group.device], int(x.shape[0])))
        return x


def trunk() -> tuple[Any, Any, Any, Any]:
    """The input, the ``pairs`` output (batch, 3, 3, 2), the intermediate ``hidden_mask`` and the ``mask`` output."""
    keras.utils.set_random_seed(1)
    inp = keras.Input((6,), name="x")
    h = keras.layers.Dense(16, activation="tanh", name="h")(Probe()(inp))
    pairs = keras.layers.Reshape((3, 3, 2), name="pairs")(keras.layers.Dense(18, name="pairs_logits")(h))
    hidden = keras.layers.Dense(4, name="hidden_mask")(h)
    mask = keras.layers.Dense(4, activation="sigmoid", name="mask")(hidden)
    return inp, pairs, hidden, mask


def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 6)).astype("float32")
    y_pairs = np.eye(2, dtype="float32")[rng.integers(0, 2, (8, 3, 3))]
    y_mask = rng.uniform(size=(8, 4)).astype("float32")
    return x, y_pairs, y_mask


def case_resolve() -> tuple[keras.Model, keras.Model, Any, Any]:
    """``compile(loss=lossreg.resolve(spec))``: a multi-term entry and a second output, both weighted."""
    inp, pairs, _, mask = trunk()
    model = keras.Model(inp, {"pairs": pairs, "mask": mask})
    model.compile(
        optimizer=keras.optimizers.SGD(0.1),
        loss=lossreg.resolve({"pairs": PAIRS, "mask": {"loss": "bce", "weight": 0.7}}, model=model),
    )
    x, y_pairs, y_mask = data()
    return model, model, x, {"pairs": y_pairs, "mask": y_mask}


def case_attach() -> tuple[keras.Model, keras.Model, Any, Any]:
    """``lossreg.attach``: the multi-term entry, and ``mse_bce`` reading the intermediate ``hidden_mask``."""
    inp, pairs, _, mask = trunk()
    model = keras.Model(inp, {"pairs": pairs, "mask": mask})
    train = lossreg.attach(model, {"pairs": PAIRS, "mask": MASK})
    train.compile(optimizer=keras.optimizers.SGD(0.1))
    x, y_pairs, y_mask = data()
    return model, train, x, {"pairs": y_pairs, "mask": y_mask}


def case_layer() -> tuple[keras.Model, keras.Model, Any, Any]:
    """``lossreg.LossLayer`` only: the multi-term loss on ``pairs`` and ``mse_bce`` over ``hidden_mask``."""
    inp, pairs, hidden, mask = trunk()
    t_pairs, t_mask = keras.Input((3, 3, 2), name="t_pairs"), keras.Input((4,), name="t_mask")
    pairs = lossreg.LossLayer(PAIRS["loss"], weight=PAIRS["weight"], name="pairs_loss")([t_pairs, pairs])
    mask = lossreg.LossLayer("mse_bce", weight=MASK["weight"], name="mask_loss")([t_mask, hidden, mask])
    model = keras.Model([inp, t_pairs, t_mask], [pairs, mask])
    model.compile(optimizer=keras.optimizers.SGD(0.1))  # the loss comes from the layers
    x, y_pairs, y_mask = data()
    return model, model, {"x": x, "t_pairs": y_pairs, "t_mask": y_mask}, None


def case_attach_layer() -> tuple[keras.Model, keras.Model, Any, Any]:
    """``attach`` for ``pairs`` and a ``LossLayer`` for the mask in the same model: both losses are trained."""
    inp, pairs, hidden, mask = trunk()
    target = keras.Input((4,), name="target")
    mask = lossreg.LossLayer([{"loss": "mse_bce", "weight": 0.7}], name="mask_loss")([target, hidden, mask])
    model = keras.Model([inp, target], [pairs, mask])
    train = lossreg.attach(model, {"pairs": PAIRS})
    train.compile(optimizer=keras.optimizers.SGD(0.1))
    x, y_pairs, y_mask = data()
    return model, train, {"x": x, "target": y_mask}, {"pairs": y_pairs}


def case_attach_changing() -> tuple[keras.Model, keras.Model, Any, Any]:
    """``attach`` with changing weights: a scheduled term of the multi-term entry (the entry's 2.0 folded in) and
    ``mse_bce`` over ``hidden_mask`` with uncertainty weighting. The weights compared are the training model's."""
    inp, pairs, _, mask = trunk()
    model = keras.Model(inp, {"pairs": pairs, "mask": mask})
    spec = {
        "pairs": {"loss": [{"loss": "band_masked_softmax_ce", "weight": LINEAR}, PAIRS["loss"][1]], "weight": 2.0},
        "mask": {**MASK, "weight": {"learned": "uncertainty"}},
    }
    train = lossreg.attach(model, spec)
    train.compile(optimizer=keras.optimizers.SGD(0.1))
    x, y_pairs, y_mask = data()
    return train, train, x, {"pairs": y_pairs, "mask": y_mask}


def case_layer_changing() -> tuple[keras.Model, keras.Model, Any, Any]:
    """``LossLayer`` with changing weights on ``pairs`` (a scheduled term, an uncertainty-weighted term), beside a
    constant-weight ``mse_bce`` layer."""
    inp, pairs, hidden, mask = trunk()
    t_pairs, t_mask = keras.Input((3, 3, 2), name="t_pairs"), keras.Input((4,), name="t_mask")
    terms = [
        {"loss": "band_masked_softmax_ce", "weight": COSINE},
        {"loss": "softmax_ce", "weight": {"learned": "uncertainty"}},
    ]
    pairs = lossreg.LossLayer(terms, name="pairs_loss")([t_pairs, pairs])
    mask = lossreg.LossLayer("mse_bce", weight=MASK["weight"], name="mask_loss")([t_mask, hidden, mask])
    model = keras.Model([inp, t_pairs, t_mask], [pairs, mask])
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    x, y_pairs, y_mask = data()
    return model, model, {"x": x, "t_pairs": y_pairs, "t_mask": y_mask}, None


def case_attach_epochs_changing() -> tuple[keras.Model, keras.Model, Any, Any]:
    """``attach`` with epoch-counted weights: an epoch schedule, dwa over two terms (one in each entry, one with the
    entry's 2.0 folded in) and uncertainty weighting; trained four epochs, as dwa's weights move from the third."""
    inp, pairs, _, mask = trunk()
    model = keras.Model(inp, {"pairs": pairs, "mask": mask})
    spec = {
        "pairs": {
            "loss": [{"loss": "band_masked_softmax_ce", "weight": BY_EPOCH}, {"loss": "softmax_ce", "weight": DWA}],
            "weight": 2.0,
        },
        "mask": {
            "loss": [{"loss": "mse_bce", "weight": DWA}, {"loss": "bce", "weight": {"learned": "uncertainty"}}],
            "inputs": MASK["inputs"],
        },
    }
    train = lossreg.attach(model, spec)
    train.compile(optimizer=keras.optimizers.SGD(0.1))
    x, y_pairs, y_mask = data()
    return train, train, x, {"pairs": y_pairs, "mask": y_mask}


#: epochs trained (two steps each): changing weights run longer, so that their values change between epochs
EPOCHS = {"attach_changing": 2, "layer_changing": 2, "attach_epochs_changing": 4}
#: cases trained again in two parts, saved after the first and reloaded (``safe_mode=True``) for the rest: the epochs
#: of the first part
RESUME = {"attach_epochs_changing": 3}

CASES: dict[str, Callable[[], tuple[keras.Model, keras.Model, Any, Any]]] = {
    "resolve": case_resolve,
    "attach": case_attach,
    "layer": case_layer,
    "attach+layer": case_attach_layer,
    "attach_changing": case_attach_changing,
    "layer_changing": case_layer_changing,
    "attach_epochs_changing": case_attach_epochs_changing,
}


def variable_devices(variable: keras.Variable) -> int:
    """How many devices hold ``variable``: its mirrors under ``tf.distribute``, its sharding's devices on JAX."""
    if BACKEND == "jax":
        return len(variable.value.sharding.device_set)
    return len(getattr(variable.value, "values", [None]))


def weights(model: keras.Model) -> dict[str, list[Any]]:
    """The model's weights by path (``h/kernel``): every case names its layers alike, whatever their order."""
    return {v.path: v.numpy().tolist() for v in sorted(model.weights, key=lambda v: v.path)}


def scopes() -> dict[str, Callable[[], Any]]:
    """The single-device and the two-device scope of this engine, and how many replicas each has."""
    if BACKEND == "jax":
        assert jax.device_count() == 2, jax.devices()
        return {
            "single": contextlib.nullcontext,
            "distributed": lambda: keras.distribution.DataParallel(devices=jax.devices()).scope(),
        }
    return {
        "single": lambda: tf.distribute.OneDeviceStrategy("/cpu:0").scope(),
        "distributed": lambda: tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]).scope(),
    }


def step_counters(train: keras.Model) -> list[float]:
    """The step counter of each owner of changing weights: the attach model, and every ``LossLayer`` with them."""
    owners = [train, *(layer for layer in train.layers if isinstance(layer, lossreg.LossLayer))]
    return [float(o.term_weights.step.numpy()) for o in owners if getattr(o, "term_weights", None) is not None]


def resumed(case: str, scope: Callable[[], Any]) -> dict[str, Any]:
    """``case`` trained ``RESUME[case]`` epochs, saved, reloaded in a new scope and trained the remaining epochs: the
    history of those and the final weights."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{case}.keras"
        with scope():
            _, train, x, y = CASES[case]()
            train.fit(x, y, batch_size=BATCH, epochs=RESUME[case], shuffle=False, verbose=0)
            train.save(path)
        with scope():
            loaded = keras.saving.load_model(path, safe_mode=True, custom_objects={"Probe": Probe})
            history = loaded.fit(x, y, batch_size=BATCH, epochs=EPOCHS[case] - RESUME[case], shuffle=False, verbose=0)
    return {"history": {k: [float(v) for v in vs] for k, vs in history.history.items()}, "weights": weights(loaded)}


def run(case: str, scope: Callable[[], Any]) -> dict[str, Any]:
    epochs = EPOCHS.get(case, 1)  # 2 steps of 4 samples per epoch
    with scope():
        model, train, x, y = CASES[case]()
        initial = weights(model)
        SEEN.clear()
        history = train.fit(x, y, batch_size=BATCH, epochs=epochs, shuffle=False, verbose=0)
        seen = sorted({(tuple(devices), rows) for devices, rows in SEEN})
        evaluate = train.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
        counters = {"steps": step_counters(train), "iterations": int(train.optimizer.iterations.numpy())}
    return {
        **({"resumed": resumed(case, scope)} if case in RESUME else {}),
        "counters": counters,
        "history": {k: [float(v) for v in vs] for k, vs in history.history.items()},
        "evaluate": {k: float(v) for k, v in evaluate.items()},
        "initial_weights": initial,
        "weights": weights(model),
        "trainable": sorted(v.path for v in model.trainable_weights),
        "step_devices": sorted({d for devices, _ in seen for d in devices}),
        "step_rows": sorted({rows for _, rows in seen}),
        "variable_devices": sorted({variable_devices(v) for v in train.trainable_variables}),
        "device_count": jax.device_count() if BACKEND == "jax" else len(tf.config.list_logical_devices("CPU")),
    }


def main(cases: list[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    for case in cases:
        try:
            yield case, {name: run(case, scope) for name, scope in scopes().items()}
        except Exception as exc:  # reported to the test, which fails with it
            tail = "".join(traceback.format_exception(exc)[-6:])
            yield case, {"error": f"{type(exc).__name__}: {exc}", "traceback": tail}


if __name__ == "__main__":
    wanted = sys.argv[1:] or list(CASES)
    unknown = [c for c in wanted if c not in CASES]
    if unknown:
        sys.exit(f"unknown case(s) {unknown}; choose from {list(CASES)}")
    print(json.dumps(dict(main(wanted))))
