"""Conformance checks for registered losses: what a loss or plugin author calls in their own tests.

``check_loss(name, reference=...)`` puts one registered loss through the checklist every lossreg loss
passes, and raises ``LossCheckError`` (an ``AssertionError``, so pytest shows it as a failure) naming the
check that failed and what it saw:

0. **inputs** — when the loss declares what it accepts (``shapes``, ``targets``, ``from_logits``; see
   ``lossreg.register``), the test inputs fit the declaration: a declaration that refuses valid inputs fails
   here, naming the mismatch. Losses that declare nothing skip it.
1. **value** — the loss function gives one value per sample (or per element: leading batch axis), equal
   to ``reference`` (a float64 NumPy function you write independently) within ``rtol``/``atol``; the
   ``keras.losses.Loss`` from ``lossreg.get`` gives their mean.
2. **gradient** — the gradient with respect to ``y_pred`` and every extra exists and is finite, and,
   with a reference, matches the reference's central finite differences (float64) at a few coordinates.
3. **extreme** — value and gradient stay finite at extreme inputs (logits of ±1e4 by default, or
   probabilities of exactly 0 and 1) in every dtype of ``dtypes`` (float32 and float16 by default).
4. **serialization** — ``keras.losses.serialize`` gives JSON-able config; ``deserialize`` of it gives a loss
   with the same config and the same value.
5. **training** — a tiny model whose outputs have the inputs' shapes, compiled with ``jit_compile=True``
   (eager on PyTorch, where that means minutes of ``torch.compile``), lowers the loss over ``train_steps``
   steps. A loss without extras is trained with
   ``compile(loss=lossreg.get(...))``; a loss with extras with ``lossreg.attach`` (one model output per
   extra, wired through ``inputs``), the way users train such losses.
6. **docs** — the factory has a docstring (``lossreg show`` prints it).
7. **Keras' loss checklist** (after the others; ``keras_checklist=False`` skips it) — the ``RegisteredLoss`` behaves as
   a ``keras.losses.Loss`` must, against the function's own values reduced in float64 NumPy: **unweighted**
   (their mean), **scalar weight** (``w`` times it), **sample weight** (per-sample weights: the weighted
   values' sum over the number of values), **timestep weight** (weights shaped like per-element values; only
   for those), **zero weight** (all-zero weights give 0 and finite gradients), **sum reduction**, **mean
   reduction** (Keras' other name for the default), **none reduction** (the values in their shape) and
   **mean_with_sample_weight reduction** (over the weights' sum, a per-sample weight counting once per value
   of its sample). When the loss attached a Keras mask to its values (``ignore_class``, ``mask``), the means run
   over the kept values, as Keras' masked mean does (also in the value check).
8. **dense-target invariants** (after the checklist; ``dense_invariants=False`` skips them), for a loss that
   declares them by what it takes: an ``ignore_class`` or ``class_weights`` parameter, the optional ``mask``
   tensor, Keras' ``sample_weight`` map (``lossreg.describe(name).params`` and ``.dense_inputs``), with targets
   declared as ``"class_ids"``, ``"one_hot"`` or ``"unit"``. Built from ``inputs`` with some elements ignored
   (class id 255, a one-hot channel, a unit target of 255, zeros in the mask): **ignored elements** (NaN, ±inf or
   random predictions there change neither value nor kept gradients, and their own gradient is exactly 0),
   **fully ignored batch** (0 under every reduction, gradients 0), **kept-element mean** (Keras' masked mean
   over the kept elements, with sample weights too), **zero weight as mask** (a 0/1 weight map equals the mask
   under ``"sum"`` and ``"mean_with_sample_weight"``; the masked default mean equals ``"mean_with_sample_weight"``
   with 0/1 weights), **ignore_class and mask agree**, **class weights** (weights of 1 change nothing; per-element
   values scale by their class's weight and the count stays). See ``lossreg.testing._invariants`` for each.

``value_and_grad(fn, inputs, wrt)`` takes a value and its gradient with the active backend's own autodiff
(TensorFlow, JAX or PyTorch), for tests of your own that need one.

Examples:
    >>> import numpy as np
    >>> from lossreg.testing import check_loss
    >>> def bce(y_true, y_pred, pos_weight=1.0):  # float64 reference: log-loss on logits
    ...     return pos_weight * y_true * np.logaddexp(0, -y_pred) + (1 - y_true) * np.logaddexp(0, y_pred)
    >>> params = {"pos_weight": 2.0}
    >>> report = check_loss("sigmoid_bce", reference=bce, params=params, train=False)
    >>> report.checks[:6]
    ('inputs', 'value', 'gradient', 'extreme', 'serialization', 'docs')
    >>> report.checks[6:9], "mean_with_sample_weight reduction" in report.checks  # then Keras' checklist
    (('unweighted', 'scalar weight', 'sample weight'), True)

    A loss that takes ``ignore_class``, ``class_weights`` and a ``mask`` gets the dense-target invariants last:

    >>> rng = np.random.default_rng(0)
    >>> inputs = {"y_true": rng.integers(0, 3, (3, 4)), "y_pred": rng.normal(size=(3, 4, 3))}  # class ids, logits
    >>> for check in check_loss("sparse_softmax_ce", inputs=inputs, train=False).checks[-6:]:
    ...     print(check)
    ignored elements
    fully ignored batch
    kept-element mean
    zero weight as mask
    ignore_class and mask agree
    class weights
"""

from lossreg._backend import value_and_grad

from ._check_loss import check_loss
from ._report import CheckReport, LossCheckError

__all__ = ["CheckReport", "LossCheckError", "check_loss", "value_and_grad"]
