"""The Keras adapter: every registered loss as a serializable ``keras.losses.Loss``; ``get`` and ``resolve``.

One class serves every loss, built-in or plugin: its config is the list of terms (registered name,
parameters, weight), so a compiled model saved to ``.keras`` reloads after ``import lossreg`` with
``safe_mode=True`` and no ``custom_objects``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import keras

from lossreg._errors import LossSpecError, short_repr
from lossreg._frozen import FIXED, freeze, thaw
from lossreg.keras._engine import bind, loss_value, weighted_values
from lossreg.keras._logging import safe_label
from lossreg.spec import Entry, ModelView, ParsedSpec, Problems, check_compilable, check_outputs, parse, read_terms

__all__ = ["RegisteredLoss", "get", "loss_for_entry", "resolve"]


def _weight_text(weight: float) -> str:
    return f"{weight:g}"


def default_name(terms: Sequence[Mapping[str, Any]]) -> str:
    """A name that says what the loss is: ``softmax_ce``, ``2x_softmax_ce``, ``a_plus_0.5x_b``."""
    parts = []
    for term in terms:
        name = safe_label(term["loss"])
        weight = float(term.get("weight", 1.0))
        parts.append(name if weight == 1.0 else f"{_weight_text(weight)}x_{name}")
    return "_plus_".join(parts)


@keras.saving.register_keras_serializable(package="lossreg")
class RegisteredLoss(keras.losses.Loss):
    """A weighted sum of registered losses as one Keras ``Loss``.

    Args:
        terms: ``[{"loss": name, "params": {...}, "weight": w}, ...]``; ``params`` and ``weight``
            (default 1.0) are optional.
        name: the loss name; by default built from the terms (``"softmax_ce_plus_0.5x_sigmoid_dice"``).
        reduction: as for ``keras.losses.Loss``.
        dtype: the dtype of the returned value. Half precision (``"float16"``, ``"bfloat16"``) is computed
            and reduced in float32 and only the result is cast: Keras would sum the per-element values in
            float16, which overflows past 65504.

    Every call first checks the tensors against each loss's declared shapes, targets and logits
    (``lossreg.register(..., shapes=...)``), raising ``lossreg.LossInputError`` that names the loss and the
    spec path. As Keras' own losses do, targets one rank off the predictions with a trailing axis of 1
    (``(batch,)`` against ``(batch, 1)``) are brought to the same rank.

    A mask Keras attached to ``y_pred`` (``Embedding(mask_zero=True)`` and the layers after it) weights the
    values exactly as in Keras' own losses: padded steps count for nothing.

    ``y_pred`` may be a dict ``{"y_pred": tensor, "<extra>": tensor, ...}`` for losses that take extras
    (without ``"y_pred"`` for losses that need none), and ``y_true`` may be ``{}`` for losses that need
    no target, such as ``vae_kl``.

    Examples:
        >>> import lossreg
        >>> loss = lossreg.RegisteredLoss([{"loss": "mse"}, {"loss": "mae", "weight": 0.5}])
        >>> loss.name, float(loss([[1.0]], [[3.0]]))
        ('mse_plus_0.5x_mae', 5.0)
    """

    def __init__(
        self,
        terms: Sequence[Mapping[str, Any]],
        name: str | None = None,
        reduction: str | None = "sum_over_batch_size",
        dtype: Any = None,
        *,
        _paths: Sequence[str | None] | None = None,
        _defs: Sequence[Any] | None = None,
    ) -> None:
        read = read_terms(terms) if _paths is None else None  # a saved config is untrusted: the spec grammar
        # errors name the spec paths given, or the config path of a saved term (terms[0])
        build_paths = list(_paths) if _paths is not None else [t.path for t in read or ()]
        given = (
            [{"loss": t.loss, "params": dict(t.params), "weight": t.weight} for t in read]
            if read is not None
            else [
                {"loss": t["loss"], "params": dict(t.get("params") or {}), "weight": float(t.get("weight", 1.0))}
                for t in terms
            ]
        )
        defs = list(_defs) if _defs is not None else [None] * len(given)  # looked up by the spec's rules
        self._bound = [  # binding checks the parameters (before anything else walks them)
            bind(t["loss"], t["params"], t["weight"], path=p, loss_def=d)
            for t, p, d in zip(given, build_paths, defs, strict=True)
        ]
        # read-only: an edit after construction would not reach the built terms but would be saved
        self._terms: tuple[Mapping[str, Any], ...] = freeze(given)
        compute = keras.dtype_policies.get(dtype or keras.backend.floatx()).compute_dtype
        self._result_dtype = compute if compute in ("float16", "bfloat16") else None
        super().__init__(
            name=name or default_name(self._terms),
            reduction=reduction,
            dtype="float32" if self._result_dtype else dtype,
        )

    @property
    def terms(self) -> tuple[Mapping[str, Any], ...]:
        """The terms as built, read-only (``{"loss", "params", "weight"}`` each)."""
        return self._terms

    @terms.setter
    def terms(self, value: Any) -> None:
        raise TypeError(FIXED)

    @property
    def extras(self) -> tuple[str, ...]:
        """Every extra tensor name the terms take, in order of first use."""
        return tuple(dict.fromkeys(e for term in self._bound for e in term.extras))

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Any:
        """As ``keras.losses.Loss.__call__`` (Keras' mask on ``y_pred`` included); a per-sample weight
        ``(batch,)`` also weights per-element losses.

        Keras only broadcasts a ``(batch,)`` weight over values shaped ``(batch, 1)``: on a per-element loss
        ``(batch, d, ...)`` it would fail, or weight columns when ``batch == d``. Such a weight is applied
        to each sample's rows here instead.
        """
        with keras.name_scope(self.name):
            value = loss_value(
                self._bound,
                y_true,
                y_pred,
                sample_weight,
                reduction=self.reduction,
                dtype=self.dtype,
                name=self.name,
                scale=True,
            )
        return value if self._result_dtype is None else keras.ops.cast(value, self._result_dtype)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        """The weighted sum of the terms, per sample or per element (the engine's ``weighted_values``)."""
        return weighted_values(self._bound, y_true, y_pred)[0]

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["terms"] = thaw(self._terms)
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> RegisteredLoss:
        """The loss a saved config describes; its terms are read by the spec grammar (a saved file is untrusted)."""
        if not isinstance(config, Mapping) or "terms" not in config:
            raise LossSpecError(
                "A saved RegisteredLoss config needs 'terms', a list like [{'loss': 'mse'}]; received "
                f"{short_repr(config)}.",
                path="config",
            )
        return super().from_config(dict(config))


def get(name: str, **params: Any) -> RegisteredLoss:
    """A registered loss, with ``params``, as a ``keras.losses.Loss``.

    Args:
        name: a registered loss name (``lossreg.names()`` lists them).
        **params: the loss's parameters (``lossreg.describe(name).params``).

    Examples:
        >>> import lossreg
        >>> loss = lossreg.get("sigmoid_focal", gamma=3.0)
        >>> loss.name
        'sigmoid_focal'
    """
    return RegisteredLoss([{"loss": name, "params": params}], _paths=[f"lossreg.get({name!r})"])


def loss_for_entry(entry: Entry, loss_defs: Mapping[str, Any]) -> RegisteredLoss:
    """The ``RegisteredLoss`` for one parsed spec entry, from the ``LossDef`` each term was found as."""
    terms = [{"loss": t.loss, "params": dict(t.params), "weight": t.weight} for t in entry.terms]
    paths = [t.path for t in entry.terms]
    return RegisteredLoss(terms, _paths=paths, _defs=[loss_defs[t.path] for t in entry.terms])


def _check_outputs(parsed: ParsedSpec, model: Any) -> None:
    """Output names (dict spec) or the number of outputs (list spec) checked against ``model`` (the spec rules)."""
    view = ModelView.of(model)
    if view.outputs:
        check_outputs(parsed, view, Problems(), single_needs_on=False)


def resolve(spec: Any, *, model: Any = None) -> Any:
    """Turn a spec into what ``model.compile(loss=...)`` takes, weights included.

    Args:
        spec: a loss name, an entry ``{"loss": ..., "params": ..., "weight": ...}``, a mapping of output
            names to entries, a list of entries (one per output), or a path to a JSON/TOML/YAML file of
            any of those.
        model: optional; when given, output names in the spec (or the length of a list spec) are checked
            against the model's outputs.

    Returns:
        One ``keras.losses.Loss`` for a single entry, a ``dict`` by output name, or a ``list`` by
        output position. A weight is folded into its loss, so no ``loss_weights`` is needed (Keras then
        logs ``<output>_loss`` weighted).

    Raises:
        LossSpecError: naming the spec path, for any malformed spec, unknown name or bad parameter.

    Examples:
        >>> import lossreg
        >>> losses = lossreg.resolve({"a": "mse", "b": {"loss": "softmax_ce", "weight": 2.0}})
        >>> {k: v.name for k, v in losses.items()}
        {'a': 'mse', 'b': '2x_softmax_ce'}
    """
    parsed: ParsedSpec = parse(spec)
    if model is not None:
        _check_outputs(parsed, model)
    losses = {}
    for key, entry in parsed.entries.items():
        check_compilable(entry, parsed.loss_defs, Problems())
        losses[key] = loss_for_entry(entry, parsed.loss_defs)
    if parsed.kind == "single":
        return losses[None]
    if parsed.kind == "list":
        return [losses[i] for i in range(len(losses))]
    return losses
