"""The spec grammar: plain data (or a file of it) read into entries and terms, with errors that name the spec path.

Grammar::

    entry   := "name"
             | {"loss": "name", "params": {...}, "weight": 2.0}
             | {"loss": [term, term, ...], "weight": 1.0}          # weighted sum of terms on one output
    term    := "name" | {"loss": "name", "params": {...}, "weight": 0.5, "on": "output"}
    weight  := 0.5 | {"schedule": "linear", ...} | {"learned": "uncertainty", ...}   # see lossreg.spec._weights
    spec    := entry                                                 # one loss for the model
             | {"<output name>": entry, ...}                         # one entry per output
             | [entry, entry, ...]                                   # one entry per output, in order
             | pathlib.Path / os.PathLike to a .json, .toml, .yaml or .yml file holding any of the above

This module knows the shape of a spec only: it never looks a name up in the registry (the rules in
``lossreg.spec._rules`` do) and never imports a module or evaluates code. Every problem goes to a
``Problems`` collector: the first one raises, or (for ``lossreg check``) each is recorded and reading goes
on with what is left (a bad weight reads as 1, a term that cannot be read is dropped).
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from lossreg._errors import LossSpecError, format_path, short_repr
from lossreg.spec._problems import Problems, check_keys
from lossreg.spec._weights import TOO_LARGE, Changing, Learned, read_changing, weight_fits

__all__ = ["ENTRY_KEYS", "SAVED_TERM_KEYS", "TERM_KEYS", "Entry", "ParsedSpec", "Term", "read", "read_terms"]

#: The keys an entry may have. ``on`` and ``inputs`` wire extra tensors (see ``lossreg.attach``).
ENTRY_KEYS: Final = ("loss", "params", "weight", "on", "inputs")
TERM_KEYS: Final = ("loss", "params", "weight", "on")
#: The keys of a term saved in a ``RegisteredLoss`` config.
SAVED_TERM_KEYS: Final = ("loss", "params", "weight")
_NESTED: Final = "Nested term lists are not supported: list every term directly under the entry's 'loss'."


@dataclass(frozen=True)
class Term:
    """One registered loss with its parameters and weight, and where it was written in the spec."""

    loss: str
    params: Mapping[str, Any]
    weight: float
    path: str
    on: str | None = None  # a term's own output, for a joint loss over several outputs (attach only)
    name_path: str | None = None  # where the loss name was written, when not at ``path`` (``path['loss']``)
    #: a weight that changes during training (a schedule or a learned weight); ``weight`` is then 1.0 and every
    #: constant factor (the entry's weight included) is folded into it
    varies: Changing | None = None


@dataclass(frozen=True)
class Entry:
    """What one spec entry asks for: a weighted sum of terms, and the tensors it is wired to."""

    terms: tuple[Term, ...]
    path: str
    on: str | None = None
    inputs: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ParsedSpec:
    """A whole spec: one entry (``single``), entries by output name, or entries by output position.

    ``length`` is the number of entries written (a list spec's length), whether or not each could be read.
    ``loss_defs`` holds each term's ``LossDef`` by term path, once the names rule has looked them up
    (``lossreg.spec.parse``): the one registry lookup per term that every later step reuses.
    """

    kind: Literal["single", "outputs", "list"]
    entries: Mapping[Any, Entry]
    root: str
    length: int = 1
    loss_defs: Mapping[str, Any] = field(default_factory=dict)


def _type_name(value: Any) -> str:
    return type(value).__name__


def weight_problem(value: Any, path: str) -> LossSpecError | None:
    """Why ``value`` is not a weight (a non-negative real number, not a bool, at most ``MAX_WEIGHT``), or ``None``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return LossSpecError(
            f"Invalid weight. Expected a non-negative number, received {_type_name(value)} {short_repr(value)}.",
            path=path,
        )
    if not math.isfinite(_as_float(value)) or _as_float(value) < 0:
        return LossSpecError(
            f"Invalid weight. Expected a finite, non-negative number, received {short_repr(value)}. "
            "Use 0 to switch a term off.",
            path=path,
        )
    if not weight_fits(_as_float(value)):
        return LossSpecError(f"Invalid weight. Expected {TOO_LARGE}, received {short_repr(value)}.", path=path)
    return None


def _as_float(value: numbers.Real) -> float:
    try:
        weight = float(value)
    except OverflowError:  # an integer too large for a float, e.g. 1e400 written out in JSON
        weight = math.inf
    return abs(weight) if weight == 0 else weight  # -0.0 is 0


def _weight(value: Any, path: str, problems: Problems) -> float:
    problem = weight_problem(value, path)
    if problem is not None:
        problems.report(problem)
        return 1.0
    return _as_float(value)


_CHANGING_SAVED: Final = (
    "Invalid weight. A RegisteredLoss (what compile(loss=...) takes) has constant weights: Keras keeps no state "
    "for a loss, so a schedule or learned weight could not advance, train or be saved. Use "
    "lossreg.attach(model, spec) or lossreg.LossLayer for changing weights."
)


def _any_weight(value: Any, path: str, problems: Problems, *, changing: bool = True) -> tuple[float, Changing | None]:
    """A weight as written: a number, or (where ``changing``) a schedule or learned weight mapping."""
    if isinstance(value, Mapping):
        if not changing:
            problems.report(LossSpecError(_CHANGING_SAVED, path=path))
            return 1.0, None
        return 1.0, read_changing(value, path, problems)
    return _weight(value, path, problems), None


def _combined(
    weight: float, varies: Changing | None, scale: float, outer: Changing | None, path: str, problems: Problems
) -> tuple[float, Changing | None]:
    """A term's weight times its entry's: one constant, or one changing weight with every constant folded in."""
    if varies is not None and outer is not None:
        problems.report(
            LossSpecError(
                "Both this term's weight and its entry's weight change during training; a term takes one changing "
                "weight. Keep the schedule or learned weight on the entry or on the term, not both.",
                path=path,
            )
        )
        return 1.0, outer
    varies = varies or outer
    if varies is None:
        return weight * scale, None
    scaled = varies.scaled(weight * scale)
    if not scaled.finite:  # each is a weight, but a schedule's end 1e20 times a weight 1e20 is not
        problems.report(
            LossSpecError(
                f"Invalid weight. This changing weight times the constant weight {weight * scale!r} it is multiplied "
                f"by is beyond the range of a float32 weight ({TOO_LARGE}). Scale the weights down.",
                path=path,
            )
        )
        return 1.0, None
    return 1.0, scaled


def _params(value: Any, path: str, problems: Problems) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        problems.report(
            LossSpecError(
                "Invalid params. Expected a mapping of parameter names to values, received "
                f"{_type_name(value)} {short_repr(value)}.",
                path=path,
            )
        )
        return {}
    for key in value:
        if not isinstance(key, str):
            problems.report(LossSpecError(f"Parameter names must be strings, received {short_repr(key)}.", path=path))
            return {k: v for k, v in value.items() if isinstance(k, str)}
    return dict(value)


def _on(value: Any, path: str, problems: Problems) -> str | None:
    if value is not None and not isinstance(value, str):
        problems.report(
            LossSpecError(
                f"Invalid 'on'. Expected the name of a model output, received {_type_name(value)} {short_repr(value)}.",
                path=path,
            )
        )
        return None
    return value


def _term(
    value: Any,
    path: str,
    scale: float,
    problems: Problems,
    keys: tuple[str, ...] = TERM_KEYS,
    outer: Changing | None = None,
) -> Term | None:
    """One term, or ``None`` (reported) when it cannot be read; ``scale``/``outer``: its entry's weight."""
    if isinstance(value, str):
        weight, varies = _combined(1.0, None, scale, outer, path, problems)
        return Term(value, {}, weight, path, varies=varies)
    if isinstance(value, list):
        problems.report(LossSpecError(_NESTED, path=path))
        return None
    if not isinstance(value, Mapping):
        problems.report(
            LossSpecError(
                "Expected a loss name or a mapping with a 'loss' key, received "
                f"{_type_name(value)} {short_repr(value)}.",
                path=path,
            )
        )
        return None
    check_keys(value, keys, path, "a loss term", problems)
    if "loss" not in value:
        problems.report(LossSpecError("A loss term needs a 'loss' key naming a registered loss.", path=path))
        return None
    name = value["loss"]
    if isinstance(name, list):
        problems.report(LossSpecError(_NESTED, path=format_path(path, ["loss"])))
        return None
    if not isinstance(name, str):
        problems.report(
            LossSpecError(
                f"Expected a loss name (a string), received {_type_name(name)} {short_repr(name)}.",
                path=format_path(path, ["loss"]),
            )
        )
        return None
    params = _params(value.get("params", {}), format_path(path, ["params"]), problems)
    weight_path = format_path(path, ["weight"])
    weight, varies = (
        _any_weight(value["weight"], weight_path, problems, changing=keys != SAVED_TERM_KEYS)
        if "weight" in value
        else (1.0, None)
    )
    if not weight_fits(weight * scale):  # each is a weight, but 1e20 * 1e20 is not
        problems.report(
            LossSpecError(
                f"Invalid weight. This term's weight {weight!r} times its entry's weight {scale!r} is beyond the "
                f"range of a float32 weight ({TOO_LARGE}). Scale the weights down.",
                path=format_path(path, ["weight"]),
            )
        )
        weight = 1.0
    on = _on(value.get("on"), format_path(path, ["on"]), problems)
    weight, varies = _combined(weight, varies, scale, outer, weight_path, problems)
    return Term(name, params, weight, path, on, format_path(path, ["loss"]), varies)


def _inputs(value: Any, path: str, problems: Problems) -> dict[str, str] | None:
    if not isinstance(value, Mapping):
        problems.report(
            LossSpecError(
                "Invalid inputs. Expected a mapping of the loss's extra names to layer or output names, "
                f"e.g. {{'aux': 'deconv1'}}; received {_type_name(value)} {short_repr(value)}.",
                path=path,
            )
        )
        return None
    for key, target in value.items():
        if not isinstance(key, str) or not isinstance(target, str):
            problems.report(
                LossSpecError(
                    f"Invalid inputs item {short_repr(key)}: {short_repr(target)}. Expected extra name (string) -> "
                    "layer or output name (string).",
                    path=path,
                )
            )
            return None
    return dict(value)


def _terms(
    value: Mapping[Any, Any], path: str, weight: float, outer: Changing | None, problems: Problems
) -> list[Term | None]:
    loss = value["loss"]
    if not isinstance(loss, list):
        single = {k: v for k, v in value.items() if k in ("loss", "params")}
        return [_term(single, path, weight, problems, outer=outer)]
    if not loss:
        problems.report(
            LossSpecError("Empty list of loss terms. Give at least one loss name.", path=format_path(path, ["loss"]))
        )
    if "params" in value:
        problems.report(
            LossSpecError(
                "'params' cannot sit beside a list of terms: give each term its own 'params'.",
                path=format_path(path, ["params"]),
            )
        )
    if isinstance(outer, Learned) and len(loss) > 1:
        problems.report(
            LossSpecError(
                f"A learned weight weighs one task's loss, but this entry sums {len(loss)} terms. Give each term its "
                f"own 'weight': {outer.as_spec()}, or split the entry.",
                path=format_path(path, ["weight"]),
            )
        )
        outer = None
    return [_term(item, format_path(path, ["loss", i]), weight, problems, outer=outer) for i, item in enumerate(loss)]


def _entry(value: Any, path: str, problems: Problems) -> Entry | None:
    """One entry, or ``None`` (reported) when nothing of it can be read."""
    if isinstance(value, str):
        return Entry((Term(value, {}, 1.0, path),), path)
    if not isinstance(value, Mapping):
        problems.report(
            LossSpecError(
                "Expected a loss name, a mapping with a 'loss' key, or a mapping of output names to entries; "
                f"received {_type_name(value)} {short_repr(value)}.",
                path=path,
            )
        )
        return None
    check_keys(value, ENTRY_KEYS, path, "a spec entry", problems)
    if "loss" not in value:
        problems.report(LossSpecError("A spec entry needs a 'loss' key naming a registered loss.", path=path))
        return None
    weight, outer = (
        _any_weight(value["weight"], format_path(path, ["weight"]), problems) if "weight" in value else (1.0, None)
    )
    read_terms = _terms(value, path, weight, outer, problems)
    terms = tuple(t for t in read_terms if t is not None)
    on = _on(value.get("on"), format_path(path, ["on"]), problems)
    inputs = _inputs(value["inputs"], format_path(path, ["inputs"]), problems) if "inputs" in value else {}
    if len(terms) < len(read_terms) or inputs is None:
        problems.partial.add(path)
    return Entry(terms, path, on, inputs or {}) if terms else None


def _outputs(spec: Mapping[Any, Any], root: str, problems: Problems) -> ParsedSpec | None:
    if not spec:
        problems.report(LossSpecError("Empty spec. Give a loss name, an entry, or one entry per output.", path=root))
        return None
    stray = [k for k in spec if k in ENTRY_KEYS]
    if stray:
        problems.report(
            LossSpecError(
                f"This entry has {', '.join(map(repr, stray))} but no 'loss' key. Add 'loss': '<name>'.", path=root
            )
        )
        return None
    entries = {}
    for key, value in spec.items():
        if not isinstance(key, str):
            problems.report(
                LossSpecError(f"Output names must be strings, received {_type_name(key)} {short_repr(key)}.", path=root)
            )
            continue
        entry = _entry(value, format_path(root, [key]), problems)
        if entry is not None:
            entries[key] = entry
    return ParsedSpec("outputs", entries, root, len(spec))


def read(spec: Any, *, root: str = "spec", problems: Problems | None = None) -> ParsedSpec | None:
    """Read a spec (data or a path to a spec file) into entries, checking its shape only (no registry).

    Args:
        spec: the spec.
        root: how the spec is named in error paths.
        problems: where problems go; by default the first one raises ``LossSpecError``.

    Returns:
        The entries that could be read; ``None`` only when collecting and nothing could be read.
    """
    problems = Problems() if problems is None else problems
    if isinstance(spec, os.PathLike):
        from lossreg.spec._files import load

        try:
            spec, root = load(spec)
        except LossSpecError as exc:
            problems.report(exc)
            return None
    if isinstance(spec, bytes | bytearray):
        problems.report(
            LossSpecError(
                f"Expected a spec, received bytes {short_repr(spec)}. Decode it or pass a file path.", path=root
            )
        )
        return None
    if isinstance(spec, str) or (isinstance(spec, Mapping) and "loss" in spec):
        entry = _entry(spec, root, problems)
        return ParsedSpec("single", {} if entry is None else {None: entry}, root)
    if isinstance(spec, Mapping):
        return _outputs(spec, root, problems)
    if isinstance(spec, list):
        if not spec:
            problems.report(LossSpecError("Empty spec list. Give one entry per model output.", path=root))
            return None
        entries = {i: _entry(v, format_path(root, [i]), problems) for i, v in enumerate(spec)}
        return ParsedSpec("list", {i: e for i, e in entries.items() if e is not None}, root, len(spec))
    problems.report(
        LossSpecError(
            "Expected a spec: a loss name, a mapping with a 'loss' key, a mapping of output names to entries, "
            f"a list of entries, or a path to a spec file; received {_type_name(spec)} {short_repr(spec)}.",
            path=root,
        )
    )
    return None


def read_terms(terms: Any, *, root: str = "terms") -> tuple[Term, ...]:
    """Read a saved ``RegisteredLoss`` config's terms (``[{"loss": ..., "params": ..., "weight": ...}]``).

    A saved config is untrusted input: it goes through the grammar of a spec's terms, and a bad one raises
    ``LossSpecError`` naming its place (``terms[0]['weight']``).
    """
    problems = Problems()
    if not isinstance(terms, list | tuple) or not terms:
        problems.report(
            LossSpecError(
                "RegisteredLoss expects a non-empty list of terms like [{'loss': 'mse'}], received "
                f"{_type_name(terms)} {short_repr(terms)}.",
                path=root,
            )
        )
        return ()
    read_terms = [_term(t, format_path(root, [i]), 1.0, problems, SAVED_TERM_KEYS) for i, t in enumerate(terms)]
    return tuple(t for t in read_terms if t is not None)
