"""lossreg: named, serializable Keras losses from a small spec, with plugins.

Importing lossreg does not import TensorFlow; the Keras parts load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lossreg import _keras_hook, losses  # noqa: F401  (registers the built-ins; keeps lossreg.losses reachable)
from lossreg._errors import LossInputError, LossSpecError, PluginLoadError
from lossreg._version import __version__ as __version__  # pyproject.toml's, from the metadata
from lossreg.registry import LossInfo, Param, describe, loss_factory, names, ops, promote, register

if TYPE_CHECKING:
    from lossreg._attach import AttachedModel, attach
    from lossreg._inference import inference_model
    from lossreg._keras_loss import RegisteredLoss, get, resolve
    from lossreg._layers import LossLayer

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

_LAZY = {
    "AttachedModel": "lossreg._attach",
    "attach": "lossreg._attach",
    "inference_model": "lossreg._inference",
    "LossLayer": "lossreg._layers",
    "RegisteredLoss": "lossreg._keras_loss",
    "get": "lossreg._keras_loss",
    "resolve": "lossreg._keras_loss",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'lossreg' has no attribute {name!r}")
    import importlib

    # Keras first: its import hook then loads every adapter module in order. Importing an adapter first
    # would import Keras from inside it, and the hook would meet that adapter half-initialised.
    import keras  # noqa: F401

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


_keras_hook.install()
