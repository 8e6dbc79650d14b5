"""lossreg: named, serializable Keras losses from a small spec, with plugins.

Importing lossreg does not import TensorFlow; the Keras parts load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lossreg import _keras_hook, losses  # noqa: F401  (registers the built-ins; keeps lossreg.losses reachable)
from lossreg._errors import LossInputError, LossSpecError, PluginLoadError
from lossreg._version import __version__ as __version__  # pyproject.toml's, from the metadata
from lossreg.registry import (
    DENSE_INPUTS,
    LossInfo,
    Param,
    class_weight_vector,
    describe,
    keep_mask,
    loss_factory,
    masked_values,
    names,
    ops,
    promote,
    register,
    zero_ignored,
)

if TYPE_CHECKING:
    from lossreg.keras import (
        AttachedModel,
        LossLayer,
        RegisteredLoss,
        TermMetric,
        attach,
        check_first_batch,
        get,
        inference_model,
        resolve,
        schedule_value,
        term_metrics,
    )

__all__ = [
    "DENSE_INPUTS",
    "AttachedModel",
    "LossInfo",
    "LossInputError",
    "LossLayer",
    "LossSpecError",
    "Param",
    "PluginLoadError",
    "RegisteredLoss",
    "TermMetric",
    "attach",
    "check_first_batch",
    "class_weight_vector",
    "describe",
    "get",
    "inference_model",
    "keep_mask",
    "loss_factory",
    "masked_values",
    "names",
    "ops",
    "promote",
    "register",
    "resolve",
    "schedule_value",
    "term_metrics",
    "zero_ignored",
]

#: Names that live in :mod:`lossreg.keras`, loaded on first use (it imports Keras, then its adapters).
_KERAS_NAMES = frozenset(
    {
        "AttachedModel",
        "LossLayer",
        "RegisteredLoss",
        "attach",
        "check_first_batch",
        "get",
        "inference_model",
        "resolve",
        "schedule_value",
        "term_metrics",
        "TermMetric",
    }
)


def __getattr__(name: str) -> Any:
    if name not in _KERAS_NAMES:
        raise AttributeError(f"module 'lossreg' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module("lossreg.keras"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


_keras_hook.install()
