"""Training-step time of a segmentation model whose loss ignores pixels (issue 12) against the same loss unmasked.

The model: a small convolutional encoder-decoder on ``(batch, 256, 256, 3)`` images with 4-class logits per
pixel (``Conv2D(8, 3)``, ``Conv2D(16, 3, strides=2)``, ``Conv2DTranspose(8, 3, strides=2)``, ``Conv2D(4, 1)``).
The labels: class ids 0-2, and class 3 at exactly 10 % of each image's pixels, which the ignoring losses ignore.
Four pairs, each the SAME lossreg loss with and without ignoring, every model from the same initial weights:

- ``softmax_ce`` on one-hot targets, ``ignore_class=3`` (the channel whose labelled pixels are ignored), against
  ``softmax_ce`` on the same targets;
- ``sparse_softmax_ce`` on class ids with 255 at those pixels, ``ignore_class=255``, against
  ``sparse_softmax_ce`` on the ids with 3 there;
- ``soft_dice`` (the segmentation plugin) with ``activation="softmax"``, one-hot, ``ignore_class=3``, against
  ``soft_dice`` with ``activation="softmax"`` on the same targets;
- ``sparse_soft_dice`` (the plugin) on the ids with 255, ``ignore_class=255``, against it on the ids with 3 there;
- for comparison, without a target: Keras' own ``SparseCategoricalCrossentropy(from_logits=True,
  ignore_class=255)`` against it without ``ignore_class`` (Keras zeroes the ignored ids and values, not the
  logits: a NaN logit at an ignored pixel still reaches its gradient).

What ignoring adds per step: the keep mask (one comparison), a ``where`` on the targets and on the logits before
the math (so a NaN or inf logit at an ignored pixel reaches neither value nor gradient), a ``where`` on the
per-pixel values (or the overlap sums over kept pixels only) and Keras' masked mean over the kept pixels.

Same work, checked before timing: each model's first training loss (Keras' ``train_on_batch``, from the shared
initial weights) equals the unmasked loss of the initial model's logits on the kept pixels alone (each image
keeps the same number of pixels, so they reshape to ``(batch, kept, 4)``; rtol 1e-5), and the ignoring
``sparse_softmax_ce`` also equals Keras' ``SparseCategoricalCrossentropy(from_logits=True, ignore_class=255)``.
A loss that this install does not have (an older segmentation plugin without ``ignore_class``) gives "n/a" rows
that say why.

Target: **≤ 1.10** against the unmasked loss, on every backend and mode (TensorFlow graph and XLA, JAX jit, torch
eager). An identical copy of the unmasked ``softmax_ce`` model is timed alongside as the A/A control. One timed
call is one optimizer step (Keras' train function on one batch).

Run: ``python bench/bench_dense_step.py --backend jax`` (default: ``KERAS_BACKEND``, else tensorflow; ``--quick``
for a smoke run; ``--batch`` to change the batch, 4 by default).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from _common import (
    Row,
    StepMode,
    compile_for_steps,
    median,
    parse_args,
    per_step_line,
    report,
    step_modes,
    step_row,
    threads,
    time_steps,
    to_backend,
    used_backends,
)

SIZE = 256
CHANNELS_IN = 3
CLASSES = 4
BATCH = 4
IGNORED = 0.10  # the share of each image's pixels that is ignored (exactly: the same count in every image)
IGNORE_CHANNEL = CLASSES - 1  # one-hot targets: the channel whose labelled pixels are ignored
IGNORE_ID = 255  # class-id targets: the id of ignored pixels
TARGET = 1.10


@dataclass(frozen=True)
class Case:
    """A loss with ignored pixels and the same loss unmasked; ``targets``: ``"one_hot"`` or ``"class_ids"``."""

    name: str
    targets: str
    ignoring: dict[str, Any]
    params: dict[str, Any] = field(default_factory=dict)
    drops_channel: bool = False  # the ignored channel also leaves the loss (the plugin's one-hot overlap losses)
    target: float | None = TARGET  # None: reported (Keras' own loss, for comparison)

    def label(self) -> str:
        return f"{self.name} ({'one-hot' if self.targets == 'one_hot' else 'class ids'}, ignore_class={self.ignore})"

    @property
    def keras(self) -> bool:
        return self.name == KERAS_SCCE

    @property
    def ignore(self) -> int:
        return self.ignoring["ignore_class"]


KERAS_SCCE = "Keras SparseCategoricalCrossentropy"  # Keras' own ignore_class, for comparison (no target)
CASES = (
    Case("softmax_ce", "one_hot", {"ignore_class": IGNORE_CHANNEL}),
    Case("sparse_softmax_ce", "class_ids", {"ignore_class": IGNORE_ID}),
    Case("soft_dice", "one_hot", {"ignore_class": IGNORE_CHANNEL}, {"activation": "softmax"}, drops_channel=True),
    Case("sparse_soft_dice", "class_ids", {"ignore_class": IGNORE_ID}),
    Case(KERAS_SCCE, "class_ids", {"ignore_class": IGNORE_ID}, {"from_logits": True}, target=None),
)
CONTROL = "softmax_ce"  # the case whose unmasked model gets an identical copy (the A/A control)


def build_model() -> Any:
    """The small encoder-decoder: 3 input channels, 4-class logits per pixel at full resolution."""
    import keras
    from keras import layers

    inputs = keras.Input((SIZE, SIZE, CHANNELS_IN))
    x = layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    x = layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(x)
    x = layers.Conv2DTranspose(8, 3, strides=2, padding="same", activation="relu")(x)
    outputs = layers.Conv2D(CLASSES, 1, name="logits")(x)
    return keras.Model(inputs, outputs, name="segmenter")


def data(batch: int, seed: int = 0) -> dict[str, Any]:
    """NumPy images, the keep mask, and the targets of each form: ``one_hot``, ``ids`` (3 at ignored pixels) and
    ``ids_ignored`` (255 there). Every image ignores exactly ``round(IGNORED * SIZE**2)`` pixels."""
    import numpy as np

    rng = np.random.default_rng(seed)
    pixels = SIZE * SIZE
    ignored = round(IGNORED * pixels)
    ids = rng.integers(0, IGNORE_CHANNEL, (batch, pixels))
    for image in ids:
        image[rng.permutation(pixels)[:ignored]] = IGNORE_CHANNEL
    ids = ids.reshape(batch, SIZE, SIZE).astype("int32")
    return {
        "x": rng.uniform(size=(batch, SIZE, SIZE, CHANNELS_IN)).astype("float32"),
        "keep": ids != IGNORE_CHANNEL,
        "one_hot": np.eye(CLASSES, dtype="float32")[ids],
        "ids": ids,
        "ids_ignored": np.where(ids == IGNORE_CHANNEL, IGNORE_ID, ids).astype("int32"),
    }


def losses(case: Case) -> tuple[Any, Any, str]:
    """The ignoring and the unmasked loss of ``case`` (``lossreg.get``, or Keras' class for its own loss), or
    ``None, None, why`` if this install does not have it."""
    import keras

    import lossreg

    if case.keras:
        make = keras.losses.SparseCategoricalCrossentropy
        return make(**case.params, **case.ignoring), make(**case.params), ""
    try:
        return lossreg.get(case.name, **case.params, **case.ignoring), lossreg.get(case.name, **case.params), ""
    except Exception as error:  # an unknown name or parameter: an older plugin
        return None, None, f"{type(error).__name__}: {error}".splitlines()[0]


def reference(case: Case, unmasked: Any, arrays: dict[str, Any], logits: Any) -> tuple[float, float]:
    """The expected first losses: the unmasked loss on the kept pixels alone, and on every pixel.

    Where the ignored channel also leaves the loss (``drops_channel``): the kept pixels' softmax probabilities
    without that channel, to the unmasked loss with ``from_logits=False``.
    """
    import numpy as np

    import lossreg

    targets = arrays["one_hot" if case.targets == "one_hot" else "ids"]
    keep = arrays["keep"]
    batch = keep.shape[0]
    kept_logits = logits[keep].reshape(batch, -1, CLASSES)
    kept_targets = targets[keep].reshape(batch, -1, *targets.shape[3:])
    everything = float(unmasked(targets, logits))
    if not case.drops_channel:
        return float(unmasked(kept_targets, kept_logits)), everything
    shifted = np.exp(kept_logits.astype("float64") - kept_logits.max(axis=-1, keepdims=True))
    probs = (shifted / shifted.sum(axis=-1, keepdims=True)).astype("float32")
    channels = [c for c in range(CLASSES) if c != case.ignore]
    on_probabilities = lossreg.get(case.name, **{**case.params, "from_logits": False})
    return float(on_probabilities(kept_targets[..., channels], probs[..., channels])), everything


def compiled_models(mode: StepMode, batch: int) -> tuple[dict[str, tuple[Any, Any, Any]], list[str], list[str]]:
    """``name: (model, x, y)`` for the step timer (``<case>`` ignoring, ``<case> unmasked``, the control copy), the
    checks made, and the cases not installed. Models share the initial weights; first losses checked."""
    import keras
    import numpy as np

    arrays = data(batch)
    first = build_model()
    weights = first.get_weights()
    logits = keras.ops.convert_to_numpy(first(arrays["x"]))
    x = to_backend(arrays["x"])
    steps: dict[str, tuple[Any, Any, Any]] = {}
    checks: list[str] = []
    missing: list[str] = []
    for case in CASES:
        ignoring, unmasked, why = losses(case)
        if ignoring is None:
            missing.append(f"{case.name}: not measured, {why}")
            continue
        expected_kept, expected_all = reference(case, unmasked, arrays, logits)
        sides = [(case.name, ignoring, "ids_ignored", expected_kept), (f"{case.name} unmasked", unmasked, "ids", None)]
        if case.name == CONTROL:
            sides.append(("copy", losses(case)[1], "ids", None))
        for name, loss, ids, expected in sides:
            y = arrays["one_hot"] if case.targets == "one_hot" else arrays[ids]
            model = build_model()
            model.set_weights(weights)
            compile_for_steps(model, mode, loss=loss)
            y = to_backend(y)
            got = float(model.train_on_batch(x, y, return_dict=True)["loss"])
            np.testing.assert_allclose(got, expected_all if expected is None else expected, rtol=1e-5, err_msg=name)
            steps[name] = (model, x, y)
        checks.append(f"{case.name} {expected_kept:.6f} (kept pixels) vs {expected_all:.6f} (all)")
        if case.name == "sparse_softmax_ce":
            keras_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=IGNORE_ID)
            np.testing.assert_allclose(float(keras_loss(arrays["ids_ignored"], logits)), expected_kept, rtol=1e-5)
            checks.append("sparse_softmax_ce = Keras' SparseCategoricalCrossentropy(ignore_class=255)")
    return steps, checks, missing


def main(argv: Sequence[str] | None = None) -> list[Row]:
    def options(parser: Any) -> None:
        parser.add_argument("--batch", type=int, default=BATCH, help=f"images per step (default {BATCH})")

    args = parse_args(argv, __doc__.splitlines()[0], backend=True, extra=options)
    repeats = 5 if args.quick else 31
    rows, details = [], []
    for mode in step_modes(args.backend):
        steps, checks, missing = compiled_models(mode, args.batch)
        samples = time_steps(steps, repeats=repeats) if steps else {}
        for case in CASES:
            benchmark = f"{case.label()} vs unmasked: train step, {args.batch}x{SIZE}x{SIZE}x{CLASSES}"
            if case.name not in steps:
                rows.append(
                    Row(
                        f"{benchmark}, {args.backend} {mode.label}",
                        None,
                        None,
                        "ms",
                        case.target,
                        note="not installed",
                        backend=args.backend,
                        mode=mode.label,
                        api=case.label(),
                    )
                )
                continue
            rows.append(
                step_row(
                    benchmark,
                    {**samples, "lossreg": samples[case.name]},
                    f"{case.name} unmasked",
                    case.target,
                    backend=args.backend,
                    mode=mode,
                    api=case.label(),
                )
            )
            if "copy" in samples:  # one A/A per mode: the control copy against its own original
                rows[-1].control = median(samples["copy"]) / median(samples[f"{CONTROL} unmasked"])
        labels = {name: name for name in steps}
        details.append(
            f"{args.backend} {mode.label}: first losses as expected (rtol 1e-5): "
            + "; ".join(checks)
            + ("; " + "; ".join(missing) if missing else "")
        )
        if samples:
            aa = median(samples["copy"]) / median(samples[f"{CONTROL} unmasked"]) if "copy" in samples else None
            details.append(
                f"{args.backend} {mode.label}: A/A (copy / {CONTROL} unmasked) "
                + ("n/a" if aa is None else f"{aa:.3f}")
                + "; "
                + per_step_line(samples, labels)
            )
    details.append(f"{args.backend}: batch {args.batch}; {threads()}; libraries imported: {used_backends()}")
    report(rows, args.json, details)
    return rows


if __name__ == "__main__":
    main()
