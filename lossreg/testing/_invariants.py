"""The dense-target invariants of ``check_loss``: ignored elements, masks, sample-weight maps, class weights.

A loss declares what it can ignore by what it takes (``lossreg.describe``): an ``ignore_class`` parameter, the
optional ``mask`` tensor (``dense_inputs``), Keras' per-pixel ``sample_weight`` map (``dense_inputs``), a
``class_weights`` parameter; and what its targets are (``expects.targets``: ``"class_ids"``, ``"one_hot"``,
``"unit"``). From the test inputs of ``check_loss`` (which the loss accepts) each invariant builds inputs with
ignored elements — class ids: the value ``ignore_class`` (255 unless the params give one); one-hot: pixels
labelled channel ``ignore_class`` (the last channel unless given); unit targets: the value ``ignore_class``
(255); the mask tensor: zeros — and checks, against NumPy arithmetic on the loss function's own values:

- **ignored elements**: the predictions at ignored elements — NaN, +inf, -inf or random — change neither the
  ``RegisteredLoss`` value, nor the loss function's values, nor the gradient at the kept predictions; the gradient
  at the ignored ones is exactly 0. With ``ignore_class`` on class ids or unit targets, another ignore value (-1
  for 255) marking the same elements gives the same value and gradient.
- **fully ignored batch**: every element ignored gives exactly 0 under each reduction, and gradients that are 0
  (never NaN), with finite or NaN predictions.
- **kept-element mean**: the reduced value is the mean of the function's values over the kept elements (per-sample
  values: over the samples with something kept; Keras' masked mean), unweighted and with per-sample and
  per-element sample weights; ``"mean_with_sample_weight"`` divides by the kept elements' weights. Ignored elements'
  values are 0.
- **zero weight as mask**: as Keras defines it, for per-element values. Under ``"sum"`` and
  ``"mean_with_sample_weight"`` the loss on masked inputs equals the loss without masking weighted by a 0/1
  per-element map; under the default ``"sum_over_batch_size"`` the masked mean equals ``"mean_with_sample_weight"``
  with 0/1 weights (zero weights still count in ``"sum_over_batch_size"``: Keras). Values and gradients. For a loss
  with one value per sample that takes the ``sample_weight`` map inside its sums (whose own means may count zero
  weights, as its ``Normalizer:`` says): a map of ones is no map, and a pixel of weight 0 adds nothing — random
  predictions there change neither value nor gradient, whose entries there are 0.
- **ignore_class and mask agree**: the same elements ignored by ``ignore_class`` and by the mask tensor give the
  same values and gradient, and both at once ignore the union (for per-sample values only when ``ignore_class``
  is not a channel: ignoring a channel may also take it out of a class average).
- **class weights**: weights of 1 change nothing; one weight of 0 leaves everything finite; for per-element losses
  on hard targets, each element's value is scaled by its class's weight (channel, for unit targets) and the mean
  still runs over the kept elements (Keras' ``class_weight``: the normaliser's count is unchanged).

Each check is a function ``(case) -> bool`` (whether it applied) in ``DENSE_INVARIANTS``, under the name it fails
with; ``run_dense_invariants`` runs those the loss declares.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lossreg._errors import LossInputError, LossSpecError
from lossreg.registry import REGISTRY

from ._report import fail
from ._subject import Subject, cast

__all__ = ["DENSE_INVARIANTS", "DenseCase", "declared_invariants", "run_dense_invariants"]

#: the ignore value for class ids and unit targets when the params give none (Pascal VOC's, Keras' example)
IGNORE = 255
FILLS: tuple[tuple[str, float | None], ...] = (("NaN", math.nan), ("+inf", math.inf), ("-inf", -math.inf))
FILLS += (("random", None),)
REDUCTIONS = ("sum_over_batch_size", "sum", "mean_with_sample_weight")


def declared_invariants(name: str, targets: str | None = None) -> tuple[str, ...]:
    """The dense invariants loss ``name`` declares (by its parameters and optional tensors), in check order; none
    for a loss that does not say what its targets are (``targets`` says it instead of the declaration)."""
    import lossreg

    info = lossreg.describe(name)
    if targets is None and (info.expects is None or info.expects.targets is None):
        return ()
    ways = _ways(info)
    out: list[str] = []
    if ways:
        out += ["ignored elements", "fully ignored batch", "kept-element mean", "zero weight as mask"]
        if len(ways) == 2:
            out.append("ignore_class and mask agree")
    if "class_weights" in info.params:
        out.append("class weights")
    return tuple(out)


def _ways(info: Any) -> tuple[str, ...]:
    return tuple(
        w for w, has in (("ignore_class", "ignore_class" in info.params), ("mask", "mask" in info.dense_inputs)) if has
    )


@dataclass
class DenseCase:
    """The loss under check, what it declares for dense targets and its inputs (valid targets, nothing ignored)."""

    subject: Subject
    targets: str
    ways: tuple[str, ...]
    logits: bool
    weight_map: bool  # takes Keras' per-pixel sample_weight map inside its sums
    channel_axis: bool  # unit targets with a named last axis (channels): a weight map is per pixel
    base: dict[str, np.ndarray]  # float32 inputs; class ids squeezed to the grid
    grid: tuple[int, ...]  # the elements one ignores: pixels (class ids, one-hot) or target elements (unit)
    ignore_value: int
    seed: int
    _fns: dict[str, Callable[..., Any]] = field(default_factory=dict)

    @classmethod
    def build(cls, subject: Subject, seed: int, targets: str | None = None) -> DenseCase:
        """The case of ``subject``; ``targets`` overrides the loss's declared kind of targets."""
        import lossreg

        info = lossreg.describe(subject.name)
        expects = info.expects
        defaults = {k: p.default for k, p in info.params.items()}
        logits = expects is None or expects.logits(subject.params, defaults) is not False
        data = cast(subject.data, "float32")
        y_pred, y_true = data["y_pred"], np.asarray(data["y_true"])
        targets = targets or (expects.targets if expects is not None else None)
        if targets not in ("class_ids", "one_hot", "unit"):
            raise ValueError(f"dense_targets must be 'class_ids', 'one_hot' or 'unit'; received {targets!r}.")
        if targets == "class_ids" and y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
            y_true = y_true[..., 0]
        grid = tuple(y_pred.shape[:-1]) if targets in ("class_ids", "one_hot") else tuple(y_true.shape)
        given = subject.params.get("ignore_class")
        channels = int(y_pred.shape[-1])
        ignore = int(given) if given is not None else (channels - 1 if targets == "one_hot" else IGNORE)
        pattern = expects.shapes.get("y_true", ()) if expects is not None else ()
        channel_axis = targets == "unit" and bool(pattern) and pattern[-1] not in ("...", "batch")
        case = cls(
            subject,
            targets,
            _ways(info),
            logits,
            "sample_weight" in info.dense_inputs,
            channel_axis,
            {**data, "y_true": y_true},
            grid,
            ignore,
            seed,
        )
        case.base["y_true"] = case._sanitized(y_true)
        return case

    # -- inputs ------------------------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.subject.name

    @property
    def batch(self) -> int:
        return int(self.grid[0])

    @property
    def classes(self) -> int:
        return int(self.base["y_pred"].shape[-1])

    def _sanitized(self, y_true: np.ndarray) -> np.ndarray:
        """The targets with nothing ignored: elements carrying the ignore encoding (the given inputs may hold some)
        relabelled to a valid target (the next class for a one-hot channel or class id in range, else 0)."""
        y_true = y_true.copy()
        k, c = self.ignore_value, self.classes
        if self.targets == "one_hot":
            labelled = y_true[..., k] == 1
            y_true[labelled] = np.eye(c, dtype=y_true.dtype)[(k + 1) % c]
        elif self.targets == "class_ids":
            y_true[y_true == k] = (k + 1) % c if 0 <= k < c else 0
        else:
            y_true[y_true == k] = 0
        return y_true

    def pattern(self, *, whole_sample: bool = True) -> np.ndarray:
        """Which elements to ignore, over ``grid``: about a third, something kept in every sample but (with
        ``whole_sample`` and three samples or more) the last one, which is ignored whole. For unit targets with a
        channel axis, whole pixels (every channel): the mask and Keras' weight map are per pixel there."""
        grid = self.grid[:-1] if self.channel_axis else self.grid
        rng = np.random.default_rng([self.seed, 12])
        ignored = rng.random(grid) < 0.35
        flat = ignored.reshape(grid[0], -1)
        flat[:, 0] = False  # every sample keeps its first element
        if flat.shape[1] > 1:
            flat[0, -1] = True  # and something is ignored
        if whole_sample and grid[0] >= 3:
            flat[-1] = True
        if not ignored.any() and grid[0] > 1:  # one element per sample: ignore the second sample's
            flat[1, 0] = True
        return np.broadcast_to(ignored[..., None], self.grid).copy() if self.channel_axis else ignored

    def per_pixel(self, elements: np.ndarray) -> np.ndarray:
        """A per-element array over ``grid`` as the mask tensor and Keras' weight map take it (per pixel for unit
        targets with a channel axis, where the pattern is constant over channels)."""
        return elements[..., 0] if self.channel_axis else elements

    def params(self, ignore: int | None = None, **more: Any) -> dict[str, Any]:
        """The subject's params with ``ignore_class`` (``None``: as given) and ``more``."""
        params = dict(self.subject.params)
        if ignore is not None:
            params["ignore_class"] = ignore
        return {**params, **more}

    def plain_params(self, **more: Any) -> dict[str, Any]:
        """The params with nothing ignored (``ignore_class`` None)."""
        params = {k: v for k, v in self.subject.params.items() if k != "ignore_class"}
        return {**params, **more}

    def inputs(
        self, ignored: np.ndarray, way: str, *, value: int | None = None, fill: float | None = None, fill_name: str = ""
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Inputs and params ignoring ``ignored`` by ``way`` (``"ignore_class"`` with ignore value ``value``, or
        ``"mask"``), with the predictions there replaced by ``fill`` (``fill_name="random"``: random ones)."""
        data = {k: v.copy() for k, v in self.base.items()}
        params = self.params()
        if way == "ignore_class":
            value = self.ignore_value if value is None else value
            params = self.params(value)
            y_true = data["y_true"]
            if self.targets == "one_hot":
                y_true[ignored] = np.eye(self.classes, dtype=y_true.dtype)[value]
            else:
                y_true[ignored] = value
        else:
            data["mask"] = self.per_pixel(~ignored).astype("float32")
        if fill_name:
            y_pred = data["y_pred"]
            if fill is None:
                rng = np.random.default_rng([self.seed, 13])
                shape = y_pred[ignored].shape
                random = rng.normal(0.0, 5.0, shape) if self.logits else rng.random(shape)
                y_pred[ignored] = random.astype(y_pred.dtype)
            else:
                y_pred[ignored] = fill
        return data, params

    # -- the loss ----------------------------------------------------------------------------------------------

    def _fn(self, params: Mapping[str, Any]) -> Callable[..., Any]:
        key = repr(sorted(params.items()))
        if key not in self._fns:
            path = f"check_loss({self.name!r})"
            self._fns[key] = REGISTRY.lookup(self.name, path=path).bind(dict(params), path)
        return self._fns[key]

    def values(self, params: Mapping[str, Any], data: Mapping[str, np.ndarray]) -> np.ndarray:
        """The loss function's own values (unreduced), float64."""
        return self.values_and_mask(params, data)[0]

    def values_and_mask(
        self, params: Mapping[str, Any], data: Mapping[str, np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """The loss function's own values (unreduced, float64) and the Keras mask it attached (bool), if any."""
        import keras

        from lossreg.keras._engine import keras_mask

        extras = {e: data[e] for e in self.subject.extras}
        if "mask" in data:
            extras["mask"] = data["mask"]
        out = self._fn(params)(data["y_true"], data["y_pred"], **extras)
        values = np.asarray(keras.ops.convert_to_numpy(out), dtype="float64")
        mask = keras_mask(out)
        if mask is None:
            return values, None
        return values, np.broadcast_to(np.asarray(keras.ops.convert_to_numpy(mask), dtype=bool), values.shape)

    def reduced(
        self,
        params: Mapping[str, Any],
        data: Mapping[str, np.ndarray],
        reduction: str = "sum_over_batch_size",
        sample_weight: np.ndarray | None = None,
    ) -> tuple[float, dict[str, np.ndarray | None]]:
        """The ``RegisteredLoss`` value (float64) and its gradients w.r.t. ``y_pred`` and the float extras."""
        from lossreg._backend import value_and_grad
        from lossreg.keras import RegisteredLoss

        loss = RegisteredLoss([{"loss": self.name, "params": dict(params)}], reduction=reduction)
        extras = self.subject.extras
        watched = [k for k in ("y_pred", *extras) if np.issubdtype(data[k].dtype, np.floating)]
        weight = None if sample_weight is None else np.asarray(sample_weight, "float32")

        def call(y_true: Any, y_pred: Any, **tensors: Any) -> Any:
            if not tensors:
                return loss(y_true, y_pred, sample_weight=weight)
            return loss(y_true, {"y_pred": y_pred, **tensors}, sample_weight=weight)

        value, grads = value_and_grad(call, dict(data), watched)
        return float(np.asarray(value, dtype="float64")), grads

    def check_finite(self, check: str, what: str, value: float, grads: Mapping[str, Any]) -> None:
        if not math.isfinite(value):
            raise fail(self.name, check, f"{what}: the value is {value!r}, not finite.")
        for key, grad in grads.items():
            if grad is not None and not np.all(np.isfinite(grad)):
                bad = int(np.sum(~np.isfinite(grad)))
                raise fail(self.name, check, f"{what}: the gradient w.r.t. {key!r} has {bad} NaN or infinite entries.")


# -- comparisons -------------------------------------------------------------------------------------------------


def _close(a: float, b: float, rtol: float = 1e-5) -> bool:
    return math.isclose(a, b, rel_tol=rtol, abs_tol=1e-6 * max(1.0, abs(a), abs(b)))


def _same_value(case: DenseCase, check: str, what: str, got: float, want: float, want_is: str, note: str = "") -> None:
    if not _close(got, want):
        raise fail(case.name, check, f"{what} gives {got!r}, but {want_is} is {want!r}{note}.")


def _same_grads(case: DenseCase, check: str, what: str, got: Mapping[str, Any], want: Mapping[str, Any]) -> None:
    for key, g in got.items():
        w = want.get(key)
        if g is None and w is None:
            continue
        g = np.zeros_like(w) if g is None else np.asarray(g, "float64")
        w = np.zeros_like(g) if w is None else np.asarray(w, "float64")
        scale = 1e-6 * max(1.0, float(np.max(np.abs(w), initial=0.0)))
        if g.shape != w.shape or not np.allclose(g, w, rtol=1e-5, atol=scale):
            worst = np.unravel_index(np.argmax(np.abs(g - w)), g.shape) if g.shape == w.shape else ()
            where = (
                f" (largest difference at {tuple(map(int, worst))}: {float(g[worst])!r} vs {float(w[worst])!r})"
                if worst
                else ""
            )
            raise fail(case.name, check, f"{what}: the gradient w.r.t. {key!r} differs{where}.")


def _ignored_grad_zero(case: DenseCase, check: str, what: str, grad: Any, ignored: np.ndarray) -> None:
    """The gradient w.r.t. ``y_pred`` is exactly 0 (and finite) at the ignored elements."""
    if grad is None:
        return
    at = np.asarray(grad)[ignored]
    if not np.all(at == 0):
        bad = at[at != 0].reshape(-1)[:4].tolist()
        raise fail(
            case.name,
            check,
            f"{what}: the gradient at the ignored predictions is not exactly 0 ({int(np.sum(at != 0))} entries, "
            f"e.g. {bad}); ignored elements must reach neither the value nor the gradient (zero_ignored on the "
            "inputs, before the math).",
        )


def _ways_text(case: DenseCase, way: str, value: int | None = None) -> str:
    if way == "mask":
        return "with the mask tensor"
    return f"with ignore_class={case.ignore_value if value is None else value}"


# -- the invariants ----------------------------------------------------------------------------------------------


def check_ignored_elements(case: DenseCase) -> bool:
    """a. NaN, ±inf or random predictions at ignored elements change neither value nor kept gradients; 0 there."""
    check = "ignored elements"
    ignored = case.pattern()
    for way in case.ways:
        data, params = case.inputs(ignored, way)
        how = _ways_text(case, way)
        value, grads = case.reduced(params, data)
        values = case.values(params, data)
        case.check_finite(check, f"{how}, finite predictions", value, grads)
        _ignored_grad_zero(case, check, f"{how}, finite predictions", grads.get("y_pred"), ignored)
        for fill_name, fill in FILLS:
            data_f, _ = case.inputs(ignored, way, fill=fill, fill_name=fill_name)
            what = f"{how}, {fill_name} predictions at the {int(ignored.sum())} ignored elements"
            got, got_grads = case.reduced(params, data_f)
            _same_value(case, check, f"the RegisteredLoss {what}", got, value, "with finite predictions there")
            case.check_finite(check, what, got, got_grads)
            _ignored_grad_zero(case, check, what, got_grads.get("y_pred"), ignored)
            _same_grads(case, check, what, got_grads, grads)
            got_values = case.values(params, data_f)
            if got_values.shape != values.shape or not np.allclose(got_values, values, rtol=1e-5, atol=1e-6):
                raise fail(
                    case.name,
                    check,
                    f"{what}: the loss function's values change: {got_values.reshape(-1)[:8]!r} vs "
                    f"{values.reshape(-1)[:8]!r} with finite predictions there.",
                )
        if way == "ignore_class" and case.targets in ("class_ids", "unit"):
            other = -1 if case.ignore_value != -1 else IGNORE
            if case.targets == "class_ids" and np.issubdtype(case.base["y_true"].dtype, np.unsignedinteger):
                continue
            data_o, params_o = case.inputs(ignored, way, value=other)
            what = f"the same elements ignored {_ways_text(case, way, other)} instead of {case.ignore_value}"
            got, got_grads = case.reduced(params_o, data_o)
            _same_value(case, check, what, got, value, f"{how}")
            _same_grads(case, check, what, got_grads, grads)
    return True


def check_fully_ignored_batch(case: DenseCase) -> bool:
    """b. Every element ignored: exactly 0 under each reduction, gradients 0 (never NaN)."""
    check = "fully ignored batch"
    ignored = np.ones(case.grid, bool)
    for way in case.ways:
        for fill_name, fill in (("finite", None), ("NaN", math.nan)):
            data, params = case.inputs(ignored, way, fill=fill, fill_name="NaN" if fill_name == "NaN" else "")
            for reduction in REDUCTIONS:
                what = f"every element ignored ({_ways_text(case, way)}, {fill_name} predictions, {reduction!r})"
                value, grads = case.reduced(params, data, reduction)
                case.check_finite(check, what, value, grads)
                if value != 0.0:
                    raise fail(case.name, check, f"{what}: the RegisteredLoss gives {value!r}, not 0.")
                _ignored_grad_zero(case, check, what, grads.get("y_pred"), ignored)
    return True


def _kept(case: DenseCase, values: np.ndarray, ignored: np.ndarray) -> np.ndarray | None:
    """Which of the values are kept: per element (values shaped like the grid) or per sample; ``None`` otherwise."""
    if values.shape == ignored.shape:
        return ~ignored
    if values.shape == (case.batch,):
        return np.asarray((~ignored).reshape(case.batch, -1).any(axis=1))
    return None


def _weights(case: DenseCase, shape: tuple[int, ...], per_element: bool) -> np.ndarray:
    """Distinct non-negative sample weights: per sample (the first 0 with three samples or more) or per element."""
    if per_element:
        return (0.5 + np.arange(math.prod(shape)).reshape(shape) % 5 * 0.5).astype("float32")
    weights = np.linspace(0.5, 2.0, case.batch)
    if case.batch >= 3:
        weights[0] = 0.0
    return weights.astype("float32")


def check_kept_element_mean(case: DenseCase) -> bool:
    """c. The reduced value is the mean over kept elements (or samples) of the function's values, with weights.

    Kept: the Keras mask the function attached to its values, which must leave out every ignored element (it may
    leave out more: a band loss's pairs outside its band); without one, every element not ignored.
    """
    check = "kept-element mean"
    ignored = case.pattern()
    way = "mask" if "mask" in case.ways else "ignore_class"
    data, params = case.inputs(ignored, way)
    values, attached = case.values_and_mask(params, data)
    not_ignored = _kept(case, values, ignored)
    if not_ignored is None:
        return False
    how = _ways_text(case, way)
    if attached is not None and np.any(attached & ~not_ignored):
        raise fail(
            case.name,
            check,
            f"{how}: the Keras mask on the loss function's values keeps {int(np.sum(attached & ~not_ignored))} "
            "ignored element(s); attach the keep mask (masked_values(values, keep)).",
        )
    kept = not_ignored if attached is None else attached
    if np.any(values[~not_ignored] != 0):
        bad = values[~not_ignored][values[~not_ignored] != 0][:4].tolist()
        raise fail(
            case.name,
            check,
            f"{how}: the loss function gives {bad} at ignored elements; ignored elements' values are 0 "
            "(masked_values).",
        )
    hint = (
        ""
        if attached is not None
        else " (the loss function attached no Keras mask: return masked_values(values, keep))"
    )
    cases: list[tuple[str, np.ndarray | None]] = [
        ("unweighted", None),
        ("per-sample weights", _weights(case, (), False)),
    ]
    if values.ndim >= 2:
        cases.append(("per-element weights", _weights(case, values.shape, True)))
    for kind, sw in cases:
        full = np.ones_like(values) if sw is None else _spread(sw, values)
        total = float(np.sum((full * values)[kept]))
        want = total / int(kept.sum()) if kept.any() else 0.0
        got, _ = case.reduced(params, data, "sum_over_batch_size", sw)
        what = f"{how}, {kind}, reduction 'sum_over_batch_size'"
        want_is = f"the mean over the {int(kept.sum())} kept"
        _same_value(case, check, f"the RegisteredLoss {what}", got, want, want_is, hint)
        if sw is not None and np.sum(full[kept]) > 0:
            got, _ = case.reduced(params, data, "mean_with_sample_weight", sw)
            want = total / float(np.sum(full[kept]))
            what = f"{how}, {kind}, reduction 'mean_with_sample_weight'"
            want_is = "the kept values' weighted sum over their weights' sum"
            _same_value(case, check, f"the RegisteredLoss {what}", got, want, want_is, hint)
    return True


def _spread(weights: np.ndarray, values: np.ndarray) -> np.ndarray:
    w = weights.astype("float64")
    return np.broadcast_to(w.reshape(w.shape + (1,) * (values.ndim - w.ndim)), values.shape)


def check_zero_weight_as_mask(case: DenseCase) -> bool:
    """d. Per-element values: a 0/1 weight map equals the mask under "sum" and "mean_with_sample_weight", and the
    masked default mean equals "mean_with_sample_weight" with 0/1 weights. Per-sample values with Keras' map inside
    their sums: see ``_zero_weight_inside``."""
    check = "zero weight as mask"
    way = "mask" if "mask" in case.ways else "ignore_class"
    ignored = case.pattern(whole_sample=False)
    data, params = case.inputs(ignored, way)
    values = case.values(params, data)
    if values.shape == (case.batch,) and values.shape != ignored.shape and case.weight_map:
        return _zero_weight_inside(case, ignored)
    if values.shape != ignored.shape:
        return False  # per-sample values without a weight map: Keras' per-element weights cannot reach them
    plain = case.plain_params()
    zero_one = (~ignored).astype("float32")
    how = _ways_text(case, way)
    pairs = (("sum", "sum"), ("mean_with_sample_weight",) * 2, ("sum_over_batch_size", "mean_with_sample_weight"))
    for masked_reduction, weighted_reduction in pairs:
        value, grads = case.reduced(params, data, masked_reduction)
        got, got_grads = case.reduced(plain, case.base, weighted_reduction, zero_one)
        what = f"no mask, a 0/1 weight map ({tuple(zero_one.shape)}), reduction {weighted_reduction!r}"
        masked = f"{how}, reduction {masked_reduction!r}"
        _same_value(case, check, f"the RegisteredLoss with {what}", got, value, masked)
        _same_grads(case, check, f"{what} against {masked}", got_grads, grads)
    return True


def _zero_weight_inside(case: DenseCase, ignored: np.ndarray) -> bool:
    """d for a loss with one value per sample that applies Keras' per-pixel map inside its sums: how a weighted
    mean inside an image counts zero weights is the loss's own (its ``Normalizer:``), but a pixel of weight 0 adds
    nothing anywhere. So: a map of ones equals no map (value and gradient), and random finite predictions at the
    zero-weight pixels change neither the value nor the other pixels' gradient, which is exactly 0 there."""
    check = "zero weight as mask"
    plain = case.plain_params()
    zero_one = case.per_pixel(~ignored).astype("float32")
    for reduction in ("sum_over_batch_size", "sum"):
        value, grads = case.reduced(plain, case.base, reduction)
        got, got_grads = case.reduced(plain, case.base, reduction, np.ones_like(zero_one))
        what = f"a weight map of ones ({tuple(zero_one.shape)}), reduction {reduction!r}"
        _same_value(case, check, f"the RegisteredLoss with {what}", got, value, "without a map")
        _same_grads(case, check, f"{what} against none", got_grads, grads)
        value, grads = case.reduced(plain, case.base, reduction, zero_one)
        what = f"a 0/1 weight map ({tuple(zero_one.shape)}), reduction {reduction!r}"
        case.check_finite(check, what, value, grads)
        _ignored_grad_zero(case, check, what, grads.get("y_pred"), ignored)
        data, _ = case.inputs(ignored, "mask", fill_name="random")
        del data["mask"]
        got, got_grads = case.reduced(plain, data, reduction, zero_one)
        what += ", random predictions at its zeros"
        _same_value(case, check, f"the RegisteredLoss with {what}", got, value, "with the original predictions there")
        _same_grads(case, check, what, got_grads, grads)
    return True


def check_ignore_class_and_mask_agree(case: DenseCase) -> bool:
    """e. The same elements ignored by ignore_class and by the mask: the same values and gradient; both: the union.

    Not for a loss with one value per sample whose ignore_class names a channel (a one-hot channel, a class id in
    range): such a loss may also take that channel out of its class average (the segmentation plugin's overlap
    losses do), which a mask does not.
    """
    check = "ignore_class and mask agree"
    ignored = case.pattern()
    by_class, params_c = case.inputs(ignored, "ignore_class")
    by_mask, params_m = case.inputs(ignored, "mask")
    names_channel = case.targets == "one_hot" or (case.targets == "class_ids" and 0 <= case.ignore_value < case.classes)
    if names_channel and case.values(params_c, by_class).shape != case.grid:
        return False
    value_c, grads_c = case.reduced(params_c, by_class)
    value_m, grads_m = case.reduced(params_m, by_mask)
    what = f"{int(ignored.sum())} elements ignored by the mask tensor"
    _same_value(case, check, f"the RegisteredLoss with {what}", value_m, value_c, _ways_text(case, "ignore_class"))
    _same_grads(case, check, f"{what} against {_ways_text(case, 'ignore_class')}", grads_m, grads_c)
    values_c, values_m = case.values(params_c, by_class), case.values(params_m, by_mask)
    if values_c.shape != values_m.shape or not np.allclose(values_c, values_m, rtol=1e-5, atol=1e-6):
        raise fail(case.name, check, f"{what}: the loss function's values differ from ignore_class's.")
    # half by ignore_class, half by the mask: the union ignored
    pixels = case.per_pixel(ignored)
    by_value = pixels & (np.cumsum(pixels.reshape(-1)).reshape(pixels.shape) % 2 == 1)
    by_value = np.broadcast_to(by_value[..., None], case.grid) if case.channel_axis else by_value
    both, params_b = case.inputs(by_value, "ignore_class")
    both["mask"] = case.per_pixel(~(ignored & ~by_value)).astype("float32")
    value_b, grads_b = case.reduced(params_b, both)
    what = "half the elements ignored by ignore_class and the other half by the mask"
    _same_value(case, check, f"the RegisteredLoss with {what}", value_b, value_c, "all of them by ignore_class")
    _same_grads(case, check, what, grads_b, grads_c)
    return True


def _classes_of(case: DenseCase, y_true: np.ndarray) -> np.ndarray | None:
    """Each element's class (class id, one-hot channel; unit: the last axis), or ``None`` for soft targets."""
    if case.targets == "class_ids":
        return np.where((y_true >= 0) & (y_true < case.classes), y_true, 0).astype(int)
    if case.targets == "one_hot":
        hard = np.all((y_true == 0) | (y_true == 1)) and np.all(y_true.sum(-1) == 1)
        return y_true.argmax(-1) if hard else None
    return np.broadcast_to(np.arange(y_true.shape[-1]), y_true.shape)


def check_class_weights(case: DenseCase) -> bool:
    """f. Weights of 1 change nothing, a 0 weight stays finite; per-element values scale by their class's weight."""
    check = "class weights"
    c = case.classes
    if case.ways:
        data, params = case.inputs(case.pattern(), "mask" if "mask" in case.ways else "ignore_class")
    else:
        data, params = case.base, case.params()
    params = {**params, "class_weights": None}  # the loss without class weights (whatever the params gave)
    try:
        case.values({**params, "class_weights": [1.0] * c}, data)
    except LossSpecError as exc:
        if isinstance(exc, LossInputError):
            raise
        return False  # class weights refused with these params (e.g. a loss without a class average here)
    value, grads = case.reduced(params, data)
    ones, ones_grads = case.reduced({**params, "class_weights": [1.0] * c}, data)
    _same_value(case, check, "the RegisteredLoss with class_weights all 1", ones, value, "without class_weights")
    _same_grads(case, check, "class_weights all 1 against none", ones_grads, grads)
    if c >= 2:  # one class left out (a weight of 0), the others kept
        zero = [0.0] + [1.0] * (c - 1)
        got, got_grads = case.reduced({**params, "class_weights": zero}, data)
        case.check_finite(check, f"class_weights {zero}", got, got_grads)
    values, attached = case.values_and_mask(params, data)
    classes = _classes_of(case, data["y_true"])
    smoothing = any(k == "label_smoothing" and v for k, v in params.items())
    if values.shape != case.grid or classes is None or classes.shape != values.shape or smoothing:
        return True  # per-sample values, soft targets: how weights enter is the loss's own (its Normalizer:)
    weights = np.linspace(0.5, 2.0, c)
    weighted = case.values({**params, "class_weights": weights.tolist()}, data)
    want = weights[classes] * values
    if not np.allclose(weighted, want, rtol=1e-5, atol=1e-6):
        worst = np.unravel_index(np.argmax(np.abs(weighted - want)), want.shape)
        raise fail(
            case.name,
            check,
            f"with class_weights {weights.tolist()} the value at {tuple(map(int, worst))} is "
            f"{float(weighted[worst])!r}, but its class's weight {float(weights[classes][worst])!r} times the "
            f"unweighted {float(values[worst])!r} is {float(want[worst])!r}: class_weights scale each element's loss.",
        )
    got, _ = case.reduced({**params, "class_weights": weights.tolist()}, data)
    kept = np.ones(values.shape, bool) if attached is None else attached
    mean = float(np.sum(want[kept]) / kept.sum()) if kept.any() else 0.0
    _same_value(
        case,
        check,
        f"the RegisteredLoss with class_weights {weights.tolist()}",
        got,
        mean,
        f"the mean of the weighted values over the {int(kept.sum())} kept elements (the count unchanged)",
    )
    return True


#: the dense invariants, by the name each fails with (and reports as passed)
DENSE_INVARIANTS: tuple[tuple[str, Callable[[DenseCase], bool]], ...] = (
    ("ignored elements", check_ignored_elements),
    ("fully ignored batch", check_fully_ignored_batch),
    ("kept-element mean", check_kept_element_mean),
    ("zero weight as mask", check_zero_weight_as_mask),
    ("ignore_class and mask agree", check_ignore_class_and_mask_agree),
    ("class weights", check_class_weights),
)


def run_dense_invariants(subject: Subject, seed: int = 0, targets: str | None = None) -> list[str]:
    """Run the invariants the loss declares (``declared_invariants``); the names of those that applied.

    ``targets`` (``"class_ids"``, ``"one_hot"``, ``"unit"``) says what the targets are when it differs from the
    loss's declaration for these params (e.g. a loss whose ``activation="softmax"`` takes one-hot labels).
    """
    wanted = declared_invariants(subject.name, targets)
    if not wanted:
        return []
    case = DenseCase.build(subject, seed, targets)
    ran = []
    for name, check in DENSE_INVARIANTS:
        if name not in wanted:
            continue
        try:
            applied = check(case)
        except LossSpecError as exc:  # LossInputError too: the loss refused the inputs built for the invariant
            raise fail(
                subject.name,
                name,
                f"the loss refused the inputs built for this check ({case.targets} targets, ignore_class="
                f"{case.ignore_value}, ways {list(case.ways)}): {exc} If its targets are another kind with these "
                "params (e.g. one-hot labels with activation='softmax'), pass dense_targets=...; or "
                "dense_invariants=False.",
            ) from exc
        if applied:
            ran.append(name)
    return ran
