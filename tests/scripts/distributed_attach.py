"""Train an attached multi-term model two SGD steps on one device and under MirroredStrategy(2 CPUs).

Prints JSON: the losses of each step and the final weights' checksums for both runs. Run as a script:
the logical devices must be configured before TensorFlow initialises.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402

import lossreg  # noqa: E402

SPEC = {
    "pairs": {"loss": [{"loss": "band_masked_softmax_ce"}, {"loss": "softmax_ce", "weight": 0.5}], "weight": 2.0},
    "mask": {"loss": "mse_bce", "inputs": {"aux": "hidden_mask"}, "weight": 0.7},
}
USE_LOSS_LAYER = "--loss-layer" in sys.argv


def build() -> keras.Model:
    keras.utils.set_random_seed(1)
    inp = keras.Input((6,), name="x")
    h = keras.layers.Dense(16, activation="tanh")(inp)
    pairs = keras.layers.Reshape((3, 3, 2), name="pairs")(keras.layers.Dense(18)(h))
    hidden = keras.layers.Dense(4, name="hidden_mask")(h)
    mask = keras.layers.Dense(4, activation="sigmoid", name="mask")(hidden)
    if USE_LOSS_LAYER:
        target = keras.Input((4,), name="target")
        mask = lossreg.LossLayer([{"loss": "mse_bce", "weight": 0.7}], name="mask_loss")([target, hidden, mask])
        return keras.Model([inp, target], [pairs, mask])
    return keras.Model(inp, {"pairs": pairs, "mask": mask})


def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 6)).astype("float32")
    y_pairs = np.eye(2, dtype="float32")[rng.integers(0, 2, (8, 3, 3))]
    y_mask = rng.uniform(size=(8, 4)).astype("float32")
    return x, {"pairs": y_pairs, "mask": y_mask}


def run(strategy) -> dict:
    with strategy.scope():
        model = build()
        train = lossreg.attach(model, {"pairs": SPEC["pairs"]} if USE_LOSS_LAYER else SPEC)
        train.compile(optimizer=keras.optimizers.SGD(0.1))
    x, y = data()
    if USE_LOSS_LAYER:
        x = {"x": x, "target": y["mask"]}
        y = {"pairs": y["pairs"]}
    history = train.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)  # 2 steps of 4 samples
    steps = [
        float(train.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)["loss"]),
    ]
    return {
        "history": {k: [float(v) for v in vs] for k, vs in history.history.items()},
        "evaluate": steps,
        "weights": [w.tolist() for w in model.get_weights()],
        "replicas": strategy.num_replicas_in_sync,
    }


single = run(tf.distribute.OneDeviceStrategy("/cpu:0"))
mirrored = run(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))
print(json.dumps({"single": single, "mirrored": mirrored}))
