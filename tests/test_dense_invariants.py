"""The dense-target invariants of ``lossreg.testing.check_loss`` over every registered loss that declares them, and
a deliberately broken loss for each invariant, which the check must catch (a check that cannot fail is not one).

A loss declares them by what it takes (``lossreg.describe``): an ``ignore_class`` or ``class_weights`` parameter,
the optional ``mask`` tensor or Keras' ``sample_weight`` map (``dense_inputs``). The parametrisation reads
``lossreg.names()``, so losses gaining these (core losses, plugins) join without an edit here.

Every declaring name runs on TensorFlow, the reference backend; on JAX and PyTorch a covering sample
(``on_backend.covering``): every declaring loss once, under its plain name; a plugin's qualified alias
(``lossreg-segmentation:soft_dice``) is the same loss object, whose invariants (NaN and ±inf gradients at ignored
elements: the backend's autodiff of ``where``) the plain name's case already checks there.
"""

from __future__ import annotations

import re

import keras
import numpy as np
import pytest
from on_backend import covering

import lossreg
from lossreg.testing import LossCheckError, check_loss

INVARIANTS = ("ignored elements", "fully ignored batch", "kept-element mean", "zero weight as mask")
SIZES = {"batch": 3, "...": (4, 5)}  # any other named axis (classes, channels, n): 3


def declares(name):
    """Whether ``name`` takes any of the dense-target inputs, and says what its targets are."""
    info = lossreg.describe(name)
    takes = {"ignore_class", "class_weights"} & set(info.params) or set(info.dense_inputs)
    return bool(takes) and info.expects is not None and info.expects.targets is not None


DECLARING = [name for name in lossreg.names() if declares(name)]


def _shape(pattern, sizes):
    shape = []
    for token in pattern:
        size = sizes.get(token, 3)
        shape.extend(size if isinstance(size, tuple) else (size,))
    return tuple(shape)


def inputs_for(name, params, seed=0):
    """Valid inputs for loss ``name`` built from its declaration: logits (or probabilities when it takes them),
    targets of its kind (class ids, one-hot, 0/1 masks), extras standard normal."""
    info = lossreg.describe(name)
    expects = info.expects
    rng = np.random.default_rng(seed)
    shapes = dict(expects.shapes)
    y_pred_shape = _shape(shapes.get("y_pred", ("batch", "...", "classes")), SIZES)
    y_pred = rng.normal(0.0, 1.5, y_pred_shape)
    defaults = {k: p.default for k, p in info.params.items()}
    if expects.logits(params, defaults) is False:
        y_pred = keras.ops.convert_to_numpy(
            keras.ops.sigmoid(y_pred) if expects.targets == "unit" else keras.ops.softmax(y_pred)
        ).astype("float64")
    classes = y_pred_shape[-1]
    if expects.targets == "class_ids":
        y_true = rng.integers(0, classes, y_pred_shape[:-1])
    elif expects.targets == "one_hot":
        y_true = np.eye(classes)[rng.integers(0, classes, y_pred_shape[:-1])]
    else:
        y_true = (rng.random(y_pred_shape) < 0.4).astype("float64")
    data = {"y_true": y_true, "y_pred": y_pred}
    for extra in info.extras:
        data[extra] = rng.normal(size=_shape(shapes.get(extra, ("batch", "...")), SIZES))
    return data


def params_for(name):
    """Logits where the loss lets you choose (the invariants are about NaN and ±inf logits at ignored elements)."""
    return {"from_logits": True} if "from_logits" in lossreg.describe(name).params else {}


def expected_checks(name):
    info = lossreg.describe(name)
    ways = [w for w in ("ignore_class", "mask") if w in info.params or w in info.dense_inputs]
    out = list(INVARIANTS) if ways else []
    if len(ways) == 2:
        out.append("ignore_class and mask agree")
    if "class_weights" in info.params:
        out.append("class weights")
    return out


def test_softmax_ce_and_sparse_softmax_ce_declare_every_invariant():
    """The contract's two losses (main at the start) are in the list and take all three ways."""
    assert {"softmax_ce", "sparse_softmax_ce"} <= set(DECLARING)
    for name in ("softmax_ce", "sparse_softmax_ce"):
        assert expected_checks(name) == [*INVARIANTS, "ignore_class and mask agree", "class weights"]


@pytest.mark.parametrize(
    "name", covering(DECLARING, lambda name: name.rsplit(":", 1)[-1], what="qualified alias of a loss")
)
def test_every_declaring_loss_passes_its_dense_invariants(name):
    params = params_for(name)
    report = check_loss(
        name,
        inputs=inputs_for(name, params),
        params=params,
        train=False,
        serialization=False,
        extreme=False,
        keras_checklist=False,
    )
    # every invariant it declares applies: its values are per element or per sample (a per-sample loss that
    # ignores elements takes Keras' weight map inside its sums)
    ran = [c for c in report.checks if c in (*INVARIANTS, "ignore_class and mask agree", "class weights")]
    assert ran == expected_checks(name)


@pytest.mark.parametrize("ignore_class", [None, 0])
def test_the_invariants_hold_for_one_hot_targets_with_label_smoothing_and_a_given_ignore_class(ignore_class):
    params = {"label_smoothing": 0.2, "ignore_class": ignore_class}
    report = check_loss("softmax_ce", inputs=inputs_for("softmax_ce", params), params=params, train=False)
    assert report.checks[-6:] == (*INVARIANTS, "ignore_class and mask agree", "class weights")


def test_dense_invariants_can_be_switched_off():
    inputs = inputs_for("sparse_softmax_ce", {})
    off = check_loss("sparse_softmax_ce", inputs=inputs, train=False, keras_checklist=False, dense_invariants=False)
    assert not set(off.checks) & {*INVARIANTS, "class weights"}
    # a loss that declares nothing runs none of them
    mse = check_loss("mse", train=False, extreme=False, serialization=False)
    assert not set(mse.checks) & {*INVARIANTS, "class weights"}


# -- broken losses: each invariant catches one ------------------------------------------------------------------


def _ids_and_keep(y_true, y_pred, ignore_class, mask):
    """The class ids and which elements count, as lossreg's helpers give them."""
    y_true = keras.ops.convert_to_tensor(y_true)
    keep = lossreg.keep_mask(y_true, "class_ids", ignore_class=ignore_class, mask=mask)
    return keep, keras.ops.cast(lossreg.zero_ignored(y_true, keep), "int32")


def _ce(ids, logits):
    log_probs = keras.ops.log_softmax(logits, axis=-1)
    return -keras.ops.squeeze(keras.ops.take_along_axis(log_probs, keras.ops.expand_dims(ids, -1), axis=-1), -1)


def where_on_the_output_only(y_true, y_pred, *, ignore_class: int | None = None, mask=None):
    """Sparse CE that zeroes ignored elements' values only: NaN logits there give NaN gradients (0 x NaN)."""
    y_pred = keras.ops.convert_to_tensor(y_pred)
    keep, ids = _ids_and_keep(y_true, y_pred, ignore_class, mask)
    return lossreg.masked_values(_ce(ids, y_pred), keep)


def mean_over_all_elements(y_true, y_pred, *, ignore_class: int | None = None, mask=None):
    """Sparse CE with 0 at ignored elements but no Keras mask: the mean runs over every element, ignored ones too."""
    y_pred = keras.ops.convert_to_tensor(y_pred)
    keep, ids = _ids_and_keep(y_true, y_pred, ignore_class, mask)
    values = _ce(ids, lossreg.zero_ignored(y_pred, keep))
    return values if keep is None else keras.ops.where(keep, values, keras.ops.zeros_like(values))


def nan_when_nothing_is_kept(y_true, y_pred, *, ignore_class: int | None = None, mask=None):
    """Sparse CE normalised by hand (MMSegmentation's old avg_non_ignore): per-sample sums over the batch's kept
    count, times the batch size; 0 / 0 = NaN when the whole batch is ignored."""
    y_pred = keras.ops.convert_to_tensor(y_pred)
    keep, ids = _ids_and_keep(y_true, y_pred, ignore_class, mask)
    values = _ce(ids, lossreg.zero_ignored(y_pred, keep))
    kept = keras.ops.ones_like(values) if keep is None else keras.ops.cast(keep, values.dtype)
    axes = tuple(range(1, len(values.shape)))
    batch = keras.ops.cast(keras.ops.shape(values)[0], values.dtype)
    return keras.ops.sum(values * kept, axis=axes) * batch / keras.ops.sum(kept)


def mask_left_unused(y_true, y_pred, *, ignore_class: int | None = None, mask=None):
    """Sparse CE that takes a mask and never reads it (ignore_class done right)."""
    y_pred = keras.ops.convert_to_tensor(y_pred)
    keep, ids = _ids_and_keep(y_true, y_pred, ignore_class, None)
    return lossreg.masked_values(_ce(ids, lossreg.zero_ignored(y_pred, keep)), keep)


def class_weights_over_their_sum(y_true, y_pred, *, ignore_class: int | None = None, class_weights=None, mask=None):
    """Sparse CE with PyTorch's weighted mean: each value times its class weight, over the kept weights' mean (the
    normaliser Keras' class_weight leaves alone)."""
    y_pred = keras.ops.convert_to_tensor(y_pred)
    keep, ids = _ids_and_keep(y_true, y_pred, ignore_class, mask)
    values = _ce(ids, lossreg.zero_ignored(y_pred, keep))
    if class_weights is not None:
        w = keras.ops.take(lossreg.class_weight_vector(class_weights, y_pred.shape[-1], values.dtype, "broken"), ids)
        kept = keras.ops.ones_like(w) if keep is None else keras.ops.cast(keep, w.dtype)
        values = values * w * keras.ops.sum(kept) / keras.ops.sum(w * kept)
    return lossreg.masked_values(values, keep)


def _right(y_true, y_pred, ignore_class, mask):
    """Sparse CE the right way (lossreg's helpers on the inputs, before the math); values and keep."""
    y_pred = keras.ops.convert_to_tensor(y_pred)
    keep, ids = _ids_and_keep(y_true, y_pred, ignore_class, mask)
    return _ce(ids, lossreg.zero_ignored(y_pred, keep)), keep


def mask_counts_double(y_true, y_pred, *, ignore_class: int | None = None, mask=None):
    """Right, except that given a mask its values double: sound on its own (the kept mean of its own values), but a
    0/1 weight map no longer equals the mask."""
    values, keep = _right(y_true, y_pred, ignore_class, mask)
    return lossreg.masked_values(values if mask is None else 2.0 * values, keep)


def ignore_class_counts_double(y_true, y_pred, *, ignore_class: int | None = None, mask=None):
    """Right, except that with ignore_class its values double: the mask and ignore_class disagree."""
    values, keep = _right(y_true, y_pred, ignore_class, mask)
    return lossreg.masked_values(values if ignore_class is None else 2.0 * values, keep)


BROKEN = {  # case: (the loss function, the check that catches it, what its message says)
    "where-on-output": (
        where_on_the_output_only,
        "ignored elements",
        r"with ignore_class=255, NaN predictions.*gradient w.r.t. 'y_pred' has \d+ NaN",
    ),
    "mean-over-all": (
        mean_over_all_elements,
        "kept-element mean",
        r"the RegisteredLoss with the mask tensor, unweighted.*but the mean over the \d+ kept",
    ),
    "nan-on-empty": (nan_when_nothing_is_kept, "fully ignored batch", r"every element ignored .*not finite"),
    "mask-unused": (
        mask_left_unused,
        "ignored elements",
        r"with the mask tensor.*gradient at the ignored predictions is not exactly 0",
    ),
    "mask-counts-double": (
        mask_counts_double,
        "zero weight as mask",
        r"the RegisteredLoss with no mask, a 0/1 weight map .* 'sum' gives",
    ),
    "ignore-class-counts-double": (
        ignore_class_counts_double,
        "ignore_class and mask agree",
        r"the RegisteredLoss with \d+ elements ignored by the mask tensor gives",
    ),
    "class-weights-normalised": (
        class_weights_over_their_sum,
        "class weights",
        r"with class_weights \[0.5, 1.25, 2.0\].*class_weights scale each element",
    ),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_each_invariant_catches_its_broken_loss(forget_loss, case):
    fn, check, message = BROKEN[case]
    name = f"test_dense_invariants_{fn.__name__}"
    lossreg.register(name, shapes={"y_true": "batch ...", "y_pred": "batch ... classes"}, targets="class_ids")(fn)
    forget_loss(name)
    inputs = inputs_for("sparse_softmax_ce", {})
    with pytest.raises(LossCheckError, match=rf"check_loss\('{name}'\) failed the '{check}' check: {message}"):
        check_loss(name, inputs=inputs, train=False, extreme=False, serialization=False, keras_checklist=False)


def test_the_same_checks_pass_the_loss_done_right():
    """The broken losses' reference: sparse_softmax_ce, written with the same helpers the right way round."""
    report = check_loss("sparse_softmax_ce", inputs=inputs_for("sparse_softmax_ce", {}), train=False)
    assert {check for _, check, _ in BROKEN.values()} <= set(report.checks)


def test_a_failure_names_the_loss_the_invariant_and_the_numbers(forget_loss):
    """The mean over every element is the kept mean times kept / all: the message's two numbers say so."""
    name = "test_dense_invariants_numbers"
    lossreg.register(name, shapes={"y_true": "batch ...", "y_pred": "batch ... classes"}, targets="class_ids")(
        mean_over_all_elements
    )
    forget_loss(name)
    inputs = inputs_for("sparse_softmax_ce", {})
    with pytest.raises(LossCheckError) as failed:
        check_loss(name, inputs=inputs, train=False, keras_checklist=False)
    text = str(failed.value)
    assert text.startswith(
        f"check_loss('{name}') failed the 'kept-element mean' check: the RegisteredLoss with the mask tensor"
    )
    found = re.search(
        r"gives (\S+), but the mean over the (\d+) kept is (\S+) \(the loss function attached no Keras", text
    )
    got, kept, want = float(found[1].rstrip(",")), int(found[2]), float(found[3])
    elements = inputs["y_true"].size  # 3 x 4 x 5 pixels
    assert 0 < kept < elements
    assert got == pytest.approx(want * kept / elements, rel=1e-5)


def one_hot_declared_unit(y_true, y_pred, *, ignore_class: int | None = None, mask=None):
    """Softmax CE on one-hot labels (ignore_class a channel), declared with targets="unit" (masks in [0, 1], which
    one-hot labels are): like an overlap loss whose activation="softmax" makes its masks one-hot labels."""
    y_true, y_pred = keras.ops.convert_to_tensor(y_true), keras.ops.convert_to_tensor(y_pred)
    keep = lossreg.keep_mask(y_true, "one_hot", ignore_class=ignore_class, mask=mask)
    y_true, y_pred = lossreg.zero_ignored(y_true, keep), lossreg.zero_ignored(y_pred, keep)
    return lossreg.masked_values(keras.ops.categorical_crossentropy(y_true, y_pred, from_logits=True), keep)


def test_dense_targets_says_what_the_targets_are_when_the_declaration_does_not(forget_loss):
    name = "test_dense_invariants_one_hot_declared_unit"
    shapes = {"y_true": "batch ... classes", "y_pred": "batch ... classes"}
    lossreg.register(name, shapes=shapes, targets="unit", from_logits=True)(one_hot_declared_unit)
    forget_loss(name)
    inputs = inputs_for("softmax_ce", {})
    with pytest.raises(
        LossCheckError,
        match=r"failed the 'ignored elements' check: the loss refused the inputs built for this check \(unit targets, "
        r"ignore_class=255, .*its one-hot targets have 3 channels.*pass dense_targets=",
    ):
        check_loss(name, inputs=inputs, train=False, keras_checklist=False)
    report = check_loss(name, inputs=inputs, train=False, keras_checklist=False, dense_targets="one_hot")
    assert report.checks[-5:] == (*INVARIANTS, "ignore_class and mask agree")


def test_an_overlap_loss_on_one_hot_labels_passes_with_dense_targets():
    """The segmentation plugin's soft_dice with activation="softmax" takes one-hot labels (its declaration says
    masks): with dense_targets="one_hot" it gets every invariant it declares."""
    params = {"activation": "softmax"}
    inputs = inputs_for("softmax_ce", {})
    report = check_loss("soft_dice", inputs=inputs, params=params, train=False, dense_targets="one_hot")
    assert [c for c in report.checks if c in (*INVARIANTS, "ignore_class and mask agree", "class weights")] == [
        c
        for c in expected_checks("soft_dice")
        if c != "ignore_class and mask agree"  # a channel: its own average
    ]
    assert "class weights" in report.checks
