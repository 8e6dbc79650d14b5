"""Compatibility alias: the spec grammar and rules live in ``lossreg.spec`` (kept until every importer moves)."""

from lossreg.spec import ENTRY_KEYS, TERM_KEYS, Entry, ParsedSpec, Term, parse

__all__ = ["ENTRY_KEYS", "TERM_KEYS", "Entry", "ParsedSpec", "Term", "parse"]
