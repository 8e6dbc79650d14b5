"""Per-term loss logging shared by ``attach()`` and ``LossLayer``: unweighted and weighted ``Mean`` trackers.

A term labelled ``x`` logs ``x_loss`` (unweighted) and, when its weight is not 1, ``x_weighted_loss``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Final

import keras

__all__ = ["logged_sum", "safe_label", "term_trackers"]

_UNSAFE: Final = re.compile(r"[^A-Za-z0-9_.\-]")


def safe_label(text: str) -> str:
    """``text`` with every character TensorFlow refuses in a name scope or metric name replaced by ``_``."""
    return _UNSAFE.sub("_", text)


def term_trackers(terms: Iterable[tuple[str, float]]) -> list[keras.metrics.Mean]:
    """The trackers for ``(label, weight)`` terms, in the order :func:`logged_sum` fills them."""
    trackers = []
    for label, weight in terms:
        trackers.append(keras.metrics.Mean(name=f"{label}_loss"))
        if weight != 1.0:
            trackers.append(keras.metrics.Mean(name=f"{label}_weighted_loss"))
    return trackers


def logged_sum(trackers: Iterable[keras.metrics.Mean], means: Iterable[tuple[float, Any]], batch: Any) -> Any:
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
