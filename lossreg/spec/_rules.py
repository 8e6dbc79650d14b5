"""Every semantic rule of a spec, written once: loss names, parameters, extras wired, outputs and ``on``,
compile versus attach.

``lossreg.resolve``, ``lossreg.attach`` and ``lossreg check`` call these same functions on a parsed spec,
so one mistake gets one message on every path. Each rule reports to a ``Problems`` collector (raise on the
first, or collect all). The registry is consulted here, never in the grammar; a model is seen only through
a ``ModelView`` (plain names), so nothing here imports Keras.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

from lossreg._errors import LossSpecError, PluginLoadError, did_you_mean, format_path, short_repr
from lossreg.registry import REGISTRY, LossDef
from lossreg.spec._grammar import Entry, ParsedSpec, Term, read
from lossreg.spec._problems import Problems
from lossreg.spec._view import ModelView
from lossreg.spec._weights import Learned, Schedule

__all__ = [
    "check_compilable",
    "check_extras",
    "check_outputs",
    "check_params",
    "check_tap",
    "check_weights",
    "extras_not_passed",
    "known_terms",
    "parse",
    "unknown_output",
]

_FILE_SUFFIXES = (".json", ".toml", ".yaml", ".yml")


def _names(items: Iterable[str]) -> str:
    return ", ".join(map(repr, items))


# -- loss names and parameters ------------------------------------------------------------------------------------


def _loss_def(term: Term) -> LossDef:
    """``term``'s loss, looked up once; raises the did-you-mean error for an unknown name, naming the term."""
    try:
        return REGISTRY.lookup(term.loss, path=term.name_path or term.path)
    except PluginLoadError:
        raise
    except LossSpecError as exc:
        if term.loss.lower().endswith(_FILE_SUFFIXES):
            raise LossSpecError(
                f"Unknown loss {short_repr(term.loss)}. A plain string is always a loss name; to read a spec file, "
                f"pass pathlib.Path({short_repr(term.loss)}).",
                path=exc.path,
            ) from None
        raise


def known_terms(entry: Entry, problems: Problems) -> dict[str, LossDef]:
    """Rule: every term names a registered loss that loads. Returns ``{term path: LossDef}`` of those that do."""
    known: dict[str, LossDef] = {}
    for term in entry.terms:
        try:
            known[term.path] = _loss_def(term)
        except LossSpecError as exc:
            problems.report(exc)
    return known


def check_params(term: Term, loss_def: LossDef, problems: Problems) -> None:
    """Rule: the term's parameters fit its loss (names, types, required ones) and its factory accepts them."""
    found = loss_def.param_problems(term.params, term.path)
    for problem in found:
        problems.report(problem)
    if not found:
        try:
            loss_def.bind(term.params, term.path)
        except LossSpecError as exc:
            problems.report(exc)


# -- extras -------------------------------------------------------------------------------------------------------


def check_extras(entry: Entry, known: Mapping[str, LossDef], problems: Problems) -> None:
    """Rule (attach): each extra a loss takes is wired in ``inputs``, and each wired extra is taken by a loss."""
    for term in entry.terms:
        missing = [e for e in (known[term.path].extras if term.path in known else ()) if e not in entry.inputs]
        if missing:
            wiring = ", ".join(f"{e!r}: '<layer or output name>'" for e in missing)
            problems.report(
                LossSpecError(
                    f"Loss {term.loss!r} needs the extra tensor(s) {_names(missing)}. Add 'inputs': {{{wiring}}} "
                    "to the entry.",
                    path=entry.path,
                )
            )
    if len(known) < len(entry.terms) or entry.path in problems.partial:
        return  # a term that could not be read may be the one taking the extras
    taken = {e for loss_def in known.values() for e in (*loss_def.extras, *_wireable(loss_def.dense_inputs))}
    for extra in entry.inputs:
        if extra not in taken:
            takes = ", ".join(sorted(taken)) or "no extra tensors"
            problems.report(
                LossSpecError(
                    f"Extra {extra!r} is not taken by any loss of this entry ({_names(t.loss for t in entry.terms)} "
                    f"take(s) {takes}).{did_you_mean(extra, taken)} Remove it or fix its name.",
                    path=format_path(entry.path, ["inputs", extra]),
                )
            )


def _wireable(dense_inputs: Iterable[str]) -> tuple[str, ...]:
    """The optional dense tensors a spec may wire as an extra: the ``mask`` (``sample_weight`` comes from Keras)."""
    return tuple(d for d in dense_inputs if d == "mask")


def check_compilable(entry: Entry, known: Mapping[str, LossDef], problems: Problems) -> None:
    """Rule (resolve): ``compile(loss=...)`` gives each loss its own target and output, nothing else."""
    if entry.on is not None or entry.inputs:
        key = "on" if entry.on is not None else "inputs"
        problems.report(
            LossSpecError(
                f"'{key}' wires extra tensors, which compile(loss=...) cannot pass. Use "
                "lossreg.attach(model, spec) for this spec.",
                path=entry.path,
            )
        )
    for term in entry.terms:
        if term.on is not None:
            problems.report(
                LossSpecError(
                    "A term with its own 'on' (a joint loss over several outputs) needs lossreg.attach(model, spec); "
                    "compile(loss=...) gives each loss only its own output.",
                    path=format_path(term.path, ["on"]),
                )
            )
        extras = known[term.path].extras if term.path in known else ()
        if extras:
            problems.report(LossSpecError(extras_not_passed(term.loss, extras), path=term.path))
        if term.varies is not None:
            problems.report(
                LossSpecError(
                    "A weight that changes during training (a schedule or a learned weight) needs model state, "
                    "which Keras does not keep for compile(loss=...). Use lossreg.attach(model, spec) (or "
                    "lossreg.LossLayer in the graph) for this spec.",
                    path=term.varies.path,
                )
            )


# -- weights that change ------------------------------------------------------------------------------------------


def check_weights(parsed: ParsedSpec, problems: Problems, *, epochs: bool = True) -> None:
    """Rule: changing weights that fit together. Every ``dwa`` term shares one temperature (DWA weighs its tasks
    jointly); ``epochs=False`` (``LossLayer``, which cannot see ``fit``'s epochs) refuses epoch-counted ones."""
    temperatures: dict[float, str] = {}
    for entry in parsed.entries.values():
        for term in entry.terms:
            varies = term.varies
            if isinstance(varies, Learned) and varies.method == "dwa":
                temperatures.setdefault(varies.params["temperature"], varies.path)
                if len(temperatures) > 1:
                    first = next(iter(temperatures.items()))
                    problems.report(
                        LossSpecError(
                            f"Dynamic weight average weighs its tasks jointly with one temperature, but this term "
                            f"has {varies.params['temperature']!r} and {first[1]} has {first[0]!r}. Give every 'dwa' "
                            "weight the same temperature.",
                            path=format_path(varies.path, ["temperature"]),
                        )
                    )
            counts_epochs = (isinstance(varies, Schedule) and varies.unit == "epoch") or (
                isinstance(varies, Learned) and varies.needs_epochs
            )
            if counts_epochs and not epochs and varies is not None:
                if isinstance(varies, Schedule):
                    what, other = "An epoch-counted schedule", ", or count the schedule in steps ('unit': 'step')"
                else:  # dwa sets its weights from each epoch's losses: no step-counted form
                    what, other = "Dynamic weight average", ", or weigh the terms with {'learned': 'uncertainty'}"
                problems.report(
                    LossSpecError(
                        f"{what} needs fit()'s epochs, which a LossLayer cannot see (lossreg.attach counts them). "
                        f"Use lossreg.attach(model, spec){other}.",
                        path=varies.path,
                    )
                )


def extras_not_passed(loss: str, extras: Iterable[str]) -> str:
    """The message for a loss given none of its extra tensors: at ``resolve``, or when a compiled loss is called."""
    extras = tuple(extras)
    wiring = ", ".join(f"{e!r}: '<layer name>'" for e in extras)
    return (
        f"Loss {loss!r} needs the extra tensor(s) {_names(extras)}, which compile(loss=...) cannot pass. Use "
        f"lossreg.attach(model, spec) with 'inputs': {{{wiring}}}, or lossreg.LossLayer({loss!r}) in the graph."
    )


# -- outputs and taps against a model ----------------------------------------------------------------------------


def unknown_output(key: str, view: ModelView, path: str) -> LossSpecError:
    """The error for an entry keyed by a name that is not one of the model's outputs."""
    return LossSpecError(
        f"Unknown output {key!r}.{did_you_mean(key, view.outputs)} The model's outputs are: {', '.join(view.outputs)}.",
        path=path,
    )


def check_tap(name: str, view: ModelView, path: str, what: str, problems: Problems) -> None:
    """Rule: ``name`` (an ``on`` or an ``inputs`` target) is a tensor of the model."""
    note = view.explain(name)
    if note is not None:
        problems.report(LossSpecError(note, path=path))
    elif name not in view.outputs and name not in view.layers:
        candidates = view.outputs + view.layers
        problems.report(
            LossSpecError(
                f"Unknown {what} {name!r}.{did_you_mean(name, candidates)} The model's outputs are: "
                f"{', '.join(view.outputs) or 'none'}; its layers: {', '.join(view.layers) or 'none'}.",
                path=path,
            )
        )


def _says_on(entry: Entry) -> bool:
    """Whether the entry says which output each of its terms is on: its own 'on', or each term's."""
    return entry.on is not None or all(t.on is not None for t in entry.terms)


def check_outputs(parsed: ParsedSpec, view: ModelView, problems: Problems, *, single_needs_on: bool = True) -> None:
    """Rule: entries fit the model's outputs (count, keys, which one) and every ``on``/``inputs`` name is a tensor.

    Args:
        parsed: the spec.
        view: the model's names.
        problems: where problems go.
        single_needs_on: whether one entry for a model of several outputs must say which one it is on
            (``attach``, ``lossreg check``; ``compile(loss=...)`` applies it to every output instead).
    """
    outputs = view.outputs
    if parsed.kind == "list" and parsed.length != len(outputs):
        problems.report(
            LossSpecError(
                f"This list gives {parsed.length} entries, but the model has {len(outputs)} outputs "
                f"({', '.join(outputs)}). Give one entry per output, in order, or a dict keyed by output name.",
                path=parsed.root,
            )
        )
    for key, entry in parsed.entries.items():
        if parsed.kind == "single" and single_needs_on and len(outputs) > 1 and not _says_on(entry):
            problems.report(
                LossSpecError(
                    f"The model has {len(outputs)} outputs ({', '.join(outputs)}); say which one this loss is on "
                    "with 'on', or give one entry per output.",
                    path=entry.path,
                )
            )
        if parsed.kind == "outputs" and key not in outputs and not _says_on(entry) and not entry.inputs:
            # an entry with 'inputs' but no 'on' may need no target (vae_kl): attach's dry run decides
            problems.report(unknown_output(key, view, entry.path))
        if entry.on is not None:
            check_tap(entry.on, view, format_path(entry.path, ["on"]), "output", problems)
        for term in entry.terms:
            if term.on is not None:
                check_tap(term.on, view, format_path(term.path, ["on"]), "output", problems)
        for extra, target in entry.inputs.items():
            check_tap(target, view, format_path(entry.path, ["inputs", extra]), "layer or output", problems)


# -- the spec as code reads it ------------------------------------------------------------------------------------


def parse(spec: object, *, root: str = "spec") -> ParsedSpec:
    """Read a spec and check its loss names; raise ``LossSpecError`` (naming the spec path) at the first problem.

    What ``resolve``, ``attach`` and ``LossLayer`` start from; the other rules follow on the path that applies them.
    """
    problems = Problems()
    parsed = read(spec, root=root, problems=problems)
    if parsed is None:  # pragma: no cover - a raising collector has raised already
        raise LossSpecError("Unreadable spec.", path=root)
    known: dict[str, LossDef] = {}
    for entry in parsed.entries.values():
        known.update(known_terms(entry, problems))
    return replace(parsed, loss_defs=known)
