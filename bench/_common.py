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
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's start-up chatter would bury the table

__all__ = [
    "STEP_MODES",
    "Row",
    "calibrate",
    "compile_for_steps",
    "interleaved",
    "interleaved_measured",
    "markdown_table",
    "parse_args",
    "per_step_line",
    "report",
    "step_fn",
    "step_row",
    "time_block",
    "time_steps",
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
            target = f"≤ {_ratio(self.target)}" if self.kind == "ratio" else f"≤ +{self.target:g} {self.unit}"
            met = "yes" if self.met else "**no**"
        return [self.benchmark, _fmt(self.lossreg, self.unit), _fmt(self.baseline, self.unit), compared, target, met]


def _ratio(value: float) -> str:
    """A ratio target as written in the README: ``1.0``, ``1.05``, ``0.15`` (never a bare ``1``)."""
    text = f"{value:g}"
    return text + ".0" if text.lstrip("-").isdigit() else text


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


# Training-step benchmarks (bench_resolve_step.py, bench_attach_step.py): each mode is timed on its own models.
STEP_MODES = ((False, "graph (default compile)"), (True, "jit_compile=True"))


def compile_for_steps(model: Any, jit: bool, **kwargs: Any) -> None:
    """``model.compile`` with Adam(1e-3), in graph mode (``jit=False``, asserted: no XLA) or with XLA."""
    import keras

    jit_compile: Any = True if jit else "auto"  # "auto" is the default: no XLA on a CPU-only machine
    model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=jit_compile, **kwargs)
    assert jit or model.jit_compile is False, "expected graph mode without XLA"


def step_fn(model: Any, x: Any, y: Any) -> Callable[[], None]:
    """One optimizer step through Keras' compiled train function (as fit runs it), synchronised."""
    model.train_on_batch(x, y)  # builds the optimizer and traces the step
    train_function = model.train_function
    data = [(x, y, None)]  # the structure train_on_batch passes: no retracing

    def step() -> None:
        logs = train_function(data)
        float(logs["loss"])

    return step


def time_steps(steps: dict[str, tuple[Any, Any, Any]], *, repeats: int) -> dict[str, list[float]]:
    """Milliseconds per optimizer step of each ``name: (model, x, y)``, interleaved (see :func:`step_fn`)."""
    samples = interleaved({name: step_fn(*step) for name, step in steps.items()}, repeats=repeats)
    return {name: [s * 1e3 for s in values] for name, values in samples.items()}


def step_row(
    benchmark: str,
    samples: dict[str, list[float]],
    baseline: str,
    target: float | None,
    *,
    note: str = "",
    keep_samples: bool = True,
) -> Row:
    """A row of median step times in ms, ``samples["lossreg"]`` against ``samples[baseline]``.

    With ``keep_samples``, the row also carries those two sides' per-repetition times.
    """
    kept = {name: samples[name] for name in ("lossreg", baseline)} if keep_samples else {}
    return Row(benchmark, median(samples["lossreg"]), median(samples[baseline]), "ms", target, note=note, samples=kept)


def per_step_line(samples: dict[str, list[float]], labels: dict[str, str]) -> str:
    """``per-step ms <label> t, t, ... | <label> t, ...`` for the samples named in ``labels``, in its order."""
    return "per-step ms " + " | ".join(
        f"{label} " + ", ".join(f"{s:.3f}" for s in samples[name]) for name, label in labels.items()
    )


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
