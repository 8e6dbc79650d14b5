"""Plugin discovery cost: ``lossreg.names()`` with 200 installed entry points against none.

Two temporary virtual environments are made (``python -m venv --without-pip``), identical but for 200
fake distributions written into one of them: ``lossreg_bench_plugin_NNN-0.1.0.dist-info`` with ``METADATA``
and an ``entry_points.txt`` registering ``bench_fake_NNN`` in the group ``lossreg.losses``, each pointing
at its own tiny importable module. Each environment sees this interpreter's installed packages (lossreg
included) through a ``.pth`` file that calls ``site.addsitedir`` on them (a venv made from a venv would
otherwise see only the base interpreter's packages).

Measured: the first ``lossreg.names()`` call (where discovery happens) in a fresh process of each
environment, interleaved. The target is at most 50 ms more with the 200 plugins than without. Checked
first: the 200 losses are listed, and none of the plugin modules was imported to list them.

Run: ``python bench/bench_discovery.py`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import json
import site
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from _common import Row, interleaved_measured, median, parse_args, report

PLUGINS = 200

PROBE = """
import json, sys, time
import lossreg
start = time.perf_counter()
names = lossreg.names()
seconds = time.perf_counter() - start
fake = [n for n in names if n.startswith("bench_fake_")]
imported = [m for m in sys.modules if m.startswith("lossreg_bench_plugin_")]
print(json.dumps({"seconds": seconds, "fake": len(fake), "imported": len(imported)}))
"""

MODULE = '''"""Fake plugin {i} for lossreg's discovery benchmark."""


def bench_fake_{i:03d}(scale: float = 1.0):
    """Fake loss {i}: scale times the mean squared error."""

    def loss(y_true, y_pred):
        from keras import ops

        return scale * ops.mean(ops.square(y_pred - y_true), axis=-1)

    return loss
'''


def make_venv(root: Path) -> Path:
    """A venv at ``root`` seeing this interpreter's packages; returns its site-packages directory."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    purelib = sysconfig.get_path("purelib", vars={"base": str(root), "platbase": str(root)})
    packages = Path(purelib)
    ours = [p for p in [*site.getsitepackages(), site.getusersitepackages()] if Path(p).is_dir()]
    lines = [f"import site; site.addsitedir({p!r})" for p in ours]
    (packages / "zz_bench_parent_packages.pth").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return packages


def write_plugins(packages: Path, count: int) -> None:
    """``count`` fake distributions, each with one ``lossreg.losses`` entry point and its module."""
    for i in range(count):
        dist = f"lossreg_bench_plugin_{i:03d}"
        info = packages / f"{dist}-0.1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: lossreg-bench-plugin-{i:03d}\nVersion: 0.1.0\n", encoding="utf-8"
        )
        (info / "entry_points.txt").write_text(
            f"[lossreg.losses]\nbench_fake_{i:03d} = {dist}:bench_fake_{i:03d}\n", encoding="utf-8"
        )
        (packages / f"{dist}.py").write_text(MODULE.format(i=i), encoding="utf-8")


def probe(python: Path, walls: list[float]) -> dict[str, float]:
    start = time.perf_counter()
    out = subprocess.run([str(python), "-c", PROBE], capture_output=True, text=True, check=True).stdout
    walls.append(time.perf_counter() - start)
    return json.loads(out.strip().splitlines()[-1])


def main(argv: Sequence[str] | None = None) -> list[Row]:
    args = parse_args(argv, __doc__.splitlines()[0])
    repeats = 3 if args.quick else 15
    with tempfile.TemporaryDirectory(prefix="lossreg-bench-discovery-") as tmp:
        pythons = {}
        for name, count in (("none", 0), ("many", PLUGINS)):
            root = Path(tmp) / name
            write_plugins(make_venv(root), count)
            pythons[name] = root / "bin" / "python"
        walls: dict[str, list[float]] = {"none": [], "many": []}
        for name, count in (("none", 0), ("many", PLUGINS)):
            first = probe(pythons[name], [])  # also warms the file-system cache
            assert first["fake"] == count, f"{name}: expected {count} fake plugin losses, found {first['fake']}"
            assert first["imported"] == 0, f"{name}: listing imported {first['imported']} plugin modules"
        samples = interleaved_measured(
            {name: (lambda name=name: probe(pythons[name], walls[name])["seconds"]) for name in ("many", "none")},
            repeats=repeats,
        )
    row = Row(
        f"discovery: first `lossreg.names()`, {PLUGINS} plugin entry points vs none",
        median(samples["many"]) * 1e3,
        median(samples["none"]) * 1e3,
        "ms",
        50.0,
        kind="delta",
        samples={k: [s * 1e3 for s in v] for k, v in samples.items()},
    )
    details = [
        f"{PLUGINS} fake plugins listed, none imported; extra for {PLUGINS} plugins: {row.delta:+.1f} ms "
        f"({row.delta / PLUGINS * 1e3:.0f} µs each)",
        "per-run ms names() with plugins "
        + ", ".join(f"{s * 1e3:.1f}" for s in samples["many"])
        + " | without "
        + ", ".join(f"{s * 1e3:.1f}" for s in samples["none"]),
        f"whole process (python -c 'import lossreg; lossreg.names()'), median ms: with plugins "
        f"{median(walls['many']) * 1e3:.0f}, without {median(walls['none']) * 1e3:.0f}",
    ]
    report([row], args.json, details)
    return [row]


if __name__ == "__main__":
    main()
