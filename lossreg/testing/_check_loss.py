"""``check_loss``: the checklist of ``lossreg.testing``, composed from one function per check."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from ._checklist import run_keras_checklist
from ._checks import check_docs, check_extreme, check_gradient, check_inputs, check_serialization, check_value
from ._invariants import run_dense_invariants
from ._report import CheckReport
from ._subject import Reference, Subject
from ._training import check_training

__all__ = ["check_loss"]


def check_loss(
    name: str,
    reference: Reference | None = None,
    *,
    inputs: Mapping[str, Any] | tuple[Any, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    rtol: float = 1e-5,
    atol: float = 1e-6,
    gradient_rtol: float = 1e-3,
    gradient_atol: float = 1e-4,
    extreme: bool | Literal["logits", "probabilities"] | Mapping[str, Any] = True,
    dtypes: Sequence[str] = ("float32", "float16"),
    serialization: bool = True,
    keras_checklist: bool = True,
    dense_invariants: bool = True,
    dense_targets: Literal["class_ids", "one_hot", "unit"] | None = None,
    train: bool = True,
    train_steps: int = 15,
    learning_rate: float = 0.05,
    activation: str | Mapping[str, str] | None = None,
    seed: int = 0,
) -> CheckReport:
    r"""Check that registered loss ``name`` is sound; raise ``LossCheckError`` at the first failed check.

    Args:
        name: a registered loss name (plugin losses included).
        reference: an independent float64 NumPy implementation, called as
            ``reference(y_true, y_pred, **extras, **params)`` with NumPy arrays; it returns what the loss
            function returns (per-sample or per-element values, same shape). Without one, only the
            soundness checks run.
        inputs: ``{"y_true": ..., "y_pred": ..., <extra>: ...}`` or ``(y_true, y_pred)``. Missing ones are
            drawn at random: ``y_pred`` and extras standard normal, shaped ``(4, 6)`` (extras like
            ``y_pred``), ``y_true`` 0/1 like ``y_pred``.
        params: the loss's parameters, passed to the factory and to ``reference``.
        rtol: relative tolerance of the value check (float32 against float64).
        atol: absolute tolerance of the value check.
        gradient_rtol: relative tolerance of autodiff against finite differences.
        gradient_atol: absolute tolerance of autodiff against finite differences.
        extreme: ``True``/``"logits"`` sets ``y_pred`` and float extras to ±1e4; ``"probabilities"`` sets
            ``y_pred`` to exactly 0 and 1; a mapping gives the extreme inputs yourself; ``False`` skips.
        dtypes: float dtypes the extreme check runs in.
        serialization: run the serialization round trip.
        keras_checklist: run Keras' loss checklist on the ``RegisteredLoss`` (unweighted, scalar weight,
            per-sample weight, timestep weight for per-element values, zero weight, each reduction).
        dense_invariants: run the dense-target invariants the loss declares (by an ``ignore_class`` or
            ``class_weights`` parameter, the optional ``mask`` tensor or Keras' ``sample_weight`` map): ignored
            elements (NaN or ±inf predictions there) change neither value nor gradient, a fully ignored batch gives
            0, the mean runs over kept elements, a zero weight equals a mask, ``ignore_class`` and the mask agree,
            class weights scale elements. They build their ignored elements from ``inputs`` (which must be valid
            targets for the loss, as for every check). Skipped for a loss that declares none of these.
        dense_targets: what the targets are for the dense invariants, when the loss's declared ``targets`` do not
            say it for these ``params`` (e.g. ``"one_hot"`` for a loss whose ``activation="softmax"`` takes
            one-hot labels where its declaration says ``"unit"``).
        train: run the training check (it builds and trains a small Keras model with XLA).
        train_steps: Adam steps (full batch) of the training check.
        learning_rate: the learning rate of the training check.
        activation: activation on the tiny model's ``y_pred`` head (e.g. ``"sigmoid"`` for a loss on
            probabilities), or a mapping from ``"y_pred"``/extra names to activations.
        seed: seeds the random inputs and the model's initial weights.

    Returns:
        A ``CheckReport`` of the checks run and the numbers measured.

    Raises:
        LossCheckError: naming the loss, the failed check and the offending numbers.
        LossSpecError: for an unknown loss or invalid ``params`` (as ``lossreg.get`` would).
    """
    subject = Subject.build(name, params, inputs, seed)
    import keras  # noqa: F401  (Keras first: lossreg's adapters register their classes when Keras is imported)

    checks = ["inputs"] if check_inputs(subject) else []
    measured = check_value(subject, reference, rtol, atol)
    checks.append("value")
    max_error = check_gradient(subject, measured, reference, gradient_rtol, gradient_atol, seed)
    checks.append("gradient")
    if extreme is not False:
        check_extreme(subject, extreme, dtypes)
        checks.append("extreme")
    if serialization:
        check_serialization(subject, measured)
        checks.append("serialization")
    before = after = None
    if train:
        uses_y_pred = measured.grads.get("y_pred") is not None
        before, after = check_training(subject, uses_y_pred, activation, train_steps, learning_rate, seed)
        checks.append("training")
    check_docs(subject)
    checks.append("docs")
    if keras_checklist:  # last: a loss failing one of Keras' reductions has passed every other check
        checks.extend(run_keras_checklist(subject, measured))
    if dense_invariants:  # after Keras' checklist: the masked means rely on the reductions it checks
        checks.extend(run_dense_invariants(subject, seed, dense_targets))
    return CheckReport(name, tuple(checks), measured.value, measured.reference_value, max_error, before, after)
