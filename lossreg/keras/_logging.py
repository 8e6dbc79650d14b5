"""Per-term loss logging shared by ``attach()`` and ``LossLayer``: unweighted and weighted running means.

A term labelled ``x`` logs ``x_loss`` (unweighted) and, when its weight is not 1, ``x_weighted_loss``; a weight
that changes during training also logs ``x_weight``, the weight of the latest batch (so the figure after an epoch
is the weight in use at the optimizer's step count, not an average over the epoch).

``attach()`` updates its trackers in ``compute_loss``, where Keras lets every backend update metrics.
``LossLayer`` computes its terms in ``call``, where JAX's stateless forward pass cannot update a metric
(keras-team/keras#21639): its trackers keep their running sum and count as the layer's own non-trainable
variables, which every backend updates in a forward pass (as ``BatchNormalization``'s moving statistics).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from typing import Any, Final

import keras

__all__ = ["Latest", "LayerMean", "logged_sum", "safe_label", "term_trackers"]

_UNSAFE: Final = re.compile(r"[^A-Za-z0-9_.\-]")


def safe_label(text: str) -> str:
    """``text`` with every character TensorFlow refuses in a name scope or metric name replaced by ``_``."""
    return _UNSAFE.sub("_", text)


class _Sums:
    """A layer's running sum and count for one logged figure (a plain holder: a metric does not own them)."""

    def __init__(self, total: Any, count: Any) -> None:
        self.total, self.count = total, count


class LayerMean(keras.metrics.Metric):
    """A running mean whose sum and count are non-trainable variables of the layer that logs it.

    Updated in the layer's ``call``, it works where a ``keras.metrics.Mean`` cannot: inside JAX's stateless
    forward pass. Its variables are the layer's, not the metric's, so the layer's state carries them between
    steps on every backend. Inside a compiled JAX step the metric reads no layer state, so the per-batch
    figure there is NaN; the figure after each epoch (``History``, ``evaluate``) is exact.
    """

    def __init__(self, name: str, latest: bool = False) -> None:
        super().__init__(name=name, dtype="float32")
        self.latest = latest  # keep the latest value instead of the running mean
        # on-read sums, as Keras' own metric variables: each replica adds its share without a cross-replica
        # sync in the step (a synchronised update inside the forward pass upsets tf.distribute's loss scaling)
        self._sums = _Sums(
            *(
                keras.Variable(
                    0.0,
                    dtype="float32",
                    trainable=False,
                    aggregation="sum",
                    synchronization="on_read",
                    name=f"{name}_{part}",
                )
                for part in ("total", "count")
            )
        )

    @property
    def state(self) -> tuple[Any, Any]:
        """The running sum and count: variables for the owning layer to track as its own."""
        return self._sums.total, self._sums.count

    def update_state(self, values: Any, sample_weight: Any = None) -> None:
        weight = keras.ops.cast(1.0 if sample_weight is None else sample_weight, "float32")
        value = keras.ops.cast(keras.ops.stop_gradient(values), "float32")
        if self.latest:  # sum/count kept so that replicas' on-read sums still divide to the value
            self._sums.total.assign(value * weight)
            self._sums.count.assign(weight)
        else:
            self._sums.total.assign_add(value * weight)
            self._sums.count.assign_add(weight)

    def result(self) -> Any:
        if not _readable(self._sums.total):
            return keras.ops.convert_to_tensor(math.nan, "float32")
        return keras.ops.divide_no_nan(self._sums.total, self._sums.count)

    def reset_state(self) -> None:
        self._sums.total.assign(0.0)
        self._sums.count.assign(0.0)


class Latest(keras.metrics.Metric):
    """The latest value logged (a changing weight), as a metric: one variable, replaced each batch. Every replica
    holds the same weight, so under ``tf.distribute`` it reads as the first replica's."""

    def __init__(self, name: str) -> None:
        super().__init__(name=name, dtype="float32")
        self.value = self.add_variable(
            shape=(), initializer="zeros", dtype="float32", aggregation="only_first_replica", name="value"
        )

    def update_state(self, values: Any, sample_weight: Any = None) -> None:
        self.value.assign(keras.ops.cast(keras.ops.stop_gradient(values), "float32"))

    def result(self) -> Any:
        return keras.ops.convert_to_tensor(self.value)

    def reset_state(self) -> None:
        self.value.assign(0.0)


def _readable(variable: Any) -> bool:
    """Whether ``variable`` has a value here: always, except in a stateless scope that does not hold it."""
    from keras.src.backend import get_stateless_scope, in_stateless_scope

    return not in_stateless_scope() or get_stateless_scope().get_current_value(variable) is not None


def term_trackers(
    terms: Iterable[tuple[str, float, bool]], make: Callable[[str, bool], keras.metrics.Metric] | None = None
) -> list[keras.metrics.Metric]:
    """The trackers for ``(label, constant weight, changes)`` terms, in the order :func:`logged_sum` fills them.

    ``make(name, latest)`` builds one tracker (default: ``keras.metrics.Mean``, or :class:`Latest` for a weight).
    """
    build = make or (lambda name, latest: Latest(name) if latest else keras.metrics.Mean(name=name))
    trackers = []
    for label, weight, changes in terms:
        trackers.append(build(f"{label}_loss", False))
        if weight != 1.0 or changes:
            trackers.append(build(f"{label}_weighted_loss", False))
        if changes:
            trackers.append(build(f"{label}_weight", True))
    return trackers


def logged_sum(
    trackers: Iterable[keras.metrics.Metric], figures: Iterable[tuple[Any, Any, Any, bool]], batch: Any
) -> Any:
    """Log each term's figures and return the sum of the weighted terms.

    Args:
        trackers: from :func:`term_trackers`, for the same terms in the same order.
        figures: per term ``(unweighted mean, weight, weighted contribution, changes)``
            (``lossreg.keras._weights.weigh`` gives the middle two).
        batch: the number of samples the means are over (the trackers' sample weight).
    """
    slots = iter(trackers)
    total: Any = None
    for mean, weight, weighted, changes in figures:
        next(slots).update_state(mean, sample_weight=batch)
        if changes or weight != 1.0:
            next(slots).update_state(weighted, sample_weight=batch)
        if changes:
            next(slots).update_state(weight, sample_weight=batch)
        total = weighted if total is None else total + weighted
    return total
