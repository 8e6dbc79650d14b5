"""Weights that change during training, as spec data: schedules and learned weighting (no Keras here).

A term's (or entry's) ``weight`` is a number, or one of::

    {"schedule": "linear",    "start": 0.0, "end": 1.0, "steps": 2000, "delay": 0}
    {"schedule": "cosine",    "start": 0.0, "end": 1.0, "steps": 2000, "delay": 0}
    {"schedule": "logistic",  "start": 0.0, "end": 1.0, "midpoint": 2500, "rate": 0.0025}
    {"schedule": "piecewise", "boundaries": [1000, 2000], "values": [0.0, 0.5, 1.0]}
    {"schedule": "cyclical",  "start": 0.0, "end": 1.0, "steps": 10000, "cycles": 4, "ratio": 0.5}
    {"learned": "uncertainty", "init": 0.0, "trainable": true}        # optional: "min_weight", "max_weight"
    {"learned": "dwa", "temperature": 2.0}

Every schedule also takes ``"unit": "step"`` (the default: training batches) or ``"epoch"``. The formulas
are :func:`lossreg.schedule_value`'s; this module only reads and validates the data, reporting each problem
with its spec path. ``scale`` (a constant factor) is what an enclosing constant weight folds into a learned
weight; a schedule folds it into its own values instead.
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from lossreg._errors import LossSpecError, did_you_mean, format_path, short_repr
from lossreg.spec._problems import Problems, check_keys

__all__ = [
    "LEARNED",
    "MAX_WEIGHT",
    "SCHEDULES",
    "TOO_LARGE",
    "Changing",
    "Learned",
    "Schedule",
    "read_changing",
    "weight_fits",
]

_REQUIRED: Final = object()

#: Each schedule's parameters and their defaults (``_REQUIRED``: must be given), ``unit`` aside.
SCHEDULES: Final[Mapping[str, Mapping[str, Any]]] = {
    "linear": {"start": 0.0, "end": 1.0, "steps": _REQUIRED, "delay": 0},
    "cosine": {"start": 0.0, "end": 1.0, "steps": _REQUIRED, "delay": 0},
    "logistic": {"start": 0.0, "end": 1.0, "midpoint": _REQUIRED, "rate": _REQUIRED},
    "piecewise": {"boundaries": _REQUIRED, "values": _REQUIRED},
    "cyclical": {"start": 0.0, "end": 1.0, "steps": _REQUIRED, "cycles": 4, "ratio": 0.5},
}
#: Each learned weighting's options and their defaults (``scale`` aside).
LEARNED: Final[Mapping[str, Mapping[str, Any]]] = {
    "uncertainty": {"init": 0.0, "trainable": True},
    "dwa": {"temperature": 2.0},
}
#: Options without a default, applied only when given: bounds of an uncertainty weight ``exp(-s)``.
LEARNED_BOUNDS: Final[Mapping[str, tuple[str, ...]]] = {"uncertainty": ("min_weight", "max_weight"), "dwa": ()}
_UNITS: Final = ("step", "epoch")
_GRADNORM: Final = (
    "GradNorm is not offered: it needs each task's gradient norm with respect to the shared weights inside the "
    "training step (a gradient within the gradient), which Keras' training loop does not expose on every backend. "
    "Use 'uncertainty' or 'dwa'."
)


@dataclass(frozen=True)
class Schedule:
    """A weight that follows a fixed schedule of the training step (or epoch)."""

    kind: str
    params: Mapping[str, Any]
    unit: str = "step"
    path: str = field(default="", compare=False)

    def scaled(self, factor: float) -> Schedule:
        """This schedule times a constant: the start/end (or piecewise values) multiplied by ``factor``."""
        if factor == 1.0:
            return self
        params = dict(self.params)
        if self.kind == "piecewise":
            params["values"] = tuple(v * factor for v in params["values"])
        else:
            params["start"], params["end"] = params["start"] * factor, params["end"] * factor
        return Schedule(self.kind, params, self.unit, self.path)

    @property
    def finite(self) -> bool:
        """Whether every value it takes is a weight (``weight_fits``: a constant folded in by ``scaled`` may not be)."""
        values = self.params["values"] if self.kind == "piecewise" else (self.params["start"], self.params["end"])
        return all(weight_fits(v) for v in values)

    def as_spec(self) -> dict[str, Any]:
        """The spec data this schedule reads back from."""
        data: dict[str, Any] = {"schedule": self.kind}
        data.update({k: list(v) if isinstance(v, tuple) else v for k, v in self.params.items()})
        if self.unit != "step":
            data["unit"] = self.unit
        return data

    def describe(self) -> str:
        """One line for ``lossreg check``: ``linear 0 -> 1 over 2000 steps after 500``."""
        p = self.params

        def count(n: int, what: str) -> str:
            return f"{n} {what}" + ("" if n == 1 else "s")

        if self.kind in ("linear", "cosine"):
            text = f"{self.kind} {p['start']:g} -> {p['end']:g} over {count(p['steps'], self.unit)}"
            return text + (f" after {p['delay']}" if p["delay"] else "")
        if self.kind == "logistic":
            return (
                f"logistic {p['start']:g} -> {p['end']:g}, midpoint {p['midpoint']:g} {self.unit}s, rate {p['rate']:g}"
            )
        if self.kind == "piecewise":
            return f"piecewise {list(p['values'])} at {self.unit}s {list(p['boundaries'])}"
        return (
            f"cyclical {p['start']:g} -> {p['end']:g}, {count(p['cycles'], 'cycle')} over "
            f"{count(p['steps'], self.unit)}, rising for {p['ratio']:g} of each"
        )


@dataclass(frozen=True)
class Learned:
    """A weight the model learns (``uncertainty``) or computes from the training losses (``dwa``)."""

    method: str
    params: Mapping[str, Any]
    scale: float = 1.0
    path: str = field(default="", compare=False)

    def scaled(self, factor: float) -> Learned:
        return self if factor == 1.0 else Learned(self.method, self.params, self.scale * factor, self.path)

    @property
    def finite(self) -> bool:
        """Whether its scale is a weight (``weight_fits``: a constant folded in by ``scaled`` may not be)."""
        return weight_fits(self.scale)

    @property
    def needs_epochs(self) -> bool:
        return self.method == "dwa"

    def as_spec(self) -> dict[str, Any]:
        data: dict[str, Any] = {"learned": self.method, **self.params}
        if self.scale != 1.0:
            data["scale"] = self.scale
        return data

    def describe(self) -> str:
        options = ", ".join(f"{k} {v}" for k, v in self.params.items())
        return f"learned: {self.method} ({options})" + (f" x {self.scale:g}" if self.scale != 1.0 else "")


Changing = Schedule | Learned


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _finite(value: Any) -> float | None:
    """``value`` as a finite float, or ``None`` (not a real number, NaN, infinite, or an integer beyond a float)."""
    if not _is_number(value):
        return None
    try:
        number = float(value)
    except (OverflowError, ValueError):  # 10**400, Fraction(10**5000, 1)
        return None
    return number if math.isfinite(number) else None


#: The largest weight (a constant, a schedule's start/end/values, a learned weight's scale, and any product of
#: them): the largest float32. Losses are computed in float32 (Keras' floatx), where a larger weight is inf
#: before it multiplies anything (1e308 gave an inf loss).
MAX_WEIGHT: Final = 3.4028234663852886e38
TOO_LARGE: Final = f"at most {MAX_WEIGHT:.8g} (the largest float32: losses are computed in float32)"


def weight_fits(number: float) -> bool:
    """The one bound on the size of a weight: ``number <= MAX_WEIGHT`` (NaN and inf fail it)."""
    return number <= MAX_WEIGHT


def _number(
    value: Any, path: str, problems: Problems, *, low: float | None = 0.0, strict: bool = False, weight: bool = False
) -> Any:
    """A finite real number ``>= low`` (``> low`` when ``strict``), else reported and ``None``; a ``weight`` (a
    schedule's start/end/values, a learned scale) is also at most ``MAX_WEIGHT``."""
    bound = "" if low is None else f" {'>' if strict else '>='} {low:g}"
    number = _finite(value)
    if number is None:
        problems.report(LossSpecError(f"Expected a finite number{bound}, received {short_repr(value)}.", path=path))
        return None
    if low is not None and (number <= low if strict else number < low):
        problems.report(LossSpecError(f"Expected a number{bound}, received {number!r}.", path=path))
        return None
    if weight and not weight_fits(number):
        problems.report(LossSpecError(f"Invalid weight. Expected {TOO_LARGE}, received {number!r}.", path=path))
        return None
    return number


#: The largest count (steps, delay, cycles, a boundary): every whole number up to it is exact as a float.
#: The largest count a schedule takes: its step counter is a float32 variable (the same on every backend and
#: under tf.distribute), exact up to 2**24 training batches.
_MAX_COUNT: Final = 2**24


def _count(value: Any, path: str, problems: Problems, *, low: int) -> Any:
    """A whole number ``>= low`` (``2000`` or ``2000.0``), at most ``2**24``, else reported and ``None``."""
    count: int | None
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        count = int(value)
    else:
        number = _finite(value)
        count = int(number) if number is not None and number == int(number) else None
    if count is None:
        problems.report(LossSpecError(f"Expected a whole number >= {low}, received {short_repr(value)}.", path=path))
        return None
    if count < low:
        problems.report(LossSpecError(f"Expected a whole number >= {low}, received {short_repr(count)}.", path=path))
        return None
    if count > _MAX_COUNT:
        problems.report(
            LossSpecError(
                f"Expected a whole number <= 2**24 = 16777216 (the step counter is float32, exact up to there), "
                f"received {short_repr(value)}.",
                path=path,
            )
        )
        return None
    return count


def _list(value: Any, path: str, problems: Problems) -> list[Any] | None:
    if not isinstance(value, list | tuple) or not value:
        problems.report(LossSpecError(f"Expected a non-empty list, received {short_repr(value)}.", path=path))
        return None
    return list(value)


def _schedule_params(kind: str, given: Mapping[str, Any], path: str, problems: Problems) -> dict[str, Any] | None:
    """The schedule's parameters with defaults filled in, each validated; ``None`` when one is wrong."""
    params: dict[str, Any] = {}
    ok = True
    for name, default in SCHEDULES[kind].items():
        where = format_path(path, [name])
        if name not in given:
            if default is _REQUIRED:
                problems.report(
                    LossSpecError(
                        f"A {kind!r} schedule needs {name!r}. It takes: {', '.join(SCHEDULES[kind])} (and 'unit').",
                        path=path,
                    )
                )
                ok = False
            else:
                params[name] = default
            continue
        value = given[name]
        if name in ("start", "end"):
            read = _number(value, where, problems, weight=True)
        elif name in ("steps", "cycles"):
            read = _count(value, where, problems, low=1)
        elif name == "delay":
            read = _count(value, where, problems, low=0)
        elif name == "midpoint":
            read = _number(value, where, problems, low=None)
        elif name == "rate":
            read = _number(value, where, problems, strict=True)
        elif name == "ratio":
            read = _number(value, where, problems, strict=True)
            if read is not None and read > 1:
                problems.report(LossSpecError(f"Expected a ratio in (0, 1], received {read!r}.", path=where))
                read = None
        elif name == "boundaries":
            items = _list(value, where, problems)
            read = (
                None
                if items is None
                else [_count(b, format_path(where, [i]), problems, low=0) for i, b in enumerate(items)]
            )
            if read is not None and None not in read and any(b >= c for b, c in itertools.pairwise(read)):
                problems.report(
                    LossSpecError(f"Boundaries must increase strictly, received {short_repr(read)}.", path=where)
                )
                read = None
            read = None if read is None or None in read else tuple(read)
        else:  # values
            items = _list(value, where, problems)
            read = (
                None
                if items is None
                else [_number(v, format_path(where, [i]), problems, weight=True) for i, v in enumerate(items)]
            )
            read = None if read is None or None in read else tuple(read)
        if read is None:
            ok = False
        params[name] = read
    if not ok:
        return None
    if kind == "piecewise" and len(params["values"]) != len(params["boundaries"]) + 1:
        problems.report(
            LossSpecError(
                f"A piecewise schedule needs one value more than boundaries (values[i] applies up to boundaries[i], "
                f"the last after the last boundary); received {len(params['boundaries'])} boundaries and "
                f"{len(params['values'])} values.",
                path=format_path(path, ["values"]),
            )
        )
        return None
    if kind == "cyclical" and params["cycles"] > params["steps"]:
        default = "" if "cycles" in given else ", the default"
        problems.report(
            LossSpecError(
                f"A cyclical schedule cannot have more cycles ({params['cycles']}{default}) than steps "
                f"({params['steps']}). Give 'cycles' at most 'steps'.",
                path=format_path(path, ["cycles"]),
            )
        )
        return None
    return params


def _kind(value: Any, choices: Mapping[str, Any], what: str, path: str, problems: Problems) -> str | None:
    if isinstance(value, str) and value in choices:
        return value
    hint = did_you_mean(value, choices) if isinstance(value, str) else ""
    extra = f" {_GRADNORM}" if isinstance(value, str) and value.lower() == "gradnorm" else ""
    problems.report(
        LossSpecError(
            f"Unknown {what} {short_repr(value)}.{hint} Expected one of: {', '.join(choices)}.{extra}", path=path
        )
    )
    return None


def read_changing(value: Mapping[Any, Any], path: str, problems: Problems) -> Changing | None:
    """A ``weight`` written as a mapping: a schedule or a learned weighting; ``None`` (reported) when invalid."""
    has_schedule, has_learned = "schedule" in value, "learned" in value
    if has_schedule == has_learned:
        problems.report(
            LossSpecError(
                "Invalid weight. Expected a number, or a mapping with exactly one of 'schedule' (e.g. {'schedule': "
                "'linear', 'steps': 2000}) or 'learned' (e.g. {'learned': 'uncertainty'}); received "
                f"{short_repr(dict(value))}.",
                path=path,
            )
        )
        return None
    if has_schedule:
        kind = _kind(value["schedule"], SCHEDULES, "schedule", format_path(path, ["schedule"]), problems)
        if kind is None:
            return None
        allowed = ("schedule", *SCHEDULES[kind], "unit")
        keys_ok = check_keys(value, allowed, path, f"a {kind!r} schedule", problems)
        unit = value.get("unit", "step")
        if not isinstance(unit, str) or unit not in _UNITS:  # a str first: `array in _UNITS` compares elementwise
            hint = did_you_mean(unit, _UNITS) if isinstance(unit, str) else ""
            problems.report(
                LossSpecError(
                    f"Unknown unit {short_repr(unit)}.{hint} Expected 'step' (training batches) or 'epoch'.",
                    path=format_path(path, ["unit"]),
                )
            )
            keys_ok = False
        params = _schedule_params(kind, value, path, problems)  # checked too, so `lossreg check` lists every problem
        return Schedule(kind, params, unit, path) if params is not None and keys_ok else None
    method = _kind(value["learned"], LEARNED, "learned weighting", format_path(path, ["learned"]), problems)
    if method is None:
        return None
    allowed = ("learned", *LEARNED[method], *LEARNED_BOUNDS[method], "scale")
    keys_ok = check_keys(value, allowed, path, f"learned weight {method!r}", problems)
    params = dict(LEARNED[method])
    for name in (*LEARNED[method], *LEARNED_BOUNDS[method]):
        if name not in value:
            continue
        where = format_path(path, [name])
        if name == "trainable":
            if not isinstance(value[name], bool):
                problems.report(
                    LossSpecError(f"Expected true or false, received {short_repr(value[name])}.", path=where)
                )
                keys_ok = False
            params[name] = value[name]
        elif name == "init":  # a log-variance: any finite number
            params[name] = _number(value[name], where, problems, low=None)
        elif name == "min_weight":  # 0: no lower bound
            params[name] = _number(value[name], where, problems)
        else:  # temperature, max_weight
            params[name] = _number(value[name], where, problems, strict=True)
        keys_ok = keys_ok and params[name] is not None
    low, high = params.get("min_weight"), params.get("max_weight")
    if keys_ok and low is not None and high is not None and low > high:
        problems.report(
            LossSpecError(
                f"An uncertainty weight's bounds are the wrong way round: min_weight {low!r} is above max_weight "
                f"{high!r}. Give min_weight <= max_weight.",
                path=format_path(path, ["min_weight"]),
            )
        )
        keys_ok = False
    scale = _number(value["scale"], format_path(path, ["scale"]), problems, weight=True) if "scale" in value else 1.0
    if not keys_ok or scale is None:
        return None
    return Learned(method, params, scale, path)
