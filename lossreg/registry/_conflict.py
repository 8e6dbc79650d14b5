"""The conflict rule: who gets a plain loss name that plugins offer. One pure function, no state.

* A plugin never takes a name that lossreg, Keras or a user registration holds: those win, even a user
  registration made after the plugins were read.
* Two plugins never take a name from each other: when several distributions offer one name, none gets it.
* Every plugin loss is always reachable as ``"<distribution>:<name>"``; the plain ``"<name>"`` goes to a
  plugin only when nobody else claims it.

Each clash is warned about once per process, registry and ``Ruling.key``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["LossregPluginWarning", "Ruling", "conflict_rule"]


class LossregPluginWarning(UserWarning):
    """A plugin's loss name clashes with another loss; see ``lossreg.registry.conflict_rule``."""


@dataclass(frozen=True)
class Ruling:
    """Who gets a plain name: ``winner`` is the registration's source, the one plugin distribution, or
    ``None`` (nobody: several plugins offer it); ``message`` is the warning to give once per ``key``."""

    winner: str | None
    message: str | None = None
    key: str | None = None


def conflict_rule(name: str, plugins: Sequence[str], registered: str | None = None, *, late: bool = False) -> Ruling:
    """Apply the conflict rule to the plain name ``name``.

    Args:
        name: the plain loss name.
        plugins: the distributions whose entry points offer ``name``.
        registered: the source of a lossreg, Keras or user registration of ``name``, if any.
        late: the registration is being made now, over a name a plugin held (the message says so).

    Returns:
        The ``Ruling``: the winner and the warning (``None`` when nothing clashes).

    Examples:
        >>> conflict_rule("dice", ["seg-a"]).winner
        'seg-a'
        >>> conflict_rule("dice", ["seg-a", "seg-b"]).winner is None
        True
        >>> conflict_rule("dice", ["seg-a"], registered="my_project").winner
        'my_project'
    """
    dists = sorted(set(plugins))
    qualified = " or ".join(repr(f"{d}:{name}") for d in dists)
    if registered is not None:
        if not dists:
            return Ruling(registered)
        key = f"{name}|{registered}|{','.join(dists)}"
        if late:
            message = (
                f"{registered!r} registers loss {name!r}, which plugin {', '.join(map(repr, dists))} offered; the "
                f"registration wins. Use {qualified} for the plugin's."
            )
        else:
            message = (
                f"Plugin loss {name!r} from {', '.join(map(repr, dists))} clashes with the {registered!r} loss of "
                f"that name, which keeps it; use {qualified} for the plugin's."
            )
        return Ruling(registered, message, key)
    if len(dists) > 1:
        message = (
            f"Plugin loss {name!r} is offered by several distributions ({', '.join(dists)}), so none gets the plain "
            f"name; use {qualified}."
        )
        return Ruling(None, message, f"{name}||{','.join(dists)}")
    return Ruling(dists[0] if dists else None)
