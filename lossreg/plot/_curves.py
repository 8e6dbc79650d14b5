"""``lossreg.plot.curves``: each loss's value and gradient against one prediction, for a positive and a negative target.

A loss is drawn from its registered function (the one ``lossreg.get`` wraps, its parameters checked the same
way), called on one prediction per sample: a batch of ``points`` samples whose one element each is a point of the
x axis, with targets all 1, then all 0. Its gradient is the active backend's autodiff of that function
(TensorFlow, JAX or PyTorch: ``lossreg.testing.value_and_grad``), so the figure shows what training sees, float32
included.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from lossreg._errors import LossSpecError, did_you_mean
from lossreg.plot._figure import check_out, new_figure, require_matplotlib, save

__all__ = ["AXES", "curves", "drawable"]

WHERE: Final = "lossreg.plot.curves"
#: the x axes ``curves`` draws against
AXES: Final = ("logit", "probability")
#: the default points: ``points`` evenly spaced over these
RANGES: Final = {"logit": (-6.0, 6.0), "probability": (0.005, 0.995)}
_TARGETS: Final = (1.0, 0.0)
_LINESTYLES: Final = ("-", "--", ":", "-.")
_WHAT: Final = (
    "`lossreg plot curves` draws losses of one prediction against a binary target: no extra tensors, targets "
    "declared 'unit' (masks or soft labels in [0, 1]) and y_pred declared as logits or probabilities"
)


@dataclass(frozen=True)
class _Loss:
    """One loss to draw: its bound function, whether it takes logits, the shape of one sample, its legend."""

    name: str
    fn: Callable[..., Any]
    logits: bool
    sample: tuple[int, ...]
    label: str


def curves(
    names: str | Sequence[str],
    params: Mapping[str, Mapping[str, Any]] | Sequence[Mapping[str, Any] | None] | None = None,
    *,
    x: str | None = None,
    points: int | Sequence[float] = 201,
    out: str | os.PathLike[str] | None = None,
) -> Any:
    r"""Draw each loss's value and gradient against the logit (or the probability), for targets 1 and 0.

    Four panels, losses overlaid in each: the value (top row) and its gradient d loss / d x (bottom row), for a
    positive target y = 1 (left) and a negative target y = 0 (right). Values come from the registered loss itself
    (one prediction per sample, so a per-sample loss such as Dice is drawn as one element's), gradients from the
    active backend's autodiff of it, in float32 as in training.

    A loss on logits drawn against the probability is given ``log(p / (1 - p))``, and a loss on probabilities drawn
    against the logit is given ``sigmoid(z)``; its gradient is then with respect to the axis drawn (the chain rule,
    by autodiff). Whether a loss takes logits is its declaration (``lossreg.describe(name).expects.from_logits``,
    or its ``from_logits`` parameter).

    Drawable losses take one prediction and a binary target: no extra tensors, targets declared ``'unit'``, and
    ``y_pred`` declared as logits or probabilities (``sigmoid_bce``, ``sigmoid_focal``, ``sigmoid_dice``, Keras'
    ``binary_crossentropy``, the segmentation plugin's ``soft_dice``, ...). Others (extras such as ``vae_kl``'s,
    one-hot or class-id targets over several channels, pairwise losses, losses that declare nothing) raise a
    ``LossSpecError`` naming the loss, what it takes and the losses that can be drawn.

    Figure layout: ``fig.axes[0]`` value at y = 1, ``[1]`` value at y = 0, ``[2]`` gradient at y = 1, ``[3]``
    gradient at y = 0; in each, ``ax.get_lines()[i]`` is loss ``i``, labelled as in the legend.

    Args:
        names: the losses to draw (``lossreg.names()``), or one name. A name may repeat, with other parameters.
        params: each loss's parameters: a mapping from loss name to its parameters (every occurrence of that
            name), or a sequence of parameter mappings (or ``None``), one per name in order. Parameters are
            checked as ``lossreg.get`` checks them; the legend shows the ones given.
        x: ``"logit"``, ``"probability"``, or ``None`` (default): the logit, unless every loss takes probabilities.
        points: how many evenly spaced points to draw, over logits in [-6, 6] or probabilities in [0.005, 0.995];
            or the points themselves (finite; probabilities strictly between 0 and 1).
        out: a ``.png`` or ``.svg`` file to write the figure to (the format follows the suffix).

    Returns:
        The ``matplotlib.figure.Figure`` (drawn on its own Agg canvas; pyplot is not used).

    Raises:
        LossSpecError: an unknown loss (with the closest names), bad parameters, a loss that cannot be drawn, a
            bad ``x``, ``points`` or ``out`` suffix.
        ModuleNotFoundError: matplotlib is not installed (``pip install 'lossreg-core[plot]'``).

    Examples:
        >>> from lossreg.plot import curves
        >>> fig = curves(["sigmoid_bce", "sigmoid_focal", "sigmoid_dice"], {"sigmoid_focal": {"gamma": 2.0}})
        >>> [line.get_label() for line in fig.axes[0].get_lines()]
        ['sigmoid_bce', 'sigmoid_focal (gamma=2)', 'sigmoid_dice']
        >>> fig.axes[2].get_ylabel()
        'd loss / d z'
    """
    out_path = check_out(out, WHERE)
    names = _names(names)
    per_loss = _params(names, params)
    if x is not None and x not in AXES:
        raise LossSpecError(
            f"Invalid x={x!r}: expected 'logit', 'probability' or None (the logit, unless every loss takes "
            f"probabilities).{did_you_mean(str(x), AXES)}",
            path=WHERE,
        )
    require_matplotlib()
    losses = [_prepare(name, given) for name, given in zip(names, per_loss, strict=True)]
    axis = x or ("logit" if any(loss.logits for loss in losses) else "probability")
    grid = _grid(points, axis)
    series = [[_value_and_grad(loss, grid, target, axis) for target in _TARGETS] for loss in losses]
    figure = _draw(losses, grid.astype("float64"), series, axis)
    save(figure, out_path, WHERE)
    return figure


# -- inputs ---------------------------------------------------------------------------------------------------


def _names(names: Any) -> list[str]:
    if isinstance(names, str):
        return [names]
    if not isinstance(names, Sequence) or not names or not all(isinstance(n, str) for n in names):
        raise LossSpecError(
            f"Invalid names={names!r}: expected one or more loss names, e.g. ['sigmoid_bce', 'sigmoid_focal'].",
            path=WHERE,
        )
    return list(names)


def _params(names: list[str], params: Any) -> list[dict[str, Any]]:
    """One parameter dict per name, from ``None``, a mapping by loss name, or a sequence aligned with ``names``."""
    if params is None:
        return [{} for _ in names]
    if isinstance(params, Mapping):
        for key, value in params.items():
            if key not in names:
                raise LossSpecError(
                    f"params has an entry for {key!r}, which is not one of the losses drawn ({', '.join(names)})."
                    f"{did_you_mean(str(key), names)} Give each loss's parameters under its name, e.g. "
                    "{'sigmoid_focal': {'gamma': 2.0}}, or a list of dicts, one per name.",
                    path=WHERE,
                )
            _check_mapping(value, f"params[{key!r}]")
        return [dict(params.get(name) or {}) for name in names]
    if isinstance(params, Sequence) and not isinstance(params, str | bytes):
        if len(params) != len(names):
            raise LossSpecError(
                f"params has {len(params)} entries for {len(names)} losses: give one dict (or None) per name, in "
                "order, or a mapping from loss name to its parameters.",
                path=WHERE,
            )
        for i, value in enumerate(params):
            if value is not None:
                _check_mapping(value, f"params[{i}]")
        return [dict(value or {}) for value in params]
    raise LossSpecError(
        f"Invalid params of type {type(params).__name__}: expected a mapping from loss name to its parameters, "
        "e.g. {'sigmoid_focal': {'gamma': 2.0}}, or a list of dicts, one per name.",
        path=WHERE,
    )


def _check_mapping(value: Any, where: str) -> None:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise LossSpecError(
            f"{where} must map parameter names to values, e.g. {{'gamma': 2.0}}; received {value!r}.", path=WHERE
        )


def _grid(points: Any, axis: str) -> np.ndarray:
    """The x values as float32 (what the loss computes in), checked."""
    if isinstance(points, int) and not isinstance(points, bool):
        if points < 2:
            raise LossSpecError(f"Invalid points={points}: expected at least 2 points, or the points.", path=WHERE)
        low, high = RANGES[axis]
        return np.linspace(low, high, points).astype("float32")
    try:
        grid = np.asarray(points, dtype="float64")
    except (TypeError, ValueError):
        grid = np.empty((0, 0))
    if grid.ndim != 1 or grid.size == 0 or not np.all(np.isfinite(grid)):
        raise LossSpecError(
            f"Invalid points={points!r}: expected a count (at least 2) or a non-empty list of finite numbers.",
            path=WHERE,
        )
    if axis == "probability" and not np.all((grid > 0) & (grid < 1)):
        raise LossSpecError(
            "Invalid points: probabilities must lie strictly between 0 and 1 (a loss on logits is given "
            "log(p / (1 - p)), infinite at 0 and 1).",
            path=WHERE,
        )
    return grid.astype("float32")


# -- which losses can be drawn ---------------------------------------------------------------------------------


def _why_not(loss_def: Any, params: Mapping[str, Any]) -> str | None:
    """Why ``loss_def`` with ``params`` cannot be drawn against one prediction, or ``None`` when it can."""
    if loss_def.extras:
        return f"takes extra tensors ({', '.join(loss_def.extras)}) besides y_true and y_pred"
    expects = loss_def.expects
    if expects is None:
        return (
            "declares neither its targets nor whether y_pred holds logits or probabilities (Keras' own losses "
            "other than the cross-entropies declare nothing)"
        )
    if expects.targets != "unit":
        return {
            "one_hot": "takes one-hot targets over a channel per class (a 2-class softmax cross-entropy is "
            "sigmoid_bce of the logit difference: draw sigmoid_bce)",
            "class_ids": "takes integer class ids with a channel of predictions per class",
            None: "declares no kind of targets (a loss without binary targets, such as a GAN generator's)",
        }[expects.targets]
    defaults = {name: p.default for name, p in loss_def.params.items()}
    if expects.logits(params, defaults) is None:
        return "does not say whether y_pred holds logits or probabilities"
    for tensor in ("y_true", "y_pred"):
        sizes = [t for t in expects.shapes.get(tensor, ()) if t.isdigit() and t != "1"]
        if sizes:
            return f"needs {tensor} axes of size {', '.join(sizes)}, not one prediction per sample"
    activation = params.get("activation", defaults.get("activation"))
    if activation == "softmax" and expects.logits(params, defaults):
        return "is constant with activation='softmax' over one channel (use activation='sigmoid')"
    return None


def drawable() -> list[str]:
    """The registered losses that ``curves`` draws with their default parameters, sorted.

    A plugin loss is listed once, by its plain name (``soft_dice``), or as ``distribution:name`` when another
    loss holds the plain name. Looking them up loads every plugin; a plugin that fails to load is left out
    (``lossreg plugins`` says why).

    Examples:
        >>> from lossreg.plot import drawable
        >>> {"sigmoid_bce", "sigmoid_focal", "sigmoid_dice", "binary_crossentropy"} <= set(drawable())
        True
        >>> "vae_kl" in drawable()  # two extra tensors: nothing to draw against one prediction
        False
    """
    from lossreg.registry import REGISTRY

    names = REGISTRY.names()
    plain = set(names)
    found = []
    for name in names:
        if ":" in name and name.split(":", 1)[1] in plain:
            continue
        try:
            loss_def = REGISTRY.lookup(name)
        except LossSpecError:  # a broken plugin: `lossreg plugins` reports it; it is simply not drawable
            continue
        if _why_not(loss_def, {}) is None:
            found.append(name)
    return found


def _prepare(name: str, params: dict[str, Any]) -> _Loss:
    """Look up, check and bind one loss, or say why it cannot be drawn."""
    from lossreg.registry import REGISTRY

    loss_def = REGISTRY.lookup(name)
    why = _why_not(loss_def, params)
    if why is not None:
        raise LossSpecError(
            f"Cannot draw loss {name!r}: it {why}. {_WHAT}. Losses that can be drawn: {', '.join(drawable())}.",
            path=WHERE,
        )
    fn = loss_def.bind(params)
    expects = loss_def.expects
    assert expects is not None  # _why_not refused a loss that declares nothing
    defaults = {key: p.default for key, p in loss_def.params.items()}
    pattern = expects.shapes.get("y_pred", ("batch", "..."))
    sample = tuple(1 for token in pattern[1:] if token != "...") or (1,)
    label = name + (" (" + ", ".join(f"{k}={_text(v)}" for k, v in params.items()) + ")" if params else "")
    return _Loss(name, fn, bool(expects.logits(params, defaults)), sample, label)


def _text(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else repr(value) if isinstance(value, str) else str(value)


# -- values and gradients ------------------------------------------------------------------------------------------


def _value_and_grad(loss: _Loss, grid: np.ndarray, target: float, axis: str) -> tuple[np.ndarray, np.ndarray]:
    """The loss's value at each point and d value / d point (the axis drawn), by the backend's autodiff."""
    import keras

    from lossreg._backend import value_and_grad

    y_pred = grid.reshape((grid.size, *loss.sample))
    y_true = np.full_like(y_pred, target)
    to_probability = axis == "logit" and not loss.logits
    to_logit = axis == "probability" and loss.logits

    def call(y_true: Any, y_pred: Any) -> Any:
        if to_probability:
            y_pred = keras.ops.sigmoid(y_pred)
        elif to_logit:
            y_pred = keras.ops.log(y_pred) - keras.ops.log1p(-y_pred)
        return loss.fn(y_true, y_pred)

    values, grads = value_and_grad(call, {"y_true": y_true, "y_pred": y_pred}, ["y_pred"])
    values = np.asarray(values, dtype="float64").reshape(-1)
    if values.size != grid.size:
        raise LossSpecError(
            f"Cannot draw loss {loss.name!r}: it gave {values.size} values for {grid.size} samples of one "
            "prediction each; a drawable loss gives one value per sample or per element.",
            path=WHERE,
        )
    grad = grads["y_pred"]
    gradient = np.zeros(grid.size) if grad is None else np.asarray(grad, dtype="float64").reshape(-1)
    return values, gradient


# -- the figure ------------------------------------------------------------------------------------------------


def _draw(losses: list[_Loss], grid: np.ndarray, series: list[list[tuple[np.ndarray, np.ndarray]]], axis: str) -> Any:
    figure = new_figure(11.0, 7.4)
    axes = figure.subplots(2, 2, sharex=True, sharey="row")
    symbol = "z" if axis == "logit" else "p"
    mixed = {loss.logits for loss in losses} == {True, False}
    for column, target in enumerate(_TARGETS):
        kind = "positive" if target else "negative"
        axes[0, column].set_title(f"{kind} target, y = {target:g}")
        for row, ylabel in enumerate(("loss", f"d loss / d {symbol}")):
            ax = axes[row, column]
            for i, loss in enumerate(losses):
                # equal curves (BCE on logits, on sigmoid(z)) stay visible: a later one is thinner, on top, styled
                style, width = _LINESTYLES[i % len(_LINESTYLES)], max(1.0, 2.8 - 0.45 * i)
                ax.plot(grid, series[i][column][row], style, color=f"C{i % 10}", linewidth=width, label=loss.label)
            ax.grid(True, alpha=0.35)
            if column == 0:
                ax.set_ylabel(ylabel)
    for column in range(2):
        if axis == "logit":
            note = " (losses on probabilities get σ(z))" if mixed else ""
            axes[1, column].set_xlabel(f"logit z{note}")
        else:
            note = " (losses on logits get log(p / (1 - p)))" if mixed else ""
            axes[1, column].set_xlabel(f"predicted probability p{note}")
    gradients = np.concatenate([g for per_loss in series for _, g in per_loss])
    if np.nanmax(np.abs(gradients), initial=0.0) > 50.0:  # -1/p near p = 0 would flatten every other curve
        axes[1, 0].set_yscale("symlog", linthresh=1.0)
    figure.suptitle(f"Loss value and gradient against the {axis}", fontsize=13)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 4), frameon=False)
    return figure
