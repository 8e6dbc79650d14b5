"""Register lossreg's Keras classes as soon as Keras is imported, without importing it ourselves.

``import lossreg`` must stay cheap (``lossreg list`` never loads TensorFlow), yet
``import lossreg; keras.models.load_model(path)`` must find lossreg's serializable classes. So at import
lossreg either imports its Keras adapters at once (Keras already loaded) or asks to be told when Keras
is imported, and imports them then.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from types import ModuleType
from typing import Final

__all__ = ["ADAPTER_MODULES", "install"]

#: Modules that define lossreg's Keras-serializable classes.
ADAPTER_MODULES: Final = ["lossreg.keras"]


def _import_adapters() -> None:
    for name in ADAPTER_MODULES:
        importlib.import_module(name)


class _AfterKerasImport(importlib.abc.MetaPathFinder):
    """A one-shot finder: lets Keras import as usual, then imports lossreg's adapters."""

    def find_spec(
        self, fullname: str, path: object = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "keras":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec("keras")
        loader = spec.loader if spec is not None else None
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        original = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            original(module)
            del loader.exec_module  # back to the class's method
            _import_adapters()

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def install() -> None:
    """Make sure lossreg's Keras classes are registered whenever Keras is (or gets) imported."""
    if "keras" in sys.modules:
        _import_adapters()
    elif not any(isinstance(f, _AfterKerasImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterKerasImport())
