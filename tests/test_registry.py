"""The registry: register / override / names / describe, and parameter checking through build, get and resolve."""

from __future__ import annotations

import inspect
import math
import re
from collections.abc import Callable, Iterator
from typing import Literal

import keras
import numpy as np
import pytest

import lossreg
from lossreg import LossSpecError
from lossreg.registry import KERAS_LOSS_NAMES, REGISTRY, Param, Registry, Ruling, conflict_rule

BUILT_INS = ("band_masked_softmax_ce", "mse_bce", "sigmoid_bce", "sigmoid_dice", "sigmoid_focal", "softmax_ce")


@pytest.fixture
def registered() -> Iterator[list[str]]:
    """Names a test registers; each is removed from the registry afterwards."""
    names: list[str] = []
    yield names
    for name in names:
        REGISTRY.remove(name)


@pytest.fixture
def restore_mse() -> Iterator[None]:
    """Put Keras' 'mse' back after a test overrides it."""
    original = REGISTRY.lookup("mse")
    yield
    REGISTRY.add(original, override=True)


def _factory_from(module: str, scale: float = 1.0) -> Callable[..., Callable[..., object]]:
    def factory(scale: float = scale) -> Callable[..., object]:
        return lambda y_true, y_pred: scale * keras.ops.mean(keras.ops.abs(y_pred - y_true), axis=-1)

    factory.__module__ = module
    return factory


# -- register ---------------------------------------------------------------------------------------------------------
def test_register_decorator_returns_the_factory_unchanged(registered):
    def factory(scale: float = 1.0):
        return lambda y_true, y_pred: scale * (y_pred - y_true)

    registered.append("test_identity")
    assert lossreg.register("test_identity")(factory) is factory
    assert REGISTRY.lookup("test_identity").factory is factory


def test_duplicate_name_without_override_names_both_sources(registered):
    registered.append("test_dup")
    first = lossreg.register("test_dup")(_factory_from("first_pkg.losses"))
    message = (
        "Loss name 'test_dup' is already registered by 'first_pkg.losses'; 'second_pkg.losses' tried to register it "
        "again. Pass override=True to replace it, or choose another name."
    )
    with pytest.raises(LossSpecError, match=re.escape(message)):
        lossreg.register("test_dup")(_factory_from("second_pkg.losses"))
    assert REGISTRY.lookup("test_dup").factory is first  # the refused registration changed nothing


@pytest.mark.parametrize(("name", "owner"), [("sigmoid_focal", "lossreg"), ("mse", "keras")])
def test_taking_a_built_in_name_is_refused(name, owner):
    before = REGISTRY.entry(name)
    with pytest.raises(LossSpecError, match=rf"^Loss name '{name}' is already registered by '{owner}'; '{__name__}'"):

        @lossreg.register(name)
        def factory():
            return lambda y_true, y_pred: y_pred

    assert REGISTRY.entry(name) is before


def test_override_replaces_the_factory_and_get_uses_it(registered):
    registered.append("test_over")
    lossreg.register("test_over")(_factory_from("first_pkg.losses", scale=1.0))
    second = lossreg.register("test_over", override=True)(_factory_from("second_pkg.losses", scale=3.0))
    assert REGISTRY.lookup("test_over").factory is second
    assert lossreg.describe("test_over").source == "second_pkg.losses"
    y_true, y_pred = np.array([[0.0, 1.0]], "float32"), np.array([[0.5, -1.0]], "float32")
    expected = 3.0 * np.mean(np.abs(y_pred.astype("float64") - y_true))
    np.testing.assert_allclose(float(lossreg.get("test_over")(y_true, y_pred)), expected, rtol=1e-6)


def test_override_of_a_keras_name_takes_effect(restore_mse):
    lossreg.register("mse", override=True)(_factory_from(__name__, scale=10.0))
    y_true, y_pred = np.array([[0.0, 2.0]], "float32"), np.array([[1.0, 0.0]], "float32")
    assert float(lossreg.get("mse")(y_true, y_pred)) == pytest.approx(10.0 * 1.5)  # 10 * mean(|1|, |2|), not MSE
    assert lossreg.describe("mse").source == __name__


@pytest.mark.parametrize("name", ["my_dist:my_loss", ":x", "a:"])
def test_colon_in_a_name_is_refused(name, registered):
    registered.append(name)
    with pytest.raises(LossSpecError, match=r"':' is reserved for plugin losses reached as 'distribution:name'"):
        lossreg.register(name)(_factory_from(__name__))
    assert name not in lossreg.names()


@pytest.mark.parametrize("name", ["", "my loss", "1st_loss", "loss/slash", "ünïcode", 3, None])
def test_malformed_names_are_refused(name):
    with pytest.raises(LossSpecError, match=rf"^Invalid loss name {re.escape(repr(name))}\. Expected a string of"):
        lossreg.register(name)(_factory_from(__name__))


@pytest.mark.parametrize("extra", ["y_true", "y_pred", "1aux", "aux-2", "", 3])
def test_invalid_extras_are_refused(extra, registered):
    registered.append("test_extras")
    with pytest.raises(LossSpecError, match=rf"^Invalid extra {re.escape(repr(extra))} for loss 'test_extras'\."):
        lossreg.register("test_extras", extras=("aux", extra))(_factory_from(__name__))
    assert "test_extras" not in lossreg.names()


def test_extras_given_as_one_string_is_refused_not_split_into_letters(registered):
    registered.append("test_extras_str")
    with pytest.raises(LossSpecError, match=re.escape("extras is a list of names, e.g. extras=('aux',).")):
        lossreg.register("test_extras_str", extras="aux")(_factory_from(__name__))
    assert "test_extras_str" not in lossreg.names()


def test_a_non_callable_factory_is_refused():
    with pytest.raises(
        LossSpecError, match=r"lossreg.register\('test_nc'\) expects a loss function or a factory function, got 3\."
    ):
        lossreg.register("test_nc")(3)
    assert "test_nc" not in lossreg.names()


# -- names ------------------------------------------------------------------------------------------------------------
def test_names_are_sorted_unique_and_include_built_ins_keras_and_registered(registered):
    registered.append("zz_test_listed")
    lossreg.register("zz_test_listed")(_factory_from(__name__))
    listed = lossreg.names()
    assert listed == sorted(listed)
    assert len(listed) == len(set(listed))
    assert set(BUILT_INS) <= set(listed)
    assert {"mse", "mae", "categorical_crossentropy", "binary_crossentropy", "huber"} <= set(listed)
    assert set(KERAS_LOSS_NAMES) <= set(listed)
    assert "zz_test_listed" in listed


def test_every_keras_name_listed_is_one_keras_resolves():
    for name in KERAS_LOSS_NAMES:
        assert callable(keras.losses.get(name)), name


# -- describe ---------------------------------------------------------------------------------------------------------
def test_describe_a_user_loss(registered):
    registered.append("test_described")

    @lossreg.register("test_described", extras=("aux",))
    def factory(scale: float, mode: str = "mean", order: int = 2, clip: float | None = None):
        """Scaled error of order p.

        Formula: scale * |y - p|^order.
        """
        return lambda y_true, y_pred, *, aux: y_pred

    info = lossreg.describe("test_described")
    assert info.name == "test_described"
    assert info.summary == "Scaled error of order p."
    assert info.doc == "Scaled error of order p.\n\nFormula: scale * |y - p|^order."
    assert info.extras == ("aux",)
    assert info.source == __name__
    assert list(info.params) == ["scale", "mode", "order", "clip"]
    assert info.params["scale"].required and info.params["scale"].default is Param.REQUIRED
    assert info.params["scale"].annotation == "float"
    assert (info.params["mode"].default, info.params["mode"].annotation) == ("mean", "str")
    assert (info.params["order"].default, info.params["order"].annotation) == (2, "int")
    assert info.params["clip"].default is None and not info.params["clip"].required
    assert info.params["clip"].annotation in ("float | None", "Optional[float]")
    text = str(info)
    assert text.startswith(f"test_described ({__name__})\n  Scaled error of order p.")
    assert "    scale: float (required)" in text
    assert "    order: int (default 2)" in text
    assert "  extras: aux" in text


def test_describe_a_lossreg_built_in():
    info = lossreg.describe("band_masked_softmax_ce")
    assert info.source == "lossreg"
    assert info.extras == ()
    assert info.summary and info.summary in info.doc
    assert "Formula:" in info.doc
    assert {k: (p.default, p.annotation) for k, p in info.params.items()} == {
        "lower": (0, "int"),
        "upper": (-1, "int"),
        "include_diagonal": (False, "bool"),
        "from_logits": (True, "bool"),
        "normalize": ("all", "Literal['all', 'band']"),
        "ignore_class": (None, "int | None"),
        "class_weights": (None, "list[float] | None"),
    }
    assert info.dense_inputs == ("mask",)
    assert lossreg.describe("mse_bce").extras == ("aux",)


def test_describe_a_keras_name_mirrors_the_keras_function():
    info = lossreg.describe("categorical_crossentropy")
    assert info.source == "keras"
    keras_params = list(inspect.signature(keras.losses.categorical_crossentropy).parameters.values())[2:]
    assert list(info.params) == [p.name for p in keras_params]
    assert {k: p.default for k, p in info.params.items()} == {p.name: p.default for p in keras_params}
    assert info.params["from_logits"].annotation == "bool"
    assert info.params["label_smoothing"].annotation == "float"
    assert info.params["axis"].annotation == "int"
    assert lossreg.describe("huber").params["delta"].default == 1.0


def test_describe_an_unknown_name_suggests_the_closest():
    with pytest.raises(LossSpecError, match=r"^Unknown loss 'sigmoid_focl'\. Did you mean 'sigmoid_focal'"):
        lossreg.describe("sigmoid_focl")


# -- a user loss end to end -------------------------------------------------------------------------------------------
def _log_cosh_factory(scale: float = 1.0):
    """Scaled log-cosh error: scale * mean(log(cosh(y_pred - y_true)))."""

    def loss(y_true, y_pred):
        return scale * keras.ops.mean(keras.ops.log(keras.ops.cosh(y_pred - y_true)), axis=-1)

    return loss


def _log_cosh_reference(y_true: np.ndarray, y_pred: np.ndarray, scale: float) -> float:
    d = y_pred.astype("float64") - y_true.astype("float64")
    return scale * float(np.mean(np.log(np.cosh(d))))


def test_a_user_loss_through_get_matches_its_formula_and_round_trips(registered):
    registered.append("test_log_cosh")
    lossreg.register("test_log_cosh")(_log_cosh_factory)
    rng = np.random.default_rng(1)
    y_true, y_pred = rng.normal(size=(4, 3)).astype("float32"), rng.normal(size=(4, 3)).astype("float32")
    loss = lossreg.get("test_log_cosh", scale=2.5)
    assert isinstance(loss, keras.losses.Loss)
    assert loss.name == "test_log_cosh"
    np.testing.assert_allclose(float(loss(y_true, y_pred)), _log_cosh_reference(y_true, y_pred, 2.5), rtol=1e-6)
    again = keras.losses.deserialize(keras.losses.serialize(loss))
    np.testing.assert_allclose(float(again(y_true, y_pred)), _log_cosh_reference(y_true, y_pred, 2.5), rtol=1e-6)


def test_a_user_loss_resolves_compiles_and_trains(registered):
    registered.append("test_log_cosh_fit")
    lossreg.register("test_log_cosh_fit")(_log_cosh_factory)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    loss = lossreg.resolve({"loss": "test_log_cosh_fit", "params": {"scale": 2.0}, "weight": 0.5})
    assert isinstance(loss, keras.losses.Loss) and loss.name == "0.5x_test_log_cosh_fit"
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.5), loss=loss)
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(16, 3)).astype("float32"), rng.normal(size=(16, 2)).astype("float32")
    before = _log_cosh_reference(y, model.predict(x, verbose=0), scale=0.5 * 2.0)
    history = model.fit(x, y, batch_size=16, epochs=3, verbose=0).history["loss"]
    # One batch per epoch: the first epoch logs the loss at the initial weights.
    np.testing.assert_allclose(history[0], before, rtol=1e-5)
    assert history[-1] < history[0]


# -- parameter checking: LossDef.bind, get and resolve give the same errors, each with its own path ----------------
def _build(how: str, name: str, params: dict) -> object:
    if how == "build":
        return REGISTRY.lookup(name, path="spec['out']").bind(params, "spec['out']")
    if how == "get":
        return lossreg.get(name, **params)
    return lossreg.resolve({"out": {"loss": name, "params": params}})


def _where(how: str, name: str) -> str:
    return f"lossreg.get({name!r})" if how == "get" else "spec['out']"


HOWS = ["build", "get", "resolve"]
BAD_PARAMS = [
    (
        "sigmoid_focal",
        {"gama": 1.0},
        "gama",
        "Loss 'sigmoid_focal' has no parameter 'gama'. Did you mean 'gamma'? Its parameters are: alpha, gamma, "
        "ignore_class, class_weights.",
    ),
    ("mse", {"from_logits": True}, "from_logits", "Loss 'mse' has no parameter 'from_logits'."),
    ("sigmoid_focal", {"gamma": True}, "gamma", "Expected float, received bool True."),
    ("sigmoid_focal", {"gamma": "2"}, "gamma", "Expected float, received str '2'."),
    ("sigmoid_focal", {"gamma": math.nan}, "gamma", "Expected float, received float nan."),
    ("sigmoid_focal", {"gamma": math.inf}, "gamma", "Expected float, received float inf."),
    ("sigmoid_focal", {"gamma": -math.inf}, "gamma", "Expected float, received float -inf."),
    ("sigmoid_focal", {"gamma": 10**400}, "gamma", "Expected float, received int 1000"),
    ("sigmoid_focal", {"alpha": "0.25"}, "alpha", "Expected float | None, received str '0.25'."),
    ("band_masked_softmax_ce", {"lower": "1"}, "lower", "Expected int, received str '1'."),
    ("band_masked_softmax_ce", {"lower": 1.0}, "lower", "Expected int, received float 1.0."),
    ("band_masked_softmax_ce", {"lower": False}, "lower", "Expected int, received bool False."),
    ("band_masked_softmax_ce", {"from_logits": 1}, "from_logits", "Expected bool, received int 1."),
    ("band_masked_softmax_ce", {"from_logits": "true"}, "from_logits", "Expected bool, received str 'true'."),
    (
        "band_masked_softmax_ce",
        {"normalize": "bnd"},
        "normalize",
        "Invalid value for parameter 'normalize' of loss 'band_masked_softmax_ce'. "
        "Expected Literal['all', 'band'], received str 'bnd'.",
    ),
    ("band_masked_softmax_ce", {"normalize": None}, "normalize", "Expected Literal['all', 'band'], received NoneType"),
    ("categorical_crossentropy", {"label_smoothing": "0.1"}, "label_smoothing", "Expected float, received str"),
]


@pytest.mark.parametrize("how", HOWS)
@pytest.mark.parametrize(("name", "params", "key", "message"), BAD_PARAMS)
def test_bad_parameters_are_refused_naming_the_parameter_path(how, name, params, key, message):
    path = f"lossreg.get({name!r}, {key}=...)" if how == "get" else f"{_where(how, name)}['params'][{key!r}]"
    with pytest.raises(LossSpecError, match="^" + re.escape(f"{path}: ") + ".*" + re.escape(message)) as info:
        _build(how, name, params)
    assert info.value.path == path


@pytest.mark.parametrize("how", HOWS)
def test_good_parameters_of_every_type_are_accepted(how):
    _build(how, "sigmoid_focal", {"gamma": 2, "alpha": None})  # an int for a float; None where allowed
    _build(how, "sigmoid_focal", {"gamma": np.float64(1.5), "alpha": 0.5})
    _build(how, "band_masked_softmax_ce", {"lower": -1, "upper": np.int64(2), "normalize": "band"})
    _build(how, "categorical_crossentropy", {"from_logits": True, "label_smoothing": 0.1})


@pytest.mark.parametrize("how", ["build", "get"])
def test_a_factory_value_error_becomes_a_loss_spec_error_with_the_path(how):
    where = _where(how, "mse_bce")
    message = "Invalid parameters for loss 'mse_bce': `mse_weight` must be >= 0, received mse_weight=-1.0."
    with pytest.raises(LossSpecError, match="^" + re.escape(f"{where}: {message}")) as info:
        _build(how, "mse_bce", {"mse_weight": -1.0})
    assert isinstance(info.value.__cause__, ValueError)
    assert info.value.path == where


@pytest.mark.parametrize("how", HOWS)
def test_a_user_factory_value_error_is_wrapped_for_every_entry_point(how, registered):
    registered.append("test_picky")

    @lossreg.register("test_picky")
    def factory(p: float = 0.5):
        if not 0 <= p <= 1:
            raise ValueError(f"`p` must be in [0, 1], received p={p!r}.")
        return lambda y_true, y_pred: y_pred

    where = _where(how, "test_picky")
    message = "Invalid parameters for loss 'test_picky': `p` must be in [0, 1], received p=2.0."
    with pytest.raises(LossSpecError, match="^" + re.escape(f"{where}: {message}")):
        _build(how, "test_picky", {"p": 2.0})


@pytest.mark.parametrize("how", HOWS)
def test_a_missing_required_parameter_is_named(how, registered):
    registered.append("test_needs")

    @lossreg.register("test_needs")
    def factory(scale: float, *, axis: int, offset: float = 0.0):
        return lambda y_true, y_pred: y_pred

    where = _where(how, "test_needs")
    with pytest.raises(LossSpecError, match="^" + re.escape(f"{where}: Loss 'test_needs' needs parameter(s) 'scale'")):
        _build(how, "test_needs", {"axis": 1})
    hint = "pass them as keyword arguments" if how == "get" else "add them under 'params'"
    with pytest.raises(LossSpecError, match=re.escape(f"needs parameter(s) 'scale', 'axis': {hint}")):
        _build(how, "test_needs", {})
    _build(how, "test_needs", {"scale": 1.0, "axis": -1})


def test_a_factory_that_returns_no_function_is_reported(registered):
    registered.append("test_returns_3")
    lossreg.register("test_returns_3")(lambda: 3)
    with pytest.raises(LossSpecError, match=r"^spec\['out'\]: The factory for loss 'test_returns_3' returned 3; "):
        REGISTRY.lookup("test_returns_3", path="spec['out']").bind({}, "spec['out']")


@pytest.mark.parametrize("how", HOWS)
def test_unknown_loss_names_suggest_the_closest(how):
    with pytest.raises(LossSpecError, match=r"Unknown loss 'sigmoid_focl'\. Did you mean 'sigmoid_focal'") as info:
        _build(how, "sigmoid_focl", {})
    assert info.value.path == {"build": "spec['out']", "get": "lossreg.get('sigmoid_focl')"}.get(
        how, "spec['out']['loss']"
    )


# -- one way to write a loss: a pure function registered directly --------------------------------------------------
def scaled_gap(y_true, y_pred, *, scale: float = 1.0, mode: Literal["abs", "square"] = "abs", weights):
    """Scaled, weighted gap: scale * weights * |y_pred - y_true| (or its square)."""
    d = np.asarray(y_pred, "float64") - np.asarray(y_true, "float64")
    return scale * np.asarray(weights) * (np.abs(d) if mode == "abs" else d**2)


def positive_scale(scale):
    if not scale > 0:
        raise ValueError(f"`scale` must be > 0, received scale={scale!r}.")


def test_register_takes_a_pure_function_and_returns_it_callable_on_tensors(registered):
    registered.append("test_scaled_gap")
    declared = {"extras": ("weights",), "shapes": {"weights": "batch ..."}}  # a shape for an extra names it
    returned = lossreg.register("test_scaled_gap", validate=positive_scale, **declared)(scaled_gap)
    assert returned is scaled_gap  # still the plain function: callable on tensors
    info = lossreg.describe("test_scaled_gap")
    assert (list(info.params), info.extras, info.source) == (["scale", "mode"], ("weights",), __name__)
    assert info.params["mode"].annotation == "Literal['abs', 'square']"
    assert info.summary == "Scaled, weighted gap: scale * weights * |y_pred - y_true| (or its square)."
    assert info.expects is not None and info.expects.shapes["weights"] == ("batch", "...")
    loss_def = REGISTRY.lookup("test_scaled_gap", path="spec['o']")
    assert loss_def.fn is scaled_gap and loss_def.extras == ("weights",)
    fn = loss_def.bind({"scale": 2.0, "mode": "square"}, "spec['o']")
    np.testing.assert_allclose(fn([0.0, 1.0], [1.0, 3.0], weights=[1.0, 0.5]), [2.0, 4.0])
    with pytest.raises(
        LossSpecError, match=r"^spec\['o'\]: Invalid parameters .*`scale` must be > 0, received scale=0"
    ):
        loss_def.bind({"scale": 0.0}, "spec['o']")
    [problem] = loss_def.param_problems({"mode": "cube"}, "spec['o']")
    assert problem.path == "spec['o']['params']['mode']" and "Expected Literal['abs', 'square']" in str(problem)


def test_a_pure_function_and_its_loss_factory_register_alike(registered):
    registered.extend(["test_gap_pure", "test_gap_factory"])
    lossreg.register("test_gap_pure", validate=positive_scale)(scaled_gap)
    lossreg.register("test_gap_factory")(lossreg.loss_factory(scaled_gap, validate=positive_scale))
    pure, factory = lossreg.describe("test_gap_pure"), lossreg.describe("test_gap_factory")
    assert (pure.params, pure.extras, pure.summary, pure.doc) == (
        factory.params,
        factory.extras,
        factory.summary,
        factory.doc,
    )
    for name in ("test_gap_pure", "test_gap_factory"):
        assert REGISTRY.lookup(name).fn is scaled_gap
        with pytest.raises(LossSpecError, match="`scale` must be > 0"):
            REGISTRY.lookup(name).bind({"scale": -1.0})


def test_a_pure_function_of_the_wrong_shape_or_validate_with_a_factory_is_refused(registered):
    def positional(y_true, y_pred, scale=1.0):
        """Scale given positionally."""

    with pytest.raises(TypeError, match=r"parameter 'scale' is positional.*after the '\*'"):
        lossreg.register("test_positional")(positional)
    with pytest.raises(TypeError, match=r"validate is for a loss function"):
        lossreg.register("test_validate_factory", validate=positive_scale)(_factory_from(__name__))
    with pytest.raises(LossSpecError, match=r"a loss function's extras are its keyword-only parameters"):
        lossreg.register("test_extras_twice", extras=("other",))(scaled_gap)
    assert not {"test_positional", "test_validate_factory", "test_extras_twice"} & set(lossreg.names())


# -- the conflict rule: one pure function ---------------------------------------------------------------------------
def test_the_conflict_rule():
    assert conflict_rule("dice", ["seg"]) == Ruling("seg")
    assert conflict_rule("dice", []) == Ruling(None)
    several = conflict_rule("dice", ["seg-b", "seg-a"])
    assert several.winner is None and several.key == "dice||seg-a,seg-b"
    assert several.message == (
        "Plugin loss 'dice' is offered by several distributions (seg-a, seg-b), so none gets the plain name; "
        "use 'seg-a:dice' or 'seg-b:dice'."
    )
    kept = conflict_rule("dice", ["seg"], registered="lossreg")
    assert (kept.winner, kept.key) == ("lossreg", "dice|lossreg|seg")
    assert kept.message is not None and "clashes with the 'lossreg' loss of that name, which keeps it" in kept.message
    late = conflict_rule("dice", ["seg"], registered="my_project", late=True)
    assert late.winner == "my_project" and "'my_project' registers loss 'dice'" in (late.message or "")
    assert late.key == conflict_rule("dice", ["seg"], registered="my_project").key  # warned once, either way
    assert conflict_rule("dice", [], registered="lossreg") == Ruling("lossreg")


# -- one lookup per term ---------------------------------------------------------------------------------------------
def test_a_term_needs_one_lookup_then_the_loss_def(monkeypatch):
    lookups: list[str] = []
    real = Registry.lookup
    monkeypatch.setattr(Registry, "lookup", lambda self, name, **kw: lookups.append(name) or real(self, name, **kw))
    loss_def = REGISTRY.lookup("sigmoid_focal", path="spec['o']")
    assert loss_def.param_problems({"gamma": 1.0}, "spec['o']") == []
    fn = loss_def.bind({"gamma": 1.0}, "spec['o']")
    check = loss_def.input_check({"gamma": 1.0})
    assert callable(fn) and callable(check) and loss_def.extras == () and loss_def.expects is not None
    assert lookups == ["sigmoid_focal"]
