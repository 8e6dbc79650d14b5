"""Training-step time of ``lossreg.attach`` with weights that change (issue 11) against the same with constant weights.

The model is seed 004's decoder from ``examples/seed004_intermediate.py``, as in ``bench_attach_step.py``, with
one entry of two terms, ``mse_bce`` (``aux`` from the layer ``deconv1``) and ``mae`` on ``output``. Three
weightings of the same two terms, each its own attached model from the same initial weights:

- **constant** (the baseline)::

    {"complex": {"loss": [{"loss": "mse_bce"}, {"loss": "mae", "weight": 0.5}], "on": "output",
                 "inputs": {"aux": "deconv1"}}}

- **linear schedule** on the ``mae`` term: ``"weight": {"schedule": "linear", "start": 0.5, "end": 1.0,
  "steps": 1000000}`` (so the two compute the same loss at step 0, asserted). Per step it adds the step
  counter's increment, the schedule's formula (a few scalar ops) and the ``complex_mae_weight`` log.
- **uncertainty** on both terms: ``{"learned": "uncertainty"}`` and ``{"learned": "uncertainty", "init": log 2}``
  (weights 1 and 0.5 at the start, so its loss is the constant one plus ``log 2``, asserted). Per step it adds
  ``exp(-s)`` and ``+ s`` per term, two trainable scalars for the optimizer (Adam: four more slots), the step
  counter and two weight logs.

Target: **≤ 1.02 for the schedule** against constant weights (a schedule's cost is a few scalar ops a step);
uncertainty weighting is reported without a target. An identical copy of the constant model is timed
alongside as the A/A control (how far apart two equal models measure in this run). Modes as in the other step
benchmarks: TensorFlow graph and XLA, JAX jit, torch eager. One timed call is one optimizer step (Keras' train
function on one batch).

Run: ``python bench/bench_weights_step.py --backend jax`` (default: ``KERAS_BACKEND``, else tensorflow;
``--quick`` for a smoke run).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
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
SCHEDULE_TARGET = 1.02
LOG2 = math.log(2.0)


def spec(first: Any, second: Any) -> dict[str, Any]:
    """The two-term entry with the given weights (``mse_bce``'s and ``mae``'s)."""
    return {
        "complex": {
            "loss": [{"loss": "mse_bce", "weight": first}, {"loss": "mae", "weight": second}],
            "on": "output",
            "inputs": {"aux": "deconv1"},
        }
    }


SPECS = {
    "constant": spec(1.0, 0.5),
    "schedule": spec(1.0, {"schedule": "linear", "start": 0.5, "end": 1.0, "steps": 1_000_000}),
    "uncertainty": spec({"learned": "uncertainty"}, {"learned": "uncertainty", "init": LOG2}),
}


def _example() -> Any:
    """examples/seed004_intermediate.py: the seed's network, built there."""
    from pathlib import Path

    examples = str(Path(__file__).resolve().parent.parent / "examples")
    if examples not in sys.path:
        sys.path.insert(0, examples)
    import seed004_intermediate

    return seed004_intermediate


def batch(seed: int = 0) -> tuple[Any, Any]:
    import numpy as np

    rng = np.random.default_rng(seed)
    images = rng.uniform(size=(BATCH, SIZE, SIZE, 3)).astype("float32")
    masks = (rng.uniform(size=(BATCH, SIZE, SIZE, 1)) > 0.5).astype("float32")
    return to_backend(images), to_backend({"output": masks})


def compiled_models(mode: StepMode) -> dict[str, Any]:
    """The attached models (constant, schedule, uncertainty, and a copy of constant), from the same initial
    weights, compiled for ``mode``; their losses before training asserted to be what the weights say."""
    import numpy as np

    import lossreg

    images, targets = batch()
    models = {}
    for name, weights in (*SPECS.items(), ("copy", SPECS["constant"])):
        models[name] = lossreg.attach(_example().build_model(size=SIZE, seed=0), weights)
        compile_for_steps(models[name], mode)
    logs = {
        name: m.evaluate(images, targets, batch_size=BATCH, verbose=0, return_dict=True) for name, m in models.items()
    }
    constant = logs["constant"]
    for name in ("schedule", "copy"):  # the schedule is 0.5 at step 0, as the constant weight
        np.testing.assert_allclose(logs[name]["loss"], constant["loss"], rtol=1e-5, err_msg=name)
    np.testing.assert_allclose(logs["schedule"]["complex_mae_weight"], 0.5, rtol=1e-6)
    # uncertainty at its init: exp(-0) L1 + 0 + exp(-log 2) L2 + log 2, the constant loss plus log 2
    np.testing.assert_allclose(logs["uncertainty"]["loss"], constant["loss"] + LOG2, rtol=1e-5)
    return models


def main(argv: Sequence[str] | None = None) -> list[Row]:
    args = parse_args(argv, __doc__.splitlines()[0], backend=True)
    repeats = 5 if args.quick else 31
    images, targets = batch()
    rows, details = [], []
    labels = {
        "constant": "constant weights",
        "schedule": "linear schedule",
        "uncertainty": "uncertainty",
        "copy": "constant copy (A/A)",
    }
    for mode in step_modes(args.backend):
        models = compiled_models(mode)
        samples = time_steps({name: (models[name], images, targets) for name in labels}, repeats=repeats)
        common = {"backend": args.backend, "mode": mode, "control": "copy"}
        for name, api, target in (
            ("schedule", "linear schedule", SCHEDULE_TARGET),
            ("uncertainty", "uncertainty", None),
        ):
            rows.append(
                step_row(
                    f"attach, {api} vs constant weights: train step, seed 004 model + 2 terms",
                    {**samples, "lossreg": samples[name]},
                    "constant",
                    target,
                    api=api,
                    **common,
                )
            )
        details.append(
            f"{args.backend} {mode.label}: losses as the weights say (rtol 1e-5); " + per_step_line(samples, labels)
        )
    details.append(f"{args.backend}: {threads()}; libraries imported: {used_backends()}")
    report(rows, args.json, details)
    return rows


if __name__ == "__main__":
    main()
