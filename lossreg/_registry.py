"""The registry of named loss factories: ``register``, ``names``, ``describe`` and parameter checking.

A *factory* is a plain function that takes keyword parameters and returns a loss function
``fn(y_true, y_pred, **extras) -> tensor`` of per-sample (or per-element) values; Keras reduces them.
Nothing here imports TensorFlow or Keras: listing and describing losses stays cheap.
"""

from __future__ import annotations

import functools
import inspect
import math
import numbers
import re
import threading
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, TypeVar

from lossreg._errors import LossSpecError, PluginLoadError, did_you_mean, short_repr
from lossreg._preflight import Expects, check_inputs

__all__ = ["REGISTRY", "LossInfo", "Param", "Registry", "describe", "names", "register"]

LossFn = Callable[..., Any]
Factory = Callable[..., LossFn]
F = TypeVar("F", bound=Factory)

_NAME_RE: Final = re.compile(r"^([A-Za-z0-9_.\-]+:)?[A-Za-z_][A-Za-z0-9_.\-]*$")
_EXTRA_RE: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RESERVED_EXTRAS: Final = frozenset({"y_true", "y_pred"})


def is_extra_name(name: Any) -> bool:
    """Whether ``name`` can name an extra tensor: a Python identifier other than ``y_true``/``y_pred``."""
    return isinstance(name, str) and bool(_EXTRA_RE.match(name)) and name not in _RESERVED_EXTRAS


@dataclass(frozen=True)
class Param:
    """One parameter of a loss factory: its name, default (``Param.REQUIRED`` if none) and type."""

    REQUIRED: typing.ClassVar[object] = inspect.Parameter.empty
    name: str
    default: Any
    annotation: str

    @property
    def required(self) -> bool:
        return self.default is Param.REQUIRED


@dataclass(frozen=True)
class LossInfo:
    """What ``lossreg.describe(name)`` returns: everything known about one registered loss."""

    name: str
    summary: str
    doc: str
    params: Mapping[str, Param]
    extras: tuple[str, ...]
    source: str
    expects: Expects | None = None

    def __str__(self) -> str:
        lines = [f"{self.name} ({self.source})", f"  {self.summary}"]
        if self.params:
            lines.append("  parameters:")
            for p in self.params.values():
                default = "required" if p.required else f"default {p.default!r}"
                lines.append(f"    {p.name}: {p.annotation} ({default})")
        if self.extras:
            lines.append("  extras: " + ", ".join(self.extras))
        if self.expects is not None:
            lines.append("  inputs:")
            lines.extend(f"    {line}" for line in self.expects.lines())
        return "\n".join(lines)


def _summary(doc: str) -> str:
    return doc.strip().splitlines()[0].strip() if doc and doc.strip() else ""


def _annotation_text(annotation: Any) -> str:
    if annotation is inspect.Parameter.empty:
        return "any"
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


@dataclass
class _Entry:
    """A registered name: a factory now, or a way to get one later (Keras built-ins, plugins)."""

    name: str
    source: str
    extras: tuple[str, ...] = ()
    factory: Factory | None = None
    loader: Callable[[], Factory] | None = None
    expects: Expects | None = None  # declared input shapes, targets and logits (see lossreg._preflight)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def get_factory(self) -> Factory:
        if self.factory is None:
            with self._lock:
                if self.factory is None:
                    assert self.loader is not None  # an entry always has one or the other
                    self.factory = self.loader()
        return self.factory


def _as_float(value: numbers.Real) -> float:
    try:
        return float(value)
    except OverflowError:  # an integer beyond float range, e.g. 10**400 written out in a JSON spec
        return math.inf


def _check_type(value: Any, hint: Any) -> bool:
    """Whether a spec value fits a parameter's type hint; unknown hints accept anything."""
    origin = typing.get_origin(hint)
    if origin is Literal:
        # the type first: `value == choice` on a NumPy array is an array, whose truth value raises
        return any(type(value) is type(choice) and value == choice for choice in typing.get_args(hint))
    if origin in (typing.Union, types.UnionType):
        return any(_check_type(value, arg) for arg in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(_as_float(value))
    if hint is str:
        return isinstance(value, str)
    args = typing.get_args(hint)
    if origin in (list, tuple, Sequence):  # list[float], tuple[int, ...], Sequence[float]: a list or a tuple
        if not isinstance(value, list | tuple):
            return False
        if origin is tuple and args and args[-1] is not Ellipsis:
            return len(value) == len(args) and all(_check_type(v, a) for v, a in zip(value, args, strict=True))
        return not args or all(_check_type(v, args[0]) for v in value)
    if origin in (dict, Mapping):
        if not isinstance(value, Mapping):
            return False
        return len(args) != 2 or all(_check_type(k, args[0]) and _check_type(v, args[1]) for k, v in value.items())
    return True


def _load(entry: _Entry, path: str | None) -> Factory:
    """``entry``'s factory; a plugin that fails to load raises ``PluginLoadError`` naming ``path`` too."""
    try:
        return entry.get_factory()
    except PluginLoadError as exc:
        if path is None or exc.path is not None:
            raise
        raise exc.at(path) from exc.__cause__


def _is_call(path: str | None) -> bool:
    """Whether ``path`` names a Python call such as ``lossreg.get('x')`` rather than a spec location."""
    return bool(path) and path.endswith(")")  # type: ignore[union-attr]


def _param_path(path: str | None, key: str) -> str | None:
    """Where a parameter was given: ``spec['out']['params']['k']`` or ``lossreg.get('x', k=...)``."""
    if not path:
        return None
    return f"{path[:-1]}, {key}=...)" if _is_call(path) else f"{path}['params'][{key!r}]"


class Registry:
    """Named loss factories from lossreg, Keras and plugins; safe to use from several threads."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._entries: dict[str, _Entry] = {}
        self._plugins_loaded = False

    # -- writing -------------------------------------------------------------------------------
    def add(self, entry: _Entry, *, override: bool = False) -> None:
        if not isinstance(entry.name, str) or not _NAME_RE.match(entry.name):
            raise LossSpecError(
                f"Invalid loss name {entry.name!r}. Expected a string of letters, digits, '_', '.' or '-', "
                "starting with a letter or '_' (':' is reserved for 'distribution:name')."
            )
        for extra in entry.extras:
            if not is_extra_name(extra):
                raise LossSpecError(
                    f"Invalid extra {extra!r} for loss {entry.name!r}. Expected Python identifiers other than "
                    "'y_true' and 'y_pred', naming the keyword arguments the loss function takes."
                )
        with self._lock:
            taken = self._entries.get(entry.name)
            if taken is not None and not override and not self._plugin_yields(taken, entry):
                raise LossSpecError(
                    f"Loss name {entry.name!r} is already registered by {taken.source!r}; "
                    f"{entry.source!r} tried to register it again. Pass override=True to replace it, "
                    "or choose another name."
                )
            self._entries[entry.name] = entry

    def _plugin_yields(self, taken: _Entry, entry: _Entry) -> bool:
        """A plugin's plain name gives way to a lossreg or user registration (the conflict rule)."""
        from lossreg import _plugins

        return _plugins.yield_name(self, taken, entry)

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
    ) -> Callable[[F], F]:
        if isinstance(extras, str):
            raise LossSpecError(
                f"lossreg.register({name!r}, extras={extras!r}): extras is a list of names, e.g. extras=({extras!r},)."
            )
        extras = tuple(extras)
        expects = Expects.declare(str(name), extras, shapes, targets, from_logits)

        def decorator(factory: F) -> F:
            if isinstance(name, str) and ":" in name:
                raise LossSpecError(
                    f"Invalid loss name {name!r}: ':' is reserved for plugin losses reached as "
                    "'distribution:name'. Choose a name without ':'."
                )
            if not callable(factory):
                raise LossSpecError(f"lossreg.register({name!r}) expects a factory function, got {factory!r}.")
            module = getattr(factory, "__module__", None) or "__main__"
            source = "lossreg" if module.startswith("lossreg.") else module
            # a factory that carries its extras (lossreg.loss_factory) needs them not repeated; its declarations
            # are read from it by `expects`, as a plugin factory's are
            own_extras = extras or tuple(getattr(factory, "extras", ()))
            self.add(
                _Entry(name=name, source=source, extras=own_extras, factory=factory, expects=expects),
                override=override,
            )
            return factory

        return decorator

    # -- reading -------------------------------------------------------------------------------
    def _ensure_plugins(self) -> None:
        if not self._plugins_loaded:
            with self._lock:
                if not self._plugins_loaded:
                    from lossreg import _plugins

                    _plugins.install(self)
                    self._plugins_loaded = True

    def rescan_plugins(self) -> None:
        """Read the installed entry points again (new plugins become visible)."""
        from lossreg import _plugins

        with self._lock:
            _plugins.install(self)
            self._plugins_loaded = True

    def names(self) -> list[str]:
        self._ensure_plugins()
        with self._lock:
            return sorted(self._entries)

    def entry(self, name: Any, *, path: str | None = None) -> _Entry:
        if not isinstance(name, str):
            raise LossSpecError(
                f"Expected a loss name (a string), received {type(name).__name__} {short_repr(name)}.", path=path
            )
        self._ensure_plugins()
        found = self._entries.get(name)
        if found is None:
            self.rescan_plugins()  # a plugin installed since the last look becomes visible here
            found = self._entries.get(name)
        if found is None:
            with self._lock:  # a snapshot: another thread may be registering while the hint is worked out
                known = list(self._entries)
            plugin_names = [n for n in known if n.endswith(":" + name)]
            hint = (
                " Plugins offer it as " + " or ".join(map(repr, sorted(plugin_names))) + " (the plain name is "
                "taken or offered by several plugins)."
                if plugin_names
                else did_you_mean(name, known)
            )
            raise LossSpecError(
                f"Unknown loss {short_repr(name)}.{hint} Run `lossreg list` (or lossreg.names()) to see every "
                "registered loss.",
                path=path,
            )
        return found

    def factory(self, name: str, *, path: str | None = None) -> Factory:
        return self.entry(name, path=path).get_factory()

    def params(self, name: str) -> dict[str, Param]:
        factory = self.factory(name)
        try:
            hints = typing.get_type_hints(factory)
        except Exception:  # unresolvable annotations: fall back to the raw ones
            hints = {}
        out = {}
        for p in inspect.signature(factory).parameters.values():
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            out[p.name] = Param(p.name, p.default, _annotation_text(hints.get(p.name, p.annotation)))
        return out

    def describe(self, name: str) -> LossInfo:
        entry = self.entry(name)
        factory = entry.get_factory()
        doc = inspect.getdoc(factory) or ""
        summary = getattr(factory, "summary", None) or _summary(doc)
        return LossInfo(
            name=name,
            summary=summary,
            doc=doc,
            params=self.params(name),
            extras=entry.extras,
            source=entry.source,
            expects=self.expects(name),
        )

    def param_problems(
        self, name: str, params: Mapping[str, Any] | None = None, *, path: str | None = None
    ) -> list[LossSpecError]:
        """Every problem with ``params`` for loss ``name`` (unknown, ill-typed or missing parameters)."""
        params = dict(params or {})
        factory = self.factory(name, path=path)
        signature = inspect.signature(factory)
        accepted = {p.name: p for p in signature.parameters.values() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
        takes_any = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
        try:
            hints = typing.get_type_hints(factory)
        except Exception:
            hints = {}
        problems = []
        for key, value in params.items():
            where = _param_path(path, key)
            if not isinstance(key, str):
                problems.append(
                    LossSpecError(f"Parameter names must be strings, received {short_repr(key)}.", path=path)
                )
                continue
            if key not in accepted:
                if takes_any:
                    continue
                known = ", ".join(accepted) or "none"
                problems.append(
                    LossSpecError(
                        f"Loss {name!r} has no parameter {short_repr(key)}.{did_you_mean(key, accepted)} "
                        f"Its parameters are: {known}.",
                        path=where,
                    )
                )
                continue
            hint = hints.get(key)
            if hint is not None and not _check_type(value, hint):
                problems.append(
                    LossSpecError(
                        f"Invalid value for parameter {key!r} of loss {name!r}. Expected {_annotation_text(hint)}, "
                        f"received {type(value).__name__} {short_repr(value)}.",
                        path=where,
                    )
                )
        missing = [k for k, p in accepted.items() if p.default is p.empty and k not in params]
        if missing:
            problems.append(
                LossSpecError(
                    f"Loss {name!r} needs parameter(s) {', '.join(map(repr, missing))}: "
                    + ("pass them as keyword arguments." if _is_call(path) else "add them under 'params'."),
                    path=path,
                )
            )
        return problems

    def build(self, name: str, params: Mapping[str, Any] | None = None, *, path: str | None = None) -> LossFn:
        """Check ``params`` against the factory's signature and call it: the loss function."""
        params = dict(params or {})
        factory = _load(self.entry(name, path=path), path)
        problems = self.param_problems(name, params, path=path)
        if problems:
            raise problems[0]
        try:
            fn = factory(**params)
        except LossSpecError:
            raise
        except (ValueError, TypeError) as exc:
            raise LossSpecError(f"Invalid parameters for loss {name!r}: {exc}", path=path) from exc
        if not callable(fn):
            raise LossSpecError(
                f"The factory for loss {name!r} returned {fn!r}; a factory must return a loss function "
                "fn(y_true, y_pred, **extras).",
                path=path,
            )
        return fn

    def extras(self, name: str, *, path: str | None = None) -> tuple[str, ...]:
        entry = self.entry(name, path=path)
        _load(entry, path)  # a plugin's extras are known for sure only once it is loaded
        return entry.extras

    def expects(self, name: str) -> Expects | None:
        """The loss's declared input shapes, targets and logits: given to ``register``, or set as the factory's
        ``shapes``/``targets``/``from_logits`` attributes (plugins, ``lossreg.loss_factory``)."""
        entry = self.entry(name)
        if entry.expects is None:
            factory = entry.get_factory()
            declared = {key: getattr(factory, key, None) for key in ("shapes", "targets", "from_logits")}
            entry.expects = Expects.declare(name, entry.extras, **declared)
        return entry.expects

    def input_check(self, name: str, params: Mapping[str, Any] | None = None) -> Callable[[Mapping[str, Any]], None]:
        """The pre-flight check of loss ``name`` with ``params``: a function of ``{"y_true": ..., "y_pred": ...,
        <extra>: ...}`` raising ``LossInputError`` (a no-op for a loss that declares nothing)."""
        expects = self.expects(name)
        if expects is None:
            return lambda tensors: None
        given = dict(params or {})
        defaults = {k: p.default for k, p in self.params(name).items()}
        ignore = given.get("ignore_class", defaults.get("ignore_class"))  # Keras' skipped class-id value
        return functools.partial(check_inputs, name, expects, expects.logits(given, defaults), ignore_class=ignore)


REGISTRY: Final = Registry()


def register(
    name: str,
    *,
    extras: Iterable[str] = (),
    override: bool = False,
    shapes: Mapping[str, str] | None = None,
    targets: Literal["one_hot", "unit", "class_ids"] | None = None,
    from_logits: bool | str | None = None,
) -> Callable[[F], F]:
    """Register a loss factory under ``name``.

    A factory takes keyword parameters (type-hinted; the hints are checked against specs) and returns
    ``fn(y_true, y_pred, **extras)`` giving per-sample or per-element loss values; Keras reduces them.
    ``shapes``, ``targets`` and ``from_logits`` declare what the loss accepts: every call is checked
    against them before TensorFlow sees the tensors, with an error naming the loss, the expected and the
    received shape (or values).

    Args:
        name: the loss name used in specs, e.g. ``"my_loss"``.
        extras: names of the additional model tensors ``fn`` takes as keyword arguments (by default the
            factory's ``extras`` attribute, which ``lossreg.loss_factory`` sets, like the three below).
        override: replace an existing registration of ``name`` instead of raising.
        shapes: a shape pattern per tensor (``"y_true"``, ``"y_pred"`` or an extra), e.g.
            ``{"y_true": "batch ... classes", "y_pred": "batch ... classes"}``: a word is one axis whose
            size must agree across tensors, ``...`` any number of axes (the same in every tensor), a number an
            axis of that size.
        targets: ``"one_hot"`` (labels over the last axis in [0, 1]; integer class ids are refused with a
            fix), ``"unit"`` (targets in [0, 1]) or ``"class_ids"`` (integer ids in ``[0, classes)``, one
            axis fewer than ``y_pred``); values are checked on eager calls.
        from_logits: ``True`` if ``y_pred`` holds logits, ``False`` for probabilities (checked to lie in
            [0, 1] on eager calls), or the name of the factory's boolean parameter that says so.

    Example:
        >>> import lossreg
        >>> @lossreg.register("scaled_abs", override=True)
        ... def scaled_abs(scale: float = 1.0):
        ...     '''Scaled absolute error: scale * |y_true - y_pred|.'''
        ...     return lambda y_true, y_pred: scale * abs(y_true - y_pred)
        >>> "scaled_abs" in lossreg.names()
        True
    """
    return REGISTRY.register(
        name, extras=extras, override=override, shapes=shapes, targets=targets, from_logits=from_logits
    )


def names() -> list[str]:
    """Sorted names of every registered loss: lossreg's, Keras' built-in names and plugins'."""
    return REGISTRY.names()


def describe(name: str) -> LossInfo:
    """Summary, docstring, parameters with defaults, extras and source of a registered loss.

    Example:
        >>> import lossreg
        >>> lossreg.describe("sigmoid_focal").params["gamma"].default
        2.0
    """
    return REGISTRY.describe(name)
