"""``lossreg.LossLayer``: a registered loss as a serializable layer, for hand-built graphs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import keras

from lossreg._errors import LossInputError
from lossreg._frozen import FIXED, freeze, thaw
from lossreg.keras._engine import bind, float_dtype, loss_value, term_labels
from lossreg.keras._logging import LayerMean, logged_sum, term_trackers
from lossreg.keras._weights import TermWeights, weigh
from lossreg.spec import Problems, check_weights, parse

__all__ = ["LossLayer"]


@keras.saving.register_keras_serializable(package="lossreg")
class LossLayer(keras.layers.Layer):
    """Adds a registered loss over tensors of the graph with ``add_loss``, logs it, and passes ``y_pred`` on.

    The loss is added as the per-replica mean (Keras divides ``add_loss`` values by the number of
    replicas under ``tf.distribute``), and logged as ``<name>_loss`` (unweighted) and, when the weight
    is not 1, ``<name>_weighted_loss``, where ``<name>`` is the layer name without a trailing ``_loss``;
    a list of terms logs ``<name>_<loss>_loss`` for each. A weight that changes logs ``<name>_weight`` too.

    Args:
        loss: a registered loss name, or a list of terms as in a spec (``[{"loss": ..., "weight": ...}]``).
        params: the loss's parameters (with a single name).
        weight: multiplies the whole loss: a number, a step-counted schedule
            (``{"schedule": "linear", "steps": 2000}``) or ``{"learned": "uncertainty"}``. Its state (the step,
            the learned log-variance) is this layer's, saved with the model. Epoch-counted schedules and ``dwa``
            need ``lossreg.attach``, which sees ``fit``'s epochs.
        **kwargs: Keras layer arguments (``name``, ...).

    Call it on ``[y_true, *extras, y_pred]`` (extras in the order the loss declares them), on
    ``[*extras]`` for a loss that needs no target, or on a dict ``{"y_true": ..., "y_pred": ..., extra: ...}``.
    It returns ``y_pred`` unchanged (the loss value when there is no ``y_pred``).

    Example (seed 004: a target, an intermediate layer and the output):
        >>> import keras, lossreg
        >>> image, target = keras.Input((8, 8, 3)), keras.Input((8, 8, 1), name="target")
        >>> deconv1 = keras.layers.Conv2D(1, 3, padding="same", name="deconv1")(image)
        >>> output = keras.layers.Conv2D(1, 1, activation="sigmoid")(deconv1)
        >>> output = lossreg.LossLayer("mse_bce", name="complex_loss")([target, deconv1, output])
        >>> model = keras.Model([image, target], output)
        >>> model.compile(optimizer="adam")        # the loss comes from the layer
    """

    def __init__(
        self,
        loss: str | Sequence[Any],
        params: Mapping[str, Any] | None = None,
        weight: float = 1.0,
        **kwargs: Any,
    ) -> None:
        # no autocast: under mixed precision Keras would hand `call` float16 copies of the float32 running sums,
        # and their updates would be lost (the loss itself is computed in float32 whatever the policy)
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        entry: dict[str, Any] = {"loss": loss if isinstance(loss, str) else list(loss), "weight": weight}
        if params:
            entry["params"] = dict(params)
        parsed = parse(entry, root=f"LossLayer(name={self.name!r})")
        check_weights(parsed, Problems(), epochs=False)
        self._terms = tuple(parsed.entries[None].terms)
        # the arguments as given, copied and read-only: what get_config saves is what the layer computes
        self._loss_arg, self._params_arg, self._weight_arg = freeze(loss), freeze(dict(params or {})), freeze(weight)
        base = self.name.removesuffix("_loss")  # a layer called "complex_loss" logs "complex_loss"
        labels = term_labels(base, [t.loss for t in self._terms])
        self._bound = [
            bind(t.loss, t.params, t.weight, path=t.path, label=lb, loss_def=parsed.loss_defs[t.path], varies=t.varies)
            for t, lb in zip(self._terms, labels, strict=True)
        ]
        self.extras = tuple(dict.fromkeys(e for b in self._bound for e in b.extras))
        changing = [b.varies for b in self._bound]
        # the changing weights' state: a sublayer, so its variables are saved (the running means below are not)
        self.term_weights = (
            TermWeights(changing, [b.label for b in self._bound], name=f"{self.name}_weights")
            if any(c is not None for c in changing)
            else None
        )
        # running means kept as this layer's state: a metric updated in `call` fails on JAX (keras#21639)
        self.term_trackers = term_trackers(
            ((b.label, b.weight, b.varies is not None) for b in self._bound), make=LayerMean
        )
        self._running = [v for tracker in self.term_trackers for v in tracker.state]
        self.supports_masking = True  # y_pred's mask is applied to the loss and passed on with y_pred
        self.built = True

    @property
    def terms(self) -> tuple[Any, ...]:
        """The terms as built (read-only)."""
        return self._terms

    @terms.setter
    def terms(self, value: Any) -> None:
        raise TypeError(FIXED)

    def _split(self, inputs: Any) -> tuple[Any, Any, dict[str, Any]]:
        if isinstance(inputs, Mapping):
            optional = ["mask"] if any("mask" in b.dense_inputs for b in self._bound) else []
            unknown = set(inputs) - {"y_true", "y_pred", *self.extras, *optional}
            missing = [e for e in self.extras if e not in inputs]
            if unknown or missing:
                raise LossInputError(
                    f"LossLayer {self.name!r} takes keys 'y_true', 'y_pred' and {list(self.extras) + optional}; "
                    f"received {sorted(inputs)}" + (f", missing {missing}" if missing else "") + "."
                )
            taken = [*self.extras, *(k for k in optional if k in inputs)]
            return inputs.get("y_true"), inputs.get("y_pred"), {e: inputs[e] for e in taken}
        items = list(inputs) if isinstance(inputs, list | tuple) else [inputs]
        n = len(self.extras)
        if len(items) == n + 2:
            return items[0], items[-1], dict(zip(self.extras, items[1:-1], strict=True))
        if len(items) == n and n:
            return None, None, dict(zip(self.extras, items, strict=True))
        order = ", ".join(["y_true", *self.extras, "y_pred"])
        raise LossInputError(
            f"LossLayer {self.name!r} ({', '.join(t.loss for t in self.terms)}) expects [{order}]"
            + (f" or [{', '.join(self.extras)}]" if n else "")
            + f"; received {len(items)} tensor(s). Or pass a dict keyed by those names."
        )

    def call(self, inputs: Any, mask: Any = None, training: bool | None = None) -> Any:
        y_true, y_pred, extras = self._split(inputs)
        y_pred_mask = self._split(mask)[1] if mask is not None else None
        batch = keras.ops.shape(keras.tree.flatten(inputs)[0])[0]
        tensors = dict(extras) if y_pred is None else {"y_pred": y_pred, **extras}
        y_true = {} if y_true is None else y_true
        if training and self.term_weights is not None:
            self.term_weights.advance()
        figures = []
        for i, b in enumerate(self._bound):  # each the per-replica mean: Keras divides add_loss values by replicas
            own = {k: v for k, v in tensors.items() if k != "mask" or "mask" in b.dense_inputs}
            mean = loss_value([b], y_true, own, dtype=float_dtype(), name=b.loss, mask=y_pred_mask, weighted=False)
            figures.append((mean, *weigh(self.term_weights, i, b.weight, mean), b.varies is not None))
        total = logged_sum(self.term_trackers, figures, batch)
        self.add_loss(total)
        return y_pred if y_pred is not None else total

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        """The mask of ``y_pred``, which the layer passes on."""
        if mask is None or self._split(inputs)[1] is None:
            return None
        return self._split(mask)[1]

    def compute_output_spec(self, inputs: Any, mask: Any = None) -> Any:
        _, y_pred, _ = self._split(inputs)
        if y_pred is not None:
            return keras.KerasTensor(y_pred.shape, dtype=y_pred.dtype)
        return keras.KerasTensor((), dtype="float32")

    def save_own_variables(self, store: Any) -> None:
        """Save nothing: the layer's only variables are its logged running means, reset by every fit."""

    def load_own_variables(self, store: Any) -> None:
        """Load nothing (files saved before 0.4.0 hold no variables for this layer either)."""

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> LossLayer:
        """The layer a saved config describes. A bad loss, parameter or weight in it raises lossreg's
        ``LossSpecError`` (Keras' own ``from_config`` would wrap it in a ``TypeError``)."""
        config = dict(config)
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = keras.dtype_policies.deserialize(config["dtype"])
        return cls(**config)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(loss=thaw(self._loss_arg), params=thaw(self._params_arg), weight=thaw(self._weight_arg))
        return config
