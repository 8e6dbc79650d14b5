"""The problem collector: every spec rule reports through one, which raises on the first problem or collects all.

``lossreg.resolve`` and ``lossreg.attach`` stop at the first problem, which is right for code; a person fixing
a spec file (``lossreg check``) wants the whole list at once. The rules are the same either way: they
``report`` each problem and, when collecting, carry on with what is left.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lossreg._errors import LossSpecError, did_you_mean, short_repr

__all__ = ["Problems", "check_keys"]


class Problems:
    """Where spec rules report problems.

    Args:
        collect: ``False`` (the default) raises the first problem reported; ``True`` keeps every distinct one.
    """

    def __init__(self, *, collect: bool = False) -> None:
        self.collect = collect
        self.errors: list[LossSpecError] = []
        #: paths of entries the grammar could read only in part (a term or their ``inputs`` dropped):
        #: rules about the entry as a whole (extras wired) skip them rather than report follow-on problems.
        self.partial: set[str] = set()

    def report(self, error: LossSpecError) -> None:
        """Raise ``error`` (first-problem mode) or record it once (collecting)."""
        if not self.collect:
            raise error
        if all(str(error) != str(seen) for seen in self.errors):
            self.errors.append(error)

    def __bool__(self) -> bool:
        return bool(self.errors)

    def __len__(self) -> int:
        return len(self.errors)


def check_keys(mapping: Mapping[Any, Any], allowed: tuple[str, ...], path: str, what: str, problems: Problems) -> bool:
    """Rule (spec shape): every key of ``mapping`` is one of ``allowed``; each stranger reported with a
    did-you-mean. Returns whether all were."""
    ok = True
    for key in mapping:
        if key not in allowed:
            hint = did_you_mean(key, allowed) if isinstance(key, str) else ""
            problems.report(
                LossSpecError(
                    f"Unknown key {short_repr(key)} in {what}.{hint} Expected keys: {', '.join(allowed)}.", path=path
                )
            )
            ok = False
    return ok
