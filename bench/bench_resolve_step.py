"""Training-step time of ``compile(loss=lossreg.resolve(spec))`` against hand-written raw-TF losses.

The model is seed 003's two-output joint decoder (node logits ``(9, 5)``, pairwise logits ``(9, 9, 4)``),
built by ``lossreg._demo.build_joint_decoder`` as ``lossreg demo`` and ``examples/seed003_joint_decoder.py`` do.
lossreg: ``{"output_1": "softmax_ce", "output_2": {"loss": "band_masked_softmax_ce", "weight": 2.0}}``.
Baseline: ``tf.nn.softmax_cross_entropy_with_logits`` on output_1, and seed 003's raw
``2 * mean(band_part(ce, 0, -1) - band_part(ce, 0, 0))`` on output_2. Both models start from the same
weights; their losses are asserted equal before anything is timed. Measured in graph mode (the default
``compile``, which on a CPU-only machine means no XLA) and with ``jit_compile=True``. One timed call is
one optimizer step (Keras' own ``train_function`` on one batch).

Run: ``python bench/bench_resolve_step.py`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from _common import STEP_MODES, Row, compile_for_steps, parse_args, per_step_line, report, step_row, time_steps

BATCH = 32
SPEC = {"output_1": "softmax_ce", "output_2": {"loss": "band_masked_softmax_ce", "weight": 2.0}}


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
    import numpy as np

    import lossreg
    from lossreg._demo import build_joint_decoder  # seed 003's model, as `lossreg demo` and examples/ build it

    ours, raw = build_joint_decoder(), build_joint_decoder()
    raw.set_weights(ours.get_weights())
    compile_for_steps(ours, jit, loss=lossreg.resolve(SPEC, model=ours))
    compile_for_steps(raw, jit, loss=raw_losses())
    x, y = batch()
    a = ours.evaluate(x, y, batch_size=BATCH, verbose=0, return_dict=True)
    b = raw.evaluate(x, y, batch_size=BATCH, verbose=0, return_dict=True)
    for key in ("loss", "output_1_loss", "output_2_loss"):
        np.testing.assert_allclose(a[key], b[key], rtol=1e-5, err_msg=f"{key}: lossreg and raw TF differ")
    return ours, raw


def main(argv: Sequence[str] | None = None) -> list[Row]:
    args = parse_args(argv, __doc__.splitlines()[0])
    repeats = 5 if args.quick else 25
    x, y = batch()
    rows, details = [], []
    labels = {"lossreg": "lossreg", "raw": "raw"}
    for jit, mode in STEP_MODES:
        ours, raw = compiled_pair(jit)
        samples = time_steps({"lossreg": (ours, x, y), "raw": (raw, x, y)}, repeats=repeats)
        rows.append(step_row(f"resolve: train step, seed 003 model, {mode}", samples, "raw", 1.03))
        details.append(f"{mode}: losses equal (rtol 1e-5); " + per_step_line(samples, labels))
    report(rows, args.json, details)
    return rows


if __name__ == "__main__":
    main()
