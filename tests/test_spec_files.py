"""Spec files: JSON, TOML and YAML read to the same spec, strictly (data only, no duplicates, bounded size)."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

import lossreg
from lossreg import LossSpecError
from lossreg.spec import MAX_BYTES, parse

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

JSON = """{
  "output_1": "softmax_ce",
  "output_2": {"loss": "sigmoid_focal", "params": {"gamma": 1.5, "alpha": null}, "weight": 2.0},
  "output_3": {"loss": ["mse", {"loss": "mae", "weight": 0.25}], "weight": 1e-1},
  "output_4": {"loss": "band_masked_softmax_ce", "params": {"include_diagonal": true, "normalize": "band"}}
}"""
TOML = """output_1 = "softmax_ce"

[output_2]
loss = "sigmoid_focal"
params = { gamma = 1.5 }
weight = 2.0

[output_3]
loss = ["mse", { loss = "mae", weight = 0.25 }]
weight = 1e-1

[output_4]
loss = "band_masked_softmax_ce"
params = { include_diagonal = true, normalize = "band" }
"""
YAML = """# the same spec in YAML
output_1: softmax_ce
output_2:
  loss: sigmoid_focal
  params: {gamma: 1.5, alpha: null}
  weight: 2.0
output_3:
  loss:
    - mse
    - {loss: mae, weight: 0.25}
  weight: 1e-1
output_4:
  loss: band_masked_softmax_ce
  params:
    include_diagonal: true
    normalize: band
"""
# TOML has no null: alpha=None is left at its default there, and added back below for the comparison.
EXPECTED = {
    "output_1": [("softmax_ce", {}, 1.0)],
    "output_2": [("sigmoid_focal", {"gamma": 1.5, "alpha": None}, 2.0)],
    "output_3": [("mse", {}, 0.1), ("mae", {}, 0.025)],
    "output_4": [("band_masked_softmax_ce", {"include_diagonal": True, "normalize": "band"}, 1.0)],
}


def terms(parsed):
    return {k: [(t.loss, dict(t.params), t.weight) for t in e.terms] for k, e in parsed.entries.items()}


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("name", "text"), [("s.json", JSON), ("s.toml", TOML), ("s.yaml", YAML), ("s.yml", YAML)])
def test_json_toml_and_yaml_parse_to_the_same_spec(tmp_path, name, text):
    parsed = parse(write(tmp_path, name, text))
    got = terms(parsed)
    if name.endswith(".toml"):
        got["output_2"][0][1].setdefault("alpha", None)
    assert parsed.kind == "outputs"
    assert_expected(got)
    assert parsed.root == f"{tmp_path / name}: spec"
    assert parsed.entries["output_3"].terms[1].path == f"{tmp_path / name}: spec['output_3']['loss'][1]"


def assert_expected(got):
    """``got == EXPECTED``, with weights such as 0.1 * 0.25 compared as floats."""
    assert list(got) == list(EXPECTED)
    for key, want in EXPECTED.items():
        assert len(got[key]) == len(want)
        for (g_loss, g_params, g_weight), (w_loss, w_params, w_weight) in zip(got[key], want, strict=True):
            assert (g_loss, g_params) == (w_loss, w_params)
            assert g_weight == pytest.approx(w_weight, rel=1e-12)


def test_every_format_resolves_to_losses_of_the_same_value(tmp_path):
    y = np.eye(3, dtype="float32")[[0, 1, 2, 1]]
    x = np.random.default_rng(0).normal(size=(4, 3)).astype("float32")
    results = {}
    for name, text in (("s.json", JSON), ("s.toml", TOML), ("s.yaml", YAML)):
        losses = lossreg.resolve(write(tmp_path, name, text))
        results[name] = {k: (v.name, float(v(y, x))) for k, v in losses.items() if k != "output_4"}
    assert results["s.json"] == results["s.yaml"]
    assert results["s.toml"].pop("output_2")[0] == "2x_sigmoid_focal"  # alpha=0.25 there: TOML has no null
    assert results["s.toml"] == {k: v for k, v in results["s.json"].items() if k != "output_2"}
    by_hand = 0.1 * np.mean((x - y) ** 2) + 0.025 * np.mean(np.abs(x - y))
    assert results["s.json"]["output_3"][0] == "0.1x_mse_plus_0.025x_mae"
    np.testing.assert_allclose(results["s.json"]["output_3"][1], by_hand, rtol=1e-6)


def test_the_shipped_example_resolves():
    losses = lossreg.resolve(EXAMPLES / "joint_decoder.json")
    assert {k: v.name for k, v in losses.items()} == {"output_1": "softmax_ce", "output_2": "2x_band_masked_softmax_ce"}


@pytest.mark.parametrize(("name", "text"), [("s.json", '"mse"'), ("s.yaml", "mse\n"), ("s.yaml", "[mse, mae]")])
def test_a_file_may_hold_a_name_or_a_list(tmp_path, name, text):
    loss = lossreg.resolve(write(tmp_path, name, text))
    assert (loss.name if isinstance(loss, keras.losses.Loss) else [v.name for v in loss]) in ("mse", ["mse", "mae"])


def test_any_os_pathlike_is_a_file_and_a_plain_string_is_a_name(tmp_path):
    path = write(tmp_path, "s.json", '{"loss": "mse", "weight": 3}')

    class Custom(os.PathLike):
        def __fspath__(self) -> str:
            return str(path)

    assert lossreg.resolve(Custom()).name == "3x_mse"
    with pytest.raises(LossSpecError, match=re.escape(f"to read a spec file, pass pathlib.Path({str(path)!r})")):
        lossreg.resolve(str(path))


# -- strictness -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("d.json", '{"out": "mse", "out": "mae"}', "Invalid JSON in spec file: duplicate key 'out'"),
        (
            "d.json",
            '{"out": {"loss": "mse", "weight": 1, "weight": 2}}',
            "Invalid JSON in spec file: duplicate key 'weight'",
        ),
        ("d.yaml", "out: mse\nout: mae\n", "Invalid YAML in spec file: duplicate key 'out'"),
        (
            "d.yaml",
            "out: {loss: mse, params: {gamma: 1, gamma: 2}}\n",
            "Invalid YAML in spec file: duplicate key 'gamma'",
        ),
        ("d.toml", 'out = "mse"\nout = "mae"\n', "Invalid TOML in spec file: Cannot overwrite a value"),
    ],
)
def test_duplicate_keys_are_refused(tmp_path, name, text, message):
    path = write(tmp_path, name, text)
    with pytest.raises(LossSpecError, match="^" + re.escape(f"{path}: {message}")) as info:
        parse(path)
    assert info.value.path == str(path)


def test_yaml_merge_keys_still_work_and_may_be_overridden(tmp_path):
    text = "base: &b {loss: sigmoid_focal, params: {gamma: 1.0}, weight: 2}\nother:\n  <<: *b\n  weight: 3\n"
    assert terms(parse(write(tmp_path, "m.yaml", text))) == {
        "base": [("sigmoid_focal", {"gamma": 1.0}, 2.0)],
        "other": [("sigmoid_focal", {"gamma": 1.0}, 3.0)],
    }


def test_yaml_reads_on_as_a_key_and_1e_3_as_a_number(tmp_path):
    """YAML 1.1 would read `on` as True and `1e-3` as a string; a spec needs YAML 1.2's reading."""
    parsed = parse(write(tmp_path, "on.yaml", "loss: mse\nweight: 1e-3\non: out_a\n"))
    entry = parsed.entries[None]
    assert entry.on == "out_a"
    assert entry.terms[0].weight == 1e-3
    with pytest.raises(LossSpecError, match=r"Expected bool, received str 'yes'"):
        lossreg.resolve(write(tmp_path, "yes.yaml", "loss: band_masked_softmax_ce\nparams: {from_logits: yes}\n"))


@pytest.mark.parametrize(
    "tagged",
    [
        "!!python/object/apply:os.system ['touch {marker}']",
        "!!python/object/apply:subprocess.call [['touch', '{marker}']]",
        "!!python/object/new:tabnanny.NannyNag [1, 2, 3]",
        "!!python/name:tabnanny.check",
        "!!python/module:tabnanny",
        "!!python/object:tabnanny.NannyNag {{}}",
        "!!binary aGVsbG8=",
        "!!set {{a, b}}",
    ],
)
def test_yaml_tags_that_build_objects_are_refused_and_nothing_runs(tmp_path, tagged):
    if "tabnanny" in sys.modules:
        pytest.fail("tabnanny is imported by something else: pick another standard-library module for this test")
    marker = tmp_path / "pwned"
    path = write(tmp_path, "t.yaml", "out:\n  loss: " + tagged.format(marker=marker) + "\n")
    before = set(sys.modules)
    with pytest.raises(LossSpecError, match="^" + re.escape(f"{path}: ")) as info:
        lossreg.resolve(path)
    assert "could not determine a constructor" in str(info.value) or "Expected a loss name" in str(info.value)
    assert not marker.exists()
    assert set(sys.modules) - before == set()


def test_a_yaml_anchor_loop_is_refused(tmp_path):
    path = write(tmp_path, "loop.yaml", "a: &x [*x]\n")
    with pytest.raises(LossSpecError, match=re.escape(f"{path}: spec['a']: Expected a loss name")):
        lossreg.resolve(path)


def test_non_utf8_bytes_are_refused_naming_the_byte(tmp_path):
    text = '{"loss": "mse", "note": "caf\xe9"}'
    path = write(tmp_path, "latin.json", text.encode("latin-1"))
    byte = text.index("\xe9")
    message = f"{path}: Spec file is not valid UTF-8 (byte {byte}). Save it as UTF-8."
    with pytest.raises(LossSpecError, match="^" + re.escape(message)):
        parse(path)


def test_a_utf8_byte_order_mark_is_accepted(tmp_path):
    for name, text in (("b.json", '{"loss": "mse"}'), ("b.toml", 'loss = "mse"'), ("b.yaml", "loss: mse")):
        assert lossreg.resolve(write(tmp_path, name, "\ufeff" + text)).name == "mse"


def test_a_file_over_the_limit_is_refused_without_being_read(tmp_path, monkeypatch):
    path = tmp_path / "big.json"
    with open(path, "wb") as handle:
        handle.truncate(MAX_BYTES + 1)  # sparse: takes no disk space

    def no_reading(self, *args, **kwargs):
        raise AssertionError(f"{self} was read")

    monkeypatch.setattr(Path, "read_bytes", no_reading)
    monkeypatch.setattr(Path, "read_text", no_reading)
    monkeypatch.setattr(Path, "open", no_reading)
    message = f"{path}: Spec file is {MAX_BYTES + 1} bytes; the limit is {MAX_BYTES}."
    with pytest.raises(LossSpecError, match="^" + re.escape(message)):
        parse(path)


def test_a_file_of_exactly_the_limit_is_read(tmp_path):
    text = '{"loss": "mse"}'
    path = write(tmp_path, "limit.json", text + " " * (MAX_BYTES - len(text)))
    assert path.stat().st_size == MAX_BYTES
    assert lossreg.resolve(path).name == "mse"


@pytest.mark.parametrize("name", ["s.txt", "s.JSON5", "s", "s.json.bak", "s.ini"])
def test_an_unknown_extension_is_refused(tmp_path, name):
    path = write(tmp_path, name, '{"loss": "mse"}')
    expected = f"{path}: Unknown spec file type {path.suffix!r}. Expected one of .json, .toml, .yaml, .yml."
    with pytest.raises(LossSpecError, match="^" + re.escape(expected)):
        parse(path)


def test_upper_case_extensions_are_known(tmp_path):
    assert lossreg.resolve(write(tmp_path, "S.JSON", '"mae"')).name == "mae"


def test_a_missing_file_and_a_directory_are_refused(tmp_path):
    missing = tmp_path / "nope.json"
    with pytest.raises(LossSpecError, match="^" + re.escape(f"{missing}: Cannot read spec file: No such file")):
        parse(missing)
    folder = tmp_path / "folder.yaml"
    folder.mkdir()
    with pytest.raises(LossSpecError, match="^" + re.escape(f"{folder}: Cannot read spec file: Is a directory")):
        parse(folder)


@pytest.mark.parametrize("name", ["e.json", "e.toml", "e.yaml"])
@pytest.mark.parametrize("text", ["", "  \n\t\n"])
def test_an_empty_file_is_refused(tmp_path, name, text):
    path = write(tmp_path, name, text)
    with pytest.raises(LossSpecError, match="^" + re.escape(f"{path}: Spec file is empty. Write a loss name")):
        parse(path)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("n.json", "null", "Spec file holds no data (only null or comments)."),
        ("n.yaml", "# nothing but a comment\n", "Spec file holds no data (only null or comments)."),
        ("n.yaml", "~", "Spec file holds no data"),
    ],
)
def test_a_file_without_data_is_refused(tmp_path, name, text, message):
    path = write(tmp_path, name, text)
    with pytest.raises(LossSpecError, match="^" + re.escape(f"{path}: {message}")):
        parse(path)


def test_a_toml_file_of_comments_is_an_empty_spec(tmp_path):
    path = write(tmp_path, "c.toml", "# only a comment\n")
    with pytest.raises(LossSpecError, match="^" + re.escape(f"{path}: spec: Empty spec.")):
        parse(path)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("deep.json", "[" * 100_000 + "]" * 100_000),
        ("deep.json", '{"a": ' * 50_000 + "1" + "}" * 50_000),
        ("deep.toml", "a = " + "[" * 100_000 + "]" * 100_000),
        ("deep.yaml", "[" * 5_000 + "]" * 5_000),  # PyYAML is slow: 5000 levels already exceed the stack
    ],
)
def test_deep_nesting_is_a_loss_spec_error_not_a_recursion_error(tmp_path, name, text):
    path = write(tmp_path, name, text)
    with pytest.raises(LossSpecError, match="^" + re.escape(f"{path}: Spec file is nested too deeply")):
        parse(path)


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_json_nan_and_infinity_are_refused(tmp_path, constant):
    path = write(tmp_path, "c.json", '{"loss": "sigmoid_focal", "params": {"gamma": ' + constant + "}}")
    expected = f"{path}: Invalid JSON in spec file: {constant} is not allowed in a spec"
    with pytest.raises(LossSpecError, match="^" + re.escape(expected)):
        parse(path)


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ('{"loss": "mse", "weight": 1e400}', "['weight']", "Expected a finite, non-negative number, received inf."),
        ('{"loss": "mse", "weight": 1' + "0" * 400 + "}", "['weight']", "Expected a finite, non-negative number"),
        ('{"loss": "sigmoid_focal", "params": {"gamma": 1e400}}', "['params']['gamma']", "Expected float"),
        ('{"loss": "sigmoid_focal", "params": {"gamma": 1' + "0" * 400 + "}}", "['params']['gamma']", "Expected float"),
        ('{"loss": "mse", "weight": 1' + "0" * 5000 + "}", None, "Invalid JSON in spec file: "),
    ],
)
def test_numbers_beyond_float_range_are_refused(tmp_path, text, where, message):
    path = write(tmp_path, "big.json", text)
    prefix = f"{path}: spec{where}: " if where else f"{path}: "
    with pytest.raises(LossSpecError, match="^" + re.escape(prefix) + ".*" + re.escape(message)):
        lossreg.resolve(path)


@pytest.mark.parametrize(
    ("name", "text", "where", "message"),
    [
        ("p.json", '{"out": {"loss": "mse", "weight": -2}}', "spec['out']['weight']", "Invalid weight."),
        ("p.toml", '[out]\nloss = "mse"\nweight = -2\n', "spec['out']['weight']", "Invalid weight."),
        ("p.yaml", "out: {loss: msee}\n", "spec['out']['loss']", "Unknown loss 'msee'. Did you mean 'mse'"),
        ("p.yml", "- mse\n- loss: mae\n  wieght: 2\n", "spec[1]", "Did you mean 'weight'?"),
        (
            "p.json",
            '{"out": {"loss": "sigmoid_focal", "params": {"gama": 2}}}',
            "spec['out']['params']['gama']",
            "Did you mean 'gamma'?",
        ),
        ("p.yaml", "loss: mse\nweight: 2020-01-01\n", "spec['weight']", "received date datetime.date(2020, 1, 1)."),
    ],
)
def test_errors_inside_a_file_start_with_the_file(tmp_path, name, text, where, message):
    path = write(tmp_path, name, text)
    with pytest.raises(LossSpecError, match="^" + re.escape(f"{path}: {where}: ") + ".*" + re.escape(message)) as e:
        lossreg.resolve(path)
    assert e.value.path == f"{path}: {where}"


def test_a_relative_path_is_reported_as_given(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "rel.json", '{"loss": "mse", "weight": -1}')
    with pytest.raises(LossSpecError, match=r"^rel\.json: spec\['weight'\]: Invalid weight"):
        lossreg.resolve(Path("rel.json"))
