"""Training-step time of ``lossreg.attach`` with a multi-term spec against a hand-written ``add_loss`` model.

The model is seed 004's decoder from ``examples/seed004_intermediate.py`` (two strided conv branches,
concatenated, a transposed conv ``deconv1`` back up, a 1x1 sigmoid conv ``output``). lossreg::

    lossreg.attach(model, {"complex": {"loss": [{"loss": "mse_bce"}, {"loss": "mae", "weight": 0.5}],
                                       "on": "output", "inputs": {"aux": "deconv1"}}})

i.e. ``mean((y - deconv1)^2) + bce(y, output) + 0.5 * mean(|y - output|)``, the target given to ``fit``.
Baseline (seed 004's own way, without the private attributes): the target is a model input and a layer
computes the same sum with raw TensorFlow ops and ``add_loss``-es it. Both start from the same weights; their
losses are asserted equal before timing. lossreg also logs each term (``complex_mse_bce_loss``,
``complex_mae_loss``, ``complex_mae_weighted_loss``); the baseline logs only ``loss``, as a hand-written
model would; a second baseline, reported without a target, also logs the three terms with
``keras.metrics.Mean``, to tell the cost of logging from the rest. One timed call is one optimizer step
(Keras' ``train_function`` on one batch).

Run: ``python bench/bench_attach_step.py`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from _common import STEP_MODES, Row, compile_for_steps, parse_args, per_step_line, report, step_row, time_steps

SIZE = 32
BATCH = 16
SPEC = {
    "complex": {
        "loss": [{"loss": "mse_bce"}, {"loss": "mae", "weight": 0.5}],
        "on": "output",
        "inputs": {"aux": "deconv1"},
    }
}


def _example() -> Any:
    """examples/seed004_intermediate.py: the seed's network (``_layers``) and plain model, built once, there."""
    from pathlib import Path

    examples = str(Path(__file__).resolve().parent.parent / "examples")
    if examples not in sys.path:
        sys.path.insert(0, examples)
    import seed004_intermediate

    return seed004_intermediate


def _layers(image: Any) -> tuple[Any, Any]:
    return _example()._layers(image)


def build_model(seed: int = 0) -> Any:
    """The plain model, image -> mask (what lossreg.attach trains)."""
    return _example().build_model(size=SIZE, seed=seed)


def build_add_loss_model(seed: int = 0, log_terms: bool = False) -> Any:
    """The hand-written training model: image and target in, the loss added by a raw-TF layer.

    With ``log_terms``, the layer also logs each term with ``keras.metrics.Mean``, as ``attach`` does.
    """
    import keras
    import tensorflow as tf

    class RawComplexLoss(keras.layers.Layer):
        """mse(target, aux) + bce(target, output) + 0.5 * mae(target, output), add_loss-ed."""

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            names = ("mse_bce_loss", "mae_loss", "mae_weighted_loss") if log_terms else ()
            self.trackers = [keras.metrics.Mean(name=name) for name in names]

        def call(self, inputs: Any) -> Any:
            target, aux, output = inputs
            mse = tf.reduce_mean(tf.square(target - aux))
            p = tf.clip_by_value(output, 1e-7, 1.0 - 1e-7)
            bce = -tf.reduce_mean(target * tf.math.log(p) + (1.0 - target) * tf.math.log(1.0 - p))
            mae = tf.reduce_mean(tf.abs(target - output))
            if self.trackers:
                batch = tf.shape(target)[0]
                for tracker, value in zip(self.trackers, (mse + bce, mae, 0.5 * mae), strict=True):
                    tracker.update_state(value, sample_weight=batch)
            self.add_loss(mse + bce + 0.5 * mae)
            return output

    keras.utils.set_random_seed(seed)
    image = keras.Input((SIZE, SIZE, 3), name="image")
    target = keras.Input((SIZE, SIZE, 1), name="target")
    deconv1, output = _layers(image)
    passed_on = RawComplexLoss(name="complex_loss")([target, deconv1, output])
    return keras.Model([image, target], passed_on, name="seed004_train")


def batch(seed: int = 0) -> tuple[Any, Any]:
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    images = rng.uniform(size=(BATCH, SIZE, SIZE, 3)).astype("float32")
    masks = (rng.uniform(size=(BATCH, SIZE, SIZE, 1)) > 0.5).astype("float32")
    return tf.constant(images), tf.constant(masks)


def compiled_models(jit: bool) -> tuple[Any, Any, Any]:
    """The attached model, the add_loss model and the add_loss model logging each term like attach; same
    weights, same loss value (asserted)."""
    import numpy as np

    import lossreg

    model = build_model()
    ours = lossreg.attach(model, SPEC)
    raw, logged = build_add_loss_model(), build_add_loss_model(log_terms=True)
    by_name = {layer.name: layer for layer in model.layers}
    images, masks = batch()
    a = None
    for m in (ours, raw, logged):
        if m is not ours:
            for layer in m.layers:
                if layer.name in by_name:
                    layer.set_weights(by_name[layer.name].get_weights())
        compile_for_steps(m, jit)
        if m is ours:
            a = ours.evaluate(images, {"output": masks}, batch_size=BATCH, verbose=0, return_dict=True)
        else:
            b = m.evaluate({"image": images, "target": masks}, batch_size=BATCH, verbose=0, return_dict=True)
            np.testing.assert_allclose(a["loss"], b["loss"], rtol=1e-5, err_msg="attach and add_loss losses differ")
    return ours, raw, logged


def main(argv: Sequence[str] | None = None) -> list[Row]:
    args = parse_args(argv, __doc__.splitlines()[0])
    repeats = 5 if args.quick else 25
    images, masks = batch()
    rows, details = [], []
    as_inputs = {"image": images, "target": masks}  # the add_loss models take the target as an input
    labels = {"lossreg": "attach", "raw": "add_loss", "logged": "add_loss + term logging"}
    for jit, mode in STEP_MODES:
        ours, raw, logged = compiled_models(jit)
        samples = time_steps(
            {
                "lossreg": (ours, images, {"output": masks}),
                "raw": (raw, as_inputs, None),
                "logged": (logged, as_inputs, None),
            },
            repeats=repeats,
        )
        rows.append(step_row(f"attach: train step, seed 004 model + 2 terms, {mode}", samples, "raw", 1.05))
        rows.append(
            step_row(
                f"attach vs add_loss logging the same 3 terms, {mode}",
                samples,
                "logged",
                None,
                note="the baseline also updates one keras.metrics.Mean per logged term, as attach does",
                keep_samples=False,
            )
        )
        details.append(f"{mode}: losses equal (rtol 1e-5); " + per_step_line(samples, labels))
    report(rows, args.json, details)
    return rows


if __name__ == "__main__":
    main()
