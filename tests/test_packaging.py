"""What users install: the version comes from the package metadata, and CI tests the installed wheel."""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import lossreg
from lossreg import _version

ROOT = Path(__file__).resolve().parent.parent


def test_version_is_pyprojects_read_from_the_installed_metadata():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    with (ROOT / "pyproject.toml").open("rb") as f:
        declared = tomllib.load(f)["project"]["version"]
    assert lossreg.__version__ == declared == importlib.metadata.version("lossreg")


def test_version_falls_back_only_without_metadata():
    assert _version._installed_version("lossreg") == lossreg.__version__
    assert _version._installed_version("no-such-distribution-lossreg-test") == "0+unknown"


@pytest.mark.skipif(os.environ.get("CI") != "true", reason="CI (CI=true) tests the installed wheels")
def test_ci_imports_the_installed_packages_not_the_source_tree():
    import lossreg_generative
    import lossreg_segmentation

    import lossreg.cli

    site = Path(sysconfig.get_paths()["purelib"]).resolve()
    for module in (lossreg, lossreg.cli, lossreg_segmentation, lossreg_generative):
        assert Path(module.__file__).resolve().is_relative_to(site), module.__file__
    # and so do the subprocesses the tests start (the command line among them)
    code = "import lossreg, lossreg.cli; print(lossreg.__file__); print(lossreg.cli.__file__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert all(Path(line).resolve().is_relative_to(site) for line in out.splitlines()), out


def test_the_readme_test_command_is_what_ci_runs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    command = re.search(r"Install and run the tests[^\n]*:\n\n```bash\n(.*?)\n```", readme, flags=re.S).group(1)
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert command in ci, f"the README's test command {command!r} is not a line of .ci/run"
