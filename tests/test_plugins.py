"""Plugin discovery: laziness, isolation of broken plugins, the conflict rule, rescans, static metadata
(with faked entry points on a private registry), and real installed plugins used from fresh processes:
the plugin written from the plugin guide (docs/plugins.md), a deliberately broken one, and lossreg-segmentation."""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import itertools
import json
import os
import re
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from on_backend import only_on

from lossreg import LossSpecError, PluginLoadError
from lossreg.registry import GROUP, LossDef, LossregPluginWarning, PluginEntryPoint, Registry, static_metadata

ROOT = Path(__file__).resolve().parent.parent
_counter = itertools.count()


# -- faked entry points ---------------------------------------------------------------------------------------


class FakePlugins:
    """Plugin modules written to a temporary directory, announced through a patched ``entry_points``."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.dir = tmp_path / "plugin_modules"
        self.dir.mkdir()
        monkeypatch.syspath_prepend(str(self.dir))
        self.eps: list[SimpleNamespace] = []
        self.modules: list[str] = []
        self._monkeypatch = monkeypatch

        def entry_points(**params):
            assert params == {"group": GROUP}
            return list(self.eps)

        monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)

    def module(self, source: str) -> str:
        """Write a module with a unique name; return that name."""
        name = f"lossreg_fake_plugin_{os.getpid()}_{next(_counter)}"
        (self.dir / f"{name}.py").write_text(textwrap.dedent(source))
        self.modules.append(name)
        self._monkeypatch.delitem(sys.modules, name, raising=False)
        return name

    def add(self, name: str, value: str, dist: str = "fake-dist", version: str = "1.0") -> None:
        self.eps.append(SimpleNamespace(name=name, value=value, dist=SimpleNamespace(name=dist, version=version)))


def _builtin_factory(scale: float = 1.0):
    """A built-in stand-in: scale * |y_pred - y_true|."""
    return lambda y_true, y_pred: scale * abs(y_pred - y_true)


@pytest.fixture
def fake(tmp_path, monkeypatch):
    return FakePlugins(tmp_path, monkeypatch)


@pytest.fixture
def registry():
    reg = Registry()
    reg.add(LossDef.of("builtin_loss", _builtin_factory, "lossreg"))
    return reg


GOOD = '''
def good(scale: float = 2.0):
    """Good plugin loss: scale * (y_pred - y_true) + aux."""
    return lambda y_true, y_pred, aux: scale * (y_pred - y_true) + aux

good.extras = ("aux",)
'''


def test_plugins_are_listed_without_importing_them_and_imported_on_first_use(fake, registry):
    module = fake.module(GOOD)
    fake.add("good", f"{module}:good")
    names = registry.names()
    assert {"good", "fake-dist:good", "builtin_loss"} <= set(names)
    assert module not in sys.modules  # listed, not imported
    [record] = registry.records()
    assert (record.status, record.summary, record.extras) == (
        "not loaded",
        "Good plugin loss: scale * (y_pred - y_true) + aux.",
        ("aux",),
    )
    assert registry.entry("good").extras == ("aux",)  # known before import, from the source
    fn = registry.lookup("good").bind({"scale": 3.0})
    assert module in sys.modules
    assert fn(1.0, 2.0, aux=0.5) == 3.0 * (2.0 - 1.0) + 0.5
    assert registry.describe("fake-dist:good").source == "fake-dist"
    assert record.status == "ok"


class CountingDist:
    """A distribution whose metadata reads are counted (it has no ``name``/``version`` shortcuts)."""

    def __init__(self, name: str, version: str) -> None:
        self.reads = 0
        self._metadata = {"Name": name, "Version": version}

    @property
    def metadata(self) -> dict[str, str]:
        self.reads += 1
        return self._metadata


def test_names_reads_each_distribution_once_and_no_plugin_source(fake, registry, monkeypatch):
    module = fake.module(GOOD)
    dist = CountingDist("multi-dist", "2.0")
    for loss in ("good", "also_good"):  # one distribution, two entry points: one metadata read per scan
        fake.eps.append(SimpleNamespace(name=loss, value=f"{module}:good", dist=dist))
    parsed: list[str] = []
    where = "lossreg.registry._entry_points.static_metadata"  # the reader a record calls: counted here
    monkeypatch.setattr(where, lambda value: parsed.append(value) or static_metadata(value))

    assert {"good", "also_good", "multi-dist:good", "multi-dist:also_good"} <= set(registry.names())
    assert (dist.reads, parsed) == (1, [])  # names() never reads a plugin's source
    assert registry.entry("also_good").extras == ("aux",)  # asked for: read from the source, still not imported
    assert parsed == [f"{module}:good"] and module not in sys.modules
    assert [(r.qualified, r.version, r.summary) for r in registry.records()] == [
        ("multi-dist:also_good", "2.0", "Good plugin loss: scale * (y_pred - y_true) + aux."),
        ("multi-dist:good", "2.0", "Good plugin loss: scale * (y_pred - y_true) + aux."),
    ]
    assert len(parsed) == 2  # each record once
    registry.rescan_plugins()
    assert (dist.reads, len(parsed)) == (2, 2)  # a rescan reads the metadata again, the records stay
    assert registry.lookup("good").bind({"scale": 2.0})(1.0, 2.0, aux=1.0) == 3.0


@pytest.mark.parametrize(
    ("source", "attr", "why"),
    [
        ("raise RuntimeError('boom at import')\n", "f", r"RuntimeError: boom at import"),
        ("import sys\nsys.exit(3)\n", "f", r"SystemExit: 3"),
        ("import a_module_that_is_not_installed_anywhere\n", "f", r"ModuleNotFoundError: No module named"),
        ("X = 42\n", "X", r"gives int 42, not a factory function"),
        ("def f():\n    '''doc'''\n", "missing", r"AttributeError"),
        ("def f():\n    '''doc'''\nf.extras = ('y_true',)\n", "f", r"invalid extras \('y_true',\)"),
    ],
    ids=["raises", "sys-exit", "missing-dependency", "not-a-factory", "missing-object", "bad-extras"],
)
def test_a_broken_plugin_is_reported_and_harmless(fake, registry, source, attr, why):
    broken = fake.module(source)
    good = fake.module(GOOD)
    fake.add("broken", f"{broken}:{attr}", dist="broken-dist", version="0.3")
    fake.add("good", f"{good}:good")
    assert {"broken", "good", "builtin_loss"} <= set(registry.names())  # listing never fails
    assert registry.lookup("good").bind({})(0.0, 1.0, aux=1.0) == 3.0  # healthy plugins and built-ins keep working
    assert registry.lookup("builtin_loss").bind({})(1.0, 3.0) == 2.0
    for _ in range(2):  # asked again, the same error (the plugin is not re-run)
        with pytest.raises(PluginLoadError, match=why) as info:
            registry.lookup("broken").bind({})
        error = info.value
        assert (error.distribution, error.entry_point) == ("broken-dist", "broken")
        assert "'broken-dist'" in str(error) and f"broken = {broken}:{attr}" in str(error)
        assert isinstance(error, LossSpecError)
    status = {r.qualified: r.status for r in registry.load_all()}
    assert status["fake-dist:good"] == "ok"
    assert re.match(r"failed: .*" + why, status["broken-dist:broken"])


def test_an_invalid_entry_point_name_is_reported_not_registered(fake, registry):
    fake.add("not a name", f"{fake.module(GOOD)}:good")
    assert "not a name" not in registry.names()
    [record] = registry.records()
    assert record.status == "failed: invalid loss name"


def test_unreadable_entry_points_warn_and_keep_the_registry_working(monkeypatch, registry):
    def entry_points(**params):
        raise OSError("corrupt METADATA")

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    with pytest.warns(LossregPluginWarning, match="could not read the installed entry points.*corrupt METADATA"):
        assert registry.names() == ["builtin_loss"]


def _no_plugin_warnings(call):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = call()
    assert [w for w in caught if issubclass(w.category, LossregPluginWarning)] == []
    return result


def test_a_builtin_keeps_its_name_and_the_plugin_is_reachable_qualified_warned_once(fake, registry):
    module = fake.module("def shadow(scale: float = 1.0):\n    '''Shadow.'''\n    return lambda y, p: 100.0\n")
    fake.add("builtin_loss", f"{module}:shadow")
    with pytest.warns(LossregPluginWarning, match=r"clashes with the 'lossreg' loss.*'fake-dist:builtin_loss'"):
        registry.names()
    assert registry.lookup("builtin_loss").bind({})(1.0, 3.0) == 2.0  # the built-in
    assert registry.lookup("fake-dist:builtin_loss").bind({})(1.0, 3.0) == 100.0  # the plugin, qualified
    _no_plugin_warnings(registry.rescan_plugins)  # once per process


def test_two_plugins_with_one_name_get_neither_the_plain_name(fake, registry):
    a = fake.module("def f():\n    '''A.'''\n    return lambda y, p: 1.0\n")
    b = fake.module("def f():\n    '''B.'''\n    return lambda y, p: 2.0\n")
    fake.add("shared", f"{a}:f", dist="dist-a")
    fake.add("shared", f"{b}:f", dist="dist-b")
    with pytest.warns(LossregPluginWarning, match=r"offered by several distributions \(dist-a, dist-b\)"):
        names = registry.names()
    assert "shared" not in names
    assert registry.lookup("dist-a:shared").bind({})(0, 0) == 1.0
    assert registry.lookup("dist-b:shared").bind({})(0, 0) == 2.0
    with pytest.raises(LossSpecError, match=r"Plugins offer it as 'dist-a:shared' or 'dist-b:shared'"):
        registry.entry("shared")


def test_a_second_plugin_installed_later_takes_the_plain_name_from_neither(fake, registry):
    a = fake.module("def f():\n    '''A.'''\n    return lambda y, p: 1.0\n")
    fake.add("shared", f"{a}:f", dist="dist-a")
    assert registry.lookup("shared").bind({})(0, 0) == 1.0
    b = fake.module("def f():\n    '''B.'''\n    return lambda y, p: 2.0\n")
    fake.add("shared", f"{b}:f", dist="dist-b")
    with pytest.warns(LossregPluginWarning, match="several distributions"):
        registry.rescan_plugins()
    assert "shared" not in registry.names()
    assert registry.lookup("dist-a:shared").bind({})(0, 0) == 1.0


def test_a_user_registration_beats_a_plugin_even_after_the_scan(fake, registry):
    module = fake.module("def f():\n    '''Plugin.'''\n    return lambda y, p: 1.0\n")
    fake.add("mine", f"{module}:f")
    assert registry.lookup("mine").bind({})(0, 0) == 1.0  # the plugin has the plain name until someone claims it

    with pytest.warns(LossregPluginWarning, match=r"registers loss 'mine'.*registration wins.*'fake-dist:mine'"):

        @registry.register("mine")
        def mine():
            """User's."""
            return lambda y, p: 5.0

    assert registry.lookup("mine").bind({})(0, 0) == 5.0
    assert registry.lookup("fake-dist:mine").bind({})(0, 0) == 1.0
    _no_plugin_warnings(registry.rescan_plugins)
    assert registry.lookup("mine").bind({})(0, 0) == 5.0
    with pytest.raises(LossSpecError, match="already registered"):  # between users the usual rule holds

        @registry.register("mine")
        def again():
            """Again."""


def test_a_plugin_installed_later_is_found_on_a_lookup_miss(fake, registry):
    assert "late" not in registry.names()
    fake.add("late", f"{fake.module(GOOD)}:good")
    assert registry.entry("late").source == "fake-dist"  # no explicit rescan


def test_static_metadata_reads_the_source_without_importing_any_package(tmp_path, monkeypatch):
    package = f"lossreg_fake_pkg_{next(_counter)}"
    (tmp_path / package).mkdir()
    (tmp_path / package / "__init__.py").write_text("raise RuntimeError('the package must not be imported')\n")
    (tmp_path / package / "sub.py").write_text(
        textwrap.dedent(
            '''
            EXTRAS = ("b",)

            def f():
                """First line.

                More.
                """

            f.extras = ("a", "b")

            def g():
                pass

            g.summary = "Given summary."
            g.extras = EXTRAS
            '''
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert static_metadata(f"{package}.sub:f") == ("First line.", ("a", "b"))
    assert static_metadata(f"{package}.sub:g") == ("Given summary.", None)  # not a literal: unknown until loaded
    assert static_metadata(f"{package}.sub:missing") == (None, None)
    assert static_metadata("a_module_that_is_not_installed_anywhere:f") == (None, None)
    assert package not in sys.modules


def test_a_private_registry_takes_faked_entry_points_without_patching(tmp_path, monkeypatch):
    """The public test seam: ``Registry(entry_points=[PluginEntryPoint(...)])``, as stevedore's make_test_instance."""
    (tmp_path / "lossreg_seam_plugin.py").write_text(GOOD)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "lossreg_seam_plugin", raising=False)
    offered: list[PluginEntryPoint] = []
    registry = Registry(entry_points=lambda: offered)  # called at every scan: "installs" show up later
    assert registry.names() == []  # isolated: no built-ins, no installed plugins
    offered.append(PluginEntryPoint("good", "lossreg_seam_plugin:good", distribution="seam-dist", version="1.2"))
    assert registry.entry("good").source == "seam-dist"  # found on the lookup miss
    assert [(r.qualified, r.version, r.status) for r in registry.records()] == [("seam-dist:good", "1.2", "not loaded")]
    assert registry.lookup("good").bind({"scale": 1.0})(1.0, 2.0, aux=0.0) == 1.0
    fixed = Registry(entry_points=[PluginEntryPoint("good", "lossreg_seam_plugin:good")])
    assert fixed.names() == ["good", "test-dist:good"]


PURE = '''
def pair(y_true, y_pred, *, margin: float = 1.0, real_logits, fake_logits):
    """Pair loss written as a pure function: margin * (real_logits - fake_logits) + y_pred - y_true."""
    return margin * (real_logits - fake_logits) + y_pred - y_true
'''


def test_an_entry_point_may_name_a_pure_loss_function(fake, registry):
    module = fake.module(PURE)
    fake.add("pair", f"{module}:pair")
    assert registry.entry("pair").extras == ("real_logits", "fake_logits")  # read from the source, not imported
    assert module not in sys.modules
    assert static_metadata(f"{module}:pair") == (
        "Pair loss written as a pure function: margin * (real_logits - fake_logits) + y_pred - y_true.",
        ("real_logits", "fake_logits"),
    )
    info = registry.describe("pair")
    assert (list(info.params), info.extras) == (["margin"], ("real_logits", "fake_logits"))
    fn = registry.lookup("pair").bind({"margin": 2.0})
    assert fn(1.0, 3.0, real_logits=1.0, fake_logits=0.5) == 2.0 * 0.5 + 2.0
    with pytest.raises(LossSpecError, match=r"Expected float, received str 'x'"):
        registry.lookup("pair", path="spec['o']").bind({"margin": "x"}, "spec['o']")


def test_a_pure_loss_entry_point_with_a_positional_parameter_is_a_broken_plugin(fake, registry):
    module = fake.module("def bad(y_true, y_pred, scale=1.0):\n    return 0.0\n")
    fake.add("bad", f"{module}:bad")
    with pytest.raises(PluginLoadError, match=r"parameter 'scale' is positional"):
        registry.lookup("bad").bind({})
    assert registry.load_all()[0].status.startswith("failed: TypeError")


def _deep_source(tail: str = "x" + ".y" * 10000) -> str:
    """A module ``ast.parse`` gives up on: an attribute chain nested 10000 levels (RecursionError)."""
    return f'def f():\n    """Deep."""\n\n\nf.summary = {tail}\n'


@pytest.mark.parametrize("tail", ["x" + ".y" * 10000, "-" * 10000 + "1"], ids=["attributes", "unary-minus"])
def test_static_metadata_survives_a_source_too_deep_for_the_parser(fake, tail):
    module = fake.module(_deep_source(tail))
    with pytest.raises((RecursionError, MemoryError)):  # what `lossreg list` met before: a traceback
        ast.parse((fake.dir / f"{module}.py").read_text())
    assert static_metadata(f"{module}:f") == (None, None)
    fake.add("deep", f"{module}:f", dist="deep-dist")
    registry = Registry()
    assert "deep" in registry.names()
    [record] = registry.records()
    assert (record.summary, record.extras, record.status) == (None, None, "not loaded")


def test_lossreg_list_copes_with_an_installed_plugin_too_deep_for_the_parser(tmp_path):
    """Bug 8: a plugin whose source nests ~10000 levels crashed `lossreg list` (RecursionError in ast.parse)."""
    site = tmp_path / "site"
    info = site / "lossreg_deep_plugin-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: lossreg-deep-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[lossreg.losses]\ndeep = lossreg_deep_plugin:f\n")
    (site / "lossreg_deep_plugin.py").write_text(_deep_source())
    result = _run([sys.executable, "-m", "lossreg", "list", "--json"], _env(PYTHONPATH=str(site)))
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["deep"]["source"] == "lossreg-deep-plugin"
    assert (rows["deep"]["summary"], rows["deep"]["extras"], rows["deep"]["status"]) == ("", None, "not loaded")
    assert "Traceback" not in result.stderr


def test_the_real_registry_lists_the_installed_plugin_distributions():
    import lossreg

    names = set(lossreg.names())
    expected = {"soft_dice", "jaccard", "soft_tversky", "focal_tversky", "dice_bce", "ns_gan_discriminator"}
    missing = expected - names
    assert not missing, (
        f"{sorted(missing)} not registered: install the plugins with "
        "`pip install -e plugins/lossreg-segmentation -e plugins/lossreg-generative` (docs/setup.md)."
    )
    assert "lossreg-segmentation:soft_dice" in names


# -- real installed plugins, used from fresh processes ----------------------------------------------------------


#: the fresh processes below run on TensorFlow (``_env``) whatever this run's backend: identical in every run of the
#: suite, so they run in the TensorFlow run only
TF_PROCESSES = only_on("tensorflow", why="its fresh processes run on tensorflow whatever this run's backend (_env)")


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TF_ENABLE_ONEDNN_OPTS="0", KERAS_BACKEND="tensorflow")
    env.update(extra)
    return env


def _run(args: list[str], env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, env=env, cwd=cwd, timeout=300)


def guide_plugin_files() -> dict[str, str]:
    """The files of the plugin guide (docs/plugins.md): the code blocks whose first line is ``# file: <name>``."""
    page = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    files = {}
    for block in re.findall(r"```(?:toml|python)\n(.*?)```", page, flags=re.S):
        first, _, rest = block.partition("\n")
        match = re.fullmatch(r"# file: (\S+)", first)
        if match:
            files[match.group(1)] = rest
    return files


def test_the_plugin_guide_is_complete_and_under_40_lines():
    files = guide_plugin_files()
    assert set(files) == {"pyproject.toml", "lossreg_logcosh.py", "test_logcosh.py"}
    assert sum(len(text.strip().splitlines()) for text in files.values()) < 40


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The plugin guide's plugin (docs/plugins.md) and the broken fixture, built and installed with pip into a private
    directory (one pip run for both; the environment itself is untouched, so other tests never see them)."""
    work = tmp_path_factory.mktemp("plugins")
    guide = work / "lossreg-logcosh"
    guide.mkdir()
    for name, text in guide_plugin_files().items():
        (guide / name).write_text(text)
    site = work / "site"
    # Offline and fast with the environment's own setuptools; a Python whose venvs lack setuptools (3.12+)
    # builds in pip's isolated environment instead.
    fast = ["--no-build-isolation", "--no-index"] if importlib.util.find_spec("setuptools") else []
    broken = ROOT / "tests" / "plugin_fixtures" / "lossreg-broken-fixture"
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", *fast, "--target", str(site)]
    result = _run([*pip, str(guide), str(broken)], env=_env(PIP_DISABLE_PIP_VERSION_CHECK="1"))
    assert result.returncode == 0, result.stderr
    return SimpleNamespace(guide=guide, env=_env(PYTHONPATH=str(site)))


@TF_PROCESSES
def test_installed_plugins_are_listed_without_being_imported(installed):
    code = (
        "import sys; from lossreg.cli import main; rc = main(['list', '--json']); mods = ('lossreg_logcosh', "
        "'lossreg_broken_fixture', 'tensorflow'); print('IMPORTED', [m for m in mods if m in sys.modules])"
    )
    result = _run([sys.executable, "-c", code], installed.env)
    assert result.returncode == 0, result.stderr
    listing, imported = result.stdout.rsplit("IMPORTED", 1)
    assert imported.strip() == "[]"
    rows = {row["name"]: row for row in json.loads(listing)}
    assert rows["scaled_logcosh"]["source"] == "lossreg-logcosh"
    assert rows["scaled_logcosh"]["summary"].startswith("Scaled log-cosh error per sample")
    assert rows["scaled_logcosh"]["aliases"] == ["lossreg-logcosh:scaled_logcosh"]
    assert rows["broken_import"]["source"] == "lossreg-broken-fixture"
    assert rows["softmax_ce"]["source"] == "lossreg"  # the built-in keeps its name
    assert rows["lossreg-broken-fixture:softmax_ce"]["source"] == "lossreg-broken-fixture"
    assert result.stderr.count("lossreg: warning: ") == 1 and "clashes with the 'lossreg' loss" in result.stderr


@TF_PROCESSES
def test_lossreg_plugins_reports_each_status(installed):
    result = _run([sys.executable, "-m", "lossreg", "plugins"], installed.env)
    assert result.returncode == 0, result.stderr
    lines = {line.split()[0]: line for line in result.stdout.splitlines()[1:] if line.strip()}
    assert lines["scaled_logcosh"].endswith(" ok") and "lossreg-logcosh" in lines["scaled_logcosh"]
    assert lines["fixture_ok"].endswith(" ok")
    assert lines["lossreg-broken-fixture:softmax_ce"].endswith(" ok")
    assert "failed: RuntimeError: lossreg-broken-fixture exploded on import" in lines["broken_import"]
    assert "failed: gives int 42, not a factory function" in lines["not_a_factory"]
    assert "failed: AttributeError" in lines["missing_object"]
    assert "3 plugin losses failed to load; every other loss works." in result.stdout


USE = """
import json, sys
import keras, numpy as np, lossreg

y = np.array([[0.0, 1.0, 2.0], [1.0, 1.0, 1.0]], "float32")
p = np.array([[0.5, -1.0, 2.5], [3.0, 1.0, -2.0]], "float32")
out = {"logcosh": float(lossreg.resolve({"loss": "scaled_logcosh", "params": {"scale": 2.0}})(y, p))}
try:
    lossreg.get("broken_import")
except lossreg.PluginLoadError as error:
    out["error"] = [str(error), error.distribution, error.entry_point, type(error.__cause__).__name__]
out["softmax_ce_source"] = lossreg.describe("softmax_ce").source
out["shadow"] = float(lossreg.get("lossreg-broken-fixture:softmax_ce")(y, p))
out["fixture_ok"] = float(lossreg.get("fixture_ok", scale=3.0)(y, p))
out["builtin"] = float(lossreg.get("sigmoid_bce")(y[:, :1] / 2, p[:, :1]))
print(json.dumps(out))
"""


@TF_PROCESSES
def test_the_guide_plugin_is_usable_and_the_broken_one_harmless_in_a_fresh_process(installed):
    result = _run([sys.executable, "-c", USE], installed.env)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    y = np.array([[0.0, 1.0, 2.0], [1.0, 1.0, 1.0]])
    p = np.array([[0.5, -1.0, 2.5], [3.0, 1.0, -2.0]])
    assert out["logcosh"] == pytest.approx(2.0 * np.mean(np.log(np.cosh(p - y))), rel=1e-6)
    message, dist, entry_point, cause = out["error"]
    assert (dist, entry_point, cause) == ("lossreg-broken-fixture", "broken_import", "RuntimeError")
    assert "lossreg_broken_fixture.explodes:factory" in message and "exploded on import" in message
    assert out["softmax_ce_source"] == "lossreg"
    assert out["shadow"] == pytest.approx(10.0 * np.mean(np.abs(p - y)), rel=1e-6)
    assert out["fixture_ok"] == pytest.approx(3.0 * np.mean(np.abs(p - y)), rel=1e-6)
    z, x = y[:, :1] / 2, p[:, :1]
    assert out["builtin"] == pytest.approx(np.mean(np.maximum(x, 0) - x * z + np.log1p(np.exp(-abs(x)))), rel=1e-6)


@TF_PROCESSES
def test_the_guide_plugin_test_passes(installed):
    result = _run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_logcosh.py"],
        installed.env,
        cwd=installed.guide,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


LOAD = """
import sys
import lossreg, keras, numpy as np

data = np.load(sys.argv[2])
before = "lossreg_segmentation" in sys.modules
model = keras.models.load_model(sys.argv[1])  # safe_mode, no custom_objects
after = "lossreg_segmentation" in sys.modules
print(before, after, model.loss.get_config()["terms"], repr(float(model.evaluate(data["x"], data["y"], verbose=0))))
"""


def test_a_model_compiled_with_a_plugin_loss_reloads_in_a_fresh_process(tmp_path):
    import keras

    import lossreg

    rng = np.random.default_rng(3)
    x = rng.normal(size=(6, 4)).astype("float32")
    y = (rng.random((6, 3, 2)) < 0.5).astype("float32")
    inp = keras.Input((4,))
    out = keras.layers.Reshape((3, 2))(keras.layers.Dense(6)(inp))
    model = keras.Model(inp, out)
    model.compile(optimizer="adam", loss=lossreg.resolve({"loss": "focal_tversky", "params": {"gamma": 1.5}}))
    model.fit(x, y, epochs=1, verbose=0)
    expected = model.evaluate(x, y, verbose=0)
    model.save(tmp_path / "model.keras")
    np.savez(tmp_path / "data.npz", x=x, y=y)
    result = _run([sys.executable, "-c", LOAD, str(tmp_path / "model.keras"), str(tmp_path / "data.npz")], _env())
    assert result.returncode == 0, result.stderr
    before, after, terms_and_value = result.stdout.strip().splitlines()[-1].split(" ", 2)
    assert (before, after) == ("False", "True")  # imported on demand by load_model
    assert "'loss': 'focal_tversky'" in terms_and_value and "'gamma': 1.5" in terms_and_value
    assert float(terms_and_value.rsplit(" ", 1)[1]) == pytest.approx(expected, rel=1e-6)


def test_plugin_warnings_point_at_the_callers_line_not_at_lossreg(fake, registry):
    module = fake.module("def f():\n    '''A.'''\n    return lambda y, p: 1.0\n")
    fake.add("shared", f"{module}:f", dist="dist-a")
    fake.add("shared", f"{module}:f", dist="dist-b")
    with pytest.warns(LossregPluginWarning, match="several distributions") as caught:
        registry.names()
    assert [w.filename for w in caught] == [__file__]
