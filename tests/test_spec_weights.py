"""Weights that change during training, as spec data: every bad schedule or learned weight is a ``LossSpecError`` at
its exact spec path, on every public way in (``attach``, ``LossLayer``, ``schedule_value``, ``resolve``, a saved
``RegisteredLoss``); constant weights fold into a changing one as the grammar says (seen in ``attach``'s spec).

The formulas' values and training with them are tested elsewhere; here only what the spec says and refuses.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import keras
import pytest

import lossreg
from lossreg import LossSpecError

_x = keras.Input((4,), name="x")
MODEL = keras.Model(_x, {"a": keras.layers.Dense(1, name="a")(_x), "b": keras.layers.Dense(1, name="b")(_x)})
STEPS = {"schedule": "linear", "steps": 10}


def refused_error(call: Any, path: str, says: str | None = None) -> LossSpecError:
    """``call()`` raises a LossSpecError at exactly ``path`` (its message starts with the path) saying ``says``."""
    with pytest.raises(LossSpecError) as info:
        call()
    error = info.value
    assert error.path == path, str(error)
    assert str(error).startswith(f"{path}: "), str(error)
    if says is not None:
        assert says in str(error), str(error)
    return error


# -- each bad weight, on each way in ---------------------------------------------------------------------------------
# (the weight as written, where the problem is below the weight's own path, what the message says)
MISSING = [
    ({"schedule": "linear"}, "steps"),
    ({"schedule": "cosine", "start": 1.0, "end": 0.0}, "steps"),
    ({"schedule": "logistic", "rate": 0.01}, "midpoint"),
    ({"schedule": "logistic", "midpoint": 100}, "rate"),
    ({"schedule": "piecewise", "values": [0.0, 1.0]}, "boundaries"),
    ({"schedule": "piecewise", "boundaries": [5]}, "values"),
    ({"schedule": "cyclical", "cycles": 2}, "steps"),
]
TAKES = {
    "linear": "start, end, steps, delay",
    "cosine": "start, end, steps, delay",
    "logistic": "start, end, midpoint, rate",
    "piecewise": "boundaries, values",
    "cyclical": "start, end, steps, cycles, ratio",
}
BAD = [
    ({**STEPS, "steps": 0}, ["steps"], "Expected a whole number >= 1, received 0."),
    ({**STEPS, "steps": 2.5}, ["steps"], "Expected a whole number >= 1, received 2.5."),
    ({**STEPS, "steps": True}, ["steps"], "Expected a whole number >= 1, received True."),
    ({**STEPS, "steps": "10"}, ["steps"], "Expected a whole number >= 1, received '10'."),
    (
        {**STEPS, "steps": 10**400},
        ["steps"],
        "Expected a whole number <= 2**24 = 16777216 (the step counter is float32, exact up to there), received 1000",
    ),
    ({**STEPS, "delay": -1}, ["delay"], "Expected a whole number >= 0, received -1."),
    ({**STEPS, "start": -1}, ["start"], "Expected a number >= 0, received -1.0."),
    ({**STEPS, "start": math.nan}, ["start"], "Expected a finite number >= 0, received nan."),
    ({**STEPS, "start": math.inf}, ["start"], "Expected a finite number >= 0, received inf."),
    ({**STEPS, "end": 10**400}, ["end"], "Expected a finite number >= 0, received 1000"),
    ({**STEPS, "end": None}, ["end"], "Expected a finite number >= 0, received None."),
    ({"schedule": "cyclical", "steps": 10, "ratio": 0}, ["ratio"], "Expected a number > 0, received 0.0."),
    ({"schedule": "cyclical", "steps": 10, "ratio": 1.5}, ["ratio"], "Expected a ratio in (0, 1], received 1.5."),
    (
        {"schedule": "cyclical", "steps": 3, "cycles": 4},
        ["cycles"],
        "A cyclical schedule cannot have more cycles (4) than steps (3). Give 'cycles' at most 'steps'.",
    ),
    (
        {"schedule": "cyclical", "steps": 2},
        ["cycles"],
        "A cyclical schedule cannot have more cycles (4, the default) than steps (2). Give 'cycles' at most 'steps'.",
    ),
    ({"schedule": "cyclical", "steps": 10, "cycles": 0}, ["cycles"], "Expected a whole number >= 1, received 0."),
    ({"schedule": "logistic", "midpoint": 5, "rate": 0}, ["rate"], "Expected a number > 0, received 0.0."),
    ({"schedule": "logistic", "midpoint": "x", "rate": 1}, ["midpoint"], "Expected a finite number, received 'x'."),
    (
        {"schedule": "piecewise", "boundaries": [3, 3], "values": [0, 1, 2]},
        ["boundaries"],
        "Boundaries must increase strictly, received [3, 3].",
    ),
    (
        {"schedule": "piecewise", "boundaries": [5, 2], "values": [0, 1, 2]},
        ["boundaries"],
        "Boundaries must increase strictly, received [5, 2].",
    ),
    (
        {"schedule": "piecewise", "boundaries": [1, -2], "values": [0, 1, 2]},
        ["boundaries", 1],
        "Expected a whole number >= 0, received -2.",
    ),
    ({"schedule": "piecewise", "boundaries": [], "values": [1]}, ["boundaries"], "Expected a non-empty list"),
    ({"schedule": "piecewise", "boundaries": 5, "values": [1, 2]}, ["boundaries"], "Expected a non-empty list"),
    (
        {"schedule": "piecewise", "boundaries": [5], "values": [1, "x"]},
        ["values", 1],
        "Expected a finite number >= 0, received 'x'.",
    ),
    (
        {"schedule": "piecewise", "boundaries": [3, 4], "values": [0, 1]},
        ["values"],
        "A piecewise schedule needs one value more than boundaries (values[i] applies up to boundaries[i], the last "
        "after the last boundary); received 2 boundaries and 2 values.",
    ),
    (
        {**STEPS, "unit": "epochs"},
        ["unit"],
        "Unknown unit 'epochs'. Did you mean 'epoch'? Expected 'step' (training batches) or 'epoch'.",
    ),
    ({**STEPS, "unit": 3}, ["unit"], "Unknown unit 3. Expected 'step' (training batches) or 'epoch'."),
    (
        {"schedule": "linaer", "steps": 10},
        ["schedule"],
        "Unknown schedule 'linaer'. Did you mean 'linear'? Expected one of: linear, cosine, logistic, piecewise, "
        "cyclical.",
    ),
    ({"schedule": None}, ["schedule"], "Unknown schedule None. Expected one of: linear, cosine"),
    (
        {**STEPS, "stpes": 10},
        [],
        "Unknown key 'stpes' in a 'linear' schedule. Did you mean 'steps'? Expected keys: schedule, start, end, steps, "
        "delay, unit.",
    ),
    (
        {"schedule": "piecewise", "boundaries": [1], "values": [0, 1], "start": 0},
        [],
        "Unknown key 'start' in a 'piecewise' schedule. Expected keys: schedule, boundaries, values, unit.",
    ),
    (
        {"learned": "uncertanty"},
        ["learned"],
        "Unknown learned weighting 'uncertanty'. Did you mean 'uncertainty'? Expected one of: uncertainty, dwa.",
    ),
    ({"learned": "DWA"}, ["learned"], "Did you mean 'dwa'?"),
    (
        {"learned": "uncertainty", "int": 0.0},
        [],
        "Unknown key 'int' in learned weight 'uncertainty'. Did you mean 'init'? Expected keys: learned, init, "
        "trainable, min_weight, max_weight, scale.",
    ),
    (
        {"learned": "dwa", "steps": 10},
        [],
        "Unknown key 'steps' in learned weight 'dwa'. Expected keys: learned, temperature, scale.",
    ),
    ({"learned": "uncertainty", "trainable": 1}, ["trainable"], "Expected true or false, received 1."),
    ({"learned": "uncertainty", "trainable": "yes"}, ["trainable"], "Expected true or false, received 'yes'."),
    ({"learned": "uncertainty", "init": math.nan}, ["init"], "Expected a finite number, received nan."),
    ({"learned": "dwa", "temperature": 0}, ["temperature"], "Expected a number > 0, received 0.0."),
    ({"learned": "dwa", "temperature": -1.5}, ["temperature"], "Expected a number > 0, received -1.5."),
    ({"learned": "dwa", "scale": -1}, ["scale"], "Expected a number >= 0, received -1.0."),
    ({"learned": "uncertainty", "min_weight": -1}, ["min_weight"], "Expected a number >= 0, received -1.0."),
    ({"learned": "uncertainty", "max_weight": 0}, ["max_weight"], "Expected a number > 0, received 0.0."),
    ({"learned": "uncertainty", "max_weight": math.inf}, ["max_weight"], "Expected a finite number > 0, received inf."),
    (
        {"learned": "uncertainty", "min_weight": 3, "max_weight": 2},
        ["min_weight"],
        "An uncertainty weight's bounds are the wrong way round: min_weight 3.0 is above max_weight 2.0. Give "
        "min_weight <= max_weight.",
    ),
    ({"learned": "dwa", "max_weight": 2}, [], "Unknown key 'max_weight' in learned weight 'dwa'."),
]
BOTH_OR_NEITHER = (
    "Invalid weight. Expected a number, or a mapping with exactly one of 'schedule' (e.g. {'schedule': 'linear', "
    "'steps': 2000}) or 'learned' (e.g. {'learned': 'uncertainty'}); received "
)


def index(path: str, below: list[Any]) -> str:
    return path + "".join(f"[{key!r}]" for key in below)


def in_attach(weight: Any) -> None:
    lossreg.attach(MODEL, {"a": {"loss": "mse", "weight": weight}, "b": "mse"})


def in_attach_term(weight: Any) -> None:
    lossreg.attach(MODEL, {"a": {"loss": ["mse", {"loss": "mae", "weight": weight}]}, "b": "mse"})


def in_layer(weight: Any) -> None:
    lossreg.LossLayer("mse", weight=weight, name="kl")


WAYS = {
    "attach": (in_attach, "spec['a']['weight']"),
    "attach_term": (in_attach_term, "spec['a']['loss'][1]['weight']"),
    "LossLayer": (in_layer, "LossLayer(name='kl')['weight']"),
}


@pytest.mark.parametrize("way", sorted(WAYS))
@pytest.mark.parametrize(("weight", "key"), MISSING)
def test_a_schedule_without_a_required_key_is_refused_naming_the_key(way, weight, key):
    call, path = WAYS[way]
    kind = weight["schedule"]
    refused_error(
        lambda: call(weight),
        path,
        f"A {kind!r} schedule needs {key!r}. It takes: {TAKES[kind]} (and 'unit').",
    )
    refused_error(lambda: lossreg.schedule_value(weight, 1), "weight", f"A {kind!r} schedule needs {key!r}.")


@pytest.mark.parametrize("way", sorted(WAYS))
@pytest.mark.parametrize(("weight", "below", "says"), BAD)
def test_a_bad_schedule_or_learned_weight_is_refused_at_its_path(way, weight, below, says):
    call, path = WAYS[way]
    refused_error(lambda: call(weight), index(path, below), says)


@pytest.mark.parametrize(("weight", "below", "says"), [case for case in BAD if "schedule" in case[0]])
def test_schedule_value_refuses_a_bad_schedule_at_its_path(weight, below, says):
    refused_error(lambda: lossreg.schedule_value(weight, 5), index("weight", below), says)


@pytest.mark.parametrize("way", sorted(WAYS))
@pytest.mark.parametrize(
    "weight",
    [{}, {"steps": 10}, {"schedule": "linear", "learned": "uncertainty", "steps": 10}, {"value": 2.0}],
)
def test_a_weight_mapping_needs_exactly_one_of_schedule_and_learned(way, weight):
    call, path = WAYS[way]
    error = refused_error(lambda: call(weight), path, BOTH_OR_NEITHER)
    assert str(error).endswith("}.") and all(f"{k!r}: {v!r}" in str(error) for k, v in weight.items())


@pytest.mark.parametrize("way", sorted(WAYS))
def test_gradnorm_is_refused_saying_why_it_is_not_offered(way):
    call, path = WAYS[way]
    for name in ("gradnorm", "GradNorm"):
        error = refused_error(lambda name=name: call({"learned": name}), f"{path}['learned']")
        assert str(error) == (
            f"{path}['learned']: Unknown learned weighting {name!r}. Expected one of: uncertainty, dwa. GradNorm is "
            "not offered: it needs each task's gradient norm with respect to the shared weights inside the training "
            "step (a gradient within the gradient), which Keras' training loop does not expose on every backend. "
            "Use 'uncertainty' or 'dwa'."
        )


# -- constant weights fold into a changing one -----------------------------------------------------------------------
def attached_weights(spec: Any) -> dict[str, list[Any]]:
    """Each entry's term weights as ``attach`` built them (its canonical spec)."""
    built = lossreg.attach(MODEL, spec).get_config()["spec"]
    return {key: [term["weight"] for term in entry["loss"]] for key, entry in built.items()}


def test_an_entry_weight_scales_a_term_schedule_start_and_end():
    schedule = {"schedule": "linear", "start": 0.5, "end": 1.5, "steps": 10, "delay": 2}
    weights = attached_weights({"a": {"loss": [{"loss": "mse", "weight": schedule}], "weight": 2}, "b": "mse"})
    folded = {"schedule": "linear", "start": 1.0, "end": 3.0, "steps": 10, "delay": 2}
    assert weights == {"a": [folded], "b": [1.0]}
    for t in (0, 1, 3, 7, 12, 100):
        assert lossreg.schedule_value(folded, t) == pytest.approx(2 * lossreg.schedule_value(schedule, t), rel=1e-6)
    assert [lossreg.schedule_value(folded, t) for t in (2, 7, 12)] == pytest.approx([1.0, 2.0, 3.0], rel=1e-6)


def test_a_term_weight_scales_a_piecewise_schedule_values_and_a_learned_weight_scale():
    piecewise = {"schedule": "piecewise", "boundaries": [3, 6], "values": [0.0, 0.5, 1.0], "unit": "epoch"}
    weights = attached_weights(
        {
            "a": {"loss": [{"loss": "mse", "weight": 4}, {"loss": "mae", "weight": 0.5}], "weight": piecewise},
            "b": {"loss": "mse", "weight": {"learned": "uncertainty", "init": 1.0, "max_weight": 4}},
        }
    )
    assert weights == {
        "a": [
            {"schedule": "piecewise", "boundaries": [3, 6], "values": [0.0, 2.0, 4.0], "unit": "epoch"},
            {"schedule": "piecewise", "boundaries": [3, 6], "values": [0.0, 0.25, 0.5], "unit": "epoch"},
        ],
        "b": [{"learned": "uncertainty", "init": 1.0, "trainable": True, "max_weight": 4.0}],
    }
    dwa = {"learned": "dwa"}
    weights = attached_weights({"a": {"loss": [{"loss": "mse", "weight": dwa}], "weight": 3}, "b": "mse"})
    assert weights["a"] == [{"learned": "dwa", "temperature": 2.0, "scale": 3.0}]


def test_an_entry_schedule_over_two_terms_applies_to_each_times_its_own_weight():
    cosine = {"schedule": "cosine", "start": 1.0, "end": 0.0, "steps": 100}
    weights = attached_weights({"a": {"loss": ["mse", {"loss": "mae", "weight": 3}], "weight": cosine}, "b": "mse"})
    assert weights == {
        "a": [
            {"schedule": "cosine", "start": 1.0, "end": 0.0, "steps": 100, "delay": 0},
            {"schedule": "cosine", "start": 3.0, "end": 0.0, "steps": 100, "delay": 0},
        ],
        "b": [1.0],
    }


def test_a_term_and_its_entry_both_changing_is_refused_at_the_term_weight():
    spec = {"a": {"loss": ["mse", {"loss": "mae", "weight": {"learned": "uncertainty"}}], "weight": STEPS}, "b": "mse"}
    refused_error(
        lambda: lossreg.attach(MODEL, spec),
        "spec['a']['loss'][1]['weight']",
        "Both this term's weight and its entry's weight change during training; a term takes one changing weight. "
        "Keep the schedule or learned weight on the entry or on the term, not both.",
    )


@pytest.mark.parametrize("method", ["uncertainty", "dwa"])
def test_a_learned_weight_on_an_entry_of_several_terms_is_refused(method):
    spec = {"a": {"loss": ["mse", "mae"], "weight": {"learned": method}}, "b": "mse"}
    error = refused_error(
        lambda: lossreg.attach(MODEL, spec),
        "spec['a']['weight']",
        "A learned weight weighs one task's loss, but this entry sums 2 terms. Give each term its own 'weight': "
        f"{{'learned': {method!r}, ",
    )
    assert str(error).endswith(", or split the entry.")


def test_dwa_temperatures_that_differ_are_refused_at_the_second():
    spec = {
        "a": {"loss": "mse", "weight": {"learned": "dwa"}},
        "b": {"loss": "mse", "weight": {"learned": "dwa", "temperature": 3}},
    }
    refused_error(
        lambda: lossreg.attach(MODEL, spec),
        "spec['b']['weight']['temperature']",
        "Dynamic weight average weighs its tasks jointly with one temperature, but this term has 3.0 and "
        "spec['a']['weight'] has 2.0. Give every 'dwa' weight the same temperature.",
    )
    spec["b"]["weight"]["temperature"] = 2  # the default written out: the same temperature
    assert attached_weights(spec) == {
        "a": [{"learned": "dwa", "temperature": 2.0}],
        "b": [{"learned": "dwa", "temperature": 2.0}],
    }


def test_a_schedule_times_a_constant_beyond_a_float_is_refused_at_the_term_weight():
    spec = {"a": {"loss": [{"loss": "mse", "weight": {**STEPS, "end": 1e20}}], "weight": 1e20}, "b": "mse"}
    refused_error(
        lambda: lossreg.attach(MODEL, spec),
        "spec['a']['loss'][0]['weight']",
        "Invalid weight. This changing weight times the constant weight 1e+20 it is multiplied by is beyond the "
        "range of a float32 weight (at most 3.4028235e+38 (the largest float32: losses are computed in float32)). "
        "Scale the weights down.",
    )


# -- where changing weights cannot go --------------------------------------------------------------------------------
RESOLVE_SAYS = (
    "A weight that changes during training (a schedule or a learned weight) needs model state, which Keras does not "
    "keep for compile(loss=...). Use lossreg.attach(model, spec) (or lossreg.LossLayer in the graph) for this spec."
)


@pytest.mark.parametrize(
    ("spec", "path"),
    [
        ({"loss": "mse", "weight": STEPS}, "spec['weight']"),
        ({"loss": "mse", "weight": {"learned": "uncertainty"}}, "spec['weight']"),
        ({"a": {"loss": ["mse", "mae"], "weight": {**STEPS, "unit": "epoch"}}, "b": "mse"}, "spec['a']['weight']"),
        ({"a": "mse", "b": {"loss": ["mse", {"loss": "mae", "weight": STEPS}]}}, "spec['b']['loss'][1]['weight']"),
        (["mse", {"loss": "mae", "weight": {"learned": "dwa"}}], "spec[1]['weight']"),
    ],
)
def test_resolve_refuses_a_changing_weight_saying_to_use_attach(spec, path):
    refused_error(lambda: lossreg.resolve(spec), path, RESOLVE_SAYS)
    lossreg.attach(MODEL, spec if not isinstance(spec, Mapping) or "loss" not in spec else {"a": spec, "b": "mse"})


SAVED_SAYS = (
    "Invalid weight. A RegisteredLoss (what compile(loss=...) takes) has constant weights: Keras keeps no state for "
    "a loss, so a schedule or learned weight could not advance, train or be saved. Use lossreg.attach(model, spec) "
    "or lossreg.LossLayer for changing weights."
)


@pytest.mark.parametrize("weight", [STEPS, {"learned": "uncertainty"}, {"schedule": "linaer"}, {}])
def test_a_saved_config_with_a_changing_weight_is_refused(weight):
    config = {"terms": [{"loss": "mse", "weight": weight}]}
    refused_error(lambda: lossreg.RegisteredLoss.from_config(config), "terms[0]['weight']", SAVED_SAYS)
    config = {"terms": [{"loss": "mae"}, {"loss": "mse", "weight": weight}]}
    refused_error(lambda: lossreg.RegisteredLoss.from_config(config), "terms[1]['weight']", SAVED_SAYS)


@pytest.mark.parametrize(
    ("weight", "what", "other"),
    [
        ({**STEPS, "unit": "epoch"}, "An epoch-counted schedule", "count the schedule in steps ('unit': 'step')"),
        ({"learned": "dwa"}, "Dynamic weight average", "weigh the terms with {'learned': 'uncertainty'}"),
    ],
)
def test_a_loss_layer_refuses_weights_counted_in_epochs_saying_to_use_attach(weight, what, other):
    says = (
        f"{what} needs fit()'s epochs, which a LossLayer cannot see (lossreg.attach counts them). Use "
        f"lossreg.attach(model, spec), or {other}."
    )
    refused_error(lambda: lossreg.LossLayer("mse", weight=weight, name="kl"), "LossLayer(name='kl')['weight']", says)
    refused_error(
        lambda: lossreg.LossLayer(["mse", {"loss": "mae", "weight": weight}], name="kl"),
        "LossLayer(name='kl')['loss'][1]['weight']",
        says,
    )
    layer = lossreg.LossLayer("mse", weight={**STEPS, "unit": "step"}, name="kl")  # counted in steps: its own state
    assert layer.term_weights is not None


def test_schedule_value_refuses_a_learned_weight_and_anything_not_a_schedule():
    for weight in ({"learned": "uncertainty"}, {"learned": "dwa", "temperature": 2.0}):
        refused_error(
            lambda weight=weight: lossreg.schedule_value(weight, 3),
            "weight",
            "schedule_value() takes a schedule; a learned weight has no fixed value per step (read it from the "
            "trained model's logs, '<term>_weight').",
        )
    for weight in (0.5, None, ["linear"]):
        refused_error(
            lambda weight=weight: lossreg.schedule_value(weight, 3),
            "weight",
            f"schedule_value() takes a schedule such as {{'schedule': 'linear', 'steps': 2000}}; received {weight!r}.",
        )
    refused_error(lambda: lossreg.schedule_value({"steps": 10}, 3), "weight", "Invalid weight. Expected a number, or")
    for step in (-1, math.nan, math.inf, "3", True, None):
        refused_error(
            lambda step=step: lossreg.schedule_value(STEPS, step), "step", "Expected a step: a finite number >= 0"
        )
    assert lossreg.schedule_value({**STEPS, "start": 1.0, "end": 3.0}, 4) == pytest.approx(1.8, rel=1e-6)
