"""lossreg: named, serializable Keras losses from a small spec, with plugins.

Importing lossreg does not import TensorFlow; the Keras parts load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lossreg import _keras_hook, losses
from lossreg._authoring import loss_factory, ops, promote
from lossreg._errors import LossInputError, LossSpecError, PluginLoadError
from lossreg._registry import LossInfo, Param, describe, names, register

if TYPE_CHECKING:
    from lossreg.keras._attach import AttachedModel, attach
    from lossreg.keras._inference import inference_model
    from lossreg.keras._layer import LossLayer
    from lossreg.keras._loss import RegisteredLoss, get, resolve

__all__ = [
    "AttachedModel",
    "LossInfo",
    "LossInputError",
    "LossLayer",
    "LossSpecError",
    "Param",
    "PluginLoadError",
    "RegisteredLoss",
    "attach",
    "describe",
    "get",
    "inference_model",
    "loss_factory",
    "names",
    "ops",
    "promote",
    "register",
    "resolve",
]
__version__ = "0.2.0"

_LAZY = {
    "AttachedModel": "lossreg.keras",
    "attach": "lossreg.keras",
    "inference_model": "lossreg.keras",
    "LossLayer": "lossreg.keras",
    "RegisteredLoss": "lossreg.keras",
    "get": "lossreg.keras",
    "resolve": "lossreg.keras",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'lossreg' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


_keras_hook.install()
del losses
