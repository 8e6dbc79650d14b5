"""Reading a loss's signature, once: its spec parameters, its extra tensors, and checking spec values against them.

Two shapes of callable are read here, the one way to write a loss and the legacy one:

* a *pure loss* ``fn(y_true, y_pred, *, param=default, ..., extra)``: told apart by its first two parameters,
  positional and without defaults. Its keyword-only parameters with defaults are its spec parameters; those
  without defaults are the extra tensors it takes (``extras_rule``).
* a *factory* ``factory(*, param=default, ...) -> fn(y_true, y_pred, **extras)``: every named parameter is a
  spec parameter; its extras are given to ``register`` or as its ``extras`` attribute.

``extras_rule`` is the one statement of the extras rule; the static reader behind ``lossreg list``
(``lossreg.registry._static``) applies it to a syntax tree, ``read_pure`` to a live signature.
"""

from __future__ import annotations

import inspect
import math
import numbers
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from lossreg._errors import short_repr

__all__ = [
    "DENSE_INPUTS",
    "MAX_FOCAL_GAMMA",
    "Param",
    "Range",
    "annotation_text",
    "check_standard_param",
    "check_type",
    "extras_rule",
    "is_call",
    "is_extra_name",
    "is_pure_loss",
    "param_path",
    "read_pure",
    "standard_param_message",
    "standard_param_problem",
    "valid_extras",
]

#: Reserved keyword-only parameters of a pure loss, each ``name: Tensor | None = None``: neither spec parameters nor
#: required extras. ``mask`` is an optional extra tensor (non-zero keeps an element); ``sample_weight`` receives a
#: per-element (per-pixel) weight map from Keras, for a loss that applies it inside its own sums (an overlap loss).
DENSE_INPUTS: Final = ("mask", "sample_weight")
_EXTRA_RE: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RESERVED_EXTRAS: Final = frozenset({"y_true", "y_pred"})
_POSITIONAL: Final = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def is_extra_name(name: Any) -> bool:
    """Whether ``name`` can name an extra tensor: a Python identifier other than ``y_true``/``y_pred``."""
    return isinstance(name, str) and bool(_EXTRA_RE.match(name)) and name not in _RESERVED_EXTRAS


def valid_extras(value: Any) -> bool:
    """Whether ``value`` is a valid extras declaration: a list or tuple of distinct extra names."""
    return isinstance(value, list | tuple) and all(is_extra_name(e) for e in value) and len(set(value)) == len(value)


def extras_rule(keyword_only: Iterable[tuple[str, bool]]) -> tuple[str, ...]:
    """The extras of a pure loss: its keyword-only parameters (``(name, has_default)``) without a default."""
    return tuple(name for name, has_default in keyword_only if not has_default)


@dataclass(frozen=True)
class Param:
    """One parameter of a loss: its name, default (``Param.REQUIRED`` if none) and type."""

    REQUIRED: typing.ClassVar[object] = inspect.Parameter.empty
    name: str
    default: Any
    annotation: str

    @property
    def required(self) -> bool:
        return self.default is Param.REQUIRED


#: The largest focal ``gamma`` (lossreg's ``sigmoid_focal``, Keras' focal cross-entropies). The modulating factor
#: ``(1 - p_t)**gamma`` is computed in float32: at gamma = 100 a prediction at chance (``1 - p_t = 1/2``) still
#: weighs 2**-100 (7.9e-31), and its loss (>= log 2 times that) stays a normal float32 even averaged over 2**24
#: elements (3.3e-38 > 1.2e-38); from gamma = 126 the factor at chance leaves the normal range, from 150 it is 0,
#: and at 1e9 every prediction short of certain weighs exactly 0 (the loss was 0.0). Published values are <= 5.
MAX_FOCAL_GAMMA: Final = 100.0


@dataclass(frozen=True)
class Range:
    """The values a numeric parameter takes: ``low`` (excluded when ``open_low``) to ``high`` (included).
    The comparisons fail for NaN; ``None`` values (an optional parameter switched off) are not checked."""

    low: float | None = None
    high: float | None = None
    open_low: bool = False

    def bound(self) -> str:
        """The range as ``lossreg show`` and errors print it: ``> 0``, ``>= 0``, ``in [0, 1]``, ``in (0, 1]``."""
        if self.high is None:
            return f"{'>' if self.open_low else '>='} {self.low:g}"
        if self.low is None:
            return f"<= {self.high:g}"
        return f"in {'(' if self.open_low else '['}{self.low:g}, {self.high:g}]"

    def holds(self, value: Any) -> bool:
        """Whether ``value`` lies in the range; values the type hint speaks for (``None``, bools, non-numbers) hold."""
        if value is None or isinstance(value, bool) or not isinstance(value, numbers.Real):
            return True
        number = typing.cast(float, value)  # compared as given: an int exactly (10**400 > 1.0), never float()-ed
        above = self.low is None or (number > self.low if self.open_low else number >= self.low)
        return above and (self.high is None or number <= self.high)

    def problem(self, name: str, value: Any) -> str | None:
        """Why ``name=value`` is out of range (the message of ``lossreg.losses._checks``), or ``None``."""
        return None if self.holds(value) else f"`{name}` must be {self.bound()}, received {name}={value!r}."


def annotation_text(annotation: Any) -> str:
    """A type hint as ``lossreg show`` and error messages print it (``float | None``, ``Literal['a']``)."""
    if annotation is inspect.Parameter.empty:
        return "any"
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def _as_float(value: numbers.Real) -> float:
    try:
        return float(value)
    except OverflowError:  # an integer beyond float range, e.g. 10**400 written out in a JSON spec
        return math.inf


def check_type(value: Any, hint: Any) -> bool:
    """Whether a spec value fits a parameter's type hint; unknown hints accept anything."""
    origin = typing.get_origin(hint)
    if origin is Literal:
        # the type first: `value == choice` on a NumPy array is an array, whose truth value raises
        return any(type(value) is type(choice) and value == choice for choice in typing.get_args(hint))
    if origin in (typing.Union, types.UnionType):
        return any(check_type(value, arg) for arg in typing.get_args(hint))
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
            return len(value) == len(args) and all(check_type(v, a) for v, a in zip(value, args, strict=True))
        return not args or all(check_type(v, args[0]) for v in value)
    if origin in (dict, Mapping):
        if not isinstance(value, Mapping):
            return False
        return len(args) != 2 or all(check_type(k, args[0]) and check_type(v, args[1]) for k, v in value.items())
    return True


def is_call(path: str | None) -> bool:
    """Whether ``path`` names a Python call such as ``lossreg.get('x')`` rather than a spec location."""
    return bool(path) and path.endswith(")")  # type: ignore[union-attr]


def param_path(path: str | None, key: str) -> str | None:
    """Where a parameter was given: ``spec['out']['params']['k']`` or ``lossreg.get('x', k=...)``."""
    if not path:
        return None
    return f"{path[:-1]}, {key}=...)" if is_call(path) else f"{path}['params'][{key!r}]"


def signature_of(obj: Callable[..., Any], who: str) -> inspect.Signature:
    try:
        return inspect.signature(obj)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{who}: cannot read the signature of {obj!r} ({exc}).") from exc


def is_pure_loss(obj: Any) -> bool:
    """Whether ``obj`` is a pure loss ``fn(y_true, y_pred, *, ...)``: its first two parameters are positional
    and have no default (a factory's parameters are all keyword parameters, each a spec parameter)."""
    try:
        parameters = list(inspect.signature(obj).parameters.values())
    except (TypeError, ValueError):
        return False
    head = parameters[:2]
    return len(head) == 2 and all(p.kind in _POSITIONAL and p.default is p.empty for p in head)


def read_pure(fn: Callable[..., Any], who: str) -> tuple[list[inspect.Parameter], tuple[str, ...], tuple[str, ...]]:
    """A pure loss's spec parameters (keyword-only, with defaults), extras and dense inputs (``DENSE_INPUTS`` it
    takes), or a ``TypeError`` saying why ``fn`` is not of the shape ``fn(y_true, y_pred, *, param=default, ...,
    extra)``."""
    name = getattr(fn, "__name__", None) or type(fn).__name__
    shape = f"Write it as def {name}(y_true, y_pred, *, param=default, ..., extra_tensor)"
    signature = signature_of(fn, who)
    positional = [p for p in signature.parameters.values() if p.kind in _POSITIONAL]
    if len(positional) < 2:
        raise TypeError(f"{who}: the loss takes y_true and y_pred as its first two arguments. {shape}.")
    if len(positional) > 2:
        extra = positional[2].name
        raise TypeError(
            f"{who}: parameter {extra!r} is positional; a loss's parameters are keyword-only so a "
            f"spec can name them. {shape} (put {extra!r} after the '*')."
        )
    keyword_only: list[inspect.Parameter] = []
    for p in signature.parameters.values():
        if p.kind is p.VAR_POSITIONAL or p.kind is p.VAR_KEYWORD:
            star = "*" if p.kind is p.VAR_POSITIONAL else "**"
            raise TypeError(f"{who}: {star}{p.name} cannot be checked against a spec; name each parameter. {shape}.")
        if p.kind is p.KEYWORD_ONLY and p.name in DENSE_INPUTS:
            if p.default is not None:
                raise TypeError(
                    f"{who}: {p.name!r} is lossreg's optional {p.name} tensor (see lossreg.DENSE_INPUTS); give it the "
                    f"default None ({p.name}=None), or rename the parameter."
                )
        elif p.kind is p.KEYWORD_ONLY:
            keyword_only.append(p)
    dense = tuple(name for name in DENSE_INPUTS if name in signature.parameters)
    extras = extras_rule((p.name, p.default is not p.empty) for p in keyword_only)
    for extra in extras:
        if not is_extra_name(extra):
            raise TypeError(f"{who}: {extra!r} cannot name an extra tensor. {shape}.")
    return [p for p in keyword_only if p.name not in extras], extras, dense


_FLOAT32_MAX: Final = 3.4028234663852886e38


def _class_weights_problem(value: Any) -> str | None:
    if value is None:
        return None
    received = f"received {short_repr(value)}"
    if isinstance(value, str | bytes) or not isinstance(value, Sequence) or not value:
        return f"expected a non-empty list of numbers, one per class (channel); {received}."
    for i, w in enumerate(value):
        if isinstance(w, bool) or not isinstance(w, numbers.Real):
            return f"expected numbers; element {i} is {type(w).__name__} {short_repr(w)}."
        f = _as_float(w)
        if not (0.0 <= f <= _FLOAT32_MAX):  # NaN fails too
            return (
                f"expected weights >= 0 and at most the largest float32 ({_FLOAT32_MAX:.4g}); element {i} is "
                f"{short_repr(w)}. Give 0 to leave a class out, never a negative or non-finite weight."
            )
    if not sum(_as_float(w) for w in value) > 0:
        return f"expected at least one positive weight (all are 0: every class would be left out); {received}."
    return None


def _ignore_class_problem(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        kind = type(value).__name__
        return f"expected an integer class id (e.g. 255, or -1) or None; received {kind} {short_repr(value)}."
    if not -(2**31) <= int(value) < 2**31:
        return f"expected an integer that fits int32 (e.g. 255, or -1); received {short_repr(value)}."
    return None


#: Parameters whose meaning lossreg fixes for every loss that has them (``ignore_class``: a target value whose
#: elements are ignored, Keras' name; ``class_weights``: one weight per class), each checked by one rule.
_STANDARD: Final = {"class_weights": _class_weights_problem, "ignore_class": _ignore_class_problem}


def standard_param_problem(name: str, value: Any) -> str | None:
    """What is wrong with ``value`` for a standard parameter (``ignore_class``, ``class_weights``), else ``None``."""
    rule = _STANDARD.get(name)
    return None if rule is None else rule(value)


def check_standard_param(loss: str, name: str, value: Any) -> None:
    """Raise ``ValueError`` (the message a spec's ``LossSpecError`` gives) for a bad standard parameter: the rule for
    a loss called directly on tensors."""
    problem = standard_param_problem(name, value)
    if problem is not None:
        raise ValueError(standard_param_message(loss, name, problem))


def standard_param_message(loss: str, name: str, problem: str) -> str:
    return f"Invalid {name!r} for loss {loss!r}: {problem}"
