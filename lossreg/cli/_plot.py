"""``lossreg plot curves`` and ``lossreg plot history``: ``lossreg.plot``'s figures written to a PNG or SVG file.

Nothing here imports matplotlib or Keras at module level (``lossreg list`` imports this module); the figure
functions do, when a plot command runs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import textwrap
from typing import Any, Final

from lossreg._errors import LossSpecError, did_you_mean

__all__ = ["add_plot", "parse_params"]

_PARAMS_SYNTAX: Final = "NAME:KEY=VALUE[,KEY=VALUE...]"
_PARAMS_EXAMPLE: Final = "sigmoid_focal:gamma=2,alpha=0.25"
_WORDS: Final = {"True": True, "False": False, "None": None}


def _split_top(text: str) -> list[str]:
    """``text`` split at the commas outside brackets and quotes (``class_weights=[1,2],smooth=1``: two items)."""
    items, depth, quote, start = [], 0, "", 0
    for i, char in enumerate(text):
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "[{(":
            depth += 1
        elif char in "]})":
            depth -= 1
        elif char == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    items.append(text[start:])
    return items


def _value(text: str) -> Any:
    """A parameter value as typed: JSON (``2``, ``0.25``, ``true``, ``null``, ``[1, 2]``, ``"x"``), Python's
    ``True``/``False``/``None``, or else the text itself (``activation=sigmoid``)."""
    text = text.strip()
    if text in _WORDS:
        return _WORDS[text]
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_params(items: list[str] | None, names: list[str]) -> list[dict[str, Any]]:
    """One parameter dict per name from ``--params`` items ``NAME:KEY=VALUE[,KEY=VALUE...]``.

    ``NAME`` is a loss among ``names`` (every occurrence of it) or a 1-based position (``2:gamma=5``: the second
    name, for a loss drawn twice with other parameters). A later item overrides an earlier one's keys.

    Examples:
        >>> parse_params(["sigmoid_focal:gamma=2,alpha=0.25", "2:gamma=5"], ["sigmoid_focal", "sigmoid_focal"])
        [{'gamma': 2, 'alpha': 0.25}, {'gamma': 5, 'alpha': 0.25}]
        >>> parse_params(["lossreg-segmentation:soft_dice:smooth=0.5"], ["lossreg-segmentation:soft_dice"])
        [{'smooth': 0.5}]
    """
    params: list[dict[str, Any]] = [{} for _ in names]
    for item in items or ():
        head, equals, _ = item.partition("=")
        target, colon, first_key = head.rpartition(":")
        if not equals or not colon or not target or not first_key.strip():
            raise LossSpecError(
                f"Invalid --params {item!r}: expected {_PARAMS_SYNTAX}, e.g. --params {_PARAMS_EXAMPLE} (a name "
                "drawn twice: its position, --params 2:gamma=5).",
                path="lossreg plot curves",
            )
        if target.isdigit() and 1 <= int(target) <= len(names):
            chosen = [int(target) - 1]
        elif target in names:
            chosen = [i for i, name in enumerate(names) if name == target]
        else:
            raise LossSpecError(
                f"Invalid --params {item!r}: {target!r} is not one of the losses drawn ({', '.join(names)}) nor a "
                f"position 1 to {len(names)}.{did_you_mean(target, names)}",
                path="lossreg plot curves",
            )
        given = {}
        for pair in _split_top(item[len(target) + 1 :]):
            key, equals, value = pair.partition("=")
            if not equals or not key.strip().isidentifier():
                raise LossSpecError(
                    f"Invalid --params {item!r}: {pair!r} is not KEY=VALUE; expected {_PARAMS_SYNTAX}, e.g. "
                    f"--params {_PARAMS_EXAMPLE}.",
                    path="lossreg plot curves",
                )
            given[key.strip()] = _value(value)
        for i in chosen:
            params[i].update(given)
    return params


def _fill(text: str) -> str:
    """``text`` wrapped as argparse wraps a description (a raw formatter keeps the epilog's example lines)."""
    return textwrap.fill(text, width=min(shutil.get_terminal_size().columns, 100) - 2)


def _figure_errors(run: Any, args: argparse.Namespace) -> int:
    """Run a plot command; a missing matplotlib is an error line (exit 1) like every other error."""
    try:
        return int(run(args))
    except ModuleNotFoundError as exc:
        if exc.name != "matplotlib":
            raise
        print(f"lossreg: error: {exc}", file=sys.stderr)
        return 1


def _cmd_curves(args: argparse.Namespace) -> int:
    from lossreg.plot import curves

    params = parse_params(args.params, args.names)
    curves(args.names, params, x=args.x, points=args.points, out=args.out)
    print(f"wrote {args.out}: value and gradient of {', '.join(args.names)}")
    return 0


def _cmd_history(args: argparse.Namespace) -> int:
    from lossreg.plot import history

    figure = history(args.file, out=args.out)
    panels = [ax.get_title() for ax in figure.axes if ax.get_title()]
    print(f"wrote {args.out}: {len(panels)} panel{'s' if len(panels) != 1 else ''} ({', '.join(panels)})")
    return 0


def add_plot(sub: Any) -> None:
    """The ``plot`` sub-command, with ``curves`` and ``history``."""
    install = "Needs matplotlib: pip install 'lossreg-core[plot]'."
    p = sub.add_parser(
        "plot",
        help="draw losses' values and gradients, or per-term training curves, to a PNG or SVG file",
        description="Draw a figure to a PNG or SVG file (the format follows -o's suffix). " + install,
        epilog="Run `lossreg plot curves --help` or `lossreg plot history --help` for their options.",
    )
    plots = p.add_subparsers(dest="plot", required=True, metavar="FIGURE")

    c = plots.add_parser(
        "curves",
        help="each loss's value and gradient against the logit (or probability), for targets 1 and 0",
        description=_fill(
            "Draw each loss's value and its gradient (by the backend's autodiff) against the logit, or the "
            "probability, for a positive target (1) and a negative one (0): BCE against focal against Dice. "
            "Drawable losses take one prediction and binary targets (sigmoid_bce, sigmoid_focal, sigmoid_dice, "
            "binary_crossentropy, soft_dice, ...). " + install
        ),
        epilog="example:\n  lossreg plot curves sigmoid_bce sigmoid_focal sigmoid_dice \\\n"
        f"      --params {_PARAMS_EXAMPLE} -o curves.png",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    c.add_argument("names", nargs="+", metavar="NAME", help="a loss name (`lossreg list`); a name may repeat")
    c.add_argument(
        "--params",
        action="append",
        metavar=_PARAMS_SYNTAX,
        help="a loss's parameters, values as JSON or plain words (repeatable), e.g. "
        f"{_PARAMS_EXAMPLE}; NAME may be a position (2:gamma=5) for a loss drawn twice",
    )
    c.add_argument(
        "--x",
        choices=("logit", "probability"),
        default=None,
        help="the x axis (default: the logit, unless every loss takes probabilities)",
    )
    c.add_argument(
        "--points",
        type=int,
        default=201,
        metavar="N",
        help="how many points, over logits [-6, 6] or probabilities [0.005, 0.995] (default 201)",
    )
    c.add_argument("-o", "--out", required=True, metavar="FILE", help="the figure file: .png or .svg")
    c.set_defaults(func=lambda args: _figure_errors(_cmd_curves, args))

    h = plots.add_parser(
        "history",
        help="per-term training curves from a CSVLogger file or a saved History JSON",
        description=_fill(
            "Draw training curves from a keras.callbacks.CSVLogger file (.csv) or a JSON file of History.history "
            "(json.dump(history.history, f)): a panel for the total loss, then one per term with <term>_loss, "
            "<term>_weighted_loss and <term>_weight (right axis), val_ variants dashed. " + install
        ),
        epilog="example:\n  lossreg plot history training.csv -o history.svg",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    h.add_argument("file", metavar="FILE", help="a CSVLogger .csv file or a History .json file")
    h.add_argument("-o", "--out", required=True, metavar="OUT", help="the figure file: .png or .svg")
    h.set_defaults(func=lambda args: _figure_errors(_cmd_history, args))
