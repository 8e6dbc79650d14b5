"""Compatibility: the registry moved to ``lossreg.registry``. Import from there; this module goes away."""

from __future__ import annotations

from collections.abc import Callable

from lossreg.registry import REGISTRY, LossDef, LossInfo, Param, Registry, describe, is_extra_name, names, register
from lossreg.registry._entry_points import NAME_RE as _NAME_RE  # noqa: F401  (old name)
from lossreg.registry._expects import Expects
from lossreg.registry._lossdef import Factory, LossFn
from lossreg.registry._table import Entry

__all__ = [
    "REGISTRY",
    "Factory",
    "LossFn",
    "LossInfo",
    "Param",
    "Registry",
    "describe",
    "is_extra_name",
    "names",
    "register",
]


def _Entry(  # the old class's name, for callers not yet switched to LossDef / Entry
    name: str,
    source: str,
    extras: tuple[str, ...] = (),
    factory: Factory | None = None,
    loader: Callable[[], Factory] | None = None,
    expects: Expects | None = None,
) -> Entry:
    """A table row as the old ``_Entry`` made it: a factory now, or a loader called on first lookup."""

    def make(obj: Factory) -> LossDef:
        loss_def = LossDef.of(name, obj, source, extras=extras or None)
        if expects is not None:
            loss_def.expects = expects
        return loss_def

    if factory is not None:
        return Entry(name, source, loss_def=make(factory))
    assert loader is not None
    return Entry(name, source, load=lambda: make(loader()))
