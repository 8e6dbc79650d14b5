"""tests/ on sys.path, so that test modules (imported with --import-mode=importlib) and tests/golden/make_golden.py
share the float64 references in tests/references/."""

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

_TESTS = str(Path(__file__).parent)
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)


@pytest.fixture
def forget_loss() -> Iterator[Callable[[str], None]]:
    """``forget_loss(name)``: unregister ``name`` when the test ends, whatever happens.

    The one private call of these suites: lossreg has no public way to remove a registration yet (the registry's
    test seam, issue 9, replaces this).
    """
    names: list[str] = []
    yield names.append
    from lossreg.registry import REGISTRY

    for name in names:
        REGISTRY.remove(name)


# tests/scripts/ holds programs the tests run in fresh processes (they configure devices at import): not test
# modules, and --doctest-modules must not import them
collect_ignore_glob = ["scripts/*"]
