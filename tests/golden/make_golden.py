r"""Write ``golden_values.json``: inputs and expected values of every built-in loss, from a float64 NumPy reference.

Run from the repository root (plain NumPy, no TensorFlow, deterministic)::

    python tests/golden/make_golden.py            # rewrite tests/golden/golden_values.json
    python tests/golden/make_golden.py --check    # exit 1 if the committed file differs

The reference below is written from each loss's documented formula (its docstring), not from lossreg's
code. The inputs are drawn once from a seeded generator, rounded to float32 (so a float32 computation
sees exactly the numbers the float64 reference saw) and stored in the JSON next to the expected values:
the tests read both and never depend on a random generator.

Each case stores ``values`` (what the raw loss function returns: one value per sample or per element, before
Keras reduces) and ``loss`` (the mean of ``values``: what ``lossreg.get(name, **params)(y_true, y_pred)``
returns with Keras' default ``sum_over_batch_size`` reduction and no sample weights).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

OUT = Path(__file__).with_name("golden_values.json")
SEED = 20240917
#: Keras' fuzz factor ``keras.config.epsilon()``: probabilities are clipped to [EPS, 1 - EPS].
EPS = 1e-7


# ----------------------------------------------------------------------------------------------------------------
# float64 references, one per loss, from the documented formulas


def _log_softmax(x: np.ndarray) -> np.ndarray:
    m = np.max(x, axis=-1, keepdims=True)
    return x - m - np.log(np.sum(np.exp(x - m), axis=-1, keepdims=True))


def _log_sigmoid(x: np.ndarray) -> np.ndarray:
    """log(sigmoid(x)) = -softplus(-x), without overflow."""
    return -np.logaddexp(0.0, -x)


def _non_batch_axes(x: np.ndarray) -> tuple[int, ...]:
    return tuple(range(1, x.ndim))


def ref_softmax_ce(y: np.ndarray, x: np.ndarray, label_smoothing: float = 0.0) -> np.ndarray:
    """-sum_c ỹ_c log softmax(x)_c with ỹ = (1 - s) y + s / C; one value per sample (last axis reduced)."""
    y = y * (1.0 - label_smoothing) + label_smoothing / y.shape[-1]
    return -np.sum(y * _log_softmax(x), axis=-1)


def _bce_logits(z: np.ndarray, x: np.ndarray, pos_weight: float = 1.0) -> np.ndarray:
    """-(q z log σ(x) + (1 - z) log(1 - σ(x))), with log(1 - σ(x)) = log σ(-x)."""
    return -(pos_weight * z * _log_sigmoid(x) + (1.0 - z) * _log_sigmoid(-x))


def ref_sigmoid_bce(z: np.ndarray, x: np.ndarray, label_smoothing: float = 0.0, pos_weight: float = 1.0) -> np.ndarray:
    z = z * (1.0 - label_smoothing) + 0.5 * label_smoothing
    return _bce_logits(z, x, pos_weight)


def ref_sigmoid_focal(z: np.ndarray, x: np.ndarray, alpha: float | None = 0.25, gamma: float = 2.0) -> np.ndarray:
    """alpha_t (1 - p_t)^gamma BCE, p = σ(x), p_t = z p + (1 - z)(1 - p), alpha_t = z α + (1 - z)(1 - α)."""
    p = np.exp(_log_sigmoid(x))
    p_t = z * p + (1.0 - z) * (1.0 - p)
    loss = (1.0 - p_t) ** gamma * _bce_logits(z, x)
    if alpha is not None:
        loss = (z * alpha + (1.0 - z) * (1.0 - alpha)) * loss
    return loss


def ref_sigmoid_dice(y: np.ndarray, x: np.ndarray, smooth: float = 1.0) -> np.ndarray:
    """1 - (2 Σ p y + s) / (Σ p + Σ y + s) per sample, p = σ(x), sums over every non-batch axis."""
    p = np.exp(_log_sigmoid(x))
    axes = _non_batch_axes(x)
    return 1.0 - (2.0 * np.sum(p * y, axis=axes) + smooth) / (np.sum(p, axis=axes) + np.sum(y, axis=axes) + smooth)


def ref_band_masked_softmax_ce(
    y: np.ndarray,
    x: np.ndarray,
    lower: int = 0,
    upper: int = -1,
    include_diagonal: bool = False,
    from_logits: bool = True,
    normalize: str = "all",
) -> np.ndarray:
    """Per-pair CE, times the band mask m_ij (and n² / Σm for normalize="band"); shape (batch, n, n)."""
    if from_logits:
        ce = -np.sum(y * _log_softmax(x), axis=-1)
    else:
        p = np.clip(x / np.sum(x, axis=-1, keepdims=True), EPS, 1.0 - EPS)
        ce = -np.sum(y * np.log(p), axis=-1)
    n = x.shape[1]
    i, j = np.indices((n, n))
    keep = np.ones((n, n), bool)
    if lower >= 0:
        keep &= i - j <= lower
    if upper >= 0:
        keep &= j - i <= upper
    if not include_diagonal:
        keep &= i != j
    out = np.where(keep, ce, 0.0)
    if normalize == "band":
        out = out * (n * n / keep.sum()) if keep.any() else out
    return out


def ref_mse_bce(
    y: np.ndarray,
    x: np.ndarray,
    aux: np.ndarray,
    mse_weight: float = 1.0,
    bce_weight: float = 1.0,
    from_logits: bool = False,
) -> np.ndarray:
    """w_m mean((y - a)²) + w_b mean(BCE(y, p)) per sample; probabilities clipped to [EPS, 1 - EPS]."""
    axes = _non_batch_axes(y)
    mse = np.mean((y - aux) ** 2, axis=axes)
    if from_logits:
        bce = _bce_logits(y, x)
    else:
        p = np.clip(x, EPS, 1.0 - EPS)
        bce = -(y * np.log(p) + (1.0 - y) * np.log(1.0 - p))
    return mse_weight * mse + bce_weight * np.mean(bce, axis=axes)


REFERENCES = {
    "softmax_ce": ref_softmax_ce,
    "sigmoid_bce": ref_sigmoid_bce,
    "sigmoid_focal": ref_sigmoid_focal,
    "sigmoid_dice": ref_sigmoid_dice,
    "band_masked_softmax_ce": ref_band_masked_softmax_ce,
    "mse_bce": ref_mse_bce,
}


# ----------------------------------------------------------------------------------------------------------------
# inputs


def _f32(a: np.ndarray) -> np.ndarray:
    """Round to float32 and back: the stored inputs are exactly representable in float32."""
    return np.asarray(a, np.float32).astype(np.float64)


def _one_hot(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return np.eye(shape[-1])[rng.integers(0, shape[-1], shape[:-1])]


def _probabilities(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Rows of a softmax, bounded away from 0 and 1 (the clip at 1e-7 stays inactive)."""
    e = np.exp(rng.normal(0.0, 1.0, shape))
    return e / e.sum(-1, keepdims=True)


def _inputs(rng: np.random.Generator, name: str, shape: tuple[int, ...], params: dict[str, Any]) -> dict[str, Any]:
    if name in ("softmax_ce", "band_masked_softmax_ce"):
        y_true = _one_hot(rng, shape)
        y_pred = rng.normal(0.0, 3.0, shape) if params.get("from_logits", True) else _probabilities(rng, shape)
        return {"y_true": y_true, "y_pred": y_pred}
    if name in ("sigmoid_bce", "sigmoid_focal", "sigmoid_dice"):
        return {"y_true": rng.integers(0, 2, shape).astype(float), "y_pred": rng.normal(0.0, 3.0, shape)}
    if name == "mse_bce":  # seed 004: soft targets in [0, 1], an intermediate tensor, a sigmoid output
        y_pred = rng.normal(0.0, 2.0, shape) if params.get("from_logits") else rng.uniform(0.02, 0.98, shape)
        return {"y_true": rng.uniform(0.0, 1.0, shape), "y_pred": y_pred, "aux": rng.normal(0.5, 0.5, shape)}
    raise KeyError(name)


#: (loss, params, shapes): every case is generated for each shape (batch 1 and batch > 1).
CASES: list[tuple[str, dict[str, Any], list[tuple[int, ...]]]] = [
    ("softmax_ce", {}, [(1, 5), (4, 3), (2, 3, 6)]),
    ("softmax_ce", {"label_smoothing": 0.1}, [(1, 5), (4, 3)]),
    ("softmax_ce", {"label_smoothing": 0.35}, [(3, 7)]),
    ("sigmoid_bce", {}, [(1, 6), (3, 2, 4)]),
    ("sigmoid_bce", {"label_smoothing": 0.2}, [(1, 6), (4, 5)]),
    ("sigmoid_bce", {"pos_weight": 3.0}, [(1, 6), (4, 5)]),
    ("sigmoid_bce", {"label_smoothing": 0.1, "pos_weight": 0.5}, [(3, 2, 4)]),
    ("sigmoid_focal", {}, [(1, 6), (3, 2, 4)]),
    ("sigmoid_focal", {"alpha": None, "gamma": 0.0}, [(4, 5)]),
    ("sigmoid_focal", {"alpha": 0.5, "gamma": 0.5}, [(1, 6), (4, 5)]),
    ("sigmoid_focal", {"alpha": 0.75, "gamma": 3.0}, [(4, 5)]),
    ("sigmoid_focal", {"alpha": None, "gamma": 1.0}, [(3, 2, 4)]),
    ("sigmoid_dice", {}, [(1, 4, 4, 1), (3, 5)]),
    ("sigmoid_dice", {"smooth": 1e-3}, [(1, 4, 4, 1), (3, 5)]),
    ("sigmoid_dice", {"smooth": 10.0}, [(2, 3, 3, 2)]),
    ("band_masked_softmax_ce", {}, [(1, 4, 4, 3), (3, 5, 5, 4)]),
    ("band_masked_softmax_ce", {"lower": 1, "upper": 1}, [(1, 4, 4, 3), (2, 5, 5, 2)]),
    ("band_masked_softmax_ce", {"lower": -1, "upper": 0, "include_diagonal": True}, [(2, 4, 4, 3)]),
    ("band_masked_softmax_ce", {"lower": -1, "upper": -1}, [(2, 3, 3, 4)]),
    ("band_masked_softmax_ce", {"upper": 2, "include_diagonal": True, "normalize": "band"}, [(1, 5, 5, 3)]),
    ("band_masked_softmax_ce", {"normalize": "band"}, [(3, 4, 4, 2)]),
    ("band_masked_softmax_ce", {"from_logits": False}, [(1, 4, 4, 3), (2, 4, 4, 3)]),
    ("band_masked_softmax_ce", {"from_logits": False, "lower": 2, "normalize": "band"}, [(2, 5, 5, 3)]),
    ("mse_bce", {}, [(1, 6), (3, 4, 4, 1)]),
    ("mse_bce", {"mse_weight": 0.5, "bce_weight": 2.0}, [(1, 6), (4, 5)]),
    ("mse_bce", {"from_logits": True}, [(1, 6), (3, 4, 4, 1)]),
    ("mse_bce", {"mse_weight": 0.0, "bce_weight": 0.25, "from_logits": True}, [(4, 5)]),
]


def build() -> dict[str, Any]:
    rng = np.random.default_rng(SEED)
    cases = []
    for name, params, shapes in CASES:
        for shape in shapes:
            inputs = {k: _f32(v) for k, v in _inputs(rng, name, shape, params).items()}
            extras = {k: v for k, v in inputs.items() if k not in ("y_true", "y_pred")}
            values = REFERENCES[name](inputs["y_true"], inputs["y_pred"], **extras, **params)
            cases.append(
                {
                    "id": f"{name}-{json.dumps(params, sort_keys=True)}-{'x'.join(map(str, shape))}",
                    "loss": name,
                    "params": params,
                    "inputs": {k: v.tolist() for k, v in inputs.items()},
                    "values": values.tolist(),
                    "loss_value": float(np.mean(values)),
                }
            )
    return {
        "about": "Inputs and float64 NumPy reference values of lossreg's built-in losses. "
        "Generated by tests/golden/make_golden.py; do not edit by hand.",
        "seed": SEED,
        "cases": cases,
    }


def dumps(golden: dict[str, Any]) -> str:
    """JSON with one case per line (readable diffs); floats as Python's shortest round-trip repr."""
    head = {k: v for k, v in golden.items() if k != "cases"}
    lines = [json.dumps(head)[:-1] + ', "cases": [']
    lines += [
        json.dumps(case) + ("," if i < len(golden["cases"]) - 1 else "") for i, case in enumerate(golden["cases"])
    ]
    return "\n".join(lines) + "\n]}\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed file instead of writing")
    args = parser.parse_args(argv)
    text = dumps(build())
    if args.check:
        same = OUT.exists() and OUT.read_text(encoding="utf-8") == text
        print("golden values up to date" if same else f"{OUT} differs from what make_golden.py computes")
        return 0 if same else 1
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
