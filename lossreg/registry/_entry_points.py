"""Plugin discovery: losses from other distributions through the ``lossreg.losses`` entry-point group.

Each entry point's name is a loss name and its object is a loss: a pure function ``fn(y_true, y_pred, *,
param=default, ..., extra)`` or a factory (what ``lossreg.register`` takes; optional ``extras`` and
``summary`` attributes give its metadata).

This module only reads: ``scan`` returns one ``PluginRecord`` per entry point (never importing a plugin,
reading each distribution's metadata once) and ``load`` imports one plugin and returns its ``LossDef``.
Neither touches a registry; ``Registry`` applies the conflict rule to the records and holds them.

Isolation: a plugin that fails to import, raises while loading (even ``SystemExit``), has an invalid name,
or does not give a loss never breaks anything. Its record says why (``status``); ``load`` raises
``PluginLoadError`` naming the distribution, the entry point and the original exception, again on every
later call without re-running the plugin.
"""

from __future__ import annotations

import importlib.metadata
import re
import reprlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from lossreg._errors import LossSpecError, PluginLoadError
from lossreg.registry._lossdef import LossDef
from lossreg.registry._params import valid_extras
from lossreg.registry._static import static_metadata

__all__ = ["GROUP", "NAME_RE", "PluginEntryPoint", "PluginRecord", "installed_entry_points", "load", "scan"]

GROUP: Final = "lossreg.losses"
#: A registered loss name: ``name`` or ``distribution:name``.
NAME_RE: Final = re.compile(r"^([A-Za-z0-9_.\-]+:)?[A-Za-z_][A-Za-z0-9_.\-]*$")


@dataclass(frozen=True)
class PluginEntryPoint:
    """An entry point for ``lossreg.registry.Registry(entry_points=...)`` in tests: a loss ``name`` whose
    object is ``value`` (``"module:attribute"``), offered by ``distribution`` at ``version``."""

    name: str
    value: str
    distribution: str = "test-dist"
    version: str = "0.0"

    @property
    def dist(self) -> Any:
        return _Dist(self.distribution, self.version)


@dataclass(frozen=True)
class _Dist:
    name: str
    version: str


@dataclass
class PluginRecord:
    """One ``lossreg.losses`` entry point and what became of it."""

    name: str  # the entry point's name: the loss name the plugin asks for
    qualified: str  # "<distribution>:<name>", always registered
    distribution: str
    version: str
    value: str  # "module:attribute"
    status: str = "not loaded"  # "not loaded", "ok" or "failed: <why>"
    plain_name: bool = True  # whether the plain name reaches this plugin
    loss_def: LossDef | None = field(default=None, repr=False)
    error: PluginLoadError | None = field(default=None, repr=False)
    # summary and extras: from the loaded loss, else read from the source when first asked for (never for names())
    _metadata: tuple[str | None, tuple[str, ...] | None] | None = field(default=None, repr=False, compare=False)

    @property
    def registered_names(self) -> list[str]:
        """The names that reach this plugin's loss."""
        return [self.name, self.qualified] if self.plain_name else [self.qualified]

    @property
    def valid_name(self) -> bool:
        return bool(NAME_RE.match(self.qualified)) and ":" not in self.name

    def _read_metadata(self) -> tuple[str | None, tuple[str, ...] | None]:
        metadata = self._metadata
        if metadata is None:  # read once; two racing readers compute the same tuple
            metadata = self._metadata = static_metadata(self.value)
        return metadata

    @property
    def summary(self) -> str | None:
        """The loss's one-line summary (``None`` when the source does not tell and it is not loaded)."""
        return self._read_metadata()[0]

    @property
    def extras(self) -> tuple[str, ...] | None:
        """The extra tensors the loss takes (``None`` when the source does not tell and it is not loaded)."""
        return self._read_metadata()[1]

    @property
    def factory(self) -> Any:
        """The loaded factory (``None`` until loaded)."""
        return None if self.loss_def is None else self.loss_def.factory


def installed_entry_points() -> list[Any]:
    """The installed ``lossreg.losses`` entry points (``importlib.metadata``); raises what it raises."""
    return list(importlib.metadata.entry_points(group=GROUP))


def _distribution(ep: Any, seen: dict[int, tuple[str, str]]) -> tuple[str, str]:
    """Name and version of the distribution giving ``ep``, its metadata read once per distribution.

    ``ep.dist.name`` and ``ep.dist.version`` would each parse the distribution's metadata again; every entry
    point of one distribution shares one ``dist`` object, so ``seen`` (by its id) holds them for the scan.
    """
    dist = getattr(ep, "dist", None)
    if dist is None:
        return "unknown", "?"
    found = seen.get(id(dist))
    if found is None:
        try:
            metadata = dist.metadata  # one parse for both fields
            found = (metadata["Name"], metadata["Version"])
        except Exception:  # not an importlib.metadata.Distribution, or unreadable: ask it the usual way
            found = (dist.name, dist.version)
        seen[id(dist)] = found
    return found


def scan(source: Callable[[], Iterable[Any]]) -> tuple[list[PluginRecord], list[str]]:
    """One fresh record per entry point ``source()`` gives, and the problems met (as warning texts).

    Nothing is imported and nothing raises: unreadable entry points give no records and a problem; an
    entry point with an invalid loss name gives a record marked failed.
    """
    try:
        eps = list(source())
    except Exception as exc:  # a corrupt installed distribution must not break lossreg
        return [], [
            f"lossreg could not read the installed entry points ({type(exc).__name__}: {exc}); "
            "plugin losses are unavailable."
        ]
    records = []
    seen: dict[int, tuple[str, str]] = {}
    for ep in eps:
        dist, version = _distribution(ep, seen)
        record = PluginRecord(ep.name, f"{dist}:{ep.name}", dist, version, ep.value)
        if not record.valid_name:
            _fail(
                record,
                "invalid loss name",
                f"The {_where(record)} declares the loss name {ep.name!r}, which is not valid: expected letters, "
                "digits, '_', '.' or '-', starting with a letter or '_'. Rename the entry point.",
            )
            record.plain_name = False
        records.append(record)
    return records, []


# -- loading ----------------------------------------------------------------------------------------------


def _where(record: PluginRecord) -> str:
    return f"plugin distribution {record.distribution!r} {record.version}, entry point '{record.name} = {record.value}'"


def _fail(record: PluginRecord, why: str, message: str, cause: BaseException | None = None) -> PluginLoadError:
    error = PluginLoadError(message, distribution=record.distribution, entry_point=record.name)
    error.__cause__ = cause
    record.status = f"failed: {why}"
    record.error = error
    return error


def load(record: PluginRecord) -> LossDef:
    """Import the plugin's loss and read its ``LossDef``, once; a failure is remembered and raised again.

    The caller serialises calls (``Registry`` holds its loading lock), so a plugin is imported once.
    """
    if record.loss_def is not None:
        return record.loss_def
    if record.error is not None:
        raise record.error
    ep = importlib.metadata.EntryPoint(name=record.name, value=record.value, group=GROUP)
    fix = f"Fix or reinstall {record.distribution!r}, or uninstall it (`pip uninstall {record.distribution}`)."
    try:
        obj = ep.load()
    except (Exception, SystemExit) as exc:
        why = f"{type(exc).__name__}: {exc}"
        message = f"Could not load loss {record.name!r} from {_where(record)}: {why}. {fix}"
        raise _fail(record, why, message, exc) from exc
    if not callable(obj) or isinstance(obj, type):
        why = f"gives {type(obj).__name__} {reprlib.repr(obj)}, not a factory function"
        raise _fail(
            record,
            why,
            f"The {_where(record)} {why}: expected a loss function fn(y_true, y_pred, *, ...) or a function taking "
            f"keyword parameters and returning fn(y_true, y_pred, **extras). {fix}",
        )
    extras = getattr(obj, "extras", ())
    if not valid_extras(extras):
        why = f"invalid extras {reprlib.repr(extras)}"
        raise _fail(
            record,
            why,
            f"The factory of {_where(record)} has {why}: expected a tuple of distinct Python identifiers other "
            f"than 'y_true' and 'y_pred'. {fix}",
        )
    try:
        loss_def = LossDef.of(record.name, obj, record.distribution)
    except (LossSpecError, TypeError) as exc:
        why = f"{type(exc).__name__}: {exc}"
        raise _fail(record, why, f"The loss of {_where(record)} is not valid: {why}. {fix}", exc) from exc
    record._metadata = (loss_def.summary, loss_def.extras)
    record.loss_def = loss_def
    record.status = "ok"
    return loss_def
