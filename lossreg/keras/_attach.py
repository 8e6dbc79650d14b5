"""``lossreg.attach``: train a model on a spec whose losses read other outputs and intermediate layers.

The returned ``AttachedModel`` wraps the user's model. Its forward pass returns every tensor the spec
names (outputs and layer outputs, by name); its ``compute_loss`` evaluates each spec term on those
tensors and the targets from ``fit(x, y)``, and logs every term through ``keras.metrics.Mean`` trackers.
The user's model is untouched and shares the weights, so it stays the inference model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import keras

from lossreg._errors import LossInputError, LossSpecError, did_you_mean, format_path
from lossreg._registry import REGISTRY
from lossreg._spec import Entry, Term, parse
from lossreg.keras._engine import bind, float_dtype, loss_value, per_replica
from lossreg.keras._graph import output_tensors, tap_names, tensor_by_name
from lossreg.keras._logging import logged_sum, safe_label, term_trackers

__all__ = ["AttachedModel", "attach"]


@dataclass(frozen=True)
class _Wired:
    """One spec term wired to tensors: what it reads, where its target comes from, how it is logged."""

    label: str
    term: Term
    target: str | None  # key of the target in fit's y; None for losses that need no target
    on: str | None  # tap holding y_pred
    inputs: Mapping[str, str]  # extra name -> tap name


def _unknown_name(name: str, model: Any, path: str, what: str) -> LossSpecError:
    outputs, layers = tap_names(model)
    return LossSpecError(
        f"Unknown {what} {name!r}.{did_you_mean(name, outputs + layers)} The model's outputs are: "
        f"{', '.join(outputs)}; its layers: {', '.join(layers)}.",
        path=path,
    )


def _symbolic(name: str, model: Any, path: str, what: str) -> Any:
    try:
        return tensor_by_name(model, name)
    except KeyError:
        raise _unknown_name(name, model, path, what) from None
    except LossSpecError as exc:
        if exc.path is not None:
            raise
        raise LossSpecError(str(exc), path=path) from None


def _dry_run(wired: _Wired, model: Any, entry: Entry, key: str) -> None:
    """Run the term on symbolic tensors: shapes and missing pieces fail here, not inside TensorFlow."""
    fn = REGISTRY.build(wired.term.loss, wired.term.params, path=wired.term.path)
    factory = REGISTRY.factory(wired.term.loss)
    y_pred = _symbolic(wired.on, model, entry.path, "output") if wired.on else None
    extras = {
        e: _symbolic(t, model, format_path(entry.path, ["inputs", e]), "layer or output")
        for e, t in wired.inputs.items()
    }
    if y_pred is not None and not getattr(factory, "labels_like_predictions", True):
        return  # sparse labels and the like: the target's shape cannot be guessed from the prediction
    y_true = keras.KerasTensor(y_pred.shape, dtype="float32") if y_pred is not None else None
    shapes = ", ".join(f"{k} {tuple(v.shape)}" for k, v in {"y_pred": y_pred, **extras}.items() if v is not None)
    check = REGISTRY.input_check(wired.term.loss, wired.term.params)
    try:
        check({"y_true": y_true, "y_pred": y_pred, **extras})  # the declaration first: it says what the loss expects
        fn(y_true, y_pred, **extras)
    except LossInputError as exc:
        raise LossInputError(str(exc), path=entry.path) from exc
    except Exception as exc:
        if y_pred is None:
            raise LossSpecError(
                f"Loss {wired.term.loss!r} needs a target and a prediction, but this entry has none: its key is not "
                "a model output and it has no 'on'. Name an output as the key or set 'on': '<output name>'."
                + did_you_mean(key, output_tensors(model)),
                path=entry.path,
            ) from exc
        raise LossInputError(
            f"Loss {wired.term.loss!r} cannot be computed on these tensors ({shapes}; y_true shaped like "
            f"y_pred): {type(exc).__name__}: {exc}. Check the entry's 'on' and 'inputs'.",
            path=entry.path,
        ) from exc


def _wire(model: Any, spec: Any) -> tuple[list[_Wired], dict[str, Any]]:
    """Validate a spec against a model; return the wired terms and the canonical spec data."""
    parsed = parse(spec)
    outputs = list(output_tensors(model))
    wired: list[_Wired] = []
    canonical: dict[str, Any] = {}
    for key, entry in parsed.entries.items():
        if parsed.kind == "list":
            if key >= len(outputs):
                raise LossSpecError(
                    f"The spec list has {len(parsed.entries)} entries but the model has {len(outputs)} outputs "
                    f"({', '.join(outputs)}).",
                    path=entry.path,
                )
            default_on: str | None = outputs[key]
        elif parsed.kind == "single":
            default_on = outputs[0] if len(outputs) == 1 else None
            if default_on is None and entry.on is None and any(t.on is None for t in entry.terms):
                raise LossSpecError(
                    f"The model has {len(outputs)} outputs ({', '.join(outputs)}); say which one this loss is on "
                    "with 'on', or give one entry per output.",
                    path=entry.path,
                )
        else:
            default_on = key if key in outputs else None
        on = entry.on if entry.on is not None else default_on
        name = str(key) if parsed.kind == "outputs" else (on or "loss")
        if on is not None:
            _symbolic(on, model, format_path(entry.path, ["on"]) if entry.on else entry.path, "output")
        taken = {e for t in entry.terms for e in REGISTRY.extras(t.loss, path=t.path)}
        for extra in entry.inputs:
            if extra not in taken:
                takes = ", ".join(sorted(taken)) or "no extra tensors"
                raise LossSpecError(
                    f"Extra {extra!r} is not taken by any loss of this entry "
                    f"({', '.join(repr(t.loss) for t in entry.terms)} take(s) {takes}).{did_you_mean(extra, taken)}",
                    path=format_path(entry.path, ["inputs", extra]),
                )
        seen: dict[str, int] = {}
        for term in entry.terms:
            missing = [e for e in REGISTRY.extras(term.loss, path=term.path) if e not in entry.inputs]
            if missing:
                raise LossSpecError(
                    f"Loss {term.loss!r} needs the extra tensor(s) {', '.join(map(repr, missing))}. Add "
                    "'inputs': {" + ", ".join(f"{e!r}: '<layer or output name>'" for e in missing) + "}.",
                    path=entry.path,
                )
            label = name if len(entry.terms) == 1 else f"{name}_{term.loss}"
            seen[label] = seen.get(label, 0) + 1
            if seen[label] > 1:
                label = f"{label}_{seen[label]}"
            term_on = term.on if term.on is not None else on
            if term.on is not None:
                _symbolic(term.on, model, format_path(term.path, ["on"]), "output")
            item = _Wired(
                safe_label(label),
                term,
                term_on,
                term_on,
                {e: entry.inputs[e] for e in REGISTRY.extras(term.loss, path=term.path)},
            )
            _dry_run(item, model, entry, name)
            wired.append(item)
        data: dict[str, Any] = {
            "loss": [
                {"loss": t.loss, "params": dict(t.params), "weight": t.weight, **({"on": t.on} if t.on else {})}
                for t in entry.terms
            ]
        }
        if on is not None and on != name:
            data["on"] = on
        if entry.inputs:
            data["inputs"] = dict(entry.inputs)
        canonical[name] = data
    return wired, canonical


@keras.saving.register_keras_serializable(package="lossreg")
class AttachedModel(keras.Model):
    """A training model for ``model`` whose loss is a lossreg spec over any outputs and layers.

    Build it with :func:`attach`. ``compile`` takes the optimizer (and metrics) but no loss; ``fit`` and
    ``evaluate`` take targets keyed by output name, as usual. Logged: ``<term>_loss`` (unweighted),
    ``<term>_weighted_loss`` (when the weight is not 1) and ``loss`` (the sum of weighted terms, plus any
    ``add_loss`` of the model's layers).
    """

    def __init__(self, model: keras.Model, spec: Any, **kwargs: Any) -> None:
        kwargs.setdefault("name", f"{model.name}_lossreg")
        super().__init__(**kwargs)
        self._wired, self.spec = _wire(model, spec)
        self.inference_model = model
        needed = dict(output_tensors(model))
        for item in self._wired:
            for tap in ([item.on] if item.on else []) + list(item.inputs.values()):
                needed.setdefault(tap, tensor_by_name(model, tap))
        self.taps = keras.Model(model.input, needed, name=f"{model.name}_taps")
        self._bound = [
            bind(w.term.loss, w.term.params, w.term.weight, path=w.term.path, label=w.label) for w in self._wired
        ]
        self.term_trackers = term_trackers((b.label, b.weight) for b in self._bound)
        self.built = True

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        return self.taps(inputs, training=training)

    def compile(self, optimizer: Any = "rmsprop", loss: Any = None, loss_weights: Any = None, **kwargs: Any) -> None:
        """Configure training; the loss comes from the spec given to :func:`attach`."""
        if loss is not None or loss_weights is not None:
            raise LossSpecError(
                "This model's loss is the spec given to lossreg.attach(); compile() takes no `loss` or "
                "`loss_weights`. Put weights in the spec ('weight': 2.0) and call compile(optimizer=...)."
            )
        super().compile(optimizer=optimizer, **kwargs)

    def compile_from_config(self, config: dict[str, Any]) -> None:
        """Re-compile after ``load_model`` (Keras skips this for models that override ``compile``)."""
        config = keras.saving.deserialize_keras_object(config)
        config.pop("loss", None)
        config.pop("loss_weights", None)
        self.compile(**config)
        if getattr(self, "optimizer", None) is not None and self.built:
            self.optimizer.build(self.trainable_variables)  # so that the saved optimizer state loads

    def _target(self, y: Any, key: str) -> Any:
        if isinstance(y, Mapping):
            if key not in y:
                raise LossInputError(
                    f"No target for {key!r}: fit()/evaluate() received y with keys {sorted(y)}. Pass "
                    f"y={{{key!r}: ..., ...}}."
                )
            return y[key]
        targets = sorted({w.target for w in self._wired if w.target is not None})
        if isinstance(y, list | tuple):
            outputs = list(output_tensors(self.inference_model))
            if len(y) == len(outputs) and key in outputs:
                return y[outputs.index(key)]
        elif len(targets) == 1:
            return y
        raise LossInputError(
            f"Cannot tell which target is {key!r}: this spec needs targets for {targets}. Pass y as a dict keyed "
            "by those names."
        )

    def compute_loss(
        self, x: Any = None, y: Any = None, y_pred: Any = None, sample_weight: Any = None, training: bool = True
    ) -> Any:
        batch = keras.ops.shape(keras.tree.flatten(x)[0])[0]
        means = []
        for item, term in zip(self._wired, self._bound, strict=True):
            y_true = self._target(y, item.target) if item.target is not None else {}
            weights = sample_weight
            if isinstance(weights, Mapping):
                weights = weights.get(item.target) if item.target is not None else None
            elif item.target is None:
                weights = None
            tensors = {e: y_pred[t] for e, t in item.inputs.items()}
            if item.on:
                tensors["y_pred"] = y_pred[item.on]
            mean = loss_value([term], y_true, tensors, weights, dtype=float_dtype(), name=term.loss, weighted=False)
            means.append((term.weight, mean))
        total = per_replica(logged_sum(self.term_trackers, means, batch))  # trackers show the per-batch figure
        if self.losses:
            total = total + super().compute_loss(x=x, y=None, y_pred=y_pred, training=training)
        return total

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "trainable": self.trainable,
            "model": keras.saving.serialize_keras_object(self.inference_model),
            "spec": self.spec,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: Any = None) -> AttachedModel:
        config = dict(config)
        model = keras.saving.deserialize_keras_object(config.pop("model"), custom_objects=custom_objects)
        return cls(model, **config)


def attach(model: keras.Model, spec: Any) -> AttachedModel:
    """A model that trains ``model`` on ``spec``, where losses may read any output or intermediate layer.

    Spec entries are as for :func:`lossreg.resolve`, plus two keys:

    - ``on``: the output (or layer) holding the prediction and naming the target in ``fit``'s ``y``.
      It defaults to the entry's key when that is an output name; an entry with neither has no
      target (e.g. ``vae_kl``).
    - ``inputs``: ``{extra name: output or layer name}`` — the extra tensors the loss takes.

    Args:
        model: a functional or Sequential Keras model; it stays the inference model, sharing weights.
        spec: a spec (data or a path to a spec file).

    Returns:
        An :class:`AttachedModel`: ``compile(optimizer=...)`` then ``fit(x, y)``.

    Raises:
        LossSpecError: at once, before any graph is built, for unknown names, extras a loss does not take,
            missing extras, or tensors whose shapes the loss cannot take.

    Example:
        >>> import keras, lossreg
        >>> inp = keras.Input((8,))
        >>> hidden = keras.layers.Dense(8, name="hidden")(inp)
        >>> out = keras.layers.Dense(8, activation="sigmoid", name="mask")(hidden)
        >>> train = lossreg.attach(keras.Model(inp, out), {
        ...     "mask": {"loss": "mse_bce", "inputs": {"aux": "hidden"}}})
        >>> train.compile(optimizer="adam")
    """
    return AttachedModel(model, spec)
