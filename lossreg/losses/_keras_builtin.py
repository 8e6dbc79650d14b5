"""Keras' own built-in loss names (``mse``, ``categorical_crossentropy``, …), resolvable in any spec.

The names are listed here so that ``lossreg.names()`` needs no TensorFlow; a test checks the list
against ``keras.losses`` so it cannot drift. Keras is imported the first time one of them is used, and
the Keras function's keyword arguments (``from_logits``, ``label_smoothing``, …) become its parameters.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Final

from lossreg._preflight import Expects
from lossreg._registry import REGISTRY, Factory, _Entry

__all__ = ["KERAS_LOSS_NAMES"]

#: Every lower-case loss name ``keras.losses.get`` accepts (functions and their aliases).
KERAS_LOSS_NAMES: Final = (
    "bce",
    "binary_crossentropy",
    "binary_focal_crossentropy",
    "categorical_crossentropy",
    "categorical_focal_crossentropy",
    "categorical_hinge",
    "circle",
    "cosine_similarity",
    "ctc",
    "dice",
    "hinge",
    "huber",
    "kl_divergence",
    "kld",
    "log_cosh",
    "mae",
    "mape",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_squared_error",
    "mean_squared_logarithmic_error",
    "mse",
    "msle",
    "poisson",
    "sparse_categorical_crossentropy",
    "squared_hinge",
    "tversky",
)

_ELEMENTS: Final = {"y_true": "batch ...", "y_pred": "batch ..."}
_CLASSES: Final = {"y_true": "batch ... classes", "y_pred": "batch ... classes"}
#: What the cross-entropies accept (see ``lossreg._preflight``): the classic mistakes, integer class ids for a
#: one-hot loss (or one-hot labels, or 1-based ids, for the sparse one) and logits for a loss expecting
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


def _keras_factory(name: str) -> Factory:
    """Build the factory for Keras' loss ``name``: its keyword arguments become typed parameters."""
    import keras

    fn = keras.losses.get(name)
    parameters = []
    annotations: dict[str, Any] = {}
    for p in list(inspect.signature(fn).parameters.values())[2:]:  # after y_true, y_pred
        parameters.append(p.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=inspect.Parameter.empty))
        if type(p.default) in (bool, int, float, str):
            annotations[p.name] = float if type(p.default) in (int, float) and p.name != "axis" else type(p.default)

    def factory(**params: Any) -> Any:
        return functools.partial(fn, **params) if params else fn

    factory.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    factory.__annotations__ = annotations
    factory.__doc__ = inspect.getdoc(fn)
    factory.__name__ = factory.__qualname__ = fn.__name__
    factory.summary = f"Keras built-in loss keras.losses.{fn.__name__}."  # type: ignore[attr-defined]
    return factory


def _expects(name: str) -> Expects | None:
    if name not in _DECLARED:
        return None
    shapes, targets = _DECLARED[name]
    return Expects.declare(name, (), shapes, targets, "from_logits")


for _name in KERAS_LOSS_NAMES:
    REGISTRY.add(
        _Entry(name=_name, source="keras", loader=functools.partial(_keras_factory, _name), expects=_expects(_name))
    )
