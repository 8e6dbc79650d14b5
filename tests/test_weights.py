"""Weights that change during training (issue 11), by value: each schedule against a float64 NumPy reference, the
weight logged per epoch and the weight the first batch really uses, uncertainty weighting at its analytic optimum,
dynamic weight average against its formula on the logged losses, terms that stay fixed after construction, and
constant-weight models left as they were. Every reference is written here, independently of lossreg's formulas.

Step convention (``lossreg/keras/_schedules.py``): the first training batch is step 1; after ``k`` steps
``optimizer.iterations == k`` and the weight in use (and logged) is ``schedule(k)``; before training it is 0.
"""

import math

import keras
import numpy as np
import pytest
from on_backend import only_on

import lossreg

# float32 formulas against float64 references: relative 1e-6, with an absolute floor for values near 0
RTOL, ATOL = 1e-6, 1e-6


# ---------------------------------------------------------------------------------------------------------------
# float64 NumPy references, written from the formulas in the issue and the papers (never lossreg's code)


def ref_linear(t, start, end, steps, delay=0):
    p = min(max((t - delay) / steps, 0.0), 1.0)
    return start + (end - start) * p


def ref_cosine(t, start, end, steps, delay=0):
    """Cosine annealing from start to end over ``steps`` after ``delay``."""
    p = min(max((t - delay) / steps, 0.0), 1.0)
    return end + (start - end) * (1.0 + math.cos(math.pi * p)) / 2.0


def ref_logistic(t, start, end, midpoint, rate):
    """Bowman et al. 2016: a sigmoid of the step around ``midpoint``."""
    return start + (end - start) / (1.0 + math.exp(-rate * (t - midpoint)))


def ref_piecewise(t, boundaries, values):
    """``values[i]`` with ``i`` the number of boundaries strictly below ``t`` (PiecewiseConstantDecay)."""
    return values[sum(1 for b in boundaries if b < t)]


def ref_cyclical(t, start, end, steps, cycles, ratio):
    """Fu et al. 2019: tau = mod(t - 1, ceil(T / M)) / (T / M), beta = min(tau / R, 1); t <= 1 is the start."""
    t = max(t, 1)
    tau = np.mod(t - 1, math.ceil(steps / cycles)) / (steps / cycles)
    return start + (end - start) * min(tau / ratio, 1.0)


REFS = {
    "linear": ref_linear,
    "cosine": ref_cosine,
    "logistic": ref_logistic,
    "piecewise": ref_piecewise,
    "cyclical": ref_cyclical,
}


def reference(weight, t):
    """The float64 reference for a spec schedule ``weight`` at step ``t``."""
    params = {k: v for k, v in weight.items() if k not in ("schedule", "unit")}
    return float(REFS[weight["schedule"]](t, **params))


# ---------------------------------------------------------------------------------------------------------------
# 1. each schedule's value at chosen steps, edges included

SCHEDULE_CASES = [
    # linear with a delay: flat at start through the delay, end from delay + steps on
    (
        {"schedule": "linear", "start": 0.0, "end": 2.0, "steps": 100, "delay": 50},
        [0, 1, 49, 50, 51, 75, 149, 150, 151, 1000],
    ),
    ({"schedule": "linear", "start": 1.0, "end": 0.25, "steps": 7}, [0, 1, 3, 6, 7, 8, 70]),  # decreasing
    ({"schedule": "cosine", "start": 0.0, "end": 1.0, "steps": 40, "delay": 10}, [0, 1, 10, 11, 20, 30, 49, 50, 51]),
    ({"schedule": "cosine", "start": 3.0, "end": 0.5, "steps": 9}, [0, 1, 4, 5, 8, 9, 10, 100]),  # decreasing
    ({"schedule": "logistic", "start": 0.0, "end": 1.0, "midpoint": 100, "rate": 0.05}, [0, 1, 50, 99, 100, 101, 400]),
    ({"schedule": "logistic", "start": 2.0, "end": 0.5, "midpoint": 20.5, "rate": 0.3}, [0, 1, 20, 21, 60]),
    (
        {"schedule": "piecewise", "boundaries": [10, 20], "values": [1.0, 0.5, 0.125]},
        [0, 1, 9, 10, 11, 19, 20, 21, 500],
    ),
    ({"schedule": "piecewise", "boundaries": [0, 3], "values": [0.0, 2.0, 7.0]}, [0, 1, 2, 3, 4]),
    # 100 steps in 4 cycles of 25: rises for 12.5 steps, holds 1 to step 25, restarts at 26, 51, 76, 101
    (
        {"schedule": "cyclical", "start": 0.0, "end": 1.0, "steps": 100, "cycles": 4, "ratio": 0.5},
        [0, 1, 2, 13, 14, 25, 26, 27, 50, 51, 76, 100, 101, 113, 126, 1000],
    ),
    # steps / cycles not whole (10 / 3): cycles of ceil(10 / 3) = 4 steps, tau up to 3 / (10 / 3) = 0.9
    (
        {"schedule": "cyclical", "start": 0.0, "end": 1.0, "steps": 10, "cycles": 3, "ratio": 1.0},
        [0, 1, 2, 3, 4, 5, 8, 9, 12, 13, 14],
    ),
    # decreasing cyclical (start > end)
    (
        {"schedule": "cyclical", "start": 1.0, "end": 0.2, "steps": 30, "cycles": 2, "ratio": 0.6},
        [0, 1, 5, 9, 10, 15, 16, 17, 30, 31, 40],
    ),
]


@pytest.mark.parametrize(
    ("weight", "steps"), SCHEDULE_CASES, ids=lambda v: v.get("schedule", "") if isinstance(v, dict) else ""
)
def test_schedule_value_equals_the_formula_at_its_edges(weight, steps):
    got = [lossreg.schedule_value(weight, t) for t in steps]
    want = [reference(weight, t) for t in steps]
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL, err_msg=f"{weight} at steps {steps}")


def test_schedule_value_edges_by_hand():
    """A few values written out, so that the references above are themselves checked."""
    linear = {"schedule": "linear", "start": 0.0, "end": 2.0, "steps": 100, "delay": 50}
    assert [lossreg.schedule_value(linear, t) for t in (0, 50, 100, 150, 151)] == [0.0, 0.0, 1.0, 2.0, 2.0]
    cyc = {"schedule": "cyclical", "start": 0.0, "end": 1.0, "steps": 100, "cycles": 4, "ratio": 0.5}
    np.testing.assert_allclose(
        [lossreg.schedule_value(cyc, t) for t in (1, 13, 14, 25, 26)], [0.0, 0.96, 1.0, 1.0, 0.0], rtol=RTOL
    )
    piece = {"schedule": "piecewise", "boundaries": [10, 20], "values": [1.0, 0.5, 0.125]}
    assert [lossreg.schedule_value(piece, t) for t in (10, 11, 20, 21)] == [1.0, 0.5, 0.5, 0.125]
    logistic = {"schedule": "logistic", "start": 0.0, "end": 1.0, "midpoint": 100, "rate": 0.05}
    assert lossreg.schedule_value(logistic, 100) == 0.5


def test_schedule_value_refuses_a_learned_weight_and_a_bad_schedule():
    with pytest.raises(lossreg.LossSpecError, match="no fixed value per step"):
        lossreg.schedule_value({"learned": "uncertainty"}, 3)
    with pytest.raises(lossreg.LossSpecError, match=r"weight\['steps'\]"):
        lossreg.schedule_value({"schedule": "linear", "steps": 0}, 3)


# ---------------------------------------------------------------------------------------------------------------
# models and data shared by the training tests


def two_heads(seed=0, *, bias=True, trainable=True, zeros=False):
    """``x (4,)`` -> ``{"a": Dense(2), "b": Dense(3)}``, each straight from the input."""
    keras.utils.set_random_seed(seed)
    inp = keras.Input((4,), name="x")
    init = "zeros" if zeros else "glorot_uniform"
    a = keras.layers.Dense(2, use_bias=bias, trainable=trainable, kernel_initializer=init, name="a")(inp)
    b = keras.layers.Dense(3, use_bias=bias, trainable=trainable, kernel_initializer=init, name="b")(inp)
    return keras.Model(inp, {"a": a, "b": b})


def data(n=32, scale_a=1.0, scale_b=1.0, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype("float32")
    y = {
        "a": (scale_a * rng.normal(size=(n, 2))).astype("float32"),
        "b": (scale_b * rng.normal(size=(n, 3))).astype("float32"),
    }
    return x, y


def mse64(y, p):
    return float(np.mean((np.asarray(y, "float64") - np.asarray(p, "float64")) ** 2))


class Iterations(keras.callbacks.Callback):
    """``optimizer.iterations`` at each epoch's end."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def on_epoch_end(self, epoch, logs=None):
        self.seen.append(int(keras.ops.convert_to_numpy(self.model.optimizer.iterations)))


# a schedule that has not reached its end after 12 steps (0.2, 0.6, 1.0 at steps 4, 8, 12)
RAMP = {"schedule": "linear", "start": 0.0, "end": 2.0, "steps": 20, "delay": 2}


# ---------------------------------------------------------------------------------------------------------------
# 2. the weight logged per epoch, in evaluate, and the one the first batch uses


def test_attach_logs_the_schedule_at_the_optimizer_step_and_evaluate_sums_the_weighted_terms():
    model = two_heads()
    train = lossreg.attach(model, {"a": {"loss": "mse", "weight": RAMP}, "b": {"loss": "mse", "weight": 0.5}})
    train.compile(optimizer=keras.optimizers.SGD(0.01))
    x, y = data()
    steps = Iterations()
    history = train.fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=[steps]).history
    assert steps.seen == [4, 8, 12]
    assert "b_weight" not in history  # the constant term logs no weight
    np.testing.assert_allclose(history["a_weight"], [reference(RAMP, k) for k in steps.seen], rtol=RTOL, atol=ATOL)

    logs = train.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
    assert int(keras.ops.convert_to_numpy(train.optimizer.iterations)) == 12  # evaluate does not count steps
    np.testing.assert_allclose(logs["a_weight"], reference(RAMP, 12), rtol=RTOL)
    pred = model.predict(x, verbose=0)
    np.testing.assert_allclose(logs["a_loss"], mse64(y["a"], pred["a"]), rtol=1e-5)
    np.testing.assert_allclose(logs["b_loss"], mse64(y["b"], pred["b"]), rtol=1e-5)
    np.testing.assert_allclose(logs["a_weighted_loss"], logs["a_weight"] * logs["a_loss"], rtol=1e-6)
    np.testing.assert_allclose(logs["b_weighted_loss"], 0.5 * logs["b_loss"], rtol=1e-6)
    np.testing.assert_allclose(logs["loss"], logs["a_weighted_loss"] + logs["b_weighted_loss"], rtol=1e-6)


def test_attach_epoch_schedule_logs_the_schedule_at_the_epoch():
    weight = {"schedule": "linear", "start": 1.0, "end": 0.0, "steps": 4, "unit": "epoch"}
    train = lossreg.attach(two_heads(), {"a": {"loss": "mse", "weight": weight}, "b": "mse"})
    train.compile(optimizer=keras.optimizers.SGD(0.01))
    x, y = data()
    history = train.fit(x, y, batch_size=8, epochs=3, verbose=0).history
    np.testing.assert_allclose(history["a_weight"], [reference(weight, e) for e in (1, 2, 3)], rtol=RTOL)
    logs = train.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
    np.testing.assert_allclose(logs["a_weight"], reference(weight, 3), rtol=RTOL)  # still in epoch 3's weight
    np.testing.assert_allclose(logs["loss"], logs["a_weighted_loss"] + logs["b_loss"], rtol=1e-6)
    # a second fit continues the epoch count: epochs 4 and 5 (past the schedule's end)
    history = train.fit(x, y, batch_size=8, epochs=2, verbose=0).history
    np.testing.assert_allclose(history["a_weight"], [reference(weight, e) for e in (4, 5)], rtol=RTOL, atol=ATOL)


@only_on("tensorflow", "jax", why="several steps per execution and XLA (torch refuses steps_per_execution > 1)")
def test_attach_schedule_counts_every_step_inside_compiled_multi_step_execution():
    train = lossreg.attach(two_heads(), {"a": {"loss": "mse", "weight": RAMP}, "b": {"loss": "mse", "weight": 0.5}})
    train.compile(optimizer=keras.optimizers.SGD(0.01), steps_per_execution=3, jit_compile=True)
    x, y = data(n=48)  # 6 steps per epoch, 2 executions
    steps = Iterations()
    history = train.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[steps]).history
    assert steps.seen == [6, 12]
    np.testing.assert_allclose(history["a_weight"], [reference(RAMP, 6), reference(RAMP, 12)], rtol=RTOL)


def loss_layer_model(weight_a, weight_b=0.5, *, bias=True):
    """A functional model whose losses are two LossLayers: ``a`` (weight ``weight_a``) and ``b`` (``weight_b``)."""
    keras.utils.set_random_seed(0)
    x = keras.Input((4,), name="x")
    ya, yb = keras.Input((2,), name="ya"), keras.Input((3,), name="yb")
    a = keras.layers.Dense(2, use_bias=bias, name="a")(x)
    b = keras.layers.Dense(3, use_bias=bias, name="b")(x)
    a = lossreg.LossLayer("mse", weight=weight_a, name="a_loss")([ya, a])
    b = lossreg.LossLayer("mse", weight=weight_b, name="b_loss")([yb, b])
    return keras.Model([x, ya, yb], [a, b])


def test_loss_layer_logs_the_schedule_at_the_optimizer_step_per_epoch():
    model = loss_layer_model(RAMP)
    model.compile(optimizer=keras.optimizers.SGD(0.01))
    x, y = data()
    inputs = [x, y["a"], y["b"]]
    steps = Iterations()
    history = model.fit(inputs, None, batch_size=8, epochs=3, verbose=0, callbacks=[steps]).history
    assert steps.seen == [4, 8, 12]
    assert "b_weight" not in history
    np.testing.assert_allclose(history["a_weight"], [reference(RAMP, k) for k in steps.seen], rtol=RTOL, atol=ATOL)

    logs = model.evaluate(inputs, None, batch_size=8, verbose=0, return_dict=True)
    np.testing.assert_allclose(logs["a_weight"], reference(RAMP, 12), rtol=RTOL)
    np.testing.assert_allclose(logs["a_weighted_loss"], logs["a_weight"] * logs["a_loss"], rtol=1e-6)
    np.testing.assert_allclose(logs["b_weighted_loss"], 0.5 * logs["b_loss"], rtol=1e-6)
    np.testing.assert_allclose(logs["loss"], logs["a_weighted_loss"] + logs["b_weighted_loss"], rtol=1e-6)
    dense = keras.Model(model.input[0], [model.get_layer("a").output, model.get_layer("b").output])
    pa, pb = dense.predict(x, verbose=0)
    np.testing.assert_allclose(logs["a_loss"], mse64(y["a"], pa), rtol=1e-5)
    np.testing.assert_allclose(logs["b_loss"], mse64(y["b"], pb), rtol=1e-5)


def test_loss_layer_refuses_epoch_counted_weights():
    with pytest.raises(lossreg.LossSpecError, match="needs fit\\(\\)'s epochs"):
        lossreg.LossLayer("mse", weight={"schedule": "linear", "steps": 3, "unit": "epoch"})
    with pytest.raises(lossreg.LossSpecError, match="needs fit\\(\\)'s epochs"):
        lossreg.LossLayer("mse", weight={"learned": "dwa"})


# The first batch uses schedule(1): with full-batch SGD on bias-free heads ``a = x Wa`` (scheduled) and
# ``b = x Wb`` (constant 0.5), each step is W <- W - lr * w * dMSE/dW, dMSE/dW = 2 / (n d) x^T (x W - y).
# With the ramp 0 -> 1 over 2 steps, schedule(1) = 0.5 and schedule(2) = 1: a step that used schedule(0) = 0
# would leave Wa unchanged, one that used schedule(2) would move it twice as far.
FIRST = {"schedule": "linear", "start": 0.0, "end": 1.0, "steps": 2}
LR = 0.1


def sgd_reference(x, y, kernel, weights):
    """``kernel`` after full-batch SGD steps with the given loss weights, float64."""
    x, y, kernel = (np.asarray(v, "float64") for v in (x, y, kernel))
    for w in weights:
        grad = 2.0 / (x.shape[0] * y.shape[1]) * x.T @ (x @ kernel - y)
        kernel = kernel - LR * w * grad
    return kernel


def check_first_steps(fit_one_epoch, kernels, x, y):
    """Fit one full-batch step twice; the kernels follow SGD with weights schedule(1) then schedule(2)."""
    a0, b0 = (np.array(v) for v in kernels())
    assert reference(FIRST, 1) == 0.5 and reference(FIRST, 2) == 1.0
    fit_one_epoch()
    a1, b1 = kernels()
    np.testing.assert_allclose(a1, sgd_reference(x, y["a"], a0, [0.5]), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b1, sgd_reference(x, y["b"], b0, [0.5]), rtol=1e-5, atol=1e-6)
    assert not np.allclose(a1, a0, atol=1e-4)  # the step is large enough to tell the weights apart
    fit_one_epoch()
    a2, b2 = kernels()
    np.testing.assert_allclose(a2, sgd_reference(x, y["a"], a0, [0.5, 1.0]), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(b2, sgd_reference(x, y["b"], b0, [0.5, 0.5]), rtol=1e-5, atol=1e-6)


def test_attach_first_batch_uses_schedule_at_step_1():
    model = two_heads(bias=False)
    train = lossreg.attach(model, {"a": {"loss": "mse", "weight": FIRST}, "b": {"loss": "mse", "weight": 0.5}})
    train.compile(optimizer=keras.optimizers.SGD(LR))
    x, y = data(n=8)

    def kernels():
        return [keras.ops.convert_to_numpy(model.get_layer(n).kernel) for n in "ab"]

    check_first_steps(lambda: train.fit(x, y, batch_size=8, epochs=1, verbose=0), kernels, x, y)


def test_loss_layer_first_batch_uses_schedule_at_step_1():
    model = loss_layer_model(FIRST, bias=False)
    model.compile(optimizer=keras.optimizers.SGD(LR))
    x, y = data(n=8)

    def kernels():
        return [keras.ops.convert_to_numpy(model.get_layer(n).kernel) for n in "ab"]

    check_first_steps(lambda: model.fit([x, y["a"], y["b"]], None, batch_size=8, epochs=1, verbose=0), kernels, x, y)


class BatchLogs(keras.callbacks.Callback):
    """Every training batch's logs: ``a_weight`` (the latest batch's) and the running means of the losses."""

    def __init__(self):
        super().__init__()
        self.rows = []

    def on_train_batch_end(self, batch, logs=None):
        self.rows.append((batch, logs["a_weight"], logs["a_loss"], logs["a_weighted_loss"]))


def check_per_batch(rows):
    """Batch k of the run (from 1) logs weight schedule(k); its own weighted loss (unrolled from the epoch's
    running mean, equal batch sizes) is schedule(k) times its own loss."""
    rows = np.array(rows, "float64")
    assert len(rows) == 12
    np.testing.assert_allclose(rows[:, 1], [reference(RAMP, k) for k in range(1, 13)], rtol=RTOL, atol=ATOL)
    batch = rows[:, 0]
    assert list(batch) == [0, 1, 2, 3] * 3  # 4 batches per epoch
    for column in (2, 3):  # running mean -> each batch's own value: k m_k - (k - 1) m_(k-1) within an epoch
        means = rows[:, column].copy()
        previous = np.where(batch > 0, np.roll(means, 1), 0.0)
        rows[:, column] = (batch + 1) * means - batch * previous
    np.testing.assert_allclose(rows[:, 3], rows[:, 1] * rows[:, 2], rtol=1e-4, atol=1e-5)


def test_attach_logs_each_batch_weight_as_the_schedule_at_that_step():
    train = lossreg.attach(two_heads(), {"a": {"loss": "mse", "weight": RAMP}, "b": {"loss": "mse", "weight": 0.5}})
    train.compile(optimizer=keras.optimizers.SGD(0.01))
    x, y = data()
    logs = BatchLogs()
    train.fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=[logs])
    check_per_batch(logs.rows)


@only_on(
    "tensorflow", "torch", why="LossLayer's per-batch figures are NaN inside JAX's compiled step (epoch ones exact)"
)
def test_loss_layer_logs_each_batch_weight_as_the_schedule_at_that_step():
    model = loss_layer_model(RAMP)
    model.compile(optimizer=keras.optimizers.SGD(0.01))
    x, y = data()
    logs = BatchLogs()
    model.fit([x, y["a"], y["b"]], None, batch_size=8, epochs=3, verbose=0, callbacks=[logs])
    check_per_batch(logs.rows)


# ---------------------------------------------------------------------------------------------------------------
# 3. uncertainty weighting: c * exp(-s) * L + s, optimum exp(-s) = 1 / (c L); logged weight c * exp(-s)


def frozen_heads():
    """Heads that output 0 and do not train: each term's loss is the fixed mean(y^2); only s trains."""
    return two_heads(bias=False, trainable=False, zeros=True)


def repeated(x, y, times):
    """The same full batch ``times`` over: with ``shuffle=False`` every step sees the same (fixed) losses."""
    return np.tile(x, (times, 1)), {k: np.tile(v, (times, 1)) for k, v in y.items()}


def frozen_loss_layers(weight):
    """``frozen_heads`` as a functional model whose two losses are LossLayers ``a`` and ``b`` with ``weight``."""
    keras.utils.set_random_seed(0)
    x = keras.Input((4,), name="x")
    ya, yb = keras.Input((2,), name="ya"), keras.Input((3,), name="yb")
    dense = {"use_bias": False, "trainable": False, "kernel_initializer": "zeros"}
    a = lossreg.LossLayer("mse", weight=weight, name="a_loss")([ya, keras.layers.Dense(2, **dense)(x)])
    b = lossreg.LossLayer("mse", weight=weight, name="b_loss")([yb, keras.layers.Dense(3, **dense)(x)])
    return keras.Model([x, ya, yb], [a, b])


@pytest.mark.parametrize("owner", ["attach", "LossLayer"])
def test_uncertainty_weighting_converges_to_one_over_the_loss(owner):
    x, y = data(n=8, scale_a=10.0, scale_b=0.1)  # L_a ~ 100, L_b ~ 0.01
    la, lb = mse64(y["a"], 0.0), mse64(y["b"], 0.0)
    assert la / lb > 1e3
    uncertainty = {"learned": "uncertainty"}
    if owner == "attach":
        spec = {"a": {"loss": "mse", "weight": uncertainty}, "b": {"loss": "mse", "weight": uncertainty}}
        model = lossreg.attach(frozen_heads(), spec)

        def inputs(x, y):
            return x, y
    else:
        model = frozen_loss_layers(uncertainty)

        def inputs(x, y):
            return [x, y["a"], y["b"]], None

    # SGD on exp(-s) L + s: gradient 1 - exp(-s) L, curvature 1 at the optimum; lr 0.5 converges well in 200 steps
    model.compile(optimizer=keras.optimizers.SGD(0.5))
    model.fit(*inputs(*repeated(x, y, 25)), batch_size=8, epochs=8, shuffle=False, verbose=0)  # 200 steps
    assert len(model.trainable_variables) == 2  # the two log-variances, nothing else
    logs = model.evaluate(*inputs(x, y), batch_size=8, verbose=0, return_dict=True)
    np.testing.assert_allclose([logs["a_loss"], logs["b_loss"]], [la, lb], rtol=1e-5)
    for k in "ab":
        weight, loss = logs[f"{k}_weight"], logs[f"{k}_loss"]
        np.testing.assert_allclose(weight, 1.0 / loss, rtol=1e-3, err_msg=k)
        np.testing.assert_allclose(logs[f"{k}_weighted_loss"], weight * loss - math.log(weight), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(logs["loss"], logs["a_weighted_loss"] + logs["b_weighted_loss"], rtol=1e-5, atol=1e-6)
    # at the optimum each weighted term is 1 + log L
    np.testing.assert_allclose([logs["a_weighted_loss"], logs["b_weighted_loss"]], 1.0 + np.log([la, lb]), rtol=1e-4)


def test_uncertainty_weighting_under_an_entry_weight_folds_it_in():
    """An entry weight c over a learned term: c exp(-s) L + s; the logged weight c exp(-s) still -> 1 / L, and
    the weighted loss is weight * L + s with s = -log(weight / c)."""
    x, y = data(n=8, scale_a=2.0, scale_b=1.0)
    la = mse64(y["a"], 0.0)
    spec = {"a": {"loss": [{"loss": "mse", "weight": {"learned": "uncertainty"}}], "weight": 4.0}, "b": "mse"}
    train = lossreg.attach(frozen_heads(), spec)
    train.compile(optimizer=keras.optimizers.SGD(0.5))
    before = train.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
    np.testing.assert_allclose(before["a_weight"], 4.0, rtol=1e-6)  # c exp(-0)
    np.testing.assert_allclose(before["a_weighted_loss"], 4.0 * la, rtol=1e-5)
    xr, yr = repeated(x, y, 25)
    train.fit(xr, yr, batch_size=8, epochs=4, shuffle=False, verbose=0)
    logs = train.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
    weight = logs["a_weight"]
    np.testing.assert_allclose(weight, 1.0 / la, rtol=1e-3)
    np.testing.assert_allclose(logs["a_weighted_loss"], weight * la - math.log(weight / 4.0), rtol=1e-5)


def test_uncertainty_init_sets_the_start_and_trainable_false_freezes_it():
    x, y = data(n=8, scale_a=3.0, scale_b=0.5)
    la, lb = mse64(y["a"], 0.0), mse64(y["b"], 0.0)
    spec = {
        "a": {"loss": "mse", "weight": {"learned": "uncertainty", "init": 0.5, "trainable": False}},
        "b": {"loss": "mse", "weight": {"learned": "uncertainty", "init": -1.0}},
    }
    train = lossreg.attach(frozen_heads(), spec)
    train.compile(optimizer=keras.optimizers.SGD(0.1))
    assert len(train.term_weights.trainable_variables) == 1  # b's log-variance only
    before = train.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
    np.testing.assert_allclose([before["a_weight"], before["b_weight"]], [math.exp(-0.5), math.exp(1.0)], rtol=1e-6)
    np.testing.assert_allclose(before["a_weighted_loss"], math.exp(-0.5) * la + 0.5, rtol=1e-5)
    np.testing.assert_allclose(before["b_weighted_loss"], math.exp(1.0) * lb - 1.0, rtol=1e-5)

    train.fit(x, y, batch_size=8, epochs=1, verbose=0)  # one SGD step: s <- s - lr * (1 - exp(-s) L)
    after = train.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
    np.testing.assert_allclose(after["a_weight"], math.exp(-0.5), rtol=1e-6)  # frozen
    s_b = -1.0 - 0.1 * (1.0 - math.exp(1.0) * lb)
    np.testing.assert_allclose(after["b_weight"], math.exp(-s_b), rtol=1e-5)
    np.testing.assert_allclose(after["b_weighted_loss"], math.exp(-s_b) * lb + s_b, rtol=1e-5)


# ---------------------------------------------------------------------------------------------------------------
# 4. dynamic weight average: w_k(e) = K exp(r_k / T) / sum_i exp(r_i / T), r_k = L_k(e - 1) / L_k(e - 2)


def three_heads():
    keras.utils.set_random_seed(0)
    inp = keras.Input((4,), name="x")
    return keras.Model(inp, {k: keras.layers.Dense(2, name=k)(inp) for k in "abc"})


def three_targets(n=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype("float32")
    return x, {k: (s * rng.normal(size=(n, 2))).astype("float32") for k, s in zip("abc", (1.0, 3.0, 0.3), strict=True)}


def dwa_reference(losses, temperature):
    """Per-epoch weights from the per-epoch losses (terms x epochs), float64; 1 for the first two epochs."""
    losses = np.asarray(losses, "float64")
    k, epochs = losses.shape
    weights = np.ones_like(losses)
    for e in range(2, epochs):  # 0-based epoch e is the paper's epoch e + 1
        r = losses[:, e - 1] / losses[:, e - 2]
        z = np.exp(r / temperature)
        weights[:, e] = k * z / z.sum()
    return weights


DWA = {"learned": "dwa", "temperature": 2.0}


def dwa_model(learned="abc"):
    """Three heads; the ``learned`` ones weighted by dwa, the others constant 1."""
    spec = {k: {"loss": "mse", "weight": DWA} if k in learned else "mse" for k in "abc"}
    train = lossreg.attach(three_heads(), spec)
    train.compile(optimizer=keras.optimizers.SGD(0.1))
    return train


@pytest.mark.parametrize("learned", ["abc", "ab"])
def test_dwa_weights_follow_the_formula_on_the_logged_epoch_losses(learned):
    train = dwa_model(learned)
    x, y = three_targets()
    history = train.fit(x, y, batch_size=8, epochs=5, verbose=0).history
    losses = [history[f"{k}_loss"] for k in learned]
    weights = np.array([history[f"{k}_weight"] for k in learned])
    want = dwa_reference(losses, 2.0)  # K = the number of dwa terms
    np.testing.assert_allclose(weights, want, rtol=1e-5)
    assert np.abs(want[:, 2:] - 1.0).max() > 1e-2  # the weights really moved: the check can fail
    np.testing.assert_allclose(weights.sum(axis=0), len(learned), rtol=1e-6)
    assert ("c_weight" in history) == ("c" in learned)
    logs = train.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
    for k in learned:
        np.testing.assert_allclose(logs[f"{k}_weighted_loss"], logs[f"{k}_weight"] * logs[f"{k}_loss"], rtol=1e-6)
    weighted = [logs[f"{k}_weighted_loss"] if k in learned else logs[f"{k}_loss"] for k in "abc"]
    np.testing.assert_allclose(logs["loss"], sum(weighted), rtol=1e-6)


def test_dwa_uses_the_training_losses_when_fit_validates():
    train = dwa_model()
    x, y = three_targets()
    xv, yv = three_targets(seed=1)
    yv = {k: 10.0 * v for k, v in yv.items()}  # validation losses far from the training ones
    history = train.fit(x, y, batch_size=8, epochs=5, verbose=0, validation_data=(xv, yv)).history
    weights = np.array([history[f"{k}_weight"] for k in "abc"])
    np.testing.assert_allclose(weights, dwa_reference([history[f"{k}_loss"] for k in "abc"], 2.0), rtol=1e-5)


def test_epoch_counted_weights_refuse_train_on_batch():
    """Only fit() has epochs: train_on_batch would leave dwa and epoch schedules at their first value, silently."""
    train = dwa_model()
    x, y = three_targets()
    with pytest.raises(lossreg.LossSpecError, match=r"train_on_batch\(\) has no epochs"):
        train.train_on_batch(x, y)
    steps = lossreg.attach(
        three_heads(), {k: {"loss": "mse", "weight": {"schedule": "linear", "steps": 4}} for k in "abc"}
    )
    steps.compile(optimizer=keras.optimizers.SGD(0.1))
    logs = steps.train_on_batch(x, y, return_dict=True)  # step-counted weights advance per batch
    assert logs["a_weight"] == pytest.approx(0.25)


# ---------------------------------------------------------------------------------------------------------------
# 5. a loss's terms are immutable after construction

FIXED = "fixed once it is built"


def test_registered_loss_terms_refuse_edits():
    loss = lossreg.resolve({"loss": "mse", "weight": 2.0})
    with pytest.raises(TypeError, match=FIXED):
        loss.terms[0]["weight"] = 1000.0
    with pytest.raises(TypeError, match=FIXED):
        loss.terms[0]["params"]["anything"] = 1
    with pytest.raises(TypeError, match=FIXED):
        del loss.terms[0]["loss"]
    assert loss.get_config()["terms"][0]["weight"] == 2.0
    assert float(keras.ops.convert_to_numpy(loss(np.array([[1.0]]), np.array([[3.0]])))) == 8.0


def test_attach_spec_and_layer_terms_cannot_be_replaced():
    train = dwa_model()
    with pytest.raises(TypeError, match=FIXED):
        train.spec = {"a": "mae"}
    layer = lossreg.LossLayer("mse")
    with pytest.raises(TypeError, match=FIXED):
        layer.terms = ()


def test_registered_loss_terms_cannot_be_replaced():
    loss = lossreg.resolve({"loss": "mse", "weight": 2.0})
    with pytest.raises(TypeError, match=FIXED):
        loss.terms = [{"loss": "mse", "params": {}, "weight": 1000.0}]
    assert loss.get_config()["terms"][0]["weight"] == 2.0  # what is saved is what is computed
    restored = lossreg.RegisteredLoss.from_config(loss.get_config())
    assert float(keras.ops.convert_to_numpy(restored(np.array([[1.0]]), np.array([[3.0]])))) == 8.0


def test_attach_spec_refuses_edits():
    train = lossreg.attach(two_heads(), {"a": {"loss": "mse", "weight": RAMP}, "b": {"loss": "mse", "weight": 0.5}})
    with pytest.raises(TypeError, match=FIXED):
        train.spec["b"]["loss"][0]["weight"] = 1000.0
    with pytest.raises(TypeError, match=FIXED):
        train.spec["a"]["loss"][0]["weight"]["end"] = 1000.0
    with pytest.raises(TypeError, match=FIXED):
        train.spec["c"] = "mse"
    assert train.get_config()["spec"]["b"]["loss"][0]["weight"] == 0.5


def test_loss_layer_ignores_edits_to_the_list_it_was_given(tmp_path):
    terms = [{"loss": "mse", "weight": 2.0}]
    keras.utils.set_random_seed(0)
    x_in, y_in = keras.Input((2,), name="x"), keras.Input((2,), name="y")
    pred = keras.layers.Dense(2, name="dense")(x_in)
    layer = lossreg.LossLayer(terms, name="fit_loss")
    model = keras.Model([x_in, y_in], layer([y_in, pred]))
    terms[0]["weight"] = 1000.0  # edits after construction: neither computed nor saved
    terms.append({"loss": "mae", "weight": 5.0})
    assert layer.get_config()["loss"] == [{"loss": "mse", "weight": 2.0}]

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 2)).astype("float32"), rng.normal(size=(16, 2)).astype("float32")
    kernel, bias = (keras.ops.convert_to_numpy(v).astype("float64") for v in model.get_layer("dense").weights)
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    model.fit([x, y], None, batch_size=16, epochs=1, verbose=0)  # one step on 2 * mse, as built
    residual = x.astype("float64") @ kernel + bias - y  # d(2 mse)/d(pred) = 2 * 2 / (n d) * residual
    step = 0.1 * 2.0 * 2.0 / residual.size
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model.get_layer("dense").kernel), kernel - step * x.T @ residual, rtol=1e-5
    )
    logs = model.evaluate([x, y], None, batch_size=16, verbose=0, return_dict=True)
    mse = mse64(y, keras.Model(x_in, pred).predict(x, verbose=0))
    np.testing.assert_allclose(
        [logs["fit_loss"], logs["fit_weighted_loss"], logs["loss"]], [mse, 2.0 * mse, 2.0 * mse], rtol=1e-5
    )

    path = tmp_path / "m.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    assert reloaded.get_layer("fit_loss").get_config()["loss"] == [{"loss": "mse", "weight": 2.0}]
    again = reloaded.evaluate([x, y], None, batch_size=16, verbose=0, return_dict=True)
    np.testing.assert_allclose(again["loss"], logs["loss"], rtol=1e-6)


# ---------------------------------------------------------------------------------------------------------------
# 6. constant weights: no weight state, no weight logs


def test_constant_weights_add_no_state_and_no_weight_logs():
    train = lossreg.attach(two_heads(), {"a": {"loss": "mse", "weight": 2.0}, "b": "mse"})
    assert train.term_weights is None
    train.compile(optimizer=keras.optimizers.SGD(0.01))
    x, y = data()
    history = train.fit(x, y, batch_size=8, epochs=1, verbose=0).history
    assert set(history) == {"loss", "a_loss", "a_weighted_loss", "b_loss"}
    logs = train.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
    assert not any(name.endswith("_weight") for name in logs)
    np.testing.assert_allclose(logs["loss"], 2.0 * logs["a_loss"] + logs["b_loss"], rtol=1e-6)

    model = loss_layer_model(2.0, 1.0)
    assert all(model.get_layer(n).term_weights is None for n in ("a_loss", "b_loss"))
    model.compile(optimizer=keras.optimizers.SGD(0.01))
    x, y = data()
    history = model.fit([x, y["a"], y["b"]], None, batch_size=8, epochs=1, verbose=0).history
    assert set(history) == {"loss", "a_loss", "a_weighted_loss", "b_loss"}
