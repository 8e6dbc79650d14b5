"""The exceptions lossreg raises, and the helpers that make their messages helpful."""

from __future__ import annotations

import difflib
import reprlib
from collections.abc import Iterable

__all__ = ["LossInputError", "LossSpecError", "PluginLoadError", "did_you_mean", "format_path", "short_repr"]


class LossSpecError(ValueError):
    """A loss spec, a loss name or a loss parameter is not valid.

    The message says where (the spec path, e.g. ``spec['output_2']['params']``), what was expected, what
    was received and how to fix it. ``path`` holds the spec path on its own for tools.
    """

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path


class PluginLoadError(LossSpecError):
    """A loss provided by a plugin could not be loaded.

    Raised only when that very loss is asked for; every other loss stays usable. ``distribution``,
    ``entry_point`` and ``__cause__`` (the original exception) say what failed.
    """

    def __init__(self, message: str, *, distribution: str, entry_point: str, path: str | None = None) -> None:
        super().__init__(message, path=path)
        self.distribution = distribution
        self.entry_point = entry_point

    def at(self, path: str) -> PluginLoadError:
        """This error (raised without a path) as raised where a spec or call asked for the loss."""
        return PluginLoadError(str(self), distribution=self.distribution, entry_point=self.entry_point, path=path)


class LossInputError(LossSpecError):
    """The tensors given to a loss cannot fit it (wrong rank, shape or a missing extra tensor).

    Raised while the model is being wired or traced, before TensorFlow would fail with a cryptic error.
    """


def did_you_mean(word: str, candidates: Iterable[str], *, n: int = 3) -> str:
    """Return ``" Did you mean 'x' or 'y'?"`` for the closest candidates, or ``""`` when none is close."""
    pool = list(candidates)
    close = difflib.get_close_matches(word, pool, n=n, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in pool}
        close = [lowered[c] for c in difflib.get_close_matches(word.lower(), list(lowered), n=n, cutoff=0.6)]
    if not close:
        return ""
    return " Did you mean " + " or ".join(repr(c) for c in close) + "?"


def format_path(root: str, keys: Iterable[object]) -> str:
    """Render a spec path such as ``spec['output_2']['params']['lower']``."""
    return root + "".join(f"[{k!r}]" for k in keys)


class _ShortRepr(reprlib.Repr):
    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() > 4000:  # Python refuses repr() past 4300 digits; nobody reads 1200 digits anyway
            digits = int(x.bit_length() * 0.30103) + 1  # log10(2): the count, to within one digit
            return f"{'-' if x < 0 else ''}<integer of about {digits} digits>"
        return super().repr_int(x, level)


_SHORT: reprlib.Repr = _ShortRepr()
_SHORT.maxstring = _SHORT.maxother = 100
_SHORT.maxlevel = 3


def short_repr(value: object) -> str:
    """``repr(value)`` cut to a readable length for an error message (a stray 1 MiB list is not printed whole).

    Never raises: a value whose ``repr`` fails (or nests too deeply) is named by its type.
    """
    try:
        return _SHORT.repr(value)
    except Exception:
        return f"<{type(value).__name__} object>"
