r"""lossreg's built-in losses: float64 references from each loss's documented formula (its docstring, not its code),
their input recipes and the cases every suite runs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ._numpy import (
    EPS_HI,
    EPS_LO,
    bce_logits,
    bce_probabilities,
    log_sigmoid,
    log_softmax,
    non_batch,
    one_hot,
    probability_rows,
)
from ._record import Conformance, Extreme, Reference, Shape

# ---- formulas (with issue 12's dense options: ignored elements, masks, class weights, per-pixel weight maps)


def softmax_ce(
    y: np.ndarray,
    x: np.ndarray,
    label_smoothing: float = 0.0,
    ignore_class: int | None = None,
    class_weights: Any = None,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """-sum_c w_c ỹ_c log softmax(x)_c with ỹ = (1 - s) y + s / C; one value per sample (last axis reduced); 0 at
    ignored rows (labelled ``ignore_class``, a channel, or 0 in ``mask``)."""
    keep = onehot_keep(y, ignore_class, mask)
    y, x = _zeroed(y, keep), _zeroed(x, keep)
    y = y * (1.0 - label_smoothing) + label_smoothing / y.shape[-1]
    w = 1.0 if class_weights is None else np.asarray(class_weights, float)
    return np.where(keep, -np.sum(w * y * log_softmax(x), axis=-1), 0.0)


def sparse_softmax_ce(
    t: np.ndarray,
    x: np.ndarray,
    ignore_class: int | None = None,
    class_weights: Any = None,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """-w_t log softmax(x)_t for the class id t; 0 at ignored pixels (id ``ignore_class`` or 0 in ``mask``)."""
    keep = ids_keep(t, ignore_class, mask)
    ids, x = np.where(keep, t, 0).astype(int), _zeroed(x, keep)
    w = np.ones(x.shape[-1]) if class_weights is None else np.asarray(class_weights, float)
    picked = np.take_along_axis(log_softmax(x), ids[..., None], axis=-1)[..., 0]
    return np.where(keep, -w[ids] * picked, 0.0)


def _channel_weights(values: np.ndarray, class_weights: Any) -> np.ndarray:
    return values if class_weights is None else values * np.asarray(class_weights, float)


def sigmoid_bce(
    z: np.ndarray,
    x: np.ndarray,
    label_smoothing: float = 0.0,
    pos_weight: float = 1.0,
    ignore_class: int | None = None,
    class_weights: Any = None,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    keep = unit_keep(z, ignore_class, mask)
    z, x = _zeroed(z, keep), _zeroed(x, keep)
    z = z * (1.0 - label_smoothing) + 0.5 * label_smoothing
    return np.where(keep, _channel_weights(bce_logits(z, x, pos_weight), class_weights), 0.0)


def sigmoid_focal(
    z: np.ndarray,
    x: np.ndarray,
    alpha: float | None = 0.25,
    gamma: float = 2.0,
    ignore_class: int | None = None,
    class_weights: Any = None,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """alpha_t (1 - p_t)^gamma BCE, p = σ(x), p_t = z p + (1 - z)(1 - p), alpha_t = z α + (1 - z)(1 - α)."""
    keep = unit_keep(z, ignore_class, mask)
    z, x = _zeroed(z, keep), _zeroed(x, keep)
    p = np.exp(log_sigmoid(x))
    p_t = z * p + (1.0 - z) * (1.0 - p)
    loss = (1.0 - p_t) ** gamma * bce_logits(z, x)
    if alpha is not None:
        loss = (z * alpha + (1.0 - z) * (1.0 - alpha)) * loss
    return np.where(keep, _channel_weights(loss, class_weights), 0.0)


def sigmoid_dice(
    y: np.ndarray,
    x: np.ndarray,
    smooth: float = 1.0,
    ignore_class: int | None = None,
    mask: np.ndarray | None = None,
    sample_weight: np.ndarray | None = None,
) -> np.ndarray:
    """1 - (2 Σ v p y + s) / (Σ v p + Σ v y + s) per sample, p = σ(x), sums over every non-batch axis, v = 1 at kept
    elements (0 at ignored ones) times the per-pixel ``sample_weight``; 0 for a sample with nothing kept."""
    keep = unit_keep(y, ignore_class, mask)
    v = keep.astype(float) if sample_weight is None else keep * widen(np.asarray(sample_weight, float), y.ndim)
    y, x = _zeroed(y, keep), _zeroed(x, keep)
    p = np.exp(log_sigmoid(x))
    axes = non_batch(x)
    inter, total = np.sum(v * p * y, axis=axes), np.sum(v * p, axis=axes) + np.sum(v * y, axis=axes)
    return np.where(np.any(keep, axis=axes), 1.0 - (2.0 * inter + smooth) / (total + smooth), 0.0)


def band(n: int, lower: int, upper: int, include_diagonal: bool) -> np.ndarray:
    """The (n, n) band kept by tf.linalg.band_part(x, lower, upper), without the diagonal unless included."""
    i, j = np.indices((n, n))
    keep = np.ones((n, n), bool)
    if lower >= 0:
        keep &= i - j <= lower
    if upper >= 0:
        keep &= j - i <= upper
    if not include_diagonal:
        keep &= i != j
    return keep


def band_masked_softmax_ce(
    y: np.ndarray,
    x: np.ndarray,
    lower: int = 0,
    upper: int = -1,
    include_diagonal: bool = False,
    from_logits: bool = True,
    normalize: str = "all",
    ignore_class: int | None = None,
    class_weights: Any = None,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """Per-pair CE (-Σ w_c y_c log p_c), times the band mask m_ij (and n² / Σm for normalize="band"); shape
    (batch, n, n). With ignore_class or mask: 0 at ignored pairs and no n² / Σm scale (the Keras mask carries the
    normaliser, see ``counted``)."""
    keep = onehot_keep(y, ignore_class, mask)
    y, x = _zeroed(y, keep), _zeroed(x, keep)
    w = 1.0 if class_weights is None else np.asarray(class_weights, float)
    if from_logits:
        ce = -np.sum(w * y * log_softmax(x), axis=-1)
    else:
        x = np.where(keep[..., None], x, 1.0)
        p = np.clip(x / np.sum(x, axis=-1, keepdims=True), EPS_LO, EPS_HI)
        ce = -np.sum(w * y * np.log(p), axis=-1)
    n = x.shape[1]
    m = band(n, lower, upper, include_diagonal)
    out = np.where(m & keep, ce, 0.0)
    if normalize == "band" and ignore_class is None and mask is None:
        out = out * (n * n / m.sum()) if m.any() else out
    return out


def sparse_band_masked_softmax_ce(
    t: np.ndarray, x: np.ndarray, ignore_class: int | None = None, mask: np.ndarray | None = None, **params: Any
) -> np.ndarray:
    """band_masked_softmax_ce of the one-hot targets of the class ids t, ignoring the pairs of ignore_class."""
    keep = ids_keep(t, ignore_class, mask)
    y = np.eye(x.shape[-1])[np.where(keep, t, 0).astype(int)]
    dense_mask = keep if (ignore_class is not None or mask is not None) else None
    return band_masked_softmax_ce(y, x, mask=dense_mask, **params)


# ---- which elements the normaliser counts (Keras' mask on the values; None: every value counts)


def widen(a: np.ndarray, ndim: int) -> np.ndarray:
    """``a`` with trailing axes of size 1 up to ``ndim`` (a per-pixel map against per-channel values)."""
    while a.ndim < ndim:
        a = a[..., None]
    return a


def _zeroed(a: np.ndarray, keep: np.ndarray) -> np.ndarray:
    return np.where(widen(keep, a.ndim), a, 0.0)


def unit_keep(z: np.ndarray, ignore_class: int | None, mask: np.ndarray | None) -> np.ndarray:
    keep = np.ones(z.shape, bool) if ignore_class is None else z != ignore_class
    return keep if mask is None else keep & widen(np.asarray(mask) != 0, z.ndim)


def onehot_keep(y: np.ndarray, ignore_class: int | None, mask: np.ndarray | None) -> np.ndarray:
    keep = np.ones(y.shape[:-1], bool) if ignore_class is None else y[..., ignore_class] != 1
    return keep if mask is None else keep & (np.asarray(mask) != 0)


def ids_keep(t: np.ndarray, ignore_class: int | None, mask: np.ndarray | None) -> np.ndarray:
    keep = np.ones(t.shape, bool) if ignore_class is None else t != ignore_class
    return keep if mask is None else keep & (np.asarray(mask) != 0)


def counted(name: str, inputs: Mapping[str, Any], params: Mapping[str, Any]) -> np.ndarray | None:
    """What Keras' mean runs over for ``name`` (a bool array shaped like its values), ``None`` when every value
    counts (nothing can be ignored): each loss's ``Normalizer:`` section, as NumPy."""
    ignore, mask = params.get("ignore_class"), inputs.get("mask")
    if ignore is None and mask is None:
        return None
    y = np.asarray(inputs["y_true"])
    if name in ("sigmoid_bce", "sigmoid_focal"):
        return unit_keep(y, ignore, mask)
    if name == "sigmoid_dice":
        return np.any(unit_keep(y, ignore, mask), axis=non_batch(y))
    if name == "softmax_ce":
        return onehot_keep(y, ignore, mask)
    if name == "sparse_softmax_ce":
        return ids_keep(y, ignore, mask)
    if name in ("band_masked_softmax_ce", "sparse_band_masked_softmax_ce"):
        keep = onehot_keep(y, ignore, mask) if name == "band_masked_softmax_ce" else ids_keep(y, ignore, mask)
        if params.get("normalize", "all") == "band":
            n = y.shape[1]
            keep = keep & band(
                n, params.get("lower", 0), params.get("upper", -1), params.get("include_diagonal", False)
            )
        return keep
    raise KeyError(f"no normaliser written for {name!r}")


def keras_mean(values: np.ndarray, keep: np.ndarray | None) -> float:
    """Keras' default reduction of ``values`` carrying the mask ``keep``: the mean over the kept values, 0 if none."""
    if keep is None:
        return float(np.mean(values))
    keep = np.broadcast_to(widen(keep, values.ndim), values.shape)
    return float(np.sum(np.where(keep, values, 0.0)) / keep.sum()) if keep.any() else 0.0


def mse_bce(
    y: np.ndarray,
    x: np.ndarray,
    aux: np.ndarray,
    mse_weight: float = 1.0,
    bce_weight: float = 1.0,
    from_logits: bool = False,
) -> np.ndarray:
    """w_m mean((y - a)²) + w_b mean(BCE(y, p)) per sample; probabilities clipped as Keras clips them."""
    axes = non_batch(y)
    mse = np.mean((y - aux) ** 2, axis=axes)
    bce = bce_logits(y, x) if from_logits else bce_probabilities(y, x)
    return mse_weight * mse + bce_weight * np.mean(bce, axis=axes)


#: log σ² above which vae_kl continues exp linearly (the constant its docstring states)
LOG_VAR_LIMIT = 10.0


def vae_kl(y: Any, x: Any, z_mean: np.ndarray, z_log_var: np.ndarray, beta: float = 1.0) -> np.ndarray:
    """-β/2 Σ (1 + v - μ² - e^v) per sample, with e^v continued linearly past v = LOG_VAR_LIMIT."""
    v, limit = z_log_var, LOG_VAR_LIMIT
    var = np.where(v > limit, np.exp(limit) * (1.0 + v - limit), np.exp(np.minimum(v, limit)))
    return -0.5 * beta * np.sum(1.0 + v - z_mean**2 - var, axis=-1)


# ---- input recipes (the draw order is part of the committed golden values: keep it)


def categorical_inputs(rng: np.random.Generator, shape: Shape, params: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """One-hot targets; logits N(0, 3²), or softmax rows for ``from_logits=False``."""
    y_true = one_hot(rng, shape)
    y_pred = rng.normal(0.0, 3.0, shape) if params.get("from_logits", True) else probability_rows(rng, shape)
    return {"y_true": y_true, "y_pred": y_pred}


def binary_inputs(rng: np.random.Generator, shape: Shape, params: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """0/1 targets, logits N(0, 3²)."""
    return {"y_true": rng.integers(0, 2, shape).astype(float), "y_pred": rng.normal(0.0, 3.0, shape)}


def mse_bce_inputs(rng: np.random.Generator, shape: Shape, params: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Soft targets in [0, 1], a sigmoid output (or logits N(0, 2²)), an intermediate tensor N(0.5, 0.5²)."""
    y_pred = rng.normal(0.0, 2.0, shape) if params.get("from_logits") else rng.uniform(0.02, 0.98, shape)
    return {"y_true": rng.uniform(0.0, 1.0, shape), "y_pred": y_pred, "aux": rng.normal(0.5, 0.5, shape)}


def class_id_inputs(rng: np.random.Generator, shape: Shape, params: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Class ids in [0, C) shaped ``shape[:-1]`` (as floats: the stored numbers are float32), logits N(0, 3²) or
    softmax rows for ``from_logits=False``, shaped ``shape``."""
    y_true = rng.integers(0, shape[-1], shape[:-1]).astype(float)
    y_pred = rng.normal(0.0, 3.0, shape) if params.get("from_logits", True) else probability_rows(rng, shape)
    return {"y_true": y_true, "y_pred": y_pred}


def latent_inputs(rng: np.random.Generator, shape: Shape, params: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """A VAE encoder's z_mean N(0, 1) and z_log_var N(0, 0.5²), shaped (batch, latent)."""
    return {"z_mean": rng.normal(0.0, 1.0, shape), "z_log_var": rng.normal(0.0, 0.5, shape)}


# ---- the table

BAND = {"lower": 1, "upper": 1, "include_diagonal": True, "normalize": "band"}
#: Log-variances of ±1e4 are no VAE's: exp(1e4) overflows every float, and the gradient exp(z_log_var) of a float16
#: input overflows float16 above log(65504) ≈ 11. So check_loss's extreme check: means of ±1e4, log-variances ±10.
VAE_EXTREME = {"z_mean": np.full((4, 3), 1e4) * [1, -1, 1], "z_log_var": np.full((4, 3), 10.0) * [1, -1, 1]}

BUILTIN_REFERENCES = (
    Reference(
        "softmax_ce",
        softmax_ce,
        categorical_inputs,
        golden=(
            ({}, ((1, 5), (4, 3), (2, 3, 6))),
            ({"label_smoothing": 0.1}, ((1, 5), (4, 3))),
            ({"label_smoothing": 0.35}, ((3, 7),)),
        ),
        conformance=(Conformance({}, (4, 5)), Conformance({"label_smoothing": 0.2}, (1, 4))),
        extremes=(Extreme({}, "categorical"), Extreme({"label_smoothing": 0.1}, "categorical")),
        tf_extremes=(("logits", {}), ("logits", {"label_smoothing": 0.1})),
    ),
    Reference(
        "sigmoid_bce",
        sigmoid_bce,
        binary_inputs,
        golden=(
            ({}, ((1, 6), (3, 2, 4))),
            ({"label_smoothing": 0.2}, ((1, 6), (4, 5))),
            ({"pos_weight": 3.0}, ((1, 6), (4, 5))),
            ({"label_smoothing": 0.1, "pos_weight": 0.5}, ((3, 2, 4),)),
        ),
        conformance=(
            Conformance({}, (4, 6)),
            Conformance({"label_smoothing": 0.1, "pos_weight": 3.0}, (4, 6), {"train": False}),
        ),
        extremes=(
            Extreme({}, "binary"),
            Extreme({"pos_weight": 3.0}, "binary"),
            Extreme({"label_smoothing": 0.2, "pos_weight": 0.5}, "binary"),
        ),
        tf_extremes=(("logits", {}), ("logits", {"label_smoothing": 0.1, "pos_weight": 1.5})),
    ),
    Reference(
        "sigmoid_focal",
        sigmoid_focal,
        binary_inputs,
        golden=(
            ({}, ((1, 6), (3, 2, 4))),
            ({"alpha": None, "gamma": 0.0}, ((4, 5),)),
            ({"alpha": 0.5, "gamma": 0.5}, ((1, 6), (4, 5))),
            ({"alpha": 0.75, "gamma": 3.0}, ((4, 5),)),
            ({"alpha": None, "gamma": 1.0}, ((3, 2, 4),)),
        ),
        conformance=(Conformance({}, (4, 6)), Conformance({"alpha": None, "gamma": 0.5}, (4, 6), {"train": False})),
        extremes=(
            Extreme({"gamma": 0.0}, "binary"),
            Extreme({"gamma": 0.5}, "binary"),
            Extreme({"gamma": 2.0}, "binary"),
            Extreme({"alpha": None, "gamma": 0.5}, "binary"),
        ),
        tf_extremes=(
            ("logits", {}),
            ("logits", {"alpha": 0.5, "gamma": 0.5}),
            ("logits", {"alpha": None, "gamma": 0.0}),
        ),
    ),
    Reference(
        "sigmoid_dice",
        sigmoid_dice,
        binary_inputs,
        golden=(
            ({}, ((1, 4, 4, 1), (3, 5))),
            ({"smooth": 1e-3}, ((1, 4, 4, 1), (3, 5))),
            ({"smooth": 10.0}, ((2, 3, 3, 2),)),
        ),
        conformance=(Conformance({}, (3, 4, 4, 1)),),
        extremes=(Extreme({}, "binary", pulls=False),),
        tf_extremes=(("logits", {}), ("logits", {"smooth": 1e-3})),
    ),
    Reference(
        "band_masked_softmax_ce",
        band_masked_softmax_ce,
        categorical_inputs,
        golden=(
            ({}, ((1, 4, 4, 3), (3, 5, 5, 4))),
            ({"lower": 1, "upper": 1}, ((1, 4, 4, 3), (2, 5, 5, 2))),
            ({"lower": -1, "upper": 0, "include_diagonal": True}, ((2, 4, 4, 3),)),
            ({"lower": -1, "upper": -1}, ((2, 3, 3, 4),)),
            ({"upper": 2, "include_diagonal": True, "normalize": "band"}, ((1, 5, 5, 3),)),
            ({"normalize": "band"}, ((3, 4, 4, 2),)),
            ({"from_logits": False}, ((1, 4, 4, 3), (2, 4, 4, 3))),
            ({"from_logits": False, "lower": 2, "normalize": "band"}, ((2, 5, 5, 3),)),
        ),
        conformance=(Conformance({}, (2, 4, 4, 3)), Conformance(BAND, (2, 4, 4, 3))),
        extremes=(
            Extreme({}, "pairs"),
            Extreme({"lower": 1, "upper": 1, "normalize": "band"}, "pairs"),
            # probabilities exactly 0 and 1 are clipped to [eps, 1 - eps], where the clip passes no gradient (as Keras)
            Extreme({"from_logits": False}, "pair_probs", pulls=False),
            Extreme({"from_logits": False, "include_diagonal": True, "normalize": "band"}, "pair_probs", pulls=False),
        ),
        tf_extremes=(
            ("logits", {}),
            ("logits", BAND),
            ("probabilities", {"from_logits": False}),
            ("probabilities", {"from_logits": False, "lower": -1, "include_diagonal": True, "normalize": "band"}),
        ),
    ),
    Reference(
        "mse_bce",
        mse_bce,
        mse_bce_inputs,
        extras=("aux",),
        golden=(
            ({}, ((1, 6), (3, 4, 4, 1))),
            ({"mse_weight": 0.5, "bce_weight": 2.0}, ((1, 6), (4, 5))),
            ({"from_logits": True}, ((1, 6), (3, 4, 4, 1))),
            ({"mse_weight": 0.0, "bce_weight": 0.25, "from_logits": True}, ((4, 5),)),
        ),
        conformance=(
            Conformance({}, (3, 5), {"extreme": "probabilities", "activation": "sigmoid"}),
            Conformance({"from_logits": True, "mse_weight": 0.5}, (4, 6), {"train": False}),
        ),
        extremes=(Extreme({"from_logits": True}, "binary"), Extreme({}, "binary_probs", pulls=False)),
        tf_extremes=(
            ("logits", {"from_logits": True}),
            ("probabilities", {}),
            ("probabilities", {"mse_weight": 0.5, "bce_weight": 2.0}),
        ),
    ),
    Reference(
        "vae_kl",
        vae_kl,
        latent_inputs,
        extras=("z_mean", "z_log_var"),
        # no golden values: it reads neither y_true nor y_pred, which the golden suite's raw-TF comparison feeds
        conformance=(Conformance({"beta": 0.5}, (4, 3), {"extreme": VAE_EXTREME}),),
        extremes=(Extreme({}, "latent"), Extreme({"beta": 4.0}, "latent")),
    ),
    # issue 12: the class-id forms (no golden cases here: DENSE_GOLDEN below; the draws above are unchanged)
    Reference(
        "sparse_softmax_ce",
        sparse_softmax_ce,
        class_id_inputs,
        conformance=(Conformance({}, (4, 5)), Conformance({"class_weights": [1.0, 2.0, 0.5, 1.0]}, (3, 2, 4))),
        extremes=(Extreme({}, "categorical"), Extreme({"class_weights": [2.0, 0.5, 1.0]}, "categorical")),
    ),
    Reference(
        "sparse_band_masked_softmax_ce",
        sparse_band_masked_softmax_ce,
        class_id_inputs,
        conformance=(Conformance({}, (2, 4, 4, 3)), Conformance(BAND, (2, 4, 4, 3))),
        extremes=(Extreme({}, "pairs"), Extreme({"lower": 1, "upper": 1, "normalize": "band"}, "pairs")),
    ),
)


# ---- issue 12's golden cases: ignored elements, masks, class weights, per-pixel weight maps


def dense_inputs(
    name: str, rng: np.random.Generator, shape: Shape, params: Mapping[str, Any], given: tuple[str, ...]
) -> dict[str, np.ndarray]:
    """The loss's typical inputs (its recipe), with about a third of the elements ignored: targets set to
    ``ignore_class`` (unit targets and class ids; one-hot targets are ignored where labelled with that channel), a
    0/1 ``mask`` where ``given`` has ``"mask"`` (``"pixel_mask"``: without the last axis), a weight map in [0, 2)
    where it has ``"sample_weight"``, and the first sample wholly ignored where it has ``"empty_first"``."""
    from . import REFERENCES

    inputs = REFERENCES[name].recipe(rng, shape, params)
    y = inputs["y_true"]
    one_hot = name in ("softmax_ce", "band_masked_softmax_ce")
    site = y.shape[:-1] if one_hot else y.shape  # the shape of what can be ignored
    ignore = params.get("ignore_class")
    if ignore is not None and not one_hot:
        y = np.where(rng.random(site) < 1 / 3, float(ignore), y)
    if "mask" in given or "pixel_mask" in given:
        mask_shape = site[:-1] if "pixel_mask" in given else site
        inputs["mask"] = (rng.random(mask_shape) > 1 / 3).astype(float)
    if "sample_weight" in given:
        inputs["sample_weight"] = rng.uniform(0.0, 2.0, site[:-1] if len(site) > 2 else site)
    if "empty_first" in given:
        if "mask" in inputs:
            inputs["mask"][0] = 0.0
        elif one_hot:
            y[0] = np.eye(shape[-1])[ignore]
        else:
            y[0] = float(ignore)
    inputs["y_true"] = y
    return inputs


#: (loss, params, shapes, given): issue 12's golden cases, drawn after every Reference's (make_golden.py)
DENSE_GOLDEN: tuple[tuple[str, dict[str, Any], tuple[Shape, ...], tuple[str, ...]], ...] = (
    ("sigmoid_bce", {"ignore_class": 255}, ((1, 6), (3, 4, 4, 2)), ()),
    ("sigmoid_bce", {"ignore_class": -1, "class_weights": [0.5, 2.0]}, ((3, 4, 4, 2),), ("empty_first",)),
    ("sigmoid_bce", {"label_smoothing": 0.1, "pos_weight": 3.0, "class_weights": [1.0, 0.0, 2.5]}, ((4, 3),), ()),
    ("sigmoid_bce", {}, ((3, 4, 4, 2),), ("pixel_mask",)),
    ("sigmoid_focal", {"ignore_class": 255}, ((1, 6), (3, 4, 4, 2)), ()),
    ("sigmoid_focal", {"alpha": None, "gamma": 0.5, "class_weights": [2.0, 1.0]}, ((3, 4, 4, 2),), ("mask",)),
    ("sigmoid_dice", {"ignore_class": 255}, ((1, 4, 4, 1), (3, 5, 5, 1)), ("empty_first",)),
    ("sigmoid_dice", {"smooth": 1e-3}, ((3, 4, 4, 2),), ("pixel_mask", "sample_weight")),
    ("sigmoid_dice", {"ignore_class": -1}, ((2, 4, 4, 1),), ("sample_weight",)),
    ("softmax_ce", {"ignore_class": 0, "class_weights": [1.0, 2.0, 0.5]}, ((1, 6, 3), (2, 4, 4, 3)), ()),
    ("softmax_ce", {"label_smoothing": 0.1}, ((2, 4, 4, 3),), ("mask",)),
    ("sparse_softmax_ce", {}, ((1, 5), (4, 3), (2, 3, 6)), ()),
    ("sparse_softmax_ce", {"ignore_class": 255}, ((1, 6, 4), (2, 4, 4, 3)), ("empty_first",)),
    ("sparse_softmax_ce", {"ignore_class": -1, "class_weights": [0.2, 1.0, 3.0]}, ((2, 4, 4, 3),), ("mask",)),
    ("band_masked_softmax_ce", {"ignore_class": 1}, ((1, 4, 4, 3), (3, 5, 5, 4)), ()),
    ("band_masked_softmax_ce", {"class_weights": [1.0, 0.5, 2.0]}, ((2, 4, 4, 3),), ()),
    ("band_masked_softmax_ce", {**BAND, "class_weights": [1.0, 0.5, 2.0]}, ((2, 5, 5, 3),), ("mask",)),
    ("band_masked_softmax_ce", {"from_logits": False, "ignore_class": 2, "normalize": "band"}, ((2, 4, 4, 3),), ()),
    ("sparse_band_masked_softmax_ce", {}, ((1, 4, 4, 3), (3, 5, 5, 4)), ()),
    ("sparse_band_masked_softmax_ce", {**BAND, "ignore_class": 255}, ((2, 5, 5, 3),), ("empty_first",)),
    ("sparse_band_masked_softmax_ce", {"ignore_class": -1, "class_weights": [2.0, 1.0, 0.5]}, ((2, 4, 4, 3),), ()),
    ("sparse_band_masked_softmax_ce", {"from_logits": False, "normalize": "band"}, ((2, 4, 4, 3),), ("mask",)),
)
