"""Plugin discovery: losses from other distributions through the ``lossreg.losses`` entry-point group.

Each entry point's name is a loss name and its object is a factory (what ``lossreg.register`` takes);
optional ``extras`` and ``summary`` attributes on the factory give its metadata. Entry points are read
on first use, not at import, and a plugin's module is imported only when one of its losses is asked for.

Conflict rule: a plugin never replaces a name that lossreg, Keras or a user registration already holds,
and two plugins never replace each other. Every plugin loss is always reachable as
``"<distribution>:<name>"``; the plain ``"<name>"`` is given to a plugin only when nobody else claims it.
A conflict is warned about once per process.
"""

from __future__ import annotations

import importlib.metadata
import threading
import warnings
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from lossreg._errors import PluginLoadError

if TYPE_CHECKING:
    from lossreg._registry import Factory, Registry

__all__ = ["GROUP", "PluginRecord", "install", "records"]

GROUP: Final = "lossreg.losses"
_warned: set[str] = set()
_records: dict[str, PluginRecord] = {}
_lock = threading.Lock()


class LossregPluginWarning(UserWarning):
    """A plugin's loss name clashes with another loss; see the conflict rule in ``lossreg._plugins``."""


@dataclass
class PluginRecord:
    """One ``lossreg.losses`` entry point and what became of it."""

    name: str
    qualified: str
    distribution: str
    version: str
    value: str
    status: str = "not loaded"  # "ok", "failed: <why>" or "not loaded"
    plain_name: bool = True  # whether the plain name reaches this plugin


def records() -> list[PluginRecord]:
    """Every discovered plugin loss, in name order."""
    with _lock:
        return sorted(_records.values(), key=lambda r: r.qualified)


def _loader(ep: importlib.metadata.EntryPoint, record: PluginRecord) -> Factory:
    where = f"plugin distribution {record.distribution!r}, entry point '{ep.name} = {ep.value}'"
    try:
        obj = ep.load()
    except Exception as exc:
        record.status = f"failed: {type(exc).__name__}: {exc}"
        raise PluginLoadError(
            f"Could not load loss {record.name!r} from {where}: {type(exc).__name__}: {exc}. "
            f"Reinstall or fix that plugin, or uninstall {record.distribution!r}.",
            distribution=record.distribution,
            entry_point=ep.name,
        ) from exc
    if not callable(obj):
        record.status = f"failed: entry point gives {type(obj).__name__}, not a factory"
        raise PluginLoadError(
            f"The {where} gives {obj!r}, which is not a loss factory (a function taking keyword "
            "parameters and returning fn(y_true, y_pred, **extras)).",
            distribution=record.distribution,
            entry_point=ep.name,
        )
    record.status = "ok"
    return obj


def _warn_once(key: str, message: str) -> None:
    if key not in _warned:
        _warned.add(key)
        warnings.warn(message, LossregPluginWarning, stacklevel=4)


def install(registry: Registry) -> None:
    """Add every installed plugin loss to ``registry`` (lazily: nothing is imported here)."""
    from lossreg._registry import _Entry

    by_name: dict[str, list[tuple[importlib.metadata.EntryPoint, PluginRecord]]] = defaultdict(list)
    for ep in importlib.metadata.entry_points(group=GROUP):
        dist = ep.dist.name if ep.dist is not None else "unknown"
        version = ep.dist.version if ep.dist is not None else "?"
        qualified = f"{dist}:{ep.name}"
        with _lock:
            record = _records.get(qualified)
            if record is None or record.value != ep.value:
                record = PluginRecord(ep.name, qualified, dist, version, ep.value)
                _records[qualified] = record
        by_name[ep.name].append((ep, record))

    for name, claims in by_name.items():
        holder = registry._entries.get(name)
        plugin_sources = {r.distribution for _, r in claims}
        held_by_other = holder is not None and holder.source not in plugin_sources
        if held_by_other:
            dists = ", ".join(sorted(plugin_sources))
            _warn_once(
                f"{name}:{dists}",
                f"Plugin loss {name!r} from {dists} clashes with the {holder.source!r} loss of that name, "  # type: ignore[union-attr]
                f"which keeps it; reach the plugin's as "
                + " or ".join(repr(f"{d}:{name}") for d in sorted(plugin_sources))
                + ".",
            )
        elif len(claims) > 1:
            dists = ", ".join(sorted(plugin_sources))
            _warn_once(
                f"{name}:{dists}",
                f"Plugin loss {name!r} is provided by several distributions ({dists}); none takes the plain "
                "name. Use " + " or ".join(repr(r.qualified) for _, r in claims) + ".",
            )
            registry.remove(name)
        for ep, record in claims:
            record.plain_name = not held_by_other and len(claims) == 1

            def load(ep: importlib.metadata.EntryPoint = ep, record: PluginRecord = record) -> Factory:
                factory = _loader(ep, record)
                extras = tuple(getattr(factory, "extras", ()))
                for entry in (registry._entries.get(record.qualified), registry._entries.get(record.name)):
                    if entry is not None and entry.source == record.distribution:
                        entry.extras = extras
                return factory

            names = [record.qualified] + ([name] if record.plain_name else [])
            for registered in names:
                current = registry._entries.get(registered)
                if current is not None and current.source == record.distribution and current.factory is not None:
                    continue  # already loaded in an earlier scan
                registry.add(_Entry(name=registered, source=record.distribution, loader=load), override=True)
