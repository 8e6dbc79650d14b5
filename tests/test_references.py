"""The one guard of the reference-driven suites: every loss of lossreg and of its two plugins has a reference.

The golden, numerics and conformance suites parametrise over ``lossreg.names()`` ∩ tests/references/, so a loss
without a reference would be skipped by all three without a word: this test fails instead.
"""

from __future__ import annotations

from references import REFERENCES

import lossreg

SOURCES = ("lossreg", "lossreg-segmentation", "lossreg-generative")


def test_every_loss_of_lossreg_and_its_plugins_has_a_reference():
    ours = {n: lossreg.describe(n).source for n in lossreg.names() if ":" not in n}
    ours = {n: source for n, source in ours.items() if source in SOURCES}
    missing = sorted(set(ours) - set(REFERENCES))
    assert not missing, f"no reference in tests/references/ for {missing}: add one (formula, recipe, cases)"
    stale = sorted(set(REFERENCES) - set(ours))
    assert not stale, f"references for losses that are not registered: {stale}"
    # lossreg's own losses go through check_loss here; the plugins' through their own suites (plugins/*/tests)
    unchecked = sorted(n for n, source in ours.items() if source == "lossreg" and not REFERENCES[n].conformance)
    assert not unchecked, f"lossreg built-ins without a check_loss run (Reference.conformance): {unchecked}"
