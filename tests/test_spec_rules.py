"""One rule, one message: each spec mistake fed to ``resolve``, ``attach`` and ``lossreg check`` alike.

Also the rules on a plain ``ModelView`` (no Keras), and the bugs the three diverging copies of these rules
caused (issue 9: the guide's joint spec refused by ``check``, a saved ``attach()`` model and custom layers
not checkable, ``attach(model, ["mse"])`` accepted on two outputs, ``sparse_categorical_crossentropy``
refused by the dry run).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest

import lossreg
from lossreg import LossSpecError
from lossreg.cli import main
from lossreg.spec import ModelView, Problems, check_extras, check_outputs, known_terms, read


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    """A two-output model (``mask``, ``cls``) with a ``hidden`` layer, and where it is saved."""
    inp = keras.Input((8,), name="x")
    hidden = keras.layers.Dense(4, name="hidden")(inp)
    mask = keras.layers.Dense(4, activation="sigmoid", name="mask")(hidden)
    cls = keras.layers.Dense(3, name="cls")(hidden)
    model = keras.Model(inp, {"mask": mask, "cls": cls})
    path = tmp_path_factory.mktemp("model") / "model.keras"
    model.save(path)
    return model, path


def _check(spec_file: Path, model_file: Path, capsys: pytest.CaptureFixture[str], *more: str) -> tuple[int, list[str]]:
    """``lossreg check SPEC --model MODEL``: the exit status and each problem line (without the bullet)."""
    capsys.readouterr()
    code = main(["check", str(spec_file), "--model", str(model_file), *more])
    err = capsys.readouterr().err.splitlines()
    return code, [line[len("  - ") :] for line in err if line.startswith("  - ")]


def _raised(call: Any) -> str:
    with pytest.raises(LossSpecError) as info:
        call()
    assert info.value.path and str(info.value).startswith(f"{info.value.path}: ")
    return str(info.value)


# (spec, what the message says, which paths the rule applies to)
MISTAKES = [
    ({"mask": "msee", "cls": "softmax_ce"}, "Unknown loss 'msee'. Did you mean 'mse'", "resolve attach check"),
    (
        {"mask": {"loss": "sigmoid_focal", "params": {"gama": 2.0}}, "cls": "softmax_ce"},
        "has no parameter 'gama'. Did you mean 'gamma'?",
        "resolve attach check",
    ),
    ({"mask": {"loss": "mse", "weight": -1}, "cls": "softmax_ce"}, "Invalid weight", "resolve attach check"),
    ({"mask": "mse", "clss": "softmax_ce"}, "Unknown output 'clss'. Did you mean 'cls'?", "resolve attach check"),
    (["mse"], "This list gives 1 entries, but the model has 2 outputs (mask, cls)", "resolve attach check"),
    (
        {"mask": "mse", "cls": {"loss": "softmax_ce", "on": "clss"}},
        "['on']: Unknown output 'clss'. Did you mean 'cls'?",
        "attach check",
    ),
    (
        {"mask": {"loss": "mse_bce", "inputs": {"aux": "hiden"}}, "cls": "softmax_ce"},
        "Unknown layer or output 'hiden'. Did you mean 'hidden'?",
        "attach check",
    ),
    ({"mask": "mse_bce", "cls": "softmax_ce"}, "needs the extra tensor(s) 'aux'. Add 'inputs'", "attach check"),
    (
        {"mask": {"loss": "mse", "inputs": {"aux": "hidden"}}, "cls": "softmax_ce"},
        "Extra 'aux' is not taken by any loss of this entry",
        "attach check",
    ),
    ("mse", "say which one this loss is on", "attach check"),
    (
        {"mask": "mse", "cls": {"loss": "sparse_categorical_crossentropy", "params": {"from_logits": "yes"}}},
        "Invalid value for parameter 'from_logits'",
        "resolve attach check",
    ),
]


@pytest.mark.parametrize(("spec", "says", "paths"), MISTAKES, ids=[m[1][:40] for m in MISTAKES])
def test_each_rule_gives_one_message_from_resolve_attach_and_check(spec, says, paths, saved, tmp_path, capsys):
    model, model_file = saved
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(spec))
    messages = {}
    if "resolve" in paths:
        messages["resolve"] = _raised(lambda: lossreg.resolve(spec_file, model=model))
    messages["attach"] = _raised(lambda: lossreg.attach(model, spec_file))
    code, problems = _check(spec_file, model_file, capsys)
    assert code == 1 and len(problems) == 1, problems
    messages["check"] = problems[0]
    assert says in messages["check"], messages
    assert len(set(messages.values())) == 1, messages


def test_rules_run_on_a_plain_model_view_and_collect_every_problem():
    view = ModelView(outputs=("out_a", "out_b"), layers=("hidden",))
    problems = Problems(collect=True)
    parsed = read(
        {
            "out_a": {"loss": "mse_bce", "inputs": {"aux": "hiden"}},
            "otu_b": "mse",
            "joint": {"loss": [{"loss": "mse", "on": "out_a"}, {"loss": "mae", "on": "out_c"}]},
        },
        problems=problems,
    )
    assert parsed is not None and not problems
    for entry in parsed.entries.values():
        check_extras(entry, known_terms(entry, problems), problems)
    check_outputs(parsed, view, problems)
    assert [(e.path, str(e).split(": ", 1)[1].split(".")[0]) for e in problems.errors] == [
        ("spec['out_a']['inputs']['aux']", "Unknown layer or output 'hiden'"),
        ("spec['otu_b']", "Unknown output 'otu_b'"),
        ("spec['joint']['loss'][1]['on']", "Unknown output 'out_c'"),
    ]
    with pytest.raises(LossSpecError, match=r"^spec\['out_a'\]\['inputs'\]\['aux'\]: Unknown layer or output 'hiden'"):
        check_outputs(parsed, view, Problems())  # raising: the first problem only


def test_the_grammar_reads_on_after_a_problem_when_collecting():
    problems = Problems(collect=True)
    parsed = read({"a": {"loss": "mse", "weight": -1, "wieght": 2}, "b": {"loss": [3, "mae"]}}, problems=problems)
    assert [e.path for e in problems.errors] == ["spec['a']", "spec['a']['weight']", "spec['b']['loss'][0]"]
    assert parsed is not None and [t.loss for t in parsed.entries["b"].terms] == ["mae"]
    assert parsed.entries["a"].terms[0].weight == 1.0


# -- bugs ------------------------------------------------------------------------------------------------------------


def two_outputs() -> keras.Model:
    inp = keras.Input((6,))
    out_1 = keras.layers.Dense(3, name="output_1")(inp)
    out_2 = keras.layers.Reshape((2, 2, 3), name="output_2")(keras.layers.Dense(12)(inp))
    return keras.Model(inp, [out_1, out_2])


def test_check_accepts_the_readme_joint_spec_that_attach_trains(tmp_path, capsys):
    """Bug 3: `lossreg check` said "Unknown output 'joint'" for a joint loss whose terms each have 'on'."""
    spec = {
        "joint": {
            "loss": [
                {"loss": "softmax_ce", "on": "output_1"},
                {"loss": "band_masked_softmax_ce", "on": "output_2", "weight": 2.0},
            ]
        }
    }
    model = two_outputs()
    lossreg.attach(model, spec)
    (tmp_path / "joint.json").write_text(json.dumps(spec))
    model.save(tmp_path / "m.keras")
    code, problems = _check(tmp_path / "joint.json", tmp_path / "m.keras", capsys)
    assert (code, problems) == (0, [])


def test_check_a_saved_attach_model_against_the_model_it_wraps(saved, tmp_path, capsys):
    """Bug 4: a saved AttachedModel failed outside the problem list ("has no symbolic outputs")."""
    model, _ = saved
    spec = {"mask": {"loss": "mse_bce", "inputs": {"aux": "hidden"}}, "cls": "softmax_ce"}
    train = lossreg.attach(model, spec)
    train.compile(optimizer="sgd")
    train.save(tmp_path / "train.keras")
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    code, problems = _check(tmp_path / "spec.json", tmp_path / "train.keras", capsys)
    assert (code, problems) == (0, [])
    (tmp_path / "bad.json").write_text(json.dumps({"mask": "mse", "clss": "softmax_ce"}))
    code, problems = _check(tmp_path / "bad.json", tmp_path / "train.keras", capsys)
    assert code == 1 and problems == [
        f"{tmp_path / 'bad.json'}: spec['clss']: "
        + _raised(lambda: lossreg.resolve({"mask": "mse", "clss": "softmax_ce"}, model=model)).split(": ", 1)[1]
    ]


CUSTOM_LAYER = """
import keras


@keras.saving.register_keras_serializable(package="spec_check_layers")
class Twice(keras.layers.Layer):
    def call(self, x):
        return 2.0 * x
"""


def test_check_imports_the_module_defining_custom_layers(tmp_path):
    """Bug 4: a model with custom layers could not be checked; `--import MODULE` imports them first."""
    (tmp_path / "spec_check_layers.py").write_text(textwrap.dedent(CUSTOM_LAYER))
    (tmp_path / "spec.json").write_text(json.dumps({"out": "mse"}))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))}
    save = (
        "import keras, spec_check_layers\n"
        "inp = keras.Input((3,))\n"
        "keras.Model(inp, {'out': spec_check_layers.Twice(name='twice')(keras.layers.Dense(2)(inp))}).save('m.keras')\n"
    )
    subprocess.run([sys.executable, "-c", save], cwd=tmp_path, env=env, check=True, capture_output=True, timeout=300)

    def check(*more: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "lossreg", "check", "spec.json", "--model", "m.keras", *more]
        return subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)

    without = check()
    assert without.returncode == 1 and "m.keras: Cannot load the model" in without.stderr
    assert "--import MODULE" in without.stderr
    result = check("--import", "spec_check_layers", "--import", "json")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "spec.json: valid (1 entry)" in result.stdout
    missing = check("--import", "no_such_module_xyz")
    assert missing.returncode == 1
    assert "--import no_such_module_xyz: Cannot import module 'no_such_module_xyz'" in missing.stderr


def test_attach_refuses_a_list_spec_shorter_than_the_outputs_like_resolve():
    """Bug 5: attach(model, ["mse"]) on a two-output model was accepted; resolve refused it."""
    model = two_outputs()
    message = r"^spec: This list gives 1 entries, but the model has 2 outputs \(output_1, output_2\)\."
    with pytest.raises(LossSpecError, match=message):
        lossreg.resolve(["mse"], model=model)
    with pytest.raises(LossSpecError, match=message):
        lossreg.attach(model, ["mse"])
    lossreg.attach(model, ["softmax_ce", "band_masked_softmax_ce"])


def test_attach_and_check_accept_sparse_categorical_crossentropy(saved, tmp_path, capsys):
    """Bug 6: the dry run faked class ids with the predictions' shape, and the class-id check refused them."""
    model, model_file = saved
    spec = {"cls": {"loss": "sparse_categorical_crossentropy", "params": {"from_logits": True}}}
    train = lossreg.attach(model, spec)
    train.compile(optimizer="sgd")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 8)).astype("float32")
    ids = rng.integers(0, 3, size=(8,))
    logs = train.evaluate(x, {"cls": ids}, batch_size=8, verbose=0, return_dict=True)
    expected = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(ids, model.predict(x, verbose=0)["cls"])
    np.testing.assert_allclose(logs["loss"], float(expected), rtol=1e-5)
    (tmp_path / "sparse.json").write_text(json.dumps(spec))
    assert _check(tmp_path / "sparse.json", model_file, capsys) == (0, [])


def test_check_imports_a_module_registering_the_losses_a_spec_names(tmp_path):
    """`--import` also serves a spec naming losses that a user module registers (no model needed)."""
    (tmp_path / "spec_check_losses.py").write_text(
        "import lossreg\n\n\n@lossreg.register('spec_check_abs')\ndef spec_check_abs():\n"
        "    return lambda y_true, y_pred: abs(y_true - y_pred)\n"
    )
    (tmp_path / "spec.json").write_text(json.dumps({"loss": "spec_check_abs"}))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))}

    def check(*more: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "lossreg", "check", "spec.json", *more]
        return subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)

    assert "Unknown loss 'spec_check_abs'" in check().stderr
    result = check("--import", "spec_check_losses")
    assert result.returncode == 0, result.stderr[-2000:]


def test_a_compiled_loss_called_without_its_extras_says_what_resolve_says():
    with pytest.raises(LossSpecError) as at_resolve:
        lossreg.resolve("mse_bce")
    loss = lossreg.get("mse_bce")  # built by name, so nothing refused it before the call
    with pytest.raises(lossreg.LossInputError) as at_call:
        loss(np.zeros((2, 3), "float32"), np.full((2, 3), 0.5, "float32"))
    assert str(at_resolve.value) == f"spec: {at_call.value}"
    assert "needs the extra tensor(s) 'aux', which compile(loss=...) cannot pass" in str(at_call.value)
