"""The registry: one table of named losses (lossreg's, Keras', users' and plugins'), one lock.

Each row (``Entry``) is a registered name with its ``LossDef``, or, for a plugin loss not yet loaded, the
``PluginRecord`` it loads from. Plugin entry points are read on first use (``names()``, a lookup), not at
``import lossreg``, and again whenever a name is not found, so a plugin installed later is seen. A plugin is
imported only when one of its losses is looked up.

Locks, and their order:

* ``_lock`` guards the table: the entries, the plugin records, which warnings were given, whether the entry
  points were read. It is held only for short reads and writes (and one entry-point scan), never while
  anything is imported or a warning is emitted.
* ``_loading`` is held while a loss loads (a plugin module is imported), so each loads once; a thread
  holding it may take ``_lock`` (a plugin module may call ``register``), never the other way round.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, TypeVar

from lossreg._errors import LossSpecError, PluginLoadError, did_you_mean, short_repr
from lossreg.registry._conflict import LossregPluginWarning, Ruling, conflict_rule
from lossreg.registry._entry_points import NAME_RE, PluginRecord, installed_entry_points, load, scan
from lossreg.registry._expects import Expects
from lossreg.registry._lossdef import Factory, LossDef, LossInfo

__all__ = ["REGISTRY", "Entry", "Registry"]

F = TypeVar("F", bound=Callable[..., Any])


class Entry:
    """A registered name: its ``LossDef``, or a way to get it on first lookup (a plugin's record)."""

    __slots__ = ("_def", "_load", "name", "record", "source")

    def __init__(
        self,
        name: str,
        source: str,
        *,
        loss_def: LossDef | None = None,
        load: Callable[[], LossDef] | None = None,
        record: PluginRecord | None = None,
    ) -> None:
        self.name, self.source, self.record = name, source, record
        self._def, self._load = loss_def, load

    @property
    def loss_def(self) -> LossDef | None:
        """The ``LossDef``, or ``None`` while not loaded (a plugin ``lossreg list`` must not import)."""
        return self._def

    @property
    def factory(self) -> Factory | None:
        return None if self._def is None else self._def.factory

    @property
    def extras(self) -> tuple[str, ...]:
        """The extras: the loaded loss's, else read from the plugin's source (``()`` when it does not tell)."""
        if self._def is not None:
            return self._def.extras
        return (self.record.extras or ()) if self.record is not None else ()


def _plugin_entry(name: str, record: PluginRecord) -> Entry:
    def load_plugin() -> LossDef:
        loss_def = load(record)
        return loss_def if name == loss_def.name else loss_def.renamed(name)

    return Entry(name, record.distribution, load=load_plugin, record=record)


class Registry:
    """Named losses from lossreg, Keras and plugins; safe to use from several threads.

    ``lossreg.registry.REGISTRY`` is lossreg's. A new ``Registry()`` is an isolated one, for tests and tools,
    with no built-ins: register losses into it and give it the plugins to see, as stevedore's
    ``make_test_instance`` does.

    Args:
        entry_points: the ``lossreg.losses`` entry points to read: ``None`` for the installed ones
            (``importlib.metadata``), a list (e.g. of ``lossreg.registry.PluginEntryPoint``), or a function
            returning one, called at every scan (so a test can "install" a plugin later).

    Examples:
        >>> from lossreg.registry import PluginEntryPoint, Registry
        >>> plugin = PluginEntryPoint("soft_dice", "lossreg_segmentation.losses:soft_dice_factory")
        >>> registry = Registry(entry_points=[plugin])
        >>> registry.names()
        ['soft_dice', 'test-dist:soft_dice']
    """

    def __init__(self, *, entry_points: Iterable[Any] | Callable[[], Iterable[Any]] | None = None) -> None:
        self._lock = threading.RLock()
        self._loading = threading.RLock()
        self._entries: dict[str, Entry] = {}
        self._records: dict[str, PluginRecord] = {}  # by qualified name: every plugin loss ever scanned
        self._warned: set[str] = set()
        self._scanned = False
        if entry_points is None:
            self._source: Callable[[], Iterable[Any]] = installed_entry_points
        elif callable(entry_points):
            self._source = entry_points
        else:
            fixed = list(entry_points)
            self._source = lambda: fixed

    # -- writing -------------------------------------------------------------------------------------------
    def add(self, item: LossDef | Entry, *, override: bool = False) -> None:
        """Register a ``LossDef`` (or a lazily loaded ``Entry``); a taken name is refused unless ``override``."""
        entry = item if isinstance(item, Entry) else Entry(item.name, item.source, loss_def=item)
        _check_name(entry.name)
        message = None
        with self._lock:
            taken = self._entries.get(entry.name)
            if taken is not None and not override:
                if taken.record is None or ":" in entry.name:
                    raise LossSpecError(
                        f"Loss name {entry.name!r} is already registered by {taken.source!r}; "
                        f"{entry.source!r} tried to register it again. Pass override=True to replace it, "
                        "or choose another name."
                    )
                message = self._once(conflict_rule(entry.name, [taken.source], entry.source, late=True))
                for record in self._records.values():
                    if record.name == entry.name:
                        record.plain_name = False
            self._entries[entry.name] = entry
        if message is not None:
            _warn(message)

    def remove(self, name: str) -> None:
        """Forget a registered name (used by tests and by ``override`` clean-ups)."""
        with self._lock:
            self._entries.pop(name, None)

    def register(
        self,
        name: str,
        *,
        extras: Iterable[str] = (),
        override: bool = False,
        shapes: Mapping[str, str] | None = None,
        targets: str | None = None,
        from_logits: bool | str | None = None,
        validate: Callable[..., object] | None = None,
    ) -> Callable[[F], F]:
        """The decorator behind ``lossreg.register``: registers a loss function or a factory, returned as is."""
        if isinstance(extras, str):
            raise LossSpecError(
                f"lossreg.register({name!r}, extras={extras!r}): extras is a list of names, e.g. extras=({extras!r},)."
            )
        extras = tuple(extras)
        # a malformed declaration fails here, at once; whether each shape names one of the loss's tensors is known
        # when the loss is given (a loss function's extras are its keyword-only parameters without defaults)
        named = tuple(k for k in shapes if k not in ("y_true", "y_pred")) if isinstance(shapes, Mapping) else ()
        Expects.declare(str(name), extras or named, shapes, targets, from_logits)

        def decorator(obj: F) -> F:
            if isinstance(name, str) and ":" in name:
                raise LossSpecError(
                    f"Invalid loss name {name!r}: ':' is reserved for plugin losses reached as "
                    "'distribution:name'. Choose a name without ':'."
                )
            _check_name(name)
            module = getattr(obj, "__module__", None) or "__main__"
            source = "lossreg" if module.startswith("lossreg.") else module
            loss_def = LossDef.of(
                name,
                obj,
                source,
                extras=extras,
                validate=validate,
                shapes=shapes,
                targets=targets,
                from_logits=from_logits,
            )
            self.add(loss_def, override=override)
            return obj

        return decorator

    # -- plugins ---------------------------------------------------------------------------------------------
    def _once(self, ruling: Ruling) -> str | None:
        """``ruling``'s warning if not given before by this registry (call with ``_lock`` held)."""
        if ruling.message is None or ruling.key in self._warned:
            return None
        self._warned.add(ruling.key or ruling.message)
        return ruling.message

    def _scan(self) -> list[str]:
        """Read the entry points and apply the conflict rule (call with ``_lock`` held); the warnings to give."""
        found, messages = scan(self._source)
        by_name: dict[str, list[PluginRecord]] = defaultdict(list)
        for fresh in found:
            record = self._records.get(fresh.qualified)
            if record is None or record.value != fresh.value or record.version != fresh.version:
                record = self._records[fresh.qualified] = fresh  # new, or changed: loaded afresh
            if record.valid_name:
                by_name[record.name].append(record)
        for name, claims in by_name.items():
            holder = self._entries.get(name)
            registered = holder.source if holder is not None and holder.record is None else None
            ruling = conflict_rule(name, [r.distribution for r in claims], registered)
            message = self._once(ruling)
            if message is not None:
                messages.append(message)
            for record in claims:
                record.plain_name = registered is None and ruling.winner == record.distribution
            if holder is not None and holder.record is not None and not any(r.plain_name for r in claims):
                del self._entries[name]
            for record in claims:
                for registered_name in record.registered_names:
                    current = self._entries.get(registered_name)
                    if current is None or current.record is not record:
                        self._entries[registered_name] = _plugin_entry(registered_name, record)
        self._scanned = True
        return messages

    def rescan_plugins(self) -> None:
        """Read the installed entry points again (new plugins become visible)."""
        with self._lock:
            messages = self._scan()
        for message in messages:  # after the table is consistent, so `-W error` cannot leave it half-built
            _warn(message)

    def _ensure_scanned(self) -> None:
        if not self._scanned:
            with self._lock:
                messages = [] if self._scanned else self._scan()
            for message in messages:
                _warn(message)

    def records(self) -> list[PluginRecord]:
        """Every discovered plugin loss, in qualified-name order."""
        self._ensure_scanned()
        with self._lock:
            return sorted(self._records.values(), key=lambda r: r.qualified)

    def owner(self, name: str) -> PluginRecord | None:
        """The plugin record behind registered name ``name``, or ``None`` when no plugin provides it."""
        self._ensure_scanned()
        with self._lock:
            entry = self._entries.get(name)
        return None if entry is None else entry.record

    def load_all(self) -> list[PluginRecord]:
        """Load every plugin loss (importing the plugins), recording failures instead of raising."""
        records = self.records()
        with self._loading:
            for record in records:
                if record.status == "not loaded":
                    with contextlib.suppress(PluginLoadError):  # recorded in the record's status
                        load(record)
        return records

    # -- reading ---------------------------------------------------------------------------------------------
    def names(self) -> list[str]:
        """Sorted names of every registered loss."""
        self._ensure_scanned()
        with self._lock:
            return sorted(self._entries)

    def entry(self, name: Any, *, path: str | None = None) -> Entry:
        """The table row of ``name``, without loading it; an unknown name is a ``LossSpecError`` at ``path``
        with the closest names (entry points are read again first: a plugin installed since is found)."""
        if not isinstance(name, str):
            raise LossSpecError(
                f"Expected a loss name (a string), received {type(name).__name__} {short_repr(name)}.", path=path
            )
        self._ensure_scanned()
        with self._lock:
            found = self._entries.get(name)
        if found is None:
            self.rescan_plugins()
            with self._lock:
                found = self._entries.get(name)
                known = list(self._entries)
        if found is None:
            raise LossSpecError(
                f"Unknown loss {short_repr(name)}.{_unknown_hint(name, known)} Run `lossreg list` (or "
                "lossreg.names()) to see every registered loss.",
                path=path,
            )
        return found

    def lookup(self, name: Any, *, path: str | None = None) -> LossDef:
        """The ``LossDef`` of ``name``, loading it (a plugin) on first use: one lookup per spec term.

        Raises:
            LossSpecError: an unknown name (with the closest names); ``PluginLoadError`` for a plugin that
                fails to load, both naming ``path``.
        """
        entry = self.entry(name, path=path)
        loss_def = entry._def
        if loss_def is not None:
            return loss_def
        try:
            with self._loading:
                loss_def = entry._def
                if loss_def is None:
                    assert entry._load is not None  # an entry has a LossDef or a way to load one
                    loss_def = entry._def = entry._load()
            return loss_def
        except PluginLoadError as exc:
            if path is None or exc.path is not None:
                raise
            raise exc.at(path) from exc.__cause__

    def describe(self, name: str) -> LossInfo:
        """Summary, docstring, parameters, extras, declared inputs and source of ``name``."""
        return self.lookup(name).info(name)


def _warn(message: str) -> None:
    """Warn ``LossregPluginWarning`` pointing at the first caller outside lossreg (not at lossreg's own line)."""
    frame, level = sys._getframe(1), 2
    while frame.f_back is not None and frame.f_globals.get("__name__", "").partition(".")[0] == "lossreg":
        frame, level = frame.f_back, level + 1
    warnings.warn(message, LossregPluginWarning, stacklevel=level)


def _check_name(name: Any) -> None:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise LossSpecError(
            f"Invalid loss name {name!r}. Expected a string of letters, digits, '_', '.' or '-', "
            "starting with a letter or '_' (':' is reserved for 'distribution:name')."
        )


def _unknown_hint(name: str, known: list[str]) -> str:
    plugin_names = sorted(n for n in known if n.endswith(":" + name))
    if plugin_names:
        return (
            " Plugins offer it as " + " or ".join(map(repr, plugin_names)) + " (the plain name is taken or offered "
            "by several plugins)."
        )
    return did_you_mean(name, known)


REGISTRY: Final = Registry()
