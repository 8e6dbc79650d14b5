"""The command line's own manners, run as users run it (a subprocess): usage errors exit 1 with the usage on
stderr, and warnings are one clean ``lossreg: warning: ...`` line, not Python's file, line and source line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TF_ENABLE_ONEDNN_OPTS="0", KERAS_BACKEND="tensorflow")


def lossreg_cli(*args: str, env: dict[str, str] = ENV, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lossreg", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300
    )


# -- usage errors -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ((), "the following arguments are required: COMMAND"),
        (("frobnicate",), "argument COMMAND: invalid choice: 'frobnicate'"),
        (("show",), "the following arguments are required: name"),
        (("check",), "the following arguments are required: spec"),
        (("list", "--bogus"), "unrecognized arguments: --bogus"),
        (("demo", "--epochs", "three"), "argument --epochs: invalid int value: 'three'"),
    ],
)
def test_a_usage_error_exits_1_with_the_usage_on_stderr(args, says):
    result = lossreg_cli(*args)
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith("usage: lossreg")
    assert f"error: {says}" in result.stderr
    assert "Traceback" not in result.stderr


def test_help_still_exits_0():
    result = lossreg_cli("show", "--help")
    assert result.returncode == 0 and result.stdout.startswith("usage: lossreg show") and result.stderr == ""


# -- warnings -------------------------------------------------------------------------------------------------------


def _fake_distribution(site: Path, dist: str, module: str) -> None:
    """An installed distribution (its dist-info only, as pip leaves it) offering the loss 'twice_offered'."""
    info = site / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[lossreg.losses]\ntwice_offered = {module}:twice_offered_factory\n")
    (site / f"{module}.py").write_text(
        '"""A plugin for the conflict test."""\n\nfrom lossreg import loss_factory, ops\n\n\n'
        "def twice_offered(y_true, y_pred):\n"
        '    """Squared error per sample."""\n'
        "    return ops.mean(ops.square(y_pred - y_true), axis=-1)\n\n\n"
        "twice_offered_factory = loss_factory(twice_offered)\n"
    )


@pytest.fixture(scope="module")
def conflicting_plugins(tmp_path_factory):
    site = tmp_path_factory.mktemp("site")
    _fake_distribution(site, "lossreg-conflict-a", "lossreg_conflict_a")
    _fake_distribution(site, "lossreg-conflict-b", "lossreg_conflict_b")
    (site / "spec.json").write_text('{"loss": "softmax_ce"}')
    pythonpath = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p)
    return site, dict(ENV, PYTHONPATH=pythonpath, PYTHONWARNINGS="default")


@pytest.mark.parametrize(
    "args", [("list",), ("list", "--json"), ("show", "softmax_ce"), ("check", "spec.json"), ("plugins",)]
)
def test_a_plugin_conflict_is_one_clean_warning_line_in_every_command(conflicting_plugins, args):
    site, env = conflicting_plugins
    result = lossreg_cli(*args, env=env, cwd=site)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "lossreg: warning: Plugin loss 'twice_offered' is offered by several distributions (lossreg-conflict-a, "
        "lossreg-conflict-b), so none gets the plain name; use 'lossreg-conflict-a:twice_offered' or "
        "'lossreg-conflict-b:twice_offered'."
    ]
    assert "lossreg-conflict-a:twice_offered" in result.stdout or args[0] in {"show", "check"}


# -- demo ------------------------------------------------------------------------------------------------------------


def test_demo_help_names_the_spec_it_really_uses_by_default():
    from lossreg import _demo

    result = lossreg_cli("demo", "--help")
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())  # argparse wraps lines
    assert "(default: lossreg/data/joint_decoder.json, installed with lossreg;" in text
    assert _demo.SPEC.parts[-3:] == ("lossreg", "data", "joint_decoder.json")
    examples = Path(__file__).resolve().parent.parent / "examples" / "joint_decoder.json"
    assert _demo.SPEC.read_text(encoding="utf-8") == examples.read_text(encoding="utf-8")
    for output in ("output_1, logits shaped (batch, 9, 5)", "output_2, logits shaped (batch, 9, 9, 4)"):
        assert output in text
