"""Everything in lossreg that imports Keras: the ``Loss`` class, ``attach``, ``LossLayer``, ``inference_model``.

Keras is imported here before any adapter module, so importing an adapter first (``import
lossreg.keras._loss``) still meets Keras fully imported and every adapter in order.
"""

from __future__ import annotations

import keras  # noqa: F401  (first: every adapter below subclasses or registers with Keras)

from lossreg.keras._attach import AttachedModel, attach
from lossreg.keras._first_batch import check_first_batch
from lossreg.keras._inference import inference_model
from lossreg.keras._layer import LossLayer
from lossreg.keras._loss import RegisteredLoss, get, resolve
from lossreg.keras._metrics import TermMetric, term_metrics
from lossreg.keras._schedules import schedule_value

__all__ = [
    "AttachedModel",
    "LossLayer",
    "RegisteredLoss",
    "TermMetric",
    "attach",
    "check_first_batch",
    "get",
    "inference_model",
    "resolve",
    "schedule_value",
    "term_metrics",
]
