"""The ``lossreg`` command line (also ``python -m lossreg``): list, show, check, plugins, demo, plot.

Output goes to stdout in aligned columns (``--json`` where a tool may read it); errors go to stderr with
exit status 1. ``lossreg list`` imports neither TensorFlow nor any plugin module. ``lossreg plot curves`` and
``lossreg plot history`` (in ``_plot.py``) write ``lossreg.plot``'s figures to PNG or SVG files; they need the
``plot`` extra (matplotlib).
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn, TextIO

from lossreg._errors import LossSpecError
from lossreg.cli._plot import add_plot

__all__ = ["build_parser", "main"]


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "") -> str:
    """Aligned columns; the last one is not padded (it holds free text)."""
    widths = [max(len(str(x)) for x in column) for column in zip(headers, *rows, strict=True)]
    lines = []
    for row in [headers, *rows]:
        cells = [str(c).ljust(w) for c, w in zip(row[:-1], widths, strict=False)] + [str(row[-1])]
        lines.append((indent + "  ".join(cells)).rstrip())
    return "\n".join(lines)


# -- list ---------------------------------------------------------------------------------------------------


def _list_rows() -> list[dict[str, Any]]:
    """One row per loss, without importing TensorFlow or plugin modules (a plugin's row is read from its
    source by ``lossreg.registry.static_metadata``)."""
    from lossreg.registry import REGISTRY

    rows = []
    for name in REGISTRY.names():
        entry = REGISTRY.entry(name)
        record = entry.record
        if record is not None:
            if name == record.qualified and record.plain_name:
                continue  # listed under its plain name, with this one as an alias
            rows.append(
                {
                    "name": name,
                    "source": record.distribution,
                    "version": record.version,
                    "extras": None if record.extras is None else list(record.extras),
                    "summary": record.summary or "",
                    "aliases": [record.qualified] if name != record.qualified else [],
                    "status": record.status,
                }
            )
            continue
        loss_def = entry.loss_def
        rows.append(
            {
                "name": name,
                "source": entry.source,
                "version": None,
                "extras": list(entry.extras),
                "summary": loss_def.summary if loss_def is not None else "",
                "aliases": [],
                "status": "ok" if loss_def is not None else "not loaded",
            }
        )
    return rows


def _cmd_list(args: argparse.Namespace) -> int:
    rows = _list_rows()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0

    def extras(row: dict[str, Any]) -> str:
        return "?" if row["extras"] is None else (", ".join(row["extras"]) or "-")

    print(
        _table(
            ["NAME", "SOURCE", "EXTRAS", "SUMMARY"], [[r["name"], r["source"], extras(r), r["summary"]] for r in rows]
        )
    )
    return 0


# -- show ---------------------------------------------------------------------------------------------------


def _cmd_show(args: argparse.Namespace) -> int:
    from lossreg.registry import REGISTRY

    info = REGISTRY.describe(args.name)
    record = REGISTRY.entry(args.name).record
    print(f"{info.name}: {info.summary}" if info.summary else info.name)
    if record is not None:
        print(f"source:     {record.distribution} {record.version} (entry point '{record.name} = {record.value}')")
        others = [n for n in record.registered_names if n != args.name]
        if others:
            print(f"also named: {', '.join(others)}")
    else:
        print(f"source:     {info.source}")
    print(f"extras:     {', '.join(info.extras) if info.extras else 'none'}")
    if info.dense_inputs:
        print(f"optional tensors: {', '.join(info.dense_inputs)}")
    if info.normalizer:
        print("normalizer:")
        print(textwrap.indent(textwrap.fill(info.normalizer, 100), "  "))
    if info.expects is not None:
        print("inputs:")
        for line in info.expects.lines():
            print(f"  {line}")
    if info.params:
        print("parameters:")
        rows = [
            [
                p.name,
                p.annotation,
                "(required)" if p.required else repr(p.default),
                info.ranges[p.name].bound() if p.name in info.ranges else "",
            ]
            for p in info.params.values()
        ]
        print(_table(["NAME", "TYPE", "DEFAULT", "VALUES"], rows, indent="  "))
    else:
        print("parameters: none")
    if info.doc:
        print()
        print(info.doc)
    return 0


# -- check --------------------------------------------------------------------------------------------------


def _term_text(term: Any) -> str:
    varies = getattr(term, "varies", None)
    if varies is not None:  # a schedule or learned weight: its kind here, its values in the list below the table
        text = f"{getattr(varies, 'kind', None) or varies.method} x {term.loss}"
    else:
        text = term.loss if term.weight == 1.0 else f"{term.weight:g} x {term.loss}"
    if term.params:
        text += "(" + ", ".join(f"{k}={v!r}" for k, v in term.params.items()) + ")"
    on = getattr(term, "on", None)
    return text + (f" on {on}" if on else "")


def _cmd_check(args: argparse.Namespace) -> int:
    from lossreg.spec._check import check_spec

    result = check_spec(args.spec, args.model, imports=args.imports or ())
    if result.model_info:
        outputs = [row for row in result.model_info if row[0] == "output"]
        print(f"model {args.model}: {len(outputs)} output(s), {len(result.model_info) - len(outputs)} other layer(s)")
        print(_table(["KIND", "NAME", "SHAPE"], [list(row) for row in result.model_info], indent="  "))
    if result.problems:
        n = len(result.problems)
        print(f"lossreg check: {n} problem{'s' if n != 1 else ''} in {args.spec}:", file=sys.stderr)
        for problem in result.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    entries = result.entries
    print(f"{args.spec}: valid ({len(entries)} entr{'y' if len(entries) == 1 else 'ies'})")
    rows = []
    for key, entry in entries.items():
        wiring = []
        if entry.on:
            wiring.append(f"on {entry.on}")
        if entry.inputs:
            wiring.append("inputs " + ", ".join(f"{k}={v}" for k, v in entry.inputs.items()))
        label = "(single)" if key is None else str(key)
        rows.append([label, " + ".join(_term_text(t) for t in entry.terms), "; ".join(wiring) or "-"])
    print(_table(["ENTRY", "LOSS", "WIRING"], rows, indent="  "))
    if any(entry.inputs or entry.on or any(getattr(t, "on", None) for t in entry.terms) for entry in entries.values()):
        print("Entries with 'on' or 'inputs' wire extra tensors: train with lossreg.attach(model, spec).")
    changing = _changing_weights(entries.values(), prefix=result.root.removesuffix("spec"))
    if changing:
        print(
            "Weights that change during training: train with lossreg.attach(model, spec); "
            "compile(loss=lossreg.resolve(spec)) refuses them."
        )
        for line in changing:
            print(f"  {line}")
    return 0


def _changing_weights(entries: Any, prefix: str) -> list[str]:
    """A line per term whose weight changes: where the weight is written, then what it does (``describe``).

    A weight written on an entry of several terms applies to each (times the term's own weight): its line
    names the term too.
    """
    terms = [t for entry in entries for t in entry.terms if getattr(t, "varies", None) is not None]
    shared: dict[str, int] = {}
    for term in terms:
        shared[term.varies.path] = shared.get(term.varies.path, 0) + 1
    lines = []
    for term in terms:
        where = term.varies.path.removeprefix(prefix)
        if shared[term.varies.path] > 1:
            where += f" on {term.path.removeprefix(prefix)} ({term.loss})"
        lines.append(f"{where}: {term.varies.describe()}")
    return lines


# -- plugins ------------------------------------------------------------------------------------------------


def _cmd_plugins(args: argparse.Namespace) -> int:
    from lossreg.registry import GROUP, REGISTRY

    records = REGISTRY.load_all()
    if args.json:
        keys = ("name", "qualified", "distribution", "version", "value", "status", "plain_name")
        print(json.dumps([{k: getattr(r, k) for k in keys} for r in records], indent=2))
        return 0
    if not records:
        print(f"No plugins installed (no '{GROUP}' entry points found).")
        return 0
    rows = [[r.name if r.plain_name else r.qualified, r.distribution, r.version, r.value, r.status] for r in records]
    print(_table(["LOSS", "DISTRIBUTION", "VERSION", "ENTRY POINT", "STATUS"], rows))
    failed = sum(r.status.startswith("failed") for r in records)
    if failed:
        print(
            f"{failed} plugin loss{'es' if failed != 1 else ''} failed to load; every other loss works. "
            "Fix or uninstall the distribution named above."
        )
    return 0


# -- demo ---------------------------------------------------------------------------------------------------


def _cmd_demo(args: argparse.Namespace) -> int:
    from lossreg import _demo

    before, after = _demo.run(args.spec or _demo.SPEC, epochs=args.epochs)
    return 0 if abs(before - after) <= 1e-6 * max(1.0, abs(before)) else 1


class _Parser(argparse.ArgumentParser):
    """argparse with lossreg's exit status: a usage error exits 1 (argparse's default is 2)."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(1, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="lossreg",
        description="Named, serializable Keras losses from a spec: list, inspect, check and plot them.",
        epilog="Run `lossreg COMMAND --help` for a command's options.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "list",
        help="every registered loss: name, source, extras, summary (does not import TensorFlow)",
        description="List every registered loss: lossreg's, Keras' built-in names and plugins'. Plugin modules "
        "are not imported; an extras column of '?' means the plugin declares them in a way only loading shows.",
    )
    p.add_argument("--json", action="store_true", help="print JSON for tools")
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser(
        "show",
        help="parameters, extras, formula and source of one loss",
        description="Show one loss: parameters with types and defaults, extras, source and its docstring.",
    )
    p.add_argument("name", help="a loss name, e.g. band_masked_softmax_ce or lossreg-segmentation:soft_dice")
    p.set_defaults(func=_cmd_show)

    _add_check(sub)

    p = sub.add_parser(
        "plugins",
        help="each installed plugin loss with its distribution, version and status",
        description="Load every plugin loss (entry point group 'lossreg.losses') and report ok or why it failed.",
    )
    p.add_argument("--json", action="store_true", help="print JSON for tools")
    p.set_defaults(func=_cmd_plugins)

    _add_demo(sub)
    add_plot(sub)
    return parser


def _add_check(sub: Any) -> None:
    """The `check` sub-command and its options."""
    p = sub.add_parser(
        "check",
        help="validate a spec file, optionally against a saved model",
        description="Validate a spec file (.json, .toml, .yaml): every problem is listed with its spec path, "
        "what is wrong and what to do (exit 1), or the entries are summarised (exit 0). With --model, output "
        "and layer names (and shapes) are checked against a saved .keras model and printed (a saved lossreg.attach() "
        "model is checked as the model it wraps); --import imports modules defining custom layers or losses first.",
    )
    p.add_argument("spec", help="the spec file")
    p.add_argument("--model", metavar="MODEL.keras", help="a saved Keras model to check the wiring against")
    p.add_argument(
        "--import",
        dest="imports",
        action="append",
        metavar="MODULE",
        help="import MODULE first: one defining the model's custom layers or registering losses (repeatable)",
    )
    p.set_defaults(func=_cmd_check)


def _add_demo(sub: Any) -> None:
    """The `demo` sub-command and its options."""
    p = sub.add_parser(
        "demo",
        help="train seed 003's two-output model from a spec, save, reload, compare",
        description="Train seed 003's two-output model on synthetic data from a spec, save it, reload it in this "
        "process and check the reloaded loss matches (exit 1 if it does not).",
    )
    p.add_argument(
        "--spec",
        metavar="SPEC",
        help="a spec file (.json, .toml, .yaml) for the model's outputs: output_1, logits shaped (batch, 9, 5), and "
        "output_2, logits shaped (batch, 9, 9, 4), with one-hot targets (default: lossreg/data/joint_decoder.json, "
        "installed with lossreg; the same spec as examples/joint_decoder.json)",
    )
    p.add_argument("--epochs", type=int, default=3, help="training epochs (default 3)")
    p.set_defaults(func=_cmd_demo)


@contextmanager
def _warnings_as_lines() -> Iterator[None]:
    """Show each warning once, as ``lossreg: warning: <message>`` on stderr: no file, line or source line.

    Python's own format points at the line of lossreg that called ``warnings.warn``, which tells a user of
    the command nothing. A warning of another package (Keras, TensorFlow) keeps its category's name.
    """
    shown: set[str] = set()

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        text = str(message) if category.__module__.split(".")[0] == "lossreg" else f"{category.__name__}: {message}"
        if text not in shown:
            shown.add(text)
            print(f"lossreg: warning: {text}", file=sys.stderr if file is None else file)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line on ``argv`` (default ``sys.argv[1:]``) and return the exit status.

    Exit status 0 on success, 1 on a usage error, a bad spec or a failed check.
    """
    with _warnings_as_lines():
        args = build_parser().parse_args(argv)
        try:
            return int(args.func(args))
        except LossSpecError as exc:
            print(f"lossreg: error: {exc}", file=sys.stderr)
            return 1
