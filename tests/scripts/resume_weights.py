"""Load saved lossreg models in a fresh process, train each one more epoch, and print what happened as JSON.

Usage: ``python resume_weights.py DIR``. For every ``DIR/<case>.keras`` (saved by ``tests/test_weights_resume.py``
after training, or by its ``ModelCheckpoint`` as ``<case>.checkpoint.keras``) with its data ``DIR/<case>.npz``
(arrays ``x.<name>`` / ``y.<name>``, or ``x`` / ``y``, and the ``batch`` size): load it with
``keras.saving.load_model(path, safe_mode=True)`` and no ``custom_objects`` (``import lossreg`` is what registers
its classes), record its state right after loading, train one epoch and record the state again. For every
``DIR/<case>.tampered.keras``, record how loading it failed. The engine is the Keras backend (``KERAS_BACKEND``),
as in the process that saved the files.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
if os.environ.get("KERAS_BACKEND") == "torch":
    import torch  # noqa: F401  (before TensorFlow, which Keras imports for tf.data: as the test suite does)

import keras
import numpy as np

import lossreg


def values(variables: Any) -> dict[str, Any]:
    return {v.path: keras.ops.convert_to_numpy(v).tolist() for v in variables}


def step_counters(model: keras.Model) -> list[float]:
    """The step counter of each owner of changing weights: the attach model, then every ``LossLayer`` with them."""
    owners = [model, *(layer for layer in model.layers if isinstance(layer, lossreg.LossLayer))]
    return [
        float(keras.ops.convert_to_numpy(o.term_weights.step))
        for o in owners
        if getattr(o, "term_weights", None) is not None
    ]


def arrays(data: Any, part: str) -> Any:
    """``x`` or ``y`` from the saved data: one array, a dict of named arrays, or ``None``."""
    if part in data.files:
        return data[part]
    named = {k.split(".", 1)[1]: data[k] for k in data.files if k.startswith(f"{part}.")}
    return named or None


def resume(path: Path) -> dict[str, Any]:
    model = keras.saving.load_model(path, safe_mode=True)
    data = np.load(path.parent / f"{path.name.split('.')[0]}.npz")  # <case>.keras, <case>.checkpoint.keras
    x, y = arrays(data, "x"), arrays(data, "y")
    batch = int(data["batch"]) if "batch" in data.files else None
    result: dict[str, Any] = {
        "loaded": values(model.variables),
        "optimizer_loaded": values(model.optimizer.variables),
        "iterations_loaded": int(keras.ops.convert_to_numpy(model.optimizer.iterations)),
        "steps_loaded": step_counters(model),
    }
    history = model.fit(x, y, batch_size=batch, epochs=1, shuffle=False, verbose=0)
    result.update(
        history={k: [float(v) for v in vs] for k, vs in history.history.items()},
        variables=values(model.variables),
        iterations=int(keras.ops.convert_to_numpy(model.optimizer.iterations)),
        steps=step_counters(model),
    )
    return result


def refused(path: Path) -> dict[str, Any]:
    try:
        keras.saving.load_model(path, safe_mode=True)
    except Exception as exc:  # the test says which class and path it expects
        return {"error": type(exc).__name__, "path": getattr(exc, "path", None), "message": str(exc)}
    return {"loaded": True}


def main(folder: Path) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for path in sorted(folder.glob("*.keras")):
        case = path.name.removesuffix(".keras")
        try:
            results[case] = refused(path) if case.endswith(".tampered") else resume(path)
        except Exception as exc:  # reported to the test, which fails with it
            results[case] = {"failed": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()[-3000:]}
    return results


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]))))
