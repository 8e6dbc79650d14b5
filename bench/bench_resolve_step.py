"""Training-step time of ``compile(loss=lossreg.resolve(spec))`` against hand-written raw-TF losses.

The model is seed 003's two-output joint decoder (node logits ``(9, 5)``, pairwise logits ``(9, 9, 4)``).
lossreg: ``{"output_1": "softmax_ce", "output_2": {"loss": "band_masked_softmax_ce", "weight": 2.0}}``.
Baseline: ``tf.nn.softmax_cross_entropy_with_logits`` on output_1, and seed 003's raw
``2 * mean(band_part(ce, 0, -1) - band_part(ce, 0, 0))`` on output_2. Both models start from the same
weights; their losses are asserted equal before anything is timed. Measured in graph mode (the default
``compile``, which on a CPU-only machine means no XLA) and with ``jit_compile=True``. One timed call is
one optimizer step (Keras' own ``train_function`` on one batch).

Run: ``python bench/bench_resolve_step.py`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from _common import Row, interleaved, median, parse_args, report

BATCH = 32
SPEC = {"output_1": "softmax_ce", "output_2": {"loss": "band_masked_softmax_ce", "weight": 2.0}}


def build_model(seed: int = 0) -> Any:
    """Seed 003's joint decoder: a 135-feature input, node logits (9, 5) and pairwise logits (9, 9, 4)."""
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=(135,), name="feature_input")
    branches = []
    for units, shape, name in ((45, (9, 5), "output_1"), (324, (9, 9, 4), "output_2")):
        x = inputs
        for width in (128, 256):
            x = keras.layers.Dense(width)(x)
            x = keras.layers.LeakyReLU(negative_slope=0.2)(x)
        x = keras.layers.Dense(units)(x)
        branches.append(keras.layers.Reshape(shape, name=name)(x))
    return keras.Model(inputs, branches, name="joint_decoder")


def raw_losses() -> dict[str, Any]:
    """The hand-written losses: plain functions of raw TensorFlow ops, as in seed 003."""
    import tensorflow as tf

    def output_1(y_true: Any, y_pred: Any) -> Any:
        return tf.nn.softmax_cross_entropy_with_logits(labels=y_true, logits=y_pred)

    def output_2(y_true: Any, y_pred: Any) -> Any:
        ce = tf.nn.softmax_cross_entropy_with_logits(labels=y_true, logits=y_pred)
        return 2.0 * tf.reduce_mean(tf.linalg.band_part(ce, 0, -1) - tf.linalg.band_part(ce, 0, 0))

    return {"output_1": output_1, "output_2": output_2}


def batch(seed: int = 0) -> tuple[Any, dict[str, Any]]:
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(BATCH, 135)).astype("float32")
    y1 = np.eye(5, dtype="float32")[rng.integers(0, 5, (BATCH, 9))]
    y2 = np.eye(4, dtype="float32")[rng.integers(0, 4, (BATCH, 9, 9))]
    return tf.constant(x), {"output_1": tf.constant(y1), "output_2": tf.constant(y2)}


def compiled_pair(jit: bool) -> tuple[Any, Any]:
    """Two models with the same weights, compiled with lossreg's losses and with the raw ones."""
    import keras
    import numpy as np

    import lossreg

    ours, raw = build_model(), build_model()
    raw.set_weights(ours.get_weights())
    jit_compile: Any = True if jit else "auto"  # "auto" is the default: no XLA on a CPU-only machine
    ours.compile(optimizer=keras.optimizers.Adam(1e-3), loss=lossreg.resolve(SPEC, model=ours), jit_compile=jit_compile)
    raw.compile(optimizer=keras.optimizers.Adam(1e-3), loss=raw_losses(), jit_compile=jit_compile)
    if not jit:
        assert ours.jit_compile is False and raw.jit_compile is False, "expected graph mode without XLA"
    x, y = batch()
    a = ours.evaluate(x, y, batch_size=BATCH, verbose=0, return_dict=True)
    b = raw.evaluate(x, y, batch_size=BATCH, verbose=0, return_dict=True)
    for key in ("loss", "output_1_loss", "output_2_loss"):
        np.testing.assert_allclose(a[key], b[key], rtol=1e-5, err_msg=f"{key}: lossreg and raw TF differ")
    return ours, raw


def step_fn(model: Any, x: Any, y: Any) -> Any:
    """One optimizer step through Keras' compiled train function (as fit runs it), synchronised."""
    model.train_on_batch(x, y)  # builds the optimizer and traces the step
    train_function = model.train_function
    data = [(x, y, None)]  # the structure train_on_batch passes: no retracing

    def step() -> None:
        logs = train_function(data)
        float(logs["loss"])

    return step


def main(argv: Sequence[str] | None = None) -> list[Row]:
    args = parse_args(argv, __doc__.splitlines()[0])
    repeats = 5 if args.quick else 25
    x, y = batch()
    rows, details = [], []
    for jit in (False, True):
        ours, raw = compiled_pair(jit)
        samples = interleaved({"lossreg": step_fn(ours, x, y), "raw": step_fn(raw, x, y)}, repeats=repeats)
        mode = "jit_compile=True" if jit else "graph (default compile)"
        rows.append(
            Row(
                f"resolve: train step, seed 003 model, {mode}",
                median(samples["lossreg"]) * 1e3,
                median(samples["raw"]) * 1e3,
                "ms",
                1.03,
                samples={k: [s * 1e3 for s in v] for k, v in samples.items()},
            )
        )
        details.append(
            f"{mode}: losses equal (rtol 1e-5); per-step ms lossreg "
            + ", ".join(f"{s * 1e3:.3f}" for s in samples["lossreg"])
            + " | raw "
            + ", ".join(f"{s * 1e3:.3f}" for s in samples["raw"])
        )
    report(rows, args.json, details)
    return rows


if __name__ == "__main__":
    sys.exit(main() and 0)
