"""``lossreg demo``: seed 003's joint decoder trained from a spec file, saved, reloaded and re-checked."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

SPEC = Path(__file__).with_name("data") / "joint_decoder.json"


def build_joint_decoder(seed: int = 0) -> Any:
    """Seed 003's model: one 135-feature input, node logits (9, 5) and pairwise logits (9, 9, 4)."""
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=(135,), name="feature_input")
    branches = []
    for units, shape, name in ((45, (9, 5), "output_1"), (324, (9, 9, 4), "output_2")):
        x = inputs
        for width in (128, 256):
            x = keras.layers.Dense(width)(x)
            x = keras.layers.LeakyReLU(negative_slope=0.2)(x)
        x = keras.layers.Dense(units)(x)
        branches.append(keras.layers.Reshape(shape, name=name)(x))
    return keras.Model(inputs, branches, name="joint_decoder")


def synthetic_data(samples: int = 256, seed: int = 0) -> tuple[Any, dict[str, Any]]:
    """Features and one-hot targets shaped for :func:`build_joint_decoder`, learnable from the input."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(samples, 135)).astype("float32")
    w1 = rng.normal(size=(135, 9 * 5))
    w2 = rng.normal(size=(135, 9 * 9 * 4))
    y1 = np.eye(5, dtype="float32")[(x @ w1).reshape(samples, 9, 5).argmax(-1)]
    y2 = np.eye(4, dtype="float32")[(x @ w2).reshape(samples, 9, 9, 4).argmax(-1)]
    return x, {"output_1": y1, "output_2": y2}


def run(spec: os.PathLike[str] | str = SPEC, epochs: int = 3, verbose: int = 1) -> tuple[float, float]:
    """Train, save, reload and evaluate; return the loss before and after reloading."""
    import keras

    import lossreg

    spec_path = Path(spec)
    model = build_joint_decoder()
    model.compile(optimizer="adam", loss=lossreg.resolve(spec_path, model=model))
    x, y = synthetic_data()
    print(f"Training seed 003's joint decoder with the spec {spec_path.name}:")
    model.fit(x, y, batch_size=32, epochs=epochs, verbose=verbose)
    before = float(model.evaluate(x, y, verbose=0, return_dict=True)["loss"])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "joint_decoder.keras"
        model.save(path)
        reloaded = keras.models.load_model(path)  # safe_mode=True, no custom_objects
    after = float(reloaded.evaluate(x, y, verbose=0, return_dict=True)["loss"])
    verdict = "matches" if abs(before - after) <= 1e-6 * max(1.0, abs(before)) else "DOES NOT MATCH"
    print(f"Saved and reloaded: loss {before:.6f} before, {after:.6f} after; the reloaded loss {verdict}.")
    return before, after
