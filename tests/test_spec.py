"""The spec grammar: every form of its table (docs/guide/specs.md), what each resolves to, malformed specs' errors."""

from __future__ import annotations

import math
import re
import sys

import keras
import numpy as np
import pytest

import lossreg
from lossreg import LossSpecError
from lossreg.spec import parse

RNG = np.random.default_rng(0)
Y_ONEHOT = np.eye(3, dtype="float32")[[0, 2, 1, 2]]  # (4, 3)
LOGITS = RNG.normal(scale=2.0, size=(4, 3)).astype("float32")


# -- float64 NumPy references, written independently of lossreg --------------------------------------------------------
def _f64(*arrays):
    return [np.asarray(a, dtype="float64") for a in arrays]


def np_mse(y, p):
    y, p = _f64(y, p)
    return float(np.mean(np.mean((p - y) ** 2, axis=-1)))


def np_softmax_ce_per_sample(y, x):
    y, x = _f64(y, x)
    log_softmax = x - x.max(-1, keepdims=True)
    log_softmax -= np.log(np.exp(log_softmax).sum(-1, keepdims=True))
    return -(y * log_softmax).sum(-1)


def np_sigmoid_bce_per_element(y, x, pos_weight=1.0):
    """tf.nn.weighted_cross_entropy_with_logits."""
    y, x = _f64(y, x)
    log_weight = 1.0 + (pos_weight - 1.0) * y
    return (1.0 - y) * x + log_weight * (np.log1p(np.exp(-np.abs(x))) + np.maximum(-x, 0.0))


def np_mae(y, p):
    y, p = _f64(y, p)
    return float(np.mean(np.mean(np.abs(p - y), axis=-1)))


def np_softmax_ce(y, x):
    return float(np.mean(np_softmax_ce_per_sample(y, x)))


def np_sigmoid_bce(y, x, pos_weight=1.0):
    return float(np.mean(np_sigmoid_bce_per_element(y, x, pos_weight)))


def value(loss, y, p) -> float:
    return float(loss(y, p))


# -- the forms of the grammar -----------------------------------------------------------------------------------------
def test_a_name_is_one_loss_with_default_parameters():
    loss = lossreg.resolve("softmax_ce")
    assert isinstance(loss, keras.losses.Loss)
    assert loss.name == "softmax_ce"
    np.testing.assert_allclose(value(loss, Y_ONEHOT, LOGITS), np_softmax_ce(Y_ONEHOT, LOGITS), rtol=1e-6)


def test_an_entry_carries_params_and_folds_its_weight_in():
    loss = lossreg.resolve({"loss": "sigmoid_bce", "params": {"pos_weight": 3.0}, "weight": 2.5})
    assert isinstance(loss, keras.losses.Loss)
    assert loss.name == "2.5x_sigmoid_bce"
    raw = np_sigmoid_bce(Y_ONEHOT, LOGITS, pos_weight=3.0)
    assert raw != pytest.approx(np_sigmoid_bce(Y_ONEHOT, LOGITS))  # the parameter matters for these inputs
    np.testing.assert_allclose(value(loss, Y_ONEHOT, LOGITS), 2.5 * raw, rtol=1e-6)


@pytest.mark.parametrize("weight", [0, 0.0, 1, 0.25, 7])
def test_a_weight_multiplies_the_raw_loss(weight):
    loss = lossreg.resolve({"loss": "mse", "weight": weight})
    raw = value(lossreg.get("mse"), Y_ONEHOT, LOGITS)
    np.testing.assert_allclose(raw, np_mse(Y_ONEHOT, LOGITS), rtol=1e-6)
    np.testing.assert_allclose(value(loss, Y_ONEHOT, LOGITS), weight * raw, rtol=1e-6, atol=0)
    assert loss.name == ("mse" if weight == 1 else f"{float(weight):g}x_mse")


def test_a_term_list_is_one_loss_equal_to_the_weighted_sum():
    spec = {
        "loss": [
            "softmax_ce",
            {"loss": "mse", "weight": 0.5},
            {"loss": "sigmoid_bce", "params": {"pos_weight": 2.0}, "weight": 0.25},
        ],
        "weight": 3.0,
    }
    loss = lossreg.resolve(spec)
    assert isinstance(loss, keras.losses.Loss)
    assert loss.name == "3x_softmax_ce_plus_1.5x_mse_plus_0.75x_sigmoid_bce"
    expected = 3.0 * (
        np_softmax_ce(Y_ONEHOT, LOGITS)
        + 0.5 * np_mse(Y_ONEHOT, LOGITS)
        + 0.25 * np_sigmoid_bce(Y_ONEHOT, LOGITS, pos_weight=2.0)
    )
    np.testing.assert_allclose(value(loss, Y_ONEHOT, LOGITS), expected, rtol=1e-6)


@pytest.mark.parametrize("batch", [3, 5])  # 3 == classes: a (batch,) + (batch, classes) sum would broadcast wrongly
def test_per_sample_and_per_element_terms_sum_per_sample_with_sample_weights(batch):
    rng = np.random.default_rng(batch)
    y = np.eye(3, dtype="float32")[rng.integers(0, 3, size=batch)]
    x = rng.normal(scale=2.0, size=(batch, 3)).astype("float32")
    w = rng.uniform(0.0, 2.0, size=batch).astype("float32")
    loss = lossreg.resolve({"loss": ["softmax_ce", {"loss": "sigmoid_bce", "weight": 0.5}]})
    per_sample = np_softmax_ce_per_sample(y, x) + 0.5 * np_sigmoid_bce_per_element(y, x).mean(-1)
    np.testing.assert_allclose(float(loss(y, x)), per_sample.mean(), rtol=1e-6)
    np.testing.assert_allclose(float(loss(y, x, sample_weight=w)), np.sum(w * per_sample) / batch, rtol=1e-6)


def test_a_term_list_without_weights_sums_its_terms():
    loss = lossreg.resolve({"loss": ["mse", "mae"]})
    assert loss.name == "mse_plus_mae"
    expected = np_mse(Y_ONEHOT, LOGITS) + np_mae(Y_ONEHOT, LOGITS)
    np.testing.assert_allclose(value(loss, Y_ONEHOT, LOGITS), expected, rtol=1e-6)


def test_a_per_output_mapping_gives_a_dict_in_the_same_order():
    losses = lossreg.resolve({"b_out": {"loss": "mse", "weight": 2.0}, "a_out": "mae"})
    assert isinstance(losses, dict) and list(losses) == ["b_out", "a_out"]
    assert all(isinstance(v, keras.losses.Loss) for v in losses.values())
    assert {k: v.name for k, v in losses.items()} == {"b_out": "2x_mse", "a_out": "mae"}
    np.testing.assert_allclose(value(losses["b_out"], Y_ONEHOT, LOGITS), 2.0 * np_mse(Y_ONEHOT, LOGITS), rtol=1e-6)
    np.testing.assert_allclose(value(losses["a_out"], Y_ONEHOT, LOGITS), np_mae(Y_ONEHOT, LOGITS), rtol=1e-6)


def test_a_per_output_list_gives_a_list_in_order():
    losses = lossreg.resolve(["softmax_ce", {"loss": ["mse", {"loss": "mae", "weight": 0.5}]}])
    assert isinstance(losses, list) and len(losses) == 2
    assert [v.name for v in losses] == ["softmax_ce", "mse_plus_0.5x_mae"]
    np.testing.assert_allclose(value(losses[0], Y_ONEHOT, LOGITS), np_softmax_ce(Y_ONEHOT, LOGITS), rtol=1e-6)
    expected = np_mse(Y_ONEHOT, LOGITS) + 0.5 * np_mae(Y_ONEHOT, LOGITS)
    np.testing.assert_allclose(value(losses[1], Y_ONEHOT, LOGITS), expected, rtol=1e-6)


def test_parse_records_terms_weights_and_paths():
    parsed = parse({"o1": "mse", "o2": {"loss": ["mae", {"loss": "mse", "params": {}, "weight": 0.5}], "weight": 2}})
    assert parsed.kind == "outputs" and parsed.root == "spec"
    o1, o2 = parsed.entries["o1"], parsed.entries["o2"]
    assert [(t.loss, dict(t.params), t.weight, t.path) for t in o1.terms] == [("mse", {}, 1.0, "spec['o1']")]
    assert [(t.loss, t.weight, t.path) for t in o2.terms] == [
        ("mae", 2.0, "spec['o2']['loss'][0]"),
        ("mse", 1.0, "spec['o2']['loss'][1]"),
    ]
    assert parse("mse").kind == "single" and parse(["mse"]).kind == "list"
    assert parse({"loss": "mse"}).kind == "single"


def test_resolve_does_not_change_the_spec_it_is_given():
    spec = {"o": {"loss": [{"loss": "sigmoid_bce", "params": {"pos_weight": 2.0}, "weight": 0.5}], "weight": 2.0}}
    snapshot = repr(spec)
    lossreg.resolve(spec)
    assert repr(spec) == snapshot


# -- errors -----------------------------------------------------------------------------------------------------------
BAD_SPECS = [
    # unknown names: the closest registered ones, and the path of the very string
    (
        {"output_1": "mse", "output_2": {"loss": "band_maskd_softmax_ce", "weight": 2.0}},
        "spec['output_2']['loss']",
        "Unknown loss 'band_maskd_softmax_ce'. Did you mean 'band_masked_softmax_ce'",
    ),
    ({"output_2": "sigmod_bce"}, "spec['output_2']", "Unknown loss 'sigmod_bce'. Did you mean 'sigmoid_bce'"),
    ({"loss": ["mse", "softmx_ce"]}, "spec['loss'][1]", "Unknown loss 'softmx_ce'. Did you mean 'softmax_ce'"),
    (["mse", {"loss": "maee"}], "spec[1]['loss']", "Unknown loss 'maee'. Did you mean 'mae'"),
    ("categorical_crossentropyy", "spec", "Did you mean 'categorical_crossentropy'"),
    ("spec.json", "spec", "A plain string is always a loss name; to read a spec file, pass pathlib.Path('spec.json')."),
    ({"loss": 3}, "spec['loss']", "Expected a loss name (a string), received int 3."),
    ({"loss": None}, "spec['loss']", "Expected a loss name (a string), received NoneType None."),
    # misspelt keys
    (
        {"out": {"loss": "mse", "wieght": 2.0}},
        "spec['out']",
        "Unknown key 'wieght' in a spec entry. Did you mean 'weight'? Expected keys: loss, params, weight, on, inputs.",
    ),
    ({"loss": "mse", "parms": {}}, "spec", "Unknown key 'parms' in a spec entry. Did you mean 'params'?"),
    (
        {"loss": ["mse", {"loss": "mae", "weigth": 1}]},
        "spec['loss'][1]",
        "Unknown key 'weigth' in a loss term. Did you mean 'weight'?",
    ),
    ({"loss": "mse", 7: 1}, "spec", "Unknown key 7 in a spec entry. Expected keys:"),
    # weights
    ({"loss": "mse", "weight": -1}, "spec['weight']", "Expected a finite, non-negative number, received -1."),
    ({"loss": "mse", "weight": -0.5}, "spec['weight']", "received -0.5. Use 0 to switch a term off."),
    ({"loss": "mse", "weight": math.nan}, "spec['weight']", "Expected a finite, non-negative number, received nan."),
    ({"loss": "mse", "weight": math.inf}, "spec['weight']", "Expected a finite, non-negative number, received inf."),
    ({"loss": "mse", "weight": 10**400}, "spec['weight']", "Expected a finite, non-negative number, received 1000"),
    ({"loss": "mse", "weight": True}, "spec['weight']", "Expected a non-negative number, received bool True."),
    ({"loss": "mse", "weight": "2"}, "spec['weight']", "Expected a non-negative number, received str '2'."),
    ({"loss": "mse", "weight": None}, "spec['weight']", "Expected a non-negative number, received NoneType None."),
    ({"loss": "mse", "weight": [2.0]}, "spec['weight']", "Expected a non-negative number, received list [2.0]."),
    (
        {"o": {"loss": ["mse", {"loss": "mae", "weight": -2}]}},
        "spec['o']['loss'][1]['weight']",
        "Invalid weight. Expected a finite, non-negative number, received -2.",
    ),
    # lists and nesting
    ([], "spec", "Empty spec list. Give one entry per model output."),
    ({}, "spec", "Empty spec. Give a loss name, an entry, or one entry per output."),
    ({"loss": []}, "spec['loss']", "Empty list of loss terms. Give at least one loss name."),
    (
        {"loss": ["mse", {"loss": ["mae", "mse"]}]},
        "spec['loss'][1]['loss']",
        "Nested term lists are not supported: list every term directly under the entry's 'loss'.",
    ),
    ({"loss": [["mse"]]}, "spec['loss'][0]", "Nested term lists are not supported"),
    ({"loss": [3]}, "spec['loss'][0]", "Expected a loss name or a mapping with a 'loss' key, received int 3."),
    # params
    (
        {"loss": "mse", "params": [1]},
        "spec['params']",
        "Expected a mapping of parameter names to values, received list",
    ),
    ({"loss": "sigmoid_focal", "params": "gamma=2"}, "spec['params']", "received str 'gamma=2'."),
    ({"loss": "sigmoid_focal", "params": {2: 1.0}}, "spec['params']", "Parameter names must be strings, received 2."),
    (
        {"loss": ["mse", "mae"], "params": {"delta": 1.0}},
        "spec['params']",
        "'params' cannot sit beside a list of terms: give each term its own 'params'.",
    ),
    # output names and entries without 'loss'
    ({1: "mse"}, "spec", "Output names must be strings, received int 1."),
    ({"a": "mse", ("b",): "mae"}, "spec", "Output names must be strings, received tuple ('b',)."),
    ({"weight": 2.0}, "spec", "This entry has 'weight' but no 'loss' key. Add 'loss': '<name>'."),
    ({"params": {}, "weight": 2.0}, "spec", "This entry has 'params', 'weight' but no 'loss' key."),
    ({"out": {"weight": 2.0}}, "spec['out']", "A spec entry needs a 'loss' key naming a registered loss."),
    ({"loss": [{"weight": 2.0}]}, "spec['loss'][0]", "A loss term needs a 'loss' key naming a registered loss."),
    # not a spec at all
    (None, "spec", "Expected a spec: a loss name, a mapping with a 'loss' key, "),
    (3, "spec", "a list of entries, or a path to a spec file; received int 3."),
    (("mse",), "spec", "received tuple ('mse',)."),
    (b"mse", "spec", "Expected a spec, received bytes b'mse'. Decode it or pass a file path."),
    ({"out": 2.0}, "spec['out']", "Expected a loss name, a mapping with a 'loss' key, or a mapping of output names"),
]


@pytest.mark.parametrize(("spec", "path", "message"), BAD_SPECS)
def test_malformed_specs_are_refused_naming_the_spec_path(spec, path, message):
    with pytest.raises(LossSpecError, match="^" + re.escape(f"{path}: ") + ".*" + re.escape(message)) as info:
        lossreg.resolve(spec)
    assert info.value.path == path
    assert isinstance(info.value, ValueError)


def test_an_error_message_never_prints_a_huge_value_whole():
    with pytest.raises(LossSpecError, match=r"received list \[0, 1, 2, 3, 4, 5, \.\.\.\]\.$") as info:
        lossreg.resolve({"loss": "mse", "params": list(range(1_000_000))})
    assert len(str(info.value)) < 300


def test_resolve_with_a_model_checks_output_names():
    inputs = keras.Input((3,))
    model = keras.Model(
        inputs, {"out_a": keras.layers.Dense(2, name="out_a")(inputs), "out_b": keras.layers.Dense(1)(inputs)}
    )
    message = "Unknown output 'otu_b'. Did you mean 'out_b'"
    with pytest.raises(LossSpecError, match=r"^spec\['otu_b'\]: " + re.escape(message)) as info:
        lossreg.resolve({"out_a": "mse", "otu_b": "mae"}, model=model)
    assert str(info.value).endswith("The model's outputs are: out_a, out_b.")
    assert list(lossreg.resolve({"out_b": "mae", "out_a": "mse"}, model=model)) == ["out_b", "out_a"]


@pytest.mark.parametrize(
    ("spec", "path"),
    [
        ("mse_bce", "spec"),
        ({"out": {"loss": "mse_bce", "params": {"mse_weight": 0.5}}}, "spec['out']"),
        ({"out": {"loss": ["mse", "mse_bce"]}}, "spec['out']['loss'][1]"),
    ],
)
def test_a_loss_needing_extras_points_to_attach(spec, path):
    message = "Loss 'mse_bce' needs the extra tensor(s) 'aux', which compile(loss=...) cannot pass. Use lossreg.attach"
    with pytest.raises(LossSpecError, match="^" + re.escape(f"{path}: {message}")):
        lossreg.resolve(spec)


@pytest.mark.parametrize(
    ("spec", "path", "key"),
    [
        ({"loss": "mse", "on": "out_a"}, "spec", "on"),
        ({"o": {"loss": "mse_bce", "inputs": {"aux": "hidden"}}}, "spec['o']", "inputs"),
    ],
)
def test_wiring_keys_point_to_attach(spec, path, key):
    message = f"'{key}' wires extra tensors, which compile(loss=...) cannot pass. Use lossreg.attach(model, spec)"
    with pytest.raises(LossSpecError, match="^" + re.escape(f"{path}: {message}")):
        lossreg.resolve(spec)


# -- a spec is data ---------------------------------------------------------------------------------------------------
STDLIB_MODULES = ("tabnanny", "antigravity", "this", "xml.dom.minidom", "smtplib", "mailbox", "imaplib", "wave")
IMPORT_LIKE = [
    "os.system",
    "builtins.eval",
    "builtins:exec",
    "__import__",
    "eval('1')",
    "subprocess.run",
    "lossreg._spec.parse",
    "keras.losses.MeanSquaredError",
    "keras.losses.mean_squared_error",
]


def test_a_spec_never_imports_a_module_or_evaluates_code():
    lossreg.resolve({"warm": "mse"})  # let anything lossreg imports lazily be imported first
    unimported = [m for m in STDLIB_MODULES if m not in sys.modules]
    assert len(unimported) >= 3, "pick standard-library modules nothing else imports"
    names = IMPORT_LIKE + [f"{m}.{attr}" for m in unimported for attr in ("x", "main")] + [f"{m}:x" for m in unimported]
    before = set(sys.modules)
    for name in names:
        for spec in (name, {"loss": name}, {"o": {"loss": [name]}}, {"loss": "mse", "params": {name: 1}}):
            with pytest.raises(LossSpecError, match=r"Unknown loss|has no parameter"):
                lossreg.resolve(spec)
    assert set(sys.modules) - before == set()
    assert not any(m in sys.modules for m in unimported)
