"""Writing losses without boilerplate: a loss factory derived from a pure loss function.

A loss is written once, as a pure function ``fn(y_true, y_pred, *, param=default, ..., extra)``;
``loss_factory(fn)`` derives the factory that ``lossreg.register`` and the ``lossreg.losses`` entry points
take: its parameters are ``fn``'s keyword-only parameters with defaults (with their type hints, so specs are
checked against them), its ``extras`` are ``fn``'s keyword-only parameters without defaults, and its
docstring is ``fn``'s. ``promote`` is the dtype rule every lossreg loss follows (at least float32), and
``ops`` is ``keras.ops`` imported on first use: a plugin module written with them can be loaded (``lossreg
show``, ``lossreg check``, ``lossreg.describe``) without importing Keras or TensorFlow.

Nothing here imports Keras: the factory is cheap to make at a plugin's import.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from lossreg._errors import LossSpecError
from lossreg.registry._expects import Expects, Targets
from lossreg.registry._ops import ops
from lossreg.registry._ops import promote as _promote
from lossreg.registry._params import read_pure, signature_of

__all__ = ["loss_factory", "ops", "promote"]


def _validator_arguments(validate: Callable[..., Any], name: str, params: Mapping[str, Any]) -> tuple[str, ...] | None:
    """The factory parameters ``validate`` takes by name (``None``: all of them, it takes ``**kwargs``)."""
    signature = signature_of(validate, f"loss_factory({name}), validate={validate!r}")
    wanted: list[str] = []
    for p in signature.parameters.values():
        if p.kind is p.VAR_KEYWORD:
            return None
        if p.kind is p.VAR_POSITIONAL or p.kind is p.POSITIONAL_ONLY:
            raise TypeError(f"loss_factory({name}): validate={validate!r} must take the parameters by name.")
        if p.name in params:
            wanted.append(p.name)
        elif p.default is p.empty:
            raise TypeError(
                f"loss_factory({name}): validate={validate!r} takes {p.name!r}, which is not a parameter of the loss "
                f"(its parameters: {', '.join(params) or 'none'})."
            )
    return tuple(wanted)


def loss_factory(
    fn: Callable[..., Any],
    *,
    validate: Callable[..., object] | None = None,
    shapes: Mapping[str, str] | None = None,
    targets: Targets | None = None,
    from_logits: bool | str | None = None,
) -> Callable[..., Callable[..., Any]]:
    """Derive a loss factory (what ``lossreg.register`` and plugin entry points take) from a pure loss.

    ``fn(y_true, y_pred, *, param=default, ..., extra)`` is written once. The factory ``<fn>_factory``
    takes ``fn``'s keyword-only parameters that have defaults, as keyword-only parameters with the same
    defaults and type hints (specs are checked against the hints); calling it runs ``validate`` and returns
    ``functools.partial(fn, **params)``. ``fn``'s keyword-only parameters without defaults are the extra
    tensors the loss takes (``factory.extras``); ``mask=None`` and ``sample_weight=None``, when ``fn`` has them,
    are its dense inputs (``factory.dense_inputs``: an optional mask tensor, and Keras' per-element weight map for a
    loss that applies it inside its own sums), neither parameters nor extras. The factory's docstring is ``fn``'s:
    its first line is the summary ``lossreg list`` shows (read from the source, without importing a plugin, when an
    entry point names ``x_factory = loss_factory(x, ...)``).

    Args:
        fn: the loss, ``fn(y_true, y_pred, *, ...)`` returning per-sample (or per-element) values.
        validate: called as ``validate(**params)`` each time the factory is called, with the parameters it
            names (all of them if it takes ``**kwargs``); a ``ValueError`` it raises becomes a
            ``LossSpecError`` at the spec path, so a bad value fails when the spec is resolved.
        shapes: a shape pattern per tensor (``"y_true"``, ``"y_pred"`` or an extra), as in
            ``lossreg.register``, e.g. ``{"y_pred": "batch ... classes"}``.
        targets: ``"one_hot"`` or ``"unit"``: the values ``y_true`` must hold, as in ``lossreg.register``.
        from_logits: ``True``/``False`` if ``y_pred`` always holds logits/probabilities, or the name of
            ``fn``'s boolean parameter that says so (e.g. ``"from_logits"``).

    Returns:
        The factory, with attributes ``extras``, ``dense_inputs``, ``shapes``, ``targets`` and ``from_logits`` (read by
        lossreg's pre-flight checks) and ``__wrapped__`` (``fn``).

    Raises:
        TypeError: ``fn`` or ``validate`` do not have the shape described above.
        LossSpecError: the ``shapes``/``targets``/``from_logits`` declaration is invalid.

    Examples:
        >>> import lossreg
        >>> def scaled_abs(y_true, y_pred, *, scale: float = 1.0, weights):
        ...     '''Scaled absolute error, weighted: scale * weights * |y_pred - y_true|.'''
        ...     return scale * weights * abs(y_pred - y_true)
        >>> def check(scale):
        ...     if not scale > 0:
        ...         raise ValueError(f"`scale` must be > 0, received scale={scale!r}.")
        >>> factory = lossreg.loss_factory(scaled_abs, validate=check)
        >>> factory.__name__, factory.extras
        ('scaled_abs_factory', ('weights',))
        >>> factory(scale=2.0)(1.0, 4.0, weights=0.5)
        3.0

        Registered with ``lossreg.register("scaled_abs")(factory)`` (extras and declarations come along), or named by a
        plugin's entry point, ``{"loss": "scaled_abs", "params": {"scale": 0}}`` fails at resolve time
        with a ``LossSpecError`` quoting the message of ``check``.
    """
    if not callable(fn) or isinstance(fn, type):
        raise TypeError(f"loss_factory() expects a loss function fn(y_true, y_pred, *, ...), received {fn!r}.")
    fn_name = getattr(fn, "__name__", None) or type(fn).__name__
    params, extras, dense = read_pure(fn, f"loss_factory({fn_name})")
    defaults = {p.name: p.default for p in params}
    if validate is not None and not callable(validate):
        raise TypeError(f"loss_factory({fn_name}): validate must be callable, received {validate!r}.")
    wanted = _validator_arguments(validate, fn_name, defaults) if validate is not None else ()
    if isinstance(from_logits, str) and from_logits not in defaults:
        raise LossSpecError(
            f"Invalid from_logits {from_logits!r} for loss {fn_name!r}: it names no parameter with a default "
            f"(its parameters: {', '.join(defaults) or 'none'}). Give True, False or the name of its boolean "
            "parameter."
        )
    Expects.declare(fn_name, extras, shapes, targets, from_logits)  # raises on an invalid declaration

    signature = inspect.Signature([p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in params])

    def factory(*args: Any, **kwargs: Any) -> Callable[..., Any]:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        values = dict(bound.arguments)
        if validate is not None:
            validate(**(values if wanted is None else {k: values[k] for k in wanted}))
        return functools.partial(fn, **values)

    factory.__name__ = f"{fn_name}_factory"
    factory.__qualname__ = f"{getattr(fn, '__qualname__', fn_name)}_factory"
    factory.__module__ = getattr(fn, "__module__", None) or factory.__module__
    factory.__doc__ = getattr(fn, "__doc__", None)
    # the hints as fn wrote them; typing.get_type_hints follows __wrapped__ to resolve them in fn's module
    factory.__annotations__ = {p.name: p.annotation for p in params if p.annotation is not p.empty}
    factory.__signature__ = signature  # type: ignore[attr-defined]
    factory.__wrapped__ = fn  # type: ignore[attr-defined]
    factory.extras = extras  # type: ignore[attr-defined]
    factory.dense_inputs = dense  # type: ignore[attr-defined]
    factory.shapes = dict(shapes) if shapes is not None else None  # type: ignore[attr-defined]
    factory.targets = targets  # type: ignore[attr-defined]
    factory.from_logits = from_logits  # type: ignore[attr-defined]
    return factory


def promote(*tensors: Any) -> tuple[Any, ...]:
    """Convert tensors to one float dtype, at least float32: the dtype a loss computes in.

    Half-precision inputs (mixed precision) are computed in float32, as Keras recommends for losses;
    float64 stays float64 when any input is float64 (on JAX only with ``JAX_ENABLE_X64=1``: JAX has no float64
    arrays otherwise). Imports Keras on first use.

    Args:
        *tensors: tensors, arrays or nested lists (e.g. ``y_true`` and ``y_pred``).

    Returns:
        The tensors converted, in the order given.

    Examples:
        >>> import numpy as np
        >>> from keras.backend import standardize_dtype
        >>> y_true, y_pred = promote(np.array([1, 0]), np.array([0.5, 0.25], "float16"))
        >>> standardize_dtype(y_true.dtype), standardize_dtype(y_pred.dtype)
        ('float32', 'float32')
    """
    return _promote(*tensors)
