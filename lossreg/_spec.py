"""The spec grammar: plain data (or a file of it) parsed into terms, with errors that name the spec path.

Grammar::

    entry   := "name"
             | {"loss": "name", "params": {...}, "weight": 2.0}
             | {"loss": [term, term, ...], "weight": 1.0}          # weighted sum of terms on one output
    term    := "name" | {"loss": "name", "params": {...}, "weight": 0.5, "on": "output"}
    spec    := entry                                                 # one loss for the model
             | {"<output name>": entry, ...}                         # one entry per output
             | [entry, entry, ...]                                   # one entry per output, in order
             | pathlib.Path / os.PathLike to a .json, .toml, .yaml or .yml file holding any of the above

Specs are data: parsing never imports a module or evaluates code.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from lossreg._errors import LossSpecError, did_you_mean, format_path, short_repr
from lossreg._registry import REGISTRY

__all__ = ["ENTRY_KEYS", "Entry", "ParsedSpec", "Term", "parse"]

#: The keys an entry may have. ``on`` and ``inputs`` wire extra tensors (see ``lossreg.attach``).
ENTRY_KEYS: Final = ("loss", "params", "weight", "on", "inputs")
TERM_KEYS: Final = ("loss", "params", "weight", "on")


@dataclass(frozen=True)
class Term:
    """One registered loss with its parameters and weight, and where it was written in the spec."""

    loss: str
    params: Mapping[str, Any]
    weight: float
    path: str
    on: str | None = None  # a term's own output, for a joint loss over several outputs (attach only)


@dataclass(frozen=True)
class Entry:
    """What one spec entry asks for: a weighted sum of terms, and the tensors it is wired to."""

    terms: tuple[Term, ...]
    path: str
    on: str | None = None
    inputs: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ParsedSpec:
    """A whole spec: one entry (``single``), entries by output name, or entries by output position."""

    kind: Literal["single", "outputs", "list"]
    entries: Mapping[Any, Entry]
    root: str


def _type_name(value: Any) -> str:
    return type(value).__name__


def _weight(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise LossSpecError(
            f"Invalid weight. Expected a non-negative number, received {_type_name(value)} {short_repr(value)}.",
            path=path,
        )
    try:
        weight = float(value)
    except OverflowError:  # an integer too large for a float, e.g. 1e400 written out in JSON
        weight = math.inf
    weight = abs(weight) if weight == 0 else weight  # -0.0 is 0
    if not math.isfinite(weight) or weight < 0:
        raise LossSpecError(
            f"Invalid weight. Expected a finite, non-negative number, received {short_repr(value)}. "
            "Use 0 to switch a term off.",
            path=path,
        )
    return weight


def _params(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise LossSpecError(
            "Invalid params. Expected a mapping of parameter names to values, received "
            f"{_type_name(value)} {short_repr(value)}.",
            path=path,
        )
    for key in value:
        if not isinstance(key, str):
            raise LossSpecError(f"Parameter names must be strings, received {short_repr(key)}.", path=path)
    return dict(value)


def _check_keys(mapping: Mapping[Any, Any], allowed: tuple[str, ...], path: str, what: str) -> None:
    for key in mapping:
        if key not in allowed:
            hint = did_you_mean(key, allowed) if isinstance(key, str) else ""
            raise LossSpecError(
                f"Unknown key {short_repr(key)} in {what}.{hint} Expected keys: {', '.join(allowed)}.", path=path
            )


_FILE_SUFFIXES: Final = (".json", ".toml", ".yaml", ".yml")


def _loss_name(name: str, path: str) -> str:
    """Check that ``name`` is registered; the error names ``path`` and the closest registered names."""
    try:
        REGISTRY.entry(name, path=path)
    except LossSpecError as exc:
        if type(exc) is LossSpecError and name.lower().endswith(_FILE_SUFFIXES):
            raise LossSpecError(
                f"Unknown loss {short_repr(name)}. A plain string is always a loss name; to read a spec file, pass "
                f"pathlib.Path({short_repr(name)}).",
                path=path,
            ) from None
        raise
    return name


def _term(value: Any, path: str, scale: float) -> Term:
    if isinstance(value, str):
        return Term(_loss_name(value, path), {}, scale, path)
    if isinstance(value, list):
        raise LossSpecError(
            "Nested term lists are not supported: list every term directly under the entry's 'loss'.", path=path
        )
    if isinstance(value, Mapping):
        _check_keys(value, TERM_KEYS, path, "a loss term")
        if "loss" not in value:
            raise LossSpecError("A loss term needs a 'loss' key naming a registered loss.", path=path)
        name = value["loss"]
        if isinstance(name, list):
            raise LossSpecError(
                "Nested term lists are not supported: list every term directly under the entry's 'loss'.",
                path=format_path(path, ["loss"]),
            )
        if not isinstance(name, str):
            raise LossSpecError(
                f"Expected a loss name (a string), received {_type_name(name)} {short_repr(name)}.",
                path=format_path(path, ["loss"]),
            )
        _loss_name(name, format_path(path, ["loss"]))
        params = _params(value.get("params", {}), format_path(path, ["params"]))
        weight = _weight(value.get("weight", 1.0), format_path(path, ["weight"])) if "weight" in value else 1.0
        if not math.isfinite(weight * scale):  # each is finite, but 1e200 * 1e200 is not
            raise LossSpecError(
                f"Invalid weight. This term's weight {weight!r} times its entry's weight {scale!r} is beyond the "
                "range of a float. Scale the weights down.",
                path=format_path(path, ["weight"]),
            )
        on = value.get("on")
        if on is not None and not isinstance(on, str):
            raise LossSpecError(
                f"Invalid 'on'. Expected the name of a model output, received {_type_name(on)} {short_repr(on)}.",
                path=format_path(path, ["on"]),
            )
        return Term(name, params, weight * scale, path, on)
    raise LossSpecError(
        f"Expected a loss name or a mapping with a 'loss' key, received {_type_name(value)} {short_repr(value)}.",
        path=path,
    )


def _inputs(value: Any, path: str) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise LossSpecError(
            "Invalid inputs. Expected a mapping of the loss's extra names to layer or output names, "
            f"e.g. {{'aux': 'deconv1'}}; received {_type_name(value)} {short_repr(value)}.",
            path=path,
        )
    for key, target in value.items():
        if not isinstance(key, str) or not isinstance(target, str):
            raise LossSpecError(
                f"Invalid inputs item {short_repr(key)}: {short_repr(target)}. Expected extra name (string) -> "
                "layer or output name (string).",
                path=path,
            )
    return dict(value)


def _entry(value: Any, path: str) -> Entry:
    if isinstance(value, str):
        return Entry((Term(_loss_name(value, path), {}, 1.0, path),), path)
    if isinstance(value, Mapping):
        _check_keys(value, ENTRY_KEYS, path, "a spec entry")
        if "loss" not in value:
            raise LossSpecError("A spec entry needs a 'loss' key naming a registered loss.", path=path)
        weight = _weight(value["weight"], format_path(path, ["weight"])) if "weight" in value else 1.0
        loss = value["loss"]
        if isinstance(loss, list):
            if not loss:
                raise LossSpecError(
                    "Empty list of loss terms. Give at least one loss name.", path=format_path(path, ["loss"])
                )
            if "params" in value:
                raise LossSpecError(
                    "'params' cannot sit beside a list of terms: give each term its own 'params'.",
                    path=format_path(path, ["params"]),
                )
            terms = tuple(_term(item, format_path(path, ["loss", i]), weight) for i, item in enumerate(loss))
        else:
            term_value = {k: v for k, v in value.items() if k in ("loss", "params")}
            terms = (_term(term_value, path, weight),)
        on = value.get("on")
        if on is not None and not isinstance(on, str):
            raise LossSpecError(
                f"Invalid 'on'. Expected the name of a model output, received {_type_name(on)} {short_repr(on)}.",
                path=format_path(path, ["on"]),
            )
        inputs = _inputs(value["inputs"], format_path(path, ["inputs"])) if "inputs" in value else {}
        return Entry(terms, path, on, inputs)
    raise LossSpecError(
        "Expected a loss name, a mapping with a 'loss' key, or a mapping of output names to entries; "
        f"received {_type_name(value)} {short_repr(value)}.",
        path=path,
    )


def parse(spec: Any, *, root: str = "spec") -> ParsedSpec:
    """Parse a spec (data or a path to a spec file) into entries; raise ``LossSpecError`` if malformed."""
    if isinstance(spec, os.PathLike):
        from lossreg._spec_files import load

        spec, root = load(spec)
    if isinstance(spec, bytes | bytearray):
        raise LossSpecError(
            f"Expected a spec, received bytes {short_repr(spec)}. Decode it or pass a file path.", path=root
        )
    if isinstance(spec, Mapping) and "loss" in spec:
        return ParsedSpec("single", {None: _entry(spec, root)}, root)
    if isinstance(spec, Mapping):
        if not spec:
            raise LossSpecError("Empty spec. Give a loss name, an entry, or one entry per output.", path=root)
        stray = [k for k in spec if k in ENTRY_KEYS]
        if stray:
            raise LossSpecError(
                f"This entry has {', '.join(map(repr, stray))} but no 'loss' key. Add 'loss': '<name>'.", path=root
            )
        entries = {}
        for key, value in spec.items():
            if not isinstance(key, str):
                raise LossSpecError(
                    f"Output names must be strings, received {_type_name(key)} {short_repr(key)}.", path=root
                )
            entries[key] = _entry(value, format_path(root, [key]))
        return ParsedSpec("outputs", entries, root)
    if isinstance(spec, list):
        if not spec:
            raise LossSpecError("Empty spec list. Give one entry per model output.", path=root)
        return ParsedSpec("list", {i: _entry(v, format_path(root, [i])) for i, v in enumerate(spec)}, root)
    if isinstance(spec, str):
        return ParsedSpec("single", {None: _entry(spec, root)}, root)
    raise LossSpecError(
        "Expected a spec: a loss name, a mapping with a 'loss' key, a mapping of output names to entries, "
        f"a list of entries, or a path to a spec file; received {_type_name(spec)} {short_repr(spec)}.",
        path=root,
    )
