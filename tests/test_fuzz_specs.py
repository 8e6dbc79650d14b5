"""Bad input, found by machine: property-based tests that throw about 1,500 generated specs and files at resolve.

The property, for every example: ``lossreg.resolve`` either returns (the spec was valid) or raises
``LossSpecError`` whose ``path`` is set and starts its message; never another exception, and never an
import (the set of loaded modules does not grow). Where a fault is put at a known place of an otherwise
valid spec, the error must name exactly that place. A generator of valid specs keeps this from being
vacuous: those must resolve, to the terms and weights they spell out.

Weights that change during training (schedules, learned weights) are ``lossreg.attach``'s: the same property
holds there, on one small model built once: a valid one attaches to a canonical spec computing the same
weights (``lossreg.schedule_value``), a faulty one is refused at exactly its path, and ``resolve`` refuses
every one, saying to use ``attach``.
"""

from __future__ import annotations

import contextlib
import decimal
import fractions
import json
import math
import os
import sys
import tempfile
import types
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import keras
import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import lossreg
from lossreg import LossSpecError, PluginLoadError
from lossreg.registry import REGISTRY, Entry
from lossreg.spec import ENTRY_KEYS, MAX_BYTES, TERM_KEYS

# Hypothesis warns when it reprs a 100 kB example (to report it): those huge values are there on purpose.
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr:hypothesis.errors.HypothesisWarning")
FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
MAX_MESSAGE = 1000  # characters of message beyond the path: a stray huge value must not be printed whole

# -- the model and the registry, loaded once --------------------------------------------------------------------------
_features = keras.Input((4,), name="features")
MODEL = keras.Model(
    _features,
    {"out_a": keras.layers.Dense(3, name="out_a")(_features), "out_b": keras.layers.Dense(1, name="out_b")(_features)},
)
OUTPUTS = ("out_a", "out_b")

NAMES = tuple(lossreg.names())
EXTRAS = {name: REGISTRY.lookup(name).extras for name in NAMES}  # loads every factory, the plugins' included
COMPILABLE = tuple(name for name in NAMES if not EXTRAS[name])  # what compile(loss=...) can take
PARAMS = {name: REGISTRY.lookup(name).params for name in NAMES}
HINTS = {name: typing.get_type_hints(REGISTRY.lookup(name).factory) for name in NAMES}


class HostileRepr:
    """A value whose repr raises while lossreg resolves: an error message about it must still be written."""

    armed = False  # Hypothesis reprs examples too, to report them: only lossreg meets the hostile repr

    def __repr__(self) -> str:
        if HostileRepr.armed:
            raise RuntimeError("no repr for you")
        return "HostileRepr()"


def pick(values: Sequence[Any]) -> st.SearchStrategy[Any]:
    """``sampled_from(values)`` whose own repr leaves the values out (Hypothesis cannot repr 10**5000)."""
    values = list(values)

    def element(i: int) -> Any:
        return values[i]

    return st.integers(0, len(values) - 1).map(element)


def nested(depth: int, kind: str) -> Any:
    """A list, dict or tuple nested ``depth`` levels deep (beyond the recursion limit for large depths)."""
    value: Any = "mse"
    for _ in range(depth):
        value = [value] if kind == "list" else {"zz": value} if kind == "dict" else (value,)
    return value


ODD_OBJECTS = (
    object(),
    HostileRepr(),
    Ellipsis,
    print,
    int,
    1j,
    decimal.Decimal("2.5"),
    decimal.Decimal("NaN"),
    fractions.Fraction(1, 3),
    fractions.Fraction(10**5000, 1),
    np.float32(0.5),
    np.int64(3),
    np.bool_(True),
    np.float64("nan"),
    np.array([1.0, 2.0]),
    np.array(["all"]),
    np.zeros((2, 2)),
    10**400,
    -(10**400),
    10**5000,
    "x" * 100_000,
    list(range(100_000)),
    nested(3000, "list"),
    nested(3000, "dict"),
    nested(2000, "tuple"),
    types.MappingProxyType({"loss": "mse"}),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=12),
    st.binary(max_size=8),
    st.dates(),
    pick(ODD_OBJECTS),
)
hashables = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=8), st.tuples(st.integers())
)
junk = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.tuples(children, children),
        st.dictionaries(st.one_of(st.text(max_size=8), hashables), children, max_size=4),
        st.frozensets(hashables, max_size=3),
    ),
    max_leaves=10,
)


def resolve_checked(spec: Any, *, model: Any = None) -> tuple[Any, LossSpecError | None]:
    """Resolve ``spec`` and check the property; return ``(result, None)`` or ``(None, error)``."""
    before = set(sys.modules)
    HostileRepr.armed = True
    try:
        result, error = lossreg.resolve(spec, model=model), None
    except LossSpecError as exc:  # any other exception fails the test as it is
        result, error = None, exc
    finally:
        HostileRepr.armed = False
    imported = set(sys.modules) - before
    assert not imported, f"resolving a spec imported {sorted(imported)}"
    if error is not None:
        assert error.path, "a LossSpecError must name the spec path"
        message = str(error)
        assert message.startswith(f"{error.path}: "), message[:300]
        assert len(message) - len(error.path) < MAX_MESSAGE, message[:300]
    return result, error


def refused(spec: Any, *, path: str | None = None, says: str | None = None, model: Any = None) -> LossSpecError:
    """Check that ``spec`` is refused (at ``path`` and saying ``says``, when given); return the error."""
    result, error = resolve_checked(spec, model=model)
    assert error is not None, f"accepted a malformed spec: resolved to {result!r}"
    if path is not None:
        assert error.path == path, str(error)[:300]
    if says is not None:
        assert says in str(error), str(error)[:300]
    return error


# -- valid specs ------------------------------------------------------------------------------------------------------
# Values every factory accepts for a parameter of that name (others keep their default).
VALID_VALUES: dict[str, list[Any]] = {
    "from_logits": [True, False],
    "label_smoothing": [0.0, 0.1, 0],
    "alpha": [0.25, 0.5],
    "beta": [0.5, 0.7],
    "gamma": [1.0, 2],
    "smooth": [0.5, 1.0, 2],
    "pos_weight": [0.5, 2.0],
    "delta": [0.5, 2.0],
    "activation": ["sigmoid", "softmax"],
    "per_class": [True, False],
    "include_diagonal": [True, False],
    "normalize": ["all", "band"],
    "lower": [-1, 0, 2],
    "upper": [-1, 0, 2],
    "bce_weight": [0.5, 2.0],
    "dice_weight": [0.5, 2.0],
    "apply_class_balancing": [True, False],
    "remove_diagonal": [True, False],
    "target": [1.0, 0.9],
}
VALID_VALUES_BY_LOSS: dict[tuple[str, str], list[Any]] = {("sigmoid_focal", "alpha"): [None, 0.0, 0.25, 1]}
PARAM_CHOICES = {
    name: {
        key: VALID_VALUES_BY_LOSS.get((name, key)) or VALID_VALUES.get(key) or [param.default]
        for key, param in PARAMS[name].items()
    }
    for name in COMPILABLE
}
assert all(param.default is not param.REQUIRED for params in PARAMS.values() for param in params.values())

identifiers = st.from_regex(r"[a-z][a-z0-9_]{0,7}", fullmatch=True).filter(lambda s: s not in ENTRY_KEYS)
weights = st.one_of(st.integers(0, 50), st.floats(0, 100), st.sampled_from([0.0, 1e-6, 0.5, 1.0]))
Expected = list[tuple[str, dict[str, Any], float]]


@st.composite
def valid_params(draw: st.DrawFn, name: str) -> dict[str, Any]:
    choices = PARAM_CHOICES[name]
    keys = draw(st.lists(st.sampled_from(sorted(choices)), unique=True, max_size=3)) if choices else []
    return {key: draw(st.sampled_from(choices[key])) for key in keys}


@st.composite
def shuffled(draw: st.DrawFn, mapping: dict[str, Any]) -> dict[str, Any]:
    return {key: mapping[key] for key in draw(st.permutations(list(mapping)))}


@st.composite
def valid_terms(draw: st.DrawFn) -> tuple[Any, tuple[str, dict[str, Any], float]]:
    """A term of a term list and its (name, params, weight) before the entry's weight."""
    name = draw(st.sampled_from(COMPILABLE))
    params = draw(valid_params(name))
    if not params and draw(st.booleans()):
        return name, (name, {}, 1.0)
    term: dict[str, Any] = {"loss": name}
    if params or draw(st.booleans()):
        term["params"] = params
    weight = 1.0
    if draw(st.booleans()):
        term["weight"] = draw(weights)
        weight = float(term["weight"])
    if draw(st.integers(0, 9)) == 0:
        term["on"] = None
    return draw(shuffled(term)), (name, params, weight)


@st.composite
def valid_entries(draw: st.DrawFn, form: str | None = None) -> tuple[Any, Expected]:
    """An entry (a name, a mapping, or a mapping with a term list) and the terms it stands for."""
    form = form or draw(st.sampled_from(["str", "map", "list"]))
    if form == "str":
        name = draw(st.sampled_from(COMPILABLE))
        return name, [(name, {}, 1.0)]
    entry: dict[str, Any] = {}
    weight = 1.0
    if draw(st.booleans()):
        entry["weight"] = draw(weights)
        weight = float(entry["weight"])
    if draw(st.integers(0, 9)) == 0:
        entry["on"] = None
    if draw(st.integers(0, 9)) == 0:
        entry["inputs"] = {}
    if form == "map":
        name = draw(st.sampled_from(COMPILABLE))
        params = draw(valid_params(name))
        entry["loss"] = name
        if params or draw(st.booleans()):
            entry["params"] = params
        return draw(shuffled(entry)), [(name, params, 1.0 * weight)]
    terms = draw(st.lists(valid_terms(), min_size=1, max_size=3))
    entry["loss"] = [term for term, _ in terms]
    return draw(shuffled(entry)), [(name, params, w * weight) for _, (name, params, w) in terms]


def entry_path(kind: str, key: Any) -> str:
    return "spec" if kind == "single" else f"spec[{key!r}]"


@st.composite
def valid_specs(draw: st.DrawFn, kinds: tuple[str, ...] = ("single", "outputs", "list")) -> tuple[Any, str, dict]:
    """A spec, its kind and the terms of each entry by output key (``None`` for a single entry)."""
    kind = draw(st.sampled_from(kinds))
    if kind == "single":
        entry, terms = draw(valid_entries())
        return entry, kind, {None: terms}
    if kind == "outputs":
        keys = draw(st.lists(identifiers, min_size=1, max_size=3, unique=True))
        entries = {key: draw(valid_entries()) for key in keys}
        return {k: e for k, (e, _) in entries.items()}, kind, {k: t for k, (_, t) in entries.items()}
    entries = draw(st.lists(valid_entries(), min_size=1, max_size=3))
    return [e for e, _ in entries], kind, {i: t for i, (_, t) in enumerate(entries)}


def terms_of(loss: Any) -> Expected:
    assert isinstance(loss, keras.losses.Loss)
    return [(t["loss"], t["params"], t["weight"]) for t in loss.terms]


def check_resolved(result: Any, kind: str, expected: dict) -> None:
    if kind == "single":
        assert terms_of(result) == expected[None]
    elif kind == "outputs":
        assert isinstance(result, dict) and list(result) == list(expected)
        assert {k: terms_of(v) for k, v in result.items()} == expected
    else:
        assert isinstance(result, list) and len(result) == len(expected)
        assert {i: terms_of(v) for i, v in enumerate(result)} == expected


# -- bad values -------------------------------------------------------------------------------------------------------
def unknown(strategy: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return strategy.filter(lambda name: name not in NAMES)


@st.composite
def typos(draw: st.DrawFn, words: tuple[str, ...]) -> str:
    """A word with one character dropped, doubled, swapped, changed or upper-cased."""
    word = draw(st.sampled_from(words))
    i = draw(st.integers(0, len(word) - 1))
    how = draw(st.sampled_from(["drop", "double", "swap", "change", "upper"]))
    if how == "drop":
        return word[:i] + word[i + 1 :]
    if how == "double":
        return word[:i] + word[i] + word[i:]
    if how == "swap" and i + 1 < len(word):
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if how == "upper":
        return word.upper()
    return word[:i] + draw(st.sampled_from("aeiouxz_-.")) + word[i + 1 :]


unknown_names = unknown(
    st.one_of(
        typos(NAMES),
        st.text(max_size=30),
        st.sampled_from(
            ["os.system", "builtins:eval", "__import__", "keras.losses.mse", "spec.json", "S.YAML", "lossreg:mse"]
        ),
        st.builds(lambda n: f"{n}.json", st.sampled_from(NAMES)),
        st.builds(lambda n: f"nodist:{n}", st.sampled_from(NAMES)),
        pick(["x" * 100_000, "mse " * 10_000]),
    )
)
bad_weights = st.one_of(
    st.floats(max_value=-1e-300),
    st.integers(max_value=-1),
    pick([math.nan, math.inf, -math.inf, 10**400, 10**5000, -(10**5000), np.float64("nan"), np.inf]),
    st.sampled_from([True, False, None, "2", "0.5", [1.0], {"value": 1}, 1j, decimal.Decimal("1"), np.array([1.0])]),
    pick([fractions.Fraction(10**5000, 1), fractions.Fraction(-1, 3), np.float64(-1.0), HostileRepr()]),
    st.text(max_size=5),
    st.dates(),
)
not_mappings = junk.filter(lambda v: not isinstance(v, Mapping))
bad_keys = st.one_of(
    unknown(st.text(max_size=12)).filter(lambda k: k not in ENTRY_KEYS),
    typos(ENTRY_KEYS).filter(lambda k: k not in ENTRY_KEYS),
    hashables.filter(lambda k: not isinstance(k, str)),
    pick([10**5000, nested(2000, "tuple"), "w" * 100_000, frozenset({"loss"})]),
)


def ill_typed(hint: Any) -> st.SearchStrategy[Any] | None:
    """Values that do not fit a parameter's type hint, or ``None`` when the hint accepts anything."""
    args = typing.get_args(hint)
    is_union = typing.get_origin(hint) in (typing.Union, types.UnionType)
    core = [a for a in args if a is not type(None)] if is_union else [hint]
    if len(core) != 1:
        return None
    [core_hint] = core
    others: list[st.SearchStrategy[Any]] = [
        st.lists(st.integers(), max_size=3),
        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
        pick([b"1", object(), HostileRepr(), np.array([1.0, 2.0]), 1j, decimal.Decimal("1.5")]),
        pick([nested(3000, "list"), nested(3000, "dict"), "z" * 100_000, list(range(100_000))]),
    ]
    if not (is_union and type(None) in args):
        others.append(st.none())
    if core_hint is float:
        numbers = pick([math.nan, math.inf, -math.inf, 10**400, -(10**400), 10**5000, np.float64("nan")])
        return st.one_of(*others, st.booleans(), st.text(max_size=5), numbers)
    if core_hint is int:
        not_ints = st.sampled_from([fractions.Fraction(1, 2), np.float32(1.0), math.inf])
        return st.one_of(*others, st.booleans(), st.floats(), st.text(max_size=5), not_ints)
    if core_hint is bool:
        return st.one_of(*others, st.integers(), st.floats(), st.sampled_from(["true", "yes", np.bool_(True)]))
    if typing.get_origin(core_hint) is Literal:
        choices = typing.get_args(core_hint)
        words = st.one_of(st.text(max_size=8), st.sampled_from([c.upper() for c in choices if isinstance(c, str)]))
        return st.one_of(
            *others, st.booleans(), st.integers(), words.filter(lambda w: w not in choices), st.just(np.array(choices))
        )
    return None


ILL_TYPED = {
    name: {key: s for key in PARAMS[name] if (s := ill_typed(HINTS[name].get(key, Any))) is not None}
    for name in COMPILABLE
}
TYPED = tuple(name for name in COMPILABLE if ILL_TYPED[name])
BY_HINT: dict[str, list[tuple[str, str]]] = {}  # "float", "float | None", "Literal", ...: the typed parameters
for _name in TYPED:
    for _key in sorted(ILL_TYPED[_name]):
        _hint = HINTS[_name][_key]
        _kind = "Literal" if typing.get_origin(_hint) is Literal else getattr(_hint, "__name__", str(_hint))
        BY_HINT.setdefault(_kind, []).append((_name, _key))


@st.composite
def ill_typed_params(draw: st.DrawFn) -> tuple[str, str, Any]:
    """(loss, parameter, a value that does not fit its type), each kind of type hint as likely as another."""
    kind = draw(st.sampled_from(sorted(BY_HINT)))
    name, key = draw(st.sampled_from(BY_HINT[kind]))
    return name, key, draw(ILL_TYPED[name][key])


@st.composite
def bad_params(draw: st.DrawFn, name: str, path: str) -> tuple[Any, str, str]:
    """A bad 'params' value for loss ``name`` at ``path``; the path and message fragment of the error."""
    where = f"{path}['params']"
    how = draw(st.sampled_from(["not_a_mapping", "key_type", "unknown_name", "ill_typed"]))
    if how == "ill_typed" and ILL_TYPED.get(name):
        key = draw(st.sampled_from(sorted(ILL_TYPED[name])))
        return {key: draw(ILL_TYPED[name][key])}, f"{where}[{key!r}]", "Invalid value for parameter"
    if how == "not_a_mapping":
        return draw(not_mappings), where, "Invalid params"
    if how == "key_type":
        key = draw(hashables.filter(lambda k: not isinstance(k, str)))
        return {key: 1.0}, where, "Parameter names must be strings"
    key = draw(st.one_of(st.text(max_size=10), typos(tuple(PARAMS[name]) or ("alpha",))))
    if key in PARAMS[name]:
        key += "_x"
    return {key: 1.0}, f"{where}[{key!r}]", f"Loss {name!r} has no parameter"


SLOTS = ("entry", "loss", "weight", "params", "on", "inputs", "key")
SLOTS += ("term", "term_loss", "term_weight", "term_key", "term_on", "term_params", "params_beside_terms")


@st.composite
def faulty_entries(draw: st.DrawFn, path: str, single: bool) -> tuple[Any, str, str | None]:
    """An entry at ``path`` with exactly one fault; the path and message fragment of its error."""
    slot = draw(st.sampled_from(SLOTS))
    if slot == "entry":
        if draw(st.booleans()):
            return draw(unknown_names), path, "Unknown loss"
        # a mapping or a list at the top is a per-output spec: a mapping without 'loss' is a bad entry only below
        value = draw(junk.filter(lambda v: not isinstance(v, str | Mapping | list | os.PathLike)))
        if not single and draw(st.booleans()):
            value = draw(st.dictionaries(st.one_of(bad_keys, st.sampled_from(ENTRY_KEYS[1:])), junk, max_size=3))
            value.pop("loss", None)
        return value, path, None
    if slot.startswith("term") or slot == "params_beside_terms":
        entry, _ = draw(valid_entries("list"))
        i = draw(st.integers(0, len(entry["loss"]) - 1))
        term_path = f"{path}['loss'][{i}]"
        term = entry["loss"][i]
        term = dict(term) if isinstance(term, dict) else {"loss": term}
        name = term["loss"]
        if slot == "params_beside_terms":
            entry["params"] = draw(junk)
            return entry, f"{path}['params']", "'params' cannot sit beside a list of terms"
        if slot == "term":
            bad = draw(
                st.one_of(
                    unknown_names,
                    st.lists(junk, max_size=3),
                    junk.filter(lambda v: not isinstance(v, str | Mapping)),
                    st.dictionaries(st.sampled_from(TERM_KEYS[1:]), junk, max_size=3),
                )
            )
            entry["loss"][i] = bad
            return entry, term_path, None
        if slot == "term_loss":
            term["loss"] = draw(st.one_of(unknown_names, junk.filter(lambda v: not isinstance(v, str))))
            where, says = f"{term_path}['loss']", None
        elif slot == "term_weight":
            term["weight"] = draw(bad_weights)
            where, says = f"{term_path}['weight']", "Invalid weight"
        elif slot == "term_key":
            term[draw(st.one_of(bad_keys, st.just("inputs")))] = draw(junk)
            where, says = term_path, "Unknown key"
        elif slot == "term_on":
            term["on"] = draw(junk.filter(lambda v: v is not None))
            where, says = f"{term_path}['on']", None
        else:
            term["params"], where, says = draw(bad_params(name, term_path))
        entry["loss"][i] = term
        return entry, where, says
    entry, terms = draw(valid_entries("map"))
    name = terms[0][0]
    if slot == "loss":
        bad = draw(st.one_of(unknown_names, junk.filter(lambda v: not isinstance(v, str | list)), st.just([])))
        entry["loss"] = bad
        return entry, f"{path}['loss']", None
    if slot == "weight":
        entry["weight"] = draw(bad_weights)
        return entry, f"{path}['weight']", "Invalid weight"
    if slot == "params":
        entry["params"], where, says = draw(bad_params(name, path))
        return entry, where, says
    if slot == "on":  # a name is valid data but needs attach(); anything else is not a name
        entry["on"] = draw(junk.filter(lambda v: v is not None))
        return entry, path if isinstance(entry["on"], str) else f"{path}['on']", None
    if slot == "inputs":
        entry["inputs"] = draw(
            st.one_of(
                not_mappings,
                st.dictionaries(st.text(max_size=5), st.text(max_size=5), min_size=1, max_size=2),  # needs attach()
                st.dictionaries(hashables, junk, min_size=1, max_size=2).filter(
                    lambda d: not all(isinstance(k, str) and isinstance(v, str) for k, v in d.items())
                ),
            )
        )
        good = isinstance(entry["inputs"], Mapping) and all(isinstance(v, str) for v in entry["inputs"].values())
        good = good and all(isinstance(k, str) for k in entry["inputs"])
        return entry, path if good else f"{path}['inputs']", None
    entry[draw(bad_keys)] = draw(junk)
    return entry, path, "Unknown key"


# -- the property on data specs ---------------------------------------------------------------------------------------
@settings(FUZZ, max_examples=200)
@given(junk)
def test_any_value_is_resolved_or_refused_naming_the_spec_path(spec):
    _, error = resolve_checked(spec)
    if error is not None:
        assert error.path.startswith("spec")


@settings(FUZZ, max_examples=150)
@given(valid_specs())
def test_valid_specs_resolve_to_the_terms_and_weights_they_spell_out(case):
    spec, kind, expected = case
    result, error = resolve_checked(spec)
    assert error is None, str(error)
    check_resolved(result, kind, expected)


@settings(FUZZ, max_examples=300)
@given(st.data())
def test_one_fault_anywhere_in_a_valid_spec_is_refused_at_its_path(data):
    spec, kind, expected = data.draw(valid_specs())
    key = data.draw(st.sampled_from(list(expected)))
    path = entry_path(kind, key)
    entry, where, says = data.draw(faulty_entries(path, single=kind == "single"))
    if kind == "single":
        spec = entry
    else:
        spec[key] = entry
    refused(spec, path=where, says=says)


@settings(FUZZ, max_examples=100)
@given(unknown_names, st.sampled_from(["top", "entry", "term", "output", "item"]))
def test_unknown_loss_names_are_refused_at_the_name(name, form):
    spec, path = {
        "top": (name, "spec"),
        "entry": ({"loss": name, "weight": 2.0}, "spec['loss']"),
        "term": ({"o": {"loss": ["mse", {"loss": name}]}}, "spec['o']['loss'][1]['loss']"),
        "output": ({"o": "mse", "p": name}, "spec['p']"),
        "item": (["mse", name], "spec[1]"),
    }[form]
    error = refused(spec, path=path, says="Unknown loss")
    if name.lower().endswith((".json", ".toml", ".yaml", ".yml")):
        assert "pathlib.Path(" in str(error)


@settings(FUZZ, max_examples=100)
@given(bad_weights, weights, st.sampled_from(["entry", "term", "both"]))
def test_weights_that_are_not_finite_non_negative_numbers_are_refused(bad, good, where):
    if where == "entry":
        spec, path = {"o": {"loss": ["mse", "mae"], "weight": bad}}, "spec['o']['weight']"
    elif where == "term":
        spec, path = {"o": {"loss": ["mse", {"loss": "mae", "weight": bad}], "weight": good}}, "spec['o']['loss'][1]"
        path += "['weight']"
    else:
        spec, path = {"loss": [{"loss": "mae", "weight": bad}], "weight": bad}, "spec['weight']"
    refused(spec, path=path, says="Invalid weight")


# -- value ranges: Keras' names declare theirs as data (lossreg.describe(name).ranges) -------------------------------
RANGED = [(name, key) for name in COMPILABLE for key in sorted(lossreg.describe(name).ranges)]
assert len(RANGED) == 14 and ("huber", "delta") in RANGED  # every range of KERAS_RANGES, on every alias


@settings(FUZZ, max_examples=60)
@given(
    st.sampled_from(RANGED),
    st.one_of(
        st.floats(-1e6, 1e6),
        st.integers(-1000, 1000),
        st.sampled_from([0.0, -0.0, 1.0, 100.0, 1e-300, -1e-300, np.nextafter(1.0, 2.0), np.nextafter(100.0, 200.0)]),
    ),
)
def test_a_ranged_value_is_accepted_iff_in_its_range_else_refused_at_its_own_path(ranged, value):
    name, key = ranged
    bound = lossreg.describe(name).ranges[key]
    result, error = resolve_checked({"out": {"loss": name, "params": {key: value}}})
    if bound.holds(value):
        assert error is None, str(error)
        assert terms_of(result["out"]) == [(name, {key: value}, 1.0)]
    else:
        assert error is not None and error.path == f"spec['out']['params'][{key!r}]", error
        assert f"Expected a number {bound.bound()}, received " in str(error)


FLOAT32_MAX = float(np.finfo(np.float32).max)


@settings(FUZZ, max_examples=40)
@given(st.floats(1e-300, 1e300), st.floats(1e-300, 1e300))
def test_weights_multiply_to_a_float32_or_are_refused(entry_weight, term_weight):
    """Each weight, and their product, is at most the largest float32 (losses are float32): 1e308 gave inf."""
    spec = {"loss": [{"loss": "mse", "weight": term_weight}], "weight": entry_weight}
    result, error = resolve_checked(spec)
    if max(entry_weight, term_weight) > FLOAT32_MAX:
        assert error is not None and error.path in ("spec['weight']", "spec['loss'][0]['weight']"), error
        assert "Expected at most 3.4028235e+38 (the largest float32" in str(error)
    elif term_weight * entry_weight <= FLOAT32_MAX:
        assert error is None and terms_of(result) == [("mse", {}, term_weight * entry_weight)]
    else:
        assert error is not None and error.path == "spec['loss'][0]['weight']", error
        assert "Invalid weight" in str(error)


@settings(FUZZ, max_examples=100)
@given(st.sampled_from(COMPILABLE), st.data())
def test_any_parameter_value_is_accepted_or_refused_naming_the_parameter(name, data):
    if not PARAMS[name]:
        key = data.draw(st.text(max_size=8))
        refused({"loss": name, "params": {key: 1}}, path=f"spec['params'][{key!r}]", says="has no parameter")
        return
    key = data.draw(st.sampled_from(sorted(PARAMS[name])))
    value = data.draw(junk)
    _, error = resolve_checked({"o": {"loss": name, "params": {key: value}}})
    if error is not None:
        assert error.path in ("spec['o']", f"spec['o']['params'][{key!r}]"), str(error)[:300]


@settings(FUZZ, max_examples=100)
@given(ill_typed_params(), st.sampled_from(["entry", "term"]))
@example(("band_masked_softmax_ce", "normalize", np.array(["all", "band"])), "entry")  # once: a NumPy truth error
@example(("sigmoid_focal", "gamma", 10**5000), "term")  # once: repr refused past 4300 digits
@example(("sigmoid_bce", "pos_weight", HostileRepr()), "term")
def test_ill_typed_parameter_values_are_refused_naming_the_parameter(case, where):
    name, key, value = case
    if where == "entry":
        spec, path = {"o": {"loss": name, "params": {key: value}}}, f"spec['o']['params'][{key!r}]"
    else:
        spec, path = {"loss": ["mse", {"loss": name, "params": {key: value}}]}, f"spec['loss'][1]['params'][{key!r}]"
    refused(spec, path=path, says=f"Invalid value for parameter {key!r} of loss {name!r}. Expected ")


@settings(FUZZ, max_examples=60)
@given(
    st.lists(
        st.tuples(st.one_of(st.sampled_from(OUTPUTS), identifiers, st.text(max_size=8)), valid_entries()),
        min_size=1,
        max_size=4,
        unique_by=lambda item: item[0],
    ).filter(lambda items: not any(key in ENTRY_KEYS for key, _ in items))
)
def test_output_names_are_checked_against_the_model(items):
    spec = {key: entry for key, (entry, _) in items}
    strangers = [key for key in spec if key not in OUTPUTS]
    if strangers:
        refused(spec, model=MODEL, path=f"spec[{strangers[0]!r}]", says=f"Unknown output {strangers[0]!r}")
    else:
        result, error = resolve_checked(spec, model=MODEL)
        assert error is None, str(error)
        assert {key: terms_of(loss) for key, loss in result.items()} == {key: terms for key, (_, terms) in items}


@settings(FUZZ, max_examples=40)
@given(
    st.integers(2, 3000),
    st.sampled_from(["list", "dict", "tuple"]),
    st.sampled_from(["top", "entry", "term", "weight", "params", "param", "on", "inputs", "key"]),
)
def test_deep_nesting_anywhere_is_refused_without_a_recursion_error(depth, kind, where):
    deep = nested(depth, kind)
    if where == "top":
        refused(deep, path="spec[0]" if kind == "list" else "spec['zz']" if kind == "dict" else "spec")
        return
    spec, path = {
        "entry": ({"o": deep}, "spec['o']"),
        "term": ({"loss": ["mse", deep]}, "spec['loss'][1]"),
        "weight": ({"loss": "mse", "weight": deep}, "spec['weight']"),
        "params": ({"loss": "mse", "params": deep}, "spec['params']"),
        "param": ({"loss": "sigmoid_focal", "params": {"gamma": deep}}, "spec['params']['gamma']"),
        "on": ({"loss": "mse", "on": deep}, "spec['on']"),
        "inputs": ({"loss": "mse", "inputs": {"aux": deep}}, "spec['inputs']"),
        "key": ({"loss": "mse", nested(depth, "tuple"): 1}, "spec"),
    }[where]
    if where == "params" and kind == "dict":
        path = "spec['params']['zz']"  # a mapping, with an unknown parameter
    refused(spec, path=path)


# -- weights that change: schedules and learned weights (attach and LossLayer take them; resolve refuses them) --------
SCHEDULE_KINDS = ("linear", "cosine", "logistic", "piecewise", "cyclical")
SCHEDULE_KEYS = ("schedule", "start", "end", "steps", "delay", "midpoint", "rate", "boundaries", "values", "cycles")
SCHEDULE_KEYS += ("ratio", "unit")
LEARNED_KEYS = ("learned", "init", "trainable", "temperature", "min_weight", "max_weight", "scale")
MAX_COUNT = 2**24  # the largest steps, delay, cycles or boundary a schedule takes
levels = st.one_of(st.integers(0, 10), st.floats(0, 10), st.sampled_from([0.0, 1e-6, 1.0]))


def counts(low: int, high: int) -> st.SearchStrategy[int | float]:
    """A whole number, written as an int or as a float (2000.0 reads as 2000)."""
    return st.one_of(st.integers(low, high), st.integers(low, high).map(float))


@st.composite
def valid_schedules(draw: st.DrawFn) -> dict[str, Any]:
    """A schedule as a spec writes it: its required keys, some optional ones, maybe a unit, in any order."""
    kind = draw(st.sampled_from(SCHEDULE_KINDS))
    weight: dict[str, Any] = {"schedule": kind}
    optional: dict[str, st.SearchStrategy[Any]] = {}
    if kind in ("linear", "cosine"):
        weight["steps"] = draw(counts(1, 5000))
        optional = {"start": levels, "end": levels, "delay": counts(0, 1000)}
    elif kind == "logistic":
        weight["midpoint"] = draw(st.one_of(st.integers(-100, 5000), st.floats(-100, 5000)))
        weight["rate"] = draw(st.floats(1e-4, 1.0))
        optional = {"start": levels, "end": levels}
    elif kind == "piecewise":
        weight["boundaries"] = sorted(draw(st.sets(st.integers(0, 5000), min_size=1, max_size=4)))
        size = len(weight["boundaries"]) + 1
        weight["values"] = draw(st.lists(levels, min_size=size, max_size=size))
    else:
        weight["steps"] = draw(st.integers(1, 5000))
        optional = {"start": levels, "end": levels, "cycles": counts(1, min(weight["steps"], 8))}
        optional["ratio"] = st.floats(1e-3, 1.0)
    for key in draw(st.lists(st.sampled_from(sorted(optional)), unique=True)) if optional else []:
        weight[key] = draw(optional[key])
    if kind == "cyclical" and "cycles" not in weight and weight["steps"] < 4:  # the default 4 cycles need 4 steps
        weight["cycles"] = draw(counts(1, weight["steps"]))
    if draw(st.booleans()):
        weight["unit"] = draw(st.sampled_from(["step", "epoch"]))
    return draw(shuffled(weight))


@st.composite
def valid_learned(draw: st.DrawFn) -> dict[str, Any]:
    method = draw(st.sampled_from(["uncertainty", "dwa"]))
    optional: dict[str, st.SearchStrategy[Any]] = {"scale": levels}
    if method == "uncertainty":
        optional |= {"init": st.floats(-5, 5), "trainable": st.booleans()}
        optional |= {"min_weight": levels, "max_weight": st.one_of(st.integers(1, 10), st.floats(1e-3, 10))}
    else:
        optional["temperature"] = st.floats(0.1, 10)
    weight = {"learned": method}
    for key in draw(st.lists(st.sampled_from(sorted(optional)), unique=True)):
        weight[key] = draw(optional[key])
    if weight.get("min_weight", 0) > weight.get("max_weight", math.inf):  # bounds the right way round
        weight["min_weight"], weight["max_weight"] = weight["max_weight"], weight["min_weight"]
    return draw(shuffled(weight))


def probe_steps(schedule: Mapping[str, Any]) -> list[float]:
    """Steps at which two schedules must agree: the start, the edges of each phase, and far past the end."""
    steps = [0, 1, 2, 10, 999, 10**6]
    for key in ("delay", "steps", "midpoint"):
        if key in schedule:
            steps += [schedule[key] - 1, schedule[key], schedule[key] + 1]
    steps += [b + d for b in schedule.get("boundaries", ()) for d in (-1, 0, 1)]
    if "delay" in schedule and "steps" in schedule:
        steps.append(schedule["delay"] + schedule["steps"])
    return [max(0, t) for t in steps]


def weight_spec(weight: Any, where: str, scale: Any = None) -> tuple[dict[str, Any], str, float]:
    """A two-output spec with ``weight`` on out_a's entry, or on its second term under an entry weight ``scale``;
    the spec, the weight's path, and the constant folded into it."""
    if where == "entry":
        return {"out_a": {"loss": "mse", "weight": weight}, "out_b": "mse"}, "spec['out_a']['weight']", 1.0
    entry: dict[str, Any] = {"loss": ["mae", {"loss": "mse", "weight": weight}]}
    if scale is not None:
        entry["weight"] = scale
    factor = 1.0 if scale is None else float(scale)
    return {"out_a": entry, "out_b": "mse"}, "spec['out_a']['loss'][1]['weight']", factor


def attach_checked(spec: Any, path: str) -> tuple[Any, LossSpecError | None]:
    """``lossreg.attach(MODEL, spec)``: the model, or a LossSpecError under ``path`` (never another exception)."""
    HostileRepr.armed = True
    try:
        result, error = lossreg.attach(MODEL, spec), None
    except LossSpecError as exc:
        result, error = None, exc
    finally:
        HostileRepr.armed = False
    if error is not None:
        assert error.path is not None and error.path.startswith(path), str(error)[:300]
        message = str(error)
        assert message.startswith(f"{error.path}: "), message[:300]
        assert len(message) - len(error.path) < MAX_MESSAGE, message[:300]
    return result, error


@settings(FUZZ, max_examples=60)
@given(valid_schedules(), st.sampled_from(["entry", "term"]), st.one_of(st.none(), weights))
def test_valid_schedules_attach_as_a_canonical_spec_that_computes_the_same_weights(schedule, where, scale):
    spec, path, factor = weight_spec(schedule, where, scale)
    model, error = attach_checked(spec, path)
    assert error is None, str(error)
    built = model.get_config()["spec"]
    canonical = built["out_a"]["loss"][-1]["weight"]
    assert canonical["schedule"] == schedule["schedule"]
    assert canonical.get("unit", "step") == schedule.get("unit", "step")
    for key in ("steps", "delay", "cycles", "boundaries", "midpoint", "rate", "ratio"):
        if key in schedule:
            assert canonical[key] == schedule[key], key
    size = factor * max([1.0, *(float(schedule.get(k, 1.0)) for k in ("start", "end")), *schedule.get("values", ())])
    for t in probe_steps(schedule):
        written, built_value = lossreg.schedule_value(schedule, t), lossreg.schedule_value(canonical, t)
        assert math.isfinite(built_value)
        # float32, as training computes it: 1e-5 of the largest value, and what lies below float32's range (1e-170)
        assert built_value == pytest.approx(factor * written, rel=1e-5, abs=1e-5 * size + 1e-37), t
    again, error = attach_checked(built, "spec")  # the canonical spec builds the same loss
    assert error is None and again.get_config()["spec"] == built


@settings(FUZZ, max_examples=40)
@given(valid_learned(), st.sampled_from(["entry", "term"]), st.one_of(st.none(), weights))
def test_valid_learned_weights_attach_with_their_options_and_the_constant_folded_into_scale(learned, where, scale):
    spec, path, constant = weight_spec(learned, where, scale)
    model, error = attach_checked(spec, path)
    assert error is None, str(error)
    canonical = model.get_config()["spec"]["out_a"]["loss"][-1]["weight"]
    defaults = {"uncertainty": {"init": 0.0, "trainable": True}, "dwa": {"temperature": 2.0}}[learned["learned"]]
    factor = float(learned.get("scale", 1.0)) * constant
    given = {k: v for k, v in learned.items() if k in (*defaults, "min_weight", "max_weight")}
    expected = {"learned": learned["learned"], **defaults, **given}
    assert canonical == expected | ({"scale": factor} if factor != 1.0 else {})


BAD_NUMBERS = st.one_of(
    pick([math.nan, math.inf, -math.inf, 10**400, -(10**5000), np.float64("nan"), fractions.Fraction(10**5000, 1)]),
    st.sampled_from([None, True, False, "1", [1.0], {"v": 1}, decimal.Decimal("1"), 1j, np.array([1.0])]),
    pick([HostileRepr(), object(), "x" * 100_000]),
)
BAD_LEVELS = st.one_of(BAD_NUMBERS, st.floats(max_value=-1e-300), st.integers(max_value=-1))
BAD_POSITIVE = st.one_of(BAD_NUMBERS, st.floats(max_value=0.0), st.integers(max_value=0))


def bad_counts(low: int) -> st.SearchStrategy[Any]:
    """Values that are not a whole number from ``low`` to 2**24."""
    return st.one_of(
        BAD_NUMBERS,
        st.integers(max_value=low - 1),
        st.integers(min_value=MAX_COUNT + 1),
        st.floats().filter(lambda x: not (math.isfinite(x) and x == int(x) and low <= x <= MAX_COUNT)),
    )


BAD_VALUE = {
    "start": BAD_LEVELS,
    "end": BAD_LEVELS,
    "steps": bad_counts(1),
    "cycles": bad_counts(1),
    "delay": bad_counts(0),
    "midpoint": BAD_NUMBERS,
    "rate": BAD_POSITIVE,
    "ratio": st.one_of(BAD_POSITIVE, st.floats(min_value=1.0, exclude_min=True)),
    "init": BAD_NUMBERS,
    "temperature": BAD_POSITIVE,
    "scale": BAD_LEVELS,
    "min_weight": BAD_LEVELS,
    "max_weight": BAD_POSITIVE,
    "trainable": st.one_of(st.integers(), st.floats(), st.sampled_from(["true", "yes", None, np.bool_(True), [True]])),
}
REQUIRED = {"linear": ("steps",), "cosine": ("steps",), "logistic": ("midpoint", "rate")}
REQUIRED |= {"piecewise": ("boundaries", "values"), "cyclical": ("steps",)}
TAKES = {"linear": ("start", "end", "steps", "delay"), "cosine": ("start", "end", "steps", "delay")}
TAKES |= {"logistic": ("start", "end", "midpoint", "rate"), "piecewise": ("boundaries", "values")}
TAKES |= {"cyclical": ("start", "end", "steps", "cycles", "ratio")}
TAKES |= {"uncertainty": ("init", "trainable", "min_weight", "max_weight", "scale"), "dwa": ("temperature", "scale")}


@st.composite
def faulty_weights(draw: st.DrawFn) -> tuple[dict[str, Any], list[Any], str]:
    """A valid schedule or learned weight with exactly one fault; the keys below the weight's path where it is refused,
    and what the message says."""
    weight = dict(draw(st.one_of(valid_schedules(), valid_learned())))
    kind_key = "schedule" if "schedule" in weight else "learned"
    kind = weight[kind_key]
    takes = TAKES[kind]
    how = draw(st.sampled_from(["value", "value", "value", "drop", "unknown_key", "kind", "both", "unit", "piecewise"]))
    if how == "drop":
        if kind_key == "learned" or draw(st.booleans()):
            del weight[kind_key]
            return weight, [], "exactly one of 'schedule'"
        key = draw(st.sampled_from(REQUIRED[kind]))
        del weight[key]
        return weight, [], f"A {kind!r} schedule needs {key!r}."
    if how == "unknown_key":
        allowed = (kind_key, *takes, "unit")
        key = draw(st.one_of(st.text(max_size=10), typos(allowed), st.sampled_from(SCHEDULE_KEYS + LEARNED_KEYS)))
        if key in allowed or key in ("schedule", "learned"):
            key = "x" + key
        weight[key] = draw(st.one_of(levels, junk))
        return weight, [], f"Unknown key {key!r}"
    if how == "kind":
        choices = SCHEDULE_KINDS if kind_key == "schedule" else ("uncertainty", "dwa")
        weight[kind_key] = draw(
            st.one_of(typos(choices), junk).filter(lambda v: not (isinstance(v, str) and v in choices))
        )
        return weight, [kind_key], "Unknown schedule" if kind_key == "schedule" else "Unknown learned weighting"
    if how == "both":
        weight["learned" if kind_key == "schedule" else "schedule"] = draw(junk)
        return weight, [], "exactly one of 'schedule'"
    if how == "unit" and kind_key == "schedule":
        weight["unit"] = draw(junk.filter(lambda v: not (isinstance(v, str) and v in ("step", "epoch"))))
        return weight, ["unit"], "Unknown unit"
    if how == "piecewise" and kind == "piecewise":
        boundaries, values = weight["boundaries"], weight["values"]
        fault = draw(st.sampled_from(["not_a_list", "order", "item", "value", "length"]))
        if fault == "not_a_list":
            weight["boundaries"] = draw(st.one_of(st.just([]), junk.filter(lambda v: not isinstance(v, list | tuple))))
            return weight, ["boundaries"], "Expected a non-empty list"
        if fault == "order":
            i = draw(st.integers(0, len(boundaries) - 1))
            weight["boundaries"] = [*boundaries[: i + 1], boundaries[i], *boundaries[i + 1 :]]
            weight["values"] = [*values, 1.0]
            return weight, ["boundaries"], "Boundaries must increase strictly"
        if fault == "item":
            i = draw(st.integers(0, len(boundaries) - 1))
            weight["boundaries"] = [*boundaries[:i], draw(bad_counts(0)), *boundaries[i + 1 :]]
            return weight, ["boundaries", i], "Expected a whole number"
        if fault == "value":
            i = draw(st.integers(0, len(values) - 1))
            weight["values"] = [*values[:i], draw(BAD_LEVELS), *values[i + 1 :]]
            return weight, ["values", i], "number"
        weight["values"] = draw(st.lists(levels, min_size=1).filter(lambda v: len(v) != len(boundaries) + 1))
        return weight, ["values"], "A piecewise schedule needs one value more than boundaries"
    numeric = [key for key in takes if key in BAD_VALUE]
    if kind == "piecewise":  # every parameter is a list: a bad item instead
        weight["values"] = [*weight["values"][:-1], draw(BAD_LEVELS)]
        return weight, ["values", len(weight["values"]) - 1], "number"
    if kind == "cyclical" and draw(st.integers(0, 4)) == 0:  # each valid, but more cycles than steps
        weight["cycles"] = weight["steps"] + draw(st.integers(1, 10))
        return weight, ["cycles"], "A cyclical schedule cannot have more cycles"
    key = draw(st.sampled_from(numeric))
    weight[key] = draw(BAD_VALUE[key])
    return weight, [key], "true or false" if key == "trainable" else "Expected a"


@settings(FUZZ, max_examples=60)
@given(faulty_weights(), st.sampled_from(["entry", "term"]))
def test_one_fault_in_a_valid_changing_weight_is_refused_at_its_path(case, where):
    weight, below, says = case
    spec, path, _ = weight_spec(weight, where)
    exact = path + "".join(f"[{key!r}]" for key in below)
    _, error = attach_checked(spec, path)
    assert error is not None, f"accepted {weight!r}"
    assert error.path == exact and says in str(error), str(error)[:300]
    if "learned" in weight and "schedule" not in weight:
        return
    with pytest.raises(LossSpecError) as info:  # schedule_value reads a schedule as the spec does
        lossreg.schedule_value(weight, 3)
    assert info.value.path == "weight" + "".join(f"[{key!r}]" for key in below), str(info.value)[:300]


weight_mappings = st.dictionaries(
    st.one_of(st.sampled_from(SCHEDULE_KEYS + LEARNED_KEYS), hashables),
    st.one_of(st.sampled_from((*SCHEDULE_KINDS, "uncertainty", "dwa", "gradnorm", "epoch")), levels, junk),
    max_size=6,
)


@settings(FUZZ, max_examples=60)
@given(
    st.one_of(
        weight_mappings, st.builds(lambda s, d: {"schedule": s, **d}, st.sampled_from(SCHEDULE_KINDS), weight_mappings)
    ),
    st.sampled_from(["entry", "term"]),
)
def test_any_weight_mapping_is_read_or_refused_at_the_weight(weight, where):
    spec, path, _ = weight_spec(weight, where)
    model, error = attach_checked(spec, path)
    if error is None:  # a valid changing weight: its canonical form computes finite weights
        canonical = model.get_config()["spec"]["out_a"]["loss"][-1]["weight"]
        if "schedule" in canonical:
            assert all(math.isfinite(lossreg.schedule_value(canonical, t)) for t in (0, 1, 100, 10**6))


@settings(FUZZ, max_examples=60)
@given(st.one_of(valid_schedules(), valid_learned()), st.sampled_from(["single", "entry", "term", "list"]))
def test_resolve_refuses_every_valid_changing_weight_at_its_path_saying_to_use_attach(weight, form):
    spec, path = {
        "single": ({"loss": "mse", "weight": weight}, "spec['weight']"),
        "entry": ({"o": "mae", "p": {"loss": "mse", "weight": weight}}, "spec['p']['weight']"),
        "term": (
            {"o": {"loss": ["mae", {"loss": "mse", "weight": weight}], "weight": 2}},
            "spec['o']['loss'][1]['weight']",
        ),
        "list": (["mae", {"loss": "mse", "weight": weight}], "spec[1]['weight']"),
    }[form]
    refused(spec, path=path, says="Use lossreg.attach(model, spec)")


@settings(FUZZ, max_examples=30)
@given(st.floats(1e-30, FLOAT32_MAX), st.floats(1e-30, FLOAT32_MAX))
def test_a_schedule_times_a_constant_is_a_float32_schedule_or_refused(entry_weight, end):
    """Each weight is at most the largest float32 (losses are float32); so must their product be."""
    schedule = {"schedule": "linear", "start": 0.0, "end": end, "steps": 10}
    spec = {"out_a": {"loss": [{"loss": "mse", "weight": schedule}], "weight": entry_weight}, "out_b": "mse"}
    model, error = attach_checked(spec, "spec['out_a']['loss'][0]['weight']")
    if end * entry_weight <= FLOAT32_MAX:
        assert error is None, str(error)
        assert model.get_config()["spec"]["out_a"]["loss"][0]["weight"]["end"] == end * entry_weight
    else:
        assert error is not None and error.path == "spec['out_a']['loss'][0]['weight']", error
        assert "beyond the range of a float" in str(error)


# -- files ------------------------------------------------------------------------------------------------------------
class Pairs(list):
    """A mapping written as (key, value) pairs, so that a file can hold a key twice."""


def as_pairs(value: Any) -> Any:
    if isinstance(value, Mapping):
        return Pairs((k, as_pairs(v)) for k, v in value.items())
    if isinstance(value, list):
        return [as_pairs(v) for v in value]
    return value


def to_json(value: Any) -> str:
    """JSON (also valid YAML flow style, as lossreg reads YAML) that may repeat a key."""
    if isinstance(value, Pairs):
        return "{" + ", ".join(f"{json.dumps(str(k))}: {to_json(v)}" for k, v in value) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(to_json(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def toml_value(value: Any) -> str:
    if isinstance(value, Pairs):
        return "{ " + ", ".join(f"{json.dumps(str(k))} = {toml_value(v)}" for k, v in value) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        raise ValueError("TOML has no null")
    return json.dumps(value, ensure_ascii=False)


def to_toml(value: Pairs) -> str:
    return "".join(f"{json.dumps(str(k))} = {toml_value(v)}\n" for k, v in value)


def has_none(value: Any) -> bool:
    if isinstance(value, Mapping):
        return any(has_none(v) for v in value.values())
    if isinstance(value, list):
        return any(has_none(v) for v in value)
    return value is None


def write_text(folder: str, name: str, data: bytes | str) -> Path:
    path = Path(folder) / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def file_error(path: Path, *, says: str | None = None) -> LossSpecError:
    """Resolve a file that must be refused; the error must start with the file's path."""
    error = refused(path, says=says)
    assert error.path.startswith(str(path)), str(error)[:300]
    return error


@st.composite
def spec_texts(draw: st.DrawFn, kinds: tuple[str, ...] = ("single", "outputs", "list")) -> tuple[str, str, Any]:
    """A valid spec written as a file: (suffix, text, the spec as data)."""
    spec, _, _ = draw(valid_specs(kinds))
    formats = [".json", ".yaml", ".yml"]
    if isinstance(spec, Mapping) and not has_none(spec):
        formats.append(".toml")
    suffix = draw(st.sampled_from(formats))
    if suffix == ".toml":
        return suffix, to_toml(as_pairs(spec)), spec
    if suffix == ".json" or draw(st.booleans()):
        return suffix, to_json(as_pairs(spec)), spec
    return suffix, yaml.safe_dump(spec, sort_keys=False, allow_unicode=True), spec


@settings(FUZZ, max_examples=60)
@given(spec_texts(), st.sampled_from(["", "\ufeff"]), st.sampled_from(["", "\n", "\n\n  \n"]), st.booleans())
def test_valid_spec_files_resolve_like_the_same_spec_as_data(case, bom, trailing, upper):
    suffix, text, spec = case
    with tempfile.TemporaryDirectory(prefix="lossreg-fuzz-") as folder:
        path = write_text(folder, "spec" + (suffix.upper() if upper else suffix), bom + text + trailing)
        from_file, error = resolve_checked(path)
    assert error is None, str(error)
    from_data, _ = resolve_checked(spec)
    if isinstance(from_data, keras.losses.Loss):
        assert terms_of(from_file) == terms_of(from_data)
    elif isinstance(from_data, dict):
        assert {k: terms_of(v) for k, v in from_file.items()} == {k: terms_of(v) for k, v in from_data.items()}
    else:
        assert [terms_of(v) for v in from_file] == [terms_of(v) for v in from_data]


YAML_TAGS = (
    '!!python/object/apply:os.system ["echo pwned"]',
    "!!python/object/apply:subprocess.check_output [[ls]]",
    "!!python/object/new:collections.OrderedDict []",
    "!!python/name:os.system",
    "!!python/module:os",
    "!!python/tuple [a, b]",
    "!!python/str mse",
    "!!python/bytes bXNl",
    "!custom mse",
    "!<tag:example.com,2000:loss> mse",
    "!!binary bXNl",
    "!!set {mse}",
    "!!omap [{a: 1}]",
    "!!timestamp 2020-01-01",
)
YAML_PLACES = (
    "{tag}\n",
    "- {tag}\n",
    "loss: {tag}\n",
    "loss: mse\nweight: {tag}\n",
    "loss: mse\nparams: {tag}\n",
    "loss: sigmoid_focal\nparams: {{gamma: {tag}}}\n",
    "out:\n  loss: [mse, {tag}]\n",
    "out:\n  loss: mse\n  on: {tag}\n",
    "? {tag}\n: mse\n",
    "loss: mse\n? {tag}\n: 1\n",
)


@settings(FUZZ, max_examples=50)
@given(
    st.one_of(st.sampled_from(YAML_TAGS), st.from_regex(r"![a-z]{1,8} mse", fullmatch=True)),
    st.sampled_from(YAML_PLACES),
)
def test_yaml_tags_anywhere_are_refused(tag, place):
    with tempfile.TemporaryDirectory(prefix="lossreg-fuzz-") as folder:
        path = write_text(folder, "tagged.yaml", place.format(tag=tag))
        file_error(path)


def pair_mappings(value: Any) -> Iterator[Pairs]:
    if isinstance(value, Pairs):
        yield value
        for _, item in value:
            yield from pair_mappings(item)
    elif isinstance(value, list):
        for item in value:
            yield from pair_mappings(item)


@st.composite
def duplicated(draw: st.DrawFn) -> tuple[str, str]:
    """A valid spec file in which one mapping holds one of its keys twice."""
    spec, _, _ = draw(valid_specs(("single", "outputs")).filter(lambda case: isinstance(case[0], Mapping)))
    suffix = draw(st.sampled_from([".json", ".yaml", ".toml"] if not has_none(spec) else [".json", ".yaml"]))
    pairs = as_pairs(spec)
    target = draw(st.sampled_from([m for m in pair_mappings(pairs) if m]))
    key, value = target[draw(st.integers(0, len(target) - 1))]
    target.insert(draw(st.integers(0, len(target))), (key, draw(st.sampled_from([value, "mae", 2.0]))))
    return suffix, to_toml(pairs) if suffix == ".toml" else to_json(pairs)


@settings(FUZZ, max_examples=50)
@given(duplicated())
def test_duplicate_keys_in_any_format_and_at_any_depth_are_refused(case):
    suffix, text = case
    with tempfile.TemporaryDirectory(prefix="lossreg-fuzz-") as folder:
        file_error(write_text(folder, "dup" + suffix, text))


@st.composite
def broken_files(draw: st.DrawFn) -> tuple[str, bytes, str | None]:
    """(file name, bytes, what the error must say or None): garbage, truncated, not UTF-8, empty, odd suffix."""
    how = draw(st.sampled_from(["garbage", "truncated", "not_utf8", "empty", "suffix", "garbage_text"]))
    if how == "garbage":
        suffix = draw(st.sampled_from([".json", ".toml", ".yaml", ".yml"]))
        return "g" + suffix, draw(st.binary(min_size=1, max_size=200)), None
    if how == "garbage_text":
        suffix = draw(st.sampled_from([".json", ".toml", ".yaml", ".yml"]))
        text = draw(st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=80))
        return "t" + suffix, text.encode("utf-8", "surrogatepass"), None
    suffix, text, _ = draw(spec_texts())
    data = text.encode("utf-8")
    if how == "truncated":
        cut = draw(st.integers(1, max(1, len(data.rstrip()) - 1)))
        return "cut" + suffix, data[:cut], "Invalid JSON" if suffix == ".json" else None
    if how == "not_utf8":
        bad = draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xe9", b"\x80\x80"]))
        at = draw(st.integers(0, len(data)))
        data = data[:at] + bad + data[at:]
        if draw(st.booleans()):
            data = text.encode(draw(st.sampled_from(["utf-16", "utf-32"])))
        return "u" + suffix, data, "not valid UTF-8"
    if how == "empty":
        blank = draw(st.sampled_from(["", " ", "\n\n", "\t \r\n", "\ufeff", "\ufeff  \n"]))
        return "e" + suffix, blank.encode("utf-8"), "Spec file is empty"
    other = draw(
        st.one_of(
            st.sampled_from(["", ".txt", ".json5", ".jsonl", ".ini", ".cfg", ".py", ".yaml~", ".tml", ".bak"]),
            st.from_regex(r"\.[A-Za-z0-9]{1,6}", fullmatch=True),
        ).filter(lambda s: s.lower() not in (".json", ".toml", ".yaml", ".yml"))
    )
    name = draw(st.sampled_from(["spec", "spec.json", "spec.yaml", ".json", "x.toml"])) + other
    if Path(name).suffix.lower() in (".json", ".toml", ".yaml", ".yml"):  # '.json' alone: a dotfile, no suffix
        name += ".txt"
    return name, data, "Unknown spec file type"


@settings(FUZZ, max_examples=150)
@given(broken_files())
def test_broken_files_are_refused_naming_the_file(case):
    name, data, says = case
    with tempfile.TemporaryDirectory(prefix="lossreg-fuzz-") as folder:
        path = write_text(folder, name, data)
        _, error = resolve_checked(path)
        if says is not None:
            assert error is not None, f"accepted {data[:200]!r}"
            assert says in str(error), str(error)[:300]
        if error is not None:
            assert error.path.startswith(str(path)), str(error)[:300]


@settings(FUZZ, max_examples=15)
@given(
    st.integers(1, 2 * MAX_BYTES),
    st.sampled_from([".json", ".toml", ".yaml", ".yml"]),
    st.sampled_from(["sparse", "padded"]),
)
def test_files_over_the_size_limit_are_refused(extra, suffix, how):
    with tempfile.TemporaryDirectory(prefix="lossreg-fuzz-") as folder:
        path = Path(folder) / f"huge{suffix}"
        with open(path, "wb") as handle:
            if how == "padded":  # a valid spec followed by blanks: only the size is wrong
                handle.write(b'"mse"' if suffix == ".json" else b'loss = "mse"' if suffix == ".toml" else b"mse")
                handle.write(b" " * (MAX_BYTES + extra - handle.tell()))
            else:
                handle.truncate(MAX_BYTES + extra)  # sparse: no disk space
        error = file_error(path)
        assert str(error).startswith(f"{path}: Spec file is {MAX_BYTES + extra} bytes; the limit is {MAX_BYTES}.")


def test_paths_that_are_not_readable_spec_files_are_refused():
    with tempfile.TemporaryDirectory(prefix="lossreg-fuzz-") as folder:
        folder_path = Path(folder)
        (folder_path / "dir.json").mkdir()
        file_error(folder_path / "dir.json", says="Cannot read spec file")
        file_error(folder_path / "missing.yaml", says="Cannot read spec file")
        file_error(folder_path / "nul\0byte.json", says="Cannot read spec file")
        file_error(Path(folder, "x" * 5000 + ".json"), says="Cannot read spec file")
        for name, device in (("null.json", os.devnull), ("zero.yaml", "/dev/zero")):  # never read: no end to it
            (folder_path / name).symlink_to(device)
            file_error(folder_path / name, says="not a regular file")
        os.mkfifo(folder_path / "pipe.toml")  # reading it would block until a writer comes: never opened
        file_error(folder_path / "pipe.toml", says="not a regular file")

    class NotAPath:
        def __fspath__(self) -> Any:
            return 42

    refused(NotAPath(), path="spec", says="Invalid spec file path")


@pytest.fixture
def broken_plugin_loss() -> Iterator[str]:
    """A registered name whose plugin fails to load, as the registry reports it (without a path)."""
    name = "fuzz_broken_plugin_loss"

    def loader() -> Any:
        error = PluginLoadError(
            f"Could not load loss {name!r} from plugin distribution 'fuzz-dist': RuntimeError: boom.",
            distribution="fuzz-dist",
            entry_point=name,
        )
        error.__cause__ = RuntimeError("boom")
        raise error

    REGISTRY.add(Entry(name, "fuzz-dist", load=loader))
    yield name
    REGISTRY.remove(name)


def test_a_plugin_that_fails_to_load_is_reported_where_it_was_asked_for(broken_plugin_loss):
    name = broken_plugin_loss
    for call, path in (
        (lambda: REGISTRY.lookup(name, path="spec['o']").bind({}, "spec['o']"), "spec['o']"),
        (lambda: REGISTRY.lookup(name, path="spec['o']['loss'][1]").extras, "spec['o']['loss'][1]"),
        (lambda: lossreg.get(name), f"lossreg.get({name!r})"),
    ):
        with pytest.raises(PluginLoadError) as info:
            call()
        assert info.value.path == path
        assert str(info.value) == f"{path}: Could not load loss {name!r} from plugin distribution 'fuzz-dist': " + (
            "RuntimeError: boom."
        )
        assert (info.value.distribution, info.value.entry_point) == ("fuzz-dist", name)
        assert isinstance(info.value.__cause__, RuntimeError)
    with pytest.raises(PluginLoadError) as info:  # without a path, as before
        REGISTRY.lookup(name).bind({})
    assert info.value.path is None


def test_a_plugin_that_fails_to_load_in_a_spec_is_reported_at_the_spec_path(broken_plugin_loss):
    name = broken_plugin_loss
    refused({"o": "mse", "p": name}, path="spec['p']", says="Could not load loss")
    refused({"o": {"loss": ["mse", name]}}, path="spec['o']['loss'][1]", says="Could not load loss")


def test_a_yaml_spec_that_would_run_a_command_is_refused_and_runs_nothing(capfd, monkeypatch):
    calls: list[Any] = []
    monkeypatch.setattr(os, "system", lambda *args: calls.append(args) or 0)
    with tempfile.TemporaryDirectory(prefix="lossreg-fuzz-") as folder:
        for text in (
            '!!python/object/apply:os.system ["echo pwned"]\n',
            'out:\n  loss: !!python/object/apply:os.system ["echo pwned"]\n',
            'loss: mse\nweight: !!python/object/apply:os.system ["echo pwned"]\n',
        ):
            path = write_text(folder, "pwn.yaml", text)
            error = file_error(path, says="could not determine a constructor")
            assert error.path == str(path)
            assert "python/object/apply:os.system" in str(error)
    assert calls == []
    assert "pwned" not in capfd.readouterr().out


# -- warm-up: import everything resolving may import lazily, before any snapshot of sys.modules ------------------------
def _warm_up() -> None:
    def attempt(spec: Any, **kwargs: Any) -> None:
        with contextlib.suppress(Exception):  # only the imports matter here; the tests check the outcomes
            lossreg.resolve(spec, **kwargs)

    for name in NAMES:
        attempt(name)
        attempt({"loss": name, "params": {"zz": 1}})
        lossreg.describe(name)
    for spec in ("no_such_loss", "x.json", {"loss": "mse", "weight": -1}, {"loss": "mse", "wieght": 1}):
        attempt(spec)
    attempt({"loss": "sigmoid_focal", "params": {"gamma": "x", "alpha": nested(3000, "list")}})
    attempt({"out_a": "mse", "out_c": "mae"}, model=MODEL)
    attempt({"out_a": "mse"}, model=MODEL)
    with tempfile.TemporaryDirectory(prefix="lossreg-fuzz-") as folder:
        files: list[tuple[str, bytes | str]] = [
            ("a.json", '{"loss": "mse"}'),
            ("b.json", '{"loss": "mse", "loss": "mae"}'),
            ("c.json", "[" * 5000),
            ("d.toml", 'loss = "mse"\n'),
            ("e.toml", "loss = = 1"),
            ("f.yaml", "loss: mse\n"),
            ("g.yaml", "loss: !!python/name:os.system\n"),
            ("h.yaml", "{a: 1, a: 2}\n"),
            ("i.yaml", "a: [\n"),
            ("j.yml", "\ufeffloss: mse\nweight: 2020-01-01\n"),
            ("k.json", b"\xff\xfe"),
            ("l.txt", "mse"),
            ("m.yaml", ""),
        ]
        for name, text in files:
            attempt(write_text(folder, name, text))
        attempt(Path(folder, "missing.json"))
        attempt(Path(folder, "nul\0.json"))


_warm_up()


def test_the_import_check_is_not_vacuous(tmp_path, monkeypatch):
    """A loss whose factory imports a module on first use: the property's import check must catch it."""
    (tmp_path / "lossreg_fuzz_probe.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "lossreg_fuzz_probe", raising=False)

    def factory() -> Callable[..., Any]:
        """Imports a module when built."""
        import lossreg_fuzz_probe  # noqa: F401

        return lambda y_true, y_pred: y_pred - y_true

    lossreg.register("fuzz_importing_loss")(factory)
    try:
        with pytest.raises(AssertionError, match=r"resolving a spec imported \['lossreg_fuzz_probe'\]"):
            resolve_checked({"loss": "fuzz_importing_loss"})
    finally:
        REGISTRY.remove("fuzz_importing_loss")
        sys.modules.pop("lossreg_fuzz_probe", None)
