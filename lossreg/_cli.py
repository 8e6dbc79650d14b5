"""The ``lossreg`` command line (also ``python -m lossreg``)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from lossreg._errors import LossSpecError

__all__ = ["main"]


def _cmd_list(args: argparse.Namespace) -> int:
    from lossreg._registry import REGISTRY

    rows = []
    for name in REGISTRY.names():
        entry = REGISTRY.entry(name)
        factory = entry.factory
        summary = ""
        if factory is not None:
            doc = (getattr(factory, "__doc__", None) or "").strip()
            summary = getattr(factory, "summary", None) or (doc.splitlines()[0] if doc else "")
        elif entry.source == "keras":
            summary = "Keras built-in loss."
        rows.append({"name": name, "source": entry.source, "extras": list(entry.extras), "summary": summary})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max(len(r["name"]) for r in rows)
    src_width = max(len(r["source"]) for r in rows)
    for r in rows:
        extras = ", ".join(r["extras"]) or "-"
        print(f"{r['name']:<{width}}  {r['source']:<{src_width}}  {extras:<8}  {r['summary']}")
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    from lossreg._registry import describe

    info = describe(args.name)
    print(info)
    if info.doc:
        print()
        print(info.doc)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from lossreg import _demo

    before, after = _demo.run(args.spec or _demo.SPEC, epochs=args.epochs)
    return 0 if abs(before - after) <= 1e-6 * max(1.0, abs(before)) else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lossreg", description="Named, serializable Keras losses from a spec.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("list", help="list every registered loss (does not import TensorFlow)")
    p.add_argument("--json", action="store_true", help="print JSON for tools")
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("show", help="parameters, extras, formula and source of one loss")
    p.add_argument("name", help="a loss name, e.g. band_masked_softmax_ce")
    p.set_defaults(func=_cmd_show)

    p = sub.add_parser("demo", help="train seed 003's two-output model from a spec, save, reload, compare")
    p.add_argument("--spec", help="spec file (default: the packaged examples/joint_decoder.json)")
    p.add_argument("--epochs", type=int, default=3, help="training epochs (default 3)")
    p.set_defaults(func=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except LossSpecError as exc:
        print(f"lossreg: error: {exc}", file=sys.stderr)
        return 1
