"""Figures of losses and of training: ``curves`` (value and gradient against the logit) and ``history`` (per term).

``drawable()`` names the losses ``curves`` can draw (one prediction against a binary target).

matplotlib is an optional extra: ``pip install 'lossreg-core[plot]'``. Importing ``lossreg.plot`` imports neither
matplotlib nor Keras; a function imports them when called, and raises ``ModuleNotFoundError`` saying what to install
when matplotlib is missing. Figures are ``matplotlib.figure.Figure`` objects on their own Agg canvas: pyplot and the
global backend are never touched, and ``out="file.png"`` (or ``.svg``) writes the file. ``lossreg plot curves`` and
``lossreg plot history`` are the same from the command line.
"""

from lossreg.plot._curves import curves, drawable
from lossreg.plot._history import history

__all__ = ["curves", "drawable", "history"]
