"""lossreg.loss_factory: the factory derived from a pure loss function (signature, extras, docstring,
validation at resolve time, pre-flight declarations), its static metadata for ``lossreg list``, and
lossreg.promote."""

from __future__ import annotations

import inspect
import os
import pickle
import subprocess
import sys
import textwrap
from typing import Literal

import numpy as np
import pytest
from on_backend import only_on

import lossreg
from lossreg import LossInputError, LossSpecError
from lossreg.registry import REGISTRY, Registry, static_metadata


def weighted_abs(
    y_true, y_pred, *, scale: float = 1.0, mode: Literal["sum", "mean"] = "mean", weights, offset: float = 0.0
):
    """Weighted absolute error: scale * weights * |y_pred - y_true| + offset, reduced by ``mode``.

    More text that is not the summary.
    """
    values = scale * np.asarray(weights) * np.abs(np.asarray(y_pred) - np.asarray(y_true)) + offset
    return values.sum(-1) if mode == "sum" else values.mean(-1)


def scaled_abs(y_true, y_pred, *, scale: float = 1.0, squared: bool = False):
    """Scaled absolute error: scale * |y_pred - y_true| (squared: scale * (y_pred - y_true)^2)."""
    d = np.asarray(y_pred, "float64") - np.asarray(y_true, "float64")
    return scale * np.mean(d**2 if squared else np.abs(d), axis=-1)


def check_scale(scale):
    if not scale > 0:
        raise ValueError(f"`scale` must be > 0, received scale={scale!r}.")


@pytest.fixture
def registered():
    """Register factories in lossreg's registry under fresh names; forget them afterwards."""
    names = []

    def register(name, factory, **kwargs):
        names.append(name)
        return lossreg.register(name, **kwargs)(factory)

    yield register
    for name in names:
        REGISTRY.remove(name)


# -- the derived factory -------------------------------------------------------------------------------------


def test_the_factory_takes_the_keyword_parameters_with_defaults_and_the_rest_are_extras():
    factory = lossreg.loss_factory(weighted_abs)
    signature = inspect.signature(factory)
    assert list(signature.parameters) == ["scale", "mode", "offset"]
    assert all(p.kind is p.KEYWORD_ONLY for p in signature.parameters.values())
    assert [p.default for p in signature.parameters.values()] == [1.0, "mean", 0.0]
    assert factory.extras == ("weights",)
    assert factory.__name__ == "weighted_abs_factory" and factory.__module__ == __name__
    assert factory.__doc__ == weighted_abs.__doc__

    registry = Registry()
    registry.register("weighted_abs", extras=factory.extras)(factory)
    params = registry.lookup("weighted_abs").params
    assert {k: (p.annotation, p.default) for k, p in params.items()} == {
        "scale": ("float", 1.0),
        "mode": ("Literal['sum', 'mean']", "mean"),
        "offset": ("float", 0.0),
    }
    info = registry.describe("weighted_abs")
    assert info.summary == "Weighted absolute error: scale * weights * |y_pred - y_true| + offset, reduced by ``mode``."
    assert "More text that is not the summary." in info.doc
    assert info.extras == ("weights",)


def test_the_loss_is_the_pure_function_with_the_parameters_bound():
    factory = lossreg.loss_factory(weighted_abs)
    y, p, w = np.array([[1.0, 2.0, 3.0]]), np.array([[2.0, 0.0, 3.5]]), np.array([[1.0, 0.5, 2.0]])
    loss = factory(scale=3.0, mode="sum")
    np.testing.assert_allclose(loss(y, p, weights=w), [3.0 * (1.0 + 1.0 + 1.0)])
    np.testing.assert_allclose(factory()(y, p, weights=w), [(1.0 + 1.0 + 1.0) / 3])  # the defaults
    with pytest.raises(TypeError, match="unexpected keyword argument 'scael'"):
        factory(scael=2.0)
    with pytest.raises(TypeError, match="positional"):
        factory(2.0)


def test_the_loss_of_a_real_plugin_pickles():
    import lossreg_segmentation.losses as seg

    y = (np.random.default_rng(0).random((2, 4, 3)) < 0.5) * 1.0
    x = np.random.default_rng(1).normal(size=(2, 4, 3))
    loss = seg.soft_tversky_factory(alpha=0.2, beta=0.8)
    again = pickle.loads(pickle.dumps(loss))
    np.testing.assert_allclose(np.asarray(again(y, x)), np.asarray(seg.soft_tversky(y, x, alpha=0.2, beta=0.8)))


def test_register_takes_a_derived_factory_and_resolve_checks_types_and_values(registered):
    registered("authoring_scaled_abs", lossreg.loss_factory(scaled_abs, validate=check_scale))
    y, p = np.array([[1.0, 2.0]]), np.array([[2.0, 4.0]])
    spec = {"out": {"loss": "authoring_scaled_abs", "params": {"scale": 2.0, "squared": True}}}
    assert float(lossreg.resolve(spec)["out"](y, p)) == pytest.approx(2.0 * (1.0 + 4.0) / 2)

    # validate's ValueError: a LossSpecError at the spec path, when the spec is resolved
    with pytest.raises(LossSpecError, match=r"`scale` must be > 0, received scale=0\.0") as info:
        lossreg.resolve({"out": {"loss": "authoring_scaled_abs", "params": {"scale": 0.0}}})
    assert info.value.path == "spec['out']"
    # the type hints of fn are the factory's: checked before the factory runs
    with pytest.raises(LossSpecError, match="Expected bool, received str 'yes'") as info:
        lossreg.resolve({"out": {"loss": "authoring_scaled_abs", "params": {"squared": "yes"}}})
    assert info.value.path == "spec['out']['params']['squared']"
    with pytest.raises(LossSpecError, match=r"has no parameter 'scael'\. Did you mean 'scale'"):
        lossreg.resolve({"loss": "authoring_scaled_abs", "params": {"scael": 1.0}})


def test_validate_gets_the_parameters_it_names_or_all_of_them():
    seen = []

    def names_one(scale):
        seen.append({"scale": scale})

    def takes_all(**params):
        seen.append(params)

    lossreg.loss_factory(weighted_abs, validate=names_one)(scale=2.0)
    lossreg.loss_factory(weighted_abs, validate=takes_all)(offset=1.0)
    assert seen == [{"scale": 2.0}, {"scale": 1.0, "mode": "mean", "offset": 1.0}]
    with pytest.raises(TypeError, match=r"validate=.* takes 'gamma', which is not a parameter of the loss"):
        lossreg.loss_factory(weighted_abs, validate=lambda gamma: None)


def test_declarations_reach_the_pre_flight_check(registered):
    factory = lossreg.loss_factory(
        scaled_abs, shapes={"y_true": "batch n", "y_pred": "batch n"}, targets="unit", from_logits=False
    )
    assert (factory.shapes, factory.targets, factory.from_logits) == (
        {"y_true": "batch n", "y_pred": "batch n"},
        "unit",
        False,
    )
    registered("authoring_declared", factory)
    expects = REGISTRY.lookup("authoring_declared").expects
    assert expects is not None and dict(expects.shapes) == {"y_true": ("batch", "n"), "y_pred": ("batch", "n")}
    loss = lossreg.get("authoring_declared")
    with pytest.raises(LossInputError, match=r"authoring_declared.*\(batch, n\)"):
        loss(np.zeros((2, 3)), np.zeros((2, 4)))
    assert float(loss(np.zeros((2, 3)), np.full((2, 3), 0.5))) == pytest.approx(0.5)

    undeclared = lossreg.loss_factory(scaled_abs)
    assert (undeclared.shapes, undeclared.targets, undeclared.from_logits) == (None, None, None)


def test_invalid_declarations_and_loss_shapes_fail_when_the_factory_is_made():
    with pytest.raises(LossSpecError, match="'aux' is not one of its tensors"):
        lossreg.loss_factory(scaled_abs, shapes={"aux": "batch"})
    with pytest.raises(LossSpecError, match="Invalid targets 'binary'"):
        lossreg.loss_factory(scaled_abs, targets="binary")  # type: ignore[arg-type]
    with pytest.raises(LossSpecError, match=r"from_logits 'logits'.*names no parameter"):
        lossreg.loss_factory(scaled_abs, from_logits="logits")

    def positional(y_true, y_pred, scale=1.0):
        """Scale as a positional parameter."""

    def star_kwargs(y_true, y_pred, **params):
        """Anything."""

    def one_tensor(y_pred, *, scale: float = 1.0):
        """No y_true."""

    def reserved(y_true, y_pred, *, y_true_2, y_pred_=1.0):
        """Fine names."""

    with pytest.raises(TypeError, match=r"parameter 'scale' is positional.*after the '\*'"):
        lossreg.loss_factory(positional)
    with pytest.raises(TypeError, match=r"\*\*params cannot be checked against a spec"):
        lossreg.loss_factory(star_kwargs)
    with pytest.raises(TypeError, match="takes y_true and y_pred as its first two arguments"):
        lossreg.loss_factory(one_tensor)
    assert lossreg.loss_factory(reserved).extras == ("y_true_2",)


def test_a_loss_without_parameters_gives_a_factory_without_parameters():
    def plain(y_true, y_pred):
        """Plain difference."""
        return y_pred - y_true

    factory = lossreg.loss_factory(plain)
    assert str(inspect.signature(factory)) == "()" and factory.extras == ()
    assert factory()(1.0, 3.0) == 2.0


# -- static metadata: `lossreg list` without importing the plugin --------------------------------------------


def test_static_metadata_reads_loss_factory_assignments(tmp_path, monkeypatch):
    package = f"lossreg_fake_authoring_{os.getpid()}"
    (tmp_path / package).mkdir()
    (tmp_path / package / "__init__.py").write_text("raise RuntimeError('the package must not be imported')\n")
    (tmp_path / package / "losses.py").write_text(
        textwrap.dedent(
            '''
            import lossreg
            from lossreg import loss_factory

            def pair(y_true, y_pred, *, real_logits, fake_logits, margin: float = 1.0):
                """Pair loss on two extras.

                Details.
                """

            def plain(y_true, y_pred, *, scale: float = 1.0):
                """Plain loss."""

            pair_factory = lossreg.loss_factory(pair, validate=None, from_logits=True)
            plain_factory = loss_factory(fn=plain)
            renamed = loss_factory(plain)
            renamed.summary = "Given summary."
            unknown = loss_factory(defined_elsewhere)
            '''
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert static_metadata(f"{package}.losses:pair_factory") == (
        "Pair loss on two extras.",
        ("real_logits", "fake_logits"),
    )
    assert static_metadata(f"{package}.losses:plain_factory") == ("Plain loss.", ())
    assert static_metadata(f"{package}.losses:renamed") == ("Given summary.", ())
    assert static_metadata(f"{package}.losses:unknown") == (None, None)
    assert package not in sys.modules


def test_making_a_factory_and_loading_the_plugins_written_with_it_import_no_keras():
    code = (
        "import sys, lossreg\n"
        "def f(y_true, y_pred, *, a: float = 1.0):\n"
        "    '''F.'''\n"
        "factory = lossreg.loss_factory(f, shapes={'y_pred': 'batch ...'}, from_logits=True)\n"
        "infos = [lossreg.describe(n) for n in ('soft_dice', 'ns_gan_discriminator')]\n"  # imports the plugins
        "loaded = [m for m in ('lossreg_segmentation.losses', 'lossreg_generative.losses') if m in sys.modules]\n"
        "print([m for m in ('keras', 'tensorflow') if m in sys.modules], factory.__name__, len(loaded))\n"
    )
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["[]", "f_factory", "2"]


# -- promote -------------------------------------------------------------------------------------------------


def promoted_dtypes(*dtypes):
    from keras.backend import standardize_dtype

    return [standardize_dtype(t.dtype) for t in lossreg.promote(*(np.ones(2, d) for d in dtypes))]


def test_promote_computes_in_float32_at_least():
    dtypes = {
        ("float16", "int32"): ["float32", "float32"],
        ("float32", "float32"): ["float32", "float32"],
        ("bool", "float16"): ["float32", "float32"],
    }
    for given, expected in dtypes.items():
        assert promoted_dtypes(*given) == expected
    a, b = lossreg.promote([1, 2], np.array([0.5, 0.25], "float16"))
    np.testing.assert_array_equal(np.asarray(a), [1.0, 2.0])
    np.testing.assert_array_equal(np.asarray(b), [0.5, 0.25])


@only_on("tensorflow", "torch", why="float64 tensors: JAX computes float32 unless JAX_ENABLE_X64=1")
def test_promote_keeps_float64_when_any_input_is_float64():
    assert promoted_dtypes("float32", "float64") == ["float64", "float64"]


@only_on("jax", why="JAX's own float64 rule")
def test_promote_on_jax_gives_float64_only_with_x64_enabled():
    import jax

    widest = "float64" if jax.config.jax_enable_x64 else "float32"  # JAX_ENABLE_X64=1 turns float64 on
    assert promoted_dtypes("float32", "float64") == [widest, widest]


def test_register_takes_the_factorys_extras_and_declarations(registered):
    factory = lossreg.loss_factory(weighted_abs, shapes={"y_pred": "batch d", "weights": "batch d"}, from_logits=True)
    registered("test_weighted_abs_plain", factory)
    info = lossreg.describe("test_weighted_abs_plain")
    assert info.extras == ("weights",)
    assert info.expects is not None and info.expects.shapes["weights"] == ("batch", "d")
    assert info.expects.from_logits is True


SIGNATURES = '''
def none(y_true, y_pred):
    """None."""

def params_only(y_true, y_pred, *, a: float = 1.0, b: str = "x"):
    """Params only."""

def mixed(y_true, y_pred, *, a: float = 1.0, first, b: int = 2, second):
    """Mixed: extras between parameters."""

none_factory = loss_factory(none)
params_only_factory = loss_factory(params_only)
mixed_factory = loss_factory(mixed)
'''


@pytest.mark.parametrize("name", ["none", "params_only", "mixed"])
def test_the_static_reader_and_loss_factory_apply_one_extras_rule(name, tmp_path, monkeypatch):
    """What `lossreg list` reads from the source is what the loaded loss has, for the factory and the function."""
    module = f"lossreg_signatures_{os.getpid()}_{name}"
    (tmp_path / f"{module}.py").write_text("from lossreg import loss_factory\n" + textwrap.dedent(SIGNATURES))
    monkeypatch.syspath_prepend(str(tmp_path))
    static = {attr: static_metadata(f"{module}:{attr}") for attr in (name, f"{name}_factory")}
    loaded = __import__(module)
    try:
        factory = getattr(loaded, f"{name}_factory")
        assert static[f"{name}_factory"] == (factory.__doc__.strip(), factory.extras)
        assert static[name] == static[f"{name}_factory"]  # an entry point may name the function itself
    finally:
        sys.modules.pop(module, None)


@pytest.mark.parametrize("value", ["", ":", "no_colon", "a:b c", "a.:x", "os:path", None, 3])
def test_the_static_reader_never_raises(value):
    assert static_metadata(value) == (None, None)
