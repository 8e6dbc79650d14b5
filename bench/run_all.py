"""Run every lossreg benchmark, print the results as Markdown tables, and record them in bench/README.md.

Each benchmark runs in its own process, and the training-step benchmarks once per Keras backend, each in its
own process with ``KERAS_BACKEND`` set before Keras is imported (no backend state leaks from one to the
next). The first table is backend x (resolve, attach) x mode, with step times, ratios and which backend is
fastest for these models; the second the other benchmarks. Both go to stdout and between the markers in
``bench/README.md`` (``--no-write`` leaves the file alone), with the command that reproduces them and the
machine they ran on. The third, changing weights (schedule, uncertainty) against constant weights per backend
and mode, goes between its own markers; ``--weights-only`` runs and writes only that one. The fourth, losses
that ignore pixels against the same losses unmasked (a segmentation model at 256x256x4) per backend and mode,
likewise: ``--dense-only``.

Run from the repository root: ``python bench/run_all.py`` (``--quick`` for a smoke run of a few
repetitions; its figures are not measurements and it never writes the README; ``--single-thread`` on a
machine whose cores other processes are using).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import BACKENDS, JSON_PREFIX, Row, markdown_table  # noqa: E402

STEP_SCRIPTS = ("bench_resolve_step.py", "bench_attach_step.py")  # run once per backend
WEIGHT_SCRIPTS = ("bench_weights_step.py",)  # run once per backend; its own table and markers
DENSE_SCRIPTS = ("bench_dense_step.py",)  # run once per backend; its own table and markers
SCRIPTS = ("bench_band_ce.py", "bench_cli_startup.py", "bench_discovery.py")  # TensorFlow (or no backend)
START, END = "<!-- bench:results:start -->", "<!-- bench:results:end -->"
WEIGHTS_START, WEIGHTS_END = "<!-- bench:weights:start -->", "<!-- bench:weights:end -->"
DENSE_START, DENSE_END = "<!-- bench:dense:start -->", "<!-- bench:dense:end -->"
TIMEOUT = 240  # seconds per benchmark (the step benchmarks take 20-60 s each on a quiet machine)
TIMEOUTS = {"bench_dense_step.py": 600}  # nine 256x256 segmentation models per mode, XLA-compiled on TensorFlow


def machine() -> str:
    """CPU model, cores, Python, TensorFlow and Keras versions."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor() or cpu

    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "not installed"

    return (
        f"{cpu}, {os.cpu_count()} cores; {platform.system()} {platform.release()}; Python "
        f"{platform.python_version()}; TensorFlow {version('tensorflow')}, JAX {version('jax')}, "
        f"torch {version('torch')}, Keras {version('keras')}, lossreg {version('lossreg-core')}"
    )


def run_script(
    script: str, quick: bool, backend: str | None = None, single_thread: bool = False
) -> tuple[list[Row], float, str]:
    """Run one benchmark in a fresh process (on ``backend``); its rows, its wall time and its detail lines."""
    command = [sys.executable, str(HERE / script), "--json"] + (["--quick"] if quick else [])
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONHASHSEED="0")
    if backend is not None:
        command += ["--backend", backend] + (["--single-thread"] if single_thread else [])
        env["KERAS_BACKEND"] = backend
    else:
        env.pop("KERAS_BACKEND", None)  # the other benchmarks compare with raw TensorFlow
    start = time.perf_counter()
    timeout = TIMEOUTS.get(script, TIMEOUT)
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, cwd=HERE.parent)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{script} failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")
    payload = [line for line in done.stdout.splitlines() if line.startswith(JSON_PREFIX)]
    if not payload:
        raise SystemExit(f"{script} printed no results:\n{done.stdout}\n{done.stderr}")
    rows = [Row(**row) for row in json.loads(payload[-1][len(JSON_PREFIX) :])]
    details = [
        line
        for line in done.stderr.splitlines()
        # TensorFlow's start-up logging and retracing notices (from warm-up, before anything is timed)
        if line and not line.startswith(("I0000", "E0000", "W0000", "WARNING: All log messages", "WARNING:tensorflow"))
    ]
    return rows, elapsed, "\n".join(details)


STEP_HEADER = ["backend", "API", "mode", "lossreg", "hand-written", "ratio", "target", "met?", "A/A"]


def step_table(rows: list[Row]) -> str:
    """Backend x API x mode: median step times of lossreg and the hand-written baseline, ratio, target, and the
    A/A control (an identical copy of the baseline against the baseline: the noise floor of the ratio)."""
    lines = ["| " + " | ".join(STEP_HEADER) + " |", "|" + "|".join(" --- " for _ in STEP_HEADER) + "|"]
    for row in sorted(rows, key=lambda r: (r.api.split()[0] != "resolve", r.api, BACKENDS.index(r.backend))):
        cells = row.cells()
        control = "—" if row.control is None else f"{row.control:.3f}"
        lines.append("| " + " | ".join([row.backend, row.api, row.mode, *cells[1:], control]) + " |")
    return "\n".join(lines)


WEIGHTS_HEADER = ["backend", "weight", "mode", "changing", "constant", "ratio", "target", "met?", "A/A"]


def weights_table(rows: list[Row]) -> str:
    """Backend x weighting x mode: median step times of attach with changing weights and with constant weights
    (the same model and terms), ratio, target, and the A/A control (a copy of the constant model)."""
    lines = ["| " + " | ".join(WEIGHTS_HEADER) + " |", "|" + "|".join(" --- " for _ in WEIGHTS_HEADER) + "|"]
    for row in sorted(rows, key=lambda r: (r.api != "linear schedule", BACKENDS.index(r.backend))):
        cells = row.cells()
        control = "—" if row.control is None else f"{row.control:.3f}"
        lines.append("| " + " | ".join([row.backend, row.api, row.mode, *cells[1:], control]) + " |")
    return "\n".join(lines)


DENSE_HEADER = ["backend", "loss", "mode", "ignoring", "unmasked", "ratio", "target", "met?", "A/A"]


def dense_table(rows: list[Row]) -> str:
    """Backend x loss x mode: median step times of the segmentation model whose loss ignores pixels and of the same
    model with the same loss unmasked, ratio, target, and the A/A control (a copy of the unmasked softmax_ce
    model against it, one per backend and mode)."""
    lines = ["| " + " | ".join(DENSE_HEADER) + " |", "|" + "|".join(" --- " for _ in DENSE_HEADER) + "|"]
    order = {name: i for i, name in enumerate(dict.fromkeys(r.api for r in rows))}  # the script's order of losses
    for row in sorted(rows, key=lambda r: (order[r.api], BACKENDS.index(r.backend))):
        cells = row.cells()
        control = "—" if row.control is None else f"{row.control:.3f}"
        lines.append("| " + " | ".join([row.backend, row.api, row.mode, *cells[1:], control]) + " |")
    return "\n".join(lines)


def section(table: str, rows: list[Row], flag: str, threads: str, conditions: str, note: str) -> str:
    """A table of its own (changing weights, ignored pixels) with its threads, reproduce line, machine and misses."""
    return "\n".join(
        [
            table,
            "",
            f"Threads: {threads}. torch runs eager.",
            "",
            f"Reproduce: `python bench/run_all.py {flag}` (or the full run).",
            "",
            conditions,
            *(["", note] if note else []),
            "",
            f"Targets missed: {sum(r.met is False for r in rows)} of {sum(r.met is not None for r in rows)}.",
        ]
    )


def fastest(rows: list[Row]) -> list[str]:
    """For each API (its seed model), the backend and mode whose lossreg step is fastest, and the others."""
    lines = []
    for api, seed in (("resolve", "seed 003"), ("attach", "seed 004")):
        timed = sorted((r for r in rows if r.api == api and r.lossreg is not None), key=lambda r: r.lossreg or 0.0)
        if not timed:
            continue
        best = timed[0]
        others = ", ".join(f"{r.backend} {r.mode} {r.lossreg:.2f} ms" for r in timed[1:])
        hand = min((r for r in timed if r.baseline is not None), key=lambda r: r.baseline or 0.0)
        lines.append(
            f"Fastest for {seed}'s model ({api}): **{best.backend} {best.mode}**, {best.lossreg:.2f} ms a step "
            f"(then {others}); hand-written, fastest on {hand.backend} {hand.mode} ({hand.baseline:.2f} ms)."
        )
    return lines


def write_readme(block: str, start: str = START, end: str = END) -> None:
    readme = HERE / "README.md"
    text = readme.read_text(encoding="utf-8")
    if start not in text or end not in text:
        raise SystemExit(f"{readme} lacks the markers {start} / {end}")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    readme.write_text(f"{head}{start}\n{block}\n{end}{tail}", encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few repetitions: a smoke run (never written)")
    parser.add_argument("--no-write", action="store_true", help="do not update bench/README.md")
    parser.add_argument("--note", default="", help="a line recorded under the table (e.g. the machine's load)")
    parser.add_argument(
        "--backends",
        default=",".join(BACKENDS),
        help=f"comma-separated, for the step benchmarks (default: all: {BACKENDS})",
    )
    parser.add_argument(
        "--single-thread", action="store_true", help="step benchmarks on one intra-op thread per backend (busy machine)"
    )
    parser.add_argument("--steps-only", action="store_true", help="only the training-step benchmarks")
    parser.add_argument(
        "--weights-only",
        action="store_true",
        help="only the changing-weights benchmark (its table, written between its own markers)",
    )
    parser.add_argument(
        "--dense-only",
        action="store_true",
        help="only the ignored-pixels benchmark (its table, written between its own markers)",
    )
    args = parser.parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = sorted(set(backends) - set(BACKENDS))
    if unknown:
        parser.error(f"unknown backends {unknown}: expected some of {BACKENDS}")

    start = time.perf_counter()
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    steps: list[Row] = []
    weights: list[Row] = []
    dense: list[Row] = []
    rows: list[Row] = []
    only = args.weights_only or args.dense_only
    per_backend = (
        (WEIGHT_SCRIPTS if args.weights_only else ()) + (DENSE_SCRIPTS if args.dense_only else ())
        if only
        else STEP_SCRIPTS + WEIGHT_SCRIPTS + DENSE_SCRIPTS
    )
    runs = [(script, backend) for backend in backends for script in per_backend]
    runs += [] if args.steps_only or only else [(script, None) for script in SCRIPTS]
    for script, backend in runs:
        script_rows, elapsed, details = run_script(script, args.quick, backend, args.single_thread)
        target = weights if script in WEIGHT_SCRIPTS else dense if script in DENSE_SCRIPTS else steps
        (target if backend else rows).extend(script_rows)
        print(f"{script}{f' --backend {backend}' if backend else ''}: {elapsed:.1f} s", file=sys.stderr, flush=True)
        if details:
            print("  " + details.replace("\n", "\n  "), file=sys.stderr, flush=True)
    total = time.perf_counter() - start
    load_after = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")

    command = "python bench/run_all.py" + (" --single-thread" if args.single_thread else "")
    threads = "one intra-op thread per backend (`--single-thread`)" if args.single_thread else "backend defaults"
    conditions = (
        f"Machine: {machine()}. Whole run: {total:.0f} s; 1-minute load average {load_before:.2f} before, "
        f"{load_after:.2f} after."
    )
    single = " --single-thread" if args.single_thread else ""
    write = not args.quick and not args.no_write and not args.steps_only
    for table, got, flag, markers in (
        (weights_table, weights, "--weights-only", (WEIGHTS_START, WEIGHTS_END)),
        (dense_table, dense, "--dense-only", (DENSE_START, DENSE_END)),
    ):
        if got:
            block = section(table(got), got, flag + single, threads, conditions, args.note)
            print(block)
            if write:
                write_readme(block, *markers)
    if only:
        return 0
    missed = [r.benchmark for r in steps + rows if r.met is False]
    lines = [
        step_table(steps),
        "",
        *fastest(steps),
        "",
        f"Threads: {threads}. torch runs eager (`jit_compile=True` would be `torch.compile`, minutes per model here).",
    ]
    if rows:
        lines += ["", markdown_table(rows)]
    lines += [
        "",
        f"Reproduce (from the repository root, with the venv's interpreter): `{command}`",
        "",
        conditions,
    ]
    if args.note:
        lines += ["", args.note]
    lines += ["", f"Targets missed: {len(missed)} of {sum(r.met is not None for r in steps + rows)}."]
    block = "\n".join(lines)
    print(block)
    if not args.quick and not args.no_write and not args.steps_only:
        write_readme(block)
    return 0


if __name__ == "__main__":
    sys.exit(main())
