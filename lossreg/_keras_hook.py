"""Register lossreg's Keras classes as soon as Keras is imported, without importing it ourselves.

``import lossreg`` must stay cheap (``lossreg list`` never loads TensorFlow), yet
``import lossreg; keras.models.load_model(path)`` must find lossreg's serializable classes. So at import
lossreg either imports its Keras package, :mod:`lossreg.keras`, at once (Keras already loaded) or asks to be
told when Keras is imported, and imports it then. ``lossreg.keras`` imports Keras before its adapters, so
the order never depends on which module a user imports first.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from types import ModuleType
from typing import Any, Final

__all__ = ["ADAPTERS", "install"]

#: The package holding lossreg's Keras-serializable classes.
ADAPTERS: Final = "lossreg.keras"


class _ThenAdapters(importlib.abc.Loader):
    """Keras' own loader, wrapped: runs it, then imports lossreg's adapters; on failure, re-arms the hook."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        try:
            self._loader.exec_module(module)
        except BaseException:
            _arm()  # Keras did not import (still in sys.modules until this raises): watch for the next attempt
            raise
        importlib.import_module(ADAPTERS)  # a no-op when lossreg.keras is what is importing Keras

    def __getattr__(self, name: str) -> Any:  # resource readers, is_package, ... as Keras' loader has them
        return getattr(self._loader, name)


class _AfterKerasImport(importlib.abc.MetaPathFinder):
    """A one-shot finder: finds Keras as usual and hands back its spec with the wrapping loader.

    It stays armed while Keras cannot be found, and :class:`_ThenAdapters` re-arms it if Keras fails to import.
    """

    def __init__(self) -> None:
        self._finding = False

    def find_spec(
        self, fullname: str, path: object = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "keras" or self._finding:
            return None
        self._finding = True  # find Keras with the other finders: this one answers None meanwhile
        try:
            spec = importlib.util.find_spec("keras")
        finally:
            self._finding = False
        if spec is None:
            return None
        sys.meta_path.remove(self)
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _ThenAdapters(spec.loader)
        return spec


def _arm() -> None:
    if not any(isinstance(f, _AfterKerasImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterKerasImport())


def install() -> None:
    """Make sure lossreg's Keras classes are registered whenever Keras is (or gets) imported."""
    if "keras" in sys.modules:
        importlib.import_module(ADAPTERS)
    else:
        _arm()
