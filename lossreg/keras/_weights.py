"""Weights that change during training, as model state: the step and epoch counters, learned weights.

A :class:`TermWeights` layer belongs to the model or layer that computes the loss (``AttachedModel``,
``LossLayer``), so its variables are the training model's on every backend: trained by its optimizer (learned
weights), carried through compiled and distributed steps, and saved in ``.keras`` (a reloaded model continues
at its saved step). :func:`weigh` is the one place a term's unweighted mean becomes its weighted contribution:

- constant ``c``: ``c * L``;
- schedule: ``schedule(t) * L`` (``lossreg.keras._schedules``);
- ``uncertainty`` (Kendall, Gal & Cipolla 2018, in the log-variance form the paper trains, ``s := log sigma^2``,
  which "avoids any division by zero"): ``c * exp(-s) * L + s``,
  ``s = log(sigma^2)`` a trainable variable (init 0: weight 1). Its optimum for a fixed ``L`` is
  ``exp(-s) = 1 / (c * L)``. ``min_weight``/``max_weight`` bound ``exp(-s)``: the optimizer projects ``s`` back
  after each update (Keras' variable constraint), so a task whose loss reaches 0 cannot drive its weight to
  infinity. The paper's regression form ``L / (2 sigma^2) + log(sigma)`` is half of this
  (the same optimum); it is not offered separately;
- ``dwa`` (Liu, Johns & Davison 2019): ``c * w_k * L`` with ``w_k = K exp(r_k / T) / sum_i exp(r_i / T)``,
  ``r_k = L_k(e - 1) / L_k(e - 2)`` from the logged per-epoch mean losses, ``K`` the number of dwa terms; ``w_k = 1``
  for the first two epochs. Set after each epoch by :class:`EpochCounter`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import keras

from lossreg.keras._schedules import schedule_at
from lossreg.spec import Changing, Learned, Schedule

__all__ = ["EpochCounter", "TermWeights", "weigh"]


def _state(value: float, name: str, *, trainable: bool = False) -> keras.Variable:
    """A float32 scalar variable; non-trainable ones are per-replica copies that replicas keep equal (no sync in
    the step) and that read, save and assign as the first replica's."""
    if trainable:
        return keras.Variable(value, dtype="float32", trainable=True, name=name)
    return keras.Variable(
        value,
        dtype="float32",
        trainable=False,
        aggregation="only_first_replica",
        synchronization="on_read",
        name=name,
    )


def _log_variance_bounds(c: Learned) -> Any:
    """The projection the optimizer applies to ``s`` after each update so that ``exp(-s)`` (the weight before
    ``scale``) stays within ``[min_weight, max_weight]``; ``None`` when unbounded."""
    low_weight, high_weight = c.params.get("min_weight"), c.params.get("max_weight")
    if low_weight is None and high_weight is None:
        return None
    low = -math.log(high_weight) if high_weight is not None else -math.inf
    high = -math.log(low_weight) if low_weight else math.inf

    def project(s: Any) -> Any:
        return keras.ops.clip(s, low, high)

    return project


class TermWeights(keras.layers.Layer):
    """The state of the changing weights of one loss's terms (``None`` entries are constant terms).

    Args:
        changing: per term, its ``Schedule``/``Learned`` weight or ``None``.
        labels: per term, its log label (names the variables).
    """

    def __init__(self, changing: Sequence[Changing | None], labels: Sequence[str], **kwargs: Any) -> None:
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        self.changing = tuple(changing)
        self.labels = tuple(labels)
        self.needs_epochs = any(
            (isinstance(c, Schedule) and c.unit == "epoch") or (isinstance(c, Learned) and c.needs_epochs)
            for c in self.changing
        )
        self.learned: dict[int, keras.Variable] = {}
        self.dwa_last: dict[int, keras.Variable] = {}
        # in the layer's name scope (as add_weight, which has no `synchronization`): paths like term_weights/step,
        # distinct for each owner in one model
        with keras.name_scope(self.name, caller=self):
            self.step = _state(0.0, "step")  # training batches so far (the current one included while it runs)
            self.epoch = _state(0.0, "epoch") if self.needs_epochs else None
            for i, (c, label) in enumerate(zip(self.changing, self.labels, strict=True)):
                if isinstance(c, Learned) and c.method == "uncertainty":
                    self.learned[i] = _state(c.params["init"], f"{label}_log_variance", trainable=c.params["trainable"])
                    self.learned[i].constraint = _log_variance_bounds(c)
                elif isinstance(c, Learned) and c.method == "dwa":
                    self.learned[i] = _state(1.0, f"{label}_dwa_weight")
                    self.dwa_last[i] = _state(0.0, f"{label}_dwa_last_loss")
        self.built = True

    def advance(self) -> None:
        """Count one training batch (called once per training step, before the weights are read)."""
        self.step.assign_add(1.0)

    def current(self, i: int) -> Any:
        """Term ``i``'s weight now (its factor on the term's loss, ``scale`` included), as a float32 scalar."""
        c = self.changing[i]
        if isinstance(c, Schedule):
            return schedule_at(c, self.epoch if c.unit == "epoch" else self.step)
        assert isinstance(c, Learned)
        value = self.learned[i]
        factor = keras.ops.exp(-value) if c.method == "uncertainty" else keras.ops.convert_to_tensor(value)
        return factor * c.scale if c.scale != 1.0 else factor

    def regularizer(self, i: int) -> Any:
        """What term ``i`` adds besides its weighted loss: ``s`` for uncertainty weighting, else ``None``."""
        c = self.changing[i]
        if isinstance(c, Learned) and c.method == "uncertainty":
            return keras.ops.convert_to_tensor(self.learned[i])
        return None

    def dwa_update(self, losses: dict[int, float], temperature: float) -> None:
        """After an epoch: set the dwa weights from the epoch's mean losses ``{term: L_k(e)}`` (outside the step)."""
        last = {i: float(keras.ops.convert_to_numpy(self.dwa_last[i])) for i in losses}
        if all(v > 0 and math.isfinite(v) for v in last.values()) and all(math.isfinite(v) for v in losses.values()):
            ratios = {i: losses[i] / last[i] for i in losses}
            top = max(ratios.values()) / temperature  # softmax with the max subtracted: no overflow
            exps = {i: math.exp(r / temperature - top) for i, r in ratios.items()}
            total = sum(exps.values())
            for i, e in exps.items():
                self.learned[i].assign(len(exps) * e / total)
        for i, loss in losses.items():
            self.dwa_last[i].assign(loss)

    def get_config(self) -> dict[str, Any]:  # built by its owner from the owner's config, never on its own
        raise NotImplementedError("TermWeights is rebuilt by the model or layer that owns it.")


def weigh(weights: TermWeights | None, i: int, constant: float, mean: Any) -> tuple[Any, Any]:
    """Term ``i``'s ``(weight, weighted contribution)`` from its unweighted mean; the one weighting rule.

    ``constant`` is the term's constant weight (used when it has no changing weight).
    """
    if weights is None or weights.changing[i] is None:
        return constant, mean if constant == 1.0 else mean * constant
    weight = keras.ops.cast(weights.current(i), mean.dtype)
    weighted = mean * weight
    extra = weights.regularizer(i)
    return weight, weighted if extra is None else weighted + keras.ops.cast(extra, mean.dtype)


class EpochCounter(keras.callbacks.Callback):
    """Counts epochs into each ``TermWeights`` that needs them and, after each epoch, sets the dwa weights from the
    epoch's logged training losses (``logs['<label>_loss']``: the validation run before ``on_epoch_end`` has reset
    the trackers to its own figures). ``lossreg.attach``'s model adds it to every ``fit``."""

    def __init__(self, owners: Sequence[TermWeights]) -> None:
        super().__init__()
        self.owners = owners

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        for weights in self.owners:
            if weights.epoch is not None:
                weights.epoch.assign_add(1.0)

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        for weights in self.owners:
            dwa = {i: c for i, c in enumerate(weights.changing) if isinstance(c, Learned) and c.method == "dwa"}
            if dwa:
                losses = {i: float((logs or {})[f"{weights.labels[i]}_loss"]) for i in dwa}
                weights.dwa_update(losses, next(iter(dwa.values())).params["temperature"])
