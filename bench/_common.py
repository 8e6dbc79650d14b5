"""Timing helpers shared by the benchmark scripts: warm-up, interleaved repetitions, medians, result rows.

Every benchmark compares lossreg against a baseline doing the same work. Both are warmed up, then timed
in interleaved repetitions (lossreg, baseline, baseline, lossreg, ...: the order alternates so that a
slow drift of the machine's speed hits both alike), and the medians are compared. A repetition times a
block of ``number`` calls, ``number`` chosen so that a block lasts long enough for the clock.

Scripts print their rows as a Markdown table; with ``--json`` they print one JSON line instead, which
``run_all.py`` collects.

The training-step benchmarks run on one Keras backend per process (``--backend``, else ``KERAS_BACKEND``,
else TensorFlow): :func:`use_backend` sets ``KERAS_BACKEND`` before Keras is imported (and imports torch
first when torch is the backend: triton has crashed when loaded after TensorFlow). This module imports no
backend library at import time.
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
    "BACKENDS",
    "Row",
    "StepMode",
    "calibrate",
    "compile_for_steps",
    "interleaved",
    "interleaved_measured",
    "markdown_table",
    "parse_args",
    "per_step_line",
    "report",
    "step_fn",
    "step_modes",
    "step_row",
    "threads",
    "time_block",
    "time_steps",
    "to_backend",
    "use_backend",
    "used_backends",
]

JSON_PREFIX = "BENCH_ROWS_JSON: "


@dataclass
class Row:
    """One line of the results table.

    ``kind="ratio"``: met when ``lossreg / baseline <= target``; ``kind="delta"``: met when
    ``lossreg - baseline <= target`` (in ``unit``); ``target=None``: reported, no target. A figure that could
    not be measured (e.g. peak memory where the allocator keeps no statistics) is ``None``: shown as "n/a",
    never counted as met or missed. Training-step rows also say which ``backend``, ``mode`` and ``api``
    (``"resolve"``, ``"attach"``) they measure, for run_all.py's backend table.
    """

    benchmark: str
    lossreg: float | None
    baseline: float | None
    unit: str  # "ms", "s", "MiB", ...
    target: float | None
    kind: str = "ratio"
    note: str = ""
    samples: dict[str, list[float]] = field(default_factory=dict)
    backend: str = ""
    mode: str = ""
    api: str = ""
    control: float | None = None  # A/A: an identical copy of the baseline timed alongside, its median / baseline's

    @property
    def measured(self) -> bool:
        return self.lossreg is not None and self.baseline is not None

    @property
    def ratio(self) -> float:
        if self.lossreg is None or self.baseline is None:
            return math.nan
        return self.lossreg / self.baseline if self.baseline else math.inf

    @property
    def delta(self) -> float:
        if self.lossreg is None or self.baseline is None:
            return math.nan
        return self.lossreg - self.baseline

    @property
    def met(self) -> bool | None:
        if self.target is None or not self.measured:
            return None
        value = self.ratio if self.kind == "ratio" else self.delta
        return value <= self.target

    def compared(self) -> str:
        if not self.measured:
            return "n/a"
        return f"{self.ratio:.3f}" if self.kind == "ratio" else f"{self.delta:+.1f} {self.unit}"

    def target_cell(self) -> str:
        if self.target is None:
            return "report"
        return f"≤ {_ratio(self.target)}" if self.kind == "ratio" else f"≤ +{self.target:g} {self.unit}"

    def met_cell(self) -> str:
        return {None: "—", True: "yes", False: "**no**"}[self.met]

    def cells(self) -> list[str]:
        return [
            self.benchmark,
            _fmt(self.lossreg, self.unit),
            _fmt(self.baseline, self.unit),
            self.compared(),
            self.target_cell(),
            self.met_cell(),
        ]


def _ratio(value: float) -> str:
    """A ratio target as written in the README: ``1.0``, ``1.05``, ``0.15`` (never a bare ``1``)."""
    text = f"{value:g}"
    return text + ".0" if text.lstrip("-").isdigit() else text


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
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


# Training-step benchmarks (bench_resolve_step.py, bench_attach_step.py): one backend per process.
BACKENDS = ("tensorflow", "jax", "torch")


@dataclass(frozen=True)
class StepMode:
    """How a backend runs the train step: ``jit_compile`` as given to ``compile``, and a label for the table."""

    label: str
    jit_compile: bool
    why: str = ""


def use_backend(name: str | None, *, single_thread: bool = False) -> str:
    """Make ``name`` (else ``KERAS_BACKEND``, else TensorFlow) Keras' backend; call before Keras is imported.

    Under torch, torch is imported first: a process that loads TensorFlow's libraries before torch's has
    crashed in triton. With ``single_thread`` (or ``BENCH_SINGLE_THREAD=1``), each backend computes on one
    intra-op thread (TensorFlow's thread pools, XLA's CPU thread pool, torch's OpenMP threads): on a machine
    whose cores other processes are using, torch's default OpenMP threads spin-wait on each other and a step
    takes 10-100 times longer, which drowns any ratio in noise. Raises ``SystemExit`` if Keras was already
    imported with another backend.
    """
    name = name or os.environ.get("KERAS_BACKEND") or "tensorflow"
    if name not in BACKENDS:
        raise SystemExit(f"Unknown backend {name!r}: expected one of {BACKENDS}.")
    if "keras" in sys.modules:
        import keras

        if keras.backend.backend() != name:
            raise SystemExit(f"Keras was imported with backend {keras.backend.backend()!r} before {name!r} was set.")
        return name
    os.environ["KERAS_BACKEND"] = name
    single_thread = single_thread or os.environ.get("BENCH_SINGLE_THREAD") == "1"
    if single_thread:
        os.environ["BENCH_SINGLE_THREAD"] = "1"
        os.environ.update(OMP_NUM_THREADS="1", TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1")
        flags = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flags}".strip()
    if name != "tensorflow" and os.environ.get("BENCH_KEEP_TF") != "1":
        # As on a machine without TensorFlow: keras.utils.set_random_seed (which the seed models call) imports
        # TensorFlow whenever it is installed, and its thread pools would share the two cores with the step.
        sys.modules["tensorflow"] = None  # type: ignore[assignment]  (import tensorflow -> ImportError)
    if name == "torch":
        import torch  # (before anything that may load TensorFlow's libraries)

        if single_thread:
            torch.set_num_threads(1)
    return name


def threads() -> str:
    """The threading the step runs with, for the report."""
    return "one intra-op thread per backend" if os.environ.get("BENCH_SINGLE_THREAD") == "1" else "backend defaults"


def step_modes(backend: str) -> tuple[StepMode, ...]:
    """The ways ``fit`` runs a train step on ``backend``: graph and XLA on TF, jit on JAX, eager on torch."""
    if backend == "tensorflow":
        return (
            StepMode("graph", False, "tf.function, the default compile (no XLA on a CPU-only machine)"),
            StepMode("XLA", True, "tf.function(jit_compile=True)"),
        )
    if backend == "jax":
        return (StepMode("jit", True, "jax.jit of the whole step, the default compile"),)
    return (
        StepMode(
            "eager",
            False,
            "the default compile; jit_compile=True would be torch.compile, which takes minutes per model here",
        ),
    )


def used_backends() -> str:
    """Which of TensorFlow, JAX and torch this process has imported (the others should be absent)."""
    found = [name for name in ("tensorflow", "jax", "torch") if sys.modules.get(name) is not None]
    return ", ".join(found) or "none"


def to_backend(value: Any) -> Any:
    """NumPy arrays (nested) as the backend's own tensors, as fit's data adapter hands them to the step."""
    import keras

    return keras.tree.map_structure(keras.ops.convert_to_tensor, value)


def compile_for_steps(model: Any, mode: StepMode, **kwargs: Any) -> None:
    """``model.compile`` with Adam(1e-3) and ``mode``'s ``jit_compile`` (asserted to be what Keras uses)."""
    import keras

    model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=mode.jit_compile, **kwargs)
    assert model.jit_compile is mode.jit_compile, f"expected jit_compile={mode.jit_compile}, got {model.jit_compile}"


def step_fn(model: Any, x: Any, y: Any) -> Callable[[], None]:
    """One optimizer step through Keras' own train function, called as ``fit``'s loop calls it, synchronised.

    ``train_on_batch`` builds the optimizer and traces (or jit-compiles) the step first. TensorFlow and torch:
    ``train_function([(x, y, None)])``. JAX: ``fit`` holds the model's state (variables, optimizer and
    metric variables) as arrays and threads it through ``state = train_function(state, iterator)``; so does
    this, from a copy of the state (Keras 3.15's trainer; the jitted step donates its input state). Each step
    waits for the loss value (``float``), as ``fit`` does for its logs.
    """
    import keras

    model.train_on_batch(x, y)
    train_function = model.train_function
    data = (x, y, None)
    if keras.backend.backend() != "jax":
        batches = [data]  # the structure train_on_batch passes: no retracing

        def step() -> None:
            logs = train_function(batches)
            float(logs["loss"])

        return step

    import jax

    state = jax.tree.map(
        lambda a: a.copy(),
        model._get_jax_state(  # what fit() does (private: there is no public equivalent)
            trainable_variables=True,
            non_trainable_variables=True,
            optimizer_variables=True,
            metrics_variables=True,
            purge_model_variables=False,
        ),
    )
    holder = [state]

    def jax_step() -> None:
        logs, holder[0] = train_function(holder[0], iter([data]))
        float(logs["loss"])

    return jax_step


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
    backend: str,
    mode: StepMode,
    api: str,
    note: str = "",
    keep_samples: bool = True,
    control: str | None = None,
) -> Row:
    """A row of median step times in ms, ``samples["lossreg"]`` against ``samples[baseline]``.

    With ``keep_samples``, the row also carries those two sides' per-repetition times. ``control`` names the
    samples of an identical copy of the baseline (an A/A comparison: how far apart two equal models measure).
    """
    kept = {name: samples[name] for name in ("lossreg", baseline)} if keep_samples else {}
    aa = median(samples[control]) / median(samples[baseline]) if control else None
    return Row(
        f"{benchmark}, {backend} {mode.label}",
        median(samples["lossreg"]),
        median(samples[baseline]),
        "ms",
        target,
        note=note,
        samples=kept,
        backend=backend,
        mode=mode.label,
        api=api,
        control=aa,
    )


def per_step_line(samples: dict[str, list[float]], labels: dict[str, str]) -> str:
    """``per-step ms <label> t, t, ... | <label> t, ...`` for the samples named in ``labels``, in its order."""
    return "per-step ms " + " | ".join(
        f"{label} " + ", ".join(f"{s:.3f}" for s in samples[name]) for name, label in labels.items()
    )


def parse_args(
    argv: Sequence[str] | None, description: str, *, backend: bool = False, extra: Callable[[Any], None] | None = None
) -> argparse.Namespace:
    """The common command line: ``--json`` (one JSON line for run_all.py) and ``--quick`` (few repetitions).

    With ``backend=True``, also ``--backend`` (default: ``KERAS_BACKEND``, else TensorFlow), applied at once
    with :func:`use_backend`; ``extra`` may add a script's own options to the parser.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--json", action="store_true", help="print the rows as one JSON line (for run_all.py)")
    parser.add_argument("--quick", action="store_true", help="few repetitions: a smoke run, not a measurement")
    if backend:
        parser.add_argument("--backend", choices=BACKENDS, help="Keras backend (default: KERAS_BACKEND or tensorflow)")
        parser.add_argument(
            "--single-thread", action="store_true", help="one intra-op thread per backend (for a busy machine)"
        )
    if extra is not None:
        extra(parser)
    args = parser.parse_args(argv)
    if backend:
        args.backend = use_backend(args.backend, single_thread=args.single_thread)
    return args


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
