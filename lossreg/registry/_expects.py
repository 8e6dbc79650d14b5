"""Input declarations of a loss and the pre-flight check of tensors against them.

A loss declares, once, at registration (``lossreg.register(..., shapes=..., targets=..., from_logits=...)``,
or a plugin factory's ``shapes``/``targets``/``from_logits`` attributes):

- ``shapes``: a pattern per tensor (``y_true``, ``y_pred`` or an extra), e.g. ``"batch n n classes"`` or
  ``"batch ... classes"``. A word is one axis and binds its size: the same word must have the same size in
  every tensor of the call. ``...`` is any number of axes (the same ones in every tensor); a number is an
  axis of exactly that size. The rank is fixed by the pattern (at least its words with ``...``).
- ``targets``: ``"one_hot"`` (one-hot or soft labels over the last axis, in [0, 1]), ``"unit"`` (binary
  masks or soft labels in [0, 1]) or ``"class_ids"`` (integer class ids, one axis fewer than the
  predictions, in ``[0, classes)``; a loss's ``ignore_class`` parameter is allowed too); ``None`` checks no
  values.
- ``from_logits``: whether ``y_pred`` holds logits (``True``), probabilities in [0, 1] (``False``), or the
  name of the loss's boolean parameter that says so (``"from_logits"``); ``None`` makes no claim.

Shapes and dtypes are checked whenever the loss is called, symbolic tensors included (at trace time, so
nothing is added to the graph); values (targets and probabilities in [0, 1]) only on concrete tensors,
that is in eager calls and ``run_eagerly=True``. Every mismatch is a ``LossInputError`` that names the loss,
the expected and the received shape (or values) and what to do, before TensorFlow meets the tensors.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from lossreg._errors import LossInputError, LossSpecError

__all__ = ["Expects", "Targets", "check_ignore_channel", "check_inputs", "same_rank"]

Targets = Literal["one_hot", "unit", "class_ids"]
_TOKEN: Final = re.compile(r"^(\.\.\.|[A-Za-z_][A-Za-z0-9_]*|[1-9][0-9]*)$")
_ELLIPSIS: Final = "..."
_ROLE: Final = {"y_true": "targets (y_true)", "y_pred": "predictions (y_pred)"}
_TARGET_TEXT: Final = {
    "one_hot": "one-hot (or soft) labels in [0, 1]",
    "unit": "values in [0, 1]",
    "class_ids": "integer class ids in [0, classes)",
}
_TARGET_WHY: Final = {"one_hot": "to be one-hot (or soft) labels in [0, 1]", "unit": "in [0, 1] (masks or soft labels)"}


def _parse_pattern(loss: str, tensor: str, pattern: Any) -> tuple[str, ...]:
    if not isinstance(pattern, str):
        raise LossSpecError(
            f"Invalid shape pattern for {tensor!r} of loss {loss!r}: expected a string such as "
            f"'batch ... classes', received {type(pattern).__name__} {pattern!r}."
        )
    tokens = tuple(pattern.split())
    bad = [t for t in tokens if not _TOKEN.match(t)]
    if not tokens or bad or tokens.count(_ELLIPSIS) > 1:
        why = f"bad axis {bad[0]!r}" if bad else ("it is empty" if not tokens else "'...' appears twice")
        raise LossSpecError(
            f"Invalid shape pattern {pattern!r} for {tensor!r} of loss {loss!r}: {why}. Expected axis words, "
            "sizes and at most one '...', separated by spaces, e.g. 'batch ... classes'."
        )
    return tokens


@dataclass(frozen=True)
class Expects:
    """What a registered loss accepts: a shape pattern per tensor, the kind of targets, logits or not."""

    shapes: Mapping[str, tuple[str, ...]]
    targets: Targets | None = None
    from_logits: bool | str | None = None

    @classmethod
    def declare(
        cls,
        loss: str,
        extras: tuple[str, ...],
        shapes: Mapping[str, str] | None,
        targets: str | None,
        from_logits: bool | str | None,
    ) -> Expects | None:
        """Validate a loss's declaration (raising ``LossSpecError``); ``None`` when it declares nothing."""
        if shapes is None and targets is None and from_logits is None:
            return None
        if shapes is not None and not isinstance(shapes, Mapping):
            raise LossSpecError(
                f"Invalid shapes for loss {loss!r}: expected a mapping like {{'y_pred': 'batch ... classes'}}, "
                f"received {type(shapes).__name__} {shapes!r}."
            )
        known = ("y_true", "y_pred", *extras)
        parsed = {}
        for tensor, pattern in (shapes or {}).items():
            if tensor not in known:
                raise LossSpecError(
                    f"Invalid shapes for loss {loss!r}: {tensor!r} is not one of its tensors ({', '.join(known)})."
                )
            parsed[tensor] = _parse_pattern(loss, tensor, pattern)
        if targets not in (None, "one_hot", "unit", "class_ids"):
            raise LossSpecError(
                f"Invalid targets {targets!r} for loss {loss!r}: expected 'one_hot', 'unit', 'class_ids' or None."
            )
        if not (from_logits is None or isinstance(from_logits, bool | str)):
            raise LossSpecError(
                f"Invalid from_logits {from_logits!r} for loss {loss!r}: expected True, False, None or the name "
                "of the loss's boolean parameter that says whether y_pred holds logits."
            )
        return cls(parsed, targets, from_logits)  # type: ignore[arg-type]

    def logits(self, params: Mapping[str, Any], defaults: Mapping[str, Any]) -> bool | None:
        """Whether ``y_pred`` holds logits for these parameters (``None``: no claim)."""
        if isinstance(self.from_logits, str):
            value = params.get(self.from_logits, defaults.get(self.from_logits))
            return value if isinstance(value, bool) else None
        return self.from_logits

    def lines(self) -> list[str]:
        """Human-readable lines for ``lossreg show``."""
        out = [f"{tensor}: ({', '.join(tokens)})" for tensor, tokens in self.shapes.items()]
        if self.targets:
            out.append(f"targets: {_TARGET_TEXT[self.targets]}")
        if isinstance(self.from_logits, str):
            out.append(f"y_pred: logits, or probabilities when {self.from_logits}=False")
        elif self.from_logits is not None:
            out.append("y_pred: logits" if self.from_logits else "y_pred: probabilities in [0, 1]")
        return out


def _shape(tensor: Any) -> tuple[int | None, ...]:
    return tuple(None if d is None else int(d) for d in tensor.shape)


def _text(shape: tuple[int | None, ...]) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _pattern_text(tokens: tuple[str, ...]) -> str:
    return "(" + ", ".join(tokens) + ")"


def same_rank(y_true: Any, y_pred: Any) -> tuple[Any, Any]:
    """Keras' rule for targets one rank off the predictions: ``(b,)`` against ``(b, 1)`` gets a trailing axis.

    As ``keras.losses`` functions do: when the ranks differ by one and the larger tensor's last axis is 1,
    a rank-1 tensor is expanded, any other is squeezed.
    """
    from keras import ops

    rank_true, rank_pred = len(y_true.shape), len(y_pred.shape)
    if rank_true == rank_pred + 1 and y_true.shape[-1] == 1:
        return (y_true, ops.expand_dims(y_pred, -1)) if rank_pred == 1 else (ops.squeeze(y_true, -1), y_pred)
    if rank_pred == rank_true + 1 and y_pred.shape[-1] == 1:
        return (ops.expand_dims(y_true, -1), y_pred) if rank_true == 1 else (y_true, ops.squeeze(y_pred, -1))
    return y_true, y_pred


def _is_integer(tensor: Any) -> bool:
    from keras.backend import standardize_dtype

    return standardize_dtype(tensor.dtype).startswith(("int", "uint"))


def _concrete(tensor: Any, read: bool = True) -> Any:
    """The tensor's values as a NumPy array when it has them (eager) and ``read``, else ``None``."""
    from lossreg._backend import to_numpy

    return to_numpy(tensor) if read else None


def _class_ids_hint(loss: str, y_true: Any, y_pred: Any) -> str | None:
    """A message for integer class ids given to a one-hot loss, or ``None`` if that is not what happened."""
    true, pred = _shape(y_true), _shape(y_pred)
    if not pred:
        return None
    looks_like_ids = len(true) == len(pred) - 1 or (len(true) == len(pred) and true[-1] == 1 and pred[-1] != 1)
    if not (_is_integer(y_true) and looks_like_ids):
        return None
    classes = pred[-1] if pred[-1] is not None else "num_classes"
    return (
        f"{loss} expects one-hot labels shaped like the predictions {_text(pred)}; received integer class ids "
        f"shaped {_text(true)}. One-hot encode them (keras.ops.one_hot(labels, {classes})), or use "
        "'sparse_categorical_crossentropy' with params {'from_logits': True} for class ids."
    )


def _match(loss: str, expects: Expects, tensors: Mapping[str, Any]) -> None:
    sizes: dict[str, tuple[int | None, str, tuple[int | None, ...]]] = {}  # axis word -> (size, tensor, shape)
    ellipsis: tuple[tuple[int | None, ...], str, tuple[int | None, ...]] | None = None
    # predictions first: a target built to match them (attach's dry run) never takes the blame
    for tensor, tokens in sorted(expects.shapes.items(), key=lambda item: item[0] != "y_pred"):
        value = tensors.get(tensor)
        if value is None:
            continue
        shape = _shape(value)
        fixed = [t for t in tokens if t != _ELLIPSIS]
        has_ellipsis = len(fixed) != len(tokens)
        if len(shape) < len(fixed) or (not has_ellipsis and len(shape) != len(fixed)):
            rank = f"rank {len(fixed)}" + (" or more" if has_ellipsis else "")
            raise LossInputError(
                f"{loss} expects {_ROLE.get(tensor, repr(tensor))} shaped {_pattern_text(tokens)} ({rank}); "
                f"received shape {_text(shape)}. Reshape the tensor or wire another one to it."
            )
        split = tokens.index(_ELLIPSIS) if has_ellipsis else len(tokens)
        tail = len(tokens) - split - 1 if has_ellipsis else 0
        axes = list(zip(tokens[:split], shape[:split], strict=True))
        if tail:
            axes += list(zip(tokens[split + 1 :], shape[len(shape) - tail :], strict=True))
        if has_ellipsis:
            middle = shape[split : len(shape) - tail]
            if ellipsis is not None and not _agree(ellipsis[0], middle):
                raise LossInputError(
                    _disagree(loss, "the axes '...'", ellipsis[1], ellipsis[2], tensor, shape, expects)
                )
            ellipsis = ellipsis or (middle, tensor, shape)
        for word, size in axes:
            if word.isdigit():
                if size is not None and size != int(word):
                    raise LossInputError(
                        f"{loss} expects {_ROLE.get(tensor, repr(tensor))} shaped {_pattern_text(tokens)}, with "
                        f"{word} in that axis; received shape {_text(shape)}."
                    )
                continue
            first = sizes.get(word)
            if first is None or (first[0] is None and size is not None):  # the first known size binds the word
                sizes[word] = (size, tensor, shape)
            elif size is not None and first[0] is not None and size != first[0]:
                if first[1] == tensor:  # a word repeated within one pattern ("batch n n"): one tensor disagrees
                    raise LossInputError(
                        f"{loss} expects {_ROLE.get(tensor, repr(tensor))} shaped {_pattern_text(tokens)}: its "
                        f"axes named '{word}' must have the same size; received shape {_text(shape)}. Reshape the "
                        "tensor or wire another one to it."
                    )
                raise LossInputError(_disagree(loss, f"'{word}'", first[1], first[2], tensor, shape, expects))


def _agree(a: tuple[int | None, ...], b: tuple[int | None, ...]) -> bool:
    return len(a) == len(b) and all(x is None or y is None or x == y for x, y in zip(a, b, strict=True))


def _disagree(
    loss: str, what: str, first: str, first_shape: tuple[int | None, ...], second: str,
    second_shape: tuple[int | None, ...], expects: Expects,
) -> str:  # fmt: skip
    message = (
        f"{loss} needs {first} and {second} to agree on {what} (patterns {first}: "
        f"{_pattern_text(expects.shapes[first])}, {second}: {_pattern_text(expects.shapes[second])}); received "
        f"{first} shaped {_text(first_shape)} and {second} shaped {_text(second_shape)}."
    )
    if expects.targets == "class_ids" and {first, second} == {"y_true", "y_pred"}:
        message += " Class ids are shaped like the predictions without their class axis."
    elif expects.targets == "one_hot" and {first, second} == {"y_true", "y_pred"}:
        classes = _text(second_shape if second == "y_pred" else first_shape)
        message += f" Labels of the wrong depth? One-hot encode them to the predictions' shape {classes}."
    else:
        message += " Give both tensors the same shape."
    return message


def _check_range(loss: str, tensor: str, values: Any, why: str, fix: str) -> None:
    import numpy as np

    if values.size == 0:
        return
    finite = values[np.isfinite(values)] if values.dtype.kind == "f" else values
    if finite.size == 0:
        return
    low, high = float(finite.min()), float(finite.max())
    if low < 0.0 or high > 1.0:
        raise LossInputError(f"{loss} expects {_ROLE[tensor]} {why}; received values in [{low:.6g}, {high:.6g}]. {fix}")


def check_ignore_channel(loss: str, ignore_class: int, channels: int | None) -> None:
    """For one-hot targets ``ignore_class`` names a channel: refuse one outside ``[0, channels)`` (e.g. 255)."""
    if channels is not None and not 0 <= ignore_class < channels:
        raise LossInputError(
            f"{loss} got ignore_class={ignore_class} but its one-hot targets have {channels} channels: for one-hot "
            f"targets ignore_class names a channel in [0, {channels}) whose labelled elements are ignored. For "
            "class-id targets with an ignore value such as 255, use the sparse_ form of the loss."
        )


def _check_finite_targets(loss: str, values: Any) -> None:
    """Refuse NaN or infinite targets: a NaN target makes the loss NaN (and every weight after one step)."""
    import numpy as np

    if values.dtype.kind != "f" or values.size == 0:
        return
    bad = ~np.isfinite(values)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise LossInputError(
            f"{loss} expects finite targets (y_true); received {int(bad.sum())} NaN or infinite value(s), the first "
            f"{float(values[where])} at index {where}. Mark elements to leave out with ignore_class (e.g. 255 or -1) "
            "or a mask instead of NaN."
        )


class _Shaped:
    """A shape and dtype standing in for a tensor (a ``(batch, 1)`` class-id target seen as ``(batch,)``)."""

    def __init__(self, shape: tuple[int | None, ...], dtype: Any) -> None:
        self.shape, self.dtype = shape, dtype


def _check_class_ids(loss: str, y_true: Any, y_pred: Any, ignore_class: int | None, read: bool = True) -> Any:
    """For a class-id loss: refuse one-hot targets with the fix; ``(batch, 1)`` ids stand as ``(batch,)``."""
    true, pred = _shape(y_true), _shape(y_pred)
    if not pred:
        return y_true
    if len(true) == len(pred) and true and true[-1] == 1:
        return _Shaped(true[:-1], y_true.dtype)  # as Keras squeezes them
    if len(true) == len(pred) and true[-1:] == pred[-1:] and pred[-1] not in (None, 1):
        raise LossInputError(
            f"{loss} expects integer class ids shaped like the predictions without their class axis, "
            f"{_text(pred[:-1])}; received targets shaped {_text(true)}, like one-hot labels. Use "
            "'categorical_crossentropy' (or 'softmax_ce' on logits) for one-hot labels, or pass the ids "
            "(np.argmax(labels, axis=-1))."
        )
    values = _concrete(y_true, read)
    if values is None or values.size == 0:
        return y_true
    import numpy as np

    ids = values[values != ignore_class] if ignore_class is not None else values
    if ids.size == 0:
        return y_true
    if ids.dtype.kind == "f" and not np.all(np.isfinite(ids) & (ids == np.round(ids))):
        bad = ids[~(np.isfinite(ids) & (ids == np.round(ids)))][0]
        raise LossInputError(f"{loss} expects integer class ids; received the value {float(bad):g}.")
    classes = pred[-1]
    low, high = int(ids.min()), int(ids.max())
    if low < 0 or (classes is not None and high >= classes):
        upper = "classes" if classes is None else str(classes)
        hint = " They look 1-based: subtract 1." if classes is not None and low >= 1 and high == classes else ""
        ignore = f" (or {ignore_class}, the ignore_class)" if ignore_class is not None else ""
        raise LossInputError(
            f"{loss} expects class ids in [0, {upper}){ignore} for predictions shaped {_text(pred)}; received "
            f"ids in [{low}, {high}].{hint}"
        )
    return y_true


def check_inputs(
    loss: str,
    expects: Expects,
    logits: bool | None,
    tensors: Mapping[str, Any],
    *,
    ignore_class: int | None = None,
) -> None:
    """Check ``tensors`` (``y_true``, ``y_pred`` and extras; missing ones skipped) against a declaration.

    ``ignore_class`` is a target value the loss skips (Keras' ``ignore_class``): a class id (any integer, e.g. 255)
    for class-id targets, a value outside [0, 1] for unit targets, a channel for one-hot targets. Raises
    ``LossInputError`` naming the loss, what it expects and what it received.
    """
    from lossreg._backend import values_are_cheap

    y_true, y_pred = tensors.get("y_true"), tensors.get("y_pred")
    read = values_are_cheap(tensors.values())  # value checks (not shape checks) need the values on the host
    if expects.targets == "one_hot" and y_true is not None and y_pred is not None:
        hint = _class_ids_hint(loss, y_true, y_pred)
        if hint:
            raise LossInputError(hint)
    if expects.targets == "class_ids" and y_true is not None and y_pred is not None:
        tensors = {**tensors, "y_true": _check_class_ids(loss, y_true, y_pred, ignore_class, read)}
    _match(loss, expects, tensors)
    if expects.targets == "one_hot" and ignore_class is not None and y_pred is not None:
        check_ignore_channel(loss, ignore_class, _shape(y_pred)[-1] if _shape(y_pred) else None)
    if expects.targets in ("one_hot", "unit") and y_true is not None:
        values = _concrete(y_true, read)
        if values is not None:
            _check_finite_targets(loss, values)
            if expects.targets == "unit" and ignore_class is not None and values.size:
                values = values[values != ignore_class]
            fix = (
                "Scale them (masks stored as 0/255: divide by 255; or pass ignore_class=255 when 255 marks "
                "elements to ignore), or use a loss for real-valued targets."
                if expects.targets == "unit"
                else "One-hot encode class ids (keras.ops.one_hot), or scale soft labels into [0, 1]."
            )
            _check_range(loss, "y_true", values, _TARGET_WHY[expects.targets], fix)
    if logits is False and y_pred is not None:
        values = _concrete(y_pred, read)
        if values is not None:
            fix = (
                "They look like logits: pass params {'from_logits': True}, or end the model with a sigmoid/softmax."
                if isinstance(expects.from_logits, str)
                else "End the model with a sigmoid/softmax activation."
            )
            _check_range(loss, "y_pred", values, "to be probabilities in [0, 1]", fix)
