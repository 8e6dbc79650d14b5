"""Per-term loss logging shared by ``attach()`` and ``LossLayer``: unweighted and weighted ``Mean`` trackers.

A term labelled ``x`` logs ``x_loss`` (unweighted) and, when its weight is not 1, ``x_weighted_loss``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any, Final

import keras

__all__ = ["log_term", "safe_label", "term_trackers"]

_UNSAFE: Final = re.compile(r"[^A-Za-z0-9_.\-]")


def safe_label(text: str) -> str:
    """``text`` with every character TensorFlow refuses in a name scope or metric name replaced by ``_``."""
    return _UNSAFE.sub("_", text)


def term_trackers(terms: Iterable[tuple[str, float]]) -> list[keras.metrics.Mean]:
    """The trackers for ``(label, weight)`` terms, in the order :func:`log_term` fills them."""
    trackers = []
    for label, weight in terms:
        trackers.append(keras.metrics.Mean(name=f"{label}_loss"))
        if weight != 1.0:
            trackers.append(keras.metrics.Mean(name=f"{label}_weighted_loss"))
    return trackers


def log_term(trackers: Iterator[keras.metrics.Mean], value: Any, weight: float, batch: Any, scale: Any = 1) -> Any:
    """Log one term's value (times ``scale``) and its weighted value; return the weighted value."""
    next(trackers).update_state(value * scale, sample_weight=batch)
    if weight != 1.0:
        value = value * weight
        next(trackers).update_state(value * scale, sample_weight=batch)
    return value
