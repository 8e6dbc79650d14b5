"""Training-step time of ``lossreg.attach`` against the same loss hand-written in the backend's own ops.

The model is seed 004's decoder from ``examples/seed004_intermediate.py`` (two strided conv branches,
concatenated, a transposed conv ``deconv1`` back up, a 1x1 sigmoid conv ``output``). lossreg::

    lossreg.attach(model, {"complex": {"loss": [{"loss": "mse_bce"}, {"loss": "mae", "weight": 0.5}],
                                       "on": "output", "inputs": {"aux": "deconv1"}}})

i.e. ``mean((y - deconv1)^2) + bce(y, output) + 0.5 * mean(|y - output|)``, the target given to ``fit``.

Baseline: what a user of the backend writes without lossreg. The same layers as one functional model whose
outputs are ``{"deconv1": ..., "output": ...}``, subclassing ``keras.Model`` to override ``compute_loss``
(Keras 3's hook for a loss that reads several outputs; every backend's ``train_step`` calls it), the loss
written in the backend's own ops:

- TensorFlow: ``tf.reduce_mean``, ``tf.square``, ``tf.math.log`` (seed 004's raw expression);
- JAX: ``jnp.mean``, ``jnp.square``, ``jnp.log`` (the same clipped binary cross-entropy as Keras');
- torch: ``F.mse_loss``, ``F.binary_cross_entropy``, ``F.l1_loss`` (``torch.nn.functional``).

Both get ``fit``'s data in the same form (images, ``{"output": masks}``) and start from the same weights;
their losses are asserted equal before timing. lossreg also logs each term (``complex_mse_bce_loss``,
``complex_mae_loss``, ``complex_mae_weighted_loss``); the baseline logs only ``loss``, as a hand-written model
would. A second baseline, reported without a target, also logs the three terms with ``keras.metrics.Mean``,
to tell the cost of logging from the rest; and an identical copy of the hand-written model is timed
alongside as the A/A control (how far apart two equal models measure in this run). Modes as in
``bench_resolve_step.py``: TensorFlow graph and XLA, JAX jit, torch eager. One timed call is one optimizer
step (Keras' train function on one batch).

Run: ``python bench/bench_attach_step.py --backend torch`` (default: ``KERAS_BACKEND``, else tensorflow;
``--quick`` for a smoke run).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

from _common import (
    Row,
    StepMode,
    compile_for_steps,
    parse_args,
    per_step_line,
    report,
    step_modes,
    step_row,
    threads,
    time_steps,
    to_backend,
    used_backends,
)

SIZE = 32
BATCH = 16
SPEC = {
    "complex": {
        "loss": [{"loss": "mse_bce"}, {"loss": "mae", "weight": 0.5}],
        "on": "output",
        "inputs": {"aux": "deconv1"},
    }
}
TERMS = ("complex_mse_bce_loss", "complex_mae_loss", "complex_mae_weighted_loss")  # what attach logs
Terms = Callable[[Any, Any, Any], tuple[Any, Any]]  # (target, aux, output) -> (mse + bce, mae)


def _example() -> Any:
    """examples/seed004_intermediate.py: the seed's network (``_layers``) and plain model, built once, there."""
    from pathlib import Path

    examples = str(Path(__file__).resolve().parent.parent / "examples")
    if examples not in sys.path:
        sys.path.insert(0, examples)
    import seed004_intermediate

    return seed004_intermediate


def tensorflow_terms() -> Terms:
    """Seed 004's raw TensorFlow: mse(target, aux) + bce(target, output), and mae(target, output)."""
    import tensorflow as tf

    def terms(target: Any, aux: Any, output: Any) -> tuple[Any, Any]:
        mse = tf.reduce_mean(tf.square(target - aux))
        p = tf.clip_by_value(output, 1e-7, 1.0 - 1e-7)
        bce = -tf.reduce_mean(target * tf.math.log(p) + (1.0 - target) * tf.math.log(1.0 - p))
        return mse + bce, tf.reduce_mean(tf.abs(target - output))

    return terms


def jax_terms() -> Terms:
    """The same in ``jax.numpy``."""
    import jax.numpy as jnp

    def terms(target: Any, aux: Any, output: Any) -> tuple[Any, Any]:
        mse = jnp.mean(jnp.square(target - aux))
        p = jnp.clip(output, 1e-7, 1.0 - 1e-7)
        bce = -jnp.mean(target * jnp.log(p) + (1.0 - target) * jnp.log(1.0 - p))
        return mse + bce, jnp.mean(jnp.abs(target - output))

    return terms


def torch_terms() -> Terms:
    """The same in ``torch.nn.functional`` (its binary cross-entropy clamps the log at -100, not p at 1e-7:
    equal for these sigmoid outputs, asserted)."""
    import torch.nn.functional as F

    def terms(target: Any, aux: Any, output: Any) -> tuple[Any, Any]:
        return F.mse_loss(aux, target) + F.binary_cross_entropy(output, target), F.l1_loss(output, target)

    return terms


HAND_WRITTEN = {"tensorflow": tensorflow_terms, "jax": jax_terms, "torch": torch_terms}


def build_hand_written(backend: str, log_terms: bool = False, seed: int = 0) -> Any:
    """The seed's layers as one model with outputs ``{"deconv1", "output"}`` and the loss in ``compute_loss``.

    With ``log_terms``, ``compute_loss`` also logs each term with ``keras.metrics.Mean``, as ``attach`` does.
    """
    import keras

    terms = HAND_WRITTEN[backend]()

    class HandWritten(keras.Model):
        """mse(y, deconv1) + bce(y, output) + 0.5 * mae(y, output), in ``compute_loss``."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.term_metrics = [keras.metrics.Mean(name=name) for name in TERMS] if log_terms else []

        def compute_loss(
            self, x: Any = None, y: Any = None, y_pred: Any = None, sample_weight: Any = None, training: bool = True
        ) -> Any:
            mse_bce, mae = terms(y["output"], y_pred["deconv1"], y_pred["output"])
            if self.term_metrics:
                batch = keras.ops.shape(x)[0]
                for metric, value in zip(self.term_metrics, (mse_bce, mae, 0.5 * mae), strict=True):
                    metric.update_state(value, sample_weight=batch)
            return mse_bce + 0.5 * mae

    keras.utils.set_random_seed(seed)
    image = keras.Input((SIZE, SIZE, 3), name="image")
    deconv1, output = _example()._layers(image)
    return HandWritten(image, {"deconv1": deconv1, "output": output}, name="seed004_hand_written")


def batch(seed: int = 0) -> tuple[Any, Any]:
    import numpy as np

    rng = np.random.default_rng(seed)
    images = rng.uniform(size=(BATCH, SIZE, SIZE, 3)).astype("float32")
    masks = (rng.uniform(size=(BATCH, SIZE, SIZE, 1)) > 0.5).astype("float32")
    return to_backend(images), to_backend({"output": masks})


def compiled_models(backend: str, mode: StepMode) -> tuple[Any, Any, Any, Any]:
    """The attached model, the hand-written one, the hand-written one logging each term like attach, and an
    identical copy of the hand-written one (the A/A control); same weights, same loss value (asserted)."""
    import numpy as np

    import lossreg

    model = _example().build_model(size=SIZE, seed=0)
    ours = lossreg.attach(model, SPEC)
    raw, logged = build_hand_written(backend), build_hand_written(backend, log_terms=True)
    copy = build_hand_written(backend)
    by_name = {layer.name: layer for layer in model.layers}
    images, targets = batch()
    for m in (raw, logged, copy):
        for layer in m.layers:
            if layer.name in by_name:
                layer.set_weights(by_name[layer.name].get_weights())
    results = []
    for m in (ours, raw, logged, copy):
        compile_for_steps(m, mode)
        results.append(m.evaluate(images, targets, batch_size=BATCH, verbose=0, return_dict=True))
    for name, result in zip(("hand-written", "hand-written + logging", "the copy"), results[1:], strict=True):
        np.testing.assert_allclose(results[0]["loss"], result["loss"], rtol=1e-5, err_msg=f"attach and {name} differ")
    for key in TERMS:
        np.testing.assert_allclose(results[0][key], results[2][key], rtol=1e-5, err_msg=f"{key}: logged terms differ")
    return ours, raw, logged, copy


def main(argv: Sequence[str] | None = None) -> list[Row]:
    args = parse_args(argv, __doc__.splitlines()[0], backend=True)
    repeats = 5 if args.quick else 31
    images, targets = batch()
    rows, details = [], []
    labels = {
        "lossreg": "attach",
        "raw": "hand-written",
        "logged": "hand-written + term logging",
        "copy": "hand-written copy (A/A)",
    }
    for mode in step_modes(args.backend):
        models = dict(zip(labels, compiled_models(args.backend, mode), strict=True))
        samples = time_steps({name: (m, images, targets) for name, m in models.items()}, repeats=repeats)
        common = {"backend": args.backend, "mode": mode, "api": "attach"}
        rows.append(
            step_row("attach: train step, seed 004 model + 2 terms", samples, "raw", 1.05, control="copy", **common)
        )
        rows.append(
            step_row(
                "attach vs hand-written logging the same 3 terms",
                samples,
                "logged",
                None,
                note="the baseline also updates one keras.metrics.Mean per logged term, as attach does",
                keep_samples=False,
                **{**common, "api": "attach (vs logging)"},
            )
        )
        details.append(f"{args.backend} {mode.label}: losses equal (rtol 1e-5); " + per_step_line(samples, labels))
    details.append(f"{args.backend}: {threads()}; libraries imported: {used_backends()}")
    report(rows, args.json, details)
    return rows


if __name__ == "__main__":
    main()
