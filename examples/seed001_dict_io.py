"""Seed 001: dict inputs and outputs, an image branch and a time-series branch, one loss per output.

The seed's model reads an image ``(32, 32, 3)`` and a time series ``(None, 10)`` and predicts a score
(regression, MSE) and a 5-class distribution (categorical cross-entropy on logits). Here the model takes
and returns dicts, the spec is keyed by output name, and ``fit`` gets dicts keyed by input and output
names; ``class_output`` stays logits (``softmax_ce`` is the logits-safe softmax cross-entropy) and
``lossreg.inference_model`` gives the matching probabilities for prediction; the time series keeps its
variable length.

The same two heads with learned weights (uncertainty weighting, Kendall, Gal & Cipolla 2018): each output's
weight is ``{"learned": "uncertainty"}``, so its term is ``exp(-s) * L + s`` with ``s`` a trainable
log-variance of the training model (``lossreg.attach``), trained by its optimizer. For a loss ``L`` the term
is smallest at ``exp(-s) = 1 / L``: the larger loss (here the 5-class cross-entropy, about 1.5) gets the
smaller weight, the smaller (the score's MSE) the larger, and nobody tunes ``loss_weights`` by hand.

Run: ``python examples/seed001_dict_io.py``.
"""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np

import lossreg

SPEC = {"score_output": "mse", "class_output": "softmax_ce"}
#: the same losses, each with a learned weight (uncertainty weighting): needs ``lossreg.attach``
UNCERTAINTY_SPEC = {
    "score_output": {"loss": "mse", "weight": {"learned": "uncertainty"}},
    "class_output": {"loss": "softmax_ce", "weight": {"learned": "uncertainty"}},
}


def build_model(size: int = 8, features: int = 10, classes: int = 5, seed: int = 0) -> keras.Model:
    """The seed's two-branch model, with dict inputs and dict outputs (logits for the classes)."""
    keras.utils.set_random_seed(seed)
    image_input = keras.Input((size, size, 3), name="img_input")
    timeseries_input = keras.Input((None, features), name="ts_input")
    x1 = keras.layers.Conv2D(3, 3)(image_input)
    x1 = keras.layers.GlobalMaxPooling2D()(x1)
    x2 = keras.layers.Conv1D(3, 3)(timeseries_input)
    x2 = keras.layers.GlobalMaxPooling1D()(x2)
    x = keras.layers.Concatenate()([x1, x2])
    score_output = keras.layers.Dense(1, name="score_output")(x)
    class_output = keras.layers.Dense(classes, name="class_output")(x)  # logits
    return keras.Model(
        inputs={"img_input": image_input, "ts_input": timeseries_input},
        outputs={"score_output": score_output, "class_output": class_output},
        name="seed001",
    )


def synthetic_data(
    samples: int = 32, size: int = 8, steps: int = 12, features: int = 10, classes: int = 5, seed: int = 0
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Dicts of inputs and targets: random images and series, a random score and one-hot classes."""
    rng = np.random.default_rng(seed)
    x = {
        "img_input": rng.uniform(size=(samples, size, size, 3)).astype("float32"),
        "ts_input": rng.uniform(size=(samples, steps, features)).astype("float32"),
    }
    y = {
        "score_output": rng.uniform(size=(samples, 1)).astype("float32"),
        "class_output": np.eye(classes, dtype="float32")[rng.integers(0, classes, samples)],
    }
    return x, y


def main(
    samples: int = 32, size: int = 8, steps: int = 12, batch_size: int = 8, epochs: int = 3, verbose: int = 0
) -> dict[str, Any]:
    """Train on dicts; evaluate on the training data and on series of another length."""
    model = build_model(size)
    model.compile(optimizer=keras.optimizers.RMSprop(1e-2), loss=lossreg.resolve(SPEC, model=model))
    x, y = synthetic_data(samples, size, steps)
    history = model.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=False, verbose=verbose)
    # the time-series input has no fixed length: the same model evaluates series of another length
    x_short, y_short = synthetic_data(samples, size, steps // 2, seed=1)
    # for prediction: probabilities for the classes, the score as it is; same weights, nothing copied
    predictor = lossreg.inference_model(model, activation={"class_output": "softmax", "score_output": None})
    return {
        "model": model,
        "predictor": predictor,
        "x": x,
        "y": y,
        "x_short": x_short,
        "y_short": y_short,
        "history": history.history,
        "evaluate": model.evaluate(x, y, batch_size=samples, verbose=0, return_dict=True),
        "evaluate_short": model.evaluate(x_short, y_short, batch_size=samples, verbose=0, return_dict=True),
    }


def train_uncertainty(
    samples: int = 64, size: int = 8, steps: int = 12, batch_size: int = 16, epochs: int = 8, verbose: int = 0
) -> dict[str, Any]:
    """Train the seed's model with :data:`UNCERTAINTY_SPEC` through ``lossreg.attach``.

    Returns the attached model, the data, ``History``, ``evaluate`` before and after training, and the learned
    weights ``exp(-s)`` per output, read from the log-variances ``s`` (``model.term_weights``).
    """
    model = build_model(size)
    train = lossreg.attach(model, UNCERTAINTY_SPEC)
    train.compile(optimizer=keras.optimizers.Adam(2e-2))
    x, y = synthetic_data(samples, size, steps)
    before = train.evaluate(x, y, batch_size=samples, verbose=0, return_dict=True)
    history = train.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=False, verbose=verbose)
    log_variances = {
        v.name.removesuffix("_log_variance"): float(keras.ops.convert_to_numpy(v))
        for v in train.term_weights.weights
        if v.name.endswith("_log_variance")
    }
    return {
        "train": train,
        "x": x,
        "y": y,
        "history": history.history,
        "evaluate_before": before,
        "evaluate": train.evaluate(x, y, batch_size=samples, verbose=0, return_dict=True),
        "log_variances": log_variances,
        "weights": {name: float(np.exp(-s)) for name, s in log_variances.items()},
    }


if __name__ == "__main__":
    result = main(verbose=1)
    print(f"Spec {SPEC}; history:")
    for key, values in result["history"].items():
        print(f"  {key:18s} " + " -> ".join(f"{v:.4f}" for v in values))
    for name in ("evaluate", "evaluate_short"):
        length = result["x" if name == "evaluate" else "x_short"]["ts_input"].shape[1]
        print(f"evaluate on series of length {length}: " + ", ".join(f"{k}={v:.4f}" for k, v in result[name].items()))
    predicted = result["predictor"].predict({k: v[:2] for k, v in result["x"].items()}, verbose=0)
    print("lossreg.inference_model: class probabilities (softmax of the logits) and scores of two samples:")
    print(np.round(predicted["class_output"], 3), np.round(predicted["score_output"], 3))
    learned = train_uncertainty()
    print(f"Uncertainty weighting, lossreg.attach(model, {UNCERTAINTY_SPEC}):")
    for key in ("score_output_loss", "score_output_weight", "class_output_loss", "class_output_weight"):
        print(f"  {key:20s} " + " -> ".join(f"{v:.3f}" for v in learned["history"][key]))
    after = learned["evaluate"]
    for name, weight in learned["weights"].items():
        loss = after[f"{name}_loss"]
        print(f"  {name}: loss {loss:.3f}, learned weight exp(-s) {weight:.3f} (from 1; optimum 1/loss {1 / loss:.3f})")
