"""matplotlib, imported on first use: the missing-extra error, a pyplot-free figure, and writing PNG or SVG.

Figures are ``matplotlib.figure.Figure`` objects drawn on their own Agg canvas (``FigureCanvasAgg``): no pyplot,
so nothing here reads or changes the global backend (``matplotlib.use``) or pyplot's list of open figures, and a
figure is freed when its last reference goes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Final

from lossreg._errors import LossSpecError

__all__ = ["INSTALL", "SUFFIXES", "new_figure", "require_matplotlib", "save"]

#: what to run when matplotlib is missing
INSTALL: Final = "pip install 'lossreg-core[plot]'"
#: the file types ``out=`` writes, by suffix (the format follows the suffix)
SUFFIXES: Final = {".png": "png", ".svg": "svg"}
_MIN_VERSION: Final = (3, 7)


def require_matplotlib() -> Any:
    """The ``matplotlib`` module, or a ``ModuleNotFoundError`` saying what is missing and how to install it."""
    try:
        import matplotlib
    except ImportError as exc:
        raise ModuleNotFoundError(
            f"lossreg.plot draws with matplotlib, which is not installed. Install the plot extra: {INSTALL} "
            "(or pip install 'matplotlib>=3.7').",
            name="matplotlib",
        ) from exc
    version = tuple(int(part) for part in matplotlib.__version__.split(".")[:2] if part.isdigit())
    if version < _MIN_VERSION:
        raise ModuleNotFoundError(
            f"lossreg.plot needs matplotlib >= 3.7; matplotlib {matplotlib.__version__} is installed. Upgrade it: "
            f"{INSTALL} (or pip install -U 'matplotlib>=3.7').",
            name="matplotlib",
        )
    return matplotlib


def check_out(out: str | os.PathLike[str] | None, where: str) -> Path | None:
    """``out`` as a ``Path`` with a suffix lossreg writes (``.png`` or ``.svg``), checked before any drawing."""
    if out is None:
        return None
    if not isinstance(out, str | os.PathLike):
        raise LossSpecError(
            f"Invalid out={out!r}: expected a file path ending in .png or .svg, received {type(out).__name__}.",
            path=where,
        )
    path = Path(out)
    if path.suffix.lower() not in SUFFIXES:
        raise LossSpecError(
            f"Cannot write {str(path)!r}: the file type follows the suffix, which must be .png or .svg "
            f"(received {path.suffix or 'no suffix'!r}). Name the file e.g. {path.stem or 'curves'}.png.",
            path=where,
        )
    return path


def new_figure(width: float, height: float) -> Any:
    """A ``Figure`` on its own Agg canvas, laid out by matplotlib's constrained layout."""
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def save(figure: Any, out: Path | None, where: str) -> None:
    """Write ``figure`` to ``out`` (PNG at 150 dpi, or SVG) when ``out`` is given."""
    if out is None:
        return
    import matplotlib

    try:
        with matplotlib.rc_context({"svg.hashsalt": "lossreg"}):  # SVG element ids that do not change per run
            figure.savefig(out, format=SUFFIXES[out.suffix.lower()], dpi=150, metadata=_metadata(out))
    except OSError as exc:
        raise LossSpecError(f"Cannot write {str(out)!r}: {exc.strerror or exc}.", path=where) from exc


def _metadata(out: Path) -> dict[str, Any]:
    """No creation date or software version in the file, so the same figure gives the same bytes (docs builds)."""
    if out.suffix.lower() == ".svg":
        return {"Date": None, "Creator": None}
    return {"Software": None}
