"""``lossreg check``: validate a spec file (and optionally its wiring into a saved model), listing every problem.

The spec is read once with a collecting ``Problems``, and the same rules as ``resolve`` and ``attach`` run
on what could be read: loss names, parameters, extras wired, changing weights; with ``--model``, outputs
and ``on`` against the model, then ``attach``'s own dry run for shapes when nothing else is wrong.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lossreg._errors import LossSpecError, format_path
from lossreg.spec._files import load
from lossreg.spec._grammar import Entry, ParsedSpec, read
from lossreg.spec._problems import Problems
from lossreg.spec._rules import check_extras, check_outputs, check_params, check_weights, known_terms
from lossreg.spec._view import ModelView

__all__ = ["CheckResult", "check_spec", "describe_model"]


@dataclass
class CheckResult:
    """What ``check_spec`` found: the entries that could be read, and every problem."""

    root: str
    kind: str | None = None
    entries: dict[Any, Entry] = field(default_factory=dict)
    problems: list[LossSpecError] = field(default_factory=list)
    model_info: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, name, shape)


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


def _spec_rules(parsed: ParsedSpec, problems: Problems) -> None:
    """Names, parameters and extras of every entry, and changing weights that fit together (no model needed).

    Weights are checked as ``attach`` checks them: a changing weight is valid data, which only ``resolve``
    refuses (as it refuses ``on`` and ``inputs``); the summary says so.
    """
    for entry in parsed.entries.values():
        known = known_terms(entry, problems)
        for term in entry.terms:
            if term.path in known:
                check_params(term, known[term.path], problems)
        check_extras(entry, known, problems)
    check_weights(parsed, problems)


def _in_spec_order(data: Any, root: str) -> Callable[[LossSpecError], int]:
    """A sort key putting problems in the order of the entries they are in (the spec's own order)."""
    keys = list(data) if isinstance(data, Mapping) and "loss" not in data else []
    keys = list(range(len(data))) if isinstance(data, list) else keys
    prefixes = [format_path(root, [key]) for key in keys]

    def position(error: LossSpecError) -> int:
        path = error.path or ""
        return next((i for i, p in enumerate(prefixes) if path == p or path.startswith(p + "[")), -1)

    return position


def _import(modules: Sequence[str], problems: Problems) -> None:
    """Import the modules that define a model's custom layers or register losses (``--import``)."""
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as exc:  # any failure of the user's module is reported, not raised
            problems.report(
                LossSpecError(
                    f"Cannot import module {name!r}: {type(exc).__name__}: {exc}. Give an importable module "
                    "(on PYTHONPATH) that defines the model's custom layers or registers losses.",
                    path=f"--import {name}",
                )
            )


def _load_model(path: str | os.PathLike[str], problems: Problems) -> Any:
    where = os.fspath(path)
    if not os.path.isfile(where):
        problems.report(
            LossSpecError("No such model file. Give the path of a model saved with model.save().", path=where)
        )
        return None
    import keras

    try:
        model = keras.saving.load_model(where, compile=False)
    except Exception as exc:  # Keras raises many types for a bad file; all mean "cannot use this model"
        problems.report(
            LossSpecError(
                f"Cannot load the model: {type(exc).__name__}: {exc}. Give a .keras file saved with model.save() "
                "(with --import MODULE for a module that defines its custom layers).",
                path=where,
            )
        )
        return None
    return getattr(model, "inference_model", model)  # a saved lossreg.attach() model: check the model it wraps


def _wiring(model: Any, parsed: ParsedSpec, spec_file: Path, problems: Problems) -> None:
    """Outputs and ``on``/``inputs`` names against the model; then ``attach``'s own dry run for shapes."""
    try:
        view = ModelView.of(model)
    except LossSpecError as exc:
        problems.report(exc)
        return
    check_outputs(parsed, view, problems)
    if not problems:
        from lossreg.keras._attach import attach

        try:
            attach(model, spec_file)  # shapes and anything else attach checks, before any training graph is built
        except LossSpecError as exc:
            problems.report(exc)


def check_spec(
    spec_path: str | os.PathLike[str],
    model_path: str | os.PathLike[str] | None = None,
    *,
    imports: Sequence[str] = (),
) -> CheckResult:
    """Validate the spec file at ``spec_path`` (and its wiring into the saved model at ``model_path``).

    Args:
        spec_path: a .json, .toml, .yaml or .yml spec file.
        model_path: a saved ``.keras`` model (a saved ``lossreg.attach`` model is checked as the model it wraps).
        imports: modules to import first (those defining the model's custom layers, or registering losses).

    Returns:
        The entries read and every problem found (each a ``LossSpecError`` naming its spec path).
    """
    problems = Problems(collect=True)
    spec_file = Path(os.fspath(spec_path))
    result = CheckResult(root=f"{os.path.basename(os.fspath(spec_path))}: spec", problems=problems.errors)
    _import(imports, problems)  # first: a module may register losses the spec names, or the model's layers
    parsed = None
    try:
        data, result.root = load(spec_file)
    except LossSpecError as exc:
        problems.report(exc)
    else:
        parsed = read(data, root=result.root, problems=problems)
    if parsed is not None:
        result.kind, result.entries = parsed.kind, dict(parsed.entries)
        _spec_rules(parsed, problems)
        problems.errors.sort(key=_in_spec_order(data, result.root))
    if model_path is not None:
        model = _load_model(model_path, problems)
        if model is not None:
            try:
                result.model_info = describe_model(model)
            except LossSpecError as exc:  # e.g. a subclassed model without symbolic outputs: one more problem
                problems.report(exc)
            else:
                if parsed is not None:
                    _wiring(model, parsed, spec_file, problems)
    return result
