"""Value ranges for Keras' own loss names and for weights: a value outside them is a ``LossSpecError`` at its path.

Keras checks none of its losses' parameters: ``huber`` with ``delta=-1`` computed a negative loss,
``categorical_crossentropy`` with ``label_smoothing=5`` a loss of made-up targets, a focal ``gamma=1e9`` a loss of
exactly 0.0 and a weight of 1e308 an ``inf`` loss. Each is refused where a spec is read (``resolve``, ``get``,
``attach``, ``LossLayer``, ``lossreg check`` without importing Keras) at the parameter's own path, as a wrong type
is; ``lossreg show`` prints the ranges; and each boundary value computes what Keras' own ``Loss`` class computes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import keras
import numpy as np
import pytest

import lossreg
from lossreg import LossSpecError

FLOAT32_MAX = float(np.finfo(np.float32).max)  # 3.4028234663852886e38
ABOVE_FLOAT32_MAX = float(np.nextafter(FLOAT32_MAX, np.inf))  # a float64 just above it


def refused(call: Any, path: str, says: str) -> LossSpecError:
    with pytest.raises(LossSpecError) as info:
        call()
    assert info.value.path == path, str(info.value)
    assert str(info.value) == f"{path}: {says}"
    return info.value


# -- bad values ----------------------------------------------------------------------------------------------------
FRACTION, FOCAL_GAMMA, POSITIVE, NON_NEGATIVE = (
    "must be in [0, 1]",
    "must be in [0, 100]",
    "must be > 0",
    "must be >= 0",
)
# (loss, parameter, value, the rule it breaks): Keras' names, whose ranges are data (checked with the types)
BAD_VALUES = [
    ("huber", "delta", -1, POSITIVE),
    ("huber", "delta", 0.0, POSITIVE),
    ("categorical_crossentropy", "label_smoothing", 5, FRACTION),
    ("categorical_crossentropy", "label_smoothing", -0.1, FRACTION),
    ("binary_crossentropy", "label_smoothing", 1.5, FRACTION),
    ("bce", "label_smoothing", 2, FRACTION),
    ("binary_focal_crossentropy", "gamma", 1e9, FOCAL_GAMMA),
    ("binary_focal_crossentropy", "gamma", -1.0, FOCAL_GAMMA),
    ("binary_focal_crossentropy", "alpha", 1.5, FRACTION),
    ("binary_focal_crossentropy", "label_smoothing", 3.0, FRACTION),
    ("categorical_focal_crossentropy", "gamma", 100.5, FOCAL_GAMMA),
    ("categorical_focal_crossentropy", "alpha", -0.25, FRACTION),
    ("categorical_focal_crossentropy", "label_smoothing", 1.01, FRACTION),
    ("circle", "gamma", 0, POSITIVE),
    ("circle", "margin", 1.5, FRACTION),
    ("circle", "margin", -0.1, FRACTION),
    ("tversky", "alpha", -3, NON_NEGATIVE),
    ("tversky", "beta", -0.5, NON_NEGATIVE),
]
# (loss, params, the message): "Invalid value for parameter 'k' of loss 'x'. Expected a number <rule>, received v."
BAD = [
    (name, {key: value}, f"Invalid value for parameter {key!r} of loss {name!r}. Expected a number {rule[8:]}, "
     f"received {value!r}.")
    for name, key, value, rule in BAD_VALUES
]  # fmt: skip
# lossreg's own sigmoid_focal checks gamma in its validate function: the error names the term, quoting the check
OWN = [
    ("sigmoid_focal", {"gamma": gamma}, f"Invalid parameters for loss 'sigmoid_focal': `gamma` {FOCAL_GAMMA}, "
     f"received gamma={gamma!r}.")
    for gamma in (1e9, 101)
]  # fmt: skip


def ways(name: str, params: dict) -> list[tuple[Any, str]]:
    """Each way a spec is read, and the path of the term's parameters there (``<path>['params']``-style)."""
    x = keras.Input((3,))
    model = keras.Model(x, {"a": keras.layers.Dense(3, name="a")(x), "b": keras.layers.Dense(3, name="b")(x)})
    return [
        (lambda: lossreg.resolve({"loss": name, "params": params}), "spec"),
        (lambda: lossreg.resolve({"o": {"loss": ["mse", {"loss": name, "params": params}]}}), "spec['o']['loss'][1]"),
        (lambda: lossreg.get(name, **params), f"lossreg.get({name!r})"),
        (lambda: lossreg.LossLayer(name, params=params, name="t"), "LossLayer(name='t')"),
        (lambda: lossreg.attach(model, {"a": {"loss": name, "params": params}, "b": "mse"}), "spec['a']"),
    ]


def param_path(term: str, key: str) -> str:
    return f"{term[:-1]}, {key}=...)" if term.endswith(")") else f"{term}['params'][{key!r}]"


@pytest.mark.parametrize("name, params, says", BAD, ids=[f"{n}-{next(iter(p))}" for n, p, _ in BAD])
def test_a_value_out_of_range_is_refused_at_the_parameters_own_path(name, params, says):
    """As a value of the wrong type is (``LossDef.param_problems``): ``spec[...]['params']['delta']``,
    ``lossreg.get('huber', delta=...)``."""
    (key,) = params
    for call, term in ways(name, params):
        refused(call, param_path(term, key), says)


def test_a_wrong_type_and_a_value_out_of_range_name_the_same_path():
    wrong_type = refused(
        lambda: lossreg.get("huber", delta="1"),
        "lossreg.get('huber', delta=...)",
        "Invalid value for parameter 'delta' of loss 'huber'. Expected float, received str '1'.",
    )
    out_of_range = refused(
        lambda: lossreg.get("huber", delta=-1.0),
        "lossreg.get('huber', delta=...)",
        "Invalid value for parameter 'delta' of loss 'huber'. Expected a number > 0, received -1.0.",
    )
    assert wrong_type.path == out_of_range.path


@pytest.mark.parametrize("name, params, says", OWN, ids=[f"{n}-{p['gamma']}" for n, p, _ in OWN])
def test_lossreg_own_focal_gamma_bound_is_refused_naming_the_term(name, params, says):
    for call, term in ways(name, params):
        refused(call, term, says)


def test_describe_carries_the_ranges_and_prints_one_line_per_ranged_parameter():
    info = lossreg.describe("binary_focal_crossentropy")
    assert {k: r.bound() for k, r in info.ranges.items()} == {
        "alpha": "in [0, 1]",
        "gamma": "in [0, 100]",
        "label_smoothing": "in [0, 1]",
    }
    lines = str(info).splitlines()
    at = lines.index("    gamma: float (default 2.0)")
    assert lines[at + 1] == "      values: in [0, 100]"
    assert "    apply_class_balancing: bool (default False)" in lines
    assert sum(line.startswith("      values: ") for line in lines) == 3
    huber = str(lossreg.describe("huber")).splitlines()
    assert huber[-2:] == ["    delta: float (default 1.0)", "      values: > 0"]
    assert not lossreg.describe("mse").ranges and "values:" not in str(lossreg.describe("mse"))


ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
NO_KERAS = """
import json, sys
from lossreg.cli import main
rc = main(sys.argv[1:])
print(json.dumps({"rc": rc, "imported": [m for m in ("keras", "tensorflow") if m in sys.modules]}))
"""


def test_lossreg_check_lists_every_value_out_of_range_with_its_path_and_imports_no_keras(tmp_path):
    spec = {f"out_{i}": {"loss": name, "params": params} for i, (name, params, _) in enumerate(BAD)}
    spec["weighted"] = {"loss": "mse", "weight": 1e308}
    spec["scheduled"] = {"loss": "mse", "weight": {"schedule": "linear", "end": 1e39, "steps": 10}}
    (tmp_path / "bad.json").write_text(json.dumps(spec))
    result = subprocess.run(
        [sys.executable, "-c", NO_KERAS, "check", "bad.json"],
        capture_output=True,
        text=True,
        env=ENV,
        cwd=tmp_path,
        timeout=120,
    )
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome == {"rc": 1, "imported": []}
    lines = result.stderr.splitlines()
    assert lines[0] == f"lossreg check: {len(BAD) + 2} problems in bad.json:"
    too_large = "Invalid weight. Expected at most 3.4028235e+38 (the largest float32: losses are computed in float32)"
    expected = [
        f"  - bad.json: spec['out_{i}']['params'][{next(iter(p))!r}]: {says}" for i, (_, p, says) in enumerate(BAD)
    ] + [
        f"  - bad.json: spec['weighted']['weight']: {too_large}, received 1e+308.",
        f"  - bad.json: spec['scheduled']['weight']['end']: {too_large}, received 1e+39.",
    ]
    assert sorted(lines[1:]) == sorted(expected)


# -- boundary values: accepted, and Keras' own value --------------------------------------------------------------
rng = np.random.default_rng(12)
PROBS = rng.dirichlet(np.ones(4), size=6).astype("float32")  # (6, 4) rows of probabilities
ONE_HOT = np.eye(4, dtype="float32")[rng.integers(0, 4, 6)]
BINARY = rng.integers(0, 2, (6, 4)).astype("float32")
UNIT = rng.uniform(0.05, 0.95, (6, 4)).astype("float32")  # probabilities, p_t well inside (0, 1)
REGRESSION = rng.normal(0, 2, (6, 4)).astype("float32")
EMBEDDINGS = (PROBS / np.linalg.norm(PROBS, axis=-1, keepdims=True)).astype("float32")
LABELS = np.array([0, 1, 0, 1, 2, 2], "float32")

BFC, CFC = keras.losses.BinaryFocalCrossentropy, keras.losses.CategoricalFocalCrossentropy
# (loss, params, Keras' class, y_true, y_pred)
BOUNDARIES = [
    ("huber", {"delta": 1e-3}, keras.losses.Huber, REGRESSION, REGRESSION[::-1]),
    ("huber", {"delta": 1e30}, keras.losses.Huber, REGRESSION, REGRESSION[::-1]),
    ("categorical_crossentropy", {"label_smoothing": 0}, keras.losses.CategoricalCrossentropy, ONE_HOT, PROBS),
    ("categorical_crossentropy", {"label_smoothing": 1}, keras.losses.CategoricalCrossentropy, ONE_HOT, PROBS),
    ("bce", {"label_smoothing": 1.0}, keras.losses.BinaryCrossentropy, BINARY, UNIT),
    ("binary_crossentropy", {"label_smoothing": 0.0}, keras.losses.BinaryCrossentropy, BINARY, UNIT),
    ("binary_focal_crossentropy", {"gamma": 0.0, "alpha": 0.0, "apply_class_balancing": True}, BFC, BINARY, UNIT),
    ("binary_focal_crossentropy", {"gamma": 100.0, "alpha": 1.0, "label_smoothing": 1.0}, BFC, BINARY, UNIT),
    ("categorical_focal_crossentropy", {"gamma": 0, "alpha": 1.0}, CFC, ONE_HOT, PROBS),
    ("categorical_focal_crossentropy", {"gamma": 100, "alpha": 0.0}, CFC, ONE_HOT, PROBS),
    ("categorical_focal_crossentropy", {"gamma": 2.0, "label_smoothing": 1.0}, CFC, ONE_HOT, PROBS),
    ("circle", {"margin": 0.0, "gamma": 1e-3}, keras.losses.Circle, LABELS, EMBEDDINGS),
    ("circle", {"margin": 1.0}, keras.losses.Circle, LABELS, EMBEDDINGS),
    ("tversky", {"alpha": 0.0, "beta": 0.0}, keras.losses.Tversky, BINARY, UNIT),
    ("tversky", {"alpha": 0.0, "beta": 3.0}, keras.losses.Tversky, BINARY, UNIT),
]


@pytest.mark.parametrize(
    "name, params, keras_class, y_true, y_pred", BOUNDARIES, ids=[f"{b[0]}-{b[1]}" for b in BOUNDARIES]
)
def test_a_boundary_value_is_accepted_and_computes_keras_own_value(name, params, keras_class, y_true, y_pred):
    value = float(keras.ops.convert_to_numpy(lossreg.resolve({"loss": name, "params": params})(y_true, y_pred)))
    expected = float(keras.ops.convert_to_numpy(keras_class(**params)(y_true, y_pred)))
    assert np.isfinite(expected)
    assert value == pytest.approx(expected, rel=1e-6, abs=0)


def test_focal_gamma_100_still_weighs_a_prediction_at_chance_while_1e9_weighed_everything_zero():
    """Why 100: (1 - p_t)**gamma at chance (1/2) is 2**-100; its loss stays a normal float32 (Keras' math too)."""
    y_true, y_pred = np.array([[1.0, 0.0]], "float32"), np.array([[0.5, 0.5]], "float32")
    at_100 = lossreg.resolve({"loss": "binary_focal_crossentropy", "params": {"gamma": 100.0, "alpha": 0.5}})
    value = float(keras.ops.convert_to_numpy(at_100(y_true, y_pred)))
    assert value == pytest.approx(2.0**-100 * np.log(2.0), rel=1e-5)  # the BCE log 2, weighed 2**-100
    assert value > np.finfo(np.float32).tiny  # a normal float32
    # beyond the bound Keras' own math gives 0: the loss says nothing
    beyond = keras.losses.BinaryFocalCrossentropy(gamma=1e9)(y_true, y_pred)
    assert float(keras.ops.convert_to_numpy(beyond)) == 0.0
    # lossreg's sigmoid_focal on logits 0 (p_t = 1/2), with alpha 0.25 on the positive and 0.75 on the negative
    focal = lossreg.resolve({"loss": "sigmoid_focal", "params": {"gamma": 100.0}})
    value = float(keras.ops.convert_to_numpy(focal(y_true, np.zeros((1, 2), "float32"))))
    assert value == pytest.approx(0.5 * 2.0**-100 * np.log(2.0), rel=1e-5)


# -- weights ----------------------------------------------------------------------------------------------------------
TOO_LARGE = "Invalid weight. Expected at most 3.4028235e+38 (the largest float32: losses are computed in float32), "


def test_the_largest_float32_weight_is_accepted_and_finite():
    y = np.zeros((1, 2), "float32")
    loss = lossreg.resolve({"loss": "mae", "weight": FLOAT32_MAX})
    assert float(keras.ops.convert_to_numpy(loss(y, y + np.float32(2.0**-30)))) == pytest.approx(
        FLOAT32_MAX * 2.0**-30, rel=1e-6
    )


@pytest.mark.parametrize("weight", [1e308, ABOVE_FLOAT32_MAX, 10**39])
def test_a_weight_above_the_largest_float32_is_refused_at_its_path(weight):
    says = f"{TOO_LARGE}received {weight!r}."
    refused(lambda: lossreg.resolve({"loss": "mse", "weight": weight}), "spec['weight']", says)
    refused(lambda: lossreg.resolve({"loss": [{"loss": "mse", "weight": weight}]}), "spec['loss'][0]['weight']", says)
    refused(lambda: lossreg.LossLayer("mse", weight=weight, name="t"), "LossLayer(name='t')['weight']", says)


X = keras.Input((2,))
MODEL = keras.Model(X, {"a": keras.layers.Dense(1, name="a")(X), "b": keras.layers.Dense(1, name="b")(X)})


@pytest.mark.parametrize(
    "weight, below",
    [
        ({"schedule": "linear", "start": 1e39, "steps": 10}, ["start"]),
        ({"schedule": "cosine", "end": 1e308, "steps": 10}, ["end"]),
        ({"schedule": "piecewise", "boundaries": [5], "values": [1.0, 1e39]}, ["values", 1]),
        ({"learned": "uncertainty", "scale": 1e39}, ["scale"]),
    ],
)
def test_schedules_and_learned_scales_take_the_same_bound(weight, below):
    path = "spec['a']['weight']" + "".join(f"[{b!r}]" for b in below)
    value = weight[below[0]] if len(below) == 1 else weight[below[0]][below[1]]
    refused(lambda: lossreg.attach(MODEL, {"a": {"loss": "mse", "weight": weight}, "b": "mse"}), path,
            f"{TOO_LARGE}received {value!r}.")  # fmt: skip


def test_a_product_of_weights_above_the_largest_float32_is_refused_at_the_term_weight():
    spec = {"a": {"loss": [{"loss": "mse", "weight": 1e20}], "weight": 1e19}, "b": "mse"}
    error = refused(
        lambda: lossreg.attach(MODEL, spec),
        "spec['a']['loss'][0]['weight']",
        "Invalid weight. This term's weight 1e+20 times its entry's weight 1e+19 is beyond the range of a float32 "
        "weight (at most 3.4028235e+38 (the largest float32: losses are computed in float32)). Scale the weights down.",
    )
    assert error is not None
    # at the bound it is accepted: 1e19 * 3e19 = 3e38
    spec["a"]["loss"][0]["weight"] = 3e19
    assert lossreg.attach(MODEL, spec) is not None
