"""Seed 003: two joint decoders, one input, two outputs, and ONE loss over both outputs.

The seed's author wanted ``loss = mean(ce(y1, out1)) + 2 * mean(band(ce(y2, out2)))`` as one function of
both outputs, and hit Keras' one-loss-per-output rule (and ``model.targets`` hacks). With
``lossreg.attach`` that loss is one spec entry whose terms each name the output they read:

    {"joint": {"loss": [{"loss": "softmax_ce", "on": "output_1"},
                        {"loss": "band_masked_softmax_ce", "on": "output_2", "weight": 2.0}]}}

``band_masked_softmax_ce`` is the seed's ``band_part(ce, 0, -1) - band_part(ce, 0, 0)`` (the strict upper
triangle of the pairwise cross-entropies). The same loss written per output (``examples/joint_decoder.json``,
as the seed's answer suggests) trains identically; both log every term.

Run: ``python examples/seed003_joint_decoder.py``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras

import lossreg
from lossreg._demo import build_joint_decoder, synthetic_data

JOINT_SPEC = {
    "joint": {
        "loss": [
            {"loss": "softmax_ce", "on": "output_1"},
            {"loss": "band_masked_softmax_ce", "on": "output_2", "weight": 2.0},
        ]
    }
}
# {"output_1": "softmax_ce", "output_2": {"loss": "band_masked_softmax_ce", ..., "weight": 2.0}}
PER_OUTPUT_SPEC = Path(__file__).with_name("joint_decoder.json")


def train(spec: Any, x: Any, y: Any, batch_size: int, epochs: int, verbose: int) -> tuple[Any, dict[str, list[float]]]:
    """Seed 003's model (same initial weights every time), attached to ``spec`` and trained with Adam."""
    model = build_joint_decoder(seed=0)
    attached = lossreg.attach(model, spec)
    attached.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = attached.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=False, verbose=verbose)
    return attached, history.history


def main(samples: int = 128, batch_size: int = 32, epochs: int = 3, verbose: int = 0) -> dict[str, Any]:
    """Train the joint-entry and the per-output version from the same start; return models, data, results."""
    x, y = synthetic_data(samples)  # y = {"output_1": (n, 9, 5) one-hot, "output_2": (n, 9, 9, 4) one-hot}
    joint, joint_history = train(JOINT_SPEC, x, y, batch_size, epochs, verbose)
    per_output, per_output_history = train(PER_OUTPUT_SPEC, x, y, batch_size, epochs, verbose)
    return {
        "x": x,
        "y": y,
        "joint": joint,
        "per_output": per_output,
        "joint_history": joint_history,
        "per_output_history": per_output_history,
        "joint_evaluate": joint.evaluate(x, y, batch_size=samples, verbose=0, return_dict=True),
        "per_output_evaluate": per_output.evaluate(x, y, batch_size=samples, verbose=0, return_dict=True),
    }


if __name__ == "__main__":
    result = main(verbose=0)
    for name in ("joint", "per_output"):
        print(f"{name} spec: {result[name].spec}")
        for key, values in result[f"{name}_history"].items():
            print(f"  {key:45s} " + " -> ".join(f"{v:.4f}" for v in values))
    a, b = result["joint_history"]["loss"], result["per_output_history"]["loss"]
    same = all(abs(u - v) <= 1e-5 * abs(v) for u, v in zip(a, b, strict=True))
    print(f"One joint entry and two per-output entries train {'identically' if same else 'DIFFERENTLY'}.")
    probabilities = lossreg.inference_model(result["joint"].inference_model, activation="softmax")
    out_1, out_2 = probabilities.predict(result["x"][:1], verbose=0)
    print(
        f"Prediction with softmax (lossreg.inference_model): output_1 {out_1.shape}, output_2 {out_2.shape}, "
        f"rows sum to {float(out_2.sum(-1).mean()):.4f}."
    )
