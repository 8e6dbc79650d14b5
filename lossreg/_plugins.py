"""Compatibility: plugin discovery moved to ``lossreg.registry``. Import from there; this module goes away."""

from __future__ import annotations

from lossreg.registry import GROUP, REGISTRY, LossregPluginWarning, PluginRecord, Registry, static_metadata

__all__ = ["GROUP", "LossregPluginWarning", "PluginRecord", "load_all", "owner", "records", "static_metadata"]


def records(registry: Registry | None = None) -> list[PluginRecord]:
    """``Registry.records`` of ``registry`` (default: lossreg's)."""
    return (registry or REGISTRY).records()


def owner(name: str, registry: Registry | None = None) -> PluginRecord | None:
    """``Registry.owner`` of ``registry`` (default: lossreg's)."""
    return (registry or REGISTRY).owner(name)


def load_all(registry: Registry | None = None) -> list[PluginRecord]:
    """``Registry.load_all`` of ``registry`` (default: lossreg's)."""
    return (registry or REGISTRY).load_all()
