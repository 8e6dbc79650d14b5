"""Wall time of ``lossreg list`` against ``python -c "import tensorflow"``, each a fresh process.

``lossreg list`` imports neither TensorFlow nor any plugin, so it should cost a small fraction of
importing TensorFlow (target: at most 0.15 of it). Both commands run with the same interpreter and
environment, output discarded, in interleaved repetitions; the console script next to the interpreter
(``<venv>/bin/lossreg``) is used when it exists, ``python -m lossreg`` otherwise.

Run: ``python bench/bench_cli_startup.py`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from _common import Row, interleaved, median, parse_args, report


def lossreg_command() -> list[str]:
    """The installed console script beside this interpreter, else ``python -m lossreg``."""
    script = Path(sys.executable).with_name("lossreg")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script), "list"]
    return [sys.executable, "-m", "lossreg", "list"]


def run(command: list[str]) -> None:
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)


def main(argv: Sequence[str] | None = None) -> list[Row]:
    args = parse_args(argv, __doc__.splitlines()[0])
    repeats = 3 if args.quick else 7
    ours = lossreg_command()
    baseline = [sys.executable, "-c", "import tensorflow"]
    listing = subprocess.run(ours, capture_output=True, text=True, check=True).stdout
    assert "band_masked_softmax_ce" in listing, "lossreg list did not list lossreg's losses"
    # the claim under test: listing imports no TensorFlow (-X importtime names every module imported)
    imports = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "lossreg", "list"], capture_output=True, text=True, check=True
    ).stderr
    imported_tf = any(line.rsplit("|", 1)[-1].strip() == "tensorflow" for line in imports.splitlines())
    samples = interleaved({"lossreg": lambda: run(ours), "baseline": lambda: run(baseline)}, repeats=repeats, number=1)
    row = Row(
        "`lossreg list` wall time vs `python -c 'import tensorflow'`",
        median(samples["lossreg"]) * 1e3,
        median(samples["baseline"]) * 1e3,
        "ms",
        0.15,
        samples={k: [s * 1e3 for s in v] for k, v in samples.items()},
    )
    details = [
        f"command: {' '.join(ours)}; tensorflow imported by `lossreg list`: {imported_tf}",
        "per-run ms lossreg list "
        + ", ".join(f"{s * 1e3:.0f}" for s in samples["lossreg"])
        + " | import tensorflow "
        + ", ".join(f"{s * 1e3:.0f}" for s in samples["baseline"]),
    ]
    report([row], args.json, details)
    return [row]


if __name__ == "__main__":
    main()
