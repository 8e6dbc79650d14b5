"""Read-only views of spec data a loss was built from: editing them after construction is an error, not a
change that training ignores but saving writes."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, NoReturn

__all__ = ["FIXED", "FrozenDict", "freeze", "thaw"]

#: The message for an edit of a built loss.
FIXED = (
    "A lossreg loss's terms and weights are fixed once it is built: an edit would not reach training but would be "
    "saved. To change a weight during training give it a schedule ({'schedule': 'linear', ...}) or a learned "
    "weight in the spec; to change the loss, build a new one from a new spec."
)


class FrozenDict(Mapping[str, Any]):
    """A mapping that refuses every edit with a lossreg message."""

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = dict(data)

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return repr(self._data)

    def __setitem__(self, key: str, value: Any) -> NoReturn:
        raise TypeError(FIXED)

    def __delitem__(self, key: str) -> NoReturn:
        raise TypeError(FIXED)


#: How deep :func:`freeze` goes; deeper values (no real parameter nests this far) are kept as they are, so that an
#: absurd value a loss accepts untyped cannot exhaust the stack.
_DEPTH = 32


def freeze(data: Any, _depth: int = 0) -> Any:
    """``data`` with every dict made a :class:`FrozenDict` and every list a tuple, recursively."""
    if _depth > _DEPTH:
        return data
    if isinstance(data, Mapping):
        return FrozenDict({k: freeze(v, _depth + 1) for k, v in data.items()})
    if isinstance(data, list | tuple):
        return tuple(freeze(v, _depth + 1) for v in data)
    return data


def thaw(data: Any) -> Any:
    """Plain, JSON-ready data again (dicts and lists), a copy; as deep as :func:`freeze` went."""
    return _thaw(data, 0)


def _thaw(data: Any, depth: int) -> Any:
    if depth > _DEPTH:
        return data
    if isinstance(data, Mapping):
        return {k: _thaw(v, depth + 1) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_thaw(v, depth + 1) for v in data]
    return data
