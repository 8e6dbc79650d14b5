"""``lossreg check``: validate a spec file (and optionally its wiring into a saved model), collecting every problem.

``lossreg.resolve`` and ``lossreg.attach`` stop at the first problem, which is right for code; a person
fixing a spec file wants the whole list at once. So this module parses the spec piece by piece — each
entry, each term — and checks each loss's parameters and extras on its own, gathering every
``LossSpecError`` (each names its spec path, what is wrong and what to do).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lossreg._errors import LossSpecError, PluginLoadError, did_you_mean, format_path
from lossreg._registry import REGISTRY
from lossreg._spec import ENTRY_KEYS, Entry, parse

__all__ = ["CheckResult", "check_spec", "describe_model"]

#: A valid stand-in entry: parsing ``[_PLACEHOLDER] * i + [value]`` reports ``value``'s problems at index ``i``.
#: (A lossreg built-in, so that checking never imports Keras for it.)
_PLACEHOLDER = "softmax_ce"


@dataclass
class CheckResult:
    """What ``check_spec`` found: the entries that parsed, and every problem."""

    root: str
    kind: str | None = None
    entries: dict[Any, Entry] = field(default_factory=dict)
    problems: list[LossSpecError] = field(default_factory=list)
    model_info: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, name, shape)
    stand_ins: set[str] = field(default_factory=set)  # paths of terms replaced by _PLACEHOLDER: not checked

    def add(self, error: LossSpecError) -> None:
        if all(str(error) != str(p) for p in self.problems):
            self.problems.append(error)


def _try_parse(data: Any, root: str) -> tuple[Any, LossSpecError | None]:
    try:
        return parse(data, root=root), None
    except LossSpecError as exc:
        return None, exc


def _repair(value: Any, error_path: str | None, entry_path: str) -> tuple[Any, str | None] | None:
    """``value`` without the part ``error_path`` blames, so parsing can go on to find the next problem.

    Returns the repaired value and the path of the term replaced by a stand-in (if any), or ``None``.
    """
    if not isinstance(value, Mapping) or error_path is None:
        return None
    if error_path == entry_path:  # an unknown key, or a missing 'loss'
        unknown = [k for k in value if k not in ENTRY_KEYS]
        return ({k: v for k, v in value.items() if k not in unknown}, None) if unknown else None
    for key in value:
        here = format_path(entry_path, [key])
        if error_path != here and not error_path.startswith(here + "["):
            continue
        if key != "loss":
            return {k: v for k, v in value.items() if k != key}, None
        terms = value["loss"]
        if isinstance(terms, list):
            for j in range(len(terms)):
                term_path = format_path(entry_path, ["loss", j])
                if error_path == term_path or error_path.startswith(term_path + "["):
                    return {**value, "loss": [*terms[:j], _PLACEHOLDER, *terms[j + 1 :]]}, term_path
            return None
        return {**{k: v for k, v in value.items() if k != "params"}, "loss": _PLACEHOLDER}, entry_path
    return None


def _entry(
    value: Any, wrap: Callable[[Any], Any], pick: Any, path: str, root: str, result: CheckResult
) -> Entry | None:
    """Parse one entry (``wrap`` puts it where it sits in the spec), reporting each problem and parsing on.

    After a problem, the part it blames is dropped (or its loss replaced by a stand-in) and the entry is
    parsed again, so one entry can report several problems. The returned entry, when one parses, is what
    is left; its terms are then checked for parameters and extras.
    """
    current = value
    for _ in range(16):
        parsed, error = _try_parse(wrap(current), root)
        if error is None:
            return parsed.entries[pick]
        result.add(error)
        repaired = _repair(current, error.path, path)
        if repaired is None:
            return None
        current, replaced = repaired
        if replaced is not None:
            result.stand_ins.add(replaced)
    return None


def _as_output(key: Any) -> Callable[[Any], Any]:
    """Put an entry under output ``key``, alone: its problems are reported at ``spec[key]``."""
    return lambda value: {key: value}


def _at_position(i: int) -> Callable[[Any], Any]:
    """Put an entry at list position ``i`` after valid stand-ins: its problems are reported at ``spec[i]``."""
    return lambda value: [_PLACEHOLDER] * i + [value]


def _structure(data: Any, root: str, result: CheckResult) -> None:
    """Sort the spec into entries like ``parse`` does, parsing each on its own."""
    if isinstance(data, Mapping) and "loss" in data:
        result.kind = "single"
        entry = _entry(data, lambda v: v, None, root, root, result)
        if entry is not None:
            result.entries[None] = entry
    elif isinstance(data, Mapping) and data:
        result.kind = "outputs"
        for key, value in data.items():
            path = format_path(root, [key])
            entry = _entry(value, _as_output(key), key, path, root, result)
            if entry is not None:
                result.entries[key] = entry
    elif isinstance(data, list) and data:
        result.kind = "list"
        for i, value in enumerate(data):
            path = format_path(root, [i])
            entry = _entry(value, _at_position(i), i, path, root, result)
            if entry is not None:
                result.entries[i] = entry
    else:
        parsed, error = _try_parse(data, root)
        if error is not None:
            result.add(error)
        else:
            result.kind, result.entries = parsed.kind, dict(parsed.entries)


def _losses(entry: Entry, result: CheckResult) -> None:
    """Each term's loss loads, its parameters fit, and the entry wires the extras its losses take."""
    taken: set[str] = set()
    for term in entry.terms:
        if term.path in result.stand_ins:
            continue  # its problem is reported already
        try:
            REGISTRY.factory(term.loss, path=term.path)
        except PluginLoadError as exc:
            error = PluginLoadError(
                str(exc), distribution=exc.distribution, entry_point=exc.entry_point, path=exc.path or term.path
            )
            result.add(error)
            continue
        except LossSpecError as exc:
            result.add(exc)
            continue
        problems = REGISTRY.param_problems(term.loss, term.params, path=term.path)
        for problem in problems:
            result.add(problem)
        if not problems:
            try:
                REGISTRY.build(term.loss, term.params, path=term.path)
            except LossSpecError as exc:
                result.add(exc)
        extras = REGISTRY.extras(term.loss)
        taken.update(extras)
        missing = [e for e in extras if e not in entry.inputs]
        if missing:
            result.add(
                LossSpecError(
                    f"Loss {term.loss!r} needs the extra tensor(s) {', '.join(map(repr, missing))}. Add "
                    "'inputs': {" + ", ".join(f"{e!r}: '<layer or output name>'" for e in missing) + "} to the "
                    "entry and train with lossreg.attach(model, spec).",
                    path=entry.path,
                )
            )
    if any(term.path in result.stand_ins for term in entry.terms):
        return  # a term we could not read may be the one taking the extras
    for extra in entry.inputs:
        if extra not in taken:
            takes = ", ".join(sorted(taken)) or "no extra tensors"
            result.add(
                LossSpecError(
                    f"Extra {extra!r} is not taken by any loss of this entry (they take {takes})."
                    f"{did_you_mean(extra, taken)} Remove it or fix its name.",
                    path=format_path(entry.path, ["inputs", extra]),
                )
            )


def _unknown_tensor(name: str, outputs: list[str], layers: list[str], path: str, what: str) -> LossSpecError:
    return LossSpecError(
        f"Unknown {what} {name!r}.{did_you_mean(name, outputs + layers)} The model's outputs are: "
        f"{', '.join(outputs) or 'none'}; its layers: {', '.join(layers) or 'none'}.",
        path=path,
    )


def describe_model(model: Any) -> list[tuple[str, str, str]]:
    """``(kind, name, shape)`` for each output and each layer of ``model``."""
    from lossreg.keras._graph import layer_outputs, output_tensors

    rows = [("output", name, str(tuple(t.shape))) for name, t in output_tensors(model).items()]
    outputs = {name for _, name, _ in rows}
    for layer in model.layers:
        try:
            tensors = layer_outputs(layer)
        except (AttributeError, ValueError):
            rows.append(("layer", layer.name, "(used several times)"))
            continue
        rows.extend(("layer", name, str(tuple(t.shape))) for name, t in tensors.items() if name not in outputs)
    return rows


def _wiring(model: Any, data: Any, spec_file: Path, result: CheckResult) -> None:
    """Output, layer and extra names against the model; then ``attach``'s own dry run for shapes."""
    from lossreg.keras._graph import tap_names

    outputs, layers = tap_names(model)
    before = len(result.problems)
    if result.kind == "list" and len(data) > len(outputs):
        result.add(
            LossSpecError(
                f"The spec lists {len(data)} entries but the model has {len(outputs)} output(s) "
                f"({', '.join(outputs)}). Give one entry per output.",
                path=result.root,
            )
        )
    for key, entry in result.entries.items():
        term_ons = [getattr(t, "on", None) for t in entry.terms]
        if result.kind == "single" and len(outputs) > 1 and entry.on is None and None in term_ons:
            result.add(
                LossSpecError(
                    f"The model has {len(outputs)} outputs ({', '.join(outputs)}); say which one this loss is on "
                    "with 'on', or give one entry per output.",
                    path=entry.path,
                )
            )
        if result.kind == "outputs" and key not in outputs and entry.on is None and not entry.inputs:
            result.add(
                LossSpecError(
                    f"Unknown output {key!r}.{did_you_mean(key, outputs)} The model's outputs are: "
                    f"{', '.join(outputs)}. Use an output name as the key, or set 'on': '<output name>'.",
                    path=entry.path,
                )
            )
        if entry.on is not None and entry.on not in outputs + layers:
            result.add(_unknown_tensor(entry.on, outputs, layers, format_path(entry.path, ["on"]), "output"))
        for term, on in zip(entry.terms, term_ons, strict=True):
            if on is not None and on not in outputs + layers:
                result.add(_unknown_tensor(on, outputs, layers, format_path(term.path, ["on"]), "output"))
        for extra, target in entry.inputs.items():
            if target not in outputs + layers:
                result.add(
                    _unknown_tensor(target, outputs, layers, format_path(entry.path, ["inputs", extra]), "layer")
                )
    if len(result.problems) == before and not result.problems:
        from lossreg.keras._attach import attach

        try:
            attach(model, spec_file)  # shapes and anything else attach checks, before any training graph is built
        except LossSpecError as exc:
            result.add(exc)


def check_spec(spec_path: str | os.PathLike[str], model_path: str | os.PathLike[str] | None = None) -> CheckResult:
    """Validate the spec file at ``spec_path`` (and its wiring into the saved model at ``model_path``)."""
    from lossreg._spec_files import load

    result = CheckResult(root=f"{os.path.basename(os.fspath(spec_path))}: spec")
    try:
        data, result.root = load(Path(os.fspath(spec_path)))
    except LossSpecError as exc:
        result.add(exc)
        data = None
    if data is not None:
        _structure(data, result.root, result)
        for entry in result.entries.values():
            _losses(entry, result)
    if model_path is not None:
        model = _load_model(model_path, result)
        if model is not None:
            result.model_info = describe_model(model)
            if data is not None and result.kind is not None:
                _wiring(model, data, Path(os.fspath(spec_path)), result)
    return result


def _load_model(path: str | os.PathLike[str], result: CheckResult) -> Any:
    where = os.fspath(path)
    if not os.path.isfile(where):
        result.add(LossSpecError("No such model file. Give the path of a model saved with model.save().", path=where))
        return None
    import keras

    try:
        return keras.saving.load_model(where, compile=False)
    except Exception as exc:  # Keras raises many types for a bad file; all mean "cannot use this model"
        result.add(
            LossSpecError(
                f"Cannot load the model: {type(exc).__name__}: {exc}. Give a .keras file saved with model.save().",
                path=where,
            )
        )
        return None
