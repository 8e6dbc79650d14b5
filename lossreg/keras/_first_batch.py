"""The first batch's value check: what ``fit`` will train on, read once, eagerly, before any compiled step.

Inside ``fit``'s compiled steps (TensorFlow's ``tf.function``, JAX's ``jit``) tensors have no values, and on
PyTorch reading them would copy every batch to the host, so the pre-flight checks only shapes there. The values
are where the silent wrong numbers come from: 0/255 masks given to a loss for [0, 1] targets, logits given to a
loss expecting probabilities (clipped silently), probabilities given to a loss on logits, NaN targets. So
``AttachedModel.fit`` (and ``lossreg.check_first_batch`` for a model compiled with ``lossreg.resolve``) reads the
first batch once, runs the model on it eagerly and checks every term's tensors with their values: one forward pass
before training, nothing inside the steps.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import keras
import numpy as np

from lossreg._errors import LossInputError
from lossreg.keras._engine import BoundTerm, preflight
from lossreg.registry import Expects

__all__ = ["check_first_batch", "check_probabilities_as_logits", "check_terms", "first_batch", "to_host"]

_DEFAULT_BATCH = 32  # Keras' default batch_size


def _unpack(batch: Any) -> tuple[Any, Any, Any]:
    return keras.utils.unpack_x_y_sample_weight(tuple(batch) if isinstance(batch, list) else batch)


def first_batch(x: Any, y: Any = None, sample_weight: Any = None, batch_size: int | None = None) -> Any:
    """``(x, y, sample_weight)`` of the first batch ``fit`` will train on, or ``None`` when it cannot be read
    without consuming data (a Python generator or iterator: its first batch would be lost to training)."""
    kind = type(x)
    module, name = kind.__module__, kind.__name__
    if module.startswith("tensorflow") and hasattr(x, "take"):  # a tf.data.Dataset: iterating it again restarts it
        for batch in x.take(1):
            return _unpack(batch)
        return None
    if isinstance(x, keras.utils.PyDataset):
        return _unpack(x[0]) if len(x) else None
    if name == "DataLoader" and module.startswith("torch"):  # each iter() starts over
        for batch in x:
            return _unpack(batch)
        return None
    if not (hasattr(x, "shape") or isinstance(x, list | tuple | Mapping)):
        return None  # a generator or iterator (or a data type Keras adapts that lossreg does not know): unchecked
    n = int(batch_size or _DEFAULT_BATCH)

    def head(a: Any) -> Any:
        return a[:n] if hasattr(a, "shape") and len(a.shape) else a

    return tuple(keras.tree.map_structure(head, t) if t is not None else None for t in (x, y, sample_weight))


def to_host(tree: Any) -> Any:
    """Every tensor of ``tree`` as a NumPy array: values the pre-flight may read on any backend."""
    return keras.tree.map_structure(lambda t: t if t is None else keras.ops.convert_to_numpy(t), tree)


def check_probabilities_as_logits(term: BoundTerm, y_pred: Any) -> None:
    """Refuse probabilities given to a loss on logits over a class axis: every row in [0, 1] and summing to 1.

    A softmax output fed to a softmax cross-entropy trains, slowly and badly, without an error anywhere. Only on the
    first batch of ``fit``: a small hand-written example may well hold logits that look like a distribution.
    """
    expects: Expects | None = term.expects
    if expects is None or expects.targets not in ("one_hot", "class_ids") or y_pred is None:
        return
    if expects.logits(term.params, {}) is not True:
        return
    values = np.asarray(y_pred, dtype="float64")
    if values.ndim < 2 or values.shape[-1] < 2 or values.size < 4:
        return
    if np.all((values >= 0) & (values <= 1)) and np.allclose(values.sum(axis=-1), 1.0, atol=1e-3):
        raise LossInputError(
            f"{term.loss} expects logits, but the first batch's predictions are probabilities (every row in [0, 1], "
            "summing to 1): the model ends with a softmax. Remove the final activation and train on logits "
            "(lossreg.inference_model(model) gives a model that predicts probabilities).",
            path=term.path,
        )


def check_terms(
    terms: Sequence[tuple[BoundTerm, Any, Any]], *, name: Callable[[BoundTerm], str] = lambda t: t.loss
) -> None:
    """Check each ``(term, y_true, tensors)`` with the values: its pre-flight, and probabilities given as logits."""
    for term, y_true, tensors in terms:
        preflight([term], y_true, tensors, name=name(term))
        predictions = tensors.get("y_pred") if isinstance(tensors, Mapping) else tensors
        check_probabilities_as_logits(term, predictions)


def _named(name: str) -> Callable[[BoundTerm], str]:
    return lambda term: name


def _by_output(model: Any, tree: Any, what: str) -> dict[str, Any]:
    """``tree`` (a dict by output name, a list in output order, or one tensor) as a dict by output name."""
    names = list(model.output_names)
    if isinstance(tree, Mapping):
        return dict(tree)
    if isinstance(tree, list | tuple) and len(names) > 1:
        if len(tree) != len(names):
            raise LossInputError(f"The model has {len(names)} outputs {names}; {what} has {len(tree)} entries.")
        return dict(zip(names, tree, strict=True))
    return {names[0]: tree[0] if isinstance(tree, list | tuple) and len(tree) == 1 else tree}


def check_first_batch(
    model: Any, x: Any, y: Any = None, sample_weight: Any = None, *, batch_size: int | None = None
) -> bool:
    """Check the first batch of ``x, y`` against the model's lossreg losses with their values, eagerly.

    ``AttachedModel.fit`` runs this by default. A model compiled with ``lossreg.resolve(...)`` trains with Keras' own
    ``fit``, whose steps are compiled (no values to read): call this once before ``fit`` with the same data. The
    check reads one batch (``batch_size`` rows of arrays, the first element of a ``tf.data.Dataset``, a
    ``PyDataset`` or a PyTorch ``DataLoader``), runs the model on it and checks each lossreg loss's targets and
    predictions: targets out of range (0/255 masks, 1-based class ids), NaN targets, logits given to a loss on
    probabilities, probabilities given to a loss on logits. Keras' own loss objects in ``compile`` are skipped.

    Args:
        model: an ``AttachedModel``, or a compiled ``keras.Model`` whose loss (or some of whose per-output losses)
            came from ``lossreg.resolve``.
        x: what ``fit`` takes as ``x``: arrays, a ``tf.data.Dataset``, a ``PyDataset``, a ``DataLoader``.
        y: what ``fit`` takes as ``y`` (``None`` when ``x`` yields the targets).
        sample_weight: what ``fit`` takes as ``sample_weight``.
        batch_size: the rows of ``x`` to read when it holds arrays (Keras' default: 32).

    Returns:
        ``True`` when a batch was checked, ``False`` when ``x`` cannot be read without consuming it (a Python
        generator).

    Raises:
        LossInputError: naming the loss (and its spec path), what it expects and what the batch holds.

    Examples:
        >>> import keras, numpy as np, lossreg
        >>> inputs = keras.Input((4,))
        >>> model = keras.Model(inputs, keras.layers.Dense(2, name="mask")(inputs))
        >>> model.compile(loss=lossreg.resolve({"mask": "sigmoid_bce"}))
        >>> x, y = np.zeros((8, 4)), np.full((8, 2), 255.0)   # a 0/255 mask
        >>> try:
        ...     lossreg.check_first_batch(model, x, y)
        ... except lossreg.LossInputError as exc:
        ...     print(str(exc)[:84])
        spec['mask']: sigmoid_bce expects targets (y_true) in [0, 1] (masks or soft labels);
    """
    batch = first_batch(x, y, sample_weight, batch_size)
    if batch is None:
        return False
    check = getattr(model, "check_batch", None)
    if callable(check):  # an AttachedModel
        check(*batch)
        return True
    from lossreg.keras._loss import RegisteredLoss

    x, y, _ = batch
    predictions, y = to_host(model(x, training=False)), to_host(y)
    losses = model.loss
    if isinstance(losses, Mapping) or (isinstance(losses, list | tuple) and len(model.output_names) > 1):
        losses, predictions, y = (
            _by_output(model, t, w) for t, w in ((losses, "loss"), (predictions, "y_pred"), (y, "y"))
        )
        pairs = [(losses[k], y.get(k), predictions[k]) for k in losses if k in predictions]
    else:
        pairs = [(losses, y, _by_output(model, predictions, "y_pred")[model.output_names[0]])]
    for loss, y_true, y_pred in pairs:
        if isinstance(loss, RegisteredLoss):
            check_terms([(term, y_true, y_pred) for term in loss._bound], name=_named(loss.name))
    return True
