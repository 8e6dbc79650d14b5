"""One float64 NumPy reference and one input recipe per loss, for every suite.

tests/conftest.py puts tests/ on sys.path, so test modules and tests/golden/make_golden.py ``import references``.

``REFERENCES[name]`` is a :class:`Reference`: the formula, the recipe of typical inputs and the cases each suite
runs (golden values, ``check_loss`` runs, the numerics matrix, raw-TF extremes). The suites parametrise over
``covered()`` — ``lossreg.names()`` ∩ ``REFERENCES`` — and tests/test_references.py fails when a loss of lossreg (or
of the two plugins) has no reference, so a new loss cannot be forgotten: add its record to ``builtin.py``.
"""

from __future__ import annotations

from collections.abc import Iterable

from ._record import Conformance, Extreme, Recipe, Reference
from .builtin import BUILTIN_REFERENCES
from .plugins import PLUGIN_REFERENCES

__all__ = ["REFERENCES", "Conformance", "Extreme", "Recipe", "Reference", "covered"]

#: every reference by loss name, in table order (make_golden.py draws golden inputs in this order)
REFERENCES: dict[str, Reference] = {ref.name: ref for ref in (*BUILTIN_REFERENCES, *PLUGIN_REFERENCES)}


def covered(names: Iterable[str]) -> list[Reference]:
    """The references of ``names`` (e.g. ``lossreg.names()``) that have one, in table order."""
    wanted = set(names)
    return [ref for name, ref in REFERENCES.items() if name in wanted]
