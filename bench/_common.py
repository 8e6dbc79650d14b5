"""Timing helpers shared by the benchmark scripts: warm-up, interleaved repetitions, medians, result rows.

Every benchmark compares lossreg against a baseline doing the same work. Both are warmed up, then timed
in interleaved repetitions (lossreg, baseline, baseline, lossreg, ...: the order alternates so that a
slow drift of the machine's speed hits both alike), and the medians are compared. A repetition times a
block of ``number`` calls, ``number`` chosen so that a block lasts long enough for the clock.

Scripts print their rows as a Markdown table; with ``--json`` they print one JSON line instead, which
``run_all.py`` collects.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's start-up chatter would bury the table

__all__ = [
    "Row",
    "calibrate",
    "interleaved",
    "interleaved_measured",
    "markdown_table",
    "parse_args",
    "report",
    "time_block",
]

JSON_PREFIX = "BENCH_ROWS_JSON: "


@dataclass
class Row:
    """One line of the results table.

    ``kind="ratio"``: met when ``lossreg / baseline <= target``; ``kind="delta"``: met when
    ``lossreg - baseline <= target`` (in ``unit``); ``target=None``: reported, no target.
    """

    benchmark: str
    lossreg: float
    baseline: float
    unit: str  # "ms", "s", "MiB", ...
    target: float | None
    kind: str = "ratio"
    note: str = ""
    samples: dict[str, list[float]] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.lossreg / self.baseline if self.baseline else math.inf

    @property
    def delta(self) -> float:
        return self.lossreg - self.baseline

    @property
    def met(self) -> bool | None:
        if self.target is None:
            return None
        value = self.ratio if self.kind == "ratio" else self.delta
        return value <= self.target

    def cells(self) -> list[str]:
        compared = f"{self.ratio:.3f}" if self.kind == "ratio" else f"{self.delta:+.1f} {self.unit}"
        if self.target is None:
            target, met = "report", "—"
        else:
            target = f"≤ {self.target:g}" if self.kind == "ratio" else f"≤ +{self.target:g} {self.unit}"
            met = "yes" if self.met else "**no**"
        return [self.benchmark, _fmt(self.lossreg, self.unit), _fmt(self.baseline, self.unit), compared, target, met]


def _fmt(value: float, unit: str) -> str:
    if value >= 100:
        return f"{value:.0f} {unit}"
    if value >= 10:
        return f"{value:.1f} {unit}"
    if value >= 1:
        return f"{value:.2f} {unit}"
    return f"{value:.3f} {unit}"


HEADER = ["benchmark", "lossreg", "baseline", "ratio", "target", "met?"]


def markdown_table(rows: Sequence[Row]) -> str:
    """The rows as a Markdown table (benchmark | lossreg | baseline | ratio | target | met?)."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "|".join(" --- " for _ in HEADER) + "|"]
    lines += ["| " + " | ".join(row.cells()) + " |" for row in rows]
    return "\n".join(lines)


def time_block(fn: Callable[[], object], number: int) -> float:
    """Seconds per call of ``fn``, over one block of ``number`` calls."""
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - start) / number


def calibrate(fn: Callable[[], object], min_block: float = 0.05, max_number: int = 1000) -> int:
    """How many calls of ``fn`` make a block of at least ``min_block`` seconds (``fn`` already warm)."""
    once = time_block(fn, 1)
    if once >= min_block:
        return 1
    few = max(1, min(max_number, int(0.01 / max(once, 1e-7))))  # re-measure over ~10 ms: one call is noisy
    per_call = time_block(fn, few)
    return max(1, min(max_number, math.ceil(min_block / max(per_call, 1e-9))))


def interleaved(
    candidates: dict[str, Callable[[], object]],
    *,
    repeats: int,
    number: int | None = None,
    warmup: int = 2,
    min_block: float = 0.05,
) -> dict[str, list[float]]:
    """Seconds per call of each candidate, one value per repetition, repetitions interleaved.

    Each candidate is called ``warmup`` times first; ``number`` (calls per block) is then calibrated on the
    slowest candidate unless given, and the same for all. Repetition ``r`` runs the candidates in their
    order for even ``r`` and in reverse for odd ``r`` (A B, B A, A B, ...).
    """
    for fn in candidates.values():
        for _ in range(warmup):
            fn()
    if number is None:
        number = min(calibrate(fn, min_block) for fn in candidates.values())
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    names = list(candidates)
    for r in range(repeats):
        for name in names if r % 2 == 0 else reversed(names):
            samples[name].append(time_block(candidates[name], number))
    return samples


def interleaved_measured(candidates: dict[str, Callable[[], float]], *, repeats: int) -> dict[str, list[float]]:
    """Like :func:`interleaved`, for candidates that measure themselves (each call returns its seconds)."""
    samples: dict[str, list[float]] = {name: [] for name in candidates}
    names = list(candidates)
    for r in range(repeats):
        for name in names if r % 2 == 0 else reversed(names):
            samples[name].append(candidates[name]())
    return samples


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def parse_args(argv: Sequence[str] | None, description: str) -> argparse.Namespace:
    """The common command line: ``--json`` (one JSON line for run_all.py) and ``--quick`` (few repetitions)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--json", action="store_true", help="print the rows as one JSON line (for run_all.py)")
    parser.add_argument("--quick", action="store_true", help="few repetitions: a smoke run, not a measurement")
    return parser.parse_args(argv)


def report(rows: Sequence[Row], as_json: bool, details: Sequence[str] = ()) -> None:
    """Print the rows: a Markdown table with details below it, or one JSON line for run_all.py."""
    if as_json:
        for line in details:
            print(line, file=sys.stderr)
        print(JSON_PREFIX + json.dumps([asdict(r) for r in rows]))
        return
    print(markdown_table(rows))
    for line in details:
        print(line)
