"""Per-term loss logging shared by ``attach()`` and ``LossLayer``: unweighted and weighted running means.

A term labelled ``x`` logs ``x_loss`` (unweighted) and, when its weight is not 1, ``x_weighted_loss``.

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

__all__ = ["LayerMean", "logged_sum", "safe_label", "term_trackers"]

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

    def __init__(self, name: str) -> None:
        super().__init__(name=name, dtype="float32")
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
        self._sums.total.assign_add(value * weight)
        self._sums.count.assign_add(weight)

    def result(self) -> Any:
        if not _readable(self._sums.total):
            return keras.ops.convert_to_tensor(math.nan, "float32")
        return keras.ops.divide_no_nan(self._sums.total, self._sums.count)

    def reset_state(self) -> None:
        self._sums.total.assign(0.0)
        self._sums.count.assign(0.0)


def _readable(variable: Any) -> bool:
    """Whether ``variable`` has a value here: always, except in a stateless scope that does not hold it."""
    from keras.src.backend import get_stateless_scope, in_stateless_scope

    return not in_stateless_scope() or get_stateless_scope().get_current_value(variable) is not None


def term_trackers(
    terms: Iterable[tuple[str, float]], make: Callable[[str], keras.metrics.Metric] | None = None
) -> list[keras.metrics.Metric]:
    """The trackers for ``(label, weight)`` terms, in the order :func:`logged_sum` fills them.

    ``make(name)`` builds one tracker (default: ``keras.metrics.Mean``).
    """
    build = make or (lambda name: keras.metrics.Mean(name=name))
    trackers = []
    for label, weight in terms:
        trackers.append(build(f"{label}_loss"))
        if weight != 1.0:
            trackers.append(build(f"{label}_weighted_loss"))
    return trackers


def logged_sum(trackers: Iterable[keras.metrics.Metric], means: Iterable[tuple[float, Any]], batch: Any) -> Any:
    """Log each term's mean, unweighted then (when its weight is not 1) weighted; return the weighted sum.

    Args:
        trackers: from :func:`term_trackers`, for the same terms in the same order.
        means: ``(weight, unweighted mean)`` for each term.
        batch: the number of samples the means are over (the trackers' sample weight).
    """
    slots = iter(trackers)
    total: Any = None
    for weight, value in means:
        next(slots).update_state(value, sample_weight=batch)
        if weight != 1.0:
            value = value * weight
            next(slots).update_state(value, sample_weight=batch)
        total = value if total is None else total + value
    return total
