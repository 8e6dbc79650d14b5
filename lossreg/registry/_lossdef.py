"""``LossDef``: everything about one registered loss, read once, and the three things a term needs from it.

A ``LossDef`` is built once per loss, when it is registered (or when its plugin is loaded): the factory,
the pure function behind it (when there is one), the extra tensors, the input declaration (``Expects``),
the summary and docstring, and — read on first use, once — the spec parameters with their type hints.
Resolving one term of a spec is then one registry lookup and three calls on the ``LossDef``::

    loss_def = REGISTRY.lookup(name, path=path)
    problems = loss_def.param_problems(params, path)   # every problem, for `lossreg check`
    fn = loss_def.bind(params, path)                     # the loss callable (raises the first problem)
    check = loss_def.input_check(params)                 # the pre-flight check of its tensors

Nothing here imports Keras.
"""

from __future__ import annotations

import copy
import functools
import inspect
import re
import textwrap
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from lossreg._errors import LossSpecError, did_you_mean, short_repr
from lossreg.registry._authoring import loss_factory
from lossreg.registry._expects import Expects, check_inputs
from lossreg.registry._params import (
    DENSE_INPUTS,
    Param,
    Range,
    annotation_text,
    check_type,
    is_call,
    is_extra_name,
    is_pure_loss,
    param_path,
    standard_param_message,
    standard_param_problem,
)

__all__ = ["SECTIONS", "LossDef", "LossInfo", "doc_args", "doc_sections"]

LossFn = Callable[..., Any]
Factory = Callable[..., LossFn]


@dataclass(frozen=True)
class LossInfo:
    """What ``lossreg.describe(name)`` returns: everything known about one registered loss.

    The docstring's Google-style sections are read once, when the loss is registered (``doc_sections``), so
    ``lossreg show`` and the documentation site (one page per loss) print the same parts: ``formula`` (the TeX of
    ``Formula:``'s ``.. math::``), ``notes`` (the text outside any section: implementation notes), ``normalizer``,
    ``args`` (each parameter's ``Args:`` text), ``returns``, ``raises``, ``references``, ``numerics``,
    ``conventions`` and ``examples`` (the doctest). Each is ``""`` (``args``: empty) where the docstring has none.
    The parameters' types, defaults and values come from the signature (``params``) and ``ranges``, not from the
    text.
    """

    name: str
    summary: str
    doc: str
    params: Mapping[str, Param]
    extras: tuple[str, ...]
    source: str
    expects: Expects | None = None
    #: the optional dense tensors the loss takes (``mask``, ``sample_weight``: see ``lossreg.DENSE_INPUTS``)
    dense_inputs: tuple[str, ...] = ()
    #: what the loss's values are averaged over (its docstring's ``Normalizer:`` section), one paragraph, or ``""``
    normalizer: str = ""
    #: the values a parameter takes, where declared as data (Keras' names: ``KERAS_RANGES``)
    ranges: Mapping[str, Range] = field(default_factory=dict)
    #: the formula's TeX (``Formula:`` then ``.. math::``), one line per source line, or ``""``
    formula: str = ""
    #: the docstring's text outside its sections and summary (implementation notes), paragraphs kept, or ``""``
    notes: str = ""
    #: parameter or tensor name -> its ``Args:`` text, one paragraph each (names listed together share it)
    args: Mapping[str, str] = field(default_factory=dict)
    #: the ``Returns:`` section, or ``""``
    returns: str = ""
    #: the ``Raises:`` section, or ``""``
    raises: str = ""
    #: the ``Reference:``/``References:`` section: papers and the implementations the loss matches, or ``""``
    references: str = ""
    #: the ``Numerics:`` section: clips, continuations and ``where``s, each with the case it guards, or ``""``
    numerics: str = ""
    #: the ``Conventions:`` section: how other libraries' parameters map to this loss's, or ``""``
    conventions: str = ""
    #: the ``Examples:`` section (doctests), dedented, or ``""``
    examples: str = ""

    def __str__(self) -> str:
        lines = [f"{self.name} ({self.source})", f"  {self.summary}"]
        if self.formula:
            lines.append("  formula:")
            lines.extend(f"    {line}" for line in self.formula.splitlines())
        if self.params:
            lines.append("  parameters:")
            for p in self.params.values():
                default = "required" if p.required else f"default {p.default!r}"
                lines.append(f"    {p.name}: {p.annotation} ({default})")
                if p.name in self.ranges:
                    lines.append(f"      values: {self.ranges[p.name].bound()}")
        if self.extras:
            lines.append("  extras: " + ", ".join(self.extras))
        if self.dense_inputs:
            lines.append("  optional tensors: " + ", ".join(_DENSE_TEXT[d] for d in self.dense_inputs))
        if self.normalizer:
            lines.append("  normalizer:")
            lines.extend(f"    {line}" for line in textwrap.wrap(self.normalizer, 100, break_on_hyphens=False))
        if self.expects is not None:
            lines.append("  inputs:")
            lines.extend(f"    {line}" for line in self.expects.lines())
        return "\n".join(lines)


_DENSE_TEXT: Final = {
    "mask": "mask (an extra tensor: elements where it is 0 are ignored)",
    "sample_weight": "sample_weight (Keras' per-pixel weight map, applied inside the loss's sums)",
}
#: a docstring section's heading (Google style) -> the ``LossInfo`` field it fills
SECTIONS: Final[Mapping[str, str]] = {
    "Formula": "formula",
    "Normalizer": "normalizer",
    "Normaliser": "normalizer",
    "Args": "args",
    "Arguments": "args",
    "Returns": "returns",
    "Raises": "raises",
    "Reference": "references",
    "References": "references",
    "Numerics": "numerics",
    "Conventions": "conventions",
    "Example": "examples",
    "Examples": "examples",
}
_HEADING: Final = re.compile(r"^(?P<indent>\s*)(?P<name>[A-Z][A-Za-z]*):\s*$")
_NAME: Final = r"[A-Za-z_*][A-Za-z0-9_*]*"
#: an ``Args:`` entry's start: ``name:``, ``a, b:`` (several names, one text) or ``name (type):``
_ARG: Final = re.compile(rf"^(?P<names>{_NAME}(?:\s*,\s*{_NAME})*)(?:\s*\([^)]*\))?:\s*")
_MATH: Final = re.compile(r"^\.\. math::\s*(?P<tex>.*)$")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _block(lines: list[str]) -> str:
    """Lines as text: dedented, blank lines at both ends dropped, paragraphs (blank lines) kept."""
    return textwrap.dedent("\n".join(line.rstrip() for line in lines)).strip("\n")


def _paragraph(text: str) -> str:
    return " ".join(text.split())


def doc_sections(doc: str) -> dict[str, str]:
    """A Google-style docstring's sections, by ``LossInfo`` field (see ``SECTIONS``), each dedented (paragraphs
    kept), and under ``"notes"`` the text outside any section after the summary line.

    A heading is a line holding only a known name and a colon (``Formula:``); its body is every following line
    indented deeper, or blank, up to the next line indented no deeper. ``formula`` is the TeX of the body's
    ``.. math::`` directive (its first line and the lines indented under it); the body's other text is a note.
    The ``Normalizer:`` section is one paragraph (as ``lossreg show`` wraps it).
    """
    lines = doc.expandtabs().splitlines()
    sections: dict[str, str] = {}
    notes: list[str] = []
    i = 1  # line 0 is the summary
    while i < len(lines):
        found = _HEADING.match(lines[i])
        field_name = SECTIONS.get(found.group("name")) if found else None
        if found is None or field_name is None or field_name in sections:
            notes.append(lines[i])
            i += 1
            continue
        indent = len(found.group("indent"))
        body = []
        i += 1
        while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > indent):
            body.append(lines[i])
            i += 1
        text = _block(body)
        if field_name == "formula":
            text, rest = _math(text)
            if rest:
                notes.extend(["", *rest.splitlines(), ""])
        elif field_name == "normalizer":
            text = _paragraph(text)
        sections[field_name] = text
    sections["notes"] = _block(notes)
    return sections


def _math(text: str) -> tuple[str, str]:
    """The TeX of the first ``.. math::`` directive in ``text``, and the text without it."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        found = _MATH.match(line.strip())
        if found is None:
            continue
        tex = [found.group("tex")] if found.group("tex") else []
        end = i + 1
        while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) > _indent(line)):
            tex.append(lines[end])
            end += 1
        rest = _block(lines[:i] + lines[end:])
        return textwrap.dedent("\n".join(t.strip() for t in tex)).strip(), rest
    return "", text


def doc_args(text: str) -> dict[str, str]:
    """An ``Args:`` section's entries: name -> its text as one paragraph (``a, b: ...`` gives both names the
    text; a type in parentheses after the name is dropped)."""
    entries: dict[str, str] = {}
    current: list[str] = []
    base = min((_indent(line) for line in text.splitlines() if line.strip()), default=0)
    for line in text.splitlines():
        if not line.strip():
            continue
        found = _ARG.match(line.strip()) if _indent(line) == base else None
        if found is not None:
            current = [line.strip()[found.end() :]]
            for name in found.group("names").split(","):
                entries[name.strip()] = current  # type: ignore[assignment]
        elif current:
            current.append(line.strip())
    return {name: _paragraph(" ".join(body)) for name, body in entries.items()}


def _first_line(text: Any) -> str:
    return text.strip().splitlines()[0].strip() if isinstance(text, str) and text.strip() else ""


def _check_extras(name: str, extras: Iterable[Any]) -> tuple[str, ...]:
    extras = tuple(extras)
    for extra in extras:
        if not is_extra_name(extra):
            raise LossSpecError(
                f"Invalid extra {extra!r} for loss {name!r}. Expected Python identifiers other than "
                "'y_true' and 'y_pred', naming the keyword arguments the loss function takes."
            )
    return extras


class LossDef:
    """One registered loss: its factory and pure function, extras, input declaration, summary and docstring.

    Build one with ``LossDef.of``; a ``LossDef`` never changes (``renamed`` gives a copy under another name,
    as a plugin loss is reachable as ``name`` and ``distribution:name``).
    """

    def __init__(
        self,
        name: str,
        source: str,
        factory: Factory,
        *,
        fn: LossFn | None = None,
        extras: tuple[str, ...] = (),
        expects: Expects | None = None,
        summary: str | None = None,
        dense_inputs: tuple[str, ...] = (),
        ranges: Mapping[str, Range] | None = None,
    ) -> None:
        self.name = name
        self.source = source
        self.factory = factory
        self.fn = fn
        self.extras = _check_extras(name, extras)
        self.expects = expects
        self.dense_inputs = tuple(d for d in DENSE_INPUTS if d in dense_inputs)
        #: parameter -> the values it takes, checked with the types (``param_problems``) at the parameter's path
        self.ranges: Mapping[str, Range] = dict(ranges or {})
        self.doc = inspect.getdoc(factory) or ""
        #: the docstring's sections, by ``LossInfo`` field (``doc_sections``), read once
        self.sections = doc_sections(self.doc)
        self.normalizer = self.sections.get("normalizer", "")
        self.summary = _first_line(summary) or _first_line(self.doc)

    @classmethod
    def of(
        cls,
        name: str,
        obj: Callable[..., Any],
        source: str,
        *,
        extras: Iterable[str] | None = None,
        validate: Callable[..., object] | None = None,
        shapes: Mapping[str, str] | None = None,
        targets: str | None = None,
        from_logits: bool | str | None = None,
    ) -> LossDef:
        """The ``LossDef`` of ``obj``: a pure loss ``fn(y_true, y_pred, *, param=default, ..., extra)`` or a
        factory (keyword parameters, returning the loss function; its ``extras``, ``summary``, ``shapes``,
        ``targets`` and ``from_logits`` attributes are read when not given here).

        Raises:
            LossSpecError: ``obj`` is not callable, or its extras or declaration are invalid.
            TypeError: a pure loss of the wrong shape, or ``validate`` given with a factory.
        """
        if not callable(obj) or isinstance(obj, type):
            raise LossSpecError(
                f"lossreg.register({name!r}) expects a loss function or a factory function, got {obj!r}."
            )
        declared = {"shapes": shapes, "targets": targets, "from_logits": from_logits}
        fn: LossFn | None = None
        if is_pure_loss(obj):
            fn, obj = obj, loss_factory(obj, validate=validate, **declared)  # type: ignore[arg-type]
            given = tuple(extras or ())
            if given and given != obj.extras:  # type: ignore[attr-defined]
                raise LossSpecError(
                    f"lossreg.register({name!r}, extras={given!r}): a loss function's extras are its keyword-only "
                    f"parameters without defaults, here {obj.extras!r}; drop extras=."  # type: ignore[attr-defined]
                )
        elif validate is not None:
            raise TypeError(
                f"lossreg.register({name!r}, validate=...): validate is for a loss function fn(y_true, y_pred, *, "
                "...); a factory checks its parameters itself (raise ValueError in it)."
            )
        elif is_pure_loss(getattr(obj, "__wrapped__", None)):  # made by loss_factory
            fn = obj.__wrapped__  # type: ignore[attr-defined]
        if all(v is None for v in declared.values()):
            declared = {key: getattr(obj, key, None) for key in declared}
        own_extras = tuple(extras or ()) or tuple(getattr(obj, "extras", ()))
        expects = Expects.declare(str(name), _check_extras(name, own_extras), **declared)  # type: ignore[arg-type]
        summary = getattr(obj, "summary", None)
        dense = tuple(getattr(obj, "dense_inputs", ()) or ())
        return cls(name, source, obj, fn=fn, extras=own_extras, expects=expects, summary=summary, dense_inputs=dense)

    def renamed(self, name: str) -> LossDef:
        """This loss under another registered name (a plugin's ``distribution:name``)."""
        other = copy.copy(self)
        other.name = name
        return other

    # -- the parameters, read once from the factory's signature and type hints -----------------------------
    @functools.cached_property
    def _signature(self) -> tuple[dict[str, Param], dict[str, Any], bool]:
        signature = inspect.signature(self.factory)
        try:
            hints = typing.get_type_hints(self.factory)
        except Exception:  # unresolvable annotations: fall back to the raw ones, unchecked
            hints = {}
        params = {}
        for p in signature.parameters.values():
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                params[p.name] = Param(p.name, p.default, annotation_text(hints.get(p.name, p.annotation)))
        takes_any = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
        return params, {k: v for k, v in hints.items() if k in params}, takes_any

    @property
    def params(self) -> dict[str, Param]:
        """The spec parameters, by name, in signature order."""
        return dict(self._signature[0])

    def info(self, name: str | None = None) -> LossInfo:
        """What ``lossreg.describe`` returns (``name``: the name asked for, by default this one)."""
        return LossInfo(
            name=name or self.name,
            summary=self.summary,
            doc=self.doc,
            params=self.params,
            extras=self.extras,
            source=self.source,
            expects=self.expects,
            dense_inputs=self.dense_inputs,
            normalizer=self.normalizer,
            ranges=self.ranges,
            formula=self.sections.get("formula", ""),
            notes=self.sections.get("notes", ""),
            args=doc_args(self.sections.get("args", "")),
            returns=self.sections.get("returns", ""),
            raises=self.sections.get("raises", ""),
            references=self.sections.get("references", ""),
            numerics=self.sections.get("numerics", ""),
            conventions=self.sections.get("conventions", ""),
            examples=self.sections.get("examples", ""),
        )

    # -- a term's three needs ----------------------------------------------------------------------------
    def param_problems(self, params: Mapping[str, Any] | None = None, path: str | None = None) -> list[LossSpecError]:
        """Every problem with ``params`` (unknown, ill-typed, out of range or missing parameters), each naming its
        path: a parameter's own (``spec[...]['params']['k']``, ``lossreg.get('x', k=...)``) where it is one."""
        params = dict(params or {})
        accepted, hints, takes_any = self._signature
        problems = []
        for key, value in params.items():
            if not isinstance(key, str):
                problems.append(
                    LossSpecError(f"Parameter names must be strings, received {short_repr(key)}.", path=path)
                )
                continue
            where = param_path(path, key)
            if key not in accepted:
                if not takes_any:
                    problems.append(
                        LossSpecError(
                            f"Loss {self.name!r} has no parameter {short_repr(key)}.{did_you_mean(key, accepted)} "
                            f"Its parameters are: {', '.join(accepted) or 'none'}.",
                            path=where,
                        )
                    )
                continue
            hint = hints.get(key)
            if hint is not None and not check_type(value, hint):
                problems.append(
                    LossSpecError(
                        f"Invalid value for parameter {key!r} of loss {self.name!r}. Expected {annotation_text(hint)}, "
                        f"received {type(value).__name__} {short_repr(value)}.",
                        path=where,
                    )
                )
                continue
            standard = standard_param_problem(key, value)
            if standard is not None:
                problems.append(LossSpecError(standard_param_message(self.name, key, standard), path=where))
            elif key in self.ranges and not self.ranges[key].holds(value):
                problems.append(
                    LossSpecError(
                        f"Invalid value for parameter {key!r} of loss {self.name!r}. Expected a number "
                        f"{self.ranges[key].bound()}, received {short_repr(value)}.",
                        path=where,
                    )
                )
        missing = [k for k, p in accepted.items() if p.required and k not in params]
        if missing:
            problems.append(
                LossSpecError(
                    f"Loss {self.name!r} needs parameter(s) {', '.join(map(repr, missing))}: "
                    + ("pass them as keyword arguments." if is_call(path) else "add them under 'params'."),
                    path=path,
                )
            )
        return problems

    def bind(self, params: Mapping[str, Any] | None = None, path: str | None = None) -> LossFn:
        """The loss function with ``params`` bound: checked, then built (the factory's or ``validate``'s
        ``ValueError``/``TypeError`` becomes a ``LossSpecError`` at ``path``)."""
        params = dict(params or {})
        problems = self.param_problems(params, path)
        if problems:
            raise problems[0]
        try:
            fn = self.factory(**params)
        except LossSpecError:
            raise
        except (ValueError, TypeError) as exc:
            raise LossSpecError(f"Invalid parameters for loss {self.name!r}: {exc}", path=path) from exc
        if not callable(fn):
            raise LossSpecError(
                f"The factory for loss {self.name!r} returned {fn!r}; a factory must return a loss function "
                "fn(y_true, y_pred, **extras).",
                path=path,
            )
        return fn

    def input_check(self, params: Mapping[str, Any] | None = None) -> Callable[[Mapping[str, Any]], None]:
        """The pre-flight check with ``params``: a function of ``{"y_true": ..., "y_pred": ..., <extra>: ...}``
        raising ``LossInputError`` (a no-op for a loss that declares nothing)."""
        expects = self.expects
        if expects is None:
            return _no_check
        given = dict(params or {})
        defaults = {k: p.default for k, p in self._signature[0].items()}
        ignore = given.get("ignore_class", defaults.get("ignore_class"))  # Keras' skipped class-id value
        return functools.partial(check_inputs, self.name, expects, expects.logits(given, defaults), ignore_class=ignore)


def _no_check(tensors: Mapping[str, Any]) -> None:
    """The pre-flight check of a loss that declares nothing."""
