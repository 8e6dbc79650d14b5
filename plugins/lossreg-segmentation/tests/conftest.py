"""The lossreg repository's tests/ on sys.path: these tests take the suite's one rule for large matrices
(``on_backend.covering``: every case on the reference backend, a covering sample on the others)."""

import sys
from pathlib import Path

_TESTS = str(Path(__file__).resolve().parents[3] / "tests")
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)
