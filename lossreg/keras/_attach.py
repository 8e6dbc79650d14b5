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
from lossreg._frozen import FIXED, freeze, thaw
from lossreg.keras._engine import BoundTerm, bind, float_dtype, loss_value, per_replica, term_labels
from lossreg.keras._first_batch import check_terms, first_batch, to_host
from lossreg.keras._graph import output_tensors, tensor_by_name
from lossreg.keras._logging import logged_sum, term_trackers
from lossreg.keras._weights import EpochCounter, TermWeights, weigh
from lossreg.spec import (
    Entry,
    ModelView,
    ParsedSpec,
    Problems,
    Term,
    check_extras,
    check_outputs,
    check_weights,
    parse,
)
from lossreg.spec._rules import check_tap
from lossreg.spec._targets import target_like

__all__ = ["AttachedModel", "attach"]


@dataclass(frozen=True)
class _Wired:
    """One spec term wired to tensors: what it reads, where its target comes from, how it is logged."""

    term: Term
    bound: BoundTerm  # the term built once: its label, weight, function, extras and checks
    target: str | None  # key of the target in fit's y; None for losses that need no target
    on: str | None  # tap holding y_pred
    inputs: Mapping[str, str]  # extra name -> tap name


def _symbolic(name: str, model: Any, path: str, what: str) -> Any:
    try:
        return tensor_by_name(model, name)
    except (KeyError, LossSpecError):
        check_tap(name, ModelView.of(model), path, what, Problems())  # the spec rule's error for this name
        raise


def _dry_run(wired: _Wired, model: Any, entry: Entry, key: str) -> None:
    """Run the term on symbolic tensors: shapes and missing pieces fail here, not inside TensorFlow.

    The stand-in target follows the loss's declaration (class ids: integers without the class axis).
    """
    y_pred = _symbolic(wired.on, model, entry.path, "output") if wired.on else None
    extras = {
        e: _symbolic(t, model, format_path(entry.path, ["inputs", e]), "layer or output")
        for e, t in wired.inputs.items()
    }
    y_true = None
    if y_pred is not None:
        shape, dtype = target_like(wired.bound.expects, tuple(y_pred.shape))
        y_true = keras.KerasTensor(shape, dtype=dtype)
    shapes = ", ".join(f"{k} {tuple(v.shape)}" for k, v in {"y_pred": y_pred, **extras}.items() if v is not None)
    try:
        wired.bound.check({"y_true": y_true, "y_pred": y_pred, **extras})  # the declaration says what the loss expects
        wired.bound.fn(y_true, y_pred, **extras)
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
            f"Loss {wired.term.loss!r} cannot be computed on these tensors ({shapes}; y_true "
            f"{tuple(y_true.shape) if y_true is not None else None}): {type(exc).__name__}: {exc}. Check the "
            "entry's 'on' and 'inputs'.",
            path=entry.path,
        ) from exc


def _default_on(parsed: ParsedSpec, key: Any, outputs: list[str]) -> str | None:
    """Where an entry's prediction is when it has no 'on': its list position's or key's output, or the only one."""
    if parsed.kind == "list":
        return outputs[key]
    if parsed.kind == "single":
        return outputs[0] if len(outputs) == 1 else None
    return key if key in outputs else None


def _wire(model: Any, spec: Any) -> tuple[list[_Wired], dict[str, Any]]:
    """Validate a spec against a model (the spec rules, then a dry run); return the wired terms and the spec data."""
    parsed = parse(spec)
    problems = Problems()
    check_weights(parsed, problems)
    check_outputs(parsed, ModelView.of(model), problems)
    outputs = list(output_tensors(model))
    wired: list[_Wired] = []
    canonical: dict[str, Any] = {}
    for key, entry in parsed.entries.items():
        known = {t.path: parsed.loss_defs[t.path] for t in entry.terms}  # parse looked each loss up once
        check_extras(entry, known, problems)
        on = entry.on if entry.on is not None else _default_on(parsed, key, outputs)
        name = str(key) if parsed.kind == "outputs" else (on or "loss")
        labels = term_labels(name, [t.loss for t in entry.terms])
        for term, label in zip(entry.terms, labels, strict=True):
            term_on = term.on if term.on is not None else on
            loss_def = known[term.path]
            bound = bind(
                term.loss, term.params, term.weight, path=term.path, label=label, loss_def=loss_def, varies=term.varies
            )
            taken = (*loss_def.extras, *(d for d in loss_def.dense_inputs if d == "mask" and d in entry.inputs))
            item = _Wired(term, bound, term_on, term_on, {e: entry.inputs[e] for e in taken})
            _dry_run(item, model, entry, name)
            wired.append(item)
        data: dict[str, Any] = {
            "loss": [
                {
                    "loss": t.loss,
                    "params": dict(t.params),
                    "weight": t.varies.as_spec() if t.varies is not None else t.weight,
                    **({"on": t.on} if t.on else {}),
                }
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
    ``<term>_weighted_loss`` (when the weight is not 1), ``<term>_weight`` (when it changes during training) and
    ``loss`` (the sum of weighted terms, plus any ``add_loss`` of the model's layers).

    ``spec`` is the spec as built, read-only: a loss's terms are fixed once built (use a schedule to change a
    weight during training).
    """

    def __init__(self, model: keras.Model, spec: Any, **kwargs: Any) -> None:
        kwargs.setdefault("name", f"{model.name}_lossreg")
        super().__init__(**kwargs)
        self._wired, spec = _wire(model, spec)
        self._spec = freeze(spec)
        self.inference_model = model
        needed = dict(output_tensors(model))
        for item in self._wired:
            for tap in ([item.on] if item.on else []) + list(item.inputs.values()):
                needed.setdefault(tap, tensor_by_name(model, tap))
        self.taps = keras.Model(model.input, needed, name=f"{model.name}_taps")
        changing = [w.bound.varies for w in self._wired]
        # the changing weights' state (step, epoch, learned weights): variables of this training model
        self.term_weights = (
            TermWeights(changing, [w.bound.label for w in self._wired], name="term_weights")
            if any(c is not None for c in changing)
            else None
        )
        self.term_trackers = term_trackers(
            (w.bound.label, w.bound.weight, w.bound.varies is not None) for w in self._wired
        )
        self.built = True

    @property
    def spec(self) -> Any:
        """The spec this model trains on, as built (read-only)."""
        return self._spec

    @spec.setter
    def spec(self, value: Any) -> None:
        raise TypeError(FIXED)

    def fit(self, *args: Any, callbacks: Any = None, check_first_batch: bool = True, **kwargs: Any) -> Any:
        """``keras.Model.fit``; with epoch-counted weights (epoch schedules, ``dwa``) it also counts the epochs.

        ``check_first_batch`` (default ``True``): before training, the first batch is read once and the model run
        on it eagerly, and every term's targets and predictions are checked with their values (``check_batch``);
        the compiled steps check only shapes. Off for data that cannot be read twice (a Python generator).
        """
        if len(args) > 5:  # fit(x, y, batch_size, epochs, verbose, callbacks, ...) positionally
            args, callbacks = args[:5] + args[6:], args[5]
        if check_first_batch:
            given = dict(zip(("x", "y", "batch_size"), args[:3], strict=False))
            given.update({k: kwargs[k] for k in ("x", "y", "batch_size", "sample_weight") if k in kwargs})
            batch = first_batch(given.get("x"), given.get("y"), given.get("sample_weight"), given.get("batch_size"))
            if batch is not None:
                self.check_batch(*batch)
        if self.term_weights is not None and self.term_weights.needs_epochs:
            # first: a checkpoint saved at an epoch's end then holds the weights the next epoch will use
            counter = EpochCounter([self.term_weights])
            if isinstance(callbacks, keras.callbacks.CallbackList):
                callbacks.callbacks.insert(0, counter)
            else:
                callbacks = [counter, *(callbacks or [])]
        return super().fit(*args, callbacks=callbacks, **kwargs)

    def train_on_batch(self, *args: Any, **kwargs: Any) -> Any:
        """``keras.Model.train_on_batch``; refused for epoch-counted weights, which only ``fit`` advances."""
        if self.term_weights is not None and self.term_weights.needs_epochs:
            raise LossSpecError(
                "This spec has epoch-counted weights (a schedule with 'unit': 'epoch', or 'dwa'), which advance at "
                "the end of each fit() epoch; train_on_batch() has no epochs, so they would stay at their first "
                "value. Train with fit(), or count the schedule in steps ('unit': 'step')."
            )
        return super().train_on_batch(*args, **kwargs)

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

    def _term_inputs(self, item: _Wired, y: Any, y_pred: Mapping[str, Any], sample_weight: Any) -> tuple[Any, ...]:
        """One term's target, tensors (``y_pred`` and extras, by name) and sample weight in a batch."""
        y_true = self._target(y, item.target) if item.target is not None else {}
        weights = sample_weight
        if isinstance(weights, Mapping):
            weights = weights.get(item.target) if item.target is not None else None
        elif item.target is None:
            weights = None
        tensors = {e: y_pred[t] for e, t in item.inputs.items()}
        if item.on:
            tensors["y_pred"] = y_pred[item.on]
        return y_true, tensors, weights

    def check_batch(self, x: Any, y: Any = None, sample_weight: Any = None) -> None:
        """Check one batch's values against every term's declaration, eagerly (what ``fit`` runs on its first batch).

        Raises:
            LossInputError: naming the term's spec path, what it expects and what the batch holds (targets out of
                range, NaN targets, logits given as probabilities or probabilities as logits, class ids out of range).
        """
        outputs = to_host(self.taps(x, training=False))
        y, sample_weight = to_host(y), to_host(sample_weight)
        check_terms([(item.bound, *self._term_inputs(item, y, outputs, sample_weight)[:2]) for item in self._wired])

    def compute_loss(
        self, x: Any = None, y: Any = None, y_pred: Any = None, sample_weight: Any = None, training: bool = True
    ) -> Any:
        batch = keras.ops.shape(keras.tree.flatten(x)[0])[0]
        if training and self.term_weights is not None:
            self.term_weights.advance()
        figures = []
        for i, item in enumerate(self._wired):
            term = item.bound
            y_true, tensors, weights = self._term_inputs(item, y, y_pred, sample_weight)
            mean = loss_value([term], y_true, tensors, weights, dtype=float_dtype(), name=term.loss, weighted=False)
            figures.append((mean, *weigh(self.term_weights, i, term.weight, mean), term.varies is not None))
        total = per_replica(logged_sum(self.term_trackers, figures, batch))  # trackers show the per-batch figure
        if self.losses:
            total = total + super().compute_loss(x=x, y=None, y_pred=y_pred, training=training)
        return total

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "trainable": self.trainable,
            "model": keras.saving.serialize_keras_object(self.inference_model),
            "spec": thaw(self._spec),
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

    Examples:
        >>> import keras, lossreg
        >>> inp = keras.Input((8,))
        >>> hidden = keras.layers.Dense(8, name="hidden")(inp)
        >>> out = keras.layers.Dense(8, activation="sigmoid", name="mask")(hidden)
        >>> train = lossreg.attach(keras.Model(inp, out), {
        ...     "mask": {"loss": "mse_bce", "inputs": {"aux": "hidden"}}})
        >>> train.compile(optimizer="adam")
    """
    return AttachedModel(model, spec)
