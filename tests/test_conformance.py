"""Every loss with a reference (tests/references/) through ``lossreg.testing.check_loss``, and the kit's own checks.

check_loss trains and compiles: every conformance run of every reference runs on TensorFlow, the reference backend;
on JAX and PyTorch a covering sample (``on_backend.covering``): every loss once (its first run, with the default
parameters, trained). Its other runs differ in parameters (label smoothing, pos_weight, a band, class weights), whose
arithmetic test_numerics and test_losses_golden run on every backend, configuration by configuration.
"""

from __future__ import annotations

import numpy as np
import pytest
from on_backend import covering
from references import REFERENCES, covered

import lossreg
from lossreg.testing import LossCheckError, check_loss

SEED = 20240601
#: check_loss runs failing Keras' checklist (the last checks check_loss runs), until the library is fixed
BATCH_OF_ONE_NONE = pytest.mark.xfail(
    strict=True,
    raises=LossCheckError,
    reason="needs library fix: reduction='none' with a scalar sample weight on a batch of 1 returns shape () "
    "(lossreg.keras._engine.reduce: same_rank squeezes the (1,) values against the scalar weight, as Keras does)",
)
KNOWN = {"softmax_ce-1": BATCH_OF_ONE_NONE}
RUNS = covering(
    [
        pytest.param(ref, i, run, id=f"{ref.name}-{i}", marks=KNOWN.get(f"{ref.name}-{i}", KNOWN.get(ref.name, ())))
        for ref in covered(lossreg.names())
        for i, run in enumerate(ref.conformance)
    ],
    lambda reference, index, run: reference.name,
    what="conformance run",
)


@pytest.mark.parametrize(("reference", "index", "run"), RUNS)
def test_conforms(reference, index, run):
    inputs = reference.recipe(np.random.default_rng([SEED, index]), run.shape, run.params)
    report = check_loss(reference.name, reference=reference.fn, inputs=inputs, params=run.params, **run.check)
    assert report.reference_value is not None and report.value == pytest.approx(report.reference_value, rel=1e-5)
    if run.check.get("train", True):
        assert report.loss_after < report.loss_before


def _bce_logits():
    """Element-wise BCE on logits, written with keras.ops (the stable form)."""
    from keras import ops

    def loss(y_true, y_pred):
        return ops.relu(y_pred) - y_pred * y_true + ops.log1p(ops.exp(-ops.abs(y_pred)))

    return loss


sigmoid_bce = REFERENCES["sigmoid_bce"].fn


def test_check_loss_checks_the_declaration_against_real_inputs(forget_loss):
    assert check_loss("sigmoid_bce", reference=sigmoid_bce, train=False, keras_checklist=False).checks[0] == "inputs"

    @lossreg.register("test_conformance_misdeclared", shapes={"y_true": "batch n n", "y_pred": "batch n n"})
    def misdeclared():
        """Element-wise BCE on logits, declared as if it only took n x n maps (a wrong declaration)."""
        return _bce_logits()  # a right function: only the declaration is wrong

    forget_loss("test_conformance_misdeclared")
    with pytest.raises(LossCheckError, match=r"'inputs' check.*shaped \(batch, n, n\).*received shape \(4, 6\)"):
        check_loss("test_conformance_misdeclared", reference=sigmoid_bce, train=False)
    report = check_loss(
        "test_conformance_misdeclared",
        reference=sigmoid_bce,
        keras_checklist=False,  # per-element values: the checklist's own tests are below
        inputs={"y_true": np.eye(3)[None].repeat(2, 0), "y_pred": np.linspace(-3, 3, 18).reshape(2, 3, 3)},
        train=False,
    )
    assert report.checks[0] == "inputs"


def test_check_loss_catches_a_wrong_reference():
    with pytest.raises(LossCheckError, match=r"'value' check.*loss .* != reference"):
        check_loss("sigmoid_bce", reference=lambda y, x: sigmoid_bce(y, x) * 1.01, train=False)


@pytest.mark.parametrize("reference", [sigmoid_bce, None], ids=["with-reference", "without-reference"])
def test_check_loss_catches_a_wrong_gradient(forget_loss, reference):
    """A loss whose forward value is right but whose gradient is cut must fail the gradient check, with or without
    a reference (without one, the finite differences cannot catch it)."""

    @lossreg.register("test_conformance_stopped", override=True)
    def stopped():
        """BCE on logits with the gradient stopped (a deliberately broken loss)."""
        from keras import ops

        def loss(y_true, y_pred):
            y_pred = ops.stop_gradient(ops.convert_to_tensor(y_pred, "float32"))
            return ops.relu(y_pred) - y_pred * y_true + ops.log1p(ops.exp(-ops.abs(y_pred)))

        return loss

    forget_loss("test_conformance_stopped")
    with pytest.raises(LossCheckError, match=r"'gradient' check.*no gradient flows"):
        check_loss("test_conformance_stopped", reference=reference, train=False)


def test_check_loss_catches_overflow_at_extreme_logits(forget_loss):
    @lossreg.register("test_conformance_naive", override=True)
    def naive():
        """BCE on logits written the naive way: log(1 + exp(x)) overflows for large logits."""
        from keras import ops

        def loss(y_true, y_pred):
            y_pred = ops.convert_to_tensor(y_pred, "float32")
            return ops.log(1.0 + ops.exp(y_pred)) - y_pred * y_true

        return loss

    forget_loss("test_conformance_naive")
    with pytest.raises(LossCheckError, match=r"'extreme' check.*not finite"):
        check_loss("test_conformance_naive", reference=sigmoid_bce, train=False)


def test_check_loss_catches_a_reduced_value(forget_loss):
    @lossreg.register("test_conformance_reduced", override=True)
    def reduced():
        """BCE on logits summed to one number (a loss function must leave the reduction to Keras)."""
        from keras import ops

        bce = _bce_logits()
        return lambda y_true, y_pred: ops.sum(bce(y_true, y_pred))

    forget_loss("test_conformance_reduced")
    with pytest.raises(LossCheckError, match=r"'value' check.*returned shape \(\) for a batch of 4"):
        check_loss("test_conformance_reduced", reference=sigmoid_bce, train=False)


def test_check_loss_catches_a_gradient_unlike_the_references(forget_loss):
    @lossreg.register("test_conformance_straight_through", override=True)
    def straight_through():
        """BCE on logits whose value is right but whose gradient is the identity's (a straight-through trick)."""
        from keras import ops

        bce = _bce_logits()
        return lambda y_true, y_pred: y_pred + ops.stop_gradient(bce(y_true, y_pred) - y_pred)

    forget_loss("test_conformance_straight_through")
    with pytest.raises(LossCheckError, match=r"'gradient' check.*differs from the reference's finite differences"):
        check_loss("test_conformance_straight_through", reference=sigmoid_bce, train=False)


def test_check_loss_catches_training_that_does_not_lower_the_loss():
    with pytest.raises(LossCheckError, match=r"'training' check: 2 Adam steps \(learning rate 0.0.*should go down"):
        check_loss("sigmoid_bce", train_steps=2, learning_rate=0.0, extreme=False, serialization=False)


def test_check_loss_catches_a_loss_without_docs(forget_loss):
    def undocumented():
        return _bce_logits()

    lossreg.register("test_conformance_undocumented", override=True)(undocumented)
    forget_loss("test_conformance_undocumented")
    with pytest.raises(LossCheckError, match=r"'docs' check: the factory has no docstring"):
        check_loss("test_conformance_undocumented", reference=sigmoid_bce, train=False)


# -- Keras' loss checklist: each check fails for a RegisteredLoss that breaks Keras' Loss contract ----------------
# The checklist checks the RegisteredLoss (lossreg's one Loss class), not the loss function: each case wraps its
# public __call__ with a deliberate bug, the way a wrong reduction or a dropped sample weight would show.

CHECKLIST = ("unweighted", "scalar weight", "sample weight", "zero weight", "sum reduction", "mean reduction")
CHECKLIST += ("none reduction", "mean_with_sample_weight reduction")


def _is_scalar(weight):
    return weight is not None and np.ndim(weight) == 0


def _unweighted_off_after_first(call):
    """Right on the first unweighted call (the 'value' check's), 1% off on later ones."""
    seen = []

    def broken(self, y_true, y_pred, sample_weight=None):
        out = call(self, y_true, y_pred, sample_weight)
        if sample_weight is None and self.reduction == "sum_over_batch_size":
            seen.append(1)
            return out * 1.01 if len(seen) > 1 else out
        return out

    return broken


def _drops(condition):
    """A __call__ that ignores sample weights for which ``condition(weight)`` holds."""

    def wrap(call):
        def broken(self, y_true, y_pred, sample_weight=None):
            return call(self, y_true, y_pred, None if condition(sample_weight) else sample_weight)

        return broken

    return wrap


def _nan_at_zero_weight(call):
    """Divides by the weights' sum (0/0 when the weights are all 0: NaN), as a wrong normaliser does."""
    import keras

    def broken(self, y_true, y_pred, sample_weight=None):
        out = call(self, y_true, y_pred, sample_weight)
        if sample_weight is not None and np.ndim(sample_weight) and not np.any(sample_weight):
            return out / keras.ops.sum(keras.ops.convert_to_tensor(sample_weight, "float32"))
        return out

    return broken


def _nan_gradient_at_zero_weight(call):
    """Right value (0) at all-zero weights, NaN gradient: adds a norm of zero, ||y_pred - y_pred|| (0 x inf)."""
    import keras

    def broken(self, y_true, y_pred, sample_weight=None):
        out = call(self, y_true, y_pred, sample_weight)
        if sample_weight is not None and np.ndim(sample_weight) and not np.any(sample_weight):
            y_pred = keras.ops.convert_to_tensor(y_pred)
            return out + keras.ops.sqrt(keras.ops.sum(keras.ops.square(y_pred - keras.ops.stop_gradient(y_pred))))
        return out

    return broken


def _reduction_as(reduction, instead):
    """A __call__ that reduces ``reduction`` as ``instead``."""

    def wrap(call):
        def broken(self, y_true, y_pred, sample_weight=None):
            if self.reduction != reduction:
                return call(self, y_true, y_pred, sample_weight)
            self.reduction = instead
            try:
                return call(self, y_true, y_pred, sample_weight)
            finally:
                self.reduction = reduction

        return broken

    return wrap


BROKEN = {  # case: (check, loss, how its RegisteredLoss is broken); sigmoid_bce has per-element values
    "unweighted": ("unweighted", "mse", _unweighted_off_after_first),
    "scalar-weight-ignored": ("scalar weight", "mse", _drops(_is_scalar)),
    "sample-weight-ignored": ("sample weight", "mse", _drops(lambda w: w is not None and np.ndim(w) == 1)),
    "timestep-weight-ignored": ("timestep weight", "sigmoid_bce", _drops(lambda w: w is not None and np.ndim(w) == 2)),
    "zero-weight-nan": ("zero weight", "mse", _nan_at_zero_weight),
    "zero-weight-nan-gradient": ("zero weight", "mse", _nan_gradient_at_zero_weight),
    "sum-as-mean": ("sum reduction", "mse", _reduction_as("sum", "sum_over_batch_size")),
    "mean-as-sum": ("mean reduction", "mse", _reduction_as("mean", "sum")),
    "none-as-mean": ("none reduction", "mse", _reduction_as("none", "sum_over_batch_size")),
    "mean-with-sample-weight-as-mean": (
        "mean_with_sample_weight reduction",
        "mse",
        _reduction_as("mean_with_sample_weight", "sum_over_batch_size"),
    ),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_keras_checklist_catches_a_broken_loss(monkeypatch, case):
    check, name, breaks = BROKEN[case]
    if name == "mse":  # the unbroken loss passes (sigmoid_bce awaits the library fix: test_conforms' xfail)
        assert check in check_loss(name, train=False, extreme=False, serialization=False).checks
    monkeypatch.setattr(lossreg.RegisteredLoss, "__call__", breaks(lossreg.RegisteredLoss.__call__))
    with pytest.raises(LossCheckError, match=rf"check_loss\('{name}'\) failed the '{check}' check") as failed:
        check_loss(name, train=False, extreme=False, serialization=False)
    if case == "zero-weight-nan-gradient":
        assert "gradient w.r.t. 'y_pred' is not finite" in str(failed.value)


def test_keras_checklist_runs_after_every_other_check():
    """The checklist's checks follow the others; 'timestep weight' only for per-element values."""
    per_sample = check_loss("mse", train=False, extreme=False).checks
    assert per_sample == ("value", "gradient", "serialization", "docs", *CHECKLIST)
    per_element = check_loss(
        "sigmoid_bce", reference=sigmoid_bce, train=False, keras_checklist=False, dense_invariants=False
    ).checks
    assert per_element == ("inputs", "value", "gradient", "extreme", "serialization", "docs")


def test_the_dense_invariants_run_last_for_a_loss_that_declares_them():
    """softmax_ce takes ignore_class, class_weights and a mask: after Keras' checklist, its invariants."""
    rng = np.random.default_rng(SEED)
    inputs = {"y_true": np.eye(4)[rng.integers(0, 4, (3, 5))], "y_pred": rng.normal(size=(3, 5, 4))}
    checks = check_loss("softmax_ce", reference=REFERENCES["softmax_ce"].fn, inputs=inputs, train=False).checks
    dense = ("ignored elements", "fully ignored batch", "kept-element mean", "zero weight as mask")
    dense += ("ignore_class and mask agree", "class weights")
    keras_checklist = (*CHECKLIST[:3], "timestep weight", *CHECKLIST[3:])  # per-element values: timesteps too
    assert checks == ("inputs", "value", "gradient", "extreme", "serialization", "docs", *keras_checklist, *dense)


def test_check_loss_takes_ignored_elements_in_its_inputs():
    """Inputs with ignored elements (pixels labelled ignore_class): the value check and Keras' checklist expect
    the mean over the kept values, as the loss's Keras mask makes it (a plain mean would be 12 / 15 of it)."""
    rng = np.random.default_rng(SEED)
    labels = rng.integers(0, 3, (3, 5))
    labels[0, :3] = 0  # 3 of 15 pixels ignored (class 0) at least
    inputs = {"y_true": np.eye(3)[labels], "y_pred": rng.normal(size=(3, 5, 3))}
    report = check_loss("softmax_ce", inputs=inputs, params={"ignore_class": 0}, train=False, dense_invariants=False)
    logp = inputs["y_pred"] - np.log(np.exp(inputs["y_pred"]).sum(-1, keepdims=True))
    ce = -(inputs["y_true"] * logp).sum(-1)
    kept = labels != 0
    assert report.value == pytest.approx(ce[kept].mean(), rel=1e-5)
    assert report.value != pytest.approx(ce[kept].sum() / ce.size, rel=1e-3)
    assert "mean_with_sample_weight reduction" in report.checks


def test_keras_checklist_on_per_element_values():
    report = check_loss("sigmoid_bce", reference=sigmoid_bce, train=False)
    assert "timestep weight" in report.checks
