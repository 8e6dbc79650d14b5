"""The schedule formulas: a weight as a function of the training step (or epoch), in ``keras.ops``.

``t`` counts training batches from 1 (the first batch of training is step 1, so after ``k`` steps
``optimizer.iterations == k`` and the weight in use is the schedule at ``k``); in epochs, ``t`` is the
epoch the batch is in, from 1. Before any training (``evaluate`` on a fresh model) ``t`` is 0.

- ``linear``: ``start + (end - start) * p`` with ``p = clip((t - delay) / steps, 0, 1)``.
- ``cosine``: ``end + (start - end) * (1 + cos(pi * p)) / 2``, ``p`` as for linear.
- ``logistic`` (Bowman et al. 2016's KL annealing): ``start + (end - start) / (1 + exp(-rate * (t - midpoint)))``.
- ``piecewise``: ``values[i]`` with ``i`` the number of boundaries ``< t`` (``values[0]`` while ``t <= boundaries[0]``,
  as ``keras.optimizers.schedules.PiecewiseConstantDecay``).
- ``cyclical`` (Fu et al. 2019): ``tau = mod(t - 1, ceil(steps / cycles)) / (steps / cycles)``, then
  ``start + (end - start) * min(tau / ratio, 1)``: each cycle rises linearly for ``ratio`` of its length and holds
  ``end`` for the rest; cycles repeat past ``steps``. ``t <= 1`` gives ``start``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import keras

from lossreg.spec import Problems, Schedule
from lossreg.spec._weights import read_changing

__all__ = ["schedule_at", "schedule_value"]


def schedule_at(schedule: Schedule, t: Any) -> Any:
    """The schedule's value at step (or epoch) ``t``: a float32 scalar tensor. The one place each formula is written."""
    ops = keras.ops
    t = ops.cast(t, "float32")
    p = schedule.params
    if schedule.kind == "linear":  # start + (end - start) * p, folded into one line clipped to its ends (3 ops)
        slope = (p["end"] - p["start"]) / p["steps"]
        low, high = sorted((p["start"], p["end"]))
        return ops.clip(t * slope + (p["start"] - slope * p["delay"]), low, high)
    if schedule.kind == "cosine":
        progress = ops.clip(t * (1.0 / p["steps"]) - p["delay"] / p["steps"], 0.0, 1.0)
        half = 0.5 * (p["start"] - p["end"])
        return ops.cos(math.pi * progress) * half + (p["end"] + half)
    if schedule.kind == "logistic":
        return p["start"] + (p["end"] - p["start"]) * ops.sigmoid(p["rate"] * (t - p["midpoint"]))
    if schedule.kind == "piecewise":
        passed = ops.sum(ops.cast(ops.greater(t, ops.convert_to_tensor(p["boundaries"], "float32")), "int32"))
        return ops.take(ops.convert_to_tensor(p["values"], "float32"), passed)
    # cyclical
    length = p["steps"] / p["cycles"]
    tau = ops.mod(ops.maximum(t, 1.0) - 1.0, float(math.ceil(length))) / length
    return p["start"] + (p["end"] - p["start"]) * ops.minimum(tau / p["ratio"], 1.0)


def schedule_value(weight: Mapping[str, Any], step: int | float) -> float:
    """The value of a scheduled ``weight`` (spec data) at ``step``: what training uses at that step.

    Args:
        weight: a schedule as written in a spec, e.g. ``{"schedule": "linear", "steps": 2000, "delay": 500}``.
        step: the training step (or epoch, for ``"unit": "epoch"``), counted from 1; 0 is before training.

    Raises:
        LossSpecError: for an invalid schedule (naming ``weight['...']``) or a learned weight.

    Examples:
        >>> import lossreg
        >>> lossreg.schedule_value({"schedule": "linear", "start": 0.0, "end": 1.0, "steps": 100}, 25)
        0.25
    """
    import numbers

    from lossreg._errors import LossSpecError, short_repr

    if isinstance(weight, Mapping) and "learned" in weight and "schedule" not in weight:
        raise LossSpecError(
            "schedule_value() takes a schedule; a learned weight has no fixed value per step (read it from the "
            "trained model's logs, '<term>_weight').",
            path="weight",
        )
    if not isinstance(weight, Mapping):
        raise LossSpecError(
            "schedule_value() takes a schedule such as {'schedule': 'linear', 'steps': 2000}; received "
            f"{short_repr(weight)}.",
            path="weight",
        )
    if isinstance(step, bool) or not isinstance(step, numbers.Real) or not 0 <= float(step) < math.inf:
        raise LossSpecError(
            f"Expected a step: a finite number >= 0 (1 for the first training batch); received {short_repr(step)}.",
            path="step",
        )
    schedule = read_changing(weight, "weight", Problems())  # the grammar's message for anything else
    assert isinstance(schedule, Schedule)  # a raising collector has raised otherwise
    return float(keras.ops.convert_to_numpy(schedule_at(schedule, step)))
