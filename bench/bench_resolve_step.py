"""Training-step time of ``compile(loss=lossreg.resolve(spec))`` against hand-written losses in the backend's own ops.

The model is seed 003's two-output joint decoder (node logits ``(9, 5)``, pairwise logits ``(9, 9, 4)``),
built by ``lossreg._demo.build_joint_decoder`` as ``lossreg demo`` and ``examples/seed003_joint_decoder.py`` do.
lossreg: ``{"output_1": "softmax_ce", "output_2": {"loss": "band_masked_softmax_ce", "weight": 2.0}}``.
Baseline: the same model compiled with two plain loss functions written in the backend's own ops, as a user of
that backend would write them: the softmax cross-entropy on output_1, and seed 003's
``2 * mean(band_part(ce, 0, -1) - band_part(ce, 0, 0))`` (the strict upper triangle of the pairwise
cross-entropy, averaged over all pairs) on output_2 —

- TensorFlow: ``tf.nn.softmax_cross_entropy_with_logits`` and ``tf.linalg.band_part`` (the seed's own code);
- JAX: ``jax.nn.log_softmax`` and ``jnp.triu`` (optax is not installed; its ``softmax_cross_entropy`` is
  the same ``log_softmax`` sum);
- torch: ``torch.nn.functional.cross_entropy`` with class-probability targets and ``torch.triu``.

Both models start from the same weights; their losses are asserted equal before anything is timed. A third
model, an identical copy of the hand-written one, is timed alongside: the A/A control, whose ratio to the
baseline shows how far apart two equal models measure in this run (the noise floor of the ratio). Modes: on
TensorFlow graph (the default ``compile``, no XLA on a CPU-only machine) and ``jit_compile=True`` (XLA); on
JAX the jitted step (the default); on torch eager (the default; ``jit_compile=True`` would ``torch.compile``
the step, which takes minutes per model on this machine). One timed call is one optimizer step (Keras' own
train function on one batch, as ``fit`` calls it).

Run: ``python bench/bench_resolve_step.py --backend jax`` (default: ``KERAS_BACKEND``, else tensorflow;
``--quick`` for a smoke run).
"""

from __future__ import annotations

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

BATCH = 32
SPEC = {"output_1": "softmax_ce", "output_2": {"loss": "band_masked_softmax_ce", "weight": 2.0}}
Loss = Callable[[Any, Any], Any]


def tensorflow_losses() -> dict[str, Loss]:
    """Seed 003's raw TensorFlow."""
    import tensorflow as tf

    def output_1(y_true: Any, y_pred: Any) -> Any:
        return tf.nn.softmax_cross_entropy_with_logits(labels=y_true, logits=y_pred)

    def output_2(y_true: Any, y_pred: Any) -> Any:
        ce = tf.nn.softmax_cross_entropy_with_logits(labels=y_true, logits=y_pred)
        return 2.0 * tf.reduce_mean(tf.linalg.band_part(ce, 0, -1) - tf.linalg.band_part(ce, 0, 0))

    return {"output_1": output_1, "output_2": output_2}


def jax_losses() -> dict[str, Loss]:
    """The same in ``jax.numpy`` / ``jax.nn``."""
    import jax
    import jax.numpy as jnp

    def output_1(y_true: Any, y_pred: Any) -> Any:
        return -jnp.sum(y_true * jax.nn.log_softmax(y_pred, axis=-1), axis=-1)

    def output_2(y_true: Any, y_pred: Any) -> Any:
        ce = -jnp.sum(y_true * jax.nn.log_softmax(y_pred, axis=-1), axis=-1)
        return 2.0 * jnp.mean(jnp.triu(ce, k=1))  # triu of the last two axes: the strict upper triangle

    return {"output_1": output_1, "output_2": output_2}


def torch_losses() -> dict[str, Loss]:
    """The same in ``torch.nn.functional``."""
    import torch
    import torch.nn.functional as F

    def ce(y_true: Any, y_pred: Any) -> Any:
        classes = y_pred.shape[-1]
        flat = F.cross_entropy(y_pred.reshape(-1, classes), y_true.reshape(-1, classes), reduction="none")
        return flat.reshape(y_pred.shape[:-1])

    def output_2(y_true: Any, y_pred: Any) -> Any:
        return 2.0 * torch.mean(torch.triu(ce(y_true, y_pred), diagonal=1))

    return {"output_1": ce, "output_2": output_2}


HAND_WRITTEN = {"tensorflow": tensorflow_losses, "jax": jax_losses, "torch": torch_losses}


def batch(seed: int = 0) -> tuple[Any, dict[str, Any]]:
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(BATCH, 135)).astype("float32")
    y1 = np.eye(5, dtype="float32")[rng.integers(0, 5, (BATCH, 9))]
    y2 = np.eye(4, dtype="float32")[rng.integers(0, 4, (BATCH, 9, 9))]
    return to_backend(x), to_backend({"output_1": y1, "output_2": y2})


def compiled_models(backend: str, mode: StepMode) -> tuple[Any, Any, Any]:
    """Three models with the same weights, compiled with lossreg's losses, with the hand-written ones, and (the
    A/A control) with the hand-written ones again."""
    import numpy as np

    import lossreg
    from lossreg._demo import build_joint_decoder  # seed 003's model, as `lossreg demo` and examples/ build it

    ours, raw, copy = build_joint_decoder(), build_joint_decoder(), build_joint_decoder()
    raw.set_weights(ours.get_weights())
    copy.set_weights(ours.get_weights())
    compile_for_steps(ours, mode, loss=lossreg.resolve(SPEC, model=ours))
    compile_for_steps(raw, mode, loss=HAND_WRITTEN[backend]())
    compile_for_steps(copy, mode, loss=HAND_WRITTEN[backend]())
    x, y = batch()
    a = ours.evaluate(x, y, batch_size=BATCH, verbose=0, return_dict=True)
    for other in (raw, copy):
        b = other.evaluate(x, y, batch_size=BATCH, verbose=0, return_dict=True)
        for key in ("loss", "output_1_loss", "output_2_loss"):
            np.testing.assert_allclose(a[key], b[key], rtol=1e-5, err_msg=f"{key}: lossreg and hand-written differ")
    return ours, raw, copy


def main(argv: Sequence[str] | None = None) -> list[Row]:
    args = parse_args(argv, __doc__.splitlines()[0], backend=True)
    repeats = 5 if args.quick else 31
    x, y = batch()
    rows, details = [], []
    labels = {"lossreg": "lossreg", "raw": "hand-written", "copy": "hand-written copy (A/A)"}
    for mode in step_modes(args.backend):
        ours, raw, copy = compiled_models(args.backend, mode)
        samples = time_steps({"lossreg": (ours, x, y), "raw": (raw, x, y), "copy": (copy, x, y)}, repeats=repeats)
        rows.append(
            step_row(
                "resolve: train step, seed 003 model",
                samples,
                "raw",
                1.03,
                backend=args.backend,
                mode=mode,
                api="resolve",
                note=mode.why,
                control="copy",
            )
        )
        details.append(f"{args.backend} {mode.label}: losses equal (rtol 1e-5); " + per_step_line(samples, labels))
    details.append(f"{args.backend}: {threads()}; libraries imported: {used_backends()}")
    report(rows, args.json, details)
    return rows


if __name__ == "__main__":
    main()
