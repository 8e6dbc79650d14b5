"""What users install: four distributions, their metadata, the version read from it, and CI testing the wheels.

``lossreg-core`` is the library (Keras and NumPy, an extra per backend); ``lossreg`` is a meta-distribution,
``lossreg-core[tensorflow]`` of the same version, so that ``pip install lossreg`` installs what it always did; the
plugins need only ``lossreg-core``. The pyproject files are checked in the source tree (every run), the installed
metadata and files where CI installed the wheels (CI=true).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from packaging.requirements import Requirement

import lossreg
from lossreg import _version

ROOT = Path(__file__).resolve().parent.parent
CORE, META = ROOT / "pyproject.toml", ROOT / "packaging" / "lossreg" / "pyproject.toml"
PLUGINS = {
    "lossreg-segmentation": ROOT / "plugins" / "lossreg-segmentation" / "pyproject.toml",
    "lossreg-generative": ROOT / "plugins" / "lossreg-generative" / "pyproject.toml",
}
BACKEND_EXTRAS = {"tensorflow": {"tensorflow"}, "jax": {"jax", "jaxlib"}, "torch": {"torch"}}
IN_CI = pytest.mark.skipif(os.environ.get("CI") != "true", reason="CI (CI=true) tests the installed wheels")


def pyproject(path: Path) -> dict:
    tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python >= 3.11 (tomllib)")
    with path.open("rb") as f:
        return tomllib.load(f)


def project(path: Path) -> dict:
    return pyproject(path)["project"]


def requirements(lines: list[str] | None, extra: str | None = None) -> dict[str, Requirement]:
    """``Requires-Dist`` lines (or pyproject dependencies) by name: the unconditional ones, or one extra's."""
    found = {}
    for line in lines or []:
        req = Requirement(line)
        wanted = (
            req.marker is None if extra is None else req.marker is not None and req.marker.evaluate({"extra": extra})
        )
        if wanted:
            found[req.name] = req
    return found


# -- the version -------------------------------------------------------------------------------------------------------


def test_version_is_pyprojects_read_from_the_installed_metadata_of_lossreg_core():
    declared = project(CORE)["version"]
    assert lossreg.__version__ == declared == importlib.metadata.version("lossreg-core")


def test_version_falls_back_only_without_metadata():
    assert _version._installed_version() == _version._installed_version("lossreg-core") == lossreg.__version__
    assert _version._installed_version("no-such-distribution-lossreg-test") == "0+unknown"


# -- the pyproject files: what each distribution requires -------------------------------------------------------------


def test_lossreg_core_requires_keras_and_numpy_only_and_offers_an_extra_per_backend():
    core = project(CORE)
    assert core["name"] == "lossreg-core"
    assert {Requirement(r).name for r in core["dependencies"]} == {"keras", "numpy"}
    extras = core["optional-dependencies"]
    assert {"tensorflow", "jax", "torch", "yaml", "dev"} <= set(extras)
    for extra, names in BACKEND_EXTRAS.items():
        assert {Requirement(r).name for r in extras[extra]} == names, extra
    # CI installs the CPU build torch==2.13.0 first: the extra must accept it, or pip would replace it with another
    # (CUDA, several GB) build
    (torch,) = (Requirement(r) for r in extras["torch"])
    assert torch.specifier.contains("2.13.0") and torch.specifier.contains("2.13.0+cpu")


def test_the_lossreg_meta_distribution_is_lossreg_core_with_tensorflow_of_the_same_version():
    core, meta = project(CORE), project(META)
    assert meta["name"] == "lossreg" and meta["version"] == core["version"]
    (dependency,) = (Requirement(r) for r in meta["dependencies"])
    assert (dependency.name, dependency.extras, str(dependency.specifier)) == (
        "lossreg-core",
        {"tensorflow"},
        f"=={core['version']}",
    )
    # `pip install 'lossreg[yaml]'` (what 0.3's YAML error message said) keeps working
    for extra, reqs in meta["optional-dependencies"].items():
        (req,) = (Requirement(r) for r in reqs)
        assert (req.name, req.extras, str(req.specifier)) == ("lossreg-core", {extra}, f"=={core['version']}")
    assert pyproject(META)["tool"]["setuptools"]["packages"] == []  # metadata only, never a second copy of the code


@pytest.mark.parametrize("name", sorted(PLUGINS))
def test_the_plugins_require_lossreg_core_not_tensorflow(name):
    plugin = project(PLUGINS[name])
    assert plugin["name"] == name
    (dependency,) = (Requirement(r) for r in plugin["dependencies"])
    assert dependency.name == "lossreg-core" and not dependency.extras
    assert dependency.specifier.contains(project(CORE)["version"]) and not dependency.specifier.contains("0.3.0")


def test_the_set_up_page_installs_extras_that_exist():
    set_up = (ROOT / "docs" / "setup.md").read_text(encoding="utf-8")
    installs = re.findall(r"pip install [\"']?lossreg-core\[([a-z,]+)\]", set_up)
    assert {"jax", "torch"} <= set(installs), installs
    offered = set(project(CORE)["optional-dependencies"])
    assert {extra for extras in installs for extra in extras.split(",")} <= offered
    assert "LOSSREG_BACKENDS=" in set_up  # how to test one backend


@pytest.mark.parametrize("page", ["README.md", "docs/setup.md"])
def test_the_documented_test_command_is_what_ci_runs(page):
    text = (ROOT / page).read_text(encoding="utf-8")
    command = re.search(r"Install and run the tests[^\n]*:\n\n```bash\n(.*?)\n```", text, flags=re.S).group(1)
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert command in ci, f"{page}'s test command {command!r} is not a line of .ci/run"


def test_the_readme_tour_is_the_home_page_tour_that_the_docs_build_runs():
    """The README's tour cannot run where PyPI shows it; the docs build runs the same code on the home page."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    (tour,) = re.findall(r"\n## A tour\n\n```python\n(.*?)```", readme, flags=re.S)
    home = (ROOT / "docs" / "index.md").read_text(encoding="utf-8")
    executed = re.findall(r'```python exec="on" session="home" source="above"\n(.*?)```', home, flags=re.S)
    assert tour in executed, "the README's tour differs from the home page's executed tour (docs/index.md)"
    assert len(tour.strip().splitlines()) <= 30


def test_the_readme_links_into_the_docs_resolve():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\(((?:docs/)?[^)#:]+\.md)\)", readme)
    assert "docs/setup.md" in links and "docs/index.md" in links
    missing = [link for link in links if not (ROOT / link).is_file()]
    assert not missing, f"README links to missing files: {missing}"


def test_the_test_command_runs_every_backend_unless_told_otherwise():
    script = (ROOT / ".ci" / "test.sh").read_text(encoding="utf-8")
    assert '"${LOSSREG_BACKENDS:-tensorflow jax torch}"' in script
    bad = subprocess.run(
        ["bash", str(ROOT / ".ci" / "test.sh")],
        env=dict(os.environ, LOSSREG_BACKENDS="jax theano"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "unknown backend 'theano'" in bad.stderr, bad.stderr  # before building anything


# -- CI: the installed wheels ------------------------------------------------------------------------------------------


@IN_CI
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


@IN_CI
@pytest.mark.parametrize("name", ["lossreg-core", "lossreg", *sorted(PLUGINS)])
def test_ci_installed_each_distribution_from_its_wheel(name):
    direct_url = json.loads(importlib.metadata.distribution(name).read_text("direct_url.json") or "{}")
    assert direct_url.get("url", "").endswith(".whl"), direct_url  # a built wheel, not the source tree
    assert not direct_url.get("dir_info", {}).get("editable", False), direct_url


@IN_CI
def test_ci_installed_metadata():
    version = importlib.metadata.version("lossreg-core")
    core = importlib.metadata.requires("lossreg-core")
    assert set(requirements(core)) == {"keras", "numpy"}
    for extra, names in BACKEND_EXTRAS.items():
        assert set(requirements(core, extra)) == names, extra

    assert importlib.metadata.version("lossreg") == version
    (meta,) = requirements(importlib.metadata.requires("lossreg")).values()
    assert (meta.name, meta.extras, str(meta.specifier)) == ("lossreg-core", {"tensorflow"}, f"=={version}")
    # the meta-distribution installs no file of its own: the package `lossreg` is lossreg-core's alone
    assert not [f for f in importlib.metadata.files("lossreg") or [] if ".dist-info" not in str(f)]
    assert "lossreg/__init__.py" in {str(f) for f in importlib.metadata.files("lossreg-core") or []}

    for name in PLUGINS:
        (dependency,) = requirements(importlib.metadata.requires(name)).values()
        assert dependency.name == "lossreg-core" and dependency.specifier.contains(version), name
