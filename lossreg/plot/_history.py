"""``lossreg.plot.history``: per-term training curves from a ``CSVLogger`` file, a saved ``History`` or a dict.

What lossreg logs (README "Changing weights" -> "Logged, saved, and where it works"): for each term of an attached
model (or of a multi-term entry under ``compile(loss=...)`` with ``lossreg.term_metrics``), ``<term>_loss`` (the
term unweighted), ``<term>_weighted_loss`` (its contribution to ``loss``) and ``<term>_weight`` (the latest batch's
weight), each with its ``val_`` twin after validation; Keras adds ``loss`` and ``<output>_loss``. Each term gets a
panel; the columns are read as they are, NaN or ``NA`` (``CSVLogger``'s missing value) leaving a gap.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np

from lossreg._errors import LossSpecError, short_repr
from lossreg.plot._figure import check_out, new_figure, require_matplotlib, save

__all__ = ["history", "read_history"]

WHERE: Final = "lossreg.plot.history"
#: the largest history file read (a CSVLogger file of 10,000 epochs and 50 columns is about 5 MB)
MAX_BYTES: Final = 64 * 1024 * 1024
_MISSING: Final = frozenset({"", "na", "nan", "none", "null"})
#: (key suffix, kind), longest first: ``_weighted_loss`` also ends in ``_loss``
_KINDS: Final = (("_weighted_loss", "weighted_loss"), ("_loss", "loss"), ("_weight", "weight"))
_STYLE: Final = {"loss": "C0", "weighted_loss": "C1", "weight": "C2"}


@dataclass
class _Panel:
    """One term's columns (``title`` is the term's name), or the total's (``term`` is ``None``)."""

    term: str | None
    keys: dict[str, list[str]] = field(default_factory=dict)  # kind -> its keys, train before val_


def history(source: Any, *, out: str | os.PathLike[str] | None = None) -> Any:
    """Draw training curves, one panel per loss term, from a ``CSVLogger`` file, a saved ``History`` or a dict.

    The first panel is the total, ``loss`` (and ``val_loss``); then a panel per term: ``<term>_loss`` (blue) and
    ``<term>_weighted_loss`` (orange) on the left axis, ``<term>_weight`` (green) on a twin axis on the right, each
    with its ``val_`` variant dashed; one legend below the panels says so. Keras' ``<output>_loss`` gets a panel
    too. The panels share the epoch axis: the ``epoch`` column of a ``CSVLogger`` file (counted from 0, as Keras
    writes it), else ``History.epoch``, else 0, 1, 2, ... Other columns (accuracy, learning rate) are left out.
    Each line's label is its column's name.

    Args:
        source: a ``CSVLogger`` file (``.csv``: ``epoch,loss,...``), a JSON file of ``History.history``
            (``json.dump(history.history, f)``: metric -> list of per-epoch values), that dict itself, or the
            ``keras.callbacks.History`` that ``fit`` returns. A file of another suffix is read as JSON when it
            starts with ``{``, else as CSV.
        out: a ``.png`` or ``.svg`` file to write the figure to (the format follows the suffix).

    Returns:
        The ``matplotlib.figure.Figure`` (on its own Agg canvas; pyplot is not used). Its axes are the panels in
        order, then the twin weight axes.

    Raises:
        LossSpecError: a missing or unreadable file, values that are not numbers, columns of different lengths,
            no loss column at all, or a bad ``out`` suffix.
        ModuleNotFoundError: matplotlib is not installed (``pip install 'lossreg-core[plot]'``).

    Examples:
        >>> from lossreg.plot import history
        >>> logs = {"loss": [2.0, 1.2, 0.9], "kl_loss": [1.5, 0.8, 0.7], "kl_weighted_loss": [0.0, 0.4, 0.7],
        ...         "kl_weight": [0.0, 0.5, 1.0], "recon_loss": [2.0, 0.8, 0.2]}
        >>> fig = history(logs)
        >>> [ax.get_title() for ax in fig.axes[:3]]
        ['total', 'kl', 'recon']
        >>> [line.get_label() for line in fig.axes[1].get_lines()]
        ['kl_loss', 'kl_weighted_loss']
    """
    out_path = check_out(out, WHERE)
    require_matplotlib()
    epochs, columns, name = read_history(source)
    panels = _panels(columns, name)
    figure = _draw(panels, epochs, columns, name)
    save(figure, out_path, WHERE)
    return figure


# -- reading ---------------------------------------------------------------------------------------------------


def read_history(source: Any) -> tuple[np.ndarray, dict[str, np.ndarray], str | None]:
    """``(epochs, {column: values}, file name or None)`` from any source ``history`` takes, as float64."""
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        text = _read_text(path)
        as_json = path.suffix.lower() == ".json" or (path.suffix.lower() != ".csv" and text.lstrip().startswith("{"))
        where = f"history file {str(path)!r}"
        raw = _parse_json(text, where) if as_json else _parse_csv(text, where)
        return (*_columns(raw, where), path.name)
    data = getattr(source, "history", source)  # keras.callbacks.History keeps its dict in .history
    if not isinstance(data, Mapping):
        raise LossSpecError(
            f"Invalid history source of type {type(source).__name__}: expected a CSVLogger or JSON file path, a "
            "dict of metric -> per-epoch values (History.history), or the History that fit() returns.",
            path=WHERE,
        )
    raw = dict(data)
    epoch = getattr(source, "epoch", None)
    if (
        "epoch" not in raw
        and isinstance(epoch, list)
        and epoch
        and all(len(_list(v)) == len(epoch) for v in raw.values())
    ):
        raw["epoch"] = epoch
    return (*_columns(raw, "history"), None)


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple | np.ndarray) else [value]


def _read_text(path: Path) -> str:
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise LossSpecError(
                f"History file is over {MAX_BYTES // 2**20} MiB ({size} bytes): check that this is the CSVLogger "
                "or History JSON file.",
                path=str(path),
            )
        return path.read_text(encoding="utf-8")
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path; UnicodeDecodeError is one
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise LossSpecError(
            f"Cannot read history file: {reason}. Give a CSVLogger file (.csv) or a JSON file of History.history.",
            path=str(path),
        ) from exc


def _parse_json(text: str, where: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise LossSpecError(f"{where} is not valid JSON: {exc}.", path=WHERE) from exc
    if not isinstance(data, dict):
        raise LossSpecError(
            f"{where} holds a JSON {type(data).__name__}; expected an object of metric -> per-epoch values, as "
            "json.dump(history.history, f) writes.",
            path=WHERE,
        )
    return data


def _parse_csv(text: str, where: str) -> dict[str, Any]:
    rows = list(csv.reader(io.StringIO(text)))
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    if not rows:
        raise LossSpecError(f"{where} is empty; expected a CSVLogger file (a header 'epoch,loss,...').", path=WHERE)
    header = [cell.strip() for cell in rows[0]]
    data: dict[str, list[Any]] = {key: [] for key in header}
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise LossSpecError(
                f"{where}, line {number}: {len(row)} values for {len(header)} columns ({', '.join(header)}).",
                path=WHERE,
            )
        for key, cell in zip(header, row, strict=True):
            data[key].append(cell)
    return data


def _number(value: Any, key: str, index: int, where: str) -> float:
    if value is None or (isinstance(value, str) and value.strip().lower() in _MISSING):
        return math.nan
    if isinstance(value, bool):
        value = None  # refused below: True is not a loss value
    try:
        return float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise LossSpecError(
            f"{where}: column {key!r} holds {short_repr(value)} at epoch index {index}; expected numbers (or NA).",
            path=WHERE,
        ) from None


def _columns(raw: Mapping[Any, Any], where: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    columns: dict[str, np.ndarray] = {}
    for key, values in raw.items():
        values = _list(values)
        columns[str(key)] = np.array([_number(v, str(key), i, where) for i, v in enumerate(values)], dtype="float64")
    lengths = {key: len(values) for key, values in columns.items()}
    if len(set(lengths.values())) > 1:
        raise LossSpecError(
            f"{where}: columns of different lengths ({', '.join(f'{k}: {n}' for k, n in lengths.items())}); "
            "expected one value per epoch in every column.",
            path=WHERE,
        )
    epochs = columns.pop("epoch", None)
    if epochs is None:
        epochs = np.arange(next(iter(lengths.values()), 0), dtype="float64")
    return epochs, columns


# -- which columns go where ----------------------------------------------------------------------------------


def _split(key: str) -> tuple[str | None, str] | None:
    """``(term, kind)`` of a column (``term`` ``None`` for the total ``loss``), or ``None`` for other metrics."""
    base = key.removeprefix("val_")
    if base == "loss":
        return None, "loss"
    for suffix, kind in _KINDS:
        if base.endswith(suffix) and len(base) > len(suffix):
            return base[: -len(suffix)], kind
    return None


def _panels(columns: Mapping[str, np.ndarray], name: str | None) -> list[_Panel]:
    total = _Panel(None)
    terms: dict[str, _Panel] = {}
    for key in sorted(columns, key=lambda k: (k.startswith("val_"), list(columns).index(k))):
        found = _split(key)
        if found is None:
            continue
        term, kind = found
        panel = total if term is None else terms.setdefault(term, _Panel(term))
        panel.keys.setdefault(kind, []).append(key)
    panels = [p for p in terms.values() if "loss" in p.keys or "weighted_loss" in p.keys]  # a lone `_weight`: no
    if total.keys:
        panels.insert(0, total)
    if not panels:
        where = f"history file {name!r}" if name else "history"
        raise LossSpecError(
            f"{where} has no loss column: expected 'loss' and '<term>_loss' columns (with '<term>_weighted_loss', "
            f"'<term>_weight' and 'val_' variants), as Keras' CSVLogger and History record; found "
            f"{', '.join(map(repr, columns)) or 'no columns'}.",
            path=WHERE,
        )
    return panels


# -- the figure ------------------------------------------------------------------------------------------------


def _draw(panels: list[_Panel], epochs: np.ndarray, columns: Mapping[str, np.ndarray], name: str | None) -> Any:
    """The panels in a grid (one column up to two panels, else two), and one legend for all: colour is the kind of
    column, solid is training and dashed validation, so no legend covers a curve."""
    ncols = 1 if len(panels) <= 2 else 2
    nrows = math.ceil(len(panels) / ncols)
    figure = new_figure(6.4 * ncols, 1.6 + 2.7 * nrows)
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    grid = figure.subplots(nrows, ncols, sharex=True, squeeze=False)
    axes = list(grid.flat)
    for spare in axes[len(panels) :]:
        figure.delaxes(spare)
    marker = "o" if len(epochs) <= 30 else None
    kinds: set[str] = set()
    validation = False
    for i, (ax, panel) in enumerate(zip(axes, panels, strict=False)):
        ax.set_title("total" if panel.term is None else panel.term)
        twin = ax.twinx() if panel.keys.get("weight") else None
        for kind in ("loss", "weighted_loss", "weight"):
            for key in panel.keys.get(kind, []):
                on = twin if kind == "weight" and twin is not None else ax
                style = "--" if key.startswith("val_") else "-"
                on.plot(epochs, columns[key], style, color=_STYLE[kind], marker=marker, markersize=3, label=key)
                kinds.add("total" if panel.term is None else kind)
                validation = validation or key.startswith("val_")
        ax.set_ylabel("loss")
        ax.grid(True, alpha=0.35)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if twin is not None:
            twin.set_ylabel("weight", color=_STYLE["weight"])
            twin.tick_params(axis="y", colors=_STYLE["weight"])
            low = np.nanmin([np.nanmin(columns[k], initial=np.inf) for k in panel.keys["weight"]])
            if np.isfinite(low) and low >= 0:
                twin.set_ylim(bottom=0)
        if i + ncols >= len(panels):  # the lowest panel of its column: its x axis is labelled
            ax.set_xlabel("epoch")
            ax.xaxis.set_tick_params(labelbottom=True)
    blue = [text for kind, text in (("total", "loss"), ("loss", "<term>_loss (unweighted)")) if kind in kinds]
    entries = [("C0", ", ".join(blue))] if blue else []
    if "weighted_loss" in kinds:
        entries.append(("C1", "<term>_weighted_loss (its part of loss)"))
    if "weight" in kinds:
        entries.append(("C2", "<term>_weight (right axis)"))
    handles = [Line2D([], [], color=color, marker=marker, markersize=3) for color, _ in entries]
    labels = [text for _, text in entries]
    handles.append(Line2D([], [], color="0.35"))
    labels.append("training (solid)")
    if validation:
        handles.append(Line2D([], [], color="0.35", linestyle="--"))
        labels.append("validation: val_ (dashed)")
    figure.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 3), frameon=False)
    figure.suptitle("Training history" + (f": {name}" if name else ""), fontsize=13)
    return figure
