"""The ``lossreg`` command line, run as users run it: in a subprocess, through ``python -m lossreg`` and the script."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import lossreg

ROOT = Path(__file__).resolve().parent.parent
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TF_ENABLE_ONEDNN_OPTS="0", KERAS_BACKEND="tensorflow")


def lossreg_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lossreg", *args], capture_output=True, text=True, env=ENV, cwd=cwd, timeout=300
    )


def _columns_aligned(lines: list[str], headers: list[str]) -> None:
    starts = [lines[0].index(h) for h in headers]
    for line in lines[1:]:
        for start in starts[1:]:
            assert line[start - 2 : start] == "  " and line[start] != " ", (line, start)


# -- list -----------------------------------------------------------------------------------------------------


def test_list_imports_neither_tensorflow_nor_any_plugin():
    code = (
        "import sys; from lossreg.cli import main; rc = main(['list']); "
        "mods = ('tensorflow', 'keras', 'lossreg_segmentation', 'lossreg_generative'); "
        "print('LOADED', [m for m in mods if m in sys.modules], rc)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=120)
    assert result.returncode == 0, result.stderr
    table, loaded = result.stdout.rsplit("LOADED", 1)
    assert loaded.split() == ["[]", "0"]
    lines = table.strip().splitlines()
    assert lines[0].split() == ["NAME", "SOURCE", "EXTRAS", "SUMMARY"]
    _columns_aligned(lines, ["NAME", "SOURCE", "EXTRAS", "SUMMARY"])
    rows = {line.split()[0]: line for line in lines[1:]}
    assert re.search(r"^mse_bce +lossreg +aux +MSE of an intermediate tensor", rows["mse_bce"])
    assert re.search(r"^soft_dice +lossreg-segmentation +- +Soft Dice loss, one value per sample\.$", rows["soft_dice"])
    assert re.search(r"lossreg-generative +real_logits, fake_logits +Non-saturating", rows["ns_gan_discriminator"])
    assert re.search(r"^mse +keras +- +Keras built-in loss", rows["mse"])


def test_list_json_covers_every_registered_name_and_the_script_matches_python_m():
    result = lossreg_cli("list", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    listed = {row["name"] for row in rows} | {alias for row in rows for alias in row["aliases"]}
    assert listed == set(lossreg.names())
    by_name = {row["name"]: row for row in rows}
    assert by_name["vae_kl"]["extras"] == ["z_mean", "z_log_var"]
    assert by_name["jaccard"]["version"] == "0.2.0" and by_name["jaccard"]["source"] == "lossreg-segmentation"
    script = Path(sys.executable).parent / "lossreg"
    if script.exists():  # the console script installed with the package
        scripted = subprocess.run([str(script), "list", "--json"], capture_output=True, text=True, env=ENV)
        assert scripted.returncode == 0 and json.loads(scripted.stdout) == rows


# -- show -----------------------------------------------------------------------------------------------------


def test_show_prints_parameters_extras_source_and_the_formula():
    result = lossreg_cli("show", "sigmoid_focal")
    assert result.returncode == 0 and result.stderr == ""
    out = result.stdout
    assert out.startswith("sigmoid_focal: Sigmoid focal loss on logits")
    assert "source:     lossreg\n" in out and "extras:     none\n" in out
    assert re.search(r"^  alpha +float \| None +0\.25$", out, flags=re.M)
    assert re.search(r"^  gamma +float +2\.0$", out, flags=re.M)
    assert "Formula:" in out and "Reference:" in out

    extras = lossreg_cli("show", "mse_bce").stdout
    assert "extras:     aux\n" in extras


def test_show_a_plugin_loss_names_its_distribution_and_entry_point():
    result = lossreg_cli("show", "soft_dice")
    assert result.returncode == 0, result.stderr
    assert (
        "source:     lossreg-segmentation 0.2.0 (entry point 'soft_dice = lossreg_segmentation.losses:"
        "soft_dice_factory')" in result.stdout
    )
    assert "also named: lossreg-segmentation:soft_dice" in result.stdout
    assert re.search(r"^  class_weights +list\[float\] \| None +None$", result.stdout, flags=re.M)


@pytest.mark.parametrize(
    "name, rows",
    [
        ("huber", [r"delta +float +1\.0 +> 0"]),
        ("binary_focal_crossentropy", [r"alpha +float +0\.25 +in \[0, 1\]", r"gamma +float +2\.0 +in \[0, 100\]"]),
        ("circle", [r"gamma +float +80 +> 0", r"margin +float +0\.4 +in \[0, 1\]"]),
    ],
)
def test_show_prints_the_values_a_keras_names_parameter_takes(name, rows):
    result = lossreg_cli("show", name)
    assert result.returncode == 0, result.stderr
    assert re.search(r"^  NAME +TYPE +DEFAULT +VALUES$", result.stdout, flags=re.M), result.stdout
    for row in rows:
        assert re.search(f"^  {row}$", result.stdout, flags=re.M), result.stdout


def test_show_a_typo_suggests_the_closest_names_on_stderr():
    result = lossreg_cli("show", "sigmoid_focall")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("lossreg: error: Unknown loss 'sigmoid_focall'. Did you mean 'sigmoid_focal'")


# -- check ----------------------------------------------------------------------------------------------------


def test_check_a_valid_spec_summarises_its_entries(tmp_path):
    (tmp_path / "spec.toml").write_text(
        '[output_1]\nloss = "softmax_ce"\n\n[output_2]\nloss = "band_masked_softmax_ce"\nweight = 2.0\n'
        "params = { lower = 0 }\n"
    )
    result = lossreg_cli("check", "spec.toml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "spec.toml: valid (2 entries)"
    assert lines[1].split() == ["ENTRY", "LOSS", "WIRING"]
    assert lines[2].split() == ["output_1", "softmax_ce", "-"]
    assert lines[3].split() == ["output_2", "2", "x", "band_masked_softmax_ce(lower=0)", "-"]


def test_check_the_documented_example_prints_what_the_page_says(tmp_path):
    """docs/cli.md shows broken.json and what `lossreg check broken.json` prints for it, written in the page."""
    page = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    shown_file, shown = re.search(
        r"```json\n([^`]*)```\n\n```console\n\$ lossreg check broken\.json\n(.*?)```", page, flags=re.S
    ).groups()
    broken = {
        "output_1": {"loss": "sofmax_ce"},
        "output_2": {"loss": "band_masked_softmax_ce", "weight": -2, "params": {"lowr": 1}},
    }
    assert json.loads(shown_file) == broken  # the file the page shows is the file checked here
    (tmp_path / "broken.json").write_text(json.dumps(broken))
    result = lossreg_cli("check", "broken.json", cwd=tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == shown


def test_check_lists_every_problem_with_its_spec_path(tmp_path):
    spec = {
        "output_1": {"loss": "sofmax_ce", "params": {"label_smoothing": 0.1}},
        "output_2": {"loss": "band_masked_softmax_ce", "weight": -2, "params": {"lowr": 1, "upper": "x"}},
        "recon": {
            "loss": [
                {"loss": "mse_bce", "params": {"bce_weigth": 1}},
                {"loss": "sigmoid_focal", "params": {"gamma": -1.0}},
            ],
            "inputs": {"aux": "deconv1", "zz": "a"},
        },
        "gan": {"loss": "ns_gan_discriminator"},
        "extra": {"loss": "softmax_ce", "wieght": 1},
    }
    (tmp_path / "bad.json").write_text(json.dumps(spec))
    result = lossreg_cli("check", "bad.json", cwd=tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    problems = result.stderr.splitlines()
    assert problems[0] == "lossreg check: 9 problems in bad.json:"
    expected = [
        ("spec['output_1']['loss']", "Unknown loss 'sofmax_ce'. Did you mean 'softmax_ce'"),
        ("spec['output_2']['weight']", "Invalid weight"),
        ("spec['output_2']['params']['lowr']", "has no parameter 'lowr'. Did you mean 'lower'?"),
        ("spec['output_2']['params']['upper']", "Expected int, received str 'x'"),
        ("spec['recon']['loss'][0]['params']['bce_weigth']", "Did you mean 'bce_weight'"),
        ("spec['recon']['loss'][1]", "`gamma` must be in [0, 100]"),
        ("spec['recon']['inputs']['zz']", "Extra 'zz' is not taken"),
        ("spec['gan']", "needs the extra tensor(s) 'real_logits', 'fake_logits'"),
        ("spec['extra']", "Unknown key 'wieght' in a spec entry. Did you mean 'weight'?"),
    ]
    for path, message in expected:
        assert any(line.startswith(f"  - bad.json: {path}: ") and message in line for line in problems), path


def test_check_an_unreadable_spec_and_a_missing_model(tmp_path):
    result = lossreg_cli("check", "missing.json", "--model", "missing.keras", cwd=tmp_path)
    assert result.returncode == 1
    assert "missing.json: Cannot read spec file" in result.stderr
    assert "missing.keras: No such model file" in result.stderr


CHANGING = {
    "kl": {"loss": "mse", "weight": {"schedule": "linear", "start": 0.0, "end": 1.0, "steps": 2000, "delay": 500}},
    "recon": {
        "loss": ["mse", {"loss": "mae", "weight": 3}],
        "weight": {"schedule": "cosine", "start": 1, "end": 0, "steps": 100, "unit": "epoch"},
    },
    "task_a": {"loss": "mse", "weight": {"learned": "uncertainty"}},
    "task_b": {"loss": "mae", "weight": {"learned": "dwa", "temperature": 3}},
    "task_c": {"loss": "mae", "weight": {"learned": "dwa", "temperature": 3.0}},
    "steps": {"loss": "mse", "weight": {"schedule": "piecewise", "boundaries": [10, 20], "values": [0, 0.5, 1]}},
    "fixed": {"loss": "mse", "weight": 2},
    "beta": {
        "loss": [
            {"loss": "mse", "weight": {"schedule": "logistic", "midpoint": 2500, "rate": 0.0025}},
            {"loss": "mae", "weight": {"schedule": "cyclical", "steps": 1000, "cycles": 2}},
        ],
        "weight": 2,
    },
}


def test_check_lists_each_changing_weight_and_imports_no_keras(tmp_path):
    (tmp_path / "changing.json").write_text(json.dumps(CHANGING))
    code = (
        "import sys; from lossreg.cli import main; rc = main(sys.argv[1:]); "
        "print('LOADED', [m for m in ('keras', 'tensorflow') if m in sys.modules], rc)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, "check", "changing.json"],
        capture_output=True,
        text=True,
        env=ENV,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 0 and result.stderr == "", result.stderr
    out, loaded = result.stdout.rsplit("LOADED", 1)
    assert loaded.split() == ["[]", "0"]  # checking changing weights needs no Keras
    lines = out.strip().splitlines()
    assert lines[0] == "changing.json: valid (8 entries)"
    assert [line.split() for line in lines[2:10]] == [
        ["kl", "linear", "x", "mse", "-"],
        ["recon", "cosine", "x", "mse", "+", "cosine", "x", "mae", "-"],
        ["task_a", "uncertainty", "x", "mse", "-"],
        ["task_b", "dwa", "x", "mae", "-"],
        ["task_c", "dwa", "x", "mae", "-"],
        ["steps", "piecewise", "x", "mse", "-"],
        ["fixed", "2", "x", "mse", "-"],
        ["beta", "logistic", "x", "mse", "+", "cyclical", "x", "mae", "-"],
    ]
    assert lines[10:] == [
        "Weights that change during training: train with lossreg.attach(model, spec); "
        "compile(loss=lossreg.resolve(spec)) refuses them.",
        "  spec['kl']['weight']: linear 0 -> 1 over 2000 steps after 500",
        "  spec['recon']['weight'] on spec['recon']['loss'][0] (mse): cosine 1 -> 0 over 100 epochs",
        "  spec['recon']['weight'] on spec['recon']['loss'][1] (mae): cosine 3 -> 0 over 100 epochs",
        "  spec['task_a']['weight']: learned: uncertainty (init 0.0, trainable True)",
        "  spec['task_b']['weight']: learned: dwa (temperature 3.0)",
        "  spec['task_c']['weight']: learned: dwa (temperature 3.0)",
        "  spec['steps']['weight']: piecewise [0.0, 0.5, 1.0] at steps [10, 20]",
        "  spec['beta']['loss'][0]['weight']: logistic 0 -> 2, midpoint 2500 steps, rate 0.0025",
        "  spec['beta']['loss'][1]['weight']: cyclical 0 -> 2, 2 cycles over 1000 steps, rising for 0.5 of each",
    ]

    (tmp_path / "constant.json").write_text(json.dumps({"fixed": {"loss": "mse", "weight": 2}}))
    result = lossreg_cli("check", "constant.json", cwd=tmp_path)
    assert result.returncode == 0 and "change during training" not in result.stdout


def test_check_lists_every_bad_schedule_and_learned_weight_with_its_path(tmp_path):
    spec = {
        "kl": {"loss": "mse", "weight": {"schedule": "linear", "steps": 0, "unit": "epochs"}},
        "recon": {"loss": ["mse", "mae"], "weight": {"learned": "uncertainty"}},
        "task_a": {"loss": "mse", "weight": {"learned": "dwa"}},
        "task_b": {"loss": "mse", "weight": {"learned": "dwa", "temperature": 3}},
        "beta": {"loss": "mse", "weight": {"schedule": "cosine", "stpes": 10}},
        "both": {"loss": [{"loss": "mse", "weight": {"learned": "gradnorm"}}], "weight": {"schedule": "linaer"}},
    }
    (tmp_path / "bad.json").write_text(json.dumps(spec))
    result = lossreg_cli("check", "bad.json", cwd=tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.splitlines() == [
        "lossreg check: 8 problems in bad.json:",
        "  - bad.json: spec['kl']['weight']['unit']: Unknown unit 'epochs'. Did you mean 'epoch'? Expected 'step' "
        "(training batches) or 'epoch'.",
        "  - bad.json: spec['kl']['weight']['steps']: Expected a whole number >= 1, received 0.",
        "  - bad.json: spec['recon']['weight']: A learned weight weighs one task's loss, but this entry sums 2 terms. "
        "Give each term its own 'weight': {'learned': 'uncertainty', 'init': 0.0, 'trainable': True}, or split the "
        "entry.",
        "  - bad.json: spec['task_b']['weight']['temperature']: Dynamic weight average weighs its tasks jointly with "
        "one temperature, but this term has 3.0 and bad.json: spec['task_a']['weight'] has 2.0. Give every 'dwa' "
        "weight the same temperature.",
        "  - bad.json: spec['beta']['weight']: Unknown key 'stpes' in a 'cosine' schedule. Did you mean 'steps'? "
        "Expected keys: schedule, start, end, steps, delay, unit.",
        "  - bad.json: spec['beta']['weight']: A 'cosine' schedule needs 'steps'. It takes: start, end, steps, delay "
        "(and 'unit').",
        "  - bad.json: spec['both']['weight']['schedule']: Unknown schedule 'linaer'. Did you mean 'linear'? Expected "
        "one of: linear, cosine, logistic, piecewise, cyclical.",
        "  - bad.json: spec['both']['loss'][0]['weight']['learned']: Unknown learned weighting 'gradnorm'. Expected "
        "one of: uncertainty, dwa. GradNorm is not offered: it needs each task's gradient norm with respect to the "
        "shared weights inside the training step (a gradient within the gradient), which Keras' training loop does "
        "not expose on every backend. Use 'uncertainty' or 'dwa'.",
    ]


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    import keras

    inp = keras.Input((8,), name="x")
    hidden = keras.layers.Dense(4, name="hidden")(inp)
    mask = keras.layers.Dense(4, activation="sigmoid", name="mask")(hidden)
    cls = keras.layers.Dense(3, name="cls")(hidden)
    path = tmp_path_factory.mktemp("model") / "model.keras"
    keras.Model(inp, {"mask": mask, "cls": cls}).save(path)
    return path


def test_check_against_a_model_prints_its_tensors_and_validates_the_wiring(saved_model, tmp_path):
    (tmp_path / "good.json").write_text(
        json.dumps({"mask": {"loss": "mse_bce", "inputs": {"aux": "hidden"}}, "cls": "softmax_ce"})
    )
    result = lossreg_cli("check", "good.json", "--model", str(saved_model), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"model {saved_model}: 2 output(s), 2 other layer(s)" in out
    for kind, name, shape in [("output", "mask", 4), ("output", "cls", 3), ("layer", "x", 8), ("layer", "hidden", 4)]:
        assert re.search(rf"^  {kind} +{name} +\(None, {shape}\)$", out, flags=re.M), name
    assert "good.json: valid (2 entries)" in out
    assert re.search(r"^  mask +mse_bce +inputs aux=hidden$", out, flags=re.M)


def test_check_against_a_model_accepts_changing_weights_as_attach_does(saved_model, tmp_path):
    spec = {
        "mask": {"loss": "mse", "weight": {"schedule": "linear", "steps": 1, "unit": "epoch"}},
        "cls": {"loss": "mse", "weight": {"learned": "uncertainty", "init": 0.5}},
    }
    (tmp_path / "changing.json").write_text(json.dumps(spec))
    result = lossreg_cli("check", "changing.json", "--model", str(saved_model), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-3:] == [
        "Weights that change during training: train with lossreg.attach(model, spec); "
        "compile(loss=lossreg.resolve(spec)) refuses them.",
        "  spec['mask']['weight']: linear 0 -> 1 over 1 epoch",
        "  spec['cls']['weight']: learned: uncertainty (init 0.5, trainable True)",
    ]


def test_check_against_a_model_lists_every_wiring_problem(saved_model, tmp_path):
    (tmp_path / "wiring.json").write_text(
        json.dumps(
            {
                "mask": {"loss": "mse_bce", "inputs": {"aux": "hiden"}},
                "clss": "softmax_ce",
                "o": {"loss": "mse", "on": "x2"},
            }
        )
    )
    result = lossreg_cli("check", "wiring.json", "--model", str(saved_model), cwd=tmp_path)
    assert result.returncode == 1
    assert "lossreg check: 3 problems in wiring.json:" in result.stderr
    assert (
        "spec['mask']['inputs']['aux']: Unknown layer or output 'hiden'. Did you mean 'hidden'?" in result.stderr
    )  # as attach says
    assert "spec['clss']: Unknown output 'clss'. Did you mean 'cls'?" in result.stderr
    assert "spec['o']['on']: Unknown output 'x2'." in result.stderr
    assert "(None, 8)" in result.stdout  # the model's tensors are shown to help fix the names

    (tmp_path / "shape.json").write_text(json.dumps({"cls": "band_masked_softmax_ce"}))
    result = lossreg_cli("check", "shape.json", "--model", str(saved_model), cwd=tmp_path)
    assert result.returncode == 1
    assert (
        "shape.json: spec['cls']: band_masked_softmax_ce expects predictions (y_pred) shaped (batch, n, n, classes)"
        in (result.stderr)
    )


# -- plugins, help --------------------------------------------------------------------------------------------


def test_plugins_lists_each_installed_plugin_with_version_and_status():
    result = lossreg_cli("plugins")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["LOSS", "DISTRIBUTION", "VERSION", "ENTRY", "POINT", "STATUS"]
    _columns_aligned(lines, ["LOSS", "DISTRIBUTION", "VERSION", "ENTRY POINT", "STATUS"])
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert rows["focal_tversky"] == [
        "focal_tversky",
        "lossreg-segmentation",
        "0.2.0",
        "lossreg_segmentation.losses:focal_tversky_factory",
        "ok",
    ]
    assert rows["hinge_gan_generator"][1:3] == ["lossreg-generative", "0.1.0"]
    records = json.loads(lossreg_cli("plugins", "--json").stdout)
    assert {r["qualified"] for r in records} >= {"lossreg-segmentation:dice_bce", "lossreg-generative:ls_gan_generator"}


@pytest.mark.parametrize("command", ["list", "show", "check", "plugins", "demo"])
def test_every_command_has_help(command):
    result = lossreg_cli(command, "--help")
    assert result.returncode == 0 and result.stdout.startswith(f"usage: lossreg {command}")


def test_no_command_is_an_error_with_usage_on_stderr():
    result = lossreg_cli()
    assert result.returncode == 1 and result.stdout == ""  # a usage error, exit 1 as every error (docs/cli.md)
    assert "usage: lossreg" in result.stderr and "required: COMMAND" in result.stderr
    top = lossreg_cli("--help")
    assert top.returncode == 0 and all(c in top.stdout for c in ("list", "show", "check", "plugins", "demo"))
