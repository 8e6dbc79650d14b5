"""``band_masked_softmax_ce`` alone, forward and backward, against seed 003's raw TensorFlow expression.

lossreg: ``lossreg.get("band_masked_softmax_ce")`` (strict upper triangle, the default), a Keras ``Loss``
reduced to its mean. Baseline: seed 003's
``tf.reduce_mean(tf.linalg.band_part(ce, 0, -1) - tf.linalg.band_part(ce, 0, 0))`` with
``ce = tf.nn.softmax_cross_entropy_with_logits(y, logits)``. One call computes the value and its gradient
with respect to the logits (``tf.GradientTape``) inside a ``tf.function``, and inside a
``tf.function(jit_compile=True)``; logits are ``(8, n, n, 4)`` for n = 9, 64, 256. Values and gradients are
asserted equal first.

Peak memory: TensorFlow's allocator statistics, ``tf.config.experimental.get_memory_info("CPU:0")``, which
do work on CPU in this TensorFlow (checked: they count tensors, and XLA's temporary buffers under
``jit_compile``). The figure is the peak during one warm call minus what was allocated before it (inputs
and live results excluded), i.e. the working memory of the forward and backward pass.

Also printed (not in the table): the number of ops and the bytes of every op output in the traced graph
(the unoptimised graph, before Grappler), which show where extra passes come from.

Run: ``python bench/bench_band_ce.py`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from _common import Row, interleaved, median, parse_args, report

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


def peak_bytes(fn: Any, y: Any, logits: Any) -> int:
    """Peak bytes the TF allocator held during one (warm) call, beyond what was held before it."""
    import tensorflow as tf

    fn(y, logits)  # warm: traced (and compiled) before measuring
    tf.config.experimental.reset_memory_stats("CPU:0")
    before = tf.config.experimental.get_memory_info("CPU:0")["current"]
    result = fn(y, logits)
    peak = tf.config.experimental.get_memory_info("CPU:0")["peak"]
    del result
    return peak - before


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


def main(argv: Sequence[str] | None = None) -> list[Row]:
    import numpy as np

    args = parse_args(argv, __doc__.splitlines()[0])
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
            mem = {name: peak_bytes(f, y, logits) for name, f in fns.items()}
            line = (
                f"{mode} n={n}: value and gradient equal; peak working memory lossreg {mem['lossreg'] / 2**10:.0f} KiB,"
                f" raw {mem['raw'] / 2**10:.0f} KiB (TF allocator, get_memory_info)"
            )
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
                        mem["lossreg"] / 2**20,
                        mem["raw"] / 2**20,
                        "MiB",
                        None,
                        note="TF allocator peak during one warm call minus memory held before it",
                    )
                )
    report(rows, args.json, details)
    return rows


if __name__ == "__main__":
    main()
