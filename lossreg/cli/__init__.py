"""The ``lossreg`` command line (also ``python -m lossreg``): list, show, check, plugins, demo, plot."""

from lossreg.cli._main import build_parser, main

__all__ = ["build_parser", "main"]
