"""Keras' own loss names in lossreg: the data cannot drift from Keras, and each one is Keras' loss, value for value.

``lossreg.registry.KERAS_LOSSES`` (names, functions, parameters, defaults, types) is written out by hand so that
``lossreg list``, ``lossreg show mse`` and ``lossreg check`` need no Keras; these tests hold it to what
``keras.losses.get`` accepts in the installed Keras and to each function's signature, check that those commands
import neither Keras nor TensorFlow, and that each name resolves to a ``Loss`` computing what Keras' own ``Loss``
class for that function computes.
"""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from typing import Any

import keras
import numpy as np
import pytest
from keras.src.losses import ALL_OBJECTS_DICT  # what keras.losses.get(str) looks names up in

import lossreg
from lossreg.registry import KERAS_LOSS_NAMES, KERAS_LOSSES


def keras_function_names() -> list[str]:
    """Every lower-case name keras.losses.get accepts that gives a function (the functions and their aliases)."""
    return sorted(k for k, v in ALL_OBJECTS_DICT.items() if k == k.lower() and inspect.isfunction(v))


def keras_class_for(fn: Any) -> type | None:
    """Keras' own ``Loss`` class wrapping ``fn`` (``MeanSquaredError`` for ``mean_squared_error``), if any."""
    for obj in ALL_OBJECTS_DICT.values():
        if inspect.isclass(obj) and issubclass(obj, keras.losses.Loss) and obj is not keras.losses.Loss:
            try:
                instance = obj()
            except TypeError:  # the abstract wrapper needs a function
                continue
            if getattr(instance, "fn", None) is fn:
                return obj
    return None


def test_names_match_keras_losses_get():
    assert list(KERAS_LOSS_NAMES) == keras_function_names()
    # and every one of them is something keras.losses.get returns a function for
    for name in KERAS_LOSS_NAMES:
        assert inspect.isfunction(keras.losses.get(name)), name


def keras_type(parameter: inspect.Parameter) -> Any:
    """The type rule of ``lossreg.registry._keras_names``: bool, float for numbers (int for ``axis``), None; and
    ``int | None`` for ``ignore_class`` (lossreg's standard parameter: a class id, 255 and -1 included)."""
    default = parameter.default
    if parameter.name == "ignore_class":
        return int | None
    if isinstance(default, bool):
        return bool
    if isinstance(default, int | float):
        return int if parameter.name == "axis" else float
    return None


@pytest.mark.parametrize("name", sorted(KERAS_LOSSES))
def test_the_signature_data_matches_the_installed_keras(name):
    function, params = KERAS_LOSSES[name]
    fn = keras.losses.get(name)
    assert fn.__name__ == function and getattr(keras.losses, function) is fn
    parameters = list(inspect.signature(fn).parameters.values())
    assert [p.name for p in parameters[:2]] == ["y_true", "y_pred"]
    expected = [(p.name, p.default, keras_type(p)) for p in parameters[2:]]
    assert [(p, d, t) for p, d, t in params] == expected
    assert all(type(d) is type(e[1]) for (_, d, _), e in zip(params, expected, strict=True))  # 80 stays an int
    info = lossreg.describe(name)
    assert {k: (p.default, p.annotation) for k, p in info.params.items()} == {
        p: (d, "any" if t is None else getattr(t, "__name__", str(t))) for p, d, t in params
    }


RANGED = {"bce", "binary_crossentropy", "binary_focal_crossentropy", "categorical_crossentropy",
          "categorical_focal_crossentropy", "circle", "huber", "tversky"}  # fmt: skip


@pytest.mark.parametrize("name", sorted(KERAS_LOSSES))
def test_each_value_range_is_on_a_float_parameter_of_the_installed_keras_function(name):
    """The ranges (``KERAS_RANGES``) cannot drift either: each is on a float parameter of that keras.losses
    function, and a name shares its function's ranges with its aliases (``bce`` and ``binary_crossentropy``)."""
    ranges = lossreg.describe(name).ranges
    assert bool(ranges) == (name in RANGED)
    parameters = inspect.signature(keras.losses.get(name)).parameters
    for key in ranges:
        assert key in parameters and keras_type(parameters[key]) is float, (name, key)
    same_function = [other for other, (function, _) in KERAS_LOSSES.items() if function == KERAS_LOSSES[name][0]]
    assert all(lossreg.describe(other).ranges == ranges for other in same_function)


ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
NO_KERAS = """
import json, sys
from lossreg.cli import main
rc = main(sys.argv[1:])
print(json.dumps({"rc": rc, "imported": [m for m in ("keras", "tensorflow") if m in sys.modules]}))
"""


@pytest.mark.parametrize("command", [["list"], ["show", "mse"], ["show", "categorical_crossentropy"], ["check"]])
def test_list_show_and_check_of_keras_names_import_neither_keras_nor_tensorflow(command, tmp_path):
    """Bug 10: `lossreg show mse` and `lossreg check` on a spec naming `mse` imported Keras (seconds) for its names."""
    if command == ["check"]:
        spec = {"a": "mse", "b": {"loss": "categorical_crossentropy", "params": {"label_smoothing": 0.1}}}
        (tmp_path / "spec.json").write_text(json.dumps(spec))
        command = ["check", str(tmp_path / "spec.json")]
    result = subprocess.run(
        [sys.executable, "-c", NO_KERAS, *command], capture_output=True, text=True, env=ENV, timeout=120
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome == {"rc": 0, "imported": []}


def test_names_are_registered_with_source_keras():
    names = lossreg.names()
    for name in KERAS_LOSS_NAMES:
        assert name in names
        info = lossreg.describe(name)
        assert info.source == "keras"
        assert set(info.params) == set(list(inspect.signature(keras.losses.get(name)).parameters)[2:])


rng = np.random.default_rng(7)
PROBS = rng.dirichlet(np.ones(5), size=4).astype("float32")  # (4, 5) rows of probabilities
ONE_HOT = np.eye(5, dtype="float32")[rng.integers(0, 5, 4)]
DENSE = {"y_true": ONE_HOT, "y_pred": PROBS}
SPECIAL_INPUTS = {
    "sparse_categorical_crossentropy": {"y_true": np.array([0, 3, 1, 4], "float32"), "y_pred": PROBS},
    "ctc": {  # labels 1..4 padded with the blank 0; logits over 5 classes for 6 time steps
        "y_true": np.array([[1, 2, 0], [3, 3, 4], [2, 0, 0], [4, 1, 2]], "float32"),
        "y_pred": rng.normal(0, 1, (4, 6, 5)).astype("float32"),
    },
    "circle": {  # integer labels and L2-normalised embeddings
        "y_true": np.array([0, 1, 0, 1], "float32"),
        "y_pred": (PROBS / np.linalg.norm(PROBS, axis=-1, keepdims=True)).astype("float32"),
    },
}


@pytest.mark.parametrize("name", KERAS_LOSS_NAMES)
def test_each_name_resolves_to_keras_own_value(name):
    inputs = SPECIAL_INPUTS.get(name, DENSE)
    loss = lossreg.resolve(name)
    assert isinstance(loss, keras.losses.Loss) and loss.name == name
    value = float(loss(inputs["y_true"], inputs["y_pred"]))
    fn = keras.losses.get(name)
    keras_class = keras_class_for(fn)
    assert keras_class is not None, f"no keras.losses class wraps {fn.__name__}"
    expected = float(keras_class()(inputs["y_true"], inputs["y_pred"]))
    assert np.isfinite(expected)
    assert value == pytest.approx(expected, rel=1e-6, abs=0)
    if name not in ("circle",):  # circle masks its zero entries out of the mean (a Keras mask on its output)
        per_sample = keras.ops.convert_to_numpy(fn(inputs["y_true"], inputs["y_pred"]))  # a backend tensor
        assert value == pytest.approx(float(np.mean(per_sample)), rel=1e-6, abs=0)


@pytest.mark.parametrize(
    "name, params",
    [
        ("binary_crossentropy", {"from_logits": True, "label_smoothing": 0.1}),
        ("categorical_crossentropy", {"label_smoothing": 0.2}),
        ("binary_focal_crossentropy", {"apply_class_balancing": True, "gamma": 1.5}),
        ("huber", {"delta": 0.25}),
        ("tversky", {"alpha": 0.9, "beta": 0.5}),
    ],
)
def test_keras_names_take_the_functions_keyword_arguments(name, params):
    y_pred = rng.normal(0, 2, PROBS.shape).astype("float32") if params.get("from_logits") else PROBS
    value = float(lossreg.get(name, **params)(ONE_HOT, y_pred))
    expected = float(keras_class_for(keras.losses.get(name))(**params)(ONE_HOT, y_pred))
    assert value == pytest.approx(expected, rel=1e-6, abs=0)
    # the parameters took effect (from_logits kept: logits given to a probability loss are refused)
    default = float(lossreg.get(name, **{k: v for k, v in params.items() if k == "from_logits"})(ONE_HOT, y_pred))
    assert default != pytest.approx(value, rel=1e-4)


def test_unknown_keras_parameter_is_a_spec_error():
    with pytest.raises(lossreg.LossSpecError, match=r"no parameter 'label_smoothin'.*label_smoothing"):
        lossreg.get("binary_crossentropy", label_smoothin=0.1)
