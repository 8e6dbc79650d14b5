"""Specs: the grammar (data to entries, no registry), the problem collector, every semantic rule, spec files and
``lossreg check``'s checker.

- ``_grammar``: data (or a spec file) read into ``ParsedSpec``/``Entry``/``Term``; the shape of a spec only.
- ``_problems``: ``Problems``, which raises on the first problem or collects all.
- ``_rules``: each rule once (names, parameters, extras, outputs and ``on``, compile vs attach), used by
  ``resolve``, ``attach`` and ``lossreg check``.
- ``_weights``: weights that change during training (schedules, learned weighting) as validated data.
- ``_view``: ``ModelView``, the names of a model the rules check against (plain data).
- ``_files``: reading spec files defensively.
- ``_check``: ``lossreg check`` (every problem at once, optionally against a saved model).
"""

from lossreg.spec._files import MAX_BYTES
from lossreg.spec._grammar import ENTRY_KEYS, SAVED_TERM_KEYS, TERM_KEYS, Entry, ParsedSpec, Term, read, read_terms
from lossreg.spec._problems import Problems
from lossreg.spec._rules import (
    check_compilable,
    check_extras,
    check_outputs,
    check_params,
    check_tap,
    check_weights,
    extras_not_passed,
    known_terms,
    parse,
    unknown_output,
)
from lossreg.spec._view import ModelView
from lossreg.spec._weights import Changing, Learned, Schedule

__all__ = [
    "ENTRY_KEYS",
    "MAX_BYTES",
    "SAVED_TERM_KEYS",
    "TERM_KEYS",
    "Changing",
    "Entry",
    "Learned",
    "ModelView",
    "ParsedSpec",
    "Problems",
    "Schedule",
    "Term",
    "check_compilable",
    "check_extras",
    "check_outputs",
    "check_params",
    "check_tap",
    "check_weights",
    "extras_not_passed",
    "known_terms",
    "parse",
    "read",
    "read_terms",
    "unknown_output",
]
