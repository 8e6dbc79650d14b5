"""Plugin discovery: losses from other distributions through the ``lossreg.losses`` entry-point group.

Each entry point's name is a loss name and its object is a factory (what ``lossreg.register`` takes);
optional ``extras`` and ``summary`` attributes on the factory give its metadata.

Laziness: entry points are read on first use (``lossreg.names()``, a lookup), not at ``import lossreg``,
and read again whenever a name is not found, so a plugin installed later is seen; each distribution's
metadata is read once per scan. A plugin's module is imported only when one of its losses is asked for.
Until then its summary and extras are read from its source without running it (``static_metadata``), and
only when asked for (``lossreg list``, a plugin loss's extras), never for ``lossreg.names()``.

Isolation: a plugin that fails to import, raises while loading, has an invalid name, or does not give a
factory never breaks the registry. Its loss stays listed; asking for it raises ``PluginLoadError`` naming
the distribution, the entry point and the original exception, and ``lossreg plugins`` shows why.

Conflict rule (one rule, warned about once per process and name):

* a plugin never replaces a name that lossreg, Keras or a user registration holds — those win, even a
  user registration made after the plugins were read;
* two plugins never replace each other: when several distributions offer one name, none gets it;
* every plugin loss is always reachable as ``"<distribution>:<name>"``; the plain ``"<name>"`` goes to a
  plugin only when nobody else claims it.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.metadata
import importlib.util
import os
import reprlib
import threading
import warnings
import weakref
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from lossreg._errors import PluginLoadError
from lossreg._registry import _Entry, is_extra_name

if TYPE_CHECKING:
    from lossreg._registry import Factory, Registry

__all__ = [
    "GROUP",
    "LossregPluginWarning",
    "PluginRecord",
    "install",
    "load_all",
    "owner",
    "records",
    "static_metadata",
    "yield_name",
]

GROUP: Final = "lossreg.losses"


class LossregPluginWarning(UserWarning):
    """A plugin's loss name clashes with another loss; see the conflict rule in ``lossreg._plugins``."""


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
    factory: Factory | None = field(default=None, repr=False)
    error: PluginLoadError | None = field(default=None, repr=False)
    # the plain and the qualified name are two registry entries of one record: this lock imports it once
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)
    # summary and extras: from the factory once loaded, else read from the source when first asked for
    _metadata: tuple[str | None, tuple[str, ...] | None] | None = field(default=None, repr=False, compare=False)

    @property
    def registered_names(self) -> list[str]:
        """The names that reach this plugin's loss."""
        return [self.name, self.qualified] if self.plain_name else [self.qualified]

    def _read_metadata(self) -> tuple[str | None, tuple[str, ...] | None]:
        metadata = self._metadata
        if metadata is None:
            with self.lock:
                metadata = self._metadata
                if metadata is None:  # not loaded: read from the source (`lossreg list`), never for names()
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


@dataclass
class _State:
    """Per-registry plugin bookkeeping."""

    records: dict[str, PluginRecord] = field(default_factory=dict)  # by qualified name
    entries: dict[str, _Entry] = field(default_factory=dict)  # registered name -> the entry a plugin added
    owners: dict[str, PluginRecord] = field(default_factory=dict)  # registered name -> whose entry that is
    warned: set[str] = field(default_factory=set)
    lock: threading.RLock = field(default_factory=threading.RLock)


_states: weakref.WeakKeyDictionary[Registry, _State] = weakref.WeakKeyDictionary()
_states_lock = threading.Lock()


def _state(registry: Registry) -> _State:
    with _states_lock:
        state = _states.get(registry)
        if state is None:
            state = _states[registry] = _State()
        return state


def records(registry: Registry | None = None) -> list[PluginRecord]:
    """Every discovered plugin loss of ``registry`` (default: lossreg's), in qualified-name order."""
    if registry is None:
        from lossreg._registry import REGISTRY

        registry = REGISTRY
    registry._ensure_plugins()
    state = _state(registry)
    with state.lock:
        return sorted(state.records.values(), key=lambda r: r.qualified)


def owner(name: str, registry: Registry | None = None) -> PluginRecord | None:
    """The plugin record behind registered name ``name``, or ``None`` when no plugin provides it."""
    if registry is None:
        from lossreg._registry import REGISTRY

        registry = REGISTRY
    state = _state(registry)
    with state.lock:
        entry = state.entries.get(name)
        return state.owners.get(name) if entry is not None and registry._entries.get(name) is entry else None


def load_all(registry: Registry | None = None) -> list[PluginRecord]:
    """Load every plugin loss (importing the plugins), recording failures instead of raising."""
    recs = records(registry)
    for record in recs:
        if record.status == "not loaded":
            with contextlib.suppress(PluginLoadError):
                _load(record)
    return recs


# -- reading metadata without importing the plugin ---------------------------------------------------------


def _module_source(module: str) -> str | None:
    """Path of ``module``'s source file, found without importing it or any parent package."""
    parts = module.split(".")
    try:
        spec = importlib.util.find_spec(parts[0])  # a top-level name: finds, never imports
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if len(parts) == 1:
        origin = spec.origin
        return origin if origin and origin.endswith(".py") else None
    locations = list(spec.submodule_search_locations or [])
    for i, part in enumerate(parts[1:], start=1):
        last = i == len(parts) - 1
        found: str | None = None
        for base in locations:
            package_init = os.path.join(base, part, "__init__.py")
            if os.path.isfile(package_init):
                found = package_init
                locations = [os.path.join(base, part)]
                break
            if last and os.path.isfile(os.path.join(base, part + ".py")):
                found = os.path.join(base, part + ".py")
                break
        if found is None:
            return None
        if last:
            return found
    return None


# One module's metadata-bearing statements, by the name they concern, in source order:
#   ("def", summary, required keyword-only parameters)  for ``def name`` / ``class name``
#   ("summary", literal) / ("extras", literal)           for ``name.summary = ...`` / ``name.extras = ...``
#   ("loss_factory", fn)                                 for ``name = loss_factory(fn, ...)``
_Event = tuple[Any, ...]
_NOT_LITERAL: Final = object()
_index_cache: dict[str, tuple[tuple[int, int], dict[str, list[_Event]]]] = {}
_index_lock = threading.Lock()


def _literal(node: ast.expr) -> Any:
    try:
        return ast.literal_eval(node)
    except ValueError:  # not a literal: only loading the plugin tells
        return _NOT_LITERAL


def _loss_factory_argument(node: ast.expr | None) -> str | None:
    """``fn`` when ``node`` is ``loss_factory(fn, ...)`` or ``<module>.loss_factory(fn, ...)``."""
    if not isinstance(node, ast.Call):
        return None
    func = node.func
    if not (
        (isinstance(func, ast.Name) and func.id == "loss_factory")
        or (isinstance(func, ast.Attribute) and func.attr == "loss_factory")
    ):
        return None
    args = [*node.args[:1], *(k.value for k in node.keywords if k.arg == "fn")]
    return args[0].id if args and isinstance(args[0], ast.Name) else None


def _index(tree: ast.Module) -> dict[str, list[_Event]]:
    events: dict[str, list[_Event]] = defaultdict(list)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            doc = ast.get_docstring(node)
            summary = doc.strip().splitlines()[0].strip() if doc and doc.strip() else None
            required: tuple[str, ...] = ()
            if not isinstance(node, ast.ClassDef):
                arguments = node.args
                required = tuple(
                    a.arg for a, d in zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True) if d is None
                )
            events[node.name].append(("def", summary, required))
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            fn = _loss_factory_argument(node.value)
            for target in targets:
                if isinstance(target, ast.Name) and fn is not None:
                    events[target.id].append(("loss_factory", fn))
                elif (
                    isinstance(target, ast.Attribute)
                    and isinstance(target.value, ast.Name)
                    and target.attr in ("extras", "summary")
                    and node.value is not None
                ):
                    events[target.value.id].append((target.attr, _literal(node.value)))
    return dict(events)


def _module_index(path: str) -> dict[str, list[_Event]] | None:
    """The metadata statements of the module at ``path``, parsed once per version of the file."""
    try:
        stat = os.stat(path)
        stamp = (stat.st_mtime_ns, stat.st_size)
        with _index_lock:
            cached = _index_cache.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        with open(path, encoding="utf-8") as f:
            index = _index(ast.parse(f.read(), filename=path))
    except (OSError, SyntaxError, ValueError, UnicodeDecodeError):
        return None
    with _index_lock:
        _index_cache[path] = (stamp, index)
    return index


def static_metadata(value: str) -> tuple[str | None, tuple[str, ...] | None]:
    """Summary and extras of the factory ``value`` (``"module:attr"``), read from its source, not run.

    The summary is the first line of the function's docstring, or a module-level ``attr.summary = "..."``;
    the extras come from a module-level ``attr.extras = ("a", "b")``. For ``attr = loss_factory(fn, ...)``
    both come from ``def fn``: its docstring and its keyword-only parameters without defaults. Either is
    ``None`` when unknown.
    """
    module, _, attr = value.partition(":")
    module, attr = module.strip(), attr.strip()
    if not module or not attr or not attr.isidentifier():
        return None, None
    path = _module_source(module)
    index = _module_index(path) if path is not None else None
    if index is None:
        return None, None
    summary: str | None = None
    extras: tuple[str, ...] | None = None
    extras_known = True
    for event in index.get(attr, ()):
        kind = event[0]
        if kind == "loss_factory":
            defs = [e for e in index.get(event[1], ()) if e[0] == "def"]
            summary, extras = (defs[-1][1], defs[-1][2]) if defs else (None, None)
            extras_known = extras is not None and _valid_extras(extras)
        elif kind == "def":
            summary = event[1] if event[1] is not None else summary
            extras = extras if extras is not None else ()
        elif kind == "summary":
            summary = event[1].strip() if isinstance(event[1], str) else None
        else:
            extras_known = _valid_extras(event[1])
            extras = tuple(event[1]) if extras_known else None
    return summary, (extras if extras_known else None)


def _valid_extras(value: Any) -> bool:
    return isinstance(value, list | tuple) and all(is_extra_name(e) for e in value) and len(set(value)) == len(value)


# -- loading ----------------------------------------------------------------------------------------------


def _where(record: PluginRecord) -> str:
    return f"plugin distribution {record.distribution!r} {record.version}, entry point '{record.name} = {record.value}'"


def _fail(record: PluginRecord, why: str, message: str, cause: BaseException | None = None) -> PluginLoadError:
    error = PluginLoadError(message, distribution=record.distribution, entry_point=record.name)
    error.__cause__ = cause
    record.status = f"failed: {why}"
    record.error = error
    return error


def _load(record: PluginRecord) -> Factory:
    """Import the plugin's factory once; remember a failure and raise it again on every later ask."""
    if record.factory is not None:
        return record.factory
    with record.lock:
        return _load_locked(record)


def _load_locked(record: PluginRecord) -> Factory:
    if record.factory is not None:
        return record.factory
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
            f"The {_where(record)} {why}: expected a function taking keyword parameters and returning "
            f"fn(y_true, y_pred, **extras). {fix}",
        )
    extras = getattr(obj, "extras", ())
    if not _valid_extras(extras):
        why = f"invalid extras {reprlib.repr(extras)}"
        raise _fail(
            record,
            why,
            f"The factory of {_where(record)} has {why}: expected a tuple of distinct Python identifiers other "
            f"than 'y_true' and 'y_pred'. {fix}",
        )
    summary = getattr(obj, "summary", None)
    if not isinstance(summary, str) or not summary.strip():
        doc = (getattr(obj, "__doc__", None) or "").strip()
        summary = doc.splitlines()[0].strip() if doc else ""
    record._metadata, record.factory = (summary, tuple(extras)), obj
    record.status = "ok"
    return obj


class _PluginEntry(_Entry):
    """A plugin loss's registry entry: its extras are its record's, read from the source only when asked for.

    ``Registry.add`` validates an entry's extras; a plugin's are validated where they are read (statically,
    or from the loaded factory), so the entry is tied to its record only after it is added.
    """

    record: PluginRecord | None = None

    @property
    def extras(self) -> tuple[str, ...]:
        if self.record is None:
            return self.__dict__.get("_extras", ())
        return self.record.extras or ()

    @extras.setter
    def extras(self, value: tuple[str, ...]) -> None:
        self.__dict__["_extras"] = tuple(value)


def _loader(record: PluginRecord) -> Any:
    def load() -> Factory:
        return _load(record)

    return load


# -- discovery and the conflict rule ----------------------------------------------------------------------


def _entry_points() -> Iterable[importlib.metadata.EntryPoint]:
    try:
        return list(importlib.metadata.entry_points(group=GROUP))
    except Exception as exc:  # a corrupt installed distribution must not break lossreg
        warnings.warn(
            f"lossreg could not read the installed entry points ({type(exc).__name__}: {exc}); "
            "plugin losses are unavailable.",
            LossregPluginWarning,
            stacklevel=3,
        )
        return []


def _distribution(ep: Any, seen: dict[int, tuple[str, str]]) -> tuple[str, str]:
    """Name and version of the distribution giving ``ep``, its metadata read once per distribution.

    ``ep.dist.name`` and ``ep.dist.version`` would each parse the distribution's metadata again; every entry
    point of one distribution shares one ``dist`` object, so ``seen`` (by its id) holds them for the scan.
    """
    dist = ep.dist
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


def install(registry: Registry) -> None:
    """(Re)read the installed plugins into ``registry``; nothing is imported and nothing here raises."""
    from lossreg._registry import _NAME_RE

    state = _state(registry)
    messages: list[str] = []
    with state.lock:
        by_name: dict[str, list[PluginRecord]] = defaultdict(list)
        distributions: dict[int, tuple[str, str]] = {}
        for ep in _entry_points():
            dist, version = _distribution(ep, distributions)
            qualified = f"{dist}:{ep.name}"
            record = state.records.get(qualified)
            if record is None or record.value != ep.value or record.version != version:
                record = PluginRecord(ep.name, qualified, dist, version, ep.value)
                state.records[qualified] = record
            if not _NAME_RE.match(qualified) or ":" in ep.name:
                _fail(
                    record,
                    "invalid loss name",
                    f"The {_where(record)} declares the loss name {ep.name!r}, which is not valid: expected letters, "
                    "digits, '_', '.' or '-', starting with a letter or '_'. Rename the entry point.",
                )
                record.plain_name = False
                continue
            by_name[ep.name].append(record)

        for name, claims in by_name.items():
            holder = registry._entries.get(name)
            held_by_plugin = holder is not None and state.entries.get(name) is holder
            dists = sorted({r.distribution for r in claims})
            if holder is not None and not held_by_plugin:
                qualified_names = " or ".join(repr(f"{d}:{name}") for d in dists)
                key = f"{name}|{holder.source}|{','.join(dists)}"
                if key not in state.warned:
                    state.warned.add(key)
                    messages.append(
                        f"Plugin loss {name!r} from {', '.join(map(repr, dists))} clashes with the {holder.source!r} "
                        f"loss of that name, which keeps it; use {qualified_names} for the plugin's."
                    )
                plain = False
            elif len(claims) > 1:
                key = f"{name}||{','.join(dists)}"
                if key not in state.warned:
                    state.warned.add(key)
                    messages.append(
                        f"Plugin loss {name!r} is offered by several distributions ({', '.join(dists)}), so none "
                        "gets the plain name; use " + " or ".join(repr(r.qualified) for r in claims) + "."
                    )
                if held_by_plugin:
                    registry.remove(name)
                    state.entries.pop(name, None)
                    state.owners.pop(name, None)
                plain = False
            else:
                plain = True
            for record in claims:
                record.plain_name = plain
                for registered in record.registered_names:
                    current = state.entries.get(registered)
                    unchanged = current is not None and registry._entries.get(registered) is current
                    if unchanged and state.owners.get(registered) is record:
                        continue  # as in an earlier scan (and maybe already loaded)
                    entry = _PluginEntry(name=registered, source=record.distribution, loader=_loader(record))
                    registry.add(entry, override=True)
                    entry.record = record
                    state.entries[registered] = entry
                    state.owners[registered] = record
    for message in messages:  # after the registry is consistent, so `-W error` cannot leave it half-built
        warnings.warn(message, LossregPluginWarning, stacklevel=4)


def yield_name(registry: Registry, taken: _Entry, newcomer: _Entry) -> bool:
    """Whether ``newcomer`` (a lossreg or user registration) may take a name a plugin holds; warn if so.

    Called by ``Registry.add`` when a name is taken and ``override`` is not set. The conflict rule says a
    user registration beats a plugin, even when the plugins were read first.
    """
    state = _state(registry)
    with state.lock:
        if state.entries.get(taken.name) is not taken or ":" in taken.name:
            return False
        state.entries.pop(taken.name, None)
        state.owners.pop(taken.name, None)
        for record in state.records.values():
            if record.name == taken.name:
                record.plain_name = False
        message = (
            f"{newcomer.source!r} registers loss {taken.name!r}, which plugin {taken.source!r} offered; the "
            f"registration wins. Use {taken.source + ':' + taken.name!r} for the plugin's."
        )
        key = f"{taken.name}|{newcomer.source}|{taken.source}"
        warn = key not in state.warned
        state.warned.add(key)
    if warn:
        warnings.warn(message, LossregPluginWarning, stacklevel=5)
    return True
