"""The static reader behind ``lossreg list``: a plugin loss's summary and extras, read from its source, not run.

Contract of ``static_metadata(value)`` (``value`` is an entry point's ``"module:attribute"``):

* It never imports the module, nor any package above it (``importlib.util.find_spec`` on the top-level
  name only, then the files are looked up on disk), and never runs any of its code.
* It returns ``(summary, extras)``; either is ``None`` when the source does not tell (only loading the
  plugin would). It never raises: a missing module, an unreadable or undecodable file, a syntax error, or a
  source ``ast.parse`` cannot handle (nesting deep enough for ``RecursionError``, ``MemoryError``) all give
  ``(None, None)``.
* Only module-level statements count, later ones overriding earlier ones, as at run time:

  - ``def attr(...)`` / ``class attr``: the summary is the first line of its docstring; a pure loss
    ``attr(y_true, y_pred, *, ...)`` has the extras its signature gives (``extras_rule``), a factory ``()``
    until declared;
  - ``attr.summary = "..."`` and ``attr.extras = ("a", "b")``: literals only (anything else is unknown);
  - ``attr = loss_factory(fn, ...)`` (or ``<module>.loss_factory``): both come from ``def fn``, its
    docstring and its extras by the rule ``loss_factory`` applies (``lossreg.registry._params.extras_rule``).

* What it returns for a plugin is what the loaded plugin gives (the plugins' own tests check this).

Each file is parsed once per version (modification time and size).
"""

from __future__ import annotations

import ast
import importlib.util
import os
import threading
from collections import defaultdict
from typing import Any, Final

from lossreg.registry._params import extras_rule, valid_extras

__all__ = ["static_metadata"]

# One module's metadata-bearing statements, by the name they concern, in source order:
#   ("def", summary, extras, pure)             for ``def name`` / ``class name``
#   ("summary", literal) / ("extras", literal) for ``name.summary = ...`` / ``name.extras = ...``
#   ("loss_factory", fn)                       for ``name = loss_factory(fn, ...)``
_Event = tuple[Any, ...]
_NOT_LITERAL: Final = object()
_index_cache: dict[str, tuple[tuple[int, int], dict[str, list[_Event]]]] = {}
_index_lock = threading.Lock()  # guards only _index_cache; never held with any other lock


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


def _literal(node: ast.expr) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):  # not a literal: loading tells
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


def _definition(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> _Event:
    doc = ast.get_docstring(node)
    summary = doc.strip().splitlines()[0].strip() if doc and doc.strip() else None
    extras: tuple[str, ...] = ()
    pure = False
    if not isinstance(node, ast.ClassDef):  # what a pure loss of this signature takes as extras
        arguments = node.args
        extras = extras_rule(
            (a.arg, d is not None) for a, d in zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True)
        )
        positional = [*arguments.posonlyargs, *arguments.args]
        pure = len(positional) >= 2 and len(positional) - len(arguments.defaults) >= 2  # fn(y_true, y_pred, ...)
    return ("def", summary, extras, pure)


def _index(tree: ast.Module) -> dict[str, list[_Event]]:
    events: dict[str, list[_Event]] = defaultdict(list)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            events[node.name].append(_definition(node))
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
    except (OSError, SyntaxError, ValueError, UnicodeDecodeError, RecursionError, MemoryError):
        return None  # unreadable, or more than the parser can take (deep nesting): unknown until loaded
    with _index_lock:
        _index_cache[path] = (stamp, index)
    return index


def static_metadata(value: str) -> tuple[str | None, tuple[str, ...] | None]:
    """Summary and extras of the loss or factory ``value`` (``"module:attr"``), read from its source, not run.

    See this module's docstring for the full contract; in short: the summary is the first docstring line of
    ``def attr`` (or of ``def fn`` for ``attr = loss_factory(fn, ...)``) or a literal ``attr.summary``; the
    extras a literal ``attr.extras``, or ``fn``'s keyword-only parameters without defaults. Either is
    ``None`` when the source does not tell; it never raises and never imports.

    Examples:
        >>> from lossreg.registry import static_metadata
        >>> static_metadata("lossreg_segmentation.losses:soft_dice_factory")
        ('Soft Dice loss, one value per sample.', ())
    """
    try:
        module, _, attr = value.partition(":")
    except AttributeError:
        return None, None
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
            extras_known = extras is not None and valid_extras(extras)
        elif kind == "def":  # a pure loss's extras are in its signature; a factory's are () until declared
            summary = event[1] if event[1] is not None else summary
            extras = event[2] if event[3] else (extras if extras is not None else ())
            extras_known = True
        elif kind == "summary":
            summary = event[1].strip() if isinstance(event[1], str) else None
        else:
            extras_known = valid_extras(event[1])
            extras = tuple(event[1]) if extras_known else None
    return summary, (extras if extras_known else None)
