"""``band_masked_softmax_ce`` alone, forward and backward, against seed 003's raw TensorFlow expression.

lossreg: ``lossreg.get("band_masked_softmax_ce")`` (strict upper triangle, the default), a Keras ``Loss``
reduced to its mean. Baseline: seed 003's
``tf.reduce_mean(tf.linalg.band_part(ce, 0, -1) - tf.linalg.band_part(ce, 0, 0))`` with
``ce = tf.nn.softmax_cross_entropy_with_logits(y, logits)``. One call computes the value and its gradient
with respect to the logits (``tf.GradientTape``) inside a ``tf.function``, and inside a
``tf.function(jit_compile=True)``; logits are ``(8, n, n, 4)`` for n = 9, 64, 256. Values and gradients are
asserted equal first.

Peak memory, the working memory of one warm forward and backward pass (inputs and live results excluded),
measured the first way that works here (``--memory`` picks one):

1. ``tf``: TensorFlow's allocator statistics, ``tf.config.experimental.get_memory_info("CPU:0")``: the peak
   during one warm call minus what was allocated before it. They count tensors, and XLA's temporary buffers
   under ``jit_compile``, where the TensorFlow build keeps CPU statistics (TensorFlow 2.21 here does); other
   builds raise ``ValueError: Cannot reset memory stats for device 'CPU:0'`` or report nothing.
2. ``rss``: in a fresh process (so nothing else moves its memory), the peak resident set size during one warm
   call minus the resident size before it (Linux: ``/proc/self/clear_refs`` resets the peak, ``VmHWM``
   reads it), with glibc's ``MALLOC_MMAP_THRESHOLD_`` fixed at 64 KiB so that every large buffer is mapped
   on allocation and returned on release instead of staying resident from the previous call. Graph mode
   only: XLA keeps its buffers between calls, so under ``jit_compile`` the resident size does not move.
3. Otherwise "n/a", with the reason among the details. Memory never stops the run.

Also printed (not in the table): the number of ops and the bytes of every op output in the traced graph
(the unoptimised graph, before Grappler), which show where extra passes come from.

Run: ``python bench/bench_band_ce.py`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Sequence
from typing import Any

from _common import Row, interleaved, median, parse_args, report, use_backend

BATCH = 8
CLASSES = 4
SIZES = (9, 64, 256)


def functions(jit: bool) -> dict[str, Any]:
    """The two forward+backward functions, each a fresh ``tf.function``."""
    import tensorflow as tf

    import lossreg

    loss = lossreg.get("band_masked_softmax_ce")

    def ours(y: Any, logits: Any) -> Any:
        with tf.GradientTape() as tape:
            tape.watch(logits)
            value = loss(y, logits)
        return value, tape.gradient(value, logits)

    def raw(y: Any, logits: Any) -> Any:
        with tf.GradientTape() as tape:
            tape.watch(logits)
            ce = tf.nn.softmax_cross_entropy_with_logits(labels=y, logits=logits)
            value = tf.reduce_mean(tf.linalg.band_part(ce, 0, -1) - tf.linalg.band_part(ce, 0, 0))
        return value, tape.gradient(value, logits)

    return {"lossreg": tf.function(ours, jit_compile=jit), "raw": tf.function(raw, jit_compile=jit)}


def inputs(n: int, seed: int = 0) -> tuple[Any, Any]:
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    y = np.eye(CLASSES, dtype="float32")[rng.integers(0, CLASSES, (BATCH, n, n))]
    logits = rng.normal(size=(BATCH, n, n, CLASSES)).astype("float32")
    return tf.constant(y), tf.constant(logits)


MEMORY_METHODS = ("auto", "tf", "rss", "none")


def tf_peak_bytes(fn: Any, y: Any, logits: Any) -> int:
    """Peak bytes the TF allocator held during one (warm) call, beyond what was held before it.

    Raises ``RuntimeError`` where the TensorFlow build keeps no CPU statistics (``reset_memory_stats`` raises
    ``ValueError``, or the peak does not move during a call that allocates megabytes).
    """
    import tensorflow as tf

    fn(y, logits)  # warm: traced (and compiled) before measuring
    try:
        tf.config.experimental.reset_memory_stats("CPU:0")
        before = tf.config.experimental.get_memory_info("CPU:0")["current"]
        result = fn(y, logits)
        peak = tf.config.experimental.get_memory_info("CPU:0")["peak"]
    except (ValueError, KeyError, RuntimeError, tf.errors.OpError) as exc:
        raise RuntimeError(f"no TensorFlow allocator statistics for CPU:0 ({type(exc).__name__}: {exc})") from exc
    del result
    if peak <= 0:
        raise RuntimeError("TensorFlow's allocator statistics for CPU:0 stay at 0")
    return int(peak - before)


def _status_bytes(key: str) -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(key):
                return int(line.split()[1]) * 1024  # "VmHWM:   123456 kB"
    raise RuntimeError(f"/proc/self/status has no {key}")


def rss_child(name: str, n: int, jit: bool) -> int:
    """In this (fresh) process: peak resident bytes during one warm call of ``name``'s function, beyond before."""
    fn = functions(jit)[name]
    y, logits = inputs(n)
    for _ in range(2):
        fn(y, logits)[0].numpy()  # traced, compiled, every buffer size seen once
    with open("/proc/self/clear_refs", "w", encoding="ascii") as clear:
        clear.write("5")  # reset the peak (VmHWM) to the current resident size
    before = _status_bytes("VmRSS:")
    result = fn(y, logits)
    result[0].numpy()
    return _status_bytes("VmHWM:") - before


def rss_peak_bytes(name: str, n: int, jit: bool) -> int:
    """:func:`rss_child` in a fresh process of this interpreter (Linux only)."""
    if jit:
        raise RuntimeError("XLA keeps its buffers between calls: the resident size does not show them")
    if not os.path.exists("/proc/self/clear_refs"):
        raise RuntimeError("no /proc/self/clear_refs (not Linux): cannot reset the peak resident size")
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536", TF_CPP_MIN_LOG_LEVEL="3")
    command = [sys.executable, __file__, "--rss-child", f"{name},{n},{int(jit)}"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    found = [line for line in done.stdout.splitlines() if line.startswith("RSS_PEAK_BYTES ")]
    if done.returncode != 0 or not found:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"the peak-RSS process failed (exit {done.returncode}): {tail}")
    return int(found[-1].split()[1])


def peak_memory(
    fns: dict[str, Any], y: Any, logits: Any, n: int, jit: bool, method: str
) -> tuple[dict[str, int | None], str]:
    """Each function's peak working memory in bytes (``None``: not measurable here) and how it was measured."""
    failures = []
    for way in ("tf", "rss") if method == "auto" else (method,):
        try:
            if way == "tf":
                return {name: tf_peak_bytes(f, y, logits) for name, f in fns.items()}, "TF allocator, get_memory_info"
            if way == "rss":
                measured = {name: rss_peak_bytes(name, n, jit) for name in fns}
                return measured, "peak RSS of a fresh process, MALLOC_MMAP_THRESHOLD_=65536"
        except Exception as exc:  # memory is reported, never fatal: any failure means "n/a"
            failures.append(f"{way}: {exc}")
    reason = "; ".join(failures) if failures else "--memory none"
    return {name: None for name in fns}, f"not measured: {reason}"


def graph_stats(fn: Any, y: Any, logits: Any) -> tuple[int, int, Counter[str]]:
    """Ops, bytes of all op outputs with a static shape, and op types, of the traced graph."""
    graph = fn.get_concrete_function(y, logits).graph
    total = 0
    for op in graph.get_operations():
        for out in op.outputs:
            shape = out.shape
            if shape.rank is not None and shape.is_fully_defined() and out.dtype.size:
                total += shape.num_elements() * out.dtype.size
    kinds = Counter(op.type for op in graph.get_operations())
    return len(graph.get_operations()), total, kinds


def _options(parser: Any) -> None:
    parser.add_argument("--memory", choices=MEMORY_METHODS, default="auto", help="how to measure peak memory")
    parser.add_argument("--rss-child", help=argparse.SUPPRESS)  # internal: NAME,N,JIT for rss_peak_bytes


def _mib(value: int | None) -> float | None:
    return None if value is None else value / 2**20


def _kib(value: int | None) -> str:
    return "n/a" if value is None else f"{value / 2**10:.0f} KiB"


def main(argv: Sequence[str] | None = None) -> list[Row]:
    import numpy as np

    args = parse_args(argv, __doc__.splitlines()[0], extra=_options)
    use_backend("tensorflow")  # the baseline is raw TensorFlow: lossreg's loss must run on it too
    if args.rss_child:
        name, n, jit = args.rss_child.split(",")
        print(f"RSS_PEAK_BYTES {rss_child(name, int(n), jit == '1')}")
        return []
    repeats = 5 if args.quick else 15
    rows, details = [], []
    for jit in (False, True):
        mode = "jit" if jit else "tf.function"
        for n in SIZES:
            fns = functions(jit)
            y, logits = inputs(n)
            (va, ga), (vb, gb) = fns["lossreg"](y, logits), fns["raw"](y, logits)
            np.testing.assert_allclose(float(va), float(vb), rtol=1e-5, err_msg=f"n={n}: values differ")
            np.testing.assert_allclose(ga.numpy(), gb.numpy(), rtol=1e-4, atol=1e-9, err_msg=f"n={n}: gradients")
            calls = {name: (lambda f=f, y=y, x=logits: f(y, x)[0].numpy()) for name, f in fns.items()}
            samples = interleaved(calls, repeats=repeats, min_block=0.03)
            unit, scale = ("µs", 1e6) if n < 256 else ("ms", 1e3)
            rows.append(
                Row(
                    f"band_masked_softmax_ce fwd+bwd, {mode}, n={n}",
                    median(samples["lossreg"]) * scale,
                    median(samples["raw"]) * scale,
                    unit,
                    1.0,
                    samples={k: [s * scale for s in v] for k, v in samples.items()},
                )
            )
            line = f"{mode} n={n}: value and gradient equal"
            if n == SIZES[-1]:  # measured at the largest size only: the fallback costs a process per function
                mem, how = peak_memory(fns, y, logits, n, jit, args.memory)
                line += f"; peak working memory lossreg {_kib(mem['lossreg'])}, raw {_kib(mem['raw'])} ({how})"
            if not jit:
                stats = {name: graph_stats(f, y, logits) for name, f in fns.items()}
                line += "; traced graph: " + ", ".join(
                    f"{name} {ops} ops / {size / 2**20:.2f} MiB of op outputs" for name, (ops, size, _) in stats.items()
                )
                if n == SIZES[-1]:
                    extra = stats["lossreg"][2] - stats["raw"][2]
                    details.append(f"op types lossreg has beyond raw (n={n}): {dict(sorted(extra.items()))}")
            details.append(line)
            if n == SIZES[-1]:
                rows.append(
                    Row(
                        f"band_masked_softmax_ce peak memory, {mode}, n={n}",
                        _mib(mem["lossreg"]),
                        _mib(mem["raw"]),
                        "MiB",
                        None,
                        note=f"peak during one warm call minus memory held before it: {how}",
                    )
                )
    report(rows, args.json, details)
    return rows


if __name__ == "__main__":
    main()
