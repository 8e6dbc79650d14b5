"""Run every lossreg benchmark, print one Markdown table, and record it in bench/README.md.

Each benchmark runs in its own process (no TensorFlow state leaks from one to the next). The table goes
to stdout and between the markers in ``bench/README.md`` (``--no-write`` leaves the file alone), with the
command that reproduces it and the machine it ran on.

Run from the repository root: ``python bench/run_all.py`` (``--quick`` for a smoke run of a few
repetitions; its figures are not measurements and it never writes the README).
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

from _common import JSON_PREFIX, Row, markdown_table  # noqa: E402

SCRIPTS = (
    "bench_resolve_step.py",
    "bench_attach_step.py",
    "bench_band_ce.py",
    "bench_cli_startup.py",
    "bench_discovery.py",
)
START, END = "<!-- bench:results:start -->", "<!-- bench:results:end -->"
TIMEOUT = 240  # seconds per benchmark; the whole run is budgeted at well under 5 minutes


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
        f"{platform.python_version()}; TensorFlow {version('tensorflow')}, Keras {version('keras')}, "
        f"lossreg {version('lossreg')}"
    )


def run_script(script: str, quick: bool) -> tuple[list[Row], float, str]:
    """Run one benchmark in a fresh process; its rows, its wall time and its detail lines."""
    command = [sys.executable, str(HERE / script), "--json"] + (["--quick"] if quick else [])
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONHASHSEED="0")
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, env=env, cwd=HERE.parent)
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


def write_readme(block: str) -> None:
    readme = HERE / "README.md"
    text = readme.read_text(encoding="utf-8")
    if START not in text or END not in text:
        raise SystemExit(f"{readme} lacks the markers {START} / {END}")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(f"{head}{START}\n{block}\n{END}{tail}", encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few repetitions: a smoke run (never written)")
    parser.add_argument("--no-write", action="store_true", help="do not update bench/README.md")
    parser.add_argument("--note", default="", help="a line recorded under the table (e.g. the machine's load)")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    rows: list[Row] = []
    for script in SCRIPTS:
        script_rows, elapsed, details = run_script(script, args.quick)
        rows += script_rows
        print(f"{script}: {elapsed:.1f} s", file=sys.stderr, flush=True)
        if details:
            print("  " + details.replace("\n", "\n  "), file=sys.stderr, flush=True)
    total = time.perf_counter() - start
    load_after = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")

    table = markdown_table(rows)
    missed = [r.benchmark for r in rows if r.met is False]
    lines = [
        table,
        "",
        "Reproduce (from the repository root, with the venv's interpreter): `python bench/run_all.py`",
        "",
        f"Machine: {machine()}. Whole run: {total:.0f} s; 1-minute load average {load_before:.2f} before, "
        f"{load_after:.2f} after.",
    ]
    if args.note:
        lines += ["", args.note]
    lines += ["", f"Targets missed: {len(missed)} of {sum(r.met is not None for r in rows)}."]
    block = "\n".join(lines)
    print(block)
    if not args.quick and not args.no_write:
        write_readme(block)
    return 0


if __name__ == "__main__":
    sys.exit(main())
