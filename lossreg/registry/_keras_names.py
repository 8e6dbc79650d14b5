"""Keras' own built-in loss names (``mse``, ``categorical_crossentropy``, …) and their signatures, as data.

``lossreg list``, ``lossreg show mse`` and ``lossreg check`` on a spec naming ``mse`` need Keras' names,
parameters, defaults and types, but not Keras: importing it costs seconds. So they are written out here, and
``tests/test_keras_builtin_names.py`` holds them to the installed Keras (names, functions, parameters,
defaults, types). Keras is imported the first time one of these losses is *called*.

Their value ranges are data too (``KERAS_RANGES``, given to each name's ``LossDef``): checked where a spec is read,
with the types (``LossDef.param_problems``: ``resolve``, ``get``, ``attach``, ``LossLayer`` and ``lossreg check``
report a value out of range at the parameter's own path) and printed by ``lossreg show``. Keras checks none of
them (``huber`` with ``delta=-1`` gave a negative loss).

A parameter's type follows one rule: a ``bool`` default is ``bool``; a number is ``float`` (Keras takes an
int where it takes a float), except ``axis``, an ``int``; ``None`` (no type) for a ``None`` default, except
``ignore_class``, lossreg's standard parameter (``int | None``, checked by ``standard_param_problem``).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Mapping
from typing import Any, Final

from lossreg.registry._expects import Expects
from lossreg.registry._lossdef import LossDef
from lossreg.registry._params import MAX_FOCAL_GAMMA, Range

__all__ = ["KERAS_LOSSES", "KERAS_LOSS_NAMES", "KERAS_RANGES", "keras_loss_defs"]

_F = float
#: ``ignore_class``'s type: any integer class id (255 and -1 included: Keras compares the targets with it), or None
_CLASS_ID: Final = int | None
#: name -> (the ``keras.losses`` function it names, its parameters after y_true and y_pred: (name, default, type)).
KERAS_LOSSES: Final[Mapping[str, tuple[str, tuple[tuple[str, Any, Any], ...]]]] = {
    "bce": ("binary_crossentropy", (("from_logits", False, bool), ("label_smoothing", 0.0, _F), ("axis", -1, int))),
    "binary_crossentropy": (
        "binary_crossentropy",
        (("from_logits", False, bool), ("label_smoothing", 0.0, _F), ("axis", -1, int)),
    ),
    "binary_focal_crossentropy": (
        "binary_focal_crossentropy",
        (
            ("apply_class_balancing", False, bool),
            ("alpha", 0.25, _F),
            ("gamma", 2.0, _F),
            ("from_logits", False, bool),
            ("label_smoothing", 0.0, _F),
            ("axis", -1, int),
        ),
    ),
    "categorical_crossentropy": (
        "categorical_crossentropy",
        (("from_logits", False, bool), ("label_smoothing", 0.0, _F), ("axis", -1, int)),
    ),
    "categorical_focal_crossentropy": (
        "categorical_focal_crossentropy",
        (
            ("alpha", 0.25, _F),
            ("gamma", 2.0, _F),
            ("from_logits", False, bool),
            ("label_smoothing", 0.0, _F),
            ("axis", -1, int),
        ),
    ),
    "categorical_hinge": ("categorical_hinge", ()),
    "circle": (
        "circle",
        (
            ("ref_labels", None, None),
            ("ref_embeddings", None, None),
            ("remove_diagonal", True, bool),
            ("gamma", 80, _F),
            ("margin", 0.4, _F),
        ),
    ),
    "cosine_similarity": ("cosine_similarity", (("axis", -1, int),)),
    "ctc": ("ctc", ()),
    "dice": ("dice", (("axis", None, None),)),
    "hinge": ("hinge", ()),
    "huber": ("huber", (("delta", 1.0, _F),)),
    "kl_divergence": ("kl_divergence", ()),
    "kld": ("kl_divergence", ()),
    "log_cosh": ("log_cosh", ()),
    "mae": ("mean_absolute_error", ()),
    "mape": ("mean_absolute_percentage_error", ()),
    "mean_absolute_error": ("mean_absolute_error", ()),
    "mean_absolute_percentage_error": ("mean_absolute_percentage_error", ()),
    "mean_squared_error": ("mean_squared_error", ()),
    "mean_squared_logarithmic_error": ("mean_squared_logarithmic_error", ()),
    "mse": ("mean_squared_error", ()),
    "msle": ("mean_squared_logarithmic_error", ()),
    "poisson": ("poisson", ()),
    "sparse_categorical_crossentropy": (
        "sparse_categorical_crossentropy",
        (("from_logits", False, bool), ("ignore_class", None, _CLASS_ID), ("axis", -1, int)),
    ),
    "squared_hinge": ("squared_hinge", ()),
    "tversky": ("tversky", (("alpha", 0.5, _F), ("beta", 0.5, _F), ("axis", None, None))),
}

_FRACTION: Final = Range(0.0, 1.0)
_SMOOTHING: Final = {"label_smoothing": _FRACTION}  # mixes targets with uniform ones: 5 gave a loss of made-up targets
_FOCAL: Final = {"alpha": _FRACTION, "gamma": Range(0.0, MAX_FOCAL_GAMMA), **_SMOOTHING}
#: function -> {parameter: its values} (its aliases share it). Where Keras' math needs a range; ``axis`` and
#: ``from_logits`` are held by their types, ``dice``'s and ``tversky``'s ``axis``, ``circle``'s reference tensors
#: and ``ignore_class`` (any class id, 255 included) take any value.
KERAS_RANGES: Final[Mapping[str, Mapping[str, Range]]] = {
    "binary_crossentropy": _SMOOTHING,
    "binary_focal_crossentropy": _FOCAL,
    "categorical_crossentropy": _SMOOTHING,
    "categorical_focal_crossentropy": _FOCAL,
    # gamma scales the cosine distances (<= 0 reverses or erases them); margin in [0, 1]: delta_n = 1 - margin and
    # delta_p = margin, so outside it a positive pair is pushed away or a negative pulled in
    "circle": {"gamma": Range(0.0, open_low=True), "margin": _FRACTION},
    # the quadratic-to-linear threshold: delta <= 0 gives 0 (delta=0) or a negative loss (-1 gave -0.94)
    "huber": {"delta": Range(0.0, open_low=True)},
    # weights of false positives and negatives in the denominator: a negative one can make it 0 or negative
    "tversky": {"alpha": Range(0.0), "beta": Range(0.0)},
}

#: Every lower-case loss name ``keras.losses.get`` accepts (functions and their aliases).
KERAS_LOSS_NAMES: Final = tuple(KERAS_LOSSES)

_ELEMENTS: Final = {"y_true": "batch ...", "y_pred": "batch ..."}
_CLASSES: Final = {"y_true": "batch ... classes", "y_pred": "batch ... classes"}
#: What the cross-entropies accept (see ``lossreg.registry._expects``): the classic mistakes, integer class ids for
#: a one-hot loss (or one-hot labels, or 1-based ids, for the sparse one) and logits for a loss expecting
#: probabilities, fail with a fix instead of a shape error or silent clipping. (``from_logits`` defaults to
#: False in Keras.)
_DECLARED: Final = {
    "bce": (_ELEMENTS, "unit"),
    "binary_crossentropy": (_ELEMENTS, "unit"),
    "binary_focal_crossentropy": (_ELEMENTS, "unit"),
    "categorical_crossentropy": (_CLASSES, "one_hot"),
    "categorical_focal_crossentropy": (_CLASSES, "one_hot"),
    "sparse_categorical_crossentropy": ({"y_true": "batch ...", "y_pred": "batch ... classes"}, "class_ids"),
}


def call_keras_loss(function: str, y_true: Any, y_pred: Any, **params: Any) -> Any:
    """``keras.losses.<function>(y_true, y_pred, **params)``, importing Keras on the first call."""
    import keras

    return getattr(keras.losses, function)(y_true, y_pred, **params)


def _factory(name: str, function: str, params: tuple[tuple[str, Any, Any], ...]) -> Any:
    """A factory for Keras' loss ``name`` made from the data above: no Keras import until its loss is called.
    (Its parameters' types and ranges are checked by its ``LossDef`` before it is called.)"""

    def factory(**given: Any) -> Any:
        return functools.partial(call_keras_loss, function, **given)

    signature = ", ".join(f"{p}={default!r}" for p, default, _ in params)
    factory.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(p, inspect.Parameter.KEYWORD_ONLY, default=default) for p, default, _ in params]
    )
    factory.__annotations__ = {p: hint for p, _, hint in params if hint is not None}
    factory.__name__ = factory.__qualname__ = function
    factory.__doc__ = (
        f"Keras built-in loss keras.losses.{function}.\n\n"
        f"keras.losses.{function}(y_true, y_pred{', ' + signature if signature else ''}), resolved by name "
        f"({name!r}). Its documentation: https://keras.io/api/losses/ or help(keras.losses.{function})."
    )
    return factory


def keras_loss_defs() -> list[LossDef]:
    """A ``LossDef`` per Keras name, made without importing Keras."""
    defs = []
    for name, (function, params) in KERAS_LOSSES.items():
        shapes, targets = _DECLARED.get(name, (None, None))
        expects = Expects.declare(name, (), shapes, targets, "from_logits") if name in _DECLARED else None
        ranges = KERAS_RANGES.get(function)
        defs.append(LossDef(name, "keras", _factory(name, function, params), expects=expects, ranges=ranges))
    return defs
